"""The analytic cycle model of the accelerator (written into ``manifest.json``).

Counted as the core's ``cycles`` counter counts: from the start of the first layer's
first step to the end of the last layer's last step (input and output streaming
excluded). Exact for predictor ``none``; with memoization the rows phase lies between
the MAC-bound and BNN-bound estimates given by :func:`rows_cycles_memo_estimate`. The
delta datapath (``skip = "delta"``) is exact for every step given its number of used
columns (:func:`delta_step_cycles`, :func:`sequence_cycles_delta`), with skipping on or off.
"""

from __future__ import annotations

from dataclasses import dataclass

from .cell_stage import CellStage
from .core import MemoCore
from .delta_rows import DeltaRows
from .layout import LayerDesc, Layout
from .mac_path import MacPath
from .memo_decision import MemoDecision
from .operand_fetch import OperandFetch
from .predictor import PredictorUnit
from .requant_stage import RequantStage
from .sequencer import Sequencer
from .work_queue import WorkQueue


@dataclass(frozen=True)
class Latencies:
    """The fills of the core's stages, read from the stages themselves (``FILL`` /
    ``fill_for``): nothing here restates a pipeline depth."""

    predictor: int
    decision: int
    queue: int
    fetch: int
    mac: int
    requant: int
    rows_end: int
    cell: int
    cell_interval: int
    prep: int
    layer_start: int

    @classmethod
    def of(cls, layout: Layout) -> "Latencies":
        return cls(PredictorUnit.fill_for(layout), MemoDecision.FILL, WorkQueue.FILL, OperandFetch.FILL,
                   MacPath.fill_for(layout), RequantStage.fill_for(layout), MemoCore.ROWS_END,
                   CellStage.fill_for(layout), CellStage.interval_for(layout), PredictorUnit.PREP_FILL,
                   Sequencer.LAYER_FILL)

    @property
    def rows_fill(self) -> int:
        """Cycles of the rows phase that are not MAC issue cycles (pipeline fill and drain):
        the first row through predictor, decision and queue to operand fetch, and after the
        last MAC word operand fetch, MAC path, requantizer and the end of the phase."""
        return (self.predictor + self.decision + self.queue) + (self.fetch + self.mac + self.requant + self.rows_end)

    @property
    def cell_fill(self) -> int:
        """Cycles of the cell phase beyond the issue of its hidden units."""
        return self.cell

    def cell_cycles(self, hidden: int) -> int:
        """The cell phase: a hidden unit every ``cell_interval`` cycles, then the fill."""
        return self.cell_interval * (hidden - 1) + 1 + self.cell_fill


def mac_cycles_per_row(desc: LayerDesc) -> int:
    """MAC issue cycles of one computed row: its x words, then its h words."""
    return desc.row_words


def bnn_cycles_per_row(desc: LayerDesc) -> int:
    """BNN cycles of one row: its x sign words, then its h sign words."""
    return desc.row_bit_words


def prep_cycles(desc: LayerDesc) -> int:
    """Input-bits phase: one cycle a word, then the predictor's prep fill."""
    return desc.x_words + PredictorUnit.PREP_FILL


def step_cycles_none(layout: Layout, desc: LayerDesc, lat: Latencies) -> int:
    """Exact cycles of one step of layer direction ``desc`` with predictor none."""
    rows = layout.rows * mac_cycles_per_row(desc) + lat.rows_fill
    return prep_cycles(desc) + rows + lat.cell_cycles(layout.hidden)


def sequence_cycles_none(layout: Layout, length: int) -> int:
    """Exact ``cycles`` counter of a sequence of ``length`` steps with predictor none."""
    lat = Latencies.of(layout)
    return sum(lat.layer_start + length * step_cycles_none(layout, desc, lat) for desc in layout.layers)


def rows_cycles_memo_estimate(layout: Layout, desc: LayerDesc, computed: int) -> int:
    """Rows-phase estimate with memoization: the busier of the MAC lanes and the BNN lane."""
    lat = Latencies.of(layout)
    return max(computed * mac_cycles_per_row(desc), layout.rows * bnn_cycles_per_row(desc)) + lat.rows_fill


def ideal_step_cycles(layout: Layout, desc: LayerDesc) -> float:
    """The ideal ``G*H*(X+H)/P`` of one step, for comparison."""
    return layout.rows * (desc.in_size + layout.hidden) / layout.lanes


def delta_rows_cycles(layout: Layout, used: int, step0: bool, lat: Latencies) -> int:
    """Exact rows-phase cycles of a delta step with ``used`` columns in the list: every
    row group issues ``max(columns, results)`` beats (``columns`` at least 1), the last
    one its columns only, then its results, the requantizer and the drain; no walk after
    step 0 without a used column."""
    if used == 0 and not step0:
        return DeltaRows.IDLE_ROWS
    columns = max(used, 1)
    results = [DeltaRows.group_results(layout, g) for g in range(layout.groups)]
    issue = sum(max(columns, r) for r in results[:-1]) + columns
    return issue + results[-1] + DeltaRows.WALK_DRAIN + lat.requant


def delta_step_cycles(layout: Layout, desc: LayerDesc, used: int, step0: bool, lat: Latencies) -> int:
    """Exact cycles of one delta step of ``desc`` with ``used`` columns: detection (a column
    a cycle), the walk, the cell phase."""
    columns = desc.in_size + layout.hidden
    return columns + DeltaRows.DETECT_FILL + delta_rows_cycles(layout, used, step0, lat) + lat.cell_cycles(
        layout.hidden)


def sequence_cycles_delta(layout: Layout, used: list) -> int:
    """Exact ``cycles`` counter of a delta sequence: ``used[ld][s]`` is the number of used
    columns of layer direction ``ld`` at its ``s``-th step in processing order."""
    lat = Latencies.of(layout)
    return sum(lat.layer_start + sum(delta_step_cycles(layout, d, int(u), s == 0, lat) for s, u in enumerate(steps))
               for d, steps in zip(layout.layers, used))


def sequence_cycles_delta_dense(layout: Layout, length: int) -> int:
    """Exact ``cycles`` counter of a delta build's sequence of ``length`` steps when every
    column is used every step (CTRL.PREDICTOR = 0)."""
    lat = Latencies.of(layout)
    return sum(lat.layer_start + length * delta_step_cycles(layout, d, d.in_size + layout.hidden, False, lat)
               for d in layout.layers)
