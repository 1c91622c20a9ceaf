"""The one definition of memornn's integer arithmetic.

Every bit width, fixed-point format, rounding rule, saturation and piecewise-linear
table lives here. The golden model (:mod:`memornn.golden`) evaluates these functions
on NumPy arrays; the generator (:mod:`memornn.hw`) reads the same constants and tables
to size and initialise the hardware, so the two cannot drift apart.

Formats (``Qm.f``: signed, ``m`` integer bits, ``f`` fraction bits)
------------------------------------------------------------------
==============  =========  ======  ==========================================
value           width      frac    meaning
==============  =========  ======  ==========================================
weight          int8       (row)   ``round(V / s_row)``, range [-127, 127]
input x         int8       (feat)  ``round(x / s_feat)``, range [-127, 127]
h               int8       7       Q0.7, h in [-1, 127/128]
pre-activation  int16      12      Q3.12, in [-8, 8)
gate output     int16      15      Q0.15, sigmoid/tanh in [-1, 32767/32768]
cell state c    int16      11      Q4.11, in [-16, 16)
accumulator     int32      (row)   ``V_q . [x_q; h_q] + bias_q``
theta           uint16     8       reuse threshold, Q8.8
==============  =========  ======  ==========================================

Rounding is *round half up* everywhere: ``rshift_round(v, s) = (v + 2**(s-1)) >> s``
with an arithmetic shift, i.e. ``floor(v / 2**s + 1/2)``. It costs one adder in
hardware and is the same for positive and negative values. Every narrowing step
saturates to the target range; nothing ever wraps.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# -- widths and formats -------------------------------------------------------------

WEIGHT_BITS = 8
#: Weights and inputs are symmetric: -128 is never produced by quantization.
WEIGHT_MAX = 2 ** (WEIGHT_BITS - 1) - 1
INPUT_BITS = 8
INPUT_MAX = 2 ** (INPUT_BITS - 1) - 1

H_BITS = 8
H_FRAC = 7
PRE_BITS = 16
PRE_FRAC = 12
GATE_BITS = 16
GATE_FRAC = 15
CELL_BITS = 16
CELL_FRAC = 11
ACC_BITS = 32
BIAS_BITS = 32

#: Requantization multiplier: unsigned, below 2**MULT_BITS.
MULT_BITS = 15
#: Requantization shift range.
SHIFT_MAX = 62

THETA_BITS = 16
THETA_FRAC = 8
THETA_MAX_Q = 2**THETA_BITS - 1

#: Consecutive-reuse cap: 0 means no cap; the run counter is this wide.
REUSE_CAP_BITS = 8
REUSE_CAP_MAX = 2**REUSE_CAP_BITS - 1

#: Delta column thresholds (theta_x, theta_h): int8 units, unsigned, this wide.
DELTA_BITS = 8
DELTA_MAX = 2**DELTA_BITS - 1
#: The sign row predictor's absolute threshold tau: gate-output units, Q1.15 (1.0 = 32768).
TAU_BITS = 16
TAU_FRAC = 15
TAU_MAX_Q = 2**TAU_BITS - 1
#: Bits per weight of the sign row predictor: 1 (sign x row mean) or 3 (sign x power of two).
SIGN_ROW_WEIGHT_CHOICES = (1, 3)
SIGN_ROW_WEIGHTS_DEFAULT = 3

#: Piecewise-linear activations: slope fraction bits and the default segment count.
PWL_SLOPE_FRAC = 11
PWL_DEFAULT_SEGMENTS = 32
PWL_SEGMENT_CHOICES = (4, 8, 16, 32, 64, 128, 256)

GATES = {"lstm": 4, "gru": 3}


def int_range(bits: int, signed: bool = True) -> tuple[int, int]:
    """Inclusive ``(min, max)`` of a ``bits``-wide two's complement or unsigned integer."""
    if signed:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def saturate(value, bits: int, signed: bool = True):
    """Clip ``value`` (int or integer array) to the range of a ``bits``-wide integer."""
    low, high = int_range(bits, signed)
    return np.clip(value, low, high)


