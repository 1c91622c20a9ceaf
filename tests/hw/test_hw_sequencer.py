# amaranth: UnusedElaboratable=no
"""Sequencer with stub stages: the input lands in seq-buffer half 0 word by word, every layer
direction runs T steps (prep, rows, cell) in golden order (backward directions from t = T-1)
with its own layout constants, then output and counters; too long a sequence is dropped."""

import numpy as np
import pytest

from memornn.hw.sequencer import Sequencer
from stagelib import pack_words, run, small_design

PHASES = (("prep", "prep_done", 3), ("rows", "rows_done", 5), ("cell", "cell_done", 4))


def _drive(dut, xs):
    """Run one sequence; returns the input writes, the phases seen and the in_compute cycles."""
    writes, phases, log = {}, [], {}

    async def bench(ctx):
        beats = [(pack_words(x, len(x))[0], int(k == len(xs) - 1)) for k, x in enumerate(xs)]
        compute = 0
        timer = {}
        out_started = 0
        for _ in range(600):
            if beats:
                ctx.set(dut.i_x.valid, 1)
                ctx.set(dut.i_x.payload.data, beats[0][0])
                ctx.set(dut.i_x.payload.last, beats[0][1])
            else:
                ctx.set(dut.i_x.valid, 0)
            if ctx.get(dut.in_wr_en):
                writes[ctx.get(dut.in_wr_word)] = ctx.get(dut.in_wr_data)
            if ctx.get(dut.i_x.ready):
                beats.pop(0)
            for level, done, length in PHASES:  # each stub stage finishes `length` cycles in
                on = ctx.get(getattr(dut, level))
                timer[level] = timer.get(level, 0) + 1 if on else 0
                ctx.set(getattr(dut, done), int(on and timer[level] == length))
                if on and timer[level] == 1:
                    c = dut.layer
                    phases.append((level, ctx.get(c.t_base), ctx.get(c.in_size), ctx.get(c.weight_base),
                                   ctx.get(c.step0)))
            ctx.set(dut.out_done, out_started)  # the output stage: done the cycle after its start
            out_started = ctx.get(dut.out_start)
            ctx.set(dut.counters_done, ctx.get(dut.send_counters))
            compute += ctx.get(dut.in_compute)
            log["too_long"] = log.get("too_long", 0) or ctx.get(dut.error_too_long)
            if ctx.get(dut.seq_done):
                log["done"] = True
            await ctx.tick()
        log["compute"] = compute

    run(dut, bench)
    return writes, phases, log


@pytest.mark.parametrize("steps", [1, 3])
def test_sequencer_runs_every_step_in_order(steps):
    q, lay, _ = small_design("lstm", x=9, h=6, p=4, layers=2, bidir=True)
    rng = np.random.default_rng(steps)
    xs = rng.integers(-128, 128, (steps, lay.input_size))
    dut = Sequencer(lay, trace=True)
    writes, phases, log = _drive(dut, xs)
    S = lay.step_words
    want_writes = {t * S + w: word for t in range(steps) for w, word in enumerate(pack_words(xs[t], lay.lanes))}
    assert writes == want_writes
    want = []
    for desc in lay.layers:
        for s in range(steps):
            t = s if desc.direction == 0 else steps - 1 - s
            want += [(level, t * S, desc.in_size, desc.weight_base, int(s == 0)) for level, _, _ in PHASES]
    assert phases == want
    step = sum(length for *_, length in PHASES)
    assert log["compute"] == len(lay.layers) * (Sequencer.LAYER_FILL + steps * step)
    assert log.get("done") and not log["too_long"]


def test_sequencer_drops_too_long_a_sequence():
    q, lay, _ = small_design("lstm", x=9, h=6, p=4)
    xs = np.zeros((lay.max_seq_len + 1, lay.input_size), int)
    writes, phases, log = _drive(Sequencer(lay), xs)
    assert log["too_long"] and not phases and not log.get("done")
