"""The delta datapath (``skip = "delta"``) in amaranth.sim against the golden model's
``delta`` policy: outputs, used-column trace, counters; its configuration, weight image,
register map and exact cycle model with every column used."""

import numpy as np
import pytest

from memornn.golden.errors import MemornnError
from memornn.golden.intmodel import golden_run
from memornn.golden.options import RunOptions
from memornn.golden.qmodel import layer_suffix
from memornn.golden.randmodel import random_batch
from memornn.hw import contract
from memornn.hw.config import HwConfig
from memornn.hw.cycles import sequence_cycles_delta, sequence_cycles_delta_dense
from memornn.hw.layout import make_layout, memory_images
from memornn.sim.amaranth_backend import run_amaranth
from memornn.sim.compare import first_mismatch
from memornn.sim.randmodel import random_qmodel


def _model(cell, layers, bidir, x, h, seed=0):
    shape = {"cell": cell, "num_layers": layers, "bidirectional": bidir, "input_size": x, "hidden_size": h,
             "pwl_segments": 16}
    return random_qmodel(shape, np.random.default_rng(seed))


def _delta(dx, dh):
    return RunOptions.parse("delta", delta_x=dx, delta_h=dh)


# cell, layers, bidir, X, H, P, delta_x, delta_h: odd sizes, P not dividing G*H, rows in the
# last group fewer than P, GRU candidate rows straddling a group, per-layer thresholds.
CASES = [
    ("lstm", 1, False, 5, 6, 4, "2", "3"),
    ("gru", 1, False, 3, 5, 3, "1", "2"),
    ("gru", 2, True, 4, 3, 5, "0,3", "2,1"),
    ("lstm", 2, False, 3, 4, 8, "3", "0,4"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(str(v) for v in c))
def test_delta_core_matches_golden(case):
    cell, layers, bidir, x, h, p, dx, dh = case
    model = _model(cell, layers, bidir, x, h)
    batch = random_batch(x, sequences=2, max_len=4, seed=1, smooth=0.8)
    options = _delta(dx, dh)
    golden = golden_run(model, batch, options)
    hw = run_amaranth(model, batch, HwConfig(mac_lanes=p, max_seq_len=4, skip="delta"), options)
    assert first_mismatch(golden, hw) is None
    # the case skips columns and uses columns, so both paths of the walk ran
    assert golden["columns_used"].sum() > 0 and golden["columns_skipped"].sum() > 0
    # the cycle model is exact given each step's used columns (golden's), in processing order
    layout = make_layout(model, HwConfig(mac_lanes=p, max_seq_len=4, skip="delta"))
    for i, n in enumerate(int(v) for v in batch.lengths):
        used = [golden["columns" + layer_suffix(d.layer, d.direction)][i, :n].sum(axis=1)[::-1 if d.direction else 1]
                for d in layout.layers]
        assert hw["cycles"][i] == sequence_cycles_delta(layout, used)


def _last_column_alone_case():
    """A small model, inputs and thresholds where some step (after step 0) uses the last
    column (h[H-1]) and no other: found by searching seeds in the golden model."""
    options = _delta(255, 6)  # no x column is ever used
    for seed in range(100):
        model = _model("lstm", 1, False, 2, 3, seed=seed)
        batch = random_batch(2, sequences=1, max_len=4, seed=seed, smooth=0.5)
        used = golden_run(model, batch, options)["columns_l0"][0, 1:4]
        if any(list(np.flatnonzero(step)) == [4] for step in used):
            return model, batch, options
    raise AssertionError("no seed gives a step with only the last column used")


def test_a_step_with_only_the_last_column_used_walks():
    """Regression: the walk starts with the last column still in detection (its count
    one short); a step whose only used column is the last one must still walk."""
    model, batch, options = _last_column_alone_case()
    hw = run_amaranth(model, batch, HwConfig(mac_lanes=2, max_seq_len=4, skip="delta"), options)
    assert first_mismatch(golden_run(model, batch, options), hw) is None


def test_thresholds_zero_give_the_outputs_of_none():
    """With theta_x = theta_h = 0 the persistent accumulators are exact: predictor none's outputs."""
    model = _model("gru", 1, True, 4, 5, seed=3)
    batch = random_batch(4, sequences=2, max_len=4, seed=2, smooth=0.5)
    config = HwConfig(mac_lanes=4, max_seq_len=4, skip="delta", weight_memory="loaded")  # weights loaded first
    hw = run_amaranth(model, batch, config, _delta(0, 0))
    assert np.array_equal(hw["h_int"], golden_run(model, batch, 0.0, "none")["h_int"])
    assert hw["columns_skipped"].sum() > 0  # unchanged columns (h at step 0) are still skipped


def test_predictor_none_uses_every_column_in_exact_cycles():
    """CTRL.PREDICTOR = 0 on a delta build: predictor none's table, and the cycle model's
    count with every column used (a sequence of each length)."""
    model = _model("lstm", 2, True, 3, 4, seed=4)
    batch = random_batch(3, sequences=3, max_len=4, seed=3)
    config = HwConfig(mac_lanes=3, max_seq_len=4, skip="delta")
    hw = run_amaranth(model, batch, config, 0.0, "none")
    assert first_mismatch(golden_run(model, batch, 0.0, "none"), hw) is None
    layout = make_layout(model, config)
    assert list(hw["cycles"]) == [sequence_cycles_delta_dense(layout, int(n)) for n in batch.lengths]
    assert list(hw["columns_skipped"]) == [0, 0, 0]


def test_policies_the_build_does_not_run_are_refused():
    model = _model("lstm", 1, False, 3, 4)
    batch = random_batch(3, sequences=1, max_len=2, seed=0)
    with pytest.raises(MemornnError, match="skip = 'delta' build runs predictors delta and none, not 'bnn'"):
        run_amaranth(model, batch, HwConfig(mac_lanes=2, max_seq_len=2, skip="delta"), 0.2, "bnn")
    with pytest.raises(MemornnError, match="skip = 'memo' build runs predictors bnn and none, not 'delta'"):
        run_amaranth(model, batch, HwConfig(mac_lanes=2, max_seq_len=2), _delta(1, 1))


@pytest.mark.parametrize("values, message", [
    ({"skip": "rows"}, "skip = 'rows' must be one of memo, delta"),
    ({"skip": "delta", "datapath": "shared"}, "skip = 'delta' needs datapath = 'parallel', got datapath = 'shared'"),
])
def test_bad_skip_config_is_refused(values, message):
    with pytest.raises(MemornnError, match=message):
        HwConfig(**values)


def test_tiled_weight_image_holds_column_j_of_a_row_group():
    """Word g*N + j, lane i: W[g*P + i, j] (zero past the last row), layer directions in turn."""
    model = _model("gru", 2, True, 3, 5, seed=6)
    layout = make_layout(model, HwConfig(mac_lanes=4, skip="delta"))
    words = memory_images(model, layout)["weights"]
    assert len(words) == layout.weight_depth
    for desc in layout.layers:
        weight = model.layers[desc.layer][desc.direction].weight
        n = desc.in_size + layout.hidden
        for g in range(layout.groups):
            for j in range(n):
                word = words[desc.weight_base + g * n + j]
                lanes = [(word >> (8 * i)) & 0xFF for i in range(4)]
                want = [int(weight[g * 4 + i, j]) & 0xFF if g * 4 + i < layout.rows else 0 for i in range(4)]
                assert lanes == want, (desc, g, j)


def test_delta_register_map():
    """Version 3; the delta counters in the counter slots; THETA<k> names the delta fields."""
    assert contract.ID_VALUE & 0xFFFF == 3
    mapped = {r.name: r.offset for r in contract.mapped_registers(2, "delta")}
    for i, name in enumerate(contract.DELTA_COUNTER_NAMES):
        assert mapped[f"{name.upper()}_LO"] == contract.COUNTER_BASE + 8 * i
    assert "NEURONS_REUSED_LO" not in mapped and "BNN_EVALS_LO" not in mapped
    assert "NEURONS_REUSED_LO" in {r.name for r in contract.mapped_registers(2)}
    assert "[23:16] DELTA_X, [31:24] DELTA_H" in contract.REGISTER_BY_NAME["THETA0"].description


def test_simulate_command_runs_delta_on_a_delta_build(tmp_path, capsys):
    """``memornn simulate --predictor delta`` with ``skip = "delta"``: the golden command's
    keys, bit for bit; on a memo build: a one-line error naming the predictor."""
    from memornn.cli import main

    model = _model("lstm", 1, False, 3, 4, seed=8)
    batch = random_batch(3, sequences=2, max_len=3, seed=5, smooth=0.7)
    model.save(tmp_path / "q.npz")
    np.savez(tmp_path / "x.npz", x=batch.x, lengths=batch.lengths)
    (tmp_path / "delta.toml").write_text('skip = "delta"\nmac_lanes = 2\nmax_seq_len = 4\n')
    common = ["--model", str(tmp_path / "q.npz"), "--inputs", str(tmp_path / "x.npz"), "--predictor", "delta",
              "--delta-x", "2", "--delta-h", "3"]
    assert main(["simulate", "--simulator", "amaranth", "--config", str(tmp_path / "delta.toml"), *common,
                 "-o", str(tmp_path / "hw.npz")]) == 0
    assert main(["golden", *common, "-o", str(tmp_path / "golden.npz")]) == 0
    with np.load(tmp_path / "hw.npz") as hw, np.load(tmp_path / "golden.npz") as ref:
        assert "columns_l0" in ref.files
        for key in ref.files:
            assert np.array_equal(hw[key], ref[key]), key
    capsys.readouterr()
    assert main(["simulate", "--simulator", "amaranth", *common, "-o", str(tmp_path / "memo.npz")]) != 0
    err = capsys.readouterr().err
    assert "predictor 'delta' is not implemented by a skip = 'memo' build" in err and err.count("\n") == 1
    assert not (tmp_path / "memo.npz").exists()
