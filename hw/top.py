"""The accelerator's top level: :class:`~memornn.hw.core.MemoCore` behind AXI interfaces.

Ports
-----
Flat members of the signature, so the Verilog port names are exactly these (plus
``clk`` and ``rst``):

- ``s_axis_tdata`` (X*8), ``s_axis_tvalid``, ``s_axis_tready``, ``s_axis_tlast``: input
  steps, element i of x_t in bits 8i..8i+7, ``tlast`` on a sequence's last step.
- ``m_axis_tdata`` (P*8), ``m_axis_tkeep`` (P), ``m_axis_tvalid``, ``m_axis_tready``,
  ``m_axis_tlast``: the last layer's output (H*D values a step, forward half first) in
  words of P values, ``ceil(H*D / P)`` beats a step; ``tkeep`` clears the padding bytes
  of a step's last word (an AXI4-Stream sink that drops null bytes sees H*D bytes a
  step), ``tlast`` on the sequence's last beat.
- ``m_axis_trace_tdata`` (32), ``m_axis_trace_tvalid``, ``m_axis_trace_tready``,
  ``m_axis_trace_tlast``: only with ``trace``; the reuse-trace words of
  :class:`~memornn.hw.core.MemoCore`.
- ``s_axil_aw{addr,prot,valid,ready}``, ``s_axil_w{data,strb,valid,ready}``,
  ``s_axil_b{resp,valid,ready}``, ``s_axil_ar{addr,prot,valid,ready}``,
  ``s_axil_r{data,resp,valid,ready}``: AXI4-Lite slave, 32-bit data, 8-bit byte
  addresses (:class:`~memornn.hw.axil.AxiLiteRegisterInterface`).

Register map
------------
Byte offsets of 32-bit registers; WSTRB is honoured by every register but LOAD_DATA.

=================  =======  ===  ==========  ====================================================
name               offset   acc  reset       bits
=================  =======  ===  ==========  ====================================================
CTRL               0x00     rw   0x3         [0] PREDICTOR: 1 = BNN memoization, 0 = none;
                                             [1] RUN: 1 = accept input sequences, 0 = hold
                                             s_axis_tready low between sequences;
                                             [2] SOFT_RESET: write 1 to abort the sequence in
                                             flight and return the core to idle
                                             (self-clearing, reads 0; memories keep contents)
STATUS             0x04     rw   0x0         [0] BUSY (ro): a sequence is in flight;
                                             [1] ERR_TOO_LONG (W1C): a sequence longer than
                                             MAX_SEQ_LEN was dropped;
                                             [2] ERR_LOAD_BUSY (W1C): a LOAD_DATA word completed
                                             while busy and was dropped
REUSE_CAP          0x08     rw   0x0         [7:0] consecutive-reuse cap, 0 = none
SEQ_DONE           0x0C     ro   0x0         finished sequences (32 bits, wraps)
THETA<k>           0x10+4k  rw   0x0         [15:0] reuse threshold of layer k, Q8.8 (k < 16;
                                             mapped only for k < num_layers)
<COUNTER>_LO       0x80+8i  ro   0x0         bits 31:0 of counter i of
                                             ``memornn.hw.core.COUNTER_NAMES`` (cycles,
                                             neurons_computed, ...; at most 8) of the last
                                             finished sequence
<COUNTER>_HI       0x84+8i  ro   0x0         bits 63:32 of the same (0 when counter_bits <= 32)
LOAD_SEL           0xC0     rw   0x0         [2:0] memory to load, index into
                                             ``memornn.hw.layout.MEMORIES``
LOAD_ADDR          0xC4     rw   0x0         [23:0] word address of the next load; a write
                                             also clears the staging word
LOAD_DATA          0xC8     wo   n/a         next 32 bits of the staging word, least
                                             significant first; after ceil(width/32) writes the
                                             word is written and LOAD_ADDR increments
ID                 0xD0     ro   0x4D4E0001  "MN", register map version 1
SHAPE              0xD4     ro   build       [15:0] hidden_size, [23:16] num_layers,
                                             [27:24] directions, [28] cell (1 = GRU)
SIZES              0xD8     ro   build       [15:0] input_size, [23:16] mac_lanes
BNN                0xDC     ro   build       [15:0] bnn_width, [16] trace stream present
MAX_SEQ_LEN        0xE0     ro   build       longest accepted sequence, in steps
=================  =======  ===  ==========  ====================================================

Any other address (including unaligned ones and THETA<k> for k >= num_layers) answers
SLVERR and writes there do nothing. Writes to read-only registers are ignored (OKAY);
LOAD_DATA reads 0. :data:`REGISTERS` holds this map as data.

Loading weights at run time: write LOAD_SEL, then LOAD_ADDR = 0, then every word of the
memory's image as ceil(width/32) LOAD_DATA writes each (:func:`load_writes` produces the
sequence). The core ignores loads while BUSY, so clear CTRL.RUN and wait for BUSY = 0
first; a word dropped that way sets STATUS.ERR_LOAD_BUSY (LOAD_ADDR still advances).

SOFT_RESET resets every register of the core (its FSM, FIFOs, the trace stream and the
counters of the last sequence, which read 0 afterwards) but none of this module's
registers. An input beat is never consumed in the reset cycle; an output or trace
stream of the aborted sequence ends where it was cut (no ``tlast``), so the host should
drain or reset its stream receivers as well.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, ResetInserter, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..golden import numerics as nx
from .axil import AxiLiteRegisterInterface, AxiLiteSignature
from .core import COUNTER_NAMES, TRACE_WIDTH, MemoCore
from .layout import MEMORIES, Layout, ceil_div, memory_depths, memory_widths

AXIL_ADDR_BITS = 8
AXIL_DATA_BITS = 32
MAX_LAYERS = 16
ID_VALUE = 0x4D4E0001

CTRL, STATUS, REUSE_CAP, SEQ_DONE = 0x00, 0x04, 0x08, 0x0C
THETA_BASE = 0x10
COUNTER_BASE = 0x80
LOAD_SEL, LOAD_ADDR, LOAD_DATA = 0xC0, 0xC4, 0xC8
ID, SHAPE, SIZES, BNN, MAX_SEQ_LEN = 0xD0, 0xD4, 0xD8, 0xDC, 0xE0

CTRL_PREDICTOR, CTRL_RUN, CTRL_SOFT_RESET = 1 << 0, 1 << 1, 1 << 2
STATUS_BUSY, STATUS_ERR_TOO_LONG, STATUS_ERR_LOAD_BUSY = 1 << 0, 1 << 1, 1 << 2
CTRL_RESET = CTRL_PREDICTOR | CTRL_RUN


MAX_COUNTERS = (LOAD_SEL - COUNTER_BASE) // 8
if len(COUNTER_NAMES) > MAX_COUNTERS:  # pragma: no cover - guards a change of the core
    raise ImportError(f"the register map has room for {MAX_COUNTERS} counters, the core has {len(COUNTER_NAMES)}")


def theta_offset(layer: int) -> int:
    """Byte offset of THETA_``layer``."""
    return THETA_BASE + 4 * layer


def counter_offset(name: str, hi: bool = False) -> int:
    """Byte offset of a counter's LO (or HI) word."""
    return COUNTER_BASE + 8 * COUNTER_NAMES.index(name) + (4 if hi else 0)


