"""The sweep figure: reuse and accuracy loss against the threshold (the paper's Figure 1 shape)."""

from __future__ import annotations

import os

from ..golden.errors import MemornnError

COLORS = {"bnn": "tab:blue", "oracle": "tab:orange"}
#: Top of the loss axis (points): larger losses run off the plot.
LOSS_AXIS_MAX = 10.0


def plot_sweep(results: dict, path: str, max_loss: float | None = 1.0) -> None:
    """Write a PNG: reuse (%, solid, left axis) and accuracy loss (points, dashed, right
    axis, cut at :data:`LOSS_AXIS_MAX`) against theta, one colour per predictor; a dotted
    line at ``max_loss``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), dpi=120)
    ax = fig.add_subplot(1, 1, 1)
    ax_loss = ax.twinx()
    for predictor in dict.fromkeys(p["predictor"] for p in results["points"]):
        pts = [p for p in results["points"] if p["predictor"] == predictor]
        theta = [p["threshold"] for p in pts]
        color = COLORS.get(predictor, None)
        ax.plot(theta, [p["reuse"] for p in pts], "-o", ms=3, color=color, label=f"reuse ({predictor})")
        ax_loss.plot(theta, [p["loss"] for p in pts], "--s", ms=3, color=color, label=f"accuracy loss ({predictor})")
    if max_loss is not None:
        ax_loss.axhline(max_loss, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("threshold θ")
    ax.set_ylabel("neuron evaluations reused (%)")
    ax_loss.set_ylabel("accuracy loss (points vs. integer model)")
    ax.set_ylim(bottom=0)
    losses = [p["loss"] for p in results["points"]]
    low, high = min([0.0] + losses), max([0.0] + losses)
    if high > LOSS_AXIS_MAX:  # keep the region near the loss budget readable
        ax_loss.set_ylabel(f"accuracy loss (points; axis cut at {LOSS_AXIS_MAX:g})")
    ax_loss.set_ylim(low - 0.5, min(high, LOSS_AXIS_MAX) + 0.5)
    lines = ax.get_legend_handles_labels()
    lines_loss = ax_loss.get_legend_handles_labels()
    ax.legend(lines[0] + lines_loss[0], lines[1] + lines_loss[1], loc="upper left", fontsize=8)
    flags = [] if results.get("offsets", True) else ["no offsets"]
    if results.get("reuse_cap"):
        flags.append(f"cap {results['reuse_cap']}")
    ax.set_title(f"{results['model']} ({results['dataset']}): float {results['float_accuracy']:.1f} %, "
                 f"int {results['int_accuracy']:.1f} %" + (f" [{', '.join(flags)}]" if flags else ""), fontsize=9)
    save_figure(fig, ax, path)


def save_figure(fig, ax, path: str) -> None:
    """Grid, tight layout, and write the PNG (creating its folder); a one-line error if it cannot."""
    ax.grid(alpha=0.3)
    fig.tight_layout()
    folder = os.path.dirname(path)
    try:
        if folder:
            os.makedirs(folder, exist_ok=True)
        fig.savefig(path)
    except OSError as exc:
        raise MemornnError(f"cannot write {path!r}: {exc.strerror}") from None
