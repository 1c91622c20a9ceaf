# amaranth: UnusedElaboratable=no
"""MacPath: products equal the golden dot products, with their rows' golden parameters, under
a consumer that stalls at random; with lane accumulators, every lane's own sum too."""

import numpy as np
import pytest

from memornn.golden import numerics as nx
from memornn.hw.mac_path import MacPath
from stagelib import ReadPortModel, lanes_of, pack_words, run, small_design


def _beats(rng, lay, n_products):
    """Random operand beats of ``n_products`` products (1..4 beats), and the expected products."""
    beats, expect = [], []
    lo, hi = nx.int_range(nx.WEIGHT_BITS)
    for _ in range(n_products):
        r = int(rng.integers(lay.rows))
        g, j = divmod(r, lay.hidden)
        hpart = int(lay.cell == "gru" and g == 2 and rng.random() < 0.5)
        n = int(rng.integers(1, 5))
        w = rng.integers(lo, hi + 1, (n, lay.lanes))
        a = rng.integers(lo, hi + 1, (n, lay.lanes))
        for k in range(n):
            beats.append({"weights": pack_words(w[k], lay.lanes)[0], "acts": pack_words(a[k], lay.lanes)[0],
                          "first": int(k == 0), "last": int(k == n - 1), "hpart_product": hpart, "g": g, "j": j})
        expect.append((r, hpart, int(np.sum(w * a)), [int(v) for v in np.sum(w * a, axis=0)]))
    return beats, expect


@pytest.mark.parametrize("cell,p_ready,lane_acc", [("lstm", 0.5, False), ("gru", 0.4, True), ("lstm", 1.0, True)])
def test_mac_path_against_golden(cell, p_ready, lane_acc):
    q, lay, img = small_design(cell, x=5, h=6, p=4)
    rng = np.random.default_rng(int(p_ready * 10))
    beats, expect = _beats(rng, lay, 60)
    dut = MacPath(lay, lane_accumulators=lane_acc)
    assert dut.LATENCY == MacPath.latency_for(lay)
    got = []

    async def bench(ctx):
        mems = [ReadPortModel(img["bias"], dut.bias.addr, dut.bias.data, dut.rd_en),
                ReadPortModel(img["requant"], dut.requant.addr, dut.requant.data, dut.rd_en)]
        if cell == "gru":
            mems.append(ReadPortModel(img["bias_hn"], dut.bias_hn.addr, dut.bias_hn.data, dut.rd_en))
        todo = list(beats)
        for _ in range(1500):
            for mem in mems:
                mem.drive(ctx)
            valid = int(bool(todo) and rng.random() < 0.8)
            if todo:
                b = todo[0]
                ctx.set(dut.operands.payload, {**b, "weights": [0] * lay.lanes, "acts": [0] * lay.lanes})
                ctx.set(dut.operands.payload.weights.as_value(), b["weights"])
                ctx.set(dut.operands.payload.acts.as_value(), b["acts"])
            ctx.set(dut.operands.valid, valid)
            ready = int(rng.random() < p_ready)
            ctx.set(dut.products.ready, ready)
            if valid and ctx.get(dut.operands.ready):
                todo.pop(0)
            if ctx.get(dut.products.valid) and ready:
                p = dut.products.payload
                lanes = (lanes_of(ctx.get(dut.lane_acc.as_value()), lay.lanes, nx.ACC_BITS) if lane_acc else None)
                got.append((ctx.get(p.g) * lay.hidden + ctx.get(p.j), ctx.get(p.hpart_product), ctx.get(p.acc),
                            ctx.get(p.bias), ctx.get(p.mult), ctx.get(p.shift), lanes))
            for mem in mems:
                mem.sample(ctx)
            await ctx.tick()

    run(dut, bench)
    qd = q.layers[0][0]
    want = []
    for r, hpart, acc, lanes in expect:
        bias = int(qd.bias_hn[r % lay.hidden]) if hpart else int(qd.bias[r])
        want.append((r, hpart, acc, bias, int(qd.mult[r]), int(qd.shift[r]), lanes if lane_acc else None))
    assert got == want
