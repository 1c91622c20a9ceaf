"""The limits table (golden/limits.py, README "Limits"): each limit is the one enforced."""

import os
import re
import zipfile

import numpy as np
import pytest

from robust_testlib import write_files
from memornn.evaluation.thresholds import parse_threshold_range
from memornn.golden import limits
from memornn.golden.errors import MemornnError
from memornn.golden.npzfile import load_npz
from memornn.golden.qmodel import model_from_arrays
from memornn.golden.workers import check_workers
from memornn.hw.config import HwConfig

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


def test_readme_lists_the_same_limits():
    """The README's table names each limit of the module with the same value."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    section = text[text.index("\n## Limits\n"):]
    section = section[:section.index("\n## ", 1) if "\n## " in section[1:] else len(section)]
    rows = dict(re.findall(r"^\| `(MAX_[A-Z_]+)` \| ([^|]+) \|", section, re.M))
    names = {n for n in dir(limits) if n.startswith("MAX_")}
    assert set(rows) == names
    for name in names:
        assert rows[name].strip() in (str(getattr(limits, name)), limits.size_text(getattr(limits, name))), name


def test_max_seq_len_is_the_hardware_configs_bound():
    assert HwConfig(max_seq_len=limits.MAX_SEQ_LEN).max_seq_len == limits.MAX_SEQ_LEN
    with pytest.raises(MemornnError, match=f"max_seq_len = {limits.MAX_SEQ_LEN + 1}"):
        HwConfig(max_seq_len=limits.MAX_SEQ_LEN + 1)


def test_workers_bound():
    assert check_workers(limits.MAX_WORKERS) == limits.MAX_WORKERS
    with pytest.raises(MemornnError, match=r"workers must be an integer in \[1, 64\]"):
        check_workers(limits.MAX_WORKERS + 1)


def test_thresholds_bound():
    assert len(parse_threshold_range(f"0:{(limits.MAX_THRESHOLDS - 1) / 1000}:0.001")) == limits.MAX_THRESHOLDS
    with pytest.raises(MemornnError, match="more than 1000"):
        parse_threshold_range(f"0:{limits.MAX_THRESHOLDS / 1000}:0.001")


@pytest.fixture(scope="module")
def q_arrays(tmp_path_factory):
    files = write_files(tmp_path_factory.mktemp("limits"))
    with np.load(files["q"]) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("key, limit", [("num_layers", limits.MAX_LAYERS), ("hidden_size", limits.MAX_HIDDEN)])
def test_model_shape_bounds(q_arrays, key, limit):
    arrays = dict(q_arrays, **{key: np.array(limit + 1)})
    with pytest.raises(MemornnError, match=rf"'{key}' = {limit + 1} is outside \[1, {limit}\]"):
        model_from_arrays(arrays)


def test_model_features_bound(q_arrays):
    arrays = dict(q_arrays, input_scale=np.ones(limits.MAX_FEATURES + 1))
    with pytest.raises(MemornnError, match=r"'input_scale' must be a float vector of 1 to 65536 entries"):
        model_from_arrays(arrays)


def test_archive_member_count_bound(tmp_path):
    path = tmp_path / "many.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(limits.MAX_ARCHIVE_MEMBERS + 1):
            archive.writestr(f"a{i}.npy", b"")
    with pytest.raises(MemornnError, match="holds 4097 entries in a directory of 219 KiB, more than the limit of 4096 entries"):
        load_npz(path, "inputs")


def test_archive_total_bound(tmp_path):
    """Three members of 0.9 GiB each: every one under the array limit, together over 2 GiB."""
    path = tmp_path / "big.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(3):
            archive.writestr(f"a{i}.npy", b"\0" * 64)
    raw = bytearray(path.read_bytes())
    start = 0
    for _ in range(3):  # each central directory entry: uncompressed size at +24
        start = raw.index(b"PK\x01\x02", start)
        raw[start + 24:start + 28] = int(0.9 * 2**30).to_bytes(4, "little")
        start += 4
    path.write_bytes(bytes(raw))
    with pytest.raises(MemornnError, match=r"holds 2.7 GiB of arrays, more than the limit of 2 GiB \(golden/limits"):
        load_npz(path, "inputs")
