"""The golden model's fast path: the specification of :mod:`.intmodel`, bit for bit, faster.

The same arithmetic as the specification path (``intmodel._layer_direction_spec``), in
the narrowest exact types and with few passes over the data. Each shortcut is proven
where it is taken; the helpers are checked against numerics.py in
tests/golden/test_golden_fastpaths*.py, and whole layer directions against the
specification path and the independent reference.

The predictor's part of a step goes through a fast decision (:class:`FastNone`,
:class:`FastBnn`, :class:`FastOracle`, :class:`FastDelta`, :class:`FastSign`,
:class:`FastHybrid`; chosen by :mod:`.predictors`), so that the step loop of
:func:`layer_direction_fast` has no per-predictor branches.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from . import numerics as nx
from .counters import delta_counters, row_memo_counters
from .options import LayerPolicy, RunOptions
from .qmodel import QLayer, QModel

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
        if self.cap:  # the cap and the run counters: the rule of nx.reuse_decision
            reuse, run_next = nx.reuse_decision(m == 0, self.run, self.cap)
            np.copyto(self.run, run_next, casting="unsafe")  # below the cap: fits
            np.subtract(reuse, 1, out=m, casting="unsafe")  # -1: computed, 0: reused
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
        if self.cap:  # the rule of nx.reuse_decision
            capped, run_next = nx.reuse_decision(reuse, self.run, self.cap)
            reuse[...] = capped
            np.copyto(self.run, run_next, casting="unsafe")
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
    """A layer direction's outputs (h, int8), reuse masks and used-column masks: written
    step by step, returned in time order.

    Each step writes its values contiguously into a buffer; every ``block`` steps the
    buffer goes to those steps' time slots in one copy (cheaper than writing each step's
    rows to their far-apart slots, or than buffering every step: fewer fresh pages). That
    needs one time per step for all sequences: the forward direction, or the backward one
    with equal lengths; else every step is buffered and put in order per sequence at the
    end (t = length - 1 - step). Steps past a sequence's length never ran: outputs 0,
    nothing reused, no column used. ``widths``: per stream (``h``, ``reused``,
    ``columns``) its width, or None when the run writes none (``reused``: all False).
    """

    block = 8  # steps per copy to the time slots
    streams = (("h", np.int8), ("reused", bool), ("columns", bool))

    def __init__(self, lengths: np.ndarray, t_max: int, steps: int, reverse: bool, widths: dict):
        n = len(lengths)
        self.lengths, self.steps, self.reverse = lengths, steps, reverse
        self.direct = not reverse or bool(np.all(lengths == steps))
        depth = min(self.block, steps) if self.direct else steps
        self.final, self.buffers = {}, {}
        for name, dtype in self.streams:
            width = widths.get(name)
            if width is not None:
                self.final[name] = np.empty((n, t_max, width), dtype)
                self.buffers[name] = np.empty((depth, n, width), dtype)
        if widths.get("reused") is None:
            self.final["reused"] = np.zeros((n, t_max, widths["rows"]), bool)
        self.slots = [tuple(self.buffers[name][i] if name in self.buffers else None for name, _ in self.streams)
                      for i in range(depth)]

    def slot(self, step: int):
        """Where step ``step`` writes its h (n, H), reuse mask (n, rows) and used columns
        (n, X + H); None for a stream the run does not write."""
        return self.slots[step % self.block if self.direct else step]

    def written(self, step: int) -> None:
        """Step ``step`` is written: flush the buffer when full (or at the last step)."""
        if not self.direct or (step % self.block != self.block - 1 and step != self.steps - 1):
            return
        s0 = step - step % self.block
        k = step + 1 - s0
        # time slots: forward s0..step; backward (every length = steps) steps-1-step..steps-1-s0, reversed
        times = slice(s0, step + 1) if not self.reverse else slice(self.steps - 1 - step, self.steps - s0)
        order = slice(0, k) if not self.reverse else slice(k - 1, None, -1)
        for name, buffer in self.buffers.items():
            self.final[name][:, times] = buffer[order].transpose(1, 0, 2)

    def finish(self):
        """``(out, reused, columns)`` in time order, zero past each sequence's length
        (``columns``: None when not written)."""
        for s, length in enumerate(int(v) for v in self.lengths):
            for name, buffer in self.buffers.items():
                if not self.direct:  # the backward direction visits t = length - 1 - step
                    self.final[name][s, :length] = buffer[length - 1::-1, s]
                self.final[name][s, length:] = 0
        return self.final["h"], self.final["reused"], self.final.get("columns")


@dataclass
class FastLayer:
    """What a fast decision knows of its layer direction (:func:`layer_direction_fast`).

    Attributes
    ----------
    q : QLayer
    n, in_size, hidden : int
        Sequences, X, H.
    rows : int
        Gate rows (G*H).
    gru : bool
    acc : ndarray, (n, 4H)
        The step's product (``fdtype``), written before :meth:`on_product` runs.
    x_dtype : dtype
        The inputs' type.
    segments : int
        PWL segments of the activations.
    w_t : ndarray, (X + H + 1, 4H)
        The product matrix of :func:`_product_matrix` (its last row: the bias, or zeros
        where the bias is in the requantization's offset).
    """

    q: QLayer
    n: int
    in_size: int
    hidden: int
    rows: int
    gru: bool
    acc: np.ndarray
    x_dtype: np.dtype
    segments: int
    w_t: np.ndarray | None = None


class FastNone:
    """No skipping: the step's product is used as it is.

    The interface of a fast decision, called by the step loop of
    :func:`layer_direction_fast` in this order:

    - ``product``: the (n, 4H) array the requantization reads, fixed for the run;
    - ``on_inputs(v, columns_dst)`` before the step's product (which the loop takes only
      when ``dense``);
    - ``on_product(x_t, first, reuse_dst)`` after the step's product is in ``acc``;
    - ``on_indices(idx, first, reuse_dst)``: the table indices (4, n, H) in use;
    - ``on_h(h)`` with the step's output.

    and, at the end, ``counters(...)``. ``memo``: it writes reuse masks to ``reuse_dst``
    ((n, rows) bool); ``columns``: used-column masks to ``columns_dst``; ``clip``: the
    indices must be clipped to the table (:func:`_requant_index`); ``bnn``: it
    evaluates the BNN on every row (counter ``bnn_evals``).
    """

    memo = clip = bnn = columns = False
    dense = True  # the step loop takes the dense product ``[x_t, h, 1] @ w_t`` into ``acc``

    def __init__(self, layer: FastLayer, lp: LayerPolicy | None = None, options: RunOptions | None = None):
        self.product = layer.acc
        self.layer = layer

    def on_inputs(self, v, columns_dst) -> None:
        """The column stage: may change the step's column values ``v`` ((n, X + H) view of
        the product's operand) before the product; writes ``columns_dst``."""

    def counters(self, reused_count, lengths, columns_mask, reverse: bool) -> dict:
        """The direction's counters, from its masks."""
        layer = self.layer
        return row_memo_counters(reused_count, lengths, layer.rows, layer.in_size + layer.hidden, self.bnn)

    def on_product(self, x_t, first: bool, reuse_dst) -> None:
        """Nothing to decide."""

    def on_indices(self, idx, first: bool, reuse_dst):
        return idx

    def on_h(self, h) -> None:
        """Nothing to keep."""


