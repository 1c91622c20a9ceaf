"""The hardware contract as data: counters, trace layout and register map.

Everything a host (the simulators, the cocotb testbenches, the C++ harness, a driver)
needs to know about the accelerator's interface is defined here once, as plain Python
data, and the RTL's register decode is generated from it (:mod:`memornn.hw.top`). The
module imports nothing but the standard library, so any tool can read it without
Amaranth; functions that describe one build take any object with the attributes of a
:class:`~memornn.hw.layout.Layout`.

Register map (version 3)
------------------------
32-bit registers at byte offsets of an 8-bit AXI4-Lite address space; :data:`REGISTERS`
lists every one with its access, reset value, bits and fault behaviour (the README's and
``docs/hardware.md``'s tables are this list). An address not in :func:`mapped_registers`
answers SLVERR and a write there does nothing. Version 2 (over 1) adds the LOAD_* range
faults (SLVERR, STATUS.ERR_LOAD_RANGE), keeps a STATUS error whose event coincides
with its write-1-to-clear, and discards a partial LOAD_DATA word when a sequence starts
or on SOFT_RESET. Version 3 adds the delta datapath (``skip = "delta"`` builds, BNN bit
17): CTRL.PREDICTOR selects delta column skipping there, THETA<k> carries the layer's
column thresholds DELTA_X (bits 23:16) and DELTA_H (bits 31:24), and the counter slots
hold :data:`DELTA_COUNTER_NAMES` (:func:`counter_names`).

Trace layout
------------
With the trace stream, a sequence of ``T`` steps emits, per layer direction in order and
per step in processing order, :func:`trace_words_per_step` words of reuse bits (bit
``r % 32`` of word ``r // 32`` is 1 when row ``r`` was reused), then one word per
counter of :data:`COUNTER_NAMES` (its low 32 bits), ``tlast`` on the last. A delta
build has no row reuse: its per-step words are the used-column bits instead (bit ``j % 32``
of word ``j // 32`` is 1 when column ``j`` of ``v = [x_t; h_(t-1)]`` was used,
:func:`trace_words_per_step`), and its counters are :data:`DELTA_COUNTER_NAMES`.
"""

from __future__ import annotations

from typing import NamedTuple

#: Bits of a reuse-trace word (``m_axis_trace_tdata``).
TRACE_WIDTH = 32

#: Order of the per-sequence counters, in the trace and the register map.
COUNTER_NAMES = ("cycles", "neurons_computed", "neurons_reused", "bnn_evals", "macs", "macs_skipped",
                 "mac_busy_cycles")

#: The counters of a delta build (``skip = "delta"``), in the same slots: the row-reuse
#: counters, always 0 there, give their slots to the column stage's.
DELTA_COUNTER_NAMES = ("cycles", "neurons_computed", "columns_used", "columns_skipped", "macs", "macs_skipped",
                       "mac_busy_cycles", "acc_updates")


def counter_names(skip: str = "memo") -> tuple:
    """The counters of a build with datapath ``skip`` (``"memo"`` or ``"delta"``), in slot order."""
    return DELTA_COUNTER_NAMES if skip == "delta" else COUNTER_NAMES


#: Counter widths accepted by a build (``counter_bits``).
COUNTER_BITS_RANGE = (16, 64)

# ------------------------------------------------------------------ bus
AXIL_ADDR_BITS = 8
AXIL_DATA_BITS = 32
#: THETA registers in the map (a build maps those of its layers only).
MAX_LAYERS = 16
#: Width of LOAD_ADDR.
LOAD_ADDR_BITS = 24
#: Width of LOAD_SEL.
LOAD_SEL_BITS = 3
#: Register map version, in ID's low 16 bits.
REGMAP_VERSION = 3
ID_VALUE = 0x4D4E << 16 | REGMAP_VERSION

# ------------------------------------------------------------------ offsets
CTRL, STATUS, REUSE_CAP, SEQ_DONE = 0x00, 0x04, 0x08, 0x0C
THETA_BASE = 0x10
COUNTER_BASE = 0x80
LOAD_SEL, LOAD_ADDR, LOAD_DATA = 0xC0, 0xC4, 0xC8
ID, SHAPE, SIZES, BNN, MAX_SEQ_LEN = 0xD0, 0xD4, 0xD8, 0xDC, 0xE0

