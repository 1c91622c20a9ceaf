"""``memornn simulate --simulator icarus|verilator-cocotb``: the AXI top in an HDL simulator through cocotb.

The design is generated with the trace stream and all memories zero, and the model is
loaded through the AXI4-Lite load port, so one build serves every model of a shape (and
is cached: the second run of a shape starts at once). It runs in the ``memornn_tb``
wrapper (:mod:`~memornn.sim.rtl.wrapper`) with the streams at full speed: sequences back
to back, outputs and trace always accepted, as the amaranth back end does, so the
``cycles`` counters agree. Verilator compiles the model with optimization (a slower first
build, a faster run), except for wave runs.

Waveforms: the format follows the file name, ``.vcd`` or ``.fst``; any other name gets
FST from Verilator and VCD from Icarus. Verilator's FST writer needs the lz4 headers.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ...golden.errors import MemornnError
from ...golden.inputs import Batch
from ...golden.qmodel import QModel
from ...hw.config import HwConfig
from .build import build, run
from .design import prepare_design, rtl_layout
from .job import Job, layout_info, make_run, observed_table, timeout_cycles

FULL_SPEED = {"in": 0.0, "out": 0.0, "trace": 0.0}
DEFAULT_WAVES = {"icarus": "vcd", "verilator": "fst"}


def wave_format(simulator: str, path: str | None) -> str | None:
    """The wave format for ``path`` (``None``: no waves)."""
    if path is None:
        return None
    suffix = Path(path).suffix.lower().lstrip(".")
    return suffix if suffix in ("vcd", "fst") else DEFAULT_WAVES[simulator]


def run_rtl(simulator: str, model: QModel, batch: Batch, config: HwConfig = HwConfig(), threshold=0.0,
            predictor: str = "bnn", reuse_cap: int = 0, waves: str | None = None,
            extra_counters: bool = False) -> dict:
    """Simulate the accelerator on ``batch``; returns the golden key table plus ``cycles``.

    Parameters
    ----------
    simulator : {"icarus", "verilator"}
    model : QModel
    batch : Batch
        Float sequences, quantized with the model's input scales.
    config : HwConfig
    threshold, predictor, reuse_cap
        As :func:`memornn.golden.intmodel.golden_run` (predictor ``bnn`` or ``none``).
    waves : str, optional
        Write a waveform of the whole run to this file.
    extra_counters : bool
        Also return the hardware-only counters (``mac_busy_cycles``).

    Raises
    ------
    MemornnError
        On a model the configuration cannot hold, a sequence longer than
        ``max_seq_len``, a missing simulator, a failed build, or a simulation that did
        not complete.
    """
    layout = rtl_layout(model, config)
    formats = wave_format(simulator, waves)
    design = prepare_design(layout, config, wrapper=True)
    # Optimized C++ for speed; a wave run is for debugging, so it favours a quick build.
    build_ = build(design, simulator, waves=formats, optimize=formats is None)
    run_, _ = make_run(layout, model, batch, threshold, predictor, reuse_cap, load=True, back_to_back=True,
                       expect=False)
    job = Job(layout_info(layout), 1, dict(FULL_SPEED), [run_],
              {"timeout_cycles": timeout_cycles(layout, [run_], FULL_SPEED)})
    with tempfile.TemporaryDirectory(prefix="memornn-rtl-") as tmp:
        job_path = job.save(Path(tmp) / "job.json")
        result = run(build_, job_path, Path(tmp) / "obs.json", "stream_job", seed=1, waves=formats is not None)
        if not result.passed:
            raise MemornnError(f"the {simulator} simulation failed: {result.failure()}")
        if formats is not None:
            if result.waves is None or not result.waves.is_file():
                raise MemornnError(f"{simulator} wrote no waveform")
            try:
                shutil.copyfile(result.waves, waves)
            except OSError as exc:
                raise MemornnError(f"cannot write the waveform to {waves!r}: {exc.strerror}") from None
    return observed_table(layout, run_, result.observations["runs"][0], extra_counters)
