"""Synthesize the accelerator with Yosys (YoWASP) and, for iCE40 and ECP5, place and route it with
nextpnr in an I/O-serializing harness; write DIR/report.json and DIR/report.md (resources,
utilization, Fmax, critical path, DSP and block RAM inference) beside the Verilog and the tool logs.
"""

from __future__ import annotations

import sys

from ..golden.qmodel import load_qmodel
from .common import (add_config_argument, add_model_argument, add_output_argument, add_target_argument, check_outputs,
                     load_hw_config, positive_float, positive_int)


def _targets() -> tuple[str, ...]:
    from ..hw.synth.targets import TARGETS

    return tuple(TARGETS)


def register(sub) -> None:
    p = sub.add_parser("synth", help="synthesize and place-and-route for an FPGA (resources, Fmax)",
                       description=__doc__)
    add_model_argument(p)
    add_config_argument(p)
    add_target_argument(p, f"one of {', '.join(_targets())} (xilinx and generic: resources only)")
    p.add_argument("--freq", type=positive_float, metavar="MHz", help="clock constraint for nextpnr (default per target)")
    p.add_argument("--speed", type=int, default=8, metavar="G", help="ECP5 speed grade 6, 7 or 8 (default 8)")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (default 1)")
    p.add_argument("--seeds", type=positive_int, default=1, metavar="N",
                   help="seeds to try, from --seed on, while place and route runs past --pnr-timeout or misses "
                        "--freq; the fastest routed seed is reported (default 1)")
    p.add_argument("--pnr-timeout", type=positive_float, metavar="S",
                   help="seconds one place-and-route attempt may take (default: no limit)")
    add_output_argument(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..hw.synth.flow import run_synth  # imports Amaranth: only when synthesizing
    from ..hw.synth.targets import get_target

    get_target(args.target)  # an unknown target fails before any work
    check_outputs([], folders=[("output", args.output)], inputs=[("--model", args.model), ("--config", args.config)])
    model = load_qmodel(args.model)
    config = load_hw_config(args.config)
    # Not staged like generate's folder: a failed synthesis keeps its logs there, and the
    # error message names them. run_synth checks its options before it creates the folder.
    report = run_synth(model, config, args.target, args.output, freq=args.freq, seed=args.seed, speed=args.speed,
                       progress=lambda msg: print(msg, file=sys.stderr, flush=True), seeds=args.seeds,
                       pnr_timeout=args.pnr_timeout)
    res = report["resources"]
    line = (f"{args.target}: {res['luts']} LUTs, {res['ffs']} FFs, {res['dsp']} DSP, {res['bram']} BRAM")
    pnr = report["pnr"]
    if pnr:
        line += (f"; Fmax {pnr['fmax_mhz']} MHz ({'meets' if pnr['meets_constraint'] else 'fails'} "
                 f"{pnr['constraint_mhz']:g} MHz)")
    print(f"{line}; wrote {args.output}/report.json and report.md")
    return 0