# ------------------------------------------------------------------ bits
CTRL_PREDICTOR, CTRL_RUN, CTRL_SOFT_RESET = 1 << 0, 1 << 1, 1 << 2
CTRL_RESET = CTRL_PREDICTOR | CTRL_RUN
STATUS_BUSY, STATUS_ERR_TOO_LONG, STATUS_ERR_LOAD_BUSY, STATUS_ERR_LOAD_RANGE = 1 << 0, 1 << 1, 1 << 2, 1 << 3
#: The sticky, write-1-to-clear bits of STATUS.
STATUS_ERRORS = STATUS_ERR_TOO_LONG | STATUS_ERR_LOAD_BUSY | STATUS_ERR_LOAD_RANGE

#: SEQ_DONE counts modulo 2**SEQ_DONE_BITS.
SEQ_DONE_BITS = 32

MAX_COUNTERS = (LOAD_SEL - COUNTER_BASE) // 8
if max(len(COUNTER_NAMES), len(DELTA_COUNTER_NAMES)) > MAX_COUNTERS:  # pragma: no cover - guards a change
    raise ImportError(f"the register map has room for {MAX_COUNTERS} counters")
#: THETA<k>'s fields in a delta build: DELTA_X at bit 16, DELTA_H at bit 24 (8 bits each).
DELTA_X_SHIFT, DELTA_H_SHIFT = 16, 24


def theta_offset(layer: int) -> int:
    """Byte offset of THETA_``layer``."""
    return THETA_BASE + 4 * layer


def counter_offset(name: str, hi: bool = False, skip: str = "memo") -> int:
    """Byte offset of a counter's LO (or HI) word in a build with datapath ``skip``."""
    return COUNTER_BASE + 8 * counter_names(skip).index(name) + (4 if hi else 0)


class Register(NamedTuple):
    """One register of the map.

    Attributes
    ----------
    name : str
    offset : int
        Byte offset.
    access : str
        ``rw``, ``ro`` or ``wo`` (W1C and read-only bits are described per field).
    reset : int or None
        Value after pin reset; ``None`` when it depends on the build.
    description : str
        The bits.
    faults : str
        What the register does with a write it cannot honour, or at a bad moment.
    """

    name: str
    offset: int
    access: str
    reset: int | None
    description: str
    faults: str


_NEXT_SEQUENCE = ("written while a sequence is in flight: takes effect at the next sequence (the core latches "
                  "it when a sequence starts)")
_RO = "write ignored (OKAY)"
_COUNTER_FAULTS = (f"{_RO}; never wraps: a build whose counters could wrap within a sequence of max_seq_len "
                   "steps is refused, naming the counter and its bound; only cycles, with an output or trace "
                   "stream held off beyond that bound, counts modulo 2^counter_bits")
_LOAD_RANGE = "SLVERR, nothing written, STATUS.ERR_LOAD_RANGE set"


def _counter_registers(skip: str) -> list:
    """The <COUNTER>_LO/_HI registers of a build with datapath ``skip``."""
    return [Register(f"{name.upper()}_{half}", counter_offset(name, half == "HI", skip), "ro", 0,
                     f"{'bits 63:32' if half == 'HI' else 'bits 31:0'} of the {name} counter of the last finished "
                     f"sequence" + (" (0 when counter_bits <= 32)" if half == "HI" else ""), _COUNTER_FAULTS)
            for name in counter_names(skip) for half in ("LO", "HI")]


