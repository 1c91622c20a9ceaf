"""The data sets and the committed models (evaluation/datasets.py, models/*.npz, evaluation/train.py)."""

import json
import os

import numpy as np
import pytest

from eval_testlib import tiny_dataset
from memornn.evaluation.datasets import check_dataset_name, load_dataset, subset
from memornn.evaluation.train import MODEL_SPECS, ModelSpec, float_accuracy, save_float32, train_model
from memornn.golden.errors import MemornnError
from memornn.golden.floatmodel import load_float_model

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_dataset_names():
    assert check_dataset_name(" Digits") == "digits"
    with pytest.raises(MemornnError, match="unknown dataset 'x'"):
        check_dataset_name("x")


def _rows(batch):
    return {r.tobytes() for r in batch.x.reshape(batch.size, -1)}


def test_digits():
    pytest.importorskip("sklearn")
    d = load_dataset("digits")
    assert (d.train.x.shape, d.val.x.shape, d.test.x.shape, d.classes) == ((1000, 8, 8), (347, 8, 8), (450, 8, 8), 10)
    assert d.train.x.min() == -1.0 and d.train.x.max() == 1.0
    assert sorted(np.unique(d.y_test)) == list(range(10)) == sorted(np.unique(d.y_val))
    again = load_dataset("digits")
    np.testing.assert_array_equal(again.test.x, d.test.x)  # the split is fixed
    np.testing.assert_array_equal(again.val.x, d.val.x)
    # The three splits are disjoint images (the archive has a few exact duplicates: allow those).
    assert len(_rows(d.val) & _rows(d.test)) <= 2 and len(_rows(d.val) & _rows(d.train)) <= 2
    seq = load_dataset("seqdigits")  # the same images and splits, pixel by pixel
    assert seq.val.x.shape == (347, 64, 1)
    np.testing.assert_array_equal(seq.val.x.reshape(347, 8, 8), d.val.x)
    np.testing.assert_array_equal(seq.y_test, d.y_test)


def test_japanese_vowels():
    pytest.importorskip("aeon")
    d = load_dataset("japanesevowels")
    assert (d.train.size, d.val.size, d.test.size, d.input_size, d.classes) == (180, 90, 370, 12, 9)
    assert (d.test.lengths.min(), d.test.lengths.max()) == (7, 29)
    assert sorted(np.unique(d.y_train)) == list(range(9))
    assert np.bincount(d.y_val).tolist() == [10] * 9  # 10 held-out utterances of each training speaker
    assert not _rows(d.val) & _rows(d.train) and not _rows(d.val) & _rows(d.test)
    frames = d.train.x[np.arange(d.train.x.shape[1])[None] < d.train.lengths[:, None]]
    np.testing.assert_allclose(frames.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(frames.std(0), 1, atol=1e-12)


def test_subset():
    d = tiny_dataset(test=5, max_len=7)
    batch, y = subset(d.test, d.y_test, 2)
    assert batch.size == 2 and batch.x.shape[1] == d.test.lengths[:2].max()
    np.testing.assert_array_equal(y, d.y_test[:2])
    assert subset(d.test, d.y_test, None)[0] is d.test


def test_committed_models():
    """Each committed model loads, fits its spec, and (with the data extra) has its logged accuracy."""
    with open(os.path.join(ROOT, "benchmarks", "results", "eval_training.json")) as f:
        log = json.load(f)
    data = {}
    for name, spec in MODEL_SPECS.items():
        model = load_float_model(os.path.join(ROOT, "models", f"{name}.npz"))
        assert (model.cell, model.hidden_size, model.num_layers, model.bidirectional) == (
            spec.cell, spec.hidden, spec.layers, spec.bidirectional)
        assert model.head_weight is not None
        try:
            d = data.setdefault(spec.dataset, load_dataset(spec.dataset))
        except MemornnError:  # no data extra
            continue
        assert float_accuracy(model, d) == log[name]["float_accuracy"]


def test_training_tiny(tmp_path):
    pytest.importorskip("torch")
    d = tiny_dataset(train=16, test=8)
    spec = ModelSpec("tiny", "gru", 4, layers=2, epochs=2, batch=8)
    model, info = train_model(spec, d, show_progress=False)
    assert info["torch_accuracy"] == info["float_accuracy"]  # train_model also checks this
    save_float32(model, tmp_path / "m.npz")
    again = load_float_model(tmp_path / "m.npz")
    assert again.num_layers == 2 and again.head_weight.shape == (3, 4)
    assert float_accuracy(again, d) == info["float_accuracy"]
    model2, _ = train_model(spec, d, show_progress=False)  # seeded: the same model again
    np.testing.assert_array_equal(model2.layers[1][0].w_hh, model.layers[1][0].w_hh)


def test_export_split_is_an_inputs_file(tmp_path):
    pytest.importorskip("sklearn")
    from memornn.commands.tune import load_labelled
    from memornn.evaluation.export import main

    assert main(["digits", str(tmp_path / "val.npz"), "--split", "val"]) == 0
    batch, labels = load_labelled(str(tmp_path / "val.npz"), 8)
    d = load_dataset("digits")
    np.testing.assert_array_equal(batch.x, d.val.x)
    np.testing.assert_array_equal(labels, d.y_val)
    assert main(["nope", str(tmp_path / "x.npz"), "--split", "val"]) == 2
    assert not (tmp_path / "x.npz").exists()
