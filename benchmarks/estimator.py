"""Fit the resource and Fmax estimator to a synthesis sweep and state its error on held-out points.

    python benchmarks/estimator.py                 # synthesize the grid with memornn dse, then fit
    python benchmarks/estimator.py --part delta    # only the delta builds' part of the grid, then fit
    python benchmarks/estimator.py --fit-only      # refit from the sweep results already in build/

The grid (with the synthesis benchmarks' points, mid-size LSTMs): small LSTM and GRU models (random weights: resources do not depend
on their values) over lanes, BNN width and datapath, on ECP5-85k and the iCE40 UP5K
(shared datapath, SPRAM weights) -- the ``memo`` part; and the delta build (``skip =
"delta"``, parallel datapath) of the LSTM shapes over lanes on ECP5-85k -- the ``delta``
part, in folders of its own (``build/estimator/<target>_delta_<shape>``). Every sweep runs
as ``memornn dse`` (cached: a rerun only synthesizes new points). Held out from the fit: every model of one shape (the GRU)
and every fourth remaining point; the fit written to ``hw/synth/data/estimate_fit.json``
then uses every point. Results: ``benchmarks/results/estimator.{json,md}``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from memornn.evaluation.results import write_benchmark  # noqa: E402
from memornn.golden.quantize import quantize_model  # noqa: E402
from memornn.golden.randmodel import random_batch, random_float_model  # noqa: E402
from memornn.hw.synth.estimate import FIT_FILE, FITTED, fit_target, row_features  # noqa: E402

BUILD = os.path.join(ROOT, "build", "estimator")
RESULTS = os.path.join(ROOT, "benchmarks", "results")

#: (name, cell, inputs, hidden): the model shapes of the grid.
SHAPES = (("lstm_x8_h16", "lstm", 8, 16), ("lstm_x16_h32", "lstm", 16, 32), ("gru_x16_h32", "gru", 16, 32))
HELD_OUT_SHAPE = "gru_x16_h32"

#: (part, target, sweep arguments, shapes): each (part, target, shape) is one ``memornn dse`` run.
GRID = (
    ("memo", "ecp5-85k", ["--sweep", "mac_lanes=2,8", "--sweep", "bnn_width=16,64", "--sweep",
                          "datapath=parallel,shared"], ["lstm_x8_h16", "lstm_x16_h32", "gru_x16_h32"]),
    ("memo", "ice40-up5k", ["--sweep", "mac_lanes=2,4", "--sweep", "bnn_width=16,32", "--sweep", "datapath=shared",
                            "--sweep", "weight_memory=loaded"], ["lstm_x8_h16", "gru_x16_h32"]),
    ("delta", "ecp5-85k", ["--sweep", "skip=delta", "--sweep", "mac_lanes=2,4,8"], ["lstm_x8_h16", "lstm_x16_h32"]),
)


def sweep_folder(part: str, target: str, shape: str) -> str:
    """A sweep's output folder: the memo part's as before, the delta part's apart."""
    return os.path.join(BUILD, f"{target}_{shape}" if part == "memo" else f"{target}_{part}_{shape}")


def _model(name, cell, x, h):
    folder = os.path.join(BUILD, name)
    os.makedirs(folder, exist_ok=True)
    q_path, x_path = os.path.join(folder, "q.npz"), os.path.join(folder, "x.npz")
    if not os.path.exists(q_path):
        batch = random_batch(x, sequences=4, max_len=8, seed=1, smooth=0.9)
        quantize_model(random_float_model(cell, 1, False, x, h, seed=1), batch).save(q_path)
        np.savez(x_path, x=batch.x, lengths=batch.lengths)
    return q_path, x_path


