"""Speed of the NumPy golden model against PyTorch's float ``nn.LSTM`` on the CPU.

The same work for both: 100 sequences x 100 steps, one LSTM layer, X = 40 inputs,
H = 128 hidden units, random weights as PyTorch initialises them, smooth random inputs.
The golden model runs with predictor ``none`` and with ``bnn`` (theta 0.2); PyTorch runs
its float32 ``nn.LSTM`` forward under ``torch.no_grad()`` with its default thread count.

Both sides use the same number of CPUs: PyTorch its default thread count (one per
CPU), the golden model as many processes (``golden_run(..., workers=...)``: this one and
worker processes from a pool started in the warm-up run; BLAS on one thread in each).
Reported besides: both on one CPU (PyTorch on one thread, the golden model in this
process alone).

Method: one warm-up run of each, then ``REPEATS`` rounds, each timing every run once
(interleaved, so that other jobs on the machine hit all of them alike, with a pause
before each run, see ``PAUSE``); each run's time is its fastest round
(best-of-``REPEATS``). Reported besides: the 1-minute load average before and after
(the machine is shared: a busy machine slows both sides, and the two-CPU runs much more
than the one-CPU ones).

Target: the golden model at most 5x slower than PyTorch (best-of-5 both sides, both on
the same CPUs, PyTorch at its default threads), for both predictors.

Writes ``benchmarks/results/golden_speed.json`` and ``golden_speed.md``. Run:
``.venv/bin/python benchmarks/golden_speed.py``.
"""

from __future__ import annotations

import json
import os
import platform
import time

import numpy as np

from memornn.golden.intmodel import golden_run
from memornn.golden.quantize import quantize_model
from memornn.golden.randmodel import random_batch, random_float_model
from memornn.golden.workers import shutdown_workers

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
SEQUENCES, STEPS, X, H = 100, 100, 40, 128
THETA = 0.2
TARGET_RATIO = 5.0
REPEATS = 5


#: Pause after each run: PyTorch's OpenMP workers spin-wait for a while after a parallel
#: region, taking a core from whatever runs next on a 2-core machine.
PAUSE = 0.25


def best_of(runs: dict, repeats: int = REPEATS) -> dict:
    """Fastest time of each named run over ``repeats`` interleaved rounds, after a warm-up."""
    for fn in runs.values():
        fn()
    best = {name: float("inf") for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            time.sleep(PAUSE)
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main() -> dict:
    import torch

    load_before = os.getloadavg()[0]
    model = random_float_model("lstm", 1, False, X, H, seed=1)
    batch = random_batch(X, sequences=SEQUENCES, max_len=STEPS, seed=2, smooth=0.9)
    batch.lengths[:] = STEPS  # every sequence full length: the same work as the torch batch
    qmodel = quantize_model(model, batch)

    lstm = torch.nn.LSTM(X, H, batch_first=True)
    p = model.layers[0][0]
    with torch.no_grad():  # the same weights (the timing does not depend on them, but be fair)
        for name, value in (("weight_ih_l0", p.w_ih), ("weight_hh_l0", p.w_hh), ("bias_ih_l0", p.b_ih),
                            ("bias_hh_l0", p.b_hh)):
            getattr(lstm, name).copy_(torch.from_numpy(value))
    x_t = torch.from_numpy(batch.x.astype(np.float32))

    def torch_run():
        with torch.no_grad():
            return lstm(x_t)[0]

    torch_threads = torch.get_num_threads()

    def torch_one_thread():
        torch.set_num_threads(1)
        try:
            return torch_run()
        finally:
            torch.set_num_threads(torch_threads)

    workers = torch_threads  # the golden model on as many CPUs as PyTorch
    best = best_of({"torch": torch_run, "torch_1_thread": torch_one_thread,
                    "golden_none": lambda: golden_run(qmodel, batch, 0.0, "none", workers=workers),
                    "golden_bnn": lambda: golden_run(qmodel, batch, THETA, "bnn", workers=workers),
                    "golden_none_1": lambda: golden_run(qmodel, batch, 0.0, "none"),
                    "golden_bnn_1": lambda: golden_run(qmodel, batch, THETA, "bnn")})
    r_bnn = golden_run(qmodel, batch, THETA, "bnn")
    r_none = golden_run(qmodel, batch, 0.0, "none")
    for predictor, r in (("none", r_none), ("bnn", r_bnn)):  # the workers change nothing
        shared = golden_run(qmodel, batch, THETA if predictor == "bnn" else 0.0, predictor, workers=workers)
        assert all(np.array_equal(shared[key], r[key]) for key in r)
    shutdown_workers()
    assert not r_none["neurons_reused"].any()
    total = int(r_bnn["neurons_computed"].sum() + r_bnn["neurons_reused"].sum())
    ratio_none = best["golden_none"] / best["torch"]
    ratio_bnn = best["golden_bnn"] / best["torch"]
    one = best["torch_1_thread"]
    return {
        "work": {"sequences": SEQUENCES, "steps": STEPS, "layers": 1, "cell": "lstm", "input_size": X,
                 "hidden_size": H},
        "method": f"best of {REPEATS} interleaved rounds after a warm-up, time.perf_counter",
        "torch": {"version": torch.__version__, "dtype": "float32", "threads": torch_threads,
                  "seconds": round(best["torch"], 4)},
        "golden": {"processes": workers, "blas_threads_per_process": 1},
        "golden_none": {"seconds": round(best["golden_none"], 4), "ratio_to_torch": round(ratio_none, 2)},
        "golden_bnn": {"seconds": round(best["golden_bnn"], 4), "ratio_to_torch": round(ratio_bnn, 2),
                       "threshold": THETA,
                       "reused_fraction": round(int(r_bnn["neurons_reused"].sum()) / total, 4)},
        "one_cpu": {"torch_1_thread_seconds": round(one, 4),
                    "golden_none_1_process_seconds": round(best["golden_none_1"], 4),
                    "golden_bnn_1_process_seconds": round(best["golden_bnn_1"], 4),
                    "ratio_none": round(best["golden_none_1"] / one, 2),
                    "ratio_bnn": round(best["golden_bnn_1"] / one, 2),
                    "ratio_none_to_torch": round(best["golden_none_1"] / best["torch"], 2),
                    "ratio_bnn_to_torch": round(best["golden_bnn_1"] / best["torch"], 2)},
        "target_ratio": TARGET_RATIO,
        "meets_target": bool(max(ratio_none, ratio_bnn) <= TARGET_RATIO),
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "cpus": os.cpu_count(),
                    "processor": platform.machine(), "load_average_1min_before": round(load_before, 2),
                    "load_average_1min_after": round(os.getloadavg()[0], 2)},
    }


