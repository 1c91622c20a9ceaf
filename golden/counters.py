"""The golden model's counters: names and the row-memoization counts.

Every counter is per sequence, ``(N,)`` int64, summed over layers and directions.
:data:`COUNTERS` are in every result (the hardware has them too); the policies with a
column stage or the sign row predictor (delta, sign, hybrid) add
:data:`POLICY_COUNTERS`. ``macs`` counts the multiply-accumulates really performed and
``macs_skipped`` those of the dense computation that were not: they add up to
``rows * (X + H)`` per step.
"""

from __future__ import annotations

import numpy as np

#: In every result.
COUNTERS = ("neurons_computed", "neurons_reused", "bnn_evals", "macs", "macs_skipped")
#: Added by delta, sign and hybrid.
POLICY_COUNTERS = ("columns_used", "columns_skipped", "acc_updates", "catchup_macs", "predictor_ops")


def row_memo_counters(reused_count: np.ndarray, lengths: np.ndarray, rows: int, columns: int,
                      bnn: bool) -> dict:
    """:data:`COUNTERS` of a layer direction whose rows are computed whole or reused.

    Every running step evaluates every row, computed (``columns`` MACs) or reused
    (none); the bnn predictor evaluates every row every step.
    """
    reused_count = np.asarray(reused_count, np.int64)
    computed = rows * np.asarray(lengths, np.int64) - reused_count
    evals = rows * np.asarray(lengths, np.int64) if bnn else np.zeros(len(lengths), np.int64)
    return {"neurons_computed": computed, "neurons_reused": reused_count, "bnn_evals": evals,
            "macs": computed * columns, "macs_skipped": reused_count * columns}
