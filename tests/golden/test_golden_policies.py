"""The skip policies delta, sign and hybrid (golden/intmodel.py's docstring, golden/predictors.py).

Hand-computed cases for each rule's arithmetic; a replay of the sign and hybrid rules
restated here (plain Python integers) against the decisions, pre-activations and
counters of a run, seen through its observer; and the invariants between policies.
"""

import numpy as np
import pytest

from golden_testlib import random_qmodel
from memornn.golden import numerics as nx
from memornn.golden.inputs import make_batch
from memornn.golden.intmodel import golden_run
from memornn.golden.options import RunOptions
from memornn.golden.qmodel import QModel

POLICY_KEYS = ("columns_used", "columns_skipped", "acc_updates", "catchup_macs", "predictor_ops")


# -- the arithmetic, by hand ----------------------------------------------------------------------


def test_delta_columns_by_hand():
    used, last = nx.delta_columns([10, 12, -3, 7], [0, 10, 0, 4], [3, 3, 3, 2])
    # |10| > 3 used; |2| <= 3 kept; |-3| <= 3 kept (not strictly above); |3| > 2 used
    assert used.tolist() == [True, False, False, True]
    assert last.tolist() == [10, 10, 0, 7]
    used, last = nx.delta_columns([5, 5], [5, 4], 0)  # theta 0: every change is used
    assert used.tolist() == [False, True] and last.tolist() == [5, 5]


@pytest.mark.parametrize("a, k", [(1, 0), (2, 1), (3, 2), (5, 2), (6, 3), (11, 3), (12, 4), (127, 7), (95, 6),
                                  (96, 7)])
def test_nearest_power_exponent_by_hand(a, k):
    assert int(nx.nearest_power_exponent(a)) == k


def test_sign_row_weights_by_hand():
    w = np.array([[3, -5, 0, 10], [1, 2, -3, 6], [3, -5, 0, 100], [0, 0, 0, 0]])
    # 1 bit: sign (0 counts as +) times round(mean |w|): 18/4 = 4.5 -> 5, 12/4 = 3, 108/4 = 27
    assert nx.sign_row_weights(w, 1).tolist() == [[5, -5, 5, 5], [3, 3, -3, 3], [27, -27, 27, 27], [0, 0, 0, 0]]
    # 3 bits: nearest power of two within the row's top four (10 -> 8: E = 3, levels 1..8;
    # 6 -> 8: levels 1..8; 100 -> 128: E = 7, levels 16..128); zeros take the smallest level
    assert nx.sign_row_weights(w, 3).tolist() == [[4, -4, 1, 8], [1, 2, -4, 8], [16, -16, 16, 128], [0, 0, 0, 0]]


def test_sign_close_by_hand():
    # requantize(|d| * 2**14 / 2**14) = |d|; slope 2048 is 1.0 (11 fraction bits): change = |d| LSBs
    for d in (100, -100):
        assert bool(nx.sign_close(d, 2**14, 14, 2048, 101))
        assert not bool(nx.sign_close(d, 2**14, 14, 2048, 100))  # strictly below tau
    assert bool(nx.sign_close(100, 2**14, 14, 1024, 51))  # half the slope: 50 LSBs
    assert not bool(nx.sign_close(0, 2**14, 14, 2048, 0))  # tau 0: never close
    # |d| = 3 with mult/2**shift = 1/2: round half up gives 2
    assert bool(nx.sign_close(3, 2**14, 15, 2048, 3)) and not bool(nx.sign_close(3, 2**14, 15, 2048, 2))


def test_reuse_decision_by_hand():
    close = np.array([True, True, True, False, True])
    run = np.array([2, 3, 255, 0, 0])
    reuse, run_next = nx.reuse_decision(close, run, 3)
    assert reuse.tolist() == [True, False, False, False, True]
    assert run_next.tolist() == [3, 0, 0, 0, 1]
    reuse, run_next = nx.reuse_decision(close, run, 0)  # no cap: the counter saturates at 255
    assert reuse.tolist() == [True, True, True, False, True] and run_next.tolist() == [3, 4, 255, 0, 1]
    reuse, _ = nx.reuse_decision(close, run, 0, valid=False)
    assert not reuse.any()


