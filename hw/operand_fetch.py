"""Operand fetch: the words of each row to compute, from the weight, seq and h memories."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden import numerics as nx
from .layout import Layout
from .pipeline import read_bus

__all__ = ["OperandFetch", "work_item", "operand_beat"]


def work_item(lay: Layout) -> data.StructLayout:
    """A row to compute: gate ``g``, hidden unit ``j`` and the row's first weight word."""
    return data.StructLayout({"g": range(lay.gates), "j": range(lay.hidden), "wrow": range(lay.weight_depth + 1)})


def operand_beat(lay: Layout) -> data.StructLayout:
    """One beat of operands for the MAC lanes, and what the product's write-back needs."""
    return data.StructLayout({
        "weights": data.ArrayLayout(unsigned(nx.WEIGHT_BITS), lay.lanes),
        "acts": data.ArrayLayout(unsigned(nx.INPUT_BITS), lay.lanes),
        "first": 1, "last": 1, "hpart_product": 1, "g": range(lay.gates), "j": range(lay.hidden)})


class OperandFetch(wiring.Component):
    """Walk each work item's words (x part from the seq buffer, then h part from the h
    buffer, with the row's weight words) and stream them out as operand beats.

    A row of ``x_words + h_words`` words gives one beat a word; ``first``/``last`` bound
    its dot product, and a GRU candidate row (``g == 2``) closes a product at the x/h
    boundary too (``hpart_product`` marks the h part's). On step 0 the h operands are 0
    (``h_(-1) = 0``). Pipeline: address (stage 0), memory output (stage 1), operand
    register (stage 2, the stream's payload): a block RAM's clock-to-output plus a
    multiplier does not fit one cycle at speed.

    The consumer may hold ``operands.ready`` low: then every stage holds, the memories'
    outputs included (``rd_en`` low), and no beat is lost or repeated.

    Parameters
    ----------
    layout : Layout
        Sizes: P, words a row, memory depths.

    Attributes
    ----------
    LATENCY : int
        Cycles from a work item taken to its first beat valid: 2.
    FILL : int
        Cycles of a phase's fill spent here: ``LATENCY``.

    Members
    -------
    items : In(stream.Signature(work_item(layout)))
    operands : Out(stream.Signature(operand_beat(layout)))
    x_words : In
        ``ceil(X/P)`` of the layer direction.
    in_buf, step0 : In(1)
        The seq buffer the layer reads; the step is the sequence's first.
    t_base : In
        The step's first word in the seq buffer.
    weights, seq, h : read buses (addr out, data in)
    seq_buf : Out(1)
        The seq-buffer half ``seq.addr`` is in.
    rd_en : Out(1)
        Read enable of the three memories (low while the pipe holds).
    busy : Out(1)
        A row is being walked (``mac_busy_cycles``).
    idle : Out(1)
        No row in any stage.
    """

    LATENCY = 2
    FILL = LATENCY

    def __init__(self, layout: Layout):
        self._layout = lay = layout
        seq_depth = lay.seq_buffer_depth
        super().__init__({
            "items": In(stream.Signature(work_item(lay))),
            "operands": Out(stream.Signature(operand_beat(lay))),
            "x_words": In(range(lay.max_x_words + 1)),
            "in_buf": In(1),
            "step0": In(1),
            "t_base": In(range(seq_depth + 1)),
            "weights": Out(read_bus(range(lay.weight_depth + lay.offset_depth + 1), lay.lanes * 8)),
            "seq": Out(read_bus(range(seq_depth + 1), lay.lanes * 8)),
            "seq_buf": Out(1),
            "h": Out(read_bus(range(max(lay.layers[0].h_words, 2)), lay.lanes * 8)),
            "rd_en": Out(1),
            "busy": Out(1),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        lay = self._layout
        h_words = lay.layers[0].h_words
        gru = lay.cell == "gru"
        n_words = Signal(range(lay.max_x_words + h_words + 1))
        m.d.comb += n_words.eq(self.x_words + h_words)
        busy = Signal()
        c = Signal.like(n_words)
        row = Signal(work_item(lay))
        c_last = Signal()
        m.d.comb += c_last.eq(c == n_words - 1)
        # Every stage moves only when the output beat is taken or there is none.
        adv = Signal()
        m.d.comb += [adv.eq(~self.operands.valid | self.operands.ready), self.rd_en.eq(adv),
                     self.items.ready.eq((~busy | c_last) & adv)]
        pop = self.items.valid & self.items.ready
        with m.If(pop):
            m.d.sync += [busy.eq(1), c.eq(0), row.eq(self.items.payload)]
        with m.Elif(busy & c_last & adv):
            m.d.sync += busy.eq(0)
        with m.Elif(busy & adv):
            m.d.sync += c.eq(c + 1)
        part_h = Signal()
        m.d.comb += part_h.eq(c >= self.x_words)
        candidate = (row.g == 2) if gru else 0
        m.d.comb += [self.busy.eq(busy), self.seq_buf.eq(self.in_buf),
                     self.weights.addr.eq(row.wrow + c), self.h.addr.eq(c - self.x_words),
                     self.seq.addr.eq(self.t_base + c)]
        meta = data.StructLayout({"valid": 1, "first": 1, "last": 1, "part_h": 1, "hpart_product": 1,
                                  "g": range(lay.gates), "j": range(lay.hidden)})
        m1, m2 = Signal(meta), Signal(meta)
        w2 = Signal(lay.lanes * 8, reset_less=True)
        a2 = Signal(lay.lanes * 8, reset_less=True)
        acts = Mux(m1.part_h, Mux(self.step0, 0, self.h.data), self.seq.data)
        with m.If(adv):
            m.d.sync += [m1.valid.eq(busy),
                         m1.first.eq((c == 0) | (candidate & (c == self.x_words))),
                         m1.last.eq(c_last | (candidate & (c == self.x_words - 1))),
                         m1.part_h.eq(part_h), m1.hpart_product.eq(candidate & part_h),
                         m1.g.eq(row.g), m1.j.eq(row.j)]
            m.d.sync += [m2.eq(m1), w2.eq(self.weights.data), a2.eq(acts)]
        out = self.operands.payload
        m.d.comb += [self.operands.valid.eq(m2.valid), out.weights.as_value().eq(w2), out.acts.as_value().eq(a2),
                     out.first.eq(m2.first), out.last.eq(m2.last), out.hpart_product.eq(m2.hpart_product),
                     out.g.eq(m2.g), out.j.eq(m2.j)]
        m.d.comb += self.idle.eq(~busy & ~m1.valid & ~m2.valid)
        return m
