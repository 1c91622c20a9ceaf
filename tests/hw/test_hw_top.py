# amaranth: UnusedElaboratable=no
"""The top level (``hw/top.py``, ``hw/axil.py``) in amaranth.sim, against the golden model.

The testbench drives the AXI4-Lite slave with a small master that varies the order and
the delays of the AW and W channels and the ready of B and R, and drives and drains the
AXI4-Stream ports with random gaps, checking the stream and handshake rules as it goes.
"""

import functools
import re

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import ResetInserter
from amaranth.sim import Simulator

from memornn.golden.floatmodel import model_from_arrays
from memornn.golden.inputs import make_batch, quantize_inputs
from memornn.golden.intmodel import COUNTERS, golden_run, parse_thresholds
from memornn.golden.qmodel import layer_suffix
from memornn.golden.quantize import quantize_model
from memornn.hw import contract as T
from memornn.hw.axil import RESP_OKAY, RESP_SLVERR
from memornn.hw.config import HwConfig
from memornn.hw.contract import COUNTER_NAMES, REGISTERS
from memornn.hw.layout import MEMORIES, make_layout, memory_images, memory_widths
from memornn.hw.spec import BuildSpec
from memornn.hw.top import Accelerator, load_writes
from memornn.sim.trace import decode_sequence, pack_x, steps_from_words, trace_words_per_sequence

MAX_WAIT = 20_000  # cycles any single wait may take


# ---------------------------------------------------------------------------- models

@functools.lru_cache(maxsize=None)
def qmodel(cell, layers, bidirectional, x_size, hidden, seed):
    """A quantized random model (PyTorch-like init), calibrated on random inputs."""
    rng = np.random.default_rng(seed)
    gates = {"lstm": 4, "gru": 3}[cell]
    arrays = {"cell": np.array(cell)}
    bound = 1 / np.sqrt(hidden)
    for k in range(layers):
        for d in range(2 if bidirectional else 1):
            s = layer_suffix(k, d)
            x_in = x_size if k == 0 else hidden * (2 if bidirectional else 1)
            arrays["weight_ih" + s] = rng.uniform(-bound, bound, (gates * hidden, x_in))
            arrays["weight_hh" + s] = rng.uniform(-bound, bound, (gates * hidden, hidden))
            arrays["bias_ih" + s] = rng.uniform(-bound, bound, gates * hidden)
            arrays["bias_hh" + s] = rng.uniform(-bound, bound, gates * hidden)
    model = model_from_arrays(arrays)
    return quantize_model(model, make_batch(rng.normal(size=(4, 6, x_size))))


LSTM = ("lstm", 1, False, 5, 6)
GRU = ("gru", 2, True, 5, 6)


def layout_of(q, lanes=4, bnn=8, max_seq_len=8):
    return make_layout(q, HwConfig(mac_lanes=lanes, bnn_width=bnn, max_seq_len=max_seq_len))


class Case:
    """Sequences for one model: quantized beats and the golden key table."""

    def __init__(self, q, rng, lengths, threshold, predictor="bnn", reuse_cap=0):
        t_max = max(lengths)
        batch = make_batch(rng.normal(size=(len(lengths), t_max, q.input_size)), np.array(lengths))
        self.lengths = list(lengths)
        self.x_q = quantize_inputs(batch.x, q.input_scale)
        self.golden = golden_run(q, batch, threshold, predictor, reuse_cap)
        self.thetas = parse_thresholds(threshold, q.num_layers)
        self.reuse_cap = reuse_cap

    def beats(self, i):
        n = self.lengths[i]
        return [(pack_x(self.x_q[i, t]), t == n - 1) for t in range(n)]

    def check(self, layout, i, beats, trace=None):
        """Output beats (and trace words) of sequence ``i`` against the golden model."""
        n, g = self.lengths[i], self.golden
        assert [last for _, last in beats] == [t == n - 1 for t in range(n)]
        if trace is None:
            got = decode_sequence(layout, n, [b for b, _ in beats],
                                  [0] * trace_words_per_sequence(layout, n))
        else:
            assert [last for _, last in trace] == [k == len(trace) - 1 for k in range(len(trace))]
            got = decode_sequence(layout, n, [b for b, _ in beats], [w for w, _ in trace])
        assert np.array_equal(got["h_int"], g["h_int"][i, :n]), f"sequence {i}: h differs"
        if trace is not None:
            for desc in layout.layers:
                key = "reused" + layer_suffix(desc.layer, desc.direction)
                assert np.array_equal(got[key], g[key][i, :n]), f"sequence {i}: {key} differs"
            for name in COUNTERS:
                assert got[name] == g[name][i], f"sequence {i}: counter {name}"
        return got


def accel(layout, images=None, **options):
    """The top level of ``layout`` built with ``options`` (:class:`BuildSpec`'s fields)."""
    return Accelerator(BuildSpec(layout, **options), images)


# ---------------------------------------------------------------------------- harness

