"""Argument checking of the commands: types, ranges, one-line messages, nothing written."""

import os

import pytest

from robust_testlib import assert_one_line_error, run_cli, snapshot, write_files


@pytest.fixture
def f(tmp_path):
    return write_files(tmp_path)


@pytest.mark.parametrize("option, value, needle", [
    ("--workers", "\u0661", "'\u0661' is not an integer"),  # Arabic-Indic one: int() would take it as 1
    ("--workers", "1_000", "'1_000' is not an integer"),
    ("--workers", "0", "'0' is below 1"),
    ("--workers", "65", "'65' is above 64 (the limit of --workers"),
    ("--workers", "9" * 40, "is above 64"),
    ("--reuse-cap", "-1", "'-1' is below 0"),
    ("--predictor", "a\nb", "invalid choice: 'a\\nb'"),
])
def test_golden_argument_types(f, option, value, needle):
    out = os.path.join(f["dir"], "out.npz")
    code, _, err = run_cli(["golden", "--model", f["q"], "--inputs", f["inputs"], option, value, "-o", out])
    assert_one_line_error(code, err, f"argument {option}", needle)
    assert code == 2 and not os.path.exists(out)


@pytest.mark.parametrize("option, value", [("--freq", "nan"), ("--freq", "inf"), ("--freq", "0"), ("--freq", "\u0665"),
                                           ("--pnr-timeout", "-1"), ("--pnr-timeout", "nan"), ("--seeds", "0")])
def test_synth_argument_types(f, option, value):
    out = os.path.join(f["dir"], "syn")
    code, _, err = run_cli(["synth", "--model", f["q"], "--target", "generic", option, value, "-o", out])
    assert_one_line_error(code, err, f"argument {option}")
    assert not os.path.exists(out)


def test_synth_bad_speed_creates_no_folder(f):
    out = os.path.join(f["dir"], "new", "syn")
    code, _, err = run_cli(["synth", "--model", f["q"], "--target", "ecp5-85k", "--speed", "5", "-o", out])
    assert_one_line_error(code, err, "ECP5 speed grade 5")
    assert not os.path.exists(os.path.join(f["dir"], "new"))


def test_unrecognized_argument_with_a_newline_is_one_line(f):
    code, _, err = run_cli(["golden", "--model", f["q"], "--inputs", f["inputs"], "-o", "o.npz", "x\ny"])
    assert_one_line_error(code, err, "unrecognized arguments: x\\ny")


def test_error_message_with_a_newline_in_a_path_is_one_line(f):
    bad = os.path.join(f["dir"], "two\nlines.npz")
    code, _, err = run_cli(["golden", "--model", bad, "--inputs", f["inputs"], "-o", "o.npz"])
    assert_one_line_error(code, err, "two\\nlines.npz' does not exist")


def test_simulate_two_outputs_on_one_file(f):
    out = os.path.join(f["dir"], "out.npz")
    before = snapshot(f["dir"])
    code, _, err = run_cli(["simulate", "--model", f["q"], "--inputs", f["inputs"], "--simulator", "amaranth",
                            "--waves", out, "-o", out])
    assert_one_line_error(code, err, f"output {out!r} and waveform --waves {out!r} are the same file")
    assert snapshot(f["dir"]) == before


def test_help_and_version_exit_zero(capsys):
    from memornn.cli import main

    assert main(["--version"]) == 0
    assert main(["golden", "--help"]) == 0
    assert "--workers" in capsys.readouterr().out