def sweep(workers: int, parts: tuple) -> None:
    for part, target, args, shapes in GRID:
        for name, cell, x, h in SHAPES:
            if part not in parts or name not in shapes:
                continue
            q_path, x_path = _model(name, cell, x, h)
            cmd = [sys.executable, "-m", "memornn", "dse", "--model", q_path, "--inputs", x_path, "--target", target,
                   "--predictor", "none", "--workers", str(workers), *args, "-o", sweep_folder(part, target, name)]
            print(" ".join(cmd[2:]), flush=True)
            subprocess.run(cmd, check=True)


def _benchmark_rows() -> list[dict]:
    """The synthesis benchmarks' points (synth_scaling, synth_ice40) as dse-style rows."""
    rows = []
    with open(os.path.join(RESULTS, "synth_scaling.json")) as f:
        scaling = json.load(f)
    for p in scaling["points"]:
        rows.append({"target": scaling["target"], "cell": "lstm", "input_size": p["X"], "hidden_size": p["H"],
                     "mac_lanes": p["P"], "bnn_width": p["B"], "datapath": "parallel", "weight_memory": "initialized",
                     "max_seq_len": 64, "luts": p["luts"], "ffs": p["ffs"], "dsps": p["dsp"], "brams": p["bram"],
                     "fmax_mhz": p["fmax_mhz"]})
    with open(os.path.join(RESULTS, "synth_ice40.json")) as f:
        for r in json.load(f)["rows"]:
            if not r["fits"]:
                continue
            c = {"mac_lanes": 8, "bnn_width": 64, "datapath": "parallel", "weight_memory": "initialized",
                 "max_seq_len": 64, **r["config"]}
            res = r["resources"]
            rows.append({"target": r["target"], "cell": "lstm", "input_size": r["X"], "hidden_size": r["H"], **c,
                         "luts": res["luts"], "ffs": res["ffs"], "dsps": res["dsp"], "brams": res["bram"],
                         "fmax_mhz": r["fmax_mhz"], "dsp_capped": res["dsp"] >= 8})
    for r in rows:
        r.update(num_layers=1, directions=1, shape=f"bench_x{r['input_size']}_h{r['hidden_size']}")
        r["features"] = row_features(r)
    return rows


def _report_rows(folder: str) -> list[dict]:
    """dse-style rows from the synthesis reports of a sweep that has no results.json yet
    (an interrupted or running sweep: its finished points)."""
    rows = []
    for path in sorted(glob.glob(os.path.join(folder, "synth", "*", "report.json"))):
        with open(path) as f:
            report = json.load(f)
        model, config, res = report["design"]["model"], report["design"]["config"], report["resources"]
        rows.append({"target": report["target"], "cell": model["cell"], "input_size": model["input_size"],
                     "hidden_size": model["hidden_size"], "num_layers": model["num_layers"],
                     "directions": 2 if model["bidirectional"] else 1, **config, "fits": report["fits"],
                     "luts": res["luts"], "ffs": res["ffs"], "dsps": res["dsp"], "brams": res["bram"],
                     "fmax_mhz": (report.get("pnr") or {}).get("fmax_mhz")})
    return rows


def collect() -> dict:
    """Rows per target from the benchmarks and the sweeps' results.json (or, before a sweep
    has written it, its finished synthesis reports), with features and shape name."""
    out = {}
    for row in _benchmark_rows():
        out.setdefault(row["target"], []).append(row)
    for part, target, _, shapes in GRID:
        for name in shapes:
            folder = sweep_folder(part, target, name)
            path = os.path.join(folder, "results.json")
            if os.path.exists(path):
                with open(path) as f:
                    rows = json.load(f)
            else:
                rows = _report_rows(folder)
            for row in rows:
                if row["fits"] and row.get("luts") is not None:
                    out.setdefault(target, []).append({**row, "shape": name, "features": row_features(row)})
    return out


def _predict(entry: dict, r: dict, target: str) -> dict:
    from memornn.hw.synth.estimate import ModelShape, estimate, row_config

    shape = ModelShape(r["cell"], r["input_size"], r["hidden_size"], r["num_layers"], r["directions"])
    return estimate(shape, row_config(r), target, {"targets": {target: entry}})


