"""The fast path of golden/intmodel.py against the definitions in golden/numerics.py.

Every shortcut of ``_layer_direction_fast`` is checked on its own, exhaustively where the
input space allows it and on large random sets with the edge cases added where it does
not; then whole layer directions against the plain int64 implementation
(``_layer_direction_int64``), which the independent reference checks in
test_golden_reference.py.
"""

import numpy as np
import pytest

from golden_testlib import assert_fast_equals_int64, random_qmodel, wide_row_qmodel
from memornn.golden import fastpath as fp
from memornn.golden import intmodel as im
from memornn.golden import numerics as nx
from memornn.golden.inputs import make_batch, quantize_inputs
from memornn.golden.intmodel import golden_run
from memornn.golden.qmodel import QLayer, QModel

PRE = np.arange(-(2**15), 2**15, dtype=np.int64)  # every Q3.12 (and Q4.11) value


# -- requantization in float64 ---------------------------------------------------------------


def _requant_cases(rng, fold):
    """(acc, bias, mult, shift) rows: random over the legal ranges plus the edges."""
    max_shift = fp._FOLD_SHIFT_MAX if fold else nx.SHIFT_MAX
    size = 200_000
    shift = rng.integers(0, max_shift + 1, size)
    mult = rng.integers(0, 2**nx.MULT_BITS, size)
    mult[::7] = rng.choice([0, 1, 2, 2**14, 2**15 - 1], mult[::7].shape)
    # |acc + bias| up to 2**31 (every legal model), sometimes far beyond (up to the 2**50 bound)
    total = rng.integers(-(2**31), 2**31, size)
    wide = rng.random(size) < 0.05
    limit = 2**50 // np.maximum(mult[wide], 1) - 1
    total[wide] = (rng.random(int(wide.sum())) * 2 - 1) * limit
    # values next to the rounding and saturation edges: v/2**s = k + 1/2 (+- one LSB)
    edge = rng.random(size) < 0.3
    k = rng.choice([0, 1, -1, 2, -2, 12345, -12345, 32767, -32768, 32766, -32769, 40000], int(edge.sum()))
    s_e = shift[edge]
    m_e = np.where(mult[edge] == 0, 1, 2 ** rng.integers(0, 4, int(edge.sum())))  # powers of two hit the edge
    mult[edge] = m_e
    target = (2 * k + 1) * (2.0 ** s_e) / 2  # v where v/2**s = k + 1/2 exactly
    ok = np.abs(target) < 2**49
    t = np.round(target[ok] / m_e[ok]).astype(np.int64) + rng.integers(-1, 2, int(ok.sum()))
    total[np.flatnonzero(edge)[ok]] = t
    bias = rng.integers(-(2**31), 2**31, size)
    bias = np.where(np.abs(bias) > np.abs(total), total // 3, bias)  # keep |bias| <= |total|-ish
    acc = total - bias
    keep = np.abs(total * mult) < fp._F64_EXACT_PRODUCT
    return acc[keep], bias[keep], mult[keep], shift[keep]


@pytest.mark.parametrize("fold", [False, True])
def test_float_requantization_equals_requantize(fold):
    rng = np.random.default_rng(7 + fold)
    acc, bias, mult, shift = _requant_cases(rng, fold)
    expected = nx.requantize(acc + bias, mult, shift) + fp._PRE_BASE
    mu = fp._requant_scale(mult, shift)
    offset = fp._requant_offset(bias, mult, shift, fold)
    for order in range(3):  # the sum in different orders: acc in two parts, as a matrix product splits it
        part = acc // 3
        if order == 0:
            y = acc.astype(np.float64) * mu + offset
        elif order == 1:
            y = (part.astype(np.float64) * mu + offset) + (acc - part).astype(np.float64) * mu
        else:
            y = (acc - part).astype(np.float64) * mu + (part.astype(np.float64) * mu + offset)
        got = np.empty(y.shape, np.int64)
        fp._requant_index(y, got, fold)
        np.testing.assert_array_equal(got, expected)
    # the edges were reached: exact halves, both rails
    v = (acc + bias) * mult
    assert np.any((shift > 0) & (v % (2 ** np.maximum(shift, 1)) == 2 ** np.maximum(shift - 1, 0)))
    assert np.any(expected == 0) and np.any(expected == 2**16 - 1)


def test_float_requantization_every_shift_at_its_extremes():
    """Each shift with the largest legal |acc + bias| and the largest mult, both signs."""
    for fold in (False, True):
        shifts = np.arange(0, (fp._FOLD_SHIFT_MAX if fold else nx.SHIFT_MAX) + 1)
        for total in (2**31 - 1, -(2**31), 1, -1, 0, 2**30 + 12345, -(2**29) - 7):
            for mult in (2**15 - 1, 2**14, 1, 0):
                acc = np.full(shifts.shape, total, np.int64)
                bias = np.zeros_like(acc)
                expected = nx.requantize(acc + bias, mult, shifts) + fp._PRE_BASE
                y = acc.astype(np.float64) * fp._requant_scale(mult, shifts) + fp._requant_offset(
                    bias, np.full_like(acc, mult), shifts, fold)
                got = np.empty(y.shape, np.int64)
                fp._requant_index(y, got, fold)
                np.testing.assert_array_equal(got, expected)


# -- the packed BNN -----------------------------------------------------------------------


@pytest.mark.parametrize("n_bits, rows", [(1, 1), (2, 3), (7, 8), (168, 512), (255, 5), (256, 9), (300, 17),
                                          (1100, 6), (5000, 4)])
def test_bnn_packed_equals_bnn_output(n_bits, rows):
    rng = np.random.default_rng(n_bits * 31 + rows)
    w_bits = rng.integers(0, 2, (rows, n_bits))
    w_bits[0] = 1
    if rows > 1:
        w_bits[1] = 0
    bits = rng.integers(0, 2, (n_bits, 40))
    bits[:, 0] = 1
    bits[:, 1] = 0
    packed = fp._BnnPacked(w_bits)
    out = np.empty((rows, bits.shape[1]), np.int32)
    packed(bits.astype(np.float32), out)
    got = out + packed.const[:, None]
    np.testing.assert_array_equal(got, nx.bnn_output(bits.T, w_bits).T)


# -- the reuse test ------------------------------------------------------------------------


@pytest.mark.parametrize("theta_q", [0, 1, 51, 77, 256, 1000, nx.THETA_MAX_Q])
def test_within_threshold_int32_every_bnn_pair(theta_q):
    """Every pair of BNN outputs of a wide layer (|yb| <= N = 2**14 - 1, sampled densely)."""
    n = 2**14 - 1
    values = np.unique(np.concatenate([np.arange(-300, 301), np.linspace(-n, n, 301).astype(np.int64)]))
    new, cached = (a.astype(np.int32) for a in np.meshgrid(values, values))
    out = np.empty(new.shape, bool)
    fp._within_threshold(new, cached, cached, theta_q, np.empty(new.shape, np.int32), out,
                         np.empty(new.shape, np.int32))
    np.testing.assert_array_equal(out, nx.within_threshold(new, cached, theta_q))


@pytest.mark.parametrize("theta_q", [0, 1, 77, 256, nx.THETA_MAX_Q])
def test_within_threshold_on_table_indices(theta_q):
    """The oracle test on indices pre + 32768, int64, against pre-activations."""
    rng = np.random.default_rng(theta_q)
    new = np.concatenate([rng.integers(-(2**15), 2**15, 300_000), PRE])
    cached = np.concatenate([rng.integers(-(2**15), 2**15, 300_000), PRE[::-1]])
    near = rng.random(new.shape) < 0.5  # many pairs near the threshold
    cached[near] = np.clip(new[near] + rng.integers(-50, 51, int(near.sum())), -(2**15), 2**15 - 1)
    out = np.empty(new.shape, bool)
    limit = cached.copy()
    fp._within_threshold(new + fp._PRE_BASE, cached + fp._PRE_BASE, limit, theta_q, np.empty_like(new), out, limit)
    np.testing.assert_array_equal(out, nx.within_threshold(new, cached, theta_q))


# -- activation tables and cells -----------------------------------------------------------


@pytest.mark.parametrize("segments", nx.PWL_SEGMENT_CHOICES)
def test_cell_tanh_table_every_cell_value(segments):
    table = fp._cell_tanh_table(segments)
    np.testing.assert_array_equal(table[PRE + fp._PRE_BASE], nx.pwl_tanh(nx.cell_to_pre(PRE), segments))


@pytest.mark.parametrize("segments", nx.PWL_SEGMENT_CHOICES)
def test_table_ranges_fit_the_int32_bounds(segments):
    sig = nx.pwl_lut("sigmoid", segments)
    tanh = nx.pwl_lut("tanh", segments)
    assert sig.min() >= 0 and sig.max() <= 2**15 and np.abs(tanh).max() <= 2**15 - 1


def _gate_values(rng, shape, func, segments):
    """Gate outputs: table values at random and at extreme inputs, plus the range ends."""
    lut = nx.pwl_lut(func, segments)
    values = lut[rng.integers(0, 2**16, shape)]
    ends = [0, 1, 2**15] if func == "sigmoid" else [-(2**15 - 1), 0, 2**15 - 1]
    flat = values.reshape(-1)
    flat[: len(flat) // 8] = rng.choice(ends + [int(lut.min()), int(lut.max())], len(flat) // 8)
    return values


@pytest.mark.parametrize("segments", [4, 32, 256])
def test_lstm_cell_i32_equals_lstm_cell(segments):
    rng = np.random.default_rng(segments)
    H, n = 64, 4000
    i, f, o = (_gate_values(rng, (H, n), "sigmoid", segments) for _ in range(3))
    g = _gate_values(rng, (H, n), "tanh", segments)
    c = rng.integers(-(2**15), 2**15, (H, n))
    c[:, :50] = rng.choice([-(2**15), 2**15 - 1, 0], (H, 50))
    h_ref, c_ref = nx.lstm_cell(i, f, g, o, c, segments)
    v = np.concatenate([i, f, g, o]).astype(np.int32)
    c32 = c.astype(np.int32)
    h = np.empty((H, n), np.int32)
    scratch = (np.empty((H, n), np.int32), np.empty((H, n), np.int32), np.empty((H, n), np.int64))
    fp._lstm_cell_i32(v, c32, h, fp._cell_tanh_table(segments), scratch)
    np.testing.assert_array_equal(c32, c_ref)
    np.testing.assert_array_equal(h, h_ref)
    assert np.any(c_ref == 2**15 - 1) and np.any(c_ref == -(2**15)) and np.any(h_ref == 127)  # rails reached


@pytest.mark.parametrize("segments", [4, 32, 256])
def test_gru_cell_i32_equals_numerics(segments):
    rng = np.random.default_rng(100 + segments)
    H, n = 64, 4000
    r, z = (_gate_values(rng, (H, n), "sigmoid", segments) for _ in range(2))
    n_in, n_hn = (rng.integers(-(2**15), 2**15, (H, n)) for _ in range(2))
    n_in[:, :50] = rng.choice([-(2**15), 2**15 - 1], (H, 50))
    n_hn[:, 25:75] = rng.choice([-(2**15), 2**15 - 1], (H, 50))
    h = rng.integers(-128, 128, (H, n))
    h[:, :40] = rng.choice([-128, 127], (H, 40))
    n_gate = nx.pwl_tanh(nx.gru_candidate_pre(n_in, n_hn, r), segments)
    h_ref = nx.gru_update(n_gate, z, h)
    v = np.concatenate([r, z, n_in, n_hn]).astype(np.int32)
    h32 = h.astype(np.int32)
    scratch = (np.empty((H, n), np.int32), np.empty((H, n), np.int32), np.empty((H, n), np.int64))
    fp._gru_cell_i32(v, h32, nx.pwl_lut("tanh", segments).astype(np.int32), scratch)
    np.testing.assert_array_equal(h32, h_ref)


# -- whole layer directions: fast path against the int64 path --------------------------------


def _inputs(qmodel, rng, n, t_max, scale=1.6):
    x = rng.standard_normal((n, t_max, qmodel.input_size)) * scale
    lengths = rng.integers(1, t_max + 1, n)
    lengths[0] = t_max
    batch = make_batch(x, lengths)
    return quantize_inputs(batch.x, qmodel.input_scale), batch.lengths


RUNS = [("none", 0, 0), ("bnn", 0, 0), ("bnn", 77, 0), ("bnn", 256, 2), ("oracle", 0, 0), ("oracle", 40, 3),
        ("oracle", 2000, 0), ("bnn", nx.THETA_MAX_Q, 1)]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("x_size, hidden, segments", [(5, 7, 32), (13, 33, 8), (40, 64, 256), (1, 1, 4)])
def test_fast_direction_equals_int64(cell, x_size, hidden, segments):
    from memornn.golden.floatmodel import model_from_arrays
    from memornn.golden.quantize import quantize_model

    from golden_testlib import random_float_arrays

    rng = np.random.default_rng(hidden * 7 + x_size)
    model = model_from_arrays(random_float_arrays(rng, cell, x_size, hidden, bidirectional=True))
    qmodel = quantize_model(model, make_batch(rng.standard_normal((16, 12, x_size))), pwl_segments=segments)
    x_q, lengths = _inputs(qmodel, rng, 9, 23)
    assert_fast_equals_int64(qmodel, x_q, lengths, RUNS)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("largest_shift", [62, fp._FOLD_SHIFT_MAX])
def test_fast_direction_large_shifts_and_saturation(cell, largest_shift):
    """Multipliers at the ends, biases at the rails (too large to join the float32
    product), shifts up to 62 (the rounding variant) or up to 32 (the folded one): the
    pre-activations saturate."""
    rng = np.random.default_rng(5 if cell == "lstm" else 6)
    x_size, hidden = 6, 9
    rows = nx.GATES[cell] * hidden
    weight = rng.integers(-127, 128, (rows, x_size + hidden))
    weight[:3] = rng.choice([-127, 127], (3, x_size + hidden))
    room = 2**31 - 1 - int(np.abs(weight).sum(axis=1).max()) * 128
    if cell == "gru":
        room //= 2
    bias = rng.integers(-room, room, rows)
    bias[::5] = rng.choice([-room, room, 0], bias[::5].shape)
    mult = rng.integers(2**14, 2**15, rows)
    mult[::4] = rng.choice([0, 1, 2**15 - 1], mult[::4].shape)
    shift = rng.integers(10, 40, rows)
    shift[::3] = rng.choice([0, 1, 33, 47, 62], shift[::3].shape)
    shift = np.minimum(shift, largest_shift)
    layer = QLayer(weight, bias, mult, shift, rng.integers(-5, 6, x_size),
                   rng.integers(-room, room, hidden) if cell == "gru" else None)
    qmodel = QModel(cell, hidden, [[layer]], np.full(x_size, 0.05))
    x_q, lengths = _inputs(qmodel, rng, 6, 30, scale=40.0)
    assert_fast_equals_int64(qmodel, x_q, lengths, RUNS)
    # the variant meant ran, and the first step's pre-activations hit both rails
    assert (int(shift.max()) > fp._FOLD_SHIFT_MAX) == (largest_shift > fp._FOLD_SHIFT_MAX)
    acc = x_q[:, 0] @ weight[:, :x_size].T + bias
    pre = nx.requantize(acc, mult, shift)
    assert pre.max() == 2**15 - 1 and pre.min() == -(2**15)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_fast_direction_float64_rows(cell):
    """Rows whose partial sums pass 2**24: the float64 product."""
    rng = np.random.default_rng(9)
    qmodel = wide_row_qmodel(rng, cell, hidden=3)
    x_q, lengths = _inputs(qmodel, rng, 3, 6)
    assert_fast_equals_int64(qmodel, x_q, lengths, RUNS[:5])


def test_models_beyond_the_fast_bounds_take_the_int64_path(monkeypatch):
    """An accumulator far beyond 32 bits (not a legal model): the int64 path runs it."""
    qmodel, rng = random_qmodel(300, "lstm", 4, 5)
    q = qmodel.layers[0][0]
    q.bias = q.bias.copy()
    q.bias[0] = 2**40
    assert not fp._fast_path_ok(qmodel, q)
    batch = make_batch(rng.standard_normal((3, 7, 4)))
    monkeypatch.setattr(im, "layer_direction_fast", None)  # would fail if called
    got = golden_run(qmodel, batch, 0.3, "bnn")
    assert got["h_int"].shape == (3, 7, 5)


@pytest.mark.parametrize("block", [1, 7])
def test_int64_path_step_blocks_equal_fast_path(monkeypatch, block):
    """The int64 path computes the input side a block of steps at a time (the fast path
    does not block): block edges change nothing."""
    qmodel, rng = random_qmodel(120, "gru", 4, 5, layers=1, bidirectional=True)
    x_q, lengths = _inputs(qmodel, rng, 3, 9)
    monkeypatch.setattr(im, "_BLOCK_ELEMENTS", block * 3 * 15)  # `block` steps per block
    assert_fast_equals_int64(qmodel, x_q, lengths, [("bnn", 77, 2), ("oracle", 26, 0)])
