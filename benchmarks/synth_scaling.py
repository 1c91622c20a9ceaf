"""Synthesis scaling benchmark: resources and Fmax against P and against H on an FPGA.

Two sweeps of a one-layer LSTM with 40 inputs (default config otherwise: B = 64,
max_seq_len = 64): P in 1, 2, 4, 8, 16 at H = 64, and H in 32, 64, 128, 256 at P = 8,
each synthesized and placed and routed by ``memornn.hw.synth`` (default target ecp5-85k,
speed grade 8, 100 MHz constraint). Points run one at a time (each tool run is
single-threaded; the machine is shared) and the results file is rewritten after every
point, so an interrupted run keeps what it finished and a rerun skips those points
(``--force`` redoes them).

Writes ``benchmarks/results/synth_scaling.json``, ``synth_scaling.md`` (table) and
``synth_scaling.png`` (plots). Run: ``.venv/bin/python benchmarks/synth_scaling.py``
(``--help`` for options); the H = 256 point alone takes several minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
X = 40
P_SWEEP = (1, 2, 4, 8, 16)
H_SWEEP = (32, 64, 128, 256)
P_FIXED_H = 64
H_FIXED_P = 8
COLUMNS = ("luts", "ffs", "carry", "dsp", "bram", "lutram")


def points(sweeps: str) -> list[tuple[int, int]]:
    """(P, H) points of the selected sweeps, each once, in run order (small first)."""
    out = []
    if "P" in sweeps:
        out += [(p, P_FIXED_H) for p in P_SWEEP]
    if "H" in sweeps:
        out += [(H_FIXED_P, h) for h in H_SWEEP]
    seen, unique = set(), []
    for pt in out:
        if pt not in seen:
            seen.add(pt)
            unique.append(pt)
    return unique


def key(target: str, p: int, h: int) -> str:
    return f"{target}:P{p}:H{h}:X{X}"


def run_point(target: str, p: int, h: int, workdir: str, freq: float | None) -> dict:
    """Synthesize one point; the summary row of its report."""
    from memornn.golden.errors import MemornnError
    from memornn.golden.quantize import quantize_model
    from memornn.golden.randmodel import random_batch, random_float_model
    from memornn.hw.config import HwConfig
    from memornn.hw.synth.flow import run_synth

    model = quantize_model(random_float_model("lstm", 1, False, X, h, seed=1),
                           random_batch(X, sequences=4, max_len=8, seed=1))
    outdir = os.path.join(workdir, f"P{p}_H{h}")
    row = {"key": key(target, p, h), "target": target, "P": p, "H": h, "X": X, "B": HwConfig().bnn_width,
           "hw_revision": hw_revision()}
    try:
        rep = run_synth(model, HwConfig(mac_lanes=p), target, outdir, freq=freq,
                        progress=lambda msg: print(f"      {msg}", flush=True))
    except MemornnError as exc:
        return {**row, "error": str(exc)}
    pnr = rep["pnr"] or {}
    cp = pnr.get("critical_path") or {}
    return {**row, **{c: rep["resources"][c] for c in COLUMNS},
            "utilization_percent": rep["utilization_percent"],
            "fmax_mhz": pnr.get("fmax_mhz"), "constraint_mhz": pnr.get("constraint_mhz"),
            "critical_path_blocks": cp.get("blocks"), "critical_path_ns": cp.get("delay_ns"),
            "critical_path_from": cp.get("from"), "critical_path_to": cp.get("to"),
            "dsp_expected": rep["dsp_inference"]["expected_dsp_blocks"],
            "mac_in_dsp": rep["dsp_inference"]["mac_in_dsp"],
            "bram_expected_found": [rep["memory_inference"]["expected_in_bram"],
                                    rep["memory_inference"]["found_in_bram"]],
            "findings": rep["dsp_inference"]["findings"] + rep["memory_inference"]["findings"],
            "run_time_s": rep["run_time_s"], "tools": rep["tools"], "design_source": rep["design"]["source"]}


def markdown(rows: list[dict], target: str) -> str:
    lines = [f"# Synthesis scaling on {target}", "",
             f"One-layer LSTM, {X} inputs, B = 64, max_seq_len = 64; P sweep at H = {P_FIXED_H}, H sweep at "
             f"P = {H_FIXED_P}. Resources of the design alone (Yosys); Fmax from nextpnr (design in the I/O "
             "harness); LUT utilization counts carry and LUT-RAM cells as two LUT sites. hw revision: "
             f"{', '.join(sorted({r.get('hw_revision', '?') for r in rows}))}.", "",
             "| P | H | LUTs | FFs | carry | DSP | BRAM | LUT RAM | LUT util. | Fmax (MHz) | critical path | time (s) |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for r in sorted(rows, key=lambda r: (r["H"], r["P"])):
        if "error" in r:
            lines.append(f"| {r['P']} | {r['H']} | {r['error']} |" + " |" * 9)
            continue
        blocks = " -> ".join(r["critical_path_blocks"] or []) + f" ({r['critical_path_ns']} ns)"
        lines.append(f"| {r['P']} | {r['H']} | {r['luts']} | {r['ffs']} | {r['carry']} | {r['dsp']} | {r['bram']} | "
                     f"{r['lutram']} | {r['utilization_percent'].get('luts', '-')}% | {r['fmax_mhz']} | {blocks} | "
                     f"{r['run_time_s']['total']:.0f} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: str, target: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if "error" not in r]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for col, (var, fixed, val) in enumerate((("P", "H", P_FIXED_H), ("H", "P", H_FIXED_P))):
        sel = sorted((r for r in ok if r[fixed] == val), key=lambda r: r[var])
        xs = [r[var] for r in sel]
        if not sel:
            for row in axes:
                row[col].set_visible(False)
            continue
        ax = axes[0][col]
        for c, label in (("luts", "LUTs"), ("ffs", "FFs")):
            ax.plot(xs, [r[c] for r in sel], "o-", label=label)
        ax.set_ylim(bottom=0)
        ax2 = ax.twinx()
        ax2.plot(xs, [r["dsp"] for r in sel], "s--", color="tab:red", label="DSP")
        ax2.plot(xs, [r["bram"] for r in sel], "^--", color="tab:green", label="BRAM")
        ax2.set_ylim(bottom=0)
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_xlabel(f"{var} ({fixed} = {val})")
        ax.set_ylabel("LUTs / FFs")
        ax2.set_ylabel("DSP / BRAM blocks")
        ax.set_title(f"resources against {var}")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, loc="lower right", fontsize=8)
        ax = axes[1][col]
        ax.plot(xs, [r["fmax_mhz"] for r in sel], "o-")
        if sel and sel[0].get("constraint_mhz"):
            ax.axhline(sel[0]["constraint_mhz"], color="gray", ls=":", label="constraint")
            ax.legend(fontsize=8)
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_ylim(bottom=0)
        ax.set_xlabel(f"{var} ({fixed} = {val})")
        ax.set_ylabel("Fmax (MHz)")
        ax.set_title(f"Fmax against {var} (nextpnr)")
    fig.suptitle(f"memornn synthesis scaling, {target}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def hw_revision() -> str:
    """The commit of the repository, with ``+dirty`` if ``hw/`` has uncommitted changes."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "hw"], cwd=root, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def write_outputs(rows: list[dict], target: str, prefix: str) -> None:
    with open(prefix + ".json", "w") as f:
        json.dump({"target": target, "X": X, "points": rows}, f, indent=2)
        f.write("\n")
    with open(prefix + ".md", "w") as f:
        f.write(markdown(rows, target))
    if any("error" not in r for r in rows):
        plot(rows, prefix + ".png", target)