class FastBnn(FastNone):
    """The bnn predictor: the decision (:class:`_BnnDecision`) does not read the
    product; the table caches the product itself, reused entries take it back (bit by
    bit, :func:`_select_computed`), and the requantization and activations run on the
    result: a function of the cached product, so the same values as caching them."""

    memo = bnn = True

    def __init__(self, layer: FastLayer, lp: LayerPolicy, options: RunOptions):
        super().__init__(layer)
        n, H, in_size, acc = layer.n, layer.hidden, layer.in_size, layer.acc
        n_bits = in_size + H
        self.decision = _BnnDecision(layer.q.weight_bits, n, lp.theta_q, options.reuse_cap)
        x_offset = np.asarray(layer.q.offset, np.int64)
        if np.all(np.asarray(x_offset, layer.x_dtype) == x_offset):  # compare in the inputs' type
            x_offset = x_offset.astype(layer.x_dtype)
        self.x_offset = x_offset
        self.bits_t = np.ones((n, n_bits + 1), np.float32)  # [x bits, h bits, 1]; h = 0 gives bit 1
        self.x_bits, self.h_bits = self.bits_t[:, :in_size], self.bits_t[:, in_size:n_bits]
        self.product = np.zeros_like(acc)  # the table: products in use
        int_view = np.int32 if acc.dtype == np.float32 else np.int64
        self.acc_i, self.acc_m_i = acc.view(int_view), self.product.view(int_view)
        self.computed = np.empty(acc.shape, int_view)
        self.mask = self.decision.computed[:, :layer.rows]
        self.rows, self.H, self.gru = layer.rows, H, layer.gru

    def on_product(self, x_t, first: bool, reuse_dst) -> None:
        np.greater_equal(x_t, self.x_offset, out=self.x_bits)
        self.decision(self.bits_t, first)
        np.equal(self.mask, 0, out=reuse_dst)
        computed, H = self.computed, self.H
        np.copyto(computed[:, :self.rows], self.mask)
        if self.gru:  # the candidate's h part goes with its neuron
            computed[:, 3 * H:] = computed[:, 2 * H:3 * H]
        _select_computed(self.acc_m_i, self.acc_i, computed)

    def on_h(self, h) -> None:
        np.greater_equal(h, 0, out=self.h_bits)


