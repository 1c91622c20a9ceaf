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

SIMULATORS = ("amaranth", "icarus", "verilator")
#: Targets of gate-level simulation (as memornn.sim.rtl.netlist.NETLIST_TARGETS, without importing the HDL tools).
NETLIST_TARGETS = ("ice40-up5k", "ice40-hx8k", "ecp5-25k", "ecp5-85k")


def register(sub) -> None:
    p = sub.add_parser("simulate", help="simulate the RTL and compare with the golden model",
                       description="Run the accelerator's RTL on the inputs, write the golden key table read from "
                                   "the hardware (outputs, reuse trace, counters) plus cycles, and exit non-zero "
                                   "at the first difference from the golden model.")
    p.add_argument("--model", required=True, metavar="Q.npz", help="quantized model")
    p.add_argument("--inputs", required=True, metavar="X", help="float inputs (.npy or .npz, as memornn golden)")
    p.add_argument("--simulator", default="verilator", choices=SIMULATORS, help="default verilator")
    add_run_options(p, ("bnn", "none", "oracle"))
    p.add_argument("--config", metavar="hw.toml", help="hardware configuration")
    p.add_argument("--waves", metavar="FILE", help="write a waveform (VCD; FST with verilator)")
    p.add_argument("--netlist", choices=NETLIST_TARGETS, metavar="TARGET",
                   help="simulate the post-synthesis netlist for this target (" + ", ".join(NETLIST_TARGETS)
                        + ") with Yosys' cell models, in icarus or verilator")
    p.add_argument("--netlist-dir", metavar="DIR",
                   help="where --netlist writes the synthesis outputs and gate.v (default: OUT without .npz, "
                        "plus -netlist)")
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
    if args.netlist and args.simulator == "amaranth":
        raise MemornnError("--netlist simulates Verilog: choose --simulator icarus or verilator")
    if args.netlist and args.waves:
        raise MemornnError("--waves is not supported with --netlist")
    golden = golden_run(model, batch, args.threshold, args.predictor, args.reuse_cap)
    if args.netlist:
        result = _run_netlist(args, model, batch, config)
    else:
        result = run_simulation(args.simulator, model, batch, config, args.threshold, args.predictor,
                                args.reuse_cap, args.waves)
    save_npz(args.output, result)
    mismatch = first_mismatch(golden, result)
    total = int(result["neurons_computed"].sum() + result["neurons_reused"].sum())
    if mismatch:
        print(f"memornn simulate: MISMATCH with the golden model: {mismatch}", file=sys.stderr)
        return 1
    what = f"{args.simulator} ({args.netlist} netlist)" if args.netlist else args.simulator
    print(f"{what}: {batch.size} sequences, {int(result['cycles'].sum())} cycles, "
          f"{100 * result['neurons_reused'].sum() / max(total, 1):.1f}% reused; bit-exact with the golden model; "
          f"wrote {args.output}")
    return 0


def _run_netlist(args, model, batch, config) -> dict:
    """Synthesize for ``args.netlist`` and simulate the netlist (:mod:`memornn.sim.rtl.netlist`)."""
    from ..sim.rtl.netlist import run_netlist, synthesize_netlist

    outdir = args.netlist_dir or args.output[:-len(".npz")] + "-netlist"
    design = synthesize_netlist(model, config, args.netlist, outdir,
                                progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    return run_netlist(args.simulator, design, model, batch, args.threshold, args.predictor, args.reuse_cap)
