# amaranth: UnusedElaboratable=no
"""MemoDecision over several steps: every row's reuse decision follows the golden rule
(nx.within_threshold against the cached yb, the reuse cap, step 0 never reuses), the table
keeps the cached yb and run, and rows to compute leave as work items in order."""

import numpy as np
import pytest

from memornn.golden import numerics as nx
from memornn.hw.memo_decision import MemoDecision
from stagelib import run, small_design


def _golden(ybs, theta_q, cap):
    """Per step, per row: reuse (0/1), following the golden model's rule."""
    cached = run_len = None
    out = []
    for t, yb in enumerate(ybs):
        if t == 0:
            reuse = np.zeros(len(yb), bool)
            cached, run_len = yb.copy(), np.zeros(len(yb), np.int64)
        else:
            under_cap = (cap == 0) | (run_len < cap)
            reuse = under_cap & nx.within_threshold(yb, cached, theta_q)
            cached = np.where(reuse, cached, yb)
            run_len = np.where(reuse, run_len + 1, 0)
        out.append(reuse.astype(int).tolist())
    return out


@pytest.mark.parametrize("theta,cap", [(0.3, 0), (0.5, 2)])
def test_memo_decision_against_golden(theta, cap):
    q, lay, _ = small_design("gru", x=5, h=6, p=4, b=8, layers=2, bidir=True)
    ld = 3  # the last layer direction: a table base and weight base other than 0
    desc = lay.layers[ld]
    rng = np.random.default_rng(int(theta * 10) + cap)
    N = desc.in_size + lay.hidden
    steps = 5
    ybs = [rng.integers(-N, N + 1, lay.rows)]
    for _ in range(steps - 1):
        ybs.append(np.clip(ybs[-1] + rng.integers(-2, 3, lay.rows), -N, N))
    theta_q = nx.theta_to_q(theta)
    dut = MemoDecision(lay)
    reuse, work = [], []

    async def bench(ctx):
        ctx.set(dut.theta, theta_q)
        ctx.set(dut.cap, cap)
        ctx.set(dut.bnn, 1)
        ctx.set(dut.memo_base, ld * lay.rows)
        ctx.set(dut.weight_base, desc.weight_base)
        ctx.set(dut.row_words, desc.row_words)
        for t, yb in enumerate(ybs):
            ctx.set(dut.fresh, int(t == 0))
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            step = []
            queue = [int(v) for v in yb]
            for cycle in range(4 * lay.rows + 20):
                # rows come with gaps: announce a cycle before the yb
                present = ctx.get(dut.announce)
                ctx.set(dut.yb_valid, present)
                if present:
                    ctx.set(dut.yb, queue.pop(0))
                ctx.set(dut.announce, int(bool(queue) and len(queue) - present > 0 and rng.random() < 0.7))
                if ctx.get(dut.decided):
                    step.append(ctx.get(dut.reuse))
                if ctx.get(dut.work.valid):
                    p = dut.work.payload
                    work.append((t, ctx.get(p.g), ctx.get(p.j), ctx.get(p.wrow)))
                await ctx.tick()
            reuse.append(step)

    run(dut, bench)
    want = _golden(ybs, theta_q, cap)
    assert reuse == want
    assert 0 < sum(map(sum, want)) < steps * lay.rows  # both outcomes occur
    assert work == [(t, r // lay.hidden, r % lay.hidden, desc.weight_base + r * desc.row_words)
                    for t, step in enumerate(want) for r, used in enumerate(step) if not used]
