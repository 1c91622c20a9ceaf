"""Multipliers shared by units that never work at the same time (the shared datapath).

The requantizer works only in the rows phase and the cell unit only in the cell phase,
so with ``datapath = "shared"`` the core builds a single signed 17 x 17 multiplier
(:data:`MAIN`) and hands it to whichever phase is running; likewise one unsigned
16 x n multiplier (:func:`pwl_multiplier`) serves the decision unit's threshold product
in the rows phase and the PWL unit's slope product in the cell phase. A unit built with
an external multiplier gets the members of :func:`mul_members` instead of a multiplier
of its own: it drives ``<prefix>_a`` and ``<prefix>_b`` and reads their product on
``<prefix>_y`` a cycle later (the product is registered: on the iCE40s a product is a
DSP block, with some logic when an operand is wider than 16 bits).
"""

from dataclasses import dataclass

from amaranth.hdl import Shape, Signal, signed, unsigned
from amaranth.lib.wiring import In, Out

from ..golden import numerics as nx

__all__ = ["MUL_BITS", "MAIN", "SharedMul", "pwl_multiplier", "mul_members", "product", "connect"]

#: Operand width of the main shared multiplier (signed): the 17-bit halves of the
#: requantizer's 33-bit sum, and the GRU's ``(h << 8) - n``.
MUL_BITS = 17


@dataclass(frozen=True)
class SharedMul:
    """One shared multiplier: its member prefix and operand shapes."""

    prefix: str
    a: Shape
    b: Shape


#: The requantizer's and the cell unit's multiplier.
MAIN = SharedMul("mul", signed(MUL_BITS), signed(MUL_BITS))


def pwl_multiplier(yb_bits: int, dx_bits: int) -> SharedMul:
    """The decision unit's ``theta * |yb_m|`` and the PWL unit's ``slope * dx``
    (both unsigned: theta is Q8.8 unsigned, the slopes of sigmoid and tanh are
    non-negative)."""
    return SharedMul("pmul", unsigned(nx.THETA_BITS), unsigned(max(yb_bits, dx_bits)))


def _y_shape(mul: SharedMul) -> Shape:
    return Shape(mul.a.width + mul.b.width, mul.a.signed or mul.b.signed)


def mul_members(mul: SharedMul = MAIN) -> dict:
    """Signature members of a unit that uses the shared multiplier ``mul``."""
    return {f"{mul.prefix}_a": Out(mul.a), f"{mul.prefix}_b": Out(mul.b), f"{mul.prefix}_y": In(_y_shape(mul))}


def _fits(value, shape: Shape) -> bool:
    v = value.shape()
    if shape.signed:
        return v.width + (not v.signed) <= shape.width
    return not v.signed and v.width <= shape.width


def product(m, unit, a, b, external: bool, mul: SharedMul = MAIN):
    """``a * b``, registered (one cycle): on the unit's members for the shared
    multiplier ``mul`` if ``external``, else a local multiplier.

    ``a`` and ``b`` must fit ``mul``'s operand shapes when ``external``.
    """
    if not external:
        y = Signal(Shape(len(a) + len(b), a.shape().signed or b.shape().signed))
        m.d.sync += y.eq(a * b)
        return y
    for value, shape in ((a, mul.a), (b, mul.b)):
        if not _fits(value, shape):
            raise ValueError(f"operand {value!r} does not fit the shared multiplier's {shape}")
    m.d.comb += [getattr(unit, f"{mul.prefix}_a").eq(a), getattr(unit, f"{mul.prefix}_b").eq(b)]
    return getattr(unit, f"{mul.prefix}_y")


def connect(m, users, select, mul: SharedMul = MAIN):
    """Build the multiplier ``mul`` and give it to ``users[k]`` while ``select == k``
    (a Value); each user reads the product of its operands of the cycle before."""
    a, b = Signal(mul.a, name=f"{mul.prefix}_a"), Signal(mul.b, name=f"{mul.prefix}_b")
    for k, unit in enumerate(users):
        with m.If(select == k):
            m.d.comb += [a.eq(getattr(unit, f"{mul.prefix}_a")), b.eq(getattr(unit, f"{mul.prefix}_b"))]
    # No reset (a product needs none): the DSP block's output register can take it in.
    y = Signal(_y_shape(mul), name=f"{mul.prefix}_y", reset_less=True)
    m.d.sync += y.eq(a * b)
    for unit in users:
        m.d.comb += getattr(unit, f"{mul.prefix}_y").eq(y)
