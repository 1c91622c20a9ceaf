"""Running the generated core in ``amaranth.sim``.

The core is driven directly (its streams and control inputs), which is the fastest way
to check the datapath; the Icarus and Verilator back ends test the AXI top level.
"""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from ..golden.inputs import Batch, quantize_inputs
from ..golden.qmodel import QModel
from ..hw.build import build_design
from ..hw.config import HwConfig
from ..hw.core import MemoCore
from ..hw.layout import MEMORIES, memory_images
from ..hw.spec import BuildSpec
from .settings import register_settings
from .trace import assemble, decode_sequence, pack_x, steps_from_words, trace_words_per_sequence


def build_core(model: QModel, config: HwConfig) -> MemoCore:
    """The core for ``model`` with its weights as memory initial contents and the trace on.

    Memories the configuration builds without initial contents (``weight_memory =
    "loaded"``) are left empty: :func:`run_amaranth` loads them first.
    """
    spec = BuildSpec.of(model, config, trace=True)
    return build_design(spec, memory_images(model, spec.layout), core_only=True)


async def _load_memories(ctx, core: MemoCore, images: dict, names) -> None:
    """Write ``images[name]`` for each of ``names`` through the core's load port, a word a cycle."""
    for name in names:
        ctx.set(core.load.sel, MEMORIES.index(name))
        for addr, word in enumerate(images[name]):
            ctx.set(core.load.addr, addr)
            ctx.set(core.load.data, int(word))
            ctx.set(core.load.en, 1)
            await ctx.tick()
    ctx.set(core.load.en, 0)


def run_amaranth(model: QModel, batch: Batch, config: HwConfig = HwConfig(), threshold=0.0, predictor="bnn",
                 reuse_cap: int = 0, vcd: str | None = None, max_cycles: int = 10_000_000,
                 extra_counters: bool = False) -> dict:
    """Simulate the core on ``batch``; returns the golden key table plus ``cycles``.

    Sequences go in back to back; every output beat and trace word is collected.
    ``extra_counters`` adds the hardware-only counters (``mac_busy_cycles``).
    ``threshold`` may be a :class:`~memornn.golden.options.RunOptions` (delta: on a
    ``skip = "delta"`` build), as :func:`~memornn.sim.settings.register_settings` reads it.
    """
    thetas, reuse_cap, skipping = register_settings(BuildSpec.of(model, config).layout, model.num_layers,
                                                    threshold, predictor, reuse_cap)  # checked before building
    core = build_core(model, config)
    layout = core.layout
    x_q = quantize_inputs(batch.x, model.input_scale)
    lengths = [int(v) for v in batch.lengths]
    beats_out: list[list[int]] = [[] for _ in lengths]
    trace_out: list[list[int]] = [[] for _ in lengths]
    trace_total = [trace_words_per_sequence(layout, n) for n in lengths]

    sim = Simulator(core)
    sim.add_clock(1e-8)

    async def drive(ctx):
        await _load_memories(ctx, core, memory_images(model, layout), layout.loaded_memories)
        for k, theta in enumerate(thetas):
            ctx.set(core.thetas[k], theta & 0xFFFF)
            if layout.skip == "delta":
                ctx.set(core.deltas[k].as_value(), theta >> 16)
        ctx.set(core.reuse_cap, reuse_cap)
        ctx.set(core.predictor, int(skipping))
        for i, length in enumerate(lengths):
            for t in range(length):
                ctx.set(core.i_x.payload.data, pack_x(x_q[i, t]))
                ctx.set(core.i_x.payload.last, t == length - 1)
                ctx.set(core.i_x.valid, 1)
                await ctx.tick().until(core.i_x.ready)
            ctx.set(core.i_x.valid, 0)

    async def collect_h(ctx):
        ctx.set(core.o_h.ready, 1)
        for i, length in enumerate(lengths):
            words = []
            while len(words) < length * layout.out_words:
                _, _, valid, data, last = await ctx.tick().sample(core.o_h.valid, core.o_h.payload.data,
                                                                  core.o_h.payload.last)
                if valid:
                    words.append(int(data))
                    if bool(last) != (len(words) == length * layout.out_words):
                        raise RuntimeError(f"sequence {i}: output last on word {len(words)} of "
                                           f"{length * layout.out_words}")
            beats_out[i] = steps_from_words(words, layout.lanes, layout.output_size)

    async def collect_trace(ctx):
        ctx.set(core.o_trace.ready, 1)
        cycles = 0
        for i in range(len(lengths)):
            while len(trace_out[i]) < trace_total[i]:
                _, _, valid, data = await ctx.tick().sample(core.o_trace.valid, core.o_trace.payload.data)
                cycles += 1
                if cycles > max_cycles:
                    raise RuntimeError(f"simulation exceeded {max_cycles} cycles")
                if valid:
                    trace_out[i].append(int(data))

    sim.add_testbench(drive)
    sim.add_testbench(collect_h)
    sim.add_testbench(collect_trace)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    per_sequence = [decode_sequence(layout, n, beats_out[i], trace_out[i]) for i, n in enumerate(lengths)]
    return assemble(layout, np.asarray(lengths), per_sequence, extra_counters)
