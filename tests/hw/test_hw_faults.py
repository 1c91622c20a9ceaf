"""The top level's answers to faults (issue 15), in amaranth.sim against the golden model.

Each fault of ``memornn.hw.contract.REGISTERS``' "faults" column: LOAD_* range errors,
a write-1-to-clear racing its event, settings written mid-sequence, partial LOAD_DATA
words, a missing TLAST, a trace stream held off, simultaneous AXI-Lite reads and writes,
and a pin reset with responses outstanding. The Icarus and Verilator versions are
``tests/rtl/test_rtl_faults.py``.
"""

import pathlib

import numpy as np
import pytest
from amaranth.hdl import Signal
from test_hw_top import LSTM, Case, Harness, accel, layout_of, qmodel

from memornn.hw import contract as T
from memornn.hw.axil import RESP_OKAY, RESP_SLVERR
from memornn.hw.config import HwConfig
from memornn.hw.layout import MEMORIES, memory_depths, memory_images
from memornn.hw.spec import BuildSpec, counter_bounds
from memornn.golden.errors import MemornnError
from memornn.sim.trace import trace_words_per_sequence

RANGE = T.STATUS_ERR_LOAD_RANGE


async def clean_sequence(ctx, h, case, i, lay):
    beats, trace = await h.run_sequence(ctx, case, i, lay)
    case.check(lay, i, beats, trace)


def test_load_faults_answer_slverr_and_write_nothing():
    """Out-of-range loads answer SLVERR, write nothing (the sequences after them stay
    golden-exact) and set ERR_LOAD_RANGE; partial words never outlive a LOAD_SEL write, a
    soft reset or a sequence."""
    q = qmodel(*LSTM, seed=21)
    lay = layout_of(q, lanes=8)  # 64-bit weight words: two LOAD_DATA writes each
    images = memory_images(q, lay)
    depths = memory_depths(lay)
    dut = accel(lay, images, trace=True)
    h = Harness(dut, seed=23)
    case = Case(q, np.random.default_rng(24), [3, 4, 3], 0.3)
    weights, word0 = MEMORIES.index("weights"), int(images["weights"][0])
    pieces0 = [word0 & 0xFFFF_FFFF, word0 >> 32]

    async def refused(ctx, addr, value):
        assert await h.write(ctx, addr, value) == RESP_SLVERR, hex(addr)
        assert await h.rd(ctx, T.STATUS) == RANGE
        await h.wr(ctx, T.STATUS, RANGE)
        assert await h.rd(ctx, T.STATUS) == 0

    async def main(ctx):
        await h.configure(ctx, case)
        # LOAD_SEL naming no memory: 6, 7, and bias_hn (depth 0 in an LSTM).
        await h.wr(ctx, T.LOAD_SEL, MEMORIES.index("bias"))
        for sel in (6, 7, MEMORIES.index("bias_hn")):
            assert depths.get(MEMORIES[sel] if sel < len(MEMORIES) else "", 0) == 0
            await refused(ctx, T.LOAD_SEL, sel)
            assert await h.rd(ctx, T.LOAD_SEL) == MEMORIES.index("bias")
        # LOAD_ADDR is held as written; LOAD_DATA refuses an address beyond the memory,
        # every piece, and LOAD_ADDR stays.
        for name in ("weights", "offsets", "bias", "requant", "weight_bits"):
            await h.wr(ctx, T.LOAD_SEL, MEMORIES.index(name))
            for addr in (depths[name], depths[name] + 5, 2**T.LOAD_ADDR_BITS - 1):
                await h.wr(ctx, T.LOAD_ADDR, addr)
                await refused(ctx, T.LOAD_DATA, 0xDEAD_BEEF)
                assert await h.rd(ctx, T.LOAD_ADDR) == addr
        # Advancing past the end: the last word loads, the next one is refused.
        last = depths["bias"] - 1
        await h.wr(ctx, T.LOAD_SEL, MEMORIES.index("bias"))
        await h.wr(ctx, T.LOAD_ADDR, last)
        await h.wr(ctx, T.LOAD_DATA, int(images["bias"][last]))
        assert await h.rd(ctx, T.LOAD_ADDR) == depths["bias"]
        await refused(ctx, T.LOAD_DATA, 0x1234_5678)
        # A LOAD_SEL change made LOAD_ADDR out of range: refused too.
        await h.wr(ctx, T.LOAD_SEL, weights)
        await h.wr(ctx, T.LOAD_ADDR, depths["bias"] - 1)
        await h.wr(ctx, T.LOAD_SEL, MEMORIES.index("offsets"))
        assert depths["offsets"] <= depths["bias"] - 1
        await refused(ctx, T.LOAD_DATA, 0xFFFF_FFFF)
        await clean_sequence(ctx, h, case, 0, lay)  # nothing of the above reached a memory

        async def rewrite_word0_after(discard):
            """A stray first piece, ``discard``, then word 0's two pieces: LOAD_ADDR moves
            only on the second, so the stray piece was dropped."""
            await h.wr(ctx, T.LOAD_SEL, weights)
            await h.wr(ctx, T.LOAD_ADDR, 0)
            await h.wr(ctx, T.LOAD_DATA, 0xA5A5_A5A5)
            await discard()
            await h.wr(ctx, T.LOAD_DATA, pieces0[0])
            assert await h.rd(ctx, T.LOAD_ADDR) == 0
            await h.wr(ctx, T.LOAD_DATA, pieces0[1])
            assert await h.rd(ctx, T.LOAD_ADDR) == 1

        async def sequence():
            await clean_sequence(ctx, h, case, 1, lay)

        await rewrite_word0_after(lambda: h.wr(ctx, T.LOAD_SEL, weights))
        await rewrite_word0_after(lambda: h.soft_reset(ctx))
        await rewrite_word0_after(sequence)
        # A piece refused for its address reaches no word: the LOAD_ADDR write that makes
        # the address good again restarts at piece 0, so word 0 takes only its own pieces.
        await h.wr(ctx, T.LOAD_SEL, weights)
        await h.wr(ctx, T.LOAD_ADDR, depths["weights"])
        await refused(ctx, T.LOAD_DATA, 0x5A5A_5A5A)
        await h.wr(ctx, T.LOAD_ADDR, 0)
        await h.wr(ctx, T.LOAD_DATA, pieces0[0])
        assert await h.rd(ctx, T.LOAD_ADDR) == 0
        await h.wr(ctx, T.LOAD_DATA, pieces0[1])
        assert await h.rd(ctx, T.LOAD_ADDR) == 1
        await clean_sequence(ctx, h, case, 2, lay)  # word 0 is whole again
        assert await h.rd(ctx, T.STATUS) == 0

    h.run(main)