def write(result: dict) -> None:
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "golden_speed.json"), "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    w, t, g, one, m = result["work"], result["torch"], result["golden"], result["one_cpu"], result["machine"]
    none, bnn = result["golden_none"], result["golden_bnn"]
    lines = [
        "# Golden model speed vs PyTorch nn.LSTM (CPU)",
        "",
        f"Work: {w['sequences']} sequences x {w['steps']} steps, 1 LSTM layer, X = {w['input_size']}, "
        f"H = {w['hidden_size']}. Each time is the best of {REPEATS} interleaved rounds after a warm-up. "
        f"Both sides on the same {t['threads']} CPU(s): PyTorch {t['version']} float32 on {t['threads']} "
        f"thread(s) (its default); the golden model on {g['processes']} process(es) "
        f"(`golden_run(..., workers={g['processes']})`: this one and worker processes started in the warm-up, "
        f"each with BLAS on one thread). "
        f"{m['cpus']} CPUs, shared: 1-minute load average {m['load_average_1min_before']} before, "
        f"{m['load_average_1min_after']} after.",
        "",
        f"| run | CPUs | seconds | x PyTorch ({t['threads']} threads) |",
        "|---|---|---|---|",
        f"| PyTorch nn.LSTM, {t['threads']} threads | {t['threads']} | {t['seconds']:.4f} | 1.00 |",
        f"| golden, predictor none, {g['processes']} processes | {g['processes']} | {none['seconds']:.4f} | "
        f"{none['ratio_to_torch']:.2f} |",
        f"| golden, predictor bnn (theta {bnn['threshold']}, {100 * bnn['reused_fraction']:.1f}% reused), "
        f"{g['processes']} processes | {g['processes']} | {bnn['seconds']:.4f} | {bnn['ratio_to_torch']:.2f} |",
        f"| PyTorch nn.LSTM, 1 thread | 1 | {one['torch_1_thread_seconds']:.4f} | "
        f"{one['torch_1_thread_seconds'] / t['seconds']:.2f} |",
        f"| golden, predictor none, 1 process | 1 | {one['golden_none_1_process_seconds']:.4f} | "
        f"{one['ratio_none_to_torch']:.2f} |",
        f"| golden, predictor bnn, 1 process | 1 | {one['golden_bnn_1_process_seconds']:.4f} | "
        f"{one['ratio_bnn_to_torch']:.2f} |",
        "",
        f"Target: golden at most {result['target_ratio']:.0f}x PyTorch for both predictors, both sides on "
        f"{t['threads']} CPUs: {'met' if result['meets_target'] else 'NOT met'}.",
        "",
        f"Both on one CPU: golden none {one['ratio_none']:.2f}x, bnn {one['ratio_bnn']:.2f}x PyTorch on one thread.",
        "",
    ]
    with open(os.path.join(RESULTS, "golden_speed.md"), "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    res = main()
    write(res)
    print(json.dumps(res, indent=2))
