"""Small pieces the core's stages share: a register chain and memory-port signatures."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["BeatFlags", "DelayLine", "read_bus"]


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


class BeatFlags:
    """The ``valid``/``first``/``last`` flags of a run of beats, carried alongside a
    pipelined datapath (a register per stage), and the run accumulator they steer."""

    def __init__(self, m: Module, valid, first, last):
        self._m = m
        self.valid, self.first, self.last = valid, first, last

    def advance(self, stage: str) -> None:
        """Register the flags once more, as ``valid_<stage>``, ``first_<stage>``, ``last_<stage>``."""
        nv, nf, nl = (Signal(name=f"{n}_{stage}") for n in ("valid", "first", "last"))
        self._m.d.sync += [nv.eq(self.valid), nf.eq(self.first), nl.eq(self.last)]
        self.valid, self.first, self.last = nv, nf, nl

    def accumulate(self, acc, value) -> None:
        """On a valid beat, ``acc = value`` if it is a ``first`` beat, else ``acc + value``.

        A ``first`` beat restarts from its own value, so back-to-back runs need no bubble:
        the finished value is on ``acc`` during the cycle after the ``last`` beat, and the
        next run overwrites it only at the end of that cycle.
        """
        with self._m.If(self.valid):
            self._m.d.sync += acc.eq(Mux(self.first, value, acc + value))


def read_bus(addr, shape) -> wiring.Signature:
    """A synchronous memory read port as its user sees it: the user drives ``addr``
    (``addr`` is an int width or a shape) and reads ``data`` a cycle later."""
    return wiring.Signature({"addr": Out(addr), "data": In(shape)})
