"""Running programs on a compiled harness, and ``memornn simulate --simulator verilator``.

One harness process runs a whole program: many runs, each possibly a different model of
the design's shape loaded through the load port, so one compile serves them all.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ...golden.errors import MemornnError
from ...golden.inputs import Batch
from ...golden.qmodel import QModel
from ...hw.config import HwConfig
from ..rtl.design import prepare_design, rtl_layout
from ..rtl.job import make_run, observed_table, timeout_cycles
from .build import Harness, compile_harness
from .files import Results, read_results
from .program import Program, build_program, geometry, observations, verdict

FULL_SPEED = {"in": 0.0, "out": 0.0, "trace": 0.0, "axil": 0.0}


@dataclass
class Execution:
    """A harness process started on a program (:func:`start`)."""

    program: Program
    process: subprocess.Popen
    result_path: Path

    def wait(self) -> tuple[Results, float]:
        """Wait for the process; returns the parsed results and its CPU time (user + system)."""
        err = self.process.stderr.read()
        _, status, usage = os.wait4(self.process.pid, 0)
        self.process.returncode = code = os.waitstatus_to_exitcode(status)
        self.process.stderr.close()
        if code != 0:
            raise MemornnError(f"the compiled harness exited with {code}: {err.decode(errors='replace').strip()[-400:]}")
        return read_results(self.result_path, geometry(self.program.layout)), usage.ru_utime + usage.ru_stime


def start(harness: Harness, program: Program, directory: Path, flip_output_beat: int | None = None) -> Execution:
    """Write the program's stimulus into ``directory`` and start the harness on it."""
    directory = Path(directory)
    stim = program.stimulus.save(directory / "stimulus.bin")
    result = directory / "result.bin"
    result.unlink(missing_ok=True)
    cmd = [str(harness.executable), str(stim), str(result)]
    if flip_output_beat is not None:
        cmd += ["--flip-output-beat", str(flip_output_beat)]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return Execution(program, process, result)


def execute(harness: Harness, program: Program, flip_output_beat: int | None = None) -> tuple[Results, float]:
    """Run ``program`` to the end in a temporary directory; returns the results and the
    harness's CPU time."""
    with tempfile.TemporaryDirectory(prefix="memornn-compiled-") as tmp:
        return start(harness, program, Path(tmp), flip_output_beat).wait()


#: Runs longer than this (a generous estimate of their cycles) get the optimized build:
#: at about a million cycles a second, below it the quicker -O0 build wins.
OPTIMIZE_ABOVE_CYCLES = 20_000_000


def run_compiled(model: QModel, batch: Batch, config: HwConfig = HwConfig(), threshold=0.0, predictor: str = "bnn",
                 reuse_cap: int = 0, extra_counters: bool = False, pauses: dict | None = None,
                 seed: int = 1) -> dict:
    """Simulate the accelerator on ``batch`` in the compiled harness; returns the golden key
    table plus ``cycles``.

    The model is loaded through the load port, then the sequences go back to back, at full
    speed by default (``pauses``: seeded random gaps and back-pressure instead).

    Raises
    ------
    MemornnError
        On a model the configuration cannot hold, a sequence longer than
        ``max_seq_len``, a failed build, or a run that did not complete.
    """
    layout = rtl_layout(model, config)
    run_, _ = make_run(layout, model, batch, threshold, predictor, reuse_cap, load=True, back_to_back=True,
                       expect=False)
    design = prepare_design(layout, config)
    optimize = timeout_cycles(layout, [run_], FULL_SPEED) > OPTIMIZE_ABOVE_CYCLES
    harness = compile_harness(design.sources, layout, design.top, optimize=optimize)
    program = build_program(layout, [run_], dict(pauses or FULL_SPEED), seed)
    results, _ = execute(harness, program)
    problem = verdict(program, results, [None])
    if problem:
        raise MemornnError(f"the compiled Verilator run failed: {problem}")
    return observed_table(layout, run_, observations(program, results)[0], extra_counters)
