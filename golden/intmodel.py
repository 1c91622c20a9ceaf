"""The golden model: integer-only LSTM/GRU inference that skips work by a chosen policy.

This is the specification the hardware is judged against, bit for bit: outputs, every
skip decision and every counter. The arithmetic is :mod:`.numerics`'; the policies'
parameters are :class:`~.options.RunOptions` (register values per layer:
:class:`~.options.LayerPolicy`); each policy is a class of :mod:`.predictors`.

A layer direction's step computes, for every gate neuron (a row ``r`` of the layer's
weight matrix, ``N = X + H`` columns ``v = [x_t; h_(t-1)]``), the pre-activation in
use; activations and the cell update then run on every neuron every step. The
accumulator of a row is ``acc_r = W_r . v + bias_r`` (int32); its pre-activation
``requantize(acc_r)`` (Q3.12). The GRU candidate's row has two parts, ``W_in x + b_in``
and ``W_hn h + b_hn``, each requantized; its pre-activation ``n_in + r * n_hn`` is
formed every step from the parts in use and this step's ``r``.

Row memoization (``bnn``, ``oracle``, ``sign``)
-----------------------------------------------
Per row and step, in this order:

1. The predictor's test gives ``close``:

   - ``bnn``: ``yb = 2*popcount(XNOR(bits(v), bits(row))) - N`` with input bits ``x >=
     offset`` (layer offsets) and ``h >= 0``, weight bits ``w >= 0``; close when
     ``|yb - yb_m| * 2**8 <= theta_q * |yb_m|`` (:func:`nx.within_threshold`, ``theta``
     Q8.8). The bias takes no part: it is the same at every step, so it would move
     every ``yb`` by the same one and says nothing about change.
   - ``oracle``: the same relative test on the true new pre-activation against the
     cached one (GRU candidate: both parts).
   - ``sign``: ``D_r = W'_r . (v - v_r)``, the row predictor's weights
     (:func:`nx.sign_row_weights`: sign x row mean with ``row_weights = 1``, sign x
     power of two with 3) times the change of the inputs since the row's last
     computation (``v_r``: the inputs then; equivalently ``D_r`` adds ``W'_rj dv_j`` for
     each column that changed at each step, and restarts at 0 when the row is
     computed). Close when ``requantize(|D_r|) * slope_r < tau_q << 11``
     (:func:`nx.sign_close`): the predicted change of the gate output, with ``slope_r``
     the activation's PWL slope at the row's last activation input (GRU candidate:
     the candidate pre-activation of that step), is below ``tau`` (Q1.15 gate-output
     units; ``tau = 0`` never reuses).

2. :func:`nx.reuse_decision`: reuse when the entry is valid (not a sequence's first
   step), ``close``, and the run of consecutive reuses is below the cap (0: no cap).
3. Reused: the cached pre-activation (GRU candidate: both parts) stands in and the run
   grows by one. Computed: the requantized pre-activation (both parts) and the
   predictor's own state (bnn: ``yb``; sign: ``W'_r . v`` and, after the cell, the
   slope) replace the entry, and the run returns to 0.

Delta column skipping (``delta``)
---------------------------------
State per sequence: the last-used value of every column ``v_last`` (0 at the start)
and one int32 accumulator per row (the GRU candidate: two, ``W_in`` over the x columns
with ``b_in``, ``W_hn`` over the h columns with ``b_hn``), starting at the bias. Per
step: a column is used when ``|v_j - v_last_j| > theta`` (``theta_x`` for the x
columns, ``theta_h`` for the h columns, int8 units; :func:`nx.delta_columns`); each
used column adds ``W_rj * (v_j - v_last_j)`` to every row's accumulator and takes the
new value as ``v_last_j``; skipped columns change nothing. Every row whose accumulator
moved (and every row at step 0) is requantized; the others keep their pre-activation
(the same value). So each accumulator is always ``bias + W . v_last``, exactly, and
with ``theta_x = theta_h = 0`` the outputs are those of ``none``. No row is reused.

Hybrid (``hybrid``)
-------------------
Delta's column stage, then the ``sign`` row stage on the column values in use: ``D_r
= W'_r . (v_last - s_r)`` with ``s_r`` the row's snapshot, ``v_last`` at its last
computation (before step 0: all zero). A reused row keeps its pre-activation and its
stale accumulator. A computed row catches up exactly: its accumulator adds ``W_rj *
(v_last_j - s_rj)`` for every column where they differ (this step's delta, and the
changes of the steps it was reused: the catch-up), so it is ``bias + W . v_last`` as
in ``delta``; it is requantized and ``s_r = v_last``. A cap K bounds the steps a row
can lag, so K + 1 snapshots of ``v_last`` suffice. With ``tau = 0`` no row is reused
and the hybrid is ``delta``.

Counters (:mod:`.counters`)
---------------------------
``macs``: MACs really performed (row memoization: N per computed row; delta: each
used column for every row; hybrid: each differing column for every computed row);
``macs_skipped``: dense ``G*H*N`` per step minus ``macs``. delta, sign and hybrid add
``columns_used``, ``columns_skipped`` (the column stage; sign: every column used),
``acc_updates`` (rows requantized from an accumulator that moved, every row at step 0),
``catchup_macs`` (hybrid: MACs of computed rows on columns not used this step) and
``predictor_ops`` (delta: one column test per column and step; sign: ``G*H`` per column
that changed at steps after the first; hybrid: both).

Every policy's state is cleared at each sequence start. Layers run one at a time over
the whole sequence; a bidirectional layer's backward direction starts at each
sequence's own last step.

Two implementations give the same results bit for bit: the specification path here
(:func:`_layer_direction_spec`, int64 through :mod:`.numerics`, every policy) and the
fast path (:mod:`.fastpath`: every policy), taken when its bounds hold
and no observer watches the steps.
"""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from . import numerics as nx
from .counters import COUNTERS
from .errors import MemornnError
from .fastpath import _fast_path_ok, layer_direction_fast
from .inputs import Batch, quantize_inputs
from .options import PREDICTORS, POLICY_PARAMETERS, LayerPolicy, RunOptions, check_reuse_cap
from .predictors import Predictor, make_predictor
from .qmodel import QLayer, QModel, layer_suffix
from .sequence import step_times
from .workers import check_workers, discard_pool, slice_bounds, worker_pool

