"""The energy model: table reading, SRAM interpolation, operation counts and the breakdown,
checked against hand-computed figures; ``memornn energy`` from the command line."""

import json
import math

import numpy as np
import pytest

from memornn.cli import main
from memornn.golden.errors import MemornnError
from memornn.golden.intmodel import golden_run
from memornn.golden.quantize import quantize_model
from memornn.golden.randmodel import random_batch, random_float_model
from memornn.hw.config import HwConfig
from memornn.hw.energy import (DEFAULT_TABLE, KINDS, MemorySizes, energy_breakdown, energy_report, load_table,
                               operation_counts)
from memornn.hw.layout import make_layout


@pytest.fixture(scope="module")
def table():
    return load_table()


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A 1x4 LSTM with 3 inputs, its batch, and golden runs with none and bnn."""
    model = random_float_model("lstm", 1, False, 3, 4, seed=5)
    batch = random_batch(3, sequences=3, max_len=5, seed=5, smooth=0.9)
    q = quantize_model(model, batch)
    folder = tmp_path_factory.mktemp("energy")
    q.save(folder / "q.npz")
    np.savez(folder / "x.npz", x=batch.x, lengths=batch.lengths)
    return {"q": q, "batch": batch, "folder": folder, "none": golden_run(q, batch, 0.0, "none"),
            "bnn": golden_run(q, batch, 0.5, "bnn")}


def test_default_table_holds_horowitz_figures(table):
    assert table.ops["add8"] == 0.03 and table.ops["mul8"] == 0.2 and table.ops["add32"] == 0.1
    assert table.sram == ((8192.0, 10.0), (32768.0, 20.0), (1048576.0, 100.0))
    assert table.dram_pj_per_32b == 640.0


def test_sram_energy_interpolates_on_log_log_scale(table):
    assert table.sram_pj(8192, 64) == pytest.approx(10.0)
    assert table.sram_pj(32768, 128) == pytest.approx(40.0)
    # Halfway between 8 KB and 32 KB on a log scale: the geometric mean of 10 and 20 pJ.
    assert table.sram_pj(16384, 64) == pytest.approx(math.sqrt(200.0))
    # Below the smallest point: the first segment's slope (x0.5 per quarter of the size).
    assert table.sram_pj(2048, 64) == pytest.approx(5.0)


def test_counts_follow_the_golden_counters(small):
    layout = make_layout(small["q"], HwConfig())
    lengths = small["batch"].lengths
    dense = operation_counts(small["none"], layout, "none", lengths)
    steps = int(lengths.sum())
    assert dense["evaluated"] == steps * 16 and dense["computed"] == steps * 16  # 4 gates x 4 units
    assert dense["macs"] == steps * 16 * (3 + 4) and dense["unit_steps"] == steps * 4
    assert dense["sign_bits"] == 0 and dense["decisions"] == 0
    memo = operation_counts(small["bnn"], layout, "bnn", lengths)
    assert memo["computed"] == int(small["bnn"]["neurons_computed"].sum()) < dense["computed"]
    # Every neuron's BNN reads its row's X + H sign bits every step.
    assert memo["sign_bits"] == int(small["bnn"]["bnn_evals"].sum()) * (3 + 4)


def test_breakdown_by_hand(small, table):
    """The MAC, activation and decision lines from the table's figures and the counts."""
    layout = make_layout(small["q"], HwConfig())
    counts = {"macs": 1000, "computed": 10, "evaluated": 16, "unit_steps": 4, "sign_bits": 112, "decisions": 16,
              "memo_meta_bits": 0, "accumulator_updates": 0, "predictor_ops": 0, "requantized": 10,
              "operand_bits": 8000, "column_tests": 0, "weight_bits": 8000, "accumulator_bits": 0, "v_last_bits": 0,
              "column_list_bits": 0}
    pj = energy_breakdown(counts, layout, table)
    assert set(pj) == set(KINDS)
    assert pj["mac"] == pytest.approx(1000 * (0.2 + 0.1))
    assert pj["activation"] == pytest.approx(4 * 5 * (0.8 + 0.05))
    assert pj["decision"] == pytest.approx(16 * (0.05 + 0.8))
    assert pj["predictor_logic"] == pytest.approx(112 * 0.00375)
    mem = MemorySizes.of(layout)
    assert pj["weight_read"] == pytest.approx(table.sram_pj(mem.weights, 8000))
    in_dram = energy_breakdown(counts, layout, table, weights_in_dram=True)
    assert in_dram["weight_read"] == pytest.approx(8000 / 32 * 640)


