"""Property-based fuzzing (Hypothesis) of the file loaders and the command-line parsers.

The property (issue 15's contract): whatever the files and arguments, a command either
succeeds, writing only its outputs, or exits non-zero with exactly one stderr line, no
traceback, and every file as it was. The library loaders either return or raise
``MemornnError``, never another exception. Commands run in this process through
``memornn.cli.main``; the slow steps (RTL simulation, Verilog generation, synthesis, the
demo's quantization, loading a data set) are replaced by a stub that raises
``ReachedWork``: reaching it means every argument passed the checks, and nothing may
have been written before it.

Two sizes: the default run (a fixed, derandomized set of examples, ~40 s in all) and
``-m slow`` (many more, random each run).
"""

import contextlib
import io
import os
import shutil
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from robust_testlib import run_cli, snapshot, write_files
from memornn.golden.errors import MemornnError
from memornn.golden.inputs import load_inputs
from memornn.golden.npzfile import load_npy, load_npz
from memornn.golden.qmodel import load_qmodel

SIZES = [pytest.param(1, id="quick"), pytest.param(12, id="long", marks=pytest.mark.slow)]


def fuzz_settings(examples: int, scale: int):
    """``examples`` for the default run; ``scale`` times as many, random, for the slow one."""
    return settings(max_examples=examples * scale, deadline=None, database=None, derandomize=scale == 1,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


class ReachedWork(Exception):
    """The stub of a slow step: every argument was accepted."""


def _reached(*args, **kwargs):
    raise ReachedWork


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Files shared by every example; :func:`restore` puts them back after each."""
    folder = tmp_path_factory.mktemp("fuzz")
    files = write_files(folder)
    os.mkdir(folder / "adir")
    os.mkfifo(folder / "fifo")
    os.mkdir(folder / "out")
    files["pristine"] = {name: (folder / name).read_bytes() for name in os.listdir(folder)
                         if (folder / name).is_file()}
    files["state"] = snapshot(folder)
    return files


def restore(ws) -> None:
    """Remove whatever an example created under the workspace; rewrite changed files."""
    folder = ws["dir"]
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if name in ws["pristine"]:
            with open(path, "rb") as f:
                same = f.read() == ws["pristine"][name]
            if not same:
                with open(path, "wb") as f:
                    f.write(ws["pristine"][name])
        elif name not in ("adir", "fifo", "out"):
            (shutil.rmtree if os.path.isdir(path) and not os.path.islink(path) else os.remove)(path)
    for name in ("adir", "out"):
        for entry in os.listdir(os.path.join(folder, name)):
            path = os.path.join(folder, name, entry)
            (shutil.rmtree if os.path.isdir(path) and not os.path.islink(path) else os.remove)(path)


def check_contract(ws, argv, outputs=()) -> str:
    """Run ``argv``; assert the contract; returns "ok", "work" or "error"."""
    before = snapshot(ws["dir"])
    try:
        code, _, err = run_cli(argv)
    except ReachedWork:
        return "work"
    finally:
        after = snapshot(ws["dir"])
    if code == 0:
        changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
        allowed = {os.path.relpath(os.path.abspath(o), ws["dir"]) for o in outputs if o}
        assert all(any(c == a or c.startswith(a + os.sep) or a.startswith(c + os.sep) for a in allowed)
                   for c in changed), (argv, changed)
        return "ok"
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err and ": error: " in lines[0], (argv, err)
    assert after == before, (argv, err, set(after) ^ set(before))
    return "error"


# -- values and paths ----------------------------------------------------------------------------

NUMBERS = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1", "1e308", "-0", "1e-308", "0x10", "", " ", "1,2", "2**64",
                     "18446744073709551617", "1_000", "١", "0.2,0.3,0.4", "a\nb", "\t", "--", "-o"]),
    st.integers(-2**70, 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=8),
)


def paths(ws, *names):
    """Paths of every kind: files of the workspace, a folder, a FIFO, devices, missing, under a file."""
    d = ws["dir"]
    return st.sampled_from([ws[n] for n in names] + [
        os.path.join(d, "adir"), os.path.join(d, "fifo"), "/dev/null", "/dev/zero", os.path.join(d, "missing.npz"),
        os.path.join(ws["q"], "under.npz"), "", "/sys/x.npz", os.path.join(d, "out", "new", "deep.npz"),
        os.path.join(d, "out", "r.npz"), os.path.join(d, "out", "w.vcd"), os.path.join(d, "out", "dir"),
        os.path.join(d, "weird\nname.npz"), os.path.join(d, "x" * 300 + ".npz"),
    ])


def argv_strategy(options):
    """``[command, --opt value, ...]``: each option mostly given, mostly with a good value."""
    @st.composite
    def build(draw):
        argv = []
        for option, (good, bad) in options.items():
            if draw(st.integers(0, 19)) == 0:
                continue
            if good is None:
                argv.append(option)
            else:
                argv += [option, draw(st.sampled_from(good)) if draw(st.integers(0, 9)) < 9 else draw(bad)]
        if draw(st.integers(0, 19)) == 0:
            argv.append(draw(NUMBERS))
        return argv
    return build()


DEMO_MODEL = os.path.join(os.path.dirname(__file__), "..", "..", "models", "jv_lstm64.npz")


def _out(ws, name):
    return os.path.join(ws["dir"], "out", name)


COMMANDS = {
    "golden": lambda ws: {
        "--model": ([ws["q"]], paths(ws, "model", "inputs")), "--inputs": ([ws["inputs"]], paths(ws, "q")),
        "--threshold": (["0.2", "0"], NUMBERS),
        "--predictor": (["bnn", "none", "oracle"], st.sampled_from(["x", ""])), "--reuse-cap": (["0", "3"], NUMBERS),
        "--workers": (["1"], NUMBERS), "-o": ([_out(ws, "r.npz"), _out(ws, "new/r.npz")], paths(ws, "q", "inputs"))},
    "quantize": lambda ws: {
        "--model": ([ws["model"]], paths(ws, "q")), "--calibration": ([ws["calibration"]], paths(ws, "inputs")),
        "--pwl-segments": (["8", "16"], NUMBERS), "--no-offsets": (None, None),
        "-o": ([_out(ws, "q2.npz")], paths(ws, "model", "calibration"))},
    "simulate": lambda ws: {
        "--model": ([ws["q"]], paths(ws, "model")), "--inputs": ([ws["inputs"]], paths(ws, "q")),
        "--simulator": (["amaranth", "icarus", "verilator"], st.sampled_from(["x", ""])),
        "--config": ([ws["config"]], paths(ws, "q", "inputs")), "--threshold": (["0.2"], NUMBERS),
        "--predictor": (["bnn", "none"], st.sampled_from(["oracle", "x"])), "--reuse-cap": (["0"], NUMBERS),
        "--waves": ([_out(ws, "w.vcd"), _out(ws, "deep/w.fst")], paths(ws, "q", "inputs", "config")),
        "-o": ([_out(ws, "r.npz")], paths(ws, "q", "inputs"))},
    "generate": lambda ws: {
        "--model": ([ws["q"]], paths(ws, "model")), "--config": ([ws["config"]], paths(ws, "inputs", "q")),
        "--trace": (None, None), "-o": ([_out(ws, "rtl")], paths(ws, "q"))},
    "synth": lambda ws: {
        "--model": ([ws["q"]], paths(ws, "model")), "--config": ([ws["config"]], paths(ws, "q")),
        "--target": (["ecp5-85k", "ice40-up5k", "generic"], st.sampled_from(["x", ""])),
        "--freq": (["50"], NUMBERS), "--speed": (["8"], NUMBERS), "--seed": (["1"], NUMBERS),
        "--seeds": (["1"], NUMBERS), "--pnr-timeout": (["60"], NUMBERS), "-o": ([_out(ws, "syn")], paths(ws, "q"))},
    "sweep": lambda ws: {
        "--model": ([ws["model"]], paths(ws, "q")), "--dataset": (["digits", "japanesevowels"], st.sampled_from(
            ["x", ""])), "--thresholds": (["0:0.6:0.05", "0.1,0.2"], NUMBERS),
        "--predictor": (["bnn", "oracle", "bnn,oracle"], st.sampled_from(["bnn,x", ""])),
        "--reuse-cap": (["0"], NUMBERS), "--limit": (["5"], NUMBERS), "--quiet": (None, None),
        "-o": ([_out(ws, "sw")], paths(ws, "model"))},
    "demo": lambda ws: {
        "--model": ([DEMO_MODEL], paths(ws, "q", "model")), "--data": ([os.path.join(os.path.dirname(__file__), "..", "..",
                                                                             "models", "jv_data.npz")],
                                                               paths(ws, "inputs", "model")),
        "--threshold": (["0.4"], NUMBERS), "--target": (["ecp5-85k"], st.sampled_from(["x"])),
        "--simulator": (["verilator", "amaranth"], st.sampled_from(["x"])), "--sequences": (["2"], NUMBERS),
        "--no-synth": (None, None), "-o": ([_out(ws, "demo")], paths(ws, "q"))},
}

STUBS = [("memornn.sim.backends", "run_simulation"), ("memornn.hw.generate", "generate"),
         ("memornn.hw.synth.flow", "write_design"), ("memornn.evaluation.datasets", "load_dataset"),
         ("memornn.demo", "quantize_model")]


@pytest.mark.parametrize("scale", SIZES)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_fuzz_cli_arguments(workspace, command, scale):
    import importlib

    ws = workspace
    outcomes = []

    @fuzz_settings(12 if command == "demo" else 30, scale)  # the demo's defaults load its data: 0.4 s
    @given(argv=argv_strategy(COMMANDS[command](ws)).map(lambda args: [command] + args))
    def check(argv):
        try:
            outputs = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("-o", "--waves")]
            outcomes.append(check_contract(ws, argv, outputs))
        finally:
            restore(ws)

    with pytest.MonkeyPatch.context() as mp:
        for module, name in STUBS:
            mp.setattr(importlib.import_module(module), name, _reached)
        check()
    # the strategies reach both bad input and input good enough to pass every check
    assert "error" in outcomes and {"ok", "work"} & set(outcomes), outcomes


# -- the loaders -----------------------------------------------------------------------------------

DTYPES = st.sampled_from(["<f8", ">f8", "<f4", "<f2", "<i8", ">i4", "<u8", "|i1", "|u1", "|b1", "<c16", "<U3",
                          "|S2", "|V4", "<M8[s]", "<m8[s]", "<f16"])


def arrays_of_any_kind():
    """Arrays of every dtype the format can hold (objects excluded: savez would pickle them)."""
    dtype = st.sampled_from([np.float64, np.float32, np.float16, np.int64, np.int32, np.int8, np.uint64, np.uint8,
                             np.bool_, np.complex128, np.dtype("U3"), np.dtype("S2"), np.dtype("M8[s]"),
                             np.longdouble])
    shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)
    void = shapes.map(lambda shape: np.zeros(shape, "V4"))  # Hypothesis draws no void elements
    return st.one_of(dtype.flatmap(lambda dt: hnp.arrays(dt, shapes)), void)


def _write_member(archive, name, array):
    with archive.open(name, "w") as member:
        np.lib.format.write_array(member, np.asarray(array), allow_pickle=False)


@st.composite
def mutated_qmodel(draw, base: dict):
    """A Q.npz's arrays with keys removed, renamed, added or given other values."""
    arrays = dict(base)
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(sorted(arrays)))
        action = draw(st.sampled_from(["drop", "rename", "array", "scalar", "perturb", "dtype"]))
        if action == "drop":
            arrays.pop(key)
        elif action == "rename":
            arrays[draw(st.text(min_size=1, max_size=12).filter(lambda s: "\0" not in s))] = arrays.pop(key)
        elif action == "array":
            arrays[key] = draw(arrays_of_any_kind())
        elif action == "scalar":
            arrays[key] = np.array(draw(st.one_of(st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(),
                                                  st.text(max_size=6))))
        elif action == "perturb" and arrays[key].size and arrays[key].dtype.kind in "iuf":
            value = arrays[key].astype(np.int64 if arrays[key].dtype.kind in "iu" else np.float64)
            flat = value.reshape(-1)
            flat[draw(st.integers(0, flat.size - 1))] = draw(st.sampled_from([-1, 0, 127, 128, -128, 2**15, 2**31 - 1,
                                                                               -(2**31)]))
            arrays[key] = value
        elif action == "dtype" and arrays[key].dtype.kind in "iuf":
            with np.errstate(invalid="ignore", over="ignore"):  # NaN or 1e300 cast to int: any value will do
                arrays[key] = arrays[key].astype(draw(st.sampled_from([np.int8, np.int16, np.uint8, np.float32,
                                                                       np.int64, np.float64])))
    return arrays


