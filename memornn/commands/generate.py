"""Generate the accelerator for a quantized model: DIR/memornn_accel.v (weights as memory initial
contents, unless the config says weight_memory = "loaded"), DIR/manifest.json (parameters, ports,
register map, memories, cycle model) and DIR/load_writes.json (the AXI4-Lite writes that load the
model at run time).
"""

from __future__ import annotations

from ..golden.fileio import staged_folder
from ..golden.qmodel import load_qmodel
from .common import (add_config_argument, add_model_argument, add_output_argument, check_outputs, heartbeat,
                     load_hw_config)


def register(sub) -> None:
    p = sub.add_parser("generate", help="generate the accelerator's Verilog", description=__doc__)
    add_model_argument(p)
    add_config_argument(p)
    p.add_argument("--trace", action="store_true", help="include the reuse-trace stream (overrides the config)")
    add_output_argument(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..hw.generate import generate  # imports Amaranth: only when generating

    inputs = [("--model", args.model), ("--config", args.config)]
    check_outputs([], folders=[("output", args.output)], inputs=inputs)
    model = load_qmodel(args.model)
    config = load_hw_config(args.config)
    if args.trace:
        config = config.replace(trace=True)
    # Written into a fresh folder beside DIR and moved in once every file is complete: a
    # failure (say, on the manifest) leaves DIR as it was. The Verilog conversion of long
    # sequence buffers takes minutes (every memory word's initial value goes through
    # Amaranth's RTLIL and Yosys), hence the heartbeat.
    with staged_folder(args.output, inputs) as outdir, heartbeat("generate: converting to Verilog"):
        info = generate(model, config, outdir)
    delta = config.skip == "delta"
    steps = info["cycles"]["step_delta_every_column" if delta else "step_none"]
    print(f"{info['top']}: {model.cell} {model.num_layers}x{model.hidden_size}, P={config.mac_lanes}, "
          f"B={config.bnn_width}{', delta datapath' if delta else ''}; {sum(s['cycles'] for s in steps)} cycles "
          f"per step {'with every column used' if delta else 'without memoization'}; "
          f"wrote {args.output}/{info['top']}.v, manifest.json and load_writes.json")
    empty = [name for name, mem in info["memories"].items() if not mem["initial_contents"]]
    if empty:
        print(f"note: {', '.join(empty)} without initial contents (weight_memory = \"loaded\"): load the model "
              f"with the writes in {args.output}/load_writes.json before the first sequence")
    return 0
