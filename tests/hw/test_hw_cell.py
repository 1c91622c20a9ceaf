# amaranth: UnusedElaboratable=no
"""LstmCellUnit and GruCellUnit against the numerics functions, bit for bit."""

import itertools

import numpy as np
import pytest

from memornn.golden import numerics as nx
from memornn.hw.cell import GruCellUnit, LstmCellUnit

P_MIN, P_MAX = nx.int_range(nx.PRE_BITS)
C_MIN, C_MAX = nx.int_range(nx.CELL_BITS)
H_MIN, H_MAX = nx.int_range(nx.H_BITS)
PRE_EXTREMES = [P_MIN, P_MIN + 1, -1, 0, 1, P_MAX]


def _pre(rng, n):
    """Pre-activations: uniform over int16, and concentrated around 0 where the PWL bends."""
    return np.where(rng.random(n) < 0.5, rng.integers(P_MIN, P_MAX + 1, n),
                    np.clip(rng.normal(0, 6000, n), P_MIN, P_MAX).astype(np.int64))


def _simulate_checked(simulate, dut, drive, sample, n_rng):
    valid = (n_rng.random(len(next(iter(drive.values())))) < 0.9).astype(np.int64)
    cycles, got = simulate(dut, {**drive, "in_valid": valid}, sample)
    assert np.array_equal(cycles, np.flatnonzero(valid) + type(dut).LATENCY)
    return {k: c[valid == 1] for k, c in drive.items()}, got


def _lstm_ref(v, segments):
    """The gates with ``segments``' tables, then ``nx.lstm_cell`` as the golden model does."""
    sig = nx.pwl_table("sigmoid", segments)
    tanh = nx.pwl_table("tanh", segments)
    i, f, o = (nx.pwl_eval(sig, v[k]) for k in ("pre_i", "pre_f", "pre_o"))
    g = nx.pwl_eval(tanh, v["pre_g"])
    return nx.lstm_cell(i, f, g, o, v["c"], segments)


@pytest.mark.parametrize("segments", [nx.PWL_DEFAULT_SEGMENTS, 8])
def test_lstm_cell(simulate, segments):
    rng = np.random.default_rng(segments)
    n = 6000 if segments == nx.PWL_DEFAULT_SEGMENTS else 1000
    v = {k: _pre(rng, n) for k in ("pre_i", "pre_f", "pre_g", "pre_o")}
    v["c"] = np.where(rng.random(n) < 0.5, rng.integers(C_MIN, C_MAX + 1, n),
                      np.clip(rng.normal(0, 4000, n), C_MIN, C_MAX).astype(np.int64))
    # Corners: every gate and c at its extremes (saturates c_new and h both ways).
    corners = np.array(list(itertools.product([P_MIN, 0, P_MAX], [P_MIN, 0, P_MAX], [P_MIN, -1, 0, P_MAX],
                                              [P_MIN, 0, P_MAX], [C_MIN, -1, 0, 1, C_MAX])))
    for j, k in enumerate(("pre_i", "pre_f", "pre_g", "pre_o", "c")):
        v[k] = np.concatenate([corners[:, j], v[k]])
    used, got = _simulate_checked(simulate, LstmCellUnit(segments), v, ["h", "c_new"], rng)
    h, c_new = _lstm_ref(used, segments)
    assert np.array_equal(got["c_new"], c_new)
    assert np.array_equal(got["h"], h)
    assert {C_MIN, C_MAX} <= set(c_new.tolist()) and {H_MIN, H_MAX} <= set(h.tolist())


def _gru_ref(v, segments):
    sig = nx.pwl_table("sigmoid", segments)
    tanh = nx.pwl_table("tanh", segments)
    r, z = nx.pwl_eval(sig, v["pre_r"]), nx.pwl_eval(sig, v["pre_z"])
    n = nx.pwl_eval(tanh, nx.gru_candidate_pre(v["pre_n"], v["pre_hn"], r))
    return nx.gru_update(n, z, v["h"])


@pytest.mark.parametrize("segments", [nx.PWL_DEFAULT_SEGMENTS, 8])
def test_gru_cell(simulate, segments):
    rng = np.random.default_rng(100 + segments)
    n = 6000 if segments == nx.PWL_DEFAULT_SEGMENTS else 1000
    v = {k: _pre(rng, n) for k in ("pre_r", "pre_z", "pre_n", "pre_hn")}
    v["h"] = rng.integers(H_MIN, H_MAX + 1, n)
    corners = np.array(list(itertools.product([P_MIN, 0, P_MAX], [P_MIN, 0, P_MAX], PRE_EXTREMES,
                                              PRE_EXTREMES, [H_MIN, -1, 0, H_MAX])))
    for j, k in enumerate(("pre_r", "pre_z", "pre_n", "pre_hn", "h")):
        v[k] = np.concatenate([corners[:, j], v[k]])
    used, got = _simulate_checked(simulate, GruCellUnit(segments), v, ["h_new"], rng)
    expect = _gru_ref(used, segments)
    assert np.array_equal(got["h_new"], expect)
    assert {H_MIN, H_MAX} <= set(expect.tolist())


@pytest.mark.parametrize("cls", [LstmCellUnit, GruCellUnit])
def test_cell_rejects_bad_segments(cls):
    with pytest.raises(ValueError, match="24"):
        cls(24)
