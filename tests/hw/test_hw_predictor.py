# amaranth: UnusedElaboratable=no
"""PredictorUnit: prep binarizes x_t against the offsets, the h bits come from the cell's h,
and every row's yb is the golden nx.bnn_output; rows wait for room (may_start) without loss."""

import numpy as np
import pytest

from memornn.golden import numerics as nx
from memornn.hw.predictor import PredictorUnit
from stagelib import ReadPortModel, pack_words, run, small_design


@pytest.mark.parametrize("datapath,p_room", [("parallel", 1.0), ("shared", 0.4)])
def test_predictor_against_golden_bnn(datapath, p_room):
    q, lay, img = small_design("lstm", x=13, h=11, p=4, b=8, datapath=datapath)
    desc, qd = lay.layers[0], q.layers[0][0]
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, desc.in_size)
    h = rng.integers(-128, 128, lay.hidden)
    t_base = lay.step_words
    seq_words = [0] * t_base + pack_words(x, lay.lanes) + [0] * lay.seq_buffer_depth
    weights = img["weights"] + [0] * (lay.weight_depth - len(img["weights"])) + img["offsets"]
    dut = PredictorUnit(lay)
    yb, prep_cycles, reserved, early = [], [], [], []

    async def bench(ctx):
        mems = [ReadPortModel(seq_words, dut.seq.addr, dut.seq.data),
                ReadPortModel(weights, dut.offsets.addr, dut.offsets.data),
                ReadPortModel(img["weight_bits"], dut.weight_bits.addr, dut.weight_bits.data)]
        for name in ("in_size", "x_words", "x_bit_words", "bits_base", "offset_base", "t_base"):
            ctx.set(getattr(dut, name), {"in_size": desc.in_size, "x_words": desc.x_words,
                                         "x_bit_words": desc.xbit_words, "bits_base": desc.bits_base,
                                         "offset_base": desc.offset_base, "t_base": t_base}[name])
        ctx.set(dut.x_mask_last, (1 << ((desc.in_size - 1) % lay.bnn_width + 1)) - 1)
        ctx.set(dut.bnn, 1)
        ctx.set(dut.h_init, 1)
        await ctx.tick()
        ctx.set(dut.h_init, 0)
        for v in h:  # h leaves the cell in order j = 0..H-1
            ctx.set(dut.h_valid, 1)
            ctx.set(dut.h_sign, int(v >= 0))
            await ctx.tick()
        ctx.set(dut.h_valid, 0)
        ctx.set(dut.prep, 1)
        for cycle in range(40):
            for mem in mems:
                mem.drive(ctx)
            done = ctx.get(dut.prep_done)
            for mem in mems:
                mem.sample(ctx)
            await ctx.tick()
            if done:
                prep_cycles.append(cycle + 1)
                break
        ctx.set(dut.prep, 0)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        ctx.set(dut.rows, 1)
        announced = 0
        for _ in range(lay.rows * desc.row_bit_words * 4 + 40):
            for mem in mems:
                mem.drive(ctx)
            ctx.set(dut.may_start, int(rng.random() < p_room))
            reserved.append(ctx.get(dut.reserve))
            if ctx.get(dut.yb_valid):
                yb.append(ctx.get(dut.yb))
                early.append(announced)
            announced = ctx.get(dut.announce)
            for mem in mems:
                mem.sample(ctx)
            await ctx.tick()

    run(dut, bench)
    assert prep_cycles == [desc.x_words + PredictorUnit.PREP_FILL]
    bits = np.concatenate([nx.sign_bits(x, qd.offset), nx.sign_bits(h)])
    assert yb == [int(v) for v in nx.bnn_output(bits, qd.weight_bits)]
    assert sum(reserved) == lay.rows and all(early)
