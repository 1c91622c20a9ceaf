"""Place and route with nextpnr: command line, and the Fmax and critical path of its report."""

from __future__ import annotations

import json
import re

from .harness import DUT_INSTANCE, HARNESS_TOP
from .targets import Target


def pnr_args(target: Target, netlist: str, report: str, log: str, freq: float, seed: int,
             speed: int | None) -> list[str]:
    """nextpnr's arguments (paths relative to its working directory)."""
    args = [*target.pnr_args, "--json", netlist, "--top", HARNESS_TOP, "--freq", f"{freq:g}", "--timing-allow-fail",
            "--report", report, "--seed", str(seed), "--log", log, "--quiet"]
    if target.family == "ecp5":
        args += ["--speed", str(speed), "--lpf-allow-unconstrained"]
    return args


def _block(cell: str) -> str:
    """The design block of a nextpnr cell: ``dut.core.decision.$28[9]_MULT18X18D`` -> ``core.decision``.

    The last dotted part of a name is the cell's own; the parts before it are hierarchy
    levels, up to the first generated one (``$...``, ``_...``, an index); two are kept.
    """
    if not cell.startswith(DUT_INSTANCE + "."):
        return "harness" if cell.startswith("harness_") else "(nextpnr-inserted)"
    levels = []
    for part in cell[len(DUT_INSTANCE) + 1:].split(".")[:-1]:
        if not part or part[0] in "$_\\" or "[" in part or part.isdigit():
            break
        levels.append(part)
    return ".".join(levels[:2]) or "(top)"


def summarize_path(path: dict) -> dict:
    """A clock-to-clock critical path in short: ends, delay split, blocks and cells passed."""
    steps = path["path"]
    cells = []
    for s in steps:
        for end in ("from", "to"):
            name = s[end]["cell"]
            if not cells or cells[-1] != name:
                cells.append(name)
    logic = sum(s["delay"] for s in steps if s["type"] in ("logic", "clk-to-q", "setup"))
    routing = sum(s["delay"] for s in steps if s["type"] == "routing")
    blocks = []
    for c in cells:
        b = _block(c)
        if not blocks or blocks[-1] != b:
            blocks.append(b)
    start, end = steps[0]["from"], steps[-1]["to"]
    nets = [s["net"] for s in steps if s.get("net")]
    dut_cells = [c for c in cells if c.startswith(DUT_INSTANCE + ".")]
    harness = any(c.startswith("harness_") for c in cells)
    return {
        "from": f"{start['cell']} ({start['port']})", "to": f"{end['cell']} ({end['port']})",
        "delay_ns": round(logic + routing, 3), "logic_ns": round(logic, 3), "routing_ns": round(routing, 3),
        "blocks": blocks, "cells": len(cells), "through_harness": harness,
        "key_cells": _key_cells(dut_cells), "nets": nets[:3] + (["..."] if len(nets) > 6 else []) + nets[-3:],
    }


def _key_cells(cells: list[str]) -> list[str]:
    """The path's cells without carry-chain repeats: one name per distinct cell root."""
    out, seen = [], set()
    for c in cells:
        root = re.sub(r"(_CCU2C|_LUT4|_PFUMX|_TRELLIS|_SB_|\$CCU2|_L6MUX).*$", "", c)
        if root not in seen:
            seen.add(root)
            out.append(c)
    return out


def read_report(path: str) -> dict:
    """Fmax, constraint, bel utilization and the critical paths of a nextpnr ``--report`` file."""
    with open(path) as f:
        rep = json.load(f)
    clocks = rep.get("fmax", {})
    name = next((k for k in clocks if "clk" in k), next(iter(clocks), None))
    fmax = clocks.get(name, {}) if name else {}
    paths = [p for p in rep.get("critical_paths", []) if p["from"] != "<async>" and p["to"] != "<async>"]
    return {
        "clock": name,
        "fmax_mhz": round(fmax["achieved"], 2) if "achieved" in fmax else None,
        "constraint_mhz": fmax.get("constraint"),
        "bel_utilization": {k: v for k, v in rep.get("utilization", {}).items() if v.get("used")},
        "critical_path": summarize_path(paths[0]) if paths and paths[0].get("path") else None,
    }
