"""Argument types and helpers shared by the subcommands."""

from __future__ import annotations

import argparse


def output_path(path: str) -> str:
    """An output file path: the file must end in ``.npz``."""
    if not path.endswith(".npz"):
        raise argparse.ArgumentTypeError(f"output file {path!r} must end in .npz")
    return path


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"{text!r} is below {low}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: an integer >= 0."""
    return _int_at_least(text, 0)


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    return _int_at_least(text, 1)


def add_run_options(parser: argparse.ArgumentParser, predictors: tuple[str, ...]) -> None:
    """The options every inference command shares: threshold, predictor, reuse cap."""
    parser.add_argument("--threshold", default="0.2", metavar="T",
                        help="reuse threshold theta, global (0.2) or per layer (0.2,0.3); default 0.2")
    parser.add_argument("--predictor", default="bnn", choices=predictors,
                        help="reuse predictor (default bnn; none turns memoization off)")
    parser.add_argument("--reuse-cap", type=non_negative_int, default=0, metavar="N",
                        help="compute a neuron after N reuses in a row (default 0: no cap)")
