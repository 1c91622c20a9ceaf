"""The memo table's value part: one bank per gate, an entry per hidden unit."""

from __future__ import annotations

from amaranth.hdl import Module, signed
from amaranth.lib import data, memory, wiring
from amaranth.lib.wiring import In, Out

from ..golden import numerics as nx

__all__ = ["MemoTable"]


class MemoTable(wiring.Component):
    """The cached value of every gate neuron: ``banks`` memories of ``depth`` entries.

    A neuron (gate ``g``, hidden unit ``j`` of layer direction ``ld``) lives in bank
    ``g`` at ``ld*H + j``; the GRU candidate's h part has a bank of its own. One write a
    cycle (to one bank); a read gives every bank's entry at an address, a cycle later,
    so the cell unit gets a hidden unit's gates at once. No clear is needed: step 0
    rewrites every entry (see ``docs/hardware.md``).

    Parameters
    ----------
    banks : int
        Gates (plus 1 for the GRU candidate's h part).
    depth : int
        Entries per bank.
    value_bits : int
        ``nx.PRE_BITS`` (the 16-bit pre-activations, today's use) or up to
        ``nx.ACC_BITS`` (32-bit accumulators kept between steps, for column skipping).

    Attributes
    ----------
    LATENCY : int
        Cycles from a read address to its data: 1.

    Members
    -------
    w_en : In(1)
    w_bank : In(range(banks))
    w_addr : In(range(depth))
    w_data : In(signed(value_bits))
    r_addr : In(range(depth))
    r_data : Out(data.ArrayLayout(signed(value_bits), banks))
    """

    LATENCY = 1

    def __init__(self, banks: int, depth: int, value_bits: int = nx.PRE_BITS):
        for name, value in (("banks", banks), ("depth", depth)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if isinstance(value_bits, bool) or not isinstance(value_bits, int) or not 1 <= value_bits <= nx.ACC_BITS:
            raise ValueError(f"value_bits must be an int in 1..{nx.ACC_BITS}, got {value_bits!r}")
        self._banks, self._depth, self._bits = banks, depth, value_bits
        super().__init__({
            "w_en": In(1),
            "w_bank": In(range(banks)),
            "w_addr": In(range(depth)),
            "w_data": In(signed(value_bits)),
            "r_addr": In(range(depth)),
            "r_data": Out(data.ArrayLayout(signed(value_bits), banks)),
        })

    @property
    def value_bits(self) -> int:
        return self._bits

    def elaborate(self, platform):
        m = Module()
        for i in range(self._banks):
            bank = memory.Memory(shape=signed(self._bits), depth=self._depth, init=[])
            m.submodules[f"bank{i}"] = bank
            rd, wr = bank.read_port(), bank.write_port()
            m.d.comb += [rd.addr.eq(self.r_addr), self.r_data[i].eq(rd.data),
                         wr.addr.eq(self.w_addr), wr.data.eq(self.w_data), wr.en.eq(self.w_en & (self.w_bank == i))]
        return m
