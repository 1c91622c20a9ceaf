"""The quantization regression models (``models/qreg_*.npz``) and their data sets.

Two small models trained on real data (JapaneseVowels, the data extra), each built to
break the min-max quantizer (``memornn quantize --method minmax``) the way real networks do:

``qreg_jv_onehot_lstm64``
    LSTM 1x64 on a piano-roll-like binary input: each of the 12 normalised features is
    one-hot encoded into 8 bins of width 1 over [-4, 4] (``onehot_bins``), 96 channels of
    which 11 (outer bins) are never set in the training split: always zero in
    calibration, like silent keys, dead ReLU channels or padding channels. Nothing trains
    their weight columns, which keep their initial values.
``qreg_jv_qbin_gru32_outlier``
    GRU 1x32 on the 12 features one-hot encoded into 8 equal-frequency bins (edges at
    the training split's quantiles, so every channel is live), whose input weight column
    0 is an outlier: the model is trained with channel 0 at 64x the others (as an
    un-normalised input would be) and then converted to take the 0/1 data, the factor
    folded into ``weight_ih_l0[:, 0]`` (the float function is unchanged), which ends up
    about 40x the other columns.

Training uses :func:`.train.train_model` (seeded, one thread, reproducible). Rebuild with
``python -m memornn.evaluation.regression`` (needs the torch and data extras).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ..golden.floatmodel import FloatLayer, FloatModel
from ..golden.inputs import Batch
from .datasets import Dataset, _japanese_vowels
from .train import ModelSpec, read_log, save_and_log, train_model

#: Gain of the outlier column of ``qreg_jv_qbin_gru32_outlier`` (a power of two: folding
#: it into float32 weights is exact).
OUTLIER_GAIN = 64.0
OUTLIER_FEATURE = 0
BINS = 8

MODEL_SPECS = {
    "qreg_jv_onehot_lstm64": ModelSpec("japanesevowels_onehot", "lstm", 64, epochs=60),
    "qreg_jv_qbin_gru32_outlier": ModelSpec("japanesevowels_qbins", "gru", 32, epochs=60),
}


def onehot_bins(batch: Batch, edges: np.ndarray) -> Batch:
    """Each feature ``j`` to ``len(edges[j]) + 1`` channels, one-hot by ``numpy.digitize``; padding stays 0."""
    n, t, features = batch.x.shape
    bins = edges.shape[1] + 1
    out = np.zeros((n, t, features * bins))
    rows, steps = np.arange(n)[:, None], np.arange(t)[None, :]
    for j in range(features):
        out[rows, steps, j * bins + np.digitize(batch.x[:, :, j], edges[j])] = 1.0
    mask = steps < batch.lengths[:, None]
    return Batch(out * mask[:, :, None], batch.lengths)


def _encoded(name: str, data: Dataset, edges: np.ndarray) -> Dataset:
    return Dataset(name, onehot_bins(data.train, edges), data.y_train, onehot_bins(data.test, edges), data.y_test,
                   data.classes)


def dataset_for(name: str) -> Dataset:
    """The data set a regression model takes (encoded as the committed model expects)."""
    jv = _japanese_vowels(validation=False)  # nothing is chosen on validation here: the archive's splits
    features = jv.input_size
    if MODEL_SPECS[name].dataset == "japanesevowels_onehot":
        edges = np.tile(np.linspace(-4.0, 4.0, BINS + 1)[1:-1], (features, 1))
    else:
        frames = jv.train.x[np.arange(jv.train.x.shape[1])[None, :] < jv.train.lengths[:, None]]
        edges = np.quantile(frames, np.linspace(0, 1, BINS + 1)[1:-1], axis=0).T
    return _encoded(MODEL_SPECS[name].dataset, jv, edges)


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
    if name == "qreg_jv_qbin_gru32_outlier":
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
    parser.add_argument("--models", default=",".join(MODEL_SPECS), help="comma-separated names (default: all)")
    args = parser.parse_args(argv)
    log = read_log(args.log)
    for name in [m for m in args.models.split(",") if m]:
        model, info = build(name, show_progress=True)
        save_and_log(name, model, info, args.out, log, args.log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
