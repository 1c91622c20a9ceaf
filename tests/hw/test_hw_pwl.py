# amaranth: UnusedElaboratable=no
"""PwlUnit against nx.pwl_eval, bit for bit."""

import numpy as np
from amaranth.hdl import Const
import pytest

from memornn.golden import numerics as nx
from memornn.hw.pwl import DualPwlUnit, PwlUnit
from memornn.hw.sharedmul import connect, pwl_multiplier

X_MIN, X_MAX = nx.int_range(nx.PRE_BITS)


class _DualOnSharedMul(DualPwlUnit):
    """A DualPwlUnit whose slope product goes to a shared multiplier (as in the core)."""

    def __init__(self, segments):
        super().__init__(segments, external_mul=pwl_multiplier(8, DualPwlUnit.dx_bits(segments)))

    def elaborate(self, platform):
        m = super().elaborate(platform)
        connect(m, [self], Const(0, 1), self._mul)
        return m


def _boundary_inputs(segments, rng, n_random):
    """Every segment boundary +-2 (both signs), the extremes, and random inputs."""
    width = 2 ** (nx.PRE_BITS - 1) // segments
    edges = np.arange(segments + 1) * width
    near = (edges[:, None] + np.arange(-2, 3)[None, :]).ravel()
    xs = np.concatenate([near, -near, [X_MIN, -1, 0, 1, X_MAX],
                         rng.integers(X_MIN, X_MAX + 1, n_random)])
    return np.clip(xs, X_MIN, X_MAX)


def _check(simulate, func, segments, xs, valid):
    cycles, got = simulate(PwlUnit(func, segments), {"x": xs, "in_valid": valid}, ["y"])
    expect = nx.pwl_eval(nx.pwl_table(func, segments), xs[valid == 1])
    assert np.array_equal(cycles, np.flatnonzero(valid) + PwlUnit.LATENCY)
    bad = np.flatnonzero(got["y"] != expect)
    assert bad.size == 0, (f"{bad.size} mismatches, first x={xs[valid == 1][bad[0]]}: "
                           f"got {got['y'][bad[0]]}, want {expect[bad[0]]}")


@pytest.mark.parametrize("func", ["sigmoid", "tanh"])
def test_pwl_every_input(simulate, func):
    """All 65536 Q3.12 inputs, one a cycle, at the default segment count."""
    xs = np.arange(X_MIN, X_MAX + 1)
    _check(simulate, func, nx.PWL_DEFAULT_SEGMENTS, xs, np.ones_like(xs))


@pytest.mark.parametrize("segments", [s for s in nx.PWL_SEGMENT_CHOICES if s != nx.PWL_DEFAULT_SEGMENTS])
@pytest.mark.parametrize("func", ["sigmoid", "tanh"])
def test_pwl_segment_counts(simulate, func, segments):
    """Boundaries, extremes and random inputs, with random bubbles, at other segment counts."""
    rng = np.random.default_rng(segments * 7 + len(func))
    xs = rng.permutation(_boundary_inputs(segments, rng, 1000))
    # Bubbles: invalid cycles carry garbage that must not come out.
    valid = (rng.random(xs.size) < 0.8).astype(np.int64)
    _check(simulate, func, segments, xs, valid)


def test_pwl_rejects_bad_arguments():
    with pytest.raises(ValueError, match="'relu'"):
        PwlUnit("relu")
    with pytest.raises(ValueError, match="12"):
        PwlUnit("tanh", 12)


@pytest.mark.parametrize("shared", [False, True], ids=["own-multiplier", "shared-multiplier"])
@pytest.mark.parametrize("segments", [nx.PWL_DEFAULT_SEGMENTS, 8])
def test_dual_pwl_switches_function_every_cycle(simulate, segments, shared):
    """DualPwlUnit: sigmoid or tanh chosen per input, mixed at random, with bubbles."""
    rng = np.random.default_rng(segments)
    xs = rng.permutation(_boundary_inputs(segments, rng, 4000))
    sel = rng.integers(0, 2, xs.size)
    valid = (rng.random(xs.size) < 0.9).astype(np.int64)
    unit = _DualOnSharedMul(segments) if shared else DualPwlUnit(segments)
    cycles, got = simulate(unit, {"x": xs, "sel": sel, "in_valid": valid}, ["y"])
    tables = [nx.pwl_table(f, segments) for f in DualPwlUnit.FUNCS]
    expect = np.where(sel == 1, nx.pwl_eval(tables[1], xs), nx.pwl_eval(tables[0], xs))[valid == 1]
    assert np.array_equal(cycles, np.flatnonzero(valid) + DualPwlUnit.LATENCY)
    assert np.array_equal(got["y"], expect)
    assert (sel[valid == 1] == 0).any() and (sel[valid == 1] == 1).any()
