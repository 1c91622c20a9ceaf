# amaranth: UnusedElaboratable=no
"""MemoTable: what is written to a bank and entry is read back a cycle later, for 16-bit
pre-activations and for 32-bit accumulators (golden dot products, extremes included)."""

import numpy as np
import pytest

from memornn.golden import numerics as nx
from memornn.hw.memo_table import MemoTable
from stagelib import golden_dot, run


def _values(rng, bits, n):
    if bits == nx.ACC_BITS:  # accumulators: golden dot products of int8 rows, and the extremes
        lo, hi = nx.int_range(nx.WEIGHT_BITS)
        vals = [golden_dot(rng.integers(lo, hi + 1, 512), rng.integers(lo, hi + 1, 512)) for _ in range(n)]
        vals[:3] = [nx.int_range(bits)[0], nx.int_range(bits)[1], 0]
        return vals
    return [int(v) for v in rng.integers(*nx.int_range(bits), n, endpoint=True)]


@pytest.mark.parametrize("banks,value_bits", [(4, nx.PRE_BITS), (4, nx.ACC_BITS), (5, nx.ACC_BITS)])
def test_memo_table_holds_values(banks, value_bits):
    depth = 12
    rng = np.random.default_rng(value_bits + banks)
    dut = MemoTable(banks, depth, value_bits)
    model = {}
    writes = [(int(rng.integers(banks)), int(rng.integers(depth)), v) for v in _values(rng, value_bits, 200)]
    mismatches = []

    async def bench(ctx):
        for bank, addr, value in writes:
            ctx.set(dut.w_en, 1)
            ctx.set(dut.w_bank, bank)
            ctx.set(dut.w_addr, addr)
            ctx.set(dut.w_data, value)
            read = int(rng.integers(depth))
            ctx.set(dut.r_addr, read)
            await ctx.tick()
            ctx.set(dut.w_en, 0)
            want = [model.get((b, read)) for b in range(banks)]
            got = [ctx.get(dut.r_data[b]) for b in range(banks)]
            mismatches.extend((w, g) for w, g in zip(want, got) if w is not None and w != g)
            model[bank, addr] = value
        for bank in range(banks):
            for addr in range(depth):
                ctx.set(dut.r_addr, addr)
                await ctx.tick()
                want = model.get((bank, addr))
                if want is not None and ctx.get(dut.r_data[bank]) != want:
                    mismatches.append((want, ctx.get(dut.r_data[bank])))

    run(dut, bench)
    assert len(model) > depth and not mismatches


def test_memo_table_rejects_bad_widths():
    with pytest.raises(ValueError, match="value_bits"):
        MemoTable(4, 8, nx.ACC_BITS + 1)
    with pytest.raises(ValueError, match="banks"):
        MemoTable(0, 8)
