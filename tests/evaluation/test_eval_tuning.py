"""Choosing a policy's settings on validation data (evaluation/tuning.py, memornn tune)."""

import numpy as np
import pytest

from eval_testlib import run_main, tiny_dataset, tiny_model
from memornn.evaluation.tuning import (POLICY_SPACES, Param, ValidationSet, check_max_loss, choose, heldout_point,
                                       tune)
from memornn.golden.errors import MemornnError
from memornn.golden.floatref import apply_head, last_outputs
from memornn.golden.intmodel import golden_run
from memornn.golden.options import load_settings
from memornn.golden.quantize import quantize_model


def _evaluator(loss_of, macs_of, calls=None):
    def evaluate(setting):
        if calls is not None:
            calls.append(dict(setting))
        return {"setting": dict(setting), "loss": loss_of(setting), "macs_skipped": macs_of(setting)}
    return evaluate


def test_choose_one_parameter_stops_at_the_first_failure():
    space = (Param("threshold", (0.0, 0.1, 0.2, 0.3, 0.4)),)
    losses = {0.0: 0.0, 0.1: 0.2, 0.2: 1.5, 0.3: 0.1, 0.4: 3.0}  # 0.3 passes alone, past a failure
    best, points = choose(_evaluator(lambda s: losses[s["threshold"]], lambda s: 100 * s["threshold"]), space, 1.0)
    assert best["setting"] == {"threshold": 0.1}
    assert len(points) == 5
    assert choose(_evaluator(lambda s: 2.0, lambda s: 0.0), space, 1.0)[0] is None


def test_choose_two_parameters_exhaustive():
    # Feasible region: a + b <= 3 (indices); MACs favour b. Down-closed, so the answer is
    # the feasible point with the most MACs: a=0, b=3 (macs 30) beats a=1, b=2 (macs 21).
    space = (Param("a", (0, 1, 2, 3)), Param("b", (0, 1, 2, 3)))
    best, points = choose(_evaluator(lambda s: float(s["a"] + s["b"] > 3), lambda s: s["a"] + 10 * s["b"]), space,
                          0.5)
    assert best["setting"] == {"a": 0, "b": 3} and len(points) == 16
    # A failure at (0, 2): (0, 3) and (1, 2) pass but sit above it, so they do not
    # qualify; the best of the rest is (2, 1) with 12 MACs.
    hole = lambda s: float(s["a"] + s["b"] > 3 or (s["a"], s["b"]) == (0, 2))  # noqa: E731
    best, _ = choose(_evaluator(hole, lambda s: s["a"] + 10 * s["b"]), space, 0.5)
    assert best["setting"] == {"a": 2, "b": 1}


def test_choose_greedy_on_a_large_space():
    grid = tuple(range(10))
    space = (Param("x", grid), Param("y", grid), Param("z", grid))  # 1000 points: greedy
    calls = []
    # Loss grows with x + y + z; MACs reward x most. Greedy walks x up to the budget, then
    # y, then z can no longer move.
    best, points = choose(_evaluator(lambda s: 0.1 * (s["x"] + s["y"] + s["z"]),
                                     lambda s: 3 * s["x"] + 2 * s["y"] + s["z"], calls), space, 0.7)
    assert best["setting"] == {"x": 7, "y": 0, "z": 0}
    assert len(calls) == len(points) < 40


def test_none_policy_and_bad_values():
    best, points = choose(_evaluator(lambda s: 0.0, lambda s: 0.0), POLICY_SPACES["none"], 0.0)
    assert best["setting"] == {} and len(points) == 1
    assert check_max_loss("1.5") == 1.5
    for bad in ("-0.1", "nan", "101", "x"):
        with pytest.raises(MemornnError, match="--max-loss"):
            check_max_loss(bad)


@pytest.fixture(scope="module")
def tiny():
    data = tiny_dataset(train=12, test=16, max_len=8)
    model = tiny_model("gru", hidden=6)
    return quantize_model(model, data.train), data


def test_losses_against_an_independent_count(tiny):
    qmodel, data = tiny
    batch, labels = data.test, data.y_test
    val = ValidationSet(qmodel, batch, labels)
    assert val.kind == "accuracy"

    def decisions(result):
        return apply_head(qmodel, last_outputs(result["h"], batch.lengths)).argmax(1)

    base = decisions(golden_run(qmodel, batch, 0.0, "none"))
    out = golden_run(qmodel, batch, 0.6, "bnn")
    point = val.point("bnn", {"threshold": 0.6})
    right, right_now = base == labels, decisions(out) == labels
    assert point["accuracy_loss"] == pytest.approx(100 * (np.mean(right) - np.mean(right_now)))
    assert point["loss"] == pytest.approx(100 * np.mean(right & ~right_now))  # gains do not offset losses
    assert point["loss"] >= point["accuracy_loss"]
    skipped = out["macs_skipped"].sum()
    assert point["macs_skipped"] == pytest.approx(100 * skipped / (skipped + out["macs"].sum()))
    agree = ValidationSet(qmodel, batch).point("bnn", {"threshold": 0.6})
    assert agree["loss"] == pytest.approx(100 * np.mean(decisions(out) != base))
    half = np.arange(batch.size) < 8
    sub = val.point("bnn", {"threshold": 0.6}, half)
    assert sub["loss"] == pytest.approx(100 * np.mean((right & ~right_now)[half]))


