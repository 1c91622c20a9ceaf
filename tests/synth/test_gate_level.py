"""Gate-level simulation of the synthesized netlists against the golden model.

``memornn simulate --netlist TARGET`` synthesizes a small LSTM (2 inputs, 4 hidden units,
P = 2 lanes, B = 8) for one target of each FPGA family, writes the accelerator's module
of the netlist (``gate.v``) and simulates it in Icarus with Yosys' cell models, with
memoization on: every output, reuse bit and counter must match the golden model. The
iCE40 UP5K design has the shared datapath and its weights in SPRAM (loaded over the
bus; SB_MAC16, SB_SPRAM256KA, SB_RAM40_4K with INIT contents), the ECP5 one the parallel
datapath (MULT18X18D, DP16KD and LUT RAM with INIT contents). The netlists pass
Verilator's lint and Yosys' ``check -assert``, and a netlist with one MAC lane's
multiplier operand tied to zero is caught.
"""

import json
import shutil

import numpy as np
import pytest

from memornn.cli import main
from memornn.golden.inputs import Batch
from memornn.golden.intmodel import golden_run
from memornn.golden.npzfile import load_npz
from memornn.golden.qmodel import load_qmodel
from memornn.golden.quantize import quantize_model
from memornn.golden.randmodel import random_batch, random_float_model
from memornn.hw.config import load_config
from memornn.hw.generate import TOP_NAME
from memornn.sim.compare import first_mismatch
from memornn.sim.rtl import lint
from memornn.sim.rtl.netlist import (CELLS_FILE, GATE_FILE, NETLIST_JSON, NetlistDesign, run_netlist,
                                     synthesize_netlist, write_gate_verilog)

pytestmark = [pytest.mark.synth, pytest.mark.rtl]

TINY = "mac_lanes = 2\nbnn_width = 8\nmax_seq_len = 5\ncounter_bits = 16\n"
CONFIGS = {"ice40-up5k": TINY + 'datapath = "shared"\nweight_memory = "loaded"\n',
           "ecp5-25k": TINY + 'datapath = "parallel"\n'}
THRESHOLD = "0.5"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("gate")
    model = random_float_model("lstm", 1, False, 2, 4, seed=3)
    quantize_model(model, random_batch(2, sequences=3, max_len=5, seed=3)).save(str(d / "q.npz"))
    np.save(d / "x.npy", random_batch(2, sequences=3, max_len=5, seed=11).x)
    for target, text in CONFIGS.items():
        (d / f"{target}.toml").write_text(text)
    return d


@pytest.fixture(scope="module")
def gate(files):
    """``memornn simulate --netlist`` once per target: exit code, netlist directory, result."""
    done = {}

    def get(target):
        if target not in done:
            out, nl = files / f"{target}.npz", files / f"{target}-netlist"
            rc = main(["simulate", "--model", str(files / "q.npz"), "--inputs", str(files / "x.npy"),
                       "--config", str(files / f"{target}.toml"), "--simulator", "icarus", "--threshold",
                       THRESHOLD, "--netlist", target, "--netlist-dir", str(nl), "-o", str(out)])
            done[target] = (rc, nl, out)
        return done[target]
    return get


def _golden(files, sequences=None):
    model = load_qmodel(str(files / "q.npz"))
    x = np.load(files / "x.npy")[:sequences]
    batch = Batch(x, np.full(len(x), x.shape[1]))
    return model, batch, golden_run(model, batch, float(THRESHOLD), "bnn", 0)