def test_report_saving_is_net_of_the_predictor(small, table):
    layout = make_layout(small["q"], HwConfig())
    lengths = small["batch"].lengths
    report = energy_report(small["bnn"], layout, "bnn", lengths, table, dense=small["none"])
    dense = energy_report(small["none"], layout, "none", lengths, table)
    assert report["dense_nj"] == pytest.approx(dense["energy_per_inference_nj"])
    assert report["energy_per_inference_nj"] == pytest.approx(sum(report["breakdown"].values()))
    assert report["saving_percent"] == pytest.approx(
        100 * (1 - report["energy_per_inference_nj"] / dense["energy_per_inference_nj"]))
    overhead = sum(report["breakdown"][k] for k in ("predictor_read", "predictor_logic", "decision"))
    assert overhead > 0 and report["predictor_overhead_percent"] == pytest.approx(100 * overhead / report["dense_nj"])
    # One sign bit against eight weight bits per dense MAC.
    assert report["sign_bits_percent_of_dense_weight_bits"] == pytest.approx(12.5)


def test_oracle_has_no_energy_model(small, table):
    layout = make_layout(small["q"], HwConfig())
    with pytest.raises(MemornnError, match="oracle"):
        operation_counts(small["none"], layout, "oracle", small["batch"].lengths)


@pytest.mark.parametrize("text, message", [
    ("[ops_pj]\nadd8 = 1\n", "lacks 'add16'"),
    ("name = 'x'\nbogus = 1\n", "unknown key 'bogus'"),
    ("[ops_pj\n", "not valid TOML"),
])
def test_malformed_tables_are_refused(tmp_path, text, message):
    path = tmp_path / "t.toml"
    path.write_text(text)
    with pytest.raises(MemornnError, match=message):
        load_table(str(path))


def test_negative_energy_is_refused(tmp_path):
    with open(DEFAULT_TABLE) as f:
        text = f.read().replace("mul8 = 0.2", "mul8 = -0.2")
    path = tmp_path / "t.toml"
    path.write_text(text)
    with pytest.raises(MemornnError, match=r"ops_pj.mul8 must be a positive number, got -0.2"):
        load_table(str(path))