class Harness:
    """Drives an :class:`Accelerator` in amaranth.sim.

    Background testbenches feed ``s_axis`` from :attr:`to_send` and drain ``m_axis``
    (and the trace stream) into :attr:`out` / :attr:`trace`, with random gaps; the main
    testbench uses :meth:`write` / :meth:`read` for the registers.
    """

    def __init__(self, dut, seed=0, in_gap=0.3, out_ready=0.7):
        self.dut = dut
        self.rng = np.random.default_rng(seed)
        self.in_gap, self.out_ready = in_gap, out_ready
        self.to_send = []        # (data, last) beats still to send
        self.sent = 0            # beats accepted
        self.words = []          # (data, keep, last) from m_axis; see `out`
        self.trace = []          # (word, last) from m_axis_trace
        self.hold_out = False    # keep m_axis_tready low
        self.hold_trace = False  # keep m_axis_trace_tready low
        self.resets = 0          # soft resets done (the stream rules restart)
        self.resetting = False   # a soft reset is being written
        self.source_on = True    # False: the main testbench drives s_axis itself

    # -------------------------------------------------------------- streams
    async def _source(self, ctx):
        dut, rng = self.dut, self.rng
        presenting = False
        while True:
            if not self.source_on:
                assert not presenting
                await ctx.tick()
                continue
            if not presenting and self.to_send and rng.random() >= self.in_gap:
                data, last = self.to_send.pop(0)
                ctx.set(dut.s_axis_tdata, data)
                ctx.set(dut.s_axis_tlast, last)
                ctx.set(dut.s_axis_tvalid, 1)
                presenting = True
            elif not presenting:
                ctx.set(dut.s_axis_tvalid, 0)
                ctx.set(dut.s_axis_tdata, int(rng.integers(0, 2**30)))  # don't-care while not valid
            _, _, ready = await ctx.tick().sample(dut.s_axis_tready)
            if presenting and ready:
                presenting = False
                self.sent += 1

    def _sink(self, valid, ready, data, last, store, hold, keep=None):
        """Drain a stream into ``store`` as (data, last), or (data, keep, last) with ``keep``."""
        fields = (data, last) if keep is None else (data, keep, last)

        async def sink(ctx):
            pending = None  # (value, resets) of a beat offered but not taken
            while True:
                take = not hold() and self.rng.random() < self.out_ready
                ctx.set(ready, take)
                _, _, v, *beat = await ctx.tick().sample(valid, *fields)
                beat = tuple(int(b) for b in beat)
                if pending is not None and pending[1] == self.resets and not self.resetting:
                    assert v and beat == pending[0], "stream beat changed or withdrawn before it was taken"
                pending = None
                if v and take:
                    store.append(beat[:-1] + (bool(beat[-1]),))
                elif v:
                    pending = (beat, self.resets)
        return sink

    @property
    def out(self):
        """Output steps so far, (value of the step's H*D bytes, last), from the words of
        ``m_axis``: each step's words with full ``tkeep`` but the last, ``tlast`` only on
        a step's last word."""
        lay = self.dut.layout
        per_step = lay.out_words
        last_keep = (1 << (lay.output_size - (per_step - 1) * lay.lanes)) - 1
        steps = []
        for k in range(0, len(self.words) - per_step + 1, per_step):
            group = self.words[k:k + per_step]
            assert [keep for _, keep, _ in group] == [(1 << lay.lanes) - 1] * (per_step - 1) + [last_keep]
            assert not any(last for _, _, last in group[:-1]), "tlast inside a step"
            steps.append((steps_from_words([w for w, _, _ in group], lay.lanes, lay.output_size)[0], group[-1][2]))
        return steps

    # -------------------------------------------------------------- AXI4-Lite master
    async def write(self, ctx, addr, data, strb=0xF, aw_delay=None, w_delay=None):
        """One write; AW and W raised after their delays (random if None). Returns BRESP."""
        dut, rng = self.dut, self.rng
        aw_delay = int(rng.integers(0, 3)) if aw_delay is None else aw_delay
        w_delay = int(rng.integers(0, 3)) if w_delay is None else w_delay
        aw_done = w_done = b_seen = False
        for cycle in range(MAX_WAIT):
            aw_on = not aw_done and cycle >= aw_delay
            w_on = not w_done and cycle >= w_delay
            ctx.set(dut.s_axil_awvalid, aw_on)
            ctx.set(dut.s_axil_awaddr, addr if aw_on else int(rng.integers(0, 256)))
            ctx.set(dut.s_axil_awprot, int(rng.integers(0, 8)))
            ctx.set(dut.s_axil_wvalid, w_on)
            ctx.set(dut.s_axil_wdata, data if w_on else int(rng.integers(0, 2**32)))
            ctx.set(dut.s_axil_wstrb, strb if w_on else int(rng.integers(0, 16)))
            bready = aw_done and w_done and rng.random() < 0.7
            ctx.set(dut.s_axil_bready, bready)
            _, _, awr, wr, bvalid, bresp = await ctx.tick().sample(
                dut.s_axil_awready, dut.s_axil_wready, dut.s_axil_bvalid, dut.s_axil_bresp)
            if bvalid:
                assert aw_done and w_done, "BVALID before both AW and W were taken"
                b_seen = True
            else:
                assert not b_seen, "BVALID withdrawn before BREADY"
            if bvalid and bready:
                ctx.set(dut.s_axil_bready, 0)
                return int(bresp)
            aw_done |= aw_on and bool(awr)
            w_done |= w_on and bool(wr)
        raise AssertionError(f"write to {addr:#x} got no response")

    async def write_many(self, ctx, items, bready_p=0.3):
        """Writes issued back to back: AW and W run ahead of B. Returns the BRESPs in order."""
        dut, rng = self.dut, self.rng
        aw_n = w_n = 0
        aw_wait, w_wait = int(rng.integers(0, 3)), int(rng.integers(0, 3))
        resps = []
        for _ in range(MAX_WAIT):
            aw_on, w_on = aw_n < len(items) and aw_wait <= 0, w_n < len(items) and w_wait <= 0
            ctx.set(dut.s_axil_awvalid, aw_on)
            ctx.set(dut.s_axil_awaddr, items[aw_n][0] if aw_on else 0)
            ctx.set(dut.s_axil_wvalid, w_on)
            ctx.set(dut.s_axil_wdata, items[w_n][1] if w_on else 0)
            ctx.set(dut.s_axil_wstrb, 0xF)
            bready = rng.random() < bready_p
            ctx.set(dut.s_axil_bready, bready)
            _, _, awr, wr, bvalid, bresp = await ctx.tick().sample(
                dut.s_axil_awready, dut.s_axil_wready, dut.s_axil_bvalid, dut.s_axil_bresp)
            if bvalid:
                assert len(resps) < min(aw_n, w_n), "BVALID without a write taken"
                if bready:
                    resps.append(int(bresp))
                    if len(resps) == len(items):
                        ctx.set(dut.s_axil_bready, 0)
                        ctx.set(dut.s_axil_awvalid, 0)
                        ctx.set(dut.s_axil_wvalid, 0)
                        return resps
            if aw_on and awr:
                aw_n, aw_wait = aw_n + 1, int(rng.integers(0, 3))
            else:
                aw_wait -= 1
            if w_on and wr:
                w_n, w_wait = w_n + 1, int(rng.integers(0, 3))
            else:
                w_wait -= 1
        raise AssertionError(f"{len(items)} pipelined writes got {len(resps)} responses")

    async def read(self, ctx, addr):
        """One read; returns (RDATA, RRESP)."""
        dut, rng = self.dut, self.rng
        delay = int(rng.integers(0, 3))
        ar_done = False
        seen = None
        for cycle in range(MAX_WAIT):
            ar_on = not ar_done and cycle >= delay
            ctx.set(dut.s_axil_arvalid, ar_on)
            ctx.set(dut.s_axil_araddr, addr if ar_on else int(rng.integers(0, 256)))
            ctx.set(dut.s_axil_arprot, int(rng.integers(0, 8)))
            rready = ar_done and rng.random() < 0.7
            ctx.set(dut.s_axil_rready, rready)
            _, _, arr, rvalid, rdata, rresp = await ctx.tick().sample(
                dut.s_axil_arready, dut.s_axil_rvalid, dut.s_axil_rdata, dut.s_axil_rresp)
            if rvalid:
                assert ar_done, "RVALID before AR was taken"
                assert seen is None or seen == (rdata, rresp), "R payload changed before RREADY"
                seen = (rdata, rresp)
            else:
                assert seen is None, "RVALID withdrawn before RREADY"
            if rvalid and rready:
                ctx.set(dut.s_axil_rready, 0)
                return int(rdata), int(rresp)
            ar_done |= ar_on and bool(arr)
        raise AssertionError(f"read of {addr:#x} got no response")

    async def wr(self, ctx, addr, data, **kw):
        """A write that must succeed."""
        resp = await self.write(ctx, addr, data, **kw)
        assert resp == RESP_OKAY, f"write {addr:#x} answered {resp}"

    async def rd(self, ctx, addr):
        """A read that must succeed; returns the data."""
        data, resp = await self.read(ctx, addr)
        assert resp == RESP_OKAY, f"read {addr:#x} answered {resp}"
        return data

    # -------------------------------------------------------------- scenario helpers
    async def wait_until(self, ctx, cond, what, limit=MAX_WAIT):
        for _ in range(limit):
            if cond():
                return
            await ctx.tick()
        raise AssertionError(f"timed out waiting for {what}")

    async def soft_reset(self, ctx, ctrl=T.CTRL_RESET):
        self.resetting = True
        await self.wr(ctx, T.CTRL, ctrl | T.CTRL_SOFT_RESET)
        self.resets += 1
        self.resetting = False

    async def load(self, ctx, layout, images):
        for offset, value in load_writes(layout, images):
            await self.wr(ctx, offset, value)

    async def configure(self, ctx, case, predictor=1):
        for k, theta in enumerate(case.thetas):
            await self.wr(ctx, T.theta_offset(k), theta)
        await self.wr(ctx, T.REUSE_CAP, case.reuse_cap)
        await self.wr(ctx, T.CTRL, (T.CTRL_PREDICTOR if predictor else 0) | T.CTRL_RUN)

    async def run_sequence(self, ctx, case, i, layout):
        """Send sequence ``i``, collect its outputs (and trace), wait for SEQ_DONE; returns them."""
        done = await self.rd(ctx, T.SEQ_DONE)
        out0, tr0 = len(self.out), len(self.trace)
        self.to_send += case.beats(i)
        n = case.lengths[i]
        await self.wait_until(ctx, lambda: len(self.out) >= out0 + n, "output beats")
        if self.dut.trace:
            words = trace_words_per_sequence(layout, n)
            await self.wait_until(ctx, lambda: len(self.trace) >= tr0 + words, "trace words")
        for _ in range(100):
            if await self.rd(ctx, T.SEQ_DONE) == (done + 1) & 0xFFFF_FFFF:
                break
        else:
            raise AssertionError("SEQ_DONE did not advance")
        return self.out[out0:], self.trace[tr0:] if self.dut.trace else None

    async def read_counters(self, ctx):
        values = {}
        for name in COUNTER_NAMES:
            lo = await self.rd(ctx, T.counter_offset(name))
            hi = await self.rd(ctx, T.counter_offset(name, hi=True))
            values[name] = lo | hi << 32
        return values

    def run(self, main, pin_reset=None):
        """Simulate ``main`` with the streams' testbenches; ``pin_reset``, a signal the
        testbenches drive, is then the sync domain's reset (the ``rst`` pin)."""
        dut = self.dut
        sim = Simulator(dut if pin_reset is None else ResetInserter(pin_reset)(dut))
        sim.add_clock(1e-8)
        sim.add_testbench(self._source, background=True)
        sim.add_testbench(self._sink(dut.m_axis_tvalid, dut.m_axis_tready, dut.m_axis_tdata, dut.m_axis_tlast,
                                     self.words, lambda: self.hold_out, keep=dut.m_axis_tkeep), background=True)
        if dut.trace:
            sim.add_testbench(self._sink(dut.m_axis_trace_tvalid, dut.m_axis_trace_tready, dut.m_axis_trace_tdata,
                                         dut.m_axis_trace_tlast, self.trace, lambda: self.hold_trace),
                              background=True)
        sim.add_testbench(main)
        sim.run()


