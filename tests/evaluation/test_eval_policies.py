"""Every policy chosen on validation and reported on test (evaluation/policies.py, policy_report.py)."""

import numpy as np
import pytest

from eval_testlib import tiny_dataset, tiny_model
from memornn.evaluation.datasets import Dataset
from memornn.evaluation.policies import evaluate_policies, margin_study, pareto, split_halves
from memornn.evaluation.policy_report import goals, plot_policies, report_markdown
from memornn.evaluation.tuning import ValidationSet
from memornn.golden.errors import MemornnError
from memornn.golden.quantize import quantize_model


def _with_val(seed=0):
    d = tiny_dataset(train=12, test=14, max_len=8, seed=seed)
    v = tiny_dataset(train=2, test=12, max_len=8, seed=seed + 10)
    return Dataset("tiny", d.train, d.y_train, d.test, d.y_test, d.classes, v.test, v.y_test)


def test_evaluate_policies_reads_test_only_for_the_chosen_settings(monkeypatch, tmp_path):
    data = _with_val()
    import memornn.evaluation.tuning as tuning

    order, real = [], tuning.golden_run
    monkeypatch.setattr(tuning, "golden_run", lambda m, b, *a, **k: order.append(b is data.test) or real(m, b, *a, **k))
    res = evaluate_policies(tiny_model("gru", hidden=6), data, "tiny", ("none", "bnn", "oracle"), max_loss=5.0,
                            margin=1.0, show_progress=False)
    first_test = order.index(True)
    assert not any(order[:first_test]) and all(order[first_test:])  # every choice made before the test is read
    assert res["val_sequences"] == 12 and res["test_sequences"] == 14
    for name in ("none", "bnn", "oracle"):
        entry = res["policies"][name]
        if entry["chosen"] is not None:
            assert entry["chosen"]["loss"] <= 4.0 + 1e-9
            assert entry["test"]["setting"] == entry["chosen"]["setting"]
    assert res["policies"]["none"]["test"]["loss"] == 0.0 and res["policies"]["none"]["test"]["macs_skipped"] == 0.0
    text = report_markdown([res], "cmd", "abc", ("none", "bnn", "oracle"))
    assert "| tiny | tiny | gru 1x6 |" in text and "Not run: delta, sign, hybrid" in text
    plot_policies(res, str(tmp_path / "p.png"))
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(MemornnError, match="no validation split"):
        evaluate_policies(tiny_model(), tiny_dataset(), "t", ("bnn",), show_progress=False)


def test_pareto_and_halves():
    pts = [{"loss": l, "macs_skipped": m} for l, m in [(0, 10), (0.5, 20), (0.4, 30), (2, 25), (1, 60), (0, 5)]]
    assert [(p["loss"], p["macs_skipped"]) for p in pareto(pts)] == [(0, 10), (0.4, 30), (1, 60)]
    even, odd = split_halves(5)
    assert even.tolist() == [True, False, True, False, True] and (even ^ odd).all()


def test_margin_study_measures_on_the_other_half():
    data = _with_val(1)
    qmodel = quantize_model(tiny_model(hidden=5), data.train)
    val = ValidationSet(qmodel, data.val, data.y_val)
    study = margin_study(val, "oracle", 10.0)
    even, odd = split_halves(data.val.size)
    assert len(study) == 2
    for d, other in zip(study, (odd, even)):
        if d["setting"] is not None:
            assert d["other_loss"] == pytest.approx(val.point("oracle", d["setting"], other)["loss"])
            assert d["gap"] == pytest.approx(d["other_loss"] - d["chosen_loss"])


def _result(skipped: dict, float_acc=95.0, int_acc=94.5):
    return {"float_accuracy": float_acc, "int_accuracy": int_acc,
            "policies": {p: {"test": None if v is None else {"macs_skipped": v}} for p, v in skipped.items()}}


def test_goals():
    g = goals(_result({"none": 0.0, "bnn": 50.0, "oracle": 90.0, "delta": 70.0, "sign": 65.0, "hybrid": 80.0}))
    # delta leaves 30 %, the hybrid 20 % <= 30 / 1.3 = 23.1 %: met; the oracle is not a candidate.
    assert g["best"] == "hybrid" and g["best_ge_delta"] and g["best_ge_bnn_plus_10"]
    assert g["hybrid_leaves_at_most_delta_over_1.3"] and g["int_within_1pt_of_float"]
    g = goals(_result({"bnn": 55.0, "delta": 60.0, "hybrid": 68.0}, int_acc=93.9))
    assert g["best_ge_bnn_plus_10"] and not g["hybrid_leaves_at_most_delta_over_1.3"]  # 32 > 40 / 1.3 = 30.8
    assert not g["int_within_1pt_of_float"]
    g = goals(_result({"bnn": None, "delta": 85.0, "hybrid": 86.0}))  # delta leaves < 20 %: goal does not apply
    assert g["hybrid_leaves_at_most_delta_over_1.3"] is None and g["best_ge_bnn_plus_10"]
    g = goals(_result({"bnn": 40.0}))
    assert g["best_ge_delta"] is None and not g["best_ge_bnn_plus_10"]
    assert np.isclose(g["best_macs_skipped"], 40.0)


def test_curve_points():
    from memornn.evaluation.policies import curve_points
    from memornn.evaluation.tuning import Param

    pts = [{"setting": {"t": i}, "loss": l, "macs_skipped": m} for i, (l, m) in enumerate([(0, 10), (0, 30), (2, 20)])]
    one = (Param("t", (0, 1, 2)),)
    assert [p["setting"]["t"] for p in curve_points(pts, pts[0], one)] == [0, 2, 1]  # every point, by MACs
    two = (Param("t", (0, 1, 2)), Param("u", (0,)))
    assert [p["setting"]["t"] for p in curve_points(pts, pts[0], two)] == [0, 1]  # Pareto (t 1) + chosen (t 0)
