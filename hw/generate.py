"""Verilog and ``manifest.json`` for one quantized model and hardware configuration."""

from __future__ import annotations

import json
import os

from amaranth.back import verilog
from amaranth.hdl import Shape

from .. import __version__
from ..golden.errors import MemornnError
from ..golden.qmodel import QModel
from .build import build_design
from .config import HwConfig
from .contract import TRACE_WIDTH, counter_names, registers
from .cycles import Latencies, delta_step_cycles, ideal_step_cycles, step_cycles_none
from .fusesoc import write_fusesoc_core
from .layout import MEMORIES, memory_depths, memory_images, memory_widths
from .spec import BuildSpec
from .top import Accelerator, load_writes

TOP_NAME = "memornn_accel"
MANIFEST_SCHEMA = "memornn.manifest"
MANIFEST_VERSION = 1


def build_accelerator(model: QModel, config: HwConfig) -> Accelerator:
    """The top level for ``model`` with its weights as memory initial contents."""
    spec = BuildSpec.of(model, config)
    return build_design(spec, memory_images(model, spec.layout))


def port_list(top: Accelerator) -> list[dict]:
    """Every port of the top level: name, direction, width."""
    ports = []
    for path, member in top.signature.members.flatten():
        if member.is_port:
            ports.append({"name": "_".join(str(p) for p in path), "direction": member.flow.value,
                          "width": Shape.cast(member.shape).width})
    return ports


def manifest(model: QModel, config: HwConfig, top: Accelerator) -> dict:
    """The generated design described as data."""
    layout = top.layout
    lat = Latencies.of(layout)
    widths, depths = memory_widths(layout), memory_depths(layout)
    return {
        "schema": MANIFEST_SCHEMA, "version": MANIFEST_VERSION, "memornn": __version__, "top": TOP_NAME,
        "model": {"cell": model.cell, "input_size": model.input_size, "hidden_size": model.hidden_size,
                  "num_layers": model.num_layers, "bidirectional": model.bidirectional,
                  "pwl_segments": model.pwl_segments},
        "config": config.to_dict(),
        "ports": port_list(top),
        "registers": [r._asdict() for r in registers(layout.skip)],
        "memories": {name: {"index": i, "width": widths[name], "depth": depths[name],
                            "initial_contents": name not in layout.loaded_memories}
                     for i, name in enumerate(MEMORIES)},
        "trace": {"present": config.trace, "word_bits": TRACE_WIDTH, "counters": list(counter_names(layout.skip))},
        "cycles": {
            "definition": "cycles counter: first layer's first step to last layer's last step",
            "latencies": lat.__dict__,
            "per_layer_direction_start": 1,
            "step_none": [{"layer": d.layer, "direction": d.direction,
                           "cycles": step_cycles_none(layout, d, lat),
                           "formula": ("(ceil(X/P)+2) + G*H*(ceil(X/P)+ceil(H/P)) + rows_fill"
                                       " + cell_interval*(H-1) + 1 + cell_fill"),
                           "ideal_GH(X+H)/P": ideal_step_cycles(layout, d)} for d in layout.layers],
            "rows_fill": lat.rows_fill, "cell_fill": lat.cell_fill,
            "sequence_none": "sum over layer directions of 1 + T * step_none",
            "memo_rows_estimate": "max(computed*(ceil(X/P)+ceil(H/P)), G*H*(ceil(X/B)+ceil(H/B))) + rows_fill",
            **({"step_delta_every_column": [
                {"layer": d.layer, "direction": d.direction,
                 "cycles": delta_step_cycles(layout, d, d.in_size + layout.hidden, False, lat)}
                for d in layout.layers],
                "delta_step": ("(N+1) + sum over groups but the last of max(u, results_g) + u + results_last + 7 "
                               "+ requant latency + cell phase, u = max(used columns, 1); after step 0 with no "
                               "used column: (N+1) + 2 + cell phase (docs/hardware.md)")}
               if layout.skip == "delta" else {}),
        },
    }


LOAD_FILE = "load_writes.json"


def load_file(model: QModel, layout) -> dict:
    """The AXI4-Lite writes that load ``model`` at run time (``load_writes.json``)."""
    writes = load_writes(layout, memory_images(model, layout))
    return {"description": "AXI4-Lite writes (byte offset, 32-bit value), in order, that load the model's "
                           "memories through LOAD_SEL/LOAD_ADDR/LOAD_DATA while the accelerator is idle",
            "loaded_memories": list(layout.loaded_memories),
            "writes": [[int(offset), int(value)] for offset, value in writes]}


def generate_design(model: QModel, config: HwConfig, outdir: str) -> tuple[Accelerator, dict]:
    """Write ``<outdir>/memornn_accel.v``, ``manifest.json``, ``load_writes.json`` (the
    writes that load the model at run time: required before the first sequence when the
    configuration leaves memories without initial contents) and the FuseSoC core file;
    returns the design and its manifest."""
    top = build_accelerator(model, config)
    text = verilog.convert(top, name=TOP_NAME, emit_src=False)
    info = manifest(model, config, top)
    try:
        os.makedirs(outdir, exist_ok=True)
        with open(os.path.join(outdir, f"{TOP_NAME}.v"), "w") as f:
            f.write(text)
        with open(os.path.join(outdir, "manifest.json"), "w") as f:
            json.dump(info, f, indent=2)
        with open(os.path.join(outdir, LOAD_FILE), "w") as f:
            json.dump(load_file(model, top.layout), f)
        write_fusesoc_core(outdir, info)
    except OSError as exc:
        raise MemornnError(f"cannot write to {outdir!r}: {exc.strerror}") from None
    return top, info


def generate(model: QModel, config: HwConfig, outdir: str) -> dict:
    """:func:`generate_design`'s files; returns the manifest."""
    return generate_design(model, config, outdir)[1]
