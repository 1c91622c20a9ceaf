"""Differential testing at volume: thousands of random cases in the compiled harness, and
the functional coverage of what they hit.

A *case* is one run on the hardware: a model (fresh random weights loaded through the
load port, the design's initial memory contents, or the previous case's model kept),
per-layer thresholds, predictor, reuse cap, 1 to 3 random sequences (back to back, or
one at a time with the counter registers read after each), and stream throttling (full
speed or seeded random gaps and back-pressure). Each is checked bit for bit against the
golden model: outputs, every reuse bit, every counter, the counter registers.

The configurations are the few compiled designs of :data:`DESIGNS`, chosen so that
together they fill every configuration bin; the run-time bins are drawn class first
(then a value inside the class), so every bin fills in a few hundred cases. Cases are
made (random models, golden runs) in worker processes while the designs compile; each
chunk of cases then runs in one harness process.
"""

from __future__ import annotations

import json
import multiprocessing
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ...golden.inputs import make_batch
from ...hw.config import HwConfig
from ...hw.layout import memory_images
from ..randmodel import random_qmodel
from ..rtl.design import cache_root, prepare_design, rtl_layout
from ..rtl.job import make_run
from .backend import start
from .build import compile_harness
from .program import build_program, verdict


@dataclass(frozen=True)
class DesignSpec:
    """One compiled design of the volume run: a model shape and a hardware configuration."""

    name: str
    shape: dict
    config: HwConfig

    @property
    def initialized(self) -> bool:
        return self.config.weight_memory == "initialized"


def _spec(name, cell, layers, bidirectional, x, h, segments, **config) -> DesignSpec:
    shape = {"cell": cell, "num_layers": layers, "bidirectional": bidirectional, "input_size": x, "hidden_size": h,
             "pwl_segments": segments}
    return DesignSpec(name, shape, HwConfig(trace=True, **config))


#: Together: both cells, 1 and 2 layers, one and two directions, a P and a B in every
#: class, both datapaths (the GRU's two-pass requantizer included: X, H > P), both
#: weight memories; FIFO depths and counter widths vary too.
DESIGNS = (
    _spec("lstm1-P1-B1", "lstm", 1, False, 7, 9, 16, mac_lanes=1, bnn_width=1, max_seq_len=12, row_fifo_depth=2,
          counter_bits=32, datapath="parallel", weight_memory="initialized"),
    _spec("gru2bi-P3-B5", "gru", 2, True, 5, 6, 8, mac_lanes=3, bnn_width=5, max_seq_len=10, row_fifo_depth=3,
          counter_bits=40, datapath="shared", weight_memory="loaded"),
    _spec("lstm2bi-P8-B64", "lstm", 2, True, 12, 10, 32, mac_lanes=8, bnn_width=64, max_seq_len=9,
          row_fifo_depth=8, counter_bits=64, datapath="shared", weight_memory="initialized"),
    _spec("gru1-P16-B128", "gru", 1, False, 20, 24, 64, mac_lanes=16, bnn_width=128, max_seq_len=12,
          row_fifo_depth=16, counter_bits=48, datapath="parallel", weight_memory="loaded"),
)

#: (bin, low, high) of the drawn run-time values; the low end of (0, 0.3) is 1/256 (one Q8.8 step).
THRESHOLD_CLASSES = (("0", 0.0, 0.0), ("(0, 0.3)", 1 / 256, 0.3), ("[0.3, 1.5)", 0.3, 1.5), ("[1.5, 8]", 1.5, 8.0))
REUSE_CAP_CLASSES = (("0 (no cap)", 0, 0), ("1", 1, 1), ("2-4", 2, 4), ("5-255", 5, 255))
LENGTH_CLASSES = ("1", "2-4", "5 to max-1", "max_seq_len")
LANE_CLASSES = (("1", 1, 1), ("2-7", 2, 7), ("8-15", 8, 15), ("16-64", 16, 64))
BNN_CLASSES = (("1", 1, 1), ("2-16", 2, 16), ("17-64", 17, 64), ("65-1024", 65, 1024))
THROTTLED = {"in": (0.05, 0.6), "out": (0.05, 0.6), "trace": (0.0, 0.5), "axil": (0.0, 0.5)}

