"""The design to synthesize: the generator's Verilog (``memornn generate``'s output).

Beside the Verilog each design is also written as RTLIL (``<top>.il``, Amaranth's own
netlist format, from which it makes the Verilog), and Yosys reads that: the Verilog
spells a memory's initial contents as one ``initial`` assignment per word, which Yosys'
Verilog frontend takes minutes to read for a large model (99 s for 1x128, more than 11
minutes for 1x256 at P = 8), while RTLIL holds them as one parameter. The RTLIL keeps
Amaranth's source locations, which the DSP inference check uses.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from amaranth.back import rtlil, verilog

from ...golden.errors import MemornnError
from ...golden.qmodel import QModel
from ..config import HwConfig
from ..generate import TOP_NAME, generate_design


@dataclass(frozen=True)
class Design:
    """A design written to disk: its top module, Verilog and RTLIL files and where it came from."""

    top: str
    verilog: str
    source: str
    manifest: dict | None
    netlist: str


def _write_rtlil(elaboratable, top: str, outdir: str) -> str:
    path = os.path.join(outdir, f"{top}.il")
    try:
        with open(path, "w") as f:
            f.write(rtlil.convert(elaboratable, name=top))
    except OSError as exc:
        raise MemornnError(f"cannot write to {outdir!r}: {exc.strerror}") from None
    return path


def write_design(model: QModel, config: HwConfig, outdir: str) -> Design:
    """Write ``memornn generate``'s output for ``model`` and ``config`` into ``outdir``
    (the ``Accelerator`` with its AXI ports, and ``manifest.json``), and its RTLIL."""
    top, info = generate_design(model, config, outdir)
    netlist = _write_rtlil(top, TOP_NAME, outdir)
    return Design(TOP_NAME, os.path.join(outdir, f"{TOP_NAME}.v"), "Accelerator (memornn generate)", info, netlist)


def model_summary(model: QModel) -> dict:
    """The model's shape, as in the manifest."""
    return {"cell": model.cell, "input_size": model.input_size, "hidden_size": model.hidden_size,
            "num_layers": model.num_layers, "bidirectional": model.bidirectional,
            "pwl_segments": model.pwl_segments}


def dump_json(path: str, data: dict) -> None:
    with open(path, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")


def write_block(block, top: str, outdir: str, source: str) -> Design:
    """Write one Amaranth component (a datapath block) as Verilog module ``top`` into ``outdir``."""
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, f"{top}.v")
    with open(path, "w") as f:
        f.write(verilog.convert(block, name=top, emit_src=False))
    return Design(top, path, source, None, _write_rtlil(block, top, outdir))
