"""The bnn decision and the other newer shortcuts of golden/intmodel.py's fast path.

Each helper against the definitions in golden/numerics.py (or the plain function it
replaces), exhaustively where the input space allows it; then whole layer directions
against ``_layer_direction_int64`` at sizes the older tests do not reach (N = X + H
above 255: two popcount fields per float32; the benchmark's shape).
"""

import numpy as np
import pytest

from golden_testlib import assert_fast_equals_int64, random_qmodel
from memornn.golden import fastpath as fp
from memornn.golden import intmodel as im
from memornn.golden import numerics as nx
from memornn.golden.inputs import make_batch, quantize_inputs
from memornn.golden.sequence import step_times

# -- packed popcounts ---------------------------------------------------------------------


@pytest.mark.parametrize("n_bits, rows", [(1, 1), (7, 8), (168, 512), (255, 7), (256, 9), (2047, 5), (5000, 3)])
def test_popcounts_equal_bnn_output(n_bits, rows):
    """Every field, in the int16 and int32 layouts the decision uses; all-ones and
    all-zeros inputs and weight rows reach both ends of every field."""
    rng = np.random.default_rng(n_bits + 3 * rows)
    w_bits = rng.integers(0, 2, (rows, n_bits))
    w_bits[0] = 1
    if rows > 1:
        w_bits[-1] = 0
    bits = rng.integers(0, 2, (50, n_bits))
    bits[0], bits[1] = 1, 0
    packed = fp._BnnPacked(w_bits)
    assert packed.slots * packed.k <= 24 and 2**packed.k > n_bits
    inputs = np.ones((50, n_bits + 1), np.float32)  # [bits, 1]
    inputs[:, :n_bits] = bits
    expected = (nx.bnn_output(bits, w_bits) + n_bits) // 2  # popcount(XNOR)
    for dtype in (np.int16, np.int32):
        u = np.full((50, packed.width), -7, dtype)
        packed.popcounts(inputs, u)
        np.testing.assert_array_equal(u[:, :rows], expected)
        assert not u[:, rows:].any()  # padding fields are 0
    assert expected.max() == n_bits and expected.min() == 0


# -- the decision -------------------------------------------------------------------------


def _reference_decisions(yb_steps, theta_q, cap):
    """Reuse masks step by step from the definition: nx.within_threshold on yb, the cap."""
    yb_m = run = None
    masks = []
    for step, yb in enumerate(yb_steps):
        if step == 0:
            reuse = np.zeros(yb.shape, bool)
            run = np.zeros(yb.shape, np.int64)
        else:
            reuse = nx.within_threshold(yb, yb_m, theta_q)
            if cap:
                reuse &= run < cap
        run = (run + 1) * reuse
        yb_m = np.where(reuse, yb_m, yb)
        masks.append(reuse)
    return masks


@pytest.mark.parametrize("n_bits, theta_q", [(168, 51), (168, 97), (168, 98), (12, 0), (12, 1365), (12, 1366),
                                             (255, 64), (300, 54), (300, 55), (2**14 - 1, nx.THETA_MAX_Q)])
def test_decision_every_popcount_pair(n_bits, theta_q):
    """Every (u, u_m) pair (sampled densely for large N), in int16 (2 theta_q N < 2**15,
    both sides of that bound) and int32."""
    values = np.unique(np.concatenate([np.arange(min(n_bits, 300) + 1),
                                       np.linspace(0, n_bits, 301).astype(np.int64)]))
    u, u_m = (a.reshape(-1) for a in np.meshgrid(values, values))
    decision = fp._BnnDecision(np.zeros((1, n_bits), np.uint8), len(u), theta_q, 0)
    wide = 2 * theta_q * n_bits >= 2**15
    assert decision.u.dtype == (np.int32 if wide else np.int16)
    # step 0 computes everything and fills the table; step 1 tests u against it
    decision.u[:, 0] = u_m
    assert (decision.decide(True)[:, 0] == -1).all()
    decision.u[:, 0] = u
    got = decision.decide(False)[:, 0] == 0
    expected = nx.within_threshold(2 * u - n_bits, 2 * u_m - n_bits, theta_q)
    np.testing.assert_array_equal(got, expected)
    # the table took the computed entries only
    np.testing.assert_array_equal(decision.u_m[:, 0], np.where(expected, u_m, u))


