"""Properties of the memoization in golden/intmodel.py (golden_run).

The BNN output and the reuse bookkeeping are recomputed here in small numpy code, from
the weights and the documented rules, not through the code under test.
"""

import numpy as np
import pytest

from golden_testlib import quantize_x, random_lengths, random_qmodel, requant
from memornn.golden.errors import MemornnError
from memornn.golden.inputs import Batch, make_batch
from memornn.golden.intmodel import golden_run

GATES = {"lstm": 4, "gru": 3}
COUNTERS = ("neurons_computed", "neurons_reused", "bnn_evals", "macs", "macs_skipped")


def _mask_keys(layers, bidir):
    return [f"reused_l{k}{s}" for k in range(layers) for s in (["", "_reverse"] if bidir else [""])]


def _order(length, reverse):
    return range(length - 1, -1, -1) if reverse else range(length)


def _h_prev(h_int, s, t, d, hidden, length):
    """The direction's h before step t (zeros at its first step), from a 1-layer run's output."""
    if d == 0:
        return h_int[s, t - 1, :hidden].astype(np.int64) if t > 0 else np.zeros(hidden, np.int64)
    return h_int[s, t + 1, hidden:].astype(np.int64) if t < length - 1 else np.zeros(hidden, np.int64)


def _yb(q, x_t, h_prev):
    """BNN output per row: +1 per agreeing sign bit, -1 per disagreeing one (bias excluded)."""
    bits = np.concatenate([x_t >= q.offset, h_prev >= 0])
    return np.where(bits[None, :] == (q.weight >= 0), 1, -1).sum(axis=1)


# -- predictor none ------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_none_never_reuses(cell):
    qmodel, rng = random_qmodel(1, cell, 4, 6, layers=2, bidirectional=True)
    batch = make_batch(rng.standard_normal((4, 9, 4)), random_lengths(rng, 4, 9))
    for theta in (0.0, 1.0, 255.0):
        r = golden_run(qmodel, batch, theta, "none", reuse_cap=0)
        for key in _mask_keys(2, True):
            assert not r[key].any()
        assert not r["neurons_reused"].any() and not r["macs_skipped"].any() and not r["bnn_evals"].any()
        steps = batch.lengths
        rows = GATES[cell] * 6
        np.testing.assert_array_equal(r["neurons_computed"], rows * steps * 4)  # 2 layers x 2 directions
        np.testing.assert_array_equal(r["macs"], rows * steps * 2 * ((4 + 6) + (12 + 6)))