def rshift_round(value, shift):
    """Arithmetic right shift by ``shift`` with round half up (see module docstring).

    ``shift`` may be an int or an array broadcast against ``value``; a shift of 0
    returns ``value`` unchanged. Values must be int64 (or Python ints).
    """
    value = np.asarray(value, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    half = np.where(shift > 0, np.left_shift(np.int64(1), np.maximum(shift - 1, 0)), 0)
    return np.right_shift(value + half, shift)


# -- requantization -----------------------------------------------------------------


def requantize(acc, mult, shift):
    """Accumulator (row scale) to pre-activation Q3.12: ``sat16(round(acc*mult / 2**shift))``."""
    acc = np.asarray(acc, dtype=np.int64)
    return saturate(rshift_round(acc * np.asarray(mult, dtype=np.int64), shift), PRE_BITS)


def multiplier_and_shift(scale: float) -> tuple[int, int]:
    """Integer ``(mult, shift)`` with ``mult / 2**shift`` closest to ``scale``.

    ``mult`` is normalised into ``[2**(MULT_BITS-1), 2**MULT_BITS)`` for full precision.

    Raises
    ------
    ValueError
        If ``scale`` is not positive and finite, or outside the representable range.
    """
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"requantization scale must be positive and finite, got {scale!r}")
    mantissa, exponent = np.frexp(scale)  # scale = mantissa * 2**exponent, mantissa in [0.5, 1)
    shift = MULT_BITS - int(exponent)
    mult = int(round(float(mantissa) * 2**MULT_BITS))
    if mult == 2**MULT_BITS:  # rounding carried out of the mantissa
        mult //= 2
        shift -= 1
    if shift < 0:
        raise ValueError(f"requantization scale {scale:.6g} is too large (weights too large for int8 rows)")
    if shift > SHIFT_MAX:
        mult = int(round(scale * 2.0**SHIFT_MAX))
        shift = SHIFT_MAX
    return mult, shift


# -- element-wise cell arithmetic -----------------------------------------------------


def mul_shift(a, b, shift, bits):
    """``sat(round(a * b / 2**shift), bits)``: the elementwise product of two fixed-point values."""
    prod = np.asarray(a, dtype=np.int64) * np.asarray(b, dtype=np.int64)
    return saturate(rshift_round(prod, shift), bits)


def lstm_cell(i, f, g, o, c, segments: int = PWL_DEFAULT_SEGMENTS):
    """One LSTM cell update from gate outputs (Q0.15) and the old cell state (Q4.11).

    Returns ``(h, c_new)``: h in Q0.7 (int8), c_new in Q4.11 (int16).

    ``c' = sat16(round(f*c >> 15) + round(i*g >> 19))`` and ``h = sat8(round(o*tanh(c') >> 23))``;
    tanh (``segments`` PWL segments, as the gates) takes ``c'`` moved to Q3.12 with saturation.
    """
    fc = rshift_round(np.asarray(f, np.int64) * c, GATE_FRAC)
    ig = rshift_round(np.asarray(i, np.int64) * g, 2 * GATE_FRAC - CELL_FRAC)
    c_new = saturate(fc + ig, CELL_BITS)
    tc = pwl_tanh(cell_to_pre(c_new), segments)
    h = mul_shift(o, tc, 2 * GATE_FRAC - H_FRAC, H_BITS)
    return h, c_new


def cell_to_pre(c):
    """Cell state Q4.11 to pre-activation Q3.12, saturating."""
    return saturate(np.asarray(c, np.int64) << (PRE_FRAC - CELL_FRAC), PRE_BITS)


def gru_candidate_pre(n_in, n_hn, r):
    """GRU candidate pre-activation: ``sat16(n_in + round(r * n_hn >> 15))`` (Q3.12)."""
    return saturate(np.asarray(n_in, np.int64) + rshift_round(np.asarray(r, np.int64) * n_hn, GATE_FRAC), PRE_BITS)