# ---------------------------------------------------------------------------- tests

def test_id_shape_and_reset_values():
    q = qmodel(*GRU, seed=1)
    lay = layout_of(q, lanes=8, bnn=16, max_seq_len=11)
    dut = accel(lay, trace=True)
    h = Harness(dut)
    mapped = {T.theta_offset(k) for k in range(lay.num_layers)}

    async def main(ctx):
        assert await h.rd(ctx, T.ID) == 0x4D4E0003  # register map version 3
        assert await h.rd(ctx, T.SHAPE) == 6 | 2 << 16 | 2 << 24 | 1 << 28
        assert await h.rd(ctx, T.SIZES) == 5 | 8 << 16
        assert await h.rd(ctx, T.BNN) == 16 | 1 << 16
        assert await h.rd(ctx, T.MAX_SEQ_LEN) == 11
        for name, offset, _access, reset, *_ in REGISTERS:
            if reset is None or (name.startswith("THETA") and offset not in mapped):
                continue
            assert await h.rd(ctx, offset) == reset, name

    h.run(main)


def test_registers_read_back_and_slverr():
    q = qmodel(*LSTM, seed=1)
    lay = layout_of(q)
    dut = accel(lay, trace=False, counter_bits=48)
    h = Harness(dut, seed=3)

    async def main(ctx):
        rng = h.rng
        # Every AW/W ordering: AW first, W first, together, and far apart.
        orders = [(0, 0), (0, 3), (3, 0), (1, 1), (0, 7), (6, 2)]
        for k, (aw, w) in enumerate(orders):
            value = int(rng.integers(0, 2**16))
            assert await h.write(ctx, T.theta_offset(0), value, aw_delay=aw, w_delay=w) == RESP_OKAY
            assert await h.rd(ctx, T.theta_offset(0)) == value
            cap = int(rng.integers(0, 256))
            assert await h.write(ctx, T.REUSE_CAP, cap | 0xABCD00, aw_delay=w, w_delay=aw) == RESP_OKAY
            assert await h.rd(ctx, T.REUSE_CAP) == cap
        # Writes issued back to back, the next AW/W offered while B waits: one B each, in order.
        items = [(T.theta_offset(0), 11), (0xE4, 1), (T.REUSE_CAP, 22), (T.theta_offset(0), 33), (0x01, 2),
                 (T.REUSE_CAP, 44), (0xFC, 3), (T.theta_offset(0), 55)]
        resps = await h.write_many(ctx, items)
        assert resps == [RESP_SLVERR if a in (0xE4, 0x01, 0xFC) else RESP_OKAY for a, _ in items]
        assert await h.rd(ctx, T.theta_offset(0)) == 55 and await h.rd(ctx, T.REUSE_CAP) == 44
        cap = 44
        # Byte strobes.
        await h.wr(ctx, T.theta_offset(0), 0x1234)
        await h.wr(ctx, T.theta_offset(0), 0xFFFF_AB99, strb=0b0010)
        assert await h.rd(ctx, T.theta_offset(0)) == 0xAB34
        await h.wr(ctx, T.REUSE_CAP, 0x77, strb=0b1110)
        assert await h.rd(ctx, T.REUSE_CAP) == cap
        # CTRL: PREDICTOR and RUN read back, SOFT_RESET reads 0.
        for ctrl in (0, 1, 2, 3):
            await h.wr(ctx, T.CTRL, ctrl)
            assert await h.rd(ctx, T.CTRL) == ctrl
        await h.wr(ctx, T.CTRL, 0x7)
        assert await h.rd(ctx, T.CTRL) == 0x3
        await h.wr(ctx, T.LOAD_SEL, 0xFD)
        assert await h.rd(ctx, T.LOAD_SEL) == 5
        await h.wr(ctx, T.LOAD_ADDR, 0x12_3456)
        assert await h.rd(ctx, T.LOAD_ADDR) == 0x12_3456
        assert await h.rd(ctx, T.LOAD_DATA) == 0
        # Read-only registers ignore writes.
        assert await h.write(ctx, T.ID, 0) == RESP_OKAY
        assert await h.rd(ctx, T.ID) == T.ID_VALUE
        assert await h.write(ctx, T.SEQ_DONE, 5) == RESP_OKAY
        assert await h.rd(ctx, T.SEQ_DONE) == 0
        await h.wr(ctx, T.STATUS, 0xFFFF_FFFF)
        assert await h.rd(ctx, T.STATUS) == 0
        # Unmapped: SLVERR, and writes have no effect.
        before = [await h.rd(ctx, off) for off in (T.CTRL, T.REUSE_CAP, T.theta_offset(0))]
        for addr in (T.theta_offset(1), T.theta_offset(15), 0x01, 0x0E, 0x50, 0x7C, 0x83, 0xCC, 0xE4, 0xFC,
                     *range(T.counter_offset(COUNTER_NAMES[-1], hi=True) + 4, T.LOAD_SEL, 4)):
            assert await h.write(ctx, addr, 0xFFFF_FFFF) == RESP_SLVERR, hex(addr)
            data, resp = await h.read(ctx, addr)
            assert (data, resp) == (0, RESP_SLVERR), hex(addr)
        after = [await h.rd(ctx, off) for off in (T.CTRL, T.REUSE_CAP, T.theta_offset(0))]
        assert before == after
        # Counters (48-bit here) read as LO/HI, all 0 before any sequence.
        assert all(v == 0 for v in (await h.read_counters(ctx)).values())

    h.run(main)


