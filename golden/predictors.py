"""The skip policies of the golden model, one class each, behind one interface.

A :class:`Predictor` is made from the run's :class:`~.options.RunOptions`
(:func:`make_predictor`) and gives, for each layer direction, the state that runs the
policy step by step in the specification path (:meth:`Predictor.spec`) and, where
there is one, its fast decision (:meth:`Predictor.fast`, for :mod:`.fastpath`). The
step loops call only these interfaces; the semantics are in :mod:`.intmodel`'s
docstring, the arithmetic in :mod:`.numerics`.

A spec state (:class:`SpecNone` and its kind) has

- ``step(step, x_t, h, active)``: this step's pre-activations in use ``(pre, pre_hn)``
  (int64, (n, G*H) and, GRU, (n, H)), the reuse mask ((n, G*H) bool, or None: nothing
  reused) and the used-column mask ((n, X+H) bool, or None: no column stage);
- ``settle(act_in, reuse)``: the activation inputs of the step (after the cell);
- ``finish(reused_count, lengths)``: the counters of the direction.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from . import numerics as nx
from .counters import POLICY_COUNTERS, row_memo_counters
from .fastpath import FastBnn, FastDelta, FastHybrid, FastNone, FastOracle, FastSign
from .options import LayerPolicy, RunOptions


class SpecNone:
    """No skipping: every row computed from the dense product every step."""

    columns = False  # writes used-column masks
    bnn = False  # evaluates the BNN on every row

    def __init__(self, layer, lp: LayerPolicy, options: RunOptions):
        self.layer, self.lp = layer, lp

    def step(self, step: int, x_t, h, active):
        pre, pre_hn = self.layer.fresh(step, h)
        return pre, pre_hn, None, None

    def settle(self, act_in, reuse) -> None:
        """Nothing depends on the activations."""

    def finish(self, reused_count, lengths) -> dict:
        layer = self.layer
        return row_memo_counters(reused_count, lengths, layer.rows, layer.columns, self.bnn)


class _RowTable:
    """A layer direction's memoization table: the pre-activations in use, the run counters.

    :meth:`decide` applies :func:`nx.reuse_decision`; computed entries take the new values.
    """

    def __init__(self, n: int, rows: int, hidden: int, gru: bool, cap: int):
        self.pre = np.zeros((n, rows), np.int64)  # GRU candidate rows: the x part
        self.pre_hn = np.zeros((n, hidden), np.int64) if gru else None
        self.run = np.zeros((n, rows), np.int64)
        self.cap, self.cand = cap, slice(2 * hidden, 3 * hidden)

    def decide(self, close, step: int, pre, pre_hn):
        """The reuse mask of this step; the table updated."""
        reuse, self.run = nx.reuse_decision(close, self.run, self.cap, valid=step > 0)
        self.pre = np.where(reuse, self.pre, pre)
        if pre_hn is not None:
            self.pre_hn = np.where(reuse[:, self.cand], self.pre_hn, pre_hn)
        return reuse


class SpecBnn(SpecNone):
    """The bnn predictor: the relative test on ``yb`` against the cached ``yb_m``."""

    bnn = True

    def __init__(self, layer, lp: LayerPolicy, options: RunOptions):
        super().__init__(layer, lp, options)
        self.table = _RowTable(layer.n, layer.rows, layer.hidden, layer.gru, options.reuse_cap)
        self.yb_m = np.zeros((layer.n, layer.rows), np.int64)

    def step(self, step: int, x_t, h, active):
        pre, pre_hn = self.layer.fresh(step, h)
        yb = self.layer.yb(step, h)
        reuse = self.table.decide(nx.within_threshold(yb, self.yb_m, self.lp.theta_q), step, pre, pre_hn)
        self.yb_m = np.where(reuse, self.yb_m, yb)
        return self.table.pre, self.table.pre_hn, reuse, None


class SpecOracle(SpecBnn):
    """The oracle: the relative test on the true new pre-activation (GRU candidate: both parts)."""

    bnn = False

    def step(self, step: int, x_t, h, active):
        pre, pre_hn = self.layer.fresh(step, h)
        table = self.table
        close = nx.within_threshold(pre, table.pre, self.lp.theta_q)
        if pre_hn is not None:
            close[:, table.cand] &= nx.within_threshold(pre_hn, table.pre_hn, self.lp.theta_q)
        reuse = table.decide(close, step, pre, pre_hn)
        return table.pre, table.pre_hn, reuse, None


class _PolicyCounts:
    """The :data:`POLICY_COUNTERS` of a layer direction, summed over the running steps."""

    def __init__(self, n: int):
        self.values = {name: np.zeros(n, np.int64) for name in POLICY_COUNTERS}
        self.macs = np.zeros(n, np.int64)

    def add(self, name: str, per_sequence, active) -> None:
        self.values[name] += np.where(active, per_sequence, 0)

    def finish(self, base: dict, dense) -> dict:
        """``base`` (:func:`row_memo_counters`) with the MACs really performed (against
        ``dense``, per sequence), and these."""
        counters = dict(base)
        counters["macs"] = self.macs
        counters["macs_skipped"] = dense - self.macs
        counters.update(self.values)
        return counters


class SpecSign(SpecNone):
    """The sign row predictor (memoization): the absolute, slope-weighted test on the
    weighted change of the inputs since the row's last computation."""

    def __init__(self, layer, lp: LayerPolicy, options: RunOptions):
        super().__init__(layer, lp, options)
        n, rows = layer.n, layer.rows
        self.table = _RowTable(n, rows, layer.hidden, layer.gru, options.reuse_cap)
        w_row = nx.sign_row_weights(layer.q.weight, options.row_weights)
        self.w_row_t = np.ascontiguousarray(w_row.T, np.float64)  # exact: |sums| < 2**53
        self.p_m = np.zeros((n, rows), np.int64)  # W'_r . v at the row's last computation
        self.slope_m = np.zeros((n, rows), np.int64)
        self.v_prev = np.zeros((n, layer.columns), np.int64)
        self.counts = _PolicyCounts(n)

    def predict(self, step: int, v, pre, pre_hn, active):
        """The row stage on the column values ``v``: the reuse mask; the table updated."""
        layer = self.layer
        p = np.rint(v @ self.w_row_t).astype(np.int64)
        close = nx.sign_close(p - self.p_m, layer.q.mult, layer.q.shift, self.slope_m, self.lp.theta_q)
        reuse = self.table.decide(close, step, pre, pre_hn)
        self.p_m = np.where(reuse, self.p_m, p)
        if step > 0:  # D_r += W'_rj dv_j for every column that changed
            self.counts.add("predictor_ops", layer.rows * np.count_nonzero(v != self.v_prev, axis=1), active)
        self.v_prev = v
        return reuse

    def step(self, step: int, x_t, h, active):
        pre, pre_hn = self.layer.fresh(step, h)
        v = np.concatenate([np.asarray(x_t, np.int64), np.asarray(h, np.int64)], axis=1)
        reuse = self.predict(step, v, pre, pre_hn, active)
        computed_rows = np.count_nonzero(~reuse, axis=1)
        self.counts.add("columns_used", self.layer.columns, active)
        self.counts.add("acc_updates", computed_rows, active)
        self.counts.macs += np.where(active, computed_rows * self.layer.columns, 0)
        return self.table.pre, self.table.pre_hn, reuse, None

    def settle(self, act_in, reuse) -> None:
        self.slope_m = np.where(reuse, self.slope_m, self.layer.slopes(act_in))

    def finish(self, reused_count, lengths) -> dict:
        layer = self.layer
        dense = layer.rows * layer.columns * np.asarray(lengths, np.int64)
        return self.counts.finish(super().finish(reused_count, lengths), dense)


