"""Choosing a skip policy's settings on validation data: the rule of ``memornn tune`` and of
the benchmark tables.

The rule, in full:

1. **Loss** (points, against the integer model without skipping on the *same* sequences;
   :class:`ValidationSet`):

   - with labels and a classifier head: accuracy points lost on the sequences the
     integer model without skipping classifies correctly (the model's float head on
     each sequence's last output, as :func:`~.metrics.accuracy`). Sequences that
     skipping happens to fix do not offset them: on a validation split of 90
     sequences such lucky gains let settings through that lost 2-5 points on test
     (measured, ``benchmarks/results/eval_policies.md``). This one-sided loss is an
     upper bound of the net accuracy loss, which is reported as ``accuracy_loss``;
   - with a head but no labels: disagreement, the percentage of sequences whose class
     decision differs from the integer model's without skipping;
   - without a head: the relative output error in percent,
     ``100 * sum |h_last - h_last_int| / sum |h_last_int|`` over the last outputs.

2. **Budget**: ``max_loss - margin`` (at least 0). The safety margin covers the gap between
   the loss measured on validation and the loss on unseen data. Its default,
   :data:`DEFAULT_MARGIN` = 0.5 points, comes from split-half validation, never from
   test data (``benchmarks/eval_policies.py``, ``benchmarks/results/eval_policies.md``):
   each policy chosen with no margin on one half of each model's validation split and
   measured on the other gave 44 gaps with median 0.00, mean +1.20, 80th percentile
   +2.22 (one sequence of a 45-sequence JapaneseVowels half), 90th +3.98 and maximum
   +11.11 points. 0.5 covers the median gap and, on the 347-sequence digits validation
   splits, leaves one broken sequence (0.29 points) inside a 1-point budget; on the
   90-sequence JapaneseVowels splits the loss moves in steps of 1.11 points, so any
   margin in (0, 1.11) allows no broken sequence at all and a larger one could not
   help there. The measured price: 5 of the 28 choices lost more than 1 point on test,
   all on JapaneseVowels (its small validation split); none on digits or seqdigits.
   What the margin costs the hybrid: ``benchmarks/results/hybrid_study.md``.

3. **Search** over the policy's parameter space (:data:`POLICY_SPACES`; one value for
   every layer), each parameter's grid ordered from least to most skipping. A setting
   *qualifies* when its loss is within the budget and so is every setting below it
   (no larger in any parameter): a threshold past a failing one is not taken even if
   it happens to pass, since such isolated passes sit at a cliff and do not hold on
   unseen data. Grids of at most :data:`EXHAUSTIVE_MAX` points are searched
   exhaustively; larger ones by a greedy ascent from the least-skipping corner (each
   round tries one grid step up along each parameter and moves to the candidate within
   the budget that gains the most MACs per point of loss it adds, steps that add no
   loss first; it stops when none is within the budget). Spending the budget where it
   buys the most work matters for the hybrid: its column thresholds alone can use up
   the budget and leave nothing for the row stage.

4. **Choice**: among the qualifying settings, the one that skips the most MACs; ties go
   to the smaller parameter values. If none qualifies, there is no choice (``None``).

Selection reads only the validation results: :func:`choose` receives an evaluation
function and nothing else, and :func:`tune` never sees the test data. The held-out
report (:func:`heldout_point`) runs after the choice, on the chosen setting alone.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from ..golden.errors import MemornnError
from ..golden.floatref import apply_head, last_outputs
from ..golden.inputs import Batch
from ..golden.intmodel import golden_run
from ..golden.options import RunOptions

#: Safety margin (points) subtracted from ``--max-loss`` by default; see the module docstring.
DEFAULT_MARGIN = 0.5
#: Grids with at most this many points are searched exhaustively.
EXHAUSTIVE_MAX = 48

#: The BNN / oracle threshold theta (the sweep's historical range).
THETA_GRID = tuple(round(0.05 * i, 2) for i in range(13)) + tuple(round(0.7 + 0.1 * i, 1) for i in range(14))


@dataclass(frozen=True)
class Param:
    """One parameter of a policy: its settings-file key and its grid, least skipping first."""

    name: str
    grid: tuple


#: Delta column thresholds, int8 units.
DELTA_GRID = (0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32)
#: The sign predictor's absolute threshold tau, gate-output units.
TAU_GRID = (0.0, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3)
#: The hybrid's coarser grids (each run costs 3-6 times delta's): column thresholds and tau.
HYBRID_DELTA_GRID = (0, 1, 2, 3, 4, 6, 8, 12, 16, 24)
HYBRID_TAU_GRID = (0.0, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256)
#: The hybrid's reuse cap K: fixed, it sizes the hardware's snapshot memory (K + 1 copies).
HYBRID_CAP = 4

#: The parameter space of each policy (``none`` has none); keys are
#: :class:`~memornn.golden.options.RunOptions` fields, and parameters not listed keep
#: their defaults (``reuse_cap`` 0 for bnn, oracle and sign; the default ``row_weights``).
POLICY_SPACES: dict[str, tuple[Param, ...]] = {
    "none": (),
    "bnn": (Param("threshold", THETA_GRID),),
    "oracle": (Param("threshold", THETA_GRID),),
    "delta": (Param("delta_x", DELTA_GRID), Param("delta_h", DELTA_GRID)),
    "sign": (Param("threshold", TAU_GRID),),
    "hybrid": (Param("delta_x", HYBRID_DELTA_GRID), Param("delta_h", HYBRID_DELTA_GRID),
               Param("threshold", HYBRID_TAU_GRID), Param("reuse_cap", (HYBRID_CAP,))),
}

LOSS_KINDS = ("accuracy", "agreement", "output")


def check_policy(predictor: str) -> tuple[Param, ...]:
    """The parameter space of ``predictor``, or a one-line error naming it."""
    if predictor not in POLICY_SPACES:
        raise MemornnError(f"unknown predictor {predictor!r} for tune (choose from {', '.join(POLICY_SPACES)})")
    return POLICY_SPACES[predictor]


def check_max_loss(value) -> float:
    """``--max-loss``: a finite number of points in [0, 100]."""
    try:
        loss = float(value)
    except (TypeError, ValueError):
        raise MemornnError(f"--max-loss {value!r} is not a number") from None
    if not np.isfinite(loss) or not 0 <= loss <= 100:
        raise MemornnError(f"--max-loss {value!r} must be between 0 and 100 points")
    return loss


def run_options(predictor: str, setting: dict) -> RunOptions:
    """The checked run options of a setting (a one-line error for a value out of range)."""
    return RunOptions.parse(predictor, **setting)


def run_policy(qmodel, batch: Batch, predictor: str, setting: dict) -> dict:
    """The golden model's key table for one policy setting (the only call into the golden model)."""
    return golden_run(qmodel, batch, run_options(predictor, setting))


