"""Resources and Fmax before synthesis: a model fitted to this project's synthesis runs.

:func:`estimate` answers in well under a second from the model's shape and the
hardware configuration. Per FPGA family it holds

- **DSP blocks**: the MAC lanes' multipliers plus the other multipliers of the
  datapath (requantizer, cell update, reuse decision), a count per (family, cell,
  datapath, build) read off the synthesis runs, within the device's DSP count (the flow
  gives the other multipliers their blocks first, so lanes beyond it go to logic);
- **block RAMs** on ECP5: counted from the design's memories (:func:`ecp5_block_rams`);
- **LUTs, flip-flops, block RAMs elsewhere, and Fmax**: linear least-squares fits on the features
  of :func:`features` (sizes, widths, memory bits, datapath, cell and build: the delta
  build, ``skip = "delta"``, has no BNN and lanes that accumulate 32-bit sums; its
  accumulator, last-used value and column-list memories are LUT RAM or block RAM).

The fit lives in ``hw/synth/data/estimate_fit.json``; ``benchmarks/estimator.py`` makes
it from a ``memornn dse`` synthesis sweep and reports its error on held-out points.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

import numpy as np

from ...golden import numerics as nx
from ...golden.errors import MemornnError
from ...golden.qmodel import QModel
from ..config import HwConfig
from ..energy import ACTIVATIONS, column_entry_bits
from ..layout import SHIFT_FIELD_BITS, Layout, make_layout, memory_depths, memory_widths
from .targets import get_target

FIT_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "estimate_fit.json")

#: Quantities fitted linearly on the features.
FITTED = ("luts", "ffs", "brams", "fmax_mhz")


@dataclass(frozen=True)
class ModelShape:
    """What the estimator needs of a model: its shape (no weights)."""

    cell: str
    input_size: int
    hidden_size: int
    num_layers: int = 1
    directions: int = 1
    pwl_segments: int = 32

    @classmethod
    def of(cls, model: QModel) -> "ModelShape":
        return cls(model.cell, model.input_size, model.hidden_size, model.num_layers, model.directions,
                   model.pwl_segments)

    @property
    def gates(self) -> int:
        return {"lstm": 4, "gru": 3}[self.cell]

    def layer_input_size(self, k: int) -> int:
        return self.input_size if k == 0 else self.hidden_size * self.directions


def features(layout: Layout) -> dict:
    """The estimator's inputs: what the design's size follows."""
    depths, widths = memory_depths(layout), memory_widths(layout)
    weight_kbits = depths["weights"] * widths["weights"] / 1024
    bits_kbits = depths["weight_bits"] * widths["weight_bits"] / 1024
    seq_kbits = layout.seq_buffer_depth * layout.lanes * 8 / 1024
    max_x = max(d.in_size for d in layout.layers)
    delta = layout.skip == "delta"
    # The delta build's accumulator memory is no feature of its own: it is LUT RAM or block
    # RAM (counted by ecp5_block_rams), not LUTs (cross-validation on the fit's points:
    # with it the delta points' LUT error grew from 5.0% to 5.5%).
    return {
        "one": 1.0,
        "lanes": float(layout.lanes),
        "bnn_width": 0.0 if delta else float(layout.bnn_width),  # a delta build has no BNN
        "delta": float(delta),
        "delta_lanes": float(layout.lanes) if delta else 0.0,
        "hidden": float(layout.hidden),
        "inputs": float(max_x),
        "rows_log2": math.log2(layout.rows * layout.layer_dirs),
        "shared": float(layout.datapath == "shared"),
        # PWL units of the cell stage: 5 (LSTM) or 3 (GRU) side by side, or one time-shared.
        "pwl_units": float(ACTIVATIONS[layout.cell] if layout.datapath == "parallel" else 1),
        "gru": float(layout.cell == "gru"),
        "memory_kbits": weight_kbits + bits_kbits + seq_kbits,
        "weight_kbits": weight_kbits,
    }


def memory_shapes(layout: Layout) -> list[tuple[str, int, int]]:
    """``(name, width, depth)`` of the design's writable memories (as :mod:`memornn.hw.core`,
    :mod:`~memornn.hw.memo_decision` and :mod:`~memornn.hw.delta_rows` build them; the
    PWL tables, ROMs of a few hundred bits, and the row FIFO stay in logic on ECP5)."""
    P, rows, H = layout.lanes, layout.layer_dirs * layout.rows, layout.hidden
    gru = layout.cell == "gru"
    out = [("seq_buf", P * 8, 2 * layout.seq_buffer_depth),
           ("weights", P * 8, layout.weight_depth + layout.offset_depth),
           ("bias", nx.BIAS_BITS, rows), ("requant", nx.MULT_BITS + SHIFT_FIELD_BITS, rows),
           ("h_buf", P * 8, layout.layers[0].h_words)] + ([] if gru else [("c_mem", nx.CELL_BITS, H)])
    out += [(f"memo_bank{i}", nx.PRE_BITS, layout.layer_dirs * H) for i in range(layout.gates + gru)]
    out += [("bias_hn", nx.BIAS_BITS, layout.layer_dirs * H)] if gru else []
    if layout.skip == "delta":
        n_max = layout.max_row_inputs
        acc = [("acc", P * nx.ACC_BITS, layout.layer_dirs * layout.groups)]  # a GRU has a second for h parts
        out += acc * (2 if gru else 1) + [("v_last", nx.INPUT_BITS, layout.layer_dirs * n_max),
                                          ("col_list", column_entry_bits(layout), n_max)]
    else:
        out += [("weight_bits", layout.bnn_width, layout.bits_depth),
                ("memo_yb", layout.yb_bits + nx.REUSE_CAP_BITS, rows)]
    return out


#: ECP5 DP16KD aspect ratios (width, depth); 36 bits wide as a simple dual-port PDPW16KD.
ECP5_BRAM_MODES = ((1, 16384), (2, 8192), (4, 4096), (9, 2048), (18, 1024), (36, 512))
#: LUT RAM cells of an ECP5 block's worth: a memory that would take at least this many
#: TRELLIS_DPR16X4 cells (4 bits x 16 words) per block goes to block RAM.
ECP5_LUTRAM_PER_BLOCK = 32


def ecp5_block_rams(layout: Layout) -> int:
    """Block RAMs Yosys maps the design to on ECP5: each memory whose LUT RAM cost reaches
    :data:`ECP5_LUTRAM_PER_BLOCK` cells per block it would take, in its best aspect ratio.
    (The rule matches every memory of the synthesis runs in ``build/estimator``: a 64 x 32
    bias goes to block RAM, a 64 x 21 requantization table and a 32 x 64 accumulator
    memory to LUT RAM.)"""
    total = 0
    for _, width, depth in memory_shapes(layout):
        blocks = min(-(-width // w) * -(-depth // d) for w, d in ECP5_BRAM_MODES)
        if -(-width // 4) * -(-depth // 16) >= ECP5_LUTRAM_PER_BLOCK * blocks:
            total += blocks
    return total


def load_fit(path: str = FIT_FILE) -> dict:
    """The fitted coefficients (see the module doc)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise MemornnError(f"cannot read the estimator's fit {path!r}: {exc}") from None


