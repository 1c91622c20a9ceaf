"""Helpers shared by the RTL tests (not a test module itself).

Random configurations, models, batches and jobs, and :func:`run_and_check`, which runs a
cocotb test on a build and fails with the seed and the command that replays it.

Seeds: a test's data seed is ``$MEMORNN_SEED`` when set, else drawn at random; every
failure message names it, and ``MEMORNN_SEED=<seed> pytest '<test id>'`` replays the
failing case exactly (configurations come from fixed seeds, so builds are reused).
"""

from __future__ import annotations

import os
import random
import time
from contextlib import contextmanager

import numpy as np
import pytest

from memornn.golden.errors import MemornnError
from memornn.golden.inputs import make_batch
from memornn.golden.randmodel import random_batch
from memornn.hw.config import HwConfig
from memornn.hw.cycles import Latencies, bnn_cycles_per_row, step_cycles_none
from memornn.hw.layout import memory_depths, memory_widths
from memornn.sim.randmodel import random_qmodel  # noqa: F401 (the RTL tests import it from here)
from memornn.sim.rtl.build import build, run, simulator_available
from memornn.sim.rtl.design import prepare_design, rtl_layout
from memornn.sim.rtl.job import Job, layout_info, make_run, observed_table, timeout_cycles
from memornn.sim.compare import first_mismatch
from memornn.sim.rtl.verdict import verdict

SEED_ENV = "MEMORNN_SEED"

#: One entry per simulator run of this session, for the summary printed by conftest.py.
STATS: list[dict] = []
#: (VolumeReport, coverage file) of each volume run of the compiled harness, printed by conftest.py.
VOLUME_REPORTS: list = []


def simulator_params():
    """``icarus`` and ``verilator``, each skipped only when its executable is missing."""
    return [pytest.param(sim, marks=[pytest.mark.rtl, pytest.mark.skipif(
        not simulator_available(sim), reason=f"{'iverilog' if sim == 'icarus' else 'verilator'} not on PATH")])
        for sim in ("icarus", "verilator")]


def data_seed() -> int:
    """``$MEMORNN_SEED`` if set, else a fresh random seed."""
    value = os.environ.get(SEED_ENV)
    if value:
        try:
            return int(value)
        except ValueError:
            raise MemornnError(f"{SEED_ENV} must be an integer, got {value!r}") from None
    return random.SystemRandom().randrange(2**31)


def replay_hint(seed: int) -> str:
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
    return f"seed {seed}; replay with {SEED_ENV}={seed} pytest '{test}'"


@contextmanager
def seed_reported(seed: int):
    """Re-raise any error of the block with the seed that replays it."""
    try:
        yield
    except Exception as exc:
        raise AssertionError(f"{type(exc).__name__}: {exc} ({replay_hint(seed)})") from exc


# ---------------------------------------------------------------- shapes and models

class ShapeOnly:
    """The attributes :func:`memornn.hw.layout.make_layout` reads, without weights."""

    def __init__(self, shape: dict):
        self.cell, self.hidden_size, self.input_size = shape["cell"], shape["hidden_size"], shape["input_size"]
        self.num_layers, self.pwl_segments = shape["num_layers"], shape["pwl_segments"]
        self.directions = 2 if shape["bidirectional"] else 1
        self.gates = {"lstm": 4, "gru": 3}[self.cell]

    def layer_input_size(self, k: int) -> int:
        return self.input_size if k == 0 else self.hidden_size * self.directions


def shape_layout(shape: dict, config: HwConfig):
    return rtl_layout(ShapeOnly(shape), config)


def shape_cost(shape: dict, config: HwConfig) -> int:
    """Worst-case cycles of one step through every layer direction."""
    layout = shape_layout(shape, config)
    lat = Latencies.of(layout)
    return sum(step_cycles_none(layout, d, lat) + layout.rows * bnn_cycles_per_row(d) for d in layout.layers)