class FastOracle(FastNone):
    """The oracle predictor: the test on the table indices, the table of indices
    blended (:class:`_OracleDecision`)."""

    memo = clip = True

    def __init__(self, layer: FastLayer, lp: LayerPolicy, options: RunOptions):
        super().__init__(layer)
        self.decision = _OracleDecision(layer.n, layer.hidden, layer.gru, lp.theta_q, options.reuse_cap)

    def on_indices(self, idx, first: bool, reuse_dst):
        return self.decision(idx, first, reuse_dst)


class FastDelta(FastNone):
    """Delta column skipping: the product's operand holds the last-used column values,
    so the product is each accumulator, ``bias + W . v_last``, exactly (its bounds are
    the dense product's: the values are inputs and outputs of earlier steps)."""

    columns = True

    def __init__(self, layer: FastLayer, lp: LayerPolicy, options: RunOptions | None = None):
        super().__init__(layer)
        n, columns, dtype = layer.n, layer.in_size + layer.hidden, layer.acc.dtype
        self.theta = np.array([lp.delta_x] * layer.in_size + [lp.delta_h] * layer.hidden, dtype)
        self.v_last = np.zeros((n, columns), dtype)
        self.dist = np.empty((n, columns), dtype)

    def on_inputs(self, v, columns_dst) -> None:
        np.subtract(v, self.v_last, out=self.dist)
        np.abs(self.dist, out=self.dist)
        np.greater(self.dist, self.theta, out=columns_dst)  # nx.delta_columns
        np.copyto(self.v_last, v, where=columns_dst)
        np.copyto(v, self.v_last)

    def counters(self, reused_count, lengths, columns_mask, reverse: bool) -> dict:
        layer = self.layer
        return delta_counters(columns_mask, lengths, reverse, layer.rows)


class _RowSlopes:
    """The activations' PWL slopes (:func:`nx.pwl_slope`) of every row at its activation
    input, from the step's table indices (clipped; (4, n, H)): the sign row stage's ``slope_r``.

    GRU candidate rows: the candidate pre-activation formed from both parts and ``r``
    (:func:`nx.gru_candidate_pre`), as the cell forms it.
    """

    def __init__(self, layer: FastLayer):
        H = layer.hidden
        self.gru, self.blocks = layer.gru, 3 if layer.gru else 4
        self.sigmoid = nx.pwl_lut("sigmoid", layer.segments)
        # nx.pwl_slope of every Q3.12 input, sigmoid's then tanh's: a row reads its own half
        every = np.arange(_PRE_LO, _PRE_HI + 1)
        self.table = np.concatenate([nx.pwl_slope(nx.pwl_table(f, layer.segments), every)
                                     for f in ("sigmoid", "tanh")])
        self.base = np.full(layer.rows, _PRE_BASE)
        self.base[2 * H:3 * H] += 2 * _PRE_BASE  # the tanh rows

    def __call__(self, idx) -> np.ndarray:
        """The slopes (n, rows) int64 at the indices ``idx``."""
        pre = idx - _PRE_BASE
        if self.gru:
            n_pre = nx.gru_candidate_pre(pre[2], pre[3], nx.pwl_lookup(self.sigmoid, pre[0]))
            pre = np.stack([pre[0], pre[1], n_pre])
        n, H = idx.shape[1:]
        act_in = pre[:self.blocks].transpose(1, 0, 2).reshape(n, self.blocks * H)
        return self.table.take(act_in + self.base)


