"""One entry point for every simulator back end."""

from __future__ import annotations

from ..golden.errors import MemornnError
from ..golden.inputs import Batch
from ..golden.qmodel import QModel
from ..hw.config import HwConfig


def run_simulation(simulator: str, model: QModel, batch: Batch, config: HwConfig, threshold, predictor: str,
                   reuse_cap: int, waves: str | None = None) -> dict:
    """Simulate the accelerator on ``batch`` with ``simulator``; returns the key table plus ``cycles``."""
    if simulator == "amaranth":
        from .amaranth_backend import run_amaranth

        return run_amaranth(model, batch, config, threshold, predictor, reuse_cap, vcd=waves)
    raise MemornnError(f"simulator {simulator!r} is not available yet (use amaranth)")
