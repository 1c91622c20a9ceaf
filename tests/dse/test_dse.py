"""``memornn dse`` and ``memornn estimate``: sweep parsing, the Pareto front, a sweep on a
two-worker local Dask cluster (processes) with its cache, and bad input."""

import csv
import json

import numpy as np
import pytest

from memornn.cli import main
from memornn.dse import Run, Sweep, parse_deltas, pareto, parse_list, parse_sweeps, run_cycles
from memornn.golden.errors import MemornnError
from memornn.golden.intmodel import golden_run
from memornn.golden.quantize import quantize_model
from memornn.golden.randmodel import random_batch, random_float_model
from memornn.hw.config import HwConfig
from memornn.golden.options import RunOptions
from memornn.hw.cycles import Latencies, sequence_cycles_delta, sequence_cycles_none
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
    assert sweep.runs == [Run("none", 0.0), Run("bnn", 0.1), Run("bnn", 0.2)] and len(sweep) == 4 * 2 * 3


def test_skip_sweeps_pair_builds_with_their_predictors():
    dropped = []
    configs = parse_sweeps(["skip=memo,delta", "datapath=parallel,shared"], dropped)
    # skip = delta needs the parallel datapath: that combination is left out, with its reason.
    assert [(c.skip, c.datapath) for c in configs] == [("memo", "parallel"), ("memo", "shared"), ("delta", "parallel")]
    assert len(dropped) == 1 and "needs datapath = 'parallel'" in dropped[0]
    deltas = parse_deltas("0,4", "8:24:8", ("none", "bnn", "delta"))
    assert deltas == ((0, 8), (0, 16), (0, 24), (4, 8), (4, 16), (4, 24))
    sweep = Sweep(configs, ("ecp5-85k",), ("none", "bnn", "delta"), (0.2,), deltas)
    assert [r.predictor for r in sweep.runs] == ["none", "bnn"] + ["delta"] * 6
    # memo builds: none and bnn; the delta build: none and the 6 delta runs.
    assert len(sweep) == 2 * 2 + 7
    assert [c.skip for c in sweep.configs_of(Run("delta", None, 0, 8))] == ["delta"]


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


