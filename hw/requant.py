"""Requantization of an accumulator to a Q3.12 pre-activation, and fixed-point helpers.

:class:`Requantizer` computes ``nx.requantize(acc + bias, mult, shift)``. The two helper
functions :func:`rshift_round_const` and :func:`saturate` build the Amaranth expressions
for ``nx.rshift_round`` (constant shift) and ``nx.saturate``; the other datapath blocks
(:mod:`.pwl`, :mod:`.cell`) use them so the rounding and saturation rules are written in
hardware once, like they are in :mod:`memornn.golden.numerics`.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..golden import numerics as nx
from .sharedmul import mul_members, product

__all__ = ["Requantizer", "rshift_round_const", "saturate"]


def rshift_round_const(value, shift: int):
    """Amaranth expression for ``nx.rshift_round(value, shift)`` with a constant ``shift``.

    Round half up: ``(value + 2**(shift-1)) >> shift`` with an arithmetic shift (for a
    signed ``value``); ``shift == 0`` returns ``value``. The result is as wide as needed.
    """
    value = Value.cast(value)
    if not isinstance(shift, int) or shift < 0:
        raise ValueError(f"shift must be a non-negative int, got {shift!r}")
    if shift == 0:
        return value
    return (value + Const(1 << (shift - 1))) >> shift


def saturate(value, bits: int, signed_: bool = True):
    """Amaranth expression for ``nx.saturate(value, bits, signed_)``, ``bits`` wide.

    Clips ``value`` to the range of a ``bits``-wide integer; the result has exactly that
    shape (``signed(bits)`` or ``unsigned(bits)``), so it never wraps.
    """
    value = Value.cast(value)
    low, high = nx.int_range(bits, signed_)
    clipped = Mux(value > high, high, Mux(value < low, low, value))
    # Truncating after the clip is exact: the clipped value is in the target range.
    return clipped[:bits].as_signed() if signed_ else clipped[:bits]


def windowed_shift(value, shift, window: int):
    """``(value >> shift)[:window]`` and whether the shifted value does not fit there.

    ``value`` is signed; the result's bits from ``window`` up all equal the sign exactly
    when the returned overflow is 0. A log shifter that keeps, after each stage, only the
    bits the later stages can still move into the window (shifting by the largest amount
    first) needs about half the multiplexers of a full-width barrel shifter; the bits a
    stage drops only count towards the overflow flag, which is all saturation needs.

    Returns
    -------
    (Value, Value)
        The low ``window`` bits (unsigned) and the overflow bit.
    """
    value, shift = Value.cast(value), Value.cast(shift)
    sign = value[-1]
    bits = [value[i] for i in range(len(value))]

    def bit(i):
        return bits[i] if i < len(bits) else sign

    overflow = []
    for j in reversed(range(len(shift))):
        step = 1 << j
        keep = window + step - 1  # the bits later stages (at most step - 1 more) can still use
        # A dropped bit that is not the sign means the value does not fit the window;
        # when this stage shifts, the dropped positions receive bits already dropped.
        dropped = [bit(i) ^ sign for i in range(keep, len(bits))]
        if dropped:
            overflow.append(~shift[j] & Cat(*dropped).any())
        bits = [Mux(shift[j], bit(i + step), bit(i)) for i in range(min(keep, len(bits)))]
    low = Cat(*(bit(i) for i in range(window)))
    return low, (Cat(*overflow).any() if overflow else Const(0, 1))


class Requantizer(wiring.Component):
    """``pre = nx.requantize(acc + bias, mult, shift)``: ``sat16(rshift_round((acc+bias)*mult, shift))``.

    Pipelined: the result comes ``latency`` cycles after its input. With ``passes = 1``
    it takes an input every cycle; with ``passes = 2`` the product is formed in two
    cycles on a 17 x 17 multiplier (``sum[:16] * mult``, then plus
    ``sum[16:] * mult << 16``), for designs whose multipliers are built in logic, and
    successive inputs must be at least two cycles apart. With ``external_mul`` that
    multiplier is the core's shared one (:mod:`.sharedmul`).

    Stages
    ------
    1. ``sum = acc + bias`` at 33 bits (never wraps);
    2. ``prod = sum * mult`` (48 bits; a DSP multiplier with its output register), or
       the two passes;
    3. ``t = (prod << 1) >> shift`` (a 49-bit arithmetic barrel shifter);
    4. ``pre = sat16((t + 1) >> 1)`` (rounding and saturation).

    Parameters
    ----------
    passes : int
        1 or 2 multiplier passes per input.
    external_mul : bool
        Use the shared multiplier's members (two passes only).

    Attributes
    ----------
    LATENCY : int
        Cycles from an input (``in_valid``) to its result (``out_valid``) with one pass: 4.
    latency : int
        This unit's: ``LATENCY`` with one pass, ``LATENCY + 2`` with two (the second
        pass, and a register between the products and their sum).

    Members
    -------
    acc, bias : In(signed(32))
    mult : In(unsigned(nx.MULT_BITS))
    shift : In(unsigned(SHIFT_BITS))
        ``0 .. nx.SHIFT_MAX``; larger values act like any shift past the product's
        width (the result rounds to 0).
    in_valid : In(1)
    pre : Out(signed(nx.PRE_BITS))
        Q3.12 pre-activation.
    out_valid : Out(1)
    """

    LATENCY = 4

    #: Width of the shift input: holds 0 .. nx.SHIFT_MAX (6 bits).
    SHIFT_BITS = nx.SHIFT_MAX.bit_length()


    #: Low bits of the shifted product kept (with its sign): enough for the 17 bits the
    #: rounding uses and for the saturation compares, which see ``[-2**17, 2**17)``.
    WINDOW = nx.PRE_BITS + 2

    #: Low bits of the sum in the first pass (``passes = 2``).
    LOW_BITS = 16

    def __init__(self, passes: int = 1, external_mul: bool = False):
        if passes not in (1, 2):
            raise ValueError(f"requantizer passes must be 1 or 2, got {passes!r}")
        if external_mul and passes != 2:
            raise ValueError("the shared multiplier needs the two-pass requantizer")
        self._passes = passes
        self._external = external_mul
        members = {
            "acc": In(signed(nx.ACC_BITS)),
            "bias": In(signed(nx.BIAS_BITS)),
            "mult": In(unsigned(nx.MULT_BITS)),
            "shift": In(unsigned(self.SHIFT_BITS)),
            "in_valid": In(1),
            "pre": Out(signed(nx.PRE_BITS)),
            "out_valid": Out(1),
        }
        if external_mul:
            members.update(mul_members())
        super().__init__(members)

    @classmethod
    def latency_for(cls, passes: int) -> int:
        return cls.LATENCY if passes == 1 else cls.LATENCY + 2

    @property
    def latency(self) -> int:
        return self.latency_for(self._passes)

    @property
    def passes(self) -> int:
        return self._passes

    def elaborate(self, platform):
        m = Module()

        # 1: the sum at one bit more than either operand, so it cannot wrap. With two
        # passes the stage loads only on an input, so it holds through both passes.
        total = Signal(signed(max(nx.ACC_BITS, nx.BIAS_BITS) + 1))
        mult_1 = Signal.like(self.mult)
        shift_1 = Signal.like(self.shift)
        valid_1 = Signal()
        with m.If(self.in_valid if self._passes == 2 else 1):
            m.d.sync += [
                total.eq(self.acc + self.bias),
                mult_1.eq(self.mult),
                shift_1.eq(self.shift),
            ]
        m.d.sync += valid_1.eq(self.in_valid)

        # 2: the product (signed x unsigned: amaranth widens the unsigned operand).
        prod = Signal(signed(total.shape().width + nx.MULT_BITS))
        shift_2 = Signal.like(self.shift)
        valid_2 = Signal()
        if self._passes == 1:
            m.d.sync += [
                prod.eq(total * mult_1),
                shift_2.eq(shift_1),
                valid_2.eq(valid_1),
            ]
        else:
            # Pass 1 in the cycle after the sum, pass 2 in the next, their sum in the one
            # after (the multiplier's product is registered: a multiplier built in logic
            # and a 48-bit add do not fit one cycle). `total`, `mult_1` and `shift_1` hold
            # through both passes: they load only on inputs, two or more cycles apart.
            second, third = Signal(), Signal()
            low = Signal(signed(self.LOW_BITS + nx.MULT_BITS + 1))
            shift_b = Signal.like(self.shift)
            low_half = Cat(total[:self.LOW_BITS], Const(0, 1)).as_signed()
            high_half = total[self.LOW_BITS:].as_signed()
            part = product(m, self, Mux(second, high_half, low_half), Cat(mult_1, Const(0, 1)).as_signed(),
                           self._external)  # a cycle later
            with m.If(second):
                m.d.sync += [low.eq(part), shift_b.eq(shift_1)]
            m.d.sync += [
                second.eq(valid_1),
                third.eq(second),
                prod.eq(low + part.shift_left(self.LOW_BITS)),
                shift_2.eq(shift_b),
                valid_2.eq(third),
            ]

        # 3: why `(prod << 1) >> shift`: round half up is (p + 2**(s-1)) >> s, which
        # equals ((p >> (s-1)) + 1) >> 1 for s >= 1, and (2p + 1) >> 1 == p covers s == 0;
        # so one barrel shifter of 2p plus a constant +1 replaces a variable-position
        # half and a special case for shift 0. A shift past the width leaves 0 or -1,
        # which rounds to 0, as in the golden model. Only the low WINDOW bits of the
        # shifted value and whether it fits them are kept (see `windowed_shift`).
        doubled = Signal(signed(prod.shape().width + 1))
        m.d.comb += doubled.eq(prod << 1)
        window, overflow = windowed_shift(doubled, shift_2, self.WINDOW)
        shifted = Signal(signed(self.WINDOW + 1))  # exact whenever `fits`
        fits, sign = Signal(), Signal()
        valid_3 = Signal()
        m.d.sync += [
            shifted.eq(Cat(window, doubled[-1]).as_signed()),
            fits.eq(~overflow), sign.eq(doubled[-1]),
            valid_3.eq(valid_2),
        ]

        # 4: round and saturate, sat16((t + 1) >> 1), with the carry chains side by side
        # rather than one after the other: the result saturates high exactly when
        # t >= 2**16 - 1 and low when t < -2**16 - 1 (always, past the window); otherwise
        # its 16 bits are bits 1..16 of t + 1, which depend on t's low 17 bits only.
        low, high = nx.int_range(nx.PRE_BITS)
        in_bits = nx.PRE_BITS + 1
        rounded = (shifted[:in_bits] + 1)[1:in_bits].as_signed()
        sat_high = Mux(fits, shifted >= 2 * high + 1, ~sign)
        sat_low = Mux(fits, shifted < 2 * low - 1, sign)
        m.d.sync += [
            self.pre.eq(Mux(sat_high, high, Mux(sat_low, low, rounded))),
            self.out_valid.eq(valid_3),
        ]
        return m
