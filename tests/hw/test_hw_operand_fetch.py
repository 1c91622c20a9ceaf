# amaranth: UnusedElaboratable=no
"""OperandFetch: every work item's operand beats give the golden row dot products, in order,
whatever the consumer's ready pattern (the pipe holds, memory outputs included)."""

import numpy as np
import pytest

from memornn.hw.operand_fetch import OperandFetch
from stagelib import ReadPortModel, golden_dot, lanes_of, pack_words, run, small_design


def _expected(q, lay, rows, x, h, step0):
    """Golden products of the rows, in order: one per row, two for a GRU candidate row."""
    w = q.layers[0][0].weight
    X = lay.layers[0].in_size
    hv = np.zeros_like(h) if step0 else h
    out = []
    for r in rows:
        if lay.cell == "gru" and r // lay.hidden == 2:
            out += [(golden_dot(w[r, :X], x), 0), (golden_dot(w[r, X:], hv), 1)]
        else:
            out.append((golden_dot(w[r], np.concatenate([x, hv])), 0))
    return out


@pytest.mark.parametrize("cell,step0,p_ready", [("lstm", False, 0.5), ("gru", False, 0.6), ("lstm", True, 1.0),
                                                ("gru", True, 0.3)])
def test_operand_fetch_against_golden_dots(cell, step0, p_ready):
    q, lay, img = small_design(cell, x=5, h=6, p=4)
    desc = lay.layers[0]
    rng = np.random.default_rng(len(cell) + step0)
    x = rng.integers(-128, 128, desc.in_size)
    h = rng.integers(-128, 128, lay.hidden)
    t_base = lay.step_words  # step 1's words
    seq_words = [0] * t_base + pack_words(x, lay.lanes) + [0] * lay.seq_buffer_depth
    rows = [int(r) for r in rng.integers(0, lay.rows, 25)]
    expect = _expected(q, lay, rows, x, h, step0)
    dut = OperandFetch(lay)
    got = []

    async def bench(ctx):
        mems = [ReadPortModel(img["weights"], dut.weights.addr, dut.weights.data, dut.rd_en),
                ReadPortModel(seq_words, dut.seq.addr, dut.seq.data, dut.rd_en),
                ReadPortModel(pack_words(h, lay.lanes), dut.h.addr, dut.h.data, dut.rd_en)]
        ctx.set(dut.x_words, desc.x_words)
        ctx.set(dut.step0, step0)
        ctx.set(dut.t_base, t_base)
        todo = list(rows)
        acc = 0
        for _ in range(2000):
            for mem in mems:
                mem.drive(ctx)
            valid = int(bool(todo) and rng.random() < 0.7)
            if todo:
                r = todo[0]
                ctx.set(dut.items.payload, {"g": r // lay.hidden, "j": r % lay.hidden,
                                            "wrow": desc.weight_base + r * desc.row_words})
            ctx.set(dut.items.valid, valid)
            ready = int(rng.random() < p_ready)
            ctx.set(dut.operands.ready, ready)
            if valid and ctx.get(dut.items.ready):
                todo.pop(0)
            if ctx.get(dut.operands.valid) and ready:
                beat = dut.operands.payload
                w = lanes_of(ctx.get(beat.weights.as_value()), lay.lanes)
                a = lanes_of(ctx.get(beat.acts.as_value()), lay.lanes)
                acc = (0 if ctx.get(beat.first) else acc) + int(np.dot(w, a))
                if ctx.get(beat.last):
                    got.append((acc, ctx.get(beat.hpart_product)))
            for mem in mems:
                mem.sample(ctx)
            await ctx.tick()

    run(dut, bench)
    assert got == expect
