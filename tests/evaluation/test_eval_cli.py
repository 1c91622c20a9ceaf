"""``memornn sweep``: the happy path on a tiny model and the digits data, and bad input.

Bad input must give a non-zero exit and one stderr line naming the problem.
"""

import json
import sys

import pytest

from eval_testlib import run_main
from memornn.golden.randmodel import random_float_model


@pytest.fixture
def model8(tmp_path):
    """A tiny float model that fits the digits data (8 features, 10 classes)."""
    path = tmp_path / "m.npz"
    random_float_model("lstm", 1, False, 8, 4, classes=10, seed=5).save(path)
    return path


def test_sweep_digits(model8, tmp_path, capsys):
    pytest.importorskip("sklearn")
    out = tmp_path / "out"
    code, stdout, err = run_main(["sweep", "--model", model8, "--dataset", "digits", "--thresholds", "0:0.2:0.1",
                                  "--limit", "20", "--reuse-cap", "3", "--no-offsets", "--quiet", "-o", out], capsys)
    assert code == 0, err
    assert "m on digits (20 test sequences)" in stdout
    res = json.loads((out / "sweep.json").read_text())
    assert (res["dataset"], res["test_sequences"], res["reuse_cap"], res["offsets"]) == ("digits", 20, 3, False)
    assert res["val_sequences"] == 20 and all("val_loss" in p for p in res["points"])
    assert [(p["predictor"], p["threshold"]) for p in res["points"]] == [
        (p, t) for p in ("bnn", "oracle") for t in (0.0, 0.1, 0.2)]
    assert (out / "sweep.csv").read_text().count("\n") == 7
    assert (out / "sweep.png").stat().st_size > 1000


@pytest.mark.parametrize("args, words", [
    (["--dataset", "mnist"], "unknown dataset 'mnist'"),
    (["--dataset", "digits", "--thresholds", "0:0.6"], "start:stop:step"),
    (["--dataset", "digits", "--thresholds", "0:x:0.1"], "not a number"),
    (["--dataset", "digits", "--predictor", "bnn,magic"], "unknown predictor 'magic'"),
    (["--dataset", "digits", "--reuse-cap", "-1"], "is below 0"),
    (["--dataset", "digits", "--limit", "0"], "--limit"),
])
def test_bad_arguments(model8, tmp_path, capsys, args, words):
    code, stdout, err = run_main(["sweep", "--model", model8, *args, "--quiet", "-o", tmp_path / "out"], capsys)
    assert code != 0
    assert words in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_model_without_head(tmp_path, capsys):
    pytest.importorskip("sklearn")
    path = tmp_path / "nohead.npz"
    random_float_model("gru", 1, False, 8, 4, seed=5).save(path)
    code, _, err = run_main(["sweep", "--model", path, "--dataset", "digits", "--quiet", "-o", tmp_path / "o"], capsys)
    assert code == 2 and "no classifier head" in err


@pytest.mark.parametrize("dataset, module", [("digits", "sklearn.datasets"), ("japanesevowels", "aeon.datasets")])
def test_missing_data_extra(model8, tmp_path, capsys, monkeypatch, dataset, module):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    code, _, err = run_main(["sweep", "--model", model8, "--dataset", dataset, "-o", tmp_path / "o"], capsys)
    assert code == 2
    assert "pip install 'memornn[data]'" in err and len(err.strip().splitlines()) == 1
