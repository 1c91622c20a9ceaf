"""``memornn simulate``: run the generated RTL on inputs and check it against the golden model."""

from __future__ import annotations

import sys

from ..golden.errors import MemornnError
from ..golden.inputs import load_inputs
from ..golden.intmodel import golden_run
from ..golden.npzfile import save_npz
from ..golden.qmodel import load_qmodel
from ..hw.config import load_config
from .common import output_path
from .policyargs import add_policy_options, policy_options

SIMULATORS = ("amaranth", "icarus", "verilator")
#: The policies the generated hardware implements.
HARDWARE_PREDICTORS = ("bnn", "none")


def register(sub) -> None:
    p = sub.add_parser("simulate", help="simulate the RTL and compare with the golden model",
                       description="Run the accelerator's RTL on the inputs, write the golden key table read from "
                                   "the hardware (outputs, reuse trace, counters) plus cycles, and exit non-zero "
                                   "at the first difference from the golden model.")
    p.add_argument("--model", required=True, metavar="Q.npz", help="quantized model")
    p.add_argument("--inputs", required=True, metavar="X", help="float inputs (.npy or .npz, as memornn golden)")
    p.add_argument("--simulator", default="verilator", choices=SIMULATORS, help="default verilator")
    add_policy_options(p)
    p.add_argument("--config", metavar="hw.toml", help="hardware configuration")
    p.add_argument("--waves", metavar="FILE", help="write a waveform (VCD; FST with verilator)")
    p.add_argument("-o", "--output", required=True, type=output_path, metavar="OUT.npz", help="result file")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..sim.backends import run_simulation  # imports the HDL tools: only when simulating
    from ..sim.compare import first_mismatch

    model = load_qmodel(args.model)
    options = policy_options(args, model)
    if options.predictor == "oracle":
        raise MemornnError("predictor 'oracle' exists only in the golden model (the hardware has bnn and none)")
    if options.predictor not in HARDWARE_PREDICTORS:
        raise MemornnError(f"predictor {options.predictor!r} is not implemented by the hardware yet (it has bnn "
                           f"and none)")
    config = load_config(args.config)
    batch = load_inputs(args.inputs, model.input_size)
    if int(batch.lengths.max()) > config.max_seq_len:
        raise MemornnError(f"a sequence has {int(batch.lengths.max())} steps, more than max_seq_len = "
                           f"{config.max_seq_len} of the hardware configuration")
    golden = golden_run(model, batch, options)
    thresholds = list(options.threshold or (0.0,))  # none: any threshold, unused
    result = run_simulation(args.simulator, model, batch, config, thresholds, options.predictor, options.reuse_cap,
                            args.waves)
    save_npz(args.output, result)
    mismatch = first_mismatch(golden, result)
    total = int(result["neurons_computed"].sum() + result["neurons_reused"].sum())
    if mismatch:
        print(f"memornn simulate: MISMATCH with the golden model: {mismatch}", file=sys.stderr)
        return 1
    print(f"{args.simulator}: {batch.size} sequences, {int(result['cycles'].sum())} cycles, "
          f"{100 * result['neurons_reused'].sum() / max(total, 1):.1f}% reused; bit-exact with the golden model; "
          f"wrote {args.output}")
    return 0