def test_output_loss_without_a_head():
    data = tiny_dataset()
    qmodel = quantize_model(tiny_model(classes=0), data.train)
    val = ValidationSet(qmodel, data.test)
    assert val.kind == "output"
    h0 = last_outputs(golden_run(qmodel, data.test, 0.0, "none")["h"], data.test.lengths)
    h1 = last_outputs(golden_run(qmodel, data.test, 2.0, "oracle")["h"], data.test.lengths)
    assert val.point("oracle", {"threshold": 2.0})["loss"] == pytest.approx(100 * np.abs(h1 - h0).sum()
                                                                           / np.abs(h0).sum())
    with pytest.raises(MemornnError, match="no classifier head"):
        ValidationSet(qmodel, data.test, data.y_test, "accuracy")


def test_tune_reads_only_the_validation_batch(tiny, monkeypatch):
    qmodel, data = tiny
    seen = []
    import memornn.evaluation.tuning as tuning

    real = tuning.golden_run
    monkeypatch.setattr(tuning, "golden_run", lambda m, b, *a, **k: seen.append(b) or real(m, b, *a, **k))
    val = ValidationSet(qmodel, data.train, data.y_train)
    result = tune(val, "bnn", 5.0, margin=1.0)
    assert seen and all(b is data.train for b in seen)
    assert result.budget == 4.0 and result.best is not None
    assert result.best["loss"] <= 4.0
    held = heldout_point(qmodel, data.test, data.y_test, "bnn", result.best["setting"])
    assert seen[-1] is data.test and set(held) == {"setting", "loss", "accuracy_loss", "macs_skipped"}


# ---- the command line ------------------------------------------------------------------

@pytest.fixture
def files(tiny, tmp_path):
    qmodel, data = tiny
    qmodel.save(tmp_path / "q.npz")
    np.savez(tmp_path / "val.npz", x=data.train.x, lengths=data.train.lengths, y=data.y_train)
    np.savez(tmp_path / "nolabels.npz", x=data.train.x, lengths=data.train.lengths)
    np.savez(tmp_path / "test.npz", x=data.test.x, lengths=data.test.lengths, y=data.y_test)
    rng = np.random.default_rng(7)  # the test split poisoned: other labels, other inputs
    np.savez(tmp_path / "poisoned.npz", x=rng.normal(size=data.test.x.shape), lengths=data.test.lengths,
             y=rng.integers(0, 3, data.test.size))
    return tmp_path


def _settings(path):
    return [line for line in path.read_text().splitlines() if not line.startswith("heldout_")]


def test_cli_tune_and_poisoned_test_split(tiny, files, capsys):
    base = ["tune", "--model", files / "q.npz", "--inputs", files / "val.npz", "--predictor", "oracle",
            "--max-loss", "5", "--margin", "1"]
    code, out, err = run_main(base + ["--test", files / "test.npz", "-o", files / "a.toml"], capsys)
    assert code == 0, err
    assert "held out (16 test sequences)" in out and "wrote" in out
    code, out2, err = run_main(base + ["--test", files / "poisoned.npz", "-o", files / "b.toml"], capsys)
    assert code == 0, err
    assert _settings(files / "a.toml") == _settings(files / "b.toml")  # the choice ignores the test split
    options, selection = load_settings(files / "a.toml", tiny[0])  # the format golden --settings reads
    assert options.predictor == "oracle" and options.threshold[0] in POLICY_SPACES["oracle"][0].grid
    assert selection["max_loss"] == 5.0 and selection["validation_loss"] <= 4.0
    assert selection["heldout_sequences"] == 16
    assert out.splitlines()[0] == out2.splitlines()[0]


@pytest.mark.parametrize("args, words", [
    (["--predictor", "magic"], "unknown predictor 'magic'"),
    (["--max-loss", "-1"], "--max-loss '-1'"),
    (["--max-loss", "abc"], "--max-loss 'abc' is not a number"),
    (["--margin", "-2"], "margin"),
    (["--inputs", "nolabels.npz", "--loss", "accuracy"], "no labels"),
    (["-o", "out.txt"], "must end in .toml"),
    (["--max-loss", "0", "--predictor", "bnn", "--margin", "0", "--inputs", "poisoned.npz"], "no setting of bnn"),
])
def test_cli_bad_input(files, capsys, args, words):
    opts = {"--model": "q.npz", "--inputs": "val.npz", "--predictor": "bnn", "--max-loss": "1", "-o": "out.toml"}
    for k, v in zip(args[::2], args[1::2]):
        opts[k] = v
    argv = ["tune"] + [a for k, v in opts.items()
                       for a in (k, files / v if k in ("--model", "--inputs", "-o") else v)]
    code, _, err = run_main(argv, capsys)
    assert code != 0
    assert words in err and len(err.strip().splitlines()) == 1
    assert not list(files.glob("out.*"))


@pytest.mark.parametrize("predictor", ["delta", "sign", "hybrid"])
def test_cli_tunes_every_policy(files, tiny, capsys, predictor):
    """The written settings reproduce the chosen point when golden runs them."""
    out = files / f"{predictor}.toml"
    code, stdout, err = run_main(["tune", "--model", files / "q.npz", "--inputs", files / "val.npz", "--predictor",
                                  predictor, "--max-loss", "10", "--margin", "2", "-o", out], capsys)
    assert code == 0, err
    qmodel, data = tiny
    options, selection = load_settings(out, qmodel)
    assert options.predictor == predictor and selection["validation_loss"] <= 8.0
    res = golden_run(qmodel, data.train, options)
    skipped = res["macs_skipped"].sum()
    assert selection["validation_macs_skipped"] == pytest.approx(100 * skipped / (skipped + res["macs"].sum()))
    if predictor == "hybrid":
        assert options.reuse_cap == 4
