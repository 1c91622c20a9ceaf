"""The quantized model format, ``Q.npz`` (schema ``memornn.qmodel``, version 1).

Everything the hardware needs, all integers but the host-side input scales and the
optional float classifier head. Keys (``k`` the layer; ``_reverse`` appended for the
backward direction of a bidirectional layer; G gates, H hidden, X_k the layer's input
size, X_0 the model's input size and X_k = H * directions after):

=====================  ===========  =======  ==========================================
key                    shape        dtype    meaning
=====================  ===========  =======  ==========================================
schema                 ()           str      ``"memornn.qmodel"``
version                ()           int      1
cell                   ()           str      ``"lstm"`` or ``"gru"``
hidden_size            ()           int      H
num_layers             ()           int      layers
bidirectional          ()           bool     two directions per layer
pwl_segments           ()           int      PWL segments of sigmoid and tanh
input_scale            (X_0,)       float64  host quantization: ``x_q = sat(round(x / s))``
weight_l{k}            (G*H, X_k+H) int8     rows ``[W_ih | W_hh]`` on one per-row scale
bias_l{k}              (G*H,)       int32    bias on the row's accumulator scale (1)
bias_hn_l{k}           (H,)         int32    GRU only: ``b_hn`` of the candidate rows
mult_l{k}              (G*H,)       int32    requantization multiplier (< 2**15)
shift_l{k}             (G*H,)       int32    requantization shift
offset_l{k}            (X_k,)       int8     BNN binarization offsets of the layer's inputs
head_weight, head_bias (C, H*D),(C,) float64 optional classifier head (float)
=====================  ===========  =======  ==========================================

(1) ``b_ih + b_hh`` for every row except the GRU candidate rows, which hold ``b_in``.

Layer 0 takes int8 inputs on the per-feature ``input_scale`` grid; later layers take
the previous layer's h (Q0.7). The per-row scale ``s`` folds the input scales into the
weights: ``V = [W_ih * s_in, W_hh / 2**7]``, ``weight = round(V / s)``, so one integer
dot product over ``[x_q; h_q]`` gives the pre-activation ``acc * s``; then
``mult / 2**shift ~= s * 2**12`` moves it to Q3.12.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from . import numerics as nx
from .errors import MemornnError
from .limits import MAX_FEATURES, MAX_HIDDEN, MAX_LAYERS
from .stack import LayerStackShape
from .npzfile import load_npz, scalar_string

SCHEMA = "memornn.qmodel"
VERSION = 1


@dataclass
class QLayer:
    """One direction of one quantized layer (see the module docstring for the fields)."""

    weight: np.ndarray
    bias: np.ndarray
    mult: np.ndarray
    shift: np.ndarray
    offset: np.ndarray
    bias_hn: np.ndarray | None = None

    @property
    def input_size(self) -> int:
        return self.offset.shape[0]

    @property
    def weight_bits(self) -> np.ndarray:
        """BNN weight sign bits (1 for a non-negative weight), shape of ``weight``."""
        return nx.sign_bits(self.weight)


@dataclass
class QModel(LayerStackShape):
    """A quantized LSTM/GRU stack: the golden model's and the generator's input."""

    cell: str
    hidden_size: int
    layers: list
    input_scale: np.ndarray
    pwl_segments: int = nx.PWL_DEFAULT_SEGMENTS
    head_weight: np.ndarray | None = None
    head_bias: np.ndarray | None = None

    @property
    def input_size(self) -> int:
        return self.input_scale.shape[0]

    @property
    def output_size(self) -> int:
        return self.hidden_size * self.directions

    def layer_input_size(self, k: int) -> int:
        return self.input_size if k == 0 else self.output_size

    def to_arrays(self) -> dict:
        arrays = {
            "schema": np.array(SCHEMA), "version": np.array(VERSION), "cell": np.array(self.cell),
            "hidden_size": np.array(self.hidden_size), "num_layers": np.array(self.num_layers),
            "bidirectional": np.array(self.bidirectional), "pwl_segments": np.array(self.pwl_segments),
            "input_scale": self.input_scale.astype(np.float64),
        }
        for k, layer in enumerate(self.layers):
            for d, q in enumerate(layer):
                sfx = layer_suffix(k, d)
                arrays.update({f"weight{sfx}": q.weight.astype(np.int8), f"bias{sfx}": q.bias.astype(np.int32),
                               f"mult{sfx}": q.mult.astype(np.int32), f"shift{sfx}": q.shift.astype(np.int32),
                               f"offset{sfx}": q.offset.astype(np.int8)})
                if self.cell == "gru":
                    arrays[f"bias_hn{sfx}"] = q.bias_hn.astype(np.int32)
        return {**arrays, **self.head_arrays()}


def layer_suffix(k: int, d: int) -> str:
    """Key suffix of layer ``k``, direction ``d``: ``_l0``, ``_l0_reverse``, ..."""
    return f"_l{k}" + ("_reverse" if d else "")


def _scalar_int(arrays, key, where, low, high, kinds="iu"):
    """An integer scalar entry in ``[low, high]``; ``kinds`` "iub" also takes a bool
    (only ``bidirectional`` is one: ``version = True`` is no version)."""
    value = arrays[key]
    if value.ndim != 0 or value.dtype.kind not in kinds:
        kind = "a boolean or integer" if "b" in kinds else "an integer"
        raise MemornnError(f"{where}: {key!r} must be {kind} scalar, got {value.dtype} of shape {value.shape}"
                           + (f" ({value!r})" if value.ndim == 0 and value.dtype.kind == "b" else ""))
    value = int(value)
    if not low <= value <= high:
        raise MemornnError(f"{where}: {key!r} = {value} is outside [{low}, {high}]")
    return value


def _int_array(arrays, key, shape, low, high, where):
    value = arrays[key]
    if value.dtype.kind not in "iu":
        raise MemornnError(f"{where}: {key!r} must be an integer array, got dtype {value.dtype}")
    if value.shape != shape:
        raise MemornnError(f"{where}: {key!r} has shape {value.shape}, expected {shape}")
    bad = np.flatnonzero((value < low) | (value > high))
    if bad.size:
        at = np.unravel_index(int(bad[0]), value.shape)
        raise MemornnError(f"{where}: {key!r} has values outside [{low}, {high}]: {key}[{', '.join(map(str, at))}] "
                           f"= {value[at]} ({bad.size} out of range)")
    return value.astype(np.int64)


def check_accumulator_range(model: QModel, where: str = "quantized model") -> None:
    """Refuse a model whose worst-case accumulator would not fit ``ACC_BITS``."""
    limit = 2 ** (nx.ACC_BITS - 1) - 1
    largest_input = 2 ** (max(nx.INPUT_BITS, nx.H_BITS) - 1)
    for k, layer in enumerate(model.layers):
        for d, q in enumerate(layer):
            bound = int(np.abs(q.weight).sum(axis=1).max()) * largest_input + int(np.abs(q.bias).max())
            if q.bias_hn is not None:
                bound += int(np.abs(q.bias_hn).max())
            if bound > limit:
                raise MemornnError(f"{where}: layer {k}{layer_suffix(k, d)[3:]} can reach an accumulator of "
                                   f"{bound}, beyond {nx.ACC_BITS} bits")


def model_from_arrays(arrays: dict, where: str = "quantized model") -> QModel:
    """Check the entries of a ``Q.npz`` and build the model.

    Raises
    ------
    MemornnError
        On a missing or unknown key, a wrong schema or version, a bad shape, dtype or range.
    """
    if "schema" not in arrays:
        hint = " (it looks like a float model: quantize it first with memornn quantize)" if "weight_ih_l0" in arrays \
            else ""
        raise MemornnError(f"{where}: missing key 'schema': not a memornn quantized model{hint}")
    for key in ("schema", "version", "cell", "hidden_size", "num_layers", "bidirectional", "pwl_segments",
                "input_scale"):
        if key not in arrays:
            raise MemornnError(f"{where}: missing key {key!r}")
    if scalar_string(arrays, "schema", where) != SCHEMA:
        raise MemornnError(f"{where}: schema is {str(arrays['schema'])!r}, expected {SCHEMA!r} (a float model "
                           "must be quantized first: memornn quantize)")
    version = _scalar_int(arrays, "version", where, 0, 10**6)
    if version != VERSION:
        raise MemornnError(f"{where}: schema version {version} is not supported (this memornn reads {VERSION})")
    cell = scalar_string(arrays, "cell", where)
    if cell not in nx.GATES:
        raise MemornnError(f"{where}: cell must be 'lstm' or 'gru', got {cell!r}")
    hidden = _scalar_int(arrays, "hidden_size", where, 1, MAX_HIDDEN)
    num_layers = _scalar_int(arrays, "num_layers", where, 1, MAX_LAYERS)
    directions = 2 if _scalar_int(arrays, "bidirectional", where, 0, 1, kinds="iub") else 1
    segments = _scalar_int(arrays, "pwl_segments", where, 1, 2**16)
    if segments not in nx.PWL_SEGMENT_CHOICES:
        raise MemornnError(f"{where}: pwl_segments = {segments} is not one of {nx.PWL_SEGMENT_CHOICES}")
    scale = arrays["input_scale"]
    if scale.ndim != 1 or not 1 <= scale.shape[0] <= MAX_FEATURES or scale.dtype.kind != "f":
        raise MemornnError(f"{where}: 'input_scale' must be a float vector of 1 to {MAX_FEATURES} entries, got "
                           f"{scale.dtype} {scale.shape}")
    bad = np.flatnonzero(~(np.isfinite(scale) & (scale > 0)))
    if bad.size:
        raise MemornnError(f"{where}: 'input_scale' must be positive and finite: input_scale[{bad[0]}] = "
                           f"{scale[bad[0]]}")
    gates = nx.GATES[cell]
    rows = gates * hidden
    expected = {"schema", "version", "cell", "hidden_size", "num_layers", "bidirectional", "pwl_segments",
                "input_scale", "head_weight", "head_bias"}
    layers = []
    for k in range(num_layers):
        in_size = scale.shape[0] if k == 0 else hidden * directions
        layer = []
        for d in range(directions):
            sfx = layer_suffix(k, d)
            names = ["weight", "bias", "mult", "shift", "offset"] + (["bias_hn"] if cell == "gru" else [])
            for name in names:
                expected.add(name + sfx)
                if name + sfx not in arrays:
                    raise MemornnError(f"{where}: missing key {name + sfx!r}")
            b_lo, b_hi = nx.int_range(nx.BIAS_BITS)
            layer.append(QLayer(
                weight=_int_array(arrays, "weight" + sfx, (rows, in_size + hidden), -nx.WEIGHT_MAX, nx.WEIGHT_MAX,
                                  where),
                bias=_int_array(arrays, "bias" + sfx, (rows,), b_lo, b_hi, where),
                mult=_int_array(arrays, "mult" + sfx, (rows,), 0, 2**nx.MULT_BITS - 1, where),
                shift=_int_array(arrays, "shift" + sfx, (rows,), 0, nx.SHIFT_MAX, where),
                offset=_int_array(arrays, "offset" + sfx, (in_size,), -(nx.INPUT_MAX + 1), nx.INPUT_MAX, where),
                bias_hn=(_int_array(arrays, "bias_hn" + sfx, (hidden,), b_lo, b_hi, where) if cell == "gru" else None),
            ))
        layers.append(layer)
    unknown = sorted(set(arrays) - expected)
    if unknown:
        raise MemornnError(f"{where}: unknown key {unknown[0]!r}")
    head_weight = head_bias = None
    if ("head_weight" in arrays) != ("head_bias" in arrays):
        raise MemornnError(f"{where}: 'head_weight' and 'head_bias' must be given together")
    if "head_weight" in arrays:
        for name in ("head_weight", "head_bias"):
            if arrays[name].dtype.kind not in "fiu" or not np.all(np.isfinite(arrays[name])):
                raise MemornnError(f"{where}: {name!r} must hold finite numbers")
        head_weight = arrays["head_weight"].astype(np.float64)
        head_bias = arrays["head_bias"].astype(np.float64)
        if head_weight.ndim != 2 or head_weight.shape[1] != hidden * directions or head_bias.shape != (
                head_weight.shape[0],):
            raise MemornnError(f"{where}: classifier head shapes {head_weight.shape}, {head_bias.shape} do not fit "
                               f"an output of size {hidden * directions}")
    model = QModel(cell, hidden, layers, scale.astype(np.float64), segments, head_weight, head_bias)
    check_accumulator_range(model, where)
    return model


def load_qmodel(path: str | os.PathLike) -> QModel:
    """Load and check a ``Q.npz`` file."""
    return model_from_arrays(load_npz(path, "quantized model"), f"quantized model {os.fspath(path)!r}")
