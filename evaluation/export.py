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
from ..golden.npzfile import save_npz
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
