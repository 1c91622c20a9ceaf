"""The verdict on one simulator run: its observations against the golden model."""

from __future__ import annotations

from ...golden.errors import MemornnError
from ...hw.layout import Layout
from ..compare import first_mismatch
from .build import RunResult
from .job import Job, observed_table, register_mismatch


def verdict(layout: Layout, job: Job, result: RunResult, goldens: list) -> str | None:
    """Describe the first way the run went wrong, or ``None`` when it is bit-exact.

    Parameters
    ----------
    layout : Layout
    job : Job
        The job that ran.
    result : RunResult
        From :func:`memornn.sim.rtl.build.run`.
    goldens : list of dict or None
        The golden key table of each run of the job (``None``: not compared, for
        example the aborted sequences of a reset test).

    The observed runs are compared with :func:`memornn.sim.compare.first_mismatch`
    (outputs, every reuse bit, every golden counter), the counter registers with the
    trace's counter words; then the testbench's own verdict (its scoreboard, timeouts,
    protocol checks) is reported.
    """
    runs = result.observations.get("runs", [])
    for index, (run, golden) in enumerate(zip(job.runs, goldens)):
        if golden is None or index >= len(runs):
            continue
        try:
            table = observed_table(layout, run, runs[index])
        except MemornnError as exc:
            return f"run {index}: {exc}"
        mismatch = first_mismatch(golden, table)
        if mismatch:
            return f"run {index}: {mismatch}"
        registers = register_mismatch(runs[index], layout.skip)
        if registers:
            return f"run {index}: {registers}"
    if not result.passed:
        return result.failure()
    if len(runs) < sum(1 for g in goldens if g is not None):
        return f"the testbench observed {len(runs)} runs of {len(job.runs)}"
    return None
