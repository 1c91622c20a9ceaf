"""Time-step order shared by the float and the integer models."""

from __future__ import annotations

import numpy as np


def step_times(lengths: np.ndarray, step: int, reverse: bool) -> tuple[np.ndarray, np.ndarray]:
    """Time index of each sequence at ``step``, and which sequences are still running.

    The forward direction visits ``t = step``; the backward direction of a
    bidirectional layer visits ``t = length - 1 - step``, so every sequence starts at
    its own last step (PyTorch's packed-sequence semantics). Padded steps never run.
    """
    active = step < lengths
    times = (lengths - 1 - step) if reverse else np.full_like(lengths, step)
    return np.where(active, times, 0), active
