"""One entry point for every simulator back end."""

from __future__ import annotations

from ..golden.errors import MemornnError
from ..golden.inputs import Batch
from ..golden.qmodel import QModel
from ..hw.config import HwConfig

#: ``verilator`` is the compiled C++ harness; ``verilator-cocotb`` and ``icarus`` run the
#: cocotb testbench (waves, protocol tests); ``amaranth`` runs amaranth.sim.
BACKENDS = ("verilator", "verilator-cocotb", "icarus", "amaranth")


def run_simulation(simulator: str, model: QModel, batch: Batch, config: HwConfig, threshold, predictor: str,
                   reuse_cap: int, waves: str | None = None) -> dict:
    """Simulate the accelerator on ``batch`` with ``simulator``; returns the key table plus ``cycles``.

    ``verilator`` runs the AXI top's Verilog in the compiled harness
    (:mod:`memornn.sim.compiled`, no waves); ``verilator-cocotb`` and ``icarus`` run it
    through cocotb (:mod:`memornn.sim.rtl.backend`); ``amaranth`` runs the core in
    amaranth.sim (VCD waves).
    """
    if simulator == "amaranth":
        from .amaranth_backend import run_amaranth

        return run_amaranth(model, batch, config, threshold, predictor, reuse_cap, vcd=waves)
    if simulator == "verilator":
        if waves is not None:
            raise MemornnError("the compiled verilator harness writes no waves: use --simulator verilator-cocotb "
                               "(FST or VCD) or icarus (VCD)")
        from .compiled.backend import run_compiled

        return run_compiled(model, batch, config, threshold, predictor, reuse_cap)
    if simulator in ("icarus", "verilator-cocotb"):
        from .rtl.backend import run_rtl  # imports cocotb's runner: only when asked for

        return run_rtl(simulator.removesuffix("-cocotb"), model, batch, config, threshold, predictor, reuse_cap, waves)
    raise MemornnError(f"unknown simulator {simulator!r} (choose from {', '.join(BACKENDS)})")
