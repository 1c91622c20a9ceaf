"""iCE40 benchmark: what fits the UP5K and the HX8K, at what clock and cycle count.

A one-layer LSTM with 16 inputs and 32 hidden units (the issue's UP5K target) on the
iCE40 UP5K (SG48) and HX8K (CT256), 33 MHz constraint (the UP5K goal), in configurations from the
defaults (P = 8, B = 64, parallel datapath) down to the smallest: the shared datapath
(``datapath = "shared"``), the weights in the UP5K's SPRAM (``weight_memory =
"loaded"``), fewer MAC lanes and a narrower BNN word. Each point is synthesized and
placed and routed by ``memornn.hw.synth`` in its I/O harness; a point that does not fit
records the flow's one-line message (needed against available). Cycles per step come
from the exact cycle model (predictor none) of the generated design.

Writes ``benchmarks/results/synth_ice40.json`` and ``synth_ice40.md``. Run:
``.venv/bin/python benchmarks/synth_ice40.py`` (a few minutes; points run one at a time;
``--points``, ``--seeds`` and ``--pnr-timeout`` rerun a subset, see ``--help``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
X, H = 16, 32
#: (target, label, config keys beyond the defaults)
POINTS = [
    ("ice40-up5k", "defaults (P=8, B=64, parallel)", {}),
    ("ice40-up5k", "P=8, B=64, shared, SPRAM weights", {"datapath": "shared", "weight_memory": "loaded"}),
    ("ice40-up5k", "P=4, B=32, shared, SPRAM weights",
     {"mac_lanes": 4, "bnn_width": 32, "datapath": "shared", "weight_memory": "loaded"}),
    ("ice40-up5k", "P=2, B=16, shared, SPRAM weights",
     {"mac_lanes": 2, "bnn_width": 16, "datapath": "shared", "weight_memory": "loaded"}),
    ("ice40-hx8k", "P=2, B=16, shared", {"mac_lanes": 2, "bnn_width": 16, "datapath": "shared"}),
    ("ice40-hx8k", "P=2, B=16, shared, max_seq_len 16",
     {"mac_lanes": 2, "bnn_width": 16, "datapath": "shared", "max_seq_len": 16}),
    ("ice40-hx8k", "P=4, B=32, shared, max_seq_len 16",
     {"mac_lanes": 4, "bnn_width": 32, "datapath": "shared", "max_seq_len": 16}),
]


#: Placement seeds tried per point, and the seconds each may take to route (on a nearly
#: full UP5K some placements never finish routing).
SEEDS, PNR_TIMEOUT = 4, 420
#: nextpnr's clock constraint (MHz): a seed that misses it is followed by the next one.
CONSTRAINT_MHZ = 33.0


def run_point(target: str, label: str, keys: dict, workdir: str, seeds: int = SEEDS,
              pnr_timeout: float = PNR_TIMEOUT) -> dict:
    """Synthesize one point; a summary row (or the does-not-fit message)."""
    from memornn.golden.errors import MemornnError
    from memornn.golden.quantize import quantize_model
    from memornn.golden.randmodel import random_batch, random_float_model
    from memornn.hw.config import HwConfig
    from memornn.hw.cycles import Latencies, step_cycles_none
    from memornn.hw.layout import make_layout
    from memornn.hw.synth.flow import run_synth

    model = quantize_model(random_float_model("lstm", 1, False, X, H, seed=1),
                           random_batch(X, sequences=4, max_len=8, seed=1))
    config = HwConfig(**keys)
    layout = make_layout(model, config)
    step = step_cycles_none(layout, layout.layers[0], Latencies.of(layout))
    row = {"target": target, "label": label, "config": keys, "X": X, "H": H, "cycles_per_step": step}
    outdir = os.path.join(workdir, re.sub(r"\W+", "_", f"{target}_{label}"))
    try:
        rep = run_synth(model, config, target, outdir, progress=lambda msg: print(f"      {msg}", flush=True),
                        seeds=seeds, pnr_timeout=pnr_timeout, freq=CONSTRAINT_MHZ)
    except MemornnError as exc:
        return {**row, "fits": False, "error": str(exc)}
    pnr = rep["pnr"] or {}
    cp = pnr.get("critical_path") or {}
    fmax = pnr.get("fmax_mhz")
    lc = (pnr.get("bel_utilization") or {}).get("ICESTORM_LC", {})
    return {**row, "fits": True, "resources": rep["resources"], "utilization_percent": rep["utilization_percent"],
            "packed_lc": [lc.get("used"), lc.get("available")],
            "fmax_mhz": fmax, "constraint_mhz": pnr.get("constraint_mhz"),
            "step_us": round(step / fmax, 2) if fmax else None, "seed": pnr.get("seed"),
            "seeds_routed": pnr.get("seeds_routed"),
            "critical_path": " -> ".join(cp.get("blocks") or []) + f" ({cp.get('delay_ns')} ns)",
            "seeds": seeds, "pnr_timeout_s": pnr_timeout,
            "tools": rep["tools"]}


def _seeds(row: dict) -> str:
    """The reported seed, and every routed seed's Fmax when there were several."""
    tried = row.get("seeds_routed") or []
    if len(tried) < 2:
        return str(row.get("seed"))
    return f"{row.get('seed')} (of " + ", ".join(f"{t['seed']}: {t['fmax_mhz']}" for t in tried) + ")"


