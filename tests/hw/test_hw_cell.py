# amaranth: UnusedElaboratable=no
"""The cell units (LstmCellUnit, GruCellUnit and their shared-datapath versions) against
the numerics functions, bit for bit."""

import itertools

import numpy as np
import pytest

from memornn.golden import numerics as nx
from memornn.hw.cell import GruCellUnit, LstmCellUnit
from memornn.hw.cell_shared import SharedGruCell, SharedLstmCell

P_MIN, P_MAX = nx.int_range(nx.PRE_BITS)
C_MIN, C_MAX = nx.int_range(nx.CELL_BITS)
H_MIN, H_MAX = nx.int_range(nx.H_BITS)
PRE_EXTREMES = [P_MIN, P_MIN + 1, -1, 0, 1, P_MAX]


def _pre(rng, n):
    """Pre-activations: uniform over int16, and concentrated around 0 where the PWL bends."""
    return np.where(rng.random(n) < 0.5, rng.integers(P_MIN, P_MAX + 1, n),
                    np.clip(rng.normal(0, 6000, n), P_MIN, P_MAX).astype(np.int64))


def _valid_schedule(rng, items, cls):
    """A valid strobe with ``items`` pulses that keeps ``cls``' issue contract.

    Pulses ``INTERVAL`` cycles apart mostly, sometimes two or three intervals, sometimes
    ``LATENCY`` or more (not a multiple); a one-cycle unit gets random bubbles.
    """
    if cls.INTERVAL == 1:
        gaps = 1 + (rng.random(items) < 0.1) * rng.integers(1, 3, items)
    else:
        kind = rng.random(items)
        gaps = np.where(kind < 0.8, cls.INTERVAL,
                        np.where(kind < 0.95, cls.INTERVAL * rng.integers(2, 4, items),
                                 cls.LATENCY + rng.integers(0, cls.INTERVAL, items)))
    starts = np.concatenate([[0], np.cumsum(gaps[:-1])])
    valid = np.zeros(starts[-1] + 1, dtype=np.int64)
    valid[starts] = 1
    return valid


def _simulate_checked(simulate, dut, items, sample, rng, garbage):
    """Feed ``items`` (dict of equal-length arrays) on a contract-keeping schedule.

    Cycles without a pulse carry ``garbage(n)`` values, which must not reach an output.
    """
    n = len(next(iter(items.values())))
    valid = _valid_schedule(rng, n, type(dut))
    drive = {}
    for k, vals in items.items():
        drive[k] = garbage[k](valid.size)
        drive[k][valid == 1] = vals
    cycles, got = simulate(dut, {**drive, "in_valid": valid}, sample)
    assert np.array_equal(cycles, np.flatnonzero(valid) + type(dut).LATENCY)
    return got


def _lstm_ref(v, segments):
    """The gates with ``segments``' tables, then ``nx.lstm_cell`` as the golden model does."""
    sig = nx.pwl_table("sigmoid", segments)
    tanh = nx.pwl_table("tanh", segments)
    i, f, o = (nx.pwl_eval(sig, v[k]) for k in ("pre_i", "pre_f", "pre_o"))
    g = nx.pwl_eval(tanh, v["pre_g"])
    return nx.lstm_cell(i, f, g, o, v["c"], segments)


def _cell_state(rng, n):
    return np.where(rng.random(n) < 0.5, rng.integers(C_MIN, C_MAX + 1, n),
                    np.clip(rng.normal(0, 4000, n), C_MIN, C_MAX).astype(np.int64))


LSTM_GARBAGE = {**{k: (lambda n, r=np.random.default_rng(1): _pre(r, n)) for k in ("pre_i", "pre_f", "pre_g", "pre_o")},
                "c": lambda n, r=np.random.default_rng(2): _cell_state(r, n)}
GRU_GARBAGE = {**{k: (lambda n, r=np.random.default_rng(3): _pre(r, n)) for k in ("pre_r", "pre_z", "pre_n", "pre_hn")},
               "h": lambda n, r=np.random.default_rng(4): r.integers(H_MIN, H_MAX + 1, n)}


@pytest.mark.parametrize("cls", [LstmCellUnit, SharedLstmCell])
@pytest.mark.parametrize("segments", [nx.PWL_DEFAULT_SEGMENTS, 8])
def test_lstm_cell(simulate, cls, segments):
    rng = np.random.default_rng(segments)
    n = (6000 if segments == nx.PWL_DEFAULT_SEGMENTS else 1000) // cls.INTERVAL
    v = {k: _pre(rng, n) for k in ("pre_i", "pre_f", "pre_g", "pre_o")}
    v["c"] = _cell_state(rng, n)
    # Corners: every gate and c at its extremes (saturates c_new and h both ways).
    corners = np.array(list(itertools.product([P_MIN, 0, P_MAX], [P_MIN, 0, P_MAX], [P_MIN, -1, 0, P_MAX],
                                              [P_MIN, 0, P_MAX], [C_MIN, -1, 0, 1, C_MAX])))
    for j, k in enumerate(("pre_i", "pre_f", "pre_g", "pre_o", "c")):
        v[k] = np.concatenate([corners[:, j], v[k]])
    got = _simulate_checked(simulate, cls(segments), v, ["h", "c_new"], rng, LSTM_GARBAGE)
    h, c_new = _lstm_ref(v, segments)
    assert np.array_equal(got["c_new"], c_new)
    assert np.array_equal(got["h"], h)
    assert {C_MIN, C_MAX} <= set(c_new.tolist()) and {H_MIN, H_MAX} <= set(h.tolist())


def _gru_ref(v, segments):
    sig = nx.pwl_table("sigmoid", segments)
    tanh = nx.pwl_table("tanh", segments)
    r, z = nx.pwl_eval(sig, v["pre_r"]), nx.pwl_eval(sig, v["pre_z"])
    n = nx.pwl_eval(tanh, nx.gru_candidate_pre(v["pre_n"], v["pre_hn"], r))
    return nx.gru_update(n, z, v["h"])


@pytest.mark.parametrize("cls", [GruCellUnit, SharedGruCell])
@pytest.mark.parametrize("segments", [nx.PWL_DEFAULT_SEGMENTS, 8])
def test_gru_cell(simulate, cls, segments):
    rng = np.random.default_rng(100 + segments)
    n = (6000 if segments == nx.PWL_DEFAULT_SEGMENTS else 1000) // cls.INTERVAL
    v = {k: _pre(rng, n) for k in ("pre_r", "pre_z", "pre_n", "pre_hn")}
    v["h"] = rng.integers(H_MIN, H_MAX + 1, n)
    corners = np.array(list(itertools.product([P_MIN, 0, P_MAX], [P_MIN, 0, P_MAX], PRE_EXTREMES,
                                              PRE_EXTREMES, [H_MIN, -1, 0, H_MAX])))
    for j, k in enumerate(("pre_r", "pre_z", "pre_n", "pre_hn", "h")):
        v[k] = np.concatenate([corners[:, j], v[k]])
    got = _simulate_checked(simulate, cls(segments), v, ["h_new"], rng, GRU_GARBAGE)
    expect = _gru_ref(v, segments)
    assert np.array_equal(got["h_new"], expect)
    assert {H_MIN, H_MAX} <= set(expect.tolist())


@pytest.mark.parametrize("cls", [LstmCellUnit, GruCellUnit, SharedLstmCell, SharedGruCell])
def test_cell_rejects_bad_segments(cls):
    with pytest.raises(ValueError, match="24"):
        cls(24)
