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
from threadpoolctl import threadpool_limits

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
    """The memoization table of one layer direction, for every sequence of the batch.

    (No valid bits: every entry is valid after a sequence's first step, see below.)
    """

    def __init__(self, n: int, rows: int, hidden: int):
        self.pre = np.zeros((n, rows), dtype=np.int64)  # cached pre-activation (GRU n: the x part)
        self.pre_hn = np.zeros((n, hidden), dtype=np.int64)  # GRU candidate's h part
        self.yb = np.zeros((n, rows), dtype=np.int64)
        self.run = np.zeros((n, rows), dtype=np.int64)


#: Scratch budget, in array elements, for the input-side products of a block of steps.
_BLOCK_ELEMENTS = 1 << 21


def _layer_direction(model: QModel, q: QLayer, x_seq: np.ndarray, lengths: np.ndarray, reverse: bool,
                     theta_q: int, predictor: str, reuse_cap: int):
    """Run one direction of one layer; returns its outputs, reuse masks and counters.

    Implemented for speed; the arithmetic is exactly that of the module docstring:

    - Integer dot products run as floating-point matrix products on contiguous
      transposed weights, BLAS-fast (numpy's int64 matmul is not) and exact: every
      partial sum, input and h sides together, is an integer within the significand
      (float32 when the row bound allows, else float64).
    - The input side of a step, ``W_x x_t + bias`` and the BNN's input bits, does not
      depend on the recurrence, so it is computed for a block of steps at once. The BNN
      output splits the same way: ``2*popcount(XNOR) - N`` is a sum over the bits, so
      ``yb = yb(x bits, W_x bits) + yb(h bits, W_h bits)``.
    - A sequence's first step computes every neuron (the table starts invalid) and
      leaves every entry valid, so "entry valid" is "step > 0".
    - The run counters are kept only when there is a cap; the counters are summed from
      the reuse masks at the end.
    """
    n, t_max, in_size = x_seq.shape
    hidden = model.hidden_size
    rows = model.gates * hidden
    batch_rows = np.arange(n)
    gru = model.cell == "gru"
    cand = slice(2 * hidden, 3 * hidden)  # GRU candidate rows
    bnn = predictor == "bnn"
    steps = int(lengths.max()) if n else 0

    # Step-ordered view of the inputs (the backward direction visits t = length - 1 - step).
    order = [step_times(lengths, step, reverse) for step in range(steps)]
    times_all = np.array([times for times, _ in order], dtype=np.int64).reshape(steps, n).T
    active_all = np.array([active for _, active in order], dtype=bool).reshape(steps, n).T
    x_steps = x_seq[batch_rows[:, None], times_all]  # (n, steps, in_size)

    # float32 when every partial sum fits its 24-bit significand (inputs and h are at most
    # 128 in magnitude), else float64 (53 bits: any model check_accumulator_range admits).
    exact32 = int(np.abs(q.weight).sum(axis=1).max(initial=0)) * 128 < 2**24
    fdtype = np.float32 if exact32 else np.float64
    w_x_t = np.ascontiguousarray(q.weight[:, :in_size].T, dtype=fdtype)
    w_h_t = np.ascontiguousarray(q.weight[:, in_size:].T, dtype=fdtype)
    if bnn:
        yb_x_of = nx.bnn_rows(q.weight_bits[:, :in_size], total_bits=in_size + hidden)
        yb_h_of = nx.bnn_rows(q.weight_bits[:, in_size:], total_bits=in_size + hidden)
    sigmoid = nx.pwl_lut("sigmoid", model.pwl_segments)  # pwl_eval by lookup (inputs are int16)
    tanh = nx.pwl_lut("tanh", model.pwl_segments)

    h = np.zeros((n, hidden), dtype=np.int64)
    c = np.zeros((n, hidden), dtype=np.int64)
    memo = _MemoTable(n, rows, hidden)
    out = np.zeros((n, t_max, hidden), dtype=np.int64)
    reused_mask = np.zeros((n, t_max, rows), dtype=bool)
    no_reuse = np.zeros((n, rows), dtype=bool)

    block = max(1, _BLOCK_ELEMENTS // max(1, n * rows))
    for s0 in range(0, steps, block):
        x_block = x_steps[:, s0:s0 + block]
        flat = x_block.reshape(-1, in_size).astype(fdtype)
        acc_x_block = (flat @ w_x_t).reshape(x_block.shape[:2] + (rows,))  # exact integers, float
        if bnn:
            yb_x_block = yb_x_of(nx.sign_bits(x_block, q.offset), as_float=True)
        for j in range(x_block.shape[1]):
            step = s0 + j
            active = active_all[:, step]
            times = times_all[:, step]
            acc_h = h.astype(fdtype) @ w_h_t
            if gru:  # candidate rows: W_in x + b_in here, W_hn h + b_hn apart
                acc = acc_x_block[:, j].copy()
                acc[:, :2 * hidden] += acc_h[:, :2 * hidden]
                acc = acc.astype(np.int64) + q.bias
                new_hn = nx.requantize(acc_h[:, cand].astype(np.int64) + q.bias_hn, q.mult[cand], q.shift[cand])
            else:
                acc = (acc_x_block[:, j] + acc_h).astype(np.int64) + q.bias
                new_hn = None
            new_pre = nx.requantize(acc, q.mult, q.shift)
            if bnn:
                yb = (yb_x_block[:, j] + yb_h_of(nx.sign_bits(h), as_float=True)).astype(np.int64)

            if predictor == "none" or step == 0:
                reuse = no_reuse
            else:
                if bnn:
                    reuse = nx.within_threshold(yb, memo.yb, theta_q)
                else:
                    reuse = nx.within_threshold(new_pre, memo.pre, theta_q)
                    if gru:
                        reuse[:, cand] &= nx.within_threshold(new_hn, memo.pre_hn, theta_q)
                if reuse_cap:
                    reuse &= memo.run < reuse_cap
            # Computed entries take the new values, reused ones keep theirs. A finished
            # sequence never runs again, so its state (table, h, c) may take anything and no
            # update needs an "active" mask; the table update is a branch-free blend (a
            # masked copy costs ~10x more on an unpredictable mask).
            if reuse is no_reuse:
                memo.pre = new_pre
                if gru:
                    memo.pre_hn = new_hn
                if bnn:
                    memo.yb = yb
                if reuse_cap:
                    memo.run[:] = 0
            else:
                memo.pre = new_pre + (memo.pre - new_pre) * reuse
                if gru:
                    memo.pre_hn = new_hn + (memo.pre_hn - new_hn) * reuse[:, cand]
                if bnn:
                    memo.yb = yb + (memo.yb - yb) * reuse
                if reuse_cap:
                    memo.run = (memo.run + 1) * reuse
            pre = memo.pre  # after the update: the value used this step, fresh or reused

            if gru:
                rz = nx.pwl_lookup(sigmoid, pre[:, :2 * hidden])
                n_gate = nx.pwl_lookup(tanh, nx.gru_candidate_pre(pre[:, cand], memo.pre_hn, rz[:, :hidden]))
                h_new = nx.gru_update(n_gate, rz[:, hidden:], h)
            else:
                i_f = nx.pwl_lookup(sigmoid, pre[:, :2 * hidden])
                g = nx.pwl_lookup(tanh, pre[:, 2 * hidden:3 * hidden])
                o = nx.pwl_lookup(sigmoid, pre[:, 3 * hidden:])
                h_new, c = nx.lstm_cell(i_f[:, :hidden], i_f[:, hidden:], g, o, c, model.pwl_segments)
            h = h_new
            if active.all():
                out[batch_rows, times] = h_new
                if reuse is not no_reuse:
                    reused_mask[batch_rows, times] = reuse
            else:  # only running sequences leave outputs
                out[batch_rows[active], times[active]] = h_new[active]
                reused_mask[batch_rows[active], times[active]] = reuse[active]

    # Every running step evaluates every neuron, computed or reused (padded steps never run).
    reused_count = reused_mask.sum(axis=(1, 2)).astype(np.int64)
    computed = rows * lengths.astype(np.int64) - reused_count
    bnn_evals = rows * lengths.astype(np.int64) if bnn else np.zeros(n, dtype=np.int64)
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
    # The per-step matrix products are small: BLAS threads only add overhead (several
    # times the run time on a busy machine), so run them on one thread when we can.
    with threadpool_limits(1, user_api="blas"):
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
