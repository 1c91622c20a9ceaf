"""The skip-policy options of the inference commands (golden, simulate), parsed once.

The flags go to :meth:`~memornn.golden.options.RunOptions.parse` as given; a settings
file (``--settings``) stands in for all of them.
"""

from __future__ import annotations

import argparse

from ..golden.errors import MemornnError
from ..golden.options import PREDICTORS, RunOptions, load_settings
from .common import non_negative_int

#: The flags a settings file replaces (argparse destinations).
_POLICY_FLAGS = ("predictor", "threshold", "delta_x", "delta_h", "reuse_cap", "row_weights")


def add_policy_options(parser: argparse.ArgumentParser) -> None:
    """The options every inference command shares: the policy and its parameters."""
    parser.add_argument("--predictor", choices=PREDICTORS, default=None,
                        help="skip policy (default bnn; none turns skipping off)")
    parser.add_argument("--threshold", metavar="T",
                        help="bnn/oracle: relative reuse threshold theta (default 0.2); sign/hybrid: absolute "
                             "gate-output threshold tau; one value or one per layer (0.2,0.3)")
    parser.add_argument("--delta-x", metavar="DX",
                        help="delta/hybrid: input-column threshold, int8 units (one value or one per layer)")
    parser.add_argument("--delta-h", metavar="DH",
                        help="delta/hybrid: h-column threshold, int8 units (one value or one per layer)")
    parser.add_argument("--reuse-cap", type=non_negative_int, default=None, metavar="K",
                        help="compute a neuron after K reuses in a row (default 0: no cap)")
    parser.add_argument("--row-weights", metavar="{1,3}",
                        help="sign/hybrid: bits per weight of the row predictor (default 3)")
    parser.add_argument("--settings", metavar="FILE",
                        help="a settings file (from memornn tune) in place of the options above")


def policy_options(args, model) -> RunOptions:
    """The :class:`RunOptions` of parsed ``args``, checked against ``model``.

    Raises
    ------
    MemornnError
        On a bad value, flags given beside ``--settings``, or a settings file for
        another model shape.
    """
    if args.settings is not None:
        given = [name for name in _POLICY_FLAGS if getattr(args, name) is not None]
        if given:
            raise MemornnError(f"--settings replaces --{given[0].replace('_', '-')}: give one or the other")
        options, _ = load_settings(args.settings, model)
        return options
    options = RunOptions.parse(args.predictor or "bnn", threshold=args.threshold, delta_x=args.delta_x,
                               delta_h=args.delta_h, reuse_cap=args.reuse_cap, row_weights=args.row_weights)
    options.for_model(model.num_layers)
    return options