__all__ = ["COUNTERS", "PREDICTORS", "StepRecord", "check_reuse_cap", "golden_run", "parse_thresholds"]


def parse_thresholds(spec, num_layers: int) -> list[int]:
    """Relative thresholds (one float, a list, or ``"0.2,0.3"``) to per-layer Q8.8 values.

    Raises
    ------
    MemornnError
        If a value is not a number, is negative or too large, or the count is neither
        1 nor ``num_layers``.
    """
    return [lp.theta_q for lp in RunOptions.parse("bnn", threshold=spec).for_model(num_layers)]


#: Scratch budget, in array elements, for the input-side products of a block of steps.
_BLOCK_ELEMENTS = 1 << 21


class SpecLayer:
    """One layer direction's arithmetic as the specification evaluates it.

    Integer dot products run as floating-point matrix products on contiguous
    transposed weights, BLAS-fast (numpy's int64 matmul is not) and exact: every partial
    sum is an integer within the significand (float32 when the row bound allows, else
    float64). The input side of :meth:`fresh` and :meth:`yb` does not depend on the
    recurrence, so it is computed for a block of steps at once.

    Attributes
    ----------
    q : QLayer
    n, in_size, hidden, rows, columns : int
        Sequences, X, H, G*H and X + H.
    gru : bool
    """

    def __init__(self, model: QModel, q: QLayer, x_steps: np.ndarray):
        self.q, self.x_steps = q, x_steps
        self.n, _, self.in_size = x_steps.shape
        self.hidden = model.hidden_size
        self.rows = model.gates * self.hidden
        self.columns = self.in_size + self.hidden
        self.gru = model.cell == "gru"
        self.cand = slice(2 * self.hidden, 3 * self.hidden)
        exact32 = int(np.abs(q.weight).sum(axis=1).max(initial=0)) * 128 < 2**24
        self.fdtype = np.float32 if exact32 else np.float64
        self.w_x_t = np.ascontiguousarray(q.weight[:, :self.in_size].T, dtype=self.fdtype)
        self.w_h_t = np.ascontiguousarray(q.weight[:, self.in_size:].T, dtype=self.fdtype)
        self.block = max(1, _BLOCK_ELEMENTS // max(1, self.n * self.rows))
        self._acc_x = self._yb_x = None
        self._yb_of = None
        self._tables = (nx.pwl_table("sigmoid", model.pwl_segments), nx.pwl_table("tanh", model.pwl_segments))
        self._tanh_rows = np.zeros(self.rows, bool)
        self._tanh_rows[self.cand] = True  # LSTM g, GRU candidate

    def _combine(self, acc_x, acc_h):
        """The accumulators ``(acc, acc_hn)`` (int64, bias added) from the two sides' products."""
        q = self.q
        if not self.gru:
            return (acc_x + acc_h).astype(np.int64) + q.bias, None
        acc = acc_x.copy()
        acc[:, :2 * self.hidden] += acc_h[:, :2 * self.hidden]
        return acc.astype(np.int64) + q.bias, acc_h[:, self.cand].astype(np.int64) + q.bias_hn

    def product(self, v):
        """The accumulators ``(acc, acc_hn)`` of column values ``v`` (n, X + H)."""
        v = np.asarray(v, self.fdtype)
        return self._combine(v[:, :self.in_size] @ self.w_x_t, v[:, self.in_size:] @ self.w_h_t)

    def requantize(self, acc, acc_hn):
        """Pre-activations ``(pre, pre_hn)`` of accumulators."""
        q = self.q
        pre_hn = None if acc_hn is None else nx.requantize(acc_hn, q.mult[self.cand], q.shift[self.cand])
        return nx.requantize(acc, q.mult, q.shift), pre_hn

    def _block_of(self, step: int):
        """The cached block holding ``step`` (computed when first needed) and its offset."""
        s0 = step - step % self.block
        if self._acc_x is None or self._acc_x[0] != s0:
            x = self.x_steps[:, s0:s0 + self.block]
            flat = x.reshape(-1, self.in_size).astype(self.fdtype)
            self._acc_x = (s0, (flat @ self.w_x_t).reshape(x.shape[:2] + (self.rows,)))
        return self._acc_x[1], step - s0

    def fresh(self, step: int, h):
        """This step's pre-activations ``(pre, pre_hn)`` of the dense product, from ``h``."""
        acc_x, j = self._block_of(step)
        return self.requantize(*self._combine(acc_x[:, j], np.asarray(h, self.fdtype) @ self.w_h_t))

    def yb(self, step: int, h):
        """This step's BNN outputs (n, rows) int64."""
        if self._yb_of is None:
            total = self.columns
            self._yb_of = (nx.bnn_rows(self.q.weight_bits[:, :self.in_size], total_bits=total),
                           nx.bnn_rows(self.q.weight_bits[:, self.in_size:], total_bits=total))
        s0 = step - step % self.block
        if self._yb_x is None or self._yb_x[0] != s0:
            x = self.x_steps[:, s0:s0 + self.block]
            self._yb_x = (s0, self._yb_of[0](nx.sign_bits(x, self.q.offset), as_float=True))
        yb_h = self._yb_of[1](nx.sign_bits(h), as_float=True)
        return (self._yb_x[1][:, step - s0] + yb_h).astype(np.int64)

    def yb_of(self, x, h):
        """The BNN outputs of inputs ``x`` and ``h`` (not cached)."""
        bits = np.concatenate([nx.sign_bits(x, self.q.offset), nx.sign_bits(h)], axis=1)
        return nx.bnn_output(bits, self.q.weight_bits)

    def slopes(self, act_in):
        """The activations' PWL slopes (n, rows) at their inputs ``act_in``."""
        sigmoid, tanh = self._tables
        return np.where(self._tanh_rows, nx.pwl_slope(tanh, act_in), nx.pwl_slope(sigmoid, act_in))


@dataclass
class StepRecord:
    """What one step of one layer direction did: the argument of a run's observer.

    Arrays cover every sequence of the batch (``active``: those the step exists for).

    Attributes
    ----------
    layer, direction, step : int
        ``step`` in processing order (backward: ``t = length - 1 - step``).
    times : ndarray of int, (n,)
    active : ndarray of bool, (n,)
    x, h_prev : ndarray of int64, (n, X), (n, H)
        The layer's inputs at the step and its previous output.
    pre, pre_hn : ndarray of int64
        The pre-activations in use (cached or fresh); ``pre_hn``: GRU only, else None.
    reuse : ndarray of bool or None, (n, G*H)
    h : ndarray of int64, (n, H)
        The step's output.
    """

    layer: int
    direction: int
    step: int
    times: np.ndarray
    active: np.ndarray
    x: np.ndarray
    h_prev: np.ndarray
    pre: np.ndarray
    pre_hn: np.ndarray | None
    reuse: np.ndarray | None
    h: np.ndarray
    spec: SpecLayer

    def fresh(self):
        """``(pre, pre_hn)``: the requantized dense pre-activations of this step's inputs."""
        return self.spec.requantize(*self.spec.product(np.concatenate([self.x, self.h_prev], axis=1)))

    def yb(self) -> np.ndarray:
        """The BNN outputs of this step's inputs (n, G*H) int64."""
        return self.spec.yb_of(self.x, self.h_prev)


def _cell(model: QModel, pre, pre_hn, h, c, luts):
    """The activations and the cell update: ``(h', c', act_in)`` with ``act_in`` the
    activations' inputs (n, G*H) (GRU candidate rows: the candidate pre-activation)."""
    sigmoid, tanh = luts
    hidden = model.hidden_size
    if model.cell == "gru":
        rz = nx.pwl_lookup(sigmoid, pre[:, :2 * hidden])
        n_pre = nx.gru_candidate_pre(pre[:, 2 * hidden:], pre_hn, rz[:, :hidden])
        h_new = nx.gru_update(nx.pwl_lookup(tanh, n_pre), rz[:, hidden:], h)
        return h_new, c, np.concatenate([pre[:, :2 * hidden], n_pre], axis=1)
    i_f = nx.pwl_lookup(sigmoid, pre[:, :2 * hidden])
    g = nx.pwl_lookup(tanh, pre[:, 2 * hidden:3 * hidden])
    o = nx.pwl_lookup(sigmoid, pre[:, 3 * hidden:])
    h_new, c = nx.lstm_cell(i_f[:, :hidden], i_f[:, hidden:], g, o, c, model.pwl_segments)
    return h_new, c, pre


def _layer_direction_spec(model: QModel, q: QLayer, x_seq: np.ndarray, lengths: np.ndarray, reverse: bool,
                          predictor: Predictor, lp: LayerPolicy, observer=None, where=(0, 0)):
    """Run one direction of one layer by the specification (the module docstring).

    Returns ``(out, reused_mask, counters, columns_mask)``: outputs (n, T, H) int64,
    reuse masks (n, T, G*H), counters, and the used-column masks (n, T, X + H) of a
    policy with a column stage (else None). Vectorised over the batch; the policy's
    part of each step is ``predictor.spec`` (:mod:`.predictors`). A finished sequence
    never runs again, so its state may take anything; only running steps leave
    outputs and count.
    """
    n, t_max, in_size = x_seq.shape
    hidden = model.hidden_size
    batch_rows = np.arange(n)
    steps = int(lengths.max()) if n else 0
    order = [step_times(lengths, step, reverse) for step in range(steps)]
    times_all = np.array([times for times, _ in order], dtype=np.int64).reshape(steps, n).T
    x_steps = x_seq[batch_rows[:, None], times_all]  # (n, steps, in_size), step order
    layer = SpecLayer(model, q, x_steps)
    policy = predictor.spec(layer, lp)
    luts = (nx.pwl_lut("sigmoid", model.pwl_segments), nx.pwl_lut("tanh", model.pwl_segments))

    h = np.zeros((n, hidden), dtype=np.int64)
    c = np.zeros((n, hidden), dtype=np.int64)
    out = np.zeros((n, t_max, hidden), dtype=np.int64)
    reused_mask = np.zeros((n, t_max, layer.rows), dtype=bool)
    columns_mask = np.zeros((n, t_max, layer.columns), dtype=bool) if policy.columns else None
    for step in range(steps):
        times, active = order[step]
        x_t = x_steps[:, step]
        pre, pre_hn, reuse, used = policy.step(step, x_t, h, active)
        h_new, c, act_in = _cell(model, pre, pre_hn, h, c, luts)
        policy.settle(act_in, reuse)
        if observer is not None:
            observer(StepRecord(where[0], where[1], step, times, active, np.asarray(x_t, np.int64), h,
                                pre, pre_hn, reuse, h_new, layer))
        h = h_new
        rows_at, times_at = batch_rows[active], times[active]  # only running sequences leave outputs
        out[rows_at, times_at] = h_new[active]
        if reuse is not None:
            reused_mask[rows_at, times_at] = reuse[active]
        if used is not None:
            columns_mask[rows_at, times_at] = used[active]
    reused_count = reused_mask.sum(axis=(1, 2)).astype(np.int64)
    return out, reused_mask, policy.finish(reused_count, lengths), columns_mask


def _layer_direction(model: QModel, q: QLayer, x_seq: np.ndarray, lengths: np.ndarray, reverse: bool,
                     predictor: Predictor, lp: LayerPolicy, observer=None, where=(0, 0)):
    """One direction of one layer: the fast path when the predictor has one, its bounds
    hold and nothing observes the steps; else the specification."""
    make_decision = predictor.fast(lp)
    if make_decision is not None and observer is None and _fast_path_ok(model, q):
        return layer_direction_fast(model, q, x_seq, lengths, reverse, make_decision)
    return _layer_direction_spec(model, q, x_seq, lengths, reverse, predictor, lp, observer, where)


#: Elements per :func:`quantize_inputs` call: its float64 temporaries stay small.
_QUANTIZE_CHUNK = 1 << 15


def _quantize_inputs_int8(x: np.ndarray, input_scale) -> np.ndarray:
    """:func:`quantize_inputs` as int8 (its range), a few sequences at a time: fresh
    multi-megabyte temporaries cost more in page faults than the arithmetic."""
    out = np.empty(x.shape, np.int8)
    step = max(1, _QUANTIZE_CHUNK // max(1, x[0].size)) if len(x) else 1
    for s in range(0, len(x), step):
        out[s:s + step] = quantize_inputs(x[s:s + step], input_scale)
    return out


def _counter_names(predictor: Predictor) -> tuple:
    return COUNTERS + predictor.counters


def _run_layers(model: QModel, x_q: np.ndarray, lengths: np.ndarray, predictor: Predictor, policies: tuple,
                observer=None):
    """Every layer on quantized inputs ``x_q``: ``(h_int, masks, counters)``, with ``masks``
    the ``reused_l*`` (and ``columns_l*``) entries of :func:`golden_run` in layer order."""
    masks = {}
    totals = {name: np.zeros(len(lengths), dtype=np.int64) for name in _counter_names(predictor)}
    layer_in = x_q
    # The per-step matrix products are small: on an idle 2-CPU machine two BLAS threads make
    # them ~1.8x faster, but one other busy process makes a run several times slower (the
    # worker threads wait for CPU at every product), so run them on one thread (one in each
    # process when workers share the batch).
    with threadpool_limits(1, user_api="blas"):
        for k, layer in enumerate(model.layers):
            outs = []
            for d, q in enumerate(layer):
                out, reused, counters, columns = _layer_direction(model, q, layer_in, lengths, bool(d), predictor,
                                                                  policies[k], observer, (k, d))
                outs.append(out)
                masks["reused" + layer_suffix(k, d)] = reused
                if columns is not None:
                    masks["columns" + layer_suffix(k, d)] = columns
                for name in totals:
                    totals[name] += counters[name]
            layer_in = np.concatenate(outs, axis=2) if len(outs) > 1 else outs[0]
    return layer_in.astype(np.int8, copy=False), masks, totals


def _run_slice(model: QModel, x_q: np.ndarray, lengths: np.ndarray, predictor: Predictor, policies: tuple):
    """:func:`_run_layers` in a worker process, its masks packed 8 to a byte (8x less to send back)."""
    h_int, masks, totals = _run_layers(model, x_q, lengths, predictor, policies)
    return h_int, {key: (np.packbits(m, axis=-1), m.shape[-1]) for key, m in masks.items()}, totals


def _run_sliced(model: QModel, x_q: np.ndarray, lengths: np.ndarray, predictor: Predictor, policies: tuple,
                workers: int):
    """:func:`_run_layers` with the sequences in ``workers`` contiguous slices, the first
    run here, the others by worker processes at the same time; the slices' results joined.

    Sequences are independent (each has its own state, cleared at its start), so this
    gives what one run gives, bit for bit.
    """
    bounds = slice_bounds(len(lengths), workers)
    if len(bounds) == 1:
        return _run_layers(model, x_q, lengths, predictor, policies)
    pool = worker_pool(len(bounds) - 1)
    jobs = []
    try:
        for a, b in bounds[1:]:
            jobs.append(pool.submit(_run_slice, model, x_q[a:b], lengths[a:b], predictor, policies))
        a, b = bounds[0]
        parts = [_run_layers(model, x_q[a:b], lengths[a:b], predictor, policies)]
        for job in jobs:
            h_int, packed, totals = job.result()
            parts.append((h_int, {key: np.unpackbits(m, axis=-1, count=count).view(bool)
                                  for key, (m, count) in packed.items()}, totals))
    except BrokenProcessPool:  # a worker died: the next call starts a new pool
        discard_pool(pool)
        raise
    finally:
        for job in jobs:  # when this process failed: nothing waits for the others
            job.cancel()
    return _join_slices(parts)


def _join_slices(parts: list):
    """The ``(h_int, masks, counters)`` of consecutive slices of a batch, as one batch's."""
    return (np.concatenate([p[0] for p in parts]),
            {key: np.concatenate([p[1][key] for p in parts]) for key in parts[0][1]},
            {name: np.concatenate([p[2][name] for p in parts]) for name in parts[0][2]})


def _legacy_options(threshold, predictor: str, reuse_cap) -> RunOptions:
    """:class:`RunOptions` from golden_run's positional ``threshold, predictor, reuse_cap``."""
    if predictor not in PREDICTORS:
        raise MemornnError(f"unknown predictor {predictor!r} (choose from {', '.join(PREDICTORS)})")
    cap = check_reuse_cap(reuse_cap)
    reads = POLICY_PARAMETERS[predictor]
    # none reads nothing but has always checked the threshold it is given
    return RunOptions.parse(predictor, threshold=threshold if "threshold" in reads or not reads else None,
                            reuse_cap=cap if "reuse_cap" in reads else None)


def golden_run(model: QModel, batch: Batch, threshold=0.0, predictor: str = "bnn", reuse_cap: int = 0,
               workers: int = 1, observer=None) -> dict:
    """Run the integer model with a skip policy on a batch of float sequences.

    Parameters
    ----------
    model : QModel
    batch : Batch
        Float sequences; quantized here with the model's input scales.
    threshold : RunOptions, float, sequence of float, or str
        The run's options (:class:`~.options.RunOptions`: every policy; then
        ``predictor`` and ``reuse_cap`` are not read), or the relative threshold theta
        of bnn and oracle, global or per layer (see :func:`parse_thresholds`).
    predictor : {"bnn", "oracle", "none"}
        With a threshold (the policies with more parameters need a RunOptions).
    reuse_cap : int
        Largest number of consecutive reuses of a neuron; 0 for no cap.
    workers : int
        Processes sharing the sequences: this one and ``workers - 1`` worker processes,
        each running a contiguous slice of the batch (fewer when there are fewer
        sequences). The results do not depend on it. 1 (the default): this process
        alone. The worker processes stay up for later calls (see :mod:`.workers`;
        starting them costs a fraction of a second, once). On 2 CPUs, 2 ran the
        benchmark's 100 sequences 1.2-1.4x faster on an otherwise idle machine
        (``benchmarks/golden_speed.py``); with another job busy on the machine the gain
        can vanish or reverse.
    observer : callable or None
        Called with a :class:`StepRecord` after every step of every layer direction, in
        run order (layer, direction, step). The run then takes the specification path
        in this process (``workers`` must be 1).

    Returns
    -------
    dict
        The output key table: ``h`` (float), ``h_int`` (N, T, H*D); ``reused_l{k}`` and
        ``reused_l{k}_reverse`` (N, T, G*H) bool; delta and hybrid: ``columns_l{k}``
        (``_reverse``) (N, T, X_k + H) bool, the used columns; the counters of
        ``COUNTERS`` (and, delta, sign and hybrid, ``POLICY_COUNTERS``) (N,) int64.

    Raises
    ------
    MemornnError
        On an unknown predictor, inputs of the wrong width, a bad threshold, reuse cap
        or worker count, or options that do not fit the model.
    """
    options = threshold if isinstance(threshold, RunOptions) else _legacy_options(threshold, predictor, reuse_cap)
    if batch.x.shape[2] != model.input_size:
        raise MemornnError(f"inputs have {batch.x.shape[2]} features per step, but the model takes "
                           f"{model.input_size}")
    policies = options.for_model(model.num_layers)
    workers = check_workers(workers)
    if observer is not None and workers != 1:
        raise MemornnError(f"an observed run runs in this process alone: workers must be 1, got {workers}")
    predictor_obj = make_predictor(options)
    x_q = _quantize_inputs_int8(batch.x, model.input_scale)
    if observer is not None:
        h_int, masks, totals = _run_layers(model, x_q, batch.lengths, predictor_obj, policies, observer)
    else:
        h_int, masks, totals = _run_sliced(model, x_q, batch.lengths, predictor_obj, policies, workers)
    result = dict(masks)
    result["h_int"] = h_int
    result["h"] = np.multiply(h_int, 2.0**-nx.H_FRAC)  # float64, exact (a power of two)
    result.update(totals)
    return result
