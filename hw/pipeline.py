"""Small pieces the core's stages share: a register chain and memory-port signatures."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["DelayLine", "read_bus"]


class DelayLine:
    """A chain of registers: ``stage(i)`` is the value ``i`` cycles after ``stage(0)``."""

    def __init__(self, m: Module, first, length: int, name: str):
        self.stages = [first]
        for i in range(length):
            reg = Signal.like(first, name=f"{name}_d{i + 1}")
            m.d.sync += reg.eq(self.stages[-1])
            self.stages.append(reg)

    def stage(self, i: int):
        return self.stages[i]


def read_bus(addr, shape) -> wiring.Signature:
    """A synchronous memory read port as its user sees it: the user drives ``addr``
    (``addr`` is an int width or a shape) and reads ``data`` a cycle later."""
    return wiring.Signature({"addr": Out(addr), "data": In(shape)})
