"""Integer-only quantization of a float model, calibrated on sample inputs.

Two methods choose the scales (``method``); everything after the scales is shared.

``"mse"`` (the default)
    - Inputs: symmetric int8, one scale per feature. The clipping range of each
      feature is searched on its calibration values (candidates ``alpha * max |x|``,
      ``alpha`` in ``ALPHAS``) for the least mean-squared quantization error, rounding
      and saturation together: rare outlier values no longer stretch the grid. A
      feature that is always 0 in calibration (a silent key, a dead ReLU channel, a
      padding channel) has no range to measure and takes the median scale of the live
      features, so its weight column weighs like the others.
    - Weights: one scale per gate-neuron row over ``V = [W_ih * s_in, W_hh / 2**7]``
      (input scales folded in). Per row, the clipping range ``alpha * max |V|`` is
      searched for the least mean-squared error of the row's pre-activation over the
      calibration steps (up to ``SEARCH_STEPS``, an even subsample beyond), both sides
      saturated to Q3.12's [-8, 8) as the integer model saturates them, with the layer's
      inputs ``[x / s_in; h_(t-1) * 2**7]`` and ``h_(t-1)`` from the float model (for the
      GRU candidate rows the reset gate is left out: ``W_in x + W_hn h + b``). A small
      ridge on the squared weight error keeps columns that calibration never excites
      from being clipped away. An outlier weight column that would coarsen every other
      weight of its rows is clipped when that costs less than the coarsening.
``"minmax"`` (the quantizer before the search; kept for comparison)
    Inputs ``max |x| / 127`` (scale 1 for an always-zero feature); weights
    ``max |V| / 127`` per row.

Shared:

- Weights symmetric int8 in [-127, 127] (values beyond the clipping range saturate).
- Biases: int32 on the row's accumulator scale.
- Requantization to Q3.12 pre-activations by an integer multiplier and shift per row.
- BNN binarization offsets: per input feature of every layer, the calibration mean
  (layer 0: of the inputs; later layers: of the float model's previous-layer h), on
  that layer's integer input grid.

Rounding here is round half up, like everywhere else (see :mod:`numerics`). The
method is measured in ``benchmarks/quant_models.py``.
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
METHODS = ("mse", "minmax")
#: Clipping candidates, as fractions of the largest magnitude: steps of 2% down to 0.2,
#: then geometric down to 1/128 (heavy tails, outlier columns).
ALPHAS = np.concatenate([np.linspace(1.0, 0.2, 41), np.geomspace(0.2, 2.0**-7, 16)[1:]])
#: Ridge on the squared weight error, relative to the inputs' mean square.
RIDGE = 1e-3
#: Most calibration steps the input search looks at (an even subsample beyond).
MAX_STEPS = 20000
#: Most calibration steps the weight search looks at (an even subsample beyond).
SEARCH_STEPS = 2048
#: Pre-activations saturate at Q3.12's range, [-8, 8).
PRE_LIMIT = 2.0 ** (nx.PRE_BITS - 1 - nx.PRE_FRAC)


def _round(v):
    return np.floor(np.asarray(v, np.float64) + 0.5)


def _valid_steps(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The (steps, features) rows of (N, T, F) ``values`` that lie within each length."""
    mask = np.arange(values.shape[1])[None, :] < lengths[:, None]
    return values[mask]


def check_calibration(calibration: Batch, input_size: int) -> None:
    """Refuse calibration inputs of the wrong width or with no non-zero value.

    Raises
    ------
    MemornnError
        Naming the feature count, or saying that every value is zero.
    """
    if calibration.x.shape[2] != input_size:
        raise MemornnError(f"calibration inputs have {calibration.x.shape[2]} features, but the model takes "
                           f"{input_size}")
    if not np.any(_valid_steps(calibration.x, calibration.lengths)):
        raise MemornnError(f"calibration inputs are all zero ({calibration.size} sequences): no feature has a "
                           "range to calibrate")


