"""``memornn demo`` end to end on a tiny model (amaranth back end, no synthesis)."""

import json

import numpy as np

from memornn.cli import main
from memornn.golden.randmodel import random_batch, random_float_model


def test_demo_runs_end_to_end_and_is_bit_exact(tmp_path, capsys):
    model = random_float_model("lstm", 1, False, 4, 6, classes=3, seed=5)
    model.save(tmp_path / "m.npz")
    train, test = random_batch(4, 12, 5, seed=1, smooth=0.9), random_batch(4, 10, 5, seed=2, smooth=0.9)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", name=np.array("tiny"), classes=np.array(3), x_train=train.x,
             lengths_train=train.lengths, y_train=rng.integers(0, 3, 12), x_test=test.x, lengths_test=test.lengths,
             y_test=rng.integers(0, 3, 10))
    out = tmp_path / "demo"
    assert main(["demo", "--model", str(tmp_path / "m.npz"), "--data", str(tmp_path / "d.npz"), "--simulator",
                 "amaranth", "--sequences", "2", "--no-synth", "--threshold", "0.5", "-o", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["bit_exact"] is True and summary["simulated_sequences"] == 2
    assert summary["cycles_bnn"] <= summary["cycles_none"]
    assert 0 <= summary["reuse_percent"] <= 100
    for name in ("q.npz", "rtl/memornn_accel.v", "rtl/manifest.json", "threshold_sweep.png", "summary.md"):
        assert (out / name).exists(), name
    text = capsys.readouterr().out
    assert "speed-up" in text and "energy per inference" in text
    # The hardware policies side by side, each on its build, against none on the memo build.
    rows = {r["policy"]: r for r in summary["policies"]}
    assert list(rows) == ["none", "bnn", "delta"] and rows["delta"]["build"] == "delta"
    assert rows["none"]["rtl_cycles"] == summary["cycles_none"] and rows["bnn"]["rtl_cycles"] == summary["cycles_bnn"]
    assert rows["delta"]["speedup"] == summary["cycles_none"] / rows["delta"]["rtl_cycles"]
    assert rows["delta"]["setting"] == "delta_x 4, delta_h 24" and "| delta (delta)" in text
    best = [r for r in summary["policies"] if r["best"]]
    assert len(best) == 1 and best[0]["accuracy_loss"] <= 1.0
    assert best[0]["speedup"] == max(r["speedup"] for r in summary["policies"] if r["accuracy_loss"] <= 1.0)
    assert (out / "rtl_delta" / "memornn_accel.v").exists() and (out / "rtl_delta.npz").exists()
    energy = summary["energy"]
    assert 0 < energy["energy_per_inference_nj"] and 0 < energy["dense_nj"]
    # The predictor's own cost is charged: the saving is net of it.
    assert energy["predictor_overhead_percent"] > 0
    assert abs(energy["saving_percent"] - 100 * (1 - energy["energy_per_inference_nj"] / energy["dense_nj"])) < 1e-9


def test_demo_bad_arguments(tmp_path, capsys):
    assert main(["demo", "--model", str(tmp_path / "missing.npz"), "--no-synth", "-o", str(tmp_path / "x")]) != 0
    assert "does not exist" in capsys.readouterr().err
    assert main(["demo", "--threshold", "-1", "--no-synth", "-o", str(tmp_path / "x")]) != 0
    assert "threshold" in capsys.readouterr().err
    assert main(["demo", "--delta-x", "-3", "--no-synth", "-o", str(tmp_path / "x")]) != 0
    err = capsys.readouterr().err
    assert "-3" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
