"""Quantization (golden/quantize.py), the Q.npz format (golden/qmodel.py), and the
quantized model's accuracy against the float reference."""

import numpy as np
import pytest

from golden_testlib import random_float_arrays, random_float_model, random_lengths
from memornn.golden.errors import MemornnError
from memornn.golden.floatmodel import model_from_arrays
from memornn.golden.floatref import float_forward
from memornn.golden.inputs import Batch, make_batch, quantize_inputs
from memornn.golden.intmodel import golden_run
from memornn.golden.qmodel import QLayer, QModel, check_accumulator_range, load_qmodel
from memornn.golden.quantize import quantize_model

#: Documented accuracy of predictor "none" against float: max |h_q - h_float| over the
#: models below (PyTorch-style init, standard-normal inputs, calibration on a separate
#: draw of the same distribution). Largest seen: 0.0445 (3-input LSTM) and 0.042 (GRU
#: 40x128), both from the ~0.1% of test inputs beyond the calibration peak, which
#: saturate at int8.
H_ERROR_BOUND = 0.05
#: The same with test inputs inside the calibration range (clipped to its peak, for the
#: float model too): the integer datapath alone. Largest seen: 0.0114.
H_ERROR_BOUND_IN_RANGE = 0.02

ACCURACY_MODELS = [  # cell, X, H, layers, bidirectional
    ("lstm", 5, 13, 1, False),
    ("gru", 7, 37, 2, False),
    ("lstm", 3, 16, 1, True),
    ("gru", 10, 32, 2, True),
    ("lstm", 40, 128, 1, False),
    ("gru", 13, 13, 3, False),
    ("lstm", 8, 24, 2, True),
    ("gru", 40, 128, 1, False),
]


@pytest.mark.parametrize("config", ACCURACY_MODELS, ids=lambda c: "-".join(map(str, c)))
def test_quantized_none_close_to_float(config):
    cell, x_size, hidden, layers, bidir = config
    rng = np.random.default_rng(ACCURACY_MODELS.index(config))
    model = random_float_model(rng, cell, x_size, hidden, layers, bidir)
    calibration = make_batch(rng.standard_normal((32, 30, x_size)))
    x = rng.standard_normal((16, 30, x_size))
    lengths = random_lengths(rng, 16, 30)
    qmodel = quantize_model(model, calibration)
    peak = np.abs(calibration.x).max(axis=(0, 1))
    for test, bound in ((make_batch(x, lengths), H_ERROR_BOUND),
                        (make_batch(np.clip(x, -peak, peak), lengths), H_ERROR_BOUND_IN_RANGE)):
        err = np.abs(golden_run(qmodel, test, 0.0, "none")["h"] - float_forward(model, test))
        assert err.max() <= bound, err.max()
        assert err.mean() < 0.003  # typical errors are a fraction of a Q0.7 LSB (1/128)


