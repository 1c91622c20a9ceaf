"""Piecewise-linear sigmoid and tanh, bit-exact with ``nx.pwl_eval``."""

import numpy as np
from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from ..golden import numerics as nx
from .requant import saturate
from .sharedmul import SharedMul, mul_members, product

__all__ = ["PwlUnit", "DualPwlUnit", "PWL_FUNCS"]

#: The functions a :class:`PwlUnit` evaluates.
PWL_FUNCS = ("sigmoid", "tanh")


def _shape_of(values):
    """The narrowest shape holding every int in ``values``."""
    low, high = min(values), max(values)
    if low < 0:
        return signed(max(high.bit_length(), (-low - 1).bit_length()) + 1)
    return unsigned(max(high.bit_length(), 1))


class PwlUnit(wiring.Component):
    """PWL ``func`` of a Q3.12 pre-activation: ``y = nx.pwl_eval(nx.pwl_table(func, segments), x)``.

    Pipelined: one input a cycle, its result ``LATENCY`` cycles later.

    Stages
    ------
    1. ``a = min(|x|, 32767)``; its top bits address the segment ROMs (synchronous read
       ports, so they map to block or distributed RAM); ``dx`` (the low bits of ``a``)
       and the sign of ``x`` are registered alongside.
    2. ``acc = slope[k] * dx + base[k]``, registered (a DSP multiply-add).
    3. ``y = clip(acc >> PWL_SLOPE_FRAC, 0, 32767)``, mirrored for ``x < 0``
       (``32768 - y`` for sigmoid, ``-y`` for tanh), registered.

    Parameters
    ----------
    func : str
        ``"sigmoid"`` or ``"tanh"``.
    segments : int
        Segment count, one of ``nx.PWL_SEGMENT_CHOICES``.

    Attributes
    ----------
    LATENCY : int
        Cycles from an input (``in_valid``) to its result (``out_valid``): 3.

    Members
    -------
    x : In(signed(nx.PRE_BITS))
        Q3.12 pre-activation.
    in_valid : In(1)
    y : Out(signed(nx.GATE_BITS))
        Q0.15 activation.
    out_valid : Out(1)
    """

    LATENCY = 3

    x: In(signed(nx.PRE_BITS))
    in_valid: In(1)
    y: Out(signed(nx.GATE_BITS))
    out_valid: Out(1)

    def __init__(self, func: str, segments: int = nx.PWL_DEFAULT_SEGMENTS):
        self._tables = _checked_tables((func,), segments)
        super().__init__()

    def elaborate(self, platform):
        return _build_pwl(self, self._tables, sel=None)


def _checked_tables(funcs, segments):
    """The PWL tables of ``funcs``, each checked to stay in the Q0.15 range."""
    for func in funcs:
        if func not in PWL_FUNCS:
            raise ValueError(f"PWL function must be one of {PWL_FUNCS}, got {func!r}")
    if segments not in nx.PWL_SEGMENT_CHOICES:
        raise ValueError(f"PWL segment count must be one of {nx.PWL_SEGMENT_CHOICES}, got {segments!r}")
    tables = [nx.pwl_table(func, segments) for func in funcs]
    # The sigmoid mirror 32768 - y only fits signed(16) while y > 0 for x < 0; the
    # tables guarantee it, but check the whole input range rather than assume it.
    x_low, x_high = nx.int_range(nx.PRE_BITS)
    low, high = nx.int_range(nx.GATE_BITS)
    for func, table in zip(funcs, tables):
        every_y = nx.pwl_eval(table, np.arange(x_low, x_high + 1))
        if every_y.min() < low or every_y.max() > high:
            raise ValueError(f"PWL {func!r} with {segments!r} segments leaves the Q0.15 range")
    return tables


class DualPwlUnit(wiring.Component):
    """Sigmoid or tanh, chosen per input by ``sel``: one :class:`PwlUnit` datapath, both tables.

    The shared cell datapaths (:mod:`.cell_shared`) evaluate every gate activation on
    one of these. Both tables sit in the same ROMs (``sel`` is the top address bit), so
    the unit costs one multiply-add, like a :class:`PwlUnit`. Its input is registered
    first (the shared cells feed it through a multiplexer, and on the small FPGAs it
    serves, multiplexer, magnitude and ROM lookup do not fit one cycle), so it takes a
    cycle more.

    Parameters
    ----------
    segments : int
        Segment count of both functions, one of ``nx.PWL_SEGMENT_CHOICES``.

    Attributes
    ----------
    LATENCY : int
        4: the input register, then the three stages of :class:`PwlUnit`.

    Members
    -------
    x : In(signed(nx.PRE_BITS))
    sel : In(1)
        0: sigmoid, 1: tanh.
    in_valid : In(1)
    y : Out(signed(nx.GATE_BITS))
    out_valid : Out(1)
    """

    LATENCY = 4
    FUNCS = ("sigmoid", "tanh")

    def __init__(self, segments: int = nx.PWL_DEFAULT_SEGMENTS, external_mul: SharedMul | None = None):
        self._segments = segments
        self._tables = _checked_tables(self.FUNCS, segments)
        self._mul = external_mul
        super().__init__({
            "x": In(signed(nx.PRE_BITS)), "sel": In(1), "in_valid": In(1),
            "y": Out(signed(nx.GATE_BITS)), "out_valid": Out(1),
            **(mul_members(external_mul) if external_mul else {}),
        })

    @classmethod
    def dx_bits(cls, segments: int = nx.PWL_DEFAULT_SEGMENTS) -> int:
        """Width of the offset within a segment, the slope product's second operand."""
        return _checked_tables(cls.FUNCS, segments)[0].seg_shift

    @property
    def segments(self) -> int:
        return self._segments

    def elaborate(self, platform):
        m = Module()
        x, sel, valid = Signal.like(self.x), Signal(), Signal()
        m.d.sync += [x.eq(self.x), sel.eq(self.sel), valid.eq(self.in_valid)]
        m.submodules.stages = _build_pwl(self, self._tables, sel=sel, x=x, in_valid=valid, mul=self._mul)
        return m


