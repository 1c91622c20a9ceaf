"""``memornn quantize``: float model + calibration inputs to an integer-only ``Q.npz``."""

from __future__ import annotations

from ..golden import numerics as nx
from ..golden.floatmodel import load_float_model
from ..golden.inputs import load_inputs
from ..golden.quantize import quantize_model
from .common import check_outputs, output_path


def register(sub) -> None:
    p = sub.add_parser("quantize", help="quantize a float model to integers",
                       description="Quantize a float LSTM/GRU (.npz with PyTorch parameter names, or .pt with the "
                                   "torch extra) to the integer-only Q.npz the golden model and generator take.")
    p.add_argument("--model", required=True, metavar="M.npz", help="float model (.npz, or .pt with torch)")
    p.add_argument("--calibration", required=True, metavar="X",
                   help="calibration inputs, same formats as memornn golden --inputs")
    p.add_argument("--pwl-segments", type=int, default=nx.PWL_DEFAULT_SEGMENTS, choices=nx.PWL_SEGMENT_CHOICES,
                   metavar="S", help=f"segments of the PWL sigmoid/tanh (default {nx.PWL_DEFAULT_SEGMENTS})")
    p.add_argument("--no-offsets", action="store_true",
                   help="binarize with plain signs (offset 0) instead of calibrated offsets")
    p.add_argument("-o", "--output", required=True, type=output_path, metavar="Q.npz", help="quantized model")
    p.set_defaults(run=run)


def run(args) -> int:
    check_outputs([("output", args.output)], inputs=[("--model", args.model), ("--calibration", args.calibration)])
    model = load_float_model(args.model)
    calibration = load_inputs(args.calibration, model.input_size)
    qmodel = quantize_model(model, calibration, args.pwl_segments, use_offsets=not args.no_offsets)
    qmodel.save(args.output)
    print(f"{model.cell} {model.num_layers}x{model.hidden_size}{' bidirectional' if model.bidirectional else ''}, "
          f"{model.input_size} inputs: quantized with {calibration.size} calibration sequences; wrote {args.output}")
    return 0
