"""Running the generated Verilog in Icarus Verilog and Verilator through cocotb.

The pieces, one job each:

- :mod:`~memornn.sim.rtl.design`: the Verilog of one design (the AXI top, and the test
  wrapper for long runs) in a cache directory named by a hash of everything it depends on.
- :mod:`~memornn.sim.rtl.lint`: the Verilator lint waivers (each with its reason), the
  lint run and the Yosys structural check.
- :mod:`~memornn.sim.rtl.build`: compiling a design with ``cocotb_tools.runner`` (once per
  design and simulator) and running the cocotb testbench on a job.
- :mod:`~memornn.sim.rtl.job`: the job file the testbench reads (models as load-port
  writes, input beats, thresholds, expected words) and the observation file it writes.
- :mod:`~memornn.sim.rtl.scoreboard`: the in-order checker used inside the simulator.
- :mod:`~memornn.sim.rtl.tb_accel`: the cocotb tests (cocotbext-axi drives the ports).
- :mod:`~memornn.sim.rtl.wrapper`: the Verilog test wrapper (LFSR-throttled streams,
  per-beat events) that makes long runs cheap.
- :mod:`~memornn.sim.rtl.backend`: ``memornn simulate --simulator icarus|verilator-cocotb``
  (``--simulator verilator`` is the compiled harness, :mod:`memornn.sim.compiled`).

The pytest side (``tests/rtl``) and the command line build jobs with the golden model,
run them, and compare what the hardware did with :func:`memornn.sim.compare.first_mismatch`.
"""
