"""Formal harnesses of single components: the stream ends, the work queue, the memo table.

The top-level checks (:class:`~memornn.hw.formal.harness.TopHarness`) need a depth past a
whole sequence before an output beat even exists (56 cycles on the smallest
accelerator), which BMC does not reach in minutes. Each stream end is proven here on its
own instead, with k-induction, so no deep unrolling is needed: the output streamer (the
``o_h`` master), the trace emitter (the ``o_trace`` master) and the sequencer's input FSM
(the ``i_x`` slave), each under the assumptions its neighbours in the core guarantee
(listed per harness); :class:`~memornn.hw.formal.harness.TopHarness` checks the composed
accelerator by BMC.

A k-induction proof needs the design's reachable states described: besides the port
rules, a harness asserts *invariants* tying its own bookkeeping to the component's
registers (read from the elaborated fragment by name, :func:`probe`; the component is not
edited). The invariants are proven too, and a mutation's check leaves them out
(``invariants=False``), so that the port rule naming the fault is the one that fails.
Amaranth's FIFOs add their own invariants when elaborated for the ``formal`` platform.
"""

from __future__ import annotations

from amaranth.hdl import Assert, Assume, Cover, Fragment, Module, Mux, Signal, Value
from amaranth.lib import data

from .harness import _Harness
from . import rules

#: The platform the components are elaborated for: Amaranth's FIFOs then add their invariants.
PLATFORM = "formal"


def probe(m: Module, name: str, component) -> dict:
    """Elaborate ``component`` as submodule ``name`` of ``m``; its registers and wires by name.

    Returns
    -------
    dict
        ``{name: Signal}`` of every signal the fragment (and, as ``sub.name``, its
        subfragments) drives.
    """
    fragment = Fragment.get(component, PLATFORM)
    m.submodules[name] = fragment
    return _driven(fragment, "")


def _driven(fragment, prefix: str) -> dict:
    found = {}
    for statements in fragment.statements.values():
        for statement in statements:
            for sig in statement._lhs_signals():
                found.setdefault(prefix + sig.name, sig)
    for sub, sub_name, *_ in fragment.subfragments:
        if type(sub) is Fragment:
            found.update(_driven(sub, f"{prefix}{sub_name}."))
    return found


def in_state(state: Signal, name: str):
    """``state`` (an FSM's state register) is in the state called ``name``."""
    for code in range(1 << len(state)):
        try:
            if state.decoder(code).split("/")[0] == name:
                return state == code
        except (KeyError, IndexError):
            continue
    raise ValueError(f"{state.name} has no state {name!r}")


def _reset_first(harness, m: Module):
    """The harness's observer; the design is in reset in the first cycle."""
    obs = harness._reset(m)
    m.d.comb += Assume(obs.past_valid | obs.rst, "reset_first")
    return obs


def _frame_open(m: Module, obs, start, done, name: str) -> Signal:
    """High from the cycle after ``start`` to the cycle of ``done`` (a frame in progress)."""
    open_ = Signal(name=f"f_{name}_open")
    with m.If(obs.rst | done):
        m.d.formal += open_.eq(0)
    with m.Elif(start):
        m.d.formal += open_.eq(1)
    return open_


class _ComponentHarness(_Harness):
    """A component of one layout; ``invariants=False`` leaves out the induction's invariants."""

    def __init__(self, layout, mutation: str | None = None, invariants: bool = True):
        super().__init__(mutation)
        self.layout = layout
        self.invariants = invariants


