"""Choose the settings of a skip policy on a validation set: the setting that skips the most MACs among
those losing at most MAX_LOSS minus a safety margin (points against the integer model without
skipping). Writes a settings file that golden and simulate take with --settings, and reports the
held-out result on --test, which the choice never reads.
"""

from __future__ import annotations

import os

from ..golden.errors import MemornnError
from .common import add_inputs_argument, add_model_argument, add_output_argument

LOSS_CHOICES = ("auto", "accuracy", "agreement", "output")


def register(sub) -> None:
    from ..evaluation.tuning import DEFAULT_MARGIN

    p = sub.add_parser("tune", help="choose a policy's thresholds on validation data", description=__doc__)
    add_model_argument(p)
    add_inputs_argument(p, "validation inputs: .npz with x, optional lengths and labels y (or .npy, unlabelled)",
                        "VAL.npz")
    p.add_argument("--predictor", required=True, metavar="P", help="skip policy to tune")
    p.add_argument("--max-loss", required=True, metavar="L",
                   help="largest loss in points: accuracy points with labels, else %% of decisions changed "
                        "(or relative output error %% for a model without a head)")
    p.add_argument("--margin", default=str(DEFAULT_MARGIN), metavar="M",
                   help=f"safety margin in points, subtracted from L (default {DEFAULT_MARGIN}, measured by "
                        "split-half validation: benchmarks/results/eval_policies.md)")
    p.add_argument("--loss", default="auto", choices=LOSS_CHOICES,
                   help="auto: accuracy with labels and a head, agreement with a head, else output")
    p.add_argument("--test", metavar="TEST.npz", help="held-out data to report the chosen setting on")
    add_output_argument(p, "settings.toml", "settings file to write")
    p.set_defaults(run=run)


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise MemornnError(f"{what} {text!r} is not a number") from None


def load_labelled(path: str, input_size: int):
    """A batch and its labels ``y`` (None when the file has none) from ``.npz`` or ``.npy`` inputs."""
    from ..golden.inputs import load_inputs
    from ..golden.npzfile import load_npz

    batch = load_inputs(path, input_size)
    labels = load_npz(path, "inputs").get("y") if path.endswith(".npz") else None
    return batch, labels


def _describe(point: dict, kind: str) -> str:
    what = {"accuracy": "accuracy points lost on correctly classified sequences", "agreement": "% decisions changed",
            "output": "% output error"}[kind]
    net = f", net accuracy loss {point['accuracy_loss']:.2f}" if "accuracy_loss" in point else ""
    return f"loss {point['loss']:.2f} ({what}{net}), {point['macs_skipped']:.1f} % of MACs skipped"


def run(args) -> int:
    from ..evaluation.tuning import ValidationSet, check_max_loss, check_policy, heldout_point, run_options, tune
    from ..golden.options import save_settings
    from ..golden.qmodel import load_qmodel

    # Every argument is checked before the slow steps, and nothing is written on an error.
    check_policy(args.predictor)
    max_loss = check_max_loss(args.max_loss)
    margin = _number(args.margin, "--margin")
    if not args.output.endswith(".toml"):
        raise MemornnError(f"output file {args.output!r} must end in .toml")
    if os.path.isdir(args.output):
        raise MemornnError(f"output {args.output!r} is a directory")
    kind = None if args.loss == "auto" else args.loss
    model = load_qmodel(args.model)
    batch, labels = load_labelled(args.inputs, model.input_size)
    test = load_labelled(args.test, model.input_size) if args.test else None
    val = ValidationSet(model, batch, labels, kind)
    result = tune(val, args.predictor, max_loss, margin)
    if result.best is None:
        smallest = min(result.points, key=lambda p: p["loss"])
        raise MemornnError(f"no setting of {args.predictor} loses at most {result.budget:g} points on the "
                           f"validation set (max loss {max_loss:g} - margin {margin:g}; smallest loss "
                           f"{smallest['loss']:.2f} at {smallest['setting']}); nothing written")
    setting = result.best["setting"]
    print(f"{args.predictor}: chose {setting or 'no parameters'} on {batch.size} validation sequences "
          f"({len(result.points)} settings tried, budget {result.budget:g} = {max_loss:g} - margin {margin:g}): "
          f"{_describe(result.best, val.kind)}")
    heldout = None
    if test is not None:  # only after the choice: the test data never reaches tune()
        test_kind = "accuracy" if test[1] is not None and model.head_weight is not None else kind
        if test_kind == "agreement" and model.head_weight is None:
            test_kind = "output"
        heldout = heldout_point(model, test[0], test[1], args.predictor, setting, test_kind)
        verdict = "within" if heldout.get("accuracy_loss", heldout["loss"]) <= max_loss + 1e-9 else "OVER"
        print(f"held out ({test[0].size} test sequences): {_describe(heldout, test_kind)}; {verdict} the "
              f"{max_loss:g}-point budget")
    selection = {"max_loss": max_loss, "margin": margin, "budget": result.budget, "loss": val.kind,
                 "validation_sequences": batch.size, "settings_tried": len(result.points),
                 "validation_loss": result.best["loss"], "validation_macs_skipped": result.best["macs_skipped"]}
    if heldout is not None:
        selection.update(heldout_sequences=test[0].size, heldout_loss=heldout["loss"],
                         heldout_macs_skipped=heldout["macs_skipped"])
        if "accuracy_loss" in heldout:
            selection["heldout_accuracy_loss"] = heldout["accuracy_loss"]
    try:
        save_settings(args.output, run_options(args.predictor, setting), model, selection)
    except OSError as exc:
        raise MemornnError(f"cannot write {args.output!r}: {exc.strerror}") from None
    print(f"wrote {args.output}")
    return 0
