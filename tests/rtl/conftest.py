"""A summary of the RTL runs at the end of the session: builds, sequences, cycles, time, and
the functional coverage of the compiled harness's volume runs."""

from rtl_testlib import STATS, VOLUME_REPORTS


def pytest_terminal_summary(terminalreporter):
    for report, path in VOLUME_REPORTS:
        terminalreporter.section("compiled Verilator: differential cases and functional coverage")
        seconds = ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items())
        terminalreporter.write_line(f"{report.cases} cases, {report.sequences} sequences, {report.cycles:,} cycles, "
                                    f"{len(report.mismatches)} mismatching chunks ({seconds}); written to {path}")
        for line in report.table().splitlines():
            terminalreporter.write_line(line)
    if not STATS:
        return
    write = terminalreporter.write_line
    terminalreporter.section("RTL simulation summary")
    for simulator in sorted({s["simulator"] for s in STATS}):
        runs = [s for s in STATS if s["simulator"] == simulator]
        per_design = {}
        for s in runs:  # several runs may share one build: count it once
            per_design[s["design"]] = max(per_design.get(s["design"], 0.0), s["build_seconds"])
        builds = [seconds for seconds in per_design.values() if seconds > 0]
        designs = len({s["design"] for s in runs})
        cycles = sum(s["cycles"] for s in runs)
        run_seconds = sum(s["run_seconds"] for s in runs)
        built = (f"{len(builds)} built now in {sum(builds):.1f} s ({min(builds):.1f}-{max(builds):.1f} s each)"
                 if builds else "all builds cached")
        write(f"{simulator}: {len(runs)} runs on {designs} designs ({built}); "
              f"{sum(s['sequences'] for s in runs)} sequences checked; {cycles:,} cycles in {run_seconds:.1f} s "
              f"of simulator processes ({cycles / max(run_seconds, 1e-9):,.0f} cycles/s)")
