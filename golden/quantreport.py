"""The calibration report: where and why quantization hurt, measured on the calibration set.

:func:`calibration_report` runs the float model and the integer model (predictor none)
side by side on the calibration inputs and returns, per layer and direction:

- ``dead_features``: input features (layer 0: the model's inputs; later layers: the
  previous layer's h units) that are 0 on every calibration step, and
  ``constant_features``: the others whose calibration range ``max - min`` is at most
  ``CONSTANT_SPREAD`` of their largest magnitude (index and value);
- ``sqnr_db``: the signal-to-quantization-noise ratio of the pre-activations of each
  gate (PyTorch's names: LSTM i, f, g, o; GRU r, z, n) and of h,
  ``10 log10(sum float^2 / sum (int - float)^2)`` over every calibration step, the
  float pre-activations clipped to Q3.12's [-8, 8) (the integer model saturates there,
  where sigmoid and tanh are flat). Both models run their own recurrence, so the noise
  includes what accumulates over time;
- ``worst_rows``: the gate-neuron rows with the largest RMS pre-activation error, with
  their weight scale relative to the min-max scale (``clip``: below 1 the row was
  clipped) and the number of their weights that saturate;
- ``rows_clipped``: how many rows the weight search clipped;

and for the last layer's output (``output``): the largest and mean ``|h_int - h_float|``,
its SQNR, and with a classifier head the agreement of the integer model's class with the
float model's on the calibration sequences.
"""

from __future__ import annotations

import numpy as np

from . import numerics as nx
from .floatmodel import FloatModel
from .floatref import apply_head, float_forward, last_outputs
from .inputs import Batch, quantize_inputs
from .intmodel import golden_run
from .qmodel import QModel
from .quantize import H_SCALE, PRE_LIMIT, previous_h, row_values

GATE_NAMES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
#: A live feature is reported constant when its calibration range is at most this
#: fraction of its largest magnitude.
CONSTANT_SPREAD = 1e-3
PRE_SCALE = 2.0**-nx.PRE_FRAC


def sqnr_db(reference: np.ndarray, value: np.ndarray) -> float | None:
    """``10 log10(sum ref^2 / sum (value - ref)^2)``; None (infinite) when they are equal."""
    noise = float(np.sum((value - reference) ** 2))
    signal = float(np.sum(reference**2))
    if noise == 0:
        return None
    return round(10 * np.log10(max(signal, 1e-300) / noise), 2)


def feature_flags(values: np.ndarray) -> tuple[list, list]:
    """Dead (always 0) feature indices and near-constant ``[index, value]`` pairs of (steps, F)."""
    peak = np.abs(values).max(axis=0)
    spread = values.max(axis=0) - values.min(axis=0)
    dead = [int(j) for j in np.flatnonzero(peak == 0)]
    const = [[int(j), float(values[0, j])] for j in np.flatnonzero((peak > 0) & (spread <= CONSTANT_SPREAD * peak))]
    return dead, const


def _sigmoid(v):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-v))


def _float_pre(p, cell: str, x: np.ndarray, h_prev: np.ndarray, hidden: int) -> np.ndarray:
    """Float pre-activations (steps, G*H); the GRU candidate's is ``W_in x + b_in + r (W_hn h + b_hn)``."""
    gi = x @ p.w_ih.T + p.b_ih
    gh = h_prev @ p.w_hh.T + p.b_hh
    if cell == "lstm":
        return gi + gh
    pre = gi + gh
    r = _sigmoid(pre[:, :hidden])
    pre[:, 2 * hidden:] = gi[:, 2 * hidden:] + r * gh[:, 2 * hidden:]
    return pre


