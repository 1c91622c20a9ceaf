"""``golden_run(..., workers=k)``: the batch shared by worker processes gives the
one-process results, bit for bit, on every key (golden/workers.py, intmodel._run_sliced).

The pool stays up between tests (starting it is the slow part); the module's last test
stops it.
"""

import os

import numpy as np
import pytest

from golden_testlib import random_lengths, random_qmodel
from memornn.golden import fastpath as fp
from memornn.golden import workers as wk
from memornn.golden.errors import MemornnError
from memornn.golden.inputs import make_batch
from memornn.golden.intmodel import golden_run


@pytest.fixture(scope="module", autouse=True)
def _stop_pool_at_the_end():
    yield
    wk.shutdown_workers()


def assert_same_results(got, expected):
    """Every key, in the same order, with the same dtype, shape and values."""
    assert list(got) == list(expected)
    for key in expected:
        assert got[key].dtype == expected[key].dtype and got[key].shape == expected[key].shape, key
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


def _batch(rng, n, t_max, x_size, ragged=True):
    lengths = random_lengths(rng, n, t_max) if ragged else np.full(n, t_max)
    return make_batch(rng.standard_normal((n, t_max, x_size)), lengths)


# (sequences, workers, ragged): uneven slices, fewer sequences than workers, one sequence,
# equal lengths (the backward direction's other output path)
SPLITS = [(7, 2, True), (7, 3, True), (2, 3, True), (1, 2, True), (5, 2, False)]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("predictor, theta, cap", [("none", 0.0, 0), ("bnn", 0.3, 0), ("bnn", 0.5, 2),
                                                   ("oracle", 0.1, 0)])
def test_workers_give_the_one_process_results(cell, predictor, theta, cap):
    """Two layers, bidirectional, ragged lengths, per-layer thresholds."""
    qmodel, rng = random_qmodel(70, cell, 4, 6, layers=2, bidirectional=True)
    thetas = [theta, theta / 2]
    for n, workers, ragged in SPLITS:
        batch = _batch(rng, n, 9, 4, ragged)
        expected = golden_run(qmodel, batch, thetas, predictor, cap)
        got = golden_run(qmodel, batch, thetas, predictor, cap, workers=workers)
        assert_same_results(got, expected)
        if predictor != "none" and n > 2:
            assert expected["neurons_reused"].sum() > 0  # the comparison covers reuse


def test_workers_on_the_int64_path():
    """A model beyond the fast path's bounds: the slices take the int64 path too."""
    qmodel, rng = random_qmodel(71, "lstm", 4, 5)
    q = qmodel.layers[0][0]
    q.bias = q.bias.copy()
    q.bias[0] = 2**40
    assert not fp._fast_path_ok(qmodel, q)
    batch = _batch(rng, 5, 7, 4)
    assert_same_results(golden_run(qmodel, batch, 0.3, "bnn", workers=2), golden_run(qmodel, batch, 0.3, "bnn"))


def test_benchmark_shape():
    """One layer, X = 40, H = 128 (N = 168: three popcount fields per column), equal lengths."""
    qmodel, rng = random_qmodel(72, "lstm", 40, 128, calib=(8, 10))
    batch = _batch(rng, 9, 12, 40, ragged=False)
    for predictor in ("none", "bnn"):
        expected = golden_run(qmodel, batch, 0.2, predictor)
        assert_same_results(golden_run(qmodel, batch, 0.2, predictor, workers=2), expected)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", None, True, np.float64(2.0)])
def test_bad_worker_counts(bad):
    qmodel, rng = random_qmodel(73, "gru", 3, 4)
    with pytest.raises(MemornnError, match=r"workers must be an integer >= 1, got"):
        golden_run(qmodel, _batch(rng, 3, 4, 3), 0.2, "bnn", workers=bad)


def test_numpy_integer_worker_count():
    qmodel, rng = random_qmodel(74, "gru", 3, 4)
    batch = _batch(rng, 3, 4, 3)
    assert_same_results(golden_run(qmodel, batch, 0.2, "bnn", workers=np.int64(2)), golden_run(qmodel, batch, 0.2))


@pytest.mark.parametrize("n, parts", [(0, 3), (1, 1), (1, 4), (7, 2), (7, 3), (9, 3), (100, 2), (5, 5), (3, 8)])
def test_slice_bounds(n, parts):
    """Contiguous, covering, non-empty (unless n = 0), sizes within one of each other."""
    bounds = wk.slice_bounds(n, parts)
    assert len(bounds) == max(1, min(n, parts))
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(b[1] == c[0] for b, c in zip(bounds, bounds[1:]))
    sizes = [stop - start for start, stop in bounds]
    assert n == 0 or min(sizes) >= 1
    assert max(sizes) - min(sizes) <= 1


def test_pool_is_kept_grown_and_restarted():
    qmodel, rng = random_qmodel(75, "lstm", 3, 4)
    batch = _batch(rng, 6, 5, 3)
    expected = golden_run(qmodel, batch, 0.2)
    wk.shutdown_workers()
    golden_run(qmodel, batch, 0.2, workers=2)
    pool = wk._pool
    assert wk._pool_size == 1
    golden_run(qmodel, batch, 0.2, workers=2)
    assert wk._pool is pool  # kept
    assert_same_results(golden_run(qmodel, batch, 0.2, workers=3), expected)
    assert wk._pool is not pool and wk._pool_size == 2  # grown
    pool = wk._pool
    golden_run(qmodel, batch, 0.2, workers=2)
    assert wk._pool is pool  # a larger pool serves fewer workers
    wk.shutdown_workers()
    assert wk._pool is None
    assert_same_results(golden_run(qmodel, batch, 0.2, workers=2), expected)  # a new one


def test_a_dead_worker_breaks_one_call_only():
    """A worker killed from outside: that call raises, the next one starts a new pool."""
    from concurrent.futures.process import BrokenProcessPool

    qmodel, rng = random_qmodel(76, "lstm", 3, 4)
    batch = _batch(rng, 4, 5, 3)
    expected = golden_run(qmodel, batch, 0.2)
    golden_run(qmodel, batch, 0.2, workers=2)
    for pid in list(wk._pool._processes):
        os.kill(pid, 9)
    with pytest.raises(BrokenProcessPool):
        for _ in range(50):  # until the pool notices
            golden_run(qmodel, batch, 0.2, workers=2)
    assert wk._pool is None
    assert_same_results(golden_run(qmodel, batch, 0.2, workers=2), expected)