def gru_update(n, z, h):
    """GRU output ``h' = n + z*(h - n)`` with n, z in Q0.15 and h in Q0.7; result Q0.7.

    Equivalent to PyTorch's ``(1 - z) * n + z * h``; evaluated as
    ``sat8(round((n + round(z*(h<<8) - z*n >> 15)) >> 8))``.
    """
    h15 = np.asarray(h, np.int64) << (GATE_FRAC - H_FRAC)
    n = np.asarray(n, np.int64)
    mixed = n + rshift_round(np.asarray(z, np.int64) * (h15 - n), GATE_FRAC)
    return saturate(rshift_round(mixed, GATE_FRAC - H_FRAC), H_BITS)


# -- piecewise-linear sigmoid and tanh -----------------------------------------------


@dataclass(frozen=True)
class PwlTable:
    """A piecewise-linear function on ``|x|`` in [0, 8) (Q3.12), mirrored for x < 0.

    For ``a = min(|x|, 32767)``: ``k = a >> seg_shift``, ``dx = a & (2**seg_shift - 1)``,
    ``y = intercept[k] + rshift_round(slope[k] * dx, PWL_SLOPE_FRAC)`` saturated to
    ``[0, 32767]``. For x < 0, sigmoid gives ``32768 - y`` and tanh ``-y``.

    Attributes
    ----------
    func : str
        ``"sigmoid"`` or ``"tanh"``.
    segments : int
        Number of uniform segments over [0, 8); a power of two.
    slope, intercept : tuple of int
        Per segment: slope in output LSBs per input LSB with ``PWL_SLOPE_FRAC`` fraction
        bits (unsigned, below 2**16), intercept in output LSBs (Q0.15, unsigned: at most 32767).
    """

    func: str
    segments: int
    slope: tuple
    intercept: tuple

    @property
    def seg_shift(self) -> int:
        """Bits of ``|x|`` below the segment index."""
        return (PRE_BITS - 1) - (int(self.segments).bit_length() - 1)


def _check_segments(segments: int) -> None:
    if segments not in PWL_SEGMENT_CHOICES:
        raise ValueError(f"PWL segment count must be one of {PWL_SEGMENT_CHOICES}, got {segments!r}")


