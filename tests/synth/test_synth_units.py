"""Pieces of the synthesis flow that need no tools: harness, DSP budget, inference rules, core file."""

import json

import pytest

from memornn.golden.errors import MemornnError
from memornn.hw import fusesoc
from memornn.hw.synth import fit, harness, inference, nextpnr, yosys
from memornn.hw.synth.inventory import (MemoryInfo, Multiplier, block_ram_estimate, drop_for_block_ram, dsp_budget,
                                        forced_block_memories, hierarchy)
from memornn.hw.synth.targets import TARGETS, get_target


def test_unknown_target_is_one_line():
    with pytest.raises(MemornnError) as err:
        get_target("spartan-3")
    assert "\n" not in str(err.value) and "ice40-up5k" in str(err.value)


def test_every_target_is_complete():
    assert set(TARGETS) == {"ice40-up5k", "ice40-hx8k", "ecp5-25k", "ecp5-85k", "xilinx", "generic"}
    for t in TARGETS.values():
        assert t.has_pnr == (t.family in ("ice40", "ecp5"))
        if t.has_pnr:
            assert {"luts", "ffs", "bram"} <= set(t.capacity) and t.default_freq > 0


def test_harness_connects_every_port_bit():
    ports = [("clk", "input", 1), ("rst", "input", 1), ("a", "input", 5), ("b", "input", 1),
             ("y", "output", 9), ("z", "output", 1)]
    text = harness.harness_verilog("dut_mod", ports)
    assert ".a(harness_in_bus[4:0])" in text and ".b(harness_in_bus[5:5])" in text
    assert "reg [5:0] harness_in_chain;" in text
    assert ".y(harness_out_bus[8:0])" in text and ".z(harness_out_bus[9:9])" in text
    assert ".clk(clk)" in text and ".rst(harness_rst)" in text
    # 10 output bits fold 4 at a time: 3, then 1 register.
    assert "reg [2:0] harness_fold1;" in text and "reg [0:0] harness_fold2;" in text
    assert "assign sdo = harness_fold2[0];" in text
    assert harness.harness_bits(ports) == {"in": 6, "out": 10}


def _mul(name, a, b, role="other"):
    return Multiplier(name, role, a, b, a + b, True, f"x.v:{name}")


def test_dsp_blocks_follow_mul2dsp():
    assert _mul("m", 8, 8).dsp_blocks((18, 18)) == 1
    assert _mul("m", 33, 16).dsp_blocks((18, 18)) == 2
    assert _mul("m", 33, 16).dsp_blocks((16, 16), 11) == 2
    assert _mul("m", 4, 4).dsp_blocks((16, 16), 11) == 0  # product below the iCE40 threshold
    assert _mul("m", 8, 8).dsp_blocks(None) == 0


def test_dsp_budget_serves_the_costliest_logic_first():
    """Blocks go where a multiplier would cost the most logic per block (about a*b cells):
    a 16x16 product saves four times the logic an 8x8 lane does."""
    muls = [_mul(f"mac{i}", 8, 8, "MAC lane") for i in range(4)] + [_mul("big", 16, 16), _mul("small", 12, 10)]
    assert dsp_budget(muls, (18, 18), 0, 10) == set()
    assert dsp_budget(muls, (18, 18), 0, 5) == {"mac3"}
    assert dsp_budget(muls, (18, 18), 0, 3) == {"mac1", "mac2", "mac3"}
    assert dsp_budget(muls, (18, 18), 0, 1) == {"small", "mac0", "mac1", "mac2", "mac3"}


def test_dsp_budget_counts_blocks_and_prefers_lanes_at_equal_cost():
    # 33x16 takes two 18x18 blocks: 264 cells a block, just above the 16x16's 256.
    wide, big = _mul("wide", 33, 16), _mul("big", 16, 16)
    assert dsp_budget([wide, big], (18, 18), 0, 2) == {"big"}
    assert dsp_budget([big, wide], (18, 18), 0, 1) == {"wide"}  # it does not fit the one block left
    lanes = [_mul("other", 8, 8), _mul("lane", 8, 8, "MAC lane")]
    assert dsp_budget(lanes, (18, 18), 0, 1) == {"other"}


