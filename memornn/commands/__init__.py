"""Subcommands of the ``memornn`` CLI; each module has ``register(subparsers)``."""

from . import generate, golden, quantize, simulate

#: In the order ``memornn --help`` lists them.
COMMANDS = [quantize, golden, generate, simulate]