class OutputStreamerHarness(_ComponentHarness):
    """:class:`~memornn.hw.output_streamer.OutputStreamer`, the ``o_h`` AXI4-Stream master.

    Environment (what the core guarantees, checked at the top by BMC): ``start`` only
    between frames; ``seq_last`` held during a frame (the sequencer changes it only while
    taking input); the seq buffer's read port changes its data only when ``rd_en`` is
    high, with any content (a free word).

    Rules: valid held until ready with TDATA, TKEEP and TLAST stable, nothing valid after a
    reset or outside a frame; a frame is exactly ``(seq_last + 1) * out_words`` beats, TLAST
    on the last only, TKEEP all lanes but on a step's last word; ``done`` exactly with the
    last beat's handshake.
    """

    MUTATIONS = {
        "valid_drops": "TVALID falls while TREADY is low (a free input chooses when)",
        "beat_skipped": "the streamer sees TREADY in a cycle the sink did not take the beat (a beat lost)",
    }

    def elaborate(self, platform):
        from ..output_streamer import OutputStreamer

        m = Module()
        obs = _reset_first(self, m)
        lay = self.layout
        dut = OutputStreamer(lay)
        s = probe(m, "dut", dut)
        start, ready = self.free(1, "start"), self.free(1, "o_h_tready")
        seq_last = self.free(dut.seq_last.shape(), "seq_last")
        word = self.free(lay.lanes * 8, "seq_buffer_word")
        rd_data = Signal(lay.lanes * 8, name="f_rd_data")  # the read port's output register
        with m.If(dut.rd_en):
            m.d.formal += rd_data.eq(word)
        m.d.comb += [dut.start.eq(start), dut.seq_last.eq(seq_last), dut.rd_data.eq(rd_data)]
        valid, o = dut.o_h.valid, dut.o_h.payload
        if self.mutation == "valid_drops":
            glitch = self.free(1, "glitch")
            valid = Signal()
            m.d.comb += [valid.eq(dut.o_h.valid & ~(glitch & ~ready)), dut.o_h.ready.eq(ready)]
        elif self.mutation == "beat_skipped":
            glitch = self.free(1, "glitch")
            m.d.comb += dut.o_h.ready.eq(ready | glitch)
        else:
            m.d.comb += dut.o_h.ready.eq(ready)

        beat = valid & ready & ~obs.rst
        frame = _frame_open(m, obs, start, dut.done, "frame")
        m.d.comb += [Assume(~start | ~frame, "start_between_frames"),
                     Assume(~frame | (seq_last == obs.past(seq_last, "seq_last")), "seq_last_held")]
        rules.stream_master_rules(obs, valid, ready, [o.data, o.keep, o.last], "o_h")
        words = lay.out_words
        sent = Signal(range(lay.max_seq_len * words + 1), name="f_o_h_sent")  # beats of this frame
        word_c = Signal(range(words), name="f_o_h_word")  # the beat's word within its step
        with m.If(obs.rst | start):
            m.d.formal += [sent.eq(0), word_c.eq(0)]
        with m.Elif(beat):
            m.d.formal += [sent.eq(sent + 1), word_c.eq(Mux(word_c == words - 1, 0, word_c + 1))]
        want = (seq_last + 1) * words
        last_keep = (1 << (lay.output_size - (words - 1) * lay.lanes)) - 1
        m.d.comb += [
            Assert(~valid | frame, "o_h_only_in_a_frame"),
            Assert(~valid | (sent < want), "o_h_no_extra_beat"),
            Assert(~valid | (o.last == (sent + 1 == want)), "o_h_tlast_on_the_last_beat"),
            Assert(~valid | (o.keep == Mux(word_c == words - 1, last_keep, (1 << lay.lanes) - 1)),
                   "o_h_tkeep_marks_the_values"),
            Assert(dut.done == (dut.o_h.valid & dut.o_h.ready & o.last), "done_with_the_last_beat"),
            Cover(frame & beat & o.last & (seq_last == lay.max_seq_len - 1)),
        ]
        if self.invariants:
            idle, read = in_state(s["out_state"], "IDLE"), in_state(s["out_state"], "READ")
            m.d.comb += [
                Assert(idle == ~frame, "inv_idle_between_frames"),
                Assert(idle | (s["out_t"] <= seq_last), "inv_step_in_range"),
                Assert(idle | (s["out_c"] == word_c), "inv_word_matches"),
                Assert(idle | (s["out_t"] * words + s["out_c"] == sent), "inv_beats_match"),
                Assert(~read | (sent == 0), "inv_nothing_sent_before_the_first_read"),
            ]
        return m


