"""The per-neuron reuse decision."""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..golden import numerics as nx
from .sharedmul import SharedMul, mul_members, product

__all__ = ["DecisionUnit"]


class DecisionUnit(wiring.Component):
    """Reuse a neuron's cached pre-activation or compute it (``nx.within_threshold`` and the cap).

    ``reuse = ~step0 & (cap == 0 | run < cap) & (|yb - yb_m| << THETA_FRAC <= theta * |yb_m|)``,
    ``run_next = reuse ? min(run + 1, REUSE_CAP_MAX) : 0``. One decision a cycle in a
    four-stage pipeline (inputs registered; magnitudes; multiply; compare):
    ``LATENCY`` = 4.

    The saturation of ``run_next`` only acts with no cap (``cap == 0``, where the golden
    counter grows unbounded but is never read); with a cap, ``run < cap`` keeps
    ``run + 1 <= cap``.

    Parameters
    ----------
    yb_bits : int
        Width of the signed BNN outputs ``yb`` and ``yb_m`` (>= 1): a row of ``N`` bits
        needs ``yb`` in ``[-N, N]``.
    external_mul : SharedMul or None
        Multiply on this shared multiplier (:mod:`.sharedmul`, its members added) instead
        of one's own.

    Attributes
    ----------
    LATENCY : int
        Cycles from an input (``in_valid``) to its result (``out_valid``): 4.

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

    LATENCY = 4

    def __init__(self, yb_bits: int, external_mul: SharedMul | None = None):
        if isinstance(yb_bits, bool) or not isinstance(yb_bits, int) or yb_bits < 1:
            raise ValueError(f"yb_bits must be a positive int, got {yb_bits!r}")
        self._yb_bits = yb_bits
        self._mul = external_mul
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
            **(mul_members(external_mul) if external_mul else {}),
        })

    def elaborate(self, platform):
        m = Module()
        yb_bits = self._yb_bits

        # Stage 1: register every input. yb_m and run come straight out of a block RAM
        # and yb out of the BNN lane's adder, both slow: nothing else shares their cycle.
        yb, yb_m = Signal(signed(yb_bits)), Signal(signed(yb_bits))
        run, cap = Signal(unsigned(nx.REUSE_CAP_BITS)), Signal(unsigned(nx.REUSE_CAP_BITS))
        theta, step0, valid1 = Signal(unsigned(nx.THETA_BITS)), Signal(), Signal()
        m.d.sync += [yb.eq(self.yb), yb_m.eq(self.yb_m), run.eq(self.run), cap.eq(self.cap), theta.eq(self.theta),
                     step0.eq(self.step0), valid1.eq(self.in_valid)]

        # Stage 2: magnitudes, and every condition but the threshold test.
        # Why no divider: |yb - yb_m| / |yb_m| <= theta / 2**8 is cross-multiplied into
        # |yb - yb_m| << 8 <= theta * |yb_m|, exact on integers (and false for yb_m == 0
        # unless yb == yb_m, as in the golden model). abs() of an n-bit signed value is
        # n bits unsigned, so |-2**(n-1)| is exact.
        diff_abs = Signal(unsigned(yb_bits + 1))
        cached_abs = Signal(unsigned(yb_bits))
        theta2, allowed, run2, valid2 = Signal.like(theta), Signal(), Signal.like(run), Signal()
        under_cap = (cap == 0) | (run < cap)
        m.d.sync += [diff_abs.eq(abs(yb - yb_m)), cached_abs.eq(abs(yb_m)), theta2.eq(theta),
                     allowed.eq(~step0 & under_cap), run2.eq(run), valid2.eq(valid1)]

        # Stage 3: the one multiply, registered (a DSP block's output is slow too).
        lhs = Signal(unsigned(yb_bits + 1 + nx.THETA_FRAC))
        rhs = product(m, self, theta2, cached_abs, self._mul is not None, self._mul)  # registered
        allowed3, run3, valid3 = Signal(), Signal.like(run), Signal()
        m.d.sync += [lhs.eq(diff_abs << nx.THETA_FRAC), allowed3.eq(allowed), run3.eq(run2), valid3.eq(valid2)]

        # Stage 4: compare, registered outputs.
        reuse = allowed3 & (lhs <= rhs)
        run_inc = Mux(run3 == nx.REUSE_CAP_MAX, nx.REUSE_CAP_MAX, run3 + 1)
        m.d.sync += [
            self.reuse.eq(reuse),
            self.run_next.eq(Mux(reuse, run_inc, 0)),
            self.out_valid.eq(valid3),
        ]
        return m
