"""``memornn quantize`` and ``memornn golden``: the happy path and bad input.

Bad input must give a non-zero exit, exactly one stderr line with ``error:`` naming the
problem, no traceback, and no output file. Mostly in-process through
``memornn.cli.main``; a few through ``python -m memornn`` in a subprocess.
"""

import subprocess
import sys

import numpy as np
import pytest

from golden_testlib import random_float_arrays, run_main
from memornn.golden.inputs import load_inputs
from memornn.golden.intmodel import golden_run
from memornn.golden.qmodel import load_qmodel

X, H = 3, 5
COUNTER_KEYS = {"neurons_computed", "neurons_reused", "bnn_evals", "macs", "macs_skipped"}


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.fixture
def files(tmp_path):
    """A float model (LSTM, 2 layers, bidirectional), calibration and inputs, and its Q.npz."""
    rng = np.random.default_rng(41)
    f = {"dir": tmp_path}
    f["arrays"] = random_float_arrays(rng, "lstm", X, H, layers=2, bidirectional=True)
    f["model"] = _npz(tmp_path / "model.npz", **f["arrays"])
    f["calib"] = _npz(tmp_path / "calib.npz", x=rng.standard_normal((6, 8, X)), lengths=np.array([8, 3, 8, 5, 1, 8]))
    f["x"] = rng.standard_normal((4, 7, X))
    f["lengths"] = np.array([7, 2, 5, 7])
    f["inputs"] = _npz(tmp_path / "inputs.npz", x=f["x"], lengths=f["lengths"])
    f["q"] = tmp_path / "Q.npz"
    code, out, err = run_main_quiet(["quantize", "--model", f["model"], "--calibration", f["calib"], "-o", f["q"]])
    assert code == 0 and f["q"].is_file(), err
    f["out"] = tmp_path / "out.npz"
    return f


def run_main_quiet(argv):
    """main() without capsys (for fixtures): stdout/stderr go to the captured test output."""
    from memornn.cli import main

    return main([str(a) for a in argv]), "", ""


def _golden(f, *extra, inputs=None, model=None):
    return ["golden", "--model", model or f["q"], "--inputs", inputs or f["inputs"], "-o", f["out"], *extra]


# -- happy path ----------------------------------------------------------------------------------


def test_quantize_then_golden(files, capsys):
    f = files
    code, out, err = run_main(_golden(f, "--threshold", "0.1,0.3"), capsys)
    assert code == 0 and err == ""
    assert "4 sequences, 21 steps" in out and "wrote" in out
    with np.load(f["out"]) as data:
        result = {k: data[k] for k in data.files}
    masks = {f"reused_l{k}{s}" for k in range(2) for s in ("", "_reverse")}
    assert set(result) == {"h", "h_int"} | masks | COUNTER_KEYS
    n, t = f["x"].shape[:2]
    assert result["h"].shape == (n, t, 2 * H) and result["h"].dtype == np.float64
    assert result["h_int"].shape == (n, t, 2 * H) and result["h_int"].dtype == np.int8
    for key in masks:
        assert result[key].shape == (n, t, 4 * H) and result[key].dtype == np.bool_, key
    for key in COUNTER_KEYS:
        assert result[key].shape == (n,) and result[key].dtype == np.int64, key
    np.testing.assert_array_equal(result["h"] * 128, result["h_int"])
    # the same as the library call with the per-layer thresholds
    qmodel = load_qmodel(f["q"])
    expected = golden_run(qmodel, load_inputs(f["inputs"], X), [0.1, 0.3], "bnn", 0)
    for key in expected:
        np.testing.assert_array_equal(result[key], expected[key], err_msg=key)
    assert result["neurons_reused"].sum() > 0  # the default predictor (bnn) reused something
    # and the per-layer thresholds took effect: layer 1 differs from an all-0.1 run, layer 0 does not
    low = golden_run(qmodel, load_inputs(f["inputs"], X), 0.1, "bnn", 0)
    np.testing.assert_array_equal(result["reused_l0"], low["reused_l0"])
    assert result["reused_l1"].sum() > low["reused_l1"].sum()


@pytest.mark.parametrize("extra", [["--predictor", "none"], ["--predictor", "oracle", "--threshold", "0.05"],
                                   ["--reuse-cap", "2", "--threshold", "1"],
                                   ["--workers", "2", "--predictor", "oracle", "--threshold", "0.05"]])
