"""Subcommands of the ``memornn`` CLI; each module has ``register(subparsers)``."""

from . import golden, quantize

#: In the order ``memornn --help`` lists them.
COMMANDS = [quantize, golden]
