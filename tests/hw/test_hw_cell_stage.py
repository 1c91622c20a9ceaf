# amaranth: UnusedElaboratable=no
"""CellStage over two steps: h (to the h buffer, the seq buffer and the h bits) and c follow
the golden cell (nx.lstm_cell / the GRU update with the PWL activations), step 0 from zero."""

import numpy as np
import pytest

from memornn.golden import numerics as nx
from memornn.hw.cell_stage import CellStage
from stagelib import lanes_of, run, small_design


def _golden_step(cell, pre, state, seg):
    """(h, new state) of one step; ``state`` is c (LSTM) or h (GRU)."""
    sig, tanh = (lambda v: nx.pwl_sigmoid(v, seg)), (lambda v: nx.pwl_tanh(v, seg))
    if cell == "lstm":
        return nx.lstm_cell(sig(pre[0]), sig(pre[1]), tanh(pre[2]), sig(pre[3]), state, seg)
    r, z = sig(pre[0]), sig(pre[1])
    h = nx.gru_update(tanh(nx.gru_candidate_pre(pre[2], pre[3], r)), z, state)
    return h, h


@pytest.mark.parametrize("cell,datapath", [("lstm", "parallel"), ("gru", "parallel"), ("lstm", "shared"),
                                           ("gru", "shared")])
def test_cell_stage_against_golden(cell, datapath):
    q, lay, _ = small_design(cell, x=5, h=6, p=4, layers=1, bidir=True, datapath=datapath)
    ld, H, P = 1, lay.hidden, lay.lanes  # the backward direction: its h sits after the forward half
    out_word0, out_lane0 = H // P, H % P
    banks = lay.gates + (cell == "gru")
    rng = np.random.default_rng(len(cell) + len(datapath))
    pres = [rng.integers(-2**15, 2**15, (banks, H)) for _ in range(2)]
    dut = CellStage(lay)
    t_bases = [0, lay.step_words]
    h_words = lay.layers[0].h_words
    seq, signs = {}, []

    async def bench(ctx):
        hbuf = [0] * h_words
        ctx.set(dut.pre_base, ld * H)
        ctx.set(dut.out_word0, out_word0)
        ctx.set(dut.out_lane0, out_lane0)
        memo_addr = h_addr = 0
        for t in range(2):
            ctx.set(dut.step0, int(t == 0))
            ctx.set(dut.t_base, t_bases[t])
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            ctx.set(dut.active, 1)
            for _ in range(dut.INTERVAL * H + dut.FILL + 4):
                for b in range(banks):  # the memo table and the h buffer answer a cycle later
                    ctx.set(dut.pre[b], int(pres[t][b][memo_addr - ld * H]) if 0 <= memo_addr - ld * H < H else 0)
                ctx.set(dut.h_data, hbuf[h_addr] if h_addr < h_words else 0)
                if ctx.get(dut.done):
                    break
                en = ctx.get(dut.h_wr_en)
                for lane in range(P):
                    if en >> lane & 1:
                        a = ctx.get(dut.h_wr_addr)
                        keep = hbuf[a] & ~(0xFF << 8 * lane)
                        hbuf[a] = keep | (ctx.get(dut.h_wr_data) & (0xFF << 8 * lane))
                sen = ctx.get(dut.seq_wr_en)
                for lane in range(P):
                    if sen >> lane & 1:
                        seq[t, ctx.get(dut.seq_wr_word), lane] = lanes_of(ctx.get(dut.seq_wr_data), P)[lane]
                if ctx.get(dut.h_valid):
                    signs.append(ctx.get(dut.h_sign))
                memo_addr, h_addr = ctx.get(dut.memo_addr), ctx.get(dut.h_addr)
                await ctx.tick()
            else:
                raise AssertionError("the cell phase never finished")
            ctx.set(dut.active, 0)

    run(dut, bench)
    state = np.zeros(H, np.int64)
    want_signs = []
    for t in range(2):
        h, state = _golden_step(cell, pres[t], state, lay.pwl_segments)
        if cell == "gru":
            state = h
        got = [seq[t, t_bases[t] + (out_word0 * P + out_lane0 + j) // P, (out_lane0 + j) % P] for j in range(H)]
        assert got == [int(v) for v in h]
        want_signs += [int(v >= 0) for v in h]
    assert signs == want_signs
