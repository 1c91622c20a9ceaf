"""The accelerator's top level: :class:`~memornn.hw.core.MemoCore` behind AXI interfaces.

Ports
-----
Flat members of the signature, so the Verilog port names are exactly these (plus
``clk`` and ``rst``):

- ``s_axis_tdata`` (X*8), ``s_axis_tvalid``, ``s_axis_tready``, ``s_axis_tlast``: input
  steps, element i of x_t in bits 8i..8i+7, ``tlast`` on a sequence's last step.
- ``m_axis_tdata`` (P*8), ``m_axis_tkeep`` (P), ``m_axis_tvalid``, ``m_axis_tready``,
  ``m_axis_tlast``: the last layer's output (H*D values a step, forward half first) in
  words of P values, ``ceil(H*D / P)`` beats a step; ``tkeep`` clears the padding bytes
  of a step's last word (an AXI4-Stream sink that drops null bytes sees H*D bytes a
  step), ``tlast`` on the sequence's last beat.
- ``m_axis_trace_tdata`` (32), ``m_axis_trace_tvalid``, ``m_axis_trace_tready``,
  ``m_axis_trace_tlast``: only with ``trace``; the reuse-trace words of
  :class:`~memornn.hw.core.MemoCore`.
- ``s_axil_aw{addr,prot,valid,ready}``, ``s_axil_w{data,strb,valid,ready}``,
  ``s_axil_b{resp,valid,ready}``, ``s_axil_ar{addr,prot,valid,ready}``,
  ``s_axil_r{data,resp,valid,ready}``: AXI4-Lite slave, 32-bit data, 8-bit byte
  addresses (:class:`~memornn.hw.axil.AxiLiteRegisterInterface`).

Register map
------------
:mod:`memornn.hw.contract` holds the register map as data (:data:`~memornn.hw.contract.REGISTERS`:
offsets, access, reset values, bits and the fault behaviour of each), and
:meth:`Accelerator.elaborate` generates the address decode from it: each mapped register
is read and written by the handler of its name, and any other address (unaligned ones,
THETA<k> for k >= num_layers) answers SLVERR with nothing written. WSTRB is honoured by
every register but LOAD_DATA.

Loading weights at run time: write LOAD_SEL, then LOAD_ADDR = 0, then every word of the
memory's image as ceil(width/32) LOAD_DATA writes each (:func:`load_writes` produces the
sequence). The core ignores loads while BUSY, so clear CTRL.RUN and wait for BUSY = 0
first; a word dropped that way sets STATUS.ERR_LOAD_BUSY (LOAD_ADDR still advances).

Shadowed settings: THETA<k>, REUSE_CAP and CTRL.PREDICTOR are latched by the core when
a sequence starts, so a write while a sequence is in flight reads back at once and takes
effect at the next sequence.

SOFT_RESET resets every register of the core (its FSM, FIFOs, the trace stream and the
counters of the last sequence, which read 0 afterwards) and discards a partial LOAD_DATA
word, but keeps this module's other registers. An input beat is never consumed in the
reset cycle; an output or trace stream of the aborted sequence ends where it was cut (no
``tlast``), so the host should drain or reset its stream receivers as well.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, ResetInserter, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..golden import numerics as nx
from . import contract as C
from .axil import AxiLiteRegisterInterface, AxiLiteSignature
from .core import MemoCore
from .layout import MEMORIES, Layout, ceil_div, memory_depths, memory_widths
from .spec import BuildSpec, check_images

# The register map's names, for code that imported them from here before hw/contract.py.
from .contract import (AXIL_ADDR_BITS, AXIL_DATA_BITS, BNN, COUNTER_BASE, CTRL, CTRL_PREDICTOR,  # noqa: F401
                       CTRL_RESET, CTRL_RUN, CTRL_SOFT_RESET, ID, ID_VALUE, LOAD_ADDR, LOAD_DATA, LOAD_SEL,
                       MAX_LAYERS, MAX_SEQ_LEN, REGISTERS, REUSE_CAP, SEQ_DONE, SHAPE, SIZES, STATUS,
                       STATUS_BUSY, STATUS_ERR_LOAD_BUSY, STATUS_ERR_LOAD_RANGE, STATUS_ERR_TOO_LONG, THETA_BASE,
                       counter_offset, theta_offset)


def load_writes(layout: Layout, images: dict) -> list[tuple[int, int]]:
    """The AXI4-Lite writes that load memory images through the LOAD_* registers.

    Parameters
    ----------
    layout : Layout
    images : dict of str to list of int
        Memory images keyed by names of ``MEMORIES`` (as from :func:`memory_images`);
        empty or missing images are skipped.

    Returns
    -------
    list of (int, int)
        ``(byte offset, 32-bit value)`` pairs, in order: per memory LOAD_SEL, LOAD_ADDR = 0,
        then each word as ceil(width/32) LOAD_DATA writes, least significant first.

    Raises
    ------
    ValueError
        On an unknown memory name, an image deeper than its memory, or a word that is
        negative or does not fit the memory's width.
    """
    widths, depths = memory_widths(layout), memory_depths(layout)
    for name in images:
        if name not in MEMORIES:
            raise ValueError(f"unknown memory {name!r} (known: {', '.join(MEMORIES)})")
    writes = []
    for index, name in enumerate(MEMORIES):
        words = list(images.get(name, []))
        if not words:
            continue
        if len(words) > depths[name]:
            raise ValueError(f"image of {name} has {len(words)} words, the memory holds {depths[name]}")
        width = widths[name]
        pieces = ceil_div(width, C.AXIL_DATA_BITS)
        writes += [(C.LOAD_SEL, index), (C.LOAD_ADDR, 0)]
        for addr, word in enumerate(words):
            word = int(word)
            if not 0 <= word < 1 << width:
                raise ValueError(f"word {addr} of {name} is {word:#x}, which does not fit in {width} bits")
            writes += [(C.LOAD_DATA, (word >> (C.AXIL_DATA_BITS * i)) & 0xFFFF_FFFF) for i in range(pieces)]
    return writes


def make_core(spec: BuildSpec, images: dict | None = None) -> MemoCore:
    """The core of ``spec``: :class:`MemoCore`, or for ``skip = "delta"`` the
    :class:`~memornn.hw.delta_core.DeltaCore`."""
    if spec.layout.skip == "delta":
        from .delta_core import DeltaCore  # imports this module's MemoCore

        return DeltaCore(spec, images)
    return MemoCore(spec, images)


class _Registers:
    """The register file's state and its per-register read values and write handlers."""

    def __init__(self, layout: Layout, core: MemoCore):
        self.predictor = Signal(init=1)
        self.run = Signal(init=1)
        self.reuse_cap = Signal(nx.REUSE_CAP_BITS)
        self.seq_done = Signal(C.SEQ_DONE_BITS)
        # A delta build's THETA<k> holds DELTA_X and DELTA_H above the 16-bit theta.
        theta_bits = C.DELTA_H_SHIFT + nx.DELTA_BITS if layout.skip == "delta" else nx.THETA_BITS
        self.thetas = [Signal(theta_bits, name=f"theta{k}") for k in range(layout.num_layers)]
        self.load_sel = Signal(C.LOAD_SEL_BITS)
        self.load_addr = Signal(len(core.load.addr))
        # Sticky STATUS errors, by bit, and the event that sets each this cycle.
        self.errors = {C.STATUS_ERR_TOO_LONG: Signal(name="err_too_long"),
                       C.STATUS_ERR_LOAD_BUSY: Signal(name="err_load_busy"),
                       C.STATUS_ERR_LOAD_RANGE: Signal(name="err_load_range")}
        self.events = {bit: Signal(name=f"{err.name}_event") for bit, err in self.errors.items()}
        self.status_clear = Signal(C.AXIL_DATA_BITS)  # the bits a STATUS write clears this cycle

    def status(self, busy):
        bits = [busy] + [self.errors.get(1 << i, Const(0, 1)) for i in range(1, C.STATUS_ERRORS.bit_length())]
        return Cat(*bits)

    def update_errors(self, m: Module) -> None:
        """A bit is set by its event, cleared by a write of 1; the event wins a tie."""
        for bit, err in self.errors.items():
            m.d.sync += err.eq((err & ~self.status_clear[bit.bit_length() - 1]) | self.events[bit])