class SpecDelta(SpecNone):
    """Delta-network column skipping: persistent accumulators over the last-used column values."""

    columns = True

    def __init__(self, layer, lp: LayerPolicy, options: RunOptions):
        super().__init__(layer, lp, options)
        self.theta = np.array([lp.delta_x] * layer.in_size + [lp.delta_h] * layer.hidden, np.int64)
        self.v_last = np.zeros((layer.n, layer.columns), np.int64)
        self.counts = _PolicyCounts(layer.n)

    def _columns(self, step: int, x_t, h, active):
        """The column stage: the used columns; ``v_last`` updated; its counters."""
        layer, counts = self.layer, self.counts
        v = np.concatenate([np.asarray(x_t, np.int64), np.asarray(h, np.int64)], axis=1)
        used, self.v_last = nx.delta_columns(v, self.v_last, self.theta)
        n_used = np.count_nonzero(used, axis=1)
        counts.add("columns_used", n_used, active)
        counts.add("columns_skipped", layer.columns - n_used, active)
        counts.add("predictor_ops", layer.columns, active)  # one column test each
        return used, n_used

    def step(self, step: int, x_t, h, active):
        layer = self.layer
        used, n_used = self._columns(step, x_t, h, active)
        # the accumulators: bias + sum of W_j dv_j over the used columns = bias + W . v_last, exactly
        pre, pre_hn = layer.requantize(*layer.product(self.v_last))
        moved = layer.rows * ((n_used > 0) | (step == 0))  # step 0 loads every accumulator
        self.counts.add("acc_updates", moved, active)
        self.counts.macs += np.where(active, layer.rows * n_used, 0)
        return pre, pre_hn, None, used

    def finish(self, reused_count, lengths) -> dict:
        layer = self.layer
        base = row_memo_counters(reused_count, lengths, layer.rows, layer.columns, False)
        return self.counts.finish(base, layer.rows * layer.columns * np.asarray(lengths, np.int64))