def test_golden_options(files, capsys, extra):
    f = files
    code, out, err = run_main(_golden(f, *extra), capsys)
    assert code == 0, err
    opts = dict(zip(extra[::2], extra[1::2]))
    with np.load(f["out"]) as data:
        expected = golden_run(load_qmodel(f["q"]), load_inputs(f["inputs"]), opts.get("--threshold", "0.2"),
                              opts.get("--predictor", "bnn"), int(opts.get("--reuse-cap", 0)))
        for key in expected:
            np.testing.assert_array_equal(data[key], expected[key], err_msg=key)


def test_golden_on_npy_inputs_and_unidirectional_gru(tmp_path, capsys):
    rng = np.random.default_rng(42)
    model = _npz(tmp_path / "gru.npz", **random_float_arrays(rng, "gru", 2, 4))
    np.save(tmp_path / "calib.npy", rng.standard_normal((9, 2)))  # one sequence (T, X)
    q, out = tmp_path / "q" / "Q.npz", tmp_path / "out.npz"
    assert run_main(["quantize", "--model", model, "--calibration", tmp_path / "calib.npy", "--pwl-segments",
                     "64", "--no-offsets", "-o", q], capsys)[0] == 0
    np.save(tmp_path / "x.npy", rng.standard_normal((2, 6, 2)))
    code, stdout, _ = run_main(["golden", "--model", q, "--inputs", tmp_path / "x.npy", "-o", out], capsys)
    assert code == 0
    with np.load(out) as data:
        assert set(data.files) == {"h", "h_int", "reused_l0"} | COUNTER_KEYS
        assert data["reused_l0"].shape == (2, 6, 12)
    assert load_qmodel(q).pwl_segments == 64


