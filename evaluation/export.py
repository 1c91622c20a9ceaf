"""Export a data set's splits to one ``.npz``, so the demo runs without the data extra.

``python -m memornn.evaluation.export japanesevowels models/jv_data.npz`` writes
``x_train``, ``lengths_train``, ``y_train``, ``x_test``, ``lengths_test``, ``y_test``
(normalised float64 inputs, as :mod:`memornn.evaluation.datasets` loads them).
"""

from __future__ import annotations

import sys

import numpy as np

from ..golden.inputs import make_batch
from .datasets import Dataset, load_dataset

KEYS = ("x_train", "lengths_train", "y_train", "x_test", "lengths_test", "y_test")


def export_dataset(name: str, path: str) -> None:
    """Write the splits of data set ``name`` to ``path`` (compressed)."""
    data = load_dataset(name)
    np.savez_compressed(path, name=np.array(name), classes=np.array(data.classes),
                        x_train=data.train.x, lengths_train=data.train.lengths,
                        y_train=data.y_train, x_test=data.test.x,
                        lengths_test=data.test.lengths, y_test=data.y_test)


def load_exported(path: str) -> Dataset:
    """Read a file written by :func:`export_dataset` back into a :class:`Dataset`."""
    with np.load(path, allow_pickle=False) as f:
        return Dataset(str(f["name"]), make_batch(f["x_train"], f["lengths_train"]), f["y_train"],
                       make_batch(f["x_test"], f["lengths_test"]), f["y_test"], int(f["classes"]))


if __name__ == "__main__":
    export_dataset(sys.argv[1], sys.argv[2])
