"""An AXI4-Lite slave that turns bus handshakes into simple register reads and writes.

:class:`AxiLiteRegisterInterface` does one job: it accepts AXI4-Lite transactions and
presents each as a one-cycle request to the register file behind it, which only has to
decode an address.

Write side
    The AW and W channels are accepted independently (each has its own holding
    register, so the address and the data may arrive in either order, in the same
    cycle or cycles apart). Once both are held and no write response is pending,
    ``wr_en`` pulses for one cycle with ``wr_addr``, ``wr_data`` and ``wr_strb``; in
    that same cycle the register file drives ``wr_err`` (combinationally, from
    ``wr_addr``) high if the address is unmapped. The B response follows (OKAY, or
    SLVERR after ``wr_err``); the next AW and W may be accepted while it waits for
    ``bready``.

Read side
    An AR handshake pulses ``rd_en`` with ``rd_addr`` (the bus address of that cycle).
    The register file presents ``rd_data`` and ``rd_err`` in the next cycle (typically
    from registers it loads on ``rd_en``); they are captured and returned on R with
    RRESP OKAY or SLVERR. The next AR is accepted once R has been taken.

One transaction is outstanding each way. Every ready depends only on internal state,
never combinationally on a valid, and no channel waits for another one of the same
direction before accepting, so the interface cannot deadlock. AWPROT and ARPROT are
ignored.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

#: BRESP / RRESP values.
RESP_OKAY = 0
RESP_SLVERR = 2


class AxiLiteSignature(wiring.Signature):
    """AXI4-Lite bus, from the master's side (a slave takes ``In(AxiLiteSignature(...))``).

    Members are named as in the AXI specification without the prefix (``awaddr``,
    ``awvalid``, ...), so a flattened port ``s_axil_awaddr`` is found by bus functional
    models that look ports up by prefix.

    Parameters
    ----------
    addr_width : int
        Byte address width (1 to 64).
    data_width : int
        Data width, 32 or 64.
    """

    def __init__(self, addr_width: int, data_width: int = 32):
        if isinstance(addr_width, bool) or not isinstance(addr_width, int) or not 1 <= addr_width <= 64:
            raise ValueError(f"addr_width must be an integer in [1, 64], got {addr_width!r}")
        if data_width not in (32, 64) or isinstance(data_width, bool):
            raise ValueError(f"data_width must be 32 or 64, got {data_width!r}")
        self._addr_width = addr_width
        self._data_width = data_width
        super().__init__({
            "awaddr": Out(addr_width), "awprot": Out(3), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(data_width), "wstrb": Out(data_width // 8), "wvalid": Out(1), "wready": In(1),
            "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "araddr": Out(addr_width), "arprot": Out(3), "arvalid": Out(1), "arready": In(1),
            "rdata": In(data_width), "rresp": In(2), "rvalid": In(1), "rready": Out(1),
        })

    @property
    def addr_width(self) -> int:
        return self._addr_width

    @property
    def data_width(self) -> int:
        return self._data_width

    def __eq__(self, other):
        return (isinstance(other, AxiLiteSignature) and other.addr_width == self.addr_width
                and other.data_width == self.data_width)

    def __hash__(self):
        return hash((AxiLiteSignature, self._addr_width, self._data_width))

    def __repr__(self):
        return f"AxiLiteSignature({self._addr_width}, {self._data_width})"


class AxiLiteRegisterInterface(wiring.Component):
    """AXI4-Lite slave front end of a register file.

    Parameters
    ----------
    addr_width : int
        Byte address width of the bus (1 to 64).
    data_width : int
        Data width, 32 or 64.

    Attributes
    ----------
    bus : In(AxiLiteSignature)
        The AXI4-Lite slave port.
    wr_en : Out(1)
        One-cycle write pulse.
    wr_addr, wr_data, wr_strb : Out
        The write's byte address, data and byte strobes, valid while ``wr_en``.
    wr_err : In(1)
        Driven by the register file in the ``wr_en`` cycle: the address is unmapped
        (the response is SLVERR).
    rd_en : Out(1)
        One-cycle read request.
    rd_addr : Out
        The read's byte address, valid while ``rd_en``.
    rd_data, rd_err : In
        Driven by the register file in the cycle after ``rd_en``: the read data, and
        whether the address is unmapped (SLVERR).
    """

    def __init__(self, addr_width: int = 8, data_width: int = 32):
        bus = AxiLiteSignature(addr_width, data_width)
        self._addr_width = addr_width
        self._data_width = data_width
        super().__init__({
            "bus": In(bus),
            "wr_en": Out(1), "wr_addr": Out(addr_width), "wr_data": Out(data_width),
            "wr_strb": Out(data_width // 8), "wr_err": In(1),
            "rd_en": Out(1), "rd_addr": Out(addr_width), "rd_data": In(data_width), "rd_err": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        bus = self.bus

        # ------------------------------------------------------------ write
        aw_full = Signal()
        w_full = Signal()
        addr_q = Signal(self._addr_width)
        data_q = Signal(self._data_width)
        strb_q = Signal(self._data_width // 8)
        bvalid = Signal()
        bresp = Signal(2)
        m.d.comb += [bus.awready.eq(~aw_full), bus.wready.eq(~w_full),
                     bus.bvalid.eq(bvalid), bus.bresp.eq(bresp)]
        with m.If(bus.awvalid & ~aw_full):
            m.d.sync += [aw_full.eq(1), addr_q.eq(bus.awaddr)]
        with m.If(bus.wvalid & ~w_full):
            m.d.sync += [w_full.eq(1), data_q.eq(bus.wdata), strb_q.eq(bus.wstrb)]
        do_write = Signal()
        m.d.comb += [do_write.eq(aw_full & w_full & ~bvalid),
                     self.wr_en.eq(do_write), self.wr_addr.eq(addr_q), self.wr_data.eq(data_q),
                     self.wr_strb.eq(strb_q)]
        with m.If(do_write):
            # Neither channel can be accepted this cycle (both holding registers are full).
            m.d.sync += [aw_full.eq(0), w_full.eq(0), bvalid.eq(1),
                         bresp.eq(Mux(self.wr_err, RESP_SLVERR, RESP_OKAY))]
        with m.Elif(bvalid & bus.bready):
            m.d.sync += bvalid.eq(0)

        # ------------------------------------------------------------ read
        rd_pending = Signal()
        rvalid = Signal()
        rdata = Signal(self._data_width)
        rresp = Signal(2)
        m.d.comb += [bus.arready.eq(~rd_pending & ~rvalid), bus.rvalid.eq(rvalid), bus.rdata.eq(rdata),
                     bus.rresp.eq(rresp),
                     self.rd_en.eq(bus.arvalid & ~rd_pending & ~rvalid), self.rd_addr.eq(bus.araddr)]
        with m.If(self.rd_en):
            m.d.sync += rd_pending.eq(1)
        with m.If(rd_pending):
            m.d.sync += [rd_pending.eq(0), rvalid.eq(1), rdata.eq(self.rd_data),
                         rresp.eq(Mux(self.rd_err, RESP_SLVERR, RESP_OKAY))]
        with m.Elif(rvalid & bus.rready):
            m.d.sync += rvalid.eq(0)
        return m
