"""The Verilog top the harness drives: the accelerator with its reset pin registered.

Amaranth's Verilog computes every register's next value in combinational logic that
reads ``rst``. With ``rst`` a top-level input, Verilator re-evaluates all of that logic
whenever the inputs are applied (twice a cycle); with ``rst`` coming from a register it
is evaluated once a cycle, after the clock edge, which makes the simulation about a
quarter faster. The accelerator sees the reset one cycle later, nothing else changes:
every other port passes straight through.
"""

from __future__ import annotations

from ...hw.layout import Layout
from ..rtl.wrapper import AXIL_PORTS, port_declaration

HARNESS_TOP = "memornn_harness_top"


def stream_ports(layout: Layout) -> list[tuple[str, str, int]]:
    """The accelerator's clock, reset and stream ports: (name, direction, width)."""
    xw, hw = layout.input_size * 8, layout.lanes * 8
    return [("clk", "input", 1), ("rst", "input", 1),
            ("s_axis_tdata", "input", xw), ("s_axis_tvalid", "input", 1), ("s_axis_tready", "output", 1),
            ("s_axis_tlast", "input", 1),
            ("m_axis_tdata", "output", hw), ("m_axis_tkeep", "output", layout.lanes),
            ("m_axis_tvalid", "output", 1), ("m_axis_tready", "input", 1), ("m_axis_tlast", "output", 1),
            ("m_axis_trace_tdata", "output", 32), ("m_axis_trace_tvalid", "output", 1),
            ("m_axis_trace_tready", "input", 1), ("m_axis_trace_tlast", "output", 1)]


def harness_top_verilog(layout: Layout, inner: str) -> str:
    """The ``memornn_harness_top`` module around module ``inner`` (the accelerator's ports)."""
    ports = stream_ports(layout) + [(f"s_axil_{name}", direction, width) for name, direction, width in AXIL_PORTS]
    declarations = ",\n".join(port_declaration(direction, width, name) for name, direction, width in ports)
    connections = ",\n".join(f"        .{name}({'rst_q' if name == 'rst' else name})" for name, _, _ in ports)
    return f"""// {HARNESS_TOP}: written by memornn.sim.compiled.top; the reset pin registered.
module {HARNESS_TOP} (
{declarations}
);
    reg rst_q = 1'b1;
    always @(posedge clk) rst_q <= rst;
    {inner} accel (
{connections}
    );
endmodule
"""