def test_harness_input_chain_is_capped_and_shared():
    ports = [("clk", "input", 1), ("wide", "input", harness.IN_FFS * 3 + 5), ("y", "output", 1)]
    text = harness.harness_verilog("dut_mod", ports)
    assert f"reg [{harness.IN_FFS - 1}:0] harness_in_chain;" in text
    bus = text.split("harness_in_bus = {")[1].split("};")[0].split(", ")
    assert len(bus) == harness.IN_FFS * 3 + 5
    # Bit i (listed last first) takes flip-flop i % IN_FFS: every flip-flop drives some input.
    assert bus[-1] == "harness_in_chain[0]" and bus[0] == f"harness_in_chain[{(len(bus) - 1) % harness.IN_FFS}]"
    assert {f"harness_in_chain[{k}]" for k in range(harness.IN_FFS)} == set(bus)


def test_hierarchy_and_roles():
    assert hierarchy(r"$flatten\core.\cell.\act_i.$mul$a.v:1$2") == ["core", "cell", "act_i"]


def test_memory_expectations():
    up5k, ecp5 = get_target("ice40-up5k"), get_target("ecp5-85k")
    weights = MemoryInfo("core.weights", 64, 768, 1, 1)
    small = MemoryInfo("core.memo_pre0", 16, 32, 1, 1)
    rom = MemoryInfo("core.cell.act_i.slope_rom", 12, 32, 1, 0)
    assert inference.expected_kind(up5k, weights) == "bram"
    assert inference.expected_kind(up5k, small) == "bram"
    assert inference.expected_kind(ecp5, small) == "ram"
    assert inference.expected_kind(ecp5, rom) == "ff"
    rep = inference.memory_report(up5k, [weights, small], {"core.weights$12": "$__ICE40_RAM4K_", "core.memo_pre0": "FF"})
    assert rep["expected_in_bram"] == 2 and rep["found_in_bram"] == 1
    assert len(rep["findings"]) == 1 and "memo_pre0" in rep["findings"][0]


def test_dsp_report_finds_multipliers_left_in_logic():
    t = get_target("ecp5-85k")
    muls = [_mul("mac0", 8, 8, "MAC lane"), _mul("mac1", 8, 8, "MAC lane")]
    rep = inference.dsp_report(t, muls, {"x.v:mac0": 1}, set(), 2)
    assert rep["mac_in_dsp"] == 1 and rep["found_dsp_blocks"] == 1
    assert any("mac1" in f for f in rep["findings"])


def test_fit_message_names_needed_and_available():
    t = get_target("ice40-up5k")
    res = {"luts": 6000, "ffs": 100, "carry": 0, "dsp": 2, "bram": 31, "lutram": 0, "spram": 0}
    with pytest.raises(MemornnError) as err:
        fit.check_fit(t, res, "the design", "synth.log")
    msg = str(err.value)
    assert "\n" not in msg and "6000 logic cells (has 5280)" in msg and "31 block RAMs (has 30)" in msg


def test_critical_path_summary():
    step = lambda kind, a, b, d: {"type": kind, "delay": d, "net": "n", "from": {"cell": a, "port": "Q"},
                                  "to": {"cell": b, "port": "D"}}
    path = {"from": "clk", "to": "clk", "path": [
        step("clk-to-q", "dut.core.memo_yb.0.0", "dut.core.memo_yb.0.0", 4.0),
        step("routing", "dut.core.memo_yb.0.0", "dut.core.decision.$28_MULT18X18D", 1.0),
        step("logic", "dut.core.decision.$28_MULT18X18D", "dut.core.decision.$28_MULT18X18D", 3.0),
        step("setup", "dut.core.decision.run_next_TRELLIS_FF_Q", "dut.core.decision.run_next_TRELLIS_FF_Q", 0.5)]}
    s = nextpnr.summarize_path(path)
    assert s["delay_ns"] == 8.5 and s["routing_ns"] == 1.0
    assert s["blocks"] == ["core.memo_yb", "core.decision"] and not s["through_harness"]


def test_fusesoc_core_file(tmp_path):
    manifest = {"top": "memornn_accel", "memornn": "0.1.0",
                "model": {"cell": "gru", "num_layers": 2, "hidden_size": 16, "input_size": 3, "bidirectional": True},
                "config": {"mac_lanes": 4, "bnn_width": 32}}
    path = fusesoc.write_fusesoc_core(str(tmp_path), manifest)
    with open(path) as f:
        text = f.read()
    assert path.endswith("memornn_accel.core") and text.startswith("CAPI=2:\n")
    assert 'name: "memornn:generated:memornn_accel:0.1.0"' in text
    assert '- "memornn_accel.v"' in text and "toplevel: memornn_accel" in text
    assert "gru 2x16, 3 inputs, bidirectional; P=4, B=32" in text
    # Every quoted scalar is a JSON string (valid YAML double-quoted scalar).
    for line in text.splitlines():
        if '"' in line and not line.strip().startswith("verilator_options"):
            json.loads(line.split(": ", 1)[-1].lstrip("- ").strip())


