"""The skip-policy flags of ``memornn golden`` and ``memornn simulate``: the same run as the
API, settings files, and bad input as one-line errors naming the value."""

import numpy as np
import pytest

from golden_testlib import random_qmodel, run_main
from memornn.golden.inputs import make_batch
from memornn.golden.intmodel import golden_run
from memornn.golden.options import RunOptions, save_settings

X, H = 3, 4


@pytest.fixture
def files(tmp_path):
    qmodel, rng = random_qmodel(51, "lstm", X, H, layers=2)
    qmodel.save(tmp_path / "q.npz")
    x = rng.standard_normal((3, 6, X)).cumsum(axis=1) * 0.3
    np.savez(tmp_path / "x.npz", x=x, lengths=np.array([6, 2, 5]))
    return {"dir": tmp_path, "qmodel": qmodel, "batch": make_batch(x, np.array([6, 2, 5])),
            "q": tmp_path / "q.npz", "x": tmp_path / "x.npz", "out": tmp_path / "out.npz"}


def _golden(f, *extra):
    return ["golden", "--model", f["q"], "--inputs", f["x"], "-o", f["out"], *extra]


@pytest.mark.parametrize("flags, options", [
    (["--predictor", "delta", "--delta-x", "2", "--delta-h", "1,3"], dict(delta_x=2, delta_h=[1, 3])),
    (["--predictor", "sign", "--threshold", "0.02", "--row-weights", "1", "--reuse-cap", "2"],
     dict(threshold=0.02, row_weights=1, reuse_cap=2)),
    (["--predictor", "hybrid", "--delta-x", "1", "--delta-h", "2", "--threshold", "0.01,0.03", "--reuse-cap", "4"],
     dict(delta_x=1, delta_h=2, threshold=[0.01, 0.03], reuse_cap=4)),
])
def test_flags_give_the_api_run(files, capsys, flags, options):
    code, out, err = run_main(_golden(files, *flags), capsys)
    assert code == 0, err
    predictor = flags[1]
    assert f"% of MACs skipped ({predictor})" in out
    expected = golden_run(files["qmodel"], files["batch"], RunOptions.parse(predictor, **options))
    with np.load(files["out"]) as got:
        assert set(got.files) == set(expected)
        for key in expected:
            np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


def test_settings_file_in_place_of_flags(files, capsys):
    options = RunOptions.parse("hybrid", delta_x=[1, 2], delta_h=3, threshold=0.02, reuse_cap=2, row_weights=1)
    save_settings(files["dir"] / "s.toml", options, files["qmodel"], {"max_loss": 1.0})
    code, _, err = run_main(_golden(files, "--settings", files["dir"] / "s.toml"), capsys)
    assert code == 0, err
    expected = golden_run(files["qmodel"], files["batch"], options)
    with np.load(files["out"]) as got:
        np.testing.assert_array_equal(got["h_int"], expected["h_int"])
        np.testing.assert_array_equal(got["macs"], expected["macs"])


def _other_model_settings(f):
    other, _ = random_qmodel(52, "lstm", X, H + 1, layers=2)
    save_settings(f["dir"] / "other.toml", RunOptions.parse("delta", delta_x=1, delta_h=1), other)
    return f["dir"] / "other.toml"


BAD = {
    "delta without delta-h": (["--predictor", "delta", "--delta-x", "2"], "predictor 'delta' needs --delta-h"),
    "delta-x out of range": (["--predictor", "delta", "--delta-x", "300", "--delta-h", "1"],
                             "--delta-x 300 is out of range"),
    "delta-h not an integer": (["--predictor", "delta", "--delta-x", "1", "--delta-h", "0.5"],
                               "delta_h '0.5' is not an integer"),
    "delta-x count": (["--predictor", "delta", "--delta-x", "1,2,3", "--delta-h", "1"],
                      "3 --delta-x values given for a model of 2 layers"),
    "sign threshold too large": (["--predictor", "sign", "--threshold", "3"], "threshold 3.0 exceeds"),
    "hybrid negative threshold": (["--predictor", "hybrid", "--delta-x", "1", "--delta-h", "1", "--threshold",
                                   "-0.1"], "non-negative"),
    "row weights": (["--predictor", "sign", "--threshold", "0.1", "--row-weights", "2"],
                    "--row-weights '2' is not one of 1, 3"),
    "flag the policy does not read": (["--predictor", "bnn", "--delta-x", "2"], "predictor 'bnn' takes no --delta-x"),
    "settings beside flags": (lambda f: ["--settings", _other_model_settings(f), "--threshold", "0.1"],
                              "--settings replaces --threshold"),
    "settings for another model": (lambda f: ["--settings", _other_model_settings(f)],
                                   "is for another model: hidden_size = 5, the model has 4"),
    "settings missing": (lambda f: ["--settings", f["dir"] / "none.toml"], "does not exist"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_policy_input(files, capsys, case):
    flags, words = BAD[case]
    flags = flags(files) if callable(flags) else flags
    code, out, err = run_main(_golden(files, *flags), capsys)
    assert code == 2 and "Traceback" not in err + out
    lines = err.splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and words in lines[0], err
    assert not files["out"].exists()


@pytest.mark.parametrize("policy", ["delta", "sign", "hybrid"])
def test_simulate_refuses_policies_the_hardware_lacks(files, capsys, policy):
    flags = {"delta": ["--delta-x", "1", "--delta-h", "1"], "sign": ["--threshold", "0.1"],
             "hybrid": ["--delta-x", "1", "--delta-h", "1", "--threshold", "0.1"]}[policy]
    code, _, err = run_main(["simulate", "--simulator", "amaranth", "--model", files["q"], "--inputs", files["x"],
                             "-o", files["out"], "--predictor", policy, *flags], capsys)
    assert code == 2
    assert err.splitlines() == [f"memornn simulate: error: predictor {policy!r} is not implemented by a "
                                f"skip = 'memo' build (it runs bnn and none; delta needs skip = \"delta\" in --config)"]
    assert not files["out"].exists()
