"""The hybrid's fast path (golden/fastpath.py ``FastHybrid``) against its specification path.

The two are formulated apart: the specification multiplies ``v_last`` every step, keeps a
table of pre-activations and counts MACs on a stack of snapshots; the fast path keeps
persistent per-row accumulators that catch up with pending sums and counts MACs
incrementally. Whole runs must agree bit for bit on outputs, every reuse and column
decision and every counter, over random models (LSTM and GRU, 1-2 layers, both
directions, unequal lengths), thresholds and reuse caps.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from golden_testlib import random_qmodel, wide_row_qmodel
from memornn.golden import intmodel as im
from memornn.golden.inputs import make_batch
from memornn.golden.intmodel import golden_run
from memornn.golden.options import RunOptions


def _runs(qmodel, batch, options, monkeypatch):
    """``(spec, fast)``: the run through the specification path (an observer forces it)
    and through the fast path (the specification path made to fail if it were taken)."""
    spec = golden_run(qmodel, batch, options, observer=lambda record: None)
    with monkeypatch.context() as m:
        m.setattr(im, "_layer_direction_spec", None)
        fast = golden_run(qmodel, batch, options)
    return spec, fast


def _assert_same(spec, fast, label=""):
    assert set(spec) == set(fast)
    for key in spec:
        np.testing.assert_array_equal(fast[key], spec[key], err_msg=f"{key} {label}")


def _smooth_batch(rng, n, t_max, x_size, lengths=None):
    """Slowly varying inputs (some rows reused, some columns skipped) with unequal lengths."""
    if lengths is None:
        lengths = rng.integers(1, t_max + 1, n)
        lengths[0] = t_max
    return make_batch(rng.standard_normal((n, t_max, x_size)).cumsum(axis=1) * 0.4, lengths)


# (delta_x, delta_h, tau, reuse_cap, row_weights)
SETTINGS = [(0, 0, 0.0, 0, 1), (0, 0, 0.5, 2, 1), (2, 3, 0.05, 0, 1), (2, 3, 0.05, 1, 3),
            (1, "2,4", 0.2, 3, 3), (5, 8, 1.0, 0, 1), (3, 1, 0.02, 4, 3)]


@pytest.mark.parametrize("cell, layers, bidirectional", [("lstm", 1, False), ("gru", 1, True), ("lstm", 2, True),
                                                         ("gru", 2, False)])
def test_fast_hybrid_equals_specification(cell, layers, bidirectional, monkeypatch):
    qmodel, rng = random_qmodel(40 + layers, cell, 4, 6, layers=layers, bidirectional=bidirectional)
    batch = _smooth_batch(rng, 5, 13, 4, lengths=np.array([13, 4, 1, 9, 13]))
    reused = catchup = 0
    for dx, dh, tau, cap, bits in SETTINGS:
        dh = dh if layers == 2 or isinstance(dh, int) else int(dh.split(",")[0])  # per-layer list: 2 layers
        options = RunOptions.parse("hybrid", delta_x=dx, delta_h=dh, threshold=tau, reuse_cap=cap, row_weights=bits)
        spec, fast = _runs(qmodel, batch, options, monkeypatch)
        _assert_same(spec, fast, f"{dx} {dh} {tau} {cap} {bits}")
        reused += int(spec["neurons_reused"].sum())
        catchup += int(spec["catchup_macs"].sum())
        if tau == 0:
            assert not spec["neurons_reused"].any()
    assert reused > 0 and catchup > 0  # the row stage and the catch-up were exercised


@pytest.mark.parametrize("cap", [0, 1, 2])
def test_fast_hybrid_constant_inputs(cap, monkeypatch):
    """Inputs held constant and h columns never used: rows computed at the cap with
    nothing to catch up are not accumulator updates; with no cap every row is reused
    after step 0."""
    qmodel, rng = random_qmodel(48, "lstm", 4, 5, bidirectional=True)
    batch = make_batch(np.repeat(rng.standard_normal((2, 1, 4)), 10, axis=1), np.array([10, 7]))
    options = RunOptions.parse("hybrid", delta_x=0, delta_h=255, threshold=1.5, reuse_cap=cap)
    spec, fast = _runs(qmodel, batch, options, monkeypatch)
    _assert_same(spec, fast)
    if cap:  # computed at the cap with nothing changed: no update
        assert spec["acc_updates"].sum() < spec["neurons_computed"].sum()
    else:  # computed at step 0 only (2 directions of 20 rows)
        np.testing.assert_array_equal(spec["neurons_computed"], [40, 40])


def test_fast_hybrid_equal_lengths_and_wide_rows(monkeypatch):
    """Every sequence the same length (the backward direction's direct layout), and rows
    whose partial sums pass 2**24 (the product and the offsets in float64)."""
    qmodel, rng = random_qmodel(47, "gru", 3, 5, bidirectional=True)
    batch = _smooth_batch(rng, 4, 10, 3, lengths=np.full(4, 10))
    options = RunOptions.parse("hybrid", delta_x=1, delta_h=2, threshold=0.1, reuse_cap=2)
    _assert_same(*_runs(qmodel, batch, options, monkeypatch))

    wide = wide_row_qmodel(rng, "lstm", hidden=3, x_size=1040)
    batch = make_batch(np.clip(rng.standard_normal((3, 6, 1040)).cumsum(axis=1), -20, 20), np.array([6, 2, 5]))
    options = RunOptions.parse("hybrid", delta_x=10, delta_h=3, threshold=0.5, reuse_cap=0, row_weights=3)
    spec, fast = _runs(wide, batch, options, monkeypatch)
    _assert_same(spec, fast)
    assert spec["columns_skipped"].sum() > 0


def _property(seed, cell, hidden, x_size, bidirectional, dx, dh, tau, cap, bits, t_max, monkeypatch):
    qmodel, rng = random_qmodel(seed, cell, x_size, hidden, bidirectional=bidirectional, calib=(8, 6))
    batch = _smooth_batch(rng, 3, t_max, x_size)
    options = RunOptions.parse("hybrid", delta_x=dx, delta_h=dh, threshold=tau, reuse_cap=cap, row_weights=bits)
    _assert_same(*_runs(qmodel, batch, options, monkeypatch))


_CASES = dict(seed=st.integers(0, 2**16), cell=st.sampled_from(["lstm", "gru"]), hidden=st.integers(1, 6),
              x_size=st.integers(1, 5), bidirectional=st.booleans(), dx=st.integers(0, 12), dh=st.integers(0, 12),
              tau=st.sampled_from([0.0, 0.004, 0.03, 0.2, 1.0, 1.99]), cap=st.integers(0, 4),
              bits=st.sampled_from([1, 3]), t_max=st.integers(1, 12))


def _settings(examples: int, derandomize: bool):
    return settings(max_examples=examples, deadline=None, database=None, derandomize=derandomize,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@_settings(8, derandomize=True)
@given(**_CASES)
def test_fast_hybrid_property(seed, cell, hidden, x_size, bidirectional, dx, dh, tau, cap, bits, t_max, monkeypatch):
    """A fixed, derandomized handful of examples (the default run)."""
    _property(seed, cell, hidden, x_size, bidirectional, dx, dh, tau, cap, bits, t_max, monkeypatch)


@pytest.mark.slow
@_settings(200, derandomize=False)
@given(**_CASES)
def test_fast_hybrid_property_long(seed, cell, hidden, x_size, bidirectional, dx, dh, tau, cap, bits, t_max,
                                   monkeypatch):
    """Many random examples (``-m slow``)."""
    _property(seed, cell, hidden, x_size, bidirectional, dx, dh, tau, cap, bits, t_max, monkeypatch)
