"""Area-lean LSTM and GRU cell units: one PWL unit and one multiplier, time-shared.

The units of :mod:`.cell` take a hidden unit every cycle with five (LSTM) or three (GRU)
PWL units and three (two) multipliers. Where logic is scarce (the iCE40 parts, whose few
DSP blocks go to the MAC lanes) the units here compute the same values, bit for bit,
with a single :class:`.pwl.DualPwlUnit` and a single multiplier, taking a hidden unit
every ``INTERVAL`` cycles.

Each unit runs a fixed modulo schedule: every operation of a hidden unit issued at
cycle 0 happens at a fixed cycle offset, and the offsets of the PWL inputs (and of the
multiplier inputs) are distinct modulo ``INTERVAL``, so hidden units issued a multiple
of ``INTERVAL`` cycles apart never compete for either. Intermediate values sit in
registers loaded at fixed offsets; each holds its value until the next hidden unit
reloads it ``INTERVAL`` cycles later, which the offsets below respect (checked by the
tests at the full issue rate).
"""

from amaranth.hdl import Module, Mux, Signal, signed

from ..golden import numerics as nx
from .cell import GRU_MEMBERS, LSTM_MEMBERS, CellBase, GruCellUnit, LstmCellUnit
from .pwl import DualPwlUnit
from .requant import rshift_round_const, saturate
from .sharedmul import SharedMul, mul_members, product

__all__ = ["SharedLstmCell", "SharedGruCell", "cell_unit_class"]

_SIGMOID, _TANH = 0, 1


def _valid_chain(m, first, length):
    """``v[k]`` is ``first`` delayed by ``k`` cycles, ``k = 0 .. length``."""
    v = [first]
    for k in range(length):
        reg = Signal(name=f"v{k + 1}")
        m.d.sync += reg.eq(v[-1])
        v.append(reg)
    return v


def _mux_by_slot(pairs, default):
    """The value of the first ``(slot_valid, value)`` whose flag is set (slots never overlap)."""
    out = default
    for flag, value in reversed(pairs):
        out = Mux(flag, value, out)
    return out


class _SharedCell(CellBase):
    """What both shared cells have: the cell ports plus, with ``external_mul``, those of
    the shared multiplier and, with ``pwl_mul``, those of the shared multiplier its PWL
    unit uses; the valid chain and the PWL unit every schedule starts from.

    Parameters
    ----------
    segments : int
        PWL segment count, one of ``nx.PWL_SEGMENT_CHOICES``.
    external_mul : bool
        Use the core's shared multiplier (:mod:`.sharedmul`) instead of one's own.
    pwl_mul : SharedMul or None
        The shared multiplier the PWL unit's slope product goes to, if any.

    Attributes
    ----------
    LATENCY : int
        Cycles from ``in_valid`` to ``out_valid``.
    INTERVAL : int
        Cycles between hidden units.
    """

    def __init__(self, segments: int = nx.PWL_DEFAULT_SEGMENTS, external_mul: bool = False,
                 pwl_mul: SharedMul | None = None):
        self._external = external_mul
        self._pwl_mul = pwl_mul
        super().__init__(segments, {**(mul_members() if external_mul else {}),
                                    **(mul_members(pwl_mul) if pwl_mul else {})})

    def elaborate(self, platform):
        m = Module()
        v = _valid_chain(m, self.in_valid, self.LATENCY)
        self._schedule(m, v, self._pwl_unit(m))
        return m

    def _schedule(self, m, v, act) -> None:
        """The cell's modulo schedule on the valid chain ``v`` and the PWL unit ``act``."""
        raise NotImplementedError

    def _held_inputs(self, m, v, *names: str) -> list:
        """Registers ``<name>_r`` of the input ports ``names``, loaded at offset 0: the
        later slots read them there until the next hidden unit reloads them."""
        regs = [Signal.like(getattr(self, name), name=f"{name}_r") for name in names]
        with m.If(v[0]):
            m.d.sync += [reg.eq(getattr(self, name)) for reg, name in zip(regs, names)]
        return regs

    def _pwl_unit(self, m) -> DualPwlUnit:
        """The cell's PWL unit, its shared multiplier's members passed through."""
        m.submodules.act = act = DualPwlUnit(self._segments, external_mul=self._pwl_mul)
        if self._pwl_mul:
            p = self._pwl_mul.prefix
            m.d.comb += [getattr(self, f"{p}_a").eq(getattr(act, f"{p}_a")),
                         getattr(self, f"{p}_b").eq(getattr(act, f"{p}_b")),
                         getattr(act, f"{p}_y").eq(getattr(self, f"{p}_y"))]
        return act