def test_pwl_slope_is_the_segments_slope_mirrored():
    table = nx.pwl_table("sigmoid", 4)  # segments of 2**13 input LSBs
    got = nx.pwl_slope(table, [0, 8191, 8192, -8192, -8191, 32767, -32768])
    s = table.slope
    assert got.tolist() == [s[0], s[0], s[1], s[1], s[0], s[3], s[3]]


# -- delta on a hand-made case --------------------------------------------------------------------


def test_delta_by_hand():
    """One input (scale 1: x_q = x), theta_x 3 and theta_h 255 (no h column is ever used):
    the used values are held, and the run is ``none`` on the held inputs with W_h = 0."""
    qmodel, _ = random_qmodel(7, "lstm", 1, 3)
    qmodel.input_scale = np.ones(1)
    x = np.array([10, 12, 20, 20, 16, 15], float)[None, :, None]
    got = golden_run(qmodel, make_batch(x), RunOptions.parse("delta", delta_x=3, delta_h=255))
    # step by step: 10 used; |12-10| = 2 kept; 20 used; 0 kept; |16-20| = 4 used; |15-16| = 1 kept
    held = np.array([10, 10, 20, 20, 16, 16], float)[None, :, None]
    assert got["columns_l0"][0, :, 0].tolist() == [True, False, True, False, True, False]
    assert not got["columns_l0"][0, :, 1:].any()
    q = qmodel.layers[0][0]
    frozen = QModel("lstm", 3, [[type(q)(q.weight * np.array([1, 0, 0, 0]), q.bias, q.mult, q.shift, q.offset)]],
                    np.ones(1))
    np.testing.assert_array_equal(got["h_int"], golden_run(frozen, make_batch(held), 0.0, "none")["h_int"])
    rows, n = 12, 4  # 4 gates x 3; columns X + H = 4
    assert got["columns_used"].tolist() == [3] and got["columns_skipped"].tolist() == [6 * n - 3]
    assert got["macs"].tolist() == [rows * 3] and got["macs_skipped"].tolist() == [rows * n * 6 - rows * 3]
    assert got["acc_updates"].tolist() == [rows * 3]  # step 0 and the two steps with a used column
    assert got["predictor_ops"].tolist() == [n * 6] and got["catchup_macs"].tolist() == [0]
    assert not got["reused_l0"].any() and got["neurons_reused"].tolist() == [0]


# -- sign and hybrid, restated --------------------------------------------------------------------


def _rq(acc: int, mult: int, shift: int) -> int:
    """requantize restated: sat16(floor(acc * mult / 2**shift + 1/2))."""
    v = acc * mult
    v = (v + (1 << (shift - 1))) >> shift if shift else v
    return max(-32768, min(32767, v))


def _row_weights(w, bits):
    """The row predictor's weights, restated with Python integers."""
    out = []
    for row in w.tolist():
        if bits == 1:
            mean = (2 * sum(abs(v) for v in row) + len(row)) // (2 * len(row))
            out.append([mean if v >= 0 else -mean for v in row])
            continue
        top = max(abs(v) for v in row)
        if top == 0:
            out.append([0] * len(row))
            continue

        def nearest(a):  # 2**k nearest a >= 1, ties (a = 1.5 * 2**k) up
            k = a.bit_length() - 1
            return k + 1 if 2 * a >= 3 << k else k

        e = nearest(top)
        ks = [min(e, max(e - 3, 0, nearest(abs(v)) if v else 0)) for v in row]
        out.append([(1 << k) if v >= 0 else -(1 << k) for v, k in zip(row, ks)])
    return out


