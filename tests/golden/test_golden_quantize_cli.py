"""``memornn quantize``: the summary it prints, ``--report``, ``--method``, and bad calibration
input (one-line errors, nothing written)."""

import json

import numpy as np
import pytest

from golden_testlib import random_float_arrays, run_main
from memornn.golden.qmodel import load_qmodel


@pytest.fixture
def setup(tmp_path):
    rng = np.random.default_rng(51)
    arrays = random_float_arrays(rng, "lstm", 4, 6, layers=2)
    arrays["head_weight"] = rng.standard_normal((3, 6))
    arrays["head_bias"] = rng.standard_normal(3)
    np.savez(tmp_path / "m.npz", **arrays)
    x = rng.uniform(0, 1, (8, 7, 4))
    x[:, :, 1] = 0.0  # a dead feature
    np.savez(tmp_path / "calib.npz", x=x)
    return tmp_path


def _quantize(d, *extra, calib=None):
    return ["quantize", "--model", d / "m.npz", "--calibration", calib or d / "calib.npz", "-o", d / "Q.npz", *extra]


def test_summary_and_report(setup, capsys):
    d = setup
    code, out, err = run_main(_quantize(d, "--report", d / "sub" / "r.json"), capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert "quantized (mse) with 8 calibration sequences" in lines[0] and "r.json" in lines[0]
    assert lines[1].startswith("  layer 0: SQNR dB i ") and "1 dead features [1]" in lines[1]
    assert lines[2].startswith("  layer 1: SQNR dB i ")
    assert lines[3].startswith("  output vs float: max |diff|") and "class agreement" in lines[3]
    assert len(lines) == 4
    report = json.loads((d / "sub" / "r.json").read_text())
    assert report["method"] == "mse" and report["calibration_sequences"] == 8
    assert [e["layer"] for e in report["layers"]] == [0, 1]
    assert report["layers"][0]["dead_features"] == [1]
    assert set(report["layers"][1]["sqnr_db"]) == {"i", "f", "g", "o", "h"}
    assert {"row", "gate", "unit", "rms_error", "rms_float", "clip", "saturated_weights"} == set(
        report["layers"][0]["worst_rows"][0])
    assert load_qmodel(d / "Q.npz").num_layers == 2


def test_minmax_method_is_the_old_quantizer(setup, capsys):
    d = setup
    code, out, err = run_main(_quantize(d, "--method", "minmax"), capsys)
    assert code == 0, err
    assert load_qmodel(d / "Q.npz").input_scale[1] == 1.0  # the old rule for an always-zero feature


@pytest.mark.parametrize("calib, words", [
    (np.zeros((3, 5, 4)), "calibration inputs are all zero (3 sequences)"),
    (np.ones((3, 5, 6)), "6 features per step, but the model takes 4"),
])
def test_bad_calibration_writes_nothing(setup, capsys, calib, words):
    d = setup
    np.save(d / "bad.npy", calib)
    code, out, err = run_main(_quantize(d, "--report", d / "r.json", calib=d / "bad.npy"), capsys)
    assert code != 0 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert words in err, err
    assert not (d / "Q.npz").exists() and not (d / "r.json").exists()


def test_report_must_be_json(setup, capsys):
    d = setup
    code, out, err = run_main(_quantize(d, "--report", d / "r.txt"), capsys)
    assert code != 0 and "report file" in err and "must end in .json" in err
    assert not (d / "Q.npz").exists()


def test_module_only_for_pt(setup, capsys):
    d = setup
    code, out, err = run_main(_quantize(d, "--module", "rnn"), capsys)
    assert code != 0 and "--module 'rnn' applies to .pt files only" in err
