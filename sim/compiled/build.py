"""Compiling the C++ harness (``harness.cpp``) with a design's Verilog into one executable.

A build is made once per design and cached in ``<cache>/compiled/<key>``, where the key
hashes the Verilog sources, the harness, the Verilator version and the flags: the same
design never compiles twice, a changed one never runs a stale executable. The Verilog
source list and the top module are parameters, so other netlists (a gate-level one with
its cell models) can use the same harness as long as the top has the accelerator's ports;
the harness drives them through :mod:`~memornn.sim.compiled.top`.

Verilator's run-time library (``verilated*.cpp``), the same for every design, is
compiled once into ``<cache>/compiled/runtime-<key>`` and linked from there, as
:mod:`memornn.sim.rtl.build` does for the cocotb builds.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from ...golden.errors import MemornnError
from ...hw.generate import TOP_NAME
from ...hw.layout import Layout
from ..rtl.design import build_once, cache_root, save_runtime
from ..rtl.lint import write_waivers
from .top import HARNESS_TOP, harness_top_verilog

HARNESS_SOURCE = Path(__file__).resolve().parent / "harness.cpp"
EXECUTABLE = "harness"
#: Verilator's own optimization; the model is compiled as one file (``VM_PARALLEL_BUILDS=0``:
#: a dozen files would each parse Verilator's headers again), its start-up code
#: (``OPT_SLOW``) unoptimized, Verilator's run-time library (``OPT_GLOBAL``) at -O1.
VERILATOR_FLAGS = ("-O3", "--x-assign", "fast", "--noassert")
MAKE_VARIABLES = ("VM_PARALLEL_BUILDS=0", "OPT_SLOW=-O0", "OPT_GLOBAL=-O1")
#: C++ optimization of the model's per-cycle code (``OPT_FAST``): -O2 (about 10% faster
#: than -O1 on the 1x64 LSTM); -O0 for short runs of large designs, where the build costs
#: more than the run (a small test design builds in about 3.5 s of CPU at -O0, 5.3 s at -O1,
#: and runs several times slower at -O0).
OPT_FAST = {True: "OPT_FAST=-O2", False: "OPT_FAST=-O0"}


@dataclass(frozen=True)
class Harness:
    """The C++ harness compiled with one design's Verilog.

    Attributes
    ----------
    executable : Path
        The program, ``<cache>/compiled/<key>/harness``.
    key : str
        Hash of everything the executable was built from.
    seconds : float
        Time the build took in this call (0 when it was cached).
    """

    executable: Path
    key: str
    seconds: float


def _verilator() -> str:
    path = shutil.which("verilator")
    if path is None:
        raise MemornnError("verilator is not on PATH (run scripts/setup, and put .venv/bin first on PATH)")
    return path


def harness_key(sources: list[Path], top_text: str, extra_flags: tuple = (), optimize: bool = True) -> str:
    """Hash of the Verilog sources, the harness and its top, the Verilator version and the flags."""
    digest = hashlib.sha256()
    for part in (version("verilator"), top_text, *VERILATOR_FLAGS, *MAKE_VARIABLES, OPT_FAST[optimize],
                 *extra_flags):
        digest.update(part.encode() + b"\0")
    for path in [HARNESS_SOURCE, *sources]:
        digest.update(Path(path).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _runtime_dir() -> Path:
    text = "\0".join((version("verilator"), *MAKE_VARIABLES))
    return cache_root() / "compiled" / f"runtime-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _command(directory: Path, sources: list[Path], waivers: Path, runtime: Path | None,
             extra_flags: tuple, optimize: bool) -> list[str]:
    cmd = [_verilator(), "--cc", "--exe", "--build", "--build-jobs", "1", "--prefix", "Vaccel", "--top-module",
           HARNESS_TOP,
           "-Mdir", str(directory), "-o", EXECUTABLE, *VERILATOR_FLAGS, *extra_flags, "-CFLAGS", "-std=c++17",
           str(waivers), *map(str, sources), str(HARNESS_SOURCE)]
    variables = [*MAKE_VARIABLES, OPT_FAST[optimize]]
    if runtime is not None:
        variables.append("VK_GLOBAL_OBJS=")
        cmd += ["-LDFLAGS", " ".join(str(o) for o in sorted(runtime.glob("verilated*.o")))]
    for variable in variables:
        cmd += ["-MAKEFLAGS", variable]
    return cmd


def compile_harness(sources: list[Path], layout: Layout, top: str = TOP_NAME, extra_flags: tuple = (),
                    optimize: bool = True, log=None) -> Harness:
    """Compile ``harness.cpp`` with ``sources`` unless a finished build is cached.

    Parameters
    ----------
    sources : list of Path
        Verilog files; module ``top`` must have the ports of
        :class:`memornn.hw.top.Accelerator` with the trace stream.
    layout : Layout
        The design's layout (port widths of the harness's top).
    top : str
        The accelerator's module name.
    extra_flags : tuple of str
        More Verilator options (part of the cache key).
    optimize : bool
        Compile the model's per-cycle C++ with -O2 (else -O0: a faster build, a slower run).
    log : file, optional
        Where to print a line about the build.

    Raises
    ------
    MemornnError
        If Verilator is missing or the build fails (with the end of its log).
    """
    sources = [Path(s).resolve() for s in sources]
    top_text = harness_top_verilog(layout, top)
    key = harness_key(sources, top_text, tuple(extra_flags), optimize)
    directory = cache_root() / "compiled" / key
    executable = directory / EXECUTABLE
    seconds = build_once(directory, lambda: _compile(directory, sources, top_text, tuple(extra_flags), optimize),
                         ready=executable.is_file)
    if log is not None and seconds:
        print(f"compiled harness {key} in {seconds:.1f} s", file=log)
    return Harness(executable, key, seconds)


def _compile(directory: Path, sources: list[Path], top_text: str, extra_flags: tuple, optimize: bool) -> None:
    """Compile the harness with ``sources`` and its top ``top_text`` into ``directory``."""
    runtime = _runtime_dir()
    have_runtime = runtime.is_dir()
    top_path = directory / f"{HARNESS_TOP}.v"
    top_path.write_text(top_text)
    cmd = _command(directory, [*sources, top_path], write_waivers(directory),
                   runtime if have_runtime else None, extra_flags, optimize)
    log_path = directory / "build.log"
    with open(log_path, "w") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=directory)
    if done.returncode != 0 or not (directory / EXECUTABLE).is_file():
        tail = " | ".join(log_path.read_text(errors="replace").splitlines()[-8:])
        raise MemornnError(f"the Verilator harness build failed (exit {done.returncode}); end of {log_path}: "
                           f"{tail}")
    if not have_runtime:
        save_runtime(directory, runtime)
    for obj in directory.glob("*.o"):  # the executable is all that is needed
        obj.unlink()
