"""Yosys scripts of the flow and parsers of their results (cell counts, memory mapping)."""

from __future__ import annotations

import json
import re

from .targets import RESOURCES, Target, classify_cell

#: The same preparation in the analysis and synthesis runs, so cell names match.
PREP = ("proc", "flatten", "opt_expr", "opt_clean", "opt -nodffe -nosdff", "wreduce", "opt_clean")


def _read(files: list[str]) -> list[str]:
    """Read commands: RTLIL (``.il``) or Verilog."""
    return [f"read_rtlil {path}" if path.endswith(".il") else f"read_verilog {path}" for path in files]


def analysis_script(verilog_files: list[str], top: str, out_json: str) -> str:
    """Script writing the design's ``$mul`` and ``$mem_v2`` cells and ports to ``out_json``."""
    lines = _read(verilog_files) + [f"hierarchy -check -top {top}", *PREP, "memory_collect",
                                    "select t:$mul t:$mem_v2 x:*", f"write_json -selected {out_json}"]
    return "\n".join(lines) + "\n"


def selection_pattern(name: str) -> str:
    """A Yosys object pattern matching cell ``name`` (glob metacharacters become ``?``)."""
    return re.sub(r"[\\\[\]*?]", "?", name)


def synth_script(target: Target, verilog_files: list[str], top: str, dut: str, soft_muls: list[str],
                 netlist_json: str, stat_json: str, spram_mems: list = (), block_mems: list = ()) -> str:
    """The synthesis script.

    Parameters
    ----------
    target : Target
    verilog_files : list of str
        Design (and harness) sources.
    top : str
        Top module (the harness, or the design itself).
    dut : str
        The design's module; kept as its own hierarchy level so its resources are
        counted apart from the harness.
    soft_muls : list of str
        Multipliers to build in logic (``booth``), outside the DSP budget.
    spram_mems : list of MemoryInfo
        Memories without initial contents to map to SPRAM (``ram_style "huge"``).
    block_mems : list of MemoryInfo
        Memories to map to block RAM whatever their size (``ram_style "block"``).
    netlist_json, stat_json : str
        Outputs: the netlist for nextpnr and the ``stat -json`` cell counts.
    """
    synth = f"{target.synth} -top {top}"
    lines = _read(verilog_files) + [f"hierarchy -check -top {top}"]
    if dut != top:
        lines.append(f"setattr -mod -set keep_hierarchy 1 {dut}")
    lines += PREP
    if spram_mems or block_mems:
        lines.append("memory_collect")
    for mem in spram_mems:
        # SPRAM has no initial contents: drop the (all-zero) ones Amaranth writes, so
        # Yosys' memory mapping may use it.
        sel = f"{dut}/c:{selection_pattern(mem.cell)}"
        lines += [f'setattr -set ram_style "huge" {sel}', f"setparam -set INIT {mem.bits}'bx {sel}"]
    for mem in block_mems:
        lines.append(f'setattr -set ram_style "block" {dut}/c:{selection_pattern(mem.cell)}')
    if soft_muls:
        lines.append("booth " + " ".join(f"{dut}/c:{selection_pattern(n)}" for n in soft_muls))
    # splitnets before LUT mapping: works around Yosys' ABC re-integration assert on
    # Amaranth netlists (YosysHQ/yosys#4349, seen with synth_ice40 in 0.68).
    lines += [f"{synth} -run :{target.abc_label}", "splitnets", f"{synth} -run {target.abc_label}:",
              f"tee -q -o {stat_json} stat -json", f"write_json {netlist_json}"]
    return "\n".join(lines) + "\n"


def read_stat(path: str) -> dict:
    """Cell counts by module from ``stat -json``: ``{module: {cell_type: count}}``."""
    with open(path) as f:
        text = f.read()
    data = json.loads(text[text.index("{"):])
    out = {}
    for name, mod in data.get("modules", {}).items():
        out[name.lstrip("\\")] = {k: int(v) for k, v in mod.get("num_cells_by_type", {}).items()}
    return out


def count_resources(target: Target, cells: dict) -> dict:
    """Resource classes (:data:`RESOURCES`) of a ``{cell_type: count}`` table."""
    res = dict.fromkeys(RESOURCES, 0)
    for cell_type, n in cells.items():
        cls = classify_cell(target, cell_type)
        if cls:
            res[cls] += n
    if target.family == "ice40":
        res["luts_with_carry"] = res["luts"]  # SB_CARRY shares the logic cell with its LUT
    return res


_MAP_VIA = re.compile(r"^mapping memory (\S+) via (\S+)")
_MAP_FF = re.compile(r"^using FF mapping for memory (\S+)")


def memory_mapping(log_path: str, module: str) -> dict:
    """How ``memory_libmap`` mapped each memory of ``module``: ``{name: cell or "FF"}``."""
    out = {}
    with open(log_path, errors="replace") as f:
        for line in f:
            m = _MAP_VIA.match(line) or _MAP_FF.match(line)
            if not m:
                continue
            full = m.group(1)
            if not full.startswith(module + "."):
                continue
            name = full[len(module) + 1:]
            out[name] = m.group(2).strip("$_") if m.re is _MAP_VIA else "FF"
    return out


def dsp_cells_by_src(netlist_json: str, module: str, dsp_types: set[str]) -> dict:
    """DSP cells of ``module`` in the netlist, counted by the source location of their multiplier."""
    with open(netlist_json) as f:
        mod = json.load(f)["modules"][module]
    counts = {}
    for cell in mod["cells"].values():
        if cell["type"] in dsp_types:
            src = cell.get("attributes", {}).get("src", "").split("|")[0]
            counts[src] = counts.get(src, 0) + 1
    return counts


#: Operand ports of each DSP cell type whose bits must all be driven: a multiplier operand
#: (or SB_MAC16's C/D adder input) left ``x`` computes garbage.
DSP_OPERAND_PORTS = {
    "SB_MAC16": lambda port: port in ("A", "B", "C", "D"),
    "MULT18X18D": lambda port: re.fullmatch(r"[AB]\d+", port) is not None,
}


def undefined_dsp_operands(netlist_json: str, module: str) -> list[str]:
    """DSP cells of ``module`` with an operand bit Yosys left undefined (``x``), as
    ``"cell.port"``.

    Yosys 0.68's ice40_dsp has been seen to take one product register into two SB_MAC16s
    at once and leave the second one's C/D input ``x``, silently dropping a MAC lane; a
    netlist like that must not pass as the design.
    """
    with open(netlist_json) as f:
        mod = json.load(f)["modules"][module]
    found = []
    for name, cell in sorted(mod["cells"].items()):
        wanted = DSP_OPERAND_PORTS.get(cell["type"])
        if wanted is None:
            continue
        for port, bits in sorted(cell["connections"].items()):
            if wanted(port) and "x" in bits:
                found.append(f"{name}.{port}")
    return found
