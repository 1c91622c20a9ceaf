"""The hardware contract as data: counters, trace layout and register map.

Everything a host (the simulators, the cocotb testbenches, the C++ harness, a driver)
needs to know about the accelerator's interface is defined here once, as plain Python
data, and the RTL is generated from it. This module imports nothing of the generator,
so any tool can read it without Amaranth.
"""

from __future__ import annotations

#: Bits of a reuse-trace word (``m_axis_trace_tdata``).
TRACE_WIDTH = 32

#: Order of the per-sequence counters, in the trace and the register map.
COUNTER_NAMES = ("cycles", "neurons_computed", "neurons_reused", "bnn_evals", "macs", "macs_skipped",
                 "mac_busy_cycles")
