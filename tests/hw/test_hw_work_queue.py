# amaranth: UnusedElaboratable=no
"""WorkQueue: items in order, none lost, reservations never overfill it, under a random consumer."""

from collections import deque

import numpy as np
import pytest
from amaranth.lib import data

from memornn.hw.work_queue import WorkQueue
from stagelib import run

ITEM = data.StructLayout({"a": 8, "b": 4})


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_queue_in_order_with_reservations(depth):
    rng = np.random.default_rng(depth)
    dut = WorkQueue(ITEM, depth)
    decide_after = 6  # a reservation becomes an item (or is released) this many cycles later
    written, got, outstanding = [], [], []

    async def bench(ctx):
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        pending = deque()  # cycles at which reserved slots are decided
        held = 0  # slots reserved and not yet given back
        for cycle in range(1500):
            ready = int(rng.random() < 0.4)
            ctx.set(dut.r.ready, ready)
            reserve = int(ctx.get(dut.room) and rng.random() < 0.8)
            ctx.set(dut.reserve, reserve)
            write = release = 0
            if pending and pending[0] == cycle:
                pending.popleft()
                if rng.random() < 0.7:
                    write = 1
                else:
                    release = 1
            item = {"a": int(rng.integers(256)), "b": int(rng.integers(16))}
            ctx.set(dut.w.valid, write)
            ctx.set(dut.w.payload, item)
            ctx.set(dut.release, release)
            if write:
                assert ctx.get(dut.w.ready), "a reserved item found the queue full"
                written.append(item)
            if ctx.get(dut.r.valid) and ready:
                p = ctx.get(dut.r.payload)
                got.append({"a": p.a, "b": p.b})
                held -= 1
            held += reserve - release
            outstanding.append(held)
            if reserve:
                pending.append(cycle + decide_after)
            await ctx.tick()
        ctx.set(dut.reserve, 0)
        ctx.set(dut.w.valid, 0)
        ctx.set(dut.r.ready, 1)
        for _ in range(decide_after + 4):
            await ctx.tick()

    run(dut, bench)
    assert len(written) > 50
    assert got == written[:len(got)] and len(written) - len(got) <= depth
    assert max(outstanding) <= depth


def test_queue_rejects_bad_depth():
    with pytest.raises(ValueError, match="depth"):
        WorkQueue(ITEM, 0)