def dsp_key(cell: str, datapath: str, skip: str) -> str:
    """The key of :func:`dsp_other`'s counts: ``cell:datapath``, and ``:delta`` for a delta build."""
    return f"{cell}:{datapath}" + ("" if skip == "memo" else f":{skip}")


#: Multipliers of the parallel cell update (besides its PWL units), per cell (:class:`HwConfig`).
CELL_MULTIPLIERS = {"lstm": 3, "gru": 2}


def _cell_units(cell: str, datapath: str) -> int:
    """Multipliers of the cell stage that differ between cells: the parallel datapath's PWL
    units and update multipliers (the shared datapath has one of each for either cell)."""
    return ACTIVATIONS[cell] + CELL_MULTIPLIERS[cell] if datapath == "parallel" else 0


def _dsps(entry: dict, layout: Layout, capacity: int) -> int:
    """The other multipliers' blocks first, then a block a lane while the device has them.

    A cell the runs did not cover takes a covered cell's count of the same datapath and
    build, less that cell's PWL units and update multipliers, plus its own; a build the
    runs did not cover, the memo build's (its multipliers and the decision unit's)."""
    if not capacity:
        return 0
    counts = entry["dsp_other"]
    other = counts.get(dsp_key(layout.cell, layout.datapath, layout.skip))
    for skip in (layout.skip, "memo"):
        for cell in CELL_MULTIPLIERS:
            known = counts.get(dsp_key(cell, layout.datapath, skip))
            if other is None and known is not None:
                other = known - _cell_units(cell, layout.datapath) + _cell_units(layout.cell, layout.datapath)
    return min((other or 0) + layout.lanes, capacity)


def fit_entry(fit: dict, target) -> tuple[str, dict]:
    """The fit of ``target``, or of a device of its family that has DSP blocks as it has."""
    if target.name in fit["targets"]:
        return target.name, fit["targets"][target.name]
    for name, entry in sorted(fit["targets"].items()):
        other = get_target(name)
        if other.family == target.family and bool(other.capacity.get("dsp")) == bool(target.capacity.get("dsp")):
            return name, entry
    raise MemornnError(f"the estimator has no fit for target {target.name!r} or its family (fitted: "
                       f"{', '.join(sorted(fit['targets']))})")


