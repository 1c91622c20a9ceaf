"""Quantize a float model with a classifier head (calibrated on the data set's training split) and, on
its test split, measure for each threshold and predictor the accuracy (float, integer without
memoization, memoized), the reuse per layer and gate and the MACs avoided; the best threshold is
chosen on the validation split (memornn tune's rule), never on test. Writes DIR/sweep.json,
DIR/sweep.csv and DIR/sweep.png. Needs the data extra.
"""

from __future__ import annotations

import os

from ..golden.fileio import staged_folder
from ..golden.floatmodel import load_float_model
from .common import add_model_argument, add_output_argument, check_outputs, non_negative_int


def register(sub) -> None:
    p = sub.add_parser("sweep", help="sweep the reuse threshold on a data set", description=__doc__)
    add_model_argument(p, "float model with head_weight/head_bias", "M.npz")
    p.add_argument("--dataset", required=True, metavar="NAME", help="japanesevowels, digits or seqdigits")
    p.add_argument("--thresholds", default="0:0.6:0.05", metavar="RANGE",
                   help="comma-separated items, each start:stop:step (stop included) or a number; "
                        "default 0:0.6:0.05")
    p.add_argument("--predictor", default="bnn,oracle", metavar="P,...",
                   help="comma-separated predictors among bnn, oracle (default bnn,oracle)")
    p.add_argument("--reuse-cap", type=non_negative_int, default=0, metavar="N",
                   help="compute a neuron after N reuses in a row (default 0: no cap)")
    p.add_argument("--no-offsets", action="store_true",
                   help="quantize with plain sign binarization (offset 0) instead of calibrated offsets")
    p.add_argument("--limit", type=non_negative_int, default=None, metavar="N",
                   help="evaluate only the first N test and validation sequences (quick looks)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    add_output_argument(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..evaluation.datasets import check_dataset_name, load_dataset
    from ..evaluation.plot import plot_sweep
    from ..evaluation.results import write_csv, write_json
    from ..evaluation.sweep import best_threshold, check_predictors, run_sweep
    from ..evaluation.thresholds import parse_threshold_range
    from ..golden.errors import MemornnError

    # Check every argument before the slow steps (loading data, quantizing).
    dataset = check_dataset_name(args.dataset)
    thresholds = parse_threshold_range(args.thresholds)
    predictors = check_predictors(args.predictor)
    if args.limit == 0:
        raise MemornnError("--limit must be at least 1")
    check_outputs([], folders=[("output", args.output)], inputs=[("--model", args.model)])
    model = load_float_model(args.model)
    data = load_dataset(dataset)
    name = os.path.splitext(os.path.basename(args.model))[0]
    results = run_sweep(model, data, thresholds, predictors, args.reuse_cap, not args.no_offsets, args.limit, name,
                        show_progress=not args.quiet)
    with staged_folder(args.output, [args.model]) as outdir:  # all three files, or none
        write_json(results, os.path.join(outdir, "sweep.json"))
        write_csv(results, os.path.join(outdir, "sweep.csv"))
        plot_sweep(results, os.path.join(outdir, "sweep.png"))
    print(f"{name} on {dataset} ({results['test_sequences']} test sequences): float {results['float_accuracy']:.2f} %, "
          f"integer {results['int_accuracy']:.2f} %")
    for predictor in predictors:
        theta = best_threshold(results, predictor)
        point = results["best"][predictor]
        if point is None:
            print(f"  {predictor}: no threshold within the budget on the validation split (memornn tune's rule)")
        else:
            print(f"  {predictor}: threshold chosen on the validation split: {theta:g}; on test "
                  f"{point['reuse']:.1f} % reused, {point['macs_avoided']:.1f} % MACs avoided, loss "
                  f"{point['loss']:.2f} points")
    print(f"wrote {args.output}/sweep.json, sweep.csv, sweep.png")
    return 0
