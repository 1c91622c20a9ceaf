"""Speed of the NumPy golden model against PyTorch's float ``nn.LSTM`` on the CPU.

The same work for both: 100 sequences x 100 steps, one LSTM layer, X = 40 inputs,
H = 128 hidden units, random weights as PyTorch initialises them, smooth random inputs.
The golden model runs with predictor ``none`` and with ``bnn`` (theta 0.2); PyTorch runs
its float32 ``nn.LSTM`` forward under ``torch.no_grad()`` with its default thread count
(reported). Each timing is one run after one warm-up run.

Target: the golden model is at most 5x slower than PyTorch.

Writes ``benchmarks/results/golden_speed.json`` and ``golden_speed.md``. Run:
``.venv/bin/python benchmarks/golden_speed.py``.
"""

from __future__ import annotations

import json
import os
import platform
import time

import numpy as np

from memornn.golden.intmodel import golden_run, threadpool_limits
from memornn.golden.quantize import quantize_model
from memornn.golden.randmodel import random_batch, random_float_model

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
SEQUENCES, STEPS, X, H = 100, 100, 40, 128
THETA = 0.2
TARGET_RATIO = 5.0
REPEATS = 5


def timed(fn):
    """One warm-up run, then one timed run; returns (seconds, result of the timed run)."""
    fn()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def best_of(fn, runs=REPEATS):
    """The fastest of ``runs`` further runs: less sensitive to other jobs on the machine."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> dict:
    import torch

    load_before = os.getloadavg()[0]
    model = random_float_model("lstm", 1, False, X, H, seed=1)
    batch = random_batch(X, sequences=SEQUENCES, max_len=STEPS, seed=2, smooth=0.9)
    batch.lengths[:] = STEPS  # every sequence full length: the same work as the torch batch
    qmodel = quantize_model(model, batch)

    lstm = torch.nn.LSTM(X, H, batch_first=True)
    with torch.no_grad():  # the same weights (the timing does not depend on them, but be fair)
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            p = model.layers[0][0]
            value = {"weight_ih_l0": p.w_ih, "weight_hh_l0": p.w_hh, "bias_ih_l0": p.b_ih, "bias_hh_l0": p.b_hh}[name]
            getattr(lstm, name).copy_(torch.from_numpy(value))
    x_t = torch.from_numpy(batch.x.astype(np.float32))

    def torch_run():
        with torch.no_grad():
            return lstm(x_t)[0]

    t_torch, _ = timed(torch_run)
    t_none, r_none = timed(lambda: golden_run(qmodel, batch, 0.0, "none"))
    t_bnn, r_bnn = timed(lambda: golden_run(qmodel, batch, THETA, "bnn"))
    best = {"torch": best_of(torch_run),
            "golden_none": best_of(lambda: golden_run(qmodel, batch, 0.0, "none")),
            "golden_bnn": best_of(lambda: golden_run(qmodel, batch, THETA, "bnn"))}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    best["torch_1_thread"] = best_of(torch_run)
    torch.set_num_threads(threads)
    total = int(r_bnn["neurons_computed"].sum() + r_bnn["neurons_reused"].sum())
    result = {
        "work": {"sequences": SEQUENCES, "steps": STEPS, "layers": 1, "cell": "lstm", "input_size": X,
                 "hidden_size": H},
        "torch": {"version": torch.__version__, "dtype": "float32", "threads": torch.get_num_threads(),
                  "seconds": round(t_torch, 4)},
        "golden_none": {"seconds": round(t_none, 4), "ratio_to_torch": round(t_none / t_torch, 2)},
        "golden_bnn": {"seconds": round(t_bnn, 4), "ratio_to_torch": round(t_bnn / t_torch, 2), "threshold": THETA,
                       "reused_fraction": round(int(r_bnn["neurons_reused"].sum()) / total, 4)},
        f"best_of_{REPEATS}": {
            **{name: round(sec, 4) for name, sec in best.items()},
            "ratio_none": round(best["golden_none"] / best["torch"], 2),
            "ratio_bnn": round(best["golden_bnn"] / best["torch"], 2),
        },
        "target_ratio": TARGET_RATIO,
        "meets_target": bool(max(t_none, t_bnn) / t_torch <= TARGET_RATIO),
        "golden_blas_threads": 1 if threadpool_limits else "default (threadpoolctl not installed)",
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
                    "processor": platform.machine(), "load_average_1min_before": round(load_before, 2),
                    "load_average_1min_after": round(os.getloadavg()[0], 2)},
        "method": "one timed run after one warm-up run, time.perf_counter",
    }
    assert not r_none["neurons_reused"].any()
    return result


def write(result: dict) -> None:
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "golden_speed.json"), "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    w, t, b = result["work"], result["torch"], result[f"best_of_{REPEATS}"]
    lines = [
        "# Golden model speed vs PyTorch nn.LSTM (CPU)",
        "",
        f"Work: {w['sequences']} sequences x {w['steps']} steps, 1 LSTM layer, X = {w['input_size']}, "
        f"H = {w['hidden_size']}. One run after a warm-up; PyTorch {t['version']} float32 with "
        f"{t['threads']} thread(s) (its default); golden BLAS threads: {result['golden_blas_threads']}; "
        f"{result['machine']['cpus']} CPUs, 1-minute load average {result['machine']['load_average_1min_before']} "
        f"before the run (other jobs on the machine make the timings noisy).",
        "",
        "| run | seconds | x PyTorch |",
        "|---|---|---|",
        f"| PyTorch nn.LSTM | {t['seconds']:.4f} | 1.00 |",
        f"| golden, predictor none | {result['golden_none']['seconds']:.4f} | "
        f"{result['golden_none']['ratio_to_torch']:.2f} |",
        f"| golden, predictor bnn (theta {result['golden_bnn']['threshold']}, "
        f"{100 * result['golden_bnn']['reused_fraction']:.1f}% reused) | {result['golden_bnn']['seconds']:.4f} | "
        f"{result['golden_bnn']['ratio_to_torch']:.2f} |",
        "",
        f"Target: golden at most {result['target_ratio']:.0f}x PyTorch: "
        f"{'met' if result['meets_target'] else 'NOT met'} (single runs above).",
        "",
        f"Fastest of {REPEATS} further runs (less sensitive to other jobs): PyTorch {b['torch']:.4f} s "
        f"({b['torch_1_thread']:.4f} s on 1 thread), golden none {b['golden_none']:.4f} s "
        f"({b['ratio_none']:.2f}x), golden bnn {b['golden_bnn']:.4f} s ({b['ratio_bnn']:.2f}x).",
        "",
    ]
    with open(os.path.join(RESULTS, "golden_speed.md"), "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    res = main()
    write(res)
    print(json.dumps(res, indent=2))