REGISTERS = [
    Register("CTRL", CTRL, "rw", CTRL_RESET,
             "[0] PREDICTOR: 1 = the build's skipping (BNN memoization; a delta build: delta column "
             "skipping), 0 = every neuron computed (a delta build: every column used every step); [1] RUN: 1 = accept input sequences, "
             "0 = hold s_axis_tready low between sequences; [2] SOFT_RESET: write 1 to abort the sequence in "
             "flight and return the core to idle (self-clearing, reads 0; memories keep their contents)",
             f"PREDICTOR {_NEXT_SEQUENCE}; RUN = 0 lets a sequence in flight finish; SOFT_RESET acts the cycle "
             "after the write, zeroes the counters and discards a partial LOAD_DATA word"),
    Register("STATUS", STATUS, "rw", 0,
             "[0] BUSY (ro): a sequence is in flight; [1] ERR_TOO_LONG: a sequence longer than MAX_SEQ_LEN "
             "was dropped (an input without TLAST ends this way); [2] ERR_LOAD_BUSY: a LOAD_DATA word "
             "completed while busy and was dropped; [3] ERR_LOAD_RANGE: a LOAD_* write was refused "
             "(SLVERR); bits 3:1 are sticky, write 1 to clear",
             "an error event in the same cycle as the write-1-to-clear of its bit keeps the bit set"),
    Register("REUSE_CAP", REUSE_CAP, "rw", 0, "[7:0] consecutive-reuse cap, 0 = no cap", _NEXT_SEQUENCE),
    Register("SEQ_DONE", SEQ_DONE, "ro", 0,
             f"number of finished sequences, modulo 2^{SEQ_DONE_BITS} (wraps to 0; take differences modulo "
             f"2^{SEQ_DONE_BITS})", _RO),
    *[Register(f"THETA{k}", theta_offset(k), "rw", 0,
               f"[15:0] reuse threshold of layer {k}, Q8.8; a delta build: [23:16] DELTA_X, [31:24] DELTA_H, "
               f"column thresholds in int8 units (mapped only if the model has more than {k} layers)",
               f"{_NEXT_SEQUENCE}; unmapped: SLVERR") for k in range(MAX_LAYERS)],
    *_counter_registers("memo"),
    Register("LOAD_SEL", LOAD_SEL, "rw", 0,
             f"[{LOAD_SEL_BITS - 1}:0] memory to load, index into the manifest's memories (weights, weight_bits, "
             "bias, requant, bias_hn, offsets); a write discards a partial LOAD_DATA word",
             f"a memory this build does not have (6, 7, bias_hn of an LSTM, weight_bits of a delta build): "
             f"{_LOAD_RANGE}, LOAD_SEL "
             "unchanged"),
    Register("LOAD_ADDR", LOAD_ADDR, "rw", 0,
             f"[{LOAD_ADDR_BITS - 1}:0] word address of the next load; a write discards a partial LOAD_DATA word",
             "any address is held (LOAD_SEL may change after it); LOAD_DATA refuses one beyond the memory"),
    Register("LOAD_DATA", LOAD_DATA, "wo", None,
             "appends 32 bits to the staging word, least significant first; after ceil(width/32) writes the "
             "word is written to memory LOAD_SEL at LOAD_ADDR and LOAD_ADDR increments (WSTRB ignored; reads 0)",
             f"LOAD_ADDR at or beyond the selected memory's depth (written so, or advanced past the end): "
             f"{_LOAD_RANGE}, LOAD_ADDR unchanged; a word completed while BUSY "
             "is dropped (OKAY, STATUS.ERR_LOAD_BUSY, LOAD_ADDR advances); a partial word is discarded when a "
             "sequence starts, on SOFT_RESET and on a LOAD_SEL or LOAD_ADDR write"),
    Register("ID", ID, "ro", ID_VALUE, f"{ID_VALUE:#010x}: \"MN\", register map version {REGMAP_VERSION}", _RO),
    Register("SHAPE", SHAPE, "ro", None,
             "[15:0] hidden_size, [23:16] num_layers, [27:24] directions, [28] cell (1 = GRU)", _RO),
    Register("SIZES", SIZES, "ro", None, "[15:0] input_size, [23:16] mac_lanes", _RO),
    Register("BNN", BNN, "ro", None, "[15:0] bnn_width, [16] trace stream present, [17] delta datapath "
             "(skip = \"delta\")", _RO),
    Register("MAX_SEQ_LEN", MAX_SEQ_LEN, "ro", None, "longest accepted sequence, in steps", _RO),
]

REGISTER_BY_NAME = {r.name: r for r in REGISTERS}


def registers(skip: str = "memo") -> list[Register]:
    """The register map of a build with datapath ``skip``: :data:`REGISTERS` with the
    counters of :func:`counter_names`."""
    if skip == "memo":
        return list(REGISTERS)
    regs = [r for r in REGISTERS if not COUNTER_BASE <= r.offset < LOAD_SEL]
    return sorted(regs + _counter_registers(skip), key=lambda r: r.offset)


def mapped_registers(num_layers: int, skip: str = "memo") -> list[Register]:
    """The registers a build with ``num_layers`` layers and datapath ``skip`` decodes
    (THETA<k> for k < num_layers; the counters of :func:`counter_names`)."""
    return [r for r in registers(skip) if not (r.name.startswith("THETA") and int(r.name[5:]) >= num_layers)]


def build_words(layout, trace: bool) -> dict[str, int]:
    """The build-dependent read-only registers' values (SHAPE, SIZES, BNN, MAX_SEQ_LEN)."""
    return {"SHAPE": layout.hidden | layout.num_layers << 16 | layout.directions << 24 | (layout.cell == "gru") << 28,
            "SIZES": layout.input_size | layout.lanes << 16,
            "BNN": layout.bnn_width | int(trace) << 16 | int(layout.skip == "delta") << 17,
            "MAX_SEQ_LEN": layout.max_seq_len}


