"""Extremes: weights, biases, multipliers and inputs at the ends of their ranges.

Every narrowing step must saturate, never wrap. The golden model is compared bit for bit
with the independent reference (golden_testlib), which computes with unbounded Python
integers and clips only where the documentation says so; the reference also counts the
saturations, so each test proves it reached them.
"""

import numpy as np
import pytest

from golden_testlib import assert_matches_reference, random_float_arrays, reference_run
from memornn.golden.floatmodel import model_from_arrays
from memornn.golden.inputs import Batch, make_batch
from memornn.golden.intmodel import golden_run
from memornn.golden.qmodel import QLayer, QModel, check_accumulator_range
from memornn.golden.quantize import quantize_model

ACC_LIMIT = 2**31 - 1


def _extreme_layer(rng, cell, x_size, hidden, input_is_h):
    rows = (4 if cell == "lstm" else 3) * hidden
    n = x_size + hidden
    weight = rng.choice([-127, 127], (rows, n))
    mixed = rng.random((rows, n)) < 0.2
    weight[mixed] = rng.integers(-127, 128, int(mixed.sum()))
    # the largest bias that still fits 32 bits with the worst-case products (documented check)
    room = ACC_LIMIT - int(np.abs(weight).sum(axis=1).max()) * 128
    if cell == "gru":
        room //= 2  # the candidate rows carry bias and bias_hn
    bias = rng.choice([-room, room, 0], rows)
    some = rng.random(rows) < 0.3
    bias[some] = rng.integers(-room, room, int(some.sum()))
    mult = rng.choice([0, 1, 2**15 - 1, 2**14], rows)
    shift = rng.choice([0, 1, 12, 24, 31, 62], rows)
    mult[:2], shift[:2] = 2**15 - 1, 0  # always some rows that saturate at once
    lo = -128 if input_is_h else -127
    offset = rng.choice([lo, 127, 0], x_size)
    bias_hn = rng.choice([-room, room], hidden) if cell == "gru" else None
    return QLayer(weight.astype(np.int64), bias.astype(np.int64), mult.astype(np.int64), shift.astype(np.int64),
                  offset.astype(np.int64), None if bias_hn is None else bias_hn.astype(np.int64))


def _extreme_model(seed, cell, x_size=3, hidden=4, layers=2, bidir=True):
    rng = np.random.default_rng(seed)
    dirs = 2 if bidir else 1
    model_layers = [[_extreme_layer(rng, cell, x_size if k == 0 else hidden * dirs, hidden, k > 0)
                     for _ in range(dirs)] for k in range(layers)]
    model = QModel(cell, hidden, model_layers, np.array([0.01, 1.0, 100.0])[:x_size])
    check_accumulator_range(model)  # a legal model: its accumulators fit 32 bits
    return model, rng


def _extreme_inputs(rng, n, t_max, x_size):
    x = rng.standard_normal((n, t_max, x_size)) * 50
    x[0] = 1e9    # far beyond any range: +127
    x[1] = -1e9   # -127, never -128
    x[2, ::2] = 1e9
    x[2, 1::2] = -1e9
    return x


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_extreme_qmodel_saturates_like_wide_integers(cell):
    model, rng = _extreme_model(31 if cell == "lstm" else 32, cell)
    n, t_max = 5, 24
    x = _extreme_inputs(rng, n, t_max, 3)
    lengths = np.array([24, 24, 24, 7, 1])
    batch = make_batch(x, lengths)
    stats = {}
    for predictor, theta in (("none", 0.0), ("bnn", 0.5), ("oracle", 0.5)):
        got = golden_run(model, batch, theta, predictor)
        ref = reference_run(model, batch.x, lengths, [128, 128] if theta else [0, 0], predictor, stats=stats)
        assert_matches_reference(got, ref)
        h = got["h"] * 128
        assert h.min() >= -128 and h.max() <= 127
        assert got["h_int"].dtype == np.int8
    # the runs did reach the pre-activation rails (c and h rails: test_lstm_gru_steady_saturation)
    assert stats.get("pre", 0) > 1000


@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_lstm_gru_steady_saturation(cell, sign):
    """Every gate pinned at a rail: c climbs to its rail and stays there (LSTM), h pins at
    127 (or -128); with wrapping any of these would flip sign."""
    hidden, x_size = 3, 2
    rows = (4 if cell == "lstm" else 3) * hidden
    q = QLayer(weight=np.full((rows, x_size + hidden), 127), bias=np.full(rows, 10**8),
               mult=np.full(rows, 2**15 - 1), shift=np.zeros(rows, np.int64), offset=np.zeros(x_size, np.int64),
               bias_hn=np.full(hidden, 10**8) if cell == "gru" else None)
    # the candidate (LSTM g, GRU n) takes the sign; GRU z must be ~0 for h to follow n
    q.bias[2 * hidden:3 * hidden] *= sign
    if cell == "gru":
        q.bias_hn *= sign
        q.bias[hidden:2 * hidden] = -(10**8)
    model = QModel(cell, hidden, [[q]], np.ones(x_size))
    check_accumulator_range(model)
    batch = make_batch(np.zeros((1, 40, x_size)))
    stats = {}
    got = golden_run(model, batch, 0.0, "none")
    assert_matches_reference(got, reference_run(model, batch.x, batch.lengths, [0], "none", stats=stats))
    assert np.all(got["h_int"][0, -10:] == (127 if sign > 0 else -128))
    assert stats["pre"] > 0
    if sign > 0:
        assert stats["h"] > 0  # o*tanh(c) or n rounds to +128: saturated to 127
    if cell == "lstm":
        assert stats["c"] > 0  # c reached +-16 (Q4.11 rail) and saturated


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_quantized_extreme_float_weights_and_inputs_beyond_calibration(cell):
    """A float model with large weights, quantized on small inputs, run on inputs 1000x larger."""
    rng = np.random.default_rng(33)
    arrays = random_float_arrays(rng, cell, 4, 5, layers=2, bidirectional=True, scale=40.0)
    model = model_from_arrays(arrays)
    qmodel = quantize_model(model, make_batch(rng.standard_normal((6, 8, 4)) * 0.01))
    x = rng.standard_normal((3, 10, 4)) * 10
    lengths = np.array([10, 4, 10])
    batch = make_batch(x, lengths)
    stats = {}
    for predictor in ("none", "bnn"):
        got = golden_run(qmodel, batch, 0.25, predictor)
        assert_matches_reference(got, reference_run(qmodel, batch.x, lengths, [64, 64], predictor, stats=stats))
    assert stats.get("pre", 0) > 0
    xq = np.floor(x / qmodel.input_scale + 0.5)
    assert np.abs(xq).max() > 1000  # the inputs were far outside the int8 grid before saturation


def test_padding_beyond_int8_is_never_read():
    model, rng = _extreme_model(34, "lstm", layers=1)
    x = _extreme_inputs(rng, 3, 6, 3)
    lengths = np.array([6, 2, 3])
    clean = make_batch(x, lengths)
    dirty = clean.x.copy()
    dirty[np.arange(6)[None, :] >= lengths[:, None]] = 1e300
    a = golden_run(model, clean, 0.5, "bnn")
    b = golden_run(model, Batch(dirty, lengths), 0.5, "bnn")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