class FastSign(FastNone):
    """The sign row predictor: its product ``W' . v`` taken before the step's product,
    the test and :func:`nx.reuse_decision` on the rows, the table of indices blended
    (GRU candidate: both parts), and the slopes of the computed rows at their
    activation inputs, all through the numerics functions of the specification."""

    memo = clip = True  # the slopes read the pre-activations: clipped indices

    def __init__(self, layer: FastLayer, lp: LayerPolicy, options: RunOptions):
        super().__init__(layer)
        n, H, rows, columns = layer.n, layer.hidden, layer.rows, layer.in_size + layer.hidden
        self.tau, self.cap = lp.theta_q, options.reuse_cap
        w_row = nx.sign_row_weights(layer.q.weight, options.row_weights)
        # W' . v in float32 when every partial sum stays below 2**24 (|v| <= 128), else float64: exact
        dtype = np.float32 if int(np.abs(w_row).sum(axis=1).max(initial=0)) * 128 < 2**24 else np.float64
        self.w_row_t = np.ascontiguousarray(w_row.T, dtype)
        self.p, self.p_m = np.empty((n, rows), dtype), np.zeros((n, rows))  # p_m in float64: p - p_m exact
        self.v = np.empty((n, columns), dtype)
        self.v_prev = np.zeros((n, columns), dtype)
        self.changed = []  # per step: the columns that changed, per sequence
        self.slope_m = np.zeros((n, rows), np.int64)
        self.run = np.zeros((n, rows), np.int64)
        self.idx_m = np.empty((4, n, H), np.int64)
        self.blocks = 3 if layer.gru else 4
        self.slopes = _RowSlopes(layer)

    def on_inputs(self, v, columns_dst) -> None:
        np.copyto(self.v, v)
        np.matmul(self.v, self.w_row_t, out=self.p)
        self.changed.append(np.count_nonzero(self.v != self.v_prev, axis=1))
        self.v_prev, self.v = self.v, self.v_prev

    def on_indices(self, idx, first: bool, reuse_dst):
        layer, idx_m, blocks = self.layer, self.idx_m, self.blocks
        n, H = layer.n, layer.hidden
        d = (self.p - self.p_m).astype(np.int64)  # integers, exact
        close = nx.sign_close(d, layer.q.mult, layer.q.shift, self.slope_m, self.tau)
        reuse, self.run = nx.reuse_decision(close, self.run, self.cap, valid=not first)
        np.copyto(reuse_dst, reuse)
        self.p_m = np.where(reuse, self.p_m, self.p)
        keep = reuse.reshape(n, blocks, H).transpose(1, 0, 2)  # value layout
        idx_m[:blocks] = np.where(keep, idx_m[:blocks], idx[:blocks])
        if layer.gru:  # the candidate's h part goes with its neuron
            idx_m[3] = np.where(keep[2], idx_m[3], idx[3])
        self.slope_m = np.where(reuse, self.slope_m, self.slopes(idx_m))
        return idx_m

    def counters(self, reused_count, lengths, columns_mask, reverse: bool) -> dict:
        layer = self.layer
        columns, lengths = layer.in_size + layer.hidden, np.asarray(lengths, np.int64)
        counters = row_memo_counters(reused_count, lengths, layer.rows, columns, False)
        changed = np.array(self.changed[1:], np.int64).reshape(-1, layer.n)  # steps after the first
        running = np.arange(1, len(self.changed))[:, None] < lengths[None, :]
        counters.update(columns_used=columns * lengths, columns_skipped=np.zeros(layer.n, np.int64),
                        acc_updates=counters["neurons_computed"], catchup_macs=np.zeros(layer.n, np.int64),
                        predictor_ops=layer.rows * (changed * running).sum(axis=0))
        return counters


