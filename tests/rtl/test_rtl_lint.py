"""Static checks of the generated Verilog: Verilator ``-Wall`` lint and Yosys ``check``.

Amaranth's output raises Verilator warnings that are its idiom, not bugs; each waiver in
:data:`memornn.sim.rtl.lint.WAIVERS` says why, and the waivers are narrow enough that a
real truncation still shows (checked below on a hand-written module). Yosys proves what
the CASEINCOMPLETE waiver relies on: no latch, no combinational loop, no multiple drivers.
The designs cover both cells, one and two layers and directions, one MAC lane and one BNN
bit (zero-width index fields), wide lanes, the benchmark's 1x64 LSTM, and the delta
datapath (``skip = "delta"``, one lane among them).
"""

import shutil

import numpy as np
import pytest
from rtl_testlib import random_config, shape_layout

from memornn.hw.config import HwConfig
from memornn.sim.rtl import lint
from memornn.sim.rtl.design import WRAPPER_TOP, prepare_design

DESIGNS = {
    "gru-2x-bi-P2-B8-fifo2": ({"cell": "gru", "num_layers": 2, "bidirectional": True, "input_size": 4,
                               "hidden_size": 5, "pwl_segments": 16},
                              HwConfig(mac_lanes=2, bnn_width=8, max_seq_len=8, row_fifo_depth=2)),
    "lstm-1x-P1-B1": ({"cell": "lstm", "num_layers": 1, "bidirectional": False, "input_size": 3, "hidden_size": 2,
                       "pwl_segments": 8}, HwConfig(mac_lanes=1, bnn_width=1, max_seq_len=4)),
    "gru-1x-P64-B1024": ({"cell": "gru", "num_layers": 1, "bidirectional": False, "input_size": 7,
                          "hidden_size": 9, "pwl_segments": 64},
                         HwConfig(mac_lanes=64, bnn_width=1024, max_seq_len=3, counter_bits=64)),
    "lstm-2x-bi-P3-B5": ({"cell": "lstm", "num_layers": 2, "bidirectional": True, "input_size": 11,
                          "hidden_size": 7, "pwl_segments": 32},
                         HwConfig(mac_lanes=3, bnn_width=5, max_seq_len=12, row_fifo_depth=3, counter_bits=48)),
    "lstm-1x64-bench": ({"cell": "lstm", "num_layers": 1, "bidirectional": False, "input_size": 40,
                         "hidden_size": 64, "pwl_segments": 32}, HwConfig(mac_lanes=8, bnn_width=64, max_seq_len=40)),
    "lstm-2x-bi-P3-B5-shared-loaded": ({"cell": "lstm", "num_layers": 2, "bidirectional": True, "input_size": 11,
                                        "hidden_size": 7, "pwl_segments": 32},
                                       HwConfig(mac_lanes=3, bnn_width=5, max_seq_len=12, datapath="shared",
                                                weight_memory="loaded")),
    "gru-1x-P2-B8-shared": ({"cell": "gru", "num_layers": 1, "bidirectional": False, "input_size": 4,
                             "hidden_size": 5, "pwl_segments": 16},
                            HwConfig(mac_lanes=2, bnn_width=8, max_seq_len=8, datapath="shared")),
    "gru-2x-bi-P3-delta": ({"cell": "gru", "num_layers": 2, "bidirectional": True, "input_size": 4,
                            "hidden_size": 5, "pwl_segments": 16}, HwConfig(mac_lanes=3, max_seq_len=8, skip="delta")),
    "lstm-1x-P1-delta": ({"cell": "lstm", "num_layers": 1, "bidirectional": False, "input_size": 3, "hidden_size": 2,
                          "pwl_segments": 8}, HwConfig(mac_lanes=1, bnn_width=1, max_seq_len=4, skip="delta")),
    **{f"random-{seed}": random_config(np.random.default_rng(seed)) for seed in (7001, 7004, 9004)},
}

pytestmark = [pytest.mark.rtl, pytest.mark.parametrize("name", sorted(DESIGNS))]


def _design(name, wrapper=False):
    shape, config = DESIGNS[name]
    return prepare_design(shape_layout(shape, config), config, wrapper=wrapper)


@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not on PATH")
def test_verilator_lint_clean_with_documented_waivers(name):
    design = _design(name, wrapper=True)
    waivers = lint.write_waivers(design.directory)
    raw = lint.verilator_lint([design.accel_verilog], "memornn_accel", None)
    assert raw, "Amaranth's Verilog raised no warning at all: are the waivers still needed?"
    assert lint.verilator_lint([design.accel_verilog], "memornn_accel", waivers) == []
    # The test wrapper is hand-written Verilog: it must be clean too.
    assert design.top == WRAPPER_TOP
    assert lint.verilator_lint(design.sources, WRAPPER_TOP, waivers) == []
    # The ASCRANGE waiver covers only zero-width wires nothing uses.
    assert lint.unused_zero_width_wires(design.accel_verilog.read_text()) == []


def test_yosys_finds_no_latch_loop_or_multiple_driver(name):
    design = _design(name)
    assert lint.yosys_check([design.accel_verilog], "memornn_accel") == []
