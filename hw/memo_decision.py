"""The decision stage: the reuse decision of every row, with the table of cached BNN outputs."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden import numerics as nx
from .decision import DecisionUnit
from .layout import Layout
from .operand_fetch import work_item
from .pipeline import DelayLine
from .sharedmul import SharedMul, mul_members

__all__ = ["MemoDecision"]


class MemoDecision(wiring.Component):
    """Decide every row (``DecisionUnit``) against its memo entry; rows to compute become work items.

    Rows arrive in order from the predictor (``announce`` a cycle before ``yb_valid``:
    the entry ``(yb_m, run)`` of row ``r`` is read then). ``LATENCY`` cycles after a row's
    ``yb``, ``decided`` pulses with ``reuse``; a row to compute leaves on ``work`` (gate,
    hidden unit, first weight word), and with ``bnn`` the entry is rewritten: ``yb`` if
    computed, the cached ``yb_m`` if reused (``nx.within_threshold`` compares with the
    value of the step the pre-activation was computed at), and the reuse run.

    Parameters
    ----------
    layout : Layout
    pwl_mul : SharedMul or None
        Multiply on this shared multiplier (its members added).

    Attributes
    ----------
    LATENCY : int
        ``DecisionUnit.LATENCY``.
    FILL : int
        Cycles of the rows phase's fill spent here: ``LATENCY``.

    Members
    -------
    start, announce, yb_valid, fresh, bnn : In(1)
        New rows phase; row timing; the entries are invalid (step 0 or no predictor);
        the predictor is on (write the table).
    yb : In(signed(yb_bits))
    theta, cap : In
        Q8.8 threshold; reuse cap.
    memo_base, weight_base, row_words : In
        The layer direction's first entry, first weight word and words a row.
    work : Out(stream.Signature(work_item(layout)))
        Rows to compute (``ready`` is not waited for: the queue slot was reserved).
    decided, reuse : Out(1)
    row : Out(range(G*H))
        The row ``decided`` is about.
    all_decided : Out(1)
        Every row of the step is decided.
    """

    LATENCY = FILL = DecisionUnit.LATENCY

    def __init__(self, layout: Layout, pwl_mul: SharedMul | None = None):
        self._layout = lay = layout
        self._mul = pwl_mul
        super().__init__({
            "start": In(1), "announce": In(1), "yb_valid": In(1), "fresh": In(1), "bnn": In(1),
            "yb": In(signed(lay.yb_bits)),
            "theta": In(nx.THETA_BITS), "cap": In(nx.REUSE_CAP_BITS),
            "memo_base": In(range(lay.layer_dirs * lay.rows + 1)),
            "weight_base": In(range(lay.weight_depth + 1)),
            "row_words": In(range(lay.max_x_words + lay.layers[0].h_words + 1)),
            "work": Out(stream.Signature(work_item(lay))),
            "decided": Out(1), "reuse": Out(1), "row": Out(range(lay.rows + 1)), "all_decided": Out(1),
            **(mul_members(pwl_mul) if pwl_mul else {}),
        })

    def elaborate(self, platform):
        m = Module()
        lay = self._layout
        G, H, GH, yb_bits = lay.gates, lay.hidden, lay.rows, lay.yb_bits
        entry = data.StructLayout({"yb": signed(yb_bits), "run": unsigned(nx.REUSE_CAP_BITS)})
        m.submodules.memo_yb = table = memory.Memory(shape=entry, depth=lay.layer_dirs * GH, init=[])
        rd, wr = table.read_port(), table.write_port()
        read_r = Signal(range(GH + 1))  # the row announced, whose entry is read
        with m.If(self.start):
            m.d.sync += read_r.eq(0)
        with m.Elif(self.announce):
            m.d.sync += read_r.eq(read_r + 1)
        m.d.comb += rd.addr.eq(self.memo_base + read_r)

        m.submodules.decision = dec = DecisionUnit(yb_bits, external_mul=self._mul)
        if self._mul:
            p = self._mul.prefix
            m.d.comb += [getattr(self, f"{p}_a").eq(getattr(dec, f"{p}_a")),
                         getattr(self, f"{p}_b").eq(getattr(dec, f"{p}_b")),
                         getattr(dec, f"{p}_y").eq(getattr(self, f"{p}_y"))]
        m.d.comb += [dec.yb.eq(self.yb), dec.yb_m.eq(rd.data.yb), dec.run.eq(rd.data.run), dec.step0.eq(self.fresh),
                     dec.theta.eq(self.theta), dec.cap.eq(self.cap), dec.in_valid.eq(self.yb_valid)]
        yb_act = DelayLine(m, Cat(self.yb, rd.data.yb), DecisionUnit.LATENCY, "yb").stage(DecisionUnit.LATENCY)

        # Rows are decided in order: counters give the row, its gate, unit and weights.
        valid = dec.out_valid
        decided = Signal(range(GH + 1))
        pos = Signal(work_item(lay))
        with m.If(self.start):
            m.d.sync += [decided.eq(0), pos.g.eq(0), pos.j.eq(0), pos.wrow.eq(self.weight_base)]
        with m.Elif(valid):
            m.d.sync += [decided.eq(decided + 1), pos.wrow.eq(pos.wrow + self.row_words),
                         pos.j.eq(Mux(pos.j == H - 1, 0, pos.j + 1)),
                         pos.g.eq(Mux(pos.j == H - 1, pos.g + 1, pos.g))]
        m.d.comb += [self.decided.eq(valid), self.reuse.eq(dec.reuse & valid), self.row.eq(decided),
                     self.all_decided.eq(decided == GH),
                     self.work.valid.eq(~dec.reuse & valid), self.work.payload.eq(pos)]
        m.d.comb += [wr.addr.eq(self.memo_base + decided),
                     wr.data.yb.eq(Mux(dec.reuse, yb_act[yb_bits:], yb_act[:yb_bits])),
                     wr.data.run.eq(dec.run_next), wr.en.eq(valid & self.bnn)]
        return m
