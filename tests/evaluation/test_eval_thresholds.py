"""The threshold-list syntax of ``memornn sweep --thresholds`` (evaluation/thresholds.py)."""

import pytest

from memornn.evaluation.thresholds import MAX_THRESHOLDS, parse_threshold_range
from memornn.golden.errors import MemornnError


@pytest.mark.parametrize("spec, expected", [
    ("0:0.6:0.05", [round(0.05 * i, 6) for i in range(13)]),
    ("0:0.3:0.1", [0.0, 0.1, 0.2, 0.3]),
    ("0:0.25:0.1", [0.0, 0.1, 0.2]),  # stop is included only when it is on the grid
    ("0.2", [0.2]),
    ("0.3, 0.1,0.1", [0.1, 0.3]),  # sorted, duplicates dropped
    ("0:0.1:0.05,0.5:0.7:0.1", [0.0, 0.05, 0.1, 0.5, 0.6, 0.7]),
    ("0:0:1", [0.0]),
])
def test_parse(spec, expected):
    assert parse_threshold_range(spec) == expected


@pytest.mark.parametrize("spec, words", [
    ("0:0.6", "start:stop:step"),
    ("0:1:2:3", "start:stop:step"),
    ("a:1:0.1", "'a' is not a number"),
    ("0:1:0", "step must be positive"),
    ("0:1:-0.1", "step must be positive"),
    ("1:0:0.1", "stop is below start"),
    ("-0.1", "non-negative"),
    ("nan", "not finite"),
    ("", "empty"),
    ("0,,1", "empty"),
    ("300", "exceeds"),
    (f"0:{MAX_THRESHOLDS}:1", "more than"),
])
def test_bad_syntax_is_one_line_error(spec, words):
    with pytest.raises(MemornnError, match=words) as info:
        parse_threshold_range(spec)
    assert "\n" not in str(info.value)
