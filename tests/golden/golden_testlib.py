"""Helpers shared by the golden-model tests (not a test module itself).

The heart of it is :func:`reference_run`, a second, independent implementation of the
golden model written from the documented formulas (module docstrings of
``golden/numerics.py``, ``golden/qmodel.py`` and ``golden/intmodel.py``), not from the
code: plain Python integers (no int64, so nothing can wrap), exact rationals for every
rounding, one neuron at a time, one sequence at a time, XNOR + popcount on Python ints
for the BNN. It is slow, so the tests give it small models.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from memornn.golden import fastpath as fp
from memornn.golden import intmodel as im
from memornn.golden import numerics as nx
from memornn.golden.floatmodel import model_from_arrays as float_model_from_arrays
from memornn.golden.inputs import make_batch
from memornn.golden.quantize import quantize_model

HALF = Fraction(1, 2)

# -- documented formats, restated (not imported) so a change in numerics.py shows ---------
H_MIN, H_MAX = -128, 127  # Q0.7 int8
PRE_MIN, PRE_MAX = -32768, 32767  # Q3.12 int16
CELL_MIN, CELL_MAX = -32768, 32767  # Q4.11 int16
X_MAX = 127  # int8 inputs, symmetric
GATES = {"lstm": 4, "gru": 3}


# -- random models -----------------------------------------------------------------------


def random_float_arrays(rng, cell, input_size, hidden, layers=1, bidirectional=False, bias=True,
                        scale=None) -> dict:
    """Float-model entries (PyTorch names), weights U(-1/sqrt(H), 1/sqrt(H)) like PyTorch's init."""
    g = GATES[cell]
    bound = 1 / math.sqrt(hidden) if scale is None else scale
    arrays = {"cell": np.array(cell)}
    for k in range(layers):
        x_k = input_size if k == 0 else hidden * (2 if bidirectional else 1)
        for sfx in ([f"_l{k}", f"_l{k}_reverse"] if bidirectional else [f"_l{k}"]):
            arrays["weight_ih" + sfx] = rng.uniform(-bound, bound, (g * hidden, x_k))
            arrays["weight_hh" + sfx] = rng.uniform(-bound, bound, (g * hidden, hidden))
            if bias:
                arrays["bias_ih" + sfx] = rng.uniform(-bound, bound, g * hidden)
                arrays["bias_hh" + sfx] = rng.uniform(-bound, bound, g * hidden)
    return arrays


def random_float_model(rng, cell, input_size, hidden, layers=1, bidirectional=False, **kw):
    return float_model_from_arrays(random_float_arrays(rng, cell, input_size, hidden, layers, bidirectional, **kw))


def random_lengths(rng, n, t_max):
    """Per-sequence lengths in [1, t_max] with the extremes always present."""
    lengths = rng.integers(1, t_max + 1, n)
    lengths[0] = t_max
    if n > 1:
        lengths[1] = 1
    return lengths


def random_qmodel(seed, cell, input_size=5, hidden=7, layers=1, bidirectional=False, calib=(24, 12)):
    """A float model quantized with calibration on standard-normal inputs; returns (qmodel, rng)."""
    rng = np.random.default_rng(seed)
    model = random_float_model(rng, cell, input_size, hidden, layers, bidirectional)
    calibration = make_batch(rng.standard_normal((calib[0], calib[1], input_size)))
    return quantize_model(model, calibration), rng


# -- the independent reference -----------------------------------------------------------


def round_shift(value: int, shift: int) -> int:
    """``floor(value / 2**shift + 1/2)``: the documented round-half-up, on exact rationals."""
    return math.floor(Fraction(value, 2**shift) + HALF)


def clip(value: int, low: int, high: int) -> int:
    return low if value < low else high if value > high else value


def requant(acc: int, mult: int, shift: int) -> int:
    return clip(round_shift(acc * mult, shift), PRE_MIN, PRE_MAX)


def pwl(table, x: int) -> int:
    """PWL activation per the ``PwlTable`` docstring: segments of ``|x|``, mirrored for x < 0."""
    a = min(abs(x), PRE_MAX)
    width = 32768 // table.segments
    k, dx = divmod(a, width)
    y = clip(table.intercept[k] + round_shift(table.slope[k] * dx, 11), 0, 32767)
    if x < 0:
        return 32768 - y if table.func == "sigmoid" else -y
    return y


def popcount_xnor_output(in_bits: int, w_bits: int, n: int) -> int:
    """``2 * popcount(XNOR(a, w)) - N`` on N-bit Python ints."""
    same = ~(in_bits ^ w_bits) & ((1 << n) - 1)
    return 2 * bin(same).count("1") - n


def pack_bits(bits) -> int:
    """Bits (sequence of 0/1, element 0 the least significant) to a Python int."""
    return sum(1 << j for j, b in enumerate(bits) if b)


