"""The delta datapath's AXI top (``skip = "delta"``) in Verilator and Icarus against the
golden model's ``delta`` policy: outputs, used-column trace, every counter and counter
register.

- ``test_delta_random_compiled``: random cases in the compiled Verilator harness on two
  delta designs (a 1-layer LSTM with 8 lanes, a 2-layer bidirectional GRU with 3 lanes):
  random models loaded at run time, per-layer column thresholds (0 among them), predictor
  delta or none, 1-3 random sequences back to back or one at a time (counter registers
  read), full speed or throttled. The data seed is random per run (``$MEMORNN_SEED``
  replays one).
- Scenarios in the cocotb testbench (Icarus and Verilator) on the small GRU design:
  thresholds changed between sequences, CTRL.PREDICTOR off and on, a weight reload, and a
  sequence aborted by soft reset and the reset pin in each phase.

- ``test_delta_small_compiled`` (the default run's check of a delta build in a simulator):
  a small 1-layer LSTM with 4 lanes, a dozen random cases as above.

All others are ``slow``: each builds its designs first (about a minute each on two cores).
"""

import numpy as np
import pytest
from rtl_testlib import (check_reset_mid_sequence, data_seed, make_job, prepared, random_inputs, random_qmodel,
                         run_and_check, scenario_runs, seed_reported, shape_layout, simulator_available,
                         simulator_params)

from memornn.golden.options import RunOptions
from memornn.hw.config import HwConfig
from memornn.sim.compiled.backend import execute
from memornn.sim.compiled.build import compile_harness
from memornn.sim.compiled.program import build_program, verdict as compiled_verdict
from memornn.sim.rtl.design import prepare_design
from memornn.sim.rtl.job import make_run

SHAPE = {"cell": "gru", "num_layers": 2, "bidirectional": True, "input_size": 4, "hidden_size": 5,
         "pwl_segments": 16}
CONFIG = HwConfig(mac_lanes=3, max_seq_len=8, trace=True, skip="delta")
LSTM_SHAPE = {"cell": "lstm", "num_layers": 1, "bidirectional": False, "input_size": 12, "hidden_size": 10,
              "pwl_segments": 32}
LSTM_CONFIG = HwConfig(mac_lanes=8, max_seq_len=10, trace=True, skip="delta", counter_bits=40)
PAUSES = {"in": 0.3, "out": 0.3, "trace": 0.2}
SMALL_SHAPE = {"cell": "lstm", "num_layers": 1, "bidirectional": False, "input_size": 5, "hidden_size": 6,
               "pwl_segments": 16}
SMALL_CONFIG = HwConfig(mac_lanes=4, max_seq_len=6, trace=True, skip="delta")
THROTTLED = {"in": 0.3, "out": 0.4, "trace": 0.3, "axil": 0.3}


def _delta(dx, dh):
    return RunOptions.parse("delta", delta_x=dx, delta_h=dh)


def _random_options(rng, layers: int):
    """Predictor none (a fifth of the runs) or delta with per-layer thresholds, 0 often."""
    if rng.random() < 0.2:
        return RunOptions.parse("none")

    def theta():
        return int(rng.choice([0, int(rng.integers(1, 4)), int(rng.integers(4, 40)), 255]))
    return _delta([theta() for _ in range(layers)], [theta() for _ in range(layers)])


def _random_program(layout, shape, config, rng, cases: int):
    """Random cases; the second (when there is one) runs predictor none, so every program has one."""
    runs, goldens, model = [], [], None
    for case in range(cases):
        load = model is None or rng.random() < 0.6
        if load:
            model = random_qmodel(shape, rng)
        batch = random_inputs(rng, shape["input_size"], int(rng.integers(1, 4)), config.max_seq_len)
        options = RunOptions.parse("none") if case == 1 else _random_options(rng, shape["num_layers"])
        run, golden = make_run(layout, model, batch, options, "none", 0,
                               load=load, back_to_back=bool(rng.random() < 0.5))
        runs.append(run)
        goldens.append(golden)
    pauses = [{} if rng.random() < 0.3 else THROTTLED for _ in runs]
    return build_program(layout, runs, {}, int(rng.integers(2**31)), run_pauses=pauses), goldens


