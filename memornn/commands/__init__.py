"""Subcommands of the ``memornn`` CLI; each module has ``register(subparsers)``."""

from . import generate, golden, quantize, simulate, synth, sweep

#: In the order ``memornn --help`` lists them.
COMMANDS = [quantize, golden, generate, simulate, sweep, synth]
