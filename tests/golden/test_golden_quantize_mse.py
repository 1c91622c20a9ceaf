"""The clipping-search quantizer (method "mse", golden/quantize.py) and the calibration
report (golden/quantreport.py), checked against their documented definitions."""

import numpy as np
import pytest

from golden_testlib import random_float_arrays, random_float_model, random_lengths
from memornn.golden.floatmodel import model_from_arrays
from memornn.golden.floatref import float_forward
from memornn.golden.inputs import make_batch
from memornn.golden.intmodel import golden_run
from memornn.golden.quantize import ALPHAS, RIDGE, quantize_model
from memornn.golden.quantreport import calibration_report, summary_lines


def _prev_h(h, lengths, reverse):
    """h_(t-1) in processing order, written out one sequence at a time."""
    prev = np.zeros_like(h)
    for n, length in enumerate(lengths):
        for t in range(length):
            src = t + 1 if reverse else t - 1
            if 0 <= src < length:
                prev[n, t] = h[n, src]
    return prev


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_row_scales_minimise_the_calibration_error_over_the_candidates(cell):
    rng = np.random.default_rng(31)
    hidden, x_size = 6, 4
    arrays = random_float_arrays(rng, cell, x_size, hidden, layers=2, bidirectional=True)
    arrays["weight_ih_l0"][:, 2] *= 25  # an outlier column: clipping it must pay off on some rows
    model = model_from_arrays(arrays)
    lengths = random_lengths(rng, 12, 9)
    calib = make_batch(rng.standard_normal((12, 9, x_size)), lengths)
    qmodel = quantize_model(model, calib)
    _, outs = float_forward(model, calib, return_layers=True)
    mask = np.arange(9)[None, :] < lengths[:, None]
    clipped = 0
    for k in range(2):
        in_scale = qmodel.input_scale if k == 0 else np.full(2 * hidden, 1 / 128)
        layer_in = calib.x if k == 0 else outs[0]
        for d, q in enumerate(qmodel.layers[k]):
            sfx = f"_l{k}" + ("_reverse" if d else "")
            v = np.concatenate([arrays["weight_ih" + sfx] * in_scale, arrays["weight_hh" + sfx] / 128], axis=1)
            bias = arrays["bias_ih" + sfx] + arrays["bias_hh" + sfx]
            h_prev = _prev_h(outs[k][:, :, d * hidden:(d + 1) * hidden], lengths, bool(d))
            u = np.concatenate([layer_in / in_scale, h_prev * 128], axis=2)[mask]  # fewer steps than SEARCH_STEPS

            def error(w):  # the documented criterion: saturated pre-activations, plus the ridge
                sat = np.mean((np.clip(u @ w.T + bias, -8, 8) - np.clip(u @ v.T + bias, -8, 8)) ** 2, axis=0)
                return sat + RIDGE * np.mean(u**2) * np.sum((w - v) ** 2, axis=1)

            chosen = q.mult / 2.0**q.shift / 4096  # the row scale to the multiplier's 2**-15 (1-2% in error)
            err = error(q.weight * chosen[:, None])
            peak = np.abs(v).max(axis=1)
            for alpha in ALPHAS:
                s = (alpha * peak / 127)[:, None]
                assert np.all(err <= error(np.clip(np.floor(v / s + 0.5), -127, 127) * s) * 1.02 + 1e-15)
            clipped += int(np.sum(chosen < peak / 127 * 0.999))
    assert clipped > 0