#: The register map: (name, byte offset, access, reset value or None if build-dependent,
#: description). Access: ``rw``, ``ro``, ``wo``; W1C bits are described per field.
REGISTERS = [
    ("CTRL", CTRL, "rw", CTRL_RESET,
     "[0] PREDICTOR: 1 = BNN memoization, 0 = every neuron computed; [1] RUN: 1 = accept input "
     "sequences, 0 = hold s_axis_tready low between sequences; [2] SOFT_RESET: write 1 to abort the "
     "sequence in flight and return the core to idle (self-clearing, memories keep their contents)"),
    ("STATUS", STATUS, "rw", 0,
     "[0] BUSY (ro): a sequence is in flight; [1] ERR_TOO_LONG (sticky, write 1 to clear): a sequence "
     "longer than MAX_SEQ_LEN was dropped; [2] ERR_LOAD_BUSY (sticky, write 1 to clear): a LOAD_DATA "
     "word completed while busy and was dropped"),
    ("REUSE_CAP", REUSE_CAP, "rw", 0, "[7:0] consecutive-reuse cap, 0 = no cap"),
    ("SEQ_DONE", SEQ_DONE, "ro", 0, "number of finished sequences (32 bits, wraps)"),
    *[(f"THETA{k}", theta_offset(k), "rw", 0,
       f"[15:0] reuse threshold of layer {k}, Q8.8 (mapped only if the model has more than {k} layers)")
      for k in range(MAX_LAYERS)],
    *[(f"{name.upper()}_{half}", counter_offset(name, half == "HI"), "ro", 0,
       f"{'bits 63:32' if half == 'HI' else 'bits 31:0'} of the {name} counter of the last finished "
       f"sequence" + (" (0 when counter_bits <= 32)" if half == "HI" else ""))
      for name in COUNTER_NAMES for half in ("LO", "HI")],
    ("LOAD_SEL", LOAD_SEL, "rw", 0, "[2:0] memory to load: " + ", ".join(f"{i} = {n}" for i, n in enumerate(MEMORIES))),
    ("LOAD_ADDR", LOAD_ADDR, "rw", 0, "[23:0] word address of the next load; writing it also clears the staging word"),
    ("LOAD_DATA", LOAD_DATA, "wo", None,
     "appends 32 bits to the staging word, least significant first; after ceil(width/32) writes the word "
     "is written to memory LOAD_SEL at LOAD_ADDR and LOAD_ADDR increments (WSTRB ignored)"),
    ("ID", ID, "ro", ID_VALUE, "0x4D4E0001: \"MN\", register map version 1"),
    ("SHAPE", SHAPE, "ro", None, "[15:0] hidden_size, [23:16] num_layers, [27:24] directions, [28] cell (1 = GRU)"),
    ("SIZES", SIZES, "ro", None, "[15:0] input_size, [23:16] mac_lanes"),
    ("BNN", BNN, "ro", None, "[15:0] bnn_width, [16] trace stream present"),
    ("MAX_SEQ_LEN", MAX_SEQ_LEN, "ro", None, "longest accepted sequence, in steps"),
]


