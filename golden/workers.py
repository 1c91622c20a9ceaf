"""Worker processes that share a batch's sequences (the ``workers`` of ``golden_run``).

Processes, not threads: the golden model makes many short numpy calls per step, each
taking the GIL, so threads sharing the sequences ran no faster than one thread (and
a helper thread for the matrix products alone was slower). Separate processes do run
side by side.

The pool stays up between calls, so only the first call with more workers than
before pays for starting them (a fresh interpreter each, ``spawn``: the same on every
platform, and safe in a process that already runs threads; as with any spawning
``multiprocessing`` use, a script that calls ``golden_run`` with workers at import time
needs the ``if __name__ == "__main__":`` guard). :func:`shutdown_workers` stops it; it
stops by itself when the interpreter exits.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from .errors import MemornnError
from .limits import MAX_WORKERS

_pool: ProcessPoolExecutor | None = None
_pool_size = 0
_lock = threading.Lock()  # golden_run may be called from several threads


def check_workers(workers) -> int:
    """The worker count of ``golden_run``, checked: an integer in [1, MAX_WORKERS].

    Raises
    ------
    MemornnError
        If ``workers`` is not an integer (bools are not), is below 1, or is above
        :data:`~.limits.MAX_WORKERS` (one process each: a typo must not start thousands).
    """
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or not 1 <= workers <= MAX_WORKERS:
        raise MemornnError(f"workers must be an integer in [1, {MAX_WORKERS}] (golden/limits.py), got {workers!r}")
    return int(workers)


def slice_bounds(n: int, parts: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of ``parts`` contiguous, near-equal, non-empty slices of ``range(n)``
    (``n`` of them if ``n < parts``; one, empty, if ``n == 0``)."""
    parts = max(1, min(parts, n))
    edges = [n * i // parts for i in range(parts + 1)]
    return list(zip(edges[:-1], edges[1:]))


def worker_pool(size: int) -> ProcessPoolExecutor:
    """A pool of at least ``size`` worker processes, started on first use and kept."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < size:
            if _pool is not None:  # a smaller one: it finishes what it was given, then stops
                _pool.shutdown(wait=False)
            _pool = ProcessPoolExecutor(size, mp_context=multiprocessing.get_context("spawn"))
            _pool_size = size
        return _pool


def shutdown_workers() -> None:
    """Stop the worker processes (the next call with workers starts new ones)."""
    global _pool, _pool_size
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=True, cancel_futures=True)
        _pool, _pool_size = None, 0


def discard_pool(pool: ProcessPoolExecutor) -> None:
    """Forget ``pool``, which broke (a worker died), so that the next call starts a new one."""
    global _pool, _pool_size
    with _lock:
        pool.shutdown(wait=False, cancel_futures=True)
        if _pool is pool:
            _pool, _pool_size = None, 0
