"""The cell stage: every hidden unit's gates from the memo table through the cell unit."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from ..golden import numerics as nx
from .cell_shared import cell_unit_class
from .layout import Layout
from .sharedmul import MAIN, SharedMul, mul_members

__all__ = ["CellStage"]


class CellStage(wiring.Component):
    """One hidden unit every ``INTERVAL`` cycles: read its gate pre-activations (memo table)
    and ``c`` (LSTM, a memory of its own) or ``h_(t-1)`` (GRU, the h buffer), run the cell
    unit (``nx.lstm_cell`` / the GRU update), write ``h_t`` to the h buffer and the seq
    buffer and its sign bit to the predictor, and ``c_t``.

    The issue side walks the read positions and the write side its own copy as results
    come out (in issue order), so only a valid bit rides along the cell pipeline.

    Parameters
    ----------
    layout : Layout
    external_mul : bool
        The cell unit multiplies on the core's main shared multiplier (members added).
    pwl_mul : SharedMul or None
        Its PWL unit multiplies on this shared multiplier (members added).

    Attributes
    ----------
    INTERVAL : int
        Cycles between hidden units (the cell unit's).
    LATENCY : int
        The cell unit's.
    FILL : int
        Cycles of the phase beyond the issue of its hidden units: the memo read, the input
        registers (``layout.cell_input_regs``), the cell unit, the done check.

    Members
    -------
    start, active, step0 : In(1)
        A phase starts; the phase runs; h and c start at 0.
    pre_base, t_base, out_word0, out_lane0 : In
        Layer-direction constants (memo entries, the step's seq-buffer word, where h goes).
    memo_addr : Out, pre : In(ArrayLayout(signed(16), banks))
        The memo-table read.
    h_addr : Out, h_data : In
        The h-buffer read (valid while ``active``).
    h_wr_addr, h_wr_data, h_wr_en, seq_wr_word, seq_wr_data, seq_wr_en : Out
        The h-buffer and seq-buffer writes (``en``: a lane mask).
    h_valid, h_sign : Out(1)
        A new ``h``'s sign bit (``~h[7]``), for the predictor's h bits.
    done : Out(1)
        Every hidden unit written.
    """

    @staticmethod
    def interval_for(layout: Layout) -> int:
        """``INTERVAL`` of ``CellStage(layout)``."""
        return cell_unit_class(layout.cell, layout.datapath).INTERVAL

    @staticmethod
    def fill_for(layout: Layout) -> int:
        """``FILL`` of ``CellStage(layout)``."""
        return 1 + layout.cell_input_regs + cell_unit_class(layout.cell, layout.datapath).LATENCY + 1

    def __init__(self, layout: Layout, external_mul: bool = False, pwl_mul: SharedMul | None = None):
        self._layout = lay = layout
        self._cls = cell_unit_class(lay.cell, lay.datapath)
        self._kwargs = {"external_mul": True} if external_mul else {}
        if pwl_mul:
            self._kwargs["pwl_mul"] = pwl_mul
        self._muls = ([MAIN] if external_mul else []) + ([pwl_mul] if pwl_mul else [])
        self.INTERVAL = self._cls.INTERVAL
        self.LATENCY = self._cls.LATENCY
        self.FILL = self.fill_for(lay)
        P, H = lay.lanes, lay.hidden
        banks = lay.gates + (1 if lay.cell == "gru" else 0)
        h_words = lay.layers[0].h_words
        seq_range = range(lay.seq_buffer_depth + 1)
        members = {
            "start": In(1), "active": In(1), "step0": In(1),
            "pre_base": In(range(lay.layer_dirs * H + 1)), "t_base": In(seq_range),
            "out_word0": In(range(lay.out_words + 1)), "out_lane0": In(range(P)),
            "memo_addr": Out(range(lay.layer_dirs * H + 1)),
            "pre": In(data.ArrayLayout(signed(nx.PRE_BITS), banks)),
            "h_addr": Out(range(max(h_words, 2))), "h_data": In(P * 8),
            "h_wr_addr": Out(range(max(h_words, 2))), "h_wr_data": Out(P * 8), "h_wr_en": Out(P),
            "seq_wr_word": Out(seq_range), "seq_wr_data": Out(P * 8), "seq_wr_en": Out(P),
            "h_valid": Out(1), "h_sign": Out(1), "done": Out(1),
        }
        for mul in self._muls:
            members.update(mul_members(mul))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        lay = self._layout
        P, H = lay.lanes, lay.hidden
        interval = self.INTERVAL
        cj = Signal(range(H + 1))
        cw = Signal(range(H + 1))
        ck = Signal(range(interval))  # cycles since the last issue, mod interval
        # Where hidden unit j lives: h-buffer word and lane, seq-buffer word and lane.
        pos = data.StructLayout({"hw": range(lay.layers[0].h_words), "hl": range(P),
                                 "ow": range(lay.seq_buffer_depth + 1), "ol": range(P)})
        c0, cwp = Signal(pos), Signal(pos)
        issue = Signal()
        m.d.comb += issue.eq(self.active & (cj != H) & (ck == 0))
        if interval > 1:
            with m.If(self.start):
                m.d.sync += ck.eq(0)
            with m.Elif(self.active):
                m.d.sync += ck.eq(Mux(ck == interval - 1, 0, ck + 1))

        def advance(p):
            return [p.hl.eq(Mux(p.hl == P - 1, 0, p.hl + 1)), p.hw.eq(Mux(p.hl == P - 1, p.hw + 1, p.hw)),
                    p.ol.eq(Mux(p.ol == P - 1, 0, p.ol + 1)), p.ow.eq(Mux(p.ol == P - 1, p.ow + 1, p.ow))]

        def first(p):
            return [p.hw.eq(0), p.hl.eq(0), p.ow.eq(self.t_base + self.out_word0), p.ol.eq(self.out_lane0)]

        out_valid = Signal()
        with m.If(self.start):
            m.d.sync += [cj.eq(0), cw.eq(0), *first(c0), *first(cwp)]
        with m.Else():
            with m.If(issue):
                m.d.sync += [cj.eq(cj + 1), *advance(c0)]
            with m.If(out_valid):
                m.d.sync += [cw.eq(cw + 1), *advance(cwp)]
        m.d.comb += [self.h_addr.eq(c0.hw), self.memo_addr.eq(self.pre_base + cj)]
        cm1_valid, cm1_hl = Signal(), Signal.like(c0.hl)
        m.d.sync += [cm1_valid.eq(issue), cm1_hl.eq(c0.hl)]
        cell, h_out = self._cell(m, cj, cw, cm1_valid, cm1_hl, out_valid)
        m.d.comb += out_valid.eq(cell.out_valid)
        h_word = Cat(h_out for _ in range(P))
        m.d.comb += [self.h_wr_addr.eq(cwp.hw), self.h_wr_data.eq(h_word), self.h_wr_en.eq(Mux(out_valid, 1 << cwp.hl, 0)),
                     self.seq_wr_word.eq(cwp.ow), self.seq_wr_data.eq(h_word),
                     self.seq_wr_en.eq(Mux(out_valid, 1 << cwp.ol, 0)),
                     self.h_valid.eq(out_valid), self.h_sign.eq(~h_out[7]), self.done.eq(self.active & (cw == H))]
        return m

    def _cell(self, m, cj, cw, cm1_valid, cm1_hl, out_valid):
        """The cell unit, its inputs (registered once more for the parallel cell, whose PWL
        units start from them), and the c memory of an LSTM. Returns the unit and its h."""
        lay = self._layout

        def cell_input(value):
            if lay.cell_input_regs == 0:
                return value
            reg = Signal.like(value)
            m.d.sync += reg.eq(value)
            return reg

        m.submodules.cell = cell = self._cls(lay.pwl_segments, **self._kwargs)
        for mul in self._muls:
            p = mul.prefix
            m.d.comb += [getattr(self, f"{p}_a").eq(getattr(cell, f"{p}_a")),
                         getattr(self, f"{p}_b").eq(getattr(cell, f"{p}_b")),
                         getattr(cell, f"{p}_y").eq(getattr(self, f"{p}_y"))]
        pre = [cell_input(self.pre[i]) for i in range(len(self.pre))]
        in_valid = cell_input(cm1_valid)
        if lay.cell == "gru":
            h_prev = cell_input(Mux(self.step0, 0, self.h_data.word_select(cm1_hl, 8)))
            m.d.comb += [cell.pre_r.eq(pre[0]), cell.pre_z.eq(pre[1]), cell.pre_n.eq(pre[2]), cell.pre_hn.eq(pre[3]),
                         cell.h.eq(h_prev), cell.in_valid.eq(in_valid)]
            return cell, cell.h_new
        m.submodules.c_mem = c_mem = memory.Memory(shape=signed(nx.CELL_BITS), depth=lay.hidden, init=[])
        c_rd, c_wr = c_mem.read_port(), c_mem.write_port()
        m.d.comb += c_rd.addr.eq(cj)
        m.d.comb += [cell.pre_i.eq(pre[0]), cell.pre_f.eq(pre[1]), cell.pre_g.eq(pre[2]), cell.pre_o.eq(pre[3]),
                     cell.c.eq(cell_input(Mux(self.step0, 0, c_rd.data))), cell.in_valid.eq(in_valid)]
        m.d.comb += [c_wr.addr.eq(cw), c_wr.data.eq(cell.c_new), c_wr.en.eq(out_valid)]
        return cell, cell.h