# -- the quantization formulas -------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_minmax_quantization_follows_the_documented_formulas(cell):
    rng = np.random.default_rng(21)
    hidden, x_size = 6, 4
    arrays = random_float_arrays(rng, cell, x_size, hidden, layers=2, bidirectional=True)
    model = model_from_arrays(arrays)
    x = rng.standard_normal((8, 10, x_size)) * np.array([0.5, 1, 2, 4]) + np.array([0, 1, -1, 0])
    lengths = random_lengths(rng, 8, 10)
    clean = make_batch(x, lengths)
    dirty_x = clean.x.copy()
    pad = np.arange(10)[None, :] >= lengths[:, None]
    dirty_x[pad] = 1e3  # padding must not count: calibrate on a Batch built directly
    qmodel = quantize_model(model, Batch(dirty_x, lengths), method="minmax")
    valid = x[~pad]
    np.testing.assert_allclose(qmodel.input_scale, np.abs(valid).max(axis=0) / 127, rtol=1e-12)
    # layer 0 offsets: the calibration mean on the input grid
    np.testing.assert_array_equal(qmodel.layers[0][0].offset, np.floor(valid.mean(axis=0) / qmodel.input_scale + 0.5))
    # later layers: the mean of the float previous-layer h, on the Q0.7 grid
    _, outs = float_forward(model, clean, return_layers=True)
    np.testing.assert_array_equal(qmodel.layers[1][0].offset, np.floor(outs[0][~pad].mean(axis=0) * 128 + 0.5))
    g = 4 if cell == "lstm" else 3
    cand = slice(2 * hidden, 3 * hidden)
    for k in range(2):
        in_scale = qmodel.input_scale if k == 0 else np.full(2 * hidden, 1 / 128)
        for d, q in enumerate(qmodel.layers[k]):
            sfx = f"_l{k}" + ("_reverse" if d else "")
            v = np.concatenate([arrays["weight_ih" + sfx] * in_scale, arrays["weight_hh" + sfx] / 128], axis=1)
            assert q.weight.shape == (g * hidden, v.shape[1])
            assert np.abs(q.weight).max() <= 127
            assert np.all(np.abs(q.weight).max(axis=1) == 127)  # the row peak maps to 127
            row_scale = np.abs(v).max(axis=1) / 127
            assert np.all(np.abs(q.weight * row_scale[:, None] - v) <= row_scale[:, None] * (0.5 + 1e-9))
            bias = arrays["bias_ih" + sfx] + arrays["bias_hh" + sfx]
            if cell == "gru":
                bias[cand] = arrays["bias_ih" + sfx][cand]
                np.testing.assert_allclose(q.bias_hn * row_scale[cand], arrays["bias_hh" + sfx][cand],
                                           rtol=0, atol=row_scale.max())
            assert np.all(np.abs(q.bias * row_scale - bias) <= row_scale * (0.5 + 1e-9))
            # requantization: mult / 2**shift ~= row scale * 2**12
            approx = q.mult / 2.0**q.shift
            np.testing.assert_allclose(approx, row_scale * 4096, rtol=2**-14)


def test_quantize_without_offsets_and_segments():
    rng = np.random.default_rng(22)
    model = random_float_model(rng, "gru", 3, 5, layers=2)
    calibration = make_batch(rng.standard_normal((4, 6, 3)) + 2)
    q = quantize_model(model, calibration, pwl_segments=64, use_offsets=False)
    assert q.pwl_segments == 64
    assert all(not lq.offset.any() for layer in q.layers for lq in layer)
    assert quantize_model(model, calibration).layers[0][0].offset.min() > 0  # with offsets: the mean (~2)


def test_quantize_inputs_rounds_half_up_and_saturates():
    s = np.array([0.5, 0.5])
    x = np.array([[1.25, -1.25], [0.75, -0.75], [63.5, -63.5], [63.75, -63.75], [1e9, -1e9]])
    np.testing.assert_array_equal(quantize_inputs(x, s), [[3, -2], [2, -1], [127, -127], [127, -127],
                                                          [127, -127]])


@pytest.mark.parametrize("change, match", [
    (dict(calib_features=4), "calibration inputs have 4 features, but the model takes 3"),
    (dict(calib_zero=True), "calibration inputs are all zero"),
    (dict(method="best"), "unknown quantization method 'best'"),
    (dict(segments=12), "PWL segments must be one of"),
    (dict(bias=1e12), "bias is too large"),
    (dict(weight=1e12), "too large"),
])
def test_quantize_errors(change, match):
    rng = np.random.default_rng(23)
    arrays = random_float_arrays(rng, "lstm", 3, 4)
    if "bias" in change:
        arrays["bias_ih_l0"][5] = change["bias"]
    if "weight" in change:
        arrays["weight_hh_l0"][2, 1] = change["weight"]
    model = model_from_arrays(arrays)
    calibration = make_batch(rng.standard_normal((2, 5, change.get("calib_features", 3))) * (0 if "calib_zero" in change
                                                                                              else 1))
    with pytest.raises(MemornnError, match=match):
        quantize_model(model, calibration, pwl_segments=change.get("segments", 32), method=change.get("method", "mse"))


