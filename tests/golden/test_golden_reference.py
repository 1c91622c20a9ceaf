"""The golden model against an independent scalar re-implementation (golden_testlib.reference_run).

Every output key is compared bit for bit: h, h_int, every reuse mask and every counter,
for LSTM and GRU, one and two layers, one and two directions, per-sequence lengths,
every predictor, thresholds global and per layer, with and without a reuse cap.
"""

import numpy as np
import pytest

from golden_testlib import assert_matches_reference, random_lengths, random_qmodel, reference_run, wide_row_qmodel
from memornn.golden.inputs import make_batch
from memornn.golden.intmodel import golden_run

MODELS = [  # cell, X, H, layers, bidirectional
    ("lstm", 5, 7, 1, False),
    ("gru", 5, 7, 1, True),
    ("lstm", 3, 5, 2, True),
    ("gru", 4, 6, 2, False),
]

RUNS = [  # predictor, thresholds (per layer, as given to golden_run), reuse cap
    ("none", 0.0, 0),
    ("bnn", 0.0, 0),
    ("bnn", 0.3, 0),
    ("bnn", 1.0, 2),
    ("bnn", [0.1, 0.5], 0),
    ("oracle", 0.0, 0),
    ("oracle", 0.15, 3),
]


def _theta_qs(spec, layers):
    values = spec if isinstance(spec, list) else [spec] * layers
    return [int(np.floor(v * 256 + 0.5)) for v in values[:layers]]


@pytest.mark.parametrize("model_cfg", MODELS, ids=lambda c: "-".join(map(str, c)))
def test_golden_equals_independent_reference(model_cfg):
    cell, x_size, hidden, layers, bidir = model_cfg
    qmodel, rng = random_qmodel(MODELS.index(model_cfg) + 100, cell, x_size, hidden, layers, bidir)
    n, t_max = 3, 8
    # inputs a bit wider than the calibration, so some of them saturate at +-127
    x = rng.standard_normal((n, t_max, x_size)) * 1.6
    lengths = random_lengths(rng, n, t_max)
    batch = make_batch(x, lengths)
    reused_any = 0
    for predictor, theta, cap in RUNS:
        spec = theta if not isinstance(theta, list) else theta[:layers]
        got = golden_run(qmodel, batch, spec, predictor, cap)
        ref = reference_run(qmodel, batch.x, lengths, _theta_qs(theta, layers), predictor, cap)
        assert set(got) == set(ref) | {"h"}
        assert_matches_reference(got, ref)
        reused_any += int(got["neurons_reused"].sum())
    assert reused_any > 0  # the runs did exercise reuse


def _coarse_model(cell):
    """Calibrated offsets off (all 0) and 8-segment PWL: other tables, same arithmetic."""
    from memornn.golden.floatmodel import model_from_arrays
    from memornn.golden.quantize import quantize_model

    from golden_testlib import random_float_arrays

    rng = np.random.default_rng(55)
    model = model_from_arrays(random_float_arrays(rng, cell, 4, 6, layers=2, bidirectional=True))
    calibration = make_batch(rng.standard_normal((10, 9, 4)) + 0.7)
    qmodel = quantize_model(model, calibration, pwl_segments=8, use_offsets=False)
    assert qmodel.pwl_segments == 8 and all(not q.offset.any() for layer in qmodel.layers for q in layer)
    batch = make_batch(rng.standard_normal((2, 6, 4)) + 0.7, np.array([6, 4]))
    return qmodel, batch


def _check_coarse(cell):
    qmodel, batch = _coarse_model(cell)
    for predictor, theta in (("none", 0.0), ("bnn", 0.4), ("oracle", 0.05)):
        got = golden_run(qmodel, batch, theta, predictor)
        ref = reference_run(qmodel, batch.x, batch.lengths, [int(theta * 256 + 0.5)] * 2, predictor)
        assert_matches_reference(got, ref)


def test_golden_equals_reference_gru_plain_signs_8_segments():
    _check_coarse("gru")


def test_golden_equals_reference_lstm_plain_signs_8_segments():
    """Q.npz: pwl_segments are the segments of sigmoid and tanh, the LSTM's tanh(c) too."""
    _check_coarse("lstm")


@pytest.mark.parametrize("block", [1, 7])
def test_golden_equals_reference_across_step_blocks(monkeypatch, block):
    """The input side is computed a block of steps at a time: block edges change nothing."""
    import memornn.golden.intmodel as intmodel

    qmodel, rng = random_qmodel(120, "gru", 4, 5, layers=2, bidirectional=True)
    lengths = np.array([9, 4, 1])
    batch = make_batch(rng.standard_normal((3, 9, 4)), lengths)
    rows = 3 * 5
    monkeypatch.setattr(intmodel, "_BLOCK_ELEMENTS", block * 3 * rows)  # `block` steps per block
    for predictor, theta, cap in (("bnn", 0.3, 2), ("oracle", 0.1, 0)):
        got = golden_run(qmodel, batch, theta, predictor, cap)
        assert_matches_reference(got, reference_run(qmodel, batch.x, lengths, _theta_qs(theta, 2), predictor, cap))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_golden_equals_reference_with_wide_rows(cell):
    """Rows whose products can pass 2**24 (float32's exact range): the float64 path."""
    rng = np.random.default_rng(121)
    qmodel = wide_row_qmodel(rng, cell, hidden=2)
    x_size = qmodel.input_size
    lengths = np.array([4, 2])
    batch = make_batch(rng.standard_normal((2, 4, x_size)), lengths)
    for predictor in ("none", "bnn"):
        got = golden_run(qmodel, batch, 0.25, predictor)
        assert_matches_reference(got, reference_run(qmodel, batch.x, lengths, [64], predictor))


def test_wide_rows_sums_beyond_float32_stay_exact():
    """Accumulators past 2**24, where float32 would round: made visible in h.

    LSTM with i, o pinned at 1 and f at 0, so h follows tanh(g); the g rows sum
    1100 products of about 127*127 (~17.7e6 > 2**24) and a bias cancels all but a small
    remainder, which mult = 32 moves into the pre-activation range: an accumulator error
    of 1 shifts h.
    """
    from memornn.golden.qmodel import QLayer, QModel

    rng = np.random.default_rng(122)
    x_size, hidden = 1100, 3
    rows = 4 * hidden
    g_rows = slice(2 * hidden, 3 * hidden)
    weight = np.zeros((rows, x_size + hidden), np.int64)
    weight[g_rows, :x_size] = rng.choice([125, 127], (hidden, x_size))
    bias = np.array([10**9] * hidden + [-(10**9)] * hidden + [0] * hidden + [10**9] * hidden, np.int64)
    bias[g_rows] = -weight[g_rows, :x_size].sum(axis=1) * 127 + rng.integers(-60, 60, hidden)
    mult = np.full(rows, 2**15 - 1)
    mult[g_rows] = 32
    layer = QLayer(weight=weight, bias=bias, mult=mult, shift=np.zeros(rows, np.int64),
                   offset=np.zeros(x_size, np.int64))
    qmodel = QModel("lstm", hidden, [[layer]], np.full(x_size, 0.01))
    x = np.full((2, 5, x_size), 10.0)  # quantized to 127 everywhere...
    x[1, :, 0] = 1.26  # ...but 126 in the first feature of the second sequence
    batch = make_batch(x)
    got = golden_run(qmodel, batch, 0.0, "none")
    ref = reference_run(qmodel, batch.x, batch.lengths, [0], "none")
    assert_matches_reference(got, ref)
    assert len(np.unique(ref["h_int"])) >= 4  # h does follow the small remainders
