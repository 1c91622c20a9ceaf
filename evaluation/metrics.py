"""Accuracy, reuse per layer and gate, and MACs avoided, from golden-model outputs."""

from __future__ import annotations

import numpy as np

from ..golden.floatref import apply_head, last_outputs
from ..golden.inputs import Batch

#: Gate names in PyTorch's row order.
GATE_NAMES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}


def accuracy(model, h: np.ndarray, batch: Batch, labels: np.ndarray) -> float:
    """Classification accuracy in % of ``model``'s float head on outputs ``h`` (N, T, H*D)."""
    scores = apply_head(model, last_outputs(h, batch.lengths))
    return 100.0 * float((scores.argmax(axis=1) == labels).mean())


def reuse_by_gate(result: dict, batch: Batch, cell: str) -> dict:
    """Percentage of reused evaluations per layer direction and gate.

    Parameters
    ----------
    result : dict
        Output of :func:`~memornn.golden.intmodel.golden_run` (its ``reused_l*`` masks).
    batch : Batch
        The inputs of the run (only valid steps count).
    cell : str

    Returns
    -------
    dict
        ``{"l0": {"i": 12.5, ...}, "l0_reverse": {...}, ...}`` in %; keys are the mask
        names without ``reused_``.
    """
    gates = GATE_NAMES[cell]
    valid = np.arange(batch.x.shape[1])[None, :] < batch.lengths[:, None]
    steps = int(valid.sum())
    out = {}
    for key in sorted(k for k in result if k.startswith("reused_l")):
        mask = result[key]
        per_gate = mask.reshape(mask.shape[:2] + (len(gates), -1))[valid]  # (steps, G, H)
        share = 100.0 * per_gate.sum(axis=(0, 2)) / (steps * per_gate.shape[2])
        out[key[len("reused_"):]] = {g: float(v) for g, v in zip(gates, share)}
    return out


def reuse_percent(result: dict) -> float:
    """Reused neuron evaluations in % of all neuron evaluations."""
    reused = int(result["neurons_reused"].sum())
    total = reused + int(result["neurons_computed"].sum())
    return 100.0 * reused / total if total else 0.0


def macs_avoided_percent(result: dict) -> float:
    """MACs skipped by reuse in % of the MACs without memoization (BNN work not counted)."""
    skipped = int(result["macs_skipped"].sum())
    total = skipped + int(result["macs"].sum())
    return 100.0 * skipped / total if total else 0.0
