"""Decoding the accelerator's outputs into the golden model's key table.

Every simulator back end collects the same three things per sequence (output beats,
trace words, nothing else) and hands them here, so the comparison with the golden
model is the same code whatever ran the RTL.
"""

from __future__ import annotations

import numpy as np

from ..golden import numerics as nx
from ..golden.counters import POLICY_COUNTERS
from ..golden.intmodel import COUNTERS
from ..golden.qmodel import layer_suffix
from ..hw.contract import (COUNTER_NAMES, TRACE_WIDTH, counter_names, trace_step_bits, trace_words_per_sequence,
                           trace_words_per_step)
from ..hw.layout import Layout, ceil_div


def unpack_h(beat: int, width: int) -> np.ndarray:
    """One output beat (``width`` int8 values, element 0 lowest) to an int array."""
    raw = np.array([(beat >> (8 * i)) & 0xFF for i in range(width)], dtype=np.int64)
    return np.where(raw >= 128, raw - 256, raw)


def pack_x(x_q: np.ndarray) -> int:
    """One step of int8 inputs to a beat, element 0 in the low byte."""
    beat = 0
    for i, v in enumerate(x_q):
        beat |= (int(v) & 0xFF) << (8 * i)
    return beat


def steps_from_words(words: list[int], lanes: int, values: int) -> list[int]:
    """Output stream words (P = ``lanes`` int8 values each, ``ceil(values / lanes)`` a
    step, the last one padded) to one int per step holding its ``values`` values,
    element 0 lowest."""
    per_step = ceil_div(values, lanes)
    if len(words) % per_step:
        raise ValueError(f"{len(words)} output words is not a whole number of steps of {per_step} words")
    mask = (1 << (8 * values)) - 1
    steps = []
    for k in range(0, len(words), per_step):
        value = 0
        for j, word in enumerate(words[k:k + per_step]):
            value |= word << (8 * lanes * j)
        steps.append(value & mask)
    return steps


def _step_masks(layout: Layout):
    """Per layer direction: the key of its per-step trace bits (``reused``, or in a delta
    build ``columns``, with the layer suffix) and their number."""
    kind = "columns" if layout.skip == "delta" else "reused"
    for desc, bits in zip(layout.layers, trace_step_bits(layout)):
        yield desc, kind + layer_suffix(desc.layer, desc.direction), bits


def _delta_identities(counters: dict) -> dict:
    """The golden delta counters the delta datapath has no register for, by its structure:
    it reuses no row, has no BNN and no catch-up, and its change detector tests every
    column every step."""
    return {"neurons_reused": 0, "bnn_evals": 0, "catchup_macs": 0,
            "predictor_ops": counters["columns_used"] + counters["columns_skipped"]}


def decode_sequence(layout: Layout, length: int, beats: list[int], trace: list[int]) -> dict:
    """One sequence's output beats and trace words to per-sequence arrays.

    Returns a dict with ``h_int`` (length, H*D), ``reused_l{k}[_reverse]``
    (length, G*H) (a delta build: all false, and ``columns_l{k}[_reverse]`` (length,
    X_k + H) from the trace) and every counter (``cycles`` included) as Python ints.
    """
    if len(beats) != length:
        raise ValueError(f"expected {length} output beats, got {len(beats)}")
    expected = trace_words_per_sequence(layout, length)
    if len(trace) != expected:
        raise ValueError(f"expected {expected} trace words, got {len(trace)}")
    out = {"h_int": np.stack([unpack_h(b, layout.output_size) for b in beats])}
    pos = 0
    for desc, key, n_bits in _step_masks(layout):
        mask = np.zeros((length, n_bits), dtype=bool)
        for step in range(length):
            t = length - 1 - step if desc.direction else step
            bits = 0
            for w in range(trace_words_per_step(n_bits)):
                bits |= trace[pos] << (TRACE_WIDTH * w)
                pos += 1
            mask[t] = [(bits >> r) & 1 for r in range(n_bits)]
        out[key] = mask
        if layout.skip == "delta":  # no row is reused
            out["reused" + layer_suffix(desc.layer, desc.direction)] = np.zeros((length, layout.rows), bool)
    for name in counter_names(layout.skip):
        out[name] = trace[pos]
        pos += 1
    if layout.skip == "delta":
        out.update(_delta_identities(out))
    return out


def encode_sequence(layout: Layout, length: int, table: dict, i: int) -> tuple[list[int], list[int | None]]:
    """The output beats and trace words the hardware should send for sequence ``i`` of a key table.

    The inverse of :func:`decode_sequence`: ``table`` is a golden key table
    (:func:`memornn.golden.intmodel.golden_run`). Counters missing from it (``cycles``
    and the other hardware-only ones) are ``None`` in the trace: any value is right.

    Returns
    -------
    beats : list of int
        One int per step (element 0 in the low byte).
    trace : list of int or None
        The reuse words of every layer direction and step in processing order, then one
        word per counter of ``COUNTER_NAMES``.
    """
    beats = [pack_x(table["h_int"][i, t]) for t in range(length)]
    mask = 2**TRACE_WIDTH - 1
    trace: list[int | None] = []
    for desc, key, n_bits in _step_masks(layout):
        # predictor none on a delta build: every column used every step
        used = np.asarray(table[key][i]) if key in table else np.ones((length, n_bits), bool)
        for step in range(length):
            t = length - 1 - step if desc.direction else step
            bits = sum(1 << int(r) for r in np.flatnonzero(used[t]))
            trace += [(bits >> (TRACE_WIDTH * w)) & mask for w in range(trace_words_per_step(n_bits))]
    names = counter_names(layout.skip)
    trace += [int(table[name][i]) & mask if name in table else None for name in names]
    return beats, trace


#: Hardware counters beyond the golden key table; results carry them only on request.
EXTRA_COUNTERS = tuple(name for name in COUNTER_NAMES if name not in COUNTERS and name != "cycles")


def assemble(layout: Layout, lengths: np.ndarray, per_sequence: list[dict], extra: bool = False) -> dict:
    """Per-sequence decodes to the batch key table of :func:`golden_run`, plus ``cycles``.

    With ``extra``, also the counters of :data:`EXTRA_COUNTERS` (``mac_busy_cycles``).
    A delta build's table has the delta policy's keys (``columns_l*``, the policy counters).
    """
    n, t_max = len(per_sequence), int(lengths.max())
    result = {"h_int": np.zeros((n, t_max, layout.output_size), dtype=np.int8)}
    for desc in layout.layers:
        result["reused" + layer_suffix(desc.layer, desc.direction)] = np.zeros((n, t_max, layout.rows), bool)
    counters = COUNTERS + ("cycles",) + (EXTRA_COUNTERS if extra else ())
    if layout.skip == "delta":
        for desc, key, n_bits in _step_masks(layout):
            result[key] = np.zeros((n, t_max, n_bits), bool)
        counters += POLICY_COUNTERS
    for name in counters:
        result[name] = np.zeros(n, dtype=np.int64)
    for i, seq in enumerate(per_sequence):
        length = int(lengths[i])
        for key, value in seq.items():
            if key not in result:
                continue
            if isinstance(value, np.ndarray):
                result[key][i, :length] = value
            else:
                result[key][i] = value
    result["h"] = result["h_int"].astype(np.float64) / 2**nx.H_FRAC
    return result
