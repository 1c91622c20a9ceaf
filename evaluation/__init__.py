"""Accuracy and reuse evaluation of neuron-level fuzzy memoization on trained models.

Modules, one job each:

- :mod:`.datasets`: the data sets that ship inside PyPI packages (JapaneseVowels from
  aeon, the 8x8 digits from scikit-learn row by row and pixel by pixel), loaded,
  normalised and split into training, validation and test;
- :mod:`.train`: training the committed float models under ``models/`` (torch extra);
- :mod:`.thresholds`: the ``start:stop:step`` threshold-range syntax;
- :mod:`.metrics`: accuracy, reuse per layer and gate, MACs avoided;
- :mod:`.tuning`: the rule that chooses a policy's settings on validation data
  (``memornn tune`` and every table);
- :mod:`.policies`: every policy on one model, chosen on validation, reported on test;
- :mod:`.policy_report`: its markdown report, the issue's goals and the figure;
- :mod:`.sweep`: the threshold sweep and :func:`~.sweep.best_threshold`;
- :mod:`.results`: JSON and CSV output of a sweep;
- :mod:`.plot`: the accuracy-loss / reuse figure (the paper's Figure 1 shape);
- :mod:`.traces`: per-step BNN outputs and pre-activations of an integer-model run;
- :mod:`.correlation`: the correlation of BNN-output and pre-activation changes;
- :mod:`.summary`: the markdown table of ``benchmarks/results/eval_summary.md``;
- :mod:`.progress`: progress bars (tqdm when installed).

It builds on :mod:`memornn.golden` only (never the hardware or the simulator).
"""
