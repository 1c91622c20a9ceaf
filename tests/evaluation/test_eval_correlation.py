"""The change correlation of BNN outputs and pre-activations (evaluation/correlation.py)."""

import numpy as np
import pytest

from eval_testlib import tiny_dataset, tiny_model
from memornn.evaluation.correlation import (_ranks, change_correlation, consecutive_changes, pearson,
                                            per_neuron_pearson, spearman)
from memornn.evaluation.traces import LayerTrace
from memornn.golden.quantize import quantize_model


def test_statistics():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    assert pearson(a, b) == pytest.approx(np.corrcoef(a, b)[0, 1])
    assert np.isnan(pearson(a, np.ones(50)))
    np.testing.assert_array_equal(_ranks(np.array([3.0, 1.0, 3.0, 2.0])), [3.5, 1.0, 3.5, 2.0])
    assert spearman(a, np.exp(a)) == pytest.approx(1.0)
    cols = per_neuron_pearson(np.stack([a, a, a], 1), np.stack([b, -a, np.zeros(50)], 1))
    assert cols[0] == pytest.approx(pearson(a, b)) and cols[1] == pytest.approx(-1.0) and np.isnan(cols[2])


def test_consecutive_changes_pair_only_active_steps():
    yb = np.array([[[1], [4], [2], [9]]])
    trace = LayerTrace("l0", np.array([[True, True, True, False]]), np.array([[0, 1, 2, 0]]), 10 * yb, None, yb)
    ch = consecutive_changes(trace)
    np.testing.assert_array_equal(ch["dyb"][:, 0], [3, -2])
    np.testing.assert_array_equal(ch["dpre"][:, 0], [30, -20])
    np.testing.assert_allclose(ch["rel_yb"][:, 0], [3, 0.5])
    np.testing.assert_allclose(ch["rel_pre"][:, 0], [3, 0.5])


@pytest.mark.parametrize("cell, layers", [("lstm", 2), ("gru", 1)])
def test_change_correlation(cell, layers):
    data = tiny_dataset(test=8, max_len=8)
    q = quantize_model(tiny_model(cell, layers, hidden=6, seed=1), data.train)
    res = change_correlation(q, data.test)
    assert list(res["layers"]) == [f"l{k}" for k in range(layers)]
    for stats in [res] + list(res["layers"].values()):
        for key in ("pearson_mean", "pearson_median", "spearman_relative", "pearson_levels_mean"):
            assert -1.0 <= stats[key] <= 1.0
    assert res["pairs"] == int((data.test.lengths - 1).sum())
    assert set(res["layers"]["l0"]["pearson_by_gate"]) == ({"i", "f", "g", "o"} if cell == "lstm" else {"r", "z", "n"})
