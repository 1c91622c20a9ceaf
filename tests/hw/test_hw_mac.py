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


@pytest.mark.parametrize("lanes", [1, 4, 8])
def test_mac_lanes_accumulate_apart(simulate, pack, lanes):
    """Column-wise work: with lane accumulators every lane sums its own products (one row
    per lane) over the same beats, out with the tree's sum, at the same latency."""
    rng = np.random.default_rng(100 + lanes)
    cols, expect, last_cycles = _schedule(rng, lanes, 200, 0.3)
    per_lane = []
    w_rows, a_rows = np.array(cols["weights"]), np.array(cols["acts"])
    acc = np.zeros(lanes, np.int64)
    for k in range(len(cols["in_valid"])):
        if cols["in_valid"][k]:
            acc = (0 if cols["first"][k] else acc) + w_rows[k] * a_rows[k]
            if cols["last"][k]:
                per_lane.append(acc.copy())
    cols["weights"] = pack(cols["weights"], nx.WEIGHT_BITS)
    cols["acts"] = pack(cols["acts"], nx.INPUT_BITS)
    dut = MacLanes(lanes, lane_accumulators=True)
    cycles, got = simulate(dut, cols, ["acc", "lane_acc"])
    assert np.array_equal(cycles, last_cycles + dut.LATENCY)
    assert np.array_equal(got["acc"], expect)
    mask = (1 << nx.ACC_BITS) - 1
    lane_sums = [[((int(word) >> (nx.ACC_BITS * j)) & mask) - ((int(word) >> (nx.ACC_BITS * j + nx.ACC_BITS - 1)) & 1)
                  * (1 << nx.ACC_BITS) for j in range(lanes)] for word in got["lane_acc"]]
    assert lane_sums == [[int(v) for v in row] for row in per_lane]