@pytest.mark.parametrize("scale", SIZES)
def test_fuzz_qmodel_archives(workspace, scale):
    ws = workspace
    with np.load(ws["q"]) as data:
        base = {k: data[k] for k in data.files}
    bad = os.path.join(ws["dir"], "out", "bad_q.npz")
    out = os.path.join(ws["dir"], "out", "r.npz")

    @fuzz_settings(40, scale)
    @given(arrays=mutated_qmodel(base))
    def check(arrays):
        try:
            with zipfile.ZipFile(bad, "w") as archive:
                for key, value in arrays.items():
                    _write_member(archive, key + ".npy", value)
            check_contract(ws, ["golden", "--model", bad, "--inputs", ws["inputs"], "-o", out], [out, bad])
        finally:
            restore(ws)

    check()


@st.composite
def mutated_bytes(draw, raw: bytes):
    """``raw`` truncated, with bytes overwritten, inserted or deleted."""
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "truncate":
            del data[at:]
        elif action == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif data:
            del data[at:at + draw(st.integers(1, 64))]
    return bytes(data)


def _loads_or_refuses(load, path):
    try:
        load(path)
    except MemornnError as exc:
        assert "\n" not in str(exc), str(exc)


@pytest.mark.parametrize("scale", SIZES)
@pytest.mark.parametrize("which", ["q", "inputs", "model"])
def test_fuzz_corrupt_archives(workspace, which, scale):
    """Bytes of a valid archive damaged anywhere: loaded or refused with MemornnError."""
    ws = workspace
    with open(ws[which], "rb") as f:
        raw = f.read()
    bad = os.path.join(ws["dir"], "out", "damaged.npz")
    load = {"q": load_qmodel, "inputs": load_inputs, "model": lambda p: load_npz(p, "float model")}[which]

    @fuzz_settings(80, scale)
    @given(data=mutated_bytes(raw))
    def check(data):
        with open(bad, "wb") as f:
            f.write(data)
        _loads_or_refuses(load, bad)

    check()
    restore(ws)