@pytest.mark.parametrize("shape, lanes", [(LSTM, 4), (GRU, 8)], ids=["lstm-P4", "gru2bi-P8"])
def test_runtime_load_matches_golden(shape, lanes):
    """All memories zero; two models loaded through LOAD_* in turn, each golden-exact."""
    q_a, q_b = qmodel(*shape, seed=11), qmodel(*shape, seed=12)
    lay = layout_of(q_a, lanes=lanes)
    assert layout_of(q_b, lanes=lanes) == lay
    dut = accel(lay, images=None, trace=True, counter_bits=40)
    h = Harness(dut, seed=5)
    rng = np.random.default_rng(7)
    thresholds = [0.3] * q_a.num_layers if q_a.num_layers == 1 else [0.3, 0.6]
    case_a = Case(q_a, rng, [5, 3], thresholds, reuse_cap=2)
    case_none = Case(q_a, rng, [4], 0.3, predictor="none")
    case_b = Case(q_b, rng, [4], 0.5)

    async def main(ctx):
        await h.load(ctx, lay, memory_images(q_a, lay))
        assert await h.rd(ctx, T.STATUS) == 0
        await h.configure(ctx, case_a)
        for i in range(2):
            beats, trace = await h.run_sequence(ctx, case_a, i, lay)
            got = case_a.check(lay, i, beats, trace)
            counters = await h.read_counters(ctx)
            for name in COUNTERS:
                assert counters[name] == case_a.golden[name][i], name
            assert counters["cycles"] == got["cycles"] > 0
        # PREDICTOR = 0: every neuron computed.
        await h.configure(ctx, case_none, predictor=0)
        beats, trace = await h.run_sequence(ctx, case_none, 0, lay)
        case_none.check(lay, 0, beats, trace)
        # A different model of the same shape, loaded at run time.
        await h.wr(ctx, T.CTRL, 0)
        await h.load(ctx, lay, memory_images(q_b, lay))
        await h.configure(ctx, case_b)
        beats, trace = await h.run_sequence(ctx, case_b, 0, lay)
        case_b.check(lay, 0, beats, trace)
        assert await h.rd(ctx, T.SEQ_DONE) == 4
        assert await h.rd(ctx, T.STATUS) == 0

    h.run(main)