class _Replay:
    """The observer of a one-layer, one-direction run: replays the sign row stage (and,
    hybrid, the delta column stage and the catch-up) restated, and checks every step."""

    def __init__(self, qmodel, options, hybrid):
        q = qmodel.layers[0][0]
        self.q, self.hybrid, self.H = q, hybrid, qmodel.hidden_size
        lp = options.for_model(1)[0]
        self.tau, self.cap, self.dx, self.dh = lp.theta_q, options.reuse_cap, lp.delta_x, lp.delta_h
        self.wr = _row_weights(q.weight, options.row_weights)
        self.tables = [nx.pwl_table(f, qmodel.pwl_segments) for f in ("sigmoid", "tanh")]
        self.gru, self.segments = qmodel.cell == "gru", qmodel.pwl_segments
        self.state = {}
        self.macs = self.catchup = 0

    def _slope(self, r, x):
        table = self.tables[1 if 2 * self.H <= r < 3 * self.H else 0]
        return table.slope[min(abs(x), 32767) >> table.seg_shift]

    def __call__(self, rec):
        q, H = self.q, self.H
        for i in np.flatnonzero(rec.active):
            v = [int(a) for a in rec.x[i]] + [int(a) for a in rec.h_prev[i]]
            st = self.state.setdefault(i, {"last": [0] * len(v), "snap": None, "run": None, "slope": None})
            used = [False] * len(v)
            if self.hybrid:  # delta columns
                theta = [self.dx] * q.offset.shape[0] + [self.dh] * H
                used = [abs(a - b) > t for a, b, t in zip(v, st["last"], theta)]
                st["last"] = [a if u else b for a, b, u in zip(v, st["last"], used)]
                v = st["last"]
            rows = len(self.wr)
            if st["snap"] is None:
                st["snap"], st["run"] = [[0] * len(v)] * rows if self.hybrid else [None] * rows, [0] * rows
            for r in range(rows):
                reuse = False
                if rec.step > 0:
                    ref = st["snap"][r]
                    d = sum(w * (a - b) for w, a, b in zip(self.wr[r], v, ref))
                    change = _rq(abs(d), int(q.mult[r]), int(q.shift[r])) * st["slope"][r]
                    reuse = change < (self.tau << 11) and (self.cap == 0 or st["run"][r] < self.cap)
                assert bool(rec.reuse[i, r]) == reuse, (rec.step, i, r)
                if reuse:
                    st["run"][r] += 1
                    continue
                st["run"][r] = 0
                if self.hybrid:  # catch-up: every column that differs from the snapshot
                    ref = st["snap"][r] if rec.step > 0 else [0] * len(v)
                    differ = [a != b for a, b in zip(v, ref)]
                    self.macs += sum(differ)
                    self.catchup += sum(dd and not u for dd, u in zip(differ, used))
                st["snap"][r] = list(v)
                self._check_computed(rec, i, r, v)
            st["slope"] = [self._slope(r, self._act_in(rec, i, r)) if not rec.reuse[i, r] else st["slope"][r]
                           for r in range(rows)]

    def _check_computed(self, rec, i, r, v):
        """A computed row's pre-activation is requantize(bias + W . v) (GRU candidate: both parts)."""
        q, H, X = self.q, self.H, self.q.offset.shape[0]
        w = [int(a) for a in q.weight[r]]
        if self.gru and 2 * H <= r < 3 * H:
            acc_in = int(q.bias[r]) + sum(a * b for a, b in zip(w[:X], v[:X]))
            acc_hn = int(q.bias_hn[r - 2 * H]) + sum(a * b for a, b in zip(w[X:], v[X:]))
            assert rec.pre_hn[i, r - 2 * H] == _rq(acc_hn, int(q.mult[r]), int(q.shift[r]))
        else:
            acc_in = int(q.bias[r]) + sum(a * b for a, b in zip(w, v))
        assert rec.pre[i, r] == _rq(acc_in, int(q.mult[r]), int(q.shift[r]))

    def _act_in(self, rec, i, r):
        H = self.H
        if not (self.gru and 2 * H <= r < 3 * H):
            return int(rec.pre[i, r])
        gate_r = int(nx.pwl_sigmoid(rec.pre[i, r - 2 * H], self.segments))
        prod = gate_r * int(rec.pre_hn[i, r - 2 * H])
        return max(-32768, min(32767, int(rec.pre[i, r]) + ((prod + (1 << 14)) >> 15)))


@pytest.mark.parametrize("cell, policy, bits", [("lstm", "sign", 1), ("lstm", "hybrid", 3), ("gru", "sign", 3),
                                                ("gru", "hybrid", 1)])
def test_sign_and_hybrid_replayed(cell, policy, bits):
    qmodel, rng = random_qmodel(31, cell, 3, 4)
    lengths = np.array([12, 5, 9])
    x = rng.standard_normal((3, 12, 3)).cumsum(axis=1) * 0.4  # smooth: some rows reused, some not
    kwargs = dict(delta_x=2, delta_h=3) if policy == "hybrid" else {}
    options = RunOptions.parse(policy, threshold=0.04, reuse_cap=3, row_weights=bits, **kwargs)
    replay = _Replay(qmodel, options, policy == "hybrid")
    got = golden_run(qmodel, make_batch(x, lengths), options, observer=replay)
    assert 0.1 < got["neurons_reused"].sum() / (got["neurons_reused"] + got["neurons_computed"]).sum() < 0.9
    if policy == "hybrid":
        assert got["macs"].sum() == replay.macs and got["catchup_macs"].sum() == replay.catchup
        assert replay.catchup > 0


