"""Runs (:class:`memornn.sim.rtl.job.Run`) to a stimulus, and the harness's results back to
the golden key table.

A *program* is what one harness process does: reset, check the identity registers, then
for each run configure the registers (CTRL without RUN, wait for BUSY to clear, the
load writes, THETA<k>, REUSE_CAP, CTRL with RUN) and send its sequences, back to back
in one stream or one at a time, each followed by reads of its counter registers and
SEQ_DONE. :func:`observations` splits what came back per sequence (checking TLAST and
TKEEP on the way) into the observation dicts of :mod:`memornn.sim.rtl.job`, and
:func:`verdict` compares them with the golden model through
:func:`memornn.sim.compare.first_mismatch`, the same comparison every back end uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...golden.errors import MemornnError
from ...hw import contract  # the register map and counter order (one import to move)
from ...hw.layout import Layout
from ..compare import first_mismatch
from ..rtl.job import Run, layout_info, observed_table, register_mismatch, timeout_cycles
from ..trace import steps_from_words
from .files import Geometry, Results, Stimulus, beat_value



@dataclass
class Program:
    """A stimulus and what each of its reads is for.

    Attributes
    ----------
    layout : Layout
    runs : list of Run
    stimulus : Stimulus
    reads : list of tuple
        In read order: ``("identity", offset, expected)``, ``("counter", run, sequence,
        name, hi)``, ``("seq_done", run, sequence, expected)``, ``("status", expected)``.
    """

    layout: Layout
    runs: list
    stimulus: Stimulus
    reads: list = field(default_factory=list)

    def read(self, addr: int, purpose: tuple) -> None:
        self.stimulus.read(addr)
        self.reads.append(purpose)


def geometry(layout: Layout) -> Geometry:
    """The stimulus header's word counts for ``layout``."""
    return Geometry.of(layout, len(contract.counter_names(layout.skip)), contract.TRACE_WIDTH)


def _configure(program: Program, run: Run) -> None:
    """The register writes of one run (as the cocotb testbench's ``configure``)."""
    stim = program.stimulus
    ctrl = contract.CTRL_PREDICTOR if run.predictor else 0
    if run.load:
        stim.writes([(contract.CTRL, ctrl)])
        stim.wait_idle()
        stim.writes(run.load)
    stim.writes([(contract.theta_offset(k), theta) for k, theta in enumerate(run.thetas)]
                + [(contract.REUSE_CAP, run.reuse_cap), (contract.CTRL, ctrl | contract.CTRL_RUN)])


def build_program(layout: Layout, runs: list, pauses: dict, seed: int, run_pauses: list | None = None) -> Program:
    """The stimulus that runs ``runs`` in order with seeded throttling ``pauses``.

    ``pauses``: probabilities of an idle cycle, ``in``, ``out``, ``trace`` and ``axil``
    (all 0: full speed, as the amaranth back end, so ``cycles`` agree). ``run_pauses``:
    one such dict per run instead, each run reseeded.
    """
    program = Program(layout, runs, Stimulus(geometry(layout)))
    stim = program.stimulus
    stim.throttle(seed, pauses)
    stim.reset()
    for offset, value in [(contract.ID, contract.ID_VALUE)] + [
            (int(k), v) for k, v in layout_info(layout)["registers"].items()]:
        program.read(offset, ("identity", offset, value))
    done = 0
    for r, run in enumerate(runs):
        if run_pauses is not None:
            pauses = run_pauses[r]
            stim.throttle(seed + r + 1, pauses)
        _configure(program, run)
        budget = timeout_cycles(layout, [run], pauses)
        if run.back_to_back:
            stim.stream([s.beats for s in run.sequences], budget)
            done += len(run.sequences)
            continue
        for s, seq in enumerate(run.sequences):
            stim.stream([seq.beats], budget)
            done += 1
            for name in contract.counter_names(layout.skip):
                for hi in (False, True):
                    program.read(contract.counter_offset(name, hi, layout.skip), ("counter", r, s, name, hi))
            program.read(contract.SEQ_DONE, ("seq_done", r, s, done & 0xFFFF_FFFF))
    program.read(contract.STATUS, ("status", 0))
    return program


