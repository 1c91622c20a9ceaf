"""Accuracy and reuse evaluation of neuron-level fuzzy memoization on trained models.

Modules, one job each:

- :mod:`.datasets`: the two data sets that ship inside PyPI packages (JapaneseVowels
  from aeon, the 8x8 digits from scikit-learn), loaded and normalised;
- :mod:`.train`: training the committed float models under ``models/`` (torch extra);
- :mod:`.thresholds`: the ``start:stop:step`` threshold-range syntax;
- :mod:`.metrics`: accuracy, reuse per layer and gate, MACs avoided;
- :mod:`.sweep`: the threshold sweep and :func:`~.sweep.best_threshold`;
- :mod:`.results`: JSON and CSV output of a sweep;
- :mod:`.plot`: the accuracy-loss / reuse figure (the paper's Figure 1 shape);
- :mod:`.traces`: per-step BNN outputs and pre-activations of an integer-model run;
- :mod:`.correlation`: the correlation of BNN-output and pre-activation changes;
- :mod:`.summary`: the markdown table of ``benchmarks/results/eval_summary.md``;
- :mod:`.progress`: progress bars (tqdm when installed).

It builds on :mod:`memornn.golden` only (never the hardware or the simulator).
"""
