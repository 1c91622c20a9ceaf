"""The output streamer: the last layer's outputs from the seq buffer to the ``o_h`` stream."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .layout import Layout

__all__ = ["OutputStreamer", "output_beat"]


def output_beat(lay: Layout) -> data.StructLayout:
    """A word of ``P`` int8 outputs, the lanes that hold values, and the sequence's last beat."""
    return data.StructLayout({"data": unsigned(lay.lanes * 8), "keep": lay.lanes, "last": 1})


class OutputStreamer(wiring.Component):
    """Stream a finished sequence's outputs, a word of ``P`` values a beat, straight from
    the seq buffer's read port (held by its read enable while the sink stalls, so no
    output register).

    After ``start``, ``ceil(H * directions / P)`` beats a step for ``seq_last + 1``
    steps: ``keep`` marks the values of a step's last word, ``last`` the final beat;
    ``done`` pulses when that beat is taken. The reads run a word ahead of the stream:
    ``rd_word`` is the next word's address (a register, so the address needs no adder).

    Parameters
    ----------
    layout : Layout
        Sizes: P, words a step, the seq buffer.

    Attributes
    ----------
    LATENCY : int
        Cycles from ``start`` to the first beat valid: 2 (state change, read).

    Members
    -------
    start : In(1)
    seq_last : In
        Index of the sequence's last step.
    o_h : Out(stream.Signature(output_beat(layout)))
    rd_word : Out, rd_data : In, rd_en : Out(1), active : Out(1)
        The seq-buffer read (of the last layer's half) while ``active``.
    done : Out(1)
    """

    LATENCY = 2

    def __init__(self, layout: Layout):
        self._layout = lay = layout
        super().__init__({
            "start": In(1), "seq_last": In(range(lay.max_seq_len)),
            "o_h": Out(stream.Signature(output_beat(lay))),
            "rd_word": Out(range(2 * lay.seq_buffer_depth + 1)), "rd_data": In(lay.lanes * 8),
            "rd_en": Out(1, init=1), "active": Out(1), "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        lay = self._layout
        P, S, words = lay.lanes, lay.step_words, lay.out_words
        out_t = Signal(range(lay.max_seq_len + 1))
        out_c = Signal(range(words + 1))
        word_last = Signal()
        m.d.comb += word_last.eq(out_c == words - 1)
        fetch_c = Signal(range(words))
        # A step's words are consecutive; the next step's start S words after its first.
        fetch_last = fetch_c == words - 1
        advance = [self.rd_word.eq(self.rd_word + Mux(fetch_last, S - (words - 1), 1)),
                   fetch_c.eq(Mux(fetch_last, 0, fetch_c + 1))]
        final_word = word_last & (out_t == self.seq_last)
        with m.FSM(name="out"):
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [out_t.eq(0), out_c.eq(0), self.rd_word.eq(0), fetch_c.eq(0)]
                    m.next = "READ"
            with m.State("READ"):
                # The first word is read; from the next cycle the stream shows the read
                # port's output, which holds (read enable low) until the word is taken.
                m.d.comb += self.active.eq(1)
                m.d.sync += advance
                m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += [self.active.eq(1), self.o_h.valid.eq(1), self.rd_en.eq(self.o_h.ready & ~final_word)]
                with m.If(self.o_h.ready):
                    m.d.sync += advance
                    with m.If(word_last):
                        m.d.sync += [out_t.eq(out_t + 1), out_c.eq(0)]
                    with m.Else():
                        m.d.sync += out_c.eq(out_c + 1)
                    with m.If(final_word):
                        m.d.comb += self.done.eq(1)
                        m.next = "IDLE"
        # The payload is driven outside the FSM: it only counts with valid, and gating it
        # by the state would cost a LUT per output bit.
        last_keep = (1 << (lay.output_size - (words - 1) * P)) - 1
        m.d.comb += [self.o_h.payload.data.eq(self.rd_data),
                     self.o_h.payload.keep.eq(Mux(word_last, last_keep, (1 << P) - 1)),
                     self.o_h.payload.last.eq(final_word)]
        return m
