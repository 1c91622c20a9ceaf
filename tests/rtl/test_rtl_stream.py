"""Long comparison runs in the ``memornn_tb`` wrapper: LFSR-throttled streams, Python per beat.

The wrapper gates the input valid and both readies with an LFSR in the HDL, so a run
of many sequences costs simulator time, not Python time. Several random models of one
shape are loaded in turn, each running a batch of sequences back to back; everything
must match the golden model, and ``cycles`` must be the same as in amaranth.sim when the
streams run at full speed (the last run).
"""

import numpy as np
import pytest
from rtl_testlib import (data_seed, golden_run_for, make_job, random_inputs, random_qmodel, random_settings,
                         run_and_check, shape_layout, simulator_params)

from memornn.hw.config import HwConfig
from memornn.hw.contract import COUNTER_NAMES
from memornn.sim.amaranth_backend import run_amaranth
from memornn.sim.rtl.build import build
from memornn.sim.rtl.design import prepare_design

# The shape and configuration of test_rtl_cli.py: the (optimized) wrapper build is shared.
SHAPE = {"cell": "gru", "num_layers": 2, "bidirectional": True, "input_size": 5, "hidden_size": 6,
         "pwl_segments": 32}
CONFIG = HwConfig(mac_lanes=4, bnn_width=16, max_seq_len=8)


def _stream(simulator, tmp_path, runs_count, sequences, pauses_list):
    layout = shape_layout(SHAPE, CONFIG)
    built = build(prepare_design(layout, CONFIG, wrapper=True), simulator, optimize=True)
    seed = data_seed()
    rng = np.random.default_rng(seed)
    runs, goldens, cases = [], [], []
    for _ in range(runs_count):
        model = random_qmodel(SHAPE, rng)
        batch = random_inputs(rng, SHAPE["input_size"], sequences, CONFIG.max_seq_len)
        settings = random_settings(rng, SHAPE["num_layers"])
        run, golden = golden_run_for(layout, model, batch, settings, back_to_back=True)
        runs.append(run)
        goldens.append(golden)
        cases.append((model, batch, settings))
    result = None
    for pauses in pauses_list:
        job = make_job(layout, runs, seed, pauses)
        result = run_and_check(built, job, goldens, "stream_job", tmp_path, seed)
    return result, cases


@pytest.mark.parametrize("simulator", simulator_params())
def test_stream_throttled_then_full_speed(simulator, tmp_path):
    throttled = {"in": 0.4, "out": 0.5, "trace": 0.3}
    full = {"in": 0.0, "out": 0.0, "trace": 0.0}
    result, cases = _stream(simulator, tmp_path, 2, 6 if simulator == "verilator" else 3, [throttled, full])
    # At full speed the cycles counters equal amaranth.sim's (the last run's model and batch).
    model, batch, settings = cases[-1]
    table = run_amaranth(model, batch, CONFIG, settings["threshold"], settings["predictor"], settings["reuse_cap"])
    first_counter = -len(COUNTER_NAMES) + COUNTER_NAMES.index("cycles")
    hw_cycles = [seq["trace"][first_counter] for seq in result.observations["runs"][-1]["sequences"]]
    assert list(table["cycles"]) == hw_cycles


@pytest.mark.slow
@pytest.mark.parametrize("simulator", simulator_params())
def test_stream_long(simulator, tmp_path):
    _stream(simulator, tmp_path, 10, 30 if simulator == "verilator" else 8, [{"in": 0.3, "out": 0.4, "trace": 0.2}])
