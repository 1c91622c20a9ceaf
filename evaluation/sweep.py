"""The threshold sweep: accuracy, reuse and MACs avoided of the integer model against theta.

For a float model with a classifier head and a data set, the model is quantized with
the training split as calibration, then run on the test split: once without
memoization (predictor ``none``: the integer baseline) and once per threshold and
predictor. The accuracy loss of a memoized run is in points (percentage points)
against that integer baseline.

When the data set has a validation split, every threshold also runs there
(``val_loss``, ``val_macs_avoided``), and the best threshold is chosen on those
validation figures alone by ``memornn tune``'s rule (:mod:`.tuning`: most MACs avoided
with a validation loss within ``MAX_LOSS`` minus the safety margin, no failing
threshold below it); the test figures of the chosen point are what tables report.
"""

from __future__ import annotations

import numpy as np

from ..golden.errors import MemornnError
from ..golden.floatmodel import FloatModel
from ..golden.floatref import float_forward, last_outputs
from ..golden.intmodel import check_reuse_cap, golden_run
from ..golden.numerics import THETA_FRAC, theta_to_q
from ..golden.quantize import quantize_model
from .datasets import Dataset, subset
from .metrics import GATE_NAMES, accuracy, macs_avoided_percent, reuse_by_gate, reuse_percent
from .progress import progress
from .tuning import DEFAULT_MARGIN, Param, ValidationSet, choose

SWEEP_PREDICTORS = ("bnn", "oracle")
#: Accuracy loss (points, against the integer model without memoization) that
#: :func:`best_threshold` accepts by default.
MAX_LOSS = 1.0


def check_predictors(spec) -> list[str]:
    """``"bnn,oracle"`` or a sequence to a list of sweep predictors; one-line error otherwise."""
    names = [p.strip() for p in spec.split(",")] if isinstance(spec, str) else [str(p) for p in spec]
    if not names or any(not p for p in names):
        raise MemornnError(f"predictor list {spec!r} is empty or has an empty entry")
    for p in names:
        if p not in SWEEP_PREDICTORS:
            raise MemornnError(f"unknown predictor {p!r} for a sweep (choose from {', '.join(SWEEP_PREDICTORS)})")
    return list(dict.fromkeys(names))


