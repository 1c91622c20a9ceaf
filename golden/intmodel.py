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

import numpy as np
from threadpoolctl import threadpool_limits

from . import numerics as nx
from .errors import MemornnError
from .inputs import Batch, quantize_inputs
from .qmodel import QLayer, QModel, layer_suffix
from .sequence import step_times

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


def _requant_index(y: np.ndarray, out: np.ndarray, fold: bool) -> None:
    """``out`` (int64) = the table index ``requantize(...) + 32768`` from ``y`` of
    :func:`_requant_offset` with the same ``fold``; ``y`` is overwritten."""
    if fold:
        _clip(y, 0, 2 * _PRE_BASE - 1, out=y)
        np.copyto(out, y, casting="unsafe")  # truncation toward zero: y >= 0, below 2**16
    else:
        _clip(y, _PRE_LO, _PRE_HI, out=y)
        np.rint(y, out=y)
        np.copyto(out, y, casting="unsafe")  # integers in the int16 range: exact
        out += _PRE_BASE


def _cell_tanh_table(segments: int) -> np.ndarray:
    """``pwl_tanh(cell_to_pre(c))`` (numerics) for every Q4.11 ``c``, at index ``c + 32768``; int32."""
    return nx.pwl_tanh(nx.cell_to_pre(np.arange(_PRE_LO, _PRE_HI + 1)), segments).astype(np.int32)


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
    """:func:`nx.lstm_cell` in int32, in place: ``v`` = gate outputs ``[i; f; g; o]`` (4H, n),
    ``c`` (H, n) becomes c', ``h`` (H, n; any type holding int8) receives h.

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
    np.take(tanh_cell, c_idx, out=t1, mode="clip")  # indices in range: clip is a no-op
    t1 *= v[3 * H:]
    sh = 2 * nx.GATE_FRAC - nx.H_FRAC
    t1 += 1 << (sh - 1)
    t1 >>= sh
    _clip(t1, *nx.int_range(nx.H_BITS), out=h)


def _gru_cell_i32(v, h, tanh, scratch) -> None:
    """:func:`nx.gru_candidate_pre`, tanh and :func:`nx.gru_update` in int32, in place:
    ``v`` = ``[r; z; n_in; n_hn]`` (4H, n: gate outputs, then the candidate's two
    pre-activations), ``h`` (H, n) becomes h'.

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
    np.take(tanh, idx, out=n_g, mode="clip")
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
    """The BNN output ``yb = sum_j (2 b_j - 1)(2 w_j - 1)`` over N input bits, packed.

    With 0/1 bits, ``yb = 4 (b . w) - 2|b| - 2|w| + N``: ``N - 2|w|`` is a per-row
    constant (``const``), and ``b . w`` and ``|b|`` are integers in [0, N]. They are
    packed ``slots`` to a float32 weight row, ``k`` bits apart (``2**k > N``): packed row
    ``p`` holds rows ``p, p + P, p + 2P, ...``, so one product gives ``sum_i (b .
    w_(p+iP)) 2**(k i)``, every partial sum a non-negative integer of at most
    ``2**(k slots) - 1 <= 2**24 - 1``: exact in float32. Row ``rows`` is all ones: ``|b|``.
    Unpacked in int32 by shifts and masks, after a left shift by 2 that yields ``4 (b . w)``
    and ``4|b|`` directly (values below 2**26).
    """

    def __init__(self, w_bits: np.ndarray):
        rows, n_bits = w_bits.shape
        self.rows = rows
        k = max(1, int(n_bits).bit_length())  # 2**k > N >= every slot value
        self.slots = max(1, 24 // k)
        packed_rows = -(-(rows + 1) // self.slots)
        wanted = np.zeros((self.slots * packed_rows, n_bits), np.float64)
        wanted[:rows] = w_bits
        wanted[rows] = 1  # |b|
        place = np.ldexp(1.0, k * np.arange(self.slots))
        packed = (wanted.reshape(self.slots, packed_rows, n_bits) * place[:, None, None]).sum(axis=0)
        assert packed.max(initial=0) < 2**24
        self.w = np.ascontiguousarray(packed, dtype=np.float32)  # (P, N), exact integers
        self.shifts = (k * np.arange(self.slots)).astype(np.int32)[:, None, None]
        self.mask4 = np.int32(((1 << k) - 1) << 2)
        self.const = (n_bits - 2 * np.asarray(w_bits, np.int64).sum(axis=1)).astype(np.int32)
        self._n = None  # scratch buffers, sized on first use

    def __call__(self, bits: np.ndarray, out: np.ndarray) -> None:
        """``out = 4 (b . w) - 2|b|`` (int32 (rows, n)) for 0/1 float32 ``bits`` (N, n)."""
        n = bits.shape[1]
        if self._n != n:
            self._n = n
            self._f = np.empty((self.w.shape[0], n), np.float32)
            self._i = np.empty((self.w.shape[0], n), np.int32)
            self._parts = np.empty((self.slots, self.w.shape[0], n), np.int32)
        np.matmul(self.w, bits, out=self._f)
        np.copyto(self._i, self._f, casting="unsafe")  # exact integers below 2**24
        self._i <<= 2
        np.right_shift(self._i[None], self.shifts, out=self._parts)
        self._parts &= self.mask4
        parts = self._parts.reshape(-1, n)
        np.subtract(parts[:self.rows], parts[self.rows] >> 1, out=out)


def _fast_path_ok(model: QModel, q: QLayer) -> bool:
    """Whether the bounds the fast path relies on hold (they do for every legal model)."""
    hidden = model.hidden_size
    bound = np.abs(q.weight).sum(axis=1) * 128 + np.abs(q.bias)  # |acc + bias| per row, any inputs
    if model.cell == "gru":
        bound[2 * hidden:] += np.abs(q.bias_hn)
    product = max((int(b) * int(m) for b, m in zip(bound, q.mult)), default=0)
    # reuse tests in int32: |yb - yb_m| << 8 and theta_q * |yb_m| below 2**31 for |yb| <= N
    return product < _F64_EXACT_PRODUCT and q.weight.shape[1] < 2**14


def _layer_direction_fast(model: QModel, q: QLayer, x_seq: np.ndarray, lengths: np.ndarray, reverse: bool,
                          theta_q: int, predictor: str, reuse_cap: int):
    """:func:`_layer_direction_int64`, faster; the same results bit for bit.

    Layout: a step's values as (rows, sequences), so that every gate is a contiguous
    block (contiguous table lookups are ~3x faster than strided ones); broadcasts are
    full arrays (numpy is several times slower to broadcast a column along rows).

    - One matrix product per step, ``[W_x | W_h | b] @ [x_t; h; 1]``, exact as in the
      int64 path (float32 when every row's partial sums stay below 2**24; the bias column
      only when they do with it too). The GRU candidate's two parts are two rows:
      ``[W_in | 0 | b_in]`` and ``[0 | W_hn | b_hn]``.
    - Requantization in float64, exact (:func:`_requant_offset`): times ``mu``, plus a
      constant, clipped and cast to the table index (with a rounding when some shift
      exceeds 32).
    - Activations by ``np.take`` from the int32 tables of ``nx.pwl_lut``; the LSTM's
      ``tanh(c')`` from one table over every cell value (``pwl_tanh(cell_to_pre(c))``).
      Gate outputs lie in [-32767, 32768] (checked below).
    - Cell arithmetic in int32: gate outputs and c are at most 2**15 in magnitude, so
      every product is at most 2**30 and adding a rounding half stays below 2**31; the
      GRU's ``z * ((h << 8) - n)`` is at most ``32768 * 65535 = 2**31 - 2**15``, plus
      ``2**14``: below ``2**31 - 1``.
    - BNN by :class:`_BnnPacked`; its reuse test in int32 (``|yb| <= N < 2**14`` and
      ``theta_q < 2**16``: both sides below 2**31); the oracle's in int64.
    - Table updates as blends ``new + (old - new) * reuse`` (np.where or a masked copy
      on an unpredictable mask costs ~20x more). With predictors none and bnn the table
      caches what the cell reads (gate outputs; the GRU candidate's pre-activations),
      a function of the cached pre-activations; with oracle it caches the table indices.
    - Outputs and reuse masks are written in step order and put in time order at the end.
    """
    n, t_max, in_size = x_seq.shape
    H = model.hidden_size
    rows = model.gates * H
    gru = model.cell == "gru"
    bnn = predictor == "bnn"
    oracle = predictor == "oracle"
    memo = predictor != "none"
    steps = int(lengths.max()) if n else 0
    i32, i64 = np.int32, np.int64
    cand = slice(2 * H, 3 * H)
    n_bits = in_size + H

    exact32 = int(np.abs(q.weight).sum(axis=1).max(initial=0)) * 128 < 2**24
    fdtype = np.float32 if exact32 else np.float64
    # rows of the product: the layer's rows; the GRU candidate's h part as extra rows
    weight, bias, mult, shift = q.weight, q.bias, q.mult, q.shift
    if gru:
        w_in = weight[cand].copy()
        w_in[:, in_size:] = 0
        w_hn = weight[cand].copy()
        w_hn[:, :in_size] = 0
        weight = np.concatenate([weight[:2 * H], w_in, w_hn])
        bias = np.concatenate([bias, q.bias_hn])
        mult = np.concatenate([mult, mult[cand]])
        shift = np.concatenate([shift, shift[cand]])
    slots = weight.shape[0]  # 4H for either cell
    fold = int(shift.max(initial=0)) <= _FOLD_SHIFT_MAX
    # The bias joins the product (a column against a row of ones in [x_t; h; 1]) when the
    # sums stay exact with it; with fold the remaining constant is then one number.
    with_bias = int((np.abs(weight).sum(axis=1) * 128 + np.abs(bias)).max(initial=0)) < (
        2**24 if fdtype == np.float32 else 2**53)
    w = np.ascontiguousarray(np.concatenate([weight, bias[:, None] if with_bias else np.zeros((slots, 1))], axis=1),
                             dtype=fdtype)
    mu = np.ascontiguousarray(np.broadcast_to(_requant_scale(mult, shift)[:, None], (slots, n)))
    offset = _requant_offset(np.zeros_like(bias) if with_bias else bias, mult, shift, fold)
    if np.all(offset == offset[0]):
        offset = float(offset[0])  # a scalar: numpy adds it ~2x faster than a full array
    else:
        offset = np.ascontiguousarray(np.broadcast_to(offset[:, None], (slots, n)))
    sig = nx.pwl_lut("sigmoid", model.pwl_segments).astype(i32)
    tanh = nx.pwl_lut("tanh", model.pwl_segments).astype(i32)
    assert 0 <= sig.min() and sig.max() <= 2**15 and np.abs(tanh).max() < 2**15  # the int32 bounds
    if not gru:
        tanh_cell = _cell_tanh_table(model.pwl_segments)

    # inputs in step order, (steps, in_size, n): a step's columns are its sequences
    order = [step_times(lengths, step, reverse) for step in range(steps)]
    times_all = np.array([times for times, _ in order], dtype=i64).reshape(steps, n)
    x_steps = x_seq[np.arange(n)[None, :], times_all].transpose(0, 2, 1)
    x_all = np.ascontiguousarray(x_steps, dtype=fdtype)
    z = np.ones((n_bits + 1, n), fdtype)  # [x_t; h; 1], small integers: exact
    h_view = z[in_size:n_bits]
    h_view[...] = 0
    if bnn:
        bnn_w = _BnnPacked(q.weight_bits)
        yb_const = np.ascontiguousarray(np.broadcast_to(bnn_w.const[:, None], (rows, n)))
        x_bits_all = (x_steps >= np.asarray(q.offset, i64)[:, None]).astype(np.float32)
        bits = np.zeros((n_bits, n), np.float32)
        yb = np.empty((rows, n), i32)
        yb_m = np.empty((rows, n), i32)

    c = np.zeros((H, n), i32)
    h_i = np.zeros((H, n), i32)  # GRU: h as int32 (the LSTM reads only c)
    acc = np.empty((slots, n), fdtype)
    y = np.empty((slots, n), np.float64)
    idx = np.empty((slots, n), i64)  # this step's table indices (pre-activation + 32768)
    val = np.empty((slots, n), i32)  # what the cell reads: gate outputs (GRU n rows: pre)
    val_m = np.empty((slots, n), i32)  # none, bnn: the table (the values in use)
    scratch = (np.empty((H, n), i32), np.empty((H, n), i32), np.empty((H, n), i64))
    if memo:
        test = np.empty((slots, n), bool)
        reuse = test[:rows]
        if oracle:
            r_i = np.empty((slots, n), i64)  # reuse as 0/1, the blend's type
            dist = np.empty((slots, n), i64)
            limit = np.empty((slots, n), i64)
        else:  # int32 scratch in the step's dead buffers (the float ones): a smaller working set
            dist = acc.view(i32) if fdtype == np.float32 else np.empty((slots, n), i32)
            limit, r_i = y.reshape(-1).view(i32).reshape(2, slots, n)
        if oracle:
            idx_m = np.empty((slots, n), i64)  # the table: indices in use
        if reuse_cap:
            run = np.zeros((rows, n), i32)
    # step order, a step's slab contiguous; put in time order at the end
    out_s = np.empty((steps, n, H), np.int8)
    reuse_s = np.zeros((steps, n, rows), bool) if memo else None

    def values(index, out):
        """What the cell reads, from table indices."""
        np.take(sig, index[:2 * H], out=out[:2 * H], mode="clip")  # indices in range: clip is a no-op
        if gru:
            np.subtract(index[2 * H:], _PRE_BASE, out=out[2 * H:], casting="unsafe")  # pre, int16 range
        else:
            np.take(tanh, index[2 * H:3 * H], out=out[2 * H:3 * H], mode="clip")
            np.take(sig, index[3 * H:], out=out[3 * H:], mode="clip")

    for step in range(steps):
        z[:in_size] = x_all[step]
        np.matmul(w, z, out=acc)  # exact integers
        np.copyto(y, acc)
        y *= mu
        y += offset
        _requant_index(y, idx, fold)
        first = step == 0 or not memo
        if oracle:
            if first:
                idx, idx_m = idx_m, idx
            else:
                # on pre-activations: |idx - idx_m| is |pre - pre_m|
                np.subtract(idx_m, _PRE_BASE, out=limit)
                _within_threshold(idx, idx_m, limit, theta_q, dist, test, limit)
                if gru:  # the candidate: both parts within the threshold
                    reuse[cand] &= test[rows:]
            values_from = idx_m
        else:
            values(idx, val)
            values_from = None
        if bnn:
            bits[:in_size] = x_bits_all[step]
            np.greater_equal(h_view, 0, out=bits[in_size:])
            bnn_w(bits, yb)
            yb += yb_const
            if first:
                yb, yb_m = yb_m, yb
            else:
                _within_threshold(yb, yb_m, yb_m, theta_q, dist[:rows], reuse, limit[:rows])
        if first:
            if not oracle:
                val, val_m = val_m, val
            if memo and reuse_cap:
                run[...] = 0
        else:
            if reuse_cap:
                reuse &= run < reuse_cap
                run += 1
                run *= reuse
            np.copyto(r_i[:rows], reuse)
            if gru:
                r_i[rows:] = r_i[cand]
            # blends: table = new + (table - new) * reuse
            if oracle:
                np.subtract(idx_m, idx, out=idx_m)
                idx_m *= r_i
                idx_m += idx
            else:
                np.subtract(val_m, val, out=val_m)
                val_m *= r_i
                val_m += val
            if bnn:
                yb_m -= yb
                yb_m *= r_i[:rows]
                yb_m += yb
            np.copyto(reuse_s[step], reuse.T)
        if values_from is not None:
            values(values_from, val)
            v = val
        else:
            v = val_m
        if gru:
            _gru_cell_i32(v, h_i, tanh, scratch)
            np.copyto(h_view, h_i)
        else:
            _lstm_cell_i32(v, c, h_view, tanh_cell, scratch)  # h straight into [x; h; 1]
        np.copyto(out_s[step], h_view.T, casting="unsafe")  # int8 range: exact

    # Step order to time order: the backward direction visits t = length - 1 - step;
    # steps past a sequence's length never ran (outputs 0, nothing reused).
    out = np.empty((n, t_max, H), np.int8)
    reused_mask = np.empty((n, t_max, rows), bool) if memo else np.zeros((n, t_max, rows), bool)
    if not reverse:
        out[:, :steps] = out_s.transpose(1, 0, 2)
        if memo:
            reused_mask[:, :steps] = reuse_s.transpose(1, 0, 2)
    for s in range(n):
        length = int(lengths[s])
        if reverse:
            out[s, :length] = out_s[length - 1::-1, s]
            if memo:
                reused_mask[s, :length] = reuse_s[length - 1::-1, s]
        if length < t_max:
            out[s, length:] = 0
            if memo:
                reused_mask[s, length:] = False
    if memo:
        reused_count = np.array([np.count_nonzero(m) for m in reused_mask], dtype=i64)
    else:
        reused_count = np.zeros(n, dtype=i64)
    computed = rows * lengths.astype(i64) - reused_count
    bnn_evals = rows * lengths.astype(i64) if bnn else np.zeros(n, dtype=i64)
    macs_per_neuron = in_size + H
    counters = {"neurons_computed": computed, "neurons_reused": reused_count, "bnn_evals": bnn_evals,
                "macs": computed * macs_per_neuron, "macs_skipped": reused_count * macs_per_neuron}
    return out, reused_mask, counters


def _layer_direction(model: QModel, q: QLayer, x_seq: np.ndarray, lengths: np.ndarray, reverse: bool,
                     theta_q: int, predictor: str, reuse_cap: int):
    """One direction of one layer: the fast path when its bounds hold, else the int64 one."""
    run = _layer_direction_fast if _fast_path_ok(model, q) else _layer_direction_int64
    return run(model, q, x_seq, lengths, reverse, theta_q, predictor, reuse_cap)


def golden_run(model: QModel, batch: Batch, threshold=0.0, predictor: str = "bnn", reuse_cap: int = 0) -> dict:
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

    Returns
    -------
    dict
        The output key table: ``h`` (float), ``h_int`` (N, T, H*D); ``reused_l{k}`` and
        ``reused_l{k}_reverse`` (N, T, G*H) bool; the counters of ``COUNTERS`` (N,) int64.
    """
    if predictor not in PREDICTORS:
        raise MemornnError(f"unknown predictor {predictor!r} (choose from {', '.join(PREDICTORS)})")
    if batch.x.shape[2] != model.input_size:
        raise MemornnError(f"inputs have {batch.x.shape[2]} features per step, but the model takes "
                           f"{model.input_size}")
    thetas = parse_thresholds(threshold, model.num_layers)
    reuse_cap = check_reuse_cap(reuse_cap)
    n, t_max, _ = batch.x.shape
    layer_in = quantize_inputs(batch.x, model.input_scale)
    result = {}
    totals = {name: np.zeros(n, dtype=np.int64) for name in COUNTERS}
    # The per-step matrix products are small: on an idle 2-CPU machine two BLAS threads make
    # them ~1.8x faster, but one other busy process makes a run several times slower (the
    # worker threads wait for CPU at every product), so run them on one thread.
    with threadpool_limits(1, user_api="blas"):
        for k, layer in enumerate(model.layers):
            outs = []
            for d, q in enumerate(layer):
                out, reused, counters = _layer_direction(model, q, layer_in, batch.lengths, bool(d), thetas[k],
                                                         predictor, reuse_cap)
                outs.append(out)
                result["reused" + layer_suffix(k, d)] = reused
                for name in COUNTERS:
                    totals[name] += counters[name]
            layer_in = np.concatenate(outs, axis=2)
    result["h_int"] = layer_in.astype(np.int8)
    result["h"] = np.multiply(layer_in, 2.0**-nx.H_FRAC)  # float64, exact (a power of two)
    result.update(totals)
    return result