@pytest.mark.parametrize("theta_q, cap", [(51, 0), (77, 2), (256, 1), (nx.THETA_MAX_Q, 3), (0, 0)])
def test_decision_steps_against_the_definition(theta_q, cap):
    """Random bits over many steps (slowly changing, so that runs of reuse happen)."""
    rng = np.random.default_rng(theta_q + cap)
    rows, n_bits, n, steps = 30, 40, 6, 25
    w_bits = rng.integers(0, 2, (rows, n_bits))
    bits = rng.integers(0, 2, (n, n_bits))
    decision = fp._BnnDecision(w_bits, n, theta_q, cap)
    yb_steps, got = [], []
    for step in range(steps):
        flip = rng.random((n, n_bits)) < 0.08
        bits = np.where(flip, 1 - bits, bits)
        inputs = np.ones((n, n_bits + 1), np.float32)
        inputs[:, :n_bits] = bits
        got.append(decision(inputs, step == 0)[:, :rows] == 0)
        yb_steps.append(nx.bnn_output(bits, w_bits))
    expected = _reference_decisions(yb_steps, theta_q, cap)
    np.testing.assert_array_equal(np.array(got), np.array(expected))
    assert np.array(expected)[1:].any() or theta_q == 0


# -- selection, requantization, input order ----------------------------------------------


@pytest.mark.parametrize("dtype, int_type", [(np.float32, np.int32), (np.float64, np.int64)])
def test_select_computed_is_exact(dtype, int_type):
    """Any values (wide integers whose difference rounds, signed zeros, extremes)."""
    rng = np.random.default_rng(1)
    big = 2**24 if dtype == np.float32 else 2**53
    table = rng.integers(-big + 1, big, 1000).astype(dtype)
    new = -table[::-1].copy()
    table[:4] = [0.0, -0.0, big - 1, 1 - big]
    new[:4] = [-0.0, 0.0, 1 - big, big - 1]
    computed = np.where(rng.random(1000) < 0.5, -1, 0).astype(int_type)
    expected = np.where(computed == -1, new, table)
    fp._select_computed(table.view(int_type), new.copy().view(int_type), computed)
    np.testing.assert_array_equal(table.view(int_type), expected.view(int_type))  # bit for bit


def test_requant_index_without_clip_then_clipped_lookup():
    """fold: the unclipped index read with mode="clip" equals the clipped index."""
    rng = np.random.default_rng(2)
    y = np.concatenate([rng.uniform(-2.0**50, 2.0**50, 10_000), rng.uniform(-3, 70_000, 100_000),
                        [-1.0, -0.75, -0.5, 0.0, 0.25, 0.999, 65534.999, 65535.0, 65535.5, 65536.0, 2.0**50]])
    table = np.arange(2**16, dtype=np.int32) * 3 + 1
    clipped, unclipped = np.empty(y.shape, np.int64), np.empty(y.shape, np.int64)
    fp._requant_index(y.copy(), clipped, True)
    fp._requant_index(y.copy(), unclipped, True, clip=False)
    np.testing.assert_array_equal(table.take(unclipped, mode="clip"), table[clipped])


@pytest.mark.parametrize("reverse", [False, True])
def test_step_times_all_equals_step_times(reverse):
    lengths = np.array([5, 1, 3, 5, 2])
    got = fp._step_times_all(lengths, 5, reverse)
    np.testing.assert_array_equal(got, [step_times(lengths, s, reverse)[0] for s in range(5)])


@pytest.mark.parametrize("n", [0, 1, 3, 40])
def test_quantize_inputs_int8_equals_quantize_inputs(n, monkeypatch):
    """Chunked (a chunk smaller than one sequence, and several sequences a chunk)."""
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, 9, 4)) * 60
    if n:
        x[0, 0] = [1e9, -1e9, 0.5, -0.5]
    scale = np.array([0.5, 1.0, 1.0, 2.0])
    for chunk in (1, 20, 1 << 15):
        monkeypatch.setattr(im, "_QUANTIZE_CHUNK", chunk)
        got = im._quantize_inputs_int8(x, scale)
        assert got.dtype == np.int8
        np.testing.assert_array_equal(got, quantize_inputs(x, scale))


# -- whole layer directions ---------------------------------------------------------------


@pytest.mark.parametrize("cell, x_size, hidden", [("lstm", 40, 128), ("lstm", 100, 160), ("gru", 70, 190)])
@pytest.mark.parametrize("equal_lengths", [True, False])
def test_fast_direction_equals_int64_wide(cell, x_size, hidden, equal_lengths):
    """The benchmark's shape (N = 168, theta 0.2: the int16 decision) and N > 255 (two
    popcount fields per float32), with equal lengths (inputs read as a view) and not."""
    qmodel, rng = random_qmodel(hidden + x_size, cell, x_size, hidden, bidirectional=True)
    n, t_max = 5, 9
    x = rng.standard_normal((n, t_max, x_size)) * 1.5
    lengths = np.full(n, t_max) if equal_lengths else rng.integers(1, t_max + 1, n)
    x_q = quantize_inputs(make_batch(x, lengths).x, qmodel.input_scale)
    runs = [("none", 0, 0), ("bnn", 51, 0), ("bnn", 77, 2), ("bnn", 300, 0), ("oracle", 51, 1)]
    assert_fast_equals_int64(qmodel, x_q.astype(np.int8), lengths, runs)
