"""Formal harnesses: a design under test wrapped with its rules (:mod:`.rules`).

Each harness is an Amaranth elaboratable whose :meth:`ports` are the free inputs the
solver chooses every cycle; the design itself is never edited, only instantiated. A
``mutation`` names a deliberately broken variant (a fault placed between the design and
its environment) that the proof must reject: it shows the rules can fail.

- :class:`AxilSlaveHarness`: :class:`~memornn.hw.axil.AxiLiteRegisterInterface` behind
  an arbitrary register file (every ``rd_data``, ``rd_err``, ``wr_err`` possible), so
  the rules hold whatever the register semantics: the AXI4-Lite protocol, and that each
  request reaches the register file once, in order, with its own address and data, and
  each response carries the register file's answer to it.
- :class:`TopHarness`: the :class:`~memornn.hw.top.Accelerator` of a small layout with
  every port's protocol: the AXI4-Lite slave, the output and trace AXI4-Stream masters,
  and the input stream: no beat lost, checked end to end (every accepted sequence
  comes out with one output step per input step).
- :class:`DecisionHarness`: :class:`~memornn.hw.decision.DecisionUnit` against the reuse
  rule written from :mod:`memornn.golden.numerics` (:func:`reuse_rule`), for every input.
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Assert, Assume, Cover, Elaboratable, Module, Mux, ResetSignal, Signal, signed, unsigned
from amaranth.lib.wiring import In, Out

from ...golden import numerics as nx
from ..axil import RESP_OKAY, RESP_SLVERR, AxiLiteRegisterInterface, AxiLiteSignature
from ..decision import DecisionUnit
from . import rules


def _bus(prefix_obj, names, prefix=""):
    return SimpleNamespace(**{n: getattr(prefix_obj, prefix + n) for n in names})


AXIL_NAMES = tuple(AxiLiteSignature(8).members.keys())


class _Harness(Elaboratable):
    """Common part: the reset input and the list of free inputs."""

    #: Mutations the harness knows (name: what breaks).
    MUTATIONS: dict = {}

    def __init__(self, mutation: str | None = None):
        if mutation is not None and mutation not in self.MUTATIONS:
            self._MustUse__silence = True  # never elaborated: no "unused elaboratable" warning
            raise ValueError(f"unknown mutation {mutation!r} (known: {', '.join(self.MUTATIONS) or 'none'})")
        self.mutation = mutation
        self.rst = ResetSignal("sync")  # the implicit domain's reset: a port of the design
        self._free: list = []

    def free(self, shape, name: str) -> Signal:
        """A new free input."""
        sig = Signal(shape, name=name)
        self._free.append(sig)
        return sig

    def ports(self) -> list:
        """The harness's inputs (the solver drives them; ``clk`` and ``rst`` come with the domain)."""
        return list(self._free)

    def _reset(self, m: Module) -> rules.Observer:
        return rules.Observer(m, self.rst)


