"""Export a data set's splits to one ``.npz``, so the demo runs without the data extra.

``python -m memornn.evaluation.export japanesevowels models/jv_data.npz`` writes
``x_train``, ``lengths_train``, ``y_train``, ``x_test``, ``lengths_test``, ``y_test``
(normalised float64 inputs, as :mod:`memornn.evaluation.datasets` loads them).

``python -m memornn.evaluation.export digits val.npz --split val`` writes one split as
the inputs file ``memornn golden`` and ``memornn tune`` read: ``x``, ``lengths`` and
the labels ``y``.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ..golden.errors import MemornnError
from ..golden.inputs import make_batch
from ..golden.npzfile import load_npz, save_npz, scalar_string
from .datasets import Dataset, load_dataset

KEYS = ("x_train", "lengths_train", "y_train", "x_test", "lengths_test", "y_test")


def export_dataset(name: str, path: str) -> None:
    """Write the splits of data set ``name`` to ``path`` (compressed)."""
    data = load_dataset(name)
    np.savez_compressed(path, name=np.array(name), classes=np.array(data.classes),
                        x_train=data.train.x, lengths_train=data.train.lengths,
                        y_train=data.y_train, x_test=data.test.x,
                        lengths_test=data.test.lengths, y_test=data.y_test)


def _labels(arrays: dict, split: str, count: int, classes: int, where: str) -> np.ndarray:
    """The labels of one split: ``count`` integers in ``[0, classes)``."""
    y = arrays[f"y_{split}"]
    if y.dtype.kind not in "iu" or y.shape != (count,):
        raise MemornnError(f"{where}: 'y_{split}' must be {count} integer labels (one per sequence), got "
                           f"{y.dtype} of shape {y.shape}")
    bad = np.flatnonzero((y < 0) | (y >= classes))
    if bad.size:
        raise MemornnError(f"{where}: label y_{split}[{bad[0]}] = {y[bad[0]]} is outside [0, {classes}) "
                           f"({bad.size} out of range)")
    return y.astype(np.int64)


def load_exported(path: str) -> Dataset:
    """Read a file written by :func:`export_dataset` back into a :class:`Dataset`.

    Raises
    ------
    MemornnError
        On a missing, unreadable or truncated file, a missing or unknown key, inputs that
        :func:`~memornn.golden.inputs.make_batch` refuses, a ``classes`` that is no positive
        integer, or labels of the wrong count or outside ``[0, classes)``.
    """
    where = f"data file {path!r}"
    arrays = load_npz(path, "data")
    for key in ("name", "classes") + KEYS:
        if key not in arrays:
            raise MemornnError(f"{where}: missing key {key!r}")
    unknown = sorted(set(arrays) - {"name", "classes", *KEYS})
    if unknown:
        raise MemornnError(f"{where}: unknown key {unknown[0]!r}")
    classes = arrays["classes"]
    if classes.ndim != 0 or classes.dtype.kind not in "iu" or not 1 <= int(classes) <= 2**16:
        raise MemornnError(f"{where}: 'classes' must be an integer in [1, 65536], got {classes!r}")
    classes = int(classes)
    train = make_batch(arrays["x_train"], arrays["lengths_train"], where=f"{where} (train)")
    test = make_batch(arrays["x_test"], arrays["lengths_test"], train.x.shape[2], where=f"{where} (test)")
    return Dataset(scalar_string(arrays, "name", where), train, _labels(arrays, "train", train.size, classes, where),
                   test, _labels(arrays, "test", test.size, classes, where), classes)


def export_split(name: str, path: str, split: str) -> None:
    """Write one split (``train``, ``val`` or ``test``) of data set ``name`` as an inputs file."""
    data = load_dataset(name)
    batch, labels = {"train": (data.train, data.y_train), "val": (data.val, data.y_val),
                     "test": (data.test, data.y_test)}[split]
    save_npz(path, {"x": batch.x, "lengths": batch.lengths, "y": labels})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m memornn.evaluation.export", description=__doc__.split("\n")[0])
    parser.add_argument("dataset")
    parser.add_argument("output")
    parser.add_argument("--split", choices=("train", "val", "test"),
                        help="write only this split as an inputs file (x, lengths, y)")
    args = parser.parse_args(argv)
    try:
        if args.split:
            export_split(args.dataset, args.output, args.split)
        else:
            export_dataset(args.dataset, args.output)
    except MemornnError as exc:
        print(f"export: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