def test_w1c_in_the_cycle_of_a_new_error_keeps_it():
    """ERR_TOO_LONG's event (the cycle a too-long sequence's TLAST beat is taken) raced
    against a write-1-to-clear at several offsets, the event's own cycle among them."""
    q = qmodel(*LSTM, seed=25)
    lay = layout_of(q, max_seq_len=2)
    dut = accel(lay, memory_images(q, lay), trace=True)
    h = Harness(dut, seed=26, in_gap=0.0)
    long_case = Case(q, np.random.default_rng(27), [3], 0.3)
    offsets = {}

    async def race(ctx, delay):
        """The TLAST beat offered at cycle 0, the STATUS W1C's AW and W at ``delay``;
        returns (event cycle, clear cycle, ERR_TOO_LONG afterwards)."""
        beats = long_case.beats(0)
        sent = h.sent
        h.to_send += beats[:-1]
        await h.wait_until(ctx, lambda: h.sent == sent + len(beats) - 1, "the first beats")
        h.source_on = False
        await ctx.tick()
        event = clear = None
        ctx.set(dut.s_axil_bready, 1)
        for cycle in range(200):
            s_on, aw_on = event is None, clear is None and cycle >= delay
            ctx.set(dut.s_axis_tvalid, s_on)
            ctx.set(dut.s_axis_tdata, beats[-1][0])
            ctx.set(dut.s_axis_tlast, 1)
            for name, value in (("awaddr", T.STATUS), ("wdata", T.STATUS_ERR_TOO_LONG), ("wstrb", 0xF)):
                ctx.set(getattr(dut, f"s_axil_{name}"), value)
            ctx.set(dut.s_axil_awvalid, aw_on)
            ctx.set(dut.s_axil_wvalid, aw_on)
            _, _, sready, awr, wr, bvalid = await ctx.tick().sample(
                dut.s_axis_tready, dut.s_axil_awready, dut.s_axil_wready, dut.s_axil_bvalid)
            if s_on and sready:
                event = cycle
            if aw_on:
                assert awr and wr  # both holding registers are free: taken together
                clear = cycle + 1  # wr_en: the cycle after AW and W are held (hw/axil.py)
            if bvalid and event is not None and clear is not None:
                break
        ctx.set(dut.s_axis_tvalid, 0)
        ctx.set(dut.s_axil_awvalid, 0)
        ctx.set(dut.s_axil_wvalid, 0)
        ctx.set(dut.s_axil_bready, 0)
        h.sent += 1
        h.source_on = True
        status = await h.rd(ctx, T.STATUS)
        await h.wr(ctx, T.STATUS, T.STATUS_ERRORS)
        return event, clear, bool(status & T.STATUS_ERR_TOO_LONG)

    async def main(ctx):
        await h.configure(ctx, long_case)
        for delay in range(6):
            event, clear, set_after = await race(ctx, delay)
            offsets[clear - event] = set_after
        assert h.out == []

    h.run(main)
    # "event" is when TLAST is taken, where the core flags the error (it cannot know
    # earlier): a clear up to then keeps the bit, and a clear later than the event clears it.
    results = sorted(offsets.items())
    assert all(kept for offset, kept in results if offset <= 0), results
    assert 0 in offsets and not results[-1][1], results