@pytest.mark.parametrize("call, message", [
    (lambda: parse_sweeps(["skip=delta", "datapath=shared"]), "no swept combination is a valid configuration"),
    (lambda: Sweep((HwConfig(),), ("ecp5-85k",), ("none", "delta"), (), ((1, 1),)),
     "predictor 'delta' runs on no swept build (skip = memo runs bnn, none)"),
    (lambda: parse_deltas("4", None, ("delta",)), "predictor delta needs --delta-x and --delta-h"),
    (lambda: parse_deltas(None, "4", ("none", "bnn")), "--delta-h is given but --predictor has no delta"),
    (lambda: parse_deltas("0,256", "4", ("delta",)), "--delta-x 256 is out of range"),
    (lambda: parse_deltas("4", "8:4:2", ("delta",)), "--delta-h '8:4:2': a range is start:stop:step"),
    (lambda: parse_deltas("4", "x", ("delta",)), "--delta-h 'x' is not an integer"),
])
def test_bad_skip_sweeps_are_named(call, message):
    with pytest.raises(MemornnError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


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


def _used_in_order(result, key, lengths, reverse):
    """Per sequence, the used columns of each step in processing order, counted here."""
    out = []
    for i, n in enumerate(lengths):
        used = [int(result[key][i, t].sum()) for t in range(int(n))]
        out.append(used[::-1] if reverse else used)
    return out


def test_delta_cycles_are_the_exact_model_in_processing_order():
    """A bidirectional GRU: the reverse direction's first step is the sequence's last."""
    model = random_float_model("gru", 1, True, 3, 4, seed=4)
    batch = random_batch(3, sequences=3, max_len=5, seed=4, smooth=0.9)
    q = quantize_model(model, batch)
    config = HwConfig(mac_lanes=4, skip="delta")
    result = golden_run(q, batch, RunOptions.parse("delta", delta_x=6, delta_h=10))
    layout = make_layout(q, config)
    fwd = _used_in_order(result, "columns_l0", batch.lengths, False)
    bwd = _used_in_order(result, "columns_l0_reverse", batch.lengths, True)
    assert any(u != v[::-1] for u, v in zip(fwd, bwd))  # the order matters to the step-0 walk
    expected = sum(sequence_cycles_delta(layout, [f, b]) for f, b in zip(fwd, bwd))
    assert run_cycles(q, config, batch, result, "delta") == expected


def test_delta_cycles_by_hand_when_no_column_is_used(files):
    """Thresholds at their largest: no column is ever used, so each step is detection
    (N = X + H = 12 columns and the fill), the cell phase, and a rows phase that walks
    one column per group at step 0 and idles after."""
    from memornn.hw.delta_rows import DeltaRows

    q, batch = files["q"], files["batch"]
    config = HwConfig(mac_lanes=8, skip="delta")
    result = golden_run(q, batch, RunOptions.parse("delta", delta_x=255, delta_h=255))
    assert int(result["columns_used"].sum()) == 0
    layout = make_layout(q, config)
    lat = Latencies.of(layout)
    # 32 rows in 4 groups of 8: each group issues max(1, 8) beats but the last only its column.
    walk0 = 3 * 8 + 1 + 8 + DeltaRows.WALK_DRAIN + lat.requant
    step = 12 + DeltaRows.DETECT_FILL + lat.cell_cycles(8)
    expected = sum(lat.layer_start + int(n) * step + walk0 + (int(n) - 1) * DeltaRows.IDLE_ROWS
                   for n in batch.lengths)
    assert run_cycles(q, config, batch, result, "delta") == expected


def test_skip_sweep_rows_only_for_supported_pairs(files, tmp_path, capsys):
    folder = files["folder"]
    out = tmp_path / "dse"
    assert main(["dse", "--model", str(folder / "q.npz"), "--inputs", str(folder / "x.npz"), "--target", "ecp5-85k",
                 "--sweep", "skip=memo,delta", "--predictor", "none,bnn,delta", "--threshold", "0.3",
                 "--delta-x", "0,255", "--delta-h", "8,255", "--workers", "1", "--estimate-only", "--no-progress",
                 "-o", str(out)]) == 0
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    pairs = sorted((r["skip"], r["predictor"], r["delta_x"], r["delta_h"]) for r in rows)
    assert pairs == sorted([("memo", "none", "", ""), ("memo", "bnn", "", ""), ("delta", "none", "", "")]
                           + [("delta", "delta", x, h) for x in ("0", "255") for h in ("8", "255")])
    q, batch = files["q"], files["batch"]
    steps = int(batch.lengths.sum())
    layout = make_layout(q, HwConfig(skip="delta"))
    by = {(r["skip"], r["predictor"], r["delta_x"], r["delta_h"]): r for r in rows}
    for dx, dh in ((0, 8), (255, 255)):
        result = golden_run(q, batch, RunOptions.parse("delta", delta_x=dx, delta_h=dh))
        used = _used_in_order(result, "columns_l0", batch.lengths, False)
        expected = sum(sequence_cycles_delta(layout, [u]) for u in used)
        row = by[("delta", "delta", str(dx), str(dh))]
        assert float(row["cycles_per_step"]) * steps == pytest.approx(expected, abs=1e-6)
        dense = float(by[("delta", "none", "", "")]["cycles_per_step"])
        assert float(row["speedup"]) == pytest.approx(dense * steps / expected)
    assert float(by[("delta", "delta", "255", "255")]["speedup"]) > float(by[("delta", "delta", "0", "8")]["speedup"]) > 1
    assert (out / "pareto_us_luts.png").stat().st_size > 0


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
    (["--predictor", "oracle"], "unknown predictor 'oracle'"),
    (["--predictor", "none,delta"], "predictor delta needs --delta-x and --delta-h"),
    (["--predictor", "none,delta", "--delta-x", "4", "--delta-h", "8"], "predictor 'delta' runs on no swept build"),
    (["--sweep", "skip=delta"], "predictor 'bnn' runs on no swept build (skip = delta runs delta, none)"),
    (["--sweep", "skip=delta", "--predictor", "delta", "--delta-x", "300", "--delta-h", "8"],
     "--delta-x 300 is out of range"),
    (["--delta-x", "4"], "--delta-x is given but --predictor has no delta"),
    (["--sweep", "skip=fast"], "skip = 'fast' must be one of"),
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


def test_estimate_delta_config(files, tmp_path, capsys):
    """The delta build's DSP blocks: its lanes plus 10 (5 PWL units, 3 cell-update
    multipliers, the requantizer's 2; ECP5-85k synthesis of an 8-input 16-unit LSTM:
    12 blocks at P = 2, 14 at P = 4), none for a decision unit it does not have."""
    folder = files["folder"]
    config = tmp_path / "hw.toml"
    config.write_text('skip = "delta"\nmac_lanes = 4\n')
    argv = ["estimate", "--model", str(folder / "q.npz"), "--target", "ecp5-85k", "--json"]
    assert main(argv + ["--config", str(config)]) == 0
    delta = json.loads(capsys.readouterr().out)
    assert delta["dsps"] == 14 and delta["luts"] > 0 and delta["brams"] >= 0
    config.write_text('skip = "delta"\ndatapath = "shared"\n')
    assert main(argv + ["--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "skip = 'delta' needs datapath = 'parallel'" in err


def test_estimator_features_of_the_delta_build(files):
    from memornn.hw.synth.estimate import features, memory_shapes

    memo = features(make_layout(files["q"], HwConfig(mac_lanes=8)))
    layout = make_layout(files["q"], HwConfig(mac_lanes=8, skip="delta"))
    delta = features(layout)
    assert memo["delta"] == 0 and memo["delta_lanes"] == 0 and memo["bnn_width"] == 64
    assert delta["delta"] == 1 and delta["delta_lanes"] == 8 and delta["bnn_width"] == 0  # no BNN
    # 32 rows in 4 groups of 8 lanes: 4 accumulator words of 8 int32; N = 12 columns.
    shapes = {name: (width, depth) for name, width, depth in memory_shapes(layout)}
    assert shapes["acc"] == (256, 4) and shapes["v_last"] == (8, 12) and shapes["col_list"] == (4 + 9, 12)
    assert "weight_bits" not in shapes and "memo_yb" not in shapes


@pytest.mark.parametrize("config, brams", [
    # Yosys 0.68 on ECP5-85k put these in 3 and 7 DP16KD (the synthesis reports of the
    # estimator grid's delta part and of an earlier memo run of the same shape): seq_buf
    # 16 x 1024, weights 16 x 772 and the 32 x 64 bias a block each; the 21 x 64
    # requantization table and the 64 x 32 accumulator memory in LUT RAM.
    (HwConfig(mac_lanes=2, skip="delta"), 3),
    # seq_buf 64 x 256 and weights 64 x 193 two blocks each, weight signs 64 x 128 two, bias one.
    (HwConfig(mac_lanes=8, bnn_width=64, datapath="shared"), 7),
])
def test_ecp5_block_rams_of_synthesized_designs(config, brams):
    from memornn.hw.synth.estimate import ModelShape, ecp5_block_rams

    assert ecp5_block_rams(make_layout(ModelShape("lstm", 8, 16), config)) == brams


def test_dsps_of_a_cell_the_fit_has_not_seen():
    """A fit with only the parallel LSTM's count (11 blocks besides the lanes) and the delta
    build's (10): a GRU has 3 PWL units and 2 update multipliers against 5 and 3. ECP5-85k
    synthesis of a 16-input 32-unit GRU at P = 2 took 10 DSP blocks."""
    from memornn.hw.synth.estimate import FITTED, ModelShape, estimate

    fit = {"targets": {"ecp5-85k": {**{q: {} for q in FITTED},
                                    "dsp_other": {"lstm:parallel": 11, "lstm:parallel:delta": 10}}}}
    gru = ModelShape("gru", 16, 32)
    assert estimate(gru, HwConfig(mac_lanes=2), "ecp5-85k", fit)["dsps"] == 10
    assert estimate(gru, HwConfig(mac_lanes=2, skip="delta"), "ecp5-85k", fit)["dsps"] == 9
    assert estimate(ModelShape("lstm", 16, 32), HwConfig(mac_lanes=4, skip="delta"), "ecp5-85k", fit)["dsps"] == 14
