"""``memornn simulate --simulator verilator|verilator-cocotb|icarus``: the golden key table, waves, errors.

The same small GRU and inputs run through amaranth.sim, Icarus and Verilator (the
compiled harness and cocotb): every result key equals the golden model's, and ``cycles``
is the same in all of them (the hardware is cycle-deterministic and every back end feeds
it at full speed).
"""

from pathlib import Path

import numpy as np
import pytest

from memornn.cli import main
from memornn.golden.intmodel import COUNTERS
from memornn.golden.quantize import quantize_model
from memornn.golden.randmodel import random_batch, random_float_model
from memornn.sim.rtl.build import simulator_available

#: ``--simulator`` value: the executable it needs (as ``simulator_available`` names it).
NEEDS = {"verilator": "verilator", "verilator-cocotb": "verilator", "icarus": "icarus"}


#: The cocotb Verilator path builds its own (slow) simulator: the default run checks the
#: compiled harness and Icarus here; ``-m slow`` adds it.
SLOW_SIMULATORS = {"verilator-cocotb"}


def cli_simulators(*names):
    return pytest.mark.parametrize("simulator", [pytest.param(name, marks=[pytest.mark.rtl, pytest.mark.skipif(
        not simulator_available(NEEDS[name]), reason=f"{NEEDS[name]} not on PATH")]
        + ([pytest.mark.slow] if name in SLOW_SIMULATORS else [])) for name in names])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small quantized GRU, its inputs (4 sequences of unequal length), a config, and
    the golden and amaranth results."""
    folder = tmp_path_factory.mktemp("rtl_cli")
    model = random_float_model("gru", 2, True, 5, 6, seed=11)
    batch = random_batch(5, sequences=4, max_len=6, seed=11, smooth=0.9)
    quantize_model(model, batch).save(folder / "q.npz")
    np.savez(folder / "x.npz", x=batch.x, lengths=batch.lengths)
    (folder / "hw.toml").write_text("mac_lanes = 4\nbnn_width = 16\nmax_seq_len = 8\n")
    common = ["--model", str(folder / "q.npz"), "--inputs", str(folder / "x.npz"), "--threshold", "0.3,0.6"]
    assert main(["golden", *common, "-o", str(folder / "golden.npz")]) == 0
    assert main(["simulate", "--simulator", "amaranth", *common, "--config", str(folder / "hw.toml"), "-o",
                 str(folder / "amaranth.npz")]) == 0
    return folder, common


@cli_simulators("verilator", "verilator-cocotb", "icarus")
def test_simulate_matches_golden_and_amaranth(simulator, files, tmp_path, capsys):
    folder, common = files
    out = tmp_path / "rtl.npz"
    assert main(["simulate", "--simulator", simulator, *common, "--config", str(folder / "hw.toml"), "-o",
                 str(out)]) == 0
    assert "bit-exact with the golden model" in capsys.readouterr().out
    with np.load(out) as hw, np.load(folder / "golden.npz") as ref, np.load(folder / "amaranth.npz") as am:
        assert set(hw.files) == set(ref.files) | {"cycles"}
        assert set(COUNTERS) <= set(hw.files)
        for key in ref.files:
            assert np.array_equal(hw[key], ref[key]), key
        assert (hw["cycles"] > 0).all()
        assert np.array_equal(hw["cycles"], am["cycles"]), (hw["cycles"], am["cycles"])


@cli_simulators("verilator-cocotb", "icarus")
def test_simulate_writes_waves(simulator, files, tmp_path):
    """VCD from Icarus; FST from Verilator (VCD where the lz4 headers its FST writer needs
    are missing: scripts/setup does not install them)."""
    folder, common = files
    fst = simulator == "verilator-cocotb" and Path("/usr/include/lz4.h").is_file()
    waves = tmp_path / ("run.fst" if fst else "run.vcd")
    assert main(["simulate", "--simulator", simulator, *common, "--config", str(folder / "hw.toml"), "--predictor",
                 "none", "--waves", str(waves), "-o", str(tmp_path / "rtl.npz")]) == 0
    data = waves.read_bytes()
    if fst:
        assert len(data) > 1000 and data[0] == 0  # an FST file opens with its header block (type 0)
    else:
        text = data.decode(errors="replace")
        assert "$enddefinitions" in text and "m_axis_trace_tvalid" in text


@cli_simulators("verilator")
def test_compiled_verilator_refuses_waves(simulator, files, tmp_path, capsys):
    """The compiled harness has no wave dumping: a one-line error that names the way to get waves."""
    folder, common = files
    code = main(["simulate", "--simulator", simulator, *common, "--config", str(folder / "hw.toml"), "--waves",
                 str(tmp_path / "w.vcd"), "-o", str(tmp_path / "rtl.npz")])
    err = capsys.readouterr().err
    assert code != 0 and "--simulator verilator-cocotb" in err and err.count("\n") == 1
    assert not (tmp_path / "rtl.npz").exists() and not (tmp_path / "w.vcd").exists()


@cli_simulators("verilator", "verilator-cocotb", "icarus")
def test_simulate_errors_are_one_line(simulator, files, tmp_path, capsys):
    folder, common = files
    (tmp_path / "tiny.toml").write_text("max_weight_bytes = 16\n")
    code = main(["simulate", "--simulator", simulator, *common, "--config", str(tmp_path / "tiny.toml"), "-o",
                 str(tmp_path / "rtl.npz")])
    err = capsys.readouterr().err
    assert code != 0 and "bytes of weight memory" in err and err.count("\n") == 1
    assert not (tmp_path / "rtl.npz").exists()
