"""LSTM and GRU cell units: gate activations and the element-wise state update."""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..golden import numerics as nx
from .pipeline import DelayLine
from .pwl import PwlUnit
from .requant import rshift_round_const, saturate

__all__ = ["LstmCellUnit", "GruCellUnit", "CellBase", "LSTM_MEMBERS", "GRU_MEMBERS"]


def _check_segments(segments):
    if segments not in nx.PWL_SEGMENT_CHOICES:
        raise ValueError(f"PWL segment count must be one of {nx.PWL_SEGMENT_CHOICES}, got {segments!r}")


def _delay(m, value, cycles, name):
    """``value`` delayed by ``cycles`` through a chain of registers (``cycles`` >= 0)."""
    return DelayLine(m, value, cycles, name).stage(cycles)


#: Cycles of the element-wise arithmetic after each activation: a registered product,
#: then a registered round/add/saturate.
_MUL_STAGES = 2


def _pre_inputs(*gates: str) -> dict:
    """A Q3.12 pre-activation input ``pre_<gate>`` for each of ``gates``."""
    return {f"pre_{gate}": In(signed(nx.PRE_BITS)) for gate in gates}


#: The ports of an LSTM cell unit, parallel or shared (:mod:`.cell_shared`).
LSTM_MEMBERS = {
    **_pre_inputs("i", "f", "g", "o"),
    "c": In(signed(nx.CELL_BITS)),
    "in_valid": In(1),
    "h": Out(signed(nx.H_BITS)),
    "c_new": Out(signed(nx.CELL_BITS)),
    "out_valid": Out(1),
}

#: The ports of a GRU cell unit, parallel or shared.
GRU_MEMBERS = {
    **_pre_inputs("r", "z", "n", "hn"),
    "h": In(signed(nx.H_BITS)),
    "in_valid": In(1),
    "h_new": Out(signed(nx.H_BITS)),
    "out_valid": Out(1),
}


class CellBase(wiring.Component):
    """What every cell unit has: the PWL segment count (checked) and the ports of
    ``MEMBERS`` (:data:`LSTM_MEMBERS` or :data:`GRU_MEMBERS`) plus ``extra``.

    Parameters
    ----------
    segments : int
        PWL segment count, one of ``nx.PWL_SEGMENT_CHOICES``.
    extra : dict or None
        Members beyond ``MEMBERS`` (a subclass's).
    """

    MEMBERS: dict = {}

    def __init__(self, segments: int = nx.PWL_DEFAULT_SEGMENTS, extra: dict | None = None):
        _check_segments(segments)
        self._segments = segments
        super().__init__({**self.MEMBERS, **(extra or {})})

    @property
    def segments(self) -> int:
        return self._segments


class _CellUnit(CellBase):
    """The fully pipelined cell units' timing and their first stage: for each gate of
    ``GATE_FUNCS``, a :class:`PwlUnit` ``act_<gate>`` of its function on its ``pre_<gate>``
    input. The subclass's ``_datapath`` builds the rest on those units.

    Attributes
    ----------
    LATENCY : int
        ``2 * PwlUnit.LATENCY + 2 * _MUL_STAGES`` = 10: a gate activation, two
        element-wise stages, the cell state's (or candidate's) activation, two more.
    INTERVAL : int
        1: cycles between hidden units.
    """

    LATENCY = 2 * PwlUnit.LATENCY + 2 * _MUL_STAGES
    INTERVAL = 1
    #: The activation function of each gate activated in the first stage.
    GATE_FUNCS: dict = {}

    def elaborate(self, platform):
        m = Module()
        units = {}
        for name, func in self.GATE_FUNCS.items():
            unit = units[name] = m.submodules[f"act_{name}"] = PwlUnit(func, self._segments)
            m.d.comb += [unit.x.eq(getattr(self, f"pre_{name}")), unit.in_valid.eq(self.in_valid)]
        self._datapath(m, units)
        return m

    def _datapath(self, m, units: dict) -> None:
        """Everything after the first stage, on its :class:`PwlUnit` of each gate (``units``)."""
        raise NotImplementedError


