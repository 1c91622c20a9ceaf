"""Helpers shared by the evaluation tests (not a test module itself): tiny models and data."""

from __future__ import annotations

import numpy as np

from memornn.evaluation.datasets import Dataset
from memornn.golden import numerics as nx
from memornn.golden.randmodel import random_batch, random_float_model


def tiny_dataset(input_size: int = 3, classes: int = 3, train: int = 12, test: int = 10, max_len: int = 7,
                 seed: int = 0) -> Dataset:
    """Smooth random sequences with random labels: enough for the sweep machinery."""
    rng = np.random.default_rng(seed)
    return Dataset("tiny", random_batch(input_size, train, max_len, seed, smooth=0.8), rng.integers(0, classes, train),
                   random_batch(input_size, test, max_len, seed + 1, smooth=0.8), rng.integers(0, classes, test),
                   classes)


def tiny_model(cell: str = "lstm", layers: int = 1, bidirectional: bool = False, input_size: int = 3,
               hidden: int = 4, classes: int = 3, seed: int = 0):
    return random_float_model(cell, layers, bidirectional, input_size, hidden, classes, seed)


def run_main(argv, capsys):
    """``memornn.cli.main(argv)``; returns (exit code, stdout, stderr). argparse exits count too."""
    from memornn.cli import main

    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def replay_reuse(trace, theta: float, predictor: str, cap: int, hidden: int) -> np.ndarray:
    """Replay the documented reuse decisions from a trace; the mask in time order (N, T, rows).

    The threshold test restated (``|new - cached| * 2**8 <= theta_q * |cached|``), the
    rest of the rule (valid entry, run below the cap) from ``nx.reuse_decision``, applied
    to the per-step values the trace collected.
    """
    theta_q = nx.theta_to_q(theta)
    n, steps, rows = trace.yb.shape
    valid = np.zeros((n, rows), bool)
    run = np.zeros((n, rows), np.int64)
    cached = np.zeros((n, rows), np.int64)
    cached_hn = np.zeros((n, hidden), np.int64)
    mask = np.zeros((n, steps, rows), bool)
    cand = slice(2 * hidden, 3 * hidden)

    def close(new, old):
        return (np.abs(new - old) << 8) <= theta_q * np.abs(old)

    for s in range(steps):
        act = trace.active[:, s][:, None]
        if predictor == "bnn":
            new = trace.yb[:, s]
            ok = close(new, cached)
        else:
            new = trace.pre[:, s]
            ok = close(new, cached)
            if trace.pre_hn is not None:
                ok[:, cand] &= close(trace.pre_hn[:, s], cached_hn)
        reuse, run_next = nx.reuse_decision(ok & act, run, cap, valid)
        compute = act & ~reuse
        cached = np.where(compute, new, cached)
        if trace.pre_hn is not None and predictor == "oracle":
            cached_hn = np.where(compute[:, cand], trace.pre_hn[:, s], cached_hn)
        valid |= compute
        run = np.where(act, run_next, run)  # a finished sequence's run stays
        for i in range(n):
            if trace.active[i, s]:
                mask[i, trace.times[i, s]] = reuse[i]
    return mask
