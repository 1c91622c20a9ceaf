"""The requantizer stage: products in, pre-activations out to the memo table."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden import numerics as nx
from .layout import Layout
from .mac_path import product_beat
from .pipeline import DelayLine
from .requant import Requantizer
from .sharedmul import MAIN, mul_members

__all__ = ["RequantStage"]


class RequantStage(wiring.Component):
    """:class:`Requantizer` on the product stream; each result goes to its memo-table bank.

    ``pre = nx.requantize(acc + bias, mult, shift)`` leaves ``LATENCY`` cycles after its
    product, for bank ``g`` (a GRU candidate's h part: bank ``G``) at hidden unit ``j``.
    The stage never waits (``products.ready`` is high): with two passes its products come
    at least two cycles apart, which :attr:`Layout.requant_passes` guarantees.

    Parameters
    ----------
    layout : Layout
    external_mul : bool
        Two-pass requantizer on the core's shared multiplier (its members added).

    Attributes
    ----------
    LATENCY : int
        ``Requantizer.latency_for(layout.requant_passes)``.
    FILL : int
        Cycles of a phase's fill spent here: ``LATENCY`` (:meth:`fill_for`).

    Members
    -------
    products : In(stream.Signature(product_beat(layout)))
    pre : Out(signed(nx.PRE_BITS))
    bank : Out(range(banks))
    j : Out(range(H))
    out_valid : Out(1)
    """

    @staticmethod
    def latency_for(layout: Layout) -> int:
        """``LATENCY`` of ``RequantStage(layout)``."""
        return Requantizer.latency_for(layout.requant_passes)

    fill_for = latency_for

    def __init__(self, layout: Layout, external_mul: bool = False):
        self._layout = layout
        self._external = external_mul
        self.LATENCY = self.FILL = self.latency_for(layout)
        super().__init__({
            "products": In(stream.Signature(product_beat(layout))),
            "pre": Out(signed(nx.PRE_BITS)),
            "bank": Out(range(layout.gates + 1)),
            "j": Out(range(layout.hidden)),
            "out_valid": Out(1),
            **(mul_members(MAIN) if external_mul else {}),
        })

    def elaborate(self, platform):
        m = Module()
        lay = self._layout
        req = Requantizer(lay.requant_passes, external_mul=self._external)
        m.submodules.requantizer = req
        p = self.products.payload
        m.d.comb += [self.products.ready.eq(1), req.acc.eq(p.acc), req.bias.eq(p.bias), req.mult.eq(p.mult),
                     req.shift.eq(p.shift), req.in_valid.eq(self.products.valid)]
        if self._external:
            for name in ("mul_a", "mul_b"):
                m.d.comb += getattr(self, name).eq(getattr(req, name))
            m.d.comb += req.mul_y.eq(self.mul_y)
        meta = data.StructLayout({"valid": 1, "hpart_product": 1, "g": range(lay.gates), "j": range(lay.hidden)})
        at_in = Signal(meta)
        m.d.comb += [at_in.valid.eq(self.products.valid), at_in.hpart_product.eq(p.hpart_product),
                     at_in.g.eq(p.g), at_in.j.eq(p.j)]
        done = DelayLine(m, at_in, req.latency, "req_meta").stage(req.latency)
        m.d.comb += [self.pre.eq(req.pre), self.out_valid.eq(done.valid), self.j.eq(done.j),
                     self.bank.eq(Mux(done.hpart_product, lay.gates, done.g))]
        return m
