"""Test benches shared by the core-stage tests (``tests/hw/test_hw_<stage>.py``).

A stage's memories are modelled here as synchronous read ports (data a cycle after the
address, held while the read enable is low), and a model (``golden`` QModel) gives the
expected values, so a stage is checked against the specification, not against itself.
"""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from memornn.golden.quantize import quantize_model
from memornn.golden.randmodel import random_batch, random_float_model
from memornn.hw.config import HwConfig
from memornn.hw.layout import make_layout, memory_images


def small_design(cell="lstm", x=5, h=6, p=4, b=16, datapath="parallel", layers=1, bidir=False, seed=0):
    """A quantized random model, its layout and memory images."""
    model = random_float_model(cell, layers, bidir, x, h, seed=seed)
    q = quantize_model(model, random_batch(x, sequences=2, max_len=3, seed=seed))
    lay = make_layout(q, HwConfig(mac_lanes=p, bnn_width=b, max_seq_len=4, datapath=datapath))
    return q, lay, memory_images(q, lay)


def pack_words(values, lanes, bits=8):
    """Values to words of ``lanes`` lanes (lane 0 lowest), zero padded."""
    values = list(values) + [0] * (-len(values) % lanes)
    mask = (1 << bits) - 1
    return [sum((int(v) & mask) << (bits * i) for i, v in enumerate(values[k:k + lanes]))
            for k in range(0, len(values), lanes)]


def lanes_of(word, lanes, bits=8):
    """A word's lanes as signed ints."""
    out = []
    for i in range(lanes):
        v = (word >> (bits * i)) & ((1 << bits) - 1)
        out.append(v - (1 << bits) if v >> (bits - 1) else v)
    return out


class ReadPortModel:
    """A synchronous read port on ``words``: ``data`` shows the word addressed the cycle
    before, and holds while ``en`` (if given) was low."""

    def __init__(self, words, addr, data, en=None):
        self.words, self.addr, self.data, self.en = list(words), addr, data, en
        self.value = 0

    def drive(self, ctx):
        ctx.set(self.data, self.value)

    def sample(self, ctx):
        if self.en is None or ctx.get(self.en):
            a = ctx.get(self.addr)
            self.value = self.words[a] if a < len(self.words) else 0


def run(dut, bench, *, extra=None):
    """Simulate ``dut`` with the testbench coroutine ``bench(ctx)``."""
    sim = Simulator(dut if extra is None else extra)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def stall_pattern(rng, n, p_ready=0.6):
    """A consumer's ``ready`` for ``n`` cycles: high with probability ``p_ready``."""
    return (rng.random(n) < p_ready).astype(int)


def golden_dot(weights_row, inputs):
    """The int64 dot product of the golden model."""
    return int(np.dot(np.asarray(weights_row, dtype=np.int64), np.asarray(inputs, dtype=np.int64)))
