"""Does the synthesized design fit the device? Needed against available, in one line."""

from __future__ import annotations

import re

from ...golden.errors import MemornnError
from .targets import Target

_LABELS = {"luts": "logic cells", "ffs": "flip-flops", "dsp": "DSP blocks", "bram": "block RAMs",
           "spram": "SPRAMs"}


def logic_cells(target: Target, res: dict) -> int:
    """A lower bound of the logic cells (LUT sites) the resources need.

    An ECP5 carry cell (CCU2C) or LUT RAM cell takes two LUT sites; an iCE40 logic cell
    holds one LUT and one flip-flop, so it needs at least as many cells as either.
    nextpnr's packing decides the real count (see :func:`pnr_overflow`).
    """
    if target.family == "ecp5":
        return res["luts"] + 2 * res["carry"] + 2 * res["lutram"]
    if target.family == "ice40":
        return max(res["luts"], res["ffs"])
    return res["luts"]


def needs(target: Target, res: dict) -> dict:
    """Needed count of every class the device's capacity lists."""
    out = {}
    for cls in target.capacity:
        out[cls] = logic_cells(target, res) if cls == "luts" else res.get(cls, 0)
    return out


def utilization(target: Target, res: dict) -> dict:
    """Percent of the device used, by class (only classes with a capacity)."""
    need = needs(target, res)
    return {cls: round(100.0 * need[cls] / cap, 1) if cap else (0.0 if not need[cls] else float("inf"))
            for cls, cap in target.capacity.items()}


def check_fit(target: Target, res: dict, what: str, log: str) -> None:
    """Raise a one-line :class:`MemornnError` naming every class over capacity."""
    need = needs(target, res)
    over = [cls for cls, cap in target.capacity.items() if need[cls] > cap]
    if not over:
        return
    parts = ", ".join(f"{need[c]} {_LABELS[c]} (has {target.capacity[c]})" for c in over)
    raise MemornnError(f"{what} does not fit {target.name} ({target.device}): needs {parts}; see {log}")


_UTIL = re.compile(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%")


def pnr_overflow(log_path: str) -> list[tuple[str, int, int]]:
    """Bel types nextpnr's "Device utilisation" shows over capacity: (type, used, available)."""
    over = []
    try:
        with open(log_path, errors="replace") as f:
            for line in f:
                m = _UTIL.match(line.strip())
                if m and int(m.group(2)) > int(m.group(3)):
                    over.append((m.group(1), int(m.group(2)), int(m.group(3))))
    except OSError:
        pass
    return over
