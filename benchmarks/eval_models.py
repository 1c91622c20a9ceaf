"""Benchmark: threshold sweeps, ablations and correlations of every committed model.

Run from the repository root (the data extra is needed)::

    .venv/bin/python benchmarks/eval_models.py [--models jv_lstm64,...] [--thresholds 0:1:0.05]

For each model ``models/<name>.npz`` (see ``memornn.evaluation.train.MODEL_SPECS``) it
writes to ``benchmarks/results/``:

- ``eval_<name>.json|csv|png``: the sweep with the bnn and oracle predictors;
- ``eval_<name>_nooffsets.*``: bnn, plain sign binarization;
- ``eval_<name>_cap<N>.*``: bnn with a consecutive-reuse cap of N;
- ``eval_correlation.json``: the change correlations (with and without offsets);
- ``eval_summary.json`` (best thresholds and headline numbers) and ``eval_summary.md``.

A few minutes on one core; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from memornn.evaluation.correlation import change_correlation
from memornn.evaluation.datasets import load_dataset
from memornn.evaluation.plot import plot_sweep
from memornn.evaluation.results import write_csv, write_json
from memornn.evaluation.summary import summary_markdown
from memornn.evaluation.sweep import best_point, best_threshold, max_reuse_within_loss, run_sweep
from memornn.evaluation.thresholds import parse_threshold_range
from memornn.evaluation.train import MODEL_SPECS
from memornn.golden.floatmodel import load_float_model
from memornn.golden.quantize import quantize_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def golden_version() -> str:
    """The commit of golden/ (the numerics the results depend on) and whether it is modified."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "golden"], cwd=ROOT, capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" with uncommitted changes in golden/" if dirty else "")
CAPS = (2, 4)


def _write(results: dict, out: str, stem: str) -> None:
    write_json(results, os.path.join(out, f"{stem}.json"))
    write_csv(results, os.path.join(out, f"{stem}.csv"))
    plot_sweep(results, os.path.join(out, f"{stem}.png"))


def load_trained(name: str, datasets: dict):
    """The data set and the float model of the trained model ``name`` (``models/<name>.npz``);
    ``datasets`` keeps each data set loaded once across models."""
    dataset = MODEL_SPECS[name].dataset
    if dataset not in datasets:
        datasets[dataset] = load_dataset(dataset)
    return datasets[dataset], load_float_model(os.path.join(ROOT, "models", f"{name}.npz"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODEL_SPECS))
    parser.add_argument("--thresholds", default="0:0.6:0.05,0.7:2:0.1")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    args = parser.parse_args(argv)
    thresholds = parse_threshold_range(args.thresholds)
    names = [n for n in args.models.split(",") if n]
    training_log = os.path.join(args.out, "eval_training.json")
    training = {}
    if os.path.exists(training_log):
        with open(training_log) as f:
            training = json.load(f)
    entries, datasets, started = [], {}, time.monotonic()
    for i, name in enumerate(names):
        print(f"[{i + 1}/{len(names)}] {name}", file=sys.stderr, flush=True)
        data, model = load_trained(name, datasets)
        entry = {"name": name, "training": training.get(name)}
        entry["main"] = run_sweep(model, data, thresholds, ("bnn", "oracle"), name=name)
        _write(entry["main"], args.out, f"eval_{name}")
        entry["no_offsets"] = run_sweep(model, data, thresholds, ("bnn",), use_offsets=False, name=name)
        _write(entry["no_offsets"], args.out, f"eval_{name}_nooffsets")
        entry["caps"] = {}
        for cap in CAPS:
            entry["caps"][cap] = run_sweep(model, data, thresholds, ("bnn",), reuse_cap=cap, name=name)
            _write(entry["caps"][cap], args.out, f"eval_{name}_cap{cap}")
        print("  correlations", file=sys.stderr, flush=True)
        entry["correlation"] = change_correlation(quantize_model(model, data.train), data.test)
        entry["correlation_no_offsets"] = change_correlation(quantize_model(model, data.train, use_offsets=False),
                                                             data.test)
        entries.append(entry)
    write_json({e["name"]: {"with_offsets": e["correlation"], "no_offsets": e["correlation_no_offsets"]}
                for e in entries}, os.path.join(args.out, "eval_correlation.json"))
    version = golden_version()
    summary = {"golden": version, "thresholds": args.thresholds, "models": {}}
    for e in entries:
        m = e["main"]
        summary["models"][e["name"]] = {
            "dataset": m["dataset"], "float_accuracy": m["float_accuracy"], "int_accuracy": m["int_accuracy"],
            "head_input_error": m["head_input_error"],
            "best_threshold": {p: best_threshold(m, p) for p in ("bnn", "oracle")},
            "best_point": {p: best_point(m, p) for p in ("bnn", "oracle")},
            "max_reuse_within_1pt": {
                "bnn": max_reuse_within_loss(m, "bnn"), "oracle": max_reuse_within_loss(m, "oracle"),
                "bnn_no_offsets": max_reuse_within_loss(e["no_offsets"], "bnn"),
                **{f"bnn_cap{c}": max_reuse_within_loss(r, "bnn") for c, r in e["caps"].items()}},
            "correlation": {k: e["correlation"][k] for k in ("pearson_mean", "pearson_median", "spearman_relative",
                                                             "pearson_levels_mean")},
        }
    write_json(summary, os.path.join(args.out, "eval_summary.json"))
    with open(os.path.join(args.out, "eval_summary.md"), "w") as f:
        f.write(summary_markdown(entries, args.thresholds, version))
    print(f"done in {time.monotonic() - started:.0f} s: {args.out}/eval_summary.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
