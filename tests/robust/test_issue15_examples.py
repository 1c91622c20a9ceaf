"""Every example of issue 15's "What was found" in the software half, one test each.

Each bad input must give a non-zero exit, one stderr line naming the bad value, no
traceback, and leave every file as it was (``snapshot`` before and after).
"""

import os
import zipfile

import numpy as np
import pytest

from robust_testlib import X, assert_one_line_error, run_cli, run_subprocess, snapshot, write_files
from memornn.golden.errors import MemornnError
from memornn.golden.inputs import make_batch
from memornn.golden.intmodel import golden_run
from memornn.golden.npzfile import load_npz, save_npz
from memornn.golden.qmodel import load_qmodel, model_from_arrays
from memornn.sim.compare import first_mismatch


@pytest.fixture
def f(tmp_path):
    return write_files(tmp_path)


def _q_arrays(f):
    with np.load(f["q"]) as data:
        return {k: data[k] for k in data.files}


# -- outputs that destroy inputs -------------------------------------------------------------------


def test_simulate_waves_on_the_model_is_refused(f):
    before = snapshot(f["dir"])
    code, _, err = run_cli(["simulate", "--model", f["q"], "--inputs", f["inputs"], "--simulator", "amaranth",
                            "--waves", f["q"], "-o", os.path.join(f["dir"], "out.npz")])
    assert_one_line_error(code, err, "--waves", "same file as input --model", repr(f["q"]))
    assert snapshot(f["dir"]) == before


@pytest.mark.parametrize("command", ["golden", "quantize", "simulate"])
def test_output_equal_to_an_input_is_refused(f, command):
    args = {"golden": ["golden", "--model", f["q"], "--inputs", f["inputs"]],
            "quantize": ["quantize", "--model", f["model"], "--calibration", f["calibration"]],
            "simulate": ["simulate", "--model", f["q"], "--inputs", f["inputs"], "--simulator", "amaranth"]}[command]
    for victim in args[2], args[4]:  # the model, then the inputs
        link = os.path.join(f["dir"], "link.npz")
        os.symlink(victim, link)  # a link names the same file too
        before = snapshot(f["dir"])
        for out in (victim, link):
            code, _, err = run_cli(args + ["-o", out])
            assert_one_line_error(code, err, "same file as input", "refusing to overwrite")
            assert snapshot(f["dir"]) == before
        os.remove(link)


