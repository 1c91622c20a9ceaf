"""The quantization regression models (``models/qreg_*.npz``, evaluation/regression.py):
each loses more than half a point of test accuracy with the min-max quantizer and stays
within half a point of float with the clipping search (the default)."""

import os

import numpy as np
import pytest

from memornn.golden.floatmodel import load_float_model
from memornn.golden.floatref import apply_head, float_forward, last_outputs
from memornn.golden.intmodel import golden_run
from memornn.golden.quantize import quantize_model

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def regression():
    pytest.importorskip("aeon")
    from memornn.evaluation import regression

    return regression


@pytest.mark.parametrize("name", ["qreg_jv_onehot_lstm64", "qreg_jv_qbin_gru32_outlier"])
def test_regression_model_fails_minmax_and_passes_mse(regression, name):
    data = regression.dataset_for(name)
    model = load_float_model(os.path.join(ROOT, "models", f"{name}.npz"))

    def accuracy(h):
        scores = apply_head(model, last_outputs(h, data.test.lengths))
        return 100.0 * float(np.mean(scores.argmax(axis=1) == data.y_test))

    float_acc = accuracy(float_forward(model, data.test))
    old = accuracy(golden_run(quantize_model(model, data.train, method="minmax"), data.test, 0.0, "none")["h"])
    new = accuracy(golden_run(quantize_model(model, data.train), data.test, 0.0, "none")["h"])
    assert float_acc - old > 0.5, (float_acc, old)
    assert abs(float_acc - new) <= 0.5, (float_acc, new)


def test_regression_data_has_the_flaw_it_is_built_for(regression):
    onehot = regression.dataset_for("qreg_jv_onehot_lstm64")
    assert onehot.input_size == 96
    calib_peak = np.abs(onehot.train.x).max(axis=(0, 1))
    assert 5 <= np.sum(calib_peak == 0) <= 20  # outer bins never set in calibration
    qbins = regression.dataset_for("qreg_jv_qbin_gru32_outlier")
    assert np.all(np.abs(qbins.train.x).max(axis=(0, 1)) == 1)  # every channel live
    w = load_float_model(os.path.join(ROOT, "models", "qreg_jv_qbin_gru32_outlier.npz")).layers[0][0].w_ih
    col = np.abs(w).max(axis=0)
    assert col[0] > 20 * np.median(col[1:])  # the outlier column
