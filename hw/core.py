"""The accelerator core: memories, sequencer and datapath of the memoized LSTM/GRU.

See ``docs/hardware.md`` for the architecture. The core has plain ports (streams,
control values, a memory write port); :mod:`memornn.hw.top` puts AXI around it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden import numerics as nx
from . import sharedmul
from .cell_stage import CellStage
from .contract import counter_names
from .layout import MEMORIES, SHIFT_FIELD_BITS, Layout, memory_widths
from .mac_path import MacPath
from .memo_decision import MemoDecision
from .memo_table import MemoTable
from .operand_fetch import OperandFetch, work_item
from .output_streamer import OutputStreamer, output_beat
from .predictor import PredictorUnit
from .pwl import DualPwlUnit
from .requant_stage import RequantStage
from .sequencer import Sequencer, input_beat
from .trace_emitter import TraceEmitter, trace_beat
from .work_queue import WorkQueue

if TYPE_CHECKING:  # spec.py sits above the core: its counter bounds come from hw.cycles, which reads the core
    from .spec import BuildSpec

LOAD_ADDR_BITS = 24


class MemoCore(wiring.Component):
    """The memoized LSTM/GRU accelerator core for one model shape.

    Parameters
    ----------
    spec : BuildSpec
        The one typed configuration: the layout (sizes and base addresses), the trace
        flag (``o_trace``), the row FIFO depth (rows the BNN may decide ahead of the MAC
        lanes) and the counter width.
    images : dict or None
        Initial memory contents (from :func:`memory_images`); ``None`` leaves them zero.

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
    run : In, init 1
        A sequence may start (CTRL.RUN); one already started runs to its end.
    load : In
        Memory write port (``en``, ``sel`` in ``layout.MEMORIES`` order, ``addr``, ``data``);
        writes are ignored while ``busy``.
    busy, seq_done, error_too_long : Out
        Status: a sequence is in flight; pulse at the end of a sequence; pulse when a
        sequence longer than ``max_seq_len`` was dropped.
    counters : Out
        The counters of the last finished sequence.
    """

    #: Cycles of the rows phase after the last result leaves the requantizer stage: its
    #: memo-table write (and in-flight count), the registered done check, the state change.
    ROWS_END = 3

    def __init__(self, spec: BuildSpec, images: dict | None = None):
        self._spec = spec
        self._layout = lay = spec.layout
        self._images = images
        self._load_width = max(memory_widths(lay).values())
        members = {
            "i_x": In(stream.Signature(input_beat(lay))),
            "o_h": Out(stream.Signature(output_beat(lay))),
            "thetas": In(data.ArrayLayout(unsigned(nx.THETA_BITS), lay.num_layers)),
            "reuse_cap": In(nx.REUSE_CAP_BITS),
            "predictor": In(1),
            "run": In(1, init=1),
            "load": In(wiring.Signature({
                "en": Out(1), "sel": Out(3), "addr": Out(LOAD_ADDR_BITS), "data": Out(self._load_width)})),
            "busy": Out(1),
            "seq_done": Out(1),
            "error_too_long": Out(1),
            "counters": Out(data.StructLayout({name: unsigned(spec.counter_bits) for name in counter_names(lay.skip)})),
            **self._policy_members(),
        }
        if spec.trace:
            members["o_trace"] = Out(stream.Signature(trace_beat()))
        super().__init__(members)

    def _policy_members(self) -> dict:
        """Ports of the skipping datapath beyond the shared ones (a subclass's)."""
        return {}

    @property
    def layout(self) -> Layout:
        return self._layout

    def elaborate(self, platform):
        m = Module()
        lay = self._layout
        mem = self._memories(m)
        m.submodules.sequencer = seq = Sequencer(lay, trace=self._spec.trace)
        wiring.connect(m, wiring.flipped(self.i_x), seq.i_x)
        m.d.comb += [seq.thetas.eq(self.thetas), seq.reuse_cap.eq(self.reuse_cap), seq.predictor.eq(self.predictor),
                     seq.run.eq(self.run),
                     self.busy.eq(seq.busy), self.seq_done.eq(seq.seq_done), self.error_too_long.eq(seq.error_too_long)]
        self._load_port(m, mem, seq)
        stages = self._stages(m, seq)
        self._rows_wiring(m, mem, seq, stages)
        self._cell_wiring(m, mem, seq, stages)
        self._output_wiring(m, mem, seq, stages)
        self._counters(m, seq, stages)
        return m

    def _memories(self, m) -> dict:
        """The memories the stages share (each stage keeps its own private ones), their ports."""
        lay = self._layout
        P, B, H = lay.lanes, lay.bnn_width, lay.hidden
        images = self._images or {}
        ports = {}

        def mem(name, width, depth, init=None, granularity=None):
            if name in lay.loaded_memories:
                init = []
            mm = memory.Memory(shape=unsigned(width), depth=max(depth, 1),
                               init=images.get(name, []) if init is None else init)
            m.submodules[name] = mm
            ports[name] = (mm.read_port(), mm.write_port(granularity=granularity))

        # The two sequence buffers (a layer reads one and writes the other) are the halves of
        # one memory: never two reads or two writes at once, and the memory's address does
        # what a multiplexer of two read ports would.
        mem("seq_buf", P * 8, 2 * lay.seq_buffer_depth, granularity=8)
        # The BNN offsets (P*8-bit words too) follow the weights in their memory: PREP reads
        # them while the MAC lanes are idle, and a memory of their own (a few words, P*8
        # bits wide) would cost flip-flops, or several block RAMs for its width.
        weight_init = None
        if images:  # the offsets' initial contents start right after the weights'
            weights_image = list(images.get("weights", []))
            weight_init = (weights_image + [0] * (lay.weight_depth - len(weights_image))
                           + list(images.get("offsets", [])))
        mem("weights", P * 8, lay.weight_depth + lay.offset_depth, weight_init)
        if lay.skip == "memo":  # the BNN's weight signs (a delta build has no BNN)
            mem("weight_bits", B, lay.bits_depth)
        mem("bias", nx.BIAS_BITS, lay.layer_dirs * lay.rows)
        mem("requant", nx.MULT_BITS + SHIFT_FIELD_BITS, lay.layer_dirs * lay.rows)
        if lay.cell == "gru":
            mem("bias_hn", nx.BIAS_BITS, lay.layer_dirs * H)
        h_mem = memory.Memory(shape=unsigned(P * 8), depth=lay.layers[0].h_words, init=[])
        m.submodules.h_buf = h_mem
        ports["h_buf"] = (h_mem.read_port(), h_mem.write_port(granularity=8))
        # Pre-activation banks: one per gate, plus the GRU candidate's h part.
        m.submodules.memo_table = ports["memo"] = MemoTable(lay.gates + (lay.cell == "gru"), lay.layer_dirs * H)
        return ports

    def _load_port(self, m, mem, seq):
        """The runtime load port: writes while idle, into the memory ``load.sel`` selects."""
        lay = self._layout
        busy = seq.busy
        for index, name in enumerate(MEMORIES):
            if name not in mem or name == "weights":
                continue
            port = mem[name][1]
            m.d.comb += [port.addr.eq(self.load.addr), port.data.eq(self.load.data),
                         port.en.eq(self.load.en & ~busy & (self.load.sel == index))]
        # "weights" and "offsets" load into the weight memory, the offsets after the weights.
        w_rd, w_ld = mem["weights"]
        to_offsets = self.load.sel == MEMORIES.index("offsets")
        w_ld_addr = Mux(to_offsets, self.load.addr + lay.weight_depth, self.load.addr)
        w_sel = (self.load.sel == MEMORIES.index("weights")) | to_offsets
        m.d.comb += [w_ld.data.eq(self.load.data), w_ld.en.eq(self.load.en & ~busy & w_sel)]
        self._w_rd_addr = w_rd_addr = Signal.like(w_rd.addr)
        if "weights" in lay.loaded_memories:
            # One address for reads and loads, and no read during a load: a single-port
            # memory, which Yosys can map to the iCE40 UP5K's SPRAM (loads come only while
            # idle, so the sequencer never reads in a load cycle). The address follows a
            # load unless the sequencer is computing, from registers only: the state
            # decode behind `busy` is too slow for the SPRAM's far address pins. (A load
            # the sequencer ignores, while busy, then changes the address at most outside
            # the compute states, where nothing reads the weights.)
            weights_read_q = Signal()
            m.d.sync += weights_read_q.eq(seq.in_compute)
            shared_addr = Mux(self.load.en & w_sel & ~weights_read_q, w_ld_addr, w_rd_addr)
            m.d.comb += [w_ld.addr.eq(shared_addr), w_rd.addr.eq(shared_addr)]
            self._w_rd_en = ~w_ld.en
        else:
            m.d.comb += [w_ld.addr.eq(w_ld_addr), w_rd.addr.eq(w_rd_addr)]
            self._w_rd_en = 1

    def _stages(self, m, seq) -> dict:
        """Every stage, and the streams and layer constants between them."""
        lay = self._layout
        c = seq.layer
        st = {}
        m.submodules.predictor = st["pred"] = pred = PredictorUnit(lay)
        m.submodules.work_queue = st["queue"] = queue = WorkQueue(work_item(lay), self._spec.row_fifo_depth)
        # The shared datapath gives the decision unit (rows phase) and the cell's PWL unit
        # (cell phase) one multiplier, and the requantizer (rows phase) and the cell unit
        # (cell phase) another when the requantizer takes two passes.
        pwl_mul = (sharedmul.pwl_multiplier(lay.yb_bits, DualPwlUnit.dx_bits(lay.pwl_segments))
                   if lay.datapath == "shared" else None)
        share_mul = lay.datapath == "shared" and lay.requant_passes == 2
        m.submodules.memo_decision = st["dec"] = dec = MemoDecision(lay, pwl_mul)
        m.submodules.operand_fetch = st["fetch"] = fetch = OperandFetch(lay)
        m.submodules.mac_path = st["mac"] = mac = MacPath(lay)
        m.submodules.requant_stage = st["req"] = req = RequantStage(lay, external_mul=share_mul)
        m.submodules.cell_stage = st["cell"] = cell = CellStage(lay, external_mul=share_mul, pwl_mul=pwl_mul)
        m.submodules.output_streamer = st["out"] = OutputStreamer(lay)
        if self._spec.trace:
            m.submodules.trace_emitter = st["trace"] = TraceEmitter(lay.rows, self._spec.row_fifo_depth, self._spec.counter_bits)
        # Rows to compute: decision -> queue -> operand fetch -> MAC path -> requantizer.
        wiring.connect(m, dec.work, queue.w)
        wiring.connect(m, queue.r, fetch.items)
        wiring.connect(m, fetch.operands, mac.operands)
        wiring.connect(m, mac.products, req.products)
        m.d.comb += [pred.in_size.eq(c.in_size), pred.x_words.eq(c.x_words), pred.x_bit_words.eq(c.x_bit_words),
                     pred.bits_base.eq(c.bits_base), pred.offset_base.eq(c.offset_base),
                     pred.x_mask_last.eq(c.x_mask_last), pred.t_base.eq(c.t_base), pred.bnn.eq(c.bnn),
                     dec.fresh.eq(c.step0 | ~c.bnn), dec.bnn.eq(c.bnn), dec.theta.eq(c.theta), dec.cap.eq(c.cap),
                     dec.memo_base.eq(c.memo_base), dec.weight_base.eq(c.weight_base),
                     dec.row_words.eq(c.x_words + lay.layers[0].h_words),
                     dec.announce.eq(pred.announce), dec.yb.eq(pred.yb), dec.yb_valid.eq(pred.yb_valid),
                     fetch.x_words.eq(c.x_words), fetch.in_buf.eq(c.in_buf), fetch.step0.eq(c.step0),
                     fetch.t_base.eq(c.t_base), mac.memo_base.eq(c.memo_base), mac.pre_base.eq(c.pre_base),
                     cell.step0.eq(c.step0), cell.pre_base.eq(c.pre_base), cell.t_base.eq(c.t_base),
                     cell.out_word0.eq(c.out_word0), cell.out_lane0.eq(c.out_lane0)]
        if share_mul or pwl_mul:
            # A registered select: the state decode stays off the multipliers' paths. Safe
            # as the cell's first products come cycles after the phase starts, and the
            # requantizer's and decision unit's cycles after the rows phase starts (PREP
            # comes first).
            cell_phase = Signal()
            m.d.sync += cell_phase.eq(seq.cell)
        if share_mul:
            sharedmul.connect(m, [req, cell], cell_phase)
        if pwl_mul:
            sharedmul.connect(m, [dec, cell], cell_phase, pwl_mul)
        return st

    def _rows_wiring(self, m, mem, seq, st):
        """Prep and rows: the phase signals, and the memory reads of the rows' stages."""
        lay = self._layout
        pred, dec, queue, fetch, mac, req = st["pred"], st["dec"], st["queue"], st["fetch"], st["mac"], st["req"]
        trace_room = st["trace"].room if self._spec.trace else 1
        m.d.comb += [pred.prep.eq(seq.prep), seq.prep_done.eq(pred.prep_done), pred.start.eq(seq.rows_start),
                     pred.rows.eq(seq.rows), pred.may_start.eq(queue.room & trace_room), pred.h_init.eq(seq.h_init),
                     dec.start.eq(seq.rows_start), queue.clear.eq(seq.rows_start), queue.reserve.eq(pred.reserve),
                     queue.release.eq(dec.reuse)]
        seq_rd = mem["seq_buf"][0]
        w_rd = mem["weights"][0]
        h_rd = mem["h_buf"][0]
        wb_rd = mem["weight_bits"][0]
        m.d.comb += [pred.seq.data.eq(seq_rd.data), pred.offsets.data.eq(w_rd.data), fetch.seq.data.eq(seq_rd.data),
                     fetch.weights.data.eq(w_rd.data), fetch.h.data.eq(h_rd.data),
                     wb_rd.addr.eq(pred.weight_bits.addr), pred.weight_bits.data.eq(wb_rd.data)]
        # A stage that holds its pipe holds its memories' outputs too.
        m.d.comb += [w_rd.en.eq(self._w_rd_en & fetch.rd_en), h_rd.en.eq(fetch.rd_en)]
        for name, bus in (("bias", mac.bias), ("requant", mac.requant)) + (
                (("bias_hn", mac.bias_hn),) if lay.cell == "gru" else ()):
            rd = mem[name][0]
            m.d.comb += [rd.addr.eq(bus.addr), bus.data.eq(rd.data), rd.en.eq(mac.rd_en)]
        memo = mem["memo"]
        m.d.comb += [memo.w_en.eq(req.out_valid), memo.w_bank.eq(req.bank), memo.w_addr.eq(seq.layer.pre_base + req.j),
                     memo.w_data.eq(req.pre)]
        with m.If(seq.prep):
            m.d.comb += self._w_rd_addr.eq(pred.offsets.addr)
        with m.If(fetch.busy):
            m.d.comb += [self._w_rd_addr.eq(fetch.weights.addr), h_rd.addr.eq(fetch.h.addr)]
        # Products between the lanes' input and the memo table (for the end of the phase).
        inflight = Signal(range(self._spec.row_fifo_depth + 8))
        issued = Signal()
        m.d.comb += issued.eq(fetch.operands.valid & fetch.operands.ready & fetch.operands.payload.last)
        m.d.sync += inflight.eq(inflight + issued - req.out_valid)
        # Registered: this wide condition stays off the state register's enable path (the
        # phase ends a cycle later; nothing is in flight by then, so it stays true).
        rows_done = Signal()
        m.d.sync += rows_done.eq(seq.rows & dec.all_decided & queue.empty & fetch.idle & (inflight == 0))
        m.d.comb += seq.rows_done.eq(rows_done)

    def _cell_wiring(self, m, mem, seq, st):
        """The cell phase: memo-table and h-buffer reads, h to the h buffer, h bits, seq buffer."""
        cell, pred = st["cell"], st.get("pred")
        h_rd, h_wr = mem["h_buf"]
        memo = mem["memo"]
        m.d.comb += [cell.start.eq(seq.cell_start), cell.active.eq(seq.cell), seq.cell_done.eq(cell.done),
                     memo.r_addr.eq(cell.memo_addr), cell.pre.eq(memo.r_data), cell.h_data.eq(h_rd.data),
                     h_wr.addr.eq(cell.h_wr_addr), h_wr.data.eq(cell.h_wr_data), h_wr.en.eq(cell.h_wr_en)]
        if pred is not None:  # the BNN's h bits
            m.d.comb += [pred.h_valid.eq(cell.h_valid), pred.h_sign.eq(cell.h_sign)]
        with m.If(seq.cell):
            m.d.comb += h_rd.addr.eq(cell.h_addr)

    def _output_wiring(self, m, mem, seq, st):
        """The seq buffer's ports (input, prep, rows, cell, output) and the output stream."""
        lay = self._layout
        out, cell = st["out"], st["cell"]
        seq_rd, seq_wr = mem["seq_buf"]
        depth = lay.seq_buffer_depth
        rd_buf, wr_buf = Signal(), Signal()
        rd_word, wr_word = Signal(range(depth + 1)), Signal(range(depth + 1))
        m.d.comb += [seq_rd.addr.eq(Mux(rd_buf, rd_word + depth, rd_word)),
                     seq_wr.addr.eq(Mux(wr_buf, wr_word + depth, wr_word))]
        with m.If(seq.prep):
            m.d.comb += [rd_buf.eq(seq.layer.in_buf), rd_word.eq(self._prep_seq_addr(st))]
        with m.If(out.active):
            m.d.comb += [rd_buf.eq(lay.num_layers % 2), rd_word.eq(out.rd_word)]
        m.d.comb += seq_rd.en.eq(out.rd_en & self._rows_seq_reader(m, st, rd_buf, rd_word))
        with m.If(seq.in_wr_en):
            m.d.comb += [wr_word.eq(seq.in_wr_word), seq_wr.data.eq(seq.in_wr_data), seq_wr.en.eq((1 << lay.lanes) - 1)]
        with m.If(cell.h_valid):
            m.d.comb += [wr_buf.eq(~seq.layer.in_buf), wr_word.eq(cell.seq_wr_word), seq_wr.data.eq(cell.seq_wr_data),
                         seq_wr.en.eq(cell.seq_wr_en)]
        wiring.connect(m, out.o_h, wiring.flipped(self.o_h))
        m.d.comb += [out.start.eq(seq.out_start), seq.out_done.eq(out.done), out.seq_last.eq(seq.seq_last),
                     out.rd_data.eq(seq_rd.data)]

    def _prep_seq_addr(self, st):
        """The seq-buffer word the prep phase reads (the BNN's inputs)."""
        return st["pred"].seq.addr

    def _rows_seq_reader(self, m, st, rd_buf, rd_word):
        """The rows phase's seq-buffer reads (operand fetch); returns their read enable."""
        fetch = st["fetch"]
        with m.If(fetch.busy):
            m.d.comb += [rd_buf.eq(fetch.seq_buf), rd_word.eq(fetch.seq.addr)]
        return fetch.rd_en

    def _counters(self, m, seq, st):
        """The per-sequence counters, and the trace's counter words."""
        lay = self._layout
        names = counter_names(lay.skip)
        # Bounded counters are only as wide as their bound; the port zero-extends them.
        cb = self._spec.counter_bits

        def counter_width(name):
            bound = lay.counter_max(name)
            return cb if bound is None else min(cb, max(1, bound.bit_length()))
        cnt = {name: Signal(counter_width(name), name=f"cnt_{name}") for name in names}
        row_inputs = Signal(range(lay.max_row_inputs + 1))
        m.d.comb += row_inputs.eq(seq.layer.in_size + lay.hidden)
        # The clear acts a cycle late, in the sequence's first compute cycle (LD_START,
        # where no datapath counter moves): the input beat's accept logic stays off the
        # enables of every counter bit, a long net on a full iCE40.
        clear = Signal()
        m.d.sync += clear.eq(seq.clear_counters)
        with m.If(clear):
            m.d.sync += [c.eq(0) for c in cnt.values()]
        with m.If(seq.in_compute):
            m.d.sync += cnt["cycles"].eq(Mux(clear, 0, cnt["cycles"]) + 1)
        self._count(m, seq, st, cnt, row_inputs)
        with m.If(seq.seq_done):
            m.d.sync += [getattr(self.counters, name).eq(cnt[name]) for name in names]
        if self._spec.trace:
            tr = st["trace"]
            wiring.connect(m, tr.o_trace, wiring.flipped(self.o_trace))
            m.d.comb += [*self._trace_bits(st, tr), tr.send_counters.eq(seq.send_counters),
                         seq.counters_done.eq(tr.counters_done)]
            m.d.comb += [getattr(tr.counters, name).eq(cnt[name]) for name in names]

    def _trace_bits(self, st, tr) -> list:
        """The trace's per-step bits: each row's decision."""
        dec = st["dec"]
        return [tr.decided.eq(dec.decided), tr.reuse.eq(dec.reuse), tr.row.eq(dec.row)]

    def _count(self, m, seq, st, cnt, row_inputs):
        """The datapath's counts (``cnt``: the counters by name; ``row_inputs``: ``X + H``)."""
        dec, fetch = st["dec"], st["fetch"]
        with m.If(fetch.busy):
            m.d.sync += cnt["mac_busy_cycles"].eq(cnt["mac_busy_cycles"] + 1)
        with m.If(dec.decided):
            with m.If(seq.layer.bnn):
                m.d.sync += cnt["bnn_evals"].eq(cnt["bnn_evals"] + 1)
            with m.If(~dec.reuse):
                m.d.sync += [cnt["neurons_computed"].eq(cnt["neurons_computed"] + 1),
                             cnt["macs"].eq(cnt["macs"] + row_inputs)]
            with m.Else():
                m.d.sync += [cnt["neurons_reused"].eq(cnt["neurons_reused"] + 1),
                             cnt["macs_skipped"].eq(cnt["macs_skipped"] + row_inputs)]