def run_sweep(model: FloatModel, data: Dataset, thresholds, predictors=SWEEP_PREDICTORS, reuse_cap: int = 0,
              use_offsets: bool = True, limit: int | None = None, name: str = "model",
              show_progress: bool = True) -> dict:
    """Sweep the reuse threshold for each predictor.

    Parameters
    ----------
    model : FloatModel
        With ``head_weight`` / ``head_bias``.
    data : Dataset
        Calibration from ``data.train``; evaluation on ``data.test``; the best
        threshold chosen on ``data.val`` (none without it).
    thresholds : sequence of float
    predictors : sequence of {"bnn", "oracle"}
    reuse_cap : int
        Consecutive-reuse cap (0: none).
    use_offsets : bool
        False quantizes with plain sign binarization (offset 0).
    limit : int, optional
        Evaluate only the first ``limit`` test and validation sequences.
    name : str
        Recorded as ``results["model"]``.
    show_progress : bool

    Returns
    -------
    dict
        JSON-ready: the settings, ``float_accuracy`` and ``int_accuracy`` (%, predictor
        none), ``head_input_error`` (mean and max of ``|h_int - h_float|`` at the last
        steps, the head's inputs, without memoization), ``points`` (one per predictor and
        threshold: ``accuracy``, ``loss``, ``reuse``, ``macs_avoided``, ``reuse_by_gate``,
        with a validation split also ``val_loss`` and ``val_macs_avoided``), and ``best``
        (per predictor, the point of :func:`best_threshold`, or None).

    Raises
    ------
    MemornnError
        If the model has no head or does not fit the data, or on a bad option.
    """
    if model.head_weight is None:
        raise MemornnError("the model has no classifier head (head_weight/head_bias): a sweep needs one")
    if model.input_size != data.input_size:
        raise MemornnError(f"the model takes {model.input_size} features, the {data.name} data has "
                           f"{data.input_size}")
    if model.head_weight.shape[0] != data.classes:
        raise MemornnError(f"the model's head has {model.head_weight.shape[0]} classes, the {data.name} data "
                           f"has {data.classes}")
    predictors = check_predictors(predictors)
    reuse_cap = check_reuse_cap(reuse_cap)
    thresholds = [float(t) for t in thresholds]
    for t in thresholds:
        try:
            theta_to_q(t)
        except ValueError as exc:
            raise MemornnError(str(exc)) from None
    qmodel = quantize_model(model, data.train, use_offsets=use_offsets)
    test, labels = subset(data.test, data.y_test, limit)

    val = ValidationSet(qmodel, *subset(data.val, data.y_val, limit)) if data.val is not None else None
    h_float = float_forward(model, test)
    h_int = golden_run(qmodel, test, 0.0, "none")["h"]
    float_acc = accuracy(model, h_float, test, labels)
    int_acc = accuracy(qmodel, h_int, test, labels)
    head_error = np.abs(last_outputs(h_int, test.lengths) - last_outputs(h_float, test.lengths))
    results = {
        "model": name, "dataset": data.name, "cell": model.cell, "layers": model.num_layers,
        "hidden": model.hidden_size, "bidirectional": model.bidirectional, "gates": list(GATE_NAMES[model.cell]),
        "reuse_cap": reuse_cap, "offsets": bool(use_offsets), "calibration_sequences": data.train.size,
        "test_sequences": test.size, "val_sequences": val.batch.size if val else 0,
        "float_accuracy": float_acc, "int_accuracy": int_acc,
        "head_input_error": {"mean": float(head_error.mean()), "max": float(head_error.max())}, "points": [],
    }
    runs = [(p, t) for p in predictors for t in thresholds]
    bar = progress(runs, desc=f"sweep {name}", enabled=show_progress)
    for predictor, theta in bar:
        out = golden_run(qmodel, test, theta, predictor, reuse_cap)
        acc = accuracy(qmodel, out["h"], test, labels)
        results["points"].append({
            "predictor": predictor, "threshold": theta, "theta_q88": theta_to_q(theta) / 2**THETA_FRAC,
            "accuracy": acc, "loss": int_acc - acc, "reuse": reuse_percent(out),
            "macs_avoided": macs_avoided_percent(out), "reuse_by_gate": reuse_by_gate(out, test, model.cell),
        })
        if val is not None:
            setting = {"threshold": theta, "reuse_cap": reuse_cap} if reuse_cap else {"threshold": theta}
            vp = val.point(predictor, setting)
            results["points"][-1].update(val_loss=vp["loss"], val_macs_avoided=vp["macs_skipped"])
        bar.set_postfix_str(f"{predictor} {theta:g}: acc {acc:.2f} % reuse {results['points'][-1]['reuse']:.1f} %")
    results["best"] = {p: best_point(results, p) for p in predictors}
    return results


def best_point(results: dict, predictor: str = "bnn", max_loss: float = MAX_LOSS,
               margin: float = DEFAULT_MARGIN) -> dict | None:
    """The sweep point of :func:`best_threshold`, or None if no threshold qualifies."""
    points = {p["threshold"]: p for p in results["points"] if p["predictor"] == predictor}
    if not points or any("val_loss" not in p for p in points.values()):
        return None  # no validation figures: nothing may be chosen (never on the test split)
    space = (Param("threshold", tuple(sorted(points))),)
    best, _ = choose(lambda s: {"setting": s, "loss": points[s["threshold"]]["val_loss"],
                                "macs_skipped": points[s["threshold"]]["val_macs_avoided"]},
                     space, max(max_loss - margin, 0.0))
    return None if best is None else points[best["setting"]["threshold"]]


def best_threshold(results: dict, predictor: str = "bnn", max_loss: float = MAX_LOSS,
                   margin: float = DEFAULT_MARGIN) -> float | None:
    """The threshold chosen on the validation figures by ``memornn tune``'s rule.

    The swept threshold that avoids the most MACs on the validation split among those
    whose validation loss, and that of every smaller swept threshold, is at most
    ``max_loss - margin`` points (:mod:`.tuning`). The test figures play no part.

    Parameters
    ----------
    results : dict
        Output of :func:`run_sweep` (or its JSON file, loaded).
    predictor : str
    max_loss, margin : float
        In accuracy points.

    Returns
    -------
    float or None
        None when no threshold qualifies, or the sweep has no validation figures.
    """
    point = best_point(results, predictor, max_loss, margin)
    return None if point is None else point["threshold"]


def max_reuse_within_loss(results: dict, predictor: str, max_loss: float = MAX_LOSS) -> dict | None:
    """The validation-chosen point (:func:`best_point`): its test reuse is what the ablation
    tables compare."""
    return best_point(results, predictor, max_loss)