#: Every bin of every dimension: a coverage table with an empty bin fails.
BINS = {
    "cell": ("lstm", "gru"), "layers": ("1", "2"), "directions": ("1", "2"),
    "P (MAC lanes)": tuple(b for b, _, _ in LANE_CLASSES), "B (BNN width)": tuple(b for b, _, _ in BNN_CLASSES),
    "datapath": ("parallel", "shared"), "weight memory": ("initialized", "loaded"),
    "weights": ("initial contents", "loaded at run time", "kept from the case before"),
    "predictor": ("none", "bnn"), "threshold class": tuple(b for b, _, _ in THRESHOLD_CLASSES),
    "reuse cap": tuple(b for b, _, _ in REUSE_CAP_CLASSES), "sequence-length class": LENGTH_CLASSES,
    "streams": ("full speed", "throttled"), "sequences": ("back to back", "one at a time"),
}


def _class_of(value: int, classes) -> str:
    return next(name for name, low, high in classes if low <= value <= high)


def design_bins(spec: DesignSpec) -> dict:
    """The configuration bins a design hits."""
    c = spec.config
    return {"cell": spec.shape["cell"], "layers": str(spec.shape["num_layers"]),
            "directions": str(2 if spec.shape["bidirectional"] else 1),
            "P (MAC lanes)": _class_of(c.mac_lanes, LANE_CLASSES), "B (BNN width)": _class_of(c.bnn_width, BNN_CLASSES),
            "datapath": c.datapath, "weight memory": c.weight_memory}


@lru_cache(maxsize=None)
def initial_model(index: int):
    """The model whose weights an ``initialized`` design holds from the start (fixed seed),
    and the design's layout."""
    spec = DESIGNS[index]
    model = random_qmodel(spec.shape, np.random.default_rng(1000 + index))
    return model, rtl_layout(model, spec.config)


def _length(rng, cls: str, max_len: int) -> int:
    low, high = {"1": (1, 1), "2-4": (2, 4), "5 to max-1": (5, max_len - 1), "max_seq_len": (max_len, max_len)}[cls]
    return int(rng.integers(low, high + 1))


def _draw_settings(rng, layers: int, hits: dict) -> dict:
    """Thresholds, predictor and reuse cap, each class drawn first."""
    predictor = "none" if rng.random() < 0.2 else "bnn"
    thresholds = []
    for _ in range(layers):
        name, low, high = THRESHOLD_CLASSES[rng.integers(len(THRESHOLD_CLASSES))]
        thresholds.append(float(rng.uniform(low, high)) if high else 0.0)
        if predictor == "bnn":  # thresholds and cap only matter with the predictor
            hits["threshold class"].append(name)
    cap_name, low, high = REUSE_CAP_CLASSES[0 if rng.random() < 0.4 else rng.integers(1, len(REUSE_CAP_CLASSES))]
    if predictor == "bnn":
        hits["reuse cap"].append(cap_name)
    hits["predictor"].append(predictor)
    return {"threshold": thresholds, "predictor": predictor, "reuse_cap": int(rng.integers(low, high + 1))}


def _draw_batch(rng, input_size: int, max_len: int, hits: dict):
    count = int(rng.integers(1, 4))
    classes = [LENGTH_CLASSES[rng.integers(len(LENGTH_CLASSES))] for _ in range(count)]
    lengths = np.array([_length(rng, c, max_len) for c in classes])
    hits["sequence-length class"] += classes
    steps = int(lengths.max())
    x = rng.normal(size=(count, steps, input_size))
    smooth = float(rng.uniform(0, 0.97))
    for t in range(1, steps):  # correlated steps, as real signals: something to memoize
        x[:, t] = smooth * x[:, t - 1] + np.sqrt(1 - smooth**2) * x[:, t]
    return make_batch(x, lengths)


