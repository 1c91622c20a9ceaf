# amaranth: UnusedElaboratable=no
"""TraceEmitter: the reuse bits of every step packed as hw/contract.py lays them out, then the
counters in COUNTER_NAMES order (last on the final word), under a sink that stalls at random."""

import numpy as np
import pytest

from memornn.hw.contract import COUNTER_NAMES, TRACE_WIDTH
from memornn.hw.trace_emitter import TraceEmitter
from stagelib import run


@pytest.mark.parametrize("rows,p_ready", [(20, 1.0), (70, 0.3)])
def test_trace_words(rows, p_ready):
    rng = np.random.default_rng(rows)
    steps = 4
    reuse = rng.integers(0, 2, (steps, rows))
    counters = {name: int(rng.integers(0, 2**32)) for name in COUNTER_NAMES}
    dut = TraceEmitter(rows, slack=0)
    words = []

    async def bench(ctx):
        for name, v in counters.items():
            ctx.set(getattr(dut.counters, name), v)
        todo = [(r, int(reuse[t, r])) for t in range(steps) for r in range(rows)]
        sending = finished = False
        for _ in range(steps * rows * 8 + 200):
            ready = int(rng.random() < p_ready)
            ctx.set(dut.o_trace.ready, ready)
            go = int(bool(todo) and ctx.get(dut.room) and rng.random() < 0.8)
            ctx.set(dut.decided, go)
            if go:
                r, bit = todo.pop(0)
                ctx.set(dut.row, r)
                ctx.set(dut.reuse, bit)
            sending = not todo and not finished and not go  # after the rows, as in the core
            ctx.set(dut.send_counters, int(sending))
            if ctx.get(dut.counters_done):
                finished = True
            if ctx.get(dut.o_trace.valid) and ready:
                words.append((ctx.get(dut.o_trace.payload.data), ctx.get(dut.o_trace.payload.last)))
            await ctx.tick()
            ctx.set(dut.decided, 0)

    run(dut, bench)
    want = []
    for t in range(steps):
        for w in range(-(-rows // TRACE_WIDTH)):
            bits = reuse[t, w * TRACE_WIDTH:(w + 1) * TRACE_WIDTH]
            want.append((sum(int(b) << i for i, b in enumerate(bits)), 0))
    want += [(counters[name] % 2**TRACE_WIDTH, int(i == len(COUNTER_NAMES) - 1)) for i, name in enumerate(COUNTER_NAMES)]
    assert words == want
