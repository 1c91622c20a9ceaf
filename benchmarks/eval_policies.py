"""Benchmark: every skip policy on every committed model, chosen on validation, reported on test.

Run from the repository root (the data extra is needed)::

    nice -n 10 .venv/bin/python benchmarks/eval_policies.py [--models jv_lstm64,...] [--policies bnn,...]

For each model ``models/<name>.npz`` (``memornn.evaluation.train.MODEL_SPECS``) and each
policy the golden model runs (of none, bnn, oracle, delta, sign, hybrid), the setting is
chosen on the data set's validation split by ``memornn tune``'s rule and reported on the
test split (``memornn.evaluation.policies``). Writes to ``benchmarks/results/``:

- ``policies_<name>.json``: choices, test results, Pareto curves, the split-half study;
- ``policies_<name>.png``: test accuracy against MACs skipped per policy;
- ``eval_policies.json`` (all of it) and ``eval_policies.md`` (tables and goals).

Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from eval_models import ROOT, golden_version, load_trained  # noqa: E402

from memornn.evaluation.policies import available_policies, evaluate_policies  # noqa: E402
from memornn.evaluation.policy_report import plot_policies, report_markdown  # noqa: E402
from memornn.evaluation.results import write_json  # noqa: E402
from memornn.evaluation.train import MODEL_SPECS  # noqa: E402
from memornn.evaluation.tuning import DEFAULT_MARGIN  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODEL_SPECS))
    parser.add_argument("--policies", default=",".join(available_policies()))
    parser.add_argument("--max-loss", type=float, default=1.0)
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN)
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results"))
    args = parser.parse_args(argv)
    names = [n for n in args.models.split(",") if n]
    policies = tuple(p for p in args.policies.split(",") if p)
    command = "benchmarks/eval_policies.py" + ("" if argv is None and len(sys.argv) == 1 else
                                               " " + " ".join(sys.argv[1:] if argv is None else argv))
    results, datasets, started = [], {}, time.monotonic()
    for i, name in enumerate(names):
        print(f"[{i + 1}/{len(names)}] {name} ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
        data, model = load_trained(name, datasets)
        result = evaluate_policies(model, data, name, policies, args.max_loss, args.margin)
        write_json(result, os.path.join(args.out, f"policies_{name}.json"))
        plot_policies(result, os.path.join(args.out, f"policies_{name}.png"))
        results.append(result)
    version = golden_version()
    write_json({"golden": version, "command": command, "models": {r["model"]: r for r in results}},
               os.path.join(args.out, "eval_policies.json"))
    with open(os.path.join(args.out, "eval_policies.md"), "w") as f:
        f.write(report_markdown(results, command, version, policies))
    print(f"done in {time.monotonic() - started:.0f} s: {args.out}/eval_policies.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
