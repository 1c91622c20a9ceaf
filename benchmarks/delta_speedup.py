"""Measured cycle speed-up of the delta datapath (``skip = "delta"``) in Verilator RTL simulation.

For each model given (default: jv_lstm64): quantize it with its training split (as
``benchmarks/eval_speedup.py``), take the delta thresholds ``memornn tune``'s rule chose on
the validation split (``eval_policies.json``: ``policies.delta.chosen.setting``), and
simulate every test sequence in the compiled Verilator harness:

- predictor none on today's memo build (the default configuration, P = 8, B = 64): the
  baseline;
- predictor delta on the delta build (``skip = "delta"``, P = 8) at those thresholds;
- predictor none on the delta build (every column used every step).

Every run is checked bit for bit against the golden model. The delta run's cycles are
also predicted from the golden model's used columns with the exact cycle model
(:func:`memornn.hw.cycles.delta_step_cycles`) and split into MAC-busy cycles (a weight
word into the lanes), the per-step constant (detection, cell, fills) and the cycles the
requantizer (a row a cycle) adds when a row group has fewer used columns than results.
Writes ``benchmarks/results/delta_speedup.json`` and ``.md``.

Run: ``nice -n 10 .venv/bin/python benchmarks/delta_speedup.py [MODEL ...] [--sequences N]``
(needs the data extra).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from memornn.evaluation.datasets import load_dataset, subset
from memornn.evaluation.results import write_benchmark
from memornn.golden.floatmodel import load_float_model
from memornn.golden.intmodel import golden_run
from memornn.golden.options import RunOptions
from memornn.golden.qmodel import layer_suffix
from memornn.golden.quantize import quantize_model
from memornn.hw.config import HwConfig
from memornn.hw.cycles import Latencies, delta_step_cycles
from memornn.hw.delta_rows import DeltaRows
from memornn.hw.layout import make_layout
from memornn.sim.compiled.backend import run_compiled
from memornn.sim.compare import first_mismatch

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
MODELS = os.path.join(os.path.dirname(HERE), "models")


def _run(qmodel, batch, config, options) -> dict:
    start = time.monotonic()
    hw = run_compiled(qmodel, batch, config, options, options.predictor, 0, extra_counters=True)
    seconds = time.monotonic() - start
    mismatch = first_mismatch(golden_run(qmodel, batch, options), hw)
    if mismatch:
        raise SystemExit(f"delta_speedup: RTL differs from golden ({options.predictor}, skip = {config.skip}): "
                         f"{mismatch}")
    return {"cycles": int(hw["cycles"].sum()), "mac_busy_cycles": int(hw["mac_busy_cycles"].sum()),
            "macs": int(hw["macs"].sum()), "seconds": round(seconds, 1)}


def cycle_breakdown(layout, golden: dict, lengths) -> dict:
    """The delta run's cycles from the golden used columns: predicted total, MAC-busy
    (used columns x row groups), the requantizer-bound excess (the beats a row group
    issues beyond its columns so the requantizer keeps up), and the per-step constant
    (the rest: detection, the last group's results, fills, the cell phase)."""
    lat = Latencies.of(layout)
    results = [DeltaRows.group_results(layout, g) for g in range(layout.groups)]
    total = busy = requant = 0
    for desc in layout.layers:
        used = golden["columns" + layer_suffix(desc.layer, desc.direction)].sum(axis=2)
        for i, n in enumerate(lengths):
            total += lat.layer_start
            for step in range(int(n)):
                t = int(n) - 1 - step if desc.direction else step
                u = int(used[i, t])
                total += delta_step_cycles(layout, desc, u, step == 0, lat)
                busy += layout.groups * u
                if u > 0 or step == 0:  # a group issues max(columns, results) beats, the last one its columns
                    requant += sum(max(0, r - max(u, 1)) for r in results[:-1])
    return {"predicted_cycles": total, "mac_busy": busy, "requant_bound": requant,
            "per_step_constant": total - busy - requant}


def measure(name: str, entry: dict, setting: dict, count: int | None) -> dict:
    model = load_float_model(os.path.join(MODELS, f"{name}.npz"))
    data = load_dataset(entry["dataset"])
    qmodel = quantize_model(model, data.train)
    batch, _ = subset(data.test, data.y_test, count)
    max_len = max(32, int(batch.lengths.max()))
    delta = RunOptions.parse("delta", delta_x=setting["delta_x"], delta_h=setting["delta_h"])
    none = RunOptions.parse("none")
    memo_cfg, delta_cfg = HwConfig(max_seq_len=max_len), HwConfig(max_seq_len=max_len, skip="delta")
    row = {"model": name, "setting": setting, "sequences": batch.size, "steps": int(batch.lengths.sum()),
           "none_memo_build": _run(qmodel, batch, memo_cfg, none),
           "delta": _run(qmodel, batch, delta_cfg, delta),
           "none_delta_build": _run(qmodel, batch, delta_cfg, none)}
    golden = golden_run(qmodel, batch, delta)
    row["macs_skipped_pct"] = float(100 * golden["macs_skipped"].sum() / (golden["macs"].sum()
                                                                            + golden["macs_skipped"].sum()))
    row["breakdown"] = cycle_breakdown(make_layout(qmodel, delta_cfg), golden, batch.lengths)
    row["speedup_vs_none"] = row["none_memo_build"]["cycles"] / row["delta"]["cycles"]
    row["speedup_vs_dense_delta_build"] = row["none_delta_build"]["cycles"] / row["delta"]["cycles"]
    return row


def markdown(rows: list[dict], command: str) -> str:
    lines = ["| model | delta_x, delta_h | sequences (steps) | MACs skipped % | cycles, none (memo build) | "
             "cycles, none (delta build) | cycles, delta | speed-up vs none | MAC-busy | requantizer-bound | "
             "per-step constant | model exact |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b = r["breakdown"]
        lines.append(f"| {r['model']} | {r['setting']['delta_x']}, {r['setting']['delta_h']} | {r['sequences']} "
                     f"({r['steps']}) | {r['macs_skipped_pct']:.1f} | {r['none_memo_build']['cycles']} | "
                     f"{r['none_delta_build']['cycles']} | {r['delta']['cycles']} | {r['speedup_vs_none']:.2f}x | "
                     f"{b['mac_busy']} | {b['requant_bound']} | {b['per_step_constant']} | "
                     f"{'yes' if b['predicted_cycles'] == r['delta']['cycles'] else 'no'} |")
    return ("# Measured speed-up of the delta datapath in Verilator (P = 8)\n\n"
            f"Command: `{command}`. Compiled Verilator harness, every test sequence, thresholds chosen on the "
            "validation split (`eval_policies.json`); every run bit-exact with the golden model (outputs, "
            "used columns, counters). The delta cycles split into MAC-busy (a weight word into the lanes: "
            "used columns x row groups), the requantizer-bound excess (row groups with fewer used columns "
            "than requantizer results, a row a cycle) and the per-step constant (detection a column a cycle, "
            "the cell phase, fills); *model exact*: the cycle model of `hw/cycles.py` on the golden used "
            "columns gives the measured count.\n\n" + "\n".join(lines) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=["jv_lstm64"], help="models (default jv_lstm64)")
    parser.add_argument("--sequences", type=int, metavar="N",
                        help="only the first N test sequences (does not write the results files)")
    args = parser.parse_args(argv)
    with open(os.path.join(RESULTS, "eval_policies.json")) as f:
        policies = json.load(f)["models"]
    rows = []
    for name in args.models:
        if name not in policies:
            print(f"delta_speedup: unknown model {name!r} (known: {', '.join(policies)})", file=sys.stderr)
            return 2
        entry = policies[name]
        rows.append(measure(name, entry, entry["policies"]["delta"]["chosen"]["setting"], args.sequences))
        print(f"{name}: done", flush=True)
    command = "python benchmarks/delta_speedup.py " + " ".join(args.models)
    text = markdown(rows, command)
    if args.sequences is None:
        write_benchmark(RESULTS, "delta_speedup", rows, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