def test_cli_json(small, capsys):
    folder = small["folder"]
    assert main(["energy", "--model", str(folder / "q.npz"), "--inputs", str(folder / "x.npz"),
                 "--threshold", "0.5", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["breakdown"]) == set(KINDS)
    assert report["energy_per_inference_nj"] == pytest.approx(sum(report["breakdown"].values()))
    assert report["saving_percent"] < 100


def test_cli_bad_table_is_one_line(small, tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[ops_pj\n")
    folder = small["folder"]
    assert main(["energy", "--model", str(folder / "q.npz"), "--inputs", str(folder / "x.npz"),
                 "--table", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not valid TOML" in err


@pytest.mark.parametrize("predictor, options", [
    ("delta", {"delta_x": "2", "delta_h": "2"}),
    ("sign", {"threshold": "0.02"}),
    ("hybrid", {"delta_x": "2", "delta_h": "2", "threshold": "0.02", "reuse_cap": 2}),
])
def test_policy_counts_come_from_their_counters(small, predictor, options):
    """Each policy's operations are its own counters: the column stage's tests, a moved
    accumulator's read-write and requantization, one operand per used column, the sign
    row stage's adds and weight-sign bits (3 a weight with 3-bit row weights)."""
    from memornn.golden.options import RunOptions

    run = golden_run(small["q"], small["batch"], RunOptions.parse(predictor, **options))
    layout = make_layout(small["q"], HwConfig())
    counts = operation_counts(run, layout, predictor, small["batch"].lengths, row_weights=3)

    def total(name):
        return int(run[name].sum())
    tests = total("columns_used") + total("columns_skipped") if predictor != "sign" else 0
    assert counts["column_tests"] == tests
    if predictor == "sign":
        assert counts["requantized"] == total("neurons_computed") and counts["accumulator_updates"] == 0
        assert counts["operand_bits"] == 8 * total("macs")
    else:
        assert counts["requantized"] == counts["accumulator_updates"] == total("acc_updates")
        catchup = total("catchup_macs") if predictor == "hybrid" else 0
        assert counts["operand_bits"] == 8 * (total("columns_used") + catchup)
    row_ops = total("predictor_ops") - tests
    assert counts["predictor_ops"] == (row_ops if predictor != "delta" else 0)
    assert counts["sign_bits"] == (3 * row_ops if predictor != "delta" else 0)
    assert counts["macs"] == total("macs")


def test_delta_build_memories_by_hand(small):
    """1x4 LSTM, X = 3, P = 8: 16 rows in 2 row groups; N = 7 columns."""
    from memornn.golden import numerics as nx

    mem = MemorySizes.of(make_layout(small["q"], HwConfig(skip="delta")))
    assert mem.accumulators == 2 * 8 * 4  # a word of 8 int32 per row group
    assert mem.v_last == 7 and mem.column_list == 7 * (3 + 9) // 8  # entry: 3-bit column, 9-bit change
    assert mem.memo == 16 * nx.PRE_BITS // 8 and mem.weight_bits == 0
    assert mem.weights == 2 * 7 * 8  # tiled: a P-lane word per (group, column)


def test_delta_build_counts_by_hand(small):
    """Predictor none on the delta build uses all 7 columns every step; delta its used ones."""
    from memornn.golden.options import RunOptions

    layout = make_layout(small["q"], HwConfig(skip="delta"))
    lengths = small["batch"].lengths
    steps = int(lengths.sum())
    dense = operation_counts(small["none"], layout, "none", lengths)
    assert dense["column_tests"] == 7 * steps and dense["operand_bits"] == 8 * 7 * steps
    assert dense["weight_bits"] == 2 * 7 * 64 * steps  # 2 groups x 7 columns x a 64-bit word
    assert dense["accumulator_bits"] == 2 * 256 * 2 * steps  # 2 words of 256 bits, read and written
    assert dense["v_last_bits"] == 8 * 14 * steps and dense["column_list_bits"] == 7 * 3 * 12 * steps
    assert dense["requantized"] == 16 * steps and dense["sign_bits"] == 0 and dense["macs"] == 16 * 7 * steps
    run = golden_run(small["q"], small["batch"], RunOptions.parse("delta", delta_x=4, delta_h=8))
    used, skipped, moved = (int(run[k].sum()) for k in ("columns_used", "columns_skipped", "acc_updates"))
    assert 0 < used < 7 * steps and used + skipped == 7 * steps
    delta = operation_counts(run, layout, "delta", lengths)
    assert delta["weight_bits"] == 2 * used * 64 and delta["accumulator_bits"] == moved // 16 * 2 * 256 * 2
    assert delta["v_last_bits"] == 8 * (7 * steps + used) and delta["column_list_bits"] == used * 3 * 12
    with pytest.raises(MemornnError, match="counts predictors none and delta, not 'bnn'"):
        operation_counts(small["bnn"], layout, "bnn", lengths)


def _toml(tmp_path, text):
    path = tmp_path / "hw.toml"
    path.write_text(text)
    return str(path)


def test_cli_delta_config(small, tmp_path, capsys):
    folder = small["folder"]
    base = ["energy", "--model", str(folder / "q.npz"), "--inputs", str(folder / "x.npz"), "--json"]
    delta = ["--predictor", "delta", "--delta-x", "4", "--delta-h", "8"]
    assert main(base + delta + ["--config", _toml(tmp_path, 'skip = "delta"\n')]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["breakdown"]["column_detect"] > 0 and report["breakdown"]["accumulator"] > 0
    assert report["breakdown"]["predictor_read"] == 0 and 0 < report["saving_percent"] < 100
    assert main(base + delta) == 0  # without a file: the delta build's defaults
    assert json.loads(capsys.readouterr().out) == report
    assert main(base + ["--predictor", "bnn", "--config", _toml(tmp_path, 'skip = "delta"\n')]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "predictor 'bnn' does not run on the skip = 'delta' build" in err
