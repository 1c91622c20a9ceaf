"""Did synthesis put the multipliers in DSP blocks and the memories in block RAM?

Sets the design's inventory (:mod:`.inventory`) against the synthesized netlist: DSP
cells are traced back to their multiplier through the source location Yosys keeps on
them, memories through ``memory_libmap``'s log. Each mismatch becomes a finding, a
one-line sentence for the report.
"""

from __future__ import annotations

from .inventory import MemoryInfo, Multiplier
from .targets import Target

#: ``memory_libmap`` cell names to resource classes, by substring.
_RAM_KINDS = (("SPRAM", "spram"), ("HUGE", "spram"), ("ULTRA", "spram"), ("DPR16X4", "lutram"),
              ("LUTRAM", "lutram"), ("RAM4K", "bram"), ("DP16KD", "bram"), ("PDPW16KD", "bram"),
              ("BLOCKRAM", "bram"), ("RAMB", "bram"))

#: A writable memory of at least this many bits belongs in block RAM (per family).
BRAM_MIN_BITS = {"ice40": 512, "ecp5": 4096, "xilinx": 4096}


def ram_kind(libmap_cell: str | None) -> str:
    """``bram``, ``lutram``, ``spram``, ``ff`` (flip-flops/logic) or ``unknown``."""
    if libmap_cell is None:
        return "unknown"
    if libmap_cell == "FF":
        return "ff"
    for key, kind in _RAM_KINDS:
        if key in libmap_cell:
            return kind
    return "unknown"


def expected_kind(target: Target, mem: MemoryInfo) -> str:
    """Where a memory belongs on ``target``: ``bram``, ``ram`` (block or LUT RAM) or ``ff``."""
    if mem.rom and mem.bits < target.bram_bits // 2:
        return "ff"
    threshold = BRAM_MIN_BITS.get(target.family)
    if threshold is None:
        return "ff"
    if mem.bits >= threshold:
        return "bram"
    return "ram" if target.lutram else "ff"


def _matches(expected: str, found: str) -> bool:
    if expected == "bram":
        return found in ("bram", "spram")
    if expected == "ram":
        return found in ("bram", "lutram", "spram", "ff")
    return True


def memory_report(target: Target, mems: list[MemoryInfo], mapping: dict) -> dict:
    """Per memory: size, expected and found placement; findings for misplaced ones."""
    from .inventory import memory_display_name

    found_by_name = {memory_display_name(k): v for k, v in mapping.items()}
    rows, findings = [], []
    small_roms = [m for m in mems if "$auto$" in m.name]
    for m in mems:
        if m in small_roms:
            continue
        cell = found_by_name.get(m.name)
        found = ram_kind(cell)
        exp = expected_kind(target, m)
        ok = _matches(exp, found)
        rows.append({"name": m.name, "width": m.width, "depth": m.depth, "bits": m.bits, "rom": m.rom,
                     "write_ports": m.write_ports, "expected": exp, "found": found, "cell": cell, "ok": ok})
        if not ok:
            findings.append(f"memory {m.name} ({m.depth} x {m.width} bits, {m.write_ports} write port(s)) is "
                            f"in {found} ({cell}), expected in block RAM")
    expected_bram = sum(r["expected"] == "bram" for r in rows)
    in_bram = sum(r["expected"] == "bram" and r["found"] in ("bram", "spram") for r in rows)
    return {"memories": rows, "expected_in_bram": expected_bram, "found_in_bram": in_bram,
            "case_roms_in_logic": len(small_roms), "findings": findings}


def dsp_report(target: Target, muls: list[Multiplier], dsp_by_src: dict, soft: set[str], lanes: int) -> dict:
    """Per multiplier: expected and found DSP blocks; findings for those left in logic."""
    rows, findings = [], []
    src_users = {}
    for m in muls:
        src_users.setdefault(m.src, []).append(m)
    matched = set()
    for m in muls:
        expected = 0 if m.name in soft else m.dsp_blocks(target.dsp_shape, target.dsp_min_y)
        # Multipliers sharing a source line share its DSP count (split evenly).
        users = src_users[m.src]
        found = dsp_by_src.get(m.src, 0) // len(users) if m.src else 0
        matched.add(m.src)
        rows.append({"name": m.name, "role": m.role, "a_width": m.a_width, "b_width": m.b_width,
                     "signed": m.signed, "expected_dsp": expected, "found_dsp": found,
                     "budgeted_to_logic": m.name in soft})
        if target.dsp_shape is None:
            continue
        if m.name in soft:
            findings.append(f"{m.role} multiplier {m.a_width}x{m.b_width} built in logic: the device's DSP blocks "
                            f"are used up (DSP budget)")
        elif expected and not found:
            findings.append(f"{m.role} multiplier {m.a_width}x{m.b_width} ({m.name}) was not mapped to a DSP block")
        elif not expected and m.role == "MAC lane":
            findings.append(f"MAC lane multiplier {m.a_width}x{m.b_width} is below the DSP mapping threshold "
                            f"(product < {target.dsp_min_y} bits) and stays in logic")
    mac = [r for r in rows if r["role"] == "MAC lane"]
    other = sum(n for src, n in dsp_by_src.items() if src not in matched)
    return {
        "multipliers": rows, "count": len(rows), "mac_lanes": lanes,
        "mac_multipliers": len(mac), "mac_in_dsp": sum(r["found_dsp"] > 0 for r in mac),
        "expected_dsp_blocks": sum(r["expected_dsp"] for r in rows),
        "found_dsp_blocks": sum(dsp_by_src.values()), "unattributed_dsp_blocks": other,
        "findings": findings,
    }