def markdown(rows: list[dict]) -> str:
    lines = ["# iCE40: what fits", "",
             f"One-layer LSTM, {X} inputs, {H} hidden units (max_seq_len 64 unless noted). Resources of the design "
             "alone (Yosys); logic cells after packing (LUT and flip-flop pairs) and Fmax from nextpnr, "
             "with the design in its I/O harness (the constraint of each row's run; placement seeds from 1 on, "
             f"each given {PNR_TIMEOUT:g} s to route, at most {SEEDS}, until one meets the constraint; the fastest "
             "routed seed is reported). Cycles per step: the exact model, predictor none "
             "(memoization only removes MAC cycles).", "",
             "| target | configuration | fits | LUTs | FFs | DSP | BRAM | SPRAM | packed LCs | Fmax (MHz) | constraint | seed | "
             "cycles/step | us/step | critical path |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        if not r["fits"]:
            if ": needs " in r["error"]:
                msg = "needs " + r["error"].split(": needs ", 1)[-1].split("; see")[0]
            else:
                msg = r["error"].split(": ", 1)[-1].split(" (")[0]
            lines.append(f"| {r['target']} | {r['label']} | no: {msg} | | | | | | | | | | "
                         f"{r['cycles_per_step']} | | |")
            continue
        res = r["resources"]
        lines.append(f"| {r['target']} | {r['label']} | yes | {res['luts']} | {res['ffs']} | {res['dsp']} | "
                     f"{res['bram']} | {res['spram']} | {r['packed_lc'][0]} / {r['packed_lc'][1]} | {r['fmax_mhz']} | "
                     f"{r.get('constraint_mhz')} | {_seeds(r)} | "
                     f"{r['cycles_per_step']} | {r['step_us']} | {r['critical_path']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=_index_list, metavar="I,...",
                    help=f"only these points, numbered 1 to {len(POINTS)} in the table's order; the results file "
                         "keeps the other rows (default: every point)")
    ap.add_argument("--seeds", type=int, default=SEEDS, help=f"placement seeds to try per point (default {SEEDS})")
    ap.add_argument("--pnr-timeout", type=float, default=PNR_TIMEOUT,
                    help=f"seconds one place-and-route attempt may take (default {PNR_TIMEOUT})")
    args = ap.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    selected = args.points or list(range(1, len(POINTS) + 1))
    if max(selected) > len(POINTS):
        ap.error(f"--points: there are {len(POINTS)} points, got {max(selected)}")
    path = os.path.join(RESULTS, "synth_ice40.json")
    old = {}
    if args.points and os.path.exists(path):
        with open(path) as f:
            old = {(r["target"], r["label"]): r for r in json.load(f)["rows"]}
    rows = []
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="memornn_ice40_") as workdir:
        for i, (target, label, keys) in enumerate(POINTS, 1):
            if i not in selected:
                if (target, label) in old:
                    rows.append(old[target, label])
                continue
            print(f"[{i}/{len(POINTS)}] {target}: {label} ...", flush=True)
            rows.append(run_point(target, label, keys, workdir, args.seeds, args.pnr_timeout))
            r = rows[-1]
            print(f"      -> {'fits, Fmax %s MHz' % r['fmax_mhz'] if r['fits'] else r['error']}", flush=True)
    os.makedirs(RESULTS, exist_ok=True)
    with open(path, "w") as f:
        json.dump({"rows": rows, "seconds": round(time.monotonic() - start)}, f, indent=1)
    with open(os.path.join(RESULTS, "synth_ice40.md"), "w") as f:
        f.write(markdown(rows))
    print(f"wrote {RESULTS}/synth_ice40.md ({time.monotonic() - start:.0f} s)")
    return 0


def _index_list(text: str) -> list[int]:
    """``--points``: comma-separated point numbers from 1."""
    try:
        out = [int(v) for v in text.split(",")]
    except ValueError:
        out = []
    if not out or min(out) < 1:
        raise argparse.ArgumentTypeError(f"points must be comma-separated numbers from 1, got {text!r}")
    return out


if __name__ == "__main__":
    sys.exit(main())
