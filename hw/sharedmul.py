"""One multiplier for the requantizer and the cell unit of the shared datapath.

The requantizer works only in the rows phase and the cell unit only in the cell phase,
so with ``datapath = "shared"`` the core builds a single signed 17 x 17 multiplier and
hands it to whichever phase is running. A unit built with ``external_mul`` gets the
members of :func:`mul_members` instead of a multiplier of its own: it drives ``mul_a``
and ``mul_b`` and reads their product on ``mul_y`` a cycle later (the product is
registered: on the iCE40s a 17 x 17 product is a DSP block and an adder).
"""

from amaranth.hdl import Signal, signed
from amaranth.lib.wiring import In, Out

__all__ = ["MUL_BITS", "mul_members", "product", "connect"]

#: Operand width of the shared multiplier (signed): the 17-bit halves of the
#: requantizer's 33-bit sum, and the GRU's ``(h << 8) - n``.
MUL_BITS = 17


def mul_members() -> dict:
    """Signature members of a unit that uses the shared multiplier."""
    return {"mul_a": Out(signed(MUL_BITS)), "mul_b": Out(signed(MUL_BITS)), "mul_y": In(signed(2 * MUL_BITS))}


def product(m, unit, a, b, external: bool):
    """``a * b``, registered (one cycle): on the unit's shared-multiplier members if
    ``external``, else a local multiplier.

    ``a`` and ``b`` must fit :data:`MUL_BITS` signed bits when ``external``.
    """
    if not external:
        y = Signal(signed(len(a) + len(b)))
        m.d.sync += y.eq(a * b)
        return y
    for value in (a, b):
        shape = value.shape()
        if shape.width + (not shape.signed) > MUL_BITS:
            raise ValueError(f"operand {value!r} does not fit the shared {MUL_BITS}-bit multiplier")
    m.d.comb += [unit.mul_a.eq(a), unit.mul_b.eq(b)]
    return unit.mul_y


def connect(m, users, select):
    """Build the multiplier and give it to ``users[k]`` while ``select == k`` (a Value);
    each user reads the product of its operands of the cycle before."""
    a = Signal(signed(MUL_BITS))
    b = Signal(signed(MUL_BITS))
    for k, unit in enumerate(users):
        with m.If(select == k):
            m.d.comb += [a.eq(unit.mul_a), b.eq(unit.mul_b)]
    y = Signal(signed(2 * MUL_BITS))
    m.d.sync += y.eq(a * b)
    for unit in users:
        m.d.comb += unit.mul_y.eq(y)