def _draw_pauses(rng, hits: dict) -> dict:
    if rng.random() < 0.3:
        hits["streams"].append("full speed")
        return {}
    hits["streams"].append("throttled")
    return {k: float(rng.uniform(low, high)) for k, (low, high) in THROTTLED.items()}


@dataclass
class Chunk:
    """Cases of one design for one harness process."""

    design: int
    seed: int
    program: object = None
    goldens: list = field(default_factory=list)
    hits: list = field(default_factory=list)  # per case: {dimension: [bins]}
    sequences: int = 0
    cpu_seconds: float = 0.0  # making the cases (random models, golden runs)


def make_chunk(design: int, count: int, seed: int) -> Chunk:
    """``count`` random cases on design ``design`` (the first on an ``initialized`` design
    runs the initial contents), as one program, with their golden tables and bins."""
    spec = DESIGNS[design]
    model, layout = initial_model(design)
    cpu = time.process_time()
    rng = np.random.default_rng(seed)
    chunk = Chunk(design, seed)
    runs, pauses = [], []
    for case in range(count):
        hits = {dim: [] for dim in BINS}
        if case == 0 and spec.initialized:
            load, hits["weights"] = False, ["initial contents"]
        elif case == 0 or rng.random() < 0.7:
            model, load, hits["weights"] = random_qmodel(spec.shape, rng), True, ["loaded at run time"]
        else:
            load, hits["weights"] = False, ["kept from the case before"]
        settings = _draw_settings(rng, spec.shape["num_layers"], hits)
        batch = _draw_batch(rng, spec.shape["input_size"], spec.config.max_seq_len, hits)
        back_to_back = bool(rng.random() < 0.5)
        hits["sequences"].append("back to back" if back_to_back else "one at a time")
        pauses.append(_draw_pauses(rng, hits))
        run, golden = make_run(layout, model, batch, settings["threshold"], settings["predictor"],
                               settings["reuse_cap"], load=load, back_to_back=back_to_back)
        runs.append(run)
        chunk.goldens.append(golden)
        chunk.hits.append({**{k: [v] for k, v in design_bins(spec).items()}, **{k: v for k, v in hits.items() if v}})
        chunk.sequences += batch.size
    chunk.program = build_program(layout, runs, {}, seed, run_pauses=pauses)
    chunk.cpu_seconds = time.process_time() - cpu
    return chunk


@dataclass
class VolumeReport:
    """What a volume run checked and found.

    Attributes
    ----------
    cases, sequences, cycles : int
    mismatches : list of str
        One line per chunk that was not bit-exact (design, seed, first difference).
    coverage : Counter
        Cases per ``(dimension, bin)``.
    seconds : dict
        ``total``: wall time of the whole run; ``builds``: wall time of the builds made;
        ``making cases (CPU)`` and ``harness (CPU)``: CPU time of the workers that made the
        cases and of the harness processes.
    """

    cases: int = 0
    sequences: int = 0
    cycles: int = 0
    mismatches: list = field(default_factory=list)
    coverage: Counter = field(default_factory=Counter)
    seconds: dict = field(default_factory=dict)

    def empty_bins(self) -> list[str]:
        return [f"{dim}: {b}" for dim, bins in BINS.items() for b in bins if not self.coverage[(dim, b)]]

    def table(self) -> str:
        """The coverage table (Markdown): cases per bin."""
        lines = [f"Functional coverage of {self.cases} random cases ({self.sequences} sequences, "
                 f"{self.cycles:,} cycles) on {len(DESIGNS)} compiled designs", "",
                 "| dimension | bin | cases |", "|---|---|---|"]
        for dim, bins in BINS.items():
            lines += [f"| {dim} | {b} | {self.coverage[(dim, b)]} |" for b in bins]
        return "\n".join(lines) + "\n"

    def save(self, directory: Path) -> Path:
        """Write ``differential_coverage.md`` and ``.json`` into ``directory``; returns the .md."""
        directory.mkdir(parents=True, exist_ok=True)
        data = {"cases": self.cases, "sequences": self.sequences, "cycles": self.cycles,
                "mismatches": self.mismatches, "seconds": self.seconds,
                "coverage": {dim: {b: self.coverage[(dim, b)] for b in bins} for dim, bins in BINS.items()}}
        (directory / "differential_coverage.json").write_text(json.dumps(data, indent=1) + "\n")
        path = directory / "differential_coverage.md"
        path.write_text(self.table())
        return path