def _split(layout: Layout, lengths: list, stream, where: str) -> list[dict]:
    """One stream's beats per sequence: ``{"h": steps, "trace": words}``; TLAST and TKEEP checked."""
    g = geometry(layout)
    per_step_keep = [(1 << min(layout.lanes, layout.output_size - j * layout.lanes)) - 1
                     for j in range(g.out_per_step)]
    sequences, b, w = [], 0, 0
    for k, n in enumerate(lengths):
        nb, nw = n * g.out_per_step, n * g.trace_per_step + g.counters
        out, last, keep = stream.out[b:b + nb], stream.out_last[b:b + nb], stream.out_keep[b:b + nb]
        trace, trace_last = stream.trace[w:w + nw], stream.trace_last[w:w + nw]
        if len(last) != nb or len(trace_last) != nw:
            raise MemornnError(f"{where} sequence {k}: {len(last)} output beats and {len(trace_last)} trace words, "
                               f"expected {nb} and {nw}")
        for what, flags in (("output", last), ("trace", trace_last)):
            if [int(f) for f in flags] != [int(i == len(flags) - 1) for i in range(len(flags))]:
                raise MemornnError(f"{where} sequence {k}: {what} TLAST not on the last beat only")
        bad = [i for i in range(nb) if keep[i] != per_step_keep[i % g.out_per_step]]
        if bad:
            raise MemornnError(f"{where} sequence {k}: output beat {bad[0]} has TKEEP {keep[bad[0]]:#x}, expected "
                               f"{per_step_keep[bad[0] % g.out_per_step]:#x}")
        steps = steps_from_words([beat_value(row) for row in out], layout.lanes, layout.output_size)
        sequences.append({"h": steps, "trace": [int(t) for t in trace]})
        b, w = b + nb, w + nw
    if b != len(stream.out_last) or w != len(stream.trace_last):
        raise MemornnError(f"{where}: {len(stream.out_last) - b} output beats and {len(stream.trace_last) - w} trace "
                           f"words more than the sequences make")
    return sequences


def observations(program: Program, results: Results) -> list[dict]:
    """Per run ``{"sequences": [{"h", "trace", "registers"}]}`` (as the cocotb observation files).

    Raises
    ------
    MemornnError
        If a stream is missing or malformed (beat counts, TLAST, TKEEP).
    """
    streams = iter(results.streams)
    runs = []
    for r, run in enumerate(program.runs):
        groups = [run.lengths] if run.back_to_back else [[n] for n in run.lengths]
        sequences = []
        for lengths in groups:
            stream = next(streams, None)
            if stream is None:
                raise MemornnError(f"run {r}: the harness returned {len(results.streams)} streams, fewer than sent")
            sequences += _split(program.layout, lengths, stream, f"run {r}")
        runs.append({"sequences": sequences})
    for purpose, (_, data, _) in zip(program.reads, results.reads):
        if purpose[0] == "counter":
            _, r, s, name, hi = purpose
            registers = runs[r]["sequences"][s].setdefault("registers", {})
            registers[name] = registers.get(name, 0) | data << (32 if hi else 0)
    return runs


def _read_problem(program: Program, results: Results) -> str | None:
    if len(results.reads) != len(program.reads):
        return f"{len(results.reads)} register reads answered of {len(program.reads)}"
    for purpose, (addr, data, resp) in zip(program.reads, results.reads):
        if resp != 0:
            return f"read of {addr:#04x} answered response {resp} (not OKAY)"
        kind = purpose[0]
        if kind == "identity" and data != purpose[2]:
            return f"register {addr:#04x} reads {data:#x}, expected {purpose[2]:#x}"
        if kind == "seq_done" and data != purpose[3]:
            return f"run {purpose[1]} sequence {purpose[2]}: SEQ_DONE reads {data}, expected {purpose[3]}"
        if kind == "status" and data != purpose[1]:
            return f"STATUS reads {data:#x} at the end, expected {purpose[1]:#x}"
    return None


def verdict(program: Program, results: Results, goldens: list) -> str | None:
    """The first way the run went wrong, or ``None`` when it is bit-exact.

    ``goldens``: the golden key table of each run (``None``: not compared). Harness
    errors (a protocol rule broken, a timeout), write responses, the identity registers,
    SEQ_DONE and STATUS, then outputs, reuse bits and counters of every run
    (:func:`memornn.sim.compare.first_mismatch`), then the counter registers against
    the trace's counter words.
    """
    if results.errors:
        return f"the harness stopped: {results.errors[0]}"
    if results.write_errors:
        addr, data, resp = results.write_errors[0]
        return f"write of {data:#x} to {addr:#04x} answered response {resp} (not OKAY)"
    problem = _read_problem(program, results)
    if problem:
        return problem
    try:
        observed = observations(program, results)
    except MemornnError as exc:
        return str(exc)
    for r, (run, golden) in enumerate(zip(program.runs, goldens)):
        if golden is None:
            continue
        try:
            table = observed_table(program.layout, run, observed[r])
        except MemornnError as exc:
            return f"run {r}: {exc}"
        mismatch = first_mismatch(golden, table) or register_mismatch(observed[r], program.layout.skip)
        if mismatch:
            return f"run {r}: {mismatch}"
    return None
