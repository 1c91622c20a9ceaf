"""Random quantized models of a given shape, for the differential tests of the RTL."""

from __future__ import annotations

import numpy as np

from ..golden.errors import MemornnError
from ..golden.floatmodel import FloatLayer, FloatModel
from ..golden.quantize import quantize_model
from ..golden.randmodel import random_batch, random_float_model


def _scaled(model: FloatModel, scale: float) -> FloatModel:
    layers = [[FloatLayer(p.w_ih * scale, p.w_hh * scale, p.b_ih * scale, p.b_hh * scale) for p in layer]
              for layer in model.layers]
    return FloatModel(model.cell, layers)


def random_qmodel(shape: dict, rng: np.random.Generator):
    """A quantized random model of ``shape``: PyTorch-like weights, sometimes scaled up (to
    reach saturation), calibrated on random smooth inputs, with or without BNN offsets.

    ``shape``: ``cell``, ``num_layers``, ``bidirectional``, ``input_size``,
    ``hidden_size``, ``pwl_segments``.
    """
    seed = int(rng.integers(2**31))
    model = random_float_model(shape["cell"], shape["num_layers"], shape["bidirectional"], shape["input_size"],
                               shape["hidden_size"], seed=seed)
    calibration = random_batch(shape["input_size"], 6, 8, seed=seed, smooth=float(rng.uniform(0, 0.95)))
    offsets = bool(rng.random() < 0.7)
    for scale in (float(rng.choice([1.0, 1.0, 2.0, 4.0])), 1.0):
        try:
            return quantize_model(_scaled(model, scale), calibration, shape["pwl_segments"], offsets)
        except MemornnError:  # a scaled-up model may not fit the accumulator: plain one
            continue
    raise AssertionError("a PyTorch-initialised model did not quantize")
