"""Measured cycle speed-up of memoization on the trained models, in Verilator RTL simulation.

For each model of ``benchmarks/results/eval_summary.json`` (the models of ``models/``):
quantize it with its training split, and simulate every test sequence in the compiled
Verilator harness (``memornn simulate --simulator verilator``) with predictor none and
with bnn at the model's threshold (default hardware configuration). Every run is checked
bit for bit against the golden model. Writes ``benchmarks/results/eval_speedup.json``
and ``.md``.

The threshold (and reuse cap) of a model comes from ``--settings MODEL=FILE`` when given:
a JSON file ``{"threshold": 0.4}`` (a number or one per layer, optionally ``"reuse_cap"``
and ``"source"``, a note on how the value was chosen). Otherwise it is the model's
``best_threshold.bnn`` in ``eval_summary.json`` (chosen on the validation split by
``memornn tune``'s rule, as ``benchmarks/eval_models.py`` does; a model without one is
skipped); the table says which.

Run: ``nice -n 10 .venv/bin/python benchmarks/eval_speedup.py [--settings jv_lstm64=tuned/jv_lstm64.json ...]
[--sequences N]`` (needs the data extra).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

from memornn.evaluation.datasets import load_dataset, subset
from memornn.golden.errors import MemornnError
from memornn.golden.floatmodel import load_float_model
from memornn.golden.intmodel import check_reuse_cap, golden_run, parse_thresholds
from memornn.golden.quantize import quantize_model
from memornn.hw.config import HwConfig
from memornn.sim.backends import run_simulation
from memornn.sim.compare import first_mismatch

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
MODELS = os.path.join(os.path.dirname(HERE), "models")
SIMULATOR = "verilator"
SUMMARY_SOURCE = "eval_summary.json best_threshold.bnn"


def read_settings(spec: str, models: dict) -> tuple[str, dict]:
    """``MODEL=FILE`` to ``(model, {"threshold", "reuse_cap", "source"})``.

    Raises
    ------
    MemornnError
        On a malformed spec, an unknown model, an unreadable file or a bad value.
    """
    name, sep, path = spec.partition("=")
    if not sep or not name or not path:
        raise MemornnError(f"--settings wants MODEL=FILE, got {spec!r}")
    if name not in models:
        raise MemornnError(f"--settings: unknown model {name!r} (known: {', '.join(models)})")
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as exc:
        raise MemornnError(f"--settings: cannot read {path!r}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise MemornnError(f"--settings: {path!r} is not JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(data, dict) or "threshold" not in data:
        raise MemornnError(f"--settings: {path!r} must be a JSON object with a 'threshold'")
    unknown = set(data) - {"threshold", "reuse_cap", "source"}
    if unknown:
        raise MemornnError(f"--settings: {path!r} has unknown keys {sorted(unknown)}")
    return name, {"threshold": data["threshold"], "reuse_cap": data.get("reuse_cap", 0),
                  "source": str(data.get("source", path))}


def _simulate(name: str, entry: dict, theta, cap: int, predictor: str, count: int | None) -> dict:
    """One model, one predictor: the compiled harness on the test sequences, checked against golden."""
    model = load_float_model(os.path.join(MODELS, f"{name}.npz"))
    data = load_dataset(entry["dataset"])
    qmodel = quantize_model(model, data.train)
    batch, _ = subset(data.test, data.y_test, count)
    threshold, cap = (theta, cap) if predictor == "bnn" else (0.0, 0)
    parse_thresholds(threshold, qmodel.num_layers)  # a bad value fails here, before any simulation
    check_reuse_cap(cap)
    config = HwConfig(max_seq_len=max(32, int(batch.lengths.max())))
    start = time.monotonic()
    hw = run_simulation(SIMULATOR, qmodel, batch, config, threshold, predictor, cap)
    seconds = time.monotonic() - start
    mismatch = first_mismatch(golden_run(qmodel, batch, threshold, predictor, cap), hw)
    if mismatch:
        raise MemornnError(f"RTL differs from golden ({predictor}): {mismatch}")
    total = hw["neurons_computed"].sum() + hw["neurons_reused"].sum()
    return {"sequences": batch.size, "test_sequences": data.test.size, "steps": int(batch.lengths.sum()),
            f"cycles_{predictor}": int(hw["cycles"].sum()), f"seconds_{predictor}": seconds,
            f"reuse_{predictor}": float(100 * hw["neurons_reused"].sum() / total)}


def measure_all(jobs: list[tuple[str, dict, dict]], count: int | None, workers: int, done=None) -> list[dict]:
    """Every (model, entry, settings) with predictor none and bnn, ``workers`` simulations at a time.

    ``done(rows)`` is called with the finished rows (in ``jobs`` order) each time a model finishes.
    """
    rows = {name: {"model": name, "threshold": s["threshold"], "reuse_cap": s["reuse_cap"],
                   "threshold_source": s["source"], "simulator": SIMULATOR} for name, _, s in jobs}
    with ProcessPoolExecutor(workers) as pool:
        # Smallest models (by file size, a proxy for cycles) first, so results come early.
        by_cost = sorted(jobs, key=lambda job: os.path.getsize(os.path.join(MODELS, f"{job[0]}.npz")))
        futures = {pool.submit(_simulate, name, entry, s["threshold"], s["reuse_cap"], predictor, count):
                   (name, predictor) for name, entry, s in by_cost for predictor in ("none", "bnn")}
        for future in as_completed(futures):
            name, predictor = futures[future]
            try:
                row = rows[name]
                row.update(future.result())
            except MemornnError as exc:
                raise MemornnError(f"{name}: {exc}") from None
            print(f"    {name}, predictor {predictor}: done", flush=True)
            if "cycles_none" in row and "cycles_bnn" in row:
                row["speedup"] = row["cycles_none"] / row["cycles_bnn"]
                row["bit_exact"] = True
                if done is not None:
                    done([r for r in rows.values() if "speedup" in r])
    return list(rows.values())


def markdown(rows: list[dict], command: str, models: int) -> str:
    lines = ["| model | theta | theta from | sequences (steps) | reuse % (RTL) | cycles, none | cycles, bnn | "
             "speed-up |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['threshold']} | {r['threshold_source']} | {r['sequences']} ({r['steps']}) "
                     f"| {r['reuse_bnn']:.1f} | {r['cycles_none']} | {r['cycles_bnn']} | {r['speedup']:.2f}x |")
    missing = "" if len(rows) == models else f" Incomplete: {len(rows)} of {models} models finished."
    return ("# Measured speed-up in Verilator (default configuration: P = 8, B = 64)\n\n"
            f"Command: `{command}`. Compiled Verilator harness, every test sequence; every run bit-exact with the "
            f"golden model (outputs, reuse decisions, counters).{missing}\n\n" + "\n".join(lines) + "\n")


def write_results(rows: list[dict], command: str, models: int) -> str:
    """Write ``eval_speedup.json`` and ``.md`` (also while models are still running); returns the Markdown."""
    text = markdown(rows, command, models)
    with open(os.path.join(RESULTS, "eval_speedup.json"), "w") as f:
        json.dump(rows, f, indent=2)
    with open(os.path.join(RESULTS, "eval_speedup.md"), "w") as f:
        f.write(text)
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", action="append", default=[], metavar="MODEL=FILE",
                        help="JSON settings of one model (threshold, reuse_cap, source); repeatable")
    parser.add_argument("--workers", type=int, default=2, metavar="N", help="simulations at a time (default 2)")
    parser.add_argument("--sequences", type=int, metavar="N",
                        help="only the first N test sequences (default: all); does not write the results files")
    args = parser.parse_args(argv)
    with open(os.path.join(RESULTS, "eval_summary.json")) as f:
        models = json.load(f)["models"]
    try:
        chosen = dict(read_settings(spec, models) for spec in args.settings)
    except MemornnError as exc:
        print(f"eval_speedup: {exc}", file=sys.stderr)
        return 2
    jobs = []
    for name, entry in models.items():
        settings = chosen.get(name) or {"threshold": entry["best_threshold"]["bnn"], "reuse_cap": 0,
                                        "source": SUMMARY_SOURCE}
        if settings["threshold"] is None:
            print(f"{name}: no threshold within the loss budget: skipped", flush=True)
            continue
        jobs.append((name, entry, settings))
    command = "python benchmarks/eval_speedup.py" + "".join(f" --settings {s}" for s in args.settings)
    save = None if args.sequences is not None else (lambda rows: write_results(rows, command, len(jobs)))
    start = time.monotonic()
    try:
        rows = measure_all(jobs, args.sequences, args.workers, save)
    except MemornnError as exc:  # a bad threshold or reuse cap from a settings file, or a mismatch
        print(f"eval_speedup: {exc}", file=sys.stderr)
        return 2
    print(f"{len(rows)} models in {time.monotonic() - start:.0f} s", flush=True)
    print(markdown(rows, command, len(jobs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
