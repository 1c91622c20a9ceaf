"""The main job end to end on a built-in model: quantize, golden, generate, simulate, synthesize.

Everything lands in one folder (``build/demo`` by default): ``q.npz``, ``rtl/`` (Verilog,
manifest, FuseSoC core of the memoization build), ``rtl_delta/`` (the delta build),
``golden_*.npz``, ``rtl_*.npz``, ``synth/`` (reports and logs), ``threshold_sweep.png``,
``summary.md`` and ``summary.json``.

The skip policies the hardware runs are measured side by side on the same test sequences:
``none`` and the paper's ``bnn`` on the memoization build, ``delta`` (column skipping) on
the delta build; every speed-up is against ``none`` on the memoization build, every run
bit-exact with the golden model, and the best is the fastest within 1 point of the
integer model's test accuracy.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

import numpy as np

from .golden import numerics as nx
from .golden.errors import MemornnError
from .golden.fileio import atomic_file, check_output_folder, make_folder, refuse_same_file, write_text
from .golden.floatmodel import load_float_model
from .golden.floatref import apply_head, float_forward, last_outputs
from .golden.inputs import Batch
from .golden.intmodel import golden_run
from .golden.npzfile import save_npz
from .golden.quantize import quantize_model

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(PACKAGE_ROOT, "models", "jv_lstm64.npz")
DEFAULT_DATA = os.path.join(PACKAGE_ROOT, "models", "jv_data.npz")
#: The built-in model's bnn threshold, chosen on the validation split (90 training-speaker
#: utterances) by ``memornn tune``'s rule, never on test (benchmarks/results/eval_policies.json).
DEFAULT_THRESHOLD = 0.35
#: The built-in model's delta thresholds (theta_x, theta_h in int8 units), chosen the same way.
DEFAULT_DELTA = (4, 24)
#: Largest loss of test accuracy (points, against the integer model) of a policy the demo calls best.
BEST_MAX_LOSS = 1.0
SWEEP_THRESHOLDS = tuple(round(0.1 * i, 1) for i in range(11))
#: The files the demo writes into its folder (besides rtl/ and synth/).
OUTPUT_FILES = ("q.npz", "golden_none.npz", "golden_bnn.npz", "golden_delta.npz", "rtl_none.npz", "rtl_bnn.npz",
                "rtl_delta.npz", "threshold_sweep.png", "summary.json", "summary.md")


@dataclass
class DemoOptions:
    """What the demo runs on and how far it goes."""

    model: str = DEFAULT_MODEL
    data: str = DEFAULT_DATA
    threshold: float = DEFAULT_THRESHOLD
    target: str = "ecp5-85k"
    simulator: str = "verilator"
    sequences: int = 8
    synth: bool = True
    outdir: str = os.path.join("build", "demo")
    delta_x: int = DEFAULT_DELTA[0]
    delta_h: int = DEFAULT_DELTA[1]

    def delta_options(self):
        """The delta policy's run options (checked)."""
        from .golden.options import RunOptions

        return RunOptions.parse("delta", delta_x=self.delta_x, delta_h=self.delta_h)


class Progress:
    """Numbered step lines with elapsed times."""

    def __init__(self, steps: int):
        self.steps, self.step, self.start = steps, 0, time.time()

    def __call__(self, message: str) -> None:
        self.step += 1
        print(f"[{self.step}/{self.steps}] {message}  (t = {time.time() - self.start:.0f} s)", flush=True)


def _accuracy(model, h: np.ndarray, batch: Batch, labels: np.ndarray) -> float:
    scores = apply_head(model, last_outputs(h, batch.lengths))
    return float(100 * np.mean(np.argmax(scores, axis=1) == labels))


def _skipped_percent(result: dict) -> float:
    """MACs skipped, percent of dense."""
    done, skipped = int(result["macs"].sum()), int(result["macs_skipped"].sum())
    return 100.0 * skipped / max(done + skipped, 1)


def _reuse_percent(result: dict) -> float:
    total = result["neurons_computed"].sum() + result["neurons_reused"].sum()
    return float(100 * result["neurons_reused"].sum() / total) if total else 0.0


