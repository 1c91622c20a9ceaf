"""Per-step traces (evaluation/traces.py) against the golden model's outputs and decisions.

The traces recompute pre-activations and BNN outputs from a run's outputs. They are
right if (1) the documented cell update on the traced pre-activations gives the run's h
exactly, and (2) replaying the documented reuse rule on the traced values gives the
run's reuse masks exactly, for the bnn (checks yb) and the oracle (checks pre).
"""

import numpy as np
import pytest

from eval_testlib import replay_reuse, tiny_dataset, tiny_model
from memornn.evaluation.traces import layer_traces
from memornn.golden import numerics as nx
from memornn.golden.intmodel import golden_run
from memornn.golden.quantize import quantize_model

H = 4
CASES = [("lstm", 1, False), ("gru", 1, False), ("lstm", 2, True), ("gru", 2, False)]


@pytest.fixture(scope="module")
def data():
    return tiny_dataset(test=6, max_len=8)


def _qmodel(data, cell, layers, bidir):
    return quantize_model(tiny_model(cell, layers, bidir, hidden=H, seed=3), data.train)


def _cell_outputs(trace, cell):
    """h of each processing step from the traced pre-activations (no memoization)."""
    n, steps, _ = trace.pre.shape
    h = np.zeros((n, H), np.int64)
    c = np.zeros((n, H), np.int64)
    out = np.zeros((n, steps, H), np.int64)
    for s in range(steps):
        pre = trace.pre[:, s]
        if cell == "lstm":
            gates = [nx.pwl_sigmoid(pre[:, :H]), nx.pwl_sigmoid(pre[:, H:2 * H]), nx.pwl_tanh(pre[:, 2 * H:3 * H]),
                     nx.pwl_sigmoid(pre[:, 3 * H:])]
            h, c = nx.lstm_cell(*gates, c)
        else:
            r, z = nx.pwl_sigmoid(pre[:, :H]), nx.pwl_sigmoid(pre[:, H:2 * H])
            h = nx.gru_update(nx.pwl_tanh(nx.gru_candidate_pre(pre[:, 2 * H:], trace.pre_hn[:, s], r)), z, h)
        out[:, s] = h
    return out


@pytest.mark.parametrize("cell, layers, bidir", CASES)
def test_traces_reproduce_outputs(data, cell, layers, bidir):
    q = _qmodel(data, cell, layers, bidir)
    traces = layer_traces(q, data.test)
    assert [t.key for t in traces] == [f"l{k}{s}" for k in range(layers) for s in (["", "_reverse"] if bidir else [""])]
    final = golden_run(q, data.test, 0.0, "none")["h_int"]
    for d, trace in enumerate(traces[-q.directions:]):
        h = _cell_outputs(trace, cell)
        rows = np.arange(data.test.size)
        for s in range(trace.active.shape[1]):
            act = trace.active[:, s]
            np.testing.assert_array_equal(h[act, s], final[rows[act], trace.times[act, s], d * H:(d + 1) * H])


@pytest.mark.parametrize("cell, layers, bidir", CASES)
@pytest.mark.parametrize("predictor, theta, cap", [("bnn", 0.25, 0), ("bnn", 0.5, 2), ("oracle", 0.3, 0)])
def test_traces_replay_reuse_decisions(data, cell, layers, bidir, predictor, theta, cap):
    q = _qmodel(data, cell, layers, bidir)
    run = golden_run(q, data.test, theta, predictor, cap)
    traces = layer_traces(q, data.test, theta, predictor, cap)
    assert any(run[f"reused_{t.key}"].any() for t in traces)
    for trace in traces:
        np.testing.assert_array_equal(replay_reuse(trace, theta, predictor, cap, H), run[f"reused_{trace.key}"])
