"""Benchmark: wall time of one ``memornn dse`` sweep on a local cluster of 1 and of 2 workers.

    nice -n 10 python benchmarks/dse_scaling.py

The sweep: a small LSTM (1x16, 8 inputs, random weights) on ECP5-25k with
``mac_lanes = 1,2,4,8`` synthesized and placed (4 hardware tasks) and predictors none
and bnn at two thresholds (3 golden-model tasks), each run from an empty cache. Writes
``benchmarks/results/dse_scaling.{json,md}``. Wall times depend on what else the machine
runs; run it on an idle machine (the ratio is the figure to quote).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from memornn.golden.quantize import quantize_model  # noqa: E402
from memornn.golden.randmodel import random_batch, random_float_model  # noqa: E402

BUILD = os.path.join(ROOT, "build", "dse_scaling")
SWEEP = ["--target", "ecp5-25k", "--sweep", "mac_lanes=1,2,4,8", "--predictor", "none,bnn", "--threshold", "0.2,0.5",
         "--no-progress"]


def main() -> int:
    os.makedirs(BUILD, exist_ok=True)
    q_path, x_path = os.path.join(BUILD, "q.npz"), os.path.join(BUILD, "x.npz")
    batch = random_batch(8, sequences=8, max_len=16, seed=3, smooth=0.9)
    quantize_model(random_float_model("lstm", 1, False, 8, 16, seed=3), batch).save(q_path)
    np.savez(x_path, x=batch.x, lengths=batch.lengths)
    seconds = {}
    for workers in (1, 2):
        out = os.path.join(BUILD, f"workers{workers}")
        shutil.rmtree(out, ignore_errors=True)
        start = time.monotonic()
        subprocess.run([sys.executable, "-m", "memornn", "dse", "--model", q_path, "--inputs", x_path, *SWEEP,
                        "--workers", str(workers), "-o", out], check=True)
        seconds[workers] = time.monotonic() - start
        print(f"{workers} worker(s): {seconds[workers]:.1f} s", flush=True)
    result = {"sweep": " ".join(SWEEP), "seconds": seconds, "ratio_1_over_2": seconds[1] / seconds[2],
              "cpus": os.cpu_count()}
    os.makedirs(os.path.join(ROOT, "benchmarks", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "benchmarks", "results", "dse_scaling.json"), "w") as f:
        json.dump(result, f, indent=1)
    text = (f"| workers | wall time (s) |\n|---|---|\n| 1 | {seconds[1]:.1f} |\n| 2 | {seconds[2]:.1f} |\n\n"
            f"2 workers take {1 / result['ratio_1_over_2']:.2f} of 1 worker's time ({result['ratio_1_over_2']:.2f}x "
            f"faster) on {result['cpus']} CPUs; sweep: `{result['sweep']}`.\n")
    with open(os.path.join(ROOT, "benchmarks", "results", "dse_scaling.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
