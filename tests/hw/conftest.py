"""Simulation helper shared by the datapath block tests (``tests/hw``).

The ``simulate`` fixture streams per-cycle input vectors into a block and collects the
outputs of every cycle whose ``out_valid`` is high, with the cycle number, so tests can
check both the values (against ``memornn.golden.numerics``) and the latency.
"""

import numpy as np
import pytest
from amaranth.hdl import Cat, Value
from amaranth.sim import Simulator


def _as_value(port):
    return port.as_value() if hasattr(port, "as_value") else Value.cast(port)


def _pack(columns, widths):
    """Per-cycle ints: the columns' values (masked to their widths) concatenated LSB first."""
    n = len(columns[0])
    words = [0] * n
    offset = 0
    for col, width in zip(columns, widths):
        mask = (1 << width) - 1
        for k, v in enumerate(col):
            words[k] |= (int(v) & mask) << offset
        offset += width
    return words


def _unpack(word, widths, signs):
    out = []
    for width, is_signed in zip(widths, signs):
        v = word & ((1 << width) - 1)
        if is_signed and v >> (width - 1):
            v -= 1 << width
        out.append(v)
        word >>= width
    return out


def run_stream(dut, drive, sample, *, out_valid="out_valid", drain=None):
    """Simulate ``dut`` fed one input vector a cycle; return the valid outputs.

    Parameters
    ----------
    dut : amaranth.lib.wiring.Component
    drive : dict of str to sequence of int
        Per-cycle values of input ports (all the same length ``n``), including the
        valid/first/last strobes. An array-layout port takes its elements packed into
        one int (element 0 in the low bits). After ``n`` cycles every driven port is 0.
    sample : sequence of str
        Output ports to record.
    out_valid : str
        The output strobe.
    drain : int, optional
        Extra idle cycles after the input (default ``dut.LATENCY + 2``).

    Returns
    -------
    cycles : np.ndarray
        The cycle of each valid output; cycle 0 is the one the first input is presented
        in, so an input of cycle ``j`` whose result comes ``L`` cycles later shows as ``j+L``.
    values : dict of str to np.ndarray (int64, or object for ports wider than 63 bits)
        The sampled ports, one entry per valid output.
    """
    names = list(drive)
    in_ports = [_as_value(getattr(dut, n)) for n in names]
    in_widths = [len(p) for p in in_ports]
    n = len(drive[names[0]])
    words = _pack([drive[k] for k in names], in_widths)
    in_cat = Cat(*in_ports)

    out_ports = [_as_value(getattr(dut, n)) for n in sample]
    out_widths = [len(p) for p in out_ports]
    out_signs = [p.shape().signed for p in out_ports]
    valid_port = _as_value(getattr(dut, out_valid))
    drain = dut.LATENCY + 2 if drain is None else drain
    got_cycles, got_values = [], []

    async def bench(ctx):
        out_cat = Cat(*out_ports)
        for cycle in range(n + drain):
            ctx.set(in_cat, words[cycle] if cycle < n else 0)
            await ctx.tick()
            # After the edge: the values of cycle `cycle + 1`.
            if ctx.get(valid_port):
                got_cycles.append(cycle + 1)
                got_values.append(_unpack(ctx.get(out_cat), out_widths, out_signs))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    cols = list(zip(*got_values)) if got_values else [()] * len(sample)
    dtype = lambda w: object if w > 63 else np.int64  # noqa: E731
    values = {name: np.array(col, dtype=dtype(w)) for name, col, w in zip(sample, cols, out_widths)}
    return np.array(got_cycles, dtype=np.int64), values


@pytest.fixture
def simulate():
    """The :func:`run_stream` helper."""
    return run_stream


def pack_lanes(rows, bits):
    """Rows of ``P`` signed/unsigned ints to one int each, element 0 in the low bits."""
    rows = np.asarray(rows, dtype=np.int64)
    mask = (1 << bits) - 1
    return [sum((int(v) & mask) << (bits * j) for j, v in enumerate(row)) for row in rows]


@pytest.fixture
def pack():
    """The :func:`pack_lanes` helper."""
    return pack_lanes
