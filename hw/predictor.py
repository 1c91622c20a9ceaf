"""The predictor unit: the input bits of a step (prep) and the BNN lane over every row."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .bnn import BnnLane
from .layout import Layout
from .pipeline import DelayLine, read_bus

__all__ = ["PredictorUnit"]


class PredictorUnit(wiring.Component):
    """Binarize a step's inputs, then issue every row to the BNN lane: ``yb`` per row.

    **prep** (``prep`` high, one word a cycle): the layer input ``x_t`` and the BNN
    offsets (after the weights in the weight memory) are read ``P`` lanes a cycle and
    compared, ``nx.sign_bits(x, offsets)``, into the input bits register; ``prep_done``
    marks the last cycle (``x_words + 2`` cycles: one of read latency, one of operand
    register). The h bits (``nx.sign_bits(h)``) shift in from the cell unit.

    **rows** (``rows`` high, after a ``start`` pulse): the ``G*H`` rows are issued in
    order, ``x_bit_words + h_bit_words`` chunks a row (one with ``bnn`` low: no
    prediction, every row computed), a row starting only while ``may_start`` (a work
    queue slot and trace room) and reserving a slot (``reserve``). Rows leave in issue
    order with ``yb = nx.bnn_output`` (``2*matches - N``) on ``yb`` under ``yb_valid``,
    ``LATENCY`` cycles after their last chunk; ``announce`` is ``yb_valid`` a cycle
    early (for the memo-table read).

    Parameters
    ----------
    layout : Layout
        Sizes: P, B, rows, memory depths.

    Attributes
    ----------
    LATENCY : int
        Cycles from a row's last chunk issued to its ``yb``: sign-word read and register,
        then ``BnnLane.latency_for(B)``.
    FILL : int
        Cycles of the rows phase's fill spent here: ``LATENCY`` (:meth:`fill_for`).
    PREP_FILL : int
        Cycles of prep beyond one a word: 2.

    Members
    -------
    prep, prep_done, start, rows, bnn, may_start, reserve, announce, yb, yb_valid : 1 bit
    in_size, x_words, x_bit_words, bits_base, offset_base, x_mask_last, t_base : layer constants
    h_valid, h_sign, h_init : In(1)
        A new h value's sign bit (``~h[7]``), in order j = 0..H-1; set every h bit (step 0).
    seq, offsets, weight_bits : read buses
    """

    PREP_FILL = 2

    @staticmethod
    def latency_for(layout: Layout) -> int:
        """``LATENCY`` of ``PredictorUnit(layout)``."""
        return 2 + BnnLane.latency_for(layout.bnn_width)

    fill_for = latency_for

    def __init__(self, layout: Layout):
        self._layout = lay = layout
        self.LATENCY = self.FILL = self.latency_for(lay)
        P, B = lay.lanes, lay.bnn_width
        super().__init__({
            "prep": In(1), "prep_done": Out(1),
            "start": In(1), "rows": In(1), "bnn": In(1), "may_start": In(1), "reserve": Out(1),
            "in_size": In(range(lay.max_row_inputs + 1)),
            "x_words": In(range(lay.max_x_words + 1)),
            "x_bit_words": In(range(lay.max_xbit_words + 1)),
            "bits_base": In(range(lay.bits_depth + 1)),
            "offset_base": In(range(lay.offset_depth + 1)),
            "x_mask_last": In(B),
            "t_base": In(range(lay.seq_buffer_depth + 1)),
            "h_valid": In(1), "h_sign": In(1), "h_init": In(1),
            "seq": Out(read_bus(range(lay.seq_buffer_depth + 1), P * 8)),
            "offsets": Out(read_bus(range(lay.weight_depth + lay.offset_depth + 1), P * 8)),
            "weight_bits": Out(read_bus(range(lay.bits_depth + 1), B)),
            "announce": Out(1), "yb": Out(signed(lay.yb_bits)), "yb_valid": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        lay = self._layout
        P, B, H = lay.lanes, lay.bnn_width, lay.hidden
        xbits = Signal(max(lay.max_x_words * P, lay.max_xbit_words * B))
        hbits = Signal(lay.layers[0].hbit_words * B)
        self._prep(m, xbits)
        # h leaves the cell in order j = 0..H-1, so its sign bits shift in from the top of
        # hbits[:H] and sit at their places after the H-th: no per-bit write decoder.
        with m.If(self.h_init):
            m.d.sync += hbits.eq((1 << len(hbits)) - 1)
        with m.Elif(self.h_valid):
            m.d.sync += hbits[:H].eq(Cat(hbits[1:H], self.h_sign))
        self._rows(m, xbits, hbits)
        return m

    def _prep(self, m, xbits):
        """Input bits of x_t: P lanes a cycle against the offsets (one cycle of read latency).

        The words read are compared lane by lane and the sign bits stored, one register
        stage between the block RAMs and xbits either way: the parallel datapath (fast
        FPGAs) registers the two words (a block RAM's clock-to-output plus a compare do
        not fit a cycle at 100 MHz on the ECP5), the shared one only the P compare results.
        """
        lay = self._layout
        P = lay.lanes
        prep_c = Signal(range(lay.max_x_words + 3))
        rd_valid, rd_word = Signal(), Signal.like(prep_c)
        m.d.sync += rd_valid.eq(0)
        m.d.comb += [self.seq.addr.eq(self.t_base + prep_c),
                     self.offsets.addr.eq(lay.weight_depth + self.offset_base + prep_c),
                     self.prep_done.eq(self.prep & (prep_c == self.x_words + 1))]
        with m.If(self.prep):
            m.d.sync += [prep_c.eq(prep_c + 1), rd_valid.eq(prep_c < self.x_words), rd_word.eq(prep_c)]
            with m.If(self.prep_done):
                m.d.sync += prep_c.eq(0)

        def lane_bits(words, offs):
            return Cat(words.word_select(i, 8).as_signed() >= offs.word_select(i, 8).as_signed() for i in range(P))
        valid_q, idx_q = Signal(), Signal.like(rd_word)
        m.d.sync += [valid_q.eq(rd_valid), idx_q.eq(rd_word)]
        if lay.datapath == "parallel":
            word_q, off_q = Signal(P * 8, reset_less=True), Signal(P * 8, reset_less=True)
            m.d.sync += [word_q.eq(self.seq.data), off_q.eq(self.offsets.data)]
            bits = lane_bits(word_q, off_q)
        else:
            bits = Signal(P, reset_less=True)
            m.d.sync += bits.eq(lane_bits(self.seq.data, self.offsets.data))
        with m.If(valid_q):
            m.d.sync += xbits.word_select(idx_q, P).eq(bits)

    def _rows(self, m, xbits, hbits):
        """Issue the rows' chunks to the BNN lane; a row's first chunk reserves a queue slot."""
        lay = self._layout
        B, GH = lay.bnn_width, lay.rows
        hbw = lay.layers[0].hbit_words
        iss_row = Signal(range(GH + 1))
        iss_chunk = Signal(range(lay.max_xbit_words + hbw + 1))
        bits_ptr = Signal(range(lay.bits_depth + 1))
        n_chunks = Signal.like(iss_chunk)
        m.d.comb += n_chunks.eq(Mux(self.bnn, self.x_bit_words + hbw, 1))
        chunk_last = Signal()
        m.d.comb += chunk_last.eq(iss_chunk == n_chunks - 1)
        go = Signal()
        m.d.comb += go.eq(self.rows & (iss_row != GH) & ((iss_chunk != 0) | self.may_start))
        m.d.comb += self.reserve.eq(go & (iss_chunk == 0))
        with m.If(self.start):
            m.d.sync += [iss_row.eq(0), iss_chunk.eq(0), bits_ptr.eq(self.bits_base)]
        with m.Elif(go):
            m.d.sync += bits_ptr.eq(bits_ptr + 1)
            with m.If(chunk_last):
                m.d.sync += [iss_chunk.eq(0), iss_row.eq(iss_row + 1)]
            with m.Else():
                m.d.sync += iss_chunk.eq(iss_chunk + 1)
        m.d.comb += self.weight_bits.addr.eq(bits_ptr)

        # Only the chunk index travels to stage 1, where the chunk's input bits and mask are
        # selected: xbits and hbits hold still while a layer's rows are issued, and a
        # narrow index costs far fewer registers than a B-bit word and its mask.
        s1_valid, s1_first, s1_last = Signal(), Signal(), Signal()
        s1_chunk = Signal.like(iss_chunk)
        m.d.sync += [s1_valid.eq(go), s1_first.eq(iss_chunk == 0), s1_last.eq(chunk_last), s1_chunk.eq(iss_chunk)]
        xbw = self.x_bit_words
        chunk_bits = Mux(s1_chunk < xbw, xbits.word_select(s1_chunk, B),
                         hbits.word_select((s1_chunk - xbw)[:len(s1_chunk)], B))
        hmask_last = (1 << ((lay.hidden - 1) % B + 1)) - 1
        chunk_mask = Mux(s1_chunk == xbw - 1, self.x_mask_last, Mux(s1_chunk == xbw + hbw - 1, hmask_last, (1 << B) - 1))
        m.submodules.bnn = bnn = BnnLane(B, max_bits=lay.max_row_inputs)
        # The sign-bit word is registered out of its RAM before the XNOR-popcount.
        s2_valid, s2_first, s2_last = Signal(), Signal(), Signal()
        s2_bits, s2_mask, s2_w = Signal(B, reset_less=True), Signal(B, reset_less=True), Signal(B, reset_less=True)
        m.d.sync += [s2_valid.eq(s1_valid), s2_first.eq(s1_first), s2_last.eq(s1_last), s2_bits.eq(chunk_bits),
                     s2_mask.eq(chunk_mask), s2_w.eq(self.weight_bits.data)]
        m.d.comb += [bnn.in_bits.eq(s2_bits), bnn.w_bits.eq(s2_w), bnn.mask.eq(s2_mask),
                     bnn.in_valid.eq(s2_valid), bnn.first.eq(s2_first), bnn.last.eq(s2_last)]
        # Rows leave in issue order, so only a valid bit rides along.
        meta = DelayLine(m, go & chunk_last, self.LATENCY, "row_valid")
        m.d.comb += [self.announce.eq(meta.stage(self.LATENCY - 1)), self.yb_valid.eq(meta.stage(self.LATENCY)),
                     self.yb.eq((bnn.matches << 1) - (self.in_size + lay.hidden))]
