"""Energy per inference of the memo and the delta build, on project models' test splits.

For each model given (default: every model of ``eval_policies.json``): quantize it with its
training split (as ``benchmarks/delta_speedup.py``), and on every test sequence charge the
golden model's operations with the 45 nm table (``memornn energy``'s model,
:mod:`memornn.hw.energy`), at the settings ``memornn tune``'s rule chose on the validation
split (``eval_policies.json``):

- the memo build (``skip = "memo"``, P = 8, B = 64) with predictor none, and with bnn when
  a bnn threshold was chosen;
- the delta build (``skip = "delta"``, P = 8) with predictor none (every column used every
  step), and with delta.

Writes ``benchmarks/results/energy_builds.{json,md}`` (the models that ran).

Run: ``nice -n 10 .venv/bin/python benchmarks/energy_builds.py [MODEL ...]`` (the
JapaneseVowels models need the data extra; the digits models scikit-learn).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from memornn.evaluation.datasets import load_dataset
from memornn.evaluation.results import write_benchmark
from memornn.golden.floatmodel import load_float_model
from memornn.golden.intmodel import golden_run
from memornn.golden.options import RunOptions
from memornn.golden.quantize import quantize_model
from memornn.hw.config import HwConfig
from memornn.hw.energy import PREDICTOR_KINDS, energy_report, load_table
from memornn.hw.layout import make_layout

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
MODELS = os.path.join(os.path.dirname(HERE), "models")


def _entry(report: dict) -> dict:
    b = report["breakdown"]
    return {"nj": report["energy_per_inference_nj"], "breakdown_nj": b,
            "predictor_nj": sum(b[k] for k in PREDICTOR_KINDS)}


def measure(name: str, entry: dict) -> dict:
    data = load_dataset(entry["dataset"])
    qmodel = quantize_model(load_float_model(os.path.join(MODELS, f"{name}.npz")), data.train)
    batch, table = data.test, load_table()
    row = {"model": name, "sequences": batch.size, "steps": int(batch.lengths.sum()), "settings": {}}
    dense = golden_run(qmodel, batch, RunOptions.parse("none"))
    for skip, predictor in (("memo", "bnn"), ("delta", "delta")):
        layout = make_layout(qmodel, HwConfig(skip=skip, max_seq_len=max(64, int(batch.lengths.max()))))
        row[f"{skip}_none"] = _entry(energy_report(dense, layout, "none", batch.lengths, table))
        chosen = (entry["policies"][predictor].get("chosen") or {}).get("setting")
        if chosen is None:  # no setting within the loss budget on validation
            continue
        row["settings"][predictor] = chosen
        result = golden_run(qmodel, batch, RunOptions.parse(predictor, **chosen))
        row[f"{skip}_{predictor}"] = _entry(energy_report(result, layout, predictor, batch.lengths, table))
    return row


def markdown(rows: list[dict], command: str) -> str:
    lines = ["| model | sequences | memo build, none (nJ) | memo build, bnn (nJ, saved) | delta build, none (nJ) | "
             "delta build, delta (nJ, saved; the detector's share of it) | delta against memo none |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        memo_none, delta_none = r["memo_none"]["nj"], r["delta_none"]["nj"]
        bnn = r.get("memo_bnn")
        bnn_text = (f"{bnn['nj']:.1f} ({100 * (1 - bnn['nj'] / memo_none):.1f}%, threshold "
                    f"{r['settings']['bnn']['threshold']})" if bnn else "no threshold chosen")
        d = r.get("delta_delta")
        delta_text = (f"{d['nj']:.1f} ({100 * (1 - d['nj'] / delta_none):.1f}%; {100 * d['predictor_nj'] / d['nj']:.1f}%"
                      f", delta_x {r['settings']['delta']['delta_x']}, delta_h {r['settings']['delta']['delta_h']})"
                      if d else "no setting chosen")
        against = f"{100 * (1 - d['nj'] / memo_none):.1f}% saved" if d else "-"
        lines.append(f"| {r['model']} | {r['sequences']} | {memo_none:.1f} | {bnn_text} | {delta_none:.1f} | "
                     f"{delta_text} | {against} |")
    return ("# Energy per inference of the memo and the delta build (45 nm table)\n\n"
            f"Command: `{command}`. Every test sequence; settings chosen on the validation split "
            "(`eval_policies.json`); savings net of the predictor's own cost (the delta build's detector: the "
            "column tests and the last-used value and column-list traffic).\n\n" + "\n".join(lines) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="models (default: every model of eval_policies.json)")
    args = parser.parse_args(argv)
    with open(os.path.join(RESULTS, "eval_policies.json")) as f:
        policies = json.load(f)["models"]
    names = args.models or list(policies)
    unknown = [n for n in names if n not in policies]
    if unknown:
        print(f"energy_builds: unknown model {unknown[0]!r} (known: {', '.join(policies)})", file=sys.stderr)
        return 2
    rows = [measure(name, policies[name]) for name in names]
    text = markdown(rows, "python benchmarks/energy_builds.py " + " ".join(args.models))
    write_benchmark(RESULTS, "energy_builds", rows, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