def _int_pre(q, cell: str, x_q: np.ndarray, h_prev_q: np.ndarray, hidden: int, segments: int) -> np.ndarray:
    """Integer pre-activations (steps, G*H) as the golden model computes them, dequantized."""
    in_size = x_q.shape[1]
    # float64 products of integers below 2**53 are exact (and BLAS-fast, unlike int64's)
    acc_x = (x_q.astype(np.float64) @ q.weight[:, :in_size].T.astype(np.float64)).astype(np.int64)
    acc_h = (h_prev_q.astype(np.float64) @ q.weight[:, in_size:].T.astype(np.float64)).astype(np.int64)
    if cell == "lstm":
        return nx.requantize(acc_x + acc_h + q.bias, q.mult, q.shift) * PRE_SCALE
    cand = slice(2 * hidden, 3 * hidden)
    acc = acc_x + acc_h
    acc[:, cand] = acc_x[:, cand]
    pre = nx.requantize(acc + q.bias, q.mult, q.shift)
    n_hn = nx.requantize(acc_h[:, cand] + q.bias_hn, q.mult[cand], q.shift[cand])
    r = nx.pwl_sigmoid(pre[:, :hidden], segments)
    pre[:, cand] = nx.gru_candidate_pre(pre[:, cand], n_hn, r)
    return pre * PRE_SCALE


