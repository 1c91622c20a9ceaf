"""Measured cycle speed-up of memoization on the trained models, in Verilator RTL simulation.

For each model of ``benchmarks/results/eval_summary.json``: quantize it with its training
split, take its best BNN threshold (chosen on the validation split by ``memornn tune``'s
rule, ``eval_summary.json``; models without one are skipped), and simulate
the first ``SEQUENCES`` test sequences in Verilator with predictor none and with bnn at
that threshold (default hardware configuration). Every run is checked bit for bit against
the golden model. Writes ``benchmarks/results/eval_speedup.json`` and ``.md``.

Run: ``.venv/bin/python benchmarks/eval_speedup.py`` (needs the data extra).
"""

from __future__ import annotations

import json
import os
import sys
import time

from memornn.evaluation.datasets import load_dataset, subset
from memornn.golden.floatmodel import load_float_model
from memornn.golden.intmodel import golden_run
from memornn.golden.quantize import quantize_model
from memornn.hw.config import HwConfig
from memornn.sim.backends import run_simulation
from memornn.sim.compare import first_mismatch

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
MODELS = os.path.join(os.path.dirname(HERE), "models")
SEQUENCES = 20


def measure(name: str, entry: dict) -> dict:
    model = load_float_model(os.path.join(MODELS, f"{name}.npz"))
    data = load_dataset(entry["dataset"])
    qmodel = quantize_model(model, data.train)
    batch, _ = subset(data.test, data.y_test, SEQUENCES)
    theta = entry["best_threshold"]["bnn"]
    config = HwConfig(max_seq_len=max(32, int(batch.lengths.max())))
    row = {"model": name, "threshold": theta, "sequences": batch.size, "steps": int(batch.lengths.sum())}
    for predictor in ("none", "bnn"):
        threshold = theta if predictor == "bnn" else 0.0
        hw = run_simulation("verilator", qmodel, batch, config, threshold, predictor, 0)
        mismatch = first_mismatch(golden_run(qmodel, batch, threshold, predictor), hw)
        if mismatch:
            raise SystemExit(f"{name}: RTL differs from golden ({predictor}): {mismatch}")
        row[f"cycles_{predictor}"] = int(hw["cycles"].sum())
        total = hw["neurons_computed"].sum() + hw["neurons_reused"].sum()
        row[f"reuse_{predictor}"] = float(100 * hw["neurons_reused"].sum() / total)
    row["speedup"] = row["cycles_none"] / row["cycles_bnn"]
    row["bit_exact"] = True
    return row


def main() -> int:
    with open(os.path.join(RESULTS, "eval_summary.json")) as f:
        models = json.load(f)["models"]
    rows = []
    for i, (name, entry) in enumerate(models.items()):
        start = time.time()
        print(f"[{i + 1}/{len(models)}] {name}: Verilator, predictor none and bnn ...", flush=True)
        if entry["best_threshold"]["bnn"] is None:
            print("    no threshold within the loss budget: skipped", flush=True)
            continue
        rows.append(measure(name, entry))
        print(f"    speed-up {rows[-1]['speedup']:.2f}x ({time.time() - start:.0f} s)", flush=True)
    with open(os.path.join(RESULTS, "eval_speedup.json"), "w") as f:
        json.dump(rows, f, indent=2)
    lines = ["| model | best theta | sequences (steps) | reuse % (RTL) | cycles, none | cycles, bnn | speed-up |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['threshold']} | {r['sequences']} ({r['steps']}) | {r['reuse_bnn']:.1f} "
                     f"| {r['cycles_none']} | {r['cycles_bnn']} | {r['speedup']:.2f}x |")
    text = ("# Measured speed-up in Verilator (default configuration: P = 8, B = 64)\n\n"
            "Every run bit-exact with the golden model (outputs, reuse decisions, counters).\n\n"
            + "\n".join(lines) + "\n")
    with open(os.path.join(RESULTS, "eval_speedup.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
