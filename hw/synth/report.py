"""``report.json`` and ``report.md``: resources, utilization, Fmax, inference findings."""

from __future__ import annotations

import os

from .design import dump_json
from .targets import RESOURCES

REPORT_SCHEMA = "memornn.synth_report"
REPORT_VERSION = 1

_NAMES = {"luts": "LUTs", "ffs": "flip-flops", "carry": "carry cells", "dsp": "DSP blocks", "bram": "block RAMs",
          "lutram": "LUT RAM cells", "spram": "SPRAMs"}


def write_report(outdir: str, report: dict) -> None:
    """Write ``report.json`` and ``report.md`` into ``outdir``."""
    dump_json(os.path.join(outdir, "report.json"), report)
    with open(os.path.join(outdir, "report.md"), "w") as f:
        f.write(markdown(report))


def _fmt(value) -> str:
    return "-" if value is None else str(value)


def markdown(r: dict) -> str:
    """The report as Markdown."""
    d, t = r["design"], r["target"]
    m, c = d.get("model"), d.get("config")
    what = f"`{d['top']}` from {d['source']}"
    if m:
        what += f"; {m['cell']} {m['num_layers']}x{m['hidden_size']}, {m['input_size']} inputs"
    if c:
        what += f"; P = {c['mac_lanes']}, B = {c['bnn_width']}, max_seq_len = {c['max_seq_len']}"
    lines = [f"# memornn synthesis report: {t['name']}", "",
             f"- design: {what}",
             f"- device: {t['device']}" + (f", speed grade {t['speed']}" if t.get("speed") else ""),
             f"- tools: {', '.join(f'{k} {v}' for k, v in r['tools'].items())}",
             f"- run time: {r['run_time_s']['total']:.1f} s "
             f"({', '.join(f'{k} {v:.1f} s' for k, v in r['run_time_s'].items() if k != 'total')})", "",
             "## Resources (the design alone, from Yosys)", "",
             "| resource | used | available | utilization |", "| --- | ---: | ---: | ---: |"]
    for cls in RESOURCES:
        used = r["resources"][cls]
        avail = r["available"].get(cls)
        if avail is None and not used:
            continue
        util = r["utilization_percent"].get(cls)
        label = t.get("luts_label", "LUTs") if cls == "luts" else _NAMES[cls]
        lines.append(f"| {label} | {used} | {_fmt(avail)} | {'-' if util is None else f'{util}%'} |")
    if t["family"] == "ecp5":
        lines.append("")
        lines.append("Logic-cell utilization counts a carry cell (CCU2C) and a LUT RAM cell as two LUT sites.")
    p = r.get("pnr")
    if p:
        ok = "meets" if p["meets_constraint"] else "FAILS"
        lines += ["", "## Timing (nextpnr, design in the I/O harness)", "",
                  f"- Fmax **{p['fmax_mhz']} MHz** at a {p['constraint_mhz']} MHz constraint (`--freq`): {ok} it"
                  f" (clock `{p['clock']}`, seed {p['seed']})"]
        tried = p.get("seeds_routed") or []
        if len(tried) > 1:
            lines.append("- seeds routed: " + ", ".join(f"{t['seed']}: {t['fmax_mhz']} MHz" for t in tried)
                         + " (the fastest is reported)")
        cp = p.get("critical_path")
        if cp:
            lines += [f"- critical path {cp['delay_ns']} ns ({cp['logic_ns']} ns logic, {cp['routing_ns']} ns "
                      f"routing): {' -> '.join(cp['blocks'])}",
                      f"  - from `{cp['from']}`", f"  - to `{cp['to']}`",
                      f"  - through the harness: {'YES (not a design path)' if cp['through_harness'] else 'no'}",
                      "  - cells: " + ", ".join(f"`{c}`" for c in cp["key_cells"][:12])]
        h = r["harness"]
        lines += [f"- harness: {h['serialized_bits']['in']} input and {h['serialized_bits']['out']} output bits "
                  f"serialized onto {h['pins']} pins; it adds {h['resources']['luts']} LUTs and "
                  f"{h['resources']['ffs']} flip-flops (not in the table above)", "",
                  "| bel | used | available |", "| --- | ---: | ---: |"]
        lines += [f"| {k} | {v['used']} | {v['available']} |" for k, v in p["bel_utilization"].items()]
    else:
        lines += ["", "No place and route for this target: resources only, no Fmax."]
    ds = r["dsp_inference"]
    lines += ["", "## DSP inference", "",
              f"{ds['count']} multipliers; {ds['mac_in_dsp']} of {ds['mac_multipliers']} MAC lane multipliers in "
              f"DSP blocks; DSP blocks expected {ds['expected_dsp_blocks']}, found {ds['found_dsp_blocks']}.", "",
              "| multiplier | role | A x B | DSP expected | DSP found |", "| --- | --- | --- | ---: | ---: |"]
    lines += [f"| `{x['name']}` | {x['role']} | {x['a_width']}x{x['b_width']} | {x['expected_dsp']} | "
              f"{x['found_dsp']} |" for x in ds["multipliers"]]
    mi = r["memory_inference"]
    lines += ["", "## Memory inference", "",
              f"{mi['found_in_bram']} of {mi['expected_in_bram']} memories expected in block RAM are there.", "",
              "| memory | depth x width | expected | found (cell) |", "| --- | --- | --- | --- |"]
    lines += [f"| {x['name']} | {x['depth']} x {x['width']} | {x['expected']} | {x['found']} ({_fmt(x['cell'])}) |"
              for x in mi["memories"]]
    findings = ds["findings"] + mi["findings"] + r.get("notes", [])
    lines += ["", "## Findings", ""] + ([f"- {f}" for f in findings] or ["- none"])
    lines += ["", "Logs: " + ", ".join(f"`{v}`" for v in r["logs"].values()), ""]
    return "\n".join(lines)
