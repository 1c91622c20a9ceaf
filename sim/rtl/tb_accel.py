"""cocotb tests of the accelerator's AXI top level, each driven by a job file.

The simulator imports this module (``COCOTB_TEST_MODULES``); one run executes one test,
chosen by name. The job (:mod:`~memornn.sim.rtl.job`) comes from the file named by
``$MEMORNN_RTL_JOB`` and the observations go to ``$MEMORNN_RTL_OBS``, written also when
the test fails, so the caller can always compare what the hardware did with the golden
model.

Tests on ``memornn_accel`` drive its ports with cocotbext-axi: ``AxiStreamSource`` on
``s_axis``, ``AxiStreamSink`` on ``m_axis`` and ``m_axis_trace`` (a sequence is one
frame on each, ``tlast`` on its last beat), ``AxiLiteMaster`` on ``s_axil``. The input
has random gaps and both outputs random back-pressure (pause generators seeded from the
job). :func:`run_job` runs the job's runs in order; each scenario test exercises one
behaviour on top of that. :func:`stream_job` runs a job on the ``memornn_tb`` wrapper,
where the throttling is in the HDL and Python only wakes up once per beat.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import time
import warnings
from dataclasses import dataclass

import cocotb
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, Edge, FallingEdge, RisingEdge, SimTimeoutError, with_timeout
from cocotbext.axi import (AxiLiteBus, AxiLiteMaster, AxiResp, AxiStreamBus, AxiStreamFrame, AxiStreamSink,
                           AxiStreamSource)

from ...hw import contract as T
from ..trace import steps_from_words
from .build import JOB_ENV, OBS_ENV
from .job import Job, Run, load_job
from .scoreboard import Scoreboard

# cocotbext-axi 0.1.28 still uses cocotb 1.x calls that cocotb 2.1 deprecates
# (setimmediatevalue, Task.kill, Edge); they work, and the warnings are not ours.
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"cocotbext\.axi\..*")

PERIOD_NS = 10
RESET_CYCLES = 5
WRITE_WINDOW = 64  # AXI4-Lite writes in flight at once while loading


class TestbenchError(AssertionError):
    """The design did something the test forbids (the message says what)."""


def _pauses(rng: random.Random, probability: float):
    """An endless pause pattern: each cycle paused with ``probability``."""
    while True:
        yield rng.random() < probability


@dataclass
class Received:
    """One sequence as the hardware sent it."""

    h: list
    trace: list
    registers: dict | None = None

    def to_dict(self) -> dict:
        return {"h": self.h, "trace": self.trace, "registers": self.registers}


class Bench:
    """Clock, reset, bus functional models, scoreboard and observations of one test.

    Parameters
    ----------
    dut : cocotb handle
        ``memornn_accel`` (``streams=True``) or ``memornn_tb``.
    job : Job
    streams : bool
        Attach cocotbext-axi stream models to the AXI4-Stream ports.
    """

    def __init__(self, dut, job: Job, streams: bool = True):
        self.dut = dut
        self.job = job
        self.rng = random.Random(job.seed)
        self.x_bytes = job.layout["x_bytes"]
        self.h_bytes = job.layout["h_bytes"]
        self.scoreboard = Scoreboard(skip=job.layout.get("skip", "memo"))
        self.observed: list[list[Received]] = []
        self.waiting_for = "the start"
        self.notes: dict = {}
        # The models log every frame and register access at INFO: far too much here.
        logging.getLogger(f"cocotb.{dut._name}").setLevel(logging.WARNING)
        Clock(dut.clk, PERIOD_NS, unit="ns").start()
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        self.streams = streams
        if streams:
            self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, dut.rst)
            self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst)
            self.trace = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis_trace"), dut.clk, dut.rst)
            self.throttle()

    # ------------------------------------------------------------------ streams
    def throttle(self, inputs: bool = True, outputs: bool = True) -> None:
        """(Re)start the random gaps and back-pressure of the job's ``pauses``."""
        pauses = self.job.pauses
        for model, key, on in ((self.source, "in", inputs), (self.sink, "out", outputs),
                               (self.trace, "trace", outputs)):
            if on and pauses.get(key, 0) > 0:
                model.set_pause_generator(_pauses(random.Random(self.rng.getrandbits(64)), pauses[key]))
            else:
                model.clear_pause_generator()
                model.pause = False

    def frame(self, beats: list[int]) -> AxiStreamFrame:
        return AxiStreamFrame(b"".join(b.to_bytes(self.x_bytes, "little") for b in beats))

    async def receive(self) -> Received:
        """The next sequence's output frame and trace frame."""
        frame = await self.sink.recv()
        h = [int.from_bytes(frame.tdata[i:i + self.h_bytes], "little")
             for i in range(0, len(frame.tdata), self.h_bytes)]
        words = await self.trace.recv()
        trace = [int.from_bytes(words.tdata[i:i + 4], "little") for i in range(0, len(words.tdata), 4)]
        return Received(h, trace)

    def flush_streams(self) -> None:
        """Forget partial and queued frames (after a reset of the design)."""
        for model in (self.source, self.sink, self.trace):
            model.assert_reset()
            model.clear()

    # ------------------------------------------------------------------ registers
    async def write(self, addr: int, value: int) -> None:
        resp = await self.axil.write(addr, value.to_bytes(4, "little"))
        if resp.resp != AxiResp.OKAY:
            raise TestbenchError(f"write of {value:#x} to {addr:#04x} answered {resp.resp.name}")

    async def write_resp(self, addr: int, value: int) -> AxiResp:
        """A write whose response is the test's to judge."""
        return (await self.axil.write(addr, value.to_bytes(4, "little"))).resp

    async def read(self, addr: int) -> int:
        resp = await self.axil.read(addr, 4)
        if resp.resp != AxiResp.OKAY:
            raise TestbenchError(f"read of {addr:#04x} answered {resp.resp.name}")
        return int.from_bytes(resp.data, "little")

    async def write_many(self, writes) -> None:
        """Writes in order, several in flight (the load port takes one word per write).

        Tasks started together enter the master's command queue in the order started.
        """
        for start in range(0, len(writes), WRITE_WINDOW):
            chunk = writes[start:start + WRITE_WINDOW]
            tasks = [cocotb.start_soon(self.axil.write(addr, int(value).to_bytes(4, "little")))
                     for addr, value in chunk]
            for (addr, value), task in zip(chunk, tasks):
                resp = await task
                if resp.resp != AxiResp.OKAY:
                    raise TestbenchError(f"write of {value:#x} to {addr:#04x} answered {resp.resp.name}")

    async def counters(self) -> dict:
        values = {}
        skip = self.job.layout.get("skip", "memo")
        for name in T.counter_names(skip):
            lo = await self.read(T.counter_offset(name, skip=skip))
            values[name] = lo | await self.read(T.counter_offset(name, hi=True, skip=skip)) << 32
        return values

    async def wait_idle(self, what: str = "BUSY to clear") -> None:
        self.waiting_for = what
        while await self.read(T.STATUS) & T.STATUS_BUSY:
            await ClockCycles(self.dut.clk, 8)

    # ------------------------------------------------------------------ test steps
    async def reset(self) -> None:
        self.waiting_for = "reset"
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, RESET_CYCLES)
        self.dut.rst.value = 0
        await ClockCycles(self.dut.clk, 2)

    async def check_identity(self) -> None:
        """ID and the build-time registers read what the job's layout says."""
        if await self.read(T.ID) != T.ID_VALUE:
            raise TestbenchError(f"ID register does not read {T.ID_VALUE:#010x}: wrong design?")
        for offset, value in self.job.layout["registers"].items():
            got = await self.read(int(offset))
            if got != value:
                raise TestbenchError(f"register {int(offset):#04x} reads {got:#x}, the job expects {value:#x}")

    async def configure(self, run: Run) -> None:
        """Load the run's model (RUN cleared, BUSY waited out) and write its settings."""
        ctrl = T.CTRL_PREDICTOR if run.predictor else 0
        if run.load:
            await self.write(T.CTRL, ctrl)
            await self.wait_idle("BUSY to clear before a load")
            self.waiting_for = "the weight load"
            await self.write_many(run.load)
            status = await self.read(T.STATUS)
            if status & T.STATUS_ERR_LOAD_BUSY:
                raise TestbenchError("STATUS.ERR_LOAD_BUSY after a load while idle")
        for k, theta in enumerate(run.thetas):
            await self.write(T.theta_offset(k), theta)
        await self.write(T.REUSE_CAP, run.reuse_cap)
        await self.write(T.CTRL, ctrl | T.CTRL_RUN)
        for k, theta in enumerate(run.thetas):
            if await self.read(T.theta_offset(k)) != theta:
                raise TestbenchError(f"THETA{k} does not read back {theta:#x}")
        if await self.read(T.CTRL) != ctrl | T.CTRL_RUN:
            raise TestbenchError(f"CTRL does not read back {ctrl | T.CTRL_RUN:#x}")

    def check(self, run_index: int, seq_index: int, run: Run, got: Received) -> None:
        seq = run.sequences[seq_index]
        self.scoreboard.check(f"run {run_index} sequence {seq_index}", seq.h, seq.trace, got.h, got.trace)
        if got.registers is not None:
            names = T.counter_names(self.job.layout.get("skip", "memo"))
            words = got.trace[-len(names):]
            for name, word in zip(names, words):
                if got.registers[name] & 0xFFFF_FFFF != word:
                    self.scoreboard.report(f"run {run_index} sequence {seq_index}: register {name.upper()}_LO = "
                                            f"{got.registers[name]:#x}, trace word {word:#x}")

    async def one_sequence(self, run_index: int, seq_index: int, run: Run) -> Received:
        """Send one sequence, receive it, read the counter registers and SEQ_DONE."""
        done = await self.read(T.SEQ_DONE)
        await self.source.send(self.frame(run.sequences[seq_index].beats))
        self.waiting_for = f"run {run_index} sequence {seq_index}"
        got = await self.receive()
        for _ in range(200):
            if await self.read(T.SEQ_DONE) == (done + 1) & 0xFFFF_FFFF:
                break
        else:
            raise TestbenchError(f"SEQ_DONE did not advance after run {run_index} sequence {seq_index}")
        got.registers = await self.counters()
        return got

    async def run(self, run_index: int, run: Run) -> list[Received]:
        """Configure and run one run (one sequence at a time, or all back to back)."""
        await self.configure(run)
        received: list[Received] = []
        self.observed.append(received)
        cycle0, wall0, cpu0 = get_sim_time("ns") // PERIOD_NS, time.monotonic(), time.process_time()
        if run.back_to_back:
            for seq in run.sequences:
                await self.source.send(self.frame(seq.beats))
            for i in range(len(run.sequences)):
                self.waiting_for = f"run {run_index} sequence {i} (back to back)"
                received.append(await self.receive())
                self.check(run_index, i, run, received[-1])
        else:
            for i in range(len(run.sequences)):
                received.append(await self.one_sequence(run_index, i, run))
                self.check(run_index, i, run, received[-1])
        self.notes.setdefault("runs", []).append({"cycles": int(get_sim_time("ns") // PERIOD_NS - cycle0),
                                                  "wall_seconds": time.monotonic() - wall0,
                                                  "cpu_seconds": time.process_time() - cpu0})
        return received

    async def nothing_more(self, cycles: int = 300) -> None:
        """No frame, beat or busy core left over: nothing duplicated, nothing pending."""
        self.waiting_for = "the streams to fall quiet"
        await ClockCycles(self.dut.clk, cycles)
        if not self.sink.empty() or not self.trace.empty() or self.sink.active or self.trace.active:
            raise TestbenchError("extra output or trace beats after the last sequence")
        if await self.read(T.STATUS) & T.STATUS_BUSY:
            raise TestbenchError("STATUS.BUSY still set after the last sequence")

    # ------------------------------------------------------------------ the test frame
    async def execute(self, body) -> None:
        """Run ``body`` under the job's cycle budget; always write the observations."""
        start = time.monotonic()
        error = None
        try:
            await with_timeout(body(), self.job.scenario.get("timeout_cycles", 2_000_000) * PERIOD_NS, "ns")
        except SimTimeoutError:
            error = f"timed out waiting for {self.waiting_for}"
        except TestbenchError as exc:
            error = str(exc)
        if error is None and self.scoreboard.count:
            error = f"{self.scoreboard.count} mismatches; first: {self.scoreboard.messages[0]}"
        observations = {
            "runs": [{"sequences": [r.to_dict() for r in run]} for run in self.observed],
            "mismatches": self.scoreboard.messages, "mismatch_count": self.scoreboard.count,
            "checked": self.scoreboard.checked, "error": error,
            "sim_cycles": int(get_sim_time("ns") // PERIOD_NS), "wall_seconds": time.monotonic() - start,
            "notes": self.notes,
        }
        with open(os.environ[OBS_ENV], "w") as f:
            json.dump(observations, f)
        if error:
            raise TestbenchError(error)


def _bench(dut, streams: bool = True) -> Bench:
    return Bench(dut, load_job(os.environ[JOB_ENV]), streams)


async def _start(bench: Bench) -> None:
    await bench.reset()
    await bench.check_identity()


# ---------------------------------------------------------------------- tests

def job_test(scenario):
    """A cocotb test running ``await scenario(bench)`` on the job after the reset and the
    identity check, under the job's cycle budget (:meth:`Bench.execute`)."""

    @functools.wraps(scenario)
    async def test(dut):
        bench = _bench(dut)

        async def body():
            await _start(bench)
            await scenario(bench)

        await bench.execute(body)

    return cocotb.test()(test)


async def _run_all(bench) -> None:
    """Every run of the job in order, then check the DUT sends nothing more."""
    for i, run in enumerate(bench.job.runs):
        await bench.run(i, run)
    await bench.nothing_more()


@job_test
async def run_job(bench):
    """Every run of the job in order, checked by the scoreboard."""
    await _run_all(bench)


@job_test
async def threshold_change(bench):
    """Runs that differ only in THETA, rewritten between sequences of one loaded model."""
    thetas = [tuple(run.thetas) for run in bench.job.runs]
    if len(set(thetas)) < 2 or any(run.load for run in bench.job.runs[1:]):
        raise TestbenchError("threshold_change needs runs with different thresholds and one load")
    await _run_all(bench)


@job_test
async def predictor_toggle(bench):
    """CTRL.PREDICTOR switched off and on between sequences."""
    if len({run.predictor for run in bench.job.runs}) < 2:
        raise TestbenchError("predictor_toggle needs runs with and without the predictor")
    await _run_all(bench)


@job_test
async def back_to_back(bench):
    """Sequences offered with no idle cycle between them (no input gaps)."""
    bench.throttle(inputs=False)
    for i, run in enumerate(bench.job.runs):
        if not run.back_to_back:
            raise TestbenchError("back_to_back needs back-to-back runs")
        await bench.run(i, run)
    await bench.nothing_more()


@job_test
async def weight_reload(bench):
    """A second model loaded at run time over the first, then its sequences."""
    if sum(1 for run in bench.job.runs if run.load) < 2:
        raise TestbenchError("weight_reload needs two runs that load")
    await _run_all(bench)


@job_test
async def output_stall(bench):
    """m_axis held off for thousands of cycles while sequences wait: nothing lost or doubled."""
    stall = bench.job.scenario["stall_cycles"]
    run = bench.job.runs[0]
    await bench.configure(run)
    bench.sink.clear_pause_generator()
    bench.sink.pause = True
    for seq in run.sequences:
        await bench.source.send(bench.frame(seq.beats))
    bench.waiting_for = "the first output beat (held)"
    await RisingEdge(bench.dut.m_axis_tvalid)
    await ClockCycles(bench.dut.clk, stall)
    if not bench.sink.empty() or bench.sink.active:
        raise TestbenchError("output beats taken while m_axis_tready was held low")
    if not bench.dut.m_axis_tvalid.value:
        raise TestbenchError("m_axis_tvalid dropped while the output was stalled")
    bench.notes["stalled_cycles"] = stall
    bench.throttle(inputs=False)
    received: list[Received] = []
    bench.observed.append(received)
    for i in range(len(run.sequences)):
        bench.waiting_for = f"sequence {i} after the stall"
        received.append(await bench.receive())
        bench.check(0, i, run, received[-1])
    await bench.nothing_more()


@job_test
async def max_seq_len(bench):
    """A sequence one step too long is dropped with ERR_TOO_LONG; one of max_seq_len steps runs."""
    run = bench.job.runs[0]
    await bench.configure(run)
    too_long = bench.job.scenario["too_long"]
    await bench.source.send(bench.frame(too_long))
    bench.waiting_for = "the too-long sequence to be taken"
    await bench.source.wait()
    for _ in range(200):
        if await bench.read(T.STATUS) & T.STATUS_ERR_TOO_LONG:
            break
    else:
        raise TestbenchError("STATUS.ERR_TOO_LONG not set by a sequence longer than MAX_SEQ_LEN")
    await ClockCycles(bench.dut.clk, 100)
    if not bench.sink.empty() or bench.sink.active or not bench.trace.empty() or bench.trace.active:
        raise TestbenchError("a dropped sequence produced output")
    if await bench.read(T.SEQ_DONE) != 0:
        raise TestbenchError("a dropped sequence counted in SEQ_DONE")
    await bench.write(T.STATUS, T.STATUS_ERR_TOO_LONG)
    if await bench.read(T.STATUS) != 0:
        raise TestbenchError("STATUS.ERR_TOO_LONG did not clear on a write of 1")
    received: list[Received] = []
    bench.observed.append(received)
    for i in range(len(run.sequences)):
        received.append(await bench.one_sequence(0, i, run))
        bench.check(0, i, run, received[-1])
    await bench.nothing_more()


@cocotb.test()
async def reset_mid_sequence(dut):
    """A sequence aborted by SOFT_RESET in each phase (input, compute, output) and by the
    reset pin, each followed by a clean sequence.

    Sequence ``2k`` of the run is aborted in phase ``scenario["aborts"][k]``, sequence
    ``2k+1`` must then come out right. After a soft reset the core is idle, its counters
    read 0 and SEQ_DONE has not moved; after the pin reset the registers are back at
    their reset values (so the run's settings are written again) while the loaded
    weights remain.
    """
    bench = _bench(dut)

    async def abort(phase: str, beats: list[int]) -> None:
        await bench.source.send(bench.frame(beats))
        bench.waiting_for = f"the {phase} phase of an aborted sequence"
        if phase == "input":
            taken = 0
            while taken < 2:
                await RisingEdge(dut.clk)
                taken += int(dut.s_axis_tvalid.value) & int(dut.s_axis_tready.value)
        elif phase in ("compute", "pin"):
            await bench.source.wait()
            await ClockCycles(dut.clk, 5 + bench.rng.randrange(20))
        elif phase == "output":
            bench.sink.clear_pause_generator()
            bench.sink.pause = True
            await RisingEdge(dut.m_axis_tvalid)
            await ClockCycles(dut.clk, 3)
        else:
            raise TestbenchError(f"unknown abort phase {phase!r}")
        # The reset must land in the phase it is meant for.
        input_done = bench.source.idle()
        output_valid = bool(dut.m_axis_tvalid.value)
        expected = {"input": (False, False), "compute": (True, False), "pin": (True, False),
                    "output": (True, True)}[phase]
        if (input_done, output_valid) != expected:
            raise TestbenchError(f"the {phase} abort landed elsewhere (input done {input_done}, output valid "
                                 f"{output_valid})")
        bench.notes.setdefault("aborts", []).append(
            {"phase": phase, "cycle": int(get_sim_time("ns") // PERIOD_NS)})

    async def body():
        await _start(bench)
        run = bench.job.runs[0]
        await bench.configure(run)
        ctrl = T.CTRL_PREDICTOR if run.predictor else 0
        received: list[Received] = []
        bench.observed.append(received)
        for k, phase in enumerate(bench.job.scenario["aborts"]):
            done = await bench.read(T.SEQ_DONE)
            await abort(phase, run.sequences[2 * k].beats)
            if phase == "pin":
                await bench.reset()
                bench.flush_streams()
                bench.throttle()
                await bench.configure(Run([], run.thetas, run.reuse_cap, run.predictor, []))
                done = 0
            else:
                # RUN drops with the reset, so no beat of the aborted frame starts a sequence.
                await bench.write(T.CTRL, ctrl | T.CTRL_SOFT_RESET)
                bench.flush_streams()
                bench.throttle()
                await ClockCycles(dut.clk, 20)
                if await bench.read(T.STATUS) & T.STATUS_BUSY:
                    raise TestbenchError(f"BUSY after a soft reset in the {phase} phase")
                if any((await bench.counters()).values()):
                    raise TestbenchError(f"counters not 0 after a soft reset in the {phase} phase")
                if await bench.read(T.CTRL) != ctrl:
                    raise TestbenchError("SOFT_RESET does not read 0")
                await bench.write(T.CTRL, ctrl | T.CTRL_RUN)
            if not bench.sink.empty() or not bench.trace.empty():
                raise TestbenchError(f"frames left after the reset in the {phase} phase")
            if await bench.read(T.SEQ_DONE) != done:
                raise TestbenchError(f"SEQ_DONE moved for a sequence aborted in the {phase} phase")
            received.append(Received([], []))  # the aborted sequence: nothing to check
            received.append(await bench.one_sequence(0, 2 * k + 1, run))
            bench.check(0, 2 * k + 1, run, received[-1])
        await bench.nothing_more()

    await bench.execute(body)


@cocotb.test()
async def stream_job(dut):
    """Every run on the ``memornn_tb`` wrapper: sequences back to back, throttled by its LFSR."""
    bench = _bench(dut, streams=False)
    pauses = bench.job.pauses

    async def send(beats_list):
        count = int(dut.x_count.value)  # beats taken so far (earlier runs included)
        for beats in beats_list:
            for t, beat in enumerate(beats):
                dut.x_data.value = beat
                dut.x_last.value = int(t == len(beats) - 1)
                dut.x_valid.value = 1
                count += 1
                while int(dut.x_count.value) < count:
                    await Edge(dut.x_count)
        dut.x_valid.value = 0

    async def collect(count_sig, data_sig, last_sig, store: list, total: int):
        seen = int(count_sig.value)
        while len(store) < total:
            await Edge(count_sig)
            now = int(count_sig.value)
            if now != seen + 1:
                raise TestbenchError(f"{count_sig._name} jumped from {seen} to {now}: the testbench missed a beat")
            seen = now
            store.append((int(data_sig.value), int(last_sig.value)))

    async def body():
        dut.seed.value = bench.job.seed & 0xFFFF
        for name, key in (("in_gap", "in"), ("out_stall", "out"), ("trace_stall", "trace")):
            getattr(dut, name).value = min(255, round(256 * pauses.get(key, 0)))
        dut.x_valid.value = 0
        await _start(bench)
        for i, run in enumerate(bench.job.runs):
            await bench.configure(run)
            lay = bench.job.layout
            lengths = [len(s.beats) for s in run.sequences]
            t_lengths = [n * lay["trace_words_per_step"] + lay["counters"] for n in lengths]
            out_words = -(-lay["h_bytes"] // lay["lanes"])  # output words a step
            h_lengths = [n * out_words for n in lengths]
            n_h, n_t = sum(h_lengths), sum(t_lengths)
            h_words, t_words = [], []
            cycle0, wall0, cpu0 = int(dut.cycle.value), time.monotonic(), time.process_time()
            bench.waiting_for = f"run {i}"
            sender = cocotb.start_soon(send([s.beats for s in run.sequences]))
            h_task = cocotb.start_soon(collect(dut.h_count, dut.h_data, dut.h_last, h_words, n_h))
            await collect(dut.t_count, dut.t_data, dut.t_last, t_words, n_t)
            await h_task
            await sender
            bench.notes.setdefault("runs", []).append(
                {"cycles": int(dut.cycle.value) - cycle0, "wall_seconds": time.monotonic() - wall0,
                 "cpu_seconds": time.process_time() - cpu0})
            received: list[Received] = []
            bench.observed.append(received)
            for k, (n, n_trace) in enumerate(zip(h_lengths, t_lengths)):
                h, h_words = h_words[:n], h_words[n:]
                tr, t_words = t_words[:n_trace], t_words[n_trace:]
                for what, words in (("output", h), ("trace", tr)):
                    if [last for _, last in words] != [j == len(words) - 1 for j in range(len(words))]:
                        raise TestbenchError(f"run {i} sequence {k}: {what} tlast not on the last beat only")
                steps = steps_from_words([w for w, _ in h], lay["lanes"], lay["h_bytes"])
                received.append(Received(steps, [w for w, _ in tr]))
                bench.check(i, k, run, received[-1])

    await bench.execute(body)


# ---------------------------------------------------------------------- faults (issue 15)

class Handshakes:
    """Cycle numbers of AXI handshakes, sampled mid-cycle (on the falling edge)."""

    def __init__(self, dut):
        self.dut = dut
        self.cycle = 0
        self.events: dict[str, list[int]] = {"s_axis": [], "s_axis_last": [], "aw": [], "w": [], "ar": []}
        self.task = cocotb.start_soon(self._watch())

    async def _watch(self):
        dut = self.dut
        fired = {"s_axis": (dut.s_axis_tvalid, dut.s_axis_tready), "aw": (dut.s_axil_awvalid, dut.s_axil_awready),
                 "w": (dut.s_axil_wvalid, dut.s_axil_wready), "ar": (dut.s_axil_arvalid, dut.s_axil_arready)}
        while True:
            await FallingEdge(dut.clk)
            self.cycle += 1
            for name, (valid, ready) in fired.items():
                if int(valid.value) and int(ready.value):
                    self.events[name].append(self.cycle)
                    if name == "s_axis" and int(dut.s_axis_tlast.value):
                        self.events["s_axis_last"].append(self.cycle)

    def last(self, name: str) -> int | None:
        return self.events[name][-1] if self.events[name] else None


async def _expect(bench: Bench, addr: int, value: int, resp: AxiResp, what: str) -> None:
    got = await bench.write_resp(addr, value)
    if got != resp:
        raise TestbenchError(f"{what}: answered {got.name}, not {resp.name}")


async def _range_fault(bench: Bench, addr: int, value: int, what: str) -> None:
    """A refused LOAD_* write: SLVERR, ERR_LOAD_RANGE set (and cleared by a write of 1)."""
    await _expect(bench, addr, value, AxiResp.SLVERR, what)
    if await bench.read(T.STATUS) != T.STATUS_ERR_LOAD_RANGE:
        raise TestbenchError(f"{what}: STATUS.ERR_LOAD_RANGE not set")
    await bench.write(T.STATUS, T.STATUS_ERR_LOAD_RANGE)


async def _load_faults(bench: Bench, sc: dict) -> None:
    """LOAD_SEL without a memory; LOAD_DATA beyond a memory's depth, written so or walked to."""
    await bench.write(T.LOAD_SEL, 0)
    for sel in sc["no_memory"]:
        await _range_fault(bench, T.LOAD_SEL, sel, f"LOAD_SEL = {sel}")
        if await bench.read(T.LOAD_SEL) != 0:
            raise TestbenchError(f"a refused LOAD_SEL = {sel} changed LOAD_SEL")
    for sel, depth in sc["depths"].items():
        await bench.write(T.LOAD_SEL, int(sel))
        await bench.write(T.LOAD_ADDR, depth)
        await _range_fault(bench, T.LOAD_DATA, 0xDEAD_BEEF, f"LOAD_DATA at {depth} of memory {sel}")
        if await bench.read(T.LOAD_ADDR) != depth:
            raise TestbenchError("a refused LOAD_DATA moved LOAD_ADDR")
    sel, depth, word = sc["walk"]
    await bench.write(T.LOAD_SEL, sel)
    await bench.write(T.LOAD_ADDR, depth - 1)
    await bench.write(T.LOAD_DATA, word)
    await _range_fault(bench, T.LOAD_DATA, 0x1234_5678, "LOAD_DATA past the end")


async def _partial_word(bench: Bench, sc: dict, discard) -> None:
    """A stray first piece, ``discard``, then word 0 of the weights whole: LOAD_ADDR
    advances only on its second piece."""
    await bench.write(T.LOAD_SEL, sc["weights"])
    await bench.write(T.LOAD_ADDR, 0)
    await bench.write(T.LOAD_DATA, 0xA5A5_A5A5)
    await discard()
    for k, piece in enumerate(sc["word0"]):
        await bench.write(T.LOAD_DATA, piece)
        if await bench.read(T.LOAD_ADDR) != (k == len(sc["word0"]) - 1):
            raise TestbenchError(f"a partial LOAD_DATA word survived; LOAD_ADDR after piece {k} is wrong")


async def _held(bench: Bench, run_index: int, seq_index: int, writes, received: list) -> None:
    """A sequence whose output is held while ``writes`` land mid-flight; checked with the
    settings it started with."""
    run = bench.job.runs[run_index]
    bench.sink.pause = True
    await bench.source.send(bench.frame(run.sequences[seq_index].beats))
    await bench.source.wait()
    for addr, value in writes:
        if not await bench.read(T.STATUS) & T.STATUS_BUSY:
            raise TestbenchError("the sequence ended before the mid-flight writes")
        await bench.write(addr, value)
        if await bench.read(addr) != value:
            raise TestbenchError(f"register {addr:#04x} does not read back a mid-flight write at once")
    bench.sink.pause = False
    received.append(await bench.receive())
    bench.check(run_index, seq_index, run, received[-1])


async def _w1c_race(bench: Bench, marks: Handshakes, frame: list[int], delay: int) -> tuple[int, bool]:
    """A too-long frame, and a STATUS write-1-to-clear whose AW/W go out ``delay`` cycles
    after its fourth-last beat. Returns (write cycle - TLAST cycle, ERR_TOO_LONG after)."""
    before = len(marks.events["s_axis"])
    await bench.source.send(bench.frame(frame))
    while len(marks.events["s_axis"]) < before + len(frame) - 4:
        await RisingEdge(bench.dut.clk)
    await ClockCycles(bench.dut.clk, delay)
    await bench.write(T.STATUS, T.STATUS_ERR_TOO_LONG)
    await bench.source.wait()
    wr_en = max(marks.last("aw"), marks.last("w")) + 1  # hw/axil.py: the cycle after both are held
    status = await bench.read(T.STATUS)
    await bench.write(T.STATUS, T.STATUS_ERRORS)
    return wr_en - marks.last("s_axis_last"), bool(status & T.STATUS_ERR_TOO_LONG)


async def _w1c_races(bench: Bench, marks: Handshakes, frame: list[int]) -> None:
    """The clear raced against ERR_TOO_LONG's event: a clear up to its cycle (TLAST taken)
    leaves the bit set, and a later one clears it."""
    results = sorted({await _w1c_race(bench, marks, frame, d) for d in range(12)})
    bench.notes["w1c_races"] = results
    if any(offset <= 0 and not kept for offset, kept in results):
        raise TestbenchError(f"a STATUS clear no later than the error's event lost it: {results}")
    if 0 not in [offset for offset, _ in results] or results[-1][1]:
        raise TestbenchError(f"the races did not cover the event's cycle and a later one: {results}")


async def _read_with_write(bench: Bench, marks: Handshakes, raddr: int, waddr: int, value: int):
    """A read and a write started together; returns (read data, read resp, write resp)."""
    ar0 = len(marks.events["ar"])
    read = cocotb.start_soon(bench.axil.read(raddr, 4))
    write = cocotb.start_soon(bench.axil.write(waddr, value.to_bytes(4, "little")))
    r, w = await read, await write
    if marks.events["ar"][ar0] != marks.events["aw"][-1]:
        raise TestbenchError("the read and the write were not taken in the same cycle")
    return int.from_bytes(r.data, "little"), r.resp, w.resp


async def _simultaneous(bench: Bench, marks: Handshakes) -> None:
    theta = T.theta_offset(0)
    await bench.write(theta, 0x111)
    cases = [(theta, theta, 0x222, (0x111, AxiResp.OKAY, AxiResp.OKAY)),
             (0xFC, T.REUSE_CAP, 7, (0, AxiResp.SLVERR, AxiResp.OKAY)),
             (theta, 0xFC, 1, (0x222, AxiResp.OKAY, AxiResp.SLVERR)),
             (T.STATUS, T.LOAD_SEL, 7, (0, AxiResp.OKAY, AxiResp.SLVERR)),
             (T.STATUS, T.STATUS, T.STATUS_ERR_LOAD_RANGE, (T.STATUS_ERR_LOAD_RANGE, AxiResp.OKAY, AxiResp.OKAY))]
    for raddr, waddr, value, expected in cases:
        got = await _read_with_write(bench, marks, raddr, waddr, value)
        if got != expected:
            raise TestbenchError(f"read {raddr:#04x} with write {waddr:#04x}: {got}, expected {expected}")
    if await bench.read(T.STATUS) != 0 or await bench.read(T.REUSE_CAP) != 7:
        raise TestbenchError("the simultaneous writes did not all land")


async def _pin_reset_outstanding(bench: Bench) -> None:
    """The rst pin while B and R wait for their READY: both withdrawn, registers reset."""
    dut = bench.dut
    await bench.write(T.theta_offset(0), 0x55)
    bench.axil.write_if.b_channel.pause = True
    bench.axil.read_if.r_channel.pause = True
    tasks = [cocotb.start_soon(bench.axil.write(T.REUSE_CAP, (9).to_bytes(4, "little"))),
             cocotb.start_soon(bench.axil.read(T.theta_offset(0), 4))]
    bench.waiting_for = "B and R to be offered"
    while not (int(dut.s_axil_bvalid.value) and int(dut.s_axil_rvalid.value)):
        await RisingEdge(dut.clk)
    await ClockCycles(dut.clk, 3)
    await bench.reset()
    for task in tasks:
        task.cancel()
    bench.axil.write_if.b_channel.pause = False
    bench.axil.read_if.r_channel.pause = False
    if int(dut.s_axil_bvalid.value) or int(dut.s_axil_rvalid.value):
        raise TestbenchError("a response outlived the pin reset")
    for offset, value in bench.job.scenario["reset_values"].items():
        if await bench.read(int(offset)) != value:
            raise TestbenchError(f"register {int(offset):#04x} not at its reset value after the pin reset")


@cocotb.test()
async def faults(dut):
    """Every hardware fault of the register map (``hw/contract.py``), then clean sequences.

    Runs 0 to 2 are one model with three settings; run 0 loads it. In order: LOAD_*
    range faults; partial LOAD_DATA words discarded by a LOAD_SEL write, a soft reset and
    a sequence; a frame with its TLAST missing (merged into the next one: too long); THETA
    and REUSE_CAP, then CTRL.PREDICTOR, written mid-sequence (taking effect at the next);
    the trace stream held off; simultaneous reads and writes; a write-1-to-clear raced
    against its error's event; the rst pin with B and R outstanding. Every sequence is
    checked against the golden model.
    """
    bench = _bench(dut)
    sc = bench.job.scenario
    runs = bench.job.runs

    async def body():
        await _start(bench)
        bench.throttle(inputs=False, outputs=False)  # the test holds the outputs itself
        marks = Handshakes(dut)
        received: list[list[Received]] = [[], [], []]
        bench.observed.extend(received)
        await bench.configure(runs[0])
        await _load_faults(bench, sc)
        ctrl = T.CTRL_PREDICTOR | T.CTRL_RUN
        await _partial_word(bench, sc, lambda: bench.write(T.LOAD_SEL, sc["weights"]))
        await _partial_word(bench, sc, lambda: bench.write(T.CTRL, ctrl | T.CTRL_SOFT_RESET))

        async def a_sequence():
            received[0].append(await bench.one_sequence(0, 0, runs[0]))
            bench.check(0, 0, runs[0], received[0][-1])

        await _partial_word(bench, sc, a_sequence)
        received[0].append(await bench.one_sequence(0, 1, runs[0]))  # word 0 whole again
        bench.check(0, 1, runs[0], received[0][-1])
        # TLAST missing: the frame runs into the next one, too long for MAX_SEQ_LEN.
        await bench.source.send(bench.frame(sc["merged"]))
        await bench.source.wait()
        await ClockCycles(dut.clk, 50)
        if await bench.read(T.STATUS) != T.STATUS_ERR_TOO_LONG or not bench.sink.empty():
            raise TestbenchError("a frame without TLAST did not end as a dropped too-long sequence")
        await bench.write(T.STATUS, T.STATUS_ERR_TOO_LONG)
        settings = [(T.theta_offset(k), theta) for k, theta in enumerate(runs[1].thetas)]
        await _held(bench, 0, 2, settings + [(T.REUSE_CAP, runs[1].reuse_cap)], received[0])
        await _held(bench, 1, 0, [(T.CTRL, T.CTRL_RUN)], received[1])
        await _held(bench, 2, 0, [], received[2])
        # The trace held off with two sequences queued.
        bench.trace.pause = True
        for seq in runs[2].sequences[1:3]:
            await bench.source.send(bench.frame(seq.beats))
        await ClockCycles(dut.clk, sc["stall_cycles"])
        if not bench.trace.empty() or not await bench.read(T.STATUS) & T.STATUS_BUSY:
            raise TestbenchError("the core did not wait for the held trace stream")
        bench.trace.pause = False
        for i in (1, 2):
            received[2].append(await bench.receive())
            bench.check(2, i, runs[2], received[2][-1])
        await _simultaneous(bench, marks)
        await _w1c_races(bench, marks, sc["too_long"])
        await _pin_reset_outstanding(bench)
        await bench.configure(Run([], runs[2].thetas, runs[2].reuse_cap, runs[2].predictor, []))
        received[2].append(await bench.one_sequence(2, 3, runs[2]))
        bench.check(2, 3, runs[2], received[2][-1])
        await bench.nothing_more()

    await bench.execute(body)
