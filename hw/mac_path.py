"""The MAC path: operand beats in, finished dot products with their row parameters out."""

from __future__ import annotations

from amaranth.hdl import EnableInserter, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden import numerics as nx
from .layout import SHIFT_FIELD_BITS, Layout
from .mac import MacLanes
from .operand_fetch import operand_beat
from .pipeline import DelayLine, read_bus

__all__ = ["MacPath", "product_beat"]


def product_beat(lay: Layout) -> data.StructLayout:
    """A finished dot product and what requantizing and storing it needs."""
    return data.StructLayout({"acc": signed(nx.ACC_BITS), "bias": signed(nx.BIAS_BITS),
                              "mult": unsigned(nx.MULT_BITS), "shift": unsigned(SHIFT_FIELD_BITS),
                              "hpart_product": 1, "g": range(lay.gates), "j": range(lay.hidden)})


class MacPath(wiring.Component):
    """:class:`MacLanes` on a stream of operand beats, and the row parameters of each product.

    A product leaves ``LATENCY`` cycles after its ``last`` beat entered, with the row's
    bias (``b_hn`` for a GRU candidate's h part) and requantization multiplier and shift,
    read from their memories two cycles ahead and registered (a block RAM's output feeds
    the requantizer's adder and multiplier otherwise).

    The consumer may hold ``products.ready`` low: the whole path (lanes, adder tree,
    accumulator, parameter reads) then holds, and ``operands.ready`` is low.

    Parameters
    ----------
    layout : Layout
    lane_accumulators : bool
        Give the lanes separate accumulators too (column-wise work): ``lane_acc``.

    Attributes
    ----------
    LATENCY : int
        ``MacLanes.latency_for(P)``.
    FILL : int
        Cycles of a phase's fill spent here: ``LATENCY`` (:meth:`fill_for`).

    Members
    -------
    operands : In(stream.Signature(operand_beat(layout)))
    products : Out(stream.Signature(product_beat(layout)))
    memo_base, pre_base : In
        The layer direction's first row and first hidden unit in the parameter memories.
    bias, requant, bias_hn : read buses (``bias_hn`` for a GRU only)
    rd_en : Out(1)
        Read enable of the parameter memories (low while the path holds).
    lane_acc : Out(data.ArrayLayout(signed(32), P))
        With ``lane_accumulators``: the lanes' own sums of the product that is out.
    """

    @staticmethod
    def latency_for(layout: Layout) -> int:
        """``LATENCY`` of ``MacPath(layout)``."""
        return MacLanes.latency_for(layout.lanes)

    fill_for = latency_for

    def __init__(self, layout: Layout, lane_accumulators: bool = False):
        self._layout = lay = layout
        self._lane_acc = lane_accumulators
        self.LATENCY = self.FILL = self.latency_for(lay)
        rows = lay.layer_dirs * lay.rows
        members = {
            "operands": In(stream.Signature(operand_beat(lay))),
            "products": Out(stream.Signature(product_beat(lay))),
            "memo_base": In(range(rows + 1)),
            "pre_base": In(range(lay.layer_dirs * lay.hidden + 1)),
            "bias": Out(read_bus(range(rows + 1), nx.BIAS_BITS)),
            "requant": Out(read_bus(range(rows + 1), nx.MULT_BITS + SHIFT_FIELD_BITS)),
            "rd_en": Out(1),
        }
        if lay.cell == "gru":
            members["bias_hn"] = Out(read_bus(range(lay.layer_dirs * lay.hidden + 1), nx.BIAS_BITS))
        if lane_accumulators:
            members["lane_acc"] = Out(data.ArrayLayout(signed(nx.ACC_BITS), lay.lanes))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        lay = self._layout
        en = Signal()
        m.d.comb += [en.eq(~self.products.valid | self.products.ready), self.operands.ready.eq(en),
                     self.rd_en.eq(en)]
        pipe = Module()
        m.submodules.pipe = EnableInserter(en)(pipe)
        pipe.submodules.mac = mac = MacLanes(lay.lanes, lane_accumulators=self._lane_acc)
        beat = self.operands.payload
        pipe.d.comb += [mac.weights.as_value().eq(beat.weights.as_value()),
                        mac.acts.as_value().eq(beat.acts.as_value()),
                        mac.in_valid.eq(self.operands.valid), mac.first.eq(beat.first), mac.last.eq(beat.last)]
        meta = data.StructLayout({"valid": 1, "hpart_product": 1, "g": range(lay.gates), "j": range(lay.hidden)})
        prod0 = Signal(meta)
        pipe.d.comb += [prod0.valid.eq(self.operands.valid & beat.last), prod0.hpart_product.eq(beat.hpart_product),
                        prod0.g.eq(beat.g), prod0.j.eq(beat.j)]
        prod = DelayLine(pipe, prod0, mac.LATENCY, "prod")
        # Row parameters are read two cycles ahead and registered.
        ahead = prod.stage(mac.LATENCY - 2)
        param_r = ahead.g * lay.hidden + ahead.j
        pipe.d.comb += [self.bias.addr.eq(self.memo_base + param_r), self.requant.addr.eq(self.memo_base + param_r)]
        out = prod.stage(mac.LATENCY)
        bias_q = Signal.like(self.bias.data, reset_less=True)
        rq_q = Signal.like(self.requant.data, reset_less=True)
        pipe.d.sync += [bias_q.eq(self.bias.data), rq_q.eq(self.requant.data)]
        bias_value = bias_q
        if lay.cell == "gru":
            pipe.d.comb += self.bias_hn.addr.eq(self.pre_base + ahead.j)
            bhn_q = Signal.like(self.bias_hn.data)
            pipe.d.sync += bhn_q.eq(self.bias_hn.data)
            bias_value = Mux(out.hpart_product, bhn_q, bias_q)
        p = self.products.payload
        m.d.comb += [self.products.valid.eq(out.valid), p.acc.eq(mac.acc), p.bias.eq(bias_value),
                     p.mult.eq(rq_q[:nx.MULT_BITS]), p.shift.eq(rq_q[nx.MULT_BITS:]),
                     p.hpart_product.eq(out.hpart_product), p.g.eq(out.g), p.j.eq(out.j)]
        if self._lane_acc:
            m.d.comb += self.lane_acc.eq(mac.lane_acc)
        return m
