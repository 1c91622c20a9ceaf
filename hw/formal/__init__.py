"""Formal verification of the accelerator's interfaces and blocks (SymbiYosys, Yices).

- :mod:`.rules`: protocol rules (AXI4-Lite slave, AXI4-Stream master and source) as
  Amaranth assertions and assumptions, modelled on ZipCPU's property sets;
- :mod:`.harness`: the designs under test wrapped with their rules, never edited;
- :mod:`.components`: the stream ends, the work queue and the memo table on their own,
  with invariants for k-induction;
- :mod:`.sby`: the ``.sby`` file, the ``yowasp-sby`` run and its verdict;
- :mod:`.checks`: the checks, their depths and expected verdicts, and the command
  ``python -m memornn.hw.formal``.
"""
