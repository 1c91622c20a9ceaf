"""The job file the cocotb testbench reads and the observation file it writes.

A job is JSON (integers of any width survive it): the design's shape as the testbench
checks it, the testbench's random seed and stream throttling, and a list of *runs*.
A run is one model on the hardware: the AXI4-Lite writes that load it (empty to keep
what is loaded), its thresholds, reuse cap and predictor, and its sequences, each with
the input beats and the output beats and trace words the golden model expects
(``None`` where any value is right: hardware-only counters, an aborted sequence).
``scenario`` holds a test's own parameters.

The observation file mirrors the runs: per sequence the output beats and trace words
received and, when the testbench read them, the counter registers; plus the
scoreboard's mismatches, an error message if the test failed, and the simulated cycles.

:func:`make_run` builds a run and the golden key table it must reproduce;
:func:`observed_table` turns a run's observations into a key table, so the pytest side
and the command line compare with :func:`memornn.sim.compare.first_mismatch`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ...golden.errors import MemornnError
from ...golden.inputs import Batch, quantize_inputs
from ...golden.intmodel import golden_run
from ...golden.qmodel import QModel
from ...hw.contract import build_words, counter_names, trace_step_bits, trace_words_per_step
from ...hw.cycles import Latencies, bnn_cycles_per_row, delta_step_cycles, step_cycles_none
from ...hw.layout import Layout, memory_images
from ...hw.contract import REGISTER_BY_NAME
from ...hw.top import load_writes
from ..settings import register_settings
from ..trace import assemble, decode_sequence, encode_sequence, pack_x

SCHEMA = "memornn.rtljob"
VERSION = 1


@dataclass
class Sequence:
    """One input sequence and what the hardware must send back."""

    beats: list
    h: list | None = None
    trace: list | None = None


@dataclass
class Run:
    """One model on the hardware, with its settings and sequences."""

    load: list
    thetas: list
    reuse_cap: int
    predictor: bool
    sequences: list
    back_to_back: bool = False

    @property
    def lengths(self) -> list[int]:
        return [len(s.beats) for s in self.sequences]


@dataclass
class Job:
    """Everything one cocotb test needs.

    Attributes
    ----------
    layout : dict
        ``x_bytes``, ``h_bytes``, ``num_layers``, ``max_seq_len`` and the expected
        read-only registers ``SHAPE``, ``SIZES``, ``BNN``, ``MAX_SEQ_LEN``.
    seed : int
        Seed of the testbench's random stream throttling.
    pauses : dict
        Probability of an idle cycle: ``in`` (input gaps), ``out`` and ``trace``
        (back-pressure).
    runs : list of Run
    scenario : dict
        Test-specific parameters.
    """

    layout: dict
    seed: int
    pauses: dict
    runs: list
    scenario: dict = field(default_factory=dict)

    def save(self, path: Path) -> Path:
        data = {"schema": SCHEMA, "version": VERSION, **asdict(self)}
        Path(path).write_text(json.dumps(data, default=_plain))
        return Path(path)


def _plain(value):
    """NumPy scalars as Python ones, for JSON."""
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def load_job(path) -> Job:
    """Read a job file written by :meth:`Job.save`."""
    data = json.loads(Path(path).read_text())
    if data.get("schema") != SCHEMA or data.get("version") != VERSION:
        raise MemornnError(f"{path}: not a {SCHEMA} version {VERSION} file")
    runs = [Run(**{**r, "sequences": [Sequence(**s) for s in r["sequences"]]}) for r in data["runs"]]
    return Job(data["layout"], data["seed"], data["pauses"], runs, data.get("scenario", {}))


def layout_info(layout: Layout) -> dict:
    """The ``layout`` entry of a job: sizes and the read-only registers' expected values
    (the designs always have the trace stream)."""
    return {"x_bytes": layout.input_size, "h_bytes": layout.output_size, "lanes": layout.lanes,
            "num_layers": layout.num_layers,
            "max_seq_len": layout.max_seq_len, "layer_dirs": layout.layer_dirs,
            "trace_words_per_step": sum(trace_words_per_step(b) for b in trace_step_bits(layout)),
            "counters": len(counter_names(layout.skip)), "skip": layout.skip,
            "registers": {str(REGISTER_BY_NAME[name].offset): value
                          for name, value in build_words(layout, trace=True).items()}}


def make_run(layout: Layout, model: QModel, batch: Batch, threshold=0.0, predictor: str = "bnn",
             reuse_cap: int = 0, load: bool = True, back_to_back: bool = False,
             expect: bool = True) -> tuple[Run, dict | None]:
    """A run of ``model`` on ``batch`` and the golden key table it must reproduce.

    Parameters
    ----------
    layout : Layout
        The hardware's layout; ``model`` must have that shape.
    model : QModel
    batch : Batch
        Float sequences, quantized here with the model's input scales.
    threshold : float, list or str
        As :func:`memornn.golden.intmodel.golden_run`.
    predictor : {"bnn", "none"}
        (with a :class:`~memornn.golden.options.RunOptions` as ``threshold``: its own,
        ``delta`` on a ``skip = "delta"`` build; :func:`memornn.sim.settings.register_settings`)
    reuse_cap : int
    load : bool
        Load the model through the load port first.
    back_to_back : bool
        Send every sequence at once instead of one after the other.
    expect : bool
        Run the golden model and put its words in the run for the testbench's
        scoreboard; ``False`` leaves them out (and returns ``None`` for the table).
    """
    thetas, cap, skipping = register_settings(layout, model.num_layers, threshold, predictor, reuse_cap)
    shape = (model.cell, model.input_size, model.hidden_size, model.num_layers, model.directions,
             model.pwl_segments)
    built = (layout.cell, layout.input_size, layout.hidden, layout.num_layers, layout.directions,
             layout.pwl_segments)
    if shape != built:
        raise MemornnError(f"the model (cell, X, H, layers, directions, PWL segments) = {shape} does not fit "
                           f"hardware built for {built}")
    if int(batch.lengths.max()) > layout.max_seq_len:
        raise MemornnError(f"a sequence has {int(batch.lengths.max())} steps, more than max_seq_len = "
                           f"{layout.max_seq_len}")
    golden = golden_run(model, batch, threshold, predictor, reuse_cap) if expect else None
    x_q = quantize_inputs(batch.x, model.input_scale)
    sequences = []
    for i, length in enumerate(int(n) for n in batch.lengths):
        h, trace = encode_sequence(layout, length, golden, i) if expect else (None, None)
        sequences.append(Sequence([pack_x(x_q[i, t]) for t in range(length)], h, trace))
    writes = load_writes(layout, memory_images(model, layout)) if load else []
    run = Run([list(w) for w in writes], thetas, cap, skipping, sequences, back_to_back)
    return run, golden


def timeout_cycles(layout: Layout, runs: list, pauses: dict, extra: int = 0) -> int:
    """A generous cycle budget for ``runs``: every step as slow as it can be, slowed by the pauses."""
    lat = Latencies.of(layout)
    worst_step = sum(max(step_cycles_none(layout, d, lat) + layout.rows * bnn_cycles_per_row(d),
                         delta_step_cycles(layout, d, d.in_size + layout.hidden, True, lat)) for d in layout.layers)
    steps = sum(sum(run.lengths) for run in runs)
    writes = sum(len(run.load) for run in runs)
    slow = 1 / max(0.05, 1 - max([0.0, *pauses.values()]))
    return int(3 * slow * (steps * (worst_step + 2 * layout.layer_dirs * trace_words_per_step(layout.rows) + 40)
                           + 30 * writes + 200 * len(runs))) + 20_000 + extra


def observed_table(layout: Layout, run: Run, observed: dict, extra: bool = False) -> dict:
    """A run's observations as the golden key table plus ``cycles``.

    Raises
    ------
    MemornnError
        If a sequence's beat or word count is wrong (the message names the sequence).
    """
    per_sequence = []
    for i, (seq, got) in enumerate(zip(run.sequences, observed["sequences"])):
        try:
            per_sequence.append(decode_sequence(layout, len(seq.beats), got["h"], got["trace"]))
        except ValueError as exc:
            raise MemornnError(f"sequence {i}: {exc}") from None
    if len(per_sequence) != len(run.sequences):
        raise MemornnError(f"{len(run.sequences)} sequences sent, {len(per_sequence)} observed")
    return assemble(layout, np.asarray(run.lengths), per_sequence, extra)


def register_mismatch(observed: dict, skip: str) -> str | None:
    """First sequence whose counter registers differ from its trace's counter words (a
    build with datapath ``skip``)."""
    names = counter_names(skip)
    for i, got in enumerate(observed["sequences"]):
        registers = got.get("registers")
        if not registers:
            continue
        words = got["trace"][-len(names):]
        for name, word in zip(names, words):
            if registers[name] & 0xFFFF_FFFF != word:
                return f"sequence {i}: register {name.upper()}_LO = {registers[name]}, trace word {word}"
    return None
