"""Quantize a float LSTM/GRU (.npz with PyTorch parameter names; .pt state dict or TorchScript archive
with the torch extra; .onnx with the onnx extra) to the integer-only Q.npz the golden model and
generator take, and report how close it stays to float on the calibration set.
"""

from __future__ import annotations

import argparse
import json

from ..golden import numerics as nx
from ..golden.floatmodel import load_float_model
from ..golden.inputs import load_inputs
from ..golden.fileio import write_text
from ..golden.quantize import METHODS, quantize_model
from ..golden.quantreport import calibration_report, summary_lines
from .common import add_model_argument, add_output_argument, check_outputs, output_path


def report_path(path: str) -> str:
    """An argparse type: the report file must end in ``.json``."""
    if not path.endswith(".json"):
        raise argparse.ArgumentTypeError(f"report file {path!r} must end in .json")
    return path


def register(sub) -> None:
    p = sub.add_parser("quantize", help="quantize a float model to integers", description=__doc__)
    add_model_argument(p, "float model: .npz, .pt/.pth (torch extra) or .onnx (onnx extra)", "M")
    p.add_argument("--module", metavar="NAME",
                   help="the recurrent submodule to take from a TorchScript archive or a nested state dict "
                        "(for example rnn); needed when there are several")
    p.add_argument("--calibration", required=True, metavar="X",
                   help="calibration inputs, same formats as memornn golden --inputs")
    p.add_argument("--method", default="mse", choices=METHODS,
                   help="scale choice: mse (clipping search, default) or minmax (the earlier quantizer)")
    p.add_argument("--pwl-segments", type=int, default=nx.PWL_DEFAULT_SEGMENTS, choices=nx.PWL_SEGMENT_CHOICES,
                   metavar="S", help=f"segments of the PWL sigmoid/tanh (default {nx.PWL_DEFAULT_SEGMENTS})")
    p.add_argument("--no-offsets", action="store_true",
                   help="binarize with plain signs (offset 0) instead of calibrated offsets")
    p.add_argument("--report", type=report_path, metavar="R.json",
                   help="write the calibration report (per layer direction: dead and constant features, SQNR "
                        "per gate and of h, worst rows; output difference) as JSON")
    add_output_argument(p, "Q.npz", "quantized model", type=output_path)
    p.set_defaults(run=run)


def _write_json(path: str, data: dict) -> None:
    """Write ``data`` as indented JSON, never leaving a half-written file."""
    write_text(path, json.dumps(data, indent=1) + "\n", "report")


def run(args) -> int:
    check_outputs([("output", args.output), ("report --report", args.report)],
                  inputs=[("--model", args.model), ("--calibration", args.calibration)])
    model = load_float_model(args.model, module=args.module)
    calibration = load_inputs(args.calibration, model.input_size)
    qmodel = quantize_model(model, calibration, args.pwl_segments, use_offsets=not args.no_offsets,
                            method=args.method)
    report = calibration_report(model, qmodel, calibration)
    report["method"] = args.method
    qmodel.save(args.output)
    if args.report:
        _write_json(args.report, report)
    print(f"{model.cell} {model.num_layers}x{model.hidden_size}{' bidirectional' if model.bidirectional else ''}, "
          f"{model.input_size} inputs: quantized ({args.method}) with {calibration.size} calibration sequences; "
          f"wrote {args.output}" + (f" and {args.report}" if args.report else ""))
    for line in summary_lines(report):
        print("  " + line)
    return 0
