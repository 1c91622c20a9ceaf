"""The markdown report (evaluation/summary.py) on tiny sweeps."""

from eval_testlib import tiny_dataset, tiny_model
from memornn.evaluation.correlation import change_correlation
from memornn.evaluation.summary import summary_markdown
from memornn.evaluation.sweep import run_sweep
from memornn.golden.quantize import quantize_model


def test_summary_markdown():
    data = tiny_dataset()
    model = tiny_model("gru")
    thetas = [0.0, 0.2]
    entry = {
        "name": "tiny_gru",
        "main": run_sweep(model, data, thetas, name="tiny_gru", show_progress=False),
        "no_offsets": run_sweep(model, data, thetas, ("bnn",), use_offsets=False, show_progress=False),
        "caps": {2: run_sweep(model, data, thetas, ("bnn",), reuse_cap=2, show_progress=False)},
        "correlation": change_correlation(quantize_model(model, data.train), data.test),
        "training": {"seconds": 1.0, "train_accuracy": 50.0, "torch_accuracy": 40.0, "float_accuracy": 40.0,
                     "spec": {"epochs": 3}},
    }
    text = summary_markdown([entry], "0,0.2", "abc1234")
    assert "golden/ at abc1234" in text
    for words in ("| tiny_gru | tiny | gru 1x4 |", "24.2", "1.35x", "18.5", "26.7", "1.40x", "21.0", "(theirs)",
                  "offsets, cap 2", "r(Δ) mean", "| tiny_gru | 1.0 | 3 |"):
        assert words in text, words
    # Every table row has as many cells as its header.
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line.count("|"))
        elif current:
            tables.append(current)
            current = []
    assert len(tables) == 6
    assert all(len(set(t)) == 1 for t in tables)
