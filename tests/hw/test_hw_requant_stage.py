# amaranth: UnusedElaboratable=no
"""RequantStage: every product's pre-activation is nx.requantize(acc + bias, mult, shift), for
its memo-table bank and hidden unit, LATENCY cycles later; one and two passes."""

import numpy as np
import pytest
from amaranth.hdl import Const

from memornn.golden import numerics as nx
from memornn.hw.requant_stage import RequantStage
from memornn.hw.sharedmul import connect
from stagelib import run, small_design


class _OnSharedMul(RequantStage):
    """The stage with its two passes on a shared multiplier (as in the core)."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        connect(m, [self], Const(0, 1))
        return m


@pytest.mark.parametrize("cell,datapath", [("lstm", "parallel"), ("gru", "parallel"), ("lstm", "shared")])
def test_requant_stage_against_golden(cell, datapath):
    q, lay, _ = small_design(cell, x=9, h=9, p=4, datapath=datapath)
    shared = lay.requant_passes == 2
    assert shared == (datapath == "shared")
    dut = _OnSharedMul(lay, external_mul=True) if shared else RequantStage(lay)
    assert dut.LATENCY == RequantStage.latency_for(lay)
    rng = np.random.default_rng(7)
    n = 300
    acc = rng.integers(-2**31, 2**31, n)
    acc[:10] = [2**31 - 1, -2**31, 0, 1, -1, 2**20, -2**20, 12345, -54321, 7]
    bias = rng.integers(-2**31, 2**31, n)
    mult = rng.integers(0, 2**nx.MULT_BITS, n)
    shift = rng.integers(0, nx.SHIFT_MAX + 1, n)
    g = rng.integers(0, lay.gates, n)
    j = rng.integers(0, lay.hidden, n)
    hpart = (g == 2) & (rng.random(n) < 0.5) if cell == "gru" else np.zeros(n, bool)
    spacing = lay.requant_passes
    got, sent = [], []

    async def bench(ctx):
        k = 0
        for cycle in range(n * (spacing + 1) + dut.LATENCY + 4):
            send = k < n and cycle % (spacing + 1) != 1  # gaps of one or more cycles, some back to back
            send = send if spacing == 1 else (k < n and cycle % spacing == 0)
            ctx.set(dut.products.valid, int(send))
            if send:
                ctx.set(dut.products.payload, {"acc": int(acc[k]), "bias": int(bias[k]), "mult": int(mult[k]),
                                               "shift": int(shift[k]), "hpart_product": int(hpart[k]),
                                               "g": int(g[k]), "j": int(j[k])})
                assert ctx.get(dut.products.ready)
                sent.append(cycle)
                k += 1
            if ctx.get(dut.out_valid):
                got.append((ctx.get(dut.pre), ctx.get(dut.bank), ctx.get(dut.j), cycle))
            await ctx.tick()

    run(dut, bench)
    want = [int(nx.requantize(np.int64(a) + np.int64(b), m, s)) for a, b, m, s in zip(acc, bias, mult, shift)]
    assert [v[0] for v in got] == want
    assert [v[1] for v in got] == [lay.gates if hp else int(gg) for gg, hp in zip(g, hpart)]
    assert [v[2] for v in got] == [int(v) for v in j]
    assert [v[3] for v in got] == [c + dut.LATENCY for c in sent]
