"""Scenario tests of the AXI top in Icarus and Verilator: one cocotb test each.

All run on one small design (a 2-layer bidirectional GRU on the smallest row FIFO, built
once per simulator) with random models loaded at run time, random gaps on the input and
random back-pressure on both output streams, and check every output, reuse bit and
counter against the golden model:

- ``reset_mid_sequence``: a sequence aborted by CTRL.SOFT_RESET during its input, its
  computation and its output, and by the reset pin, each followed by a clean sequence;
- ``threshold_change``: THETA rewritten between sequences of one model;
- ``predictor_toggle``: CTRL.PREDICTOR off and on between sequences;
- ``back_to_back``: sequences offered with no idle cycle between them;
- ``weight_reload``: a second model loaded over the first, then the first again;
- ``output_stall``: m_axis held off for thousands of cycles with sequences waiting;
- ``max_seq_len``: a sequence one step too long is dropped, one of max_seq_len steps runs.
"""

import numpy as np
import pytest
from rtl_testlib import (check_reset_mid_sequence, data_seed, make_job, prepared, random_qmodel, run_and_check,
                         scenario_runs, simulator_params)

from memornn.golden.inputs import make_batch, quantize_inputs
from memornn.hw.config import HwConfig
from memornn.sim.rtl.job import make_run
from memornn.sim.trace import pack_x

SHAPE = {"cell": "gru", "num_layers": 2, "bidirectional": True, "input_size": 4, "hidden_size": 5,
         "pwl_segments": 16}
CONFIG = HwConfig(mac_lanes=2, bnn_width=8, max_seq_len=8, row_fifo_depth=2, trace=True)
PAUSES = {"in": 0.3, "out": 0.3, "trace": 0.2}

pytestmark = pytest.mark.parametrize("simulator", simulator_params())


def _setup(simulator):
    layout, build_ = prepared(SHAPE, CONFIG, simulator)
    seed = data_seed()
    return layout, build_, seed, np.random.default_rng(seed)


def _runs(layout, rng, specs):
    """Runs from ``(model, sequences, threshold, predictor, load, back_to_back)`` specs."""
    return scenario_runs(layout, rng, SHAPE["input_size"], CONFIG.max_seq_len, specs)


def test_threshold_change(simulator, tmp_path):
    layout, build_, seed, rng = _setup(simulator)
    model = random_qmodel(SHAPE, rng)
    runs, goldens = _runs(layout, rng, [(model, 2, [0.2, 0.5], "bnn", True, False),
                                        (model, 2, [1.5, 0.0], "bnn", False, False),
                                        (model, 2, [0.0, 3.0], "bnn", False, True)])
    run_and_check(build_, make_job(layout, runs, seed, PAUSES), goldens, "threshold_change", tmp_path, seed)


def test_predictor_toggle(simulator, tmp_path):
    layout, build_, seed, rng = _setup(simulator)
    model = random_qmodel(SHAPE, rng)
    runs, goldens = _runs(layout, rng, [(model, 2, 0.8, "bnn", True, False),
                                        (model, 2, 0.8, "none", False, False),
                                        (model, 2, 0.8, "bnn", False, True)])
    run_and_check(build_, make_job(layout, runs, seed, PAUSES), goldens, "predictor_toggle", tmp_path, seed)


def test_back_to_back(simulator, tmp_path):
    layout, build_, seed, rng = _setup(simulator)
    runs, goldens = _runs(layout, rng, [(random_qmodel(SHAPE, rng), 5, 0.5, "bnn", True, True)])
    run_and_check(build_, make_job(layout, runs, seed, PAUSES), goldens, "back_to_back", tmp_path, seed)


def test_weight_reload(simulator, tmp_path):
    layout, build_, seed, rng = _setup(simulator)
    model_a, model_b = random_qmodel(SHAPE, rng), random_qmodel(SHAPE, rng)
    runs, goldens = _runs(layout, rng, [(model_a, 2, 0.4, "bnn", True, False),
                                        (model_b, 2, 0.4, "bnn", True, False),
                                        (model_a, 1, 0.4, "bnn", True, False)])
    run_and_check(build_, make_job(layout, runs, seed, PAUSES), goldens, "weight_reload", tmp_path, seed)


def test_output_stall(simulator, tmp_path):
    layout, build_, seed, rng = _setup(simulator)
    runs, goldens = _runs(layout, rng, [(random_qmodel(SHAPE, rng), 3, 0.6, "bnn", True, True)])
    job = make_job(layout, runs, seed, PAUSES, stall_cycles=4000, extra_cycles=4000)
    result = run_and_check(build_, job, goldens, "output_stall", tmp_path, seed)
    assert result.observations["notes"]["stalled_cycles"] == 4000


def test_max_seq_len(simulator, tmp_path):
    layout, build_, seed, rng = _setup(simulator)
    model = random_qmodel(SHAPE, rng)
    n = CONFIG.max_seq_len
    x = rng.normal(size=(2, n + 1, SHAPE["input_size"]))
    run, golden = make_run(layout, model, make_batch(x[:1, :n]), 0.5)
    too_long = [pack_x(v) for v in quantize_inputs(x[1:], model.input_scale)[0]]
    job = make_job(layout, [run], seed, PAUSES, too_long=too_long, extra_cycles=2000)
    run_and_check(build_, job, [golden], "max_seq_len", tmp_path, seed)


def test_reset_mid_sequence(simulator, tmp_path):
    layout, build_, seed, rng = _setup(simulator)
    check_reset_mid_sequence(simulator, layout, build_, seed, rng, random_qmodel(SHAPE, rng), 0.4, "bnn", PAUSES,
                             tmp_path)