@dataclass
class Outcome:
    """Per-sequence results of one setting on one batch."""

    good: np.ndarray  # bool (N,): correct / agreeing (accuracy, agreement); unused for output
    error: np.ndarray  # float (N,): sum |h_last - h_last_int| per sequence (output loss)
    macs: np.ndarray
    skipped: np.ndarray


class ValidationSet:
    """A batch, its optional labels, and the integer model's baseline on it.

    Parameters
    ----------
    qmodel : QModel
    batch : Batch
    labels : ndarray of int, optional
    kind : {"accuracy", "agreement", "output"}, optional
        The loss (module docstring); by default ``accuracy`` with labels and a head,
        ``agreement`` with a head only, ``output`` without a head.

    Raises
    ------
    MemornnError
        If ``kind`` needs labels or a head the data or model lack, or labels do not fit.
    """

    def __init__(self, qmodel, batch: Batch, labels=None, kind: str | None = None):
        has_head = qmodel.head_weight is not None
        kind = kind or ("accuracy" if labels is not None and has_head else "agreement" if has_head else "output")
        if kind not in LOSS_KINDS:
            raise MemornnError(f"unknown loss {kind!r} (choose from {', '.join(LOSS_KINDS)})")
        if kind == "accuracy" and labels is None:
            raise MemornnError("the validation set has no labels ('y'): an accuracy loss needs them")
        if kind in ("accuracy", "agreement") and not has_head:
            raise MemornnError(f"the model has no classifier head: the {kind} loss needs one")
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (batch.size,) or labels.dtype.kind not in "iu":
                raise MemornnError(f"labels 'y' must be {batch.size} integers, got {labels.dtype} of shape "
                                   f"{labels.shape}")
            if has_head and (labels.min() < 0 or labels.max() >= qmodel.head_weight.shape[0]):
                raise MemornnError(f"labels 'y' must be in [0, {qmodel.head_weight.shape[0] - 1}], got "
                                   f"{labels.min()}..{labels.max()}")
        self.qmodel, self.batch, self.labels, self.kind = qmodel, batch, labels, kind
        self._last_int = last_outputs(golden_run(qmodel, batch, 0.0, "none")["h"], batch.lengths)
        self._decision_int = self._decisions(self._last_int) if has_head else None
        self._cache: dict = {}

    def _decisions(self, last: np.ndarray) -> np.ndarray:
        return apply_head(self.qmodel, last).argmax(axis=1)

    def _outcome(self, result: dict) -> Outcome:
        last = last_outputs(result["h"], self.batch.lengths)
        if self.kind == "accuracy":
            good = self._decisions(last) == self.labels
        elif self.kind == "agreement":
            good = self._decisions(last) == self._decision_int
        else:
            good = np.ones(self.batch.size, bool)
        return Outcome(good, np.abs(last - self._last_int).sum(axis=1), result["macs"], result["macs_skipped"])

    def outcome(self, predictor: str, setting: dict) -> Outcome:
        """The per-sequence outcome of a setting (each setting runs once, then is cached)."""
        key = (predictor, tuple(sorted(setting.items())))
        if key not in self._cache:
            self._cache[key] = self._outcome(run_policy(self.qmodel, self.batch, predictor, setting))
        return self._cache[key]

    def baseline_good(self) -> np.ndarray:
        """Per sequence, whether the integer model without skipping is correct (agreement: all True)."""
        return self.outcome("none", {}).good

    def point(self, predictor: str, setting: dict, subset: np.ndarray | None = None) -> dict:
        """Loss (points) and MACs skipped (%) of a setting, on all sequences or a boolean subset."""
        out = self.outcome(predictor, setting)
        sel = np.ones(self.batch.size, bool) if subset is None else subset
        extra = {}
        if self.kind == "output":
            loss = 100.0 * out.error[sel].sum() / max(np.abs(self._last_int[sel]).sum(), 1e-30)
        else:
            base = self.baseline_good()[sel]
            loss = 100.0 * float((base & ~out.good[sel]).mean())  # decisions broken; gains do not offset them
            if self.kind == "accuracy":
                extra["accuracy_loss"] = 100.0 * float(base.mean() - out.good[sel].mean())
        skipped, total = int(out.skipped[sel].sum()), int(out.skipped[sel].sum() + out.macs[sel].sum())
        return {"setting": dict(setting), "loss": float(loss), **extra,
                "macs_skipped": 100.0 * skipped / total if total else 0.0}


