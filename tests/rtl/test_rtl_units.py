"""The pure-Python parts of the RTL flow: trace encoding, job files, scoreboard, design cache."""

import numpy as np
import pytest
from rtl_testlib import random_qmodel, shape_layout

from memornn.golden.errors import MemornnError
from memornn.golden.intmodel import golden_run
from memornn.golden.randmodel import random_batch
from memornn.hw.config import HwConfig
from memornn.hw.contract import COUNTER_NAMES, counter_names
from memornn.sim.compare import first_mismatch
from memornn.sim.rtl.backend import wave_format
from memornn.sim.rtl.design import prepare_design
from memornn.sim.rtl.job import Job, layout_info, load_job, make_run, observed_table, timeout_cycles
from memornn.sim.rtl.scoreboard import Scoreboard
from memornn.sim.rtl.wrapper import wrapper_verilog
from memornn.sim.trace import assemble, decode_sequence, encode_sequence

# 3 gates x 23 units = 69 rows: trace words of 32, 32 and 5 bits (bits above 63 included).
SHAPE = {"cell": "gru", "num_layers": 2, "bidirectional": True, "input_size": 3, "hidden_size": 23,
         "pwl_segments": 16}
CONFIG = HwConfig(mac_lanes=3, bnn_width=8, max_seq_len=6)


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(5)
    model = random_qmodel(SHAPE, rng)
    batch = random_batch(3, sequences=3, max_len=6, seed=5, smooth=0.9)
    return shape_layout(SHAPE, CONFIG), model, batch


def test_encode_is_the_inverse_of_decode(case):
    layout, model, batch = case
    golden = golden_run(model, batch, 2.0)
    assert golden["neurons_reused"].sum() > 0
    per_sequence = []
    for i, n in enumerate(int(v) for v in batch.lengths):
        beats, trace = encode_sequence(layout, n, golden, i)
        assert trace[-len(COUNTER_NAMES):][COUNTER_NAMES.index("cycles")] is None
        per_sequence.append(decode_sequence(layout, n, beats, [0 if w is None else w for w in trace]))
    assert first_mismatch(golden, assemble(layout, batch.lengths, per_sequence)) is None


def test_job_round_trip_and_observed_table(case, tmp_path):
    layout, model, batch = case
    run, golden = make_run(layout, model, batch, [0.5, 1.0], reuse_cap=2, back_to_back=True)
    pauses = {"in": 0.2, "out": 0.1, "trace": 0.0}
    job = Job(layout_info(layout), 7, pauses, [run], {"timeout_cycles": timeout_cycles(layout, [run], pauses)})
    again = load_job(job.save(tmp_path / "job.json"))
    assert again == job
    assert timeout_cycles(layout, [run], {"in": 0.9}) > timeout_cycles(layout, [run], pauses) > 20_000
    observed = {"sequences": [{"h": s.h, "trace": [0 if w is None else w for w in s.trace]} for s in run.sequences]}
    assert first_mismatch(golden, observed_table(layout, run, observed)) is None
    observed["sequences"][1]["h"] = observed["sequences"][1]["h"][:-1]
    with pytest.raises(MemornnError, match="sequence 1: expected"):
        observed_table(layout, run, observed)
    with pytest.raises(MemornnError, match="predictors bnn and none"):
        make_run(layout, model, batch, predictor="oracle")
    with pytest.raises(MemornnError, match="does not fit hardware built for"):
        make_run(shape_layout({**SHAPE, "hidden_size": 22}, CONFIG), model, batch)


def test_scoreboard_reports_what_and_where():
    board = Scoreboard(limit=2)
    assert board.check("s0", [1, 2], [5, None] + [0] * len(COUNTER_NAMES), [1, 2], [5, 99] + [0] * 7)
    assert not board.check("s1", [1, 2], None, [1, 3], [])
    assert "s1: output step 1: 0x3, expected 0x2 (1 steps differ)" in board.messages
    counters = [0] * len(COUNTER_NAMES)
    assert not board.check("s2", None, [7] + counters, [], [7] + counters[:-1] + [1])
    assert f"counter {COUNTER_NAMES[-1]}" in board.messages[1]
    assert not board.check("s3", [1], None, [], [])
    assert board.count == 3 and len(board.messages) == 2 and board.checked == 4
    # A delta build's trace ends with its own counters: the message names them.
    delta = Scoreboard(skip="delta")
    names = counter_names("delta")
    bad = names.index("columns_used")
    got = [0] * len(names)
    got[bad] = 5
    assert not delta.check("d0", None, [0] * len(names), [], got)
    assert delta.messages == ["d0: trace counter columns_used: 0x5, expected 0x0 (1 words differ)"]


def test_wave_format_follows_the_file_name():
    assert wave_format("icarus", None) is None
    assert wave_format("icarus", "a.fst") == "fst" and wave_format("verilator", "a.VCD") == "vcd"
    assert wave_format("icarus", "waves") == "vcd" and wave_format("verilator", "w.dump") == "fst"


def test_design_cache_writes_once_and_keys_on_the_config(tmp_path):
    layout = shape_layout(SHAPE, CONFIG)
    first = prepare_design(layout, CONFIG, root=tmp_path)
    stamp = first.accel_verilog.stat().st_mtime_ns
    assert prepare_design(layout, CONFIG, root=tmp_path).accel_verilog.stat().st_mtime_ns == stamp
    other = prepare_design(layout, CONFIG.replace(row_fifo_depth=5), root=tmp_path)
    assert other.directory != first.directory
    wrapped = prepare_design(layout, CONFIG, root=tmp_path, wrapper=True)
    assert wrapped.directory != first.directory and [p.name for p in wrapped.sources] == ["memornn_accel.v",
                                                                                       "memornn_tb.v"]


def test_wrapper_ports_follow_the_layout():
    text = wrapper_verilog(shape_layout(SHAPE, CONFIG))
    # A step of x (3 values) a beat in; words of P = 3 output values out (46 a step).
    assert "input wire [23:0] x_data" in text and "output reg [23:0] h_data" in text
    assert "wire [2:0] m_axis_tkeep;" in text and ".m_axis_tkeep(m_axis_tkeep)" in text
    assert ".m_axis_trace_tready(tr_tready)" in text and ".s_axil_rready(s_axil_rready)" in text