# -- Q.npz ---------------------------------------------------------------------------------------

Q_SCALARS = {"schema": "U", "version": "i", "cell": "U", "hidden_size": "i", "num_layers": "i",
             "bidirectional": "b", "pwl_segments": "i"}


@pytest.mark.parametrize("cell, bidir", [("lstm", True), ("gru", False), ("gru", True)])
def test_qnpz_keys_dtypes_and_round_trip(tmp_path, cell, bidir):
    rng = np.random.default_rng(24)
    arrays = random_float_arrays(rng, cell, 3, 5, layers=2, bidirectional=bidir)
    arrays["head_weight"] = rng.standard_normal((2, 10 if bidir else 5))
    arrays["head_bias"] = rng.standard_normal(2)
    model = model_from_arrays(arrays)
    qmodel = quantize_model(model, make_batch(rng.standard_normal((4, 6, 3))))
    path = tmp_path / "sub" / "Q.npz"
    qmodel.save(path)
    with np.load(path) as f:
        stored = {k: f[k] for k in f.files}
    g, h, dirs = (4 if cell == "lstm" else 3), 5, (2 if bidir else 1)
    expected = dict(Q_SCALARS)
    expected["input_scale"] = "f"
    expected["head_weight"] = expected["head_bias"] = "f"
    shapes = {"input_scale": (3,), "head_weight": (2, 5 * dirs), "head_bias": (2,)}
    for k in range(2):
        for sfx in ([f"_l{k}", f"_l{k}_reverse"] if bidir else [f"_l{k}"]):
            x_k = 3 if k == 0 else 5 * dirs
            names = {"weight": ((g * h, x_k + h), np.int8), "bias": ((g * h,), np.int32),
                     "mult": ((g * h,), np.int32), "shift": ((g * h,), np.int32), "offset": ((x_k,), np.int8)}
            if cell == "gru":
                names["bias_hn"] = ((h,), np.int32)
            for name, (shape, dtype) in names.items():
                assert stored[name + sfx].shape == shape and stored[name + sfx].dtype == dtype, name + sfx
                expected[name + sfx] = "i"
    assert set(stored) == set(expected)
    for key, kind in expected.items():
        assert stored[key].dtype.kind == kind, key
        if key in Q_SCALARS:
            assert stored[key].shape == (), key
        if key in shapes:
            assert stored[key].shape == shapes[key], key
    assert str(stored["schema"]) == "memornn.qmodel" and int(stored["version"]) == 1
    assert (int(stored["hidden_size"]), int(stored["num_layers"]), bool(stored["bidirectional"])) == (5, 2, bidir)

    loaded = load_qmodel(path)
    batch = make_batch(rng.standard_normal((2, 5, 3)))
    for predictor in ("bnn", "oracle"):
        a, b = golden_run(qmodel, batch, 0.3, predictor), golden_run(loaded, batch, 0.3, predictor)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_array_equal(loaded.head_weight, arrays["head_weight"])


def _tiny_qlayer(weight_value, bias_value, x_size=3, hidden=2):
    rows = 4 * hidden
    return QLayer(weight=np.full((rows, x_size + hidden), weight_value), bias=np.full(rows, bias_value),
                  mult=np.full(rows, 1 << 14), shift=np.full(rows, 20), offset=np.zeros(x_size, np.int64))


def test_check_accumulator_range():
    limit = 2**31 - 1
    worst_products = 127 * 128 * 5
    ok = QModel("lstm", 2, [[_tiny_qlayer(127, limit - worst_products)]], np.ones(3))
    check_accumulator_range(ok)  # exactly at the limit: fits
    bad = QModel("lstm", 2, [[_tiny_qlayer(-127, -(limit - worst_products) - 1)]], np.ones(3))
    with pytest.raises(MemornnError, match="beyond 32 bits"):
        check_accumulator_range(bad)