def test_settings_written_mid_sequence_take_effect_at_the_next():
    q = qmodel(*LSTM, seed=28)
    lay = layout_of(q)
    dut = accel(lay, memory_images(q, lay), trace=True)
    h = Harness(dut, seed=29)
    rng = np.random.default_rng(30)
    first = Case(q, rng, [4], 0.3, reuse_cap=2)
    second = Case(q, rng, [4], 0.9, reuse_cap=1)
    third = Case(q, rng, [3], 0.9, predictor="none", reuse_cap=1)

    async def in_flight(ctx, case, writes):
        """Run ``case`` with the output held, do ``writes`` while BUSY, then release it."""
        h.hold_out = True
        out0, tr0 = len(h.out), len(h.trace)
        h.to_send += case.beats(0)
        await h.wait_until(ctx, lambda: h.sent and not h.to_send, "the input")
        assert await h.rd(ctx, T.STATUS) & T.STATUS_BUSY
        for offset, value in writes:
            await h.wr(ctx, offset, value)
            assert await h.rd(ctx, offset) == value  # reads back at once
        assert await h.rd(ctx, T.STATUS) & T.STATUS_BUSY
        h.hold_out = False
        n = case.lengths[0]
        await h.wait_until(ctx, lambda: len(h.out) >= out0 + n, "outputs")
        await h.wait_until(ctx, lambda: len(h.trace) >= tr0 + trace_words_per_sequence(lay, n), "trace")
        case.check(lay, 0, h.out[out0:], h.trace[tr0:])

    async def main(ctx):
        await h.configure(ctx, first)
        await in_flight(ctx, first, [(T.theta_offset(0), second.thetas[0]), (T.REUSE_CAP, second.reuse_cap)])
        await in_flight(ctx, second, [(T.CTRL, T.CTRL_RUN)])  # PREDICTOR = 0
        await in_flight(ctx, third, [])

    h.run(main)