class LstmCellUnit(_CellUnit):
    """One LSTM hidden unit a cycle: ``nx.lstm_cell`` on PWL-activated gates.

    ``i, f, o = sigmoid(pre_i, pre_f, pre_o)``, ``g = tanh(pre_g)`` (PWL, ``segments``),
    ``c_new = sat16(round(f*c >> 15) + round(i*g >> 19))``,
    ``h = sat8(round(o * tanh(cell_to_pre(c_new)) >> 23))``, this tanh with
    ``segments`` segments too, like ``nx.lstm_cell``.

    Fully pipelined, one unit a cycle, ``LATENCY`` cycles from input to output
    (:class:`_CellUnit`); ``segments`` as :class:`CellBase`.

    Stages
    ------
    1. four :class:`PwlUnit` (``PwlUnit.LATENCY`` cycles), ``c`` delayed alongside;
    2. the products ``f*c`` and ``i*g``, registered;
    3. rounding, sum and saturation to ``c_new`` and, in parallel, to the Q3.12 tanh input
       ``sat16(sum << 1)`` (equal to ``cell_to_pre(sat16(sum))``), registered;
    4. the tanh :class:`PwlUnit` of the cell state, ``o`` and ``c_new`` delayed alongside;
    5. the product ``o * tanh(c_new)``, registered;
    6. rounding and saturation to ``h``, registered.

    Members
    -------
    pre_i, pre_f, pre_g, pre_o : In(signed(nx.PRE_BITS))
        Gate pre-activations, Q3.12.
    c : In(signed(nx.CELL_BITS))
        Old cell state, Q4.11.
    in_valid : In(1)
    h : Out(signed(nx.H_BITS))
        Q0.7.
    c_new : Out(signed(nx.CELL_BITS))
        Q4.11.
    out_valid : Out(1)
    """

    MEMBERS = LSTM_MEMBERS
    GATE_FUNCS = {"i": "sigmoid", "f": "sigmoid", "g": "tanh", "o": "sigmoid"}

    def _datapath(self, m, units):
        gates = {name: unit.y for name, unit in units.items()}
        valid = units["i"].out_valid
        c = _delay(m, self.c, PwlUnit.LATENCY, "c")

        # 2: products.
        fc = Signal(signed(2 * nx.GATE_BITS))
        ig = Signal(signed(2 * nx.GATE_BITS))
        valid_p = Signal()
        m.d.sync += [
            fc.eq(gates["f"] * c),
            ig.eq(gates["i"] * gates["g"]),
            valid_p.eq(valid),
        ]

        # 3: c_new, and the tanh input straight from the unsaturated sum: saturating
        # twice (sat16(sat16(s) << 1)) equals sat16(s << 1), one saturation less deep.
        total = (rshift_round_const(fc, nx.GATE_FRAC)
                 + rshift_round_const(ig, 2 * nx.GATE_FRAC - nx.CELL_FRAC))
        c_new = Signal(signed(nx.CELL_BITS))
        c_pre = Signal(signed(nx.PRE_BITS))
        valid_c = Signal()
        m.d.sync += [
            c_new.eq(saturate(total, nx.CELL_BITS)),
            c_pre.eq(saturate(total << (nx.PRE_FRAC - nx.CELL_FRAC), nx.PRE_BITS)),
            valid_c.eq(valid_p),
        ]

        # 4: tanh of the new cell state.
        m.submodules.act_c = act_c = PwlUnit("tanh", self._segments)
        m.d.comb += [act_c.x.eq(c_pre), act_c.in_valid.eq(valid_c)]
        o = _delay(m, gates["o"], _MUL_STAGES + PwlUnit.LATENCY, "o")
        c_new_t = _delay(m, c_new, PwlUnit.LATENCY, "c_new")

        # 5: o * tanh(c_new).
        oc = Signal(signed(2 * nx.GATE_BITS))
        c_new_p = Signal.like(c_new)
        valid_h = Signal()
        m.d.sync += [
            oc.eq(o * act_c.y),
            c_new_p.eq(c_new_t),
            valid_h.eq(act_c.out_valid),
        ]

        # 6: h.
        m.d.sync += [
            self.h.eq(saturate(rshift_round_const(oc, 2 * nx.GATE_FRAC - nx.H_FRAC), nx.H_BITS)),
            self.c_new.eq(c_new_p),
            self.out_valid.eq(valid_h),
        ]