def test_quantize_pt_file(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = torch.nn.GRU(3, 4, num_layers=2)
    torch.save({**module.state_dict(), "cell": "gru"}, tmp_path / "m.pt")
    np.save(tmp_path / "calib.npy", np.random.default_rng(43).standard_normal((5, 6, 3)))
    code, out, err = run_main(["quantize", "--model", tmp_path / "m.pt", "--calibration", tmp_path / "calib.npy",
                               "-o", tmp_path / "Q.npz"], capsys)
    assert code == 0, err
    assert "gru 2x4" in out
    assert load_qmodel(tmp_path / "Q.npz").num_layers == 2


def test_subprocess_happy_path(files):
    """Through ``python -m memornn``, with a worker process (it starts a fresh interpreter)."""
    f = files
    argv = _golden(f, "--predictor", "oracle", "--workers", "2")
    proc = subprocess.run([sys.executable, "-m", "memornn", *map(str, argv)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and "wrote" in proc.stdout
    with np.load(f["out"]) as data:
        expected = golden_run(load_qmodel(f["q"]), load_inputs(f["inputs"]), 0.2, "oracle")
        for key in expected:
            np.testing.assert_array_equal(data[key], expected[key], err_msg=key)


# -- bad input -----------------------------------------------------------------------------------


def _float_variant(f, change):
    arrays = dict(f["arrays"])
    change(arrays)
    return _npz(f["dir"] / "bad_model.npz", **arrays)


def _q_variant(f, change):
    with np.load(f["q"]) as data:
        arrays = {k: data[k] for k in data.files}
    change(arrays)
    return _npz(f["dir"] / "bad_q.npz", **arrays)


def _quantize(f, model=None, calib=None, *extra):
    return ["quantize", "--model", model or f["model"], "--calibration", calib or f["calib"], "-o", f["out"], *extra]


def _set(key, value):
    def change(arrays):
        arrays[key] = value
    return change


def _drop(key):
    return lambda arrays: arrays.pop(key)


def _poison(key, value):
    def change(arrays):
        arrays[key] = arrays[key].copy()
        arrays[key].flat[3] = value
    return change


def _text_file(f, name="bad.npz"):
    path = f["dir"] / name
    path.write_text("this is not an npz file\n")
    return path


def _npy_file(f, name="array.npy"):
    path = f["dir"] / name
    np.save(path, np.zeros((3, 3)))
    return path


BAD = {  # name: (argv builder, words the error line must contain)
    # float model (memornn quantize)
    "float missing key": (lambda f: _quantize(f, _float_variant(f, _drop("weight_ih_l1"))), "missing key 'weight_ih_l1'"),
    "float missing weight_hh_l0": (lambda f: _quantize(f, _float_variant(f, _drop("weight_hh_l0"))),
                                   "missing key 'weight_hh_l0'"),
    "float missing cell": (lambda f: _quantize(f, _float_variant(f, _drop("cell"))), "missing key 'cell'"),
    "float extra key": (lambda f: _quantize(f, _float_variant(f, _set("weight_xx_l0", np.ones(3)))),
                        "unknown key 'weight_xx_l0'"),
    "float wrong shape": (lambda f: _quantize(f, _float_variant(f, _set("weight_hh_l1", np.ones((20, 4))))),
                          "'weight_hh_l1' has shape (20, 4), expected (20, 5)"),
    "float bias wrong shape": (lambda f: _quantize(f, _float_variant(f, _set("bias_ih_l0_reverse", np.ones(19)))),
                               "'bias_ih_l0_reverse' has shape (19,)"),
    "float bad cell": (lambda f: _quantize(f, _float_variant(f, _set("cell", np.array("rnn")))),
                       "cell must be 'lstm' or 'gru', got 'rnn'"),
    "float NaN weight": (lambda f: _quantize(f, _float_variant(f, _poison("weight_ih_l0", np.nan))),
                         "'weight_ih_l0' contains NaN or inf"),
    "float inf bias": (lambda f: _quantize(f, _float_variant(f, _poison("bias_hh_l1", np.inf))),
                       "'bias_hh_l1' contains NaN or inf"),
    "float text file": (lambda f: _quantize(f, _text_file(f)), "not a readable .npz archive"),
    "float npy file": (lambda f: _quantize(f, _npy_file(f)), "not an .npz archive"),
    "float missing file": (lambda f: _quantize(f, f["dir"] / "nope.npz"), "does not exist"),
    "calibration NaN": (lambda f: _quantize(f, None, _npz(f["dir"] / "c.npz", x=np.full((2, 3, X), np.nan))),
                        "contains NaN or inf"),
    "calibration wrong size": (lambda f: _quantize(f, None, _npz(f["dir"] / "c.npz", x=np.ones((2, 3, X + 1)))),
                               "4 features per step, but the model takes 3"),
    "calibration empty": (lambda f: _quantize(f, None, _npz(f["dir"] / "c.npz", x=np.ones((2, 0, X)))),
                          "empty input"),
    "bad segments": (lambda f: _quantize(f, None, None, "--pwl-segments", "12"), "--pwl-segments"),
    "output not npz": (lambda f: _quantize(f)[:-1] + [f["dir"] / "out.txt"], "must end in .npz"),
    # quantized model (memornn golden)
    "Q missing key": (lambda f: _golden(f, model=_q_variant(f, _drop("mult_l1_reverse"))),
                      "missing key 'mult_l1_reverse'"),
    "Q extra key": (lambda f: _golden(f, model=_q_variant(f, _set("extra", np.ones(2)))), "unknown key 'extra'"),
    "Q wrong shape": (lambda f: _golden(f, model=_q_variant(f, _set("weight_l0", np.ones((20, 7), np.int8)))),
                      "'weight_l0' has shape (20, 7), expected (20, 8)"),
    "Q bad cell": (lambda f: _golden(f, model=_q_variant(f, _set("cell", np.array("rnn")))),
                   "cell must be 'lstm' or 'gru'"),
    "Q weight -128": (lambda f: _golden(f, model=_q_variant(f, _poison("weight_l1", -128))),
                      "'weight_l1' has values outside [-127, 127]"),
    "Q float weights": (lambda f: _golden(f, model=_q_variant(f, _set("weight_l0", np.ones((20, 8))))),
                        "'weight_l0' must be an integer array"),
    "Q NaN head": (lambda f: _golden(f, model=_q_variant(f, lambda a: a.update(
        head_weight=np.full((2, 10), np.nan), head_bias=np.zeros(2)))), "'head_weight' must hold finite numbers"),
    "Q text head": (lambda f: _golden(f, model=_q_variant(f, lambda a: a.update(
        head_weight=np.array([["a"] * 10] * 2), head_bias=np.zeros(2)))), "'head_weight' must hold finite numbers"),
    "Q wrong version": (lambda f: _golden(f, model=_q_variant(f, _set("version", np.array(2)))),
                        "schema version 2 is not supported"),
    "float model as Q": (lambda f: _golden(f, model=f["model"]), "not a memornn quantized model"),
    "Q text file": (lambda f: _golden(f, model=_text_file(f)), "not a readable .npz archive"),
    "Q missing file": (lambda f: _golden(f, model=f["dir"] / "missing.npz"), "does not exist"),
    "inputs NaN": (lambda f: _golden(f, inputs=_npz(f["dir"] / "i.npz", x=np.where(f["x"] > 1, np.nan, f["x"]))),
                   "contains NaN or inf"),
    "inputs inf npy": (lambda f: _golden(f, inputs=_inf_npy(f)), "contains NaN or inf"),
    "inputs wrong size": (lambda f: _golden(f, inputs=_npz(f["dir"] / "i.npz", x=np.ones((2, 4, 2)))),
                          "2 features per step, but the model takes 3"),
    "inputs empty sequence": (lambda f: _golden(f, inputs=_empty_npy(f)), "empty input"),
    "inputs zero length": (lambda f: _golden(f, inputs=_npz(f["dir"] / "i.npz", x=f["x"],
                                                             lengths=np.array([7, 0, 5, 7]))),
                           "lengths must be in [1, 7]"),
    "inputs extra key": (lambda f: _golden(f, inputs=_npz(f["dir"] / "i.npz", x=f["x"], mask=np.ones(4))),
                         "unknown key 'mask'"),
    "inputs text file": (lambda f: _golden(f, inputs=_text_file(f, "x.npy")), "not a readable .npy array"),
    "inputs missing file": (lambda f: _golden(f, inputs=f["dir"] / "nothing.npz"), "does not exist"),
    "negative threshold": (lambda f: _golden(f, "--threshold", "-0.1"), "non-negative"),
    "threshold count": (lambda f: _golden(f, "--threshold", "0.1,0.2,0.3"), "3 thresholds given for a model of 2"),
    "threshold not a number": (lambda f: _golden(f, "--threshold", "abc"), "'abc' is not a number"),
    "threshold too large": (lambda f: _golden(f, "--threshold", "300"), "exceeds"),
    "unknown predictor": (lambda f: _golden(f, "--predictor", "magic"), "invalid choice: 'magic'"),
    "reuse cap too large": (lambda f: _golden(f, "--reuse-cap", "256"), "reuse cap must be an integer in [0, 255]"),
    "reuse cap negative": (lambda f: _golden(f, "--reuse-cap", "-1"), "'-1' is below 0"),
    "workers zero": (lambda f: _golden(f, "--workers", "0"), "'0' is below 1"),
    "workers not an integer": (lambda f: _golden(f, "--workers", "two"), "'two' is not an integer"),
    "missing option": (lambda f: ["golden", "--model", f["q"], "-o", f["out"]], "--inputs"),
}


def _inf_npy(f):
    x = f["x"].copy()
    x[1, 1, 1] = -np.inf
    np.save(f["dir"] / "inf.npy", x)
    return f["dir"] / "inf.npy"


def _empty_npy(f):
    np.save(f["dir"] / "empty.npy", np.zeros((0, X)))
    return f["dir"] / "empty.npy"


def _check_error(code, out, err, words, output):
    assert code != 0
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), err
    assert "error:" in lines[0]
    assert words in lines[0], lines[0]
    assert not output.exists()
    assert not list(output.parent.glob("*.tmp.npz"))


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_in_process(files, capsys, case):
    build, words = BAD[case]
    argv = build(files)
    capsys.readouterr()
    code, out, err = run_main(argv, capsys)
    _check_error(code, out, err, words, files["out"])
    assert code == 2


@pytest.mark.parametrize("case", ["inputs NaN", "unknown predictor", "float missing file", "float model as Q"])
def test_bad_input_subprocess(files, case):
    build, words = BAD[case]
    argv = [str(a) for a in build(files)]
    proc = subprocess.run([sys.executable, "-m", "memornn", *argv], capture_output=True, text=True, timeout=120)
    _check_error(proc.returncode, proc.stdout, proc.stderr, words, files["out"])
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith(f"memornn {argv[0]}: error: ")
