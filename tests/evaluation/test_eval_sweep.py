"""The threshold sweep, its results files and best_threshold (evaluation/sweep.py, results.py, plot.py)."""

import csv
import json

import numpy as np
import pytest

from eval_testlib import tiny_dataset, tiny_model
from memornn.evaluation.datasets import Dataset
from memornn.evaluation.metrics import macs_avoided_percent, reuse_by_gate, reuse_percent
from memornn.evaluation.plot import plot_sweep
from memornn.evaluation.results import read_json, write_csv, write_json
from memornn.evaluation.sweep import best_threshold, check_predictors, max_reuse_within_loss, run_sweep
from memornn.golden.errors import MemornnError
from memornn.golden.floatref import apply_head, float_forward, last_outputs
from memornn.golden.inputs import make_batch

THETAS = [0.0, 0.1, 0.3, 1.0]


@pytest.fixture(scope="module")
def data():
    return tiny_dataset()


@pytest.mark.parametrize("cell, layers, bidir", [("lstm", 1, False), ("gru", 1, False), ("lstm", 2, True)])
def test_sweep_points(data, cell, layers, bidir):
    model = tiny_model(cell, layers, bidir)
    res = run_sweep(model, data, THETAS, ("bnn", "oracle"), name="tiny", show_progress=False)
    assert [(p["predictor"], p["threshold"]) for p in res["points"]] == [
        (pr, t) for pr in ("bnn", "oracle") for t in THETAS]
    scores = apply_head(model, last_outputs(float_forward(model, data.test), data.test.lengths))
    assert res["float_accuracy"] == pytest.approx(100 * np.mean(scores.argmax(1) == data.y_test))
    gates = {"lstm": ["i", "f", "g", "o"], "gru": ["r", "z", "n"]}[cell]
    assert res["gates"] == gates
    layer_keys = [f"l{k}{s}" for k in range(layers) for s in (["", "_reverse"] if bidir else [""])]
    for p in res["points"]:
        assert p["loss"] == pytest.approx(res["int_accuracy"] - p["accuracy"])
        assert list(p["reuse_by_gate"]) == layer_keys
        assert all(list(g) == gates for g in p["reuse_by_gate"].values())
        assert 0 <= p["reuse"] <= 100 and 0 <= p["macs_avoided"] <= 100
        if layers == 1:  # one layer direction: every gate has H rows, and every row the same MACs
            assert np.mean(list(p["reuse_by_gate"]["l0"].values())) == pytest.approx(p["reuse"])
            assert p["macs_avoided"] == pytest.approx(p["reuse"])
    # The oracle at theta 0 reuses only identical pre-activations: nothing changes.
    assert res["points"][len(THETAS)]["accuracy"] == res["int_accuracy"]
    # More threshold, no less reuse (here, for the oracle on this data).
    oracle = [p["reuse"] for p in res["points"] if p["predictor"] == "oracle"]
    assert oracle == sorted(oracle) and oracle[-1] > 0
    assert set(res["best"]) == {"bnn", "oracle"}


def test_options_recorded(data):
    model = tiny_model()
    res = run_sweep(model, data, [0.2], ("bnn",), reuse_cap=1, use_offsets=False, limit=4, show_progress=False)
    assert (res["reuse_cap"], res["offsets"], res["test_sequences"]) == (1, False, 4)
    assert res["points"][0]["reuse"] <= 50.0 + 1e-9  # with cap 1, at most every other evaluation is reused


def test_reuse_by_gate_counts_only_valid_steps():
    batch = make_batch(np.zeros((2, 3, 1)), np.array([3, 1]))
    mask = np.zeros((2, 3, 6), bool)  # GRU, H = 2
    mask[0, :, 0] = True  # r, neuron 0 of sequence 0 at its 3 steps
    mask[1, 2, :] = True  # padding: ignored
    out = reuse_by_gate({"reused_l0": mask}, batch, "gru")
    assert out == {"l0": {"r": pytest.approx(100 * 3 / 8), "z": 0.0, "n": 0.0}}
    counters = {"neurons_reused": np.array([3, 1]), "neurons_computed": np.array([9, 3]),
                "macs_skipped": np.array([30, 0]), "macs": np.array([60, 10])}
    assert reuse_percent(counters) == 25.0
    assert macs_avoided_percent(counters) == 30.0


def _results(losses, test_losses=None):
    test_losses = test_losses or [9.0] * len(losses)
    return {"points": [{"predictor": "bnn", "threshold": t, "val_loss": loss, "val_macs_avoided": 10.0 * i,
                        "loss": tl, "reuse": 10 * i} for i, ((t, loss), tl) in enumerate(zip(losses, test_losses))]}


