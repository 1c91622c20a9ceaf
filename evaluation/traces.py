"""Per-step BNN outputs and pre-activations of an integer-model run.

:func:`memornn.golden.intmodel.golden_run` returns outputs, reuse masks and counters,
not the values behind each decision. This module recomputes them from the run's
outputs with the same numerics helpers: for every layer direction and step, the fresh
(requantized) pre-activation of every gate neuron and its BNN output ``yb``, from the
layer's actual inputs ``x_t`` and its own previous output ``h_(t-1)`` in that run.
Layer ``k``'s outputs come from running the model truncated to its first ``k + 1``
layers (layers run one at a time, so they are the same as in the full run).

Arrays are in *processing order*: index ``s`` is the ``s``-th step the direction
runs (for a backward direction, ``t = length - 1 - s``), so steps ``s - 1`` and ``s``
are consecutive evaluations of the same neuron.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..golden import numerics as nx
from ..golden.inputs import Batch, quantize_inputs
from ..golden.intmodel import golden_run
from ..golden.qmodel import QModel, layer_suffix
from ..golden.sequence import step_times


@dataclass
class LayerTrace:
    """The per-step values of one layer direction (shapes ``(N, S, ...)``, S steps).

    Attributes
    ----------
    key : str
        ``l0``, ``l0_reverse``, ... (the suffix of the ``reused_`` mask).
    active : ndarray of bool, (N, S)
        The step exists (``s < length``).
    times : ndarray of int, (N, S)
        Time index of each processing step.
    pre : ndarray of int64, (N, S, G*H)
        Fresh requantized pre-activation (Q3.12); for the GRU candidate rows, the input
        part ``W_in x + b_in``, as cached by the golden model.
    pre_hn : ndarray of int64 or None, (N, S, H)
        GRU only: the candidate's recurrent part ``W_hn h + b_hn`` (Q3.12).
    yb : ndarray of int64, (N, S, G*H)
        BNN output.
    """

    key: str
    active: np.ndarray
    times: np.ndarray
    pre: np.ndarray
    pre_hn: np.ndarray | None
    yb: np.ndarray

    def neuron_value(self) -> np.ndarray:
        """The value the BNN stands for: ``pre``, with the GRU candidate's two parts summed."""
        if self.pre_hn is None:
            return self.pre
        value = self.pre.copy()
        hidden = self.pre_hn.shape[2]
        value[:, :, 2 * hidden:] += self.pre_hn
        return value


def _direction_trace(model: QModel, k: int, d: int, layer_in: np.ndarray, own_out: np.ndarray,
                     lengths: np.ndarray) -> LayerTrace:
    q = model.layers[k][d]
    hidden = model.hidden_size
    n, t_max, in_size = layer_in.shape
    rows = model.gates * hidden
    cand = slice(2 * hidden, 3 * hidden)
    gru = model.cell == "gru"
    w = q.weight.astype(np.float64)
    w_x, w_h = w[:, :in_size], w[:, in_size:]
    w_bits = q.weight_bits
    batch_rows = np.arange(n)
    active_all = np.zeros((n, t_max), dtype=bool)
    times_all = np.zeros((n, t_max), dtype=np.int64)
    pre_all = np.zeros((n, t_max, rows), dtype=np.int64)
    hn_all = np.zeros((n, t_max, hidden), dtype=np.int64) if gru else None
    yb_all = np.zeros((n, t_max, rows), dtype=np.int64)
    h = np.zeros((n, hidden), dtype=np.int64)
    for step in range(t_max):
        times, active = step_times(lengths, step, bool(d))
        if not active.any():
            break
        x = layer_in[batch_rows, times]
        acc_x = np.rint(x @ w_x.T).astype(np.int64)
        acc_h = np.rint(h @ w_h.T).astype(np.int64)
        acc = acc_x + acc_h + q.bias
        if gru:
            acc[:, cand] = acc_x[:, cand] + q.bias[cand]
            hn_all[:, step] = nx.requantize(acc_h[:, cand] + q.bias_hn, q.mult[cand], q.shift[cand])
        pre_all[:, step] = nx.requantize(acc, q.mult, q.shift)
        bits = np.concatenate([nx.sign_bits(x, q.offset), nx.sign_bits(h)], axis=1)
        yb_all[:, step] = nx.bnn_output(bits, w_bits)
        active_all[:, step] = active
        times_all[:, step] = times
        h = np.where(active[:, None], own_out[batch_rows, times], h)
    return LayerTrace(layer_suffix(k, d)[1:], active_all, times_all, pre_all, hn_all, yb_all)


def layer_traces(model: QModel, batch: Batch, threshold=0.0, predictor: str = "none",
                 reuse_cap: int = 0) -> list[LayerTrace]:
    """Per-step pre-activations and BNN outputs of every layer direction of a run.

    Parameters
    ----------
    model : QModel
    batch : Batch
    threshold, predictor, reuse_cap
        The run, as for :func:`~memornn.golden.intmodel.golden_run`. With predictor
        ``none`` (the default) the values are those of the exact integer model.

    Returns
    -------
    list of LayerTrace
        In the order ``l0``, ``l0_reverse``, ``l1``, ...
    """
    traces = []
    layer_in = quantize_inputs(batch.x, model.input_scale)
    for k in range(model.num_layers):
        truncated = replace(model, layers=model.layers[:k + 1])
        out = golden_run(truncated, batch, threshold, predictor, reuse_cap)["h_int"].astype(np.int64)
        hidden = model.hidden_size
        for d in range(model.directions):
            traces.append(_direction_trace(model, k, d, layer_in, out[:, :, d * hidden:(d + 1) * hidden],
                                           batch.lengths))
        layer_in = out
    return traces