class AxilSlaveHarness(_Harness):
    """The AXI4-Lite slave front end with an arbitrary register file behind it.

    Beyond :func:`rules.axil_slave_rules` (at most 2 requests a channel in flight: one
    held, one being answered):

    - ``rd_en`` pulses exactly on an AR handshake, with that AR's address;
    - R carries the register file's ``rd_data`` of the cycle after ``rd_en``, with
      SLVERR exactly when ``rd_err`` was high;
    - ``wr_en`` pulses once per accepted (AW, W) pair, only after both were accepted,
      with their address, data and strobes, and its B response is SLVERR exactly when
      ``wr_err`` was high in that cycle.
    """

    MUTATIONS = {
        "bvalid_drops": "BVALID falls while BREADY is low (a free input chooses when)",
        "rdata_late": "RDATA shows the register file's current value instead of the captured one",
        "double_write": "a write reaches the register file twice",
    }

    def elaborate(self, platform):
        m = Module()
        obs = self._reset(m)
        m.submodules.dut = dut = AxiLiteRegisterInterface(8, 32)
        bus = SimpleNamespace()
        for name, member in AxiLiteSignature(8, 32).members.items():  # the master's view
            inner = getattr(dut.bus, name)
            if member.flow == Out:  # driven by the master: a free input
                outer = self.free(inner.shape(), f"s_axil_{name}")
                m.d.comb += inner.eq(outer)
                setattr(bus, name, outer)
            else:
                setattr(bus, name, inner)
        wr_err, rd_err = self.free(1, "wr_err"), self.free(1, "rd_err")
        rd_data = self.free(32, "rd_data")
        m.d.comb += [dut.wr_err.eq(wr_err), dut.rd_err.eq(rd_err), dut.rd_data.eq(rd_data)]
        wr_en = dut.wr_en
        if self.mutation == "bvalid_drops":
            glitch = self.free(1, "glitch")
            bvalid = Signal()
            m.d.comb += bvalid.eq(dut.bus.bvalid & ~glitch)
            bus.bvalid = bvalid
            m.d.comb += dut.bus.bready.eq(bus.bready | glitch)  # the dropped response is gone
        elif self.mutation == "rdata_late":
            bus.rdata = rd_data
        elif self.mutation == "double_write":
            again = Signal()
            m.d.sync += again.eq(dut.wr_en)
            wr_en = dut.wr_en | again

        rules.axil_master_assumptions(obs, bus)
        count = rules.axil_slave_rules(obs, bus, max_outstanding=2)
        self._register_file_rules(m, obs, bus, count, wr_en, dut, wr_err, rd_err, rd_data)
        return m

    def _register_file_rules(self, m, obs, bus, count, wr_en, dut, wr_err, rd_err, rd_data):
        # Reads: one rd_en per AR handshake; R answers with what the register file said.
        ar_done = bus.arvalid & bus.arready
        m.d.comb += [Assert(dut.rd_en == ar_done, "rd_en_on_ar_handshake"),
                     Assert(~dut.rd_en | (dut.rd_addr == bus.araddr), "rd_addr_is_araddr")]
        exp_rdata, exp_rresp = Signal(32, name="f_exp_rdata"), Signal(2, name="f_exp_rresp")
        answering = obs.past(dut.rd_en & ~obs.rst, "rd_en")  # the register file answers now
        with m.If(answering):
            m.d.formal += [exp_rdata.eq(rd_data), exp_rresp.eq(Mux(rd_err, RESP_SLVERR, RESP_OKAY))]
        answered = Signal(name="f_r_answered")  # the register file has answered the read in flight
        with m.If(obs.rst | (bus.rvalid & bus.rready)):
            m.d.formal += answered.eq(0)
        with m.Elif(answering):
            m.d.formal += answered.eq(1)
        m.d.comb += Assert(~bus.rvalid | (answered & (bus.rdata == exp_rdata) & (bus.rresp == exp_rresp)),
                           "r_carries_the_register_files_answer")

        # Writes: AW and W accepted before, written once, in order, then answered.
        aw_q, w_q, strb_q = Signal(8, name="f_aw_addr"), Signal(32, name="f_w_data"), Signal(4, name="f_w_strb")
        with m.If(bus.awvalid & bus.awready):
            m.d.formal += aw_q.eq(bus.awaddr)
        with m.If(bus.wvalid & bus.wready):
            m.d.formal += [w_q.eq(bus.wdata), strb_q.eq(bus.wstrb)]
        write = wr_en & ~obs.rst
        aw_unwritten = obs.counter(bus.awvalid & bus.awready, write, "aw_unwritten")
        w_unwritten = obs.counter(bus.wvalid & bus.wready, write, "w_unwritten")
        b_owed = obs.counter(write, bus.bvalid & bus.bready, "b_owed")
        exp_bresp = Signal(2, name="f_exp_bresp")
        with m.If(write):
            m.d.formal += exp_bresp.eq(Mux(wr_err, RESP_SLVERR, RESP_OKAY))
        m.d.comb += [
            Assert(~write | ((aw_unwritten > 0) & (w_unwritten > 0)), "write_only_after_aw_and_w"),
            Assert(~write | ((dut.wr_addr == aw_q) & (dut.wr_data == w_q) & (dut.wr_strb == strb_q)),
                   "write_carries_its_address_and_data"),
            Assert((aw_unwritten == 0) | (dut.wr_addr == aw_q), "held_address_shown"),
            Assert((w_unwritten == 0) | ((dut.wr_data == w_q) & (dut.wr_strb == strb_q)), "held_data_shown"),
            Assert((aw_unwritten <= 1) & (w_unwritten <= 1) & (b_owed <= 1), "one_write_held_each_way"),
            Assert(~bus.bvalid | ((b_owed > 0) & (bus.bresp == exp_bresp)), "b_answers_the_write"),
            Assert(count["aw"] == aw_unwritten + b_owed, "aw_written_or_unwritten"),
            Assert(count["w"] == w_unwritten + b_owed, "w_written_or_unwritten"),
            # The interface's own invariants (a request is held exactly while its channel
            # is not ready; one response at a time), which make the counters inductive.
            Assert((aw_unwritten == ~bus.awready) & (w_unwritten == ~bus.wready) & (b_owed == bus.bvalid),
                   "write_held_exactly_while_not_ready"),
            Assert((count["ar"] == ~bus.arready) & (answered == bus.rvalid), "read_held_exactly_while_not_ready"),
            Cover(bus.bvalid & bus.bready & (bus.bresp == RESP_SLVERR)),
            Cover(bus.rvalid & bus.rready & (bus.rresp == RESP_SLVERR) & bus.bvalid & (aw_unwritten == 1)),
        ]


