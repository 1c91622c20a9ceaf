"""Requantizer against nx.requantize, bit for bit."""

import numpy as np
import pytest

from memornn.golden import numerics as nx
from memornn.hw.requant import Requantizer

A_MIN, A_MAX = nx.int_range(nx.ACC_BITS)
B_MIN, B_MAX = nx.int_range(nx.BIAS_BITS)
M_MAX = 2**nx.MULT_BITS - 1


def _vectors(rng):
    """(acc, bias, mult, shift) columns: random, realistic and corner cases."""
    rows = []
    # Uniform over every input's full range (acc + bias may exceed 32 bits: the 33-bit
    # sum must still be exact).
    n = 4000
    rows.append(np.stack([rng.integers(A_MIN, A_MAX + 1, n), rng.integers(B_MIN, B_MAX + 1, n),
                          rng.integers(0, M_MAX + 1, n), rng.integers(0, nx.SHIFT_MAX + 1, n)], 1))
    # Realistic: normalised multipliers, shifts that land near the Q3.12 range.
    n = 4000
    acc = rng.integers(-(2**20), 2**20, n)
    mult = rng.integers(2 ** (nx.MULT_BITS - 1), 2**nx.MULT_BITS, n)
    shift = rng.integers(14, 32, n)
    rows.append(np.stack([acc, rng.integers(-(2**16), 2**16, n), mult, shift], 1))
    # Exact halves, positive and negative: v * mult = (2k+1) * 2**(s-1).
    n = 600
    shift = rng.integers(1, 40, n)
    k = rng.integers(-200, 200, n)
    acc = (2 * k + 1) << (shift - 1)
    ok = (acc >= A_MIN) & (acc <= A_MAX)
    rows.append(np.stack([acc[ok], np.zeros(ok.sum(), np.int64), np.ones(ok.sum(), np.int64), shift[ok]], 1))
    # ... and halves split between acc and bias, and +-1 around them.
    for d in (-1, 0, 1):
        rows.append(np.stack([acc[ok] - 7 + d, np.full(ok.sum(), 7), np.ones(ok.sum(), np.int64), shift[ok]], 1))
    # Corners: shift 0 and SHIFT_MAX, saturation both ways, zero multiplier, extremes.
    corners = []
    for a in (A_MIN, A_MIN + 1, -1, 0, 1, A_MAX):
        for b in (B_MIN, -1, 0, 1, B_MAX):
            for mlt in (0, 1, 2 ** (nx.MULT_BITS - 1), M_MAX):
                for s in (0, 1, 2, 15, 31, 32, 46, 47, 48, 49, nx.SHIFT_MAX - 1, nx.SHIFT_MAX):
                    corners.append((a, b, mlt, s))
    # Just inside / outside the int16 range at shift 0 and shift 12.
    for s in (0, 12):
        for v in (-32769, -32768, -32767, 32766, 32767, 32768):
            corners.append((v << s, 0, 1, s))
            corners.append(((v << s) - (1 << s >> 1), 0, 1, s))  # rounding up into v
    rows.append(np.array(corners, np.int64))
    rows.append(_window_edges())
    vec = np.concatenate(rows)
    return vec[rng.permutation(len(vec))]


def _window_edges():
    """Products whose shifted value ``(2p) >> s`` lands on the edges of the shifter's
    kept window (+-2**17) and of the saturation limits, at every shift that reaches them,
    with the low bits below the shift all 0 or all 1."""
    rows = []
    edges = [2**17 + d for d in (-2, -1, 0, 1)] + [-(2**17) + d for d in (-2, -1, 0, 1)] \
        + [2**16 + d for d in (-3, -2, -1, 0, 1)] + [-(2**16) + d for d in (-3, -2, -1, 0, 1)]
    for s in range(1, nx.SHIFT_MAX + 1):
        for t in edges:
            for rest in (0, (1 << (s - 1)) - 1):
                p = t * (1 << (s - 1)) + rest  # (2p) >> s == t
                # p = total * mult with a power-of-two mult, total within the accumulator.
                m = max(0, min(nx.MULT_BITS - 1, abs(p).bit_length() - (nx.ACC_BITS - 1)))
                if p % (1 << m) == 0 and abs(p >> m) < 2 ** (nx.ACC_BITS - 1):
                    rows.append((p >> m, 0, 1 << m, s))
    assert len(rows) > 500
    return np.array(rows, np.int64)


@pytest.mark.parametrize("passes", [1, 2])
def test_requantizer(simulate, passes):
    rng = np.random.default_rng(1)
    vec = _vectors(rng)
    valid = (rng.random(len(vec)) < 0.9).astype(np.int64)
    if passes == 2:  # inputs at least two cycles apart, mostly exactly two
        for i in range(1, len(valid)):
            if valid[i] and valid[i - 1]:
                valid[i] = 0
    dut = Requantizer(passes)
    drive = {"acc": vec[:, 0], "bias": vec[:, 1], "mult": vec[:, 2], "shift": vec[:, 3], "in_valid": valid}
    cycles, got = simulate(dut, drive, ["pre"])
    assert np.array_equal(cycles, np.flatnonzero(valid) + dut.latency)
    used = vec[valid == 1]
    expect = nx.requantize(used[:, 0] + used[:, 1], used[:, 2], used[:, 3])
    bad = np.flatnonzero(got["pre"] != expect)
    assert bad.size == 0, f"{bad.size} mismatches, first (acc, bias, mult, shift)={tuple(used[bad[0]])}: " \
                          f"got {got['pre'][bad[0]]}, want {expect[bad[0]]}"
    # The vectors do reach both saturation limits and the rounding cases.
    assert {nx.int_range(nx.PRE_BITS)[0], nx.int_range(nx.PRE_BITS)[1]} <= set(expect.tolist())
