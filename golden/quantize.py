"""Integer-only quantization of a float model, calibrated on sample inputs.

- Inputs: symmetric int8 with one scale per feature, ``max |x| / 127`` over the
  calibration steps.
- Weights: one scale per gate-neuron row over ``[W_ih * s_in, W_hh / 2**7]`` (the input
  scales folded into the weights), symmetric int8 in [-127, 127].
- Biases: int32 on the row's accumulator scale.
- Requantization to Q3.12 pre-activations by an integer multiplier and shift per row.
- BNN binarization offsets: per input feature of every layer, the calibration mean
  (layer 0: of the inputs; later layers: of the float model's previous-layer h), on
  that layer's integer input grid.

Rounding here is round half up, like everywhere else (see :mod:`numerics`).
"""

from __future__ import annotations

import numpy as np

from . import numerics as nx
from .errors import MemornnError
from .floatmodel import FloatModel
from .floatref import float_forward
from .inputs import Batch
from .qmodel import QLayer, QModel, check_accumulator_range

H_SCALE = 2.0**-nx.H_FRAC


def _round(v):
    return np.floor(np.asarray(v, np.float64) + 0.5)


def _valid_steps(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The (steps, features) rows of (N, T, F) ``values`` that lie within each length."""
    mask = np.arange(values.shape[1])[None, :] < lengths[:, None]
    return values[mask]


def input_scales(batch: Batch) -> np.ndarray:
    """Per-feature symmetric int8 scales; a feature that is always 0 gets scale 1."""
    peak = np.abs(_valid_steps(batch.x, batch.lengths)).max(axis=0)
    return np.where(peak > 0, peak / nx.INPUT_MAX, 1.0)


def quantize_layer(p, in_scale: np.ndarray, offsets: np.ndarray, cell: str, hidden: int, where: str) -> QLayer:
    """Quantize one direction of one layer; ``in_scale`` is the scale of each input feature."""
    v = np.concatenate([p.w_ih * in_scale[None, :], p.w_hh * H_SCALE], axis=1)
    bias = p.b_ih + p.b_hh
    bias_hn = None
    cand = slice(2 * hidden, 3 * hidden)
    if cell == "gru":
        bias[cand] = p.b_ih[cand]
    peak = np.abs(v).max(axis=1)
    # An all-zero row still needs a scale that carries its bias.
    fallback = np.maximum(np.abs(bias), np.abs(p.b_hh) if cell == "gru" else 0.0) / 2**20
    scale = np.where(peak > 0, peak / nx.WEIGHT_MAX, np.where(fallback > 0, fallback, 2.0**-20))
    weight = np.clip(_round(v / scale[:, None]), -nx.WEIGHT_MAX, nx.WEIGHT_MAX).astype(np.int64)
    b_lo, b_hi = nx.int_range(nx.BIAS_BITS)

    def to_bias(b, s):
        q = _round(b / s)
        if q.min() < b_lo or q.max() > b_hi:
            raise MemornnError(f"{where}: a bias is too large for its row's weights ({nx.BIAS_BITS}-bit bias)")
        return q.astype(np.int64)

    bias_q = to_bias(bias, scale)
    if cell == "gru":
        bias_hn = to_bias(p.b_hh[cand], scale[cand])
    mult, shift = np.zeros(len(scale), np.int64), np.zeros(len(scale), np.int64)
    for r, s in enumerate(scale):
        try:
            mult[r], shift[r] = nx.multiplier_and_shift(s * 2**nx.PRE_FRAC)
        except ValueError as exc:
            raise MemornnError(f"{where}: row {r}: {exc}") from None
    return QLayer(weight, bias_q, mult, shift, offsets.astype(np.int64), bias_hn)


def quantize_model(model: FloatModel, calibration: Batch, pwl_segments: int = nx.PWL_DEFAULT_SEGMENTS,
                   use_offsets: bool = True) -> QModel:
    """Quantize ``model`` with scales and BNN offsets from ``calibration``.

    Parameters
    ----------
    model : FloatModel
    calibration : Batch
        Representative inputs (for example the training split).
    pwl_segments : int
        Segments of the PWL sigmoid and tanh.
    use_offsets : bool
        False gives offset 0 everywhere: the paper's plain sign binarization.

    Raises
    ------
    MemornnError
        If the calibration inputs do not fit the model, or a weight or bias cannot be
        represented.
    """
    if calibration.x.shape[2] != model.input_size:
        raise MemornnError(f"calibration inputs have {calibration.x.shape[2]} features, but the model takes "
                           f"{model.input_size}")
    if pwl_segments not in nx.PWL_SEGMENT_CHOICES:
        raise MemornnError(f"PWL segments must be one of {nx.PWL_SEGMENT_CHOICES}, got {pwl_segments!r}")
    scale_x = input_scales(calibration)
    _, layer_outputs = float_forward(model, calibration, return_layers=True)
    layer_inputs = [calibration.x] + layer_outputs[:-1]
    layers = []
    for k, layer in enumerate(model.layers):
        if k == 0:
            in_scale = scale_x
            lo = -nx.INPUT_MAX
        else:
            in_scale = np.full(model.hidden_size * model.directions, H_SCALE)
            lo = -(nx.INPUT_MAX + 1)
        mean = _valid_steps(layer_inputs[k], calibration.lengths).mean(axis=0)
        offsets = np.clip(_round(mean / in_scale), lo, nx.INPUT_MAX) if use_offsets else np.zeros_like(mean)
        layers.append([quantize_layer(p, in_scale, offsets, model.cell, model.hidden_size,
                                      f"layer {k}{' reverse' if d else ''}") for d, p in enumerate(layer)])
    qmodel = QModel(model.cell, model.hidden_size, layers, scale_x, pwl_segments, model.head_weight,
                    model.head_bias)
    check_accumulator_range(qmodel)
    return qmodel
