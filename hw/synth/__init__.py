"""Synthesis and place-and-route estimates of the generated accelerator.

The flow (:func:`memornn.hw.synth.flow.run_synth`, ``memornn synth``):

1. the design's Verilog (``memornn generate``'s, :mod:`.design`);
2. an inventory of its multipliers and memories after flattening and width reduction
   (Yosys, :mod:`.inventory`); multipliers beyond the device's DSP blocks are built in
   logic, MAC lanes served first (a DSP budget, as vendor tools keep one);
3. synthesis with the target's Yosys script (:mod:`.targets`, :mod:`.yosys`), the design
   kept as its own hierarchy level so its resource counts are its own; a one-line error
   if it does not fit (:mod:`.fit`);
4. for iCE40 and ECP5, place and route with nextpnr at a clock constraint, the design
   inside an I/O-serializing harness (:mod:`.harness`): its ports outnumber a package's
   pins, nextpnr-ice40 has no out-of-context mode and nextpnr-ecp5's
   (``--out-of-context``) is experimental and leaves the clock off the global network,
   so both families use the same harness, whose registers sit at the design's boundary
   and whose cells are recognizable on a critical path (:mod:`.nextpnr`);
5. ``report.json`` and ``report.md`` (:mod:`.report`): resources, utilization, Fmax and
   critical path, and whether the multipliers landed in DSP blocks and the memories in
   block RAM (:mod:`.inference`); the tool logs stay beside them.

:mod:`memornn.hw.fusesoc` writes a FuseSoC core file for the generated Verilog.
"""