def test_run_bit_holds_tready():
    q = qmodel(*LSTM, seed=2)
    lay = layout_of(q)
    dut = accel(lay, memory_images(q, lay), trace=False)
    h = Harness(dut, seed=9, in_gap=0.0)
    case = Case(q, np.random.default_rng(3), [4, 5], 0.4)

    async def main(ctx):
        await h.configure(ctx, case)
        await h.wr(ctx, T.CTRL, T.CTRL_PREDICTOR)  # RUN = 0
        h.to_send += case.beats(0)
        for _ in range(60):
            _, _, valid, ready = await ctx.tick().sample(dut.s_axis_tvalid, dut.s_axis_tready)
            assert not ready
        assert valid and h.sent == 0
        assert await h.rd(ctx, T.STATUS) == 0
        await h.wr(ctx, T.CTRL, T.CTRL_PREDICTOR | T.CTRL_RUN)
        await h.wait_until(ctx, lambda: h.sent >= 1, "the first beat")
        # RUN cleared mid-sequence: the sequence still finishes ...
        await h.wr(ctx, T.CTRL, T.CTRL_PREDICTOR)
        await h.wait_until(ctx, lambda: len(h.out) >= 4, "outputs")
        case.check(lay, 0, h.out[:4])
        # ... and the next one waits for RUN.
        h.to_send += case.beats(1)
        await ctx.tick().repeat(200)
        assert h.sent == 4 and await h.rd(ctx, T.SEQ_DONE) == 1
        await h.wr(ctx, T.CTRL, T.CTRL_PREDICTOR | T.CTRL_RUN)
        await h.wait_until(ctx, lambda: len(h.out) >= 9, "outputs")
        case.check(lay, 1, h.out[4:])

    h.run(main)