def estimate(model: QModel | ModelShape, config: HwConfig, target_name: str, fit: dict | None = None) -> dict:
    """Estimated ``luts``, ``ffs``, ``dsps``, ``brams``, ``fmax_mhz`` and whether it ``fits``.

    Raises
    ------
    MemornnError
        For an unknown target or a family the fit has no data for.
    """
    target = get_target(target_name)
    source, entry = fit_entry(fit or load_fit(), target)
    layout = make_layout(model, config)
    f = features(layout)
    value = {name: sum(entry[name].get(k, 0.0) * v for k, v in f.items()) for name in FITTED}
    capacity = target.capacity
    brams = ecp5_block_rams(layout) if target.family == "ecp5" else max(int(round(value["brams"])), 0)
    out = {"luts": max(int(round(value["luts"])), 0), "ffs": max(int(round(value["ffs"])), 0),
           "dsps": _dsps(entry, layout, capacity.get("dsp", 0)), "brams": brams,
           "fmax_mhz": round(float(value["fmax_mhz"]), 1), "fit_from": source}
    out["fits"] = all(out[k] <= capacity[c] for k, c in (("luts", "luts"), ("ffs", "ffs"), ("brams", "bram"))
                      if c in capacity)
    return out


#: Ridge penalties tried by leave-one-out cross-validation (on standardized features).
RIDGE = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


def _ridge(a: np.ndarray, b: np.ndarray, lam: float) -> np.ndarray:
    """Ridge regression with an unpenalized intercept (column 0 of ``a`` is the constant)."""
    mean, scale = a[:, 1:].mean(axis=0), a[:, 1:].std(axis=0)
    scale[scale == 0] = 1.0
    z = (a[:, 1:] - mean) / scale
    zc, bc = z - z.mean(axis=0), b - b.mean()
    w = np.linalg.solve(zc.T @ zc + lam * np.eye(z.shape[1]), zc.T @ bc)
    coef = w / scale
    return np.concatenate([[b.mean() - (z.mean(axis=0) * w).sum() - (mean * coef).sum()], coef])


def fit_linear(rows: list[dict], quantity: str, names: tuple) -> dict:
    """Ridge coefficients of ``quantity`` on the named features of ``rows`` (each row has
    ``features`` and the measured quantities; ``names[0]`` is the constant ``one``), the
    penalty chosen by leave-one-out error."""
    a = np.array([[r["features"][n] for n in names] for r in rows])
    b = np.array([r[quantity] for r in rows], dtype=float)
    if len(rows) < 3:
        return {n: (float(b.mean()) if n == "one" else 0.0) for n in names}

    def loo(lam):
        errs = [b[i] - a[i] @ _ridge(np.delete(a, i, 0), np.delete(b, i), lam) for i in range(len(b))]
        return float(np.mean(np.square(errs)))
    coef = _ridge(a, b, min(RIDGE, key=loo))
    return {n: float(c) for n, c in zip(names, coef)}


def dsp_other(rows: list[dict]) -> dict:
    """DSP blocks of the multipliers other than the lanes, per ``cell:datapath``, from runs
    whose device did not run out of DSP blocks (there, every multiplier got its own)."""
    out = {}
    for r in rows:
        if r.get("dsp_capped"):
            continue
        key = dsp_key(r["cell"], r["datapath"], r.get("skip") or "memo")
        other = r["dsps"] - r["mac_lanes"]
        out[key] = max(out.get(key, 0), other)
    return out


def fit_target(rows: list[dict]) -> dict:
    """One target's fit from its synthesis rows (each with ``features`` and measured values)."""
    names = tuple(rows[0]["features"])
    entry = {q: fit_linear([r for r in rows if r.get(q) is not None], q, names) for q in FITTED}
    entry["dsp_other"] = dsp_other(rows)
    entry["points"] = len(rows)
    return entry


def row_features(row: dict) -> dict:
    """Features of a ``memornn dse`` result row (model shape and configuration columns)."""
    shape = ModelShape(row["cell"], int(row["input_size"]), int(row["hidden_size"]), int(row["num_layers"]),
                       int(row["directions"]))
    return features(make_layout(shape, row_config(row)))


def row_config(row: dict) -> HwConfig:
    """The configuration of a ``memornn dse`` result row (``skip`` memo when it has none)."""
    return HwConfig(mac_lanes=int(row["mac_lanes"]), bnn_width=int(row["bnn_width"]), datapath=row["datapath"],
                    weight_memory=row["weight_memory"], max_seq_len=int(row["max_seq_len"]),
                    skip=row.get("skip") or "memo")
