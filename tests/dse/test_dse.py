"""``memornn dse`` and ``memornn estimate``: sweep parsing, the Pareto front, a sweep on a
two-worker local Dask cluster (processes) with its cache, and bad input."""

import csv
import json

import numpy as np
import pytest

from memornn.cli import main
from memornn.dse import Sweep, pareto, parse_list, parse_sweeps, run_cycles
from memornn.golden.errors import MemornnError
from memornn.golden.intmodel import golden_run
from memornn.golden.quantize import quantize_model
from memornn.golden.randmodel import random_batch, random_float_model
from memornn.hw.config import HwConfig
from memornn.hw.cycles import sequence_cycles_none
from memornn.hw.layout import make_layout

REQUIRED = {"target", "mac_lanes", "bnn_width", "datapath", "predictor", "threshold", "luts", "dsps", "brams",
            "fmax_mhz", "cycles_per_step", "us_per_step", "energy_nj"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dse")
    model = random_float_model("lstm", 1, False, 4, 8, seed=2)
    batch = random_batch(4, sequences=4, max_len=6, seed=2, smooth=0.9)
    q = quantize_model(model, batch)
    q.save(folder / "q.npz")
    np.savez(folder / "x.npz", x=batch.x, lengths=batch.lengths)
    return {"folder": folder, "q": q, "batch": batch}


def test_sweeps_are_the_product_of_their_axes():
    configs = parse_sweeps(["mac_lanes=2,4", "datapath=parallel,shared"])
    assert [(c.mac_lanes, c.datapath) for c in configs] == [(2, "parallel"), (2, "shared"), (4, "parallel"),
                                                           (4, "shared")]
    assert parse_sweeps(None) == (HwConfig(),)
    sweep = Sweep(configs, ("ecp5-85k", "ice40-up5k"), ("none", "bnn"), (0.1, 0.2))
    assert sweep.runs == [("none", 0.0), ("bnn", 0.1), ("bnn", 0.2)] and len(sweep) == 4 * 2 * 3


@pytest.mark.parametrize("items, message", [
    (["lanes=2"], "unknown sweep key 'lanes'"),
    (["mac_lanes="], "empty value"),
    (["mac_lanes=2,,4"], "empty value"),
    (["mac_lanes=two"], "'two' is not an integer"),
    (["mac_lanes=0"], "mac_lanes = 0 must be an integer in"),
    (["datapath=wide"], "datapath = 'wide' must be one of"),
    (["mac_lanes=2", "mac_lanes=4"], "given twice"),
    (["mac_lanes"], "must be key=value"),
])
def test_bad_sweeps_are_named(items, message):
    with pytest.raises(MemornnError, match=message):
        parse_sweeps(items)


def test_bad_lists_are_named():
    with pytest.raises(MemornnError, match="unknown predictor 'oracle'"):
        parse_list("none,oracle", ("none", "bnn"), "predictor")
    with pytest.raises(MemornnError, match="empty"):
        parse_list(" ", ("none",), "target")


def test_pareto_front_by_hand():
    points = [(1, 5), (2, 3), (3, 4), (4, 1), (2, 2)]
    assert sorted(pareto(points)) == [0, 3, 4]


def test_cycles_none_is_the_exact_model(files):
    q, batch = files["q"], files["batch"]
    config = HwConfig(mac_lanes=2, bnn_width=16)
    result = golden_run(q, batch, 0.0, "none")
    expected = sum(sequence_cycles_none(make_layout(q, config), int(n)) for n in batch.lengths)
    assert run_cycles(q, config, batch, result, "none") == expected


def test_cycles_with_reuse_fall_and_stay_above_the_bnn_bound(files):
    q, batch = files["q"], files["batch"]
    config = HwConfig(mac_lanes=2, bnn_width=1)
    dense = run_cycles(q, config, batch, golden_run(q, batch, 0.0, "none"), "none")
    memo = golden_run(q, batch, 1.0, "bnn")
    assert memo["neurons_reused"].sum() > 0
    cycles = run_cycles(q, config, batch, memo, "bnn")
    layout = make_layout(q, config)
    # B = 1: the BNN lane takes X + H cycles a row, more than the MAC lanes' ceil(X/2) + ceil(H/2).
    bnn_rows = layout.rows * (4 + 8) * int(batch.lengths.sum())
    assert bnn_rows < cycles
    all_computed = {**memo, "reused_l0": np.zeros_like(memo["reused_l0"])}
    assert run_cycles(q, config, batch, all_computed, "bnn") >= dense


def _dse(files, out, *extra):
    folder = files["folder"]
    return main(["dse", "--model", str(folder / "q.npz"), "--inputs", str(folder / "x.npz"), "--target",
                 "ecp5-85k,ice40-up5k", "--sweep", "mac_lanes=2,8", "--predictor", "none,bnn", "--workers", "2",
                 "--estimate-only", "--no-progress", "-o", str(out), *extra])


def test_sweep_on_two_workers_then_from_cache(files, tmp_path, capsys):
    out = tmp_path / "dse"
    assert _dse(files, out, "--threshold", "0.3,0.6") == 0
    err = capsys.readouterr().err
    assert "on 2 workers" in err and "0 tasks cached, 3 to run" in err
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert REQUIRED <= set(rows[0]) and len(rows) == 2 * 2 * 3
    for row in rows:
        assert float(row["cycles_per_step"]) > 0 and float(row["energy_nj"]) > 0 and row["source"] == "estimate"
        if row["predictor"] == "none":
            assert float(row["speedup"]) == 1.0
    # Same cycles for a configuration on both targets; fewer lanes, more cycles.
    by = {(r["target"], r["mac_lanes"], r["predictor"], r["threshold"]): float(r["cycles_per_step"]) for r in rows}
    assert by[("ecp5-85k", "2", "none", "0.0")] == by[("ice40-up5k", "2", "none", "0.0")]
    assert by[("ecp5-85k", "2", "none", "0.0")] > by[("ecp5-85k", "8", "none", "0.0")]
    assert json.loads((out / "results.json").read_text())[0]["target"] in ("ecp5-85k", "ice40-up5k")
    assert (out / "pareto_us_luts.png").stat().st_size > 0
    # Extended by one threshold: only that run is new.
    assert _dse(files, out, "--threshold", "0.3,0.6,0.9") == 0
    assert "3 tasks cached, 1 to run" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--sweep", "bogus=1"], "unknown sweep key 'bogus'"),
    (["--sweep", "mac_lanes="], "empty value"),
    (["--predictor", "delta"], "unknown predictor 'delta'"),
    (["--target", "asic"], "unknown target 'asic'"),
    (["--threshold", "0:1:0"], "step must be positive"),
    (["--scheduler", "tcp://127.0.0.1:9"], "cannot reach the Dask scheduler 'tcp://127.0.0.1:9'"),
])
def test_bad_input_writes_nothing(files, tmp_path, capsys, args, message):
    out = tmp_path / "dse"
    folder = files["folder"]
    argv = ["dse", "--model", str(folder / "q.npz"), "--inputs", str(folder / "x.npz"), "--target", "ecp5-85k",
            "--estimate-only", "--no-progress", "-o", str(out)]
    for i in range(0, len(args), 2):  # a later option of the same name wins in argparse
        argv += args[i:i + 2]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_estimate_json(files, capsys):
    folder = files["folder"]
    assert main(["estimate", "--model", str(folder / "q.npz"), "--target", "ecp5-85k", "--json"]) == 0
    est = json.loads(capsys.readouterr().out)
    assert {"luts", "ffs", "dsps", "brams", "fmax_mhz"} <= set(est)
    # P = 8 lanes plus the 11 other multipliers of the parallel LSTM datapath (synth_scaling runs).
    assert est["dsps"] == 19 and est["luts"] > 0 and est["fmax_mhz"] > 0


def test_estimate_is_fast(files):
    import time

    from memornn.hw.synth.estimate import estimate

    start = time.perf_counter()
    for lanes in (1, 2, 4, 8, 16, 32):
        estimate(files["q"], HwConfig(mac_lanes=lanes), "ice40-up5k")
    assert time.perf_counter() - start < 1.0
