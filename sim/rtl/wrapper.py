"""``memornn_tb``: a Verilog test wrapper that makes long simulations cheap.

A testbench that wakes up in Python at every clock edge spends far more time in Python
than in the simulator. The wrapper moves the per-cycle work into the HDL:

- a 16-bit LFSR (seeded by ``seed`` at reset) throttles the streams: each cycle the
  input may not start a beat with probability ``in_gap / 256`` (a beat once offered stays
  valid until taken, as AXI4-Stream requires), and ``m_axis_tready`` /
  ``m_axis_trace_tready`` are low with probability ``out_stall / 256`` /
  ``trace_stall / 256``; all 0 means full speed;
- the Python side offers one input beat at a time (``x_data``, ``x_last``, ``x_valid``)
  and waits for ``x_count`` to change;
- every output beat and trace word taken is copied to ``h_data`` / ``t_data`` (with
  ``h_last`` / ``t_last``) and counted in ``h_count`` / ``t_count``, so Python wakes up
  once per beat, not once per cycle;
- ``cycle`` counts clock cycles since reset.

The AXI4-Lite slave port passes straight through (same ``s_axil_*`` names), so the same
bus functional model programs the registers and loads the weights.
"""

from __future__ import annotations

from ...hw.layout import Layout
from ...hw.contract import AXIL_ADDR_BITS, AXIL_DATA_BITS

AXIL_PORTS = (  # name, direction seen from the wrapper, width
    ("awaddr", "input", AXIL_ADDR_BITS), ("awprot", "input", 3), ("awvalid", "input", 1), ("awready", "output", 1),
    ("wdata", "input", AXIL_DATA_BITS), ("wstrb", "input", AXIL_DATA_BITS // 8), ("wvalid", "input", 1),
    ("wready", "output", 1), ("bresp", "output", 2), ("bvalid", "output", 1), ("bready", "input", 1),
    ("araddr", "input", AXIL_ADDR_BITS), ("arprot", "input", 3), ("arvalid", "input", 1), ("arready", "output", 1),
    ("rdata", "output", AXIL_DATA_BITS), ("rresp", "output", 2), ("rvalid", "output", 1), ("rready", "input", 1),
)


def port_declaration(direction: str, width: int, name: str) -> str:
    """One Verilog port declaration line."""
    return f"    {direction} wire {'[' + str(width - 1) + ':0] ' if width > 1 else ''}{name}"


def wrapper_verilog(layout: Layout) -> str:
    """The wrapper module for ``layout``'s port widths (the top must have the trace stream)."""
    xw, hw = layout.input_size * 8, layout.lanes * 8  # an output word of P values
    ports = [
        "    input wire clk", "    input wire rst",
        "    input wire [15:0] seed", "    input wire [7:0] in_gap", "    input wire [7:0] out_stall",
        "    input wire [7:0] trace_stall",
        f"    input wire [{xw - 1}:0] x_data", "    input wire x_last", "    input wire x_valid",
        "    output reg [31:0] x_count",
        f"    output reg [{hw - 1}:0] h_data", "    output reg h_last", "    output reg [31:0] h_count",
        "    output reg [31:0] t_data", "    output reg t_last", "    output reg [31:0] t_count",
        "    output reg [63:0] cycle",
    ] + [port_declaration(direction, width, f"s_axil_{name}") for name, direction, width in AXIL_PORTS]
    port_text = ",\n".join(ports)
    axil = ",\n".join(f"        .s_axil_{name}(s_axil_{name})" for name, _, _ in AXIL_PORTS)
    return f"""// memornn_tb: test wrapper around memornn_accel, written by memornn.sim.rtl.wrapper.
// LFSR-throttled AXI4-Stream ports and per-beat capture registers; see that module.
module memornn_tb (
{port_text}
);
    reg [15:0] lfsr;
    reg presenting;
    wire s_axis_tvalid, s_axis_tready, m_axis_tvalid, m_axis_tlast, tr_tvalid, tr_tlast;
    wire [{hw - 1}:0] m_axis_tdata;
    wire [{layout.lanes - 1}:0] m_axis_tkeep;  // implied by a word's place in its step
    wire [31:0] tr_tdata;
    // A beat, once offered, stays offered until it is taken.
    assign s_axis_tvalid = x_valid & (presenting | (lfsr[7:0] >= in_gap));
    wire m_axis_tready = lfsr[15:8] >= out_stall;
    wire tr_tready = {{lfsr[3:0], lfsr[15:12]}} >= trace_stall;

    always @(posedge clk) begin
        if (rst) begin
            lfsr <= seed | 16'h0001;
            presenting <= 1'b0;
            x_count <= 32'd0;
            h_data <= {hw}'d0;
            h_last <= 1'b0;
            h_count <= 32'd0;
            t_data <= 32'd0;
            t_last <= 1'b0;
            t_count <= 32'd0;
            cycle <= 64'd0;
        end else begin
            lfsr <= {{1'b0, lfsr[15:1]}} ^ (lfsr[0] ? 16'hB400 : 16'h0000);
            presenting <= s_axis_tvalid & ~s_axis_tready;
            cycle <= cycle + 64'd1;
            if (s_axis_tvalid & s_axis_tready)
                x_count <= x_count + 32'd1;
            if (m_axis_tvalid & m_axis_tready) begin
                h_data <= m_axis_tdata;
                h_last <= m_axis_tlast;
                h_count <= h_count + 32'd1;
            end
            if (tr_tvalid & tr_tready) begin
                t_data <= tr_tdata;
                t_last <= tr_tlast;
                t_count <= t_count + 32'd1;
            end
        end
    end

    memornn_accel accel (
        .clk(clk),
        .rst(rst),
        .s_axis_tdata(x_data),
        .s_axis_tvalid(s_axis_tvalid),
        .s_axis_tready(s_axis_tready),
        .s_axis_tlast(x_last),
        .m_axis_tdata(m_axis_tdata),
        .m_axis_tkeep(m_axis_tkeep),
        .m_axis_tvalid(m_axis_tvalid),
        .m_axis_tready(m_axis_tready),
        .m_axis_tlast(m_axis_tlast),
        .m_axis_trace_tdata(tr_tdata),
        .m_axis_trace_tvalid(tr_tvalid),
        .m_axis_trace_tready(tr_tready),
        .m_axis_trace_tlast(tr_tlast),
{axil}
    );
endmodule
"""