def quantize_x(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Documented host quantization: ``sat(floor(x / s + 1/2))`` to [-127, 127]."""
    q = np.floor(np.asarray(x, np.float64) / scale + 0.5)
    return np.clip(q, -X_MAX, X_MAX).astype(np.int64)


def close_enough(new: int, cached: int, theta_q: int) -> bool:
    """The reuse test ``|new - cached| <= theta * |cached|``, theta = theta_q / 2**8, exactly."""
    return abs(new - cached) <= Fraction(theta_q, 256) * abs(cached)


def _dot(row, values) -> int:
    return sum(int(w) * int(v) for w, v in zip(row, values))


def reference_direction(cell, hidden, segments, q, xs, reverse, theta_q, predictor, cap, stats=None):
    """One direction of one layer on ONE sequence ``xs`` (list of lists of ints).

    Returns (outputs per t, reused flags per t, counters dict). ``stats``, if given, counts
    saturation events (to prove a test reached them).
    """
    g = GATES[cell]
    rows = g * hidden
    x_size = len(xs[0])
    n_bits = x_size + hidden
    weight = [[int(v) for v in row] for row in q.weight]
    bias = [int(v) for v in q.bias]
    mult = [int(v) for v in q.mult]
    shift = [int(v) for v in q.shift]
    offset = [int(v) for v in q.offset]
    bias_hn = [int(v) for v in q.bias_hn] if cell == "gru" else None
    w_bits = [pack_bits([w >= 0 for w in row]) for row in weight]
    sig = nx.pwl_table("sigmoid", segments)
    tnh = nx.pwl_table("tanh", segments)  # every tanh, the LSTM's tanh(c) too
    cand = range(2 * hidden, 3 * hidden) if cell == "gru" else range(0)

    valid = [False] * rows
    c_pre = [0] * rows
    c_hn = [0] * hidden
    c_yb = [0] * rows
    run = [0] * rows
    h = [0] * hidden
    c = [0] * hidden
    length = len(xs)
    outputs = [None] * length
    reused_flags = [None] * length
    counters = dict(neurons_computed=0, neurons_reused=0, bnn_evals=0)

    def sat(v, lo, hi, what):
        if stats is not None and not lo <= v <= hi:
            stats[what] = stats.get(what, 0) + 1
        return clip(v, lo, hi)

    for t in (reversed(range(length)) if reverse else range(length)):
        x = xs[t]
        vec = list(x) + h
        new_pre, new_hn = [0] * rows, [0] * hidden
        for r in range(rows):
            if r in cand:
                acc = _dot(weight[r][:x_size], x) + bias[r]
                acc_h = _dot(weight[r][x_size:], h) + bias_hn[r - 2 * hidden]
                new_hn[r - 2 * hidden] = sat(round_shift(acc_h * mult[r], shift[r]), PRE_MIN, PRE_MAX, "pre")
            else:
                acc = _dot(weight[r], vec) + bias[r]
            new_pre[r] = sat(round_shift(acc * mult[r], shift[r]), PRE_MIN, PRE_MAX, "pre")
        if predictor == "bnn":
            in_bits = pack_bits([x[j] >= offset[j] for j in range(x_size)] + [v >= 0 for v in h])
            yb = [popcount_xnor_output(in_bits, w_bits[r], n_bits) for r in range(rows)]
            counters["bnn_evals"] += rows
        flags = []
        for r in range(rows):
            reuse = False
            if predictor != "none" and valid[r] and (cap == 0 or run[r] < cap):
                if predictor == "bnn":
                    reuse = close_enough(yb[r], c_yb[r], theta_q)
                else:
                    reuse = close_enough(new_pre[r], c_pre[r], theta_q)
                    if r in cand:
                        reuse = reuse and close_enough(new_hn[r - 2 * hidden], c_hn[r - 2 * hidden], theta_q)
            if reuse:
                run[r] += 1
            else:
                c_pre[r] = new_pre[r]
                if r in cand:
                    c_hn[r - 2 * hidden] = new_hn[r - 2 * hidden]
                if predictor == "bnn":
                    c_yb[r] = yb[r]
                valid[r] = True
                run[r] = 0
            flags.append(reuse)
        counters["neurons_reused"] += sum(flags)
        counters["neurons_computed"] += rows - sum(flags)
        reused_flags[t] = flags
        p = c_pre
        if cell == "lstm":
            new_h = []
            for j in range(hidden):
                i_g, f_g = pwl(sig, p[j]), pwl(sig, p[hidden + j])
                g_g, o_g = pwl(tnh, p[2 * hidden + j]), pwl(sig, p[3 * hidden + j])
                # c' = f*c + i*g in Q4.11: (Q0.15 * Q4.11) >> 15 and (Q0.15 * Q0.15) >> 19
                c[j] = sat(round_shift(f_g * c[j], 15) + round_shift(i_g * g_g, 19), CELL_MIN, CELL_MAX, "c")
                tc = pwl(tnh, clip(c[j] * 2, PRE_MIN, PRE_MAX))  # Q4.11 -> Q3.12
                new_h.append(sat(round_shift(o_g * tc, 23), H_MIN, H_MAX, "h"))
            h = new_h
        else:
            new_h = []
            for j in range(hidden):
                r_g, z_g = pwl(sig, p[j]), pwl(sig, p[hidden + j])
                n_pre = clip(p[2 * hidden + j] + round_shift(r_g * c_hn[j], 15), PRE_MIN, PRE_MAX)
                n_g = pwl(tnh, n_pre)
                # h' = n + z*(h - n) with h moved to Q0.15, result back to Q0.7
                mixed = n_g + round_shift(z_g * (h[j] * 256 - n_g), 15)
                new_h.append(sat(round_shift(mixed, 8), H_MIN, H_MAX, "h"))
            h = new_h
        outputs[t] = list(h)
    macs = x_size + hidden
    counters["macs"] = counters["neurons_computed"] * macs
    counters["macs_skipped"] = counters["neurons_reused"] * macs
    return outputs, reused_flags, counters


def reference_run(qmodel, x, lengths, theta_qs, predictor, cap=0, stats=None) -> dict:
    """The whole model, sequence by sequence; same output keys as ``golden_run``.

    ``theta_qs``: one Q8.8 integer per layer.
    """
    n, t_max, _ = x.shape
    hidden = qmodel.hidden_size
    dirs = len(qmodel.layers[0])
    rows = GATES[qmodel.cell] * hidden
    xq = quantize_x(x, qmodel.input_scale)
    result = {}
    h_int = np.zeros((n, t_max, hidden * dirs), np.int64)
    totals = {k: np.zeros(n, np.int64) for k in ("neurons_computed", "neurons_reused", "bnn_evals", "macs",
                                                  "macs_skipped")}
    for k in range(len(qmodel.layers)):
        for d in range(dirs):
            result[f"reused_l{k}" + ("_reverse" if d else "")] = np.zeros((n, t_max, rows), bool)
    for s in range(n):
        length = int(lengths[s])
        layer_in = [[int(v) for v in xq[s, t]] for t in range(length)]
        for k, layer in enumerate(qmodel.layers):
            outs = []
            for d, q in enumerate(layer):
                o, flags, cnt = reference_direction(qmodel.cell, hidden, qmodel.pwl_segments, q, layer_in, bool(d),
                                                    theta_qs[k], predictor, cap, stats)
                outs.append(o)
                result[f"reused_l{k}" + ("_reverse" if d else "")][s, :length] = np.array(flags, bool)
                for name, v in cnt.items():
                    totals[name][s] += v
            layer_in = [sum((o[t] for o in outs), []) for t in range(length)]
        h_int[s, :length] = np.array(layer_in)
    result["h_int"] = h_int
    result.update(totals)
    return result


def assert_matches_reference(got: dict, ref: dict) -> None:
    """Bit-exact equality of every key of the reference (h checked through h_int)."""
    for key, value in ref.items():
        assert key in got, key
        np.testing.assert_array_equal(np.asarray(got[key]).astype(np.int64), value.astype(np.int64), err_msg=key)
    np.testing.assert_array_equal(got["h"] * 128, ref["h_int"].astype(np.float64))


# -- running the CLI in-process ------------------------------------------------------------


def run_main(argv, capsys):
    """``memornn.cli.main(argv)``; returns (exit code, stdout, stderr). argparse exits count too."""
    from memornn.cli import main

    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def wide_row_qmodel(rng, cell, hidden, x_size=1040):
    """A one-layer model whose rows' partial sums pass 2**24 (float32's exact range)."""
    from memornn.golden.qmodel import QLayer, QModel

    rows = nx.GATES[cell] * hidden
    layer = QLayer(weight=rng.choice([-127, 127], (rows, x_size + hidden)), bias=rng.integers(-999, 999, rows),
                   mult=rng.integers(2**14, 2**15, rows), shift=rng.integers(28, 36, rows),
                   offset=rng.integers(-3, 4, x_size),
                   bias_hn=rng.integers(-999, 999, hidden) if cell == "gru" else None)
    assert int(np.abs(layer.weight).sum(axis=1).max()) * 128 >= 2**24
    return QModel(cell, hidden, [[layer]], np.full(x_size, 0.02))


def assert_fast_equals_int64(qmodel, x_q, lengths, runs):
    """Every direction of layer 0: the fast path equals the specification path for each
    (predictor, theta_q, cap) of ``runs``: outputs, reuse masks and counters."""
    from memornn.golden.options import LayerPolicy, RunOptions
    from memornn.golden.predictors import make_predictor

    for q in qmodel.layers[0]:
        assert fp._fast_path_ok(qmodel, q)
        for reverse in (False, True):
            for predictor, theta_q, cap in runs:
                pred = make_predictor(RunOptions(predictor, reuse_cap=cap))
                lp = LayerPolicy(theta_q)
                slow = im._layer_direction_spec(qmodel, q, x_q, lengths, reverse, pred, lp)
                fast = fp.layer_direction_fast(qmodel, q, x_q, lengths, reverse, pred.fast(lp))
                np.testing.assert_array_equal(fast[0], slow[0])
                np.testing.assert_array_equal(fast[1], slow[1])
                for name in im.COUNTERS:
                    np.testing.assert_array_equal(fast[2][name], slow[2][name])