class SharedLstmCell(_SharedCell):
    """``nx.lstm_cell`` on PWL gates, one hidden unit every ``INTERVAL`` = 5 cycles.

    The same ports and results as :class:`.cell.LstmCellUnit`. Successive ``in_valid``
    pulses must be a multiple of ``INTERVAL`` cycles apart, or at least ``LATENCY``.

    Schedule (cycle offsets from ``in_valid``; PWL latency 4, multiplier 1)
    ---------------------------------------------------------------------
    PWL inputs: ``pre_i`` at 0, ``pre_f`` 1, ``pre_g`` 2, ``pre_o`` 3, the cell state's
    tanh input at 9 (slots 0, 1, 2, 3, 4 mod 5). Products: ``f*c`` at 5, ``i*g`` at 6,
    ``o*tanh(c_new)`` at 13 (slots 0, 1, 3). ``c_new`` is formed at 7, ``h`` at 14;
    both leave at 15.

    Parameters and attributes as :class:`_SharedCell`: ``LATENCY`` = 15, ``INTERVAL`` = 5.
    """

    LATENCY = 15
    INTERVAL = 5

    MEMBERS = LSTM_MEMBERS

    def _schedule(self, m, v, act):

        # Inputs held for the later PWL slots (reloaded at offset 0 of the next unit, 5).
        f_r, g_r, o_r, c_r = self._held_inputs(m, v, "pre_f", "pre_g", "pre_o", "c")

        c_pre = Signal(signed(nx.PRE_BITS))  # loaded at 7, read at 9, reloaded at 12
        m.d.comb += [
            act.x.eq(_mux_by_slot([(v[0], self.pre_i), (v[1], f_r), (v[2], g_r), (v[3], o_r)], c_pre)),
            act.sel.eq(v[2] | v[9]),
            act.in_valid.eq(v[0] | v[1] | v[2] | v[3] | v[9]),
        ]
        # Gate outputs: i at 4 (kept until 6), f at 5, g at 6, o at 7 (kept until 13).
        i_r = Signal(signed(nx.GATE_BITS))
        o_a = Signal(signed(nx.GATE_BITS))  # loaded at 7, copied at 12 (its reload)
        o_b = Signal(signed(nx.GATE_BITS))  # loaded at 12, read at 13, reloaded at 17
        with m.If(v[4]):
            m.d.sync += i_r.eq(act.y)
        with m.If(v[7]):
            m.d.sync += o_a.eq(act.y)
        with m.If(v[12]):
            m.d.sync += o_b.eq(o_a)

        # The multiplier: f*c at 5, i*g at 6, o*tanh(c_new) at 13.
        prod = Signal(signed(2 * nx.GATE_BITS))
        mul_a = _mux_by_slot([(v[5], act.y), (v[6], i_r)], o_b)
        mul_b = _mux_by_slot([(v[5], c_r)], act.y)
        m.d.comb += prod.eq(product(m, self, mul_a, mul_b, self._external))  # registered

        # c_new: round(f*c) at 6, the sum with round(i*g) at 7, as LstmCellUnit stage 3.
        fc_r = Signal(signed(nx.CELL_BITS + 2))
        with m.If(v[6]):
            m.d.sync += fc_r.eq(rshift_round_const(prod, nx.GATE_FRAC))
        total = fc_r + rshift_round_const(prod, 2 * nx.GATE_FRAC - nx.CELL_FRAC)
        c_new_a = Signal(signed(nx.CELL_BITS))  # loaded at 7, copied at 10
        c_new_b = Signal(signed(nx.CELL_BITS))  # loaded at 10, leaves at 15, reloaded at 15
        with m.If(v[7]):
            m.d.sync += [
                c_new_a.eq(saturate(total, nx.CELL_BITS)),
                c_pre.eq(saturate(total.shift_left(nx.PRE_FRAC - nx.CELL_FRAC), nx.PRE_BITS)),
            ]
        with m.If(v[10]):
            m.d.sync += c_new_b.eq(c_new_a)

        # h from o*tanh(c_new) at 14.
        with m.If(v[14]):
            m.d.sync += self.h.eq(saturate(rshift_round_const(prod, 2 * nx.GATE_FRAC - nx.H_FRAC), nx.H_BITS))
        m.d.comb += self.c_new.eq(c_new_b)
        m.d.sync += self.out_valid.eq(v[14])