def _errors(entry: dict, rows: list[dict], target: str) -> dict:
    """Errors of :func:`estimate` with the fit ``entry`` on ``rows`` (what a user gets), and
    every point's measured and estimated values."""
    out = {"points": len(rows)}
    preds = [_predict(entry, r, target) for r in rows]
    for q in FITTED:
        known = [(p[q], r[q]) for p, r in zip(preds, rows) if r.get(q) is not None]  # Fmax: points that routed
        pred, real = np.array(known, dtype=float).T
        out[f"{q}_mean_abs_percent"] = float(np.mean(np.abs(pred - real) / real) * 100)
        out[f"{q}_max_abs_percent"] = float(np.max(np.abs(pred - real) / real) * 100)
    out["brams_exact"] = sum(p["brams"] == r["brams"] for p, r in zip(preds, rows))
    out["dsps_exact"] = sum(p["dsps"] == r["dsps"] for p, r in zip(preds, rows))
    out["rows"] = [{"shape": r["shape"], **{k: r.get(k) for k in ("skip", "mac_lanes", "bnn_width", "datapath",
                                                                   "weight_memory")},
                    **{q: {"synthesis": r.get(q), "estimate": p[q]} for q in ("luts", "ffs", "dsps", "brams",
                                                                              "fmax_mhz")}}
                   for p, r in zip(preds, rows)]
    return out


def _line(label: str, train: int, h: dict | None) -> str:
    if not h:
        return f"| {label} | {train} | 0 | - | - | - | - | - |"
    return (f"| {label} | {train} | {h['points']} | {h['luts_mean_abs_percent']:.1f}% / "
            f"{h['luts_max_abs_percent']:.1f}% | {h['ffs_mean_abs_percent']:.1f}% | {h['dsps_exact']}/{h['points']} | "
            f"{h['brams_exact']}/{h['points']} | {h['fmax_mhz_mean_abs_percent']:.1f}% |")


def markdown(report: dict) -> str:
    lines = ["# Estimator error on held-out synthesis points", "",
             "Command: `python benchmarks/estimator.py --fit-only` (after the grid's sweeps). Held out from the fit: "
             f"every point of the {HELD_OUT_SHAPE} shape and every fourth other point; errors of `memornn estimate` "
             "with the fit of the other points against Yosys/nextpnr. The committed fit then uses every point.", "",
             "| target | fit points | held-out points | LUTs mean / max error | FFs mean error | DSPs exact | "
             "BRAMs exact | Fmax mean error |", "|---|---|---|---|---|---|---|---|"]
    for target, r in report.items():
        lines.append(_line(target, r["train"], r["held_out"]))
        if r.get("held_out_delta"):
            lines.append(_line(f"{target}, delta build only", r["train"], r["held_out_delta"]))
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fit-only", action="store_true")
    parser.add_argument("--part", choices=("memo", "delta", "all"), default="all",
                        help="which part of the grid to synthesize (default all)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not args.fit_only:
        sweep(args.workers, ("memo", "delta") if args.part == "all" else (args.part,))
    rows = collect()
    fit, report = {"version": 1, "targets": {}}, {}
    for target, target_rows in rows.items():
        held = [r for i, r in enumerate(target_rows) if r["shape"] == HELD_OUT_SHAPE or i % 4 == 3]
        train = [r for r in target_rows if r not in held]
        entry = fit_target(train)
        held_delta = [r for r in held if r.get("skip") == "delta"]
        report[target] = {"train": len(train), "held_out": _errors(entry, held, target) if held else None,
                          "held_out_delta": _errors(entry, held_delta, target) if held_delta else None}
        fit["targets"][target] = fit_target(target_rows)
    with open(FIT_FILE, "w") as f:
        json.dump(fit, f, indent=1)
    text = markdown(report)
    write_benchmark(RESULTS, "estimator", report, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