def coverage_directory() -> Path:
    """Where the coverage files go: ``coverage/`` beside the RTL cache (``build/coverage``)."""
    return cache_root().parent / "coverage"


def _plan(cases: int, chunk_size: int) -> list[tuple[int, int]]:
    """(design, count) chunks: the cases spread evenly over the designs."""
    plan = []
    for design in range(len(DESIGNS)):
        share = cases // len(DESIGNS) + (design < cases % len(DESIGNS))
        while share > 0:
            plan.append((design, min(chunk_size, share)))
            share -= chunk_size
    return plan


def _prepare(design: int):
    spec = DESIGNS[design]
    model, layout = initial_model(design)
    images = memory_images(model, layout) if spec.initialized else None
    return layout, prepare_design(layout, spec.config, images)


def run_volume(cases: int, seed: int, workers: int = 2, chunk_size: int = 250, log=None) -> VolumeReport:
    """Run ``cases`` random cases over :data:`DESIGNS`; every chunk compared with the golden model.

    Cases are made in ``workers`` processes (forked before any thread starts) while the
    main process writes the designs' Verilog and two threads compile them; then each
    chunk runs in its own harness process. ``seed`` makes the whole run reproducible.
    """
    start_time = time.monotonic()
    report = VolumeReport()
    plan = _plan(cases, chunk_size)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context) as makers, ThreadPoolExecutor(2) as compilers, \
            tempfile.TemporaryDirectory(prefix="memornn-volume-") as tmp:
        chunks = [makers.submit(make_chunk, design, count, seed + 7919 * k) for k, (design, count) in enumerate(plan)]
        harnesses = {}
        for design in sorted({d for d, _ in plan}):
            layout, prepared = _prepare(design)
            harnesses[design] = compilers.submit(compile_harness, prepared.sources, layout, prepared.top, log=log)
        executions = []
        for k, future in enumerate(chunks):
            chunk = future.result()
            harness = harnesses[chunk.design].result()
            report.seconds["builds"] = report.seconds.get("builds", 0.0) + harness.seconds
            report.seconds["making cases (CPU)"] = report.seconds.get("making cases (CPU)", 0.0) + chunk.cpu_seconds
            directory = Path(tmp) / str(k)
            directory.mkdir()
            executions.append((chunk, start(harness, chunk.program, directory)))
        for chunk, execution in executions:
            _collect(report, chunk, execution)
    report.seconds["total"] = time.monotonic() - start_time
    return report


def _collect(report: VolumeReport, chunk: Chunk, execution) -> None:
    results, cpu = execution.wait()
    report.seconds["harness (CPU)"] = report.seconds.get("harness (CPU)", 0.0) + cpu
    problem = verdict(chunk.program, results, chunk.goldens)
    if problem:
        report.mismatches.append(f"{DESIGNS[chunk.design].name} (chunk seed {chunk.seed}): {problem}")
    report.cases += len(chunk.goldens)
    report.sequences += chunk.sequences
    report.cycles += results.cycles
    for hits in chunk.hits:
        report.coverage.update({(dim, b) for dim, bins in hits.items() for b in bins})