# -- invariants -----------------------------------------------------------------------------------


def _batch(rng, n=4, t=9, x=4):
    lengths = np.array([t, 4, 1, 7][:n])
    return make_batch(rng.standard_normal((n, t, x)).cumsum(axis=1) * 0.3, lengths)


def _dense(qmodel, batch):
    """rows * (X_k + H) per step, summed over layers and directions."""
    rows = qmodel.gates * qmodel.hidden_size
    per_step = sum(rows * (qmodel.layer_input_size(k) + qmodel.hidden_size) * qmodel.directions
                   for k in range(qmodel.num_layers))
    return per_step * batch.lengths


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_invariants_between_policies(cell):
    qmodel, rng = random_qmodel(5, cell, 4, 6, layers=2, bidirectional=True)
    batch = _batch(rng)
    none = golden_run(qmodel, batch, RunOptions.parse("none"))
    delta0 = golden_run(qmodel, batch, RunOptions.parse("delta", delta_x=0, delta_h=0))
    np.testing.assert_array_equal(delta0["h_int"], none["h_int"])
    assert delta0["macs_skipped"].sum() > 0  # zero changes are skipped, exactly

    delta = golden_run(qmodel, batch, RunOptions.parse("delta", delta_x=3, delta_h="2,5"))
    hybrid0 = golden_run(qmodel, batch, RunOptions.parse("hybrid", delta_x=3, delta_h="2,5", threshold=0,
                                                         reuse_cap=2))
    assert set(hybrid0) == set(delta)
    for key in delta:
        if key != "predictor_ops":  # the hybrid's row predictor works besides
            np.testing.assert_array_equal(hybrid0[key], delta[key], err_msg=key)
    sign0 = golden_run(qmodel, batch, RunOptions.parse("sign", threshold=0))
    np.testing.assert_array_equal(sign0["h_int"], none["h_int"])
    assert not sign0["neurons_reused"].any()

    dense = _dense(qmodel, batch)
    columns = sum((qmodel.layer_input_size(k) + qmodel.hidden_size) * qmodel.directions
                  for k in range(qmodel.num_layers)) * batch.lengths
    hybrid = golden_run(qmodel, batch, RunOptions.parse("hybrid", delta_x=3, delta_h="2,5", threshold=0.05,
                                                        reuse_cap=2))
    sign = golden_run(qmodel, batch, RunOptions.parse("sign", threshold=0.05, reuse_cap=2))
    for name, r in (("none", none), ("delta", delta), ("hybrid", hybrid), ("sign", sign)):
        np.testing.assert_array_equal(r["macs"] + r["macs_skipped"], dense, err_msg=name)
    for r in (delta, hybrid, sign):
        np.testing.assert_array_equal(r["columns_used"] + r["columns_skipped"], columns)
        assert np.all(r["catchup_macs"] <= r["macs"])
    assert hybrid["catchup_macs"].sum() > 0 and hybrid["macs"].sum() < delta["macs"].sum()
    assert not delta["catchup_macs"].any() and not sign["columns_skipped"].any()
    assert sign["neurons_reused"].sum() > 0 and sign["macs"].sum() < dense.sum()


@pytest.mark.parametrize("policy", ["sign", "hybrid"])
def test_reuse_cap_bounds_the_runs(policy):
    qmodel, rng = random_qmodel(6, "lstm", 4, 5)
    batch = make_batch(np.repeat(rng.standard_normal((2, 1, 4)), 12, axis=1))  # constant inputs
    kwargs = dict(delta_x=0, delta_h=0) if policy == "hybrid" else {}
    for cap in (1, 3):
        got = golden_run(qmodel, batch, RunOptions.parse(policy, threshold=1.0, reuse_cap=cap, **kwargs))
        mask = got["reused_l0"]
        run = np.zeros(mask.shape[::2], int)
        longest = 0
        for t in range(mask.shape[1]):
            run = np.where(mask[:, t], run + 1, 0)
            longest = max(longest, int(run.max()))
        assert longest == cap  # inputs constant after step 0: every run reaches the cap, none passes it