class SequencerInputHarness(_ComponentHarness):
    """The sequencer's input FSM: the ``i_x`` AXI4-Stream slave loses no beat.

    Environment: an AXI4-Stream master (valid held with its payload until ready, quiet in
    reset); the stages' ``*_done`` inputs are free in every cycle.

    Rules (``n``: beats of the sequence accepted so far): every word of an accepted beat
    is written to the seq buffer at ``n * step_words + chunk`` with that chunk of the
    beat's data, before or with its handshake; a beat of a sequence longer than
    ``max_seq_len`` is read and never written; the sequence's last beat starts the
    computation (``clear_counters``) with ``seq_last = n - 1`` held until ``seq_done``,
    or, too long, raises ``error_too_long``; no beat is taken while computing, and the
    output phase (``out_start``, what :class:`OutputStreamerHarness` assumes) starts only
    while computing.
    """

    MUTATIONS = {"beat_lost": "a beat is acknowledged without reaching the sequencer (a free input chooses which)"}

    def elaborate(self, platform):
        from ..sequencer import Sequencer

        m = Module()
        obs = _reset_first(self, m)
        lay = self.layout
        dut = Sequencer(lay, trace=True)
        s = probe(m, "dut", dut)
        for name in ("thetas", "reuse_cap", "predictor", "run", "prep_done", "rows_done", "cell_done", "out_done",
                     "counters_done"):
            port = Value.cast(getattr(dut, name))
            m.d.comb += port.eq(self.free(len(port), name))
        valid, last = self.free(1, "i_x_tvalid"), self.free(1, "i_x_tlast")
        payload = self.free(lay.input_size * 8, "i_x_tdata")
        m.d.comb += [dut.i_x.payload.data.eq(payload), dut.i_x.payload.last.eq(last)]
        ready = dut.i_x.ready
        if self.mutation == "beat_lost":
            lose = self.free(1, "lose")
            m.d.comb += dut.i_x.valid.eq(valid & ~lose)
            ready = Signal()
            m.d.comb += ready.eq(dut.i_x.ready | lose)
        else:
            m.d.comb += dut.i_x.valid.eq(valid)
        rules.stream_source_assumptions(obs, valid, ready, [payload, last], "i_x")
        self._rules(m, obs, dut, s, ready, valid & ready & ~obs.rst, last, payload)
        return m

    def _rules(self, m, obs, dut, s, ready, beat, last, payload):
        lay = self.layout
        top = lay.max_seq_len
        n = Signal(range(top + 2), name="f_beats")  # beats of this sequence (saturates at top + 1)
        chunk = Signal(range(lay.in_words + 1), name="f_chunk")  # words of the beat written
        steps = Signal(range(top + 1), name="f_steps")  # T of the sequence being computed
        computing = _frame_open(m, obs, dut.clear_counters & ~obs.rst, dut.seq_done, "computing")
        write = dut.in_wr_en & ~obs.rst
        with m.If(obs.rst | (beat & last)):
            m.d.formal += [n.eq(0), chunk.eq(0)]
        with m.Elif(beat):
            m.d.formal += [n.eq(Mux(n > top, n, n + 1)), chunk.eq(0)]
        with m.Elif(write):
            m.d.formal += chunk.eq(chunk + 1)
        with m.If(beat & last):
            m.d.formal += steps.eq(n + 1)
        words = data.ArrayLayout(lay.lanes * 8, lay.in_words)
        padded = Signal(words, name="f_beat_words")
        m.d.comb += padded.as_value().eq(payload)
        fits = n < top
        m.d.comb += [
            Assert(~write | (fits & (dut.in_wr_word == n * lay.step_words + chunk)
                             & (dut.in_wr_data == padded[chunk])), "i_x_word_written_at_its_step"),
            Assert(~beat | ~fits | (write & (chunk == lay.in_words - 1)), "i_x_beat_stored"),
            Assert(~ready | ~computing, "i_x_no_beat_while_computing"),
            Assert(dut.clear_counters == (beat & last & fits), "i_x_last_beat_starts_the_sequence"),
            Assert(dut.error_too_long == (beat & last & ~fits), "i_x_too_long_dropped"),
            Assert(~computing | (dut.seq_last == steps - 1), "seq_last_is_the_length"),
            Assert(~dut.out_start | computing, "out_start_only_while_computing"),
            Cover(computing & dut.out_start & (steps == top)),
        ]
        # What the output streamer's proof assumes: one frame a sequence, over before the next.
        out_started = Signal(name="f_out_started")
        out_over = Signal(name="f_out_over")  # out_done seen since out_start
        with m.If(obs.rst | ~computing):
            m.d.formal += [out_started.eq(0), out_over.eq(0)]
        with m.Elif(dut.out_start):
            m.d.formal += out_started.eq(1)
        with m.Elif(out_started & dut.out_done):
            m.d.formal += out_over.eq(1)
        m.d.comb += [Assert(~dut.out_start | ~out_started, "out_start_once_a_sequence"),
                     Assert(~(dut.seq_done & computing) | out_over, "seq_done_only_after_out_done")]
        if self.invariants:
            state = s["seq_state"]
            out, after = in_state(state, "OUT"), in_state(state, "COUNTERS") | in_state(state, "DONE")
            m.d.comb += [Assert(~out | (out_started & ~out_over), "inv_streaming"),
                         Assert(~after | out_over, "inv_streamed"),
                         Assert(~out_over | out_started, "inv_over_once_started"),
                         Assert(~computing | out | after | ~out_started, "inv_not_yet_streaming")]
        if self.invariants:
            self._invariants(m, dut, s, n, chunk, steps, computing)

    def _invariants(self, m, dut, s, n, chunk, steps, computing):
        lay = self.layout
        state = s["seq_state"]
        idle, wait, taking = in_state(state, "IDLE"), in_state(state, "IN_WAIT"), in_state(state, "IN_WRITE")
        top = lay.max_seq_len
        taken = Mux(taking, n + 1, n)  # beats of the sequence counting the one being written
        m.d.comb += [
            Assert((idle | wait | taking) == ~computing, "inv_input_states_iff_not_computing"),
            Assert(~idle | ((n == 0) & (chunk == 0)), "inv_idle_empty"),
            Assert(~wait | ((n >= 1) & (chunk == 0)), "inv_wait_after_a_beat"),
            Assert(~(wait | taking) | (s["too_long"] == (taken > top)), "inv_too_long"),
            Assert(~(wait | taking) | (s["seq_len"] == Mux(taken > top, top, taken)), "inv_seq_len"),
            Assert(~(wait | taking) | (taken > top) | (s["in_addr"] == (taken - 1) * lay.step_words),
                   "inv_in_addr"),
            Assert(~(wait | taking) | (dut.seq_last == s["seq_len"] - 1), "inv_seq_last"),
            Assert(~taking | ((s["in_chunk"] < lay.in_words) & (s["too_long"] | (s["in_chunk"] == chunk))),
                   "inv_chunk"),
            Assert((taken <= top) | (chunk == 0), "inv_nothing_written_when_too_long"),
            Assert(~computing | ((n == 0) & (chunk == 0) & (steps >= 1) & (steps <= top) & (s["seq_len"] == steps)),
                   "inv_computing_length"),
        ]