def test_save_npz_never_follows_a_planted_link(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out.npz"
    # the old predictable temporary names, planted as a link and as a stale folder
    os.symlink(victim, tmp_path / "out.npz.tmp.npz")
    (tmp_path / "out.tmp.npz").mkdir()
    save_npz(out, {"a": np.arange(3)})
    assert victim.read_text() == "precious"
    np.testing.assert_array_equal(load_npz(out, "test")["a"], np.arange(3))
    # no temporary file stays behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npz", "out.npz.tmp.npz", "out.tmp.npz", "victim.txt"]


def test_save_npz_replaces_a_link_at_the_output_itself(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    os.symlink(victim, tmp_path / "out.npz")
    save_npz(tmp_path / "out.npz", {"a": np.arange(2)})
    assert victim.read_text() == "precious" and not os.path.islink(tmp_path / "out.npz")


def test_failed_write_leaves_the_old_output(tmp_path, monkeypatch):
    out = tmp_path / "out.npz"
    save_npz(out, {"a": np.arange(4)})
    before = snapshot(tmp_path)

    def disk_full(file, **arrays):  # half the archive, then the disk is full
        file.write(b"PK\x03\x04" + b"\0" * 100)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(MemornnError, match=f"cannot write output {str(out)!r}: No space left on device"):
        save_npz(out, {"b": np.arange(2)})
    assert snapshot(tmp_path) == before


# -- silent misreads -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["weight_l00", "weight_l\u0660", "weight_l\uff10", "weight_l0 ", "Weight_l0"])
def test_qmodel_layer_key_spellings_are_unknown_keys(f, key):
    arrays = _q_arrays(f)
    arrays[key] = arrays["weight_l0"]
    with pytest.raises(MemornnError, match=f"unknown key {key!r}"):
        model_from_arrays(arrays)
    renamed = _q_arrays(f)
    renamed[key] = renamed.pop("weight_l0")
    with pytest.raises(MemornnError, match="missing key 'weight_l0'"):
        model_from_arrays(renamed)


@pytest.mark.parametrize("key", ["version", "hidden_size", "num_layers", "pwl_segments"])
def test_qmodel_bool_is_no_integer(f, key):
    arrays = _q_arrays(f)
    arrays[key] = np.array(True)
    with pytest.raises(MemornnError, match=f"'{key}' must be an integer scalar, got bool"):
        model_from_arrays(arrays)


def test_qmodel_version_true_through_the_cli(f):
    arrays = _q_arrays(f)
    arrays["version"] = np.array(True)
    np.savez(f["q"], **arrays)
    out = os.path.join(f["dir"], "out.npz")
    code, _, err = run_cli(["golden", "--model", f["q"], "--inputs", f["inputs"], "-o", out])
    assert_one_line_error(code, err, "'version' must be an integer scalar, got bool")
    assert not os.path.exists(out)


def test_qmodel_out_of_range_value_named_with_its_index(f):
    arrays = _q_arrays(f)
    arrays["weight_l0"] = arrays["weight_l0"].astype(np.int16)
    arrays["weight_l0"][2, 5] = -128
    arrays["weight_l0"][3, 1] = 300
    with pytest.raises(MemornnError, match=r"'weight_l0' has values outside \[-127, 127\]: weight_l0\[2, 5\] = -128 "
                                           r"\(2 out of range\)"):
        model_from_arrays(arrays)
    arrays = _q_arrays(f)
    arrays["shift_l0"] = arrays["shift_l0"].copy()
    arrays["shift_l0"][7] = -3
    with pytest.raises(MemornnError, match=r"shift_l0\[7\] = -3"):
        model_from_arrays(arrays)
    arrays = _q_arrays(f)
    arrays["input_scale"] = arrays["input_scale"].copy()
    arrays["input_scale"][1] = -0.5
    with pytest.raises(MemornnError, match=r"input_scale\[1\] = -0.5"):
        model_from_arrays(arrays)


def _demo_data(tmp_path, **changes):
    with np.load(os.path.join(os.path.dirname(__file__), "..", "..", "models", "jv_data.npz")) as data:
        arrays = {k: data[k] for k in data.files}
    arrays.update(changes)
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return arrays, path


@pytest.mark.parametrize("case, needle", [
    ("label 9", "label y_test[4] = 9 is outside [0, 9)"),
    ("label -1", "label y_train[0] = -1 is outside [0, 9)"),
    ("one label short", "'y_test' must be 370 integer labels (one per sequence), got int64 of shape (369,)"),
    ("float labels", "'y_train' must be 270 integer labels"),
    ("classes 0", "'classes' must be an integer in [1, 65536]"),
    ("missing key", "missing key 'lengths_test'"),
])
def test_demo_data_labels_checked(tmp_path, case, needle):
    arrays, _ = _demo_data(tmp_path)
    y_test, y_train = arrays["y_test"].copy(), arrays["y_train"].copy()
    changes = {}
    if case == "label 9":
        y_test[4] = 9
        changes["y_test"] = y_test
    elif case == "label -1":
        y_train[0] = -1
        changes["y_train"] = y_train
    elif case == "one label short":
        changes["y_test"] = y_test[:-1]
    elif case == "float labels":
        changes["y_train"] = y_train.astype(np.float64)
    elif case == "classes 0":
        changes["classes"] = np.array(0)
    arrays, path = _demo_data(tmp_path, **changes)
    if case == "missing key":
        arrays.pop("lengths_test")
        np.savez(path, **arrays)
    out = tmp_path / "demo"
    code, _, err = run_cli(["demo", "--data", path, "--no-synth", "-o", out])
    assert_one_line_error(code, err, needle)
    assert not out.exists()


@pytest.mark.parametrize("damage", ["truncated", "npy", "garbage", "empty"])
def test_demo_data_file_broken(tmp_path, damage):
    _, path = _demo_data(tmp_path)
    raw = path.read_bytes()
    path.write_bytes({"truncated": raw[: len(raw) // 2], "garbage": b"not a zip" * 50, "empty": b"",
                      "npy": b""}[damage])
    if damage == "npy":
        np.save(tmp_path / "d.npy", np.zeros(3))
        os.replace(tmp_path / "d.npy", path)
    out = tmp_path / "demo"
    code, _, err = run_cli(["demo", "--data", path, "--no-synth", "-o", out])
    assert_one_line_error(code, err, repr(str(path)))
    assert not out.exists()


# -- false verdicts --------------------------------------------------------------------------------


def test_padded_inputs_compare_equal_to_the_trimmed_run(f):
    """Inputs padded to T = 100 with lengths [5, 3]: golden keeps T = 100, the hardware
    T = max(lengths) = 5; the steps past every length are padding and must not count."""
    q = load_qmodel(f["q"])
    rng = np.random.default_rng(3)
    x = np.zeros((2, 100, X))
    x[:, :5] = rng.normal(size=(2, 5, X))
    padded = make_batch(x, np.array([5, 3]))
    trimmed = make_batch(x[:, :5], np.array([5, 3]))
    golden, hardware = golden_run(q, padded, 0.2, "bnn"), golden_run(q, trimmed, 0.2, "bnn")
    assert golden["h_int"].shape[1] == 100 and hardware["h_int"].shape[1] == 5
    assert first_mismatch(golden, hardware) is None
    assert first_mismatch(hardware, golden) is None
    # a real difference inside the common steps, and a value in a padding step, still show
    hardware["h_int"] = hardware["h_int"].copy()
    hardware["h_int"][1, 2, 0] += 1
    assert first_mismatch(golden, hardware).startswith("h_int: sequence 1, step 2, element 0")
    hardware["h_int"][1, 2, 0] -= 1
    golden["reused_l0"] = golden["reused_l0"].copy()
    golden["reused_l0"][0, 50, 3] = True
    assert "reused_l0: sequence 0, step 50: the golden result has a value beyond" in first_mismatch(golden, hardware)


def test_simulate_padded_inputs_is_bit_exact_and_waves_go_to_a_new_folder(f):
    rng = np.random.default_rng(4)
    x = np.zeros((2, 100, X))
    x[:, :5] = rng.normal(size=(2, 5, X))
    np.savez(f["inputs"], x=x, lengths=np.array([5, 3]))
    waves = os.path.join(f["dir"], "new", "folder", "w.vcd")
    out = os.path.join(f["dir"], "out.npz")
    code, stdout, err = run_cli(["simulate", "--model", f["q"], "--inputs", f["inputs"], "--simulator", "amaranth",
                                 "--config", f["config"], "--waves", waves, "-o", out])
    assert code == 0 and err == "", err
    assert "bit-exact with the golden model" in stdout
    assert os.path.getsize(waves) > 0 and os.listdir(os.path.dirname(waves)) == ["w.vcd"]


# -- resource exhaustion ---------------------------------------------------------------------------


def _npy_claiming(path, shape, dtype="<f8", size=1024):
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(b"\0" * (size - fh.tell()))


@pytest.mark.parametrize("shape, needle", [
    ((2**35, 7), "claims shape (34359738368, 7) of float64, 1.75 TiB, more than the limit of 1 GiB"),
    ((1000, 1000, 30), "claims shape (1000, 1000, 30) of float64, 228.9 MiB"),
])
def test_npy_header_claiming_gigabytes(f, shape, needle):
    bad = os.path.join(f["dir"], "huge.npy")
    _npy_claiming(bad, shape)
    assert os.path.getsize(bad) == 1024
    out = os.path.join(f["dir"], "out.npz")
    code, _, err = run_cli(["golden", "--model", f["q"], "--inputs", bad, "-o", out])
    if shape[0] == 1000:  # under the limit, but more than the file holds
        needle = "is truncated: its header claims 228.9 MiB of data (shape (1000, 1000, 30) of float64)"
    assert_one_line_error(code, err, needle)
    assert not os.path.exists(out)


def test_npy_claiming_224_gib_fails_fast_in_a_subprocess(f):
    bad = os.path.join(f["dir"], "huge.npy")
    _npy_claiming(bad, (224 * 2**27,))  # 224 GiB of float64 in a 1 KB file
    code, _, err = run_subprocess(["golden", "--model", f["q"], "--inputs", bad, "-o",
                                   os.path.join(f["dir"], "out.npz")], timeout=60)
    assert code == 2
    assert_one_line_error(code, err, "224 GiB, more than the limit of 1 GiB (golden/limits.py)")


def _zip_bomb(path, member, declared):
    """An .npz whose member's zip directory entry declares ``declared`` uncompressed bytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, b"\0" * 4096)
    with open(path, "rb") as fh:
        raw = bytearray(fh.read())
    central = raw.rindex(b"PK\x01\x02")  # the central directory entry: uncompressed size at +24
    raw[central + 24:central + 28] = declared.to_bytes(4, "little")
    with open(path, "wb") as fh:
        fh.write(bytes(raw))


def test_zip_bomb_model_and_inputs_refused_before_decompressing(f):
    bomb = os.path.join(f["dir"], "bomb.npz")
    _zip_bomb(bomb, "weight_l0.npy", 4 * 2**30 - 1)
    out = os.path.join(f["dir"], "out.npz")
    code, _, err = run_cli(["golden", "--model", bomb, "--inputs", f["inputs"], "-o", out])
    assert_one_line_error(code, err, "entry 'weight_l0.npy' is 4 GiB, more than the limit of 1 GiB")
    _zip_bomb(bomb, "x.npy", 4 * 2**30 - 1)
    code, _, err = run_cli(["golden", "--model", f["q"], "--inputs", bomb, "-o", out])
    assert_one_line_error(code, err, "inputs file", "entry 'x.npy' is 4 GiB")
    assert not os.path.exists(out)


def test_real_zip_bomb_inputs(f):
    """A real compressed bomb (16 MiB of zeros in ~16 KB)
    whose header lies about its shape: refused from the header, nothing allocated."""
    bomb = os.path.join(f["dir"], "bomb.npz")
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("x.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False,
                                                          "shape": (2**30,)})
            chunk = b"\0" * 2**20
            for _ in range(16):
                member.write(chunk)
    assert os.path.getsize(bomb) < 2**20
    code, _, err = run_cli(["golden", "--model", f["q"], "--inputs", bomb, "-o", os.path.join(f["dir"], "o.npz")])
    assert_one_line_error(code, err, "entry 'x.npy': its header claims shape (1073741824,) of float64, 8 GiB")


def test_workers_capped(f):
    out = os.path.join(f["dir"], "out.npz")
    code, _, err = run_cli(["golden", "--model", f["q"], "--inputs", f["inputs"], "--workers", "1000000", "-o", out])
    assert_one_line_error(code, err, "--workers", "'1000000' is above 64 (the limit of --workers, golden/limits.py)")
    assert not os.path.exists(out)


def test_heartbeat_reports_a_long_silent_step(capsys):
    import time

    from memornn.commands.common import heartbeat

    with heartbeat("generate: converting to Verilog", every=0.05):
        time.sleep(0.3)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 3 and all(line.startswith("generate: converting to Verilog ... ") for line in lines)


@pytest.mark.slow
def test_generate_longest_sequences_shows_progress(f, tmp_path):
    """max_seq_len = 65536 (the documented maximum) takes minutes: it says so as it goes."""
    with open(f["config"], "w") as fh:
        fh.write("max_seq_len = 65536\n")
    code, out, err = run_subprocess(["generate", "--model", f["q"], "--config", f["config"], "-o", tmp_path / "rtl"],
                                    timeout=1800)
    assert code == 0, err
    assert "generate: converting to Verilog ... 15 s" in out
    assert (tmp_path / "rtl" / "memornn_accel.v").is_file()


# -- tracebacks on paths ---------------------------------------------------------------------------


def test_output_under_a_file(f):
    out = os.path.join(f["q"], "sub", "out.npz")
    code, _, err = run_cli(["golden", "--model", f["q"], "--inputs", f["inputs"], "-o", out])
    assert_one_line_error(code, err, f"{f['q']!r} is a file, not a folder")


def test_output_in_an_unwritable_folder(f):
    # /sys refuses new files even to root (where chmod would not)
    code, _, err = run_cli(["golden", "--model", f["q"], "--inputs", f["inputs"], "-o", "/sys/out.npz"])
    assert_one_line_error(code, err, "cannot write output '/sys/out.npz': ")
    code, _, err = run_cli(["golden", "--model", f["q"], "--inputs", f["inputs"], "-o", "/sys/new/out.npz"])
    assert_one_line_error(code, err, "cannot create output folder '/sys/new'")


def test_output_folder_unwritable_by_permissions(f, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    before = snapshot(f["dir"])
    code, _, err = run_cli(["golden", "--model", f["q"], "--inputs", f["inputs"], "-o",
                            os.path.join(f["dir"], "out.npz")])
    assert_one_line_error(code, err, "cannot write output", "Permission denied")
    assert snapshot(f["dir"]) == before


@pytest.mark.parametrize("kind", ["directory", "not utf-8", "unreadable", "fifo", "device", "too large"])
def test_bad_config_files(f, kind, monkeypatch):
    config = f["config"]
    needle = {"directory": "is a directory, not a regular file", "not utf-8": "is not UTF-8 text (byte 0xff at offset 11)",
              "unreadable": "cannot be read: Permission denied", "fifo": "is a FIFO (named pipe), not a regular file",
              "device": "is a character device, not a regular file",
              "too large": "is larger than the limit of 1 MiB (golden/limits.py)"}[kind]
    if kind == "directory":
        config = f["dir"]
    elif kind == "not utf-8":
        with open(config, "wb") as fh:
            fh.write(b"mac_lanes =\xff 2\n")
    elif kind == "unreadable":
        real_open = os.open
        monkeypatch.setattr(os, "open", lambda p, *a, **k: (_ for _ in ()).throw(PermissionError(13, "Permission "
                            "denied")) if p == config else real_open(p, *a, **k))
    elif kind == "fifo":
        config = os.path.join(f["dir"], "fifo.toml")
        os.mkfifo(config)
    elif kind == "device":
        config = "/dev/null"
    else:
        with open(config, "w") as fh:
            fh.write("# " + "x" * 2**20 + "\n")
    out = os.path.join(f["dir"], "rtl")
    code, _, err = run_cli(["generate", "--model", f["q"], "--config", config, "-o", out])
    assert_one_line_error(code, err, "hardware config", needle)
    assert not os.path.exists(out)


def test_waves_unwritable(f):
    before = snapshot(f["dir"])
    for waves, needle in (("/sys/w.vcd", "cannot write waveform --waves '/sys/w.vcd': "),
                          (os.path.join(f["q"], "w.vcd"), "is a file, not a folder"),
                          (f["dir"], "cannot write waveform --waves"),
                          ("/dev/null", "it is a character device")):
        code, _, err = run_cli(["simulate", "--model", f["q"], "--inputs", f["inputs"], "--simulator", "amaranth",
                                "--waves", waves, "-o", os.path.join(f["dir"], "out.npz")])
        assert_one_line_error(code, err, needle)
    assert snapshot(f["dir"]) == before


def test_sweep_thresholds_overflow_is_one_line(f):
    out = os.path.join(f["dir"], "sweep")
    code, _, err = run_subprocess(["sweep", "--model", f["model"], "--dataset", "digits", "--thresholds",
                                   "0:1e308:1e-308", "-o", out])
    assert_one_line_error(code, err, "threshold range '0:1e308:1e-308' has inf values, more than 1000")
    assert not os.path.exists(out)


# -- partial output before the error ---------------------------------------------------------------


@pytest.mark.parametrize("theta", ["nan", "inf", "-0.5", "1e9", "x"])
def test_demo_bad_threshold_writes_nothing(tmp_path, theta):
    out = tmp_path / "demo"
    code, _, err = run_cli(["demo", "--threshold", theta, "--no-synth", "-o", out])
    assert_one_line_error(code, err, "--threshold")
    assert not out.exists()


def _generate_into_a_folder_with_a_manifest_folder(f):
    out = os.path.join(f["dir"], "rtl")
    os.makedirs(os.path.join(out, "manifest.json"))  # a folder where the manifest goes
    with open(os.path.join(out, "keep.txt"), "w") as fh:
        fh.write("old")
    before = snapshot(f["dir"])
    code, _, err = run_cli(["generate", "--model", f["q"], "--config", f["config"], "-o", out])
    assert_one_line_error(code, err, "manifest.json", "it is a directory")
    assert snapshot(f["dir"]) == before
    return out


def test_generate_failing_on_its_manifest_leaves_the_folder_as_it_was(f):
    _generate_into_a_folder_with_a_manifest_folder(f)


@pytest.mark.slow
def test_generate_into_an_existing_folder_keeps_other_files(f):
    out = _generate_into_a_folder_with_a_manifest_folder(f)
    os.rmdir(os.path.join(out, "manifest.json"))
    code, _, err = run_cli(["generate", "--model", f["q"], "--config", f["config"], "-o", out])
    assert code == 0, err
    assert sorted(os.listdir(out)) == ["keep.txt", "load_writes.json", "manifest.json", "memornn_accel.core",
                                       "memornn_accel.v"]
    assert not [name for name in os.listdir(f["dir"]) if name.endswith(".tmp")]  # the staging folder is gone


# -- vague messages --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, needle", [
    ("directory", "is a directory, not a regular file"),
    ("fifo", "is a FIFO (named pipe), not a regular file"),
    ("device", "is a character device, not a regular file"),
    ("missing", "does not exist"),
    ("dangling link", "is a symbolic link to a file that does not exist"),
    ("under a file", "does not exist (a folder in its path is a file)"),
])
@pytest.mark.parametrize("option", ["--model", "--inputs"])
def test_non_files_named_accurately(f, kind, needle, option):
    path = {"directory": f["dir"], "fifo": os.path.join(f["dir"], "fifo.npz"), "device": "/dev/zero",
            "missing": os.path.join(f["dir"], "missing.npz"), "dangling link": os.path.join(f["dir"], "link.npz"),
            "under a file": os.path.join(f["q"], "x.npz")}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dangling link":
        os.symlink(os.path.join(f["dir"], "gone.npz"), path)
    args = {"--model": f["q"], "--inputs": f["inputs"]}
    args[option] = path
    out = os.path.join(f["dir"], "out.npz")
    code, _, err = run_cli(["golden", "--model", args["--model"], "--inputs", args["--inputs"], "-o", out])
    assert_one_line_error(code, err, repr(path), needle)
    assert not os.path.exists(out)


def test_output_that_is_a_directory_or_fifo(f):
    fifo = os.path.join(f["dir"], "fifo.npz")
    os.mkfifo(fifo)
    folder = os.path.join(f["dir"], "d.npz")
    os.mkdir(folder)
    for out, needle in ((fifo, "it is a FIFO (named pipe)"), (folder, "it is a directory")):
        code, _, err = run_cli(["golden", "--model", f["q"], "--inputs", f["inputs"], "-o", out])
        assert_one_line_error(code, err, needle)