@st.composite
def npy_files(draw):
    """An .npy header of any shape and dtype text (sizes up to 2**80 bytes), then some bytes."""
    shape = tuple(draw(st.lists(st.one_of(st.integers(0, 8), st.integers(-3, 2**40)), max_size=4)))
    descr = draw(DTYPES)
    text = repr({"descr": descr, "fortran_order": draw(st.booleans()), "shape": shape})
    if draw(st.integers(0, 9)) == 0:
        text = draw(st.text(max_size=40))  # not even a dict
    header = text.encode("latin1", "replace")
    header += b" " * ((-(len(header) + 11)) % 64) + b"\n"
    version = draw(st.sampled_from([b"\x01\x00", b"\x02\x00", b"\x03\x00", b"\x09\x09"]))
    size = len(header).to_bytes(2 if version == b"\x01\x00" else 4, "little")
    return b"\x93NUMPY" + version + size + header + draw(st.binary(max_size=200))


@pytest.mark.parametrize("scale", SIZES)
def test_fuzz_npy_headers(workspace, scale):
    """Headers claiming any size: refused before allocation, or loaded (small ones)."""
    bad = os.path.join(workspace["dir"], "out", "h.npy")

    @fuzz_settings(100, scale)
    @given(data=npy_files())
    @example(data=b"\x93NUMPY\x01\x006\x00)" + b" " * 52 + b"\n")  # found by the slow run: numpy's TokenError
    def check(data):
        with open(bad, "wb") as f:
            f.write(data)
        _loads_or_refuses(lambda p: load_npy(p, "inputs"), bad)
        _loads_or_refuses(load_inputs, bad)

    check()
    restore(workspace)