class TraceEmitterHarness(_Harness):
    """:class:`~memornn.hw.trace_emitter.TraceEmitter`, the ``o_trace`` AXI4-Stream master.

    Environment (the core's row issue and sequencer): a row is issued only while ``room``
    is high, at most ``slack`` rows are issued and not yet decided, rows are decided in
    order (``row`` counts ``0 .. rows - 1`` a step); ``send_counters`` comes only with no
    row in flight at the end of a step and stays high until ``counters_done``.

    Rules: valid held until ready with TDATA and TLAST stable, nothing valid after a reset;
    no word is ever dropped (the FIFO is never written while full, whatever the sink's
    back-pressure); every word taken was written (a count); TLAST only on a sequence's last
    counter word.

    Parameters
    ----------
    rows, slack : int
        As :class:`~memornn.hw.trace_emitter.TraceEmitter` (rows a step, rows in flight).
    """

    MUTATIONS = {
        "valid_drops": "TVALID falls while TREADY is low (a free input chooses when)",
        "room_ignored": "the row issue sees ROOM always high (the back-pressure path cut)",
    }

    def __init__(self, rows: int = 3, slack: int = 2, mutation: str | None = None, invariants: bool = True,
                 tlast_rule: bool = True):
        super().__init__(mutation)
        self.rows, self.slack = rows, slack
        self.invariants, self.tlast_rule = invariants, tlast_rule

    def elaborate(self, platform):
        from ..contract import COUNTER_NAMES
        from ..trace_emitter import TraceEmitter

        m = Module()
        obs = _reset_first(self, m)
        # Counter values of 2 bits: the rules are the same for any value, and the solver is faster.
        dut = TraceEmitter(self.rows, self.slack, counter_bits=2)
        s = probe(m, "dut", dut)
        issue, decided, reuse = self.free(1, "issue"), self.free(1, "decided"), self.free(1, "reuse")
        send, ready = self.free(1, "send_counters"), self.free(1, "o_trace_tready")
        counters = Value.cast(dut.counters)
        m.d.comb += [dut.decided.eq(decided & ~obs.rst), dut.reuse.eq(reuse), dut.send_counters.eq(send),
                     counters.eq(self.free(len(counters), "counters")), dut.o_trace.ready.eq(ready)]
        room = dut.room if self.mutation != "room_ignored" else 1
        valid = dut.o_trace.valid
        if self.mutation == "valid_drops":
            glitch = self.free(1, "glitch")
            valid = Signal()
            m.d.comb += valid.eq(dut.o_trace.valid & ~(glitch & ~ready))
        # The row issue: rows in order, at most `slack` in flight, each issued with room.
        inflight = Signal(range(self.slack + 2), name="f_rows_in_flight")
        row = Signal(range(self.rows), name="f_row")
        with m.If(obs.rst):
            m.d.formal += [inflight.eq(0), row.eq(0)]
        with m.Else():
            m.d.formal += inflight.eq(inflight + issue - decided)
            with m.If(decided):
                m.d.formal += row.eq(Mux(row == self.rows - 1, 0, row + 1))
        m.d.comb += dut.row.eq(row)
        was_sending = obs.after(send & ~dut.counters_done, "sending")
        m.d.comb += [
            Assume(~issue | (room & (inflight < self.slack)), "issue_with_room"),
            Assume(~decided | (inflight > 0), "decide_an_issued_row"),
            Assume(~send | ((inflight == 0) & (row == 0) & ~issue), "counters_between_steps"),
            Assume(~was_sending | send, "counters_held_until_done"),
            Assume(~obs.after(dut.counters_done, "counters_done") | ~send, "counters_once"),
        ]
        rules.stream_master_rules(obs, valid, ready, [dut.o_trace.payload.data, dut.o_trace.payload.last],
                                  "o_trace")
        fifo_write = s["w_en"] & ~obs.rst
        m.d.comb += Assert(~fifo_write | s["fifo.w_rdy"], "no_trace_word_dropped")
        beat = valid & ready & ~obs.rst
        held = Signal(range(dut.DEPTH + 2), name="f_words_held")  # written, not yet taken
        lasts = Signal(range(dut.DEPTH + 2), name="f_lasts_held")  # final counter words held
        with m.If(obs.rst):
            m.d.formal += [held.eq(0), lasts.eq(0)]
        with m.Else():
            m.d.formal += [held.eq(held + (fifo_write & s["fifo.w_rdy"]) - beat),
                           lasts.eq(lasts + (dut.counters_done & ~obs.rst) - (beat & dut.o_trace.payload.last))]
        m.d.comb += [Assert(~valid | (held > 0), "o_trace_only_written_words"),
                     Cover(beat & dut.o_trace.payload.last & (held == len(COUNTER_NAMES)))]
        if self.tlast_rule:  # on the FIFO's contents: BMC only (an induction knows nothing of them)
            m.d.comb += Assert(~(valid & dut.o_trace.payload.last) | (lasts > 0), "o_trace_tlast_only_on_the_counters")
        if self.invariants:
            # Each row in flight may write a word (the room check's margin is 3 words).
            m.d.comb += [Assert(held == s["fifo.level"], "inv_words_held"),
                         Assert(inflight <= self.slack, "inv_in_flight_bounded"),
                         Assert(held + inflight <= dut.DEPTH, "inv_room_for_the_rows_in_flight")]
        return m


