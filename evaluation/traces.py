"""Per-step BNN outputs and pre-activations of an integer-model run.

:func:`memornn.golden.intmodel.golden_run` returns outputs, reuse masks and counters,
not the values behind each decision. This module collects them from the run itself,
through its per-step observer (:class:`~memornn.golden.intmodel.StepRecord`): for every
layer direction and step, the fresh (requantized) pre-activation of every gate neuron
and its BNN output ``yb``, from the layer's actual inputs ``x_t`` and its own previous
output ``h_(t-1)`` in that run.

Arrays are in *processing order*: index ``s`` is the ``s``-th step the direction
runs (for a backward direction, ``t = length - 1 - s``), so steps ``s - 1`` and ``s``
are consecutive evaluations of the same neuron.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..golden.inputs import Batch
from ..golden.intmodel import StepRecord, golden_run
from ..golden.qmodel import QModel, layer_suffix


@dataclass
class LayerTrace:
    """The per-step values of one layer direction (shapes ``(N, S, ...)``, S steps).

    Attributes
    ----------
    key : str
        ``l0``, ``l0_reverse``, ... (the suffix of the ``reused_`` mask).
    active : ndarray of bool, (N, S)
        The step exists (``s < length``).
    times : ndarray of int, (N, S)
        Time index of each processing step.
    pre : ndarray of int64, (N, S, G*H)
        Fresh requantized pre-activation (Q3.12); for the GRU candidate rows, the input
        part ``W_in x + b_in``, as cached by the golden model.
    pre_hn : ndarray of int64 or None, (N, S, H)
        GRU only: the candidate's recurrent part ``W_hn h + b_hn`` (Q3.12).
    yb : ndarray of int64, (N, S, G*H)
        BNN output.
    """

    key: str
    active: np.ndarray
    times: np.ndarray
    pre: np.ndarray
    pre_hn: np.ndarray | None
    yb: np.ndarray

    def neuron_value(self) -> np.ndarray:
        """The value the BNN stands for: ``pre``, with the GRU candidate's two parts summed."""
        if self.pre_hn is None:
            return self.pre
        value = self.pre.copy()
        hidden = self.pre_hn.shape[2]
        value[:, :, 2 * hidden:] += self.pre_hn
        return value


class _Collector:
    """The run's observer: every step's record kept per layer direction, in step order."""

    def __init__(self):
        self.steps: dict[tuple[int, int], list] = {}

    def __call__(self, record: StepRecord) -> None:
        pre, pre_hn = record.fresh()
        self.steps.setdefault((record.layer, record.direction), []).append(
            (record.active, record.times, pre, pre_hn, record.yb()))

    def trace(self, k: int, d: int, n: int, t_max: int) -> LayerTrace:
        """The :class:`LayerTrace` of direction ``d`` of layer ``k`` (steps past the last: zero)."""
        steps = self.steps.get((k, d), [])

        def stacked(i, dtype):
            if not steps or steps[0][i] is None:
                return None
            first = steps[0][i]
            out = np.zeros((n, t_max) + first.shape[1:], dtype)
            out[:, :len(steps)] = np.stack([s[i] for s in steps], axis=1)
            return out

        return LayerTrace(layer_suffix(k, d)[1:], stacked(0, bool), stacked(1, np.int64), stacked(2, np.int64),
                          stacked(3, np.int64), stacked(4, np.int64))


def layer_traces(model: QModel, batch: Batch, threshold=0.0, predictor: str = "none",
                 reuse_cap: int = 0) -> list[LayerTrace]:
    """Per-step pre-activations and BNN outputs of every layer direction of a run.

    Parameters
    ----------
    model : QModel
    batch : Batch
    threshold, predictor, reuse_cap
        The run, as for :func:`~memornn.golden.intmodel.golden_run` (``threshold`` may
        be a :class:`~memornn.golden.options.RunOptions`). With predictor ``none`` (the
        default) the values are those of the exact integer model.

    Returns
    -------
    list of LayerTrace
        In the order ``l0``, ``l0_reverse``, ``l1``, ...
    """
    collect = _Collector()
    golden_run(model, batch, threshold, predictor, reuse_cap, observer=collect)
    n, t_max = batch.x.shape[:2]
    return [collect.trace(k, d, n, t_max) for k in range(model.num_layers) for d in range(model.directions)]
