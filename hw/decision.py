"""The per-neuron reuse decision."""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..golden import numerics as nx

__all__ = ["DecisionUnit"]


class DecisionUnit(wiring.Component):
    """Reuse a neuron's cached pre-activation or compute it (``nx.within_threshold`` and the cap).

    ``reuse = ~step0 & (cap == 0 | run < cap) & (|yb - yb_m| << THETA_FRAC <= theta * |yb_m|)``,
    ``run_next = reuse ? min(run + 1, REUSE_CAP_MAX) : 0``. One decision a cycle, the
    outputs registered: ``LATENCY`` = 1.

    The saturation of ``run_next`` only acts with no cap (``cap == 0``, where the golden
    counter grows unbounded but is never read); with a cap, ``run < cap`` keeps
    ``run + 1 <= cap``.

    Parameters
    ----------
    yb_bits : int
        Width of the signed BNN outputs ``yb`` and ``yb_m`` (>= 1): a row of ``N`` bits
        needs ``yb`` in ``[-N, N]``.

    Attributes
    ----------
    LATENCY : int
        Cycles from an input (``in_valid``) to its result (``out_valid``): 1.

    Members
    -------
    yb, yb_m : In(signed(yb_bits))
        This step's BNN output and the cached one.
    run : In(unsigned(nx.REUSE_CAP_BITS))
        Consecutive reuses so far.
    step0 : In(1)
        The entry is invalid (first step of the sequence): never reuse.
    theta : In(unsigned(nx.THETA_BITS))
        Q8.8 threshold.
    cap : In(unsigned(nx.REUSE_CAP_BITS))
        Largest run of consecutive reuses; 0 = no cap.
    in_valid : In(1)
    reuse : Out(1)
    run_next : Out(unsigned(nx.REUSE_CAP_BITS))
    out_valid : Out(1)
    """

    LATENCY = 1

    def __init__(self, yb_bits: int):
        if isinstance(yb_bits, bool) or not isinstance(yb_bits, int) or yb_bits < 1:
            raise ValueError(f"yb_bits must be a positive int, got {yb_bits!r}")
        self._yb_bits = yb_bits
        super().__init__({
            "yb": In(signed(yb_bits)),
            "yb_m": In(signed(yb_bits)),
            "run": In(unsigned(nx.REUSE_CAP_BITS)),
            "step0": In(1),
            "theta": In(unsigned(nx.THETA_BITS)),
            "cap": In(unsigned(nx.REUSE_CAP_BITS)),
            "in_valid": In(1),
            "reuse": Out(1),
            "run_next": Out(unsigned(nx.REUSE_CAP_BITS)),
            "out_valid": Out(1),
        })

    @property
    def yb_bits(self) -> int:
        return self._yb_bits

    def elaborate(self, platform):
        m = Module()

        # Why no divider: |yb - yb_m| / |yb_m| <= theta / 2**8 is cross-multiplied into
        # |yb - yb_m| << 8 <= theta * |yb_m|, exact on integers (and false for yb_m == 0
        # unless yb == yb_m, as in the golden model). abs() of an n-bit signed value is
        # n bits unsigned, so |-2**(n-1)| is exact.
        diff = Signal(signed(self._yb_bits + 1))
        m.d.comb += diff.eq(self.yb - self.yb_m)
        lhs = abs(diff) << nx.THETA_FRAC
        rhs = self.theta * abs(self.yb_m)
        close = lhs <= rhs

        under_cap = (self.cap == 0) | (self.run < self.cap)
        reuse = ~self.step0 & under_cap & close

        run_inc = Mux(self.run == nx.REUSE_CAP_MAX, nx.REUSE_CAP_MAX, self.run + 1)
        m.d.sync += [
            self.reuse.eq(reuse),
            self.run_next.eq(Mux(reuse, run_inc, 0)),
            self.out_valid.eq(self.in_valid),
        ]
        return m