@st.composite
def input_arrays(draw):
    """Inputs: ``x`` of any dtype and shape (NaN, inf, huge values), ``lengths`` of any kind, extra keys."""
    arrays = {}
    if draw(st.integers(0, 9)):
        x_shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5))
        dt = draw(st.sampled_from([np.float64, np.float32, np.int64, np.uint8, np.bool_, np.complex64,
                                   np.longdouble]))
        arrays["x"] = draw(hnp.arrays(dt, x_shape))
    if draw(st.booleans()):
        arrays["lengths"] = draw(hnp.arrays(draw(st.sampled_from([np.int64, np.int8, np.uint64, np.float64,
                                                                  np.bool_])),
                                            hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=5)))
    if draw(st.integers(0, 4)) == 0:
        arrays[draw(st.sampled_from(["y", "X", "x ", "lengths_", "h"]))] = np.zeros(2)
    return arrays


@pytest.mark.parametrize("scale", SIZES)
def test_fuzz_inputs(workspace, scale):
    ws = workspace
    bad_npz = os.path.join(ws["dir"], "out", "x.npz")
    bad_npy = os.path.join(ws["dir"], "out", "x.npy")
    out = os.path.join(ws["dir"], "out", "r.npz")

    @fuzz_settings(40, scale)
    @given(arrays=input_arrays(), as_npy=st.booleans())
    def check(arrays, as_npy):
        try:
            if as_npy and "x" in arrays:
                np.save(bad_npy, arrays["x"])
                path = bad_npy
            else:
                np.savez(bad_npz, **arrays)
                path = bad_npz
            with contextlib.redirect_stderr(io.StringIO()):
                check_contract(ws, ["golden", "--model", ws["q"], "--inputs", path, "-o", out], [out, path])
        finally:
            restore(ws)

    check()