def input_scales_minmax(batch: Batch) -> np.ndarray:
    """Per-feature ``max |x| / 127``; a feature that is always 0 gets scale 1 (the old rule)."""
    peak = np.abs(_valid_steps(batch.x, batch.lengths)).max(axis=0)
    return np.where(peak > 0, peak / nx.INPUT_MAX, 1.0)


def _clip_mse(values: np.ndarray, peak: float) -> float:
    """The scale ``alpha * peak / 127`` with the least quantization MSE of ``values``."""
    best, best_err = peak / nx.INPUT_MAX, np.inf
    for alpha in ALPHAS:
        s = alpha * peak / nx.INPUT_MAX
        err = np.mean((np.clip(_round(values / s), -nx.INPUT_MAX, nx.INPUT_MAX) * s - values) ** 2)
        if err < best_err * (1 - 1e-9):
            best, best_err = s, err
    return best


def input_scales_mse(batch: Batch) -> np.ndarray:
    """Per-feature scales by the clipping search; always-zero features take the live median."""
    values = _valid_steps(batch.x, batch.lengths)
    if values.shape[0] > MAX_STEPS:
        values = values[np.linspace(0, values.shape[0] - 1, MAX_STEPS).astype(np.int64)]
    peak = np.abs(values).max(axis=0)
    live = peak > 0
    scale = np.zeros(peak.shape)
    for j in np.flatnonzero(live):
        scale[j] = _clip_mse(values[:, j], peak[j])
    scale[~live] = np.median(scale[live])
    return scale


def row_values(p, in_scale: np.ndarray) -> np.ndarray:
    """The rows ``[W_ih * s_in, W_hh / 2**7]`` that share one scale each."""
    return np.concatenate([p.w_ih * in_scale[None, :], p.w_hh * H_SCALE], axis=1)


def row_scales_minmax(v: np.ndarray) -> np.ndarray:
    """``max |row| / 127`` (0 for an all-zero row)."""
    return np.abs(v).max(axis=1) / nx.WEIGHT_MAX


def row_scales_mse(v: np.ndarray, u: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Per row, the scale ``alpha * max |row| / 127`` with the least calibration error.

    ``u`` (steps, F) holds the rows' inputs in integer units and ``bias`` the rows' float
    biases. The error of a row is the mean over the steps of ``(sat(q . u + b) -
    sat(v . u + b))**2``, ``sat`` clipping to Q3.12's range [-8, 8) (a pre-activation
    beyond it saturates in the integer model anyway), plus a ridge of ``RIDGE`` times the
    inputs' mean square per squared weight error.
    """
    if u.shape[0] > SEARCH_STEPS:
        u = u[np.linspace(0, u.shape[0] - 1, SEARCH_STEPS).astype(np.int64)]
    ridge = RIDGE * max(float(np.mean(u**2)), 1e-12)
    ref = np.clip(u @ v.T + bias, -PRE_LIMIT, PRE_LIMIT)
    peak = np.abs(v).max(axis=1)
    best = peak / nx.WEIGHT_MAX
    best_err = np.full(v.shape[0], np.inf)
    for alpha in ALPHAS:
        s = np.where(peak > 0, alpha * peak / nx.WEIGHT_MAX, 1.0)[:, None]
        q = np.clip(_round(v / s), -nx.WEIGHT_MAX, nx.WEIGHT_MAX) * s
        err = np.mean((np.clip(u @ q.T + bias, -PRE_LIMIT, PRE_LIMIT) - ref) ** 2, axis=0)
        err += ridge * np.sum((q - v) ** 2, axis=1)
        better = err < best_err * (1 - 1e-9)
        best = np.where(better & (peak > 0), s[:, 0], best)
        best_err = np.where(better, err, best_err)
    return best


def quantize_layer(p, in_scale: np.ndarray, offsets: np.ndarray, cell: str, hidden: int, where: str,
                   row_scale: np.ndarray | None = None) -> QLayer:
    """Quantize one direction of one layer; ``in_scale`` is the scale of each input feature.

    ``row_scale`` (per gate-neuron row) defaults to the min-max scales.
    """
    v = row_values(p, in_scale)
    bias = p.b_ih + p.b_hh
    bias_hn = None
    cand = slice(2 * hidden, 3 * hidden)
    if cell == "gru":
        bias[cand] = p.b_ih[cand]
    peak = row_scales_minmax(v) if row_scale is None else row_scale
    # An all-zero row still needs a scale that carries its bias.
    fallback = np.maximum(np.abs(bias), np.abs(p.b_hh) if cell == "gru" else 0.0) / 2**20
    scale = np.where(peak > 0, peak, np.where(fallback > 0, fallback, 2.0**-20))
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


def previous_h(h_dir: np.ndarray, lengths: np.ndarray, reverse: bool) -> np.ndarray:
    """``h_(t-1)`` in processing order for every step: the recurrent input of each step.

    ``h_dir`` (N, T, H) is one direction's output; the first processed step sees zeros.
    """
    prev = np.zeros_like(h_dir)
    if reverse:
        prev[:, :-1] = h_dir[:, 1:]
        last = lengths - 1
        prev[np.arange(len(lengths)), last] = 0.0
    else:
        prev[:, 1:] = h_dir[:, :-1]
    return prev


def layer_input_steps(layer_in: np.ndarray, h_dir: np.ndarray, lengths: np.ndarray, reverse: bool,
                      in_scale: np.ndarray) -> np.ndarray:
    """The rows' inputs ``[x / s_in; h_(t-1) * 2**7]`` on every calibration step, (steps, X + H)."""
    u = np.concatenate([layer_in / in_scale, previous_h(h_dir, lengths, reverse) / H_SCALE], axis=2)
    return _valid_steps(u, lengths)


