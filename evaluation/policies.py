"""Every skip policy on one model, chosen on validation and reported on test.

For a float model with a classifier head and a data set with a validation split: the
model is quantized with the training split as calibration; each policy's setting is
chosen on the validation split by :func:`~.tuning.tune` (the rule of ``memornn tune``,
its default safety margin); the chosen setting is then run once on the test split, which
nothing before that step has read. Loss is in accuracy points against the integer model
without skipping on the same split: the choice uses the one-sided loss of
:mod:`.tuning`, the test columns report the net accuracy loss (and the one-sided one as
``broken``).

The split-half study measures the margin's need without the test split: each policy is
chosen on one half of the validation split with no margin and measured on the other.
"""

from __future__ import annotations

import numpy as np

from ..golden.errors import MemornnError
from ..golden.floatmodel import FloatModel
from ..golden.floatref import float_forward
from ..golden.intmodel import PREDICTORS as GOLDEN_PREDICTORS
from ..golden.quantize import quantize_model
from .datasets import Dataset
from .metrics import accuracy
from .progress import progress
from .tuning import DEFAULT_MARGIN, POLICY_SPACES, ValidationSet, tune

#: The policies compared, in table order.
POLICIES = ("none", "bnn", "oracle", "delta", "sign", "hybrid")
#: Policies left out of the split-half study: none has nothing to choose; the hybrid's
#: greedy walks on each half would triple its cost, the largest of the benchmark.
NO_MARGIN_STUDY = ("none", "hybrid")


def available_policies() -> tuple[str, ...]:
    """The policies of :data:`POLICIES` this golden model runs."""
    return tuple(p for p in POLICIES if p in GOLDEN_PREDICTORS and p in POLICY_SPACES)


def pareto(points: list[dict]) -> list[dict]:
    """The evaluated points no other point beats on both loss (lower) and MACs skipped (higher),
    by MACs skipped."""
    front = []
    for p in sorted(points, key=lambda p: (-p["macs_skipped"], p["loss"])):
        if not front or p["loss"] < front[-1]["loss"] - 1e-12:
            front.append(p)
    return sorted(front, key=lambda p: p["macs_skipped"])


def curve_points(points: list[dict], best: dict | None, space) -> list[dict]:
    """The settings a policy's plot shows on test: every evaluated one of a one-parameter
    policy; else the validation Pareto points and the chosen one. By MACs skipped on validation."""
    chosen = pareto(points) if len(space) > 1 else list(points)
    if best is not None and all(p["setting"] != best["setting"] for p in chosen):
        chosen.append(best)
    return sorted(chosen, key=lambda p: p["macs_skipped"])


def split_halves(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Even and odd positions of the validation split, as boolean masks."""
    even = np.arange(n) % 2 == 0
    return even, ~even


def margin_study(val: ValidationSet, predictor: str, max_loss: float) -> list[dict]:
    """Choose on one half with no margin, measure on the other (both ways).

    Returns
    -------
    list of dict
        Per direction: ``chosen_loss`` (on the choosing half), ``other_loss`` (on the
        other half) and ``gap`` (their difference), or an entry with ``setting`` None when
        nothing was within the budget.
    """
    out = []
    for choose_on, other in (split_halves(val.batch.size), split_halves(val.batch.size)[::-1]):
        res = tune(val, predictor, max_loss, margin=0.0, subset=choose_on)
        if res.best is None:
            out.append({"setting": None})
            continue
        other_loss = val.point(predictor, res.best["setting"], other)["loss"]
        out.append({"setting": res.best["setting"], "chosen_loss": res.best["loss"], "other_loss": other_loss,
                    "gap": other_loss - res.best["loss"]})
    return out


def evaluate_policies(model: FloatModel, data: Dataset, name: str, policies=None, max_loss: float = 1.0,
                      margin: float = DEFAULT_MARGIN, show_progress: bool = True) -> dict:
    """Choose every policy on validation, report it on test (module docstring).

    Returns
    -------
    dict
        JSON-ready: model facts, ``float_accuracy`` / ``int_accuracy`` (test and
        ``val_*``), and per policy in ``policies``: ``chosen`` (setting, validation loss
        and MACs skipped, or None), ``test`` (accuracy, loss, MACs skipped of the chosen
        setting; None without a choice), ``curve`` (:func:`curve_points` measured on
        test, for the plot), ``settings_tried`` and ``margin_study``.
    """
    if data.val is None:
        raise MemornnError(f"the {data.name} data set has no validation split")
    if model.head_weight is None:
        raise MemornnError("the model has no classifier head")
    policies = available_policies() if policies is None else tuple(policies)
    qmodel = quantize_model(model, data.train)
    val = ValidationSet(qmodel, data.val, data.y_val)
    results = {
        "model": name, "dataset": data.name, "cell": model.cell, "layers": model.num_layers,
        "hidden": model.hidden_size, "input_size": model.input_size, "max_loss": max_loss, "margin": margin,
        "train_sequences": data.train.size, "val_sequences": data.val.size, "test_sequences": data.test.size,
        "float_accuracy": accuracy(model, float_forward(model, data.test), data.test, data.y_test),
        "val_float_accuracy": accuracy(model, float_forward(model, data.val), data.val, data.y_val),
        "val_int_accuracy": 100.0 * float(val.baseline_good().mean()), "policies": {},
    }
    chosen = {}
    for predictor in progress(policies, desc=f"choose {name}", enabled=show_progress):
        res = tune(val, predictor, max_loss, margin)
        chosen[predictor] = res
        results["policies"][predictor] = {
            "chosen": res.best, "settings_tried": len(res.points), "budget": res.budget,
            "margin_study": margin_study(val, predictor, max_loss) if predictor not in NO_MARGIN_STUDY else [],
        }
    # The test split is read from here on, and only for the settings chosen above.
    test = ValidationSet(qmodel, data.test, data.y_test)
    results["int_accuracy"] = 100.0 * float(test.baseline_good().mean())
    for predictor, res in chosen.items():
        entry = results["policies"][predictor]
        entry["test"] = None if res.best is None else _test_point(test, predictor, res.best["setting"])
        entry["curve"] = [dict(_test_point(test, predictor, p["setting"]), val_loss=p["loss"])
                          for p in curve_points(res.points, res.best, POLICY_SPACES[predictor])]
    return results


def _test_point(test: ValidationSet, predictor: str, setting: dict) -> dict:
    """Test accuracy, net accuracy loss (``loss``), decisions broken and MACs skipped of a setting."""
    point = test.point(predictor, setting)
    return {"setting": setting, "accuracy": 100.0 * float(test.outcome(predictor, setting).good.mean()),
            "loss": point["accuracy_loss"], "broken": point["loss"], "macs_skipped": point["macs_skipped"]}