def load_writes_count(layout) -> int:
    """AXI4-Lite writes that load one model (see :func:`memornn.hw.top.load_writes`)."""
    widths, depths = memory_widths(layout), memory_depths(layout)
    return sum(depths[name] * -(-widths[name] // 32) for name in depths)


def random_config(rng: np.random.Generator, big: bool = False, max_step_cycles: int = 3000,
                  max_load_writes: int = 4000):
    """A random model shape and hardware configuration.

    Sizes are up to 24 (up to 64 with ``big``); a third of the configurations have the
    shared datapath, half the loaded weight memory. MAC lanes and BNN width are drawn among
    the pairs that keep a step under ``max_step_cycles`` cycles and a model load under
    ``max_load_writes`` AXI4-Lite writes (a 1-bit BNN word per weight is a lot of words),
    so the simulation time stays bounded.
    """
    hi = 64 if big else 24
    while True:  # draw shapes until one has a pair that fits
        shape = {
            "cell": str(rng.choice(["lstm", "gru"])),
            "num_layers": 1 if big else int(rng.integers(1, 3)),
            "bidirectional": bool(rng.random() < 0.4),
            "input_size": int(rng.integers(1, hi + 1)),
            "hidden_size": int(rng.integers(1, hi + 1)),
            "pwl_segments": int(rng.choice([8, 16, 32, 64])),
        }
        fixed = {"max_seq_len": int(rng.integers(12, 17)), "row_fifo_depth": int(rng.choice([2, 3, 4, 8, 16])),
                 "counter_bits": int(rng.choice([32, 32, 40, 64])), "trace": True}
        pairs = [(p, b) for p in (1, 2, 3, 4, 5, 8, 12, 16, 32) for b in (1, 2, 5, 8, 16, 32, 64, 128)]
        for k in rng.permutation(len(pairs)):
            config = HwConfig(mac_lanes=pairs[k][0], bnn_width=pairs[k][1], **fixed)
            if (shape_cost(shape, config) <= max_step_cycles
                    and load_writes_count(shape_layout(shape, config)) <= max_load_writes):
                # Drawn last, so the shapes and pairs above stay those of earlier versions.
                return shape, config.replace(datapath=str(rng.choice(["parallel", "parallel", "shared"])),
                                             weight_memory=str(rng.choice(["initialized", "loaded"])))


def random_settings(rng: np.random.Generator, num_layers: int) -> dict:
    """Thresholds (per layer), predictor and reuse cap for one run."""
    def theta():
        return float(rng.choice([0.0, rng.uniform(0, 0.3), rng.uniform(0.3, 1.5), rng.uniform(1.5, 8)]))

    return {"threshold": [theta() for _ in range(num_layers)],
            "predictor": "none" if rng.random() < 0.15 else "bnn",
            "reuse_cap": 0 if rng.random() < 0.7 else int(rng.integers(1, 5))}


def random_inputs(rng: np.random.Generator, input_size: int, sequences: int, max_len: int):
    return random_batch(input_size, sequences, int(rng.integers(1, max_len + 1)), seed=int(rng.integers(2**31)),
                        smooth=float(rng.uniform(0, 0.97)))


def random_pauses(rng: np.random.Generator) -> dict:
    return {"in": float(rng.uniform(0.05, 0.6)), "out": float(rng.uniform(0.05, 0.6)),
            "trace": float(rng.uniform(0.0, 0.5))}


# ---------------------------------------------------------------- running

def make_job(layout, runs: list, seed: int, pauses: dict, **scenario) -> Job:
    scenario.setdefault("timeout_cycles", timeout_cycles(layout, runs, pauses, scenario.pop("extra_cycles", 0)))
    return Job(layout_info(layout), seed, pauses, runs, scenario)


def prepared(shape: dict, config: HwConfig, simulator: str):
    """Layout and build of a runtime-load design of ``shape`` (cached)."""
    layout = shape_layout(shape, config)
    design = prepare_design(layout, config)
    return layout, build(design, simulator)


def run_and_check(build_, job: Job, goldens: list, test: str, tmp_path, seed: int):
    """Run cocotb test ``test`` on ``build_`` and fail, naming the seed, unless bit-exact.

    Returns the :class:`~memornn.sim.rtl.build.RunResult`.
    """
    job_path = job.save(tmp_path / f"{test}.job.json")
    start = time.monotonic()
    try:
        result = run(build_, job_path, tmp_path / f"{test}.obs.json", test, seed)
    except MemornnError as exc:  # the simulator died before the test wrote anything
        pytest.fail(f"{build_.simulator} {test}: {exc} ({replay_hint(seed)})", pytrace=False)
    problem = verdict(build_.design.layout, job, result, goldens)
    if problem:
        pytest.fail(f"{build_.simulator} {test}: {problem} ({replay_hint(seed)}; job, observations and log in "
                    f"{tmp_path})", pytrace=False)
    STATS.append({"simulator": build_.simulator, "design": build_.design.directory.name,
                  "build_seconds": build_.seconds, "run_seconds": result.seconds,
                  "cycles": result.observations.get("sim_cycles", 0),
                  "sequences": result.observations.get("checked", 0), "seconds": time.monotonic() - start})
    return result


def scenario_runs(layout, rng, input_size: int, max_len: int, specs):
    """Runs and golden tables from ``(model, sequences, threshold, predictor, load,
    back_to_back)`` specs (``threshold`` may be a RunOptions, as :func:`make_run` takes it)."""
    runs, goldens = [], []
    for model, count, threshold, predictor, load, back_to_back in specs:
        batch = random_inputs(rng, input_size, count, max_len)
        run, golden = make_run(layout, model, batch, threshold, predictor, 0, load=load, back_to_back=back_to_back)
        runs.append(run)
        goldens.append(golden)
    return runs, goldens


def golden_run_for(layout, model, batch, settings: dict, **kw):
    """:func:`make_run` with a settings dict from :func:`random_settings`."""
    return make_run(layout, model, batch, settings["threshold"], settings["predictor"], settings["reuse_cap"], **kw)


#: The phases a sequence is aborted in by :func:`check_reset_mid_sequence`.
ABORT_PHASES = ["input", "compute", "output", "pin"]


def check_reset_mid_sequence(simulator, layout, build_, seed, rng, model, threshold, predictor, pauses, tmp_path):
    """Sequences aborted by SOFT_RESET in each phase and by the reset pin, each followed by
    a clean one; the clean ones must equal a golden run of just them (bit for bit)."""
    n = layout.max_seq_len
    lengths = [n if k % 2 == 0 else int(rng.integers(1, n + 1)) for k in range(2 * len(ABORT_PHASES))]
    x = rng.normal(size=(len(lengths), n, layout.input_size))
    run, _ = make_run(layout, model, make_batch(x, lengths), threshold, predictor, 0)
    for k in range(0, len(lengths), 2):  # the aborted sequences: nothing to expect
        run.sequences[k].h = run.sequences[k].trace = None
    job = make_job(layout, [run], seed, pauses, aborts=ABORT_PHASES, extra_cycles=20_000)
    result = run_and_check(build_, job, [None], "reset_mid_sequence", tmp_path, seed)
    clean_lengths = lengths[1::2]
    clean = make_batch(x[1::2, :max(clean_lengths)], clean_lengths)
    clean_run, golden = make_run(layout, model, clean, threshold, predictor, 0, load=False)
    observed = {"sequences": result.observations["runs"][0]["sequences"][1::2]}
    problem = first_mismatch(golden, observed_table(layout, clean_run, observed))
    assert problem is None, f"{simulator} reset_mid_sequence: {problem} ({replay_hint(seed)})"
    assert verdict(layout, job, result, [None]) is None
