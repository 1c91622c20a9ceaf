"""Simulation speed: simulated clock cycles per second in Verilator (compiled harness and
cocotb), Icarus and amaranth.sim.

The same design for all: the AXI top level (``Accelerator``, trace stream on) of a
one-layer LSTM, X = 40 inputs, H = 64 hidden units, 8 MAC lanes, a 64-bit BNN lane, with
the weights as memory initial contents; sequences of 20 steps back to back, theta 0.3,
one run each. Every run's outputs, reuse bits and counters are checked bit-exact against
the golden model.

- ``verilator``: the compiled C++ harness (:mod:`memornn.sim.compiled`), no Python in
  the per-cycle loop, streams at full speed; ``verilator-throttled``: the same with
  seeded random gaps and back-pressure (in C++). They run ``COMPILED_REPEAT`` times the
  batch (the rate is what compares; a longer run measures it better).
- ``verilator-cocotb`` and ``icarus`` run the Verilog in the ``memornn_tb`` wrapper
  through cocotb: the clock is cocotb's C clock and Python wakes once per stream beat.
  Verilator compiles the model with its default optimization (``-Os``).
- amaranth.sim runs the Amaranth design with async testbenches (a per-cycle collector:
  amaranth.sim has no cheaper way to wait for many beats).
- ``icarus-bfm`` and ``verilator-cocotb-bfm`` run the same job on the bare top with
  cocotbext-axi's bus models and the RTL tests' random gaps and back-pressure, as the
  RTL tests do: the pause generators wake Python at every clock edge (the throttling
  makes the cycle count larger; the rate is what compares).

Counted: the cycles from the first input beat to the last trace word, and the wall time
and the simulator process's CPU time of that stretch (not the build, not the start-up).
The machine is shared (the load average is in the report): wall rates fall with the load,
CPU-time rates much less, so the ratios are given on both. Build times are reported apart.

Writes ``benchmarks/results/sim_speed.json`` and ``sim_speed.md``. Run:
``nice -n 10 .venv/bin/python benchmarks/sim_speed.py`` (``--only verilator`` and the like: just print).
Set ``MEMORNN_RTL_CACHE`` to an empty directory to include the build times.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

from memornn.golden.inputs import make_batch
from memornn.golden.quantize import quantize_model
from memornn.golden.randmodel import random_batch, random_float_model
from memornn.hw.config import HwConfig
from memornn.hw.layout import memory_images
from memornn.sim.compare import first_mismatch
from memornn.sim.compiled.backend import FULL_SPEED as COMPILED_FULL_SPEED
from memornn.sim.compiled.backend import execute
from memornn.sim.compiled.build import compile_harness
from memornn.sim.compiled.program import build_program
from memornn.sim.compiled.program import verdict as compiled_verdict
from memornn.sim.rtl.backend import FULL_SPEED
from memornn.sim.rtl.build import build, run
from memornn.sim.rtl.design import prepare_design, rtl_layout
from memornn.sim.rtl.job import Job, layout_info, make_run, timeout_cycles
from memornn.sim.rtl.verdict import verdict
from memornn.sim.trace import assemble, decode_sequence, steps_from_words, trace_words_per_sequence

RESULTS = Path(__file__).resolve().parent / "results"
X, H, LANES, BNN = 40, 64, 8, 64
SEQUENCES, STEPS = 2, 20
THETA = 0.3
CONFIG = HwConfig(mac_lanes=LANES, bnn_width=BNN, max_seq_len=STEPS, trace=True)
BFM_PAUSES = {"in": 0.3, "out": 0.3, "trace": 0.2}
COMPILED_REPEAT = 20
#: name: (simulator, wrapper); the compiled runs: (simulator, throttling)
RUNS = {"verilator": ("compiled", COMPILED_FULL_SPEED), "verilator-throttled": ("compiled", {**BFM_PAUSES, "axil": 0.2}),
        "verilator-cocotb": ("verilator", True), "icarus": ("icarus", True), "amaranth": ("amaranth", False),
        "verilator-cocotb-bfm": ("verilator", False), "icarus-bfm": ("icarus", False)}
#: The ratios reported: (fast, slow).
RATIOS = (("verilator", "verilator-cocotb"), ("verilator", "verilator-cocotb-bfm"),
          ("verilator-throttled", "verilator-cocotb-bfm"), ("verilator", "amaranth"))


def workload():
    """The quantized model, the batch (all sequences full length) and the layout."""
    model = quantize_model(random_float_model("lstm", 1, False, X, H, seed=1),
                           random_batch(X, sequences=8, max_len=STEPS, seed=1, smooth=0.9))
    batch = random_batch(X, sequences=SEQUENCES, max_len=STEPS, seed=2, smooth=0.9)
    batch.lengths[:] = STEPS
    return model, batch, rtl_layout(model, CONFIG)


def hdl_speed(simulator: str, model, batch, layout, wrapper: bool = True) -> dict:
    """One cocotb run; cycles and seconds of its streaming phase.

    ``wrapper``: the ``memornn_tb`` wrapper at full speed, Python woken once per beat
    (test ``stream_job``); otherwise cocotbext-axi's models on the bare top with the RTL
    tests' random gaps and back-pressure, whose pause generators run at every clock edge
    (test ``run_job``).
    """
    design = prepare_design(layout, CONFIG, images=memory_images(model, layout), wrapper=wrapper)
    built = build(design, simulator, optimize=True)
    run_, golden = make_run(layout, model, batch, THETA, load=False, back_to_back=True)
    pauses = dict(FULL_SPEED) if wrapper else dict(BFM_PAUSES)
    job = Job(layout_info(layout), 1, pauses, [run_], {"timeout_cycles": timeout_cycles(layout, [run_], pauses)})
    test = "stream_job" if wrapper else "run_job"
    with tempfile.TemporaryDirectory(prefix="memornn-speed-") as tmp:
        result = run(built, job.save(Path(tmp) / "job.json"), Path(tmp) / "obs.json", test, seed=1)
    problem = verdict(layout, job, result, [golden])
    if problem:
        raise SystemExit(f"{simulator}: not bit-exact: {problem}")
    phase = result.observations["notes"]["runs"][0]
    return {"cycles": phase["cycles"], "seconds": phase["wall_seconds"], "cpu_seconds": phase["cpu_seconds"],
            "build_seconds": built.seconds, "process_seconds": result.seconds}


def compiled_speed(model, batch, layout, pauses: dict) -> dict:
    """The compiled harness on ``COMPILED_REPEAT`` copies of the batch, back to back."""
    design = prepare_design(layout, CONFIG, images=memory_images(model, layout))
    harness = compile_harness(design.sources, layout, design.top)
    repeated = make_batch(np.concatenate([batch.x] * COMPILED_REPEAT), np.concatenate([batch.lengths] * COMPILED_REPEAT))
    run_, golden = make_run(layout, model, repeated, THETA, load=False, back_to_back=True)
    program = build_program(layout, [run_], pauses, seed=1)
    results, process_seconds = execute(harness, program)
    problem = compiled_verdict(program, results, [golden])
    if problem:
        raise SystemExit(f"compiled verilator: not bit-exact: {problem}")
    stream = results.streams[0]
    return {"cycles": stream.cycles, "seconds": stream.seconds, "cpu_seconds": stream.cpu_seconds,
            "build_seconds": harness.seconds, "process_seconds": process_seconds}


def amaranth_speed(model, batch, layout) -> dict:
    """The same Amaranth design in amaranth.sim; a per-cycle trace collector counts the cycles."""
    from amaranth.sim import Simulator

    from memornn.hw import contract as T
    from memornn.hw.build import build_design
    from memornn.hw.spec import BuildSpec

    run_, golden = make_run(layout, model, batch, THETA, load=False, back_to_back=True)
    dut = build_design(BuildSpec.from_config(layout, CONFIG, trace=True), memory_images(model, layout))
    lengths = run_.lengths
    total_words = sum(trace_words_per_sequence(layout, n) for n in lengths)
    beats_out, words_out = [], []
    state = {"started": False, "cycles": 0}

    async def axil_write(ctx, addr, data):
        for name, value in (("awaddr", addr), ("awvalid", 1), ("wdata", data), ("wstrb", 0xF), ("wvalid", 1),
                            ("bready", 1)):
            ctx.set(getattr(dut, f"s_axil_{name}"), value)
        aw = w = False
        while True:
            _, _, awr, wr, bvalid = await ctx.tick().sample(dut.s_axil_awready, dut.s_axil_wready,
                                                             dut.s_axil_bvalid)
            aw, w = aw or bool(awr), w or bool(wr)
            ctx.set(dut.s_axil_awvalid, not aw)
            ctx.set(dut.s_axil_wvalid, not w)
            if bvalid:
                ctx.set(dut.s_axil_bready, 0)
                return

    async def drive(ctx):
        for k, theta in enumerate(run_.thetas):
            await axil_write(ctx, T.theta_offset(k), theta)
        state["started"] = True
        for seq in run_.sequences:
            for t, beat in enumerate(seq.beats):
                ctx.set(dut.s_axis_tdata, beat)
                ctx.set(dut.s_axis_tlast, t == len(seq.beats) - 1)
                ctx.set(dut.s_axis_tvalid, 1)
                await ctx.tick().until(dut.s_axis_tready)
        ctx.set(dut.s_axis_tvalid, 0)

    async def collect_h(ctx):
        ctx.set(dut.m_axis_tready, 1)
        while len(beats_out) < sum(lengths) * layout.out_words:  # P values a beat, out_words beats a step
            _, _, valid, data = await ctx.tick().sample(dut.m_axis_tvalid, dut.m_axis_tdata)
            if valid:
                beats_out.append(int(data))

    async def collect_trace(ctx):
        ctx.set(dut.m_axis_trace_tready, 1)
        while len(words_out) < total_words:
            _, _, valid, data = await ctx.tick().sample(dut.m_axis_trace_tvalid, dut.m_axis_trace_tdata)
            if state["started"]:
                state["cycles"] += 1
                if state["cycles"] == 1:
                    state["start"], state["cpu_start"] = time.perf_counter(), time.process_time()
            if valid:
                words_out.append(int(data))
        state["end"], state["cpu_end"] = time.perf_counter(), time.process_time()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(drive)
    sim.add_testbench(collect_h)
    sim.add_testbench(collect_trace)
    start = time.perf_counter()
    sim.run()
    process = time.perf_counter() - start
    per_sequence, b, w = [], 0, 0
    for n in lengths:
        words = trace_words_per_sequence(layout, n)
        steps = steps_from_words(beats_out[b:b + n * layout.out_words], layout.lanes, layout.output_size)
        per_sequence.append(decode_sequence(layout, n, steps, words_out[w:w + words]))
        b, w = b + n * layout.out_words, w + words
    problem = first_mismatch(golden, assemble(layout, np.asarray(lengths), per_sequence))
    if problem:
        raise SystemExit(f"amaranth: not bit-exact: {problem}")
    return {"cycles": state["cycles"], "seconds": state["end"] - state["start"],
            "cpu_seconds": state["cpu_end"] - state["cpu_start"], "build_seconds": None, "process_seconds": process}


HOW = {"verilator": "compiled C++ harness (no Python per cycle), full speed",
       "verilator-throttled": "compiled C++ harness, seeded random gaps and back-pressure in C++",
       "verilator-cocotb": "cocotb + wrapper: Python once per beat; -Os",
       "icarus": "cocotb + wrapper: Python once per beat",
       "amaranth": "amaranth.sim: async testbenches, a collector every cycle",
       "verilator-cocotb-bfm": "cocotb + cocotbext-axi models, random pauses: Python every cycle; -Os",
       "icarus-bfm": "cocotb + cocotbext-axi models, random pauses: Python every cycle"}


def ratios(runs: dict) -> list[dict]:
    """Speed ratios of :data:`RATIOS` (those both measured), on CPU time and on wall time."""
    out = []
    for fast, slow in RATIOS:
        if fast in runs and slow in runs:
            out.append({"fast": fast, "slow": slow,
                        "cpu": runs[fast]["cycles_per_cpu_second"] / runs[slow]["cycles_per_cpu_second"],
                        "wall": runs[fast]["cycles_per_second"] / runs[slow]["cycles_per_second"]})
    return out


def markdown(report: dict) -> str:
    w, m = report["workload"], report["machine"]
    lines = [
        "# Simulation speed: Verilator (compiled harness, cocotb), Icarus, amaranth.sim",
        "",
        f"Design: the AXI top of a 1-layer LSTM, X = {w['input_size']}, H = {w['hidden_size']}, "
        f"{w['mac_lanes']} MAC lanes, {w['bnn_width']}-bit BNN lane, trace on, weights as memory init. "
        f"Work: {w['sequences']} sequences x {w['steps']} steps back to back ({w['compiled_repeat']} times that "
        f"for the compiled harness), theta {w['theta']}; every run bit-exact with the golden model. One run each; "
        f"cycles, wall time and the simulator process's CPU time of the streaming phase (first input beat to last "
        f"trace word). {m['cpus']} CPUs shared with other jobs: 1-minute load average {m['load_before']:.1f} before "
        f"and {m['load_after']:.1f} after the runs, so wall rates are low; CPU-time rates are the simulators' own.",
        "",
        "| simulator | cycles | wall s | cycles / wall s | CPU s | cycles / CPU s | build (s) | testbench |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in report["runs"].items():
        built = "-" if r["build_seconds"] is None else f"{r['build_seconds']:.1f}"
        lines.append(f"| {name} | {r['cycles']} | {r['seconds']:.2f} | {r['cycles_per_second']:,.0f} | "
                     f"{r['cpu_seconds']:.2f} | {r['cycles_per_cpu_second']:,.0f} | {built} | {HOW[name]} |")
    lines += ["", "| ratio | on CPU time | on wall time |", "|---|---|---|"]
    lines += [f"| {q['fast']} / {q['slow']} | {q['cpu']:.1f}x | {q['wall']:.1f}x |" for q in report["ratios"]]
    lines += ["", "Build 0.0 s: cached from an earlier run. The -bfm rows run the job the way the cocotb RTL tests "
              "do, with random gaps and back-pressure from cocotbext-axi pause generators that wake Python at every "
              "clock edge (more cycles; compare the rates); verilator-throttled does the same throttling in C++.", ""]
    return "\n".join(lines)


def make_report(runs: dict, load_before: float) -> dict:
    return {
        "workload": {"cell": "lstm", "layers": 1, "input_size": X, "hidden_size": H, "mac_lanes": LANES,
                     "bnn_width": BNN, "sequences": SEQUENCES, "steps": STEPS, "theta": THETA,
                     "compiled_repeat": COMPILED_REPEAT},
        "runs": runs,
        "ratios": ratios(runs),
        "machine": {"cpus": os.cpu_count(), "load_before": load_before, "load_after": os.getloadavg()[0],
                    "python": platform.python_version(),
                    "versions": {p: version(p) for p in ("amaranth", "cocotb", "cocotbext-axi", "verilator")},
                    "icarus": "11"},
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=list(RUNS), action="append",
                        help="run only these (repeatable); prints the numbers, leaves the results files alone")
    args = parser.parse_args(argv)
    model, batch, layout = workload()
    load_before = os.getloadavg()[0]
    runs = {}
    for name in args.only or RUNS:
        print(f"{name} ...", file=sys.stderr, flush=True)
        simulator, option = RUNS[name]
        if simulator == "compiled":
            r = compiled_speed(model, batch, layout, option)
        elif simulator == "amaranth":
            r = amaranth_speed(model, batch, layout)
        else:
            r = hdl_speed(simulator, model, batch, layout, option)
        r["cycles_per_second"] = r["cycles"] / r["seconds"]
        r["cycles_per_cpu_second"] = r["cycles"] / r["cpu_seconds"]
        runs[name] = r
        print(f"{name}: {r['cycles']} cycles in {r['seconds']:.2f} s wall = {r['cycles_per_second']:,.0f} cycles/s, "
              f"{r['cpu_seconds']:.2f} s CPU = {r['cycles_per_cpu_second']:,.0f} cycles/CPU-s", file=sys.stderr)
        if not args.only:  # after every run: a run cut short still leaves what it measured
            report = make_report(runs, load_before)
            RESULTS.mkdir(exist_ok=True)
            (RESULTS / "sim_speed.json").write_text(json.dumps(report, indent=2) + "\n")
            (RESULTS / "sim_speed.md").write_text(markdown(report))
    report = make_report(runs, load_before)
    if args.only:  # a partial run does not replace the results
        print(json.dumps({"runs": report["runs"], "ratios": report["ratios"]}, indent=2))
    return report


if __name__ == "__main__":
    main()
