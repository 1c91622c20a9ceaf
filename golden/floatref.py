"""The float reference: the same LSTM/GRU structure in float64, no memoization.

It reproduces PyTorch's ``nn.LSTM`` / ``nn.GRU`` (gate order, GRU candidate formula,
packed-sequence semantics for per-sequence lengths) and serves accuracy comparisons.
"""

from __future__ import annotations

import numpy as np

from .floatmodel import FloatModel
from .inputs import Batch
from .sequence import step_times


def _sigmoid(v):
    # exp(-v) overflows to inf for v < -709: the result, 0, is right; silence the warning.
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-v))


def float_forward(model: FloatModel, batch: Batch, return_layers: bool = False):
    """Run ``model`` on ``batch`` in float64.

    Returns
    -------
    h : ndarray, shape (N, T, H * directions)
        The last layer's output at every step, zero on padded steps.
    layer_outputs : list of ndarray
        Only with ``return_layers``: every layer's output, same layout.
    """
    n, t_max, _ = batch.x.shape
    hidden = model.hidden_size
    rows = np.arange(n)
    layer_in = batch.x
    outputs = []
    for layer in model.layers:
        out = np.zeros((n, t_max, hidden * model.directions))
        for d, p in enumerate(layer):
            h = np.zeros((n, hidden))
            c = np.zeros((n, hidden))
            for step in range(t_max):
                times, active = step_times(batch.lengths, step, reverse=bool(d))
                if not active.any():
                    break
                x = layer_in[rows, times]
                gi = x @ p.w_ih.T + p.b_ih
                gh = h @ p.w_hh.T + p.b_hh
                if model.cell == "lstm":
                    g = gi + gh
                    i, f = _sigmoid(g[:, :hidden]), _sigmoid(g[:, hidden:2 * hidden])
                    cand, o = np.tanh(g[:, 2 * hidden:3 * hidden]), _sigmoid(g[:, 3 * hidden:])
                    c_new = f * c + i * cand
                    h_new = o * np.tanh(c_new)
                    c = np.where(active[:, None], c_new, c)
                else:
                    r = _sigmoid(gi[:, :hidden] + gh[:, :hidden])
                    z = _sigmoid(gi[:, hidden:2 * hidden] + gh[:, hidden:2 * hidden])
                    cand = np.tanh(gi[:, 2 * hidden:] + r * gh[:, 2 * hidden:])
                    h_new = (1 - z) * cand + z * h
                h = np.where(active[:, None], h_new, h)
                out[rows[active], times[active], d * hidden:(d + 1) * hidden] = h_new[active]
        outputs.append(out)
        layer_in = out
    return (layer_in, outputs) if return_layers else layer_in


def last_outputs(h: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Each sequence's output at its last step, shape (N, H * directions).

    For a bidirectional layer the backward half at the last step is its first output;
    like PyTorch's ``output[:, length-1]`` this is the usual classifier input.
    """
    return h[np.arange(h.shape[0]), lengths - 1]


def apply_head(model, features: np.ndarray) -> np.ndarray:
    """Class scores of the linear head (float), shape (N, C)."""
    if model.head_weight is None:
        raise ValueError("the model has no classifier head")
    return features @ model.head_weight.T + model.head_bias
