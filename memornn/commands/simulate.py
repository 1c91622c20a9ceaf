"""Run the accelerator's RTL on the inputs, write the golden key table read from the hardware (outputs,
reuse trace, counters) plus cycles, and exit non-zero at the first difference from the golden model.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext

from ..golden.errors import MemornnError
from ..golden.fileio import staged_path
from ..golden.inputs import load_inputs
from ..golden.intmodel import golden_run
from ..golden.npzfile import save_npz
from ..golden.qmodel import load_qmodel
from .common import (add_config_argument, add_inputs_argument, add_model_argument, add_output_argument, check_outputs,
                     load_hw_config, output_path)
from .policyargs import add_policy_options, policy_options

SIMULATORS = ("verilator", "verilator-cocotb", "icarus", "amaranth")
#: The policies each datapath of the generated hardware (hw.toml's ``skip``) implements
#: (as memornn.sim.settings.HARDWARE_POLICIES, without importing the HDL tools).
HARDWARE_PREDICTORS = {"memo": ("bnn", "none"), "delta": ("delta", "none")}
#: Targets of gate-level simulation (as memornn.sim.rtl.netlist.NETLIST_TARGETS, without importing the HDL tools).
NETLIST_TARGETS = ("ice40-up5k", "ice40-hx8k", "ecp5-25k", "ecp5-85k")


def register(sub) -> None:
    p = sub.add_parser("simulate", help="simulate the RTL and compare with the golden model", description=__doc__)
    add_model_argument(p, "quantized model")
    add_inputs_argument(p, "float inputs (.npy or .npz, as memornn golden)")
    p.add_argument("--simulator", default="verilator", choices=SIMULATORS,
                   help="verilator (default): compiled C++ harness, fastest, no waves; verilator-cocotb, icarus: "
                        "cocotb testbench (waves); amaranth: amaranth.sim (VCD waves)")
    add_policy_options(p)
    add_config_argument(p, "hardware configuration")
    p.add_argument("--waves", metavar="FILE", help="write a waveform (VCD; FST with verilator-cocotb; not with "
                                                   "the compiled verilator)")
    p.add_argument("--netlist", choices=NETLIST_TARGETS, metavar="TARGET",
                   help="simulate the post-synthesis netlist for this target (" + ", ".join(NETLIST_TARGETS)
                        + ") with Yosys' cell models, in icarus or verilator")
    p.add_argument("--netlist-dir", metavar="DIR",
                   help="where --netlist writes the synthesis outputs and gate.v (default: OUT without .npz, "
                        "plus -netlist)")
    add_output_argument(p, "OUT.npz", "result file", type=output_path)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..sim.backends import run_simulation  # imports the HDL tools: only when simulating
    from ..sim.compare import first_mismatch

    check_outputs([("output", args.output), ("waveform --waves", args.waves)],
                  inputs=[("--model", args.model), ("--inputs", args.inputs), ("--config", args.config)])
    model = load_qmodel(args.model)
    options = policy_options(args, model)
    config = load_hw_config(args.config)
    if options.predictor == "oracle":
        raise MemornnError("predictor 'oracle' exists only in the golden model (the hardware has bnn, delta and "
                           "none)")
    supported = HARDWARE_PREDICTORS[config.skip]
    if options.predictor not in supported:
        raise MemornnError(f"predictor {options.predictor!r} is not implemented by a skip = {config.skip!r} build "
                           f"(it runs {' and '.join(supported)}; delta needs skip = \"delta\" in --config)")
    batch = load_inputs(args.inputs, model.input_size)
    if int(batch.lengths.max()) > config.max_seq_len:
        raise MemornnError(f"a sequence has {int(batch.lengths.max())} steps, more than max_seq_len = "
                           f"{config.max_seq_len} of the hardware configuration")
    if args.netlist and args.simulator == "amaranth":
        raise MemornnError("--netlist simulates Verilog: choose --simulator icarus, verilator or verilator-cocotb")
    if args.netlist and args.waves:
        raise MemornnError("--waves is not supported with --netlist")
    golden = golden_run(model, batch, options)
    # the run options themselves (every policy's registers); bnn and none as before
    thresholds = options if options.predictor == "delta" else list(options.threshold or (0.0,))
    if args.netlist:
        result = _run_netlist(args, model, batch, config, options, thresholds)
        save_npz(args.output, result)
    else:
        # The simulator writes the waves by name: into a fresh folder, moved into place with the result.
        with staged_path(args.waves, "waveform --waves") if args.waves else nullcontext() as waves:
            result = run_simulation(args.simulator, model, batch, config, thresholds, options.predictor,
                                    options.reuse_cap, waves)
            save_npz(args.output, result)
    mismatch = first_mismatch(golden, result)
    total = int(result["neurons_computed"].sum() + result["neurons_reused"].sum())
    if mismatch:
        print(f"memornn simulate: MISMATCH with the golden model: {mismatch}", file=sys.stderr)
        return 1
    what = f"{args.simulator} ({args.netlist} netlist)" if args.netlist else args.simulator
    if options.predictor == "delta":
        macs = int(result["macs"].sum() + result["macs_skipped"].sum())
        skipped = f"{100 * result['macs_skipped'].sum() / max(macs, 1):.1f}% of the MACs skipped"
    else:
        skipped = f"{100 * result['neurons_reused'].sum() / max(total, 1):.1f}% reused"
    print(f"{what}: {batch.size} sequences, {int(result['cycles'].sum())} cycles, {skipped}; bit-exact with the "
          f"golden model; wrote {args.output}")
    return 0


def _run_netlist(args, model, batch, config, options, thresholds) -> dict:
    """Synthesize for ``args.netlist`` and simulate the netlist (:mod:`memornn.sim.rtl.netlist`) in the
    cocotb testbench (``verilator`` and ``verilator-cocotb`` both mean cocotb's Verilator here)."""
    from ..sim.rtl.netlist import run_netlist, synthesize_netlist

    outdir = args.netlist_dir or args.output[:-len(".npz")] + "-netlist"
    design = synthesize_netlist(model, config, args.netlist, outdir,
                                progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    simulator = "icarus" if args.simulator == "icarus" else "verilator"
    return run_netlist(simulator, design, model, batch, thresholds, options.predictor, options.reuse_cap)
