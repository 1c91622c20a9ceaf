# amaranth: UnusedElaboratable=no
"""BnnLane against nx.bnn_output (yb = 2*matches - N)."""

import numpy as np
import pytest

from memornn.golden import numerics as nx
from memornn.hw.bnn import BnnLane


def _bits_to_int(bits):
    return sum(int(b) << j for j, b in enumerate(bits))


def _word(rng, width):
    """A random ``width``-bit int (any width)."""
    return int.from_bytes(rng.bytes(-(-width // 8)), "little") & ((1 << width) - 1)


def _schedule(rng, width, rows, gap_prob):
    """Drive columns for ``rows`` (list of (in_bits, w_bits) 0/1 arrays), chunked by ``width``.

    The tail chunk is partial: its mask covers the row's remaining bits and the bits
    outside it are random, so they must be masked off. Idle cycles carry garbage.
    """
    cols = {k: [] for k in ("in_bits", "w_bits", "mask", "in_valid", "first", "last")}
    last_cycles = []
    full = (1 << width) - 1

    def beat(i, w, mask, valid, first, last):
        for k, v in zip(cols, (i, w, mask, valid, first, last)):
            cols[k].append(v)

    for in_bits, w_bits in rows:
        n = len(in_bits)
        chunks = -(-n // width)
        for c in range(chunks):
            while rng.random() < gap_prob:
                beat(_word(rng, width), _word(rng, width), _word(rng, width),
                     0, int(rng.integers(0, 2)), int(rng.integers(0, 2)))
            lo, hi = c * width, min((c + 1) * width, n)
            mask = (1 << (hi - lo)) - 1
            junk_i = _word(rng, width) & ~mask & full
            junk_w = _word(rng, width) & ~mask & full
            beat(_bits_to_int(in_bits[lo:hi]) | junk_i, _bits_to_int(w_bits[lo:hi]) | junk_w, mask,
                 1, int(c == 0), int(c == chunks - 1))
        last_cycles.append(len(cols["in_valid"]) - 1)
    return cols, np.array(last_cycles)


@pytest.mark.parametrize("width", [8, 16, 64])
def test_bnn_lane(simulate, width):
    rng = np.random.default_rng(width)
    rows = []
    for _ in range(250):
        n = int(rng.integers(1, 5 * width))
        in_bits = rng.integers(0, 2, n)
        # Mostly random weights; some rows (all or no matches) hit the extremes.
        w_bits = {0: in_bits, 1: 1 - in_bits}.get(int(rng.integers(0, 8)), rng.integers(0, 2, n))
        rows.append((in_bits, w_bits))
    latency = BnnLane.latency_for(width)
    for gap_prob in (0.0, 0.3):
        cols, last_cycles = _schedule(rng, width, rows, gap_prob)
        dut = BnnLane(width, max_bits=5 * width)
        assert dut.LATENCY == latency
        cycles, got = simulate(dut, cols, ["matches"])
        assert np.array_equal(cycles, last_cycles + latency)
        n_bits = np.array([len(i) for i, _ in rows])
        yb = np.array([nx.bnn_output(i, w[None, :])[0] for i, w in rows])
        assert np.array_equal(2 * got["matches"] - n_bits, yb)


def test_bnn_longest_row(simulate):
    """A row of max_bits (default 2**16) bits, all matching: ``matches`` must not wrap."""
    width = 64
    dut = BnnLane(width)
    beats = 2**16 // width
    ones = (1 << width) - 1
    cols = {"in_bits": [ones] * beats, "w_bits": [ones] * beats, "mask": [ones] * beats,
            "in_valid": [1] * beats, "first": [1] + [0] * (beats - 1), "last": [0] * (beats - 1) + [1]}
    cycles, got = simulate(dut, cols, ["matches"])
    assert cycles.tolist() == [beats - 1 + dut.LATENCY]
    assert got["matches"].tolist() == [2**16]


def test_bnn_latency():
    assert [BnnLane.latency_for(b) for b in (1, 8, 9, 16, 64, 65)] == [2, 2, 3, 3, 5, 6]


def test_bnn_rejects_bad_arguments():
    with pytest.raises(ValueError, match="0"):
        BnnLane(0)
    with pytest.raises(ValueError, match="'8'"):
        BnnLane("8")
    with pytest.raises(ValueError, match="-3"):
        BnnLane(8, max_bits=-3)
