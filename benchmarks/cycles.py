"""Cycle benchmark of the generated core: measured against the analytic model and the ideal.

For each configuration, in amaranth.sim on random-weight models with smooth random
inputs:

- predictor none: measured cycles per sequence against ``hw.cycles`` (must be equal)
  and against the ideal ``G*H*(X+H)/P`` per step;
- with memoization: MAC-busy cycles against ``computed * (ceil(X/P) + ceil(H/P))`` (must
  be equal), and total cycles against MAC-busy plus the per-step constant.

Writes ``benchmarks/results/cycles.json`` and ``cycles.md``. Run:
``.venv/bin/python benchmarks/cycles.py``.
"""

from __future__ import annotations

import json
import os
import sys
import time

from memornn.golden.quantize import quantize_model
from memornn.golden.randmodel import random_batch, random_float_model
from memornn.hw.config import HwConfig
from memornn.hw.cycles import Latencies, ideal_step_cycles, prep_cycles, sequence_cycles_none
from memornn.hw.layout import make_layout
from memornn.sim.amaranth_backend import run_amaranth

RESULTS = os.path.join(os.path.dirname(__file__), "results")

# cell, X, H, P, B, threshold
CONFIGS = [
    ("lstm", 40, 64, 8, 64, 0.3),
    ("gru", 40, 64, 8, 64, 0.3),
    ("lstm", 40, 128, 8, 64, 0.3),
    ("lstm", 40, 64, 16, 64, 0.3),
    ("lstm", 40, 64, 4, 16, 0.3),
]
STEPS = 8


def measure(cell, x, h, p, b, theta):
    model = random_float_model(cell, 1, False, x, h, seed=1)
    batch = random_batch(x, sequences=1, max_len=STEPS, seed=2, smooth=0.95)
    qmodel = quantize_model(model, batch)
    config = HwConfig(mac_lanes=p, bnn_width=b, max_seq_len=STEPS)
    layout = make_layout(qmodel, config)
    desc = layout.layers[0]
    lat = Latencies.of(layout)
    none = run_amaranth(qmodel, batch, config, 0.0, "none", extra_counters=True)
    memo = run_amaranth(qmodel, batch, config, theta, "bnn", extra_counters=True)
    analytic = sequence_cycles_none(layout, STEPS)
    computed = int(memo["neurons_computed"][0])
    overhead_per_step = prep_cycles(desc) + lat.rows_fill + lat.cell_cycles(layout.hidden)
    return {
        "cell": cell, "X": x, "H": h, "P": p, "B": b, "threshold": theta, "steps": STEPS,
        "none_cycles": int(none["cycles"][0]), "none_analytic": analytic,
        "ideal_per_step": ideal_step_cycles(layout, desc),
        "none_per_step": (int(none["cycles"][0]) - 1) / STEPS,
        "overhead_per_step": overhead_per_step,
        "memo_cycles": int(memo["cycles"][0]), "memo_mac_busy": int(memo["mac_busy_cycles"][0]),
        "memo_computed": computed, "memo_reused": int(memo["neurons_reused"][0]),
        "mac_busy_expected": computed * desc.row_words,
        "bnn_cycles": layout.rows * desc.row_bit_words * STEPS,
        "memo_bound": computed * desc.row_words + STEPS * overhead_per_step + 1,
        "speedup": int(none["cycles"][0]) / int(memo["cycles"][0]),
    }


def main() -> int:
    os.makedirs(RESULTS, exist_ok=True)
    rows = []
    for i, cfg in enumerate(CONFIGS):
        start = time.time()
        print(f"[{i + 1}/{len(CONFIGS)}] {cfg[0]} X={cfg[1]} H={cfg[2]} P={cfg[3]} B={cfg[4]} ...", flush=True)
        rows.append(measure(*cfg))
        print(f"    done in {time.time() - start:.0f} s", flush=True)
    with open(os.path.join(RESULTS, "cycles.json"), "w") as f:
        json.dump(rows, f, indent=2)
    lines = ["| cell | X | H | P | B | none: measured = analytic | none per step: (measured - c) / ideal GH(X+H)/P "
             "| c per step | theta | reused | MAC-busy: measured = computed x words | memo: total / (MAC-busy + c*T) "
             "| speed-up |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        reuse = r["memo_reused"] / (r["memo_reused"] + r["memo_computed"])
        c = r["overhead_per_step"]
        none_ratio = (r["none_per_step"] - c) / r["ideal_per_step"]
        memo_ratio = r["memo_cycles"] / r["memo_bound"]
        lines.append(
            f"| {r['cell']} | {r['X']} | {r['H']} | {r['P']} | {r['B']} | {r['none_cycles']} = {r['none_analytic']} "
            f"| {none_ratio:.3f} | {c} | {r['threshold']} | {100 * reuse:.1f}% "
            f"| {r['memo_mac_busy']} = {r['mac_busy_expected']} | {memo_ratio:.3f} | {r['speedup']:.2f}x |")
    table = "\n".join(lines) + "\n"
    with open(os.path.join(RESULTS, "cycles.md"), "w") as f:
        f.write(table)
    print(table)
    bad = [r for r in rows if r["none_cycles"] != r["none_analytic"] or r["memo_mac_busy"] != r["mac_busy_expected"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