def _better(a: dict, b: dict | None, space: tuple[Param, ...]) -> bool:
    """``a`` skips more MACs than ``b`` (ties: smaller parameter values win)."""
    if b is None:
        return True
    if a["macs_skipped"] != b["macs_skipped"]:
        return a["macs_skipped"] > b["macs_skipped"]
    key = [p.grid.index(a["setting"][p.name]) for p in space]
    return key < [p.grid.index(b["setting"][p.name]) for p in space]


def _grid_size(space: tuple[Param, ...]) -> int:
    return int(np.prod([len(p.grid) for p in space])) if space else 1


def _exhaustive(evaluate, space, budget):
    """Every grid point; a point qualifies when it and every point below it (no larger
    index in any parameter) are within the budget."""
    points, best, ok = [], None, {}
    for idx in itertools.product(*(range(len(p.grid)) for p in space)):
        point = evaluate({p.name: p.grid[i] for p, i in zip(space, idx)})
        points.append(point)
        below = (idx[:k] + (idx[k] - 1,) + idx[k + 1:] for k in range(len(idx)) if idx[k])
        ok[idx] = point["loss"] <= budget + 1e-9 and all(ok[b] for b in below)
        if ok[idx] and _better(point, best, space):
            best = point
    return best, points


#: Loss increase (points) below which a greedy step counts as free.
_FREE_LOSS = 1e-3


