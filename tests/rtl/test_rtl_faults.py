"""The top level's answers to faults (issue 15) in Icarus and Verilator: the cocotb test
``faults`` (:mod:`memornn.sim.rtl.tb_accel`), every sequence against the golden model.

The amaranth.sim versions, with the same faults, are ``tests/hw/test_hw_faults.py``. The
design is a 1x5 LSTM on P = 5 lanes, so weight words take two LOAD_DATA writes (a
partial word exists) and ``bias_hn`` has no memory (a LOAD_SEL to refuse).
"""

import numpy as np
import pytest
from rtl_testlib import data_seed, make_job, prepared, random_qmodel, run_and_check, simulator_params

from memornn.golden.inputs import make_batch
from memornn.hw import contract as T
from memornn.hw.config import HwConfig
from memornn.hw.layout import MEMORIES, memory_depths, memory_images
from memornn.sim.rtl.job import make_run
from memornn.sim.trace import pack_x
from memornn.golden.inputs import quantize_inputs

SHAPE = {"cell": "lstm", "num_layers": 1, "bidirectional": False, "input_size": 4, "hidden_size": 5,
         "pwl_segments": 16}
CONFIG = HwConfig(mac_lanes=5, bnn_width=8, max_seq_len=6, row_fifo_depth=2, trace=True)


def _scenario(layout, model, rng) -> dict:
    images, depths = memory_images(model, layout), memory_depths(layout)
    weights, bias = MEMORIES.index("weights"), MEMORIES.index("bias")
    word0 = int(images["weights"][0])
    assert word0 < 2**64 and layout.lanes * 8 > 32  # two pieces
    beats = [pack_x(v) for v in quantize_inputs(rng.normal(size=(2 * CONFIG.max_seq_len, 4)), model.input_scale)]
    return {
        "no_memory": [6, 7] + [i for i, name in enumerate(MEMORIES) if depths[name] == 0],
        "depths": {str(i): depths[name] for i, name in enumerate(MEMORIES) if depths[name]},
        "walk": [bias, depths["bias"], int(images["bias"][-1])],
        "weights": weights, "word0": [word0 & 0xFFFF_FFFF, word0 >> 32],
        "merged": beats[:8], "too_long": beats[:CONFIG.max_seq_len + 1], "stall_cycles": 3000,
        "reset_values": {str(r.offset): r.reset for r in T.mapped_registers(layout.num_layers) if r.reset is not None},
    }


@pytest.mark.parametrize("simulator", simulator_params())
def test_faults(simulator, tmp_path):
    layout, build_ = prepared(SHAPE, CONFIG, simulator)
    seed = data_seed()
    rng = np.random.default_rng(seed)
    model = random_qmodel(SHAPE, rng)
    n = CONFIG.max_seq_len

    def batch(lengths):
        return make_batch(rng.normal(size=(len(lengths), max(lengths), SHAPE["input_size"])), lengths)

    specs = [(batch([3, 4, 5]), 0.3, "bnn", 2, True), (batch([4]), 0.9, "bnn", 1, False),
             (batch([3, n, n, 2]), 0.9, "none", 1, False)]
    runs, goldens = [], []
    for inputs, threshold, predictor, cap, load in specs:
        run, golden = make_run(layout, model, inputs, threshold, predictor, cap, load=load)
        runs.append(run)
        goldens.append(golden)
    job = make_job(layout, runs, seed, {}, extra_cycles=30_000, **_scenario(layout, model, rng))
    result = run_and_check(build_, job, goldens, "faults", tmp_path, seed)
    offsets = [offset for offset, _ in result.observations["notes"]["w1c_races"]]
    assert min(offsets) <= 0 < max(offsets)
