"""The threshold-list syntax of ``memornn sweep --thresholds``."""

from __future__ import annotations

import numpy as np

from ..golden import numerics as nx
from ..golden.errors import MemornnError
from ..golden.limits import MAX_THRESHOLDS  # a typo such as 0:60:0.001 would otherwise run for hours


def _number(text: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise MemornnError(f"threshold range {spec!r}: {text.strip()!r} is not a number") from None
    if not np.isfinite(value):
        raise MemornnError(f"threshold range {spec!r}: {text.strip()!r} is not finite")
    return value


def _range(item: str, spec: str) -> list[float]:
    parts = item.split(":")
    if len(parts) != 3:
        raise MemornnError(f"threshold range {item!r} must be start:stop:step (e.g. 0:0.6:0.05)")
    start, stop, step = (_number(p, spec) for p in parts)
    if step <= 0:
        raise MemornnError(f"threshold range {item!r}: step must be positive")
    if stop < start:
        raise MemornnError(f"threshold range {item!r}: stop is below start")
    with np.errstate(over="ignore"):
        span = (stop - start) / step  # inf for 0:1e308:1e-308: refused below, never converted to int
    if not span < MAX_THRESHOLDS:
        raise MemornnError(f"threshold range {item!r} has {span + 1:.4g} values, more than {MAX_THRESHOLDS}")
    count = int(np.floor(span + 1e-9)) + 1
    if count > MAX_THRESHOLDS:
        raise MemornnError(f"threshold range {item!r} has {count} values, more than {MAX_THRESHOLDS}")
    return [start + i * step for i in range(count)]


def list_items(spec, what: str) -> list[str]:
    """The stripped items of a comma list (``what`` names it in the error).

    Raises
    ------
    MemornnError
        If the list is empty or has an empty item.
    """
    text = str(spec).strip()
    items = [item.strip() for item in text.split(",")]
    if not text or any(not item for item in items):
        raise MemornnError(f"{what} list {text!r} is empty or has an empty entry")
    return items


def parse_threshold_range(spec: str) -> list[float]:
    """Thresholds from comma-separated items, each ``start:stop:step`` (``stop`` included)
    or one number: ``0:0.6:0.05``, ``0,0.1,0.3``, ``0:0.6:0.05,0.8:2:0.2``.

    Values are rounded to 6 decimals (``0:0.6:0.05`` gives exactly 0.0, 0.05, ..., 0.6),
    then sorted with duplicates removed; the golden model uses each value's Q8.8
    register value.

    Raises
    ------
    MemornnError
        On bad syntax, a non-positive step, ``stop < start``, a negative or too large
        value, or more than :data:`MAX_THRESHOLDS` values.
    """
    spec = str(spec).strip()
    items = list_items(spec, "threshold")
    values = []
    for item in items:
        values += _range(item, spec) if ":" in item else [_number(item, spec)]
        if len(values) > MAX_THRESHOLDS:
            raise MemornnError(f"threshold list {spec!r} has more than {MAX_THRESHOLDS} values")
    values = sorted(set(round(v, 6) for v in values))
    for v in values:
        try:
            nx.theta_to_q(v)
        except ValueError as exc:
            raise MemornnError(str(exc)) from None
    return values
