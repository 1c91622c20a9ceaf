"""Benchmark: MACs each skip policy skips on the committed models, thresholds chosen on validation.

Run from the repository root (the data extra is needed)::

    .venv/bin/python benchmarks/policy_skips.py [--models jv_lstm64,...]

For each model of ``memornn.evaluation.train.MODEL_SPECS``: quantized with the
training split as calibration; its training sequences split (seeded) into a fitting
part and a validation part (``VALIDATION`` of them). Each policy's parameters are
picked on the validation part from the grids below: the most MACs skipped with an
accuracy at most ``MAX_LOSS`` points below the integer model's without skipping (on
the validation part); the pick is then reported on the test split, which took no part
in it. ``sign`` is measured with 1-bit and 3-bit row weights (the default of
``--row-weights`` comes from this). The hybrid, with the default row weights and
``REUSE_CAP`` as K, searches its column thresholds on the coarser grid
``HYBRID_DELTAS`` (delta's own pick leaves no loss budget for the rows) and ``tau`` on
``HYBRID_TAUS``.

Writes ``benchmarks/results/policy_skips.json`` and ``policy_skips.md``. A few minutes
on one core. The full evaluation (``memornn tune``, plots, the paper's figures) is
``benchmarks/eval_*``'s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from memornn.evaluation.datasets import load_dataset
from memornn.evaluation.metrics import accuracy
from memornn.evaluation.train import MODEL_SPECS
from memornn.golden.floatmodel import load_float_model
from memornn.golden.inputs import Batch
from memornn.golden.intmodel import golden_run
from memornn.golden.options import RunOptions
from memornn.golden.quantize import quantize_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
MAX_LOSS = 1.0
VALIDATION = 0.3
SEED = 7
REUSE_CAP = 4
RELATIVE = [round(0.05 * i, 2) for i in range(1, 21)]
DELTAS = [0, 1, 2, 3, 4, 6, 8, 12, 16, 24]
HYBRID_DELTAS = [0, 2, 4, 8, 16]
HYBRID_TAUS = [0.004, 0.016, 0.064, 0.256]
TAUS = [0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256]


def _split(batch: Batch, labels: np.ndarray):
    """The (fitting, validation) parts of the training sequences, seeded."""
    order = np.random.default_rng(SEED).permutation(batch.size)
    cut = int(round(batch.size * (1 - VALIDATION)))

    def part(idx):
        lengths = batch.lengths[idx]
        return Batch(batch.x[idx, :int(lengths.max())], lengths), labels[idx]

    return part(order[:cut]), part(order[cut:])


def _skipped(run: dict) -> float:
    return 100.0 * float(run["macs_skipped"].sum() / (run["macs"] + run["macs_skipped"]).sum())


class _Evaluator:
    def __init__(self, qmodel, val, test):
        self.qmodel, self.val, self.test = qmodel, val, test
        self.base = {name: self.accuracy(RunOptions.parse("none"), part) for name, part in (("val", val),
                                                                                          ("test", test))}

    def accuracy(self, options, part, with_skips=False):
        run = golden_run(self.qmodel, part[0], options)
        acc = accuracy(self.qmodel, run["h"], part[0], part[1])
        return (acc, _skipped(run)) if with_skips else acc

    def pick(self, candidates):
        """The candidate skipping most on validation within MAX_LOSS; its test result."""
        best = None
        for options in candidates:
            acc, skipped = self.accuracy(options, self.val, True)
            if self.base["val"] - acc <= MAX_LOSS and (best is None or skipped > best[1]):
                best = (options, skipped, acc)
        if best is None:
            return None
        acc, skipped = self.accuracy(best[0], self.test, True)
        return {"settings": best[0].to_table(), "val_skipped": best[1], "val_loss": self.base["val"] - best[2],
                "test_skipped": skipped, "test_loss": self.base["test"] - acc}


def measure(name: str) -> dict:
    spec = MODEL_SPECS[name]
    data = load_dataset(spec.dataset)
    model = load_float_model(os.path.join(ROOT, "models", f"{name}.npz"))
    qmodel = quantize_model(model, data.train)
    _, val = _split(data.train, data.y_train)
    ev = _Evaluator(qmodel, val, (data.test, data.y_test))
    out = {"model": name, "int_accuracy": ev.base, "policies": {}}
    P = RunOptions.parse
    out["policies"]["bnn"] = ev.pick(P("bnn", threshold=t) for t in RELATIVE)
    out["policies"]["oracle"] = ev.pick(P("oracle", threshold=t) for t in RELATIVE)
    delta = ev.pick(P("delta", delta_x=dx, delta_h=dh) for dx in DELTAS for dh in DELTAS)
    out["policies"]["delta"] = delta
    for bits in (1, 3):
        out["policies"][f"sign{bits}"] = ev.pick(P("sign", threshold=t, row_weights=bits) for t in TAUS)
    out["policies"]["hybrid"] = ev.pick(P("hybrid", delta_x=dx, delta_h=dh, threshold=t, reuse_cap=REUSE_CAP)
                                        for dx in HYBRID_DELTAS for dh in HYBRID_DELTAS for t in HYBRID_TAUS)
    return out


def markdown(results: list) -> str:
    policies = ["bnn", "oracle", "delta", "sign1", "sign3", "hybrid"]
    lines = ["# MACs skipped per policy (chosen on validation, reported on test)", "",
             f"At most {MAX_LOSS} point of validation accuracy below the integer model without skipping; "
             f"validation: {int(VALIDATION * 100)}% of the training sequences (seed {SEED}); hybrid: 3-bit row "
             f"weights, K = {REUSE_CAP}. Cells: % of MACs skipped on test (test accuracy loss in points). "
             "`sign1`/`sign3`: 1-bit/3-bit row weights.", "",
             "| model | " + " | ".join(policies) + " |", "|---" * (len(policies) + 1) + "|"]
    for r in results:
        cells = []
        for p in policies:
            v = r["policies"].get(p)
            cells.append("-" if v is None else f"{v['test_skipped']:.1f} ({v['test_loss']:+.1f})")
        lines.append(f"| {r['model']} | " + " | ".join(cells) + " |")
    lines += ["", "Command: `.venv/bin/python benchmarks/policy_skips.py`"]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODEL_SPECS))
    args = parser.parse_args(argv)
    results = []
    for name in args.models.split(","):
        start = time.perf_counter()
        results.append(measure(name))
        print(f"{name}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    with open(os.path.join(RESULTS, "policy_skips.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(RESULTS, "policy_skips.md"), "w") as f:
        f.write(markdown(results))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
