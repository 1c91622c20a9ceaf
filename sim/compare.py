"""Bit-exact comparison of a hardware run with the golden model."""

from __future__ import annotations

import numpy as np

from ..golden.intmodel import COUNTERS


def first_mismatch(golden: dict, hardware: dict) -> str | None:
    """Describe the first difference between two key tables, or ``None`` when they agree.

    Outputs and reuse decisions are located by sequence, step and neuron; counters by
    sequence. ``cycles`` (hardware only) is not compared.
    """
    for key in sorted(golden):
        if key == "h":
            continue  # h is h_int scaled; h_int is compared exactly
        if key not in hardware:
            return f"the hardware result has no {key!r}"
        want, got = np.asarray(golden[key]), np.asarray(hardware[key])
        if want.shape != got.shape:
            return f"{key}: shape {got.shape}, golden {want.shape}"
        diff = np.argwhere(want != got)
        if diff.size == 0:
            continue
        where = diff[0]
        if key in COUNTERS:
            return f"{key}: sequence {where[0]}: hardware {got[tuple(where)]}, golden {want[tuple(where)]}"
        what = "neuron" if key.startswith("reused") else "element"
        return (f"{key}: sequence {where[0]}, step {where[1]}, {what} {where[2]}: hardware "
                f"{got[tuple(where)]}, golden {want[tuple(where)]} ({len(diff)} differences)")
    return None