@pytest.mark.parametrize("target", sorted(CONFIGS))
def test_netlist_matches_the_golden_model(gate, files, target, capsys):
    rc, netlist, out = gate(target)
    assert rc == 0, capsys.readouterr().err[-2000:]
    result = load_npz(str(out), "simulation result")
    _, _, golden = _golden(files)
    assert first_mismatch(golden, result) is None
    reused, computed = int(result["neurons_reused"].sum()), int(result["neurons_computed"].sum())
    assert reused > 0 and computed > 0  # memoization on, and both decisions taken
    report = json.loads((netlist / "report.json").read_text())
    assert report["pnr"] is None and report["target"]["name"] == target
    text = (netlist / GATE_FILE).read_text()
    dsp = {"ice40-up5k": "SB_MAC16", "ecp5-25k": "MULT18X18D"}[target]
    assert text.count(f"{dsp} ") == report["resources"]["dsp"] > 0
    if target == "ice40-up5k":  # weights in SPRAM, loaded over the bus; the rest in block RAM with INIT
        assert "SB_SPRAM256KA " in text and ".INIT_0(256'h" in text
    else:
        assert "TRELLIS_DPR16X4 " in text and ".INITVAL(64'h" in text


@pytest.mark.parametrize("target", sorted(CONFIGS))
def test_netlist_lint(gate, target):
    _, netlist, _ = gate(target)
    waivers = lint.write_waivers(netlist, netlist=True)
    sources = [netlist / GATE_FILE, netlist / CELLS_FILE]
    assert lint.verilator_lint(sources, TOP_NAME, waivers) == []
    assert lint.yosys_check([netlist / GATE_FILE], TOP_NAME, libraries=(netlist / CELLS_FILE,)) == []


def _zero_one_mac_lane(netlist_json):
    """Tie the A operand of one MAC lane's DSP cell to zero; returns the cell's name."""
    data = json.loads(netlist_json.read_text())
    cells = data["modules"][TOP_NAME]["cells"]
    lanes = sorted(n for n, c in cells.items() if c["type"] in ("SB_MAC16", "MULT18X18D")
                   and "/hw/mac.py:" in c.get("attributes", {}).get("src", ""))
    assert lanes, "no DSP cell of a MAC lane in the netlist"
    conns = cells[lanes[0]]["connections"]
    for port in [p for p in conns if p == "A" or (p.startswith("A") and p[1:].isdigit())]:
        conns[port] = ["0"] * len(conns[port])
    netlist_json.write_text(json.dumps(data))
    return lanes[0]


@pytest.mark.parametrize("target", ["ice40-up5k"])
def test_broken_netlist_is_caught(gate, files, tmp_path, target):
    _, netlist, _ = gate(target)
    broken = tmp_path / "broken"
    shutil.copytree(netlist, broken, ignore=shutil.ignore_patterns("icarus*", "verilator*"))
    _zero_one_mac_lane(broken / NETLIST_JSON)
    write_gate_verilog(broken)
    model, batch, golden = _golden(files, sequences=1)  # one sequence shows it
    config = load_config(str(files / f"{target}.toml")).replace(trace=True)
    from memornn.sim.rtl.design import WRAPPER_TOP, rtl_layout

    layout = rtl_layout(model, config)
    design = NetlistDesign(layout, config, broken, WRAPPER_TOP, bool(layout.loaded_memories), target)
    result = run_netlist("icarus", design, model, batch, float(THRESHOLD), "bnn", 0)
    mismatch = first_mismatch(golden, result)
    assert mismatch is not None and "sequence 0" in mismatch, mismatch


@pytest.mark.slow
def test_netlist_in_verilator(files, tmp_path):
    """The same ECP5 netlist in Verilator."""
    model, batch, golden = _golden(files)
    config = load_config(str(files / "ecp5-25k.toml"))
    design = synthesize_netlist(model, config, "ecp5-25k", tmp_path / "v")
    assert first_mismatch(golden, run_netlist("verilator", design, model, batch, float(THRESHOLD), "bnn", 0)) is None


def test_netlist_option_errors(files, tmp_path, capsys):
    base = ["simulate", "--model", str(files / "q.npz"), "--inputs", str(files / "x.npy"), "-o", str(tmp_path / "o.npz")]
    assert main(base + ["--netlist", "ice40-up5k", "--simulator", "amaranth"]) != 0
    assert "--netlist simulates Verilog" in capsys.readouterr().err
    assert main(base + ["--netlist", "virtex-2"]) == 2  # a usage error: exit 2, one line
    assert "invalid choice: 'virtex-2'" in capsys.readouterr().err
    assert not (tmp_path / "o.npz").exists()
