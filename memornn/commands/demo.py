"""Quantize the built-in JapaneseVowels LSTM, run the golden model on its test split, generate the
Verilog, simulate test sequences in Verilator checked bit for bit against the golden model,
synthesize and place-and-route, and print a summary (accuracy, reuse, cycles, speed-up, resources,
Fmax) with the skip policies the hardware runs side by side (none and bnn on the memoization
build, delta on the delta build, each simulated bit-exact) and the best of them.
"""

from __future__ import annotations

from ..demo import DEFAULT_DATA, DEFAULT_DELTA, DEFAULT_MODEL, DEFAULT_THRESHOLD, DemoOptions, run_demo
from .common import add_model_argument, add_output_argument, add_target_argument, positive_int, threshold_value


def register(sub) -> None:
    p = sub.add_parser("demo", help="run everything end to end on the built-in model", description=__doc__)
    add_model_argument(p, "float model with a classifier head (default: models/jv_lstm64.npz)", "M.npz",
                       default=DEFAULT_MODEL)
    p.add_argument("--data", default=DEFAULT_DATA, metavar="D.npz",
                   help="exported data set (memornn.evaluation.export; default: models/jv_data.npz)")
    p.add_argument("--threshold", type=threshold_value, default=DEFAULT_THRESHOLD, metavar="T",
                   help=f"reuse threshold (default {DEFAULT_THRESHOLD})")
    p.add_argument("--delta-x", default=DEFAULT_DELTA[0], metavar="DX",
                   help=f"delta policy: input-column threshold, int8 units (default {DEFAULT_DELTA[0]})")
    p.add_argument("--delta-h", default=DEFAULT_DELTA[1], metavar="DH",
                   help=f"delta policy: hidden-column threshold, int8 units (default {DEFAULT_DELTA[1]})")
    add_target_argument(p, "FPGA target (default ecp5-85k)", default="ecp5-85k")
    p.add_argument("--simulator", default="verilator", choices=("verilator", "icarus", "amaranth"),
                   help="RTL simulator (default verilator)")
    p.add_argument("--sequences", type=positive_int, default=8, metavar="N",
                   help="test sequences to simulate in RTL (default 8)")
    p.add_argument("--no-synth", action="store_true", help="skip synthesis and place-and-route")
    add_output_argument(p, help="output folder (default build/demo)", default="build/demo")
    p.set_defaults(run=run)


def run(args) -> int:
    if not args.no_synth:
        from ..hw.synth.targets import get_target

        get_target(args.target)  # an unknown target fails before any work
    run_demo(DemoOptions(args.model, args.data, args.threshold, args.target, args.simulator, args.sequences,
                         not args.no_synth, args.output, args.delta_x, args.delta_h))
    return 0