@lru_cache(maxsize=None)
def pwl_table(func: str, segments: int = PWL_DEFAULT_SEGMENTS) -> PwlTable:
    """The continuous piecewise-linear table of ``func`` over [0, 8) with ``segments`` segments.

    The line joins knots at the segment ends. Sigmoid and tanh are concave on x > 0, so a
    chord lies below the curve; each interior knot is raised by half the mean largest
    chord deviation of its two segments, which roughly halves the error of plain
    interpolation while keeping the function continuous and monotonic. The knot at 0 is
    exact (sigmoid(0) = 1/2, tanh(0) = 0), so the mirrored function is continuous at 0.
    """
    _check_segments(segments)
    ref = {"sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)), "tanh": np.tanh}[func]
    width = 2 ** (PRE_BITS - 1) // segments  # input LSBs per segment
    steps = np.arange(width + 1)
    deviation = []
    for k in range(segments):
        ys = ref((k * width + steps) / 2.0**PRE_FRAC) * 2.0**GATE_FRAC
        deviation.append(float(np.max(ys - (ys[0] + (ys[-1] - ys[0]) * steps / width))))
    knots = ref(np.arange(segments + 1) * width / 2.0**PRE_FRAC) * 2.0**GATE_FRAC
    raise_by = [0.0] + [(deviation[k - 1] + deviation[k]) / 4 for k in range(1, segments)] + [deviation[-1] / 2]
    knots = np.minimum(np.floor(knots + np.array(raise_by) + 0.5), 2**GATE_FRAC - 1).astype(np.int64)
    # Slopes round down, so a segment never overshoots the next knot: monotonic everywhere.
    slopes = [int((knots[k + 1] - knots[k]) * 2**PWL_SLOPE_FRAC // width) for k in range(segments)]
    return PwlTable(func, segments, tuple(slopes), tuple(int(v) for v in knots[:-1]))


def pwl_eval(table: PwlTable, x):
    """Evaluate ``table`` on pre-activations ``x`` (Q3.12 int array); returns Q0.15 int64."""
    x = np.asarray(x, dtype=np.int64)
    a = np.minimum(np.abs(x), 2 ** (PRE_BITS - 1) - 1)
    shift = table.seg_shift
    k = a >> shift
    dx = a & ((1 << shift) - 1)
    slope = np.asarray(table.slope, dtype=np.int64)[k]
    intercept = np.asarray(table.intercept, dtype=np.int64)[k]
    y = np.clip(intercept + rshift_round(slope * dx, PWL_SLOPE_FRAC), 0, 2**GATE_FRAC - 1)
    if table.func == "sigmoid":
        return np.where(x < 0, 2**GATE_FRAC - y, y)
    return np.where(x < 0, -y, y)


@lru_cache(maxsize=None)
def pwl_lut(func: str, segments: int = PWL_DEFAULT_SEGMENTS) -> np.ndarray:
    """:func:`pwl_eval` of ``func`` at every Q3.12 input, for fast evaluation by lookup.

    Entry ``x + 2**15`` holds the value at ``x``; read it with :func:`pwl_lookup`. It is
    the table's own evaluation, so a lookup equals :func:`pwl_eval` bit for bit.
    """
    low, high = int_range(PRE_BITS)
    lut = pwl_eval(pwl_table(func, segments), np.arange(low, high + 1, dtype=np.int64))
    lut.flags.writeable = False
    return lut


def pwl_lookup(lut: np.ndarray, x):
    """``pwl_eval`` by :func:`pwl_lut`; ``x`` must already lie in the Q3.12 (int16) range."""
    return lut[np.asarray(x, dtype=np.int64) + 2 ** (PRE_BITS - 1)]


def pwl_sigmoid(x, segments: int | None = None):
    """PWL sigmoid of Q3.12 ``x``, Q0.15 result (saturating ``x`` first changes nothing)."""
    return pwl_lookup(pwl_lut("sigmoid", segments or PWL_DEFAULT_SEGMENTS), saturate(x, PRE_BITS))


def pwl_tanh(x, segments: int | None = None):
    """PWL tanh of Q3.12 ``x``, Q0.15 result (saturating ``x`` first changes nothing)."""
    return pwl_lookup(pwl_lut("tanh", segments or PWL_DEFAULT_SEGMENTS), saturate(x, PRE_BITS))


def pwl_max_error(func: str, segments: int = PWL_DEFAULT_SEGMENTS) -> float:
    """Largest absolute error of the PWL ``func`` against float, over every Q3.12 input."""
    x = np.arange(-(2 ** (PRE_BITS - 1)), 2 ** (PRE_BITS - 1), dtype=np.int64)
    ref = {"sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)), "tanh": np.tanh}[func]
    y = pwl_eval(pwl_table(func, segments), x) / 2.0**GATE_FRAC
    return float(np.max(np.abs(y - ref(x / 2.0**PRE_FRAC))))


# -- binarized predictor and the reuse decision ----------------------------------------


def sign_bits(values, offsets=0):
    """BNN input bits: 1 (meaning +1) where ``values - offsets >= 0``, else 0 (meaning -1).

    Zero maps to +1: the test is then a single comparison (for h with offset 0, the
    inverted sign bit), and it is the usual ``sign`` of binarized networks.
    """
    return (np.asarray(values, np.int64) >= np.asarray(offsets, np.int64)).astype(np.uint8)


def bnn_output(in_bits, weight_bits):
    """``yb = 2*popcount(XNOR(in_bits, weight_bits)) - N`` for each row of ``weight_bits``.

    ``in_bits``: (..., N) of 0/1; ``weight_bits``: (R, N) of 0/1. Returns (..., R) int64.
    Computed as a +-1 dot product, which is the same number.
    """
    return bnn_rows(weight_bits)(in_bits)


def bnn_rows(weight_bits, total_bits: int | None = None):
    """:func:`bnn_output` with the weight side prepared once: returns ``in_bits -> yb``.

    The +-1 dot product runs in floating point on a contiguous transposed weight matrix,
    exact: every partial sum is an integer of magnitude at most N, within float32's
    24-bit significand below N = 2**24 (float64 beyond). ``total_bits``: the N of a sum
    of such outputs (over split inputs) that must stay exact too; default N.
    """
    weight_bits = np.asarray(weight_bits)
    total = weight_bits.shape[-1] if total_bits is None else total_bits
    dtype = np.float32 if total < 2**24 else np.float64
    w = np.ascontiguousarray((weight_bits.astype(dtype) * 2 - 1).T)

    def evaluate(in_bits, as_float: bool = False):
        """``yb`` as int64, or (``as_float``) as the exact float products, for adding up."""
        a = np.asarray(in_bits, dtype) * 2 - 1
        yb = (a.reshape(-1, a.shape[-1]) @ w).reshape(a.shape[:-1] + (w.shape[1],))
        return yb if as_float else yb.astype(np.int64)

    return evaluate


def _unsigned_fixed(value: float, frac: int, max_q: int) -> int:
    """A non-negative threshold to an unsigned fixed-point value with ``frac`` fraction bits, round half up."""
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"threshold must be a non-negative number, got {value!r}")
    q = int(np.floor(value * 2**frac + 0.5))
    if q > max_q:
        raise ValueError(f"threshold {value!r} exceeds the largest value {max_q / 2**frac}")
    return q


def theta_to_q(theta: float) -> int:
    """Reuse threshold to its Q8.8 register value, round half up.

    Raises
    ------
    ValueError
        If ``theta`` is negative, not finite, or above the largest Q8.8 value.
    """
    return _unsigned_fixed(theta, THETA_FRAC, THETA_MAX_Q)


def tau_to_q(tau: float) -> int:
    """The sign predictor's absolute threshold (gate-output units) to Q1.15, as :func:`theta_to_q` (ValueError alike)."""
    return _unsigned_fixed(tau, TAU_FRAC, TAU_MAX_Q)


def within_threshold(new, cached, theta_q):
    """The reuse test ``|new - cached| <= theta * |cached|`` without a division.

    Evaluated as ``|new - cached| << THETA_FRAC <= theta_q * |cached|`` on integers.
    """
    new = np.asarray(new, np.int64)
    cached = np.asarray(cached, np.int64)
    return (np.abs(new - cached) << THETA_FRAC) <= np.asarray(theta_q, np.int64) * np.abs(cached)


def reuse_decision(close, run, cap: int, valid=True):
    """The reuse rule of every row predictor: ``(reuse, run_next)``.

    ``reuse = valid & close & (cap == 0 | run < cap)``: the entry holds a value (not a
    sequence's first step), the predictor's threshold test passed (``close``:
    :func:`within_threshold` for bnn and oracle, :func:`sign_close` for sign and the
    hybrid's row stage) and the run of consecutive reuses is below the cap (0: no cap).
    ``run_next = reuse ? min(run + 1, REUSE_CAP_MAX) : 0``: the saturation only acts
    with no cap, where the run is never read (with a cap, ``run < cap`` keeps ``run + 1
    <= cap``); the hardware's run counter is ``REUSE_CAP_BITS`` wide.
    """
    run = np.asarray(run, np.int64)
    reuse = np.asarray(close, bool) & np.asarray(valid, bool)
    if cap:
        reuse = reuse & (run < cap)
    run_next = np.where(reuse, np.minimum(run + 1, REUSE_CAP_MAX), 0)
    return reuse, run_next


# -- skip policies: delta columns and the sign row predictor ---------------------------


def delta_columns(values, last_used, theta):
    """The delta column test: a column is used when ``|v - v_last| > theta``.

    ``values``, ``last_used``: (..., N) integers; ``theta``: per column (N,) or a
    scalar, int8 units. Returns ``(used, new_last_used)``: the used columns take the
    new value, the others keep theirs. ``theta = 0`` uses every column that changed,
    so the accumulators stay exact.
    """
    values = np.asarray(values, np.int64)
    last_used = np.asarray(last_used, np.int64)
    used = np.abs(values - last_used) > np.asarray(theta, np.int64)
    return used, np.where(used, values, last_used)


def nearest_power_exponent(magnitude):
    """``k`` with ``2**k`` nearest to ``magnitude`` (integers >= 1), ties up: ``a >= 1.5 * 2**k`` rounds up."""
    a = np.asarray(magnitude, np.int64)
    k = np.zeros(a.shape, np.int64)
    for bit in range(1, 63):  # floor(log2 a) without floats
        k += a >= (np.int64(1) << bit)
    return k + (2 * a >= 3 * (np.int64(1) << k))


def sign_row_weights(weight, bits: int):
    """The sign row predictor's weights ``W'`` (int64, the shape of ``weight``).

    - ``bits = 1``: ``sign(w) * m_r`` with ``sign(w) = +1`` for ``w >= 0`` (the BNN's
      weight bit) and ``m_r = round(sum_j |w_rj| / N)`` (round half up): the sign
      memory and one int8 per row.
    - ``bits = 3``: ``sign(w) * 2**k``, the power of two nearest ``|w|``
      (:func:`nearest_power_exponent`) limited to the row's four largest, ``k`` in
      ``[E_r - 3, E_r]`` with ``E_r`` that of ``max_j |w_rj|``: a sign bit and a 2-bit
      exponent below ``E_r`` (zero weights take the smallest, ``2**(E_r - 3)``; a row of
      zeros is all zero).
    """
    w = np.asarray(weight, np.int64)
    sign = np.where(w >= 0, 1, -1)
    mag = np.abs(w)
    if bits == 1:
        n = w.shape[-1]
        mean = (2 * mag.sum(axis=-1, keepdims=True) + n) // (2 * n)
        return sign * mean
    if bits != 3:
        raise ValueError(f"row weights must have 1 or 3 bits, got {bits!r}")
    top = nearest_power_exponent(np.maximum(mag.max(axis=-1, keepdims=True), 1))
    k = np.clip(nearest_power_exponent(np.maximum(mag, 1)), np.maximum(top - 3, 0), top)
    k = np.where(mag == 0, np.maximum(top - 3, 0), k)
    nonzero_row = mag.max(axis=-1, keepdims=True) > 0
    return np.where(nonzero_row, sign * (np.int64(1) << k), 0)


def pwl_slope(table: PwlTable, x):
    """The slope of ``table`` at pre-activations ``x`` (Q3.12): its segment's slope
    (output LSBs per input LSB, ``PWL_SLOPE_FRAC`` fraction bits), mirrored for x < 0."""
    a = np.minimum(np.abs(np.asarray(x, np.int64)), 2 ** (PRE_BITS - 1) - 1)
    return np.asarray(table.slope, np.int64)[a >> table.seg_shift]


def sign_close(d, mult, shift, slope, tau_q):
    """The sign predictor's absolute, slope-weighted test: the predicted output change is below tau.

    ``d`` is the row predictor's sum ``W'_r . (v - v_r)`` (accumulator units) since the
    row's last computation; ``|d|`` goes to the pre-activation grid with the row's own
    requantization (:func:`requantize`), times the activation's PWL ``slope`` at the
    row's last activation input gives the predicted change of the gate output in Q0.15
    LSBs (``PWL_SLOPE_FRAC`` fraction bits). Close when strictly below ``tau_q`` (Q1.15):
    ``requantize(|d|) * slope < tau_q << PWL_SLOPE_FRAC``; ``tau_q = 0`` is never close.
    """
    change = requantize(np.abs(np.asarray(d, np.int64)), mult, shift) * np.asarray(slope, np.int64)
    return change < (np.int64(tau_q) << PWL_SLOPE_FRAC)