def test_missing_tlast_and_trace_held_off():
    """A frame without TLAST runs into the next one: too long, dropped, flagged; the
    next sequence is exact. Then the trace stream held off for 5000 cycles loses nothing."""
    q = qmodel(*LSTM, seed=31)
    lay = layout_of(q, max_seq_len=5)
    dut = accel(lay, memory_images(q, lay), trace=True)
    h = Harness(dut, seed=32)
    rng = np.random.default_rng(33)
    frames = Case(q, rng, [4, 3], 0.3)
    case = Case(q, rng, [5, 4], 0.3)

    async def main(ctx):
        await h.configure(ctx, case)
        h.to_send += [(data, False) for data, _ in frames.beats(0)] + frames.beats(1)
        await h.wait_until(ctx, lambda: h.sent == 7, "both frames")
        for _ in range(50):
            if await h.rd(ctx, T.STATUS) & T.STATUS_ERR_TOO_LONG:
                break
        else:
            raise AssertionError("ERR_TOO_LONG not set")
        assert h.out == [] and h.trace == [] and await h.rd(ctx, T.SEQ_DONE) == 0
        await h.wr(ctx, T.STATUS, T.STATUS_ERR_TOO_LONG)
        await clean_sequence(ctx, h, case, 0, lay)
        # A sequence of max_seq_len steps stays within every counter's bound.
        bounds = counter_bounds(lay)
        counters = await h.read_counters(ctx)
        assert all(0 < counters[name] <= bounds[name] for name in T.COUNTER_NAMES if name != "neurons_reused")
        # The trace held off with two sequences queued (more words than its FIFO holds):
        # the core waits (BUSY) and nothing is lost.
        h.hold_trace = True
        out0, tr0 = len(h.out), len(h.trace)
        h.to_send += case.beats(0) + case.beats(1)
        await ctx.tick().repeat(5000)
        assert len(h.trace) == tr0 and h.sent == 7 + 5 + 5 + 4
        assert await h.rd(ctx, T.STATUS) & T.STATUS_BUSY
        h.hold_trace = False
        words = [trace_words_per_sequence(lay, n) for n in case.lengths]
        await h.wait_until(ctx, lambda: len(h.trace) >= tr0 + sum(words), "trace")
        await h.wait_until(ctx, lambda: len(h.out) >= out0 + 9, "outputs")
        case.check(lay, 0, h.out[out0:out0 + 5], h.trace[tr0:tr0 + words[0]])
        case.check(lay, 1, h.out[out0 + 5:], h.trace[tr0 + words[0]:])
        assert await h.rd(ctx, T.STATUS) == 0

    h.run(main)


def test_simultaneous_read_and_write():
    """AR and AW/W in the same cycle: the read is decoded when AR is taken (the value
    before the write), the write lands the cycle after; both answer, with their own RESP."""
    q = qmodel(*LSTM, seed=34)
    lay = layout_of(q)
    dut = accel(lay, trace=False)
    h = Harness(dut, seed=35)

    async def both(ctx, raddr, waddr, wdata):
        ctx.set(dut.s_axil_araddr, raddr)
        ctx.set(dut.s_axil_awaddr, waddr)
        ctx.set(dut.s_axil_wdata, wdata)
        ctx.set(dut.s_axil_wstrb, 0xF)
        for name in ("arvalid", "awvalid", "wvalid", "rready", "bready"):
            ctx.set(getattr(dut, f"s_axil_{name}"), 1)
        _, _, arr, awr, wr = await ctx.tick().sample(dut.s_axil_arready, dut.s_axil_awready, dut.s_axil_wready)
        assert arr and awr and wr
        for name in ("arvalid", "awvalid", "wvalid"):
            ctx.set(getattr(dut, f"s_axil_{name}"), 0)
        r = b = None
        for _ in range(10):
            _, _, rvalid, rdata, rresp, bvalid, bresp = await ctx.tick().sample(
                dut.s_axil_rvalid, dut.s_axil_rdata, dut.s_axil_rresp, dut.s_axil_bvalid, dut.s_axil_bresp)
            r = (int(rdata), int(rresp)) if rvalid else r
            b = int(bresp) if bvalid else b
            if r is not None and b is not None:
                break
        ctx.set(dut.s_axil_rready, 0)
        ctx.set(dut.s_axil_bready, 0)
        await ctx.tick()
        return r, b

    async def main(ctx):
        await h.wr(ctx, T.theta_offset(0), 0x111)
        assert await both(ctx, T.theta_offset(0), T.theta_offset(0), 0x222) == ((0x111, RESP_OKAY), RESP_OKAY)
        assert await h.rd(ctx, T.theta_offset(0)) == 0x222
        assert await both(ctx, T.REUSE_CAP, T.theta_offset(0), 0x333) == ((0, RESP_OKAY), RESP_OKAY)
        assert await both(ctx, 0xFC, T.REUSE_CAP, 7) == ((0, RESP_SLVERR), RESP_OKAY)
        assert await both(ctx, T.theta_offset(0), 0xFC, 1) == ((0x333, RESP_OKAY), RESP_SLVERR)
        assert await both(ctx, T.STATUS, T.LOAD_SEL, 7) == ((0, RESP_OKAY), RESP_SLVERR)
        assert await both(ctx, T.STATUS, T.STATUS, RANGE) == ((RANGE, RESP_OKAY), RESP_OKAY)
        assert await h.rd(ctx, T.STATUS) == 0 and await h.rd(ctx, T.REUSE_CAP) == 7

    h.run(main)


