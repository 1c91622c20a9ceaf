"""Protocol rules as Amaranth assertions and assumptions, for any design that speaks them.

Each function adds one interface's rules to a module: assertions on what the design
drives, assumptions on what its environment drives (so a proof never blames the design
for a broken master). They are modelled on ZipCPU's property sets (``faxil_slave.v``,
``faxis_master.v``): valid held until ready with a stable payload, nothing valid in the
cycle after a reset, no response without a request, one response per request, in
order, and a bounded number of transactions in flight (the bound makes the counters
inductive).

The bookkeeping (previous-cycle copies, transaction counters) lives in the reset-less
clock domain ``formal`` that :class:`Observer` creates on the design's clock, so a
reset of the design does not erase what the checker has seen. Amaranth 0.5 has no
``Past``: :meth:`Observer.past` registers a copy.
"""

from __future__ import annotations

from amaranth.hdl import Assert, Assume, Cat, ClockDomain, ClockSignal, Module, Signal

#: Width of the outstanding-transaction counters (far above any bound checked).
COUNT_BITS = 4


class Observer:
    """The checker's reset-less clock domain on ``sync``'s clock, and past values.

    Parameters
    ----------
    m : Module
        The harness module the rules are added to.
    rst : Signal
        The design's synchronous reset.

    Attributes
    ----------
    past_valid : Signal
        High from the second cycle on: a past value exists.
    """

    def __init__(self, m: Module, rst):
        m.domains.formal = ClockDomain("formal", reset_less=True)
        m.d.comb += ClockSignal("formal").eq(ClockSignal("sync"))
        self.m = m
        self.rst = rst
        self.past_valid = Signal(name="f_past_valid")
        m.d.formal += self.past_valid.eq(1)
        self.past_rst = self.past(rst, "rst")

    def past(self, value, name: str = "v"):
        """``value`` one cycle ago (its initial value in the first cycle)."""
        copy = Signal(len(value), name=f"f_past_{name}")
        self.m.d.formal += copy.eq(value)
        return copy

    def after(self, condition, name: str = "c"):
        """High when ``condition`` held in the previous cycle, outside reset."""
        return self.past_valid & self.past(condition & ~self.rst, name)

    def counter(self, up, down, name: str):
        """Transactions started (``up``) and not yet finished (``down``); 0 after a reset."""
        count = Signal(COUNT_BITS, name=f"f_{name}")
        with self.m.If(self.rst):
            self.m.d.formal += count.eq(0)
        with self.m.Else():
            self.m.d.formal += count.eq(count + up - down)
        return count


def held_until_ready(obs: Observer, valid, ready, payload, who: str, assume: bool = False, exempt=None):
    """``valid`` stays high with ``payload`` unchanged until ``ready``.

    Asserted for what the design drives, assumed (``assume``) for its environment.
    ``exempt`` (a signal) lifts the rule in a cycle where it is high (an abort).
    """
    check = Assume if assume else Assert
    stalled = valid & ~ready
    if exempt is not None:
        stalled = stalled & ~exempt
    was_stalled = obs.after(stalled, f"{who}_stalled")
    payload = Cat(*payload) if payload else None
    rules = [check(~was_stalled | valid, f"{who}_valid_held")]
    if payload is not None:
        rules.append(check(~was_stalled | (payload == obs.past(payload, f"{who}_payload")),
                           f"{who}_payload_stable"))
    obs.m.d.comb += rules


def quiet_after_reset(obs: Observer, valids, who: str):
    """Every signal of ``valids`` is low in the cycle after a reset."""
    obs.m.d.comb += Assert(~(obs.past_valid & obs.past_rst) | ~Cat(*valids).any(), f"{who}_quiet_after_reset")


def axil_master_assumptions(obs: Observer, bus):
    """What an AXI4-Lite master does: no valid in reset, valid held with its payload until ready.

    ``bus`` has the AXI4-Lite members by their specification names (``awvalid``, ...).
    """
    obs.m.d.comb += Assume(~obs.rst | ~Cat(bus.awvalid, bus.wvalid, bus.arvalid).any(), "master_quiet_in_reset")
    held_until_ready(obs, bus.awvalid, bus.awready, [bus.awaddr, bus.awprot], "aw", assume=True)
    held_until_ready(obs, bus.wvalid, bus.wready, [bus.wdata, bus.wstrb], "w", assume=True)
    held_until_ready(obs, bus.arvalid, bus.arready, [bus.araddr, bus.arprot], "ar", assume=True)


def axil_slave_rules(obs: Observer, bus, max_outstanding: int) -> dict:
    """The AXI4-Lite slave's rules (faxil_slave's), asserted on ``bus``.

    - B and R stay valid with the same response (and read data) until taken;
    - BVALID and RVALID are low in the cycle after a reset;
    - no response without a request: BVALID only while an accepted AW and an accepted W
      both await their response, RVALID only while an accepted AR does;
    - so each request gets one response and, AXI4-Lite having no IDs, in order;
    - at most ``max_outstanding`` requests accepted and not yet answered, each channel.

    Returns
    -------
    dict
        The outstanding counters ``aw``, ``w``, ``ar`` (for further rules).
    """
    m = obs.m
    held_until_ready(obs, bus.bvalid, bus.bready, [bus.bresp], "b")
    held_until_ready(obs, bus.rvalid, bus.rready, [bus.rdata, bus.rresp], "r")
    quiet_after_reset(obs, [bus.bvalid, bus.rvalid], "axil")
    b_done, r_done = bus.bvalid & bus.bready, bus.rvalid & bus.rready
    count = {
        "aw": obs.counter(bus.awvalid & bus.awready, b_done, "aw_outstanding"),
        "w": obs.counter(bus.wvalid & bus.wready, b_done, "w_outstanding"),
        "ar": obs.counter(bus.arvalid & bus.arready, r_done, "ar_outstanding"),
    }
    m.d.comb += [
        Assert(~bus.bvalid | ((count["aw"] > 0) & (count["w"] > 0)), "b_only_after_aw_and_w"),
        Assert(~bus.rvalid | (count["ar"] > 0), "r_only_after_ar"),
    ]
    m.d.comb += [Assert(c <= max_outstanding, f"{k}_outstanding_bounded") for k, c in count.items()]
    return count


def stream_master_rules(obs: Observer, valid, ready, payload, who: str, exempt=None):
    """An AXI4-Stream master: TVALID held until TREADY with TDATA/TKEEP/TLAST stable,
    low after a reset."""
    held_until_ready(obs, valid, ready, payload, who, exempt=exempt)
    quiet_after_reset(obs, [valid], who)


def stream_source_assumptions(obs: Observer, valid, ready, payload, who: str):
    """The environment's AXI4-Stream master feeding the design: held until ready, quiet in reset."""
    obs.m.d.comb += Assume(~obs.rst | ~valid, f"{who}_quiet_in_reset")
    held_until_ready(obs, valid, ready, payload, who, assume=True)
