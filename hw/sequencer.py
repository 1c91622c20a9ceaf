"""The sequencer: input, the layer-by-layer steps and their phases, output, counters."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden import numerics as nx
from .layout import Layout

__all__ = ["Sequencer", "layer_consts", "input_beat"]


def input_beat(lay: Layout) -> data.StructLayout:
    """One step of the model input: X int8 values (element i in bits 8i..8i+7)."""
    return data.StructLayout({"data": unsigned(lay.input_size * 8), "last": 1})


def layer_consts(lay: Layout) -> data.StructLayout:
    """What the stages need of the running layer direction and step."""
    return data.StructLayout({
        "in_size": range(lay.max_row_inputs + 1), "x_words": range(lay.max_x_words + 1),
        "x_bit_words": range(lay.max_xbit_words + 1), "weight_base": range(lay.weight_depth + 1),
        "bits_base": range(lay.bits_depth + 1), "offset_base": range(lay.offset_depth + 1),
        "in_buf": 1, "memo_base": range(lay.layer_dirs * lay.rows + 1),
        "pre_base": range(lay.layer_dirs * lay.hidden + 1), "out_word0": range(lay.out_words + 1),
        "out_lane0": range(lay.lanes), "x_mask_last": lay.bnn_width,
        "t_base": range(lay.seq_buffer_depth + 1), "step0": 1, "theta": nx.THETA_BITS,
        "cap": nx.REUSE_CAP_BITS, "bnn": 1})


class Sequencer(wiring.Component):
    """One sequence at a time: store its steps, run every layer direction over them (each
    step: prep, rows, cell), stream the outputs, then the counters.

    The input FSM writes a beat a word at a time into seq buffer half 0 straight from the
    stream (accepted with its last word); a sequence longer than ``max_seq_len`` is read to
    its end and dropped (``error_too_long``). Thresholds, cap and predictor are sampled
    when a sequence starts. Phases end on the stages' ``*_done``; the sequencer adds one
    cycle per layer direction (``LD_START``) and none per phase.

    Members
    -------
    i_x : In(stream.Signature(input_beat(layout)))
    thetas, reuse_cap, predictor : In
    run : In(1, init=1)
        A new sequence may start (CTRL.RUN). Only the idle state reads it: ``i_x.valid``
        stays free of the state decode (a short path from the port to the input FSM).
    layer : Out(layer_consts(layout))
    in_wr_word, in_wr_data, in_wr_en : Out
        The input's seq-buffer writes (half 0; ``in_wr_en`` all lanes).
    h_init, prep, rows_start, rows, cell_start, cell, out_start, send_counters : Out(1)
        Phase pulses and levels.
    prep_done, rows_done, cell_done, out_done, counters_done : In(1)
    seq_last : Out
        The sequence's last step.
    clear_counters, in_compute, busy, seq_done, error_too_long : Out(1)
    """

    #: Cycles the sequencer adds to a layer direction (``LD_START``).
    LAYER_FILL = 1

    def __init__(self, layout: Layout, trace: bool = False):
        self._layout = lay = layout
        self._trace = trace
        super().__init__({
            "i_x": In(stream.Signature(input_beat(lay))),
            "thetas": In(data.ArrayLayout(unsigned(nx.THETA_BITS), lay.num_layers)),
            "reuse_cap": In(nx.REUSE_CAP_BITS), "predictor": In(1), "run": In(1, init=1),
            "layer": Out(layer_consts(lay)),
            "in_wr_word": Out(range(lay.seq_buffer_depth + 1)), "in_wr_data": Out(lay.lanes * 8),
            "in_wr_en": Out(1),
            "h_init": Out(1), "prep": Out(1), "rows_start": Out(1), "rows": Out(1), "cell_start": Out(1),
            "cell": Out(1), "out_start": Out(1), "send_counters": Out(1),
            "prep_done": In(1), "rows_done": In(1), "cell_done": In(1), "out_done": In(1), "counters_done": In(1),
            "seq_last": Out(range(lay.max_seq_len)),
            "clear_counters": Out(1), "in_compute": Out(1), "busy": Out(1), "seq_done": Out(1),
            "error_too_long": Out(1),
        })

    def _tables(self, m, ld, step, t_base, thetas_l, cap_l, pred_l):
        """The layer-direction constants, selected by ``ld``; ``d_dir``."""
        lay = self._layout
        P, H, B = lay.lanes, lay.hidden, lay.bnn_width

        def table(values, name):
            sig = Signal(max(1, max(values).bit_length()), name=name)
            with m.Switch(ld):
                for i, v in enumerate(values):
                    with m.Case(i):
                        m.d.comb += sig.eq(v)
            return sig

        descs = lay.layers
        c = self.layer
        d_layer = table([d.layer for d in descs], "d_layer")
        m.d.comb += [
            c.in_size.eq(table([d.in_size for d in descs], "d_in_size")),
            c.x_words.eq(table([d.x_words for d in descs], "d_xw")),
            c.x_bit_words.eq(table([d.xbit_words for d in descs], "d_xbw")),
            c.weight_base.eq(table([d.weight_base for d in descs], "d_wbase")),
            c.bits_base.eq(table([d.bits_base for d in descs], "d_bbase")),
            c.offset_base.eq(table([d.offset_base for d in descs], "d_obase")),
            c.in_buf.eq(table([d.in_buffer for d in descs], "d_inbuf")),
            c.memo_base.eq(table([i * lay.rows for i in range(len(descs))], "d_memo_base")),
            c.pre_base.eq(table([i * H for i in range(len(descs))], "d_pre_base")),
            c.out_word0.eq(table([(d.direction * H) // P for d in descs], "d_out_word0")),
            c.out_lane0.eq(table([(d.direction * H) % P for d in descs], "d_out_lane0")),
            c.x_mask_last.eq(table([((1 << ((d.in_size - 1) % B + 1)) - 1) for d in descs], "d_xmask_last")),
            c.t_base.eq(t_base), c.step0.eq(step == 0), c.theta.eq(thetas_l[d_layer]), c.cap.eq(cap_l),
            c.bnn.eq(pred_l)]
        return table([d.direction for d in descs], "d_dir")

    def elaborate(self, platform):
        m = Module()
        lay = self._layout
        S = lay.step_words
        seq_len = Signal(range(lay.max_seq_len + 1))  # T
        seq_last = self.seq_last  # T - 1, kept apart for shorter compare paths
        last_base = Signal(range(lay.seq_buffer_depth + 1))  # (T-1) * S
        ld = Signal(range(lay.layer_dirs))
        step = Signal(range(lay.max_seq_len + 1))
        t_base = Signal(range(lay.seq_buffer_depth + 1))
        thetas_l = Signal.like(self.thetas)
        cap_l, pred_l = Signal(nx.REUSE_CAP_BITS), Signal()
        d_dir = self._tables(m, ld, step, t_base, thetas_l, cap_l, pred_l)
        in_chunk = Signal(range(lay.in_words + 1))
        in_addr = Signal(range(lay.seq_buffer_depth + 1))
        too_long = Signal()
        busy = Signal()
        m.d.comb += self.busy.eq(busy)
        with m.FSM(name="seq"):
            # An input beat is taken a word at a time straight from the stream (whose
            # payload holds until it is accepted), and accepted with its last word.
            with m.State("IDLE"):
                with m.If(self.i_x.valid & self.run):
                    m.d.sync += [in_chunk.eq(0), in_addr.eq(0), seq_len.eq(1), seq_last.eq(0), too_long.eq(0),
                                 thetas_l.eq(self.thetas), cap_l.eq(self.reuse_cap), pred_l.eq(self.predictor)]
                    m.next = "IN_WRITE"
            with m.State("IN_WAIT"):
                m.d.comb += busy.eq(1)
                with m.If(self.i_x.valid):
                    m.d.sync += [in_chunk.eq(0), in_addr.eq(in_addr + S)]
                    with m.If(seq_len == lay.max_seq_len):
                        m.d.sync += too_long.eq(1)
                    with m.Else():
                        m.d.sync += [seq_len.eq(seq_len + 1), seq_last.eq(seq_len)]
                    m.next = "IN_WRITE"
            with m.State("IN_WRITE"):
                m.d.comb += busy.eq(1)
                in_words = Cat(self.i_x.payload.data, Const(0, lay.in_words * lay.lanes * 8 - lay.input_size * 8))
                m.d.comb += [self.in_wr_word.eq(in_addr + in_chunk),
                             self.in_wr_data.eq(in_words.word_select(in_chunk, lay.lanes * 8))]
                with m.If(self.i_x.valid):
                    m.d.comb += self.in_wr_en.eq(~too_long)
                    m.d.sync += in_chunk.eq(in_chunk + 1)
                    with m.If(in_chunk == lay.in_words - 1):
                        m.d.comb += self.i_x.ready.eq(1)
                        with m.If(~self.i_x.payload.last):
                            m.next = "IN_WAIT"
                        with m.Elif(too_long):
                            m.d.comb += self.error_too_long.eq(1)
                            m.next = "IDLE"
                        with m.Else():
                            m.d.sync += [last_base.eq(in_addr), ld.eq(0), step.eq(0), t_base.eq(0)]
                            m.d.comb += self.clear_counters.eq(1)
                            m.next = "LD_START"
            self._steps(m, ld, step, t_base, last_base, d_dir, busy)
        return m

    def _steps(self, m, ld, step, t_base, last_base, d_dir, busy):
        """The compute states (a step's phases, layer directions in turn), output, counters."""
        lay = self._layout
        S = lay.step_words
        # step == seq_last, kept in a register: the compare stays off the path from the
        # cell's done to the output phase's start (long nets on a full iCE40).
        at_last = Signal()
        with m.State("LD_START"):
            m.d.comb += [busy.eq(1), self.in_compute.eq(1), self.h_init.eq(1)]
            m.d.sync += [step.eq(0), at_last.eq(self.seq_last == 0), t_base.eq(Mux(d_dir, last_base, 0))]
            m.next = "PREP"
        with m.State("PREP"):
            m.d.comb += [busy.eq(1), self.in_compute.eq(1), self.prep.eq(1)]
            with m.If(self.prep_done):
                m.d.comb += self.rows_start.eq(1)
                m.next = "ROWS"
        with m.State("ROWS"):
            m.d.comb += [busy.eq(1), self.in_compute.eq(1), self.rows.eq(1)]
            with m.If(self.rows_done):
                m.d.comb += self.cell_start.eq(1)
                m.next = "CELL"
        with m.State("CELL"):
            m.d.comb += [busy.eq(1), self.in_compute.eq(1), self.cell.eq(1)]
            with m.If(self.cell_done):
                m.d.sync += [step.eq(step + 1), at_last.eq(step + 1 == self.seq_last)]
                m.d.sync += t_base.eq(Mux(d_dir, t_base - S, t_base + S))
                with m.If(at_last):
                    with m.If(ld == lay.layer_dirs - 1):
                        m.d.comb += self.out_start.eq(1)
                        m.next = "OUT"
                    with m.Else():
                        m.d.sync += ld.eq(ld + 1)
                        m.next = "LD_START"
                with m.Else():
                    m.next = "PREP"
        with m.State("OUT"):
            m.d.comb += busy.eq(1)
            with m.If(self.out_done):
                m.next = "COUNTERS" if self._trace else "DONE"
        if self._trace:
            with m.State("COUNTERS"):
                m.d.comb += [busy.eq(1), self.send_counters.eq(1)]
                with m.If(self.counters_done):
                    m.next = "DONE"
        with m.State("DONE"):
            m.d.comb += [busy.eq(1), self.seq_done.eq(1)]
            m.next = "IDLE"