def test_fusesoc_rejects_a_bad_top_name(tmp_path):
    with pytest.raises(MemornnError):
        fusesoc.write_fusesoc_core(str(tmp_path), {"top": "bad name"})


def test_generate_writes_the_core_file(tmp_path):
    from memornn.golden.quantize import quantize_model
    from memornn.golden.randmodel import random_batch, random_float_model
    from memornn.hw.config import HwConfig
    from memornn.hw.generate import generate

    q = quantize_model(random_float_model("gru", 1, False, 2, 3, seed=5), random_batch(2, 2, 4, seed=5))
    info = generate(q, HwConfig(mac_lanes=2, bnn_width=8, max_seq_len=4), str(tmp_path))
    with open(tmp_path / f"{info['top']}.core") as f:
        text = f.read()
    assert text == fusesoc.core_text(info) and f'- "{info["top"]}.v"' in text


def _netlist(tmp_path, cells):
    path = tmp_path / "netlist.json"
    path.write_text(json.dumps({"modules": {"top": {"cells": cells}}}))
    return str(path)


def test_undefined_dsp_operands_found(tmp_path):
    """The shape Yosys 0.68 produced once: an SB_MAC16 whose C/D adder input is all x."""
    good = {"type": "SB_MAC16", "connections": {"A": [5, 6], "B": [7, "0"], "C": ["0", "0"], "D": ["0", "0"],
                                                "CI": ["x"]}}
    bad = {"type": "SB_MAC16", "connections": {"A": [5, 6], "B": [7, 8], "C": ["x", "x"], "D": ["x", "x"]}}
    ecp5 = {"type": "MULT18X18D", "connections": {"A0": [3], "B0": ["x"], "C0": ["x"]}}
    lut = {"type": "SB_LUT4", "connections": {"I0": ["x"]}}
    assert yosys.undefined_dsp_operands(_netlist(tmp_path, {"g": good, "l": lut}), "top") == []
    assert yosys.undefined_dsp_operands(_netlist(tmp_path, {"b": bad, "e": ecp5}), "top") == ["b.C", "b.D", "e.B0"]


def test_block_ram_estimate_takes_the_best_aspect_ratio():
    assert block_ram_estimate(MemoryInfo("a", 64, 4, 1, 1)) == 4  # 256 bits, but 64 wide: four 16-bit blocks
    assert block_ram_estimate(MemoryInfo("b", 8, 512, 1, 1)) == 1  # one block as 512 x 8
    assert block_ram_estimate(MemoryInfo("c", 17, 8, 1, 1)) == 2
    assert block_ram_estimate(MemoryInfo("d", 64, 768, 1, 1)) == 12  # 4 wide x 3 deep in 256 x 16


def test_forced_block_memories_densest_first_and_dropped_least_dense_first():
    fifo = MemoryInfo("core.row_fifo.storage", 17, 8, 1, 1)      # 136 bits in 2 blocks
    offsets = MemoryInfo("core.offsets", 64, 2, 1, 1)            # 128 bits in 4 blocks
    memo = MemoryInfo("core.memo_pre0", 16, 32, 1, 1)            # 512 bits in 1 block
    tiny = MemoryInfo("core.tiny", 4, 8, 1, 1)                   # 32 bits: left to Yosys
    spram = MemoryInfo("core.weights", 64, 768, 1, 1)
    forced = forced_block_memories([offsets, tiny, fifo, memo, spram], False, [spram])
    assert forced == [memo, fifo, offsets]
    assert forced_block_memories([offsets, memo], True, []) == []  # LUT RAM: nothing forced
    assert drop_for_block_ram(forced, 0) == forced
    assert drop_for_block_ram(forced, 3) == [memo, fifo]  # offsets frees 4
    assert drop_for_block_ram(forced, 5) == [memo]
    assert drop_for_block_ram(forced, 99) == []
