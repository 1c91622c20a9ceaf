"""Unit tests of golden/numerics.py: rounding, saturation, requantization, PWL, BNN, theta.

Expected values come from the documented definitions (module docstring of numerics.py),
evaluated here with exact rationals or plain Python integers.
"""

import math
from fractions import Fraction

import numpy as np
import pytest

from golden_testlib import popcount_xnor_output, pwl, round_shift
from memornn.golden import numerics as nx

# -- rshift_round ------------------------------------------------------------------------


@pytest.mark.parametrize("value, shift, expected", [
    (-3, 1, -1),   # -1.5 -> -1 (half up, not away from zero)
    (-1, 1, 0),    # -0.5 -> 0
    (1, 1, 1),     # 0.5 -> 1
    (3, 1, 2),     # 1.5 -> 2
    (-5, 1, -2),   # -2.5 -> -2
    (-5, 2, -1),   # -1.25 -> -1
    (-6, 2, -1),   # -1.5 -> -1
    (-7, 2, -2),   # -1.75 -> -2
    (-2, 2, 0),    # -0.5 -> 0
    (6, 2, 2),     # 1.5 -> 2
    (5, 0, 5),     # shift 0: unchanged
    (-5, 0, -5),
    (0, 7, 0),
    (2**62 - 1, 62, 1),   # 0.99999... -> 1
    (-(2**62), 62, -1),   # -1 exactly
    (-(2**61), 62, 0),    # -0.5 -> 0
])
def test_rshift_round_cases(value, shift, expected):
    assert int(nx.rshift_round(value, shift)) == expected


def test_rshift_round_matches_definition_on_random_values():
    rng = np.random.default_rng(1)
    values = rng.integers(-(2**46), 2**46, 4000)
    shifts = rng.integers(0, 40, 4000)
    got = nx.rshift_round(values, shifts)
    assert got.dtype == np.int64
    expected = [round_shift(int(v), int(s)) for v, s in zip(values, shifts)]
    np.testing.assert_array_equal(got, expected)


def test_rshift_round_broadcasts_a_scalar_shift():
    values = np.array([-4, -3, -2, -1, 0, 1, 2, 3, 4])
    np.testing.assert_array_equal(nx.rshift_round(values, 2), [-1, -1, 0, 0, 0, 0, 1, 1, 1])


# -- saturate / int_range -----------------------------------------------------------------


def test_int_range_and_saturate():
    assert nx.int_range(8) == (-128, 127)
    assert nx.int_range(16) == (-32768, 32767)
    assert nx.int_range(16, signed=False) == (0, 65535)
    v = np.array([-(2**40), -32769, -32768, -1, 0, 32767, 32768, 2**40])
    np.testing.assert_array_equal(nx.saturate(v, 16), [-32768, -32768, -32768, -1, 0, 32767, 32767, 32767])
    np.testing.assert_array_equal(nx.saturate(v, 8), [-128, -128, -128, -1, 0, 127, 127, 127])
    np.testing.assert_array_equal(nx.saturate(v, 8, signed=False), [0, 0, 0, 0, 0, 255, 255, 255])
    assert int(nx.saturate(300, 8)) == 127


# -- requantize ----------------------------------------------------------------------------


def _requant_def(acc, mult, shift):
    v = math.floor(Fraction(acc * mult, 2**shift) + Fraction(1, 2))
    return max(-32768, min(32767, v))


@pytest.mark.parametrize("acc, mult, shift, expected", [
    (2**31 - 1, 2**15 - 1, 0, 32767),      # far above: saturates, never wraps
    (-(2**31), 2**15 - 1, 0, -32768),      # far below
    (65535, 1, 1, 32767),                  # 32767.5 -> 32768 -> saturated 32767
    (65533, 1, 1, 32767),                  # 32766.5 -> 32767 exactly
    (-65536, 1, 1, -32768),                # -32768 exactly
    (-65537, 1, 1, -32768),                # -32768.5 -> -32768 (half up)
    (-65538, 1, 1, -32768),                # -32769 -> saturated
    (-3, 1, 1, -1),
    (12345, 0, 5, 0),                      # multiplier 0
])
def test_requantize_cases(acc, mult, shift, expected):
    assert int(nx.requantize(acc, mult, shift)) == expected == _requant_def(acc, mult, shift)


