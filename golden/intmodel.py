"""The golden model: integer-only LSTM/GRU inference with neuron-level fuzzy memoization.

This is the specification the hardware is judged against, bit for bit: outputs, every
reuse decision and every counter.

Per gate neuron (a row of a layer's weight matrix) and per step, in this order:

1. ``bnn`` predictor: ``yb = 2*popcount(XNOR(bits([x_t; h_(t-1)]), bits(row))) - N``
   with ``N = X + H``, input bits ``x >= offset`` (layer offsets) and ``h >= 0``, weight
   bits ``w >= 0``. The bias takes no part: it is the same at every step, so it would
   move every ``yb`` by the same one and says nothing about change.
2. Reuse when the entry is valid, the consecutive-reuse run is below the cap (cap 0:
   no cap) and ``|yb - yb_m| * 2**8 <= theta_q * |yb_m|``. The ``oracle`` predictor
   applies the same test to the neuron's true new pre-activation against the cached
   one (for the GRU candidate: both parts); ``none`` never reuses.
3. Reused: the cached pre-activation stands in and the run counter grows by one.
   Computed: the requantized pre-activation (GRU candidate: its two parts ``W_in x +
   b_in`` and ``W_hn h + b_hn``) and ``yb`` replace the entry, the entry becomes valid
   and the run counter returns to 0.
4. Activations and the cell update run on every neuron every step.

The table is cleared (every entry invalid) at each sequence start, so step 0 computes
every neuron. Layers run one at a time over the whole sequence; a bidirectional
layer's backward direction starts at each sequence's own last step.
"""

from __future__ import annotations

import numpy as np

from . import numerics as nx
from .errors import MemornnError
from .inputs import Batch, quantize_inputs
from .qmodel import QLayer, QModel, layer_suffix
from .sequence import step_times

PREDICTORS = ("bnn", "oracle", "none")
COUNTERS = ("neurons_computed", "neurons_reused", "bnn_evals", "macs", "macs_skipped")


def parse_thresholds(spec, num_layers: int) -> list[int]:
    """Thresholds (one float, a list, or ``"0.2,0.3"``) to per-layer Q8.8 values.

    Raises
    ------
    MemornnError
        If a value is not a number, is negative or too large, or the count is neither
        1 nor ``num_layers``.
    """
    if isinstance(spec, str):
        parts = [p.strip() for p in spec.split(",")]
        values = []
        for part in parts:
            try:
                values.append(float(part))
            except ValueError:
                raise MemornnError(f"threshold {part!r} is not a number") from None
    elif np.ndim(spec) == 0:
        values = [float(spec)]
    else:
        values = [float(v) for v in spec]
    if len(values) == 1:
        values = values * num_layers
    if len(values) != num_layers:
        raise MemornnError(f"{len(values)} thresholds given for a model of {num_layers} layers (give 1 or "
                           f"{num_layers})")
    try:
        return [nx.theta_to_q(v) for v in values]
    except ValueError as exc:
        raise MemornnError(str(exc)) from None


def check_reuse_cap(cap: int) -> int:
    """The consecutive-reuse cap, checked against the hardware run counter's width."""
    if not isinstance(cap, (int, np.integer)) or not 0 <= cap <= nx.REUSE_CAP_MAX:
        raise MemornnError(f"reuse cap must be an integer in [0, {nx.REUSE_CAP_MAX}], got {cap!r}")
    return int(cap)


class _MemoTable:
    """The memoization table of one layer direction, for every sequence of the batch."""

    def __init__(self, n: int, rows: int, hidden: int):
        self.valid = np.zeros((n, rows), dtype=bool)
        self.pre = np.zeros((n, rows), dtype=np.int64)  # cached pre-activation (GRU n: the x part)
        self.pre_hn = np.zeros((n, hidden), dtype=np.int64)  # GRU candidate's h part
        self.yb = np.zeros((n, rows), dtype=np.int64)
        self.run = np.zeros((n, rows), dtype=np.int64)