class GruCellUnit(_CellUnit):
    """One GRU hidden unit a cycle: PWL gates, ``nx.gru_candidate_pre`` and ``nx.gru_update``.

    ``r, z = sigmoid(pre_r, pre_z)``, ``n = tanh(sat16(pre_n + round(r*pre_hn >> 15)))``,
    ``h_new = sat8(round((n + round(z*((h << 8) - n) >> 15)) >> 8))``.

    Fully pipelined, one unit a cycle, ``LATENCY`` cycles from input to output
    (:class:`_CellUnit`); ``segments`` as :class:`CellBase`.

    Stages
    ------
    1. two sigmoid :class:`PwlUnit` (``PwlUnit.LATENCY`` cycles), the rest delayed;
    2. the product ``r * pre_hn``, registered;
    3. rounding, the sum with ``pre_n`` and saturation, registered;
    4. the tanh :class:`PwlUnit` of the candidate, ``z`` and ``h`` delayed alongside;
    5. the product ``z * ((h << 8) - n)`` (a DSP pre-subtract and multiply), registered;
    6. rounding, the sum with ``n``, rounding to Q0.7 and saturation, registered.

    Members
    -------
    pre_r, pre_z, pre_n : In(signed(nx.PRE_BITS))
        Gate pre-activations (``pre_n``: the input part ``W_in x + b_in``), Q3.12.
    pre_hn : In(signed(nx.PRE_BITS))
        The candidate's hidden part ``W_hn h + b_hn``, Q3.12.
    h : In(signed(nx.H_BITS))
        ``h_(t-1)``, Q0.7.
    in_valid : In(1)
    h_new : Out(signed(nx.H_BITS))
        Q0.7.
    out_valid : Out(1)
    """

    MEMBERS = GRU_MEMBERS
    GATE_FUNCS = {"r": "sigmoid", "z": "sigmoid"}

    def _datapath(self, m, units):
        act_r, act_z = units["r"], units["z"]
        pre_n = _delay(m, self.pre_n, PwlUnit.LATENCY, "pre_n")
        pre_hn = _delay(m, self.pre_hn, PwlUnit.LATENCY, "pre_hn")

        # 2: r * pre_hn.
        rhn = Signal(signed(nx.GATE_BITS + nx.PRE_BITS))
        pre_n_p = Signal.like(pre_n)
        valid_p = Signal()
        m.d.sync += [
            rhn.eq(act_r.y * pre_hn),
            pre_n_p.eq(pre_n),
            valid_p.eq(act_r.out_valid),
        ]

        # 3: the candidate pre-activation.
        n_pre = Signal(signed(nx.PRE_BITS))
        valid_n = Signal()
        m.d.sync += [
            n_pre.eq(saturate(pre_n_p + rshift_round_const(rhn, nx.GATE_FRAC), nx.PRE_BITS)),
            valid_n.eq(valid_p),
        ]

        # 4: n = tanh(candidate).
        m.submodules.act_n = act_n = PwlUnit("tanh", self._segments)
        m.d.comb += [act_n.x.eq(n_pre), act_n.in_valid.eq(valid_n)]
        z = _delay(m, act_z.y, _MUL_STAGES + PwlUnit.LATENCY, "z")
        h = _delay(m, self.h, self.LATENCY - _MUL_STAGES, "h")

        # 5: z * (h - n) at Q0.15; n rides along for stage 6.
        h15 = h << (nx.GATE_FRAC - nx.H_FRAC)
        zd = Signal(signed(nx.GATE_BITS + nx.GATE_BITS + 2))
        n_p = Signal.like(act_n.y)
        valid_u = Signal()
        m.d.sync += [
            zd.eq(z * (h15 - act_n.y)),
            n_p.eq(act_n.y),
            valid_u.eq(act_n.out_valid),
        ]

        # 6: h_new.
        mixed = n_p + rshift_round_const(zd, nx.GATE_FRAC)
        m.d.sync += [
            self.h_new.eq(saturate(rshift_round_const(mixed, nx.GATE_FRAC - nx.H_FRAC), nx.H_BITS)),
            self.out_valid.eq(valid_u),
        ]
