"""Subcommands of the ``memornn`` CLI; each module has ``register(subparsers)``."""

from . import demo, dse, energy, estimate, generate, golden, quantize, simulate, sweep, synth, tune

#: In the order ``memornn --help`` lists them.
COMMANDS = [demo, quantize, golden, generate, simulate, synth, estimate, sweep, tune, energy, dse]
