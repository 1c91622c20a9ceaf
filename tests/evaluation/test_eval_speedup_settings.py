"""``benchmarks/eval_speedup.py --settings MODEL=FILE``: per-model settings files and their errors."""

import importlib.util
import json
from pathlib import Path

import pytest

from memornn.golden.errors import MemornnError

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "eval_speedup.py"
MODELS = {"jv_lstm64": {}, "jv_lstm64x2": {}}


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("eval_speedup", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_settings_file_is_read(script, tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"threshold": [0.3, 0.5], "reuse_cap": 2, "source": "validation sweep"}))
    name, settings = script.read_settings(f"jv_lstm64x2={path}", MODELS)
    assert name == "jv_lstm64x2"
    assert settings == {"threshold": [0.3, 0.5], "reuse_cap": 2, "source": "validation sweep"}
    path.write_text(json.dumps({"threshold": 0.4}))
    assert script.read_settings(f"jv_lstm64={path}", MODELS)[1] == {"threshold": 0.4, "reuse_cap": 0,
                                                                    "source": str(path)}


@pytest.mark.parametrize("spec, content, message", [
    ("jv_lstm64", None, "MODEL=FILE"),
    ("nosuch={path}", '{"threshold": 0.1}', "unknown model 'nosuch'"),
    ("jv_lstm64={path}.missing", None, "cannot read"),
    ("jv_lstm64={path}", "{not json", "is not JSON"),
    ("jv_lstm64={path}", '{"reuse_cap": 1}', "with a 'threshold'"),
    ("jv_lstm64={path}", '{"threshold": 0.1, "theta": 2}', "unknown keys ['theta']"),
])
def test_bad_settings_are_one_line_errors(script, tmp_path, spec, content, message):
    path = tmp_path / "s.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(MemornnError) as info:
        script.read_settings(spec.format(path=path), MODELS)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_bad_settings_exit_non_zero_before_simulating(script, tmp_path, capsys):
    assert script.main(["--settings", "nosuch=x.json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("eval_speedup: --settings: unknown model 'nosuch'") and err.count("\n") == 1