# -- BNN with the bookkeeping recomputed ---------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("theta, cap", [(0.0, 0), (0.25, 0), (1.0, 0), (1.0, 2)])
def test_bnn_reuse_decisions_recomputed(cell, theta, cap):
    """Recompute yb from the weights and sign bits, and the memo table, for every neuron and step.

    theta = 0: a neuron is reused exactly when its yb equals the cached yb (entry valid).
    """
    hidden, x_size = 7, 5
    qmodel, rng = random_qmodel(2, cell, x_size, hidden, layers=1, bidirectional=True)
    n, t_max = 5, 12
    x = rng.standard_normal((n, t_max, x_size))
    lengths = random_lengths(rng, n, t_max)
    r = golden_run(qmodel, make_batch(x, lengths), theta, "bnn", cap)
    xq = quantize_x(x, qmodel.input_scale)
    rows = GATES[cell] * hidden
    total_reused = 0
    for d, q in enumerate(qmodel.layers[0]):
        mask = r["reused_l0" + ("_reverse" if d else "")]
        for s in range(n):
            length = int(lengths[s])
            cached = np.zeros(rows, np.int64)
            valid = np.zeros(rows, bool)
            run = np.zeros(rows, np.int64)
            for t in _order(length, bool(d)):
                yb = _yb(q, xq[s, t], _h_prev(r["h_int"], s, t, d, hidden, length))
                reused = mask[s, t]
                if theta == 0:
                    assert np.all(yb[reused] == cached[reused]), (d, s, t)
                close = np.abs(yb - cached) <= theta * np.abs(cached)  # exact: theta is dyadic
                under_cap = run < cap if cap else np.ones(rows, bool)
                np.testing.assert_array_equal(reused, valid & close & under_cap, err_msg=f"d={d} s={s} t={t}")
                cached = np.where(reused, cached, yb)
                run = np.where(reused, run + 1, 0)
                valid[:] = True
            assert not mask[s, length:].any()
            total_reused += int(mask[s].sum())
    assert total_reused > 0


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_oracle_theta_zero_reuses_only_equal_preactivations(cell):
    """Pre-activations recomputed with wide integers; reuse iff equal (GRU candidate: both parts)."""
    hidden, x_size = 6, 4
    qmodel, rng = random_qmodel(3, cell, x_size, hidden, layers=1, bidirectional=True)
    n, t_max = 4, 14
    # inputs held constant for stretches: h settles, so exact repeats of pre-activations occur
    x = np.repeat(rng.standard_normal((n, 2, x_size)), t_max // 2, axis=1)
    lengths = random_lengths(rng, n, t_max)
    batch = make_batch(x, lengths)
    r = golden_run(qmodel, batch, 0.0, "oracle")
    xq = quantize_x(x, qmodel.input_scale)
    rows = GATES[cell] * hidden
    cand = slice(2 * hidden, 3 * hidden)
    reused_total = 0
    for d, q in enumerate(qmodel.layers[0]):
        mask = r["reused_l0" + ("_reverse" if d else "")]
        for s in range(n):
            length = int(lengths[s])
            cached, cached_hn, valid = np.zeros(rows, np.int64), np.zeros(hidden, np.int64), np.zeros(rows, bool)
            for t in _order(length, bool(d)):
                xs, hs = xq[s, t], _h_prev(r["h_int"], s, t, d, hidden, length)
                acc = q.weight[:, :x_size].astype(np.int64) @ xs + q.bias
                acc_h = q.weight[:, x_size:].astype(np.int64) @ hs
                hn = np.zeros(hidden, np.int64)
                if cell == "gru":
                    hn = np.array([requant(int(a), int(m), int(sh)) for a, m, sh in
                                   zip(acc_h[cand] + q.bias_hn, q.mult[cand], q.shift[cand])])
                    acc_h[cand] = 0
                pre = np.array([requant(int(a), int(m), int(sh)) for a, m, sh in zip(acc + acc_h, q.mult, q.shift)])
                same = pre == cached
                if cell == "gru":
                    same[cand] &= hn == cached_hn
                np.testing.assert_array_equal(mask[s, t], valid & same, err_msg=f"d={d} s={s} t={t}")
                cached = np.where(mask[s, t], cached, pre)
                if cell == "gru":
                    cached_hn = np.where(mask[s, t][cand], cached_hn, hn)
                valid[:] = True
            reused_total += int(mask[s].sum())
    assert reused_total > 0


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_oracle_theta_zero_changes_no_output(cell):
    """Reusing only exactly equal pre-activations gives the same h as computing everything."""
    qmodel, rng = random_qmodel(4, cell, 3, 5, layers=2, bidirectional=True)
    batch = make_batch(np.repeat(rng.standard_normal((4, 2, 3)), 6, axis=1), random_lengths(rng, 4, 12))
    oracle = golden_run(qmodel, batch, 0.0, "oracle")
    none = golden_run(qmodel, batch, 0.0, "none")
    assert oracle["neurons_reused"].sum() > 0
    np.testing.assert_array_equal(oracle["h_int"], none["h_int"])
    np.testing.assert_array_equal(oracle["neurons_computed"] + oracle["neurons_reused"], none["neurons_computed"])
    assert not oracle["bnn_evals"].any()


# -- monotonic in theta --------------------------------------------------------------------------


@pytest.mark.parametrize("predictor", ["bnn", "oracle"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_reuse_set_grows_with_theta(cell, predictor):
    """Length-2 sequences: step 0 computes everything (same state for every theta), so step 1's
    reuse set for theta_a must be a subset of the one for theta_b > theta_a."""
    qmodel, rng = random_qmodel(5, cell, 5, 8, layers=1, bidirectional=True)
    batch = make_batch(rng.standard_normal((150, 2, 5)))
    thetas = [0.0, 1 / 64, 0.05, 0.125, 0.25, 0.5, 1.0, 2.0, 255.0]
    runs = [golden_run(qmodel, batch, th, predictor) for th in thetas]
    counts = []
    for a, b in zip(runs, runs[1:]):
        # same step 0: forward t = 0, backward t = 1 (its first step), all computed, same h
        for run in (a, b):
            assert not run["reused_l0"][:, 0].any() and not run["reused_l0_reverse"][:, 1].any()
        np.testing.assert_array_equal(a["h_int"][:, 0, :8], b["h_int"][:, 0, :8])
        np.testing.assert_array_equal(a["h_int"][:, 1, 8:], b["h_int"][:, 1, 8:])
        for key, t in (("reused_l0", 1), ("reused_l0_reverse", 0)):
            assert not np.any(a[key][:, t] & ~b[key][:, t]), (key, t)
        counts.append(int(a["neurons_reused"].sum()))
    counts.append(int(runs[-1]["neurons_reused"].sum()))
    assert counts == sorted(counts) and counts[-1] > counts[0]  # it did grow, not only stayed put


# -- sequence starts, lengths, batching ----------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_first_step_of_every_sequence_computes_every_neuron(cell):
    qmodel, rng = random_qmodel(6, cell, 4, 6, layers=2, bidirectional=True)
    lengths = random_lengths(rng, 6, 9)
    batch = make_batch(rng.standard_normal((6, 9, 4)), lengths)
    for predictor, theta in (("bnn", 255.0), ("oracle", 255.0)):
        r = golden_run(qmodel, batch, theta, predictor)
        for k in range(2):
            fwd, bwd = r[f"reused_l{k}"], r[f"reused_l{k}_reverse"]
            assert not fwd[:, 0].any()
            assert not bwd[np.arange(6), lengths - 1].any()
            # and with theta this large nearly everything else is reused: the check is not vacuous
            assert fwd[:, 1:].sum() > 0.5 * GATES[cell] * 6 * (lengths - 1).sum()


def _one_by_one(qmodel, x, lengths, *args):
    return [golden_run(qmodel, make_batch(x[i:i + 1, :lengths[i]]), *args) for i in range(len(lengths))]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("predictor, theta, cap", [("bnn", 0.3, 3), ("oracle", 0.1, 0), ("none", 0.0, 0)])
def test_batch_equals_sequences_one_by_one(cell, predictor, theta, cap):
    qmodel, rng = random_qmodel(7, cell, 4, 6, layers=2, bidirectional=True)
    n, t_max = 5, 10
    x = rng.standard_normal((n, t_max, 4))
    lengths = random_lengths(rng, n, t_max)
    batched = golden_run(qmodel, make_batch(x, lengths), theta, predictor, cap)
    singles = _one_by_one(qmodel, x, lengths, theta, predictor, cap)
    for i, single in enumerate(singles):
        assert set(single) == set(batched)
        length = lengths[i]
        for key, value in single.items():
            assert value.dtype == batched[key].dtype, key
            if value.ndim == 1:  # counters
                np.testing.assert_array_equal(batched[key][i], value[0], err_msg=key)
            else:
                np.testing.assert_array_equal(batched[key][i, :length], value[0], err_msg=key)
                assert not batched[key][i, length:].any(), key


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("predictor", ["bnn", "oracle", "none"])
def test_lengths_and_counters(cell, predictor):
    hidden, x_size, layers = 5, 3, 2
    qmodel, rng = random_qmodel(8, cell, x_size, hidden, layers=layers, bidirectional=True)
    n, t_max = 6, 9
    lengths = random_lengths(rng, n, t_max)
    x = rng.standard_normal((n, t_max, x_size))
    clean = make_batch(x, lengths)
    # garbage in the padding must change nothing: build the Batch directly, bypassing make_batch
    dirty_x = clean.x.copy()
    pad = np.arange(t_max)[None, :] >= lengths[:, None]
    dirty_x[pad] = 1e6
    r = golden_run(qmodel, clean, 0.4, predictor, 2)
    dirty = golden_run(qmodel, Batch(dirty_x, lengths), 0.4, predictor, 2)
    for key in r:
        np.testing.assert_array_equal(r[key], dirty[key], err_msg=key)
    assert np.all(r["h"][pad] == 0) and np.all(r["h_int"][pad] == 0)
    rows = GATES[cell] * hidden
    macs = np.zeros(n, np.int64)
    skipped = np.zeros(n, np.int64)
    for k in range(layers):
        x_k = x_size if k == 0 else 2 * hidden
        for key in (f"reused_l{k}", f"reused_l{k}_reverse"):
            mask = r[key]
            assert mask.shape == (n, t_max, rows) and mask.dtype == bool
            assert not mask[pad].any()
            reused = mask.sum(axis=(1, 2))
            macs += (rows * lengths - reused) * (x_k + hidden)
            skipped += reused * (x_k + hidden)
    steps = rows * lengths * layers * 2
    np.testing.assert_array_equal(r["neurons_computed"] + r["neurons_reused"], steps)
    np.testing.assert_array_equal(r["neurons_reused"], sum(r[k].sum(axis=(1, 2)) for k in _mask_keys(2, True)))
    np.testing.assert_array_equal(r["macs"], macs)
    np.testing.assert_array_equal(r["macs_skipped"], skipped)
    np.testing.assert_array_equal(r["bnn_evals"], steps if predictor == "bnn" else 0)
    if predictor != "none":
        assert r["neurons_reused"].sum() > 0


# -- reuse cap -----------------------------------------------------------------------------------


def _longest_runs(mask):
    """Longest run of consecutive True along axis 1 (time), per (sequence, neuron)."""
    best = np.zeros((mask.shape[0], mask.shape[2]), np.int64)
    cur = np.zeros_like(best)
    for t in range(mask.shape[1]):
        cur = np.where(mask[:, t], cur + 1, 0)
        best = np.maximum(best, cur)
    return best


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("predictor", ["bnn", "oracle"])
def test_reuse_cap_bounds_runs(cell, predictor):
    qmodel, rng = random_qmodel(9, cell, 4, 6, layers=2, bidirectional=True)
    batch = make_batch(rng.standard_normal((4, 16, 4)), random_lengths(rng, 4, 16))
    keys = _mask_keys(2, True)
    uncapped = golden_run(qmodel, batch, 255.0, predictor, 0)
    assert max(_longest_runs(uncapped[k]).max() for k in keys) > 6
    for cap in (1, 2, 5):
        r = golden_run(qmodel, batch, 255.0, predictor, cap)
        longest = max(_longest_runs(r[k]).max() for k in keys)
        assert longest == cap  # never more, and the cap is reached (theta this large reuses freely)


# -- thresholds and arguments --------------------------------------------------------------------


def test_per_layer_thresholds():
    qmodel, rng = random_qmodel(10, "lstm", 4, 6, layers=2, bidirectional=False)
    batch = make_batch(rng.standard_normal((5, 12, 4)))
    both = golden_run(qmodel, batch, [0.1, 0.6], "bnn")
    text = golden_run(qmodel, batch, "0.1, 0.6", "bnn")
    low = golden_run(qmodel, batch, 0.1, "bnn")
    for key in both:
        np.testing.assert_array_equal(both[key], text[key], err_msg=key)
    # layer 0 sees only its own threshold
    np.testing.assert_array_equal(both["reused_l0"], low["reused_l0"])
    assert both["reused_l1"].sum() > low["reused_l1"].sum()


@pytest.mark.parametrize("spec, match", [
    ("0.1,0.2,0.3", "3 thresholds given for a model of 2 layers"),
    ("abc", "'abc' is not a number"),
    ("0.1,", "'' is not a number"),
    (-0.5, "non-negative"),
    ("0.1,-0.1", "non-negative"),
    (300.0, "exceeds"),
    (float("nan"), "non-negative"),
])
def test_bad_thresholds(spec, match):
    qmodel, rng = random_qmodel(11, "gru", 3, 4, layers=2)
    with pytest.raises(MemornnError, match=match):
        golden_run(qmodel, make_batch(rng.standard_normal((1, 3, 3))), spec, "bnn")


@pytest.mark.parametrize("kwargs, match", [
    (dict(predictor="random"), "unknown predictor 'random'"),
    (dict(reuse_cap=256), "reuse cap"),
    (dict(reuse_cap=-1), "reuse cap"),
    (dict(reuse_cap=1.5), "reuse cap"),
])
def test_bad_run_arguments(kwargs, match):
    qmodel, rng = random_qmodel(12, "lstm", 3, 4)
    with pytest.raises(MemornnError, match=match):
        golden_run(qmodel, make_batch(rng.standard_normal((1, 3, 3))), **kwargs)


def test_input_size_mismatch():
    qmodel, rng = random_qmodel(13, "lstm", 3, 4)
    with pytest.raises(MemornnError, match="4 features per step, but the model takes 3"):
        golden_run(qmodel, make_batch(rng.standard_normal((1, 3, 4))))
