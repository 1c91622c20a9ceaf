"""The accelerator core: memories, sequencer and datapath of the memoized LSTM/GRU.

See ``docs/hardware.md`` for the architecture. The core has plain ports (streams,
control values, a memory write port); :mod:`memornn.hw.top` puts AXI around it.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from ..golden import numerics as nx
from .bnn import BnnLane
from .cell_shared import cell_unit_class
from .contract import COUNTER_NAMES, TRACE_WIDTH
from .decision import DecisionUnit
from .layout import MEMORIES, SHIFT_FIELD_BITS, Layout, memory_widths
from .mac import MacLanes
from .pwl import DualPwlUnit
from . import sharedmul
from .requant import Requantizer

LOAD_ADDR_BITS = 24


class DelayLine:
    """A chain of registers: ``stage(i)`` is the value ``i`` cycles after ``stage(0)``."""

    def __init__(self, m: Module, first, length: int, name: str):
        self.stages = [first]
        for i in range(length):
            reg = Signal.like(first, name=f"{name}_d{i + 1}")
            m.d.sync += reg.eq(self.stages[-1])
            self.stages.append(reg)

    def stage(self, i: int):
        return self.stages[i]


class MemoCore(wiring.Component):
    """The memoized LSTM/GRU accelerator core for one model shape.

    Parameters
    ----------
    layout : Layout
        Sizes and base addresses (from :func:`memornn.hw.layout.make_layout`).
    images : dict or None
        Initial memory contents (from :func:`memory_images`); ``None`` leaves them zero.
    trace : bool
        Generate the reuse-trace stream ``o_trace``.
    row_fifo_depth : int
        Rows the BNN may decide ahead of the MAC lanes.
    counter_bits : int
        Width of the performance counters.

    Attributes
    ----------
    i_x : stream, In
        One beat per step: ``data`` holds the X int8 inputs (element i in bits
        8i..8i+7), ``last`` marks the sequence's last step.
    o_h : stream, Out
        The last layer's output (H * directions int8 values a step, forward half first)
        in words of P values: ``ceil(H * directions / P)`` beats a step, ``keep`` marking
        the values of the step's last word, ``last`` on the sequence's last beat; sent
        after the whole sequence.
    o_trace : stream, Out
        Only with ``trace``: 32-bit words; per layer direction and step, ceil(G*H/32)
        words of reuse bits (bit i of word w: row 32w+i; backward steps in processing
        order, t = T-1 first), then one word per counter of ``COUNTER_NAMES``, ``last``
        on the final one.
    thetas : In
        Per-layer reuse threshold, Q8.8.
    reuse_cap : In
        Consecutive-reuse cap (0 = none).
    predictor : In
        1 = BNN memoization, 0 = every neuron computed.
    load : In
        Memory write port (``en``, ``sel`` in ``layout.MEMORIES`` order, ``addr``, ``data``);
        writes are ignored while ``busy``.
    busy, seq_done, error_too_long : Out
        Status: a sequence is in flight; pulse at the end of a sequence; pulse when a
        sequence longer than ``max_seq_len`` was dropped.
    counters : Out
        The counters of the last finished sequence.
    """

    def __init__(self, layout: Layout, images: dict | None = None, trace: bool = False, row_fifo_depth: int = 8,
                 counter_bits: int = 32):
        self._layout = layout
        self._images = images
        self._trace = trace
        self._row_fifo_depth = row_fifo_depth
        self._counter_bits = counter_bits
        lay = layout
        self._load_width = max(memory_widths(lay).values())
        beat = data.StructLayout({"data": unsigned(lay.input_size * 8), "last": 1})
        out_beat = data.StructLayout({"data": unsigned(lay.lanes * 8), "keep": lay.lanes, "last": 1})
        members = {
            "i_x": In(stream.Signature(beat)),
            "o_h": Out(stream.Signature(out_beat)),
            "thetas": In(data.ArrayLayout(unsigned(nx.THETA_BITS), lay.num_layers)),
            "reuse_cap": In(nx.REUSE_CAP_BITS),
            "predictor": In(1),
            "load": In(wiring.Signature({
                "en": Out(1), "sel": Out(3), "addr": Out(LOAD_ADDR_BITS), "data": Out(self._load_width)})),
            "busy": Out(1),
            "seq_done": Out(1),
            "error_too_long": Out(1),
            "counters": Out(data.StructLayout({name: unsigned(counter_bits) for name in COUNTER_NAMES})),
        }
        if trace:
            members["o_trace"] = Out(stream.Signature(data.StructLayout({"data": unsigned(TRACE_WIDTH), "last": 1})))
        super().__init__(members)

    @property
    def layout(self) -> Layout:
        return self._layout

    def elaborate(self, platform):
        m = Module()
        lay = self._layout
        P, B, H, G = lay.lanes, lay.bnn_width, lay.hidden, lay.gates
        GH = lay.rows
        gru = lay.cell == "gru"
        images = self._images or {}

        # ---------------------------------------------------------------- memories
        def mem(name, width, depth, init=None):
            if name in lay.loaded_memories:
                init = []
            mm = memory.Memory(shape=unsigned(width), depth=max(depth, 1),
                               init=images.get(name, []) if init is None else init)
            m.submodules[name] = mm
            return mm

        # The two sequence buffers (a layer reads one and writes the other) are the halves of
        # one memory: never two reads or two writes at once, and the memory's address does
        # what a multiplexer of two read ports would.
        seq_mem = mem("seq_buf", P * 8, 2 * lay.seq_buffer_depth)
        seq_rd, seq_wr = seq_mem.read_port(), seq_mem.write_port(granularity=8)
        # The BNN offsets (P*8-bit words too) follow the weights in their memory: PREP reads
        # them while the MAC lanes are idle, and a memory of their own (a few words, P*8
        # bits wide) would cost flip-flops, or several block RAMs for its width.
        weight_init = None
        if images:  # the offsets' initial contents start right after the weights'
            weights_image = list(images.get("weights", []))
            weight_init = (weights_image + [0] * (lay.weight_depth - len(weights_image))
                           + list(images.get("offsets", [])))
        weights = mem("weights", P * 8, lay.weight_depth + lay.offset_depth, weight_init)
        w_rd, w_ld = weights.read_port(), weights.write_port()
        w_rd_addr = Signal.like(w_rd.addr)
        wbits = mem("weight_bits", B, lay.bits_depth)
        wb_rd, wb_ld = wbits.read_port(), wbits.write_port()
        bias = mem("bias", nx.BIAS_BITS, lay.layer_dirs * GH)
        bias_rd, bias_ld = bias.read_port(), bias.write_port()
        rq = mem("requant", nx.MULT_BITS + SHIFT_FIELD_BITS, lay.layer_dirs * GH)
        rq_rd, rq_ld = rq.read_port(), rq.write_port()
        load_ports = {"weight_bits": wb_ld, "bias": bias_ld, "requant": rq_ld}
        if gru:
            bias_hn = mem("bias_hn", nx.BIAS_BITS, lay.layer_dirs * H)
            bhn_rd, bhn_ld = bias_hn.read_port(), bias_hn.write_port()
            load_ports["bias_hn"] = bhn_ld

        yb_bits = lay.yb_bits
        memo_layout = data.StructLayout({"yb": signed(yb_bits), "run": unsigned(nx.REUSE_CAP_BITS)})
        memo_yb = memory.Memory(shape=memo_layout, depth=lay.layer_dirs * GH, init=[])
        m.submodules.memo_yb = memo_yb
        my_rd, my_wr = memo_yb.read_port(), memo_yb.write_port()
        # Pre-activation banks: one per gate, plus the GRU candidate's h part.
        banks = G + (1 if gru else 0)
        pre_mems = [memory.Memory(shape=signed(nx.PRE_BITS), depth=lay.layer_dirs * H, init=[]) for _ in range(banks)]
        for i, pm in enumerate(pre_mems):
            m.submodules[f"memo_pre{i}"] = pm
        pre_rd = [pm.read_port() for pm in pre_mems]
        pre_wr = [pm.write_port() for pm in pre_mems]
        h_mem = memory.Memory(shape=unsigned(P * 8), depth=lay.layers[0].h_words, init=[])
        m.submodules.h_buf = h_mem
        h_rd, h_wr = h_mem.read_port(), h_mem.write_port(granularity=8)
        if not gru:
            c_mem = memory.Memory(shape=signed(nx.CELL_BITS), depth=H, init=[])
            m.submodules.c_mem = c_mem
            c_rd, c_wr = c_mem.read_port(), c_mem.write_port()

        # ------------------------------------------------------- runtime load port
        busy = Signal()
        in_compute = Signal()  # the sequencer is in a layer's steps (it may read the weights)
        for index, name in enumerate(MEMORIES):
            port = load_ports.get(name)
            if port is None:
                continue
            m.d.comb += [port.addr.eq(self.load.addr), port.data.eq(self.load.data),
                         port.en.eq(self.load.en & ~busy & (self.load.sel == index))]
        # "weights" and "offsets" load into the weight memory, the offsets after the weights.
        to_offsets = self.load.sel == MEMORIES.index("offsets")
        w_ld_addr = Mux(to_offsets, self.load.addr + lay.weight_depth, self.load.addr)
        w_sel = (self.load.sel == MEMORIES.index("weights")) | to_offsets
        m.d.comb += [w_ld.data.eq(self.load.data), w_ld.en.eq(self.load.en & ~busy & w_sel)]
        if "weights" in lay.loaded_memories:
            # One address for reads and loads, and no read during a load: a single-port
            # memory, which Yosys can map to the iCE40 UP5K's SPRAM (loads come only while
            # idle, so the sequencer never reads in a load cycle). The address follows a
            # load unless the sequencer is computing, from registers only: the state
            # decode behind `busy` is too slow for the SPRAM's far address pins. (A load
            # the sequencer ignores, while busy, then changes the address at most outside
            # the compute states, where nothing reads the weights.)
            weights_read_q = Signal()
            m.d.sync += weights_read_q.eq(in_compute)
            shared_addr = Mux(self.load.en & w_sel & ~weights_read_q, w_ld_addr, w_rd_addr)
            m.d.comb += [w_ld.addr.eq(shared_addr), w_rd.addr.eq(shared_addr), w_rd.en.eq(~w_ld.en)]
        else:
            m.d.comb += [w_ld.addr.eq(w_ld_addr), w_rd.addr.eq(w_rd_addr)]

        # -------------------------------------------------------- sequence state
        S = lay.step_words
        seq_len = Signal(range(lay.max_seq_len + 1))  # T
        seq_last = Signal(range(lay.max_seq_len))  # T - 1, kept apart for shorter compare paths
        last_base = Signal(range(lay.seq_buffer_depth + 1))  # (T-1) * S
        ld = Signal(range(lay.layer_dirs))
        step = Signal(range(lay.max_seq_len + 1))
        t_base = Signal(range(lay.seq_buffer_depth + 1))
        thetas_l = Signal(data.ArrayLayout(unsigned(nx.THETA_BITS), lay.num_layers))
        cap_l = Signal(nx.REUSE_CAP_BITS)
        pred_l = Signal()

        # Per layer-direction constants, selected by `ld`.
        def table(values, name):
            sig = Signal(max(1, max(values).bit_length()), name=name)
            with m.Switch(ld):
                for i, v in enumerate(values):
                    with m.Case(i):
                        m.d.comb += sig.eq(v)
            return sig

        descs = lay.layers
        d_layer = table([d.layer for d in descs], "d_layer")
        d_dir = table([d.direction for d in descs], "d_dir")
        d_in_size = table([d.in_size for d in descs], "d_in_size")
        d_xw = table([d.x_words for d in descs], "d_xw")
        d_hw = descs[0].h_words
        d_xbw = table([d.xbit_words for d in descs], "d_xbw")
        d_hbw = descs[0].hbit_words
        d_wbase = table([d.weight_base for d in descs], "d_wbase")
        d_bbase = table([d.bits_base for d in descs], "d_bbase")
        d_obase = table([d.offset_base for d in descs], "d_obase")
        d_inbuf = table([d.in_buffer for d in descs], "d_inbuf")
        d_memo_base = table([i * GH for i in range(len(descs))], "d_memo_base")
        d_pre_base = table([i * H for i in range(len(descs))], "d_pre_base")
        d_out_word0 = table([(d.direction * H) // P for d in descs], "d_out_word0")
        d_out_lane0 = table([(d.direction * H) % P for d in descs], "d_out_lane0")
        d_xmask_last = table([((1 << ((d.in_size - 1) % B + 1)) - 1) for d in descs], "d_xmask_last")
        hmask_last = (1 << ((H - 1) % B + 1)) - 1
        d_last = Signal()
        m.d.comb += d_last.eq(ld == lay.layer_dirs - 1)
        row_inputs = Signal(range(lay.max_row_inputs + 1))
        m.d.comb += row_inputs.eq(d_in_size + H)
        out_buf = Signal()  # the seq buffer this layer writes
        m.d.comb += out_buf.eq(~d_inbuf)
        final_buf = lay.num_layers % 2
        step0 = Signal()
        m.d.comb += step0.eq(step == 0)
        theta = Signal(nx.THETA_BITS)
        m.d.comb += theta.eq(thetas_l[d_layer])

        # -------------------------------------------------------- counters
        # Bounded counters are only as wide as their bound; the port zero-extends them.
        cb = self._counter_bits

        def counter_width(name):
            bound = lay.counter_max(name)
            return cb if bound is None else min(cb, max(1, bound.bit_length()))
        cnt = {name: Signal(counter_width(name), name=f"cnt_{name}") for name in COUNTER_NAMES}

        # -------------------------------------------------------- trace
        if self._trace:
            trace_depth = 16
            m.submodules.trace_fifo = trace_fifo = SyncFIFOBuffered(width=TRACE_WIDTH + 1, depth=trace_depth)
            m.d.comb += [self.o_trace.payload.data.eq(trace_fifo.r_data[:TRACE_WIDTH]),
                         self.o_trace.payload.last.eq(trace_fifo.r_data[TRACE_WIDTH]),
                         self.o_trace.valid.eq(trace_fifo.r_rdy),
                         trace_fifo.r_en.eq(self.o_trace.ready)]
            trace_room = Signal()
            m.d.comb += trace_room.eq(
                trace_fifo.level + (self._row_fifo_depth // TRACE_WIDTH) + 3 <= trace_depth)
        else:
            trace_room = Const(1)

        # -------------------------------------------------------- input bits
        xbits_width = max(lay.max_x_words * P, lay.max_xbit_words * B)
        xbits = Signal(xbits_width)
        hbits = Signal(d_hbw * B)

        # =========================================================== main FSM
        in_chunk = Signal(range(lay.in_words + 1))
        in_addr = Signal(range(lay.seq_buffer_depth + 1))
        too_long = Signal()

        prep_c = Signal(range(lay.max_x_words + 3))
        prep_rd_valid = Signal()
        prep_rd_word = Signal.like(prep_c)
        m.d.sync += prep_rd_valid.eq(0)
        out_t = Signal(range(lay.max_seq_len + 1))
        out_c = Signal(range(lay.out_words + 1))
        out_word_last = Signal()
        m.d.comb += out_word_last.eq(out_c == lay.out_words - 1)
        # The output reads run a word ahead of the stream: `out_fetch` is the address of
        # the next word to read and `fetch_c` its index in its step (registers, so the
        # read address needs no adder).
        out_fetch = Signal(range(2 * lay.seq_buffer_depth + 1))
        fetch_c = Signal(range(lay.out_words))
        # A step's words are consecutive; the next step's start S words after its first.
        fetch_last = fetch_c == lay.out_words - 1
        advance_fetch = [out_fetch.eq(out_fetch + Mux(fetch_last, S - (lay.out_words - 1), 1)),
                         fetch_c.eq(Mux(fetch_last, 0, fetch_c + 1))]
        cnt_idx = Signal(range(len(COUNTER_NAMES) + 1))

        rows_start = Signal()
        rows_done = Signal()
        cell_start = Signal()
        cell_done = Signal()
        in_rows = Signal()
        in_cell = Signal()

        # seq buffer ports: a buffer (half) and a word within it
        seq_depth = lay.seq_buffer_depth
        seq_rd_buf, seq_wr_buf = Signal(), Signal()
        seq_rd_word, seq_wr_word = Signal(range(seq_depth + 1)), Signal(range(seq_depth + 1))
        m.d.comb += [seq_rd.addr.eq(Mux(seq_rd_buf, seq_rd_word + seq_depth, seq_rd_word)),
                     seq_wr.addr.eq(Mux(seq_wr_buf, seq_wr_word + seq_depth, seq_wr_word))]

        with m.FSM(name="seq"):
            # An input beat is taken a word at a time straight from the stream (whose
            # payload holds until it is accepted), and accepted with its last word.
            with m.State("IDLE"):
                with m.If(self.i_x.valid):
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
                in_words = Cat(self.i_x.payload.data, Const(0, lay.in_words * P * 8 - lay.input_size * 8))
                with m.If(self.i_x.valid):
                    with m.If(~too_long):
                        m.d.comb += [seq_wr_buf.eq(0), seq_wr_word.eq(in_addr + in_chunk),
                                     seq_wr.data.eq(in_words.word_select(in_chunk, P * 8)),
                                     seq_wr.en.eq((1 << P) - 1)]
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
                            m.d.sync += [c.eq(0) for c in cnt.values()]
                            m.next = "LD_START"
            with m.State("LD_START"):
                m.d.comb += [busy.eq(1), in_compute.eq(1)]
                m.d.sync += [step.eq(0), t_base.eq(Mux(d_dir, last_base, 0)), hbits.eq((1 << len(hbits)) - 1)]
                m.next = "PREP"
            with m.State("PREP"):
                # Input bits of x_t: P lanes a cycle against the offsets (one cycle of read latency).
                m.d.comb += [busy.eq(1), in_compute.eq(1)]
                m.d.comb += [seq_rd_buf.eq(d_inbuf), seq_rd_word.eq(t_base + prep_c),
                             w_rd_addr.eq(lay.weight_depth + d_obase + prep_c)]
                m.d.sync += [prep_c.eq(prep_c + 1), prep_rd_valid.eq(prep_c < d_xw), prep_rd_word.eq(prep_c)]
                with m.If(prep_c == d_xw + 1):
                    m.d.sync += prep_c.eq(0)
                    m.d.comb += rows_start.eq(1)
                    m.next = "ROWS"
            with m.State("ROWS"):
                m.d.comb += [busy.eq(1), in_compute.eq(1), in_rows.eq(1)]
                with m.If(rows_done):
                    m.d.comb += cell_start.eq(1)
                    m.next = "CELL"
            with m.State("CELL"):
                m.d.comb += [busy.eq(1), in_compute.eq(1), in_cell.eq(1)]
                with m.If(cell_done):
                    m.d.sync += step.eq(step + 1)
                    m.d.sync += t_base.eq(Mux(d_dir, t_base - S, t_base + S))
                    with m.If(step == seq_last):
                        with m.If(d_last):
                            m.d.sync += [out_t.eq(0), out_c.eq(0), out_fetch.eq(0), fetch_c.eq(0)]
                            m.next = "OUT_READ"
                        with m.Else():
                            m.d.sync += ld.eq(ld + 1)
                            m.next = "LD_START"
                    with m.Else():
                        m.next = "PREP"
            with m.State("OUT_READ"):
                # The first word is read; from the next cycle the stream shows the read
                # port's output, which holds (read enable low) until the word is taken.
                m.d.comb += [busy.eq(1), seq_rd_buf.eq(final_buf), seq_rd_word.eq(out_fetch)]
                m.d.sync += advance_fetch
                m.next = "OUT_SEND"
            with m.State("OUT_SEND"):
                final_word = out_word_last & (out_t == seq_last)
                m.d.comb += [busy.eq(1), self.o_h.valid.eq(1), seq_rd.en.eq(self.o_h.ready & ~final_word),
                             seq_rd_buf.eq(final_buf), seq_rd_word.eq(out_fetch)]
                with m.If(self.o_h.ready):
                    m.d.sync += advance_fetch
                    with m.If(out_word_last):
                        m.d.sync += [out_t.eq(out_t + 1), out_c.eq(0)]
                    with m.Else():
                        m.d.sync += out_c.eq(out_c + 1)
                    with m.If(final_word):
                        m.d.sync += cnt_idx.eq(0)
                        m.next = "COUNTERS" if self._trace else "DONE"
            if self._trace:
                with m.State("COUNTERS"):
                    m.d.comb += busy.eq(1)
                    counter_word = Signal(TRACE_WIDTH)
                    with m.Switch(cnt_idx):
                        for i, name in enumerate(COUNTER_NAMES):
                            with m.Case(i):
                                m.d.comb += counter_word.eq(cnt[name])
                    with m.If(trace_fifo.w_rdy):
                        m.d.comb += [trace_fifo.w_en.eq(1),
                                     trace_fifo.w_data.eq(Cat(counter_word, cnt_idx == len(COUNTER_NAMES) - 1))]
                        m.d.sync += cnt_idx.eq(cnt_idx + 1)
                        with m.If(cnt_idx == len(COUNTER_NAMES) - 1):
                            m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += [busy.eq(1), self.seq_done.eq(1)]
                m.d.sync += [getattr(self.counters, name).eq(cnt[name]) for name in COUNTER_NAMES]
                m.next = "IDLE"
        m.d.comb += self.busy.eq(busy)
        # The payload is driven outside the FSM: it only counts with valid, and gating it
        # by the state would cost a LUT per output bit.
        last_keep = (1 << (lay.output_size - (lay.out_words - 1) * P)) - 1
        m.d.comb += [self.o_h.payload.data.eq(seq_rd.data),
                     self.o_h.payload.keep.eq(Mux(out_word_last, last_keep, (1 << P) - 1)),
                     self.o_h.payload.last.eq(out_word_last & (out_t == seq_last))]
        with m.If(in_compute):
            m.d.sync += cnt["cycles"].eq(cnt["cycles"] + 1)

        # ------------------------------------------------------------ PREP datapath
        # The input and offset words read last cycle are compared lane by lane and the
        # sign bits stored, one register stage between the block RAMs and xbits either
        # way: the parallel datapath (fast FPGAs) registers the two words (a block RAM's
        # clock-to-output plus a compare do not fit a cycle at 100 MHz on the ECP5), the
        # shared one (small FPGAs) only the P compare results.
        def lane_bits(words, offs):
            return Cat(words.word_select(i, 8).as_signed() >= offs.word_select(i, 8).as_signed() for i in range(P))
        prep_valid_q, prep_idx_q = Signal(), Signal.like(prep_rd_word)
        m.d.sync += [prep_valid_q.eq(prep_rd_valid), prep_idx_q.eq(prep_rd_word)]
        if lay.datapath == "parallel":
            prep_word_q, prep_off_q = Signal(P * 8, reset_less=True), Signal(P * 8, reset_less=True)
            m.d.sync += [prep_word_q.eq(seq_rd.data), prep_off_q.eq(w_rd.data)]
            prep_bits = lane_bits(prep_word_q, prep_off_q)
        else:
            prep_bits = Signal(P, reset_less=True)
            m.d.sync += prep_bits.eq(lane_bits(seq_rd.data, w_rd.data))
        with m.If(prep_valid_q):
            m.d.sync += xbits.word_select(prep_idx_q, P).eq(prep_bits)

        # ------------------------------------------------------------ ROWS: BNN issue
        # A row's chunks walk the weight-sign memory; its first chunk takes a credit
        # (a slot in the row FIFO), so the FIFO never overflows however far the BNN
        # runs ahead. With predictor none a row is one cycle and always computed.
        depth = self._row_fifo_depth
        iss_row = Signal(range(GH + 1))
        iss_g = Signal(range(G))
        iss_j = Signal(range(H))
        iss_chunk = Signal(range(lay.max_xbit_words + d_hbw + 1))
        bits_ptr = Signal(range(lay.bits_depth + 1))
        wrow_ptr = Signal(range(lay.weight_depth + 1))
        credits = Signal(range(depth + 1))
        decided = Signal(range(GH + 1))
        n_chunks = Signal.like(iss_chunk)
        m.d.comb += n_chunks.eq(Mux(pred_l, d_xbw + d_hbw, 1))
        chunk_last = Signal()
        m.d.comb += chunk_last.eq(iss_chunk == n_chunks - 1)
        go = Signal()
        m.d.comb += go.eq(in_rows & (iss_row != GH) & ((iss_chunk != 0) | ((credits != 0) & trace_room)))
        take = Signal()
        m.d.comb += take.eq(go & (iss_chunk == 0))
        with m.If(rows_start):
            m.d.sync += [iss_row.eq(0), iss_g.eq(0), iss_j.eq(0), iss_chunk.eq(0), bits_ptr.eq(d_bbase),
                         wrow_ptr.eq(d_wbase), decided.eq(0)]
        with m.Elif(go):
            m.d.sync += bits_ptr.eq(bits_ptr + 1)
            with m.If(chunk_last):
                m.d.sync += [iss_chunk.eq(0), iss_row.eq(iss_row + 1), wrow_ptr.eq(wrow_ptr + d_xw + d_hw)]
                with m.If(iss_j == H - 1):
                    m.d.sync += [iss_j.eq(0), iss_g.eq(iss_g + 1)]
                with m.Else():
                    m.d.sync += iss_j.eq(iss_j + 1)
            with m.Else():
                m.d.sync += iss_chunk.eq(iss_chunk + 1)
        m.d.comb += wb_rd.addr.eq(bits_ptr)

        # Only the chunk index travels to stage 1, where the chunk's input bits and mask are
        # selected: xbits and hbits hold still while a layer's rows are issued, and a
        # narrow index costs far fewer registers than a B-bit word and its mask.
        s1_valid, s1_first, s1_last = Signal(), Signal(), Signal()
        s1_chunk = Signal.like(iss_chunk)
        m.d.sync += [s1_valid.eq(go), s1_first.eq(iss_chunk == 0), s1_last.eq(chunk_last), s1_chunk.eq(iss_chunk)]
        s1_part_x = Signal()
        m.d.comb += s1_part_x.eq(s1_chunk < d_xbw)
        chunk_bits = Mux(s1_part_x, xbits.word_select(s1_chunk, B),
                         hbits.word_select((s1_chunk - d_xbw)[:len(s1_chunk)], B))
        chunk_mask = Mux(s1_chunk == d_xbw - 1, d_xmask_last,
                         Mux(s1_chunk == d_xbw + d_hbw - 1, hmask_last, (1 << B) - 1))
        m.submodules.bnn = bnn = BnnLane(B, max_bits=lay.max_row_inputs)
        # The sign-bit word is registered out of its RAM before the XNOR-popcount.
        s2_valid, s2_first, s2_last = Signal(), Signal(), Signal()
        s2_bits, s2_mask, s2_w = Signal(B, reset_less=True), Signal(B, reset_less=True), Signal(B, reset_less=True)
        m.d.sync += [s2_valid.eq(s1_valid), s2_first.eq(s1_first), s2_last.eq(s1_last), s2_bits.eq(chunk_bits),
                     s2_mask.eq(chunk_mask), s2_w.eq(wb_rd.data)]
        m.d.comb += [bnn.in_bits.eq(s2_bits), bnn.w_bits.eq(s2_w), bnn.mask.eq(s2_mask),
                     bnn.in_valid.eq(s2_valid), bnn.first.eq(s2_first), bnn.last.eq(s2_last)]

        # Rows leave the BNN and the decision unit in issue order (row 0 first), so only a
        # valid bit rides along; the memo-table read and the decision side count rows.
        row_valid = Signal()
        m.d.comb += row_valid.eq(go & chunk_last)
        at_bnn = 2 + bnn.LATENCY  # stage where the row's matches come out
        at_act = at_bnn + DecisionUnit.LATENCY  # stage where the decision acts
        meta = DelayLine(m, row_valid, at_act, "row_valid")
        read_r = Signal(range(GH + 1))  # the row at stage at_bnn - 1, whose memo entry is read
        with m.If(rows_start):
            m.d.sync += read_r.eq(0)
        with m.Elif(meta.stage(at_bnn - 1)):
            m.d.sync += read_r.eq(read_r + 1)
        m.d.comb += my_rd.addr.eq(d_memo_base + read_r)
        act_row = data.StructLayout({"valid": 1, "r": range(GH), "g": range(G), "j": range(H),
                                     "wrow": range(lay.weight_depth + 1)})
        act = Signal(act_row)
        act_pos = Signal(act_row)  # r, g, j, wrow of the row the decision acts on
        m.d.comb += [act.eq(act_pos), act.valid.eq(meta.stage(at_act)), act.r.eq(decided)]
        with m.If(rows_start):
            m.d.sync += [act_pos.g.eq(0), act_pos.j.eq(0), act_pos.wrow.eq(d_wbase)]
        with m.Elif(act.valid):
            m.d.sync += [act_pos.wrow.eq(act_pos.wrow + d_xw + d_hw),
                         act_pos.j.eq(Mux(act_pos.j == H - 1, 0, act_pos.j + 1)),
                         act_pos.g.eq(Mux(act_pos.j == H - 1, act_pos.g + 1, act_pos.g))]

        # The shared datapath gives the decision unit (rows phase) and the cell's PWL unit
        # (cell phase) one multiplier too.
        pwl_mul = (sharedmul.pwl_multiplier(yb_bits, DualPwlUnit.dx_bits(lay.pwl_segments))
                   if lay.datapath == "shared" else None)
        m.submodules.decision = dec = DecisionUnit(yb_bits, external_mul=pwl_mul)
        yb = Signal(signed(yb_bits))
        m.d.comb += yb.eq((bnn.matches << 1) - row_inputs)
        m.d.comb += [dec.yb.eq(yb), dec.yb_m.eq(my_rd.data.yb), dec.run.eq(my_rd.data.run),
                     dec.step0.eq(step0 | ~pred_l), dec.theta.eq(theta), dec.cap.eq(cap_l),
                     dec.in_valid.eq(meta.stage(at_bnn))]
        yb_line = DelayLine(m, Cat(yb, my_rd.data.yb), DecisionUnit.LATENCY, "yb")
        yb_act = yb_line.stage(DecisionUnit.LATENCY)
        reuse = Signal()
        m.d.comb += reuse.eq(dec.reuse & act.valid)
        compute = Signal()
        m.d.comb += compute.eq(~dec.reuse & act.valid)
        m.d.comb += [my_wr.addr.eq(d_memo_base + act.r),
                     my_wr.data.yb.eq(Mux(dec.reuse, yb_act[yb_bits:], yb_act[:yb_bits])),
                     my_wr.data.run.eq(dec.run_next), my_wr.en.eq(act.valid & pred_l)]

        fifo_entry = data.StructLayout({"g": range(G), "j": range(H),
                                        "wrow": range(lay.weight_depth + 1)})
        # One entry more than the credits: SyncFIFOBuffered's w_rdy drops for the cycle an
        # entry moves into its output register, which would drop a row when it is full.
        m.submodules.row_fifo = row_fifo = SyncFIFOBuffered(width=fifo_entry.size, depth=depth + 1)
        m.d.comb += [row_fifo.w_data.eq(Cat(act.g, act.j, act.wrow)), row_fifo.w_en.eq(compute)]
        with m.If(act.valid):
            m.d.sync += decided.eq(decided + 1)
            with m.If(pred_l):
                m.d.sync += cnt["bnn_evals"].eq(cnt["bnn_evals"] + 1)
            with m.If(compute):
                m.d.sync += [cnt["neurons_computed"].eq(cnt["neurons_computed"] + 1),
                             cnt["macs"].eq(cnt["macs"] + row_inputs)]
            with m.Else():
                m.d.sync += [cnt["neurons_reused"].eq(cnt["neurons_reused"] + 1),
                             cnt["macs_skipped"].eq(cnt["macs_skipped"] + row_inputs)]

        if self._trace:
            tr_word = Signal(TRACE_WIDTH)
            tr_idx = Signal(range(TRACE_WIDTH))
            tr_next = Signal(TRACE_WIDTH)
            m.d.comb += tr_next.eq(tr_word | (reuse << tr_idx))
            with m.If(act.valid):
                with m.If((tr_idx == TRACE_WIDTH - 1) | (act.r == GH - 1)):
                    m.d.comb += [trace_fifo.w_en.eq(1), trace_fifo.w_data.eq(Cat(tr_next, Const(0, 1)))]
                    m.d.sync += [tr_word.eq(0), tr_idx.eq(0)]
                with m.Else():
                    m.d.sync += [tr_word.eq(tr_next), tr_idx.eq(tr_idx + 1)]

        # ------------------------------------------------------------ ROWS: MAC lanes
        # Rows to compute arrive from the FIFO; each walks its x words (seq buffer) and
        # its h words (h buffer) back to back. A GRU candidate row closes a product at
        # the x/h boundary too, giving its two parts.
        n_words = Signal(range(lay.max_x_words + d_hw + 1))
        m.d.comb += n_words.eq(d_xw + d_hw)
        mac_busy = Signal()
        mac_c = Signal.like(n_words)
        mac_row = Signal(fifo_entry)
        mac_c_last = Signal()
        m.d.comb += mac_c_last.eq(mac_c == n_words - 1)
        pop = Signal()
        m.d.comb += pop.eq(row_fifo.r_rdy & (~mac_busy | mac_c_last))
        m.d.comb += row_fifo.r_en.eq(pop)
        with m.If(pop):
            m.d.sync += [mac_busy.eq(1), mac_c.eq(0), mac_row.eq(row_fifo.r_data)]
        with m.Elif(mac_busy & mac_c_last):
            m.d.sync += mac_busy.eq(0)
        with m.Elif(mac_busy):
            m.d.sync += mac_c.eq(mac_c + 1)
        credit_back = Signal(range(3))
        m.d.comb += credit_back.eq(pop + reuse)
        with m.If(rows_start):
            m.d.sync += credits.eq(depth)
        with m.Else():
            m.d.sync += credits.eq(credits - take + credit_back)

        mac_part_h = Signal()
        m.d.comb += mac_part_h.eq(mac_c >= d_xw)
        candidate = Signal()
        m.d.comb += candidate.eq(mac_row.g == 2) if gru else candidate.eq(0)
        with m.If(mac_busy):
            m.d.sync += cnt["mac_busy_cycles"].eq(cnt["mac_busy_cycles"] + 1)
            m.d.comb += [w_rd_addr.eq(mac_row.wrow + mac_c), h_rd.addr.eq(mac_c - d_xw)]
            m.d.comb += [seq_rd_buf.eq(d_inbuf), seq_rd_word.eq(t_base + mac_c)]
        mac_meta = data.StructLayout({"valid": 1, "first": 1, "last": 1, "part_h": 1, "hpart_product": 1,
                                      "g": range(G), "j": range(H)})
        m1 = Signal(mac_meta)
        m.d.sync += [m1.valid.eq(mac_busy),
                     m1.first.eq((mac_c == 0) | (candidate & (mac_c == d_xw))),
                     m1.last.eq(mac_c_last | (candidate & (mac_c == d_xw - 1))),
                     m1.part_h.eq(mac_part_h), m1.hpart_product.eq(candidate & mac_part_h),
                     m1.g.eq(mac_row.g), m1.j.eq(mac_row.j)]
        # Operands are registered once out of their RAMs before the multipliers: a block
        # RAM's clock-to-output plus a multiplier does not fit one cycle at speed.
        m.submodules.mac = mac = MacLanes(P)
        acts = Mux(m1.part_h, Mux(step0, 0, h_rd.data), seq_rd.data)
        m2 = Signal(mac_meta)
        w2, a2 = Signal(P * 8, reset_less=True), Signal(P * 8, reset_less=True)
        m.d.sync += [m2.eq(m1), w2.eq(w_rd.data), a2.eq(acts)]
        m.d.comb += [mac.weights.as_value().eq(w2), mac.acts.as_value().eq(a2),
                     mac.in_valid.eq(m2.valid), mac.first.eq(m2.first), mac.last.eq(m2.last)]
        inflight = Signal(range(depth + 8))
        product_issued = Signal()
        m.d.comb += product_issued.eq(m2.valid & m2.last)
        # What the write-back needs of a product (r follows from g and j).
        prod_meta = data.StructLayout({"valid": 1, "hpart_product": 1, "g": range(G), "j": range(H)})
        prod0 = Signal(prod_meta)
        m.d.comb += [prod0.valid.eq(product_issued), prod0.hpart_product.eq(m2.hpart_product),
                     prod0.g.eq(m2.g), prod0.j.eq(m2.j)]
        prod = DelayLine(m, prod0, mac.LATENCY, "prod")
        # Row parameters are read two cycles ahead and registered, for the same reason.
        prod_param = prod.stage(mac.LATENCY - 2)
        param_r = prod_param.g * H + prod_param.j
        m.d.comb += [bias_rd.addr.eq(d_memo_base + param_r), rq_rd.addr.eq(d_memo_base + param_r)]
        at_acc = prod.stage(mac.LATENCY)
        # The shared datapath gives the requantizer (rows phase) and the cell unit (cell
        # phase) one multiplier, when the requantizer takes two passes.
        share_mul = lay.datapath == "shared" and lay.requant_passes == 2
        m.submodules.requantizer = req = Requantizer(lay.requant_passes, external_mul=share_mul)
        bias_q, rq_q = Signal.like(bias_rd.data, reset_less=True), Signal.like(rq_rd.data, reset_less=True)
        m.d.sync += [bias_q.eq(bias_rd.data), rq_q.eq(rq_rd.data)]
        bias_value = bias_q
        if gru:
            m.d.comb += bhn_rd.addr.eq(d_pre_base + prod_param.j)
            bhn_q = Signal.like(bhn_rd.data)
            m.d.sync += bhn_q.eq(bhn_rd.data)
            bias_value = Mux(at_acc.hpart_product, bhn_q, bias_q)
        m.d.comb += [req.acc.eq(mac.acc), req.bias.eq(bias_value), req.mult.eq(rq_q[:nx.MULT_BITS]),
                     req.shift.eq(rq_q[nx.MULT_BITS:]), req.in_valid.eq(at_acc.valid)]
        done_line = DelayLine(m, at_acc, req.latency, "req_meta")
        wrote = done_line.stage(req.latency)
        for i, port in enumerate(pre_wr):
            bank_hit = (wrote.g == i) & ~wrote.hpart_product if i < G else wrote.hpart_product
            m.d.comb += [port.addr.eq(d_pre_base + wrote.j), port.data.eq(req.pre),
                         port.en.eq(wrote.valid & bank_hit)]
        m.d.sync += inflight.eq(inflight + product_issued - wrote.valid)
        # Registered: this wide condition stays off the state register's enable path (the
        # phase ends a cycle later; nothing is in flight by then, so it stays true).
        m.d.sync += rows_done.eq(in_rows & (decided == GH) & (row_fifo.level == 0) & ~mac_busy & ~m1.valid
                                 & ~m2.valid & (inflight == 0))

        # ------------------------------------------------------------ CELL
        # One hidden unit every `interval` cycles (1 for the parallel cell unit): read its
        # gate pre-activations, activate, update, write h (h buffer, h bits, seq buffer)
        # and c.
        cell_cls = cell_unit_class(lay.cell, lay.datapath)
        cell_kwargs = {"external_mul": True} if share_mul else {}
        if pwl_mul:
            cell_kwargs["pwl_mul"] = pwl_mul
        interval = cell_cls.INTERVAL
        cj = Signal(range(H + 1))
        cw = Signal(range(H + 1))
        ck = Signal(range(interval))  # cycles since the last issue, mod interval
        # Where hidden unit j lives: h-buffer word and lane, seq-buffer word and lane. The
        # issue side walks these for the reads; the write side walks its own copy as results
        # come out (in issue order), so only a valid bit rides along the cell pipeline.
        cell_pos = data.StructLayout({"hw": range(d_hw), "hl": range(P), "ow": range(lay.seq_buffer_depth + 1),
                                      "ol": range(P)})
        c0 = Signal(cell_pos)
        cwp = Signal(cell_pos)
        issue_cell = Signal()
        m.d.comb += issue_cell.eq(in_cell & (cj != H) & (ck == 0))
        if interval > 1:
            with m.If(cell_start):
                m.d.sync += ck.eq(0)
            with m.Elif(in_cell):
                m.d.sync += ck.eq(Mux(ck == interval - 1, 0, ck + 1))

        def advance(pos):
            """Step ``pos`` to the next hidden unit."""
            return [pos.hl.eq(Mux(pos.hl == P - 1, 0, pos.hl + 1)),
                    pos.hw.eq(Mux(pos.hl == P - 1, pos.hw + 1, pos.hw)),
                    pos.ol.eq(Mux(pos.ol == P - 1, 0, pos.ol + 1)),
                    pos.ow.eq(Mux(pos.ol == P - 1, pos.ow + 1, pos.ow))]

        def first(pos):
            """``pos`` at hidden unit 0."""
            return [pos.hw.eq(0), pos.hl.eq(0), pos.ow.eq(t_base + d_out_word0), pos.ol.eq(d_out_lane0)]

        cdone_valid = Signal()
        with m.If(cell_start):
            m.d.sync += [cj.eq(0), cw.eq(0), *first(c0), *first(cwp)]
        with m.Else():
            with m.If(issue_cell):
                m.d.sync += [cj.eq(cj + 1), *advance(c0)]
            with m.If(cdone_valid):
                m.d.sync += [cw.eq(cw + 1), *advance(cwp)]
        with m.If(in_cell):
            m.d.comb += h_rd.addr.eq(c0.hw)
        for port in pre_rd:
            m.d.comb += port.addr.eq(d_pre_base + cj)
        cm1_valid = Signal()
        cm1_hl = Signal.like(c0.hl)
        m.d.sync += [cm1_valid.eq(issue_cell), cm1_hl.eq(c0.hl)]

        def cell_input(value):
            """A RAM output as a cell input: registered once more for the parallel cell,
            whose PWL units start from it (the shared cell registers its PWL input)."""
            if lay.cell_input_regs == 0:
                return value
            reg = Signal.like(value)
            m.d.sync += reg.eq(value)
            return reg

        in_valid = cell_input(cm1_valid)
        pre = [cell_input(port.data) for port in pre_rd]
        if gru:
            m.submodules.cell = cell = cell_cls(lay.pwl_segments, **cell_kwargs)
            h_prev = cell_input(Mux(step0, 0, h_rd.data.word_select(cm1_hl, 8)))
            m.d.comb += [cell.pre_r.eq(pre[0]), cell.pre_z.eq(pre[1]), cell.pre_n.eq(pre[2]), cell.pre_hn.eq(pre[3]),
                         cell.h.eq(h_prev), cell.in_valid.eq(in_valid)]
            h_out = cell.h_new
        else:
            m.submodules.cell = cell = cell_cls(lay.pwl_segments, **cell_kwargs)
            m.d.comb += c_rd.addr.eq(cj)
            m.d.comb += [cell.pre_i.eq(pre[0]), cell.pre_f.eq(pre[1]), cell.pre_g.eq(pre[2]), cell.pre_o.eq(pre[3]),
                         cell.c.eq(cell_input(Mux(step0, 0, c_rd.data))), cell.in_valid.eq(in_valid)]
            h_out = cell.h
        if share_mul or pwl_mul:
            # A registered select: the state decode stays off the multipliers' paths. Safe
            # as the cell's first products come cycles after the phase starts, and the
            # requantizer's and decision unit's cycles after the rows phase starts (PREP
            # comes first).
            cell_phase = Signal()
            m.d.sync += cell_phase.eq(in_cell)
        if share_mul:
            sharedmul.connect(m, [req, cell], cell_phase)
        if pwl_mul:
            sharedmul.connect(m, [dec, cell], cell_phase, pwl_mul)
        m.d.comb += cdone_valid.eq(cell.out_valid)
        h_word = Cat(h_out for _ in range(P))
        m.d.comb += [h_wr.addr.eq(cwp.hw), h_wr.data.eq(h_word), h_wr.en.eq(Mux(cdone_valid, 1 << cwp.hl, 0))]
        with m.If(cdone_valid):
            m.d.comb += [seq_wr_buf.eq(out_buf), seq_wr_word.eq(cwp.ow), seq_wr.data.eq(h_word),
                         seq_wr.en.eq(1 << cwp.ol)]
        if not gru:
            m.d.comb += [c_wr.addr.eq(cw), c_wr.data.eq(cell.c_new), c_wr.en.eq(cdone_valid)]
        # h leaves the cell in order j = 0..H-1, so its sign bits shift in from the top of
        # hbits[:H] and sit at their places after the H-th: no per-bit write decoder.
        with m.If(cdone_valid):
            m.d.sync += hbits[:H].eq(Cat(hbits[1:H], ~h_out[7]))
        m.d.comb += cell_done.eq(in_cell & (cw == H))
        self._debug = dict(cdone_valid=cdone_valid, h_out=h_out, wrote=wrote, pre=req.pre, mac_acc=mac.acc, at_acc=at_acc,
                           in_cell=in_cell, in_rows=in_rows)
        return m