def _build_pwl(unit, tables, sel, x=None, in_valid=None, mul: SharedMul | None = None):
    """The three PWL stages of ``unit`` over ``tables`` (one, or two chosen by ``sel``),
    from ``x`` and ``in_valid`` (default: the unit's ports) to the unit's outputs; the
    slope product on the shared multiplier ``mul`` if given."""
    m = Module()
    x = unit.x if x is None else x
    in_valid = unit.in_valid if in_valid is None else in_valid
    seg_shift = tables[0].seg_shift
    frac = nx.PWL_SLOPE_FRAC
    mag_bits = nx.PRE_BITS - 1
    out_max = 2**nx.GATE_FRAC - 1

    # ROM contents. `base` folds the intercept and the rounding half into one
    # constant: intercept + ((slope*dx + 2**(f-1)) >> f) equals
    # (slope*dx + (intercept << f) + 2**(f-1)) >> f exactly, because intercept << f
    # is a multiple of 2**f; so stage 2 is a single multiply-add. With two tables the
    # second follows the first (address bit `sel` on top).
    slopes = [s for t in tables for s in t.slope]
    bases = [(c << frac) + (1 << (frac - 1)) for t in tables for c in t.intercept]
    m.submodules.slope_rom = slope_rom = memory.Memory(shape=_shape_of(slopes), depth=len(slopes), init=slopes)
    m.submodules.base_rom = base_rom = memory.Memory(shape=_shape_of(bases), depth=len(bases), init=bases)
    slope_rd = slope_rom.read_port()
    base_rd = base_rom.read_port()

    # 1: |x| saturated to 15 bits (only -32768 needs it), then segment index.
    neg_0 = x < 0
    mag = Signal(unsigned(mag_bits))
    m.d.comb += mag.eq(saturate(Mux(neg_0, -x, x), mag_bits, signed_=False))
    addr = mag[seg_shift:] if sel is None else Cat(mag[seg_shift:], sel)
    m.d.comb += [slope_rd.addr.eq(addr), base_rd.addr.eq(addr)]
    dx_1 = Signal(unsigned(seg_shift))
    neg_1 = Signal()
    valid_1 = Signal()
    tanh_1 = Signal()
    m.d.sync += [
        dx_1.eq(mag[:seg_shift]),
        neg_1.eq(neg_0),
        valid_1.eq(in_valid),
        tanh_1.eq(tables[0].func == "tanh" if sel is None else sel),
    ]

    # 2: multiply-add.
    acc_2 = Signal(signed(max(slope_rd.data.shape().width + seg_shift, base_rd.data.shape().width) + 2))
    neg_2 = Signal()
    valid_2 = Signal()
    tanh_2 = Signal()
    m.d.sync += [neg_2.eq(neg_1), valid_2.eq(valid_1), tanh_2.eq(tanh_1)]
    if mul is None:
        m.d.sync += acc_2.eq(slope_rd.data * dx_1 + base_rd.data)
    else:
        # The shared multiplier registers the bare product; the base, registered beside
        # it, is added at the start of stage 3 instead.
        if slope_rd.data.shape().signed:
            raise ValueError("the shared PWL multiplier needs non-negative slopes")
        base_2 = Signal.like(base_rd.data)
        m.d.sync += base_2.eq(base_rd.data)
        m.d.comb += acc_2.eq(product(m, unit, slope_rd.data, dx_1, True, mul) + base_2)

    # 3: clip to [0, 2**15 - 1], then mirror for negative inputs: 32768 - y for the
    # sigmoid, -y for tanh.
    y_pos = Signal(unsigned(nx.GATE_FRAC))
    m.d.comb += y_pos.eq(saturate(acc_2 >> frac, nx.GATE_FRAC, signed_=False))
    y_neg = Mux(tanh_2, -y_pos, (out_max + 1) - y_pos)
    m.d.sync += [
        unit.y.eq(Mux(neg_2, y_neg, y_pos)),
        unit.out_valid.eq(valid_2),
    ]
    return m
