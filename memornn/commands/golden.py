"""Run the integer golden model (the specification) with a skip policy and write the output key table
(h, h_int, reused_l*, columns_l*, counters) to an .npz.
"""

from __future__ import annotations

from ..golden.inputs import load_inputs
from ..golden.intmodel import golden_run
from ..golden.npzfile import save_npz
from ..golden.qmodel import load_qmodel
from .common import (add_inputs_argument, add_model_argument, add_output_argument, check_outputs, output_path,
                     workers_count)
from .policyargs import add_policy_options, policy_options


def register(sub) -> None:
    p = sub.add_parser("golden", help="run the bit-exact golden model", description=__doc__)
    add_model_argument(p)
    add_inputs_argument(p)
    add_policy_options(p)
    p.add_argument("--workers", type=workers_count, default=1, metavar="N",
                   help="processes sharing the sequences (1 to 64, default 1; the results do not depend on it)")
    add_output_argument(p, "OUT.npz", "result file", type=output_path)
    p.set_defaults(run=run)


def run(args) -> int:
    check_outputs([("output", args.output)], inputs=[("--model", args.model), ("--inputs", args.inputs)])
    model = load_qmodel(args.model)
    options = policy_options(args, model)
    batch = load_inputs(args.inputs, model.input_size)
    result = golden_run(model, batch, options, workers=args.workers)
    save_npz(args.output, result)
    total = int(result["neurons_computed"].sum() + result["neurons_reused"].sum())
    reuse = result["neurons_reused"].sum() / total if total else 0.0
    macs = int(result["macs"].sum() + result["macs_skipped"].sum())
    skipped = result["macs_skipped"].sum() / macs if macs else 0.0
    print(f"{batch.size} sequences, {int(batch.lengths.sum())} steps: {100 * reuse:.1f}% of neuron evaluations "
          f"reused, {100 * skipped:.1f}% of MACs skipped ({options.predictor}); wrote {args.output}")
    return 0