def test_best_threshold_is_chosen_on_validation():
    # Budget: max loss 1 - margin 0.5 = 0.5 points of validation loss.
    assert best_threshold(_results([(0.0, 0.0), (0.1, 0.5), (0.2, 1.0), (0.3, 1.5)])) == 0.1
    assert best_threshold(_results([(0.0, 0.0), (0.1, 1.0), (0.2, 0.8)]), margin=0.0) == 0.2
    assert best_threshold(_results([(0.0, 0.0), (0.1, 1.1), (0.2, 0.8)]), margin=0.0) == 0.0
    # A threshold past a failing one does not qualify even when it passes.
    assert best_threshold(_results([(0.0, 0.0), (0.1, 1.2), (0.2, 0.0)])) == 0.0
    assert best_threshold(_results([(0.0, 1.5), (0.1, 2.0)])) is None
    assert best_threshold(_results([(0.0, 0.5), (0.1, 1.5)]), max_loss=2.0) == 0.1
    assert best_threshold(_results([(0.0, 0.0)]), predictor="oracle") is None
    # The test losses play no part: poisoning them changes nothing.
    val = [(0.0, 0.0), (0.1, 0.2), (0.2, 0.4), (0.3, 0.9)]
    assert best_threshold(_results(val, [0, 5, 50, 0])) == best_threshold(_results(val, [0, 0, 0, 0])) == 0.2
    assert max_reuse_within_loss(_results([(0.0, 0.0), (0.1, 0.5), (0.2, 3.0)]), "bnn")["threshold"] == 0.1
    no_val = {"points": [{"predictor": "bnn", "threshold": 0.1, "loss": 0.0}]}
    assert best_threshold(no_val) is None  # never chosen on the test figures


def test_sweep_with_a_validation_split():
    d = tiny_dataset(train=12, test=10, seed=3)
    v = tiny_dataset(train=2, test=8, seed=4)
    data = Dataset("tiny", d.train, d.y_train, d.test, d.y_test, 3, v.test, v.y_test)
    res = run_sweep(tiny_model(), data, [0.0, 0.3, 2.0], ("oracle",), show_progress=False)
    assert res["val_sequences"] == 8
    assert all("val_loss" in p and "val_macs_avoided" in p for p in res["points"])
    assert res["points"][0]["val_loss"] == 0.0  # the oracle at theta 0 changes nothing
    assert res["best"]["oracle"] is not None


def test_bad_input(data):
    model = tiny_model()
    with pytest.raises(MemornnError, match="no classifier head"):
        run_sweep(tiny_model(classes=0), data, [0.1], show_progress=False)
    with pytest.raises(MemornnError, match="features"):
        run_sweep(tiny_model(input_size=5), data, [0.1], show_progress=False)
    with pytest.raises(MemornnError, match="classes"):
        run_sweep(tiny_model(classes=4), data, [0.1], show_progress=False)
    with pytest.raises(MemornnError, match="unknown predictor 'none'"):
        run_sweep(model, data, [0.1], ("bnn", "none"), show_progress=False)
    with pytest.raises(MemornnError, match="reuse cap"):
        run_sweep(model, data, [0.1], reuse_cap=-1, show_progress=False)
    with pytest.raises(MemornnError, match="non-negative"):
        run_sweep(model, data, [-0.1], show_progress=False)
    assert check_predictors("oracle, bnn,oracle") == ["oracle", "bnn"]
    with pytest.raises(MemornnError, match="empty"):
        check_predictors("bnn,")


def test_result_files(data, tmp_path):
    res = run_sweep(tiny_model("gru"), data, [0.0, 0.5], name="tiny", show_progress=False)
    write_json(res, tmp_path / "r" / "s.json")
    write_csv(res, tmp_path / "r" / "s.csv")
    plot_sweep(res, str(tmp_path / "r" / "s.png"))
    assert read_json(tmp_path / "r" / "s.json") == json.loads(json.dumps(res))
    with open(tmp_path / "r" / "s.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and rows[0]["predictor"] == "bnn" and rows[0]["model"] == "tiny"
    assert {"reuse_l0_r", "reuse_l0_z", "reuse_l0_n"} <= set(rows[0])
    assert float(rows[3]["reuse"]) == pytest.approx(res["points"][3]["reuse"], abs=1e-4)
    assert (tmp_path / "r" / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(MemornnError, match="not valid JSON"):
        (tmp_path / "bad.json").write_text("{")
        read_json(tmp_path / "bad.json")