def test_requantize_random_matches_definition():
    rng = np.random.default_rng(2)
    acc = rng.integers(-(2**31), 2**31, 3000)
    mult = rng.integers(0, 2**15, 3000)
    shift = rng.integers(0, 63, 3000)
    got = nx.requantize(acc, mult, shift)
    assert got.min() >= -32768 and got.max() <= 32767
    np.testing.assert_array_equal(got, [_requant_def(int(a), int(m), int(s)) for a, m, s in zip(acc, mult, shift)])
    assert (got == 32767).any() and (got == -32768).any()  # the sample did reach both rails


# -- multiplier_and_shift ------------------------------------------------------------------


def test_multiplier_and_shift_accuracy():
    rng = np.random.default_rng(3)
    # every scale whose shift stays within SHIFT_MAX: [2**-47, 2**15)
    scales = np.concatenate([2.0 ** rng.uniform(-47, 15, 3000), 2.0 ** np.arange(-47, 15),
                             [1.0, 0.5, 3.0, 0.1, 32767.0, 2**15 * (1 - 2**-14)]])
    for s in scales:
        mult, shift = nx.multiplier_and_shift(float(s))
        assert isinstance(mult, int) and isinstance(shift, int)
        assert 2**14 <= mult < 2**15, (s, mult)  # normalised for full precision
        assert 0 <= shift <= 62
        approx = Fraction(mult, 2**shift)
        assert abs(approx - Fraction(float(s))) / Fraction(float(s)) < Fraction(1, 2**14), s


def test_multiplier_and_shift_tiny_scale_uses_the_largest_shift():
    s = 2.0**-55 * 1.7
    mult, shift = nx.multiplier_and_shift(s)
    assert shift == 62
    assert abs(mult - s * 2.0**62) <= 0.5


@pytest.mark.parametrize("scale", [0.0, -1.0, -1e-9, float("nan"), float("inf"), float("-inf")])
def test_multiplier_and_shift_rejects_non_positive_or_non_finite(scale):
    with pytest.raises(ValueError, match="positive and finite"):
        nx.multiplier_and_shift(scale)


@pytest.mark.parametrize("scale", [2.0**15, 40000.0, 1e12])
def test_multiplier_and_shift_rejects_too_large(scale):
    with pytest.raises(ValueError, match="too large"):
        nx.multiplier_and_shift(scale)


# -- theta ---------------------------------------------------------------------------------


@pytest.mark.parametrize("theta, expected", [
    (0.0, 0), (0.2, 51), (0.25, 64), (1.0, 256), (1 / 512, 1), (1 / 1024, 0), (3 / 512, 2),
    (0.1, 26), (255.0, 65280), (65535 / 256, 65535), (65535.49 / 256, 65535),
])
def test_theta_to_q(theta, expected):
    assert nx.theta_to_q(theta) == expected


@pytest.mark.parametrize("theta, match", [
    (-0.001, "non-negative"), (-1.0, "non-negative"), (float("nan"), "non-negative"), (float("inf"), "non-negative"),
    (256.0, "exceeds"), (65535.5 / 256, "exceeds"), (1e9, "exceeds"),
])
def test_theta_to_q_rejects(theta, match):
    with pytest.raises(ValueError, match=match):
        nx.theta_to_q(theta)


def test_within_threshold_matches_the_float_definition():
    rng = np.random.default_rng(4)
    n = 200_000
    cached = rng.integers(-300, 301, n)
    new = cached + rng.integers(-40, 41, n)
    theta_q = rng.integers(0, 600, n)
    got = nx.within_threshold(new, cached, theta_q)
    # |new - cached| <= theta * |cached|, theta = theta_q / 256: exact in float64 (dyadic, small)
    expected = np.abs(new - cached).astype(np.float64) <= (theta_q / 256.0) * np.abs(cached)
    np.testing.assert_array_equal(got, expected)
    assert 0.05 < got.mean() < 0.95  # both outcomes well represented


