"""The quantization regression models (``models/qreg_*.npz``) and their data sets.

Two small models trained on real data, each built to break the min-max quantizer
(``memornn quantize --method minmax``) in one of the ways real networks do:

``qreg_digits_bin_lstm64``
    LSTM 1x64 on scikit-learn's digits read row by row as *binary* inputs (pixel > 8):
    a piano-roll-like input whose feature 0 (the left border column) is never set in
    the whole data set, so it is always zero in calibration, like a silent key, a dead
    ReLU channel or a padding channel. Its weight column keeps its initial values
    (nothing trains it).
``qreg_jv_gru64_outlier``
    GRU 1x64 on JapaneseVowels whose input weight column 0 is an outlier: the model is
    trained on data with feature 0 in 32x its normalised units (as an un-normalised
    sensor reading would be) and then converted to take the normalised data, that
    factor folded into ``weight_ih_l0[:, 0]``. The float function is unchanged, and
    that column is about 20x the others.

Data sets (``dataset_for``) come from the data extra, like :mod:`.datasets`; training
uses :func:`.train.train_model` (seeded, one thread, reproducible). Rebuild with
``python -m memornn.evaluation.regression`` (needs the torch and data extras).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from ..golden.floatmodel import FloatLayer, FloatModel
from ..golden.inputs import Batch
from .datasets import Dataset, load_dataset
from .train import ModelSpec, save_float32, train_model

#: Gain of the outlier column of ``qreg_jv_gru64_outlier`` (a power of two: folding it
#: into float32 weights is exact).
OUTLIER_GAIN = 32.0
OUTLIER_FEATURE = 0
#: Binarization threshold of the digits pixels (0..16).
DIGITS_ON = 8

MODEL_SPECS = {
    "qreg_digits_bin_lstm64": ModelSpec("digits_binary", "lstm", 64, epochs=40, batch=64),
    "qreg_jv_gru64_outlier": ModelSpec("japanesevowels", "gru", 64, epochs=60),
}


def binary_digits() -> Dataset:
    """Digits (same split as :func:`.datasets.load_dataset`), pixels binarized ``> 8`` to 0/1."""
    data = load_dataset("digits")

    def binarize(batch: Batch) -> Batch:
        # load_dataset maps pixel p to p / 8 - 1, so p > 8 is x > 0.
        return Batch((batch.x > (DIGITS_ON / 8.0 - 1.0)).astype(np.float64), batch.lengths)

    return Dataset("digits_binary", binarize(data.train), data.y_train, binarize(data.test), data.y_test,
                   data.classes)


def dataset_for(name: str) -> Dataset:
    """The data set a regression model takes (normalised as the committed model expects)."""
    return binary_digits() if MODEL_SPECS[name].dataset == "digits_binary" else load_dataset("japanesevowels")


def _gain(batch: Batch, gain: float) -> Batch:
    x = batch.x.copy()
    x[:, :, OUTLIER_FEATURE] *= gain
    return Batch(x, batch.lengths)


def fold_gain(model: FloatModel, gain: float) -> FloatModel:
    """The model that takes feature ``OUTLIER_FEATURE`` divided by ``gain``: column times ``gain``."""
    p = model.layers[0][0]
    w_ih = p.w_ih.copy()
    w_ih[:, OUTLIER_FEATURE] *= gain
    layers = [[FloatLayer(w_ih, p.w_hh, p.b_ih, p.b_hh)]] + model.layers[1:]
    return FloatModel(model.cell, layers, model.head_weight, model.head_bias)


def build(name: str, show_progress: bool = False) -> tuple[FloatModel, dict]:
    """Train one regression model; returns the model and its training log entry."""
    spec = MODEL_SPECS[name]
    data = dataset_for(name)
    if name == "qreg_jv_gru64_outlier":
        scaled = Dataset(data.name, _gain(data.train, OUTLIER_GAIN), data.y_train, _gain(data.test, OUTLIER_GAIN),
                         data.y_test, data.classes)
        model, info = train_model(spec, scaled, show_progress)
        return fold_gain(model, OUTLIER_GAIN), info
    return train_model(spec, data, show_progress)


def main(argv: list[str] | None = None) -> int:
    """Train the regression models and write ``models/<name>.npz``."""
    parser = argparse.ArgumentParser(prog="python -m memornn.evaluation.regression",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="models", help="output directory (default models/)")
    parser.add_argument("--log", default="benchmarks/results/quant_training.json", help="JSON training log")
    args = parser.parse_args(argv)
    log = {}
    for name in MODEL_SPECS:
        model, info = build(name, show_progress=True)
        save_float32(model, os.path.join(args.out, f"{name}.npz"))
        log[name] = info
        print(f"{name}: {info['seconds']:.0f} s, test accuracy {info['float_accuracy']:.2f} %", file=sys.stderr)
    os.makedirs(os.path.dirname(args.log) or ".", exist_ok=True)
    with open(args.log, "w") as f:
        json.dump(log, f, indent=1, sort_keys=True)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