class _SnapshotCounts:
    """The hybrid's MAC counts against the row snapshots, kept incrementally.

    Every live snapshot (``v_last`` after a step some row was last computed at; step -1:
    all zero, before step 0) carries the number of columns where the current
    ``v_last`` differs from it, updated at each step from the used columns alone (a
    used column leaves or joins the differing set), not recounted from the snapshots.
    Snapshots no row refers to are dropped.
    """

    def __init__(self, n: int, columns: int):
        self.first = -1  # the step of self.values[0]
        self.values = [np.zeros((n, columns), np.float32)]
        self.counts = [np.zeros(n, np.int64)]

    def update(self, old, new, used):
        """The step's column stage moved ``v_last`` from ``old`` to ``new`` on the ``used``
        columns. Returns ``(differ, catchup)`` (snapshots, n): columns differing from
        each snapshot now, and those of them not used this step."""
        catchup = []
        for k, snap in enumerate(self.values):
            left = np.count_nonzero((old != snap) & used, axis=1)
            catchup.append(self.counts[k] - left)  # unused columns kept their value
            self.counts[k] = self.counts[k] - left + np.count_nonzero((new != snap) & used, axis=1)
        return np.stack(self.counts), np.stack(catchup)

    def add(self, step: int, values, oldest: int) -> None:
        """``values``: ``v_last`` after ``step``, a new snapshot (differing nowhere);
        snapshots before step ``oldest`` dropped."""
        self.values.append(values.astype(np.float32))  # int8 values: exact
        self.counts.append(np.zeros(values.shape[0], np.int64))
        drop = oldest - self.first
        del self.values[:drop], self.counts[:drop]
        self.first = oldest


