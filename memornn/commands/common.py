"""Argument types and helpers shared by the subcommands.

Every command follows one order, so that bad input never leaves a half-written output:
argument types (here, checked by argparse), then :func:`check_outputs` (no output may be
an input, a directory or under a file), then loading and checking every input, then the
work, then the outputs, each written atomically (:mod:`memornn.golden.fileio`).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import threading
import time
from contextlib import contextmanager

from ..golden import numerics as nx
from ..golden.errors import MemornnError
from ..golden.fileio import check_output_file, check_output_folder, read_text, refuse_same_file, same_file
from ..golden.limits import MAX_WORKERS


def output_path(path: str) -> str:
    """An output file path: the file must end in ``.npz``."""
    if not path.endswith(".npz"):
        raise argparse.ArgumentTypeError(f"output file {path!r} must end in .npz")
    return path


def _int_in(text: str, low: int, high: int | None = None, what: str = "") -> int:
    # ASCII digits only: int() also reads "1_000" and other scripts' digits ("\u0661" is 1)
    if not re.fullmatch(r"\s*[+-]?[0-9]{1,4000}\s*", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer")
    value = int(text)
    if value < low:
        raise argparse.ArgumentTypeError(f"{text!r} is below {low}")
    if high is not None and value > high:
        raise argparse.ArgumentTypeError(f"{text!r} is above {high}{what}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: an integer >= 0."""
    return _int_in(text, 0)


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    return _int_in(text, 1)


def workers_count(text: str) -> int:
    """An argparse type: a worker-process count in [1, MAX_WORKERS]."""
    return _int_in(text, 1, MAX_WORKERS, " (the limit of --workers, golden/limits.py)")


def _float(text: str, what: str = "") -> float:
    """``float(text)`` for ASCII text only (float() reads other scripts' digits too)."""
    try:
        if not text.isascii():
            raise ValueError
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what}{text!r} is not a number") from None


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    value = _float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number above 0")
    return value


def threshold_value(text: str) -> float:
    """An argparse type: one reuse threshold (finite, >= 0, within Q8.8)."""
    value = _float(text, "threshold ")
    try:
        nx.theta_to_q(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def check_outputs(files: list, folders: list = (), inputs: list = ()) -> None:
    """Refuse, before any work, outputs that cannot be written or would overwrite an input.

    Parameters
    ----------
    files, folders : list of (label, path)
        Output files and output folders (``path`` ``None``: not given).
    inputs : list of (label, path)
        Every input file of the command.
    """
    for label, path in files:
        if path is not None:
            check_output_file(path, f"{label}")
    for label, path in folders:
        if path is not None:
            check_output_folder(path, f"{label} folder")
    given = [(label, path) for label, path in files if path is not None]
    refuse_same_file(given, inputs)
    for i, (label, path) in enumerate(given):  # two outputs on one file: the second would replace the first
        for other, other_path in given[i + 1:]:
            if same_file(path, other_path):
                raise MemornnError(f"{label} {path!r} and {other} {other_path!r} are the same file")


def load_hw_config(path):
    """:func:`memornn.hw.config.load_config`, with the file checked first: a directory, FIFO,
    device, unreadable, oversized or non-UTF-8 file gets a one-line error."""
    from ..hw.config import load_config

    if path is not None:
        read_text(path, "hardware config")
    return load_config(path)


@contextmanager
def heartbeat(what: str, every: float = 15.0, stream=None):
    """Print ``what ... N s`` every ``every`` seconds while the block runs (long, silent steps)."""
    stream = stream or sys.stdout
    done = threading.Event()
    start = time.monotonic()

    def beat():
        while not done.wait(every):
            print(f"{what} ... {time.monotonic() - start:.0f} s", file=stream, flush=True)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


# The arguments several commands take, each defined once (name, metavar, default help).

#: ``--model`` of the commands that take a quantized model.
QMODEL_HELP = "quantized model (from memornn quantize)"
#: ``--inputs`` of the commands that run the golden model on float inputs.
INPUTS_HELP = "float inputs: .npy of shape (T, X) or (N, T, X), or .npz with x and optional lengths"
#: ``--config`` of the commands that build or estimate the hardware.
CONFIG_HELP = "hardware configuration (defaults for every missing key)"


def add_model_argument(p: argparse.ArgumentParser, help: str = QMODEL_HELP, metavar: str = "Q.npz",
                       default: str | None = None) -> None:
    """``--model``: required unless it has a ``default``."""
    p.add_argument("--model", required=default is None, default=default, metavar=metavar, help=help)


def add_inputs_argument(p: argparse.ArgumentParser, help: str = INPUTS_HELP, metavar: str = "X") -> None:
    """``--inputs``, required."""
    p.add_argument("--inputs", required=True, metavar=metavar, help=help)


def add_config_argument(p: argparse.ArgumentParser, help: str = CONFIG_HELP) -> None:
    """``--config``, the hardware configuration file (optional)."""
    p.add_argument("--config", metavar="hw.toml", help=help)


def add_target_argument(p: argparse.ArgumentParser, help: str, metavar: str = "T",
                        default: str | None = None) -> None:
    """``--target``, the FPGA target: required unless it has a ``default``."""
    p.add_argument("--target", required=default is None, default=default, metavar=metavar, help=help)


def add_output_argument(p: argparse.ArgumentParser, metavar: str = "DIR", help: str = "output directory",
                        type=None, default: str | None = None) -> None:
    """``-o``/``--output``: required unless it has a ``default``; ``type`` checks it."""
    p.add_argument("-o", "--output", required=default is None, default=default, type=type, metavar=metavar,
                   help=help)
