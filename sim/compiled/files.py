"""The harness's stimulus and result files (little-endian uint32 words).

Stimulus: a header (``MAGIC``, ``VERSION``, 32-bit words of an input beat, of an output
beat, output beats a step, trace words a step, counter words a sequence), then
operations, each an ``OP_*`` code and its operands:

=============  ==============================================================================
OP_RESET       cycles: hold ``rst`` high, then two idle cycles
OP_WRITES      n, then n (byte address, value) pairs: AXI4-Lite writes, one at a time
OP_READ        address: one AXI4-Lite read, recorded
OP_THROTTLE    seed (2 words), probabilities in 1/65536 of an input gap, of output and
               trace back-pressure, of an AXI4-Lite idle cycle (all 0: full speed)
OP_STREAM      n, cycle budget, then n sequences (length, then its beats): sent back to
               back; runs until all their output beats and trace words are in
OP_WAIT_IDLE   polls: read STATUS until BUSY is clear
OP_END
=============  ==============================================================================

Result: records, each a ``REC_*`` code and its words: ``REC_READ`` (address, data,
response), ``REC_WRITE_RESP`` (address, data, response: a write not answered OKAY),
``REC_STREAM`` (cycles, wall and CPU nanoseconds, two words each; output beats: count, data,
tlast, tkeep low and high words; trace words: count, data, tlast), ``REC_ERROR`` (a
message), ``REC_END`` (total cycles, two words). The C++ side is ``harness.cpp``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...golden.errors import MemornnError
from ...hw.contract import trace_step_bits
from ...hw.layout import Layout, ceil_div

MAGIC, VERSION = 0x53434E4D, 1  # "MNCS"
OP_END, OP_RESET, OP_WRITES, OP_READ, OP_THROTTLE, OP_STREAM, OP_WAIT_IDLE = range(7)
REC_READ, REC_STREAM, REC_ERROR, REC_END, REC_WRITE_RESP = range(1, 6)
_MASK = 0xFFFF_FFFF


def _words(value: int, count: int) -> list[int]:
    return [(value >> (32 * i)) & _MASK for i in range(count)]


def _probability(p: float) -> int:
    if not 0.0 <= p < 1.0:
        raise MemornnError(f"a throttling probability must be in [0, 1), got {p!r}")
    return int(round(p * 65536))


@dataclass(frozen=True)
class Geometry:
    """Word counts the harness needs for a layout (the stimulus header)."""

    x_words: int
    h_words: int
    out_per_step: int
    trace_per_step: int
    counters: int

    @classmethod
    def of(cls, layout: Layout, counters: int, trace_width: int) -> "Geometry":
        return cls(ceil_div(layout.input_size * 8, 32), ceil_div(layout.lanes * 8, 32),
                   ceil_div(layout.output_size, layout.lanes),
                   sum(ceil_div(bits, trace_width) for bits in trace_step_bits(layout)), counters)


class Stimulus:
    """A stimulus file under construction."""

    def __init__(self, geometry: Geometry):
        self.geometry = geometry
        g = geometry
        self.words = [MAGIC, VERSION, g.x_words, g.h_words, g.out_per_step, g.trace_per_step, g.counters]

    def reset(self, cycles: int = 5) -> None:
        self.words += [OP_RESET, cycles]

    def writes(self, pairs) -> None:
        pairs = list(pairs)
        self.words += [OP_WRITES, len(pairs)]
        for addr, value in pairs:
            self.words += [int(addr), int(value) & _MASK]

    def read(self, addr: int) -> None:
        self.words += [OP_READ, addr]

    def wait_idle(self, polls: int = 10_000) -> None:
        self.words += [OP_WAIT_IDLE, polls]

    def throttle(self, seed: int, pauses: dict) -> None:
        """Seeded random gaps and back-pressure: ``pauses`` as in a cocotb job (``in``, ``out``,
        ``trace``; ``axil`` for idle cycles on the register bus), probabilities of an idle cycle."""
        self.words += [OP_THROTTLE, seed & _MASK, (seed >> 32) & _MASK,
                       *(_probability(pauses.get(k, 0.0)) for k in ("in", "out", "trace", "axil"))]

    def stream(self, sequences: list[list[int]], budget: int) -> None:
        """Send ``sequences`` (lists of input beats as ints) back to back."""
        self.words += [OP_STREAM, len(sequences), min(budget, _MASK)]
        for beats in sequences:
            self.words.append(len(beats))
            for beat in beats:
                self.words += _words(int(beat), self.geometry.x_words)

    def save(self, path: Path) -> Path:
        np.asarray(self.words + [OP_END], dtype="<u4").tofile(path)
        return Path(path)


@dataclass
class Stream:
    """One OP_STREAM as received."""

    cycles: int
    seconds: float  # wall time
    cpu_seconds: float  # CPU time of the harness process
    out: np.ndarray  # (beats, h_words) uint32
    out_last: np.ndarray
    out_keep: np.ndarray  # (beats,) Python ints in an object array
    trace: np.ndarray
    trace_last: np.ndarray


@dataclass
class Results:
    """A result file, parsed."""

    reads: list = field(default_factory=list)  # (address, data, response)
    streams: list = field(default_factory=list)
    write_errors: list = field(default_factory=list)  # (address, data, response)
    errors: list = field(default_factory=list)
    cycles: int = 0


class _Reader:
    def __init__(self, words: np.ndarray):
        self.words, self.pos = words, 0

    def take(self, n: int = 1) -> np.ndarray:
        if self.pos + n > len(self.words):
            raise MemornnError("the harness's result file is cut short")
        out = self.words[self.pos:self.pos + n]
        self.pos += n
        return out

    def one(self) -> int:
        return int(self.take()[0])

    def two(self) -> int:
        lo, hi = self.take(2)
        return int(lo) | int(hi) << 32


def _stream(reader: _Reader, geometry: Geometry) -> Stream:
    cycles, ns, cpu_ns = reader.two(), reader.two(), reader.two()
    n = reader.one()
    out = reader.take(n * geometry.h_words).reshape(n, geometry.h_words)
    last = reader.take(n)
    keep = [int(lo) | int(hi) << 32 for lo, hi in zip(reader.take(n), reader.take(n))]
    m = reader.one()
    trace, trace_last = reader.take(m), reader.take(m)
    return Stream(cycles, ns * 1e-9, cpu_ns * 1e-9, out, last, np.array(keep, dtype=object), trace, trace_last)


def read_results(path: Path, geometry: Geometry) -> Results:
    """Parse a result file written by the harness."""
    reader = _Reader(np.fromfile(path, dtype="<u4"))
    results = Results()
    while True:
        tag = reader.one()
        if tag == REC_END:
            results.cycles = reader.two()
            return results
        if tag == REC_READ:
            results.reads.append(tuple(int(w) for w in reader.take(3)))
        elif tag == REC_WRITE_RESP:
            results.write_errors.append(tuple(int(w) for w in reader.take(3)))
        elif tag == REC_STREAM:
            results.streams.append(_stream(reader, geometry))
        elif tag == REC_ERROR:
            size = reader.one()
            raw = reader.take(ceil_div(size, 4)).astype("<u4").tobytes()[:size]
            results.errors.append(raw.decode(errors="replace"))
        else:
            raise MemornnError(f"the harness's result file has an unknown record {tag}")


def beat_value(row: np.ndarray) -> int:
    """One output beat's 32-bit words to an int (word 0 lowest)."""
    value = 0
    for i, w in enumerate(row):
        value |= int(w) << (32 * i)
    return value