def test_dead_feature_takes_the_live_median_scale_and_keeps_the_rows_fine():
    rng = np.random.default_rng(32)
    model = random_float_model(rng, "lstm", 5, 8)
    x = rng.uniform(0, 1, (16, 10, 5))
    x[:, :, 3] = 0.0  # a silent key
    calib = make_batch(x)
    q_old = quantize_model(model, calib, method="minmax")
    q_new = quantize_model(model, calib)
    live = [0, 1, 2, 4]
    assert q_old.input_scale[3] == 1.0
    assert q_new.input_scale[3] == np.median(q_new.input_scale[live])
    # the live weights: coarsened to a few levels by the old rule, full range by the new one
    assert np.median(np.abs(q_old.layers[0][0].weight[:, live]).max(axis=1)) < 8
    assert np.median(np.abs(q_new.layers[0][0].weight[:, live]).max(axis=1)) >= 64
    test = make_batch(rng.uniform(0, 1, (8, 10, 5)) * np.array([1, 1, 1, 0, 1]))
    ref = float_forward(model, test)
    err_old = np.abs(golden_run(q_old, test, 0.0, "none")["h"] - ref).mean()
    err_new = np.abs(golden_run(q_new, test, 0.0, "none")["h"] - ref).mean()
    assert err_new < err_old / 3


def test_input_ranges_minimise_the_quantization_error_and_keep_exact_grids():
    rng = np.random.default_rng(33)
    model = random_float_model(rng, "gru", 3, 4)
    x = rng.standard_normal((20, 30, 3))
    x[:, :, 0] = rng.laplace(size=(20, 30)) ** 3  # heavy tails
    x[:, :, 1] = rng.integers(0, 2, (20, 30))  # binary: exact on the max grid
    x[:, :, 2] = 0.25  # constant
    scale = quantize_model(model, make_batch(x)).input_scale
    assert scale[1] == 1 / 127
    assert scale[2] == 0.25 / 127
    values = x[:, :, 0].ravel()
    peak = np.abs(values).max()

    def mse(s):
        return np.mean((np.clip(np.floor(values / s + 0.5), -127, 127) * s - values) ** 2)

    assert all(mse(scale[0]) <= mse(alpha * peak / 127) * (1 + 1e-12) for alpha in ALPHAS)


def test_report_flags_dead_and_constant_features_and_measures_the_error():
    rng = np.random.default_rng(34)
    arrays = random_float_arrays(rng, "gru", 4, 6, layers=2, bidirectional=True)
    arrays["head_weight"] = rng.standard_normal((3, 12))
    arrays["head_bias"] = rng.standard_normal(3)
    model = model_from_arrays(arrays)
    x = rng.standard_normal((10, 8, 4))
    x[:, :, 0] = 0.0
    x[:, :, 2] = -1.5
    calib = make_batch(x, random_lengths(rng, 10, 8))
    report = calibration_report(model, quantize_model(model, calib), calib, worst=3)
    assert [(e["layer"], e["direction"]) for e in report["layers"]] == [
        (0, "forward"), (0, "reverse"), (1, "forward"), (1, "reverse")]
    first = report["layers"][0]
    assert first["dead_features"] == [0]
    assert first["constant_features"] == [[2, -1.5]]
    assert set(first["sqnr_db"]) == {"r", "z", "n", "h"}
    assert all(v > 20 for e in report["layers"] for v in e["sqnr_db"].values())
    assert len(first["worst_rows"]) == 3
    rms = [r["rms_error"] for r in first["worst_rows"]]
    assert rms == sorted(rms, reverse=True) and rms[0] > 0
    out = report["output"]
    h_f = float_forward(model, calib)
    h_q = golden_run(quantize_model(model, calib), calib, 0.0, "none")["h"]
    assert out["max_abs_diff"] == pytest.approx(np.abs(h_f - h_q).max(), abs=1e-5)
    assert 0 <= out["class_agreement_percent"] <= 100
    lines = summary_lines(report)
    assert len(lines) == 5 and "1 dead features [0]" in lines[0] and "class agreement" in lines[-1]


def test_report_shows_the_old_rule_hurting_a_dead_feature_model():
    rng = np.random.default_rng(35)
    model = random_float_model(rng, "lstm", 5, 8)
    x = rng.uniform(0, 1, (16, 10, 5))
    x[:, :, 3] = 0.0
    calib = make_batch(x)
    old = calibration_report(model, quantize_model(model, calib, method="minmax"), calib)
    new = calibration_report(model, quantize_model(model, calib), calib)
    assert old["layers"][0]["sqnr_db"]["h"] + 10 < new["layers"][0]["sqnr_db"]["h"]
