"""``memornn generate`` and ``memornn simulate`` from the command line: results and bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from memornn.cli import main
from memornn.golden.intmodel import COUNTERS
from memornn.golden.quantize import quantize_model
from memornn.golden.randmodel import random_batch, random_float_model


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small quantized GRU and its inputs on disk."""
    folder = tmp_path_factory.mktemp("cli")
    model = random_float_model("gru", 1, False, 5, 6, seed=3)
    batch = random_batch(5, sequences=2, max_len=4, seed=3, smooth=0.9)
    quantize_model(model, batch).save(folder / "q.npz")
    np.savez(folder / "x.npz", x=batch.x, lengths=batch.lengths)
    return folder


def _config(folder, text):
    path = folder / "hw.toml"
    path.write_text(text)
    return str(path)


def test_generate_writes_verilog_and_manifest(files, tmp_path):
    out = tmp_path / "rtl"
    assert main(["generate", "--model", str(files / "q.npz"), "--config",
                 _config(tmp_path, "mac_lanes = 4\nbnn_width = 16\n"), "-o", str(out)]) == 0
    verilog = (out / "memornn_accel.v").read_text()
    assert "module memornn_accel" in verilog
    info = json.loads((out / "manifest.json").read_text())
    assert info["config"]["mac_lanes"] == 4 and info["config"]["bnn_width"] == 16
    assert info["model"] == {"cell": "gru", "input_size": 5, "hidden_size": 6, "num_layers": 1,
                             "bidirectional": False, "pwl_segments": 32}
    names = {p["name"] for p in info["ports"]}
    assert {"s_axis_tdata", "m_axis_tdata", "s_axil_awaddr"} <= names
    # 3 gates x 6 units, each ceil(5/4) + ceil(6/4) = 4 words on the MAC lanes.
    assert info["cycles"]["step_none"][0]["cycles"] >= 3 * 6 * 4


def test_generate_loaded_weights_writes_the_load_and_says_so(files, tmp_path, capsys):
    """weight_memory = "loaded": the manifest marks the memory, load_writes.json holds the writes."""
    from memornn.golden.qmodel import load_qmodel
    from memornn.hw.config import HwConfig
    from memornn.hw.layout import make_layout, memory_images
    from memornn.hw.top import load_writes

    out = tmp_path / "rtl"
    config = 'mac_lanes = 2\nbnn_width = 8\ndatapath = "shared"\nweight_memory = "loaded"\n'
    assert main(["generate", "--model", str(files / "q.npz"), "--config", _config(tmp_path, config),
                 "-o", str(out)]) == 0
    assert "load the model with the writes in" in capsys.readouterr().out
    info = json.loads((out / "manifest.json").read_text())
    assert info["memories"]["weights"]["initial_contents"] is False
    assert info["memories"]["bias"]["initial_contents"] is True
    assert info["config"]["datapath"] == "shared"
    load = json.loads((out / "load_writes.json").read_text())
    model = load_qmodel(str(files / "q.npz"))
    layout = make_layout(model, HwConfig(mac_lanes=2, bnn_width=8, datapath="shared", weight_memory="loaded"))
    assert load["loaded_memories"] == ["weights", "offsets"]
    assert load["writes"] == [list(w) for w in load_writes(layout, memory_images(model, layout))]


@pytest.mark.parametrize("text, message", [
    ("mac_lanes = 0\n", "mac_lanes = 0"),
    ("weight_bits = 4\n", "weight_bits = 4"),
    ("bnn_width = 5000\n", "bnn_width = 5000"),
    ("max_weight_bytes = 16\n", "bytes of weight memory"),
    ("lanes = 4\n", "unknown key 'lanes'"),
    ("mac_lanes = = 4\n", "not valid TOML"),
    ("trace = 3\n", "trace = 3"),
    ('datapath = "serial"\n', "datapath = 'serial'"),
    ('weight_memory = "rom"\n', "weight_memory = 'rom'"),
])
def test_bad_config_is_one_line_error_and_writes_nothing(files, tmp_path, capsys, text, message):
    out = tmp_path / "rtl"
    code = main(["generate", "--model", str(files / "q.npz"), "--config", _config(tmp_path, text), "-o", str(out)])
    err = capsys.readouterr().err
    assert code != 0
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_missing_config_file(files, tmp_path, capsys):
    code = main(["generate", "--model", str(files / "q.npz"), "--config", str(tmp_path / "nope.toml"), "-o",
                 str(tmp_path / "rtl")])
    assert code != 0 and "does not exist" in capsys.readouterr().err


def test_simulate_amaranth_matches_golden_keys(files, tmp_path):
    out = tmp_path / "rtl.npz"
    assert main(["simulate", "--simulator", "amaranth", "--model", str(files / "q.npz"), "--inputs",
                 str(files / "x.npz"), "--threshold", "0.3", "-o", str(out)]) == 0
    golden = tmp_path / "golden.npz"
    assert main(["golden", "--model", str(files / "q.npz"), "--inputs", str(files / "x.npz"), "--threshold", "0.3",
                 "-o", str(golden)]) == 0
    with np.load(out) as hw, np.load(golden) as ref:
        assert set(hw.files) == set(ref.files) | {"cycles"}
        for key in ref.files:
            assert np.array_equal(hw[key], ref[key]), key
        assert (hw["cycles"] > 0).all()
        assert set(COUNTERS) <= set(hw.files)


def test_simulate_reports_first_mismatch(files, tmp_path, capsys, monkeypatch):
    import memornn.sim.backends as backends

    real = backends.run_simulation

    def corrupt(*args, **kwargs):
        result = real(*args, **kwargs)
        result["h_int"][1, 2, 4] += 1
        return result

    monkeypatch.setattr(backends, "run_simulation", corrupt)
    code = main(["simulate", "--simulator", "amaranth", "--model", str(files / "q.npz"), "--inputs",
                 str(files / "x.npz"), "-o", str(tmp_path / "rtl.npz")])
    err = capsys.readouterr().err
    assert code == 1
    assert "h_int: sequence 1, step 2, element 4" in err


def test_simulate_rejects_oracle_and_long_sequences(files, tmp_path, capsys):
    args = ["simulate", "--simulator", "amaranth", "--model", str(files / "q.npz"), "--inputs", str(files / "x.npz"),
            "-o", str(tmp_path / "r.npz")]
    assert main(args + ["--predictor", "oracle"]) != 0
    assert "golden model" in capsys.readouterr().err
    assert main(args + ["--config", _config(tmp_path, "max_seq_len = 2\n")]) != 0
    assert "max_seq_len = 2" in capsys.readouterr().err
    assert not (tmp_path / "r.npz").exists()


def test_generate_bad_model_via_subprocess(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_text("not an archive")
    proc = subprocess.run([sys.executable, "-m", "memornn", "generate", "--model", str(bad), "-o",
                           str(tmp_path / "rtl")], capture_output=True, text=True, env={**os.environ})
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert not (tmp_path / "rtl").exists()
