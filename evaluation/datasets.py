"""The evaluation data sets, which ship inside PyPI packages (nothing is downloaded).

Every data set has three disjoint splits: ``train`` (the models are trained and the
quantizer calibrated on it), ``val`` (validation: every threshold and setting is chosen
on it) and ``test`` (reported only; nothing is chosen on it). The validation split is
held out of the archive's training data, so the test split is the archive's own.

``japanesevowels``
    UCI Japanese Vowels (Kudo et al.), from aeon's bundled copy (the ``data`` extra):
    speakers uttering /ae/, 12 LPC cepstrum coefficients per frame, 7 to 29 frames,
    9 classes (the speaker); the archive has 270 training sequences (30 per speaker)
    and 370 test sequences. Validation: from each speaker's 30 training utterances,
    the 10 at positions ``numpy.random.default_rng(0).permutation(30)[:10]`` (the same
    positions for every speaker): 90 validation and 180 training sequences.
    Normalisation: each of the 12 features is standardised with the mean and standard
    deviation of the (remaining) training split, over every frame of every sequence.
``digits``
    scikit-learn's 8x8 handwritten digits (the ``data`` extra), read row by row: the 8
    rows are 8 time steps of 8 pixels, 10 classes. Fixed split: a permutation drawn
    with ``numpy.random.default_rng(0)``; its first 1000 images train, the next 347
    validate (together the archive-sized 75 % training share), the last 450 test.
    Normalisation: pixel values 0..16 mapped linearly to [-1, 1] (``x / 8 - 1``).
``seqdigits``
    The same images and splits read pixel by pixel (row-major): 64 time steps of one
    value each, the small sibling of sequential MNIST. A longer sequence with one
    input feature, so the recurrent weights carry almost all the MACs.

The normalisation is part of loading: the models under ``models/`` expect normalised
inputs and store no statistics. Labels are integers ``0 .. classes-1`` (JapaneseVowels:
speaker ``k`` is label ``k - 1``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..golden.errors import MemornnError
from ..golden.inputs import Batch, make_batch

DATASETS = ("japanesevowels", "digits", "seqdigits")
DIGITS_SPLIT_SEED = 0
#: Digits: images 0..999 of the permutation train, 1000..1346 validate, the rest test.
DIGITS_TRAIN, DIGITS_VAL_END = 1000, 1347
#: JapaneseVowels: validation utterances per speaker (of 30), and their positions' seed.
JV_VAL_PER_SPEAKER, JV_VAL_SEED = 10, 0
DATA_EXTRA = "pip install 'memornn[data]'"


@dataclass
class Dataset:
    """A classification data set split into training, test and validation sequences.

    Attributes
    ----------
    name : str
    train, test, val : Batch
        Normalised float sequences, zero-padded, with per-sequence lengths (``val`` is
        None for a data set without a validation split).
    y_train, y_test, y_val : ndarray of int64
        Class labels.
    classes : int
    """

    name: str
    train: Batch
    y_train: np.ndarray
    test: Batch
    y_test: np.ndarray
    classes: int
    val: Batch | None = None
    y_val: np.ndarray | None = None

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


def jv_validation_mask(labels: np.ndarray) -> np.ndarray:
    """True for the JapaneseVowels training utterances held out for validation.

    Within each speaker's utterances (in archive order), the positions
    ``default_rng(JV_VAL_SEED).permutation(count)[:JV_VAL_PER_SPEAKER]``.
    """
    mask = np.zeros(len(labels), bool)
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        picks = np.random.default_rng(JV_VAL_SEED).permutation(len(idx))[:JV_VAL_PER_SPEAKER]
        mask[idx[picks]] = True
    return mask


def _japanese_vowels(validation: bool = True) -> Dataset:
    """JapaneseVowels; ``validation=False``: the archive's own two splits (all 270 training
    utterances for training, normalised over them), for uses that choose nothing on
    validation data (the quantization regression models)."""
    loaders = _need("aeon.datasets", "japanesevowels")
    splits = {}
    for split in ("train", "test"):
        x, y = loaders.load_classification("JapaneseVowels", split=split)
        splits[split] = ([np.asarray(s, np.float64).T for s in x], np.asarray(y).astype(np.int64) - 1)
    held = jv_validation_mask(splits["train"][1]) if validation else np.zeros(len(splits["train"][1]), bool)
    seqs, labels = splits["train"]
    splits["val"] = ([s for s, h in zip(seqs, held) if h], labels[held])
    splits["train"] = ([s for s, h in zip(seqs, held) if not h], labels[~held])
    frames = np.concatenate(splits["train"][0])
    mean, std = frames.mean(axis=0), frames.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    if not validation:
        train, test = (_pad([(s - mean) / std for s in splits[k][0]]) for k in ("train", "test"))
        return Dataset("japanesevowels", train, splits["train"][1], test, splits["test"][1], 9)
    train, val, test = (_pad([(s - mean) / std for s in splits[k][0]]) for k in ("train", "val", "test"))
    return Dataset("japanesevowels", train, splits["train"][1], test, splits["test"][1], 9, val, splits["val"][1])


def _digits(pixels: bool = False) -> Dataset:
    sk = _need("sklearn.datasets", "seqdigits" if pixels else "digits")
    digits = sk.load_digits()
    x = digits.images.astype(np.float64) / 8.0 - 1.0  # (1797, 8 rows = steps, 8 pixels = features)
    if pixels:
        x = x.reshape(len(x), 64, 1)  # row-major pixel order: 64 steps of one pixel
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(y))
    tr, va, te = order[:DIGITS_TRAIN], order[DIGITS_TRAIN:DIGITS_VAL_END], order[DIGITS_VAL_END:]
    return Dataset("seqdigits" if pixels else "digits", make_batch(x[tr]), y[tr], make_batch(x[te]), y[te], 10,
                   make_batch(x[va]), y[va])


def load_dataset(name: str) -> Dataset:
    """Load and normalise a data set (see the module docstring).

    Raises
    ------
    MemornnError
        For an unknown name, or when the package holding the data is not installed
        (the message names the extra).
    """
    key = check_dataset_name(name)
    if key == "japanesevowels":
        return _japanese_vowels()
    return _digits(pixels=key == "seqdigits")


def subset(batch: Batch, labels: np.ndarray, count: int | None) -> tuple[Batch, np.ndarray]:
    """The first ``count`` sequences (all for None), trimmed to their longest length."""
    if count is None or count >= batch.size:
        return batch, labels
    lengths = batch.lengths[:count]
    return Batch(batch.x[:count, :int(lengths.max())], lengths), labels[:count]
