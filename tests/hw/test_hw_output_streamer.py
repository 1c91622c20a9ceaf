# amaranth: UnusedElaboratable=no
"""OutputStreamer: a sequence's outputs leave in words of P values (keep on each step's last
word, last on the final beat), none lost or repeated under a sink that stalls at random."""

import numpy as np
import pytest

from memornn.hw.output_streamer import OutputStreamer
from stagelib import lanes_of, pack_words, run, small_design


@pytest.mark.parametrize("steps,p_ready", [(1, 1.0), (3, 0.5), (4, 0.2)])
def test_output_streamer_sends_every_value(steps, p_ready):
    q, lay, _ = small_design("gru", x=5, h=6, p=4, layers=1, bidir=True)
    rng = np.random.default_rng(steps)
    outs = rng.integers(-128, 128, (steps, lay.output_size))
    half = (lay.num_layers % 2) * lay.seq_buffer_depth  # the last layer's seq-buffer half
    mem = [0] * (2 * lay.seq_buffer_depth)
    for t in range(steps):
        for w, word in enumerate(pack_words(outs[t], lay.lanes)):
            mem[half + t * lay.step_words + w] = word
    dut = OutputStreamer(lay)
    beats = []

    async def bench(ctx):
        value = 0  # the read port's output: the word addressed when rd_en was last high
        ctx.set(dut.seq_last, steps - 1)
        ctx.set(dut.start, 1)
        done = False
        for cycle in range(40 * steps + 20):
            ctx.set(dut.rd_data, value)
            ready = int(rng.random() < p_ready)
            ctx.set(dut.o_h.ready, ready)
            if ctx.get(dut.o_h.valid) and ready:
                p = dut.o_h.payload
                beats.append((lanes_of(ctx.get(p.data), lay.lanes), ctx.get(p.keep), ctx.get(p.last)))
            done = done or ctx.get(dut.done)
            if ctx.get(dut.rd_en):  # the core adds the half's base; a read ahead may pass the end
                value = mem[(half + ctx.get(dut.rd_word)) % len(mem)]
            await ctx.tick()
            ctx.set(dut.start, 0)
        assert done

    run(dut, bench)
    got = [v for data, keep, _ in beats for lane, v in enumerate(data) if keep >> lane & 1]
    assert got == [int(v) for v in outs.reshape(-1)]
    assert [last for *_, last in beats] == [0] * (len(beats) - 1) + [1]
    assert len(beats) == steps * lay.out_words