def _first(batch: Batch, count: int) -> Batch:
    count = min(count, batch.size)
    t_max = int(batch.lengths[:count].max())
    return Batch(batch.x[:count, :t_max], batch.lengths[:count])


def _plot_sweep(path: str, points: list[dict], int_acc: float, chosen: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    thetas = [p["threshold"] for p in points]
    ax.plot(thetas, [int_acc - p["accuracy"] for p in points], "o-", color="tab:red", label="accuracy loss")
    ax.set_xlabel("threshold theta")
    ax.set_ylabel("accuracy loss (points)", color="tab:red")
    other = ax.twinx()
    other.plot(thetas, [p["reuse"] for p in points], "s-", color="tab:blue", label="reuse")
    other.set_ylabel("neuron evaluations reused (%)", color="tab:blue")
    ax.axvline(chosen, color="gray", linestyle=":", label=f"chosen theta {chosen}")
    ax.set_title("BNN memoization on the test split")
    fig.tight_layout()
    with atomic_file(path) as f:
        fig.savefig(f, format="png", dpi=120)
    plt.close(fig)


def check_demo(options: DemoOptions):
    """Check every option and input before anything is written; returns ``(model, data)``.

    Raises
    ------
    MemornnError
        On a bad threshold or sequence count, an output folder that cannot be one or
        that would overwrite an input, a model without a classifier head, or data that
        does not fit the model (features, number of classes, labels).
    """
    from .evaluation.export import load_exported

    try:
        nx.theta_to_q(options.threshold)
    except (ValueError, TypeError) as exc:
        raise MemornnError(str(exc)) from None
    options.delta_options()
    if isinstance(options.sequences, bool) or not isinstance(options.sequences, int) or options.sequences < 1:
        raise MemornnError(f"sequences to simulate must be an integer >= 1, got {options.sequences!r}")
    check_output_folder(options.outdir)
    refuse_same_file([os.path.join(options.outdir, name) for name in OUTPUT_FILES],
                     [("--model", options.model), ("--data", options.data)])
    model = load_float_model(options.model)
    if model.head_weight is None:
        raise MemornnError(f"demo model {options.model!r} has no classifier head (head_weight, head_bias)")
    data = load_exported(options.data)
    if data.input_size != model.input_size:
        raise MemornnError(f"demo data has {data.input_size} features, the model takes {model.input_size}")
    if data.classes != model.head_weight.shape[0]:
        raise MemornnError(f"demo data has {data.classes} classes, the model's head scores "
                           f"{model.head_weight.shape[0]}")
    return model, data


def _energy(qmodel, config, plain: dict, memo: dict, lengths) -> dict:
    """Energy per inference (45 nm table) without and with memoization, on the test split."""
    from .hw.energy import energy_report, load_table
    from .hw.layout import make_layout

    report = energy_report(memo, make_layout(qmodel, config), "bnn", lengths, load_table(), dense=plain)
    return {k: report[k] for k in ("dense_nj", "energy_per_inference_nj", "saving_percent",
                                   "predictor_overhead_percent", "paper_saving_percent")}


def run_demo(options: DemoOptions) -> dict:
    """Run every stage; returns the summary (also written to ``summary.json`` and ``.md``)."""
    from .hw.config import HwConfig
    from .hw.generate import generate

    model, data = check_demo(options)
    make_folder(options.outdir)
    progress = Progress(7 if options.synth else 6)
    summary = {"model": options.model, "threshold": options.threshold, "test_sequences": data.test.size}

    progress(f"quantize {os.path.basename(options.model)} with {data.train.size} calibration sequences")
    qmodel = quantize_model(model, data.train)
    qmodel.save(os.path.join(options.outdir, "q.npz"))

    progress(f"golden model on {data.test.size} test sequences (float, integer, memoized, threshold sweep)")
    summary["float_accuracy"] = _accuracy(model, float_forward(model, data.test), data.test, data.y_test)
    plain = golden_run(qmodel, data.test, 0.0, "none")
    memo = golden_run(qmodel, data.test, options.threshold, "bnn")
    save_npz(os.path.join(options.outdir, "golden_none.npz"), plain)
    save_npz(os.path.join(options.outdir, "golden_bnn.npz"), memo)
    summary["int_accuracy"] = _accuracy(qmodel, plain["h"], data.test, data.y_test)
    summary["memo_accuracy"] = _accuracy(qmodel, memo["h"], data.test, data.y_test)
    summary["reuse_percent"] = _reuse_percent(memo)
    points = []
    for theta in SWEEP_THRESHOLDS:
        run = golden_run(qmodel, data.test, theta, "bnn")
        points.append({"threshold": theta, "accuracy": _accuracy(qmodel, run["h"], data.test, data.y_test),
                       "reuse": _reuse_percent(run)})
    summary["sweep"] = points
    _plot_sweep(os.path.join(options.outdir, "threshold_sweep.png"), points, summary["int_accuracy"], options.threshold)

    config = HwConfig(max_seq_len=max(64, int(data.test.lengths.max())))
    summary["energy"] = _energy(qmodel, config, plain, memo, data.test.lengths)
    progress(f"generate Verilog (P = {config.mac_lanes}, B = {config.bnn_width})")
    info = generate(qmodel, config, os.path.join(options.outdir, "rtl"))
    summary["analytic_cycles_per_step"] = sum(s["cycles"] for s in info["cycles"]["step_none"])

    subset = _first(data.test, options.sequences)
    progress(f"{options.simulator} simulation of {subset.size} test sequences, predictor none and bnn, "
             f"checked against the golden model")
    cycles = {}
    for predictor in ("none", "bnn"):
        theta = options.threshold if predictor == "bnn" else 0.0
        hw = _simulate(options, qmodel, subset, config, theta, predictor)
        cycles[predictor] = int(hw["cycles"].sum())
        summary[f"rtl_reuse_percent_{predictor}"] = _reuse_percent(hw)
    summary.update(simulator=options.simulator, simulated_sequences=subset.size, bit_exact=True,
                   cycles_none=cycles["none"], cycles_bnn=cycles["bnn"], speedup=cycles["none"] / cycles["bnn"])
    progress(f"delta build (skip = 'delta'): generate, golden model on the test split, {options.simulator} "
             f"simulation of the {subset.size} sequences")
    summary["policies"] = _policies(options, qmodel, config, data, subset, cycles, plain, memo)

    if options.synth:
        from .hw.synth.flow import run_synth

        progress(f"synthesis and place-and-route for {options.target} (Yosys, nextpnr)")
        report = run_synth(qmodel, config, options.target, os.path.join(options.outdir, "synth"),
                           progress=lambda message: print(f"      {message}", flush=True))
        res, pnr = report["resources"], report.get("pnr") or {}
        summary.update(target=options.target, luts=res["luts"], ffs=res["ffs"], dsp=res["dsp"], bram=res["bram"],
                       fmax_mhz=pnr.get("fmax_mhz"))

    progress("summary")
    write_text(os.path.join(options.outdir, "summary.json"), json.dumps(summary, indent=2))
    text = summary_markdown(summary)
    write_text(os.path.join(options.outdir, "summary.md"), text)
    print(text)
    return summary


def _simulate(options: DemoOptions, qmodel, subset: Batch, config, theta, predictor: str) -> dict:
    """One RTL run (trace on), saved as ``rtl_<predictor>.npz`` and checked bit for bit."""
    from .sim.backends import run_simulation
    from .sim.compare import first_mismatch

    hw = run_simulation(options.simulator, qmodel, subset, config.replace(trace=True), theta, predictor, 0)
    save_npz(os.path.join(options.outdir, f"rtl_{predictor}.npz"), hw)
    mismatch = first_mismatch(golden_run(qmodel, subset, theta, predictor), hw)
    if mismatch:
        raise MemornnError(f"RTL ({options.simulator}, predictor {predictor}) differs from the golden model: "
                           f"{mismatch}")
    return hw


def _policies(options: DemoOptions, qmodel, config, data, subset: Batch, cycles: dict, plain: dict,
              memo: dict) -> list[dict]:
    """Each hardware policy side by side: setting, test accuracy and MACs skipped (golden
    model, whole test split), RTL cycles and speed-up against ``none`` (simulated sequences);
    the best one marked."""
    from .hw.generate import generate

    delta_config = config.replace(skip="delta")
    generate(qmodel, delta_config, os.path.join(options.outdir, "rtl_delta"))
    opts = options.delta_options()
    delta = golden_run(qmodel, data.test, opts)
    save_npz(os.path.join(options.outdir, "golden_delta.npz"), delta)
    cycles = {**cycles, "delta": int(_simulate(options, qmodel, subset, delta_config, opts, "delta")["cycles"].sum())}
    int_acc = _accuracy(qmodel, plain["h"], data.test, data.y_test)
    rows = []
    for name, build, setting, result in (("none", "memo", "", plain),
                                         ("bnn", "memo", f"threshold {options.threshold}", memo),
                                         ("delta", "delta", f"delta_x {options.delta_x}, delta_h {options.delta_h}",
                                          delta)):
        acc = _accuracy(qmodel, result["h"], data.test, data.y_test)
        rows.append({"policy": name, "build": build, "setting": setting, "accuracy": acc,
                     "accuracy_loss": int_acc - acc, "macs_skipped_percent": _skipped_percent(result),
                     "rtl_cycles": cycles[name], "speedup": cycles["none"] / cycles[name], "best": False})
    eligible = [r for r in rows if r["accuracy_loss"] <= BEST_MAX_LOSS]
    max(eligible, key=lambda r: r["speedup"])["best"] = True  # none (loss 0) is always eligible
    return rows


def policies_markdown(s: dict) -> str:
    """The side-by-side table of the hardware policies."""
    lines = [f"| policy (build) | setting | test accuracy | MACs skipped | RTL cycles ({s['simulated_sequences']} "
             f"sequences) | speed-up |", "|---|---|---|---|---|---|"]
    for r in s["policies"]:
        mark = " **best**" if r["best"] else ""
        lines.append(f"| {r['policy']} ({r['build']}){mark} | {r['setting'] or '-'} | {r['accuracy']:.2f}% | "
                     f"{r['macs_skipped_percent']:.1f}% | {r['rtl_cycles']} | {r['speedup']:.2f}x |")
    return "\n".join(lines) + "\n"


def summary_markdown(s: dict) -> str:
    """The demo's summary table."""
    rows = [
        ("model", os.path.basename(s["model"])),
        ("accuracy: float / integer / memoized", f"{s['float_accuracy']:.2f}% / {s['int_accuracy']:.2f}% / "
                                                 f"{s['memo_accuracy']:.2f}% ({s['test_sequences']} test sequences)"),
        ("threshold, neuron evaluations reused", f"{s['threshold']}, {s['reuse_percent']:.1f}%"),
        (f"cycles without / with memoization ({s['simulated_sequences']} sequences, {s['simulator']})",
         f"{s['cycles_none']} / {s['cycles_bnn']}"),
        ("speed-up", f"{s['speedup']:.2f}x (RTL bit-exact with the golden model)"),
    ]
    if "energy" in s:
        e = s["energy"]
        rows.append(("energy per inference without / with memoization (45 nm model)",
                     f"{e['dense_nj']:.1f} / {e['energy_per_inference_nj']:.1f} nJ: {e['saving_percent']:.1f}% "
                     f"saved net of the predictor's {e['predictor_overhead_percent']:.1f}% (paper, theirs: "
                     f"{e['paper_saving_percent']['MICRO 2019']}%)"))
    if "luts" in s:
        fmax = "n/a" if s["fmax_mhz"] is None else f"{s['fmax_mhz']:.1f} MHz"
        rows.append((f"{s['target']}: LUTs, DSPs, BRAMs, Fmax", f"{s['luts']}, {s['dsp']}, {s['bram']}, {fmax}"))
    lines = ["| | |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]
    text = "\n".join(lines) + "\n"
    if "policies" in s:
        text += ("\nSkip policies side by side (settings chosen on validation data; speed-up against none on the "
                 "memoization build, RTL bit-exact with the golden model):\n\n" + policies_markdown(s))
    return text
