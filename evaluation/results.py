"""Writing and reading sweep results: JSON (everything), CSV (one row per point) and markdown tables."""

from __future__ import annotations

import csv
import json
import os

from ..golden.errors import MemornnError

CSV_FIELDS = ("model", "dataset", "predictor", "threshold", "theta_q88", "reuse_cap", "offsets", "float_accuracy",
              "int_accuracy", "accuracy", "loss", "reuse", "macs_avoided", "val_loss", "val_macs_avoided")


def _open_for_writing(path: str):
    folder = os.path.dirname(path)
    try:
        if folder:
            os.makedirs(folder, exist_ok=True)
        return open(path, "w", newline="")
    except OSError as exc:
        raise MemornnError(f"cannot write {path!r}: {exc.strerror}") from None


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """The lines of a markdown table: ``header``, then one line per row of cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def write_json(results: dict, path: str) -> None:
    """Write ``results`` as indented JSON."""
    with _open_for_writing(path) as f:
        json.dump(results, f, indent=1)
        f.write("\n")


def write_benchmark(folder: str, name: str, results, text: str) -> None:
    """A benchmark's results: ``name.json`` (``results``, as :func:`write_json`) and
    ``name.md`` (``text``) in ``folder``."""
    write_json(results, os.path.join(folder, f"{name}.json"))
    with _open_for_writing(os.path.join(folder, f"{name}.md")) as f:
        f.write(text)


def read_json(path: str) -> dict:
    """Read a results file written by :func:`write_json`."""
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as exc:
        raise MemornnError(f"cannot read {path!r}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise MemornnError(f"{path!r} is not valid JSON ({exc.msg}, line {exc.lineno})") from None


def csv_rows(results: dict) -> tuple[list[str], list[dict]]:
    """CSV header and rows: the fields of :data:`CSV_FIELDS`, then ``reuse_<layer>_<gate>``."""
    gate_cols = []
    for point in results["points"]:
        for layer, gates in point["reuse_by_gate"].items():
            for gate in gates:
                col = f"reuse_{layer}_{gate}"
                if col not in gate_cols:
                    gate_cols.append(col)
    rows = []
    for point in results["points"]:
        row = {k: results[k] for k in ("model", "dataset", "reuse_cap", "offsets", "float_accuracy", "int_accuracy")}
        row.update({k: point[k] for k in ("predictor", "threshold", "theta_q88", "accuracy", "loss", "reuse",
                                          "macs_avoided")})
        row.update({k: point.get(k, "") for k in ("val_loss", "val_macs_avoided")})
        for layer, gates in point["reuse_by_gate"].items():
            row.update({f"reuse_{layer}_{g}": v for g, v in gates.items()})
        rows.append(row)
    return list(CSV_FIELDS) + gate_cols, rows


def write_csv(results: dict, path: str) -> None:
    """Write one CSV row per sweep point (floats with 4 decimals)."""
    header, rows = csv_rows(results)
    with _open_for_writing(path) as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
