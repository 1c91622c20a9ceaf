# amaranth: UnusedElaboratable=no
"""DecisionUnit against nx.within_threshold and the reuse-cap rule of the golden model."""

import itertools

import numpy as np
import pytest
from amaranth.hdl import Const

from memornn.golden import numerics as nx
from memornn.hw.decision import DecisionUnit
from memornn.hw.sharedmul import connect, pwl_multiplier

CAP_MAX = nx.REUSE_CAP_MAX


class _DecisionOnSharedMul(DecisionUnit):
    """A DecisionUnit whose threshold product goes to a shared multiplier (as in the core)."""

    def __init__(self, yb_bits):
        super().__init__(yb_bits, external_mul=pwl_multiplier(yb_bits, 4))

    def elaborate(self, platform):
        m = super().elaborate(platform)
        connect(m, [self], Const(0, 1), self._mul)
        return m


def _expect(v):
    """Golden decision (nx.reuse_decision on nx.within_threshold) and the next run counter."""
    close = nx.within_threshold(v["yb"], v["yb_m"], v["theta"])
    reuse = np.zeros(len(close), bool)
    run_next = np.zeros(len(close), np.int64)
    for cap in np.unique(v["cap"]):  # the cap is one number per decision rule
        at = v["cap"] == cap
        reuse[at], run_next[at] = nx.reuse_decision(close[at], v["run"][at], int(cap), v["step0"][at] == 0)
    return reuse.astype(np.int64), run_next


def _run(simulate, yb_bits, v, rng, make=DecisionUnit):
    valid = (rng.random(len(v["yb"])) < 0.9).astype(np.int64)
    dut = make(yb_bits)
    cycles, got = simulate(dut, {**v, "in_valid": valid}, ["reuse", "run_next"])
    assert np.array_equal(cycles, np.flatnonzero(valid) + DecisionUnit.LATENCY)
    reuse, run_next = _expect({k: c[valid == 1] for k, c in v.items()})
    bad = np.flatnonzero((got["reuse"] != reuse) | (got["run_next"] != run_next))
    assert bad.size == 0, f"{bad.size} mismatches, first: " + repr(
        {k: int(c[valid == 1][bad[0]]) for k, c in v.items()})
    return reuse


def test_decision_exhaustive_small(simulate):
    """Every (yb, yb_m) pair at yb_bits=4, over edge thetas; runs/caps at their edges."""
    rng = np.random.default_rng(4)
    lo, hi = nx.int_range(4)
    thetas = [0, 1, 128, 255, 256, 257, 384, 512, 1024, nx.THETA_MAX_Q]
    grid = np.array(list(itertools.product(range(lo, hi + 1), range(lo, hi + 1), thetas)))
    n = len(grid)
    caps = rng.choice([0, 1, 2, CAP_MAX], n)
    runs = np.clip(caps + rng.integers(-2, 2, n), 0, CAP_MAX)
    v = {"yb": grid[:, 0], "yb_m": grid[:, 1], "theta": grid[:, 2], "run": runs, "cap": caps,
         "step0": (rng.random(n) < 0.1).astype(np.int64)}
    reuse = _run(simulate, 4, v, rng)
    assert 0 < reuse.sum() < len(reuse)


@pytest.mark.parametrize("make", [DecisionUnit, _DecisionOnSharedMul], ids=["own-multiplier", "shared-multiplier"])
@pytest.mark.parametrize("yb_bits", [10, 18])
def test_decision_random(simulate, yb_bits, make):
    rng = np.random.default_rng(yb_bits)
    lo, hi = nx.int_range(yb_bits)
    n = 3000
    yb_m = rng.integers(lo, hi + 1, n)
    # Half the pairs are near each other (where the threshold matters), some equal.
    near = np.clip(yb_m + (yb_m * rng.normal(0, 0.3, n)).astype(np.int64) + rng.integers(-2, 3, n), lo, hi)
    yb = np.where(rng.random(n) < 0.5, near, rng.integers(lo, hi + 1, n))
    yb_m[:40] = 0                                  # cached 0: reuse only on an exact match
    yb[:20] = 0
    yb[100:140], yb_m[100:140] = lo, hi            # the widest differences
    yb[140:180], yb_m[140:180] = hi, lo
    yb_m[180:220] = lo                             # |yb_m| = 2**(yb_bits-1) exactly
    theta = rng.choice([0, nx.THETA_MAX_Q, 1, 26, 51, 128, 256, 1000], n)
    theta[n // 2:] = rng.integers(0, nx.THETA_MAX_Q + 1, n - n // 2)
    cap = rng.choice([0, 0, 1, 4, CAP_MAX - 1, CAP_MAX], n)
    run = np.where(rng.random(n) < 0.5, np.clip(cap + rng.integers(-1, 2, n), 0, CAP_MAX),
                   rng.integers(0, CAP_MAX + 1, n))
    run[220:260], cap[220:260] = CAP_MAX, 0        # no cap, counter at its top: saturates
    v = {"yb": yb, "yb_m": yb_m, "theta": theta, "run": run, "cap": cap,
         "step0": (rng.random(n) < 0.05).astype(np.int64)}
    v["step0"][220:260] = 0
    v["theta"][220:260] = nx.THETA_MAX_Q
    assert _expect(v)[0][220:260].any()           # the saturating case does occur
    reuse = _run(simulate, yb_bits, v, rng, make)
    assert 0.1 < reuse.mean() < 0.9


def test_decision_rejects_bad_width():
    with pytest.raises(ValueError, match="0"):
        DecisionUnit(0)