def quantize_model(model: FloatModel, calibration: Batch, pwl_segments: int = nx.PWL_DEFAULT_SEGMENTS,
                   use_offsets: bool = True, method: str = "mse") -> QModel:
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
    method : {"mse", "minmax"}
        How scales are chosen (see the module docstring).

    Raises
    ------
    MemornnError
        If the calibration inputs do not fit the model or are all zero, the method is
        unknown, or a weight or bias cannot be represented.
    """
    check_calibration(calibration, model.input_size)
    if pwl_segments not in nx.PWL_SEGMENT_CHOICES:
        raise MemornnError(f"PWL segments must be one of {nx.PWL_SEGMENT_CHOICES}, got {pwl_segments!r}")
    if method not in METHODS:
        raise MemornnError(f"unknown quantization method {method!r} (choose from {', '.join(METHODS)})")
    scale_x = input_scales_mse(calibration) if method == "mse" else input_scales_minmax(calibration)
    _, layer_outputs = float_forward(model, calibration, return_layers=True)
    layer_inputs = [calibration.x] + layer_outputs[:-1]
    hidden = model.hidden_size
    layers = []
    for k, layer in enumerate(model.layers):
        if k == 0:
            in_scale = scale_x
            lo = -nx.INPUT_MAX
        else:
            in_scale = np.full(hidden * model.directions, H_SCALE)
            lo = -(nx.INPUT_MAX + 1)
        mean = _valid_steps(layer_inputs[k], calibration.lengths).mean(axis=0)
        offsets = np.clip(_round(mean / in_scale), lo, nx.INPUT_MAX) if use_offsets else np.zeros_like(mean)
        qlayer = []
        for d, p in enumerate(layer):
            row_scale = None
            if method == "mse":
                u = layer_input_steps(layer_inputs[k], layer_outputs[k][:, :, d * hidden:(d + 1) * hidden],
                                      calibration.lengths, bool(d), in_scale)
                row_scale = row_scales_mse(row_values(p, in_scale), u, p.b_ih + p.b_hh)
            qlayer.append(quantize_layer(p, in_scale, offsets, model.cell, hidden,
                                         f"layer {k}{' reverse' if d else ''}", row_scale))
        layers.append(qlayer)
    qmodel = QModel(model.cell, hidden, layers, scale_x, pwl_segments, model.head_weight, model.head_bias)
    check_accumulator_range(qmodel)
    return qmodel
