"""Differential random tests: the AXI top in Icarus and Verilator against the golden model.

Each case is a random configuration (cell, 1-2 layers, one or two directions, sizes
mostly up to 24 and a few up to 64, MAC lanes, BNN width, FIFO depth, counter width, PWL
segments) built once with all memories zero, then several random quantized models of
that shape loaded through the AXI4-Lite load port, each with random thresholds, predictor
and reuse cap, running random sequences of up to 12 steps, one at a time (reading back the
counter registers) or back to back. Streams have random gaps and back-pressure. Every
output, reuse bit and counter must equal the golden model's.

Configurations come from fixed seeds (their builds are cached); the data seed is random
per run (``$MEMORNN_SEED`` replays one) and every failure prints it.

Default: 3 Verilator configurations with 9 sequences each (27) and 6 Icarus ones with
3 each (18). Verilator's volume is the compiled harness's 2,000-case run
(``test_rtl_compiled.py``); these cases check the cocotb AXI path on both simulators.
``-m slow``: 60 Verilator configurations with 27 sequences each (1620) and 35 Icarus ones
with 10 each (350), about 20 minutes.
"""

import numpy as np
import pytest
from rtl_testlib import (data_seed, golden_run_for, make_job, prepared, random_config, random_inputs,
                         random_pauses, random_qmodel, random_settings, run_and_check, seed_reported,
                         simulator_available)

#: simulator: (configurations, runs per configuration, sequences per run, cycles per step cap,
#: load writes per model cap, big configurations allowed)
PLANS = {
    "default": {"verilator": (3, 3, 3, 3000, 4000, True), "icarus": (6, 1, 3, 900, 1500, False)},
    "slow": {"verilator": (60, 9, 3, 4000, 8000, True), "icarus": (35, 2, 5, 1500, 3000, False)},
}
CONFIG_SEED = {"verilator": 7_000, "icarus": 9_000}
SLOW_CONFIG_SEED = {"verilator": 17_000, "icarus": 19_000}


def _cases(plan: str):
    seeds = CONFIG_SEED if plan == "default" else SLOW_CONFIG_SEED
    cases = []
    for sim, (count, *_rest) in PLANS[plan].items():
        marks = [pytest.mark.rtl,
                 pytest.mark.skipif(not simulator_available(sim), reason=f"{sim} executable not on PATH")]
        cases += [pytest.param(sim, seeds[sim] + i, id=f"{sim}-{i}", marks=marks) for i in range(count)]
    return cases


def _differential(simulator: str, config_seed: int, plan: str, tmp_path) -> None:
    runs_per, seqs_per, step_cap, load_cap, big = PLANS[plan][simulator][1:]
    # Every fifth configuration may be big (sizes up to 64).
    shape, config = random_config(np.random.default_rng(config_seed), big=big and config_seed % 5 == 4,
                                  max_step_cycles=step_cap, max_load_writes=load_cap)
    layout, build_ = prepared(shape, config, simulator)
    seed = data_seed()
    with seed_reported(seed):
        rng = np.random.default_rng(seed)
        runs, goldens = [], []
        model = None
        for _ in range(runs_per):
            if model is None or rng.random() < 0.7:
                model, load = random_qmodel(shape, rng), True
            else:
                load = False  # same model, new settings: no reload
            batch = random_inputs(rng, shape["input_size"], seqs_per, 12)
            run, golden = golden_run_for(layout, model, batch, random_settings(rng, shape["num_layers"]),
                                         load=load, back_to_back=bool(rng.random() < 0.4))
            runs.append(run)
            goldens.append(golden)
        job = make_job(layout, runs, seed, random_pauses(rng))
    run_and_check(build_, job, goldens, "run_job", tmp_path, seed)


@pytest.mark.parametrize("simulator, config_seed", _cases("default"))
def test_random_differential(simulator, config_seed, tmp_path):
    _differential(simulator, config_seed, "default", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("simulator, config_seed", _cases("slow"))
def test_random_differential_long(simulator, config_seed, tmp_path):
    _differential(simulator, config_seed, "slow", tmp_path)
