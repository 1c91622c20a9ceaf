"""Helpers of the bad-input tests (not a test module itself).

The contract every test here checks (issue 15): bad input gives a non-zero exit, exactly
one line on stderr naming the problem, no traceback, and leaves every file as it was.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys

import numpy as np

from memornn.golden.quantize import quantize_model
from memornn.golden.randmodel import random_batch, random_float_model

X, H = 3, 4


def run_cli(argv) -> tuple[int, str, str]:
    """``memornn.cli.main(argv)`` in this process; returns (exit code, stdout, stderr)."""
    from memornn.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([os.fspath(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def run_subprocess(argv, timeout=120) -> tuple[int, str, str]:
    """``python -m memornn argv`` (the real exit code and stderr)."""
    proc = subprocess.run([sys.executable, "-m", "memornn", *map(os.fspath, argv)], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    return proc.returncode, proc.stdout, proc.stderr


def snapshot(folder) -> dict:
    """Every entry under ``folder`` (links not followed): kind, size, mtime and contents' hash."""
    state = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            st = os.lstat(path)
            digest = None
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    digest = hash(f.read())
            # a folder's own size and time change with a temporary entry made and removed: not compared
            kept = (st.st_size, st.st_mtime_ns) if not os.path.isdir(path) or os.path.islink(path) else None
            state[os.path.relpath(path, folder)] = (st.st_mode, kept, digest,
                                                     os.readlink(path) if os.path.islink(path) else None)
    return state


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    """Non-zero exit, exactly one stderr line, no traceback, the line naming ``needles``."""
    assert code != 0, f"exit 0 on bad input; stderr: {err!r}"
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}: {err!r}"
    assert "Traceback" not in err and "error" in lines[0], err
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


def write_files(folder) -> dict:
    """A tiny float model, its Q.npz, inputs and a hardware config in ``folder``."""
    folder = os.fspath(folder)
    model = random_float_model("lstm", input_size=X, hidden_size=H, classes=3, seed=5)
    calibration = random_batch(X, sequences=4, max_len=5, seed=6)
    files = {"dir": folder, "model": os.path.join(folder, "model.npz"), "q": os.path.join(folder, "q.npz"),
             "inputs": os.path.join(folder, "inputs.npz"), "config": os.path.join(folder, "hw.toml"),
             "calibration": os.path.join(folder, "calib.npz")}
    model.save(files["model"])
    quantize_model(model, calibration).save(files["q"])
    np.savez(files["calibration"], x=calibration.x, lengths=calibration.lengths)
    batch = random_batch(X, sequences=2, max_len=5, seed=7)
    np.savez(files["inputs"], x=batch.x, lengths=batch.lengths)
    with open(files["config"], "w") as f:
        f.write("mac_lanes = 2\nbnn_width = 8\nmax_seq_len = 8\n")
    return files
