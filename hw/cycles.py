"""The analytic cycle model of the accelerator (written into ``manifest.json``).

Counted as the core's ``cycles`` counter counts: from the start of the first layer's
first step to the end of the last layer's last step (input and output streaming
excluded). Exact for predictor ``none``; with memoization the rows phase lies between
the MAC-bound and BNN-bound estimates given by :func:`rows_cycles_memo_estimate`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .bnn import BnnLane
from .cell_shared import cell_unit_class
from .decision import DecisionUnit
from .layout import LayerDesc, Layout
from .mac import MacLanes
from .requant import Requantizer

#: Cycles from a row FIFO write to the row leaving it (SyncFIFOBuffered).
FIFO_LATENCY = 2


@dataclass(frozen=True)
class Latencies:
    """Pipeline latencies of the blocks, read from the blocks themselves."""

    bnn: int
    decision: int
    mac: int
    requant: int
    cell: int
    cell_interval: int = 1
    cell_input_regs: int = 0

    @classmethod
    def of(cls, layout: Layout) -> "Latencies":
        cell = cell_unit_class(layout.cell, layout.datapath)
        return cls(BnnLane.latency_for(layout.bnn_width), DecisionUnit.LATENCY, MacLanes.latency_for(layout.lanes),
                   Requantizer.latency_for(layout.requant_passes), cell.LATENCY, cell.INTERVAL,
                   layout.cell_input_regs)

    @property
    def rows_fill(self) -> int:
        """Cycles of the rows phase that are not MAC issue cycles (pipeline fill and drain)."""
        # issue -> RAM read -> operand register -> lane -> decision -> FIFO -> pop, then
        # after the last MAC word: RAM read, operand register, lane, requantizer, write,
        # done check (registered).
        return (2 + self.bnn + self.decision + FIFO_LATENCY) + (2 + self.mac + self.requant + 3)

    @property
    def cell_fill(self) -> int:
        """Cycles of the cell phase beyond the issue of its hidden units: RAM read, input
        registers, the cell unit, the done check."""
        return 1 + self.cell_input_regs + self.cell + 1

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
    """Input-bits phase: one cycle a word, one of read latency, one of operand register."""
    return desc.x_words + 2


def step_cycles_none(layout: Layout, desc: LayerDesc, lat: Latencies) -> int:
    """Exact cycles of one step of layer direction ``desc`` with predictor none."""
    rows = layout.rows * mac_cycles_per_row(desc) + lat.rows_fill
    return prep_cycles(desc) + rows + lat.cell_cycles(layout.hidden)


def sequence_cycles_none(layout: Layout, length: int) -> int:
    """Exact ``cycles`` counter of a sequence of ``length`` steps with predictor none."""
    lat = Latencies.of(layout)
    return sum(1 + length * step_cycles_none(layout, desc, lat) for desc in layout.layers)


def rows_cycles_memo_estimate(layout: Layout, desc: LayerDesc, computed: int) -> int:
    """Rows-phase estimate with memoization: the busier of the MAC lanes and the BNN lane."""
    lat = Latencies.of(layout)
    return max(computed * mac_cycles_per_row(desc), layout.rows * bnn_cycles_per_row(desc)) + lat.rows_fill


def ideal_step_cycles(layout: Layout, desc: LayerDesc) -> float:
    """The ideal ``G*H*(X+H)/P`` of one step, for comparison."""
    return layout.rows * (desc.in_size + layout.hidden) / layout.lanes
