"""The trace emitter: reuse bits and counters as 32-bit words on the ``o_trace`` stream."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .contract import COUNTER_NAMES, TRACE_WIDTH

__all__ = ["TraceEmitter", "trace_beat"]


def trace_beat() -> data.StructLayout:
    return data.StructLayout({"data": unsigned(TRACE_WIDTH), "last": 1})


class TraceEmitter(wiring.Component):
    """The reuse trace of ``hw/contract.py``: per layer direction and step, the rows' reuse
    bits packed ``TRACE_WIDTH`` to a word (bit i of word w: row ``TRACE_WIDTH*w + i``),
    then, at the end of the sequence, one word per counter of ``COUNTER_NAMES`` (``last``
    on the final one), through a FIFO of ``DEPTH`` words.

    ``room`` tells the row issue that the words of the rows it may still have in flight
    (``slack`` of them) fit: the trace never drops a word; a stalled sink stalls the rows.

    Parameters
    ----------
    rows : int or None
        Rows per step (``G*H``); ``None``: the step's last bit is marked by ``step_last``
        (a delta build's used-column bits, ``X + H`` of them by layer).
    slack : int
        Rows that may be decided after ``room`` is checked (the work queue's depth).
    counter_bits : int
        Width of the counter values.
    names : tuple of str
        The counters, in trace order (``contract.counter_names(skip)``).

    Attributes
    ----------
    DEPTH : int
        Words of the FIFO: 16.

    Members
    -------
    decided, reuse : In(1)
        A row's decision and its outcome, rows in order.
    row : In(range(rows + 1))
        The decided row's index (with ``rows``).
    step_last : In(1)
        Without ``rows``: the decided bit is the step's last.
    send_counters : In(1)
        Write the counter words (``counters_done`` pulses with the last one).
    counters : In(struct of COUNTER_NAMES)
    o_trace : Out(stream.Signature(trace_beat()))
    room, counters_done : Out(1)
    """

    DEPTH = 16

    def __init__(self, rows: int | None, slack: int, counter_bits: int = 32, names: tuple = COUNTER_NAMES):
        self._rows, self._slack, self._names = rows, slack, names
        super().__init__({
            "decided": In(1), "reuse": In(1),
            **({"step_last": In(1)} if rows is None else {"row": In(range(rows + 1))}),
            "send_counters": In(1),
            "counters": In(data.StructLayout({name: unsigned(counter_bits) for name in names})),
            "o_trace": Out(stream.Signature(trace_beat())),
            "room": Out(1), "counters_done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=TRACE_WIDTH + 1, depth=self.DEPTH)
        m.d.comb += [self.o_trace.payload.data.eq(fifo.r_data[:TRACE_WIDTH]),
                     self.o_trace.payload.last.eq(fifo.r_data[TRACE_WIDTH]),
                     self.o_trace.valid.eq(fifo.r_rdy), fifo.r_en.eq(self.o_trace.ready),
                     self.room.eq(fifo.level + (self._slack // TRACE_WIDTH) + 3 <= self.DEPTH)]
        # Counter words, in ``names`` order.
        names = self._names
        idx = Signal(range(len(names) + 1))
        word = Signal(TRACE_WIDTH)
        with m.Switch(idx):
            for i, name in enumerate(names):
                with m.Case(i):
                    m.d.comb += word.eq(getattr(self.counters, name))
        with m.If(~self.send_counters):
            m.d.sync += idx.eq(0)
        with m.Elif(fifo.w_rdy):
            last = idx == len(names) - 1
            m.d.comb += [fifo.w_en.eq(1), fifo.w_data.eq(Cat(word, last)), self.counters_done.eq(last)]
            m.d.sync += idx.eq(idx + 1)
        # Reuse bits: a word when it is full or the step's last row is in.
        tr_word = Signal(TRACE_WIDTH)
        tr_idx = Signal(range(TRACE_WIDTH))
        tr_next = Signal(TRACE_WIDTH)
        m.d.comb += tr_next.eq(tr_word | (self.reuse << tr_idx))
        with m.If(self.decided):
            step_last = self.step_last if self._rows is None else self.row == self._rows - 1
            with m.If((tr_idx == TRACE_WIDTH - 1) | step_last):
                m.d.comb += [fifo.w_en.eq(1), fifo.w_data.eq(Cat(tr_next, Const(0, 1)))]
                m.d.sync += [tr_word.eq(0), tr_idx.eq(0)]
            with m.Else():
                m.d.sync += [tr_word.eq(tr_next), tr_idx.eq(tr_idx + 1)]
        return m