def _check_int(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")


def load_writes(layout: Layout, images: dict) -> list[tuple[int, int]]:
    """The AXI4-Lite writes that load memory images through the LOAD_* registers.

    Parameters
    ----------
    layout : Layout
    images : dict of str to list of int
        Memory images keyed by names of ``MEMORIES`` (as from :func:`memory_images`);
        empty or missing images are skipped.

    Returns
    -------
    list of (int, int)
        ``(byte offset, 32-bit value)`` pairs, in order: per memory LOAD_SEL, LOAD_ADDR = 0,
        then each word as ceil(width/32) LOAD_DATA writes, least significant first.

    Raises
    ------
    ValueError
        On an unknown memory name, an image deeper than its memory, or a word that is
        negative or does not fit the memory's width.
    """
    widths, depths = memory_widths(layout), memory_depths(layout)
    for name in images:
        if name not in MEMORIES:
            raise ValueError(f"unknown memory {name!r} (known: {', '.join(MEMORIES)})")
    writes = []
    for index, name in enumerate(MEMORIES):
        words = list(images.get(name, []))
        if not words:
            continue
        if len(words) > depths[name]:
            raise ValueError(f"image of {name} has {len(words)} words, the memory holds {depths[name]}")
        width = widths[name]
        pieces = ceil_div(width, AXIL_DATA_BITS)
        writes += [(LOAD_SEL, index), (LOAD_ADDR, 0)]
        for addr, word in enumerate(words):
            word = int(word)
            if not 0 <= word < 1 << width:
                raise ValueError(f"word {addr} of {name} is {word:#x}, which does not fit in {width} bits")
            writes += [(LOAD_DATA, (word >> (AXIL_DATA_BITS * i)) & 0xFFFF_FFFF) for i in range(pieces)]
    return writes


class Accelerator(wiring.Component):
    """The accelerator: :class:`MemoCore` with AXI4-Stream data ports and AXI4-Lite registers.

    The register map and the ports are described in the module documentation
    (:mod:`memornn.hw.top`) and, as data, in :data:`REGISTERS`.

    Parameters
    ----------
    layout : Layout
        Sizes and base addresses (from :func:`memornn.hw.layout.make_layout`); at most
        16 layers.
    images : dict or None
        Initial memory contents (from :func:`memory_images`); ``None`` leaves them zero
        for loading at run time.
    trace : bool
        Generate the reuse-trace stream ``m_axis_trace_*``.
    row_fifo_depth : int
        Rows the BNN may decide ahead of the MAC lanes (2 to 256).
    counter_bits : int
        Width of the performance counters (16 to 64).

    Attributes
    ----------
    s_axis_tdata, s_axis_tvalid, s_axis_tready, s_axis_tlast
        Input stream, one beat per step.
    m_axis_tdata, m_axis_tkeep, m_axis_tvalid, m_axis_tready, m_axis_tlast
        Output stream of the last layer, a word of P values a beat.
    m_axis_trace_tdata, m_axis_trace_tvalid, m_axis_trace_tready, m_axis_trace_tlast
        Reuse-trace stream (only with ``trace``).
    s_axil_awaddr, ..., s_axil_rready
        AXI4-Lite slave (``AXIL_ADDR_BITS`` address bits, 32 data bits).
    """

    def __init__(self, layout: Layout, images: dict | None = None, trace: bool = False, row_fifo_depth: int = 8,
                 counter_bits: int = 32):
        if not isinstance(layout, Layout):
            raise ValueError(f"layout must be a Layout (from make_layout), got {layout!r}")
        if images is not None:
            if not isinstance(images, dict):
                raise ValueError(f"images must be a dict of memory images or None, got {images!r}")
            unknown = sorted(set(images) - set(MEMORIES))
            if unknown:
                raise ValueError(f"images has an unknown memory {unknown[0]!r} (known: {', '.join(MEMORIES)})")
        if not isinstance(trace, bool):
            raise ValueError(f"trace must be True or False, got {trace!r}")
        _check_int("row_fifo_depth", row_fifo_depth, 2, 256)
        _check_int("counter_bits", counter_bits, 16, 64)
        _check_int("layout.num_layers", layout.num_layers, 1, MAX_LAYERS)
        _check_int("layout.hidden", layout.hidden, 1, 2**16 - 1)
        _check_int("layout.input_size", layout.input_size, 1, 2**16 - 1)
        _check_int("layout.directions", layout.directions, 1, 2)
        _check_int("layout.lanes", layout.lanes, 1, 255)
        _check_int("layout.bnn_width", layout.bnn_width, 1, 2**16 - 1)
        _check_int("layout.max_seq_len", layout.max_seq_len, 1, 2**32 - 1)
        self._layout = layout
        self._images = images
        self._trace = trace
        self._row_fifo_depth = row_fifo_depth
        self._counter_bits = counter_bits

        members = {
            "s_axis_tdata": In(layout.input_size * 8), "s_axis_tvalid": In(1), "s_axis_tready": Out(1),
            "s_axis_tlast": In(1),
            "m_axis_tdata": Out(layout.lanes * 8), "m_axis_tkeep": Out(layout.lanes), "m_axis_tvalid": Out(1),
            "m_axis_tready": In(1),
            "m_axis_tlast": Out(1),
        }
        if trace:
            members.update({"m_axis_trace_tdata": Out(TRACE_WIDTH), "m_axis_trace_tvalid": Out(1),
                            "m_axis_trace_tready": In(1), "m_axis_trace_tlast": Out(1)})
        # The AXI4-Lite slave port, flattened: s_axil_<member> with the slave's directions.
        for name, member in AxiLiteSignature(AXIL_ADDR_BITS, AXIL_DATA_BITS).members.items():
            members[f"s_axil_{name}"] = member.flip()
        super().__init__(members)

    @property
    def layout(self) -> Layout:
        return self._layout

    @property
    def trace(self) -> bool:
        return self._trace

    def elaborate(self, platform):
        m = Module()
        lay = self._layout
        cb = self._counter_bits

        core = MemoCore(lay, self._images, trace=self._trace, row_fifo_depth=self._row_fifo_depth,
                        counter_bits=cb)
        # The soft reset acts the cycle after the CTRL write: registered, the register
        # decode stays off the core's reset and enable paths.
        soft_reset, soft_reset_req = Signal(), Signal()
        m.d.sync += soft_reset.eq(soft_reset_req)
        m.submodules.core = ResetInserter(soft_reset)(core)
        m.submodules.axil = axil = AxiLiteRegisterInterface(AXIL_ADDR_BITS, AXIL_DATA_BITS)
        for name, member in AxiLiteSignature(AXIL_ADDR_BITS, AXIL_DATA_BITS).members.items():
            port, inner = getattr(self, f"s_axil_{name}"), getattr(axil.bus, name)
            # Out members (master's view) are driven by the bus master: into the slave.
            m.d.comb += inner.eq(port) if member.flow == Out else port.eq(inner)

        # ------------------------------------------------------------ registers
        predictor = Signal(init=1)
        run = Signal(init=1)
        err_too_long = Signal()
        err_load_busy = Signal()
        reuse_cap = Signal(nx.REUSE_CAP_BITS)
        seq_done = Signal(32)
        thetas = [Signal(nx.THETA_BITS, name=f"theta{k}") for k in range(lay.num_layers)]
        load_sel = Signal(3)
        load_addr = Signal(len(core.load.addr))
        m.d.comb += [core.predictor.eq(predictor), core.reuse_cap.eq(reuse_cap)]
        m.d.comb += [core.thetas[k].eq(theta) for k, theta in enumerate(thetas)]

        # ------------------------------------------------------------ streams
        # RUN = 0 stops a new sequence from starting (the core is idle); a sequence
        # already started is taken to its end. No beat is taken in a soft-reset cycle.
        accept = Signal()
        m.d.comb += accept.eq((run | core.busy) & ~soft_reset)
        m.d.comb += [core.i_x.payload.data.eq(self.s_axis_tdata), core.i_x.payload.last.eq(self.s_axis_tlast),
                     core.i_x.valid.eq(self.s_axis_tvalid & accept),
                     self.s_axis_tready.eq(core.i_x.ready & accept)]
        m.d.comb += [self.m_axis_tdata.eq(core.o_h.payload.data), self.m_axis_tkeep.eq(core.o_h.payload.keep),
                     self.m_axis_tlast.eq(core.o_h.payload.last),
                     self.m_axis_tvalid.eq(core.o_h.valid), core.o_h.ready.eq(self.m_axis_tready)]
        if self._trace:
            m.d.comb += [self.m_axis_trace_tdata.eq(core.o_trace.payload.data),
                         self.m_axis_trace_tlast.eq(core.o_trace.payload.last),
                         self.m_axis_trace_tvalid.eq(core.o_trace.valid),
                         core.o_trace.ready.eq(self.m_axis_trace_tready)]

        # ------------------------------------------------------------ load staging
        widths = memory_widths(lay)
        pieces_max = max(ceil_div(widths[name], AXIL_DATA_BITS) for name in MEMORIES)
        staging = Signal(pieces_max * AXIL_DATA_BITS)
        piece = Signal(range(pieces_max))
        pieces_last = Signal(range(pieces_max))  # pieces of the selected memory, minus one
        with m.Switch(load_sel):
            for index, name in enumerate(MEMORIES):
                with m.Case(index):
                    m.d.comb += pieces_last.eq(ceil_div(widths[name], AXIL_DATA_BITS) - 1)
        fire = Signal()
        m.d.sync += fire.eq(0)
        m.d.comb += [core.load.en.eq(fire), core.load.sel.eq(load_sel), core.load.addr.eq(load_addr),
                     core.load.data.eq(staging)]
        with m.If(fire):
            m.d.sync += load_addr.eq(load_addr + 1)
            with m.If(core.busy):
                m.d.sync += err_load_busy.eq(1)

        # ------------------------------------------------------------ status events
        with m.If(core.error_too_long):
            m.d.sync += err_too_long.eq(1)
        with m.If(core.seq_done):
            m.d.sync += seq_done.eq(seq_done + 1)

        # ------------------------------------------------------------ writes
        wdata, strb = axil.wr_data, axil.wr_strb
        byte_mask = Cat(strb[i].replicate(8) for i in range(AXIL_DATA_BITS // 8))

        def masked(reg):
            """``reg`` after a write of ``wdata`` under the byte strobes."""
            return (reg & ~byte_mask) | (wdata & byte_mask)

        wr_err = Signal()
        m.d.comb += axil.wr_err.eq(wr_err)
        with m.Switch(axil.wr_addr):
            with m.Case(CTRL):
                with m.If(axil.wr_en):
                    new = masked(Cat(predictor, run, Const(0, 1)))
                    m.d.sync += [predictor.eq(new[0]), run.eq(new[1])]
                    m.d.comb += soft_reset_req.eq(new[2])
            with m.Case(STATUS):
                with m.If(axil.wr_en):
                    clear = wdata & byte_mask
                    with m.If(clear[1]):
                        m.d.sync += err_too_long.eq(0)
                    with m.If(clear[2]):
                        m.d.sync += err_load_busy.eq(0)
            with m.Case(REUSE_CAP):
                with m.If(axil.wr_en):
                    m.d.sync += reuse_cap.eq(masked(reuse_cap))
            for k, theta in enumerate(thetas):
                with m.Case(theta_offset(k)):
                    with m.If(axil.wr_en):
                        m.d.sync += theta.eq(masked(theta))
            with m.Case(LOAD_SEL):
                with m.If(axil.wr_en):
                    m.d.sync += [load_sel.eq(masked(load_sel)), piece.eq(0), staging.eq(0)]
            with m.Case(LOAD_ADDR):
                with m.If(axil.wr_en):
                    m.d.sync += [load_addr.eq(masked(load_addr)), piece.eq(0), staging.eq(0)]
            with m.Case(LOAD_DATA):
                with m.If(axil.wr_en):
                    m.d.sync += staging.word_select(piece, AXIL_DATA_BITS).eq(wdata)
                    with m.If(piece >= pieces_last):
                        m.d.sync += [piece.eq(0), fire.eq(1)]
                    with m.Else():
                        m.d.sync += piece.eq(piece + 1)
            with m.Case(SEQ_DONE, ID, SHAPE, SIZES, BNN, MAX_SEQ_LEN,
                        *[counter_offset(n, hi) for n in COUNTER_NAMES for hi in (False, True)]):
                pass  # read-only: ignored
            with m.Default():
                m.d.comb += wr_err.eq(1)

        # ------------------------------------------------------------ reads
        rd_data = Signal(AXIL_DATA_BITS)
        rd_err = Signal()
        m.d.comb += [axil.rd_data.eq(rd_data), axil.rd_err.eq(rd_err)]
        shape = lay.hidden | lay.num_layers << 16 | lay.directions << 24 | (lay.cell == "gru") << 28
        sizes = lay.input_size | lay.lanes << 16
        bnn = lay.bnn_width | int(self._trace) << 16
        readable = {
            CTRL: Cat(predictor, run), STATUS: Cat(core.busy, err_too_long, err_load_busy),
            REUSE_CAP: reuse_cap, SEQ_DONE: seq_done,
            LOAD_SEL: load_sel, LOAD_ADDR: load_addr, LOAD_DATA: Const(0, 1),
            ID: Const(ID_VALUE, 32), SHAPE: Const(shape, 32), SIZES: Const(sizes, 32), BNN: Const(bnn, 32),
            MAX_SEQ_LEN: Const(lay.max_seq_len, 32),
        }
        for k, theta in enumerate(thetas):
            readable[theta_offset(k)] = theta
        for name in COUNTER_NAMES:
            value = getattr(core.counters, name)
            readable[counter_offset(name)] = value[:32]
            readable[counter_offset(name, True)] = value[32:] if cb > 32 else Const(0, 1)
        with m.If(axil.rd_en):
            m.d.sync += [rd_data.eq(0), rd_err.eq(0)]
            with m.Switch(axil.rd_addr):
                for offset, value in readable.items():
                    with m.Case(offset):
                        m.d.sync += rd_data.eq(value)
                with m.Default():
                    m.d.sync += rd_err.eq(1)
        return m