def _valid(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    return values[np.arange(values.shape[1])[None, :] < lengths[:, None]]


def _rows_report(p, q, in_scale, err: np.ndarray, ref: np.ndarray, cell: str, hidden: int, worst: int) -> dict:
    v = row_values(p, in_scale)
    minmax = np.abs(v).max(axis=1) / nx.WEIGHT_MAX
    scale = q.mult / 2.0 ** q.shift.astype(np.float64) * PRE_SCALE
    clip = np.where(minmax > 0, scale / np.where(minmax > 0, minmax, 1.0), 1.0)
    saturated = (np.abs(v) > (nx.WEIGHT_MAX + 0.5) * scale[:, None]).sum(axis=1)
    rms = np.sqrt(np.mean(err**2, axis=0))
    order = np.argsort(-rms, kind="stable")[:worst]
    names = GATE_NAMES[cell]
    rows = [{"row": int(r), "gate": names[r // hidden], "unit": int(r % hidden), "rms_error": round(float(rms[r]), 5),
             "rms_float": round(float(np.sqrt(np.mean(ref[:, r] ** 2))), 5), "clip": round(float(clip[r]), 3),
             "saturated_weights": int(saturated[r])} for r in order]
    return {"worst_rows": rows, "rows_clipped": int(np.sum(clip < 0.999))}


def _direction_report(model, qmodel, k, d, float_in, float_h, int_in, int_h, lengths, worst) -> dict:
    hidden = model.hidden_size
    p, q = model.layers[k][d], qmodel.layers[k][d]
    reverse = bool(d)
    x_f, x_q = _valid(float_in, lengths), _valid(int_in, lengths)
    h_f = _valid(previous_h(float_h, lengths, reverse), lengths)
    h_q = _valid(previous_h(int_h, lengths, reverse), lengths)
    # beyond Q3.12's [-8, 8) the integer model saturates, and sigmoid and tanh are flat
    ref = np.clip(_float_pre(p, model.cell, x_f, h_f, hidden), -PRE_LIMIT, PRE_LIMIT)
    got = _int_pre(q, model.cell, x_q, h_q, hidden, qmodel.pwl_segments)
    names = GATE_NAMES[model.cell]
    sqnr = {g: sqnr_db(ref[:, i * hidden:(i + 1) * hidden], got[:, i * hidden:(i + 1) * hidden])
            for i, g in enumerate(names)}
    sqnr["h"] = sqnr_db(_valid(float_h, lengths), _valid(int_h, lengths) * H_SCALE)
    dead, const = feature_flags(x_f)
    in_scale = qmodel.input_scale if k == 0 else np.full(x_f.shape[1], H_SCALE)
    entry = {"layer": k, "direction": "reverse" if d else "forward", "dead_features": dead,
             "constant_features": const, "sqnr_db": sqnr}
    entry.update(_rows_report(p, q, in_scale, got - ref, ref, model.cell, hidden, worst))
    return entry


def calibration_report(model: FloatModel, qmodel: QModel, calibration: Batch, worst: int = 5) -> dict:
    """Compare ``qmodel`` with ``model`` on ``calibration`` (see the module docstring).

    Returns
    -------
    dict
        ``layers`` (a list, one entry per layer direction) and ``output``; JSON-ready.
    """
    lengths = calibration.lengths
    _, float_outs = float_forward(model, calibration, return_layers=True)
    int_outs = [golden_run(QModel(qmodel.cell, qmodel.hidden_size, qmodel.layers[:k + 1], qmodel.input_scale,
                                  qmodel.pwl_segments), calibration, 0.0, "none")["h_int"]
                for k in range(qmodel.num_layers)]
    hidden = model.hidden_size
    entries = []
    for k in range(model.num_layers):
        float_in = calibration.x if k == 0 else float_outs[k - 1]
        int_in = quantize_inputs(calibration.x, qmodel.input_scale) if k == 0 else int_outs[k - 1]
        for d in range(model.directions):
            part = slice(d * hidden, (d + 1) * hidden)
            entries.append(_direction_report(model, qmodel, k, d, float_in, float_outs[k][:, :, part], int_in,
                                             int_outs[k][:, :, part], lengths, worst))
    h_f = _valid(float_outs[-1], lengths)
    h_q = _valid(int_outs[-1], lengths) * H_SCALE
    diff = np.abs(h_q - h_f)
    output = {"max_abs_diff": round(float(diff.max()), 5), "mean_abs_diff": round(float(diff.mean()), 6),
              "sqnr_db": sqnr_db(h_f, h_q)}
    if model.head_weight is not None:
        f_cls = apply_head(model, last_outputs(float_outs[-1], lengths)).argmax(axis=1)
        q_cls = apply_head(model, last_outputs(int_outs[-1] * H_SCALE, lengths)).argmax(axis=1)
        output["class_agreement_percent"] = round(100.0 * float(np.mean(f_cls == q_cls)), 2)
    return {"calibration_sequences": int(calibration.size), "calibration_steps": int(lengths.sum()),
            "layers": entries, "output": output}


def summary_lines(report: dict) -> list[str]:
    """A few lines for the terminal: per layer direction the SQNRs and flagged features, then the output."""
    lines = []
    for e in report["layers"]:
        sq = " ".join(f"{g} {'inf' if v is None else f'{v:.1f}'}" for g, v in e["sqnr_db"].items())
        flags = []
        if e["dead_features"]:
            flags.append(f"{len(e['dead_features'])} dead features {_short(e['dead_features'])}")
        if e["constant_features"]:
            flags.append(f"{len(e['constant_features'])} constant features "
                         f"{_short([j for j, _ in e['constant_features']])}")
        if e["rows_clipped"]:
            flags.append(f"{e['rows_clipped']} rows clipped")
        worst = e["worst_rows"][0] if e["worst_rows"] else None
        if worst:
            flags.append(f"worst row {worst['gate']}{worst['unit']} (rms error {worst['rms_error']:.4f})")
        lines.append(f"layer {e['layer']}{' reverse' if e['direction'] == 'reverse' else ''}: SQNR dB {sq}"
                     + (f"; {'; '.join(flags)}" if flags else ""))
    out = report["output"]
    sq = "inf" if out["sqnr_db"] is None else f"{out['sqnr_db']:.1f}"
    text = f"output vs float: max |diff| {out['max_abs_diff']:.4f}, mean {out['mean_abs_diff']:.5f}, SQNR {sq} dB"
    if "class_agreement_percent" in out:
        text += f", class agreement {out['class_agreement_percent']:.2f}%"
    lines.append(text)
    return lines


def _short(indices: list, most: int = 8) -> str:
    shown = ",".join(map(str, indices[:most]))
    return f"[{shown}{',...' if len(indices) > most else ''}]"
