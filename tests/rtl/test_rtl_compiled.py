"""The compiled simulator (``memornn.sim.compiled``): differential testing at volume, and
proof that its verdict catches a wrong output, reuse bit, counter or stream framing.

The volume test runs random cases (configuration from the compiled designs of
``volume.DESIGNS``, random weights loaded at run time, random sequences, predictor,
thresholds, reuse cap, throttling) against the golden model; its data seed is random per
run (``$MEMORNN_SEED`` replays one) and every failure names it. The functional coverage
table is printed at the end of the session and written to ``build/coverage/``; an empty
bin fails the test.
"""

import copy

import numpy as np
import pytest
from rtl_testlib import VOLUME_REPORTS, data_seed, seed_reported

from memornn.golden.randmodel import random_batch
from memornn.sim.compiled.backend import execute
from memornn.sim.compiled.build import compile_harness, harness_key
from memornn.sim.compiled.files import Stimulus
from memornn.sim.compiled.program import Program, build_program, geometry, verdict
from memornn.sim.compiled.top import harness_top_verilog
from memornn.sim.compiled.volume import DESIGNS, coverage_directory, initial_model, run_volume
from memornn.sim.randmodel import random_qmodel
from memornn.sim.rtl.build import simulator_available
from memornn.sim.rtl.design import prepare_design
from memornn.sim.rtl.job import make_run

pytestmark = [pytest.mark.rtl, pytest.mark.skipif(not simulator_available("verilator"),
                                                  reason="verilator not on PATH")]
THROTTLED = {"in": 0.3, "out": 0.4, "trace": 0.3, "axil": 0.3}


def _volume(cases: int) -> None:
    seed = data_seed()
    with seed_reported(seed):
        report = run_volume(cases, seed)
    path = report.save(coverage_directory())
    VOLUME_REPORTS.append((report, path))
    with seed_reported(seed):
        assert not report.mismatches, f"{len(report.mismatches)} chunks differ; first: {report.mismatches[0]}"
        assert report.cases == cases
        assert not report.empty_bins(), f"coverage bins never hit: {', '.join(report.empty_bins())}"


def test_differential_volume():
    """2,000 random cases on the compiled designs, 0 mismatches, every coverage bin hit."""
    _volume(2_000)


@pytest.mark.slow
def test_differential_volume_long():
    _volume(20_000)


# ---------------------------------------------------------------- catching bugs

@pytest.fixture(scope="module")
def clean_run():
    """A 2-layer bidirectional GRU design (shared datapath) with two runs: a loaded model's
    sequences back to back, then the same model one sequence at a time with the counter
    registers read, all throttled; executed once, bit-exact."""
    design = 1
    spec = DESIGNS[design]
    _, layout = initial_model(design)
    prepared = prepare_design(layout, spec.config)
    harness = compile_harness(prepared.sources, layout, prepared.top)  # as the volume run
    rng = np.random.default_rng(5)
    model = random_qmodel(spec.shape, rng)
    runs, goldens = [], []
    for load, back_to_back in ((True, True), (False, False)):
        batch = random_batch(spec.shape["input_size"], 3, spec.config.max_seq_len, seed=int(rng.integers(99)),
                             smooth=0.9)
        run, golden = make_run(layout, model, batch, 0.6, "bnn", 0, load=load, back_to_back=back_to_back)
        runs.append(run)
        goldens.append(golden)
    program = build_program(layout, runs, THROTTLED, seed=3)
    results, _ = execute(harness, program)
    assert verdict(program, results, goldens) is None
    assert any(g["neurons_reused"].sum() for g in goldens), "no reuse: a reuse-bit flip would test little"
    return harness, program, results, goldens


def _tampered(clean_run, change) -> str | None:
    _, program, results, goldens = clean_run
    results = copy.deepcopy(results)
    change(results)
    return verdict(program, results, goldens)