def _point_list(text: str) -> list[tuple[int, int]]:
    """``--points``: comma-separated ``P:H`` pairs of positive integers."""
    try:
        out = [tuple(int(v) for v in item.split(":")) for item in text.split(",")]
    except ValueError:
        out = []
    if not out or any(len(pt) != 2 or min(pt) < 1 for pt in out):
        raise argparse.ArgumentTypeError(f"points must be P:H pairs of positive integers, e.g. 8:64, got {text!r}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default="ecp5-85k", help="synthesis target (default ecp5-85k)")
    ap.add_argument("--sweeps", default="PH", help="P, H or PH (default both)")
    ap.add_argument("--max-h", type=int, default=max(H_SWEEP), help="skip H above this")
    ap.add_argument("--freq", type=float, help="clock constraint in MHz (default: the target's)")
    ap.add_argument("--workdir", help="keep each point's tool outputs here (default: a temporary directory)")
    ap.add_argument("--points", type=_point_list, metavar="P:H,...",
                    help="only these (P, H) points, e.g. 8:64 (default: every point of --sweeps)")
    ap.add_argument("--force", action="store_true",
                    help="redo the selected points even if the results file has them (the other rows stay)")
    ap.add_argument("--prefix", default=os.path.join(RESULTS, "synth_scaling"), help="output path prefix")
    args = ap.parse_args(argv)

    todo = args.points or [(p, h) for p, h in points(args.sweeps) if h <= args.max_h]
    rows = []
    if os.path.exists(args.prefix + ".json"):
        with open(args.prefix + ".json") as f:
            rows = [r for r in json.load(f).get("points", []) if "error" not in r]
    done = set() if args.force else {r["key"] for r in rows}
    os.makedirs(os.path.dirname(args.prefix) or ".", exist_ok=True)
    tmp = None
    workdir = args.workdir
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="memornn-synth-scaling-")
        workdir = tmp.name
    start = time.monotonic()
    for i, (p, h) in enumerate(todo, 1):
        if key(args.target, p, h) in done:
            print(f"[{i}/{len(todo)}] P={p} H={h}: already in {args.prefix}.json (--force to redo)", flush=True)
            continue
        print(f"[{i}/{len(todo)}] P={p} H={h} on {args.target} ...", flush=True)
        row = run_point(args.target, p, h, workdir, args.freq)
        rows = [r for r in rows if r["key"] != row["key"]] + [row]
        write_outputs(rows, args.target, args.prefix)
        if "error" in row:
            print(f"      FAILED: {row['error']}", flush=True)
        else:
            print(f"      {row['luts']} LUTs, {row['ffs']} FFs, {row['dsp']} DSP, {row['bram']} BRAM, Fmax "
                  f"{row['fmax_mhz']} MHz; {row['run_time_s']['total']:.0f} s (elapsed "
                  f"{time.monotonic() - start:.0f} s)", flush=True)
    write_outputs(rows, args.target, args.prefix)
    print(f"wrote {args.prefix}.json, .md, .png")
    if tmp:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
