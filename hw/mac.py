"""MAC lanes: ``P`` int8 x int8 multipliers, a pipelined adder tree and an int32 accumulator."""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..golden import numerics as nx
from .pipeline import BeatFlags

__all__ = ["MacLanes"]


def _tree_levels(n: int) -> int:
    """Pairwise-adder levels reducing ``n`` values to one: ``ceil(log2(n))``."""
    return (n - 1).bit_length()


class MacLanes(wiring.Component):
    """Dot products of int8 rows, ``lanes`` products a beat, accumulated at 32 bits.

    A dot product is a run of beats (``in_valid`` high) from one with ``first`` to one with
    ``last`` (the same beat for a one-beat product); beats may have gaps (``in_valid``
    low) between them, and the next product's ``first`` beat may follow a ``last`` beat
    directly. ``acc`` holds the product's sum, with a one-cycle ``out_valid`` pulse,
    ``LATENCY`` cycles after its ``last`` beat. Throughput: one beat a cycle.

    Stages
    ------
    1. the ``lanes`` products ``weights[j] * acts[j]``, registered (DSP output registers);
    2. one registered stage per adder-tree level, ``ceil(log2(lanes))`` of them;
    3. the accumulator: ``acc = sum`` on a ``first`` beat, else ``acc + sum`` (wraps at
       32 bits; the model loader guarantees the true sum fits).

    Parameters
    ----------
    lanes : int
        ``P``, the number of multipliers (elements a beat), >= 1.
    lane_accumulators : bool
        Also accumulate every lane on its own (column-wise work, one row per lane):
        ``lane_acc[j]`` is the sum of lane ``j``'s products over the same beats, out with
        ``acc`` (the products wait in registers while the adder tree works).

    Attributes
    ----------
    LATENCY : int
        Cycles from the ``last`` beat to ``out_valid``: ``2 + ceil(log2(lanes))``. It
        depends on ``lanes``, so it is set per instance; :meth:`latency_for` gives it
        without building a block.

    Members
    -------
    weights, acts : In(data.ArrayLayout(signed(8), lanes))
    in_valid, first, last : In(1)
    acc : Out(signed(nx.ACC_BITS))
    lane_acc : Out(data.ArrayLayout(signed(nx.ACC_BITS), lanes))
        Only with ``lane_accumulators``.
    out_valid : Out(1)
    """

    @staticmethod
    def latency_for(lanes: int) -> int:
        """``LATENCY`` of ``MacLanes(lanes)``."""
        return 2 + _tree_levels(lanes)

    def __init__(self, lanes: int, lane_accumulators: bool = False):
        if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
            raise ValueError(f"lanes must be a positive int, got {lanes!r}")
        self._lanes = lanes
        self._lane_acc = lane_accumulators
        self.LATENCY = self.latency_for(lanes)
        extra = {"lane_acc": Out(data.ArrayLayout(signed(nx.ACC_BITS), lanes))} if lane_accumulators else {}
        super().__init__({
            **extra,
            "weights": In(data.ArrayLayout(signed(nx.WEIGHT_BITS), lanes)),
            "acts": In(data.ArrayLayout(signed(nx.INPUT_BITS), lanes)),
            "in_valid": In(1),
            "first": In(1),
            "last": In(1),
            "acc": Out(signed(nx.ACC_BITS)),
            "out_valid": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        prod_bits = nx.WEIGHT_BITS + nx.INPUT_BITS

        # Control travels alongside the data, one register per stage.
        beats = BeatFlags(m, self.in_valid, self.first, self.last)

        # 1: products. The product registers keep their reset: without one, Yosys 0.68's
        # ice40_dsp takes a product register into two SB_MAC16s at once (one's pipeline
        # register, the next one's C/D input) and leaves that C/D undefined, silently
        # dropping a lane. The adder tree's registers need none (only valid bits do).
        terms = []
        for j in range(self._lanes):
            p = Signal(signed(prod_bits), name=f"prod_{j}")
            m.d.sync += p.eq(self.weights[j] * self.acts[j])
            terms.append(p)
        beats.advance("p")
        lane_terms = list(terms)

        # 2: the adder tree, a register after every level (an odd term out rides along).
        level = 0
        while len(terms) > 1:
            level += 1
            width = prod_bits + level
            nxt = []
            for j in range(0, len(terms), 2):
                s = Signal(signed(width), name=f"sum_l{level}_{j // 2}", reset_less=True)
                m.d.sync += s.eq(terms[j] + terms[j + 1] if j + 1 < len(terms) else terms[j])
                nxt.append(s)
            terms = nxt
            beats.advance(f"l{level}")
        (total,) = terms
        if self._lane_acc:
            for j, p in enumerate(lane_terms):  # wait for the tree, then accumulate apart
                for k in range(level):
                    q = Signal.like(p, name=f"lane_{j}_d{k + 1}", reset_less=True)
                    m.d.sync += q.eq(p)
                    p = q
                beats.accumulate(self.lane_acc[j], p)

        # 3: accumulate (a `first` beat restarts: no bubble between products).
        beats.accumulate(self.acc, total)
        m.d.sync += self.out_valid.eq(beats.valid & beats.last)
        return m
