"""Progress display for long runs: tqdm when it is installed, else a plain printed line."""

from __future__ import annotations

import sys
import time


class _Plain:
    """A minimal stand-in for ``tqdm``: prints ``desc: k/n (elapsed)`` at most every few seconds."""

    def __init__(self, iterable, total, desc, every):
        self.iterable = iterable
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.desc = desc
        self.every = every
        self.postfix = ""
        self.start = time.monotonic()
        self.last = -every

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def _show(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last < self.every:
            return
        self.last = now
        total = f"/{self.total}" if self.total is not None else ""
        extra = f" {self.postfix}" if self.postfix else ""
        print(f"{self.desc}: {done}{total} ({now - self.start:.0f} s){extra}", file=sys.stderr, flush=True)

    def __iter__(self):
        done = 0
        for item in self.iterable:
            yield item
            done += 1
            self._show(done, final=done == self.total)


class _Silent:
    def __init__(self, iterable):
        self.iterable = iterable

    def set_postfix_str(self, text: str) -> None:
        pass

    def __iter__(self):
        return iter(self.iterable)


def progress(iterable, desc: str, total: int | None = None, enabled: bool = True, every: float = 5.0):
    """Wrap ``iterable`` in a progress bar written to stderr.

    Parameters
    ----------
    iterable : iterable
    desc : str
        Label in front of the count.
    total : int, optional
        Number of items, when ``iterable`` has no length.
    enabled : bool
        False shows nothing (tests, quiet runs).
    every : float
        Without tqdm: seconds between printed lines (the last item always prints).

    Returns
    -------
    iterable
        Yields the items of ``iterable``; has ``set_postfix_str(text)``.
    """
    if not enabled:
        return _Silent(iterable)
    try:
        from tqdm import tqdm
    except ImportError:
        return _Plain(iterable, total, desc, every)
    return tqdm(iterable, desc=desc, total=total, file=sys.stderr, dynamic_ncols=True)
