"""golden/options.py: run options parsed once, settings files written and read back."""

import pytest

from memornn.golden.errors import MemornnError
from memornn.golden.options import LayerPolicy, RunOptions, load_settings, save_settings

from golden_testlib import random_qmodel


def test_parse_text_and_values_alike():
    text = RunOptions.parse("hybrid", threshold="0.01, 0.02", delta_x="2,3", delta_h="4", reuse_cap=3,
                            row_weights="1")
    values = RunOptions.parse("hybrid", threshold=[0.01, 0.02], delta_x=[2, 3], delta_h=4, reuse_cap=3,
                              row_weights=1)
    assert text == values
    assert text.threshold == (0.01, 0.02) and text.delta_x == (2, 3) and text.delta_h == (4,)
    # tau in Q1.15 gate-output LSBs, round half up: 0.01 * 32768 = 327.68 -> 328
    assert text.for_model(2) == (LayerPolicy(328, 2, 4), LayerPolicy(655, 3, 4))


def test_relative_threshold_default_and_q88():
    opts = RunOptions.parse("bnn")
    assert opts.threshold == (0.2,)
    assert opts.for_model(3) == (LayerPolicy(51, 0, 0),) * 3  # 0.2 * 256 = 51.2 -> 51


@pytest.mark.parametrize("kwargs, words", [
    (dict(predictor="magic"), "unknown predictor 'magic'"),
    (dict(predictor="delta", delta_x=1), "needs --delta-h"),
    (dict(predictor="sign"), "needs --threshold"),
    (dict(predictor="bnn", delta_x=2), "takes no --delta-x"),
    (dict(predictor="delta", delta_x=1, delta_h=1, reuse_cap=2), "takes no --reuse-cap"),
    (dict(predictor="delta", delta_x=256, delta_h=1), "--delta-x 256 is out of range"),
    (dict(predictor="delta", delta_x="1,-1", delta_h=1), "--delta-x -1 is out of range"),
    (dict(predictor="delta", delta_x="1.5", delta_h=1), "delta_x '1.5' is not an integer"),
    (dict(predictor="sign", threshold=2.5), "threshold 2.5 exceeds the largest value"),
    (dict(predictor="bnn", threshold=300), "exceeds"),
    (dict(predictor="sign", threshold=0.1, row_weights=2), "--row-weights 2 is not one of 1, 3"),
    (dict(predictor="bnn", reuse_cap=256), "reuse cap must be an integer in [0, 255], got 256"),
])
def test_bad_options_name_the_value(kwargs, words):
    with pytest.raises(MemornnError, match=words.replace("[", r"\[").replace("]", r"\]")):
        RunOptions.parse(**kwargs)


def test_per_layer_count_checked_against_the_model():
    with pytest.raises(MemornnError, match="3 --delta-h values given for a model of 2 layers"):
        RunOptions.parse("delta", delta_x=1, delta_h="1,2,3").for_model(2)


def test_settings_round_trip(tmp_path):
    qmodel, _ = random_qmodel(3, "gru", 5, 6, layers=2)
    opts = RunOptions.parse("hybrid", threshold=[0.01, 0.03], delta_x=[2, 1], delta_h=3, reuse_cap=4,
                            row_weights=3)
    path = tmp_path / "s.toml"
    save_settings(path, opts, qmodel, {"max_loss": 1.0, "note": 'a "quoted" word', "points": [1, 2]})
    text = path.read_text()
    assert "[model]" in text and 'cell = "gru"' in text and "input_size = 5" in text
    got, selection = load_settings(path, qmodel)
    assert got == opts
    assert selection == {"max_loss": 1.0, "note": 'a "quoted" word', "points": [1, 2]}


def test_settings_for_another_model_refused(tmp_path):
    qmodel, _ = random_qmodel(3, "lstm", 5, 6)
    other, _ = random_qmodel(4, "lstm", 5, 8)
    path = tmp_path / "s.toml"
    save_settings(path, RunOptions.parse("delta", delta_x=1, delta_h=2), qmodel)
    with pytest.raises(MemornnError, match="is for another model: hidden_size = 6, the model has 8"):
        load_settings(path, other)


@pytest.mark.parametrize("text, words", [
    ("[policy]\npredictor = 'bnn'\n", "missing table [model]"),
    ("not toml at all [", "is not readable TOML"),
    ("[model]\ncell='lstm'\ninput_size=5\nhidden_size=6\nnum_layers=1\ndirections=1\n"
     "[policy]\npredictor='delta'\ndelta_x=[1]\ndelta_h=[300]\n", "--delta-h 300 is out of range"),
    ("[model]\ncell='lstm'\ninput_size=5\nhidden_size=6\nnum_layers=1\ndirections=1\n"
     "[policy]\npredictor='bnn'\nspeed=3\n", "unknown [policy] key 'speed'"),
])
def test_bad_settings_files(tmp_path, text, words):
    qmodel, _ = random_qmodel(3, "lstm", 5, 6)
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(MemornnError, match=words.replace("[", r"\[").replace("]", r"\]")):
        load_settings(path, qmodel)