class FastHybrid(FastNone):
    """The hybrid (delta columns, the sign row stage, snapshot catch-up), formulated
    apart from the specification's: persistent per-row accumulators rather than a
    product of ``v_last`` and a table of pre-activations.

    Each step the used columns' changes ``dv`` go into every row's pending sum
    ``W_r . dv`` and its sign sum ``D_r += W'_r . dv`` (one product, float64: integers
    below 2**53 as ``|dv| <= 255``). A computed row adds its pending sum to its
    accumulator (the catch-up) and restarts both sums; a reused row keeps its stale
    accumulator, whose requantization is the pre-activation cached at its last
    computation, so the requantization of every accumulator is the step's
    pre-activation in use (GRU candidate: both parts). MACs from :class:`_SnapshotCounts`.
    """

    memo = clip = columns = True
    dense = False  # the step's product is not read

    def __init__(self, layer: FastLayer, lp: LayerPolicy, options: RunOptions):
        super().__init__(layer)
        n, H, rows = layer.n, layer.hidden, layer.rows
        columns = layer.in_size + H
        self.theta = np.array([lp.delta_x] * layer.in_size + [lp.delta_h] * H, np.int64)
        self.tau, self.cap = lp.theta_q, options.reuse_cap
        w_row = nx.sign_row_weights(layer.q.weight, options.row_weights)
        w_t = np.asarray(layer.w_t, np.float64)
        w_both = np.concatenate([w_t[:columns], w_row.T], axis=1)  # [W | W']
        # dv @ [W | W'] in float32 when every partial sum stays below 2**24 (|dv| <= 255), else float64
        dtype = np.float32 if int(np.abs(w_both).sum(axis=0).max(initial=0)) * 255 < 2**24 else np.float64
        self.w_both = np.ascontiguousarray(w_both, dtype)
        self.product = np.broadcast_to(w_t[columns], (n, 4 * H)).copy()  # accumulators: the product's bias row
        self.pending = np.zeros((n, 4 * H))  # float64 sums of exact integers below 2**53
        self.d = np.zeros((n, rows))
        self.v_last = np.zeros((n, columns), dtype)  # column values: small integers, exact
        self.dv = np.empty((n, columns), dtype)
        self.theta = self.theta.astype(dtype)
        self.run = np.zeros((n, rows), np.int64)
        self.slope_m = np.zeros((n, rows), np.int64)
        self.snap = np.full((n, rows), -1, np.int64)  # the step of each row's snapshot
        self.batch = np.arange(n)[:, None]
        self.snapshots = _SnapshotCounts(n, columns)
        self.slopes = _RowSlopes(layer)
        self.step = 0
        self.per_step = []  # (macs, catchup_macs, acc_updates, columns_used) per step, (4, n)

    def on_inputs(self, v, columns_dst) -> None:
        dv, old = self.dv, self.v_last.copy()
        np.subtract(v, old, out=dv)
        np.greater(np.abs(dv), self.theta, out=columns_dst)  # nx.delta_columns
        used = columns_dst
        dv *= used
        both = dv @ self.w_both
        wide = self.pending.shape[1]
        self.pending += both[:, :wide]
        self.d += both[:, wide:]
        np.copyto(self.v_last, v, where=used)
        self.differ, self.catchup = self.snapshots.update(old, self.v_last, used)
        self.used_count = np.count_nonzero(used, axis=1)

    def on_product(self, x_t, first: bool, reuse_dst) -> None:
        layer, H = self.layer, self.layer.hidden
        close = nx.sign_close(self.d.astype(np.int64), layer.q.mult, layer.q.shift, self.slope_m, self.tau)
        reuse, self.run = nx.reuse_decision(close, self.run, self.cap, valid=not first)
        np.copyto(reuse_dst, reuse)
        computed = ~reuse
        wide = np.concatenate([computed, computed[:, 2 * H:3 * H]], axis=1) if layer.gru else computed
        np.add(self.product, self.pending, out=self.product, where=wide)  # the catch-up
        np.copyto(self.pending, 0.0, where=wide)
        np.copyto(self.d, 0.0, where=computed)
        at = (self.snap - self.snapshots.first) * layer.n + self.batch  # (snapshot, sequence), flat
        macs = self.differ.take(at)
        macs *= computed
        catchup = self.catchup.take(at)
        catchup *= computed
        updates = np.count_nonzero(computed & ((macs > 0) | first), axis=1)
        self.per_step.append(np.stack([macs.sum(axis=1), catchup.sum(axis=1), updates, self.used_count]))
        np.copyto(self.snap, self.step, where=computed)
        self.snapshots.add(self.step, self.v_last, int(self.snap.min()))
        self.computed = computed
        self.step += 1

    def on_indices(self, idx, first: bool, reuse_dst):
        self.slope_m = np.where(self.computed, self.slopes(idx), self.slope_m)
        return idx

    def counters(self, reused_count, lengths, columns_mask, reverse: bool) -> dict:
        layer = self.layer
        columns, lengths = layer.in_size + layer.hidden, np.asarray(lengths, np.int64)
        steps = np.array(self.per_step, np.int64).reshape(-1, 4, layer.n)
        running = np.arange(len(steps))[:, None] < lengths[None, :]
        macs, catchup, updates, used = (steps * running[:, None, :]).sum(axis=0)
        later_used = used - (steps[0, 3] if len(steps) else 0)  # the sign stage counts from step 1
        counters = row_memo_counters(reused_count, lengths, layer.rows, columns, False)
        counters.update(macs=macs, macs_skipped=layer.rows * columns * lengths - macs, columns_used=used,
                        columns_skipped=columns * lengths - used, acc_updates=updates, catchup_macs=catchup,
                        predictor_ops=columns * lengths + layer.rows * np.where(lengths > 0, later_used, 0))
        return counters