class WorkQueueHarness(_Harness):
    """:class:`~memornn.hw.work_queue.WorkQueue`: rows in = rows out, in order, unchanged.

    Environment (the BNN lane and the rows phase): a slot is reserved only while ``room``
    is high; an item is written, or a slot released, only against a reservation held;
    ``clear`` only with no item queued and no reservation held (between phases). The
    consumer's back-pressure is free.

    Rules: an item written against a reservation is always accepted (``w.ready``); the
    read side is an AXI-Stream master (valid held until ready, payload stable); items out
    never exceed items in and ``empty`` says none is queued; and, by tagging, an item the
    solver picks as it goes in comes out as the output at its position with its value: so
    every row comes out once, in order, unchanged (no row lost, none duplicated).

    Parameters
    ----------
    depth : int
        Slots.
    order_rule : bool
        Check the tagged item (its value sits in the FIFO's memory, which an induction
        does not see: BMC only).
    """

    MUTATIONS = {
        "item_dropped": "an item is acknowledged without reaching the FIFO (a free input chooses which)",
        "item_duplicated": "the consumer takes an item the FIFO does not see taken (a free input chooses which)",
    }

    def __init__(self, depth: int = 2, mutation: str | None = None, invariants: bool = True,
                 order_rule: bool = True):
        super().__init__(mutation)
        self.depth = depth
        self.invariants, self.order_rule = invariants, order_rule

    def elaborate(self, platform):
        from ..core import work_item
        from ..work_queue import WorkQueue
        from .checks import tiny_layout

        m = Module()
        obs = _reset_first(self, m)
        item = work_item(tiny_layout())
        dut = WorkQueue(item, self.depth)
        s = probe(m, "dut", dut)
        size = data.Layout.cast(item).size
        w_valid, w_data, r_ready = self.free(1, "w_valid"), self.free(size, "w_payload"), self.free(1, "r_ready")
        reserve, release, clear = self.free(1, "reserve"), self.free(1, "release"), self.free(1, "clear")
        m.d.comb += [dut.reserve.eq(reserve), dut.release.eq(release), dut.clear.eq(clear),
                     Value.cast(dut.w.payload).eq(w_data)]
        w_seen, r_seen = w_valid, r_ready  # what the queue sees of the producer and the consumer
        if self.mutation == "item_dropped":
            w_seen = w_valid & ~self.free(1, "glitch")
        elif self.mutation == "item_duplicated":
            r_seen = r_ready & ~self.free(1, "glitch")
        m.d.comb += [dut.w.valid.eq(w_seen), dut.r.ready.eq(r_seen)]
        r_payload = Value.cast(dut.r.payload)
        into = w_valid & dut.w.ready & ~obs.rst
        out = dut.r.valid & r_ready & ~obs.rst
        queued = obs.counter(into, out, "items_queued")  # items in - items out
        held = Signal(range(self.depth + 2), name="f_reservations_held")
        cleared = Signal(name="f_cleared")
        with m.If(obs.rst):
            m.d.formal += [held.eq(0), cleared.eq(0)]
        with m.Else():
            m.d.formal += held.eq(held + reserve - into - release)
            with m.If(clear):
                m.d.formal += cleared.eq(1)
        m.d.comb += [
            Assume(~reserve | dut.room, "reserve_with_room"),
            Assume(w_valid + release <= held, "write_or_release_a_reservation"),
            Assume(~clear | ((held == 0) & (queued == 0) & ~reserve), "clear_between_phases"),
        ]
        rules.stream_master_rules(obs, dut.r.valid, r_ready, [r_payload], "r")
        m.d.comb += [
            Assert(~w_valid | dut.w.ready, "w_ready_with_a_reservation"),
            Assert(~dut.r.valid | (queued > 0), "r_only_queued_items"),
            Assert(dut.empty == (queued == 0), "empty_iff_no_item"),
            Assert(queued <= self.depth, "at_most_depth_items"),
        ]
        if self.order_rule:
            self._tagged(m, obs, into, out, queued, w_data, r_payload)
        if self.invariants:
            m.d.comb += [
                Assert(queued == s["fifo.level"], "inv_queued_is_the_fifo_level"),
                Assert(cleared | ((s["credits"] == 0) & (held == 0) & (queued == 0)), "inv_no_credit_before_a_clear"),
                Assert(~cleared | (s["credits"] + held + queued == self.depth), "inv_slots_conserved"),
            ]
        return m

    def _tagged(self, m, obs, into, out, queued, w_data, r_payload):
        """The item the solver tags (a free input) going in comes out at its position, unchanged."""
        tag = self.free(1, "tag")
        tracking = Signal(name="f_tracking")
        value = Signal(len(w_data), name="f_tagged_value")
        ahead = Signal(range(self.depth + 1), name="f_items_ahead")  # queued before the tagged one
        with m.If(obs.rst):
            m.d.formal += tracking.eq(0)
        with m.Elif(tracking & out):
            with m.If(ahead == 0):
                m.d.formal += tracking.eq(0)
            with m.Else():
                m.d.formal += ahead.eq(ahead - 1)
        with m.Elif(~tracking & into & tag):
            m.d.formal += [tracking.eq(1), value.eq(w_data), ahead.eq(queued - out)]
        m.d.comb += [
            Assert(~(tracking & out & (ahead == 0)) | (r_payload == value), "tagged_item_out_in_order_unchanged"),
            Assert(~tracking | (ahead < queued), "tagged_item_still_queued"),
            Cover(tracking & out & (ahead == 0) & (queued == self.depth)),
        ]


