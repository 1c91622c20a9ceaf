"""One entry point for every simulator back end."""

from __future__ import annotations

from ..golden.errors import MemornnError
from ..golden.inputs import Batch
from ..golden.qmodel import QModel
from ..hw.config import HwConfig

BACKENDS = ("amaranth", "icarus", "verilator")


def run_simulation(simulator: str, model: QModel, batch: Batch, config: HwConfig, threshold, predictor: str,
                   reuse_cap: int, waves: str | None = None) -> dict:
    """Simulate the accelerator on ``batch`` with ``simulator``; returns the key table plus ``cycles``.

    ``amaranth`` runs the core in amaranth.sim (VCD waves); ``icarus`` and ``verilator``
    run the AXI top level's Verilog through cocotb (:mod:`memornn.sim.rtl.backend`).
    """
    if simulator == "amaranth":
        from .amaranth_backend import run_amaranth

        return run_amaranth(model, batch, config, threshold, predictor, reuse_cap, vcd=waves)
    if simulator in ("icarus", "verilator"):
        from .rtl.backend import run_rtl  # imports cocotb's runner: only when asked for

        return run_rtl(simulator, model, batch, config, threshold, predictor, reuse_cap, waves)
    raise MemornnError(f"unknown simulator {simulator!r} (choose from {', '.join(BACKENDS)})")
