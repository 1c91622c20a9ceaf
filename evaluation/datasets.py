"""The evaluation data sets, which ship inside PyPI packages (nothing is downloaded).

``japanesevowels``
    UCI Japanese Vowels (Kudo et al.), from aeon's bundled copy (the ``data`` extra):
    speakers uttering /ae/, 12 LPC cepstrum coefficients per frame, 7 to 29 frames,
    9 classes (the speaker); 270 training and 370 test sequences, the archive's split.
    Normalisation: each of the 12 features is standardised with the mean and standard
    deviation of the training split, over every frame of every training sequence.
``digits``
    scikit-learn's 8x8 handwritten digits (the ``data`` extra), read row by row: the 8
    rows are 8 time steps of 8 pixels, 10 classes. Fixed split: a permutation drawn
    with ``numpy.random.default_rng(0)``, the first 1347 images (75 %) for training and
    the other 450 for testing. Normalisation: pixel values 0..16 mapped linearly to
    [-1, 1] (``x / 8 - 1``).

The normalisation is part of loading: the models under ``models/`` expect normalised
inputs and store no statistics. Labels are integers ``0 .. classes-1`` (JapaneseVowels:
speaker ``k`` is label ``k - 1``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..golden.errors import MemornnError
from ..golden.inputs import Batch, make_batch

DATASETS = ("japanesevowels", "digits")
DIGITS_SPLIT_SEED = 0
DIGITS_TRAIN = 1347
DATA_EXTRA = "pip install 'memornn[data]'"


@dataclass
class Dataset:
    """A classification data set split into training and test sequences.

    Attributes
    ----------
    name : str
    train, test : Batch
        Normalised float sequences, zero-padded, with per-sequence lengths.
    y_train, y_test : ndarray of int64
        Class labels.
    classes : int
    """

    name: str
    train: Batch
    y_train: np.ndarray
    test: Batch
    y_test: np.ndarray
    classes: int

    @property
    def input_size(self) -> int:
        return self.train.x.shape[2]


def check_dataset_name(name: str) -> str:
    """The canonical (lower-case) name of a data set, or a one-line error."""
    key = str(name).strip().lower()
    if key not in DATASETS:
        raise MemornnError(f"unknown dataset {name!r} (choose from {', '.join(DATASETS)})")
    return key


def _need(module: str, dataset: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise MemornnError(f"dataset {dataset!r} needs the data extra ({module} is missing): {DATA_EXTRA}") from None


def _pad(sequences: list) -> Batch:
    """(T_i, F) float arrays to a zero-padded Batch."""
    lengths = np.array([s.shape[0] for s in sequences], dtype=np.int64)
    x = np.zeros((len(sequences), int(lengths.max()), sequences[0].shape[1]))
    for i, s in enumerate(sequences):
        x[i, :len(s)] = s
    return make_batch(x, lengths)


def _japanese_vowels() -> Dataset:
    loaders = _need("aeon.datasets", "japanesevowels")
    splits = {}
    for split in ("train", "test"):
        x, y = loaders.load_classification("JapaneseVowels", split=split)
        splits[split] = ([np.asarray(s, np.float64).T for s in x], np.asarray(y).astype(np.int64) - 1)
    frames = np.concatenate(splits["train"][0])
    mean, std = frames.mean(axis=0), frames.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    train, test = ([(s - mean) / std for s in splits[k][0]] for k in ("train", "test"))
    return Dataset("japanesevowels", _pad(train), splits["train"][1], _pad(test), splits["test"][1], 9)


def _digits() -> Dataset:
    sk = _need("sklearn.datasets", "digits")
    digits = sk.load_digits()
    x = digits.images.astype(np.float64) / 8.0 - 1.0  # (1797, 8 rows = steps, 8 pixels = features)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(y))
    tr, te = order[:DIGITS_TRAIN], order[DIGITS_TRAIN:]
    return Dataset("digits", make_batch(x[tr]), y[tr], make_batch(x[te]), y[te], 10)


def load_dataset(name: str) -> Dataset:
    """Load and normalise a data set (see the module docstring).

    Raises
    ------
    MemornnError
        For an unknown name, or when the package holding the data is not installed
        (the message names the extra).
    """
    key = check_dataset_name(name)
    return {"japanesevowels": _japanese_vowels, "digits": _digits}[key]()


def subset(batch: Batch, labels: np.ndarray, count: int | None) -> tuple[Batch, np.ndarray]:
    """The first ``count`` sequences (all for None), trimmed to their longest length."""
    if count is None or count >= batch.size:
        return batch, labels
    lengths = batch.lengths[:count]
    return Batch(batch.x[:count, :int(lengths.max())], lengths), labels[:count]