@pytest.mark.parametrize("new, cached, theta_q, expected", [
    (0, 0, 0, True), (1, 0, 65535, False), (-1, 0, 65535, False),  # cached 0: only equality
    (5, 5, 0, True), (6, 5, 0, False),
    (6, 5, 51, False),   # 1 <= 51/256*5 = 0.996: no
    (6, 5, 52, True),    # 1 <= 52/256*5 = 1.016: yes
    (5, 4, 64, True),    # 1 <= 64/256*4 = 1: equality counts
    (2, 4, 63, False),   # 2 <= 0.98: no
    (-32768, 32767, 65535, True), (32767, -32768, 512, True), (32767, -32768, 511, False),
])
def test_within_threshold_cases(new, cached, theta_q, expected):
    assert (abs(new - cached) <= Fraction(theta_q, 256) * abs(cached)) == expected  # the hand values
    assert bool(nx.within_threshold(new, cached, theta_q)) is expected


# -- BNN -----------------------------------------------------------------------------------


def test_sign_bits():
    v = np.array([-128, -1, 0, 1, 127])
    np.testing.assert_array_equal(nx.sign_bits(v), [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(nx.sign_bits(v, np.array([-128, 0, 1, 1, 127])), [1, 0, 0, 1, 1])
    assert nx.sign_bits(v).dtype == np.uint8


@pytest.mark.parametrize("n_bits", [1, 7, 63, 64, 65, 168, 2101])
def test_bnn_output_matches_xnor_popcount(n_bits):
    rng = np.random.default_rng(n_bits)
    in_bits = rng.integers(0, 2, (9, n_bits))
    w_bits = rng.integers(0, 2, (11, n_bits))
    in_bits[0] = w_bits[0]          # all equal: +N
    in_bits[1] = 1 - w_bits[1]      # all different: -N
    got = nx.bnn_output(in_bits, w_bits)
    assert got.shape == (9, 11) and got.dtype == np.int64
    expected = [[popcount_xnor_output(sum(int(b) << j for j, b in enumerate(a)),
                                      sum(int(b) << j for j, b in enumerate(w)), n_bits)
                 for w in w_bits] for a in in_bits]
    np.testing.assert_array_equal(got, expected)
    assert got[0, 0] == n_bits and got[1, 1] == -n_bits
    assert np.all((got + n_bits) % 2 == 0)


# -- element-wise cell arithmetic saturates ------------------------------------------------


def test_lstm_cell_saturates_cell_state_and_h():
    one = 32767
    # f = i = g = 1, c at the top: c' = c + 1 saturates at 32767 (wrapping would go negative)
    h, c = nx.lstm_cell(np.array([one]), np.array([one]), np.array([one]), np.array([one]), np.array([32767]))
    assert int(c[0]) == 32767
    assert int(h[0]) == 127  # o*tanh(16) ~ 127.99 -> 128 -> saturated to 127
    h, c = nx.lstm_cell(np.array([one]), np.array([one]), np.array([-one]), np.array([one]), np.array([-32768]))
    assert int(c[0]) == -32768
    assert int(h[0]) == -128


def test_gru_update_saturates():
    # n = +1 (32767), z = 0: h = n in Q0.7 = 32767/256 = 127.996 -> 128 -> saturated to 127
    assert int(nx.gru_update(np.array([32767]), np.array([0]), np.array([-128]))[0]) == 127
    # n = -1, z = 0: -127.996 -> -128
    assert int(nx.gru_update(np.array([-32767]), np.array([0]), np.array([127]))[0]) == -128
    # z ~ 1 keeps h
    assert int(nx.gru_update(np.array([-32767]), np.array([32767]), np.array([100]))[0]) == 100


def test_gru_candidate_pre_saturates():
    assert int(nx.gru_candidate_pre(32767, 32767, 32767)) == 32767
    assert int(nx.gru_candidate_pre(-32768, -32768, 32767)) == -32768


def test_cell_to_pre_saturates():
    np.testing.assert_array_equal(nx.cell_to_pre(np.array([-32768, -16385, -16384, 0, 16383, 16384, 32767])),
                                  [-32768, -32768, -32768, 0, 32766, 32767, 32767])


# -- PWL -----------------------------------------------------------------------------------

ALL_X = np.arange(-32768, 32768, dtype=np.int64)


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


@pytest.mark.parametrize("func, bound", [("sigmoid", 0.0005), ("tanh", 0.004)])
def test_pwl_max_error_default_segments(func, bound):
    assert nx.PWL_DEFAULT_SEGMENTS == 32
    err = nx.pwl_max_error(func)
    assert err <= bound
    # and it is what it says: recompute the error over every Q3.12 input independently
    y = nx.pwl_eval(nx.pwl_table(func), ALL_X) / 32768.0
    ref = {"sigmoid": _sigmoid, "tanh": np.tanh}[func](ALL_X / 4096.0)
    assert err == pytest.approx(np.abs(y - ref).max(), rel=1e-12)


@pytest.mark.parametrize("func", ["sigmoid", "tanh"])
def test_pwl_error_shrinks_with_segments(func):
    errors = [nx.pwl_max_error(func, s) for s in (8, 16, 32, 64)]
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < errors[0] / 8


@pytest.mark.parametrize("segments", nx.PWL_SEGMENT_CHOICES)
@pytest.mark.parametrize("func", ["sigmoid", "tanh"])
def test_pwl_eval_matches_the_documented_evaluation(func, segments):
    table = nx.pwl_table(func, segments)
    assert len(table.slope) == len(table.intercept) == segments
    assert all(0 <= s < 2**16 for s in table.slope) and all(0 <= b <= 32767 for b in table.intercept)
    got = nx.pwl_eval(table, ALL_X)
    xs = ALL_X[::97].tolist() + [-32768, -32767, -1, 0, 1, 32767]
    np.testing.assert_array_equal(got[np.array(xs) + 32768], [pwl(table, x) for x in xs])
    assert got.min() >= (0 if func == "sigmoid" else -32767) and got.max() <= 32767  # fits Q0.15


def test_pwl_rejects_bad_segment_counts():
    with pytest.raises(ValueError, match="segment"):
        nx.pwl_table("tanh", 12)


@pytest.mark.parametrize("segments", nx.PWL_SEGMENT_CHOICES)
@pytest.mark.parametrize("func", ["sigmoid", "tanh"])
def test_pwl_monotonic_everywhere(func, segments):
    y = nx.pwl_eval(nx.pwl_table(func, segments), ALL_X)
    assert np.all(np.diff(y) >= 0)


@pytest.mark.parametrize("segments", nx.PWL_SEGMENT_CHOICES)
def test_pwl_symmetry(segments):
    """sigmoid(-x) + sigmoid(x) = 1 and tanh(-x) = -tanh(x) for every x with -x representable."""
    x = np.arange(0, 32768, dtype=np.int64)
    sig = nx.pwl_table("sigmoid", segments)
    tnh = nx.pwl_table("tanh", segments)
    np.testing.assert_array_equal(nx.pwl_eval(sig, -x) + nx.pwl_eval(sig, x), 32768)
    np.testing.assert_array_equal(nx.pwl_eval(tnh, -x), -nx.pwl_eval(tnh, x))
    assert int(nx.pwl_eval(sig, 0)) == 16384 and int(nx.pwl_eval(tnh, 0)) == 0


@pytest.mark.parametrize("func", ["sigmoid", "tanh"])
@pytest.mark.parametrize("segments", [8, 32])
def test_pwl_lookup_equals_pwl_eval(func, segments):
    table = nx.pwl_table(func, segments)
    lut = nx.pwl_lut(func, segments)
    np.testing.assert_array_equal(nx.pwl_lookup(lut, ALL_X), nx.pwl_eval(table, ALL_X))
    assert not lut.flags.writeable
    # the convenience forms saturate first, which is what pwl_eval does beyond int16 too
    wide = np.array([-(2**40), -40000, -32769, 32768, 99999, 2**40])
    direct = {"sigmoid": nx.pwl_sigmoid, "tanh": nx.pwl_tanh}[func]
    np.testing.assert_array_equal(direct(wide, segments), nx.pwl_eval(table, wide))
    np.testing.assert_array_equal(direct(ALL_X, segments), nx.pwl_eval(table, ALL_X))


def test_bnn_rows_on_stacked_inputs():
    rng = np.random.default_rng(5)
    w_bits = rng.integers(0, 2, (6, 11))
    in_bits = rng.integers(0, 2, (3, 4, 11))
    got = nx.bnn_rows(w_bits)(in_bits)
    assert got.shape == (3, 4, 6) and got.dtype == np.int64
    for idx in np.ndindex(3, 4):
        np.testing.assert_array_equal(got[idx], nx.bnn_output(in_bits[idx][None], w_bits)[0])
        a = sum(int(b) << j for j, b in enumerate(in_bits[idx]))
        np.testing.assert_array_equal(got[idx], [popcount_xnor_output(a, sum(int(b) << j for j, b in enumerate(w)), 11)
                                                 for w in w_bits])
