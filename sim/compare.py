"""Bit-exact comparison of a hardware run with the golden model."""

from __future__ import annotations

import numpy as np

from ..golden.intmodel import COUNTERS


def _padding_mismatch(key: str, want: np.ndarray, got: np.ndarray) -> str | None:
    """Per-step arrays may differ in length only by padding steps (all zero): the golden
    model keeps the inputs' T, the hardware ``max(lengths)``. Describe any step beyond the
    shorter one that holds something, or ``None``."""
    steps = min(want.shape[1], got.shape[1])
    for name, longer in (("golden", want), ("hardware", got)):
        extra = np.argwhere(longer[:, steps:] != 0)
        if extra.size:
            seq, step = int(extra[0][0]), steps + int(extra[0][1])
            return (f"{key}: sequence {seq}, step {step}: the {name} result has a value beyond the other's "
                    f"{steps} steps (a step past every sequence's length must be padding)")
    return None


def first_mismatch(golden: dict, hardware: dict) -> str | None:
    """Describe the first difference between two key tables, or ``None`` when they agree.

    Outputs and reuse decisions are located by sequence, step and neuron; counters by
    sequence. ``cycles`` (hardware only) is not compared. Per-step arrays (outputs,
    reuse decisions) are compared over the steps both have; the steps only one has
    (inputs padded past the longest sequence) must be padding, zero or false.
    """
    for key in sorted(golden):
        if key == "h":
            continue  # h is h_int scaled; h_int is compared exactly
        if key not in hardware:
            return f"the hardware result has no {key!r}"
        want, got = np.asarray(golden[key]), np.asarray(hardware[key])
        if key not in COUNTERS and want.ndim == got.ndim == 3 and want.shape[::2] == got.shape[::2]:
            padding = _padding_mismatch(key, want, got)
            if padding:
                return padding
            steps = min(want.shape[1], got.shape[1])
            want, got = want[:, :steps], got[:, :steps]
        if want.shape != got.shape:
            return f"{key}: shape {got.shape}, golden {want.shape}"
        diff = np.argwhere(want != got)
        if diff.size == 0:
            continue
        where = diff[0]
        if key in COUNTERS or want.ndim == 1:  # a counter (the policies' too): one value a sequence
            return f"{key}: sequence {where[0]}: hardware {got[tuple(where)]}, golden {want[tuple(where)]}"
        what = "neuron" if key.startswith("reused") else "element"
        return (f"{key}: sequence {where[0]}, step {where[1]}, {what} {where[2]}: hardware "
                f"{got[tuple(where)]}, golden {want[tuple(where)]} ({len(diff)} differences)")
    return None