def reuse_rule(m: Module, yb, yb_m, run, step0, theta, cap):
    """The golden reuse rule as combinational logic: ``(reuse, run_next)``.

    ``reuse = ~step0 & (cap == 0 | run < cap) & within_threshold(yb, yb_m, theta)``, with
    :func:`memornn.golden.numerics.within_threshold`'s test ``|yb - yb_m| << THETA_FRAC
    <= theta * |yb_m|`` on exact (never wrapping) integers; ``run_next`` is ``run + 1``
    when reused (held at ``REUSE_CAP_MAX`` without a cap, where the golden model's
    unbounded counter is never read) and 0 otherwise.
    """
    diff = Signal(signed(len(yb) + 1))
    m.d.comb += diff.eq(yb - yb_m)
    within = (abs(diff) << nx.THETA_FRAC) <= theta * abs(yb_m)
    reuse = Signal()
    m.d.comb += reuse.eq(~step0 & ((cap == 0) | (run < cap)) & within)
    run_next = Signal(unsigned(nx.REUSE_CAP_BITS))
    m.d.comb += run_next.eq(Mux(reuse, Mux(run == nx.REUSE_CAP_MAX, nx.REUSE_CAP_MAX, run + 1), 0))
    return reuse, run_next


class DecisionHarness(_Harness):
    """The decision unit equals :func:`reuse_rule` on every input, ``LATENCY`` cycles later.

    The unit is a pipeline without reset behaviour of its own, so the reset stays low.

    Parameters
    ----------
    yb_bits : int
        Width of ``yb`` and ``yb_m``.
    """

    MUTATIONS = {"theta_off_by_one": "the unit sees THETA - 1 (a threshold register off by one)"}

    def __init__(self, yb_bits: int = 8, mutation: str | None = None):
        super().__init__(mutation)
        self.yb_bits = yb_bits

    def elaborate(self, platform):
        m = Module()
        obs = self._reset(m)
        m.d.comb += Assume(~self.rst)
        m.submodules.dut = dut = DecisionUnit(self.yb_bits)
        inputs = {"yb": signed(self.yb_bits), "yb_m": signed(self.yb_bits), "run": unsigned(nx.REUSE_CAP_BITS),
                  "step0": unsigned(1), "theta": unsigned(nx.THETA_BITS), "cap": unsigned(nx.REUSE_CAP_BITS),
                  "in_valid": unsigned(1)}
        free = {name: self.free(shape, name) for name, shape in inputs.items()}
        seen = dict(free)
        if self.mutation == "theta_off_by_one":
            seen["theta"] = free["theta"] - 1
        for name, value in seen.items():
            m.d.comb += getattr(dut, name).eq(value)
        reuse, run_next = reuse_rule(m, free["yb"], free["yb_m"], free["run"], free["step0"], free["theta"],
                                     free["cap"])
        # The expected results, delayed as the unit's pipeline delays its own.
        exp = [(reuse, run_next, free["in_valid"])]
        for i in range(DecisionUnit.LATENCY):
            r, n, v = Signal(name=f"f_reuse{i}"), Signal(unsigned(nx.REUSE_CAP_BITS), name=f"f_run{i}"), \
                Signal(name=f"f_valid{i}")
            m.d.formal += [r.eq(exp[-1][0]), n.eq(exp[-1][1]), v.eq(exp[-1][2])]
            exp.append((r, n, v))
        filled = Signal(range(DecisionUnit.LATENCY + 1), name="f_filled")
        with m.If(filled < DecisionUnit.LATENCY):
            m.d.formal += filled.eq(filled + 1)
        want_reuse, want_run, want_valid = exp[-1]
        ready = filled == DecisionUnit.LATENCY
        m.d.comb += [
            Assert(~ready | (dut.out_valid == want_valid), "out_valid_follows_in_valid"),
            Assert(~ready | ~want_valid | (dut.reuse == want_reuse), "reuse_is_the_golden_rule"),
            Assert(~ready | ~want_valid | (dut.run_next == want_run), "run_next_is_the_golden_rule"),
            Cover(ready & want_valid & dut.reuse & (free["cap"] != 0)),
        ]
        return m


