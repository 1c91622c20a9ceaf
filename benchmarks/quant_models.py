"""Benchmark: float against integer accuracy of every committed model, per quantization method.

Run from the repository root (the data extra is needed)::

    .venv/bin/python benchmarks/quant_models.py [--models jv_lstm64,...]

For the five models of ``memornn.evaluation.train.MODEL_SPECS`` and the two regression
models of ``memornn.evaluation.regression``, each calibrated on its training split and
evaluated on its test split (predictor none: the integer model without memoization), it
writes ``benchmarks/results/quant_models.json`` and ``quant_models.md``: test accuracy
of the float model and of the integer model quantized with ``minmax`` (the quantizer
before the clipping search) and ``mse`` (the default), the loss in points, the mean and
largest ``|h_int - h_float|`` of the head's input, the agreement of the integer
model's class with the float model's, and the counts of always-zero input features and
of live features whose input range the search clipped.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from memornn.evaluation import regression
from memornn.evaluation.datasets import load_dataset
from memornn.evaluation.results import markdown_table, write_json
from memornn.evaluation.train import MODEL_SPECS
from memornn.golden.floatmodel import load_float_model
from memornn.golden.floatref import apply_head, float_forward, last_outputs
from memornn.golden.intmodel import golden_run
from memornn.golden.quantize import METHODS, quantize_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = tuple(MODEL_SPECS) + tuple(regression.MODEL_SPECS)


def dataset_of(name: str, cache: dict):
    """The (normalised) data set a committed model takes."""
    if name in regression.MODEL_SPECS:
        return cache.setdefault(name, regression.dataset_for(name))
    key = MODEL_SPECS[name].dataset
    return cache.setdefault(key, load_dataset(key))


def measure(name: str, data) -> dict:
    """Float and per-method integer figures of one model."""
    model = load_float_model(os.path.join(ROOT, "models", f"{name}.npz"))
    lengths = data.test.lengths
    feats = last_outputs(float_forward(model, data.test), lengths)
    float_class = apply_head(model, feats).argmax(axis=1)
    entry = {"cell": f"{model.cell} {model.num_layers}x{model.hidden_size}", "dataset": data.name,
             "float_accuracy": 100.0 * float((float_class == data.y_test).mean()), "methods": {}}
    scales = {}
    for method in METHODS:
        start = time.monotonic()
        qmodel = quantize_model(model, data.train, method=method)
        seconds = time.monotonic() - start
        scales[method] = qmodel.input_scale
        q_feats = last_outputs(golden_run(qmodel, data.test, 0.0, "none")["h"], lengths)
        q_class = apply_head(model, q_feats).argmax(axis=1)
        acc = 100.0 * float((q_class == data.y_test).mean())
        err = np.abs(q_feats - feats)
        entry["methods"][method] = {
            "int_accuracy": acc, "loss": entry["float_accuracy"] - acc,
            "agreement": 100.0 * float((q_class == float_class).mean()),
            "head_input_error_mean": float(err.mean()), "head_input_error_max": float(err.max()),
            "quantize_seconds": round(seconds, 2)}
    live = np.abs(data.train.x).max(axis=(0, 1)) > 0
    entry["dead_features"] = int(np.sum(~live))
    entry["inputs_clipped"] = int(np.sum(scales["mse"][live] < scales["minmax"][live] * (1 - 1e-12)))
    return entry


def markdown(results: dict) -> str:
    rows = []
    for name, e in results["models"].items():
        mm, ms = e["methods"]["minmax"], e["methods"]["mse"]
        rows.append([name, e["dataset"], e["cell"], f"{e['float_accuracy']:.2f}", f"{mm['int_accuracy']:.2f}",
                     f"{mm['loss']:+.2f}", f"{ms['int_accuracy']:.2f}", f"{ms['loss']:+.2f}",
                     f"{mm['agreement']:.2f} / {ms['agreement']:.2f}",
                     f"{mm['head_input_error_mean']:.4f} / {ms['head_input_error_mean']:.4f}",
                     str(e["dead_features"]), str(e["inputs_clipped"])])
    header = ["model", "data", "cell", "float acc", "int acc (minmax)", "loss (minmax)", "int acc (mse)", "loss (mse)",
              "agreement minmax / mse", "error minmax / mse", "dead inputs", "inputs clipped"]
    lines = ["# Float against integer accuracy per quantization method (`benchmarks/quant_models.py`)", "",
             "Test split, calibration on the training split, predictor none. Loss in points (float - integer); "
             "agreement: integer class = float class; error: mean |h_int - h_float| of the head's input.", "",
             *markdown_table(header, rows)]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    args = parser.parse_args(argv)
    cache, results = {}, {"models": {}}
    for name in [n for n in args.models.split(",") if n]:
        print(name, file=sys.stderr, flush=True)
        results["models"][name] = measure(name, dataset_of(name, cache))
    write_json(results, os.path.join(args.out, "quant_models.json"))
    text = markdown(results)
    with open(os.path.join(args.out, "quant_models.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