def test_soft_reset_mid_sequence():
    q = qmodel(*LSTM, seed=3)
    lay = layout_of(q)
    dut = accel(lay, memory_images(q, lay), trace=True)
    h = Harness(dut, seed=13)
    case = Case(q, np.random.default_rng(4), [5, 5, 5, 4], 0.3, reuse_cap=3)

    async def clean_sequence(ctx, i):
        busy = await h.rd(ctx, T.STATUS)
        assert busy & T.STATUS_BUSY == 0
        beats, trace = await h.run_sequence(ctx, case, i, lay)
        case.check(lay, i, beats, trace)

    async def main(ctx):
        await h.configure(ctx, case)
        # 1. During the input: two beats of five, then reset.
        h.to_send += case.beats(0)[:2]
        await h.wait_until(ctx, lambda: h.sent == 2, "two beats")
        assert await h.rd(ctx, T.STATUS) & T.STATUS_BUSY
        await h.soft_reset(ctx)
        await clean_sequence(ctx, 1)
        # 1b. A beat offered in the very cycle of the reset is not consumed by the aborted
        # sequence: it waits, and starts the next one. (Two beats in; the reset lands the
        # cycle after its AW and W are taken.)
        out0, tr0 = len(h.out), len(h.trace)
        h.to_send += case.beats(0)[:2]
        await h.wait_until(ctx, lambda: h.sent == 2 + 5 + 2, "two beats")
        await ctx.tick()
        h.source_on = False
        h.resetting = True
        for name, value in (("awaddr", T.CTRL), ("wdata", T.CTRL_RESET | T.CTRL_SOFT_RESET), ("wstrb", 0xF),
                            ("awvalid", 1), ("wvalid", 1)):
            ctx.set(getattr(dut, f"s_axil_{name}"), value)
        _, _, awr, wr = await ctx.tick().sample(dut.s_axil_awready, dut.s_axil_wready)
        assert awr and wr
        ctx.set(dut.s_axil_awvalid, 0)
        ctx.set(dut.s_axil_wvalid, 0)
        (data, last), *rest = case.beats(1)
        ctx.set(dut.s_axis_tdata, data)
        ctx.set(dut.s_axis_tlast, last)
        ctx.set(dut.s_axis_tvalid, 1)
        assert not ctx.get(dut.s_axis_tready)
        await ctx.tick().until(dut.s_axis_tready)  # taken at this edge
        ctx.set(dut.s_axis_tvalid, 0)
        ctx.set(dut.s_axil_bready, 1)
        await ctx.tick().until(dut.s_axil_bvalid)
        ctx.set(dut.s_axil_bready, 0)
        h.resets += 1
        h.resetting = False
        h.sent += 1
        h.to_send += rest
        h.source_on = True
        await h.wait_until(ctx, lambda: len(h.out) >= out0 + 5, "outputs")
        await h.wait_until(ctx, lambda: len(h.trace) >= tr0 + trace_words_per_sequence(lay, 5), "trace")
        case.check(lay, 1, h.out[out0:], h.trace[tr0:])
        for _ in range(100):
            if await h.rd(ctx, T.SEQ_DONE) == 2:
                break
        else:
            raise AssertionError("SEQ_DONE did not advance")
        # 2. During the computation (no output yet).
        out0, tr0 = len(h.out), len(h.trace)
        h.to_send += case.beats(0)
        await h.wait_until(ctx, lambda: h.sent == 5 + 2 + 5 + 2 + 5 and not h.to_send, "the whole input")
        await ctx.tick().repeat(150)
        assert len(h.out) == out0 and await h.rd(ctx, T.STATUS) & T.STATUS_BUSY
        await h.soft_reset(ctx)
        del h.trace[tr0:]  # trace words of the aborted sequence
        await ctx.tick().repeat(20)
        assert len(h.out) == out0 and len(h.trace) == tr0
        await clean_sequence(ctx, 2)
        # 3. During the output: m_axis held, one beat pending, reset.
        h.hold_out = True
        out0 = len(h.out)
        h.to_send += case.beats(2)
        await h.wait_until(ctx, lambda: ctx.get(dut.m_axis_tvalid), "an output beat")
        await h.soft_reset(ctx)
        h.hold_out = False
        await ctx.tick().repeat(20)
        assert len(h.out) == out0 and not ctx.get(dut.m_axis_tvalid)
        del h.trace[tr0 + trace_words_per_sequence(lay, 5):]
        await clean_sequence(ctx, 3)
        assert await h.rd(ctx, T.SEQ_DONE) == 4  # the clean ones only
        # Registers outside the core survive a soft reset.
        assert await h.rd(ctx, T.REUSE_CAP) == 3
        assert await h.rd(ctx, T.theta_offset(0)) == case.thetas[0]

    h.run(main)