def test_pin_reset_with_responses_outstanding():
    """The rst pin while B and R wait for their READY: both withdrawn, every register back
    to its reset value, and the accelerator works on."""
    q = qmodel(*LSTM, seed=36)
    lay = layout_of(q)
    dut = accel(lay, memory_images(q, lay), trace=True)
    h = Harness(dut, seed=37)
    case = Case(q, np.random.default_rng(38), [4], 0.3)
    rst = Signal()

    async def main(ctx):
        await h.wr(ctx, T.theta_offset(0), 0x55)
        await h.wr(ctx, T.CTRL, T.CTRL_RUN)
        for name, value in (("araddr", T.theta_offset(0)), ("awaddr", T.REUSE_CAP), ("wdata", 9), ("wstrb", 0xF),
                            ("arvalid", 1), ("awvalid", 1), ("wvalid", 1), ("rready", 0), ("bready", 0)):
            ctx.set(getattr(dut, f"s_axil_{name}"), value)
        await ctx.tick()
        for name in ("arvalid", "awvalid", "wvalid"):
            ctx.set(getattr(dut, f"s_axil_{name}"), 0)
        await ctx.tick().repeat(3)
        assert ctx.get(dut.s_axil_rvalid) and ctx.get(dut.s_axil_bvalid)
        ctx.set(rst, 1)
        await ctx.tick().repeat(2)
        ctx.set(rst, 0)
        assert not ctx.get(dut.s_axil_rvalid) and not ctx.get(dut.s_axil_bvalid)
        await ctx.tick()
        assert not ctx.get(dut.s_axil_rvalid) and not ctx.get(dut.s_axil_bvalid)
        for reg in T.mapped_registers(lay.num_layers):
            if reg.reset is not None:
                assert await h.rd(ctx, reg.offset) == reg.reset, reg.name
        await h.configure(ctx, case)
        await clean_sequence(ctx, h, case, 0, lay)

    h.run(main, pin_reset=rst)


def test_counters_that_could_wrap_are_refused():
    """counter_bits too narrow for a counter's bound in max_seq_len steps: refused,
    naming the counter and its bound; one bit more is accepted."""
    q = qmodel(*LSTM, seed=1)
    config = HwConfig(mac_lanes=1, bnn_width=1, max_seq_len=65536, counter_bits=16)
    with pytest.raises(MemornnError, match=r"counter_bits = 16 is too narrow: the (\w+) counter can reach \d+"):
        BuildSpec.of(q, config)
    bounds = counter_bounds(BuildSpec.of(q, config.replace(counter_bits=64)).layout)
    need = max(b.bit_length() for b in bounds.values())
    assert need > 16
    lay = BuildSpec.of(q, config.replace(counter_bits=64)).layout
    with pytest.raises(MemornnError, match=f"needs {need} bits"):
        BuildSpec(lay, counter_bits=need - 1)
    assert BuildSpec(lay, counter_bits=need).counter_bits == need


@pytest.mark.parametrize("doc", ["README.md", "docs/hardware.md"])
def test_docs_show_the_register_map(doc):
    """The README's and docs/hardware.md's register tables are the contract's data."""
    text = (pathlib.Path(__file__).resolve().parents[2] / doc).read_text()
    assert T.register_table() in text