class SpecHybrid(SpecDelta):
    """Delta columns plus the sign row stage, with exact snapshot catch-up."""

    def __init__(self, layer, lp: LayerPolicy, options: RunOptions):
        super().__init__(layer, lp, options)
        self.rows = SpecSign(layer, lp, options)
        self.rows.counts = self.counts  # one set of counters
        # the snapshots: v_last after each step, the oldest one a row still refers to first
        self.history = [np.zeros((layer.n, layer.columns), np.int64)]  # before step 0
        self.base = 0  # the step index (0: before step 0) of history[0]
        self.snap = np.zeros((layer.n, layer.rows), np.int64)  # each row's snapshot, as that index

    def step(self, step: int, x_t, h, active):
        layer = self.layer
        used, _ = self._columns(step, x_t, h, active)
        pre, pre_hn = layer.requantize(*layer.product(self.v_last))  # what a computed row catches up to
        reuse = self.rows.predict(step, self.v_last, pre, pre_hn, active)
        # MACs of a computed row: the columns whose value differs from its snapshot;
        # catch-up MACs: those of them not used this step (changed while it was reused)
        lo = int(self.snap.min())
        del self.history[:lo - self.base]  # at most K + 1 kept with a cap K
        self.base = lo
        differs = np.stack(self.history, axis=1) != self.v_last[:, None, :]  # (n, snapshots, N)
        batch, at = np.arange(layer.n)[:, None], self.snap - lo
        macs = np.count_nonzero(differs, axis=2)[batch, at]
        catchup = np.count_nonzero(differs & ~used[:, None, :], axis=2)[batch, at]
        computed = ~reuse
        self.counts.macs += np.where(active, (macs * computed).sum(axis=1), 0)
        self.counts.add("catchup_macs", (catchup * computed).sum(axis=1), active)
        updated = computed & ((macs > 0) | (step == 0))
        self.counts.add("acc_updates", np.count_nonzero(updated, axis=1), active)
        self.history.append(self.v_last)
        self.snap = np.where(computed, self.base + len(self.history) - 1, self.snap)
        return self.rows.table.pre, self.rows.table.pre_hn, reuse, used

    def settle(self, act_in, reuse) -> None:
        self.rows.settle(act_in, reuse)


class Predictor:
    """A skip policy of a run (see the module docstring); ``none`` is this base class.

    Subclasses name their spec state class (``spec_class``, built as ``(layer, lp,
    options)``) and fast decision class (``fast_class``, built as ``(layer, lp,
    options)``; None: no fast path).

    Attributes
    ----------
    name : str
    counters : tuple of str
        The counters its results carry besides :data:`~.counters.COUNTERS`.
    """

    name = "none"
    counters: tuple = ()
    spec_class = SpecNone
    fast_class = FastNone

    def __init__(self, options: RunOptions):
        self.options = options

    def spec(self, layer, lp: LayerPolicy):
        """The specification path's state for a layer direction (``layer``: its arithmetic)."""
        return self.spec_class(layer, lp, self.options)

    def fast(self, lp: LayerPolicy):
        """``make_decision`` for :func:`.fastpath.layer_direction_fast`, or None: no fast path."""
        if self.fast_class is None:
            return None
        return partial(self.fast_class, lp=lp, options=self.options)


class BnnPredictor(Predictor):
    name, spec_class, fast_class = "bnn", SpecBnn, FastBnn


class OraclePredictor(Predictor):
    name, spec_class, fast_class = "oracle", SpecOracle, FastOracle


class DeltaPredictor(Predictor):
    name, spec_class, fast_class, counters = "delta", SpecDelta, FastDelta, POLICY_COUNTERS


class SignPredictor(Predictor):
    name, spec_class, fast_class, counters = "sign", SpecSign, FastSign, POLICY_COUNTERS


class HybridPredictor(Predictor):
    name, spec_class, fast_class, counters = "hybrid", SpecHybrid, FastHybrid, POLICY_COUNTERS


_PREDICTORS = {cls.name: cls for cls in (Predictor, BnnPredictor, OraclePredictor, DeltaPredictor,
                                         SignPredictor, HybridPredictor)}


def make_predictor(options: RunOptions) -> Predictor:
    """The :class:`Predictor` of ``options.predictor``."""
    return _PREDICTORS[options.predictor](options)