def test_too_long_and_load_while_busy():
    q = qmodel(*LSTM, seed=4)
    lay = layout_of(q, max_seq_len=4)
    dut = accel(lay, memory_images(q, lay), trace=True)
    h = Harness(dut, seed=17)
    rng = np.random.default_rng(5)
    long_case = Case(q, rng, [7], 0.3)
    case = Case(q, rng, [4, 3], 0.3)

    async def main(ctx):
        await h.configure(ctx, case)
        h.to_send += long_case.beats(0)
        await h.wait_until(ctx, lambda: h.sent == 7, "the long sequence")
        for _ in range(100):
            if await h.rd(ctx, T.STATUS) & T.STATUS_ERR_TOO_LONG:
                break
        else:
            raise AssertionError("ERR_TOO_LONG not set")
        await ctx.tick().repeat(50)
        assert h.out == [] and h.trace == []
        assert await h.rd(ctx, T.STATUS) == T.STATUS_ERR_TOO_LONG
        assert await h.rd(ctx, T.SEQ_DONE) == 0
        await h.wr(ctx, T.STATUS, T.STATUS_ERR_TOO_LONG)
        assert await h.rd(ctx, T.STATUS) == 0
        # A sequence of exactly max_seq_len steps is fine.
        beats, trace = await h.run_sequence(ctx, case, 0, lay)
        case.check(lay, 0, beats, trace)
        # A weight load while busy is dropped and flagged.
        h.hold_out = True
        h.to_send += case.beats(1)
        await h.wait_until(ctx, lambda: h.sent == 7 + 4 + 3, "the input")
        assert await h.rd(ctx, T.STATUS) & T.STATUS_BUSY
        await h.wr(ctx, T.LOAD_SEL, MEMORIES.index("weights"))
        await h.wr(ctx, T.LOAD_ADDR, 0)
        await h.wr(ctx, T.LOAD_DATA, 0x7F7F_7F7F)
        assert await h.rd(ctx, T.LOAD_ADDR) == 1
        h.hold_out = False
        await h.wait_until(ctx, lambda: len(h.out) == 4 + 3, "outputs")
        await h.wait_until(ctx, lambda: len(h.trace) == trace_words_per_sequence(lay, 4)
                           + trace_words_per_sequence(lay, 3), "trace")
        case.check(lay, 1, h.out[4:], h.trace[trace_words_per_sequence(lay, 4):])
        assert await h.rd(ctx, T.STATUS) == T.STATUS_ERR_LOAD_BUSY
        await h.wr(ctx, T.STATUS, T.STATUS_ERR_LOAD_BUSY)
        assert await h.rd(ctx, T.STATUS) == 0

    h.run(main)


# ---------------------------------------------------------------------------- structure

AXIL_PORTS = {
    "s_axil_awaddr": ("input", 8), "s_axil_awprot": ("input", 3), "s_axil_awvalid": ("input", 1),
    "s_axil_awready": ("output", 1), "s_axil_wdata": ("input", 32), "s_axil_wstrb": ("input", 4),
    "s_axil_wvalid": ("input", 1), "s_axil_wready": ("output", 1), "s_axil_bresp": ("output", 2),
    "s_axil_bvalid": ("output", 1), "s_axil_bready": ("input", 1), "s_axil_araddr": ("input", 8),
    "s_axil_arprot": ("input", 3), "s_axil_arvalid": ("input", 1), "s_axil_arready": ("output", 1),
    "s_axil_rdata": ("output", 32), "s_axil_rresp": ("output", 2), "s_axil_rvalid": ("output", 1),
    "s_axil_rready": ("input", 1),
}


def _verilog_ports(text, name):
    header = re.search(rf"module {name}\((.*?)\);", text, re.S).group(1)
    names = [p.strip() for p in header.split(",")]
    ports = {}
    for direction, msb, port in re.findall(r"^\s*(input|output)\s+(?:wire\s+|reg\s+)?(?:\[(\d+):0\]\s*)?(\w+)\s*;",
                                           text, re.M):
        if port in names:
            ports[port] = (direction, int(msb) + 1 if msb else 1)
    assert sorted(ports) == sorted(names)
    return ports