def _layer_direction(model: QModel, q: QLayer, x_seq: np.ndarray, lengths: np.ndarray, reverse: bool,
                     theta_q: int, predictor: str, reuse_cap: int):
    """Run one direction of one layer; returns its outputs, reuse masks and counters."""
    n, t_max, in_size = x_seq.shape
    hidden = model.hidden_size
    rows = model.gates * hidden
    batch_rows = np.arange(n)
    w = q.weight.astype(np.float64)  # exact: every partial sum stays far below 2**53
    w_x, w_h = w[:, :in_size], w[:, in_size:]
    w_bits = q.weight_bits
    segments = model.pwl_segments
    sigmoid = nx.pwl_table("sigmoid", segments)
    tanh = nx.pwl_table("tanh", segments)
    gru = model.cell == "gru"
    cand = slice(2 * hidden, 3 * hidden)  # GRU candidate rows

    h = np.zeros((n, hidden), dtype=np.int64)
    c = np.zeros((n, hidden), dtype=np.int64)
    memo = _MemoTable(n, rows, hidden)
    out = np.zeros((n, t_max, hidden), dtype=np.int64)
    reused_mask = np.zeros((n, t_max, rows), dtype=bool)
    computed = np.zeros(n, dtype=np.int64)
    reused_count = np.zeros(n, dtype=np.int64)
    bnn_evals = np.zeros(n, dtype=np.int64)

    for step in range(t_max):
        times, active = step_times(lengths, step, reverse)
        if not active.any():
            break
        x = x_seq[batch_rows, times]
        acc_x = np.rint(x @ w_x.T).astype(np.int64)
        acc_h = np.rint(h @ w_h.T).astype(np.int64)
        if gru:
            acc = acc_x + acc_h + q.bias
            acc[:, cand] = acc_x[:, cand] + q.bias[cand]
            new_hn = nx.requantize(acc_h[:, cand] + q.bias_hn, q.mult[cand], q.shift[cand])
        else:
            acc = acc_x + acc_h + q.bias
            new_hn = None
        new_pre = nx.requantize(acc, q.mult, q.shift)

        if predictor == "none":
            reuse = np.zeros((n, rows), dtype=bool)
        else:
            if predictor == "bnn":
                bits = np.concatenate([nx.sign_bits(x, q.offset), nx.sign_bits(h)], axis=1)
                yb = nx.bnn_output(bits, w_bits)
                close = nx.within_threshold(yb, memo.yb, theta_q)
            else:
                yb = None
                close = nx.within_threshold(new_pre, memo.pre, theta_q)
                if gru:
                    close[:, cand] &= nx.within_threshold(new_hn, memo.pre_hn, theta_q)
            under_cap = memo.run < reuse_cap if reuse_cap else True
            reuse = memo.valid & close & under_cap
        reuse &= active[:, None]
        compute = active[:, None] & ~reuse

        memo.pre = np.where(compute, new_pre, memo.pre)
        if gru:
            memo.pre_hn = np.where(compute[:, cand], new_hn, memo.pre_hn)
        if predictor == "bnn":
            memo.yb = np.where(compute, yb, memo.yb)
            bnn_evals += np.where(active, rows, 0)
        memo.valid |= compute
        memo.run = np.where(reuse, memo.run + 1, np.where(compute, 0, memo.run))
        pre = memo.pre  # after the update: the value used this step, fresh or reused

        if gru:
            r = nx.pwl_eval(sigmoid, pre[:, :hidden])
            z = nx.pwl_eval(sigmoid, pre[:, hidden:2 * hidden])
            n_gate = nx.pwl_eval(tanh, nx.gru_candidate_pre(pre[:, cand], memo.pre_hn, r))
            h_new = nx.gru_update(n_gate, z, h)
        else:
            i = nx.pwl_eval(sigmoid, pre[:, :hidden])
            f = nx.pwl_eval(sigmoid, pre[:, hidden:2 * hidden])
            g = nx.pwl_eval(tanh, pre[:, 2 * hidden:3 * hidden])
            o = nx.pwl_eval(sigmoid, pre[:, 3 * hidden:])
            h_new, c_new = nx.lstm_cell(i, f, g, o, c, segments)
            c = np.where(active[:, None], c_new, c)
        h = np.where(active[:, None], h_new, h)
        out[batch_rows[active], times[active]] = h_new[active]
        reused_mask[batch_rows[active], times[active]] = reuse[active]
        computed += compute.sum(axis=1)
        reused_count += reuse.sum(axis=1)

    macs_per_neuron = in_size + hidden
    counters = {"neurons_computed": computed, "neurons_reused": reused_count, "bnn_evals": bnn_evals,
                "macs": computed * macs_per_neuron, "macs_skipped": reused_count * macs_per_neuron}
    return out, reused_mask, counters


def golden_run(model: QModel, batch: Batch, threshold=0.0, predictor: str = "bnn", reuse_cap: int = 0) -> dict:
    """Run the integer model with memoization on a batch of float sequences.

    Parameters
    ----------
    model : QModel
    batch : Batch
        Float sequences; quantized here with the model's input scales.
    threshold : float, sequence of float, or str
        Reuse threshold theta, global or per layer (see :func:`parse_thresholds`).
    predictor : {"bnn", "oracle", "none"}
    reuse_cap : int
        Largest number of consecutive reuses of a neuron; 0 for no cap.

    Returns
    -------
    dict
        The output key table: ``h`` (float), ``h_int`` (N, T, H*D); ``reused_l{k}`` and
        ``reused_l{k}_reverse`` (N, T, G*H) bool; the counters of ``COUNTERS`` (N,) int64.
    """
    if predictor not in PREDICTORS:
        raise MemornnError(f"unknown predictor {predictor!r} (choose from {', '.join(PREDICTORS)})")
    if batch.x.shape[2] != model.input_size:
        raise MemornnError(f"inputs have {batch.x.shape[2]} features per step, but the model takes "
                           f"{model.input_size}")
    thetas = parse_thresholds(threshold, model.num_layers)
    reuse_cap = check_reuse_cap(reuse_cap)
    n, t_max, _ = batch.x.shape
    layer_in = quantize_inputs(batch.x, model.input_scale)
    result = {}
    totals = {name: np.zeros(n, dtype=np.int64) for name in COUNTERS}
    for k, layer in enumerate(model.layers):
        outs = []
        for d, q in enumerate(layer):
            out, reused, counters = _layer_direction(model, q, layer_in, batch.lengths, bool(d), thetas[k],
                                                     predictor, reuse_cap)
            outs.append(out)
            result["reused" + layer_suffix(k, d)] = reused
            for name in COUNTERS:
                totals[name] += counters[name]
        layer_in = np.concatenate(outs, axis=2)
    result["h_int"] = layer_in.astype(np.int8)
    result["h"] = layer_in.astype(np.float64) / 2**nx.H_FRAC
    result.update(totals)
    return result
