"""Input sequences: loading, checking, and host-side quantization to int8."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from . import numerics as nx
from .errors import MemornnError
from .npzfile import load_npy, load_npz


@dataclass
class Batch:
    """A batch of float sequences, zero-padded to a common length.

    Attributes
    ----------
    x : ndarray, shape (N, T, X), float64
    lengths : ndarray, shape (N,), int64, each in [1, T]
    """

    x: np.ndarray
    lengths: np.ndarray

    @property
    def size(self) -> int:
        return self.x.shape[0]


def make_batch(x, lengths=None, input_size: int | None = None, where: str = "inputs") -> Batch:
    """Check and normalise sequences: ``(T, X)`` becomes ``(1, T, X)``.

    Raises
    ------
    MemornnError
        On a wrong rank, an empty sequence, NaN/inf, a feature count other than
        ``input_size``, or lengths out of range.
    """
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise MemornnError(f"{where}: values must be numeric, got dtype {x.dtype}")
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise MemornnError(f"{where}: expected shape (T, X) or (N, T, X), got {x.shape}")
    n, t, features = x.shape
    if n == 0 or t == 0 or features == 0:
        raise MemornnError(f"{where}: empty input of shape {x.shape} (sequences need at least one step of at least one feature)")
    if input_size is not None and features != input_size:
        raise MemornnError(f"{where}: {features} features per step, but the model takes {input_size}")
    with np.errstate(over="ignore"):  # a float128 beyond float64 becomes inf: refused just below
        x = x.astype(np.float64)
    bad = ~np.isfinite(x)
    if bad.any():
        at = tuple(int(i) for i in np.unravel_index(int(bad.argmax()), x.shape))
        raise MemornnError(f"{where}: contains NaN or inf: x[{', '.join(map(str, at))}] = {x[at]} "
                           f"({int(bad.sum())} such values)")
    if lengths is None:
        lengths = np.full(n, t, dtype=np.int64)
    else:
        lengths = np.asarray(lengths)
        if lengths.dtype.kind not in "iu" or lengths.shape != (n,):
            raise MemornnError(f"{where}: 'lengths' must be {n} integers, got {lengths.dtype} of shape {lengths.shape}")
        bad = np.flatnonzero((lengths < 1) | (lengths > t))
        if bad.size:
            raise MemornnError(f"{where}: lengths must be in [1, {t}]: lengths[{bad[0]}] = {lengths[bad[0]]} "
                               f"({bad.size} out of range)")
        lengths = lengths.astype(np.int64)
    mask = np.arange(t)[None, :] < lengths[:, None]
    x = np.where(mask[:, :, None], x, 0.0)
    return Batch(x, lengths)


def load_inputs(path: str | os.PathLike, input_size: int | None = None) -> Batch:
    """Load a ``.npy`` of shape (T, X) or (N, T, X), or an ``.npz`` with ``x`` and optional ``lengths``."""
    path = os.fspath(path)
    where = f"inputs {path!r}"
    if path.endswith(".npy"):
        return make_batch(load_npy(path, "inputs"), None, input_size, where)
    arrays = load_npz(path, "inputs")
    unknown = sorted(set(arrays) - {"x", "lengths", "y"})
    if "x" not in arrays:
        raise MemornnError(f"{where}: missing key 'x'")
    if unknown:
        raise MemornnError(f"{where}: unknown key {unknown[0]!r}")
    return make_batch(arrays["x"], arrays.get("lengths"), input_size, where)


def quantize_inputs(x, input_scale) -> np.ndarray:
    """Float inputs to int8 on the per-feature grid: ``sat(floor(x / s + 1/2))`` in [-127, 127]."""
    with np.errstate(over="ignore"):  # a huge x / s becomes inf, which saturates like any large value
        q = np.floor(np.asarray(x, np.float64) / np.asarray(input_scale, np.float64) + 0.5)
    return np.clip(q, -nx.INPUT_MAX, nx.INPUT_MAX).astype(np.int64)