def _check_random_compiled(shape, config, cases: int):
    """``cases`` random cases in the compiled harness, 0 mismatches, skipping exercised
    (columns used and skipped) and predictor none among the runs."""
    layout = shape_layout(shape, config)
    design = prepare_design(layout, config)
    harness = compile_harness(design.sources, layout, design.top)
    seed = data_seed()
    with seed_reported(seed):
        program, goldens = _random_program(layout, shape, config, np.random.default_rng(seed), cases)
        results, _ = execute(harness, program)
        assert compiled_verdict(program, results, goldens) is None
        delta = [g for g in goldens if "columns_used" in g]
        assert sum(int(g["columns_used"].sum()) for g in delta) > 0
        assert sum(int(g["columns_skipped"].sum()) for g in delta) > 0


@pytest.mark.rtl
@pytest.mark.skipif(not simulator_available("verilator"), reason="verilator not on PATH")
def test_delta_small_compiled():
    """12 random cases on a small delta design (1-layer LSTM, X = 5, H = 6, P = 4), 0 mismatches."""
    _check_random_compiled(SMALL_SHAPE, SMALL_CONFIG, 12)


@pytest.mark.slow
@pytest.mark.rtl
@pytest.mark.skipif(not simulator_available("verilator"), reason="verilator not on PATH")
@pytest.mark.parametrize("shape, config", [(LSTM_SHAPE, LSTM_CONFIG), (SHAPE, CONFIG)], ids=["lstm1-P8", "gru2bi-P3"])
def test_delta_random_compiled(shape, config):
    """150 random cases a design, 0 mismatches, skipping exercised (columns used and skipped)."""
    _check_random_compiled(shape, config, 150)


def _setup(simulator):
    layout, build_ = prepared(SHAPE, CONFIG, simulator)
    seed = data_seed()
    return layout, build_, seed, np.random.default_rng(seed)


def _runs(layout, rng, specs):
    """Runs from ``(model, sequences, options, load, back_to_back)`` specs."""
    return scenario_runs(layout, rng, SHAPE["input_size"], CONFIG.max_seq_len,
                         [(model, count, options, "none", load, b2b) for model, count, options, load, b2b in specs])


@pytest.mark.slow
@pytest.mark.parametrize("simulator", simulator_params())
def test_delta_threshold_change(simulator, tmp_path):
    layout, build_, seed, rng = _setup(simulator)
    model = random_qmodel(SHAPE, rng)
    runs, goldens = _runs(layout, rng, [(model, 2, _delta("2,5", "1,0"), True, False),
                                        (model, 2, _delta("0,0", "0,0"), False, False),
                                        (model, 2, _delta("30,1", "3,255"), False, True)])
    run_and_check(build_, make_job(layout, runs, seed, PAUSES), goldens, "threshold_change", tmp_path, seed)


@pytest.mark.slow
@pytest.mark.parametrize("simulator", simulator_params())
def test_delta_predictor_toggle(simulator, tmp_path):
    layout, build_, seed, rng = _setup(simulator)
    model = random_qmodel(SHAPE, rng)
    runs, goldens = _runs(layout, rng, [(model, 2, _delta(3, 3), True, False),
                                        (model, 2, RunOptions.parse("none"), False, False),
                                        (model, 2, _delta(3, 3), False, True)])
    run_and_check(build_, make_job(layout, runs, seed, PAUSES), goldens, "predictor_toggle", tmp_path, seed)


@pytest.mark.slow
@pytest.mark.parametrize("simulator", simulator_params())
def test_delta_weight_reload(simulator, tmp_path):
    layout, build_, seed, rng = _setup(simulator)
    model_a, model_b = random_qmodel(SHAPE, rng), random_qmodel(SHAPE, rng)
    runs, goldens = _runs(layout, rng, [(model_a, 2, _delta(2, 2), True, False),
                                        (model_b, 2, _delta(2, 2), True, False),
                                        (model_a, 1, _delta(2, 2), True, False)])
    run_and_check(build_, make_job(layout, runs, seed, PAUSES), goldens, "weight_reload", tmp_path, seed)


@pytest.mark.slow
@pytest.mark.parametrize("simulator", simulator_params())
def test_delta_reset_mid_sequence(simulator, tmp_path):
    """Aborted sequences leave stale v_last and accumulators: the next sequence's step 0
    must ignore them."""
    layout, build_, seed, rng = _setup(simulator)
    check_reset_mid_sequence(simulator, layout, build_, seed, rng, random_qmodel(SHAPE, rng), _delta(2, 1), "none",
                             PAUSES, tmp_path)
