"""``memornn simulate``: run the generated RTL on inputs and check it against the golden model."""

from __future__ import annotations

import sys

from ..golden.errors import MemornnError
from ..golden.inputs import load_inputs
from ..golden.intmodel import golden_run
from ..golden.npzfile import save_npz
from ..golden.qmodel import load_qmodel
from ..hw.config import load_config
from .common import add_run_options, output_path

SIMULATORS = ("verilator", "verilator-cocotb", "icarus", "amaranth")


def register(sub) -> None:
    p = sub.add_parser("simulate", help="simulate the RTL and compare with the golden model",
                       description="Run the accelerator's RTL on the inputs, write the golden key table read from "
                                   "the hardware (outputs, reuse trace, counters) plus cycles, and exit non-zero "
                                   "at the first difference from the golden model.")
    p.add_argument("--model", required=True, metavar="Q.npz", help="quantized model")
    p.add_argument("--inputs", required=True, metavar="X", help="float inputs (.npy or .npz, as memornn golden)")
    p.add_argument("--simulator", default="verilator", choices=SIMULATORS,
                   help="verilator (default): compiled C++ harness, fastest, no waves; verilator-cocotb, icarus: "
                        "cocotb testbench (waves); amaranth: amaranth.sim (VCD waves)")
    add_run_options(p, ("bnn", "none", "oracle"))
    p.add_argument("--config", metavar="hw.toml", help="hardware configuration")
    p.add_argument("--waves", metavar="FILE", help="write a waveform (VCD; FST with verilator-cocotb; not with "
                                                   "the compiled verilator)")
    p.add_argument("-o", "--output", required=True, type=output_path, metavar="OUT.npz", help="result file")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..sim.backends import run_simulation  # imports the HDL tools: only when simulating
    from ..sim.compare import first_mismatch

    if args.predictor == "oracle":
        raise MemornnError("predictor 'oracle' exists only in the golden model (the hardware has bnn and none)")
    model = load_qmodel(args.model)
    config = load_config(args.config)
    batch = load_inputs(args.inputs, model.input_size)
    if int(batch.lengths.max()) > config.max_seq_len:
        raise MemornnError(f"a sequence has {int(batch.lengths.max())} steps, more than max_seq_len = "
                           f"{config.max_seq_len} of the hardware configuration")
    golden = golden_run(model, batch, args.threshold, args.predictor, args.reuse_cap)
    result = run_simulation(args.simulator, model, batch, config, args.threshold, args.predictor, args.reuse_cap,
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
