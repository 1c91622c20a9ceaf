"""The compiled simulator: the AXI top in Verilator with a C++ harness, no Python per cycle.

- :mod:`~memornn.sim.compiled.build`: compiling ``harness.cpp`` with a design's Verilog
  (cached by a hash of the sources, the harness, the Verilator version and the flags).
- :mod:`~memornn.sim.compiled.files`: the stimulus and result file formats.
- :mod:`~memornn.sim.compiled.program`: runs of models and sequences to a stimulus, and
  the results back to the golden key table and a verdict.
- :mod:`~memornn.sim.compiled.backend`: running a program; ``memornn simulate
  --simulator verilator``.
- :mod:`~memornn.sim.compiled.volume`: random differential cases at volume and their
  functional coverage.
"""