# ------------------------------------------------------------------ trace
def trace_words_per_step(rows: int) -> int:
    """Reuse-bit words of one step of one layer direction with ``rows`` (G*H) rows (a
    delta build: used-column words, ``rows`` = that layer's ``X + H`` columns)."""
    return -(-rows // TRACE_WIDTH)


def trace_step_bits(layout) -> list[int]:
    """Bits a step of each layer direction traces: its G*H reuse bits, or in a delta build
    its ``X + H`` used-column bits."""
    if layout.skip == "delta":
        return [d.in_size + layout.hidden for d in layout.layers]
    return [layout.rows] * layout.layer_dirs


def trace_words_per_sequence(layout, length: int) -> int:
    """Trace words of a sequence of ``length`` steps: reuse (or column) bits, then the counters."""
    return (length * sum(trace_words_per_step(bits) for bits in trace_step_bits(layout))
            + len(counter_names(layout.skip)))


# ------------------------------------------------------------------ counters
#: Counters that output or trace back-pressure can stretch without end: built
#: ``counter_bits`` wide; their bound is that of a sequence whose streams never stall,
#: and beyond it (a stream held off that long) they count modulo 2**counter_bits.
STALLABLE_COUNTERS = ("cycles",)


def counter_widths(bounds: dict, counter_bits: int) -> dict[str, int]:
    """Width of each counter: as wide as its bound needs, at most ``counter_bits``.

    Parameters
    ----------
    bounds : dict of str to int
        The largest value each counter of :data:`COUNTER_NAMES` can reach in one sequence
        of ``max_seq_len`` steps (for :data:`STALLABLE_COUNTERS`, with streams that
        never stall).
    counter_bits : int

    Returns
    -------
    dict of str to int

    Raises
    ------
    ValueError
        Naming the first counter whose bound does not fit ``counter_bits``: such a
        counter could wrap, and a wrapped count is a wrong one.
    """
    widths = {}
    for name in bounds:
        bound = int(bounds[name])
        if bound >= 1 << counter_bits:
            raise ValueError(f"counter_bits = {counter_bits} is too narrow: the {name} counter can reach {bound} "
                             f"in a sequence of max_seq_len steps (needs {bound.bit_length()} bits)")
        widths[name] = counter_bits if name in STALLABLE_COUNTERS else min(counter_bits, max(1, bound.bit_length()))
    return widths


# ------------------------------------------------------------------ documentation
def _table_rows() -> list[tuple[str, str, str, str, str, str]]:
    """The map grouped for reading: THETA<k> and the counters as one row each."""
    rows, seen = [], set()
    groups = {"THETA": ("THETA<k>", "0x10+4k", "THETA0"),
              "LO": ("<COUNTER>_LO", "0x80+8i", f"{COUNTER_NAMES[0].upper()}_LO"),
              "HI": ("<COUNTER>_HI", "0x84+8i", f"{COUNTER_NAMES[0].upper()}_HI")}
    for reg in REGISTERS:
        key = ("THETA" if reg.name.startswith("THETA") else
               reg.name.rsplit("_", 1)[1] if reg.offset in range(COUNTER_BASE, LOAD_SEL) else None)
        if key is None:
            name, offset, description = reg.name, f"0x{reg.offset:02X}", reg.description
        elif key in seen:
            continue
        else:
            seen.add(key)
            name, offset, first = groups[key]
            description = REGISTER_BY_NAME[first].description
            description = (f"[15:0] reuse threshold of layer k, Q8.8; a delta build: [23:16] DELTA_X, [31:24] "
                           f"DELTA_H, column thresholds in int8 units (k < {MAX_LAYERS}; mapped only for "
                           "k < num_layers)" if key == "THETA" else
                           description.replace(f"the {COUNTER_NAMES[0]} counter", "counter i of "
                                               f"{', '.join(COUNTER_NAMES)} (a delta build: "
                                               f"{', '.join(DELTA_COUNTER_NAMES)})"))
        reset = "build" if reg.reset is None and reg.access == "ro" else "n/a" if reg.reset is None \
            else f"{reg.reset:#x}"
        rows.append((name, offset, reg.access, reset, description, reg.faults))
    return rows


def register_table() -> str:
    """The register map as a Markdown table (the README's and ``docs/hardware.md``'s)."""
    lines = ["| register | offset | access | reset | bits | faults and timing |",
             "|---|---|---|---|---|---|"]
    lines += [f"| `{name}` | {' | '.join(rest)} |" for name, *rest in _table_rows()]
    return "\n".join(lines)


__doc__ += "\n" + register_table() + "\n"
