"""The golden model: integer-only LSTM/GRU inference with neuron-level fuzzy memoization.

This is the specification the hardware is judged against, bit for bit: outputs, every
reuse decision and every counter.

Per gate neuron (a row of a layer's weight matrix) and per step, in this order:

1. ``bnn`` predictor: ``yb = 2*popcount(XNOR(bits([x_t; h_(t-1)]), bits(row))) - N``
   with ``N = X + H``, input bits ``x >= offset`` (layer offsets) and ``h >= 0``, weight
   bits ``w >= 0``. The bias takes no part: it is the same at every step, so it would
   move every ``yb`` by the same one and says nothing about change.
2. Reuse when the entry is valid, the consecutive-reuse run is below the cap (cap 0:
   no cap) and ``|yb - yb_m| * 2**8 <= theta_q * |yb_m|``. The ``oracle`` predictor
   applies the same test to the neuron's true new pre-activation against the cached
   one (for the GRU candidate: both parts); ``none`` never reuses.
3. Reused: the cached pre-activation stands in and the run counter grows by one.
   Computed: the requantized pre-activation (GRU candidate: its two parts ``W_in x +
   b_in`` and ``W_hn h + b_hn``) and ``yb`` replace the entry, the entry becomes valid
   and the run counter returns to 0.
4. Activations and the cell update run on every neuron every step.

The table is cleared (every entry invalid) at each sequence start, so step 0 computes
every neuron. Layers run one at a time over the whole sequence; a bidirectional
layer's backward direction starts at each sequence's own last step.
"""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache

import numpy as np
from threadpoolctl import threadpool_limits

from . import numerics as nx
from .errors import MemornnError
from .inputs import Batch, quantize_inputs
from .qmodel import QLayer, QModel, layer_suffix
from .sequence import step_times
from .workers import check_workers, discard_pool, slice_bounds, worker_pool

PREDICTORS = ("bnn", "oracle", "none")
COUNTERS = ("neurons_computed", "neurons_reused", "bnn_evals", "macs", "macs_skipped")


def parse_thresholds(spec, num_layers: int) -> list[int]:
    """Thresholds (one float, a list, or ``"0.2,0.3"``) to per-layer Q8.8 values.

    Raises
    ------
    MemornnError
        If a value is not a number, is negative or too large, or the count is neither
        1 nor ``num_layers``.
    """
    if isinstance(spec, str):
        parts = [p.strip() for p in spec.split(",")]
        values = []
        for part in parts:
            try:
                values.append(float(part))
            except ValueError:
                raise MemornnError(f"threshold {part!r} is not a number") from None
    elif np.ndim(spec) == 0:
        values = [float(spec)]
    else:
        values = [float(v) for v in spec]
    if len(values) == 1:
        values = values * num_layers
    if len(values) != num_layers:
        raise MemornnError(f"{len(values)} thresholds given for a model of {num_layers} layers (give 1 or "
                           f"{num_layers})")
    try:
        return [nx.theta_to_q(v) for v in values]
    except ValueError as exc:
        raise MemornnError(str(exc)) from None


def check_reuse_cap(cap: int) -> int:
    """The consecutive-reuse cap, checked against the hardware run counter's width."""
    if not isinstance(cap, (int, np.integer)) or not 0 <= cap <= nx.REUSE_CAP_MAX:
        raise MemornnError(f"reuse cap must be an integer in [0, {nx.REUSE_CAP_MAX}], got {cap!r}")
    return int(cap)


class _MemoTable:
    """The memoization table of one layer direction, for every sequence of the batch.

    (No valid bits: every entry is valid after a sequence's first step, see below.)
    """

    def __init__(self, n: int, rows: int, hidden: int):
        self.pre = np.zeros((n, rows), dtype=np.int64)  # cached pre-activation (GRU n: the x part)
        self.pre_hn = np.zeros((n, hidden), dtype=np.int64)  # GRU candidate's h part
        self.yb = np.zeros((n, rows), dtype=np.int64)
        self.run = np.zeros((n, rows), dtype=np.int64)


#: Scratch budget, in array elements, for the input-side products of a block of steps.
_BLOCK_ELEMENTS = 1 << 21