def test_flipped_output_bit_in_the_harness_is_caught(clean_run):
    """The harness flips bit 0 of output beat 4 as it receives it: the verdict names h_int."""
    harness, program, _, goldens = clean_run
    results, _ = execute(harness, program, flip_output_beat=4)
    problem = verdict(program, results, goldens)
    assert problem is not None and "h_int" in problem and "run 0" in problem


def test_corrupted_output_byte_is_caught(clean_run):
    def change(results):
        results.streams[1].out[0, 0] ^= 0x0000_FF00  # the second int8 of the first beat
    problem = _tampered(clean_run, change)
    assert problem is not None and problem.startswith("run 1: h_int: sequence 0, step 0")


def test_flipped_reuse_bit_is_caught(clean_run):
    def change(results):
        results.streams[0].trace[0] ^= 1 << 2  # layer 0 forward, step 0, neuron 2
    problem = _tampered(clean_run, change)
    assert problem is not None and problem.startswith("run 0: reused_l0: sequence 0, step 0, neuron 2")


def test_corrupted_counter_word_is_caught(clean_run):
    def change(results):
        results.streams[0].trace[-3] += 1  # a counter word of the last sequence
    problem = _tampered(clean_run, change)
    assert problem is not None and "sequence 2" in problem


def test_corrupted_counter_register_is_caught(clean_run):
    _, program, _, _ = clean_run
    index = next(i for i, p in enumerate(program.reads) if p[0] == "counter" and p[3] == "neurons_reused")

    def change(results):
        addr, data, resp = results.reads[index]
        results.reads[index] = (addr, data + 1, resp)
    problem = _tampered(clean_run, change)
    assert problem is not None and "NEURONS_REUSED_LO" in problem


def test_misplaced_tlast_is_caught(clean_run):
    def change(results):
        results.streams[0].out_last[0] = 1
    assert "TLAST not on the last beat only" in _tampered(clean_run, change)


def test_missing_beat_is_caught(clean_run):
    def change(results):
        stream = results.streams[1]
        stream.out, stream.out_last, stream.out_keep = stream.out[:-1], stream.out_last[:-1], stream.out_keep[:-1]
    assert "output beats" in _tampered(clean_run, change)


def test_wrong_seq_done_is_caught(clean_run):
    _, program, _, _ = clean_run
    index = next(i for i, p in enumerate(program.reads) if p[0] == "seq_done")

    def change(results):
        addr, data, resp = results.reads[index]
        results.reads[index] = (addr, data + 1, resp)
    assert "SEQ_DONE" in _tampered(clean_run, change)


def test_a_stream_over_its_cycle_budget_stops_the_harness(clean_run):
    """A budget too small for a sequence: the harness records a timeout, the verdict reports it."""
    harness, program, _, _ = clean_run
    stimulus = Stimulus(geometry(program.layout))
    stimulus.reset()
    stimulus.stream([program.runs[0].sequences[0].beats], budget=50)
    short = Program(program.layout, [], stimulus)
    results, _ = execute(harness, short)
    assert results.errors and results.errors[0].startswith("timed out")
    assert verdict(short, results, []).startswith("the harness stopped: timed out")


def test_harness_key_follows_every_input(tmp_path):
    """The cache key changes with the Verilog, the top and the flags; not with the file's name."""
    _, layout = initial_model(1)
    a, b = tmp_path / "a.v", tmp_path / "b.v"
    a.write_text("module memornn_accel; endmodule\n")
    b.write_text("module memornn_accel; endmodule\n")
    top = harness_top_verilog(layout, "memornn_accel")
    key = harness_key([a], top)
    assert harness_key([b], top) == key
    b.write_text("module memornn_accel; wire x; endmodule\n")
    assert harness_key([b], top) != key
    assert harness_key([a], top, ("--x-initial", "unique")) != key
    assert harness_key([a], harness_top_verilog(layout, "other")) != key


def test_a_cached_harness_is_not_rebuilt(clean_run):
    harness, program, _, _ = clean_run
    _, layout = initial_model(1)
    prepared = prepare_design(layout, DESIGNS[1].config)
    again = compile_harness(prepared.sources, layout, prepared.top)
    assert again.seconds == 0.0 and again.executable == harness.executable
