"""BNN lane: XNOR-popcount of a binarized row, ``width`` bits a beat."""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .pipeline import BeatFlags

__all__ = ["BnnLane"]

#: Bits counted by one first-stage popcount (one LUT-friendly group).
GROUP_BITS = 8


def _tree_levels(n: int) -> int:
    """Pairwise-adder levels reducing ``n`` values to one: ``ceil(log2(n))``."""
    return (n - 1).bit_length()


class BnnLane(wiring.Component):
    """``matches = sum over the row's beats of popcount(~(in_bits ^ w_bits) & mask)``.

    A row is a run of beats (``in_valid`` high) from ``first`` to ``last`` (the same beat
    for a one-beat row), with gaps allowed and no bubble needed between rows. ``mask``
    marks the bits that count (the tail beat of a row is partial). The BNN output is then
    ``yb = 2*matches - N`` (``nx.bnn_output``) for a row of ``N`` bits. ``matches`` holds
    with a one-cycle ``out_valid`` pulse ``LATENCY`` cycles after the ``last`` beat.
    Throughput: one beat a cycle.

    Stages
    ------
    1. popcounts of ``GROUP_BITS``-bit groups, registered;
    2. one registered stage per adder-tree level, ``ceil(log2(ceil(width/8)))`` of them;
    3. the row accumulator.

    Parameters
    ----------
    width : int
        ``B``, bits a beat, >= 1.
    max_bits : int
        The longest row ``N`` (sizes ``matches``), >= 1; default ``2**16``.

    Attributes
    ----------
    LATENCY : int
        Cycles from the ``last`` beat to ``out_valid``: ``2 + ceil(log2(ceil(width/8)))``
        (2 for ``width <= 8``, 5 for 64); set per instance, :meth:`latency_for` gives it
        without building a block.

    Members
    -------
    in_bits, w_bits, mask : In(width)
    in_valid, first, last : In(1)
    matches : Out(range(max_bits + 1))
    out_valid : Out(1)
    """

    @staticmethod
    def latency_for(width: int) -> int:
        """``LATENCY`` of ``BnnLane(width)``."""
        return 2 + _tree_levels(-(-width // GROUP_BITS))

    def __init__(self, width: int, max_bits: int = 2**16):
        for name, value in (("width", width), ("max_bits", max_bits)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self._width = width
        self.LATENCY = self.latency_for(width)
        super().__init__({
            "in_bits": In(width),
            "w_bits": In(width),
            "mask": In(width),
            "in_valid": In(1),
            "first": In(1),
            "last": In(1),
            "matches": Out(range(max_bits + 1)),
            "out_valid": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        beats = BeatFlags(m, self.in_valid, self.first, self.last)

        # 1: group popcounts. XNOR and mask fold into the popcount's LUTs.
        hits = Signal(self._width)
        m.d.comb += hits.eq(~(self.in_bits ^ self.w_bits) & self.mask)
        terms = []
        for g, lo in enumerate(range(0, self._width, GROUP_BITS)):
            bits = hits[lo:lo + GROUP_BITS]
            count = Signal(range(len(bits) + 1), name=f"pop_{g}", reset_less=True)
            m.d.sync += count.eq(sum(bits[j] for j in range(len(bits))))
            terms.append((count, len(bits)))  # (signal, its largest value)
        beats.advance("pop")

        # 2: the adder tree, a register after every level.
        level = 0
        while len(terms) > 1:
            level += 1
            nxt = []
            for j in range(0, len(terms), 2):
                pair = terms[j:j + 2]
                top = sum(t_max for _, t_max in pair)
                s = Signal(range(top + 1), name=f"sum_l{level}_{j // 2}", reset_less=True)
                m.d.sync += s.eq(sum(t for t, _ in pair))
                nxt.append((s, top))
            terms = nxt
            beats.advance(f"l{level}")
        ((total, _),) = terms

        # 3: accumulate over the row; `first` restarts it.
        beats.accumulate(self.matches, total)
        m.d.sync += self.out_valid.eq(beats.valid & beats.last)
        return m
