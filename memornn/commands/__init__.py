"""Subcommands of the ``memornn`` CLI; each module has ``register(subparsers)``.

A command module's docstring is its ``memornn COMMAND --help`` description (one text for
the reader of the code and the user).
"""

from . import demo, dse, energy, estimate, generate, golden, quantize, simulate, sweep, synth, tune

#: In the order ``memornn --help`` lists them.
COMMANDS = [demo, quantize, golden, generate, simulate, synth, estimate, sweep, tune, energy, dse]