class Accelerator(wiring.Component):
    """The accelerator: :class:`MemoCore` with AXI4-Stream data ports and AXI4-Lite registers.

    The ports are described in the module documentation (:mod:`memornn.hw.top`), the
    registers, as data, in :mod:`memornn.hw.contract`. Build it with
    :func:`memornn.hw.build.build_design`.

    Parameters
    ----------
    spec : BuildSpec
        The layout, trace flag, row FIFO depth and counter width.
    images : dict or None
        Initial memory contents (from :func:`memory_images`); ``None`` leaves them zero
        for loading at run time.

    Attributes
    ----------
    s_axis_tdata, s_axis_tvalid, s_axis_tready, s_axis_tlast
        Input stream, one beat per step.
    m_axis_tdata, m_axis_tkeep, m_axis_tvalid, m_axis_tready, m_axis_tlast
        Output stream of the last layer, a word of P values a beat.
    m_axis_trace_tdata, m_axis_trace_tvalid, m_axis_trace_tready, m_axis_trace_tlast
        Reuse-trace stream (only with ``spec.trace``).
    s_axil_awaddr, ..., s_axil_rready
        AXI4-Lite slave (``AXIL_ADDR_BITS`` address bits, 32 data bits).
    """

    def __init__(self, spec: BuildSpec, images: dict | None = None):
        if not isinstance(spec, BuildSpec):
            raise ValueError(f"spec must be a BuildSpec, got {spec!r}")
        check_images(images)
        self._spec = spec
        self._images = images
        layout = spec.layout
        members = {
            "s_axis_tdata": In(layout.input_size * 8), "s_axis_tvalid": In(1), "s_axis_tready": Out(1),
            "s_axis_tlast": In(1),
            "m_axis_tdata": Out(layout.lanes * 8), "m_axis_tkeep": Out(layout.lanes), "m_axis_tvalid": Out(1),
            "m_axis_tready": In(1),
            "m_axis_tlast": Out(1),
        }
        if spec.trace:
            members.update({"m_axis_trace_tdata": Out(C.TRACE_WIDTH), "m_axis_trace_tvalid": Out(1),
                            "m_axis_trace_tready": In(1), "m_axis_trace_tlast": Out(1)})
        # The AXI4-Lite slave port, flattened: s_axil_<member> with the slave's directions.
        for name, member in AxiLiteSignature(C.AXIL_ADDR_BITS, C.AXIL_DATA_BITS).members.items():
            members[f"s_axil_{name}"] = member.flip()
        super().__init__(members)

    @property
    def spec(self) -> BuildSpec:
        return self._spec

    @property
    def layout(self) -> Layout:
        return self._spec.layout

    @property
    def trace(self) -> bool:
        return self._spec.trace

    def elaborate(self, platform):
        m = Module()
        spec = self._spec
        core = make_core(spec, self._images)
        # The soft reset acts the cycle after the CTRL write: registered, the register
        # decode stays off the core's reset and enable paths.
        soft_reset, soft_reset_req = Signal(), Signal()
        m.d.sync += soft_reset.eq(soft_reset_req)
        m.submodules.core = ResetInserter(soft_reset)(core)
        m.submodules.axil = axil = AxiLiteRegisterInterface(C.AXIL_ADDR_BITS, C.AXIL_DATA_BITS)
        for name, member in AxiLiteSignature(C.AXIL_ADDR_BITS, C.AXIL_DATA_BITS).members.items():
            port, inner = getattr(self, f"s_axil_{name}"), getattr(axil.bus, name)
            # Out members (master's view) are driven by the bus master: into the slave.
            m.d.comb += inner.eq(port) if member.flow == Out else port.eq(inner)

        regs = _Registers(spec.layout, core)
        m.d.comb += [core.predictor.eq(regs.predictor), core.reuse_cap.eq(regs.reuse_cap)]
        m.d.comb += [core.thetas[k].eq(theta[:nx.THETA_BITS]) for k, theta in enumerate(regs.thetas)]
        if spec.layout.skip == "delta":
            m.d.comb += [core.deltas[k].as_value().eq(theta[C.DELTA_X_SHIFT:]) for k, theta in enumerate(regs.thetas)]
        self._streams(m, core, regs, soft_reset)
        # A sequence starts when the idle core is offered a beat (it latches its settings then).
        seq_start = Signal()
        m.d.comb += seq_start.eq(core.i_x.valid & regs.run & ~core.busy)
        writers = self._load_port(m, core, regs, axil, discard=soft_reset | seq_start)
        m.d.comb += [regs.events[C.STATUS_ERR_TOO_LONG].eq(core.error_too_long)]
        with m.If(core.seq_done):
            m.d.sync += regs.seq_done.eq(regs.seq_done + 1)
        writers.update(self._setting_writers(m, regs, axil, soft_reset_req))
        self._decode(m, axil, self._readers(core, regs), writers)
        regs.update_errors(m)
        return m

    def _streams(self, m, core, regs, soft_reset):
        """The AXI4-Stream ports onto the core's streams."""
        # RUN = 0 stops a new sequence from starting (the core's idle state reads it); a
        # sequence already started is taken to its end. No beat is taken in a soft-reset
        # cycle. Neither gate passes through the core's state decode (`busy`).
        m.d.comb += [core.i_x.payload.data.eq(self.s_axis_tdata), core.i_x.payload.last.eq(self.s_axis_tlast),
                     core.i_x.valid.eq(self.s_axis_tvalid & ~soft_reset), core.run.eq(regs.run),
                     self.s_axis_tready.eq(core.i_x.ready & ~soft_reset)]
        m.d.comb += [self.m_axis_tdata.eq(core.o_h.payload.data), self.m_axis_tkeep.eq(core.o_h.payload.keep),
                     self.m_axis_tlast.eq(core.o_h.payload.last),
                     self.m_axis_tvalid.eq(core.o_h.valid), core.o_h.ready.eq(self.m_axis_tready)]
        if self._spec.trace:
            m.d.comb += [self.m_axis_trace_tdata.eq(core.o_trace.payload.data),
                         self.m_axis_trace_tlast.eq(core.o_trace.payload.last),
                         self.m_axis_trace_tvalid.eq(core.o_trace.valid),
                         core.o_trace.ready.eq(self.m_axis_trace_tready)]

    @staticmethod
    def _masked(axil, reg):
        """``reg`` after a write of ``wr_data`` under the byte strobes (32 bits)."""
        byte_mask = Cat(axil.wr_strb[i].replicate(8) for i in range(C.AXIL_DATA_BITS // 8))
        return (reg & ~byte_mask) | (axil.wr_data & byte_mask)

    def _load_port(self, m, core, regs, axil, discard):
        """The LOAD_* registers' staging word and range checks; returns their write handlers."""
        lay = self._spec.layout
        widths, depths = memory_widths(lay), memory_depths(lay)
        pieces_max = max(ceil_div(widths[name], C.AXIL_DATA_BITS) for name in MEMORIES)
        staging = Signal(pieces_max * C.AXIL_DATA_BITS)
        piece = Signal(range(pieces_max))
        pieces_last = Signal(range(pieces_max))  # pieces of the selected memory, minus one
        addr_ok = Signal()  # LOAD_ADDR lies inside the selected memory
        with m.Switch(regs.load_sel):
            for index, name in enumerate(MEMORIES):
                with m.Case(index):
                    m.d.comb += pieces_last.eq(ceil_div(widths[name], C.AXIL_DATA_BITS) - 1)
                    if depths[name]:  # a memory of depth 0 takes no address (LOAD_SEL refuses it)
                        m.d.comb += addr_ok.eq(regs.load_addr < depths[name])
        fire = Signal()
        m.d.sync += fire.eq(0)
        m.d.comb += [core.load.en.eq(fire), core.load.sel.eq(regs.load_sel), core.load.addr.eq(regs.load_addr),
                     core.load.data.eq(staging)]
        with m.If(fire):
            m.d.sync += regs.load_addr.eq(regs.load_addr + 1)
        m.d.comb += regs.events[C.STATUS_ERR_LOAD_BUSY].eq(fire & core.busy)
        range_fault = regs.events[C.STATUS_ERR_LOAD_RANGE]
        sel_ok = Signal()  # the written LOAD_SEL names a memory this build has
        new_sel = self._masked(axil, regs.load_sel)[:C.LOAD_SEL_BITS]
        with m.Switch(new_sel):
            with m.Case(*[i for i, name in enumerate(MEMORIES) if depths[name] > 0]):
                m.d.comb += sel_ok.eq(1)

        def write_sel():
            with m.If(sel_ok):
                m.d.sync += [regs.load_sel.eq(new_sel), piece.eq(0)]
            with m.Else():
                m.d.comb += [axil.wr_err.eq(1), range_fault.eq(1)]

        def write_addr():
            m.d.sync += [regs.load_addr.eq(self._masked(axil, regs.load_addr)), piece.eq(0)]

        def write_data():
            # The staging piece takes every LOAD_DATA write: one refused (address out of
            # range) is overwritten before any word fires, since only a LOAD_ADDR or
            # LOAD_SEL write (each restarting at piece 0) makes the address good again.
            # The range check stays off the staging register's wide enable.
            m.d.sync += staging.word_select(piece, C.AXIL_DATA_BITS).eq(axil.wr_data)
            with m.If(~addr_ok):
                m.d.comb += [axil.wr_err.eq(1), range_fault.eq(1)]
            with m.Else():
                with m.If(piece >= pieces_last):
                    m.d.sync += [piece.eq(0), fire.eq(1)]
                with m.Else():
                    m.d.sync += piece.eq(piece + 1)

        # A partial word never outlives a sequence start or a soft reset (last: wins).
        with m.If(discard):
            m.d.sync += piece.eq(0)
        return {"LOAD_SEL": write_sel, "LOAD_ADDR": write_addr, "LOAD_DATA": write_data}

    def _setting_writers(self, m, regs, axil, soft_reset_req):
        """Write handlers of CTRL, STATUS, REUSE_CAP and THETA<k>."""
        def write_ctrl():
            new = self._masked(axil, Cat(regs.predictor, regs.run, Const(0, 1)))
            m.d.sync += [regs.predictor.eq(new[0]), regs.run.eq(new[1])]
            m.d.comb += soft_reset_req.eq(new[2])

        def write_status():
            m.d.comb += regs.status_clear.eq(self._masked(axil, 0))

        def write_to(reg):
            def write():
                m.d.sync += reg.eq(self._masked(axil, reg))
            return write

        writers = {"CTRL": write_ctrl, "STATUS": write_status, "REUSE_CAP": write_to(regs.reuse_cap)}
        writers.update({f"THETA{k}": write_to(theta) for k, theta in enumerate(regs.thetas)})
        return writers

    def _readers(self, core, regs) -> dict:
        """What each readable register reads, by name."""
        cb = self._spec.counter_bits
        build = C.build_words(self._spec.layout, self._spec.trace)
        readers = {"CTRL": Cat(regs.predictor, regs.run), "STATUS": regs.status(core.busy),
                   "REUSE_CAP": regs.reuse_cap, "SEQ_DONE": regs.seq_done,
                   "LOAD_SEL": regs.load_sel, "LOAD_ADDR": regs.load_addr, "LOAD_DATA": Const(0, 1),
                   "ID": Const(C.ID_VALUE, 32), **{name: Const(value, 32) for name, value in build.items()}}
        readers.update({f"THETA{k}": theta for k, theta in enumerate(regs.thetas)})
        for name in C.counter_names(self.layout.skip):
            value = getattr(core.counters, name)
            readers[f"{name.upper()}_LO"] = value[:32]
            readers[f"{name.upper()}_HI"] = value[32:] if cb > 32 else Const(0, 1)
        return readers

    def _decode(self, m, axil, readers: dict, writers: dict) -> None:
        """The address decode, generated from :func:`memornn.hw.contract.mapped_registers`:
        a register is written by its handler (read-only ones ignore writes) and read from
        its value; any other address answers SLVERR."""
        mapped = C.mapped_registers(self._spec.layout.num_layers, self._spec.layout.skip)
        with m.If(axil.wr_en):
            with m.Switch(axil.wr_addr):
                for reg in mapped:
                    if reg.access != "ro":
                        with m.Case(reg.offset):
                            writers[reg.name]()
                with m.Case(*[reg.offset for reg in mapped if reg.access == "ro"]):
                    pass  # read-only: ignored
                with m.Default():
                    m.d.comb += axil.wr_err.eq(1)
        rd_data = Signal(C.AXIL_DATA_BITS)
        rd_err = Signal()
        m.d.comb += [axil.rd_data.eq(rd_data), axil.rd_err.eq(rd_err)]
        with m.If(axil.rd_en):
            m.d.sync += [rd_data.eq(0), rd_err.eq(0)]
            with m.Switch(axil.rd_addr):
                for reg in mapped:
                    with m.Case(reg.offset):
                        m.d.sync += rd_data.eq(readers[reg.name])
                with m.Default():
                    m.d.sync += rd_err.eq(1)