def layer_direction_fast(model: QModel, q: QLayer, x_seq: np.ndarray, lengths: np.ndarray, reverse: bool,
                         make_decision):
    """The specification's layer direction, faster; the same results bit for bit.

    ``make_decision(layer: FastLayer)`` gives the predictor's fast decision
    (:class:`FastNone` and its kind). Returns ``(out, reused_mask, counters,
    columns_mask)`` (``columns_mask``: None without a column stage).

    Layout: a step's product as (n, 4H), a sequence's columns contiguous, so that its
    reuse mask and h go out with plain copies; the values as four blocks (4, n, H), one
    per gate, contiguous for the table lookups and the cell (the first requantization
    step moves them there).

    - One matrix product per step, ``[x_t, h, 1] @ w_t`` (:func:`_product_matrix`), exact
      as in the specification (float32 when every column's partial sums stay below 2**24).
    - Requantization in float64, exact (:func:`_requant_offset`): times ``mu``, plus a
      constant, cast to the table index; the LSTM leaves the saturation to the lookups'
      ``mode="clip"`` (see :func:`_requant_index`).
    - Activations by ``np.take`` from the int32 tables of ``nx.pwl_lut``; the LSTM's
      ``tanh(c')`` from one table over every cell value (``pwl_tanh(cell_to_pre(c))``).
      Gate outputs lie in [-32767, 32768] (checked below). Cells in int32
      (:func:`_lstm_cell_i32`, :func:`_gru_cell_i32`).
    - Outputs and reuse masks go out through :class:`_StepOutputs`.
    """
    n, t_max, in_size = x_seq.shape
    H = model.hidden_size
    rows = model.gates * H
    gru = model.cell == "gru"
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
    acc = np.empty((n, 4 * H), fdtype)  # product columns, either cell
    decision = make_decision(FastLayer(q, n, in_size, H, rows, gru, acc, x_seq.dtype, model.pwl_segments,
                                       w_t))
    clip = decision.clip or gru  # the oracle compares indices, the GRU's candidate reads pre-activations

    c = np.zeros((n, H), i32)
    h_i = np.zeros((n, H), i32)  # GRU: h as int32 (the LSTM reads only c)
    y = np.empty((4, n, H), np.float64)
    idx = np.empty((4, n, H), i64)  # this step's table indices (pre-activation + 32768)
    val = np.empty((4, n, H), i32)  # what the cell reads: gate outputs (GRU n blocks: pre)
    cell_in = val.reshape(4 * n, H)  # the four blocks stacked, as the cells take them
    scratch = (np.empty((n, H), i32), np.empty((n, H), i32), np.empty((n, H), i64))

    outputs = _StepOutputs(lengths, t_max, steps, reverse, {"h": H, "rows": rows, "reused": rows if decision.memo
                                                           else None, "columns": n_bits if decision.columns else None})

    def values(index, out):
        """What the cell reads, from table indices."""
        sig.take(index[:2], out=out[:2], mode="clip")
        if gru:
            np.subtract(index[2:], _PRE_BASE, out=out[2:], casting="unsafe")  # pre, int16 range
        else:
            tanh.take(index[2], out=out[2], mode="clip")
            sig.take(index[3], out=out[3], mode="clip")

    z_x, z_v = z[:, :in_size], z[:, :n_bits]
    used = decision.product.reshape(n, 4, H).transpose(1, 0, 2)  # the product in use, value layout
    for step in range(steps):
        first = step == 0
        h, reuse_dst, columns_dst = outputs.slot(step)
        x_t = x_steps[step]
        z_x[...] = x_t
        decision.on_inputs(z_v, columns_dst)
        if decision.dense:
            np.matmul(z, w_t, out=acc)  # exact integers
        decision.on_product(x_t, first, reuse_dst)
        np.copyto(y, used)  # to the value layout, then times mu: faster than a mixed-type product
        y *= mu
        y += offset
        _requant_index(y, idx, fold, clip)
        values(decision.on_indices(idx, first, reuse_dst), val)
        if gru:
            _gru_cell_i32(cell_in, h_i, tanh, scratch)
            np.copyto(h, h_i, casting="unsafe")  # int8 range: exact
        else:
            _lstm_cell_i32(cell_in, c, h, tanh_cell, scratch)
        np.copyto(h_view, h)  # into [x_t, h, 1]
        decision.on_h(h)
        outputs.written(step)

    out, reused_mask, columns_mask = outputs.finish()
    if decision.memo:
        reused_count = np.array([np.count_nonzero(m) for m in reused_mask], dtype=i64)
    else:
        reused_count = np.zeros(n, dtype=i64)
    return out, reused_mask, decision.counters(reused_count, lengths, columns_mask, reverse), columns_mask