class SharedGruCell(_SharedCell):
    """``nx.gru_candidate_pre`` and ``nx.gru_update`` on PWL gates, one hidden unit every 3 cycles.

    The same ports and results as :class:`.cell.GruCellUnit`. Successive ``in_valid``
    pulses must be a multiple of ``INTERVAL`` cycles apart, or at least ``LATENCY``.

    Schedule (cycle offsets from ``in_valid``; PWL latency 4)
    ---------------------------------------------------------
    PWL inputs: ``pre_r`` at 0, ``pre_z`` 1, the candidate at 8 (slots 0, 1, 2 mod 3).
    Products: ``r*pre_hn`` at 4, ``z*((h << 8) - n)`` at 12 (slots 1, 0). The candidate
    pre-activation is formed at 5, ``h_new`` at 13 and leaves at 14.

    Parameters and attributes as :class:`_SharedCell`: ``LATENCY`` = 14, ``INTERVAL`` = 3.
    """

    LATENCY = 14
    INTERVAL = 3

    MEMBERS = GRU_MEMBERS

    def _schedule(self, m, v, act):

        # Inputs held from 0 (valid 1 .. 3), copied on at 3 before their reload; h and z
        # are copied on every three cycles until their product at 12.
        z_r, n_r, hn_r, h_r = self._held_inputs(m, v, "pre_z", "pre_n", "pre_hn", "h")
        n_b, hn_b = Signal(signed(nx.PRE_BITS)), Signal(signed(nx.PRE_BITS))  # loaded at 3, valid 4 .. 6
        h_b, h_c, h_d = (Signal(signed(nx.H_BITS), name=n) for n in ("h_b", "h_c", "h_d"))  # at 3, 6, 9
        with m.If(v[3]):
            m.d.sync += [n_b.eq(n_r), hn_b.eq(hn_r), h_b.eq(h_r)]
        with m.If(v[6]):
            m.d.sync += h_c.eq(h_b)
        with m.If(v[9]):
            m.d.sync += h_d.eq(h_c)

        n_pre = Signal(signed(nx.PRE_BITS))  # loaded at 5, read at 8
        m.d.comb += [
            act.x.eq(_mux_by_slot([(v[0], self.pre_r), (v[1], z_r)], n_pre)),
            act.sel.eq(v[8]),
            act.in_valid.eq(v[0] | v[1] | v[8]),
        ]
        # z comes out at 5 and is copied at 8 and 11 (its reloads); n at 12.
        z_a, z_b, z_c = (Signal(signed(nx.GATE_BITS), name=n) for n in ("z_a", "z_b", "z_c"))
        with m.If(v[5]):
            m.d.sync += z_a.eq(act.y)
        with m.If(v[8]):
            m.d.sync += z_b.eq(z_a)
        with m.If(v[11]):
            m.d.sync += z_c.eq(z_b)

        # The multiplier: r*pre_hn at 4, z*((h << 8) - n) at 12, as GruCellUnit stages 2 and 5.
        h15 = h_d.shift_left(nx.GATE_FRAC - nx.H_FRAC)
        prod = Signal(signed(nx.GATE_BITS + nx.GATE_BITS + 2))
        mul_a = Mux(v[4], act.y, z_c)
        mul_b = Mux(v[4], hn_b, h15 - act.y)
        m.d.comb += prod.eq(product(m, self, mul_a, mul_b, self._external))  # registered
        with m.If(v[5]):
            m.d.sync += n_pre.eq(saturate(n_b + rshift_round_const(prod, nx.GATE_FRAC), nx.PRE_BITS))

        n_r13 = Signal(signed(nx.GATE_BITS))
        with m.If(v[12]):
            m.d.sync += n_r13.eq(act.y)
        mixed = n_r13 + rshift_round_const(prod, nx.GATE_FRAC)
        with m.If(v[13]):
            m.d.sync += self.h_new.eq(saturate(rshift_round_const(mixed, nx.GATE_FRAC - nx.H_FRAC), nx.H_BITS))
        m.d.sync += self.out_valid.eq(v[13])


def cell_unit_class(cell: str, datapath: str):
    """The cell unit class of ``cell`` (``lstm``/``gru``) for ``datapath`` (``HwConfig.datapath``)."""
    units = {("lstm", "parallel"): LstmCellUnit, ("gru", "parallel"): GruCellUnit,
             ("lstm", "shared"): SharedLstmCell, ("gru", "shared"): SharedGruCell}
    if (cell, datapath) not in units:
        raise ValueError(f"no cell unit for cell {cell!r} with datapath {datapath!r}")
    return units[cell, datapath]