@pytest.mark.parametrize("trace", [True, False])
def test_verilog_port_names(trace):
    q = qmodel(*GRU, seed=1)
    lay = layout_of(q)
    text = verilog.convert(accel(lay, memory_images(q, lay), trace=trace), name="memornn_accel")
    expected = {
        "clk": ("input", 1), "rst": ("input", 1),
        "s_axis_tdata": ("input", 5 * 8), "s_axis_tvalid": ("input", 1), "s_axis_tready": ("output", 1),
        "s_axis_tlast": ("input", 1),
        # Output words of P = 4 values (12 a step: three words).
        "m_axis_tdata": ("output", 4 * 8), "m_axis_tkeep": ("output", 4), "m_axis_tvalid": ("output", 1),
        "m_axis_tready": ("input", 1), "m_axis_tlast": ("output", 1),
        **AXIL_PORTS,
    }
    if trace:
        expected.update({"m_axis_trace_tdata": ("output", 32), "m_axis_trace_tvalid": ("output", 1),
                         "m_axis_trace_tready": ("input", 1), "m_axis_trace_tlast": ("output", 1)})
    assert _verilog_ports(text, "memornn_accel") == expected


def test_register_map_data():
    offsets = [reg.offset for reg in REGISTERS]
    assert len(set(offsets)) == len(offsets) and all(o % 4 == 0 and o < 256 for o in offsets)
    names = {name for name, *_ in REGISTERS}
    for name in ("CTRL", "STATUS", "REUSE_CAP", "SEQ_DONE", "THETA0", "THETA15", "CYCLES_LO", "MACS_SKIPPED_HI",
                 "LOAD_SEL", "LOAD_ADDR", "LOAD_DATA", "ID", "SHAPE", "SIZES", "BNN", "MAX_SEQ_LEN"):
        assert name in names
    assert {reg.access for reg in REGISTERS} == {"rw", "ro", "wo"}
    assert T.counter_offset("macs_skipped", hi=True) == 0x84 + 8 * 5
    assert T.counter_offset(COUNTER_NAMES[-1], hi=True) < T.LOAD_SEL
    assert T.theta_offset(15) == 0x4C
    for name in ("CTRL", "STATUS", "REUSE_CAP", "SEQ_DONE", "THETA", "LOAD_SEL", "LOAD_ADDR", "LOAD_DATA", "ID",
                 "SHAPE", "SIZES", "BNN", "MAX_SEQ_LEN"):
        assert name in T.__doc__


def test_load_writes():
    q = qmodel(*GRU, seed=1)
    lay = layout_of(q, lanes=8, bnn=4)
    images = memory_images(q, lay)
    widths = memory_widths(lay)
    writes = load_writes(lay, images)
    # Rebuild the images from the writes, as the hardware does.
    rebuilt, sel, addr, staged, piece = {}, None, None, 0, 0
    for offset, value in writes:
        assert 0 <= value < 2**32
        if offset == T.LOAD_SEL:
            sel = MEMORIES[value]
        elif offset == T.LOAD_ADDR:
            addr, staged, piece = value, 0, 0
        else:
            assert offset == T.LOAD_DATA
            staged |= value << (32 * piece)
            piece += 1
            if piece == -(-widths[sel] // 32):
                rebuilt.setdefault(sel, []).append(staged)
                assert len(rebuilt[sel]) == addr + 1
                addr, staged, piece = addr + 1, 0, 0
    assert rebuilt == {name: words for name, words in images.items() if words}
    assert widths["weights"] == widths["offsets"] == 64 and widths["weight_bits"] == 4
    assert sum(1 for o, _ in writes if o == T.LOAD_DATA) == \
        2 * (len(images["weights"]) + len(images["offsets"])) + sum(
            len(images[n]) for n in MEMORIES if n not in ("weights", "offsets"))
    with pytest.raises(ValueError, match="unknown memory 'foo'"):
        load_writes(lay, {"foo": [1]})
    with pytest.raises(ValueError, match="holds"):
        load_writes(lay, {"bias": [0] * (len(images["bias"]) + 1)})
    with pytest.raises(ValueError, match="does not fit in 4 bits"):
        load_writes(lay, {"weight_bits": [16]})
    with pytest.raises(ValueError, match="does not fit"):
        load_writes(lay, {"bias": [-1]})


def test_constructor_validation():
    q = qmodel(*LSTM, seed=1)
    lay = layout_of(q)
    with pytest.raises(ValueError, match="layout must be a Layout"):
        accel("lstm")
    with pytest.raises(ValueError, match="counter_bits .* got 8"):
        accel(lay, counter_bits=8)
    with pytest.raises(ValueError, match="row_fifo_depth .* got 1"):
        accel(lay, row_fifo_depth=1)
    with pytest.raises(ValueError, match="trace must be True or False, got 1"):
        accel(lay, trace=1)
    with pytest.raises(ValueError, match="unknown memory 'wieghts'"):
        accel(lay, images={"wieghts": []})
    with pytest.raises(ValueError, match="num_layers .* got 17"):
        accel(lay.__class__(**{**lay.__dict__, "num_layers": 17}))
