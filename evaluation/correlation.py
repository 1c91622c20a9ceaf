"""The paper's correlation claim, measured: BNN-output changes against pre-activation changes.

Silfa et al. predict a neuron's change between consecutive evaluations from the change
of its binarized copy's output. For every gate neuron of an integer-model run without
memoization and every pair of consecutive steps ``(s-1, s)`` of a sequence, this module
compares

- the signed changes ``dyb = yb_s - yb_(s-1)`` and ``dpre = pre_s - pre_(s-1)``
  (``pre``: the Q3.12 pre-activation; the GRU candidate's two parts summed, since its
  BNN row covers both): Pearson's r per neuron, summarised over neurons by the mean and
  median (neurons whose changes are constant are left out);
- the relative changes ``|dyb| / max(|yb_(s-1)|, 1)`` and ``|dpre| / max(|pre_(s-1)|, 1)``,
  which are what the reuse test thresholds: Spearman's rank correlation over all pairs
  of all neurons (ranks make it independent of the two scales).

For reference it also gives the per-neuron Pearson's r of the values themselves
(``yb_s`` against ``pre_s`` over all steps), which is not the claim about changes.
"""

from __future__ import annotations

import numpy as np

from ..golden.inputs import Batch
from ..golden.qmodel import QModel
from .metrics import GATE_NAMES
from .traces import LayerTrace, layer_traces


def _ranks(v: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged (1-based), as Spearman's rho needs."""
    order = np.argsort(v, kind="mergesort")
    sorted_v = v[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_v)) + 1]
    ends = np.r_[starts[1:], len(v)]
    avg = (starts + ends + 1) / 2.0  # mean of 1-based ranks start+1 .. end
    ranks = np.empty(len(v))
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's r of two 1-D arrays (NaN if either is constant)."""
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two 1-D arrays."""
    return pearson(_ranks(a), _ranks(b))


def per_neuron_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson's r of each column of (P, R) arrays; NaN where a column is constant."""
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    den = np.sqrt((x * x).sum(axis=0) * (y * y).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (x * y).sum(axis=0) / np.where(den > 0, den, 1), np.nan)


def consecutive_changes(trace: LayerTrace) -> dict:
    """Changes between consecutive steps of every neuron, as (P, G*H) arrays over the P pairs.

    Returns
    -------
    dict
        ``dyb``, ``dpre`` (signed changes), ``rel_yb``, ``rel_pre`` (relative changes).
    """
    value = trace.neuron_value()
    pair = trace.active[:, 1:] & trace.active[:, :-1]  # (N, S-1)
    prev_yb, new_yb = trace.yb[:, :-1][pair], trace.yb[:, 1:][pair]
    prev_pre, new_pre = value[:, :-1][pair], value[:, 1:][pair]
    dyb = (new_yb - prev_yb).astype(np.float64)
    dpre = (new_pre - prev_pre).astype(np.float64)
    return {"dyb": dyb, "dpre": dpre, "rel_yb": np.abs(dyb) / np.maximum(np.abs(prev_yb), 1),
            "rel_pre": np.abs(dpre) / np.maximum(np.abs(prev_pre), 1)}


def change_correlation(model: QModel, batch: Batch, traces: list[LayerTrace] | None = None) -> dict:
    """Correlation of BNN-output and pre-activation changes over consecutive steps.

    Parameters
    ----------
    model : QModel
    batch : Batch
        Inputs (for example the test split).
    traces : list of LayerTrace, optional
        From :func:`~memornn.evaluation.traces.layer_traces` (predictor none); computed
        when not given.

    Returns
    -------
    dict
        Over all layers: ``pearson_mean``, ``pearson_median`` (per-neuron Pearson of the
        signed changes), ``spearman_relative`` (pooled Spearman of the relative changes),
        ``pearson_levels_mean`` (per-neuron Pearson of the values), ``pairs`` (consecutive
        step pairs per neuron of the first layer), ``neurons``; and ``layers``: the same
        per layer direction, with ``pearson_by_gate`` (mean per gate).
    """
    traces = traces if traces is not None else layer_traces(model, batch)
    gates = GATE_NAMES[model.cell]
    per_layer = {}
    all_r, all_levels, all_rel_yb, all_rel_pre = [], [], [], []
    for trace in traces:
        ch = consecutive_changes(trace)
        r = per_neuron_pearson(ch["dyb"], ch["dpre"])
        value = trace.neuron_value()
        levels = per_neuron_pearson(trace.yb[trace.active].astype(np.float64),
                                    value[trace.active].astype(np.float64))
        by_gate = r.reshape(len(gates), -1)
        rel_yb, rel_pre = ch["rel_yb"].ravel(), ch["rel_pre"].ravel()
        per_layer[trace.key] = {
            "pearson_mean": float(np.nanmean(r)), "pearson_median": float(np.nanmedian(r)),
            "spearman_relative": spearman(rel_yb, rel_pre), "pairs": int(ch["dyb"].shape[0]),
            "neurons": int(np.isfinite(r).sum()), "pearson_levels_mean": float(np.nanmean(levels)),
            "pearson_by_gate": {g: float(np.nanmean(v)) for g, v in zip(gates, by_gate)},
        }
        all_r.append(r)
        all_levels.append(levels)
        all_rel_yb.append(rel_yb)
        all_rel_pre.append(rel_pre)
    r = np.concatenate(all_r)
    return {"pearson_mean": float(np.nanmean(r)), "pearson_median": float(np.nanmedian(r)),
            "spearman_relative": spearman(np.concatenate(all_rel_yb), np.concatenate(all_rel_pre)),
            "pearson_levels_mean": float(np.nanmean(np.concatenate(all_levels))),
            "pairs": per_layer[traces[0].key]["pairs"], "neurons": int(np.isfinite(r).sum()), "layers": per_layer}
