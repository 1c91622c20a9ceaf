"""Run the golden model on the inputs with the predictor and with none, count every operation the
accelerator performs (MACs, weight and operand reads, requantization, memo table, predictor,
activations, cell updates) and charge each with a per-operation energy table (default: 45 nm,
Horowitz, ISSCC 2014). Prints the breakdown per inference and the saving net of the predictor's
own cost.
"""

from __future__ import annotations

import json

from ..golden.errors import MemornnError
from ..golden.inputs import load_inputs
from ..golden.intmodel import golden_run
from ..golden.qmodel import load_qmodel
from .common import add_config_argument, add_inputs_argument, add_model_argument, load_hw_config
from .policyargs import add_policy_options, policy_options


def register(sub) -> None:
    p = sub.add_parser("energy", help="energy per inference from the golden model's operation counts",
                       description=__doc__)
    add_model_argument(p)
    add_inputs_argument(p)
    add_policy_options(p)
    add_config_argument(p, "hardware configuration (memory sizes; skip = \"delta\": the delta build's datapath). "
                           "Default: the default configuration of the build that runs the predictor (skip = "
                           "\"delta\" for delta, else memo; sign and hybrid, which no build runs yet, are "
                           "modelled on the memo build's memories)")
    p.add_argument("--table", metavar="FILE.toml", help="per-operation energy table (default: 45 nm, Horowitz)")
    p.add_argument("--weights-in-dram", action="store_true",
                   help="charge weight reads at the table's DRAM figure (weights streamed from off chip)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.set_defaults(run=run)


def format_report(report: dict) -> str:
    """The breakdown as an aligned text table, then the saving lines."""
    total = report["energy_per_inference_nj"]
    lines = [f"energy per inference, predictor {report['predictor']} ({report['table']}):"]
    for kind, nj in report["breakdown"].items():
        if nj:
            lines.append(f"  {kind:<16} {nj:12.3f} nJ  {100 * nj / total:5.1f}%")
    lines.append(f"  {'total':<16} {total:12.3f} nJ")
    if "dense_nj" in report:
        paper = ", ".join(f"{v}% ({k})" for k, v in report["paper_saving_percent"].items())
        lines += [f"dense (predictor none): {report['dense_nj']:.3f} nJ; saving {report['saving_percent']:.1f}% "
                  f"net of the predictor's own {report['predictor_overhead_percent']:.1f}% "
                  f"(paper, theirs: {paper})",
                  f"predictor sign bits read: {report['sign_bits_percent_of_dense_weight_bits']:.1f}% of the "
                  f"dense weight bits"]
    return "\n".join(lines)


def energy_config(path: str | None, predictor: str):
    """The configuration whose build the energy is for: the file's, which must run
    ``predictor`` if a build runs it at all; without a file the defaults of the build
    that runs it."""
    from ..hw.config import HwConfig
    from ..sim.settings import HARDWARE_POLICIES

    builds = [skip for skip, runs in HARDWARE_POLICIES.items() if predictor in runs]
    if path is None:
        return HwConfig(skip="delta") if builds == ["delta"] else HwConfig()
    config = load_hw_config(path)
    if builds and config.skip not in builds:
        raise MemornnError(f"predictor {predictor!r} does not run on the skip = {config.skip!r} build of {path!r} "
                           f"(it runs {', '.join(HARDWARE_POLICIES[config.skip])}; {predictor} runs on skip = "
                           f"{' or '.join(repr(b) for b in builds)})")
    return config


def run(args) -> int:
    from ..hw.energy import energy_report, load_table, operation_counts
    from ..hw.layout import make_layout

    model = load_qmodel(args.model)
    options = policy_options(args, model)
    table = load_table(args.table)
    layout = make_layout(model, energy_config(args.config, options.predictor))
    batch = load_inputs(args.inputs, model.input_size)
    operation_counts(None, layout, options.predictor, None)  # a predictor with no energy model fails first
    dense = golden_run(model, batch, 0.0, "none")
    result = dense if options.predictor == "none" else golden_run(model, batch, options)
    report = energy_report(result, layout, options.predictor, batch.lengths, table, dense=dense,
                           weights_in_dram=args.weights_in_dram, row_weights=options.row_weights)
    print(json.dumps(report) if args.json else format_report(report))
    return 0
