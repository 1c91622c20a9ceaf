"""Energy per inference from operation counts and a per-operation energy table.

The model charges every operation the accelerator performs for a batch of sequences
with the energy of one such operation in a technology table (the default,
``hw/data/energy_45nm.toml``, holds the 45 nm figures of Horowitz, ISSCC 2014):

========================  =====================================================================
kind                      what is counted
========================  =====================================================================
``mac``                   every multiply-accumulate performed: an 8-bit multiply, a 32-bit add
``weight_read``           8 bits of the weight memory per MAC (computed rows only)
``operand_read``          8 bits of the sequence buffer per MAC (the row's x and h words); a
                          column walk (delta, hybrid) reads a used column's change once, and
                          the hybrid's catch-up an operand of a snapshot per catch-up MAC
``requantize``            per requantized row (computed; delta and hybrid: accumulator moved):
                          bias and requantization words read, a 32-bit multiply and add
``memo_table``            per computed row a 16-bit pre-activation written, per neuron and step
                          one read by the cell; with a predictor that keeps a table also its
                          metadata (bnn: ``yb``; sign: ``D_r``; and the run count) read every
                          step and written per computed row
``predictor_read``        weight-sign bits: BNN, the row's ``X + H`` per evaluation; sign, one
                          per row operation
``predictor_logic``       BNN: XNOR and popcount per sign bit
``decision``              the reuse test per row and step (a 16-bit subtract and multiply)
``activation``            PWL sigmoid/tanh (a 16-bit multiply and add each): 5 per hidden unit
                          and step (LSTM), 3 (GRU)
``cell_update``           the state update's multiplies and adds, and its c and h traffic
``accumulator``           delta, hybrid: a moved row's 32-bit accumulator read and written once
                          a step (the column walk takes a tile of rows over every used column,
                          the tile's accumulators held in registers meanwhile)
``predictor_ops``         sign row stage: a 16-bit add per operation; column stage: an 8-bit
                          compare per column and step
``column_detect``         the delta build's change detection: per column and step the
                          last-used value read, per used column written, and the column
                          list's entry written once and read once per row group
========================  =====================================================================

Memory accesses are charged by the array's size, read off the hardware layout (a
larger array costs more per bit). What a policy adds is its own operation counts:
:data:`POLICY_OPERATIONS` maps a predictor to the function that counts them from the
golden model's result, so a new policy is one entry there (and its counters).

The delta build (``skip = "delta"``, :mod:`memornn.hw.delta_rows`) has a datapath of its
own, so its counts follow its memories rather than the policy's alone
(:func:`delta_build_counts`): the tiled weight image read a ``P``-lane word per row
group and used column, the persistent accumulators a block-RAM word of ``P`` int32 (two
words for the GRU, whose candidate rows keep their h part apart) read and written per
row group of every step that walks, the last-used values and the column list of the
detector, and a memo table of pre-activations only. With predictor none it uses every
column every step.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass

import numpy as np

from ..golden import numerics as nx
from ..golden.errors import MemornnError
from .layout import Layout, memory_depths, memory_widths

#: The default table: 45 nm figures of Horowitz, ISSCC 2014.
DEFAULT_TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "energy_45nm.toml")

#: Operation energies the table must give (pJ).
OPS = ("add8", "add16", "add32", "mul8", "mul16", "mul32", "xnor_popcount_bit")

#: Breakdown kinds, in report order.
KINDS = ("mac", "weight_read", "operand_read", "requantize", "memo_table", "predictor_read", "predictor_logic",
         "decision", "activation", "cell_update", "accumulator", "predictor_ops", "column_detect")

#: What the predictor itself costs (the overhead that a saving is net of).
PREDICTOR_KINDS = ("predictor_read", "predictor_logic", "decision", "predictor_ops", "column_detect")

#: PWL activations per hidden unit and step.
ACTIVATIONS = {"lstm": 5, "gru": 3}

#: The seed paper's figures (theirs, averages over their networks), for the report.
PAPER_ENERGY_SAVING = {"MICRO 2019": 18.5, "arXiv": 21.0}


@dataclass(frozen=True)
class EnergyTable:
    """Per-operation energies in pJ.

    Attributes
    ----------
    name, source : str
        What the figures are and where they come from.
    ops : dict
        Energy of one operation, keyed by the names of :data:`OPS`.
    sram : tuple of (int, float)
        ``(bytes, pJ per 64 bits read)`` points, ascending in size.
    dram_pj_per_32b : float
        Off-chip read of 32 bits.
    """

    name: str
    source: str
    ops: dict
    sram: tuple
    dram_pj_per_32b: float

    def sram_pj(self, size_bytes: int, bits: float) -> float:
        """Energy of reading ``bits`` from an SRAM of ``size_bytes``, interpolated on a log-log scale."""
        sizes = [math.log(s) for s, _ in self.sram]
        energies = [math.log(e) for _, e in self.sram]
        x = math.log(max(size_bytes, 1))
        i = min(max(np.searchsorted(sizes, x) - 1, 0), len(sizes) - 2)
        slope = (energies[i + 1] - energies[i]) / (sizes[i + 1] - sizes[i])
        return math.exp(energies[i] + slope * (x - sizes[i])) * bits / 64


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise MemornnError(f"energy table: {where} must be a positive number, got {value!r}")
    return float(value)


def load_table(path: str | None = None) -> EnergyTable:
    """Read an energy table (TOML); ``None`` reads the default 45 nm table.

    Raises
    ------
    MemornnError
        If the file cannot be read, is not TOML, or misses or mistypes a key.
    """
    path = path or DEFAULT_TABLE
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise MemornnError(f"cannot read energy table {path!r}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MemornnError(f"energy table {path!r} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"name", "source", "ops_pj", "sram", "dram"})
    if unknown:
        raise MemornnError(f"energy table {path!r}: unknown key {unknown[0]!r}")
    ops_in = data.get("ops_pj")
    if not isinstance(ops_in, dict):
        raise MemornnError(f"energy table {path!r}: missing table [ops_pj]")
    missing = [name for name in OPS if name not in ops_in]
    if missing:
        raise MemornnError(f"energy table {path!r}: [ops_pj] lacks {missing[0]!r}")
    extra = sorted(set(ops_in) - set(OPS))
    if extra:
        raise MemornnError(f"energy table {path!r}: unknown operation {extra[0]!r} in [ops_pj]")
    ops = {name: _number(ops_in[name], f"ops_pj.{name}") for name in OPS}
    sram = data.get("sram")
    if not isinstance(sram, list) or len(sram) < 2 or not all(isinstance(p, dict) for p in sram):
        raise MemornnError(f"energy table {path!r}: [[sram]] needs at least two points (bytes, pj_per_64b)")
    points = sorted((_number(p.get("bytes"), "sram.bytes"), _number(p.get("pj_per_64b"), "sram.pj_per_64b"))
                    for p in sram)
    if len({s for s, _ in points}) != len(points):
        raise MemornnError(f"energy table {path!r}: two [[sram]] points have the same size")
    dram = data.get("dram")
    if not isinstance(dram, dict):
        raise MemornnError(f"energy table {path!r}: missing table [dram]")
    return EnergyTable(str(data.get("name", os.path.basename(path))), str(data.get("source", "")), ops,
                       tuple(points), _number(dram.get("pj_per_32b"), "dram.pj_per_32b"))


@dataclass(frozen=True)
class MemorySizes:
    """Bytes of every array the energy model charges reads from (``v_last`` and
    ``column_list``: the delta build's detector; 0 in a memo build)."""

    weights: int
    weight_bits: int
    seq_buffer: int
    bias: int
    requant: int
    memo: int
    accumulators: int
    v_last: int = 0
    column_list: int = 0

    @classmethod
    def of(cls, layout: Layout) -> "MemorySizes":
        depths, widths = memory_depths(layout), memory_widths(layout)

        def size(name):
            return depths[name] * widths[name] // 8

        common = (size("weights"), size("weight_bits"), layout.seq_buffer_depth * layout.lanes, size("bias"),
                  size("requant"))
        if layout.skip == "delta":
            n_max = layout.max_row_inputs
            return cls(*common, layout.layer_dirs * (layout.rows + layout.hidden * (layout.cell == "gru"))
                       * nx.PRE_BITS // 8, accumulator_words(layout) * layout.lanes * nx.ACC_BITS // 8,
                       layout.layer_dirs * n_max * nx.INPUT_BITS // 8, n_max * column_entry_bits(layout) // 8)
        memo_bits = layout.layer_dirs * layout.rows * (nx.PRE_BITS + layout.yb_bits + 8)
        return cls(*common, memo_bits // 8, layout.layer_dirs * layout.rows * nx.ACC_BITS // 8)


def accumulator_words(layout: Layout) -> int:
    """Words (``P`` int32) of the delta build's accumulator memories: a word per layer
    direction and row group, twice for the GRU (its candidate rows' h part)."""
    return layout.layer_dirs * layout.groups * (2 if layout.cell == "gru" else 1)


def column_entry_bits(layout: Layout) -> int:
    """Bits of a column-list entry of the delta build: the column's index and its change."""
    from .delta_rows import DV_BITS  # here: memornn estimate imports this module without the HDL

    return max(layout.max_row_inputs - 1, 1).bit_length() + DV_BITS


def layer_counts(result: dict, layout: Layout, lengths: np.ndarray) -> list[dict]:
    """Per layer direction: neuron-steps computed and evaluated, from the golden reuse masks."""
    out = []
    t_idx = None
    for desc in layout.layers:
        key = f"reused_l{desc.layer}" + ("_reverse" if desc.direction else "")
        mask = np.asarray(result[key])
        if t_idx is None:
            t_idx = np.arange(mask.shape[1])[None, :] < np.asarray(lengths)[:, None]
        evaluated = int(t_idx.sum()) * layout.rows
        reused = int(mask[t_idx].sum())
        out.append({"in_size": desc.in_size, "evaluated": evaluated, "computed": evaluated - reused})
    return out


def _bnn_operations(result: dict, layout: Layout, layers: list[dict]) -> dict:
    """The BNN predictor: sign bits read and XNOR-popcounted per evaluation, the reuse test,
    and the table's metadata (``yb`` and the run count)."""
    evals = int(np.sum(result["bnn_evals"]))
    per_layer = sum(layer["evaluated"] * (layer["in_size"] + layout.hidden) for layer in layers)
    evaluated = sum(layer["evaluated"] for layer in layers)
    sign_bits = per_layer * evals // evaluated if evaluated else 0
    meta = layout.yb_bits + 8
    computed = int(np.sum(result["neurons_computed"]))
    return {"sign_bits": sign_bits, "decisions": evals, "memo_meta_bits": evals * meta + computed * meta}


def _total(result: dict, name: str) -> int:
    return int(np.sum(result[name]))


def _sign_row_stage(result: dict, layout: Layout, ops: int) -> dict:
    """The sign row predictor: per operation a weight-sign bit read and a 16-bit add into
    the row's ``D_r``; per row and step the slope-weighted test and the run count."""
    evaluated = _total(result, "neurons_computed") + _total(result, "neurons_reused")
    computed = _total(result, "neurons_computed")
    return {"sign_bits": ops, "predictor_ops": ops, "decisions": evaluated,
            "memo_meta_bits": evaluated * (nx.PRE_BITS + 8) + computed * (nx.PRE_BITS + 8)}


def _column_stage(result: dict) -> dict:
    """Delta's column stage: a test per column and step; a moved accumulator read and
    written once a step (the walk takes a tile of rows over every used column with the
    tile's accumulators in registers) and requantized; one operand (the column's change)
    read per used column, not per MAC."""
    tests = _total(result, "columns_used") + _total(result, "columns_skipped")
    moved = _total(result, "acc_updates")
    return {"column_tests": tests, "accumulator_updates": moved, "requantized": moved,
            "operand_bits": _total(result, "columns_used") * 8}


def _delta_operations(result: dict, layout: Layout, layers: list[dict]) -> dict:
    return _column_stage(result)


def _sign_operations(result: dict, layout: Layout, layers: list[dict]) -> dict:
    return _sign_row_stage(result, layout, _total(result, "predictor_ops"))


def _hybrid_operations(result: dict, layout: Layout, layers: list[dict]) -> dict:
    """Delta's column stage, the sign row stage, and the catch-up MACs' operands read
    from the snapshots of the column values."""
    columns = _column_stage(result)
    rows = _sign_row_stage(result, layout, _total(result, "predictor_ops") - columns["column_tests"])
    columns["operand_bits"] += _total(result, "catchup_macs") * 8
    return {**rows, **columns}


#: Operations a predictor adds to (or changes of) the dense work, from the golden result
#: (see the module doc).
POLICY_OPERATIONS = {
    "none": lambda result, layout, layers: {},
    "bnn": _bnn_operations,
    "delta": _delta_operations,
    "sign": _sign_operations,
    "hybrid": _hybrid_operations,
}


def _check_delta_build(predictor: str) -> None:
    if predictor not in ("none", "delta"):
        raise MemornnError(f"the delta build's energy model counts predictors none and delta, not {predictor!r}")


def delta_build_counts(result: dict, layout: Layout, predictor: str, layers: list[dict]) -> dict:
    """What the delta build (:mod:`memornn.hw.delta_rows`) does besides the MACs: its
    detector, column walk and accumulators (see the module doc), from the golden counters
    (delta) or with every column used every step (none).

    Raises
    ------
    MemornnError
        For a predictor the delta build has no datapath for.
    """
    _check_delta_build(predictor)
    if predictor == "none":
        steps = [layer["evaluated"] // layout.rows for layer in layers]
        tests = used = sum(s * (layer["in_size"] + layout.hidden) for s, layer in zip(steps, layers))
        walks = sum(steps)
    else:
        used, tests = _total(result, "columns_used"), _total(result, "columns_used") + _total(result, "columns_skipped")
        walks = _total(result, "acc_updates") // layout.rows
    entry = column_entry_bits(layout)
    words_per_walk = accumulator_words(layout) // layout.layer_dirs
    return {"column_tests": tests, "operand_bits": tests * nx.INPUT_BITS, "requantized": walks * layout.rows,
            "weight_bits": layout.groups * used * layout.lanes * nx.WEIGHT_BITS,
            "accumulator_bits": walks * words_per_walk * layout.lanes * nx.ACC_BITS * 2,
            "v_last_bits": (tests + used) * nx.INPUT_BITS, "column_list_bits": used * (1 + layout.groups) * entry}


def operation_counts(result: dict | None, layout: Layout, predictor: str, lengths: np.ndarray | None,
                     row_weights: int = 1) -> dict:
    """Counts of every operation the accelerator performs for the batch of ``result``.

    ``row_weights`` is the sign row predictor's bits per weight (read per operation).
    With ``result`` None, only checks that ``predictor`` has a cost model. A delta build
    (``layout.skip == "delta"``) is counted by :func:`delta_build_counts`.

    Raises
    ------
    MemornnError
        If the predictor has no hardware cost model (``oracle`` is a study, not a policy),
        or none on the layout's build.
    """
    if predictor not in POLICY_OPERATIONS:
        raise MemornnError(f"predictor {predictor!r} has no energy model (one of "
                           f"{', '.join(POLICY_OPERATIONS)}; oracle is an upper-bound study, not hardware)")
    if layout.skip == "delta":
        _check_delta_build(predictor)
    if result is None:
        return {}
    layers = layer_counts(result, layout, lengths)
    counts = {"macs": _total(result, "macs"), "computed": _total(result, "neurons_computed"),
              "evaluated": sum(layer["evaluated"] for layer in layers)}
    counts.update(unit_steps=counts["evaluated"] // layout.gates, requantized=counts["computed"],
                  operand_bits=counts["macs"] * 8, sign_bits=0, decisions=0, memo_meta_bits=0,
                  accumulator_updates=0, predictor_ops=0, column_tests=0, v_last_bits=0, column_list_bits=0,
                  weight_bits=counts["macs"] * nx.WEIGHT_BITS)
    if layout.skip == "delta":
        counts.update(delta_build_counts(result, layout, predictor, layers))
        return counts
    counts.update(POLICY_OPERATIONS[predictor](result, layout, layers))
    counts["accumulator_bits"] = counts["accumulator_updates"] * 2 * nx.ACC_BITS
    if predictor in ("sign", "hybrid"):
        counts["sign_bits"] *= row_weights
    return counts


def _cell_pj(table: EnergyTable, cell: str, mem: MemorySizes) -> float:
    """One hidden unit's state update: multiplies, adds and the state traffic."""
    op = table.ops
    if cell == "lstm":  # c = f*c + i*g; h = o*tanh(c): c read and written, h written
        return 3 * op["mul16"] + 2 * op["add16"] + table.sram_pj(mem.memo, 2 * nx.PRE_BITS) \
            + table.sram_pj(mem.seq_buffer, 8)
    return 3 * op["mul16"] + 3 * op["add16"] + table.sram_pj(mem.seq_buffer, 2 * 8)  # r*hn, (1-z)*n + z*h


def energy_breakdown(counts: dict, layout: Layout, table: EnergyTable, weights_in_dram: bool = False) -> dict:
    """Energy in pJ per kind of :data:`KINDS` for the operation ``counts``."""
    op, mem = table.ops, MemorySizes.of(layout)
    macs, computed, evaluated = counts["macs"], counts["computed"], counts["evaluated"]
    requantized = counts["requantized"]
    weight_read = (counts["weight_bits"] / 32 * table.dram_pj_per_32b if weights_in_dram
                   else table.sram_pj(mem.weights, counts["weight_bits"]))
    return {
        "mac": macs * (op["mul8"] + op["add32"]),
        "weight_read": weight_read,
        "operand_read": table.sram_pj(mem.seq_buffer, counts["operand_bits"]),
        "requantize": requantized * (op["mul32"] + op["add32"]) + table.sram_pj(mem.bias, requantized * nx.BIAS_BITS)
        + table.sram_pj(mem.requant, requantized * 32),
        "memo_table": table.sram_pj(mem.memo, (requantized + evaluated) * nx.PRE_BITS + counts["memo_meta_bits"]),
        "predictor_read": table.sram_pj(mem.weight_bits, counts["sign_bits"]),
        "predictor_logic": counts["sign_bits"] * op["xnor_popcount_bit"],
        "decision": counts["decisions"] * (op["add16"] + op["mul16"]),
        "activation": counts["unit_steps"] * ACTIVATIONS[layout.cell] * (op["mul16"] + op["add16"]),
        "cell_update": counts["unit_steps"] * _cell_pj(table, layout.cell, mem),
        "accumulator": table.sram_pj(mem.accumulators, counts["accumulator_bits"]),
        "predictor_ops": counts["predictor_ops"] * op["add16"] + counts["column_tests"] * op["add8"],
        "column_detect": table.sram_pj(mem.v_last, counts["v_last_bits"])
        + table.sram_pj(mem.column_list, counts["column_list_bits"]),
    }


def energy_report(result: dict, layout: Layout, predictor: str, lengths: np.ndarray, table: EnergyTable,
                  dense: dict | None = None, weights_in_dram: bool = False, row_weights: int = 1) -> dict:
    """Energy per inference of a golden-model run, with its saving against ``dense``.

    Parameters
    ----------
    result : dict
        :func:`memornn.golden.intmodel.golden_run`'s result for the batch.
    layout : Layout
        The accelerator's layout (memory sizes).
    predictor : str
        The predictor ``result`` ran with.
    lengths : ndarray
        The batch's sequence lengths.
    table : EnergyTable
        Per-operation energies.
    dense : dict, optional
        The same batch's result with predictor ``none``: the saving is reported against it.
    weights_in_dram : bool
        Charge weight reads at the DRAM figure (weights streamed from off chip).
    row_weights : int
        Bits per weight of the sign row predictor (sign, hybrid).

    Returns
    -------
    dict
        ``energy_per_inference_nj``, ``breakdown`` (nJ per inference by kind), ``counts``
        and, with ``dense``, ``dense_nj``, ``saving_percent`` (net of the predictor's cost),
        ``predictor_overhead_percent`` (of the dense energy) and ``sign_bits_percent_of_dense_weight_bits``.
    """
    n = max(len(lengths), 1)
    counts = operation_counts(result, layout, predictor, lengths, row_weights)
    pj = energy_breakdown(counts, layout, table, weights_in_dram)
    report = {"predictor": predictor, "table": table.name, "sequences": len(lengths),
              "energy_per_inference_nj": sum(pj.values()) / n / 1000,
              "breakdown": {kind: pj[kind] / n / 1000 for kind in KINDS}, "counts": counts}
    if dense is not None:
        base_counts = operation_counts(dense, layout, "none", lengths)
        base = sum(energy_breakdown(base_counts, layout, table, weights_in_dram).values()) / n / 1000
        overhead = sum(report["breakdown"][k] for k in PREDICTOR_KINDS)
        dense_weight_bits = base_counts["macs"] * nx.WEIGHT_BITS
        report.update(dense_nj=base, saving_percent=100 * (1 - report["energy_per_inference_nj"] / base),
                      predictor_overhead_percent=100 * overhead / base,
                      sign_bits_percent_of_dense_weight_bits=100 * counts["sign_bits"] / dense_weight_bits
                      if dense_weight_bits else 0.0,
                      paper_saving_percent=PAPER_ENERGY_SAVING)
    return report
