"""Estimate LUTs, flip-flops, DSP blocks, block RAMs and Fmax of the accelerator for a target from
the model's shape and the configuration, with the model fitted to this project's synthesis runs
(benchmarks/estimator.py states its error on held-out points). memornn synth gives the real
figures.
"""

from __future__ import annotations

import json

from ..golden.qmodel import load_qmodel
from .common import add_config_argument, add_model_argument, add_target_argument, load_hw_config


def register(sub) -> None:
    p = sub.add_parser("estimate", help="resources and Fmax estimated without synthesis (well under a second)",
                       description=__doc__)
    add_model_argument(p)
    add_config_argument(p)
    add_target_argument(p, "FPGA target (as memornn synth --target)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..hw.synth.estimate import estimate

    model = load_qmodel(args.model)
    est = estimate(model, load_hw_config(args.config), args.target)
    if args.json:
        print(json.dumps({"target": args.target, **est}))
    else:
        print(f"{args.target} (estimate, fit of {est['fit_from']}): {est['luts']} LUTs, {est['ffs']} FFs, "
              f"{est['dsps']} DSP, {est['brams']} BRAM, Fmax {est['fmax_mhz']} MHz; "
              f"{'fits' if est['fits'] else 'does not fit'}")
    return 0