class TopHarness(_Harness):
    """The accelerator's ports, each with its protocol, around one small layout.

    The environment follows AXI (held valids, quiet in reset) and never sets
    CTRL.SOFT_RESET: a soft reset aborts the streams mid-frame by design (documented in
    :mod:`memornn.hw.top`), which the stream rules do not allow. Everything else (every
    register write, every weight load, any back-pressure) is free.

    Rules: :func:`rules.axil_slave_rules` (2 requests in flight at most), the output and
    trace streams as AXI4-Stream masters (TDATA, TKEEP, TLAST stable while stalled), and
    no input beat lost: a sequence accepted with ``n <= max_seq_len`` steps comes out as
    exactly ``n * out_words`` output beats and ``layer_dirs * n * trace_words + counters``
    trace words, TLAST on the last of each, one sequence at a time; a longer one is
    dropped with no output. The end-to-end part needs a depth above a sequence's latency.
    Inside, what the components' own proofs assume of each other (:meth:`_composition_rules`):
    an output frame only in the sequencer's output phase, no trace word dropped, no work
    item refused.

    Parameters
    ----------
    layout : Layout
        A small layout (the whole core is in the proof).
    row_fifo_depth, counter_bits : int
        As :class:`~memornn.hw.top.Accelerator`.
    """

    MUTATIONS = {
        "tvalid_drops": "m_axis_tvalid falls while m_axis_tready is low (a free input chooses when)",
        "beat_lost": "an input beat is acknowledged without reaching the accelerator (a free input chooses which)",
    }

    def __init__(self, layout, row_fifo_depth: int = 2, counter_bits: int = 16, mutation: str | None = None):
        super().__init__(mutation)
        self.layout = layout
        self.row_fifo_depth = row_fifo_depth
        self.counter_bits = counter_bits

    def elaborate(self, platform):
        from ..contract import COUNTER_NAMES, TRACE_WIDTH
        from ..layout import ceil_div
        from ..spec import BuildSpec
        from ..top import CTRL_SOFT_RESET, Accelerator

        m = Module()
        obs = self._reset(m)
        lay = self.layout
        spec = BuildSpec(lay, trace=True, row_fifo_depth=self.row_fifo_depth, counter_bits=self.counter_bits)
        from .components import probe

        dut = Accelerator(spec, None)
        self._composition_rules(m, probe(m, "dut", dut))
        ports = {}
        for path, member in dut.signature.members.flatten():
            name = "_".join(str(p) for p in path)
            sig = getattr(dut, name)
            if member.flow == In:
                ports[name] = self.free(sig.shape(), name)
                m.d.comb += sig.eq(ports[name])
            else:
                ports[name] = sig
        p = SimpleNamespace(**ports)

        # Mutations: faults between the accelerator and its environment.
        m_tvalid, s_tvalid = p.m_axis_tvalid, p.s_axis_tvalid
        if self.mutation == "tvalid_drops":
            glitch = self.free(1, "glitch")
            m_tvalid = Signal()
            m.d.comb += [m_tvalid.eq(p.m_axis_tvalid & ~glitch), dut.m_axis_tready.eq(p.m_axis_tready)]
        elif self.mutation == "beat_lost":
            lose = self.free(1, "lose")
            m.d.comb += dut.s_axis_tvalid.eq(p.s_axis_tvalid & ~lose)
            s_ready = Signal()
            m.d.comb += s_ready.eq(p.s_axis_tready | lose)
        s_ready = s_ready if self.mutation == "beat_lost" else p.s_axis_tready

        bus = _bus(p, AXIL_NAMES, "s_axil_")
        rules.axil_master_assumptions(obs, bus)
        m.d.comb += Assume(~bus.wvalid | ~(bus.wdata[CTRL_SOFT_RESET.bit_length() - 1] & bus.wstrb[0]),
                           "no_soft_reset")
        rules.axil_slave_rules(obs, bus, max_outstanding=2)
        rules.stream_source_assumptions(obs, s_tvalid, s_ready, [p.s_axis_tdata, p.s_axis_tlast], "s_axis")
        rules.stream_master_rules(obs, m_tvalid, p.m_axis_tready, [p.m_axis_tdata, p.m_axis_tkeep, p.m_axis_tlast],
                                  "m_axis")
        rules.stream_master_rules(obs, p.m_axis_trace_tvalid, p.m_axis_trace_tready,
                                  [p.m_axis_trace_tdata, p.m_axis_trace_tlast], "m_axis_trace")

        # No beat lost, end to end.
        steps_bits = max(lay.max_seq_len + 1, 2).bit_length() + 1
        steps = Signal(steps_bits, name="f_in_steps")  # beats of the sequence coming in
        pending = Signal(steps_bits, name="f_pending_steps")  # steps of the accepted sequence (0: none)
        beat_in = s_tvalid & s_ready & ~obs.rst
        with m.If(obs.rst):
            m.d.formal += [steps.eq(0), pending.eq(0)]
        with m.Elif(beat_in):
            with m.If(p.s_axis_tlast):
                m.d.formal += steps.eq(0)
                with m.If(steps + 1 <= lay.max_seq_len):
                    m.d.formal += pending.eq(steps + 1)
                    m.d.comb += Assert(pending == 0, "one_sequence_at_a_time")
            with m.Elif(steps <= lay.max_seq_len):  # held above the limit: the sequence is too long
                m.d.formal += steps.eq(steps + 1)
        trace_words = lay.layer_dirs * ceil_div(lay.rows, TRACE_WIDTH)
        for who, valid, ready, last, per_step, extra in (
                ("m_axis", m_tvalid, p.m_axis_tready, p.m_axis_tlast, lay.out_words, 0),
                ("m_axis_trace", p.m_axis_trace_tvalid, p.m_axis_trace_tready, p.m_axis_trace_tlast, trace_words,
                 len(COUNTER_NAMES))):
            self._frame_length(m, obs, who, valid & ready & ~obs.rst, last, pending, per_step, extra)
        done_h = Signal(name="f_h_done")  # the output frame of the pending sequence is complete
        done_t = Signal(name="f_trace_done")
        for flag, valid, ready, last in ((done_h, m_tvalid, p.m_axis_tready, p.m_axis_tlast),
                                         (done_t, p.m_axis_trace_tvalid, p.m_axis_trace_tready,
                                          p.m_axis_trace_tlast)):
            with m.If(obs.rst | (beat_in & p.s_axis_tlast)):
                m.d.formal += flag.eq(0)
            with m.Elif(valid & ready & last):
                m.d.formal += flag.eq(1)
        with m.If(~obs.rst & done_h & done_t):
            m.d.formal += [pending.eq(0), done_h.eq(0), done_t.eq(0)]
        m.d.comb += Cover(done_h & done_t)
        return m

    @staticmethod
    def _composition_rules(m, s):
        """What the components' own proofs (:mod:`.components`) assume of their neighbours,
        asserted inside the composed accelerator."""
        from .components import in_state  # components builds on this module

        core = "core."
        streaming = ~in_state(s[core + "output_streamer.out_state"], "IDLE")
        m.d.comb += [
            Assert(~streaming | in_state(s[core + "sequencer.seq_state"], "OUT"), "output_frame_within_out_phase"),
            Assert(~s[core + "trace_emitter.w_en"] | s[core + "trace_emitter.fifo.w_rdy"], "trace_word_never_dropped"),
            Assert(~s[core + "work_queue.w_en"] | s[core + "work_queue.fifo.w_rdy"], "work_item_never_refused"),
            Cover(s[core + "work_queue.w_en"]), Cover(s[core + "trace_emitter.w_en"]), Cover(streaming),
        ]

    @staticmethod
    def _frame_length(m, obs, who, beat, last, pending, per_step, extra):
        """Beats of a frame: ``pending * per_step + extra``, TLAST on the last only."""
        sent = Signal(16, name=f"f_{who}_sent")
        want = pending * per_step + extra
        with m.If(obs.rst):
            m.d.formal += sent.eq(0)
        with m.Elif(beat):
            m.d.formal += sent.eq(Mux(last, 0, sent + 1))
        m.d.comb += [
            Assert(~beat | (pending != 0), f"{who}_only_for_an_accepted_sequence"),
            Assert(~beat | (sent + 1 <= want), f"{who}_no_extra_beat"),
            Assert(~beat | (last == (sent + 1 == want)), f"{who}_tlast_on_the_last_beat"),
        ]