def _layer_direction_int64(model: QModel, q: QLayer, x_seq: np.ndarray, lengths: np.ndarray, reverse: bool,
                           theta_q: int, predictor: str, reuse_cap: int):
    """Run one direction of one layer; returns its outputs, reuse masks and counters.

    The plain implementation: int64 arrays through the functions of numerics.py. It runs
    models beyond the bounds of :func:`_layer_direction_fast` (none that
    check_accumulator_range admits) and is what the fast path is tested against.
    Vectorised over the batch; the arithmetic is exactly that of the module docstring:

    - Integer dot products run as floating-point matrix products on contiguous
      transposed weights, BLAS-fast (numpy's int64 matmul is not) and exact: every
      partial sum, input and h sides together, is an integer within the significand
      (float32 when the row bound allows, else float64).
    - The input side of a step, ``W_x x_t + bias`` and the BNN's input bits, does not
      depend on the recurrence, so it is computed for a block of steps at once. The BNN
      output splits the same way: ``2*popcount(XNOR) - N`` is a sum over the bits, so
      ``yb = yb(x bits, W_x bits) + yb(h bits, W_h bits)``.
    - A sequence's first step computes every neuron (the table starts invalid) and
      leaves every entry valid, so "entry valid" is "step > 0".
    - The run counters are kept only when there is a cap; the counters are summed from
      the reuse masks at the end.
    """
    n, t_max, in_size = x_seq.shape
    hidden = model.hidden_size
    rows = model.gates * hidden
    batch_rows = np.arange(n)
    gru = model.cell == "gru"
    cand = slice(2 * hidden, 3 * hidden)  # GRU candidate rows
    bnn = predictor == "bnn"
    steps = int(lengths.max()) if n else 0

    # Step-ordered view of the inputs (the backward direction visits t = length - 1 - step).
    order = [step_times(lengths, step, reverse) for step in range(steps)]
    times_all = np.array([times for times, _ in order], dtype=np.int64).reshape(steps, n).T
    active_all = np.array([active for _, active in order], dtype=bool).reshape(steps, n).T
    x_steps = x_seq[batch_rows[:, None], times_all]  # (n, steps, in_size)

    # float32 when every partial sum fits its 24-bit significand (inputs and h are at most
    # 128 in magnitude), else float64 (53 bits: any model check_accumulator_range admits).
    exact32 = int(np.abs(q.weight).sum(axis=1).max(initial=0)) * 128 < 2**24
    fdtype = np.float32 if exact32 else np.float64
    w_x_t = np.ascontiguousarray(q.weight[:, :in_size].T, dtype=fdtype)
    w_h_t = np.ascontiguousarray(q.weight[:, in_size:].T, dtype=fdtype)
    if bnn:
        yb_x_of = nx.bnn_rows(q.weight_bits[:, :in_size], total_bits=in_size + hidden)
        yb_h_of = nx.bnn_rows(q.weight_bits[:, in_size:], total_bits=in_size + hidden)
    sigmoid = nx.pwl_lut("sigmoid", model.pwl_segments)  # pwl_eval by lookup (inputs are int16)
    tanh = nx.pwl_lut("tanh", model.pwl_segments)

    h = np.zeros((n, hidden), dtype=np.int64)
    c = np.zeros((n, hidden), dtype=np.int64)
    memo = _MemoTable(n, rows, hidden)
    out = np.zeros((n, t_max, hidden), dtype=np.int64)
    reused_mask = np.zeros((n, t_max, rows), dtype=bool)
    no_reuse = np.zeros((n, rows), dtype=bool)

    block = max(1, _BLOCK_ELEMENTS // max(1, n * rows))
    for s0 in range(0, steps, block):
        x_block = x_steps[:, s0:s0 + block]
        flat = x_block.reshape(-1, in_size).astype(fdtype)
        acc_x_block = (flat @ w_x_t).reshape(x_block.shape[:2] + (rows,))  # exact integers, float
        if bnn:
            yb_x_block = yb_x_of(nx.sign_bits(x_block, q.offset), as_float=True)
        for j in range(x_block.shape[1]):
            step = s0 + j
            active = active_all[:, step]
            times = times_all[:, step]
            acc_h = h.astype(fdtype) @ w_h_t
            if gru:  # candidate rows: W_in x + b_in here, W_hn h + b_hn apart
                acc = acc_x_block[:, j].copy()
                acc[:, :2 * hidden] += acc_h[:, :2 * hidden]
                acc = acc.astype(np.int64) + q.bias
                new_hn = nx.requantize(acc_h[:, cand].astype(np.int64) + q.bias_hn, q.mult[cand], q.shift[cand])
            else:
                acc = (acc_x_block[:, j] + acc_h).astype(np.int64) + q.bias
                new_hn = None
            new_pre = nx.requantize(acc, q.mult, q.shift)
            if bnn:
                yb = (yb_x_block[:, j] + yb_h_of(nx.sign_bits(h), as_float=True)).astype(np.int64)

            if predictor == "none" or step == 0:
                reuse = no_reuse
            else:
                if bnn:
                    reuse = nx.within_threshold(yb, memo.yb, theta_q)
                else:
                    reuse = nx.within_threshold(new_pre, memo.pre, theta_q)
                    if gru:
                        reuse[:, cand] &= nx.within_threshold(new_hn, memo.pre_hn, theta_q)
                if reuse_cap:
                    reuse &= memo.run < reuse_cap
            # Computed entries take the new values, reused ones keep theirs. A finished
            # sequence never runs again, so its state (table, h, c) may take anything and no
            # update needs an "active" mask; the table update is a branch-free blend (a
            # masked copy costs ~10x more on an unpredictable mask).
            if reuse is no_reuse:
                memo.pre = new_pre
                if gru:
                    memo.pre_hn = new_hn
                if bnn:
                    memo.yb = yb
                if reuse_cap:
                    memo.run[:] = 0
            else:
                memo.pre = new_pre + (memo.pre - new_pre) * reuse
                if gru:
                    memo.pre_hn = new_hn + (memo.pre_hn - new_hn) * reuse[:, cand]
                if bnn:
                    memo.yb = yb + (memo.yb - yb) * reuse
                if reuse_cap:
                    memo.run = (memo.run + 1) * reuse
            pre = memo.pre  # after the update: the value used this step, fresh or reused

            if gru:
                rz = nx.pwl_lookup(sigmoid, pre[:, :2 * hidden])
                n_gate = nx.pwl_lookup(tanh, nx.gru_candidate_pre(pre[:, cand], memo.pre_hn, rz[:, :hidden]))
                h_new = nx.gru_update(n_gate, rz[:, hidden:], h)
            else:
                i_f = nx.pwl_lookup(sigmoid, pre[:, :2 * hidden])
                g = nx.pwl_lookup(tanh, pre[:, 2 * hidden:3 * hidden])
                o = nx.pwl_lookup(sigmoid, pre[:, 3 * hidden:])
                h_new, c = nx.lstm_cell(i_f[:, :hidden], i_f[:, hidden:], g, o, c, model.pwl_segments)
            h = h_new
            if active.all():
                out[batch_rows, times] = h_new
                if reuse is not no_reuse:
                    reused_mask[batch_rows, times] = reuse
            else:  # only running sequences leave outputs
                out[batch_rows[active], times[active]] = h_new[active]
                reused_mask[batch_rows[active], times[active]] = reuse[active]

    # Every running step evaluates every neuron, computed or reused (padded steps never run).
    reused_count = reused_mask.sum(axis=(1, 2)).astype(np.int64)
    computed = rows * lengths.astype(np.int64) - reused_count
    bnn_evals = rows * lengths.astype(np.int64) if bnn else np.zeros(n, dtype=np.int64)
    macs_per_neuron = in_size + hidden
    counters = {"neurons_computed": computed, "neurons_reused": reused_count, "bnn_evals": bnn_evals,
                "macs": computed * macs_per_neuron, "macs_skipped": reused_count * macs_per_neuron}
    return out, reused_mask, counters


# -- the fast path ---------------------------------------------------------------------
#
# The same arithmetic as _layer_direction_int64 above, bit for bit, in the narrowest exact
# types and with few passes over the data. Each shortcut is proven where it is taken; the
# helpers are checked against numerics.py in tests/golden/test_golden_fastpaths.py, and
# golden_run against _layer_direction_int64 and the independent reference.

#: |(acc + bias) * mult| below this for every reachable accumulator keeps the float64
#: requantization exact (see _requant_offset). Every model check_accumulator_range admits
#: has |acc + bias| < 2**31 and mult < 2**15, so stays below 2**46.
_F64_EXACT_PRODUCT = 2**50
#: Largest shift for which the folded requantization (_requant_offset, fold=True) is exact.
_FOLD_SHIFT_MAX = 32
_PRE_LO, _PRE_HI = nx.int_range(nx.PRE_BITS)
#: nx.pwl_lut holds the value at x in entry x + _PRE_BASE: the table index of x.
_PRE_BASE = 2 ** (nx.PRE_BITS - 1)
try:  # the clip ufunc itself: np.clip adds ~2 us of Python per call
    from numpy._core.umath import clip as _clip
except ImportError:  # numpy < 2
    from numpy.core.umath import clip as _clip


def _requant_scale(mult, shift) -> np.ndarray:
    """``mu = mult * 2**-shift`` as float64, exact (15-bit mult, power-of-two scale, shift <= 62)."""
    return np.ldexp(np.asarray(mult, np.float64), -np.asarray(shift, np.int64))


def _requant_offset(bias, mult, shift, fold: bool) -> np.ndarray:
    """The float64 constant that turns ``acc * mu`` into a requantization, exactly.

    With ``mu = _requant_scale(mult, shift)``, ``v = (acc + bias) * mult`` and ``y = acc * mu
    + _requant_offset(bias, mult, shift, fold)``, :func:`_requant_index` gives
    ``requantize(acc + bias, mult, shift) + 32768``, the table index of the pre-activation
    (``bias`` may be 0, with the bias in ``acc``):

    - ``fold=False``: ``y = v * 2**-s + 2**-(s+2)``; index ``rint(clip(y, -32768, 32767)) + 32768``.
    - ``fold=True`` (needs ``shift <= 32``): ``y = v * 2**-s + 1/2 + 32768``; index
      ``trunc(clip(y, 0, 65535))``: one rounding and one addition fewer.

    Proof. Exactness: every term and every partial sum is an integer multiple of
    ``2**-(s+2)`` (fold: of ``2**-(s+1)``) whose multiplier is at most ``4|v| + 1 < 2**53``
    (fold: ``2|v| + 2**s + 2**(s+16) < 2**53``, as ``s <= 32``) when ``|v| < 2**50``: float64
    holds every such number, so ``y`` is exact whatever the order of the additions (BLAS
    included); no subnormals (``s + 2 <= 64``). The constant itself is formed in int64
    (below 2**53) and converted exactly. Let ``k = rshift_round(v, s) = floor(v * 2**-s +
    1/2)`` (for ``s = 0`` that is ``v``), so ``requantize = clip(k, -32768, 32767)``.

    - fold=False: for ``s >= 1``, ``v * 2**-s`` is a multiple of ``2**-s`` in ``[k - 1/2,
      k + 1/2 - 2**-s]``, so ``y`` lies strictly inside ``(k - 1/2, k + 1/2)``; for ``s = 0``,
      ``y = k + 1/4``. So ``y`` is never a tie and ``rint(y) = k`` (any rounding to nearest);
      clipping to integer bounds commutes with rounding (both monotonic).
    - fold=True: ``floor(y) = k + 32768``; ``floor(clip(y, 0, 65535)) = clip(k + 32768, 0,
      65535)`` (integer bounds), and on non-negative values ``trunc`` is ``floor``.
    """
    bias = np.asarray(bias, np.int64)
    mult = np.asarray(mult, np.int64)
    shift = np.asarray(shift, np.int64)
    if fold:
        assert shift.max(initial=0) <= _FOLD_SHIFT_MAX
        # bias * mu + 1/2 + 2**15 in units of 2**-(s+1): 2 * bias * mult + 2**s + 2**(s+16)
        num = 2 * bias * mult + (1 << shift) + (1 << (shift + 16))
        return np.ldexp(num.astype(np.float64), -(shift + 1))
    num = 4 * bias * mult + 1  # in units of 2**-(s+2)
    return np.ldexp(num.astype(np.float64), -(shift + 2))


def _requant_index(y: np.ndarray, out: np.ndarray, fold: bool, clip: bool = True) -> None:
    """``out`` (int64) = the table index ``requantize(...) + 32768`` from ``y`` of
    :func:`_requant_offset` with the same ``fold``; ``y`` is overwritten.

    ``clip=False`` (fold only) leaves the saturation to a reader that clips indices to
    [0, 65535] itself (``np.take(..., mode="clip")``): truncating the unclipped ``y`` gives
    an index <= 0 where ``y < 1`` and >= 65535 where ``y >= 65535``, else ``trunc(y)``, so
    clipping afterwards is clipping first (``|y| < 2**51``: well inside int64).
    """
    if fold:
        if clip:
            _clip(y, 0, 2 * _PRE_BASE - 1, out=y)
        np.copyto(out, y, casting="unsafe")  # truncation toward zero (clipped: y in [0, 2**16))
    else:
        _clip(y, _PRE_LO, _PRE_HI, out=y)
        np.rint(y, out=y)
        np.copyto(out, y, casting="unsafe")  # integers in the int16 range: exact
        out += _PRE_BASE


@lru_cache(maxsize=None)
def _lut_i32(func: str, segments: int) -> np.ndarray:
    """:func:`nx.pwl_lut` as int32 (its values fit), read-only."""
    table = nx.pwl_lut(func, segments).astype(np.int32)
    table.flags.writeable = False
    return table


@lru_cache(maxsize=None)
def _cell_tanh_table(segments: int) -> np.ndarray:
    """``pwl_tanh(cell_to_pre(c))`` (numerics) for every Q4.11 ``c``, at index ``c + 32768``; int32."""
    table = nx.pwl_tanh(nx.cell_to_pre(np.arange(_PRE_LO, _PRE_HI + 1)), segments).astype(np.int32)
    table.flags.writeable = False
    return table


def _within_threshold(new, cached, cached_value, theta_q: int, dist, out, limit) -> None:
    """``out = (|new - cached| << 8) <= theta_q * |cached_value|``: :func:`nx.within_threshold`.

    ``cached_value`` is the cached value itself; ``new`` and ``cached`` may both carry the
    same offset (table indices). Computed in the type of the ``dist`` and ``limit``
    buffers (``limit`` may be ``cached_value``'s own); the caller guarantees that both
    sides fit it.
    """
    np.subtract(new, cached, out=dist)
    np.abs(dist, out=dist)
    np.left_shift(dist, nx.THETA_FRAC, out=dist)
    np.abs(cached_value, out=limit)
    limit *= theta_q
    np.less_equal(dist, limit, out=out)


def _lstm_cell_i32(v, c, h, tanh_cell, scratch) -> None:
    """:func:`nx.lstm_cell` in int32, in place: ``v`` = gate outputs ``[i; f; g; o]`` (four
    blocks shaped like ``c``, stacked along axis 0), ``c`` becomes c', ``h`` (``c``'s shape;
    any type holding int8) receives h.

    Bounds: gate outputs at most 2**15 in magnitude and |c| <= 2**15, so each product is
    at most 2**30, plus a rounding half below 2**31. ``tanh_cell`` is :func:`_cell_tanh_table`.
    """
    t1, t2, c_idx = scratch
    H = c.shape[0]
    # c' = sat16(rshift_round(f*c, 15) + rshift_round(i*g, 19))
    np.multiply(v[H:2 * H], c, out=t1)
    t1 += 1 << (nx.GATE_FRAC - 1)
    t1 >>= nx.GATE_FRAC
    np.multiply(v[:H], v[2 * H:3 * H], out=t2)
    sh = 2 * nx.GATE_FRAC - nx.CELL_FRAC
    t2 += 1 << (sh - 1)
    t2 >>= sh
    np.add(t1, t2, out=c)
    _clip(c, _PRE_LO, _PRE_HI, out=c)  # CELL_BITS = PRE_BITS = 16
    # h = sat8(rshift_round(o * tanh(cell_to_pre(c')), 23))
    np.add(c, _PRE_BASE, out=c_idx)
    tanh_cell.take(c_idx, out=t1, mode="clip")  # indices in range: clip is a no-op
    t1 *= v[3 * H:]
    sh = 2 * nx.GATE_FRAC - nx.H_FRAC
    t1 += 1 << (sh - 1)
    t1 >>= sh
    _clip(t1, *nx.int_range(nx.H_BITS), out=h)


def _gru_cell_i32(v, h, tanh, scratch) -> None:
    """:func:`nx.gru_candidate_pre`, tanh and :func:`nx.gru_update` in int32, in place:
    ``v`` = ``[r; z; n_in; n_hn]`` (gate outputs, then the candidate's two pre-activations:
    four blocks shaped like ``h``, stacked along axis 0), ``h`` becomes h'.

    Bounds: ``r * n_hn`` at most 2**30; ``z * ((h << 8) - n)`` at most ``32768 * 65535 =
    2**31 - 2**15`` in magnitude, plus ``2**14``: below ``2**31 - 1``.
    """
    t1, n_g, idx = scratch
    H = h.shape[0]
    # n = tanh(sat16(n_in + rshift_round(r * n_hn, 15)))
    np.multiply(v[:H], v[3 * H:], out=t1)
    t1 += 1 << (nx.GATE_FRAC - 1)
    t1 >>= nx.GATE_FRAC
    t1 += v[2 * H:3 * H]
    _clip(t1, _PRE_LO, _PRE_HI, out=t1)
    np.add(t1, _PRE_BASE, out=idx)
    tanh.take(idx, out=n_g, mode="clip")
    # h' = sat8(rshift_round(n + rshift_round(z * ((h << 8) - n), 15), 8))
    np.left_shift(h, nx.GATE_FRAC - nx.H_FRAC, out=t1)
    t1 -= n_g
    t1 *= v[H:2 * H]
    t1 += 1 << (nx.GATE_FRAC - 1)
    t1 >>= nx.GATE_FRAC
    t1 += n_g
    t1 += 1 << (nx.GATE_FRAC - nx.H_FRAC - 1)
    t1 >>= nx.GATE_FRAC - nx.H_FRAC
    _clip(t1, *nx.int_range(nx.H_BITS), out=h)


class _BnnPacked:
    """The BNN's ``popcount(XNOR(b, w))`` of every row, packed ``slots`` rows to a float32 column.

    With 0/1 bits, the count of agreeing bits is ``u = sum_j b_j (2 w_j - 1) + (N - |w|)``
    (``yb = 2 u - N``): a product with weights +-1 and, against a constant input bit 1,
    the row constant ``N - |w|``. Packed column ``p`` holds rows ``p, p + P, p + 2P, ...``
    ``k`` bits apart (``2**k > N >= u``), so one product gives ``sum_i u_(p+iP) 2**(k i)``
    (one row's field needs no carry: ``0 <= u < 2**k``).

    Exact in float32: within a field the positive terms (+1 per set bit where ``w = 1``,
    and ``N - |w|``) add up to at most N and the negative ones (-1 per set bit where ``w =
    0``) to at least -N, so every partial sum of a column, whatever the order (BLAS), is
    an integer of magnitude at most ``N sum_i 2**(k i) <= 2**(k slots) - 1 <= 2**24 - 1``.
    The fields are then cut out with integer shifts and masks.
    """

    def __init__(self, w_bits: np.ndarray):
        rows, n_bits = w_bits.shape
        self.rows, self.n_bits = rows, n_bits
        self.k = max(1, int(n_bits).bit_length())  # 2**k > N >= every field
        self.slots = max(1, 24 // self.k)
        self.packed = -(-rows // self.slots)  # P
        self.width = self.slots * self.packed  # fields, rows first, then padding (always 0)
        w = np.asarray(w_bits, np.float64)
        terms = np.zeros((self.width, n_bits + 1))
        terms[:rows, :n_bits] = 2 * w - 1
        terms[:rows, n_bits] = n_bits - w.sum(axis=1)  # against the constant input bit
        place = np.ldexp(1.0, self.k * np.arange(self.slots))
        packed = (terms.reshape(self.slots, self.packed, n_bits + 1) * place[:, None, None]).sum(axis=0)
        assert np.abs(packed).max(initial=0) < 2**24
        self.w_t = np.ascontiguousarray(packed.T, dtype=np.float32)  # (N + 1, P), exact integers
        #: per-row constant of :meth:`__call__`: ``yb = out + const``
        self.const = np.full(rows, -n_bits, np.int32)
        self._n = None  # scratch buffers, sized on first use

    def popcounts(self, bits_t: np.ndarray, out: np.ndarray) -> None:
        """``out[:, i P + p] = u`` of row ``i P + p`` (padding: 0) for the 0/1 float32 ``bits_t``
        (n, N + 1) whose last column is all ones; ``out`` (n, width), any integer type
        holding N."""
        n = bits_t.shape[0]
        if self._n != n:
            self._n = n
            self._f = np.empty((n, self.packed), np.float32)
            self._i = np.empty((n, self.packed), np.int32)
            self._t = np.empty((n, self.packed), np.int32)
        np.matmul(bits_t, self.w_t, out=self._f)
        np.copyto(self._i, self._f, casting="unsafe")  # exact integers below 2**24
        mask, P = (1 << self.k) - 1, self.packed
        for i in range(self.slots):
            field = out[:, i * P:(i + 1) * P]
            if i == 0:
                np.bitwise_and(self._i, mask, out=field, casting="unsafe")
            elif i < self.slots - 1:
                np.right_shift(self._i, self.k * i, out=self._t)
                np.bitwise_and(self._t, mask, out=field, casting="unsafe")
            else:  # the top field: nothing above it
                np.right_shift(self._i, self.k * i, out=field, casting="unsafe")

    def __call__(self, bits: np.ndarray, out: np.ndarray) -> None:
        """``out = 2 popcount(XNOR) = yb - const`` (int32 (rows, n)) for 0/1 ``bits`` (N, n)."""
        bits_t = np.ones((bits.shape[1], self.n_bits + 1), np.float32)
        bits_t[:, :-1] = bits.T
        u = np.empty((bits.shape[1], self.width), np.int32)
        self.popcounts(bits_t, u)
        np.multiply(u[:, :self.rows].T, 2, out=out)


class _BnnDecision:
    """The bnn predictor's reuse decision for every neuron of every sequence, step by step.

    The table holds each entry's popcount ``u_m`` (``yb_m = 2 u_m - N``). The test
    ``(|yb - yb_m| << 8) <= theta_q |yb_m|`` of nx.within_threshold is, with ``yb - yb_m =
    2 (u - u_m)``, ``512 |u - u_m| <= theta_q |2 u_m - N|``, i.e. (integers) ``|u - u_m| <=
    R = (theta_q |2 u_m - N|) >> 9``. Everything runs in int16 when ``2 theta_q N < 2**15``
    (then every intermediate, ``2 theta_q u_m`` the largest, fits), else in int32
    (``2 theta_q N < 2**31`` for any N < 2**14 the fast path admits). Layout (n, width)
    as :meth:`_BnnPacked.popcounts`: a sequence's rows contiguous.
    """

    def __init__(self, w_bits: np.ndarray, n: int, theta_q: int, reuse_cap: int):
        self.bnn = _BnnPacked(w_bits)
        self.theta_q, self.cap = int(theta_q), int(reuse_cap)
        n_bits = self.bnn.n_bits
        dtype = np.int16 if 2 * self.theta_q * n_bits < 2**15 else np.int32
        self.sign_shift = np.iinfo(dtype).bits - 1
        shape = (n, self.bnn.width)
        self.u, self.u_m, self.d, self.t = (np.zeros(shape, dtype) for _ in range(4))
        self.computed = np.empty(shape, dtype)  # -1: computed, 0: reused
        self.run = np.zeros(shape, dtype) if self.cap else None

    def __call__(self, bits_t: np.ndarray, first: bool) -> np.ndarray:
        """The mask ``computed`` (-1: compute, 0: reuse; (n, width)) of this step's
        ``bits_t`` (see :meth:`_BnnPacked.popcounts`); the table (and run counters) take
        the computed entries. ``first``: a sequence's first step, every entry invalid."""
        self.bnn.popcounts(bits_t, self.u)
        return self.decide(first)

    def decide(self, first: bool) -> np.ndarray:
        """:meth:`__call__` on the popcounts already in ``u``."""
        u, u_m, d, t, m = self.u, self.u_m, self.d, self.t, self.computed
        np.subtract(u, u_m, out=d)
        if first:
            m.fill(-1)
        else:
            theta, n_bits = self.theta_q, self.bnn.n_bits
            np.multiply(u_m, 2 * theta, out=t)
            t -= theta * n_bits
            np.abs(t, out=t)  # theta_q |yb_m|
            t >>= nx.THETA_FRAC + 1  # R
            np.abs(d, out=m)
            np.subtract(t, m, out=t)  # R - |u - u_m|: negative when computed
            np.right_shift(t, self.sign_shift, out=m)
        if self.cap:  # a run at the cap computes; runs: +1 when reused, else 0
            run = self.run
            np.subtract(self.cap - 1, run, out=t)
            t >>= self.sign_shift  # -1 where run >= cap
            m |= t
            run += 1
            np.invert(m, out=t)
            run &= t
        d &= m  # the table takes the computed entries: u_m += (u - u_m) where computed
        u_m += d
        return m


def _fast_path_ok(model: QModel, q: QLayer) -> bool:
    """Whether the bounds the fast path relies on hold (they do for every legal model)."""
    hidden = model.hidden_size
    bound = np.abs(q.weight).sum(axis=1) * 128 + np.abs(q.bias)  # |acc + bias| per row, any inputs
    if model.cell == "gru":
        bound[2 * hidden:] += np.abs(q.bias_hn)
    product = max((int(b) * int(m) for b, m in zip(bound, q.mult)), default=0)
    # the bnn decision in int32 at worst: 2 theta_q N < 2**31 for N < 2**14 (_BnnDecision)
    return product < _F64_EXACT_PRODUCT and q.weight.shape[1] < 2**14


def _step_times_all(lengths: np.ndarray, steps: int, reverse: bool) -> np.ndarray:
    """(steps, n): :func:`step_times` of every step at once (padded steps read time 0)."""
    step = np.arange(steps)[:, None]
    times = lengths[None, :] - 1 - step if reverse else np.broadcast_to(step, (steps, len(lengths)))
    return np.where(step < lengths[None, :], times, 0)


def _product_matrix(model: QModel, q: QLayer, in_size: int, fdtype):
    """The step's product ``[x_t, h, 1] @ w_t`` and its requantization constants.

    Returns ``w_t`` ((X + H + 1, 4H), ``fdtype``: the transpose of a contiguous matrix,
    the faster operand here), ``mu`` and ``offset`` per product column
    (:func:`_requant_scale`, :func:`_requant_offset`) and ``fold``. Columns: the layer's
    rows; for the GRU, the candidate's two parts ``[W_in | 0 | b_in]`` and ``[0 | W_hn |
    b_hn]`` as two blocks (4H columns for either cell). The bias joins the product (the
    last row, against the constant 1) when every column's partial sums stay exact with it.
    """
    H = model.hidden_size
    cand = slice(2 * H, 3 * H)
    weight, bias, mult, shift = q.weight, q.bias, q.mult, q.shift
    if model.cell == "gru":
        w_in = weight[cand].copy()
        w_in[:, in_size:] = 0
        w_hn = weight[cand].copy()
        w_hn[:, :in_size] = 0
        weight = np.concatenate([weight[:2 * H], w_in, w_hn])
        bias = np.concatenate([bias, q.bias_hn])
        mult = np.concatenate([mult, mult[cand]])
        shift = np.concatenate([shift, shift[cand]])
    fold = int(shift.max(initial=0)) <= _FOLD_SHIFT_MAX
    with_bias = int((np.abs(weight).sum(axis=1) * 128 + np.abs(bias)).max(initial=0)) < (
        2**24 if fdtype == np.float32 else 2**53)
    column = bias if with_bias else np.zeros_like(bias)
    w_t = np.ascontiguousarray(np.concatenate([weight, column[:, None]], axis=1), dtype=fdtype).T
    offset = _requant_offset(np.zeros_like(bias) if with_bias else bias, mult, shift, fold)
    return w_t, _requant_scale(mult, shift), offset, fold


def _select_computed(table: np.ndarray, new: np.ndarray, computed: np.ndarray) -> None:
    """``table = new`` where ``computed`` is -1, kept where it is 0; ``new`` is overwritten.

    Bit by bit on integer views (``table``, ``new``: the same integer type as
    ``computed``), so exact for any values (a blend ``new + (table - new) * reuse`` could
    round in float).
    """
    new ^= table
    new &= computed
    table ^= new


class _OracleDecision:
    """The oracle predictor's reuse decision and its table of pre-activations (as table
    indices, int64), on the value layout (4, n, H) of :func:`_layer_direction_fast`."""

    def __init__(self, n: int, H: int, gru: bool, theta_q: int, reuse_cap: int):
        shape = (4, n, H)
        self.gru, self.theta_q, self.cap = gru, theta_q, reuse_cap
        self.blocks = 3 if gru else 4  # blocks of neurons (GRU: the candidate's two parts are one)
        self.idx_m = np.empty(shape, np.int64)  # the table: indices in use
        self.test = np.empty(shape, bool)
        self.r_i = np.empty(shape, np.int64)  # reuse as 0/1, the blend's type
        self.dist, self.limit = np.empty(shape, np.int64), np.empty(shape, np.int64)
        self.run = np.zeros((self.blocks, n, H), np.int32) if reuse_cap else None

    def __call__(self, idx: np.ndarray, first: bool, reuse_out: np.ndarray) -> np.ndarray:
        """Decide on this step's table indices ``idx`` (4, n, H); write the reuse mask to
        ``reuse_out`` (n, rows); return the indices in use (the updated table)."""
        idx_m = self.idx_m
        if first:
            np.copyto(idx_m, idx)
            reuse_out[...] = False
            return idx_m
        # on pre-activations: |idx - idx_m| is |pre - pre_m|
        np.subtract(idx_m, _PRE_BASE, out=self.limit)
        _within_threshold(idx, idx_m, self.limit, self.theta_q, self.dist, self.test, self.limit)
        reuse = self.test[:self.blocks]
        if self.gru:  # the candidate: both parts within the threshold
            reuse[2] &= self.test[3]
        if self.cap:
            reuse &= self.run < self.cap
            self.run += 1
            self.run *= reuse
        r_i = self.r_i
        np.copyto(r_i[:self.blocks], reuse)
        if self.gru:
            r_i[3] = r_i[2]
        # blend: table = new + (table - new) * reuse
        np.subtract(idx_m, idx, out=idx_m)
        idx_m *= r_i
        idx_m += idx
        n, H = idx.shape[1:]
        np.copyto(reuse_out.reshape(n, self.blocks, H), reuse.transpose(1, 0, 2))
        return idx_m


class _StepOutputs:
    """A layer direction's outputs (h, int8) and reuse masks: written step by step,
    returned in time order.

    Each step writes its values contiguously into a buffer; every ``block`` steps the
    buffer goes to those steps' time slots in one copy (cheaper than writing each step's
    rows to their far-apart slots, or than buffering every step: fewer fresh pages). That
    needs one time per step for all sequences: the forward direction, or the backward one
    with equal lengths; else every step is buffered and put in order per sequence at the
    end (t = length - 1 - step). Steps past a sequence's length never ran: outputs 0,
    nothing reused.
    """

    block = 8  # steps per copy to the time slots

    def __init__(self, lengths: np.ndarray, t_max: int, steps: int, H: int, rows: int, reverse: bool, memo: bool):
        n = len(lengths)
        self.lengths, self.steps, self.reverse, self.memo = lengths, steps, reverse, memo
        self.out = np.empty((n, t_max, H), np.int8)
        self.reused = np.empty((n, t_max, rows), bool) if memo else np.zeros((n, t_max, rows), bool)
        self.direct = not reverse or bool(np.all(lengths == steps))
        depth = min(self.block, steps) if self.direct else steps
        self.out_s = np.empty((depth, n, H), np.int8)
        self.reuse_s = np.empty((depth, n, rows), bool) if memo else None

    def slot(self, step: int):
        """Where step ``step`` writes its h (n, H) and its reuse mask (n, rows; None: none)."""
        i = step % self.block if self.direct else step
        return self.out_s[i], (self.reuse_s[i] if self.memo else None)

    def written(self, step: int) -> None:
        """Step ``step`` is written: flush the buffer when full (or at the last step)."""
        if not self.direct or (step % self.block != self.block - 1 and step != self.steps - 1):
            return
        s0 = step - step % self.block
        k = step + 1 - s0
        # time slots: forward s0..step; backward (every length = steps) steps-1-step..steps-1-s0, reversed
        times = slice(s0, step + 1) if not self.reverse else slice(self.steps - 1 - step, self.steps - s0)
        order = slice(0, k) if not self.reverse else slice(k - 1, None, -1)
        self.out[:, times] = self.out_s[order].transpose(1, 0, 2)
        if self.memo:
            self.reused[:, times] = self.reuse_s[order].transpose(1, 0, 2)

    def finish(self):
        """``(out, reused)`` in time order, zero past each sequence's length."""
        out, reused = self.out, self.reused
        for s, length in enumerate(int(v) for v in self.lengths):
            if not self.direct:  # the backward direction visits t = length - 1 - step
                out[s, :length] = self.out_s[length - 1::-1, s]
                if self.memo:
                    reused[s, :length] = self.reuse_s[length - 1::-1, s]
            out[s, length:] = 0
            if self.memo:
                reused[s, length:] = False
        return out, reused


def _layer_direction_fast(model: QModel, q: QLayer, x_seq: np.ndarray, lengths: np.ndarray, reverse: bool,
                          theta_q: int, predictor: str, reuse_cap: int):
    """:func:`_layer_direction_int64`, faster; the same results bit for bit.

    Layout: a step's product as (n, 4H), a sequence's columns contiguous, so that its
    reuse mask and h go out with plain copies; the values as four blocks (4, n, H), one
    per gate, contiguous for the table lookups and the cell (the first requantization
    step moves them there).

    - One matrix product per step, ``[x_t, h, 1] @ w_t`` (:func:`_product_matrix`), exact
      as in the int64 path (float32 when every column's partial sums stay below 2**24).
    - bnn: the decision (:class:`_BnnDecision`) does not read the product; the table
      caches the product itself, reused entries take it back (bit by bit,
      :func:`_select_computed`), and the requantization and activations run on the
      result: a function of the cached product, so the same values as caching them.
    - Requantization in float64, exact (:func:`_requant_offset`): times ``mu``, plus a
      constant, cast to the table index; the LSTM leaves the saturation to the lookups'
      ``mode="clip"`` (see :func:`_requant_index`).
    - Activations by ``np.take`` from the int32 tables of ``nx.pwl_lut``; the LSTM's
      ``tanh(c')`` from one table over every cell value (``pwl_tanh(cell_to_pre(c))``).
      Gate outputs lie in [-32767, 32768] (checked below). Cells in int32
      (:func:`_lstm_cell_i32`, :func:`_gru_cell_i32`).
    - oracle: the test on the table indices, the table of indices blended
      (:class:`_OracleDecision`).
    - Outputs and reuse masks go out through :class:`_StepOutputs`.
    """
    n, t_max, in_size = x_seq.shape
    H = model.hidden_size
    rows = model.gates * H
    slots = 4 * H  # product columns, either cell
    gru = model.cell == "gru"
    bnn, oracle = predictor == "bnn", predictor == "oracle"
    memo = predictor != "none"
    steps = int(lengths.max()) if n else 0
    i32, i64 = np.int32, np.int64
    n_bits = in_size + H

    exact32 = int(np.abs(q.weight).sum(axis=1).max(initial=0)) * 128 < 2**24
    fdtype = np.float32 if exact32 else np.float64
    w_t, mu, offset, fold = _product_matrix(model, q, in_size, fdtype)
    # constants on the value layout (4, n, H)
    mu = np.ascontiguousarray(np.broadcast_to(mu.reshape(4, 1, H), (4, n, H)))
    if np.all(offset == offset[0]):
        offset = float(offset[0])  # a scalar: numpy adds it ~2x faster than a full array
    else:
        offset = np.ascontiguousarray(np.broadcast_to(offset.reshape(4, 1, H), (4, n, H)))
    clip = oracle or gru  # the oracle compares indices, the GRU's candidate reads pre-activations
    sig, tanh = _lut_i32("sigmoid", model.pwl_segments), _lut_i32("tanh", model.pwl_segments)
    assert 0 <= sig.min() and sig.max() <= 2**15 and np.abs(tanh).max() < 2**15  # the int32 bounds
    if not gru:
        tanh_cell = _cell_tanh_table(model.pwl_segments)

    # inputs in step order, (steps, n, X), in their own (int8) type
    if steps and np.all(lengths == steps):  # every sequence runs every step: a view
        x_steps = (x_seq[:, steps - 1::-1] if reverse else x_seq[:, :steps]).transpose(1, 0, 2)
    else:
        x_steps = x_seq[np.arange(n)[None, :], _step_times_all(lengths, steps, reverse)]
    z = np.zeros((n, n_bits + 1), fdtype)  # [x_t, h, 1], small integers: exact
    z[:, n_bits] = 1
    h_view = z[:, in_size:n_bits]
    acc = np.empty((n, slots), fdtype)
    if bnn:
        decision = _BnnDecision(q.weight_bits, n, theta_q, reuse_cap)
        x_offset = np.asarray(q.offset, i64)
        if np.all(np.asarray(x_offset, x_seq.dtype) == x_offset):  # compare in the inputs' type
            x_offset = x_offset.astype(x_seq.dtype)
        bits_t = np.ones((n, n_bits + 1), np.float32)  # [x bits, h bits, 1]; h = 0 gives bit 1
        x_bits, h_bits = bits_t[:, :in_size], bits_t[:, in_size:n_bits]
        acc_m = np.zeros((n, slots), fdtype)  # the table: products in use
        int_view = i32 if fdtype == np.float32 else i64
        acc_i, acc_m_i = acc.view(int_view), acc_m.view(int_view)
        computed = np.empty((n, slots), int_view)
        mask = decision.computed[:, :rows]
    elif oracle:
        decision = _OracleDecision(n, H, gru, theta_q, reuse_cap)

    c = np.zeros((n, H), i32)
    h_i = np.zeros((n, H), i32)  # GRU: h as int32 (the LSTM reads only c)
    y = np.empty((4, n, H), np.float64)
    idx = np.empty((4, n, H), i64)  # this step's table indices (pre-activation + 32768)
    val = np.empty((4, n, H), i32)  # what the cell reads: gate outputs (GRU n blocks: pre)
    cell_in = val.reshape(4 * n, H)  # the four blocks stacked, as the cells take them
    scratch = (np.empty((n, H), i32), np.empty((n, H), i32), np.empty((n, H), i64))

    outputs = _StepOutputs(lengths, t_max, steps, H, rows, reverse, memo)

    def values(index, out):
        """What the cell reads, from table indices."""
        sig.take(index[:2], out=out[:2], mode="clip")
        if gru:
            np.subtract(index[2:], _PRE_BASE, out=out[2:], casting="unsafe")  # pre, int16 range
        else:
            tanh.take(index[2], out=out[2], mode="clip")
            sig.take(index[3], out=out[3], mode="clip")

    z_x = z[:, :in_size]
    # the product in use (bnn: the table's) seen in the value layout
    used = (acc_m if bnn else acc).reshape(n, 4, H).transpose(1, 0, 2)
    for step in range(steps):
        first = step == 0
        h, reuse_dst = outputs.slot(step)
        x_t = x_steps[step]
        z_x[...] = x_t
        np.matmul(z, w_t, out=acc)  # exact integers
        if bnn:
            np.greater_equal(x_t, x_offset, out=x_bits)
            decision(bits_t, first)
            np.equal(mask, 0, out=reuse_dst)
            np.copyto(computed[:, :rows], mask)
            if gru:  # the candidate's h part goes with its neuron
                computed[:, 3 * H:] = computed[:, 2 * H:3 * H]
            _select_computed(acc_m_i, acc_i, computed)
        np.copyto(y, used)  # to the value layout, then times mu: faster than a mixed-type product
        y *= mu
        y += offset
        _requant_index(y, idx, fold, clip)
        values(decision(idx, first, reuse_dst) if oracle else idx, val)
        if gru:
            _gru_cell_i32(cell_in, h_i, tanh, scratch)
            np.copyto(h, h_i, casting="unsafe")  # int8 range: exact
        else:
            _lstm_cell_i32(cell_in, c, h, tanh_cell, scratch)
        np.copyto(h_view, h)  # into [x_t, h, 1]
        if bnn:
            np.greater_equal(h, 0, out=h_bits)
        outputs.written(step)

    out, reused_mask = outputs.finish()
    if memo:
        reused_count = np.array([np.count_nonzero(m) for m in reused_mask], dtype=i64)
    else:
        reused_count = np.zeros(n, dtype=i64)
    computed_count = rows * lengths.astype(i64) - reused_count
    bnn_evals = rows * lengths.astype(i64) if bnn else np.zeros(n, dtype=i64)
    macs_per_neuron = in_size + H
    counters = {"neurons_computed": computed_count, "neurons_reused": reused_count, "bnn_evals": bnn_evals,
                "macs": computed_count * macs_per_neuron, "macs_skipped": reused_count * macs_per_neuron}
    return out, reused_mask, counters


def _layer_direction(model: QModel, q: QLayer, x_seq: np.ndarray, lengths: np.ndarray, reverse: bool,
                     theta_q: int, predictor: str, reuse_cap: int):
    """One direction of one layer: the fast path when its bounds hold, else the int64 one."""
    run = _layer_direction_fast if _fast_path_ok(model, q) else _layer_direction_int64
    return run(model, q, x_seq, lengths, reverse, theta_q, predictor, reuse_cap)


#: Elements per :func:`quantize_inputs` call: its float64 temporaries stay small.
_QUANTIZE_CHUNK = 1 << 15


def _quantize_inputs_int8(x: np.ndarray, input_scale) -> np.ndarray:
    """:func:`quantize_inputs` as int8 (its range), a few sequences at a time: fresh
    multi-megabyte temporaries cost more in page faults than the arithmetic."""
    out = np.empty(x.shape, np.int8)
    step = max(1, _QUANTIZE_CHUNK // max(1, x[0].size)) if len(x) else 1
    for s in range(0, len(x), step):
        out[s:s + step] = quantize_inputs(x[s:s + step], input_scale)
    return out


def _run_layers(model: QModel, x_q: np.ndarray, lengths: np.ndarray, thetas: list, predictor: str,
                reuse_cap: int):
    """Every layer on quantized inputs ``x_q``: ``(h_int, masks, counters)``, with ``masks``
    the ``reused_l*`` entries of :func:`golden_run` in layer order (its other keys apart)."""
    masks = {}
    totals = {name: np.zeros(len(lengths), dtype=np.int64) for name in COUNTERS}
    layer_in = x_q
    # The per-step matrix products are small: on an idle 2-CPU machine two BLAS threads make
    # them ~1.8x faster, but one other busy process makes a run several times slower (the
    # worker threads wait for CPU at every product), so run them on one thread (one in each
    # process when workers share the batch).
    with threadpool_limits(1, user_api="blas"):
        for k, layer in enumerate(model.layers):
            outs = []
            for d, q in enumerate(layer):
                out, reused, counters = _layer_direction(model, q, layer_in, lengths, bool(d), thetas[k],
                                                         predictor, reuse_cap)
                outs.append(out)
                masks["reused" + layer_suffix(k, d)] = reused
                for name in COUNTERS:
                    totals[name] += counters[name]
            layer_in = np.concatenate(outs, axis=2) if len(outs) > 1 else outs[0]
    return layer_in.astype(np.int8, copy=False), masks, totals


def _run_slice(model: QModel, x_q: np.ndarray, lengths: np.ndarray, thetas: list, predictor: str,
               reuse_cap: int):
    """:func:`_run_layers` in a worker process, its reuse masks packed 8 to a byte (8x less to send back)."""
    h_int, masks, totals = _run_layers(model, x_q, lengths, thetas, predictor, reuse_cap)
    return h_int, {key: np.packbits(m, axis=-1) for key, m in masks.items()}, totals


def _run_sliced(model: QModel, x_q: np.ndarray, lengths: np.ndarray, thetas: list, predictor: str,
                reuse_cap: int, workers: int):
    """:func:`_run_layers` with the sequences in ``workers`` contiguous slices, the first
    run here, the others by worker processes at the same time; the slices' results joined.

    Sequences are independent (each has its own state and table, cleared at its start),
    so this gives what one run gives, bit for bit.
    """
    bounds = slice_bounds(len(lengths), workers)
    if len(bounds) == 1:
        return _run_layers(model, x_q, lengths, thetas, predictor, reuse_cap)
    rows = model.gates * model.hidden_size
    pool = worker_pool(len(bounds) - 1)
    jobs = []
    try:
        for a, b in bounds[1:]:
            jobs.append(pool.submit(_run_slice, model, x_q[a:b], lengths[a:b], thetas, predictor, reuse_cap))
        a, b = bounds[0]
        parts = [_run_layers(model, x_q[a:b], lengths[a:b], thetas, predictor, reuse_cap)]
        for job in jobs:
            h_int, packed, totals = job.result()
            parts.append((h_int, {key: np.unpackbits(m, axis=-1, count=rows).view(bool)
                                  for key, m in packed.items()}, totals))
    except BrokenProcessPool:  # a worker died: the next call starts a new pool
        discard_pool(pool)
        raise
    finally:
        for job in jobs:  # when this process failed: nothing waits for the others
            job.cancel()
    return _join_slices(parts)


def _join_slices(parts: list):
    """The ``(h_int, masks, counters)`` of consecutive slices of a batch, as one batch's."""
    return (np.concatenate([p[0] for p in parts]),
            {key: np.concatenate([p[1][key] for p in parts]) for key in parts[0][1]},
            {name: np.concatenate([p[2][name] for p in parts]) for name in COUNTERS})


def golden_run(model: QModel, batch: Batch, threshold=0.0, predictor: str = "bnn", reuse_cap: int = 0,
               workers: int = 1) -> dict:
    """Run the integer model with memoization on a batch of float sequences.

    Parameters
    ----------
    model : QModel
    batch : Batch
        Float sequences; quantized here with the model's input scales.
    threshold : float, sequence of float, or str
        Reuse threshold theta, global or per layer (see :func:`parse_thresholds`).
    predictor : {"bnn", "oracle", "none"}
    reuse_cap : int
        Largest number of consecutive reuses of a neuron; 0 for no cap.
    workers : int
        Processes sharing the sequences: this one and ``workers - 1`` worker processes,
        each running a contiguous slice of the batch (fewer when there are fewer
        sequences). The results do not depend on it. 1 (the default): this process
        alone. The worker processes stay up for later calls (see :mod:`.workers`;
        starting them costs a fraction of a second, once). On 2 CPUs, 2 ran the
        benchmark's 100 sequences 1.2-1.4x faster on an otherwise idle machine
        (``benchmarks/golden_speed.py``); with another job busy on the machine the gain
        can vanish or reverse.

    Returns
    -------
    dict
        The output key table: ``h`` (float), ``h_int`` (N, T, H*D); ``reused_l{k}`` and
        ``reused_l{k}_reverse`` (N, T, G*H) bool; the counters of ``COUNTERS`` (N,) int64.

    Raises
    ------
    MemornnError
        On an unknown predictor, inputs of the wrong width, a bad threshold, reuse cap
        or worker count.
    """
    if predictor not in PREDICTORS:
        raise MemornnError(f"unknown predictor {predictor!r} (choose from {', '.join(PREDICTORS)})")
    if batch.x.shape[2] != model.input_size:
        raise MemornnError(f"inputs have {batch.x.shape[2]} features per step, but the model takes "
                           f"{model.input_size}")
    thetas = parse_thresholds(threshold, model.num_layers)
    reuse_cap = check_reuse_cap(reuse_cap)
    workers = check_workers(workers)
    x_q = _quantize_inputs_int8(batch.x, model.input_scale)
    h_int, masks, totals = _run_sliced(model, x_q, batch.lengths, thetas, predictor, reuse_cap, workers)
    result = dict(masks)
    result["h_int"] = h_int
    result["h"] = np.multiply(h_int, 2.0**-nx.H_FRAC)  # float64, exact (a power of two)
    result.update(totals)
    return result
