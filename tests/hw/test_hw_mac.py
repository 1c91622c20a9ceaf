# amaranth: UnusedElaboratable=no
"""MacLanes against NumPy dot products."""

import numpy as np
import pytest

from memornn.golden import numerics as nx
from memornn.hw.mac import MacLanes


def _schedule(rng, lanes, n_products, gap_prob):
    """Per-cycle drive columns for ``n_products`` random dot products, and their sums.

    Products are 1..6 beats long; each beat may be preceded by idle cycles (``in_valid``
    low, with garbage on every other input) or follow the previous one directly.
    """
    cols = {k: [] for k in ("weights", "acts", "in_valid", "first", "last")}
    expect, last_cycles = [], []
    lo, hi = nx.int_range(nx.WEIGHT_BITS)

    def beat(w, a, valid, first, last):
        cols["weights"].append(w)
        cols["acts"].append(a)
        cols["in_valid"].append(valid)
        cols["first"].append(first)
        cols["last"].append(last)

    for _ in range(n_products):
        beats = int(rng.integers(1, 7))
        w = rng.integers(lo, hi + 1, (beats, lanes))
        a = rng.integers(lo, hi + 1, (beats, lanes))
        if rng.random() < 0.1:  # extremes: the largest |sums|, both signs
            w[:] = lo
            a[:] = lo if rng.random() < 0.5 else hi
        for b in range(beats):
            while rng.random() < gap_prob:
                beat(rng.integers(lo, hi + 1, lanes), rng.integers(lo, hi + 1, lanes), 0,
                     int(rng.integers(0, 2)), int(rng.integers(0, 2)))
            beat(w[b], a[b], 1, int(b == 0), int(b == beats - 1))
        expect.append(int(np.sum(w * a)))
        last_cycles.append(len(cols["in_valid"]) - 1)
    return cols, np.array(expect), np.array(last_cycles)


@pytest.mark.parametrize("lanes", [1, 3, 4, 8, 16])
def test_mac_lanes(simulate, pack, lanes):
    rng = np.random.default_rng(lanes)
    dut = MacLanes(lanes)
    assert dut.LATENCY == MacLanes.latency_for(lanes)
    for gap_prob in (0.0, 0.3):  # back to back, then with gaps
        cols, expect, last_cycles = _schedule(rng, lanes, 300, gap_prob)
        cols["weights"] = pack(cols["weights"], nx.WEIGHT_BITS)
        cols["acts"] = pack(cols["acts"], nx.INPUT_BITS)
        cycles, got = simulate(MacLanes(lanes), cols, ["acc"])
        assert np.array_equal(cycles, last_cycles + dut.LATENCY)
        assert np.array_equal(got["acc"], expect)


def test_mac_rejects_bad_lanes():
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match=repr(bad).replace(".", r"\.")):
            MacLanes(bad)