class MemoTableHarness(_Harness):
    """:class:`~memornn.hw.memo_table.MemoTable`: an entry is valid exactly after its
    neuron's first computation in a sequence, and then holds the last one.

    A neuron the solver picks (a free bank and address, held) has a ghost valid bit:
    cleared when a sequence starts (``seq_start``, free), set when the neuron is computed
    (its entry written). Writes to any entry, reads of any address, sequence starts: all
    free in every cycle.

    Rules: while the ghost bit is set, a read of the neuron's address returns, a cycle
    later, the value of its last computation in this sequence (so no write to another
    neuron or bank disturbs it); before it is set the entry's content is unconstrained
    (a reuse then would read a stale value: that the core computes every neuron at step 0
    is the decision unit's ``step0`` rule, :class:`~memornn.hw.formal.harness.DecisionHarness`).
    The value is in the table's memory, which an induction does not see: BMC. The values
    are ``value_bits`` wide (4 by default: the table never computes on them, and 16-bit
    values make the solver's memory model slow past depth 15).
    """

    MUTATIONS = {"write_lost": "a computation's write does not reach the table (a free input chooses which)"}

    def __init__(self, banks: int = 4, depth: int = 2, value_bits: int = 4, mutation: str | None = None):
        super().__init__(mutation)
        self.banks, self.depth, self.value_bits = banks, depth, value_bits

    def elaborate(self, platform):
        from ..memo_table import MemoTable

        m = Module()
        obs = _reset_first(self, m)
        dut = MemoTable(self.banks, self.depth, self.value_bits)
        probe(m, "dut", dut)
        w_en = self.free(1, "w_en")
        free = {name: self.free(len(getattr(dut, name)), name) for name in ("w_bank", "w_addr", "w_data", "r_addr")}
        m.d.comb += [getattr(dut, name).eq(sig) for name, sig in free.items()]
        m.d.comb += dut.w_en.eq(w_en & ~self.free(1, "glitch") if self.mutation == "write_lost" else w_en)
        seq_start = self.free(1, "seq_start")
        bank, addr = self.free(len(dut.w_bank), "neuron_bank"), self.free(len(dut.w_addr), "neuron_addr")
        m.d.comb += [Assume(bank < self.banks), Assume(addr < self.depth),
                     Assume(~obs.past_valid | ((bank == obs.past(bank, "bank")) & (addr == obs.past(addr, "addr"))),
                            "neuron_fixed")]
        valid, value = Signal(name="f_neuron_valid"), Signal(len(dut.w_data), name="f_neuron_value")
        computed = w_en & (free["w_bank"] == bank) & (free["w_addr"] == addr)
        with m.If(computed):
            m.d.formal += [valid.eq(1), value.eq(free["w_data"])]
        with m.Elif(seq_start):
            m.d.formal += valid.eq(0)
        # The read's data comes a cycle after its address (LATENCY = 1).
        asked = obs.past(valid & (free["r_addr"] == addr) & obs.past_valid, "asked")
        answer = Signal(len(dut.w_data), name="f_neuron_answer")
        m.d.comb += answer.eq(Value.cast(dut.r_data).word_select(bank, len(dut.w_data)))
        m.d.comb += [
            Assert(~asked | (answer == obs.past(value, "value")), "memo_entry_holds_its_last_computation"),
            Cover(asked & obs.past(seq_start, "seq_start")),
        ]
        return m