def _gain(point: dict, current: dict) -> float:
    """MACs gained per point of loss spent (free steps: per :data:`_FREE_LOSS`)."""
    return (point["macs_skipped"] - current["macs_skipped"]) / max(point["loss"] - current["loss"], _FREE_LOSS)


def _greedy(evaluate, space, budget):
    """Ascent from the least-skipping corner, one grid step along one parameter a round: to
    the step within the budget that gains the most MACs per point of loss it spends."""
    index = [0] * len(space)
    first = evaluate({p.name: p.grid[0] for p in space})
    points = [first]
    best = current = first if first["loss"] <= budget + 1e-9 else None
    while current is not None:
        move = None
        for k, param in enumerate(space):
            if index[k] + 1 < len(param.grid):
                idx = index[:k] + [index[k] + 1] + index[k + 1:]
                point = evaluate({p.name: p.grid[i] for p, i in zip(space, idx)})
                points.append(point)
                if point["loss"] <= budget + 1e-9 and (move is None or _gain(point, current) > move[2]):
                    move = (idx, point, _gain(point, current))
        if move is None:
            break
        index, current = move[0], move[1]
        if _better(current, best, space):
            best = current
    return best, points


def choose(evaluate, space: tuple[Param, ...], budget: float) -> tuple[dict | None, list[dict]]:
    """Steps 3 and 4 of the rule: the chosen point and every evaluated point.

    Parameters
    ----------
    evaluate : callable
        ``setting -> {"setting", "loss", "macs_skipped"}`` on the validation data (the
        only data the choice sees).
    space : tuple of Param
    budget : float
        Largest admissible loss, points.

    Returns
    -------
    best : dict or None
        The chosen point (None: no setting within the budget).
    points : list of dict
        Every evaluated point, in evaluation order.
    """
    if not space:
        point = evaluate({})
        return (point if point["loss"] <= budget + 1e-9 else None), [point]
    if _grid_size(space) <= EXHAUSTIVE_MAX:
        return _exhaustive(evaluate, space, budget)
    return _greedy(evaluate, space, budget)


@dataclass
class TuneResult:
    """What :func:`tune` chose and why."""

    predictor: str
    max_loss: float
    margin: float
    kind: str
    best: dict | None
    points: list = field(default_factory=list)

    @property
    def budget(self) -> float:
        return max(self.max_loss - self.margin, 0.0)


def tune(val: ValidationSet, predictor: str, max_loss: float, margin: float = DEFAULT_MARGIN,
         subset: np.ndarray | None = None) -> TuneResult:
    """Choose ``predictor``'s setting on the validation set (the rule of the module docstring).

    Parameters
    ----------
    val : ValidationSet
    predictor : str
        A key of :data:`POLICY_SPACES`.
    max_loss : float
        Points.
    margin : float
        Safety margin, points (>= 0).
    subset : ndarray of bool, optional
        Choose on these validation sequences only (the split-half margin study).

    Returns
    -------
    TuneResult
    """
    space = check_policy(predictor)
    max_loss = check_max_loss(max_loss)
    if not np.isfinite(margin) or margin < 0:
        raise MemornnError(f"margin {margin!r} must be a non-negative number of points")
    result = TuneResult(predictor, max_loss, float(margin), val.kind, None)
    result.best, result.points = choose(lambda s: val.point(predictor, s, subset), space, result.budget)
    return result


def heldout_point(qmodel, batch: Batch, labels, predictor: str, setting: dict, kind: str | None = None) -> dict:
    """The held-out report: loss and MACs skipped of one chosen setting on data the choice never saw."""
    return ValidationSet(qmodel, batch, labels, kind).point(predictor, setting)
