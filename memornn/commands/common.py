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

