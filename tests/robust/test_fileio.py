"""The file layer (golden/fileio.py): atomic files, staged folders, same-file refusal, inputs."""

import os
import stat

import numpy as np
import pytest

from robust_testlib import snapshot
from memornn.golden.errors import MemornnError
from memornn.golden.fileio import (atomic_file, open_input, read_text, refuse_same_file, staged_folder, staged_path,
                                   write_text)
from memornn.golden.npzfile import load_npy, load_npz


def test_atomic_file_has_the_usual_permissions(tmp_path):
    old = os.umask(0o027)
    try:
        write_text(tmp_path / "a" / "b.txt", "hi")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "a" / "b.txt").st_mode) == 0o640
    assert (tmp_path / "a" / "b.txt").read_text() == "hi"


def test_atomic_file_error_in_the_block_leaves_nothing(tmp_path):
    (tmp_path / "out.txt").write_text("old")
    before = snapshot(tmp_path)
    with pytest.raises(KeyError):
        with atomic_file(tmp_path / "out.txt", mode="w") as f:
            f.write("half")
            raise KeyError("boom")
    assert snapshot(tmp_path) == before


def test_staged_folder_new_and_existing(tmp_path):
    out = tmp_path / "rtl"
    with staged_folder(out) as tmp:
        assert not out.exists()
        (tmp_path / tmp / "a.v").write_text("1")
        os.mkdir(os.path.join(tmp, "sub"))
        (tmp_path / tmp / "sub" / "b").write_text("2")
    assert sorted(os.listdir(out)) == ["a.v", "sub"] and (out / "sub" / "b").read_text() == "2"
    with staged_folder(out) as tmp:  # into an existing folder: entries replaced, others kept
        (tmp_path / tmp / "a.v").write_text("3")
        os.mkdir(os.path.join(tmp, "sub"))
        (tmp_path / tmp / "sub" / "c").write_text("4")
    assert (out / "a.v").read_text() == "3" and sorted(os.listdir(out / "sub")) == ["b", "c"]
    assert sorted(os.listdir(tmp_path)) == ["rtl"]  # no staging folder left


def test_staged_folder_failure_and_same_file(tmp_path):
    out = tmp_path / "rtl"
    out.mkdir()
    model = out / "m.npz"
    model.write_text("model")
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match="boom"):
        with staged_folder(out) as tmp:
            (tmp_path / tmp / "a.v").write_text("1")
            raise ValueError("boom")
    assert snapshot(tmp_path) == before
    with pytest.raises(MemornnError, match="is the same file as input --model"):
        with staged_folder(out, [("--model", str(model))]) as tmp:
            (tmp_path / tmp / "a.v").write_text("1")
            (tmp_path / tmp / "m.npz").write_text("clobbered")
    assert snapshot(tmp_path) == before
    (tmp_path / "file").write_text("x")
    with pytest.raises(MemornnError, match="exists and is not a folder"):
        with staged_folder(tmp_path / "file"):
            pass


def test_staged_path(tmp_path):
    with staged_path(tmp_path / "w" / "x.vcd") as path:
        assert os.path.basename(path) == "x.vcd" and os.path.dirname(path) != str(tmp_path / "w")
        with open(path, "w") as f:
            f.write("waves")
    assert (tmp_path / "w" / "x.vcd").read_text() == "waves" and os.listdir(tmp_path / "w") == ["x.vcd"]
    with pytest.raises(RuntimeError):
        with staged_path(tmp_path / "w" / "x.vcd") as path:
            with open(path, "w") as f:
                f.write("half")
            raise RuntimeError
    assert (tmp_path / "w" / "x.vcd").read_text() == "waves" and os.listdir(tmp_path / "w") == ["x.vcd"]


def test_refuse_same_file_through_hard_links(tmp_path):
    (tmp_path / "a").write_text("a")
    os.link(tmp_path / "a", tmp_path / "b")
    with pytest.raises(MemornnError, match="output '.*b' is the same file as input '.*a'"):
        refuse_same_file([str(tmp_path / "b")], [str(tmp_path / "a")])
    refuse_same_file([str(tmp_path / "c")], [str(tmp_path / "a"), None])


def test_inputs_that_are_no_files(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    for path, needle in ((tmp_path, "is a directory"), (tmp_path / "fifo", r"is a FIFO \(named pipe\)"),
                         ("/dev/null", "is a character device"), ("", "the file name is empty"),
                         ("a\0b", "cannot contain a NUL character")):
        with pytest.raises(MemornnError, match=needle):
            open_input(path, "x")
    (tmp_path / "t").write_bytes(b"ok \xc3\xa9\n")
    assert read_text(tmp_path / "t", "t") == "ok \u00e9\n"


@pytest.mark.parametrize("dtype", ["<f8", ">i4", "|b1", "<U3", "<c8"])
@pytest.mark.parametrize("order", ["C", "F"])
def test_loaders_read_what_numpy_wrote(tmp_path, dtype, order):
    rng = np.random.default_rng(1)
    array = np.asarray(rng.integers(0, 9, (3, 4, 2)).astype(dtype), order=order)
    np.save(tmp_path / "a.npy", array)
    np.savez_compressed(tmp_path / "a.npz", a=array, s=np.array("lstm"), e=np.zeros((0, 3)))
    got = load_npy(tmp_path / "a.npy", "x")
    assert got.dtype == array.dtype and got.shape == array.shape and np.array_equal(got, array)
    arrays = load_npz(tmp_path / "a.npz", "x")
    assert np.array_equal(arrays["a"], array) and str(arrays["s"]) == "lstm" and arrays["e"].shape == (0, 3)


@pytest.mark.parametrize("make, needle", [
    (lambda p: np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True), "holds Python objects"),
    (lambda p: np.save(p, np.zeros(3, dtype=[("a", "<f8")])), "not a number, boolean or string type"),
    (lambda p: p.write_bytes(b"\x93NUMPY\x01\x00"), "is not a readable .npy array"),
    (lambda p: np.savez(p, a=1), "is an .npz archive, not a single .npy array"),
])
def test_npy_refusals(tmp_path, make, needle):
    path = tmp_path / "a.npy"
    make(path)
    if not path.exists():  # np.savez appends .npz
        os.replace(tmp_path / "a.npy.npz", path)
    with pytest.raises(MemornnError, match=needle):
        load_npy(path, "inputs")


def test_staged_folder_is_the_current_folder(tmp_path, monkeypatch):
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    with staged_folder(".") as tmp:
        (tmp_path / "here" / tmp / "a.v").write_text("1")
    assert os.listdir(tmp_path / "here") == ["a.v"] and os.listdir(tmp_path) == ["here"]
