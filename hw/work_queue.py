"""The work queue: rows to compute, from the decision unit to operand fetch."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

__all__ = ["WorkQueue"]


class WorkQueue(wiring.Component):
    """A FIFO of work items between two streams, with reservations.

    A producer that cannot wait (the BNN lane issues a row several cycles before its
    decision) reserves a slot with ``reserve`` when it starts an item and gets it back
    with ``release`` when the item turns out not to need the queue (a reused row); a
    slot also comes back when the consumer takes an item. ``room`` says a reservation
    is possible, so the queue never overflows however far the producer runs ahead.

    Parameters
    ----------
    item : data.Layout
        The work item.
    depth : int
        Slots (reservations), >= 1.

    Attributes
    ----------
    depth : int
        The slots, as given.
    LATENCY : int
        Cycles from an item written to the item readable: 2 (``SyncFIFOBuffered``).
    FILL : int
        Cycles the queue adds to a phase's fill: ``LATENCY``.

    Members
    -------
    w : In(stream.Signature(item))
        Items in (``ready`` always high while a reservation is held).
    r : Out(stream.Signature(item))
        Items out, in order.
    clear : In(1)
        Reset the reservations to ``depth`` (between phases, with the queue empty).
    reserve, release : In(1)
        Take a slot; give one back without an item.
    room : Out(1)
        A slot is free.
    empty : Out(1)
        No item is queued.
    """

    LATENCY = 2
    FILL = LATENCY

    def __init__(self, item: data.Layout, depth: int):
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be a positive int, got {depth!r}")
        self._item = item
        self.depth = depth
        super().__init__({
            "w": In(stream.Signature(item)),
            "r": Out(stream.Signature(item)),
            "clear": In(1),
            "reserve": In(1),
            "release": In(1),
            "room": Out(1),
            "empty": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        size = data.Layout.cast(self._item).size
        # One entry more than the slots: SyncFIFOBuffered's w_rdy drops for the cycle an
        # entry moves into its output register, which would drop an item when it is full.
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=size, depth=self.depth + 1)
        m.d.comb += [fifo.w_data.eq(self.w.payload), fifo.w_en.eq(self.w.valid), self.w.ready.eq(fifo.w_rdy),
                     self.r.payload.eq(fifo.r_data), self.r.valid.eq(fifo.r_rdy), fifo.r_en.eq(self.r.ready),
                     self.empty.eq(fifo.level == 0)]
        credits = Signal(range(self.depth + 1))
        back = Signal(range(3))
        m.d.comb += [back.eq((self.r.valid & self.r.ready) + self.release), self.room.eq(credits != 0)]
        with m.If(self.clear):
            m.d.sync += credits.eq(self.depth)
        with m.Else():
            m.d.sync += credits.eq(credits - self.reserve + back)
        return m
