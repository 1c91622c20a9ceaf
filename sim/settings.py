"""A run's register settings (CTRL.PREDICTOR, THETA<k>, REUSE_CAP) from its skip policy.

Every simulator back end programs the hardware through :func:`register_settings`, so the
policy a build can run and the register encoding (``hw/contract.py``) are checked in one
place.
"""

from __future__ import annotations

from ..golden.errors import MemornnError
from ..golden.intmodel import check_reuse_cap, parse_thresholds
from ..golden.options import RunOptions
from ..hw import contract

#: The policies each datapath (``skip``) runs.
HARDWARE_POLICIES = {"memo": ("bnn", "none"), "delta": ("delta", "none")}


def register_settings(layout, num_layers: int, threshold, predictor: str, reuse_cap) -> tuple[list[int], int, bool]:
    """``(THETA<k> words, REUSE_CAP, CTRL.PREDICTOR)`` of a run on a build with ``layout``.

    ``threshold`` is a :class:`~memornn.golden.options.RunOptions` (every policy; then
    ``predictor`` and ``reuse_cap`` are not read) or, for bnn and none, the relative
    threshold(s) as :func:`memornn.golden.intmodel.golden_run` takes them.

    Raises
    ------
    MemornnError
        If the build's datapath does not run the policy.
    """
    supported = HARDWARE_POLICIES[layout.skip]
    if isinstance(threshold, RunOptions):
        predictor = threshold.predictor
    if predictor not in supported:
        raise MemornnError(f"a skip = {layout.skip!r} build runs predictors {' and '.join(supported)}, not "
                           f"{predictor!r}")
    if not isinstance(threshold, RunOptions):
        if predictor == "delta":
            raise MemornnError("predictor 'delta' needs its run options (delta_x, delta_h): pass a RunOptions")
        return parse_thresholds(threshold, num_layers), check_reuse_cap(reuse_cap), predictor != "none"
    words = [lp.theta_q | lp.delta_x << contract.DELTA_X_SHIFT | lp.delta_h << contract.DELTA_H_SHIFT
             for lp in threshold.for_model(num_layers)]
    return words, check_reuse_cap(threshold.reuse_cap or 0), predictor != "none"
