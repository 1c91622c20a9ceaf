"""Random float models and inputs, as PyTorch initialises them: for tests and benchmarks."""

from __future__ import annotations

import numpy as np

from .floatmodel import FloatLayer, FloatModel
from .inputs import Batch, make_batch
from .numerics import GATES


def random_float_model(cell: str = "lstm", num_layers: int = 1, bidirectional: bool = False, input_size: int = 8,
                       hidden_size: int = 8, classes: int = 0, seed: int = 0) -> FloatModel:
    """A model with PyTorch's default initialisation, ``U(-1/sqrt(H), 1/sqrt(H))``."""
    rng = np.random.default_rng(seed)
    gates, directions = GATES[cell], 2 if bidirectional else 1
    bound = 1 / np.sqrt(hidden_size)
    layers = []
    for k in range(num_layers):
        x = input_size if k == 0 else hidden_size * directions
        layers.append([FloatLayer(*(rng.uniform(-bound, bound, shape) for shape in (
            (gates * hidden_size, x), (gates * hidden_size, hidden_size), (gates * hidden_size,),
            (gates * hidden_size,)))) for _ in range(directions)])
    head_w = head_b = None
    if classes:
        head_w = rng.normal(size=(classes, hidden_size * directions))
        head_b = rng.normal(size=classes)
    return FloatModel(cell, layers, head_w, head_b)


def random_batch(input_size: int, sequences: int = 4, max_len: int = 6, seed: int = 0,
                 smooth: float = 0.0) -> Batch:
    """Standard-normal sequences with random lengths in [1, max_len] (the first is full length).

    ``smooth`` in [0, 1) makes consecutive steps correlated (``x_t = s*x_(t-1) + ...``),
    as real signals are, so that memoization has something to find.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(sequences, max_len, input_size))
    for t in range(1, max_len):
        x[:, t] = smooth * x[:, t - 1] + np.sqrt(1 - smooth**2) * x[:, t]
    lengths = rng.integers(1, max_len + 1, size=sequences)
    lengths[0] = max_len
    return make_batch(x, lengths)