def test_policies_with_workers_equal_one_process():
    qmodel, rng = random_qmodel(8, "gru", 4, 5, layers=2, bidirectional=True)
    batch = _batch(rng)
    options = RunOptions.parse("hybrid", delta_x=1, delta_h=2, threshold=0.05, reuse_cap=3)
    one, two = golden_run(qmodel, batch, options), golden_run(qmodel, batch, options, workers=2)
    assert set(one) == set(two) and "columns_l1_reverse" in one
    for key in one:
        np.testing.assert_array_equal(one[key], two[key], err_msg=key)


# -- the fast path --------------------------------------------------------------------------------


FAST_RUNS = {  # policy: (options, layer policies (theta_q, delta_x, delta_h))
    "delta": (dict(delta_x=0, delta_h=0), [(0, 0, 0), (0, 3, 2), (0, 20, 255)]),
    "sign": (dict(threshold=0.01, reuse_cap=2, row_weights=1), [(0, 0, 0), (300, 0, 0), (3000, 0, 0)]),
    "sign ": (dict(threshold=0.01, row_weights=3), [(300, 0, 0), (30000, 0, 0)]),
}


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("equal_lengths", [False, True])
@pytest.mark.parametrize("policy", list(FAST_RUNS))
def test_fast_path_equals_specification(cell, equal_lengths, policy):
    """Outputs, reuse and column masks and every counter, both directions, several thresholds."""
    from memornn.golden import fastpath as fp
    from memornn.golden import intmodel as im
    from memornn.golden.options import LayerPolicy
    from memornn.golden.predictors import make_predictor

    qmodel, rng = random_qmodel(61, cell, 5, 6)
    lengths = np.array([11] * 4) if equal_lengths else np.array([11, 3, 1, 8])
    x = np.clip(np.rint(rng.standard_normal((4, 11, 5)).cumsum(axis=1) * 9), -127, 127).astype(np.int8)
    options, layer_policies = FAST_RUNS[policy]
    pred = make_predictor(RunOptions.parse(policy.strip(), **options))
    q = qmodel.layers[0][0]
    assert fp._fast_path_ok(qmodel, q)
    for theta_q, dx, dh in layer_policies:
        lp = LayerPolicy(theta_q, dx, dh)
        for reverse in (False, True):
            spec = im._layer_direction_spec(qmodel, q, x, lengths, reverse, pred, lp)
            fast = fp.layer_direction_fast(qmodel, q, x, lengths, reverse, pred.fast(lp))
            np.testing.assert_array_equal(fast[0], spec[0])
            np.testing.assert_array_equal(fast[1], spec[1])
            np.testing.assert_array_equal(fast[3], spec[3])
            assert set(fast[2]) == set(spec[2])
            for name in spec[2]:
                np.testing.assert_array_equal(fast[2][name], spec[2][name], err_msg=f"{name} {lp} {reverse}")
            if policy == "delta":
                assert spec[3].any() and (dx == 0 or not spec[3].all())
            elif theta_q:
                assert spec[1].any() and not spec[1].all()


def test_sign_fast_path_with_wide_rows():
    """Rows whose predictor sums can pass 2**24 (float32's exact range): the float64 product."""
    from golden_testlib import wide_row_qmodel

    from memornn.golden import fastpath as fp
    from memornn.golden import intmodel as im
    from memornn.golden.options import LayerPolicy
    from memornn.golden.predictors import make_predictor

    rng = np.random.default_rng(62)
    qmodel = wide_row_qmodel(rng, "lstm", hidden=2)
    q = qmodel.layers[0][0]
    x = rng.integers(-127, 128, (3, 6, q.offset.shape[0])).astype(np.int8)
    lengths = np.array([6, 2, 5])
    pred = make_predictor(RunOptions.parse("sign", threshold=0.5, row_weights=3))
    lp = LayerPolicy(20000)
    assert int(np.abs(nx.sign_row_weights(q.weight, 3)).sum(axis=1).max()) * 128 >= 2**24
    spec = im._layer_direction_spec(qmodel, q, x, lengths, False, pred, lp)
    fast = fp.layer_direction_fast(qmodel, q, x, lengths, False, pred.fast(lp))
    for a, b in zip(fast[:2], spec[:2]):
        np.testing.assert_array_equal(a, b)
    for name in spec[2]:
        np.testing.assert_array_equal(fast[2][name], spec[2][name], err_msg=name)
