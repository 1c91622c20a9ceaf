"""Design-space exploration: configurations x targets x predictors x thresholds, on Dask.

A sweep has two kinds of task, each cached by a content hash so that a sweep can be
resumed and extended without redoing points:

- a *hardware* task per (configuration, target): synthesis and place and route with
  the flow of ``memornn synth`` (or, with ``estimate_only``, the estimator of
  :mod:`memornn.hw.synth.estimate`), giving resources and Fmax;
- a *run* task per (predictor, setting): the golden model on the inputs, giving the
  accuracy (when the inputs carry labels), the reuse, and per configuration whose build
  runs the predictor the cycles and the energy per inference (:mod:`memornn.hw.energy`).
  Cycles come from :mod:`memornn.hw.cycles`: on a memo build exact for predictor none
  and, with bnn, the rows-phase estimate from the golden model's per-step reuse; on a
  delta build (``skip = "delta"``) exact for both none and delta, the latter fed with the
  golden model's per-step used columns.

Every supported point of the product is then one row: resources and Fmax of its
hardware task, cycles, energy and accuracy of its run task for its configuration. A
build runs the predictors of :data:`memornn.sim.settings.HARDWARE_POLICIES` (bnn on
memo builds, delta on delta builds, none on both); other pairs are no points.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sys
from dataclasses import asdict, dataclass

import numpy as np

from . import __version__
from .evaluation.thresholds import list_items
from .golden.errors import MemornnError
from .golden.fileio import write_text
from .golden.inputs import Batch
from .golden.options import RunOptions
from .golden.qmodel import QModel, layer_suffix
from .hw.config import HwConfig
from .sim.settings import HARDWARE_POLICIES

#: Configuration keys a sweep may vary, with how their values are read.
SWEEP_KEYS = {"mac_lanes": int, "bnn_width": int, "max_seq_len": int, "row_fifo_depth": int,
              "datapath": str, "weight_memory": str, "skip": str}

#: Predictors with a hardware cost model (each runs on the builds of ``HARDWARE_POLICIES``).
DSE_PREDICTORS = ("none", "bnn", "delta")

#: Columns of ``results.csv``, in order.
COLUMNS = ("cell", "input_size", "hidden_size", "num_layers", "directions", "target", "skip", "mac_lanes",
           "bnn_width", "datapath", "weight_memory", "max_seq_len", "predictor", "threshold", "delta_x", "delta_h",
           "source", "fits", "luts", "ffs", "dsps", "brams", "fmax_mhz", "cycles_per_step", "us_per_step", "speedup",
           "energy_nj", "accuracy", "accuracy_loss", "reuse_percent", "macs_skipped_percent", "error")


@dataclass(frozen=True)
class Run:
    """One golden-model run of a sweep: a predictor and its setting (bnn: ``threshold``;
    delta: ``delta_x`` and ``delta_h``, int8 units, every layer; none: ``threshold`` 0)."""

    predictor: str
    threshold: float | None = None
    delta_x: int | None = None
    delta_h: int | None = None

    def options(self) -> RunOptions:
        if self.predictor == "delta":
            return RunOptions.parse("delta", delta_x=self.delta_x, delta_h=self.delta_h)
        return RunOptions.parse(self.predictor, threshold=None if self.predictor == "none" else self.threshold)


def supports(config: HwConfig, predictor: str) -> bool:
    """Whether ``config``'s build (its ``skip`` datapath) runs ``predictor``."""
    return predictor in HARDWARE_POLICIES[config.skip]


@dataclass(frozen=True)
class Sweep:
    """What a sweep covers: every supported (configuration, target, run) is one point.

    ``thresholds`` are bnn's; ``deltas`` the ``(delta_x, delta_h)`` pairs of delta."""

    configs: tuple
    targets: tuple
    predictors: tuple
    thresholds: tuple
    deltas: tuple = ()

    def __post_init__(self):
        for predictor in self.predictors:
            if not any(supports(c, predictor) for c in self.configs):
                skips = sorted({c.skip for c in self.configs})
                runs = "; ".join(f"skip = {s} runs {', '.join(HARDWARE_POLICIES[s])}" for s in skips)
                raise MemornnError(f"predictor {predictor!r} runs on no swept build ({runs}); sweep a build that "
                                   f"runs it (e.g. --sweep skip=memo,delta) or drop it from --predictor")

    @property
    def runs(self) -> list[Run]:
        """The runs: predictor none once (threshold 0), bnn per threshold, delta per pair."""
        out = [Run("none", 0.0)] if "none" in self.predictors else []
        out += [Run("bnn", t) for t in self.thresholds] if "bnn" in self.predictors else []
        out += [Run("delta", None, dx, dh) for dx, dh in self.deltas] if "delta" in self.predictors else []
        return out

    @property
    def hardware(self) -> list[tuple[HwConfig, str]]:
        return [(c, t) for c in self.configs for t in self.targets]

    def configs_of(self, run: Run) -> list[HwConfig]:
        """The swept configurations whose build runs ``run``'s predictor."""
        return [c for c in self.configs if supports(c, run.predictor)]

    def __len__(self) -> int:
        return len(self.targets) * sum(len(self.configs_of(r)) for r in self.runs)


def _sweep_value(key: str, text: str):
    kind = SWEEP_KEYS[key]
    if kind is int:
        try:
            value = int(text)
        except ValueError:
            raise MemornnError(f"sweep {key}: {text!r} is not an integer") from None
    else:
        value = text
    HwConfig(**{key: value})  # the configuration's own range check names the bad value
    return value


def parse_sweeps(items: list[str] | None, dropped: list | None = None) -> tuple[HwConfig, ...]:
    """Configurations from ``--sweep key=v1,v2`` items (their product; defaults for the rest).

    A combination the configuration refuses although each value is valid (``skip =
    "delta"`` with ``datapath = "shared"``) is left out, its reason appended to ``dropped``.

    Raises
    ------
    MemornnError
        On a malformed item, an unknown or repeated key, an empty or bad value, or when
        no combination is a valid configuration.
    """
    axes = {}
    for item in items or []:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep:
            raise MemornnError(f"sweep {item!r} must be key=value[,value...] (e.g. mac_lanes=4,8)")
        if key not in SWEEP_KEYS:
            raise MemornnError(f"unknown sweep key {key!r} (one of {', '.join(SWEEP_KEYS)})")
        if key in axes:
            raise MemornnError(f"sweep key {key!r} is given twice")
        parts = [v.strip() for v in values.split(",")]
        if not values.strip() or any(not v for v in parts):
            raise MemornnError(f"sweep {key} has an empty value in {values!r}")
        axes[key] = list(dict.fromkeys(_sweep_value(key, v) for v in parts))
    combos = [{}]
    for key, values in axes.items():
        combos = [{**c, key: v} for c in combos for v in values]
    configs, reasons = [], []
    for combo in combos:
        try:
            configs.append(HwConfig(**combo))
        except MemornnError as exc:
            reasons.append(str(exc))
    if not configs:
        raise MemornnError(f"no swept combination is a valid configuration: {reasons[0]}")
    if dropped is not None:
        dropped += reasons
    return tuple(configs)


def parse_int_list(spec: str | None, flag: str) -> tuple[int, ...]:
    """Integers from comma-separated items, each a number or ``start:stop:step`` (stop
    included): ``0,4``, ``8:24:8``; sorted, duplicates dropped."""
    items = list_items(spec, flag)
    values = []
    for item in items:
        try:
            parts = [int(p) for p in item.split(":")]
        except ValueError:
            raise MemornnError(f"{flag} {item!r} is not an integer or start:stop:step") from None
        if len(parts) == 3 and parts[2] > 0 and parts[1] >= parts[0]:
            values += range(parts[0], parts[1] + 1, parts[2])
        elif len(parts) == 1:
            values += parts
        else:
            raise MemornnError(f"{flag} {item!r}: a range is start:stop:step with step > 0 and stop >= start")
    return tuple(sorted(set(values)))


def parse_deltas(delta_x: str | None, delta_h: str | None, predictors: tuple) -> tuple:
    """The ``(delta_x, delta_h)`` pairs of predictor delta: the product of the two lists.

    Raises
    ------
    MemornnError
        If delta is swept without both lists, a list is given without delta, or a value
        is out of the registers' range (the run options' own check names it).
    """
    if "delta" not in predictors:
        given = [flag for flag, v in (("--delta-x", delta_x), ("--delta-h", delta_h)) if v is not None]
        if given:
            raise MemornnError(f"{given[0]} is given but --predictor has no delta")
        return ()
    if delta_x is None or delta_h is None:
        raise MemornnError("predictor delta needs --delta-x and --delta-h (int8 units, swept as a product, "
                           "e.g. --delta-x 0,4 --delta-h 8,16,24)")
    pairs = [(dx, dh) for dx in parse_int_list(delta_x, "--delta-x") for dh in parse_int_list(delta_h, "--delta-h")]
    for dx, dh in pairs:
        RunOptions.parse("delta", delta_x=dx, delta_h=dh)
    return tuple(pairs)


def parse_list(spec: str, allowed: tuple, what: str) -> tuple:
    """A comma list of names, each in ``allowed``, duplicates dropped."""
    names = list_items(spec, what)
    for name in names:
        if name not in allowed:
            raise MemornnError(f"unknown {what} {name!r} (one of {', '.join(allowed)})")
    return tuple(dict.fromkeys(names))


def digest(*parts) -> str:
    """A content hash of JSON-able parts and bytes."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


def source_digest(*packages: str) -> str:
    """Hash of the Python sources of memornn sub-packages: a code change invalidates the cache."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    h = hashlib.sha256()
    for package in packages:
        for folder, _, files in sorted(os.walk(os.path.join(root, package))):
            for name in sorted(files):
                if name.endswith((".py", ".toml", ".json", ".v")):
                    with open(os.path.join(folder, name), "rb") as f:
                        h.update(name.encode() + f.read())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- tasks


def hardware_task(model: QModel, config: dict, target: str, outdir: str | None, estimate_only: bool) -> dict:
    """Resources and Fmax of one (configuration, target): synthesis or the estimator."""
    from .hw.config import config_from_dict

    cfg = config_from_dict(config)
    try:
        if estimate_only:
            from .hw.synth.estimate import estimate

            return {"source": "estimate", "fits": True, **estimate(model, cfg, target)}
        from .hw.synth.flow import run_synth

        report = run_synth(model, cfg, target, outdir)
    except MemornnError as exc:
        return {"source": "estimate" if estimate_only else "synth", "fits": False, "error": str(exc)}
    res, pnr = report["resources"], report.get("pnr") or {}
    return {"source": "synth", "fits": True, "luts": res["luts"], "ffs": res["ffs"], "dsps": res["dsp"],
            "brams": res["bram"], "fmax_mhz": pnr.get("fmax_mhz")}


def _layer_masks(result: dict, model: QModel, kind: str = "reused") -> list[np.ndarray]:
    return [np.asarray(result[kind + layer_suffix(k, d)]) for k in range(model.num_layers)
            for d in range(model.directions)]


def delta_used_columns(result: dict, model: QModel, lengths: np.ndarray) -> list[list[np.ndarray]]:
    """Per sequence, per layer direction: the used columns of each step in processing
    order (a reverse direction walks its sequence backwards), from the golden ``columns_l*``."""
    masks = _layer_masks(result, model, "columns")
    out = []
    for i, n in enumerate(lengths):
        per_ld = []
        for ld, mask in enumerate(masks):
            used = mask[i, :int(n)].sum(axis=1)
            per_ld.append(used[::-1] if ld % model.directions else used)
        out.append(per_ld)
    return out


def run_cycles(model: QModel, config: HwConfig, batch: Batch, result: dict, predictor: str) -> int:
    """Core cycles of the batch. A memo build: exact with predictor none; with bnn each
    step's rows phase from the golden model's reuse (the busier of the MAC and BNN lanes,
    plus the fill). A delta build: exact for both, every column used every step with
    none, the golden model's used columns with delta."""
    from .hw.cycles import (Latencies, mac_cycles_per_row, rows_cycles_memo_estimate, sequence_cycles_delta,
                            sequence_cycles_delta_dense, step_cycles_none)
    from .hw.layout import make_layout

    layout = make_layout(model, config)
    if config.skip == "delta":
        if predictor == "none":
            return sum(sequence_cycles_delta_dense(layout, int(n)) for n in batch.lengths)
        return sum(sequence_cycles_delta(layout, used) for used in delta_used_columns(result, model, batch.lengths))
    lat = Latencies.of(layout)
    active = np.arange(batch.x.shape[1])[None, :] < batch.lengths[:, None]
    total = 0
    for desc, mask in zip(layout.layers, _layer_masks(result, model)):
        step = step_cycles_none(layout, desc, lat)
        total += len(batch.lengths) + int(active.sum()) * step
        if predictor == "none":
            continue
        dense_rows = layout.rows * mac_cycles_per_row(desc) + lat.rows_fill
        computed = layout.rows - mask.sum(axis=2)[active]
        memo_rows = sum(rows_cycles_memo_estimate(layout, desc, int(c)) for c in computed)
        total += memo_rows - int(active.sum()) * dense_rows
    return total


def run_task(model: QModel, batch: Batch, labels, run: Run, configs: list[dict]) -> dict:
    """The golden model with one run: accuracy, reuse, and per configuration (each one
    whose build runs the predictor) the cycles and the energy per inference."""
    from .golden.floatref import apply_head, last_outputs
    from .golden.intmodel import golden_run
    from .hw.config import config_from_dict
    from .hw.energy import energy_report, load_table
    from .hw.layout import make_layout

    result = golden_run(model, batch, run.options())
    total = int(result["neurons_computed"].sum() + result["neurons_reused"].sum())
    out = {"reuse_percent": 100 * float(result["neurons_reused"].sum()) / total if total else 0.0,
           "accuracy": None, "per_config": {}}
    macs = int(result["macs"].sum() + result["macs_skipped"].sum())  # delta skips MACs, not rows
    out["macs_skipped_percent"] = 100 * float(result["macs_skipped"].sum()) / macs if macs else 0.0
    if labels is not None and model.head_weight is not None:
        scores = apply_head(model, last_outputs(result["h"], batch.lengths))
        out["accuracy"] = float(100 * np.mean(np.argmax(scores, axis=1) == labels))
    table = load_table()
    for config in configs:
        cfg = config_from_dict(config)
        energy = energy_report(result, make_layout(model, cfg), run.predictor, batch.lengths, table)
        out["per_config"][digest(config)] = {"cycles": run_cycles(model, cfg, batch, result, run.predictor),
                                             "energy_nj": energy["energy_per_inference_nj"]}
    return out


# ----------------------------------------------------------------------------- rows


def point_rows(model: QModel, sweep: Sweep, hardware: dict, runs: dict, steps: int) -> list[dict]:
    """One row per supported point from the finished tasks (keys: ``(config, target)``,
    :class:`Run`); ``speedup`` and ``accuracy_loss`` against predictor none on the same build."""
    shape = {"cell": model.cell, "input_size": model.input_size, "hidden_size": model.hidden_size,
             "num_layers": model.num_layers, "directions": model.directions}
    rows = []
    dense = runs.get(Run("none", 0.0))
    for config, target in sweep.hardware:
        hw = hardware[(config, target)]
        ckey = digest(config.to_dict())
        for run in sweep.runs:
            if not supports(config, run.predictor):
                continue
            result = runs[run]
            per = result["per_config"][ckey]
            row = {**shape, "target": target, **{k: getattr(config, k) for k in
                                        ("skip", "mac_lanes", "bnn_width", "datapath", "weight_memory", "max_seq_len")},
                   **asdict(run), **{k: hw.get(k) for k in
                   ("source", "fits", "luts", "ffs", "dsps", "brams", "fmax_mhz", "error")},
                   "cycles_per_step": per["cycles"] / steps, "energy_nj": per["energy_nj"],
                   "accuracy": result["accuracy"], "reuse_percent": result["reuse_percent"],
                   "macs_skipped_percent": result["macs_skipped_percent"]}
            fmax = hw.get("fmax_mhz")
            row["us_per_step"] = row["cycles_per_step"] / fmax if fmax else None
            if dense is not None:
                row["speedup"] = dense["per_config"][ckey]["cycles"] / per["cycles"]
                if result["accuracy"] is not None and dense["accuracy"] is not None:
                    row["accuracy_loss"] = dense["accuracy"] - result["accuracy"]
            rows.append(row)
    return rows


def csv_text(rows: list[dict]) -> str:
    """``results.csv``: the columns of :data:`COLUMNS`, empty where a value is missing."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in COLUMNS})
    return buf.getvalue()


def pareto(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats in both coordinates (both minimised)."""
    order = sorted(range(len(points)), key=lambda i: points[i])
    front, best = [], float("inf")
    for i in order:
        if points[i][1] < best:
            front.append(i)
            best = points[i][1]
    return front


def progress_bar(total: int, enabled: bool):
    """A tqdm bar on stderr (``tqdm`` comes with the ``dse`` extra)."""
    from tqdm import tqdm

    return tqdm(total=total, file=sys.stderr, disable=not enabled, unit="task", desc="dse")


# ----------------------------------------------------------------------------- running


class Cache:
    """Finished tasks as JSON files named by their content hash (``DIR/cache/``)."""

    def __init__(self, folder: str):
        self.folder = folder

    def path(self, key: str) -> str:
        return os.path.join(self.folder, f"{key}.json")

    def get(self, key: str):
        try:
            with open(self.path(key)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def put(self, key: str, value: dict) -> None:
        write_text(self.path(key), json.dumps(value), "dse cache entry")


def open_client(scheduler: str | None, workers: int):
    """A Dask client: on ``scheduler`` (``tcp://HOST:PORT``) or on a local cluster of
    ``workers`` processes (one thread each: synthesis and NumPy use a core apiece)."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise MemornnError("memornn dse needs Dask: install the dse extra (scripts/setup --extras dse)") from None
    if scheduler:
        try:
            return Client(scheduler, timeout="5s"), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise MemornnError(f"cannot reach the Dask scheduler {scheduler!r}: {exc}") from None
    # The scheduler's HTTP server listens anyway: on a free port, not 8787 (another cluster may hold it).
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")
    return Client(cluster), cluster


@dataclass
class Inputs:
    """What every task of a sweep shares."""

    model: QModel
    model_bytes: bytes
    batch: Batch
    labels: np.ndarray | None
    inputs_bytes: bytes


def task_keys(inputs: Inputs, sweep: Sweep, tools: dict, estimate_only: bool) -> tuple[dict, dict]:
    """Content hashes of every hardware and run task."""
    hw_version = {"memornn": __version__, "hw": source_digest("hw", "golden"), "tools": tools}
    hw_keys = {(c, t): digest("hw", inputs.model_bytes, c.to_dict(), t, estimate_only, hw_version)
               for c, t in sweep.hardware}
    run_version = {"memornn": __version__, "src": source_digest("golden", "hw")}
    run_keys = {}
    for run in sweep.runs:
        configs = sorted(json.dumps(c.to_dict(), sort_keys=True) for c in sweep.configs_of(run))
        run_keys[run] = digest("run", inputs.model_bytes, inputs.inputs_bytes, asdict(run), configs, run_version)
    return hw_keys, run_keys


def run_sweep(inputs: Inputs, sweep: Sweep, outdir: str, client, estimate_only: bool, tools: dict,
              progress: bool = True) -> list[dict]:
    """Every point of ``sweep``: cached tasks are read back, the rest run on ``client``."""
    from dask.distributed import as_completed

    cache = Cache(os.path.join(outdir, "cache"))
    hw_keys, run_keys = task_keys(inputs, sweep, tools, estimate_only)
    # Estimates take microseconds: made here, never cached or sent to the cluster.
    done_hw = {k: (hardware_task(inputs.model, k[0].to_dict(), k[1], None, True) if estimate_only
                   else cache.get(key)) for k, key in hw_keys.items()}
    done_runs = {k: cache.get(key) for k, key in run_keys.items()}
    todo = {}
    model_f = batch_f = None
    bar = progress_bar(len(hw_keys) + len(run_keys), progress)
    if any(v is None for v in list(done_hw.values()) + list(done_runs.values())):
        model_f = client.scatter(inputs.model, broadcast=True)
        batch_f = client.scatter(inputs.batch, broadcast=True)
    for (config, target), value in done_hw.items():
        if value is None:
            folder = os.path.join(outdir, "synth", hw_keys[(config, target)])
            fut = client.submit(hardware_task, model_f, config.to_dict(), target, folder, estimate_only,
                                pure=False)
            todo[fut] = ("hw", (config, target))
    for run, value in done_runs.items():
        if value is None:
            configs = [c.to_dict() for c in sweep.configs_of(run)]
            fut = client.submit(run_task, model_f, batch_f, inputs.labels, run, configs, pure=False)
            todo[fut] = ("run", run)
    tasks = len(run_keys) + (0 if estimate_only else len(hw_keys))  # estimates are no tasks
    print(f"dse: {tasks - len(todo)} tasks cached, {len(todo)} to run", file=sys.stderr, flush=True)
    bar.update(len(hw_keys) + len(run_keys) - len(todo))
    for fut in as_completed(list(todo)):
        kind, key = todo[fut]
        value = fut.result()
        if kind == "hw":
            done_hw[key] = value
            cache.put(hw_keys[key], value)
        else:
            done_runs[key] = value
            cache.put(run_keys[key], value)
        bar.update(1)
    bar.close()
    return point_rows(inputs.model, sweep, done_hw, done_runs, int(inputs.batch.lengths.sum()))


# ----------------------------------------------------------------------------- outputs

#: The Pareto plots: file, x column, y column, axis labels (both minimised).
PLOTS = (("pareto_us_luts.png", "luts", "us_per_step", "LUTs", "us per step"),
         ("pareto_energy_luts.png", "luts", "energy_nj", "LUTs", "energy per inference (nJ)"),
         ("pareto_loss_speedup.png", "neg_speedup", "accuracy_loss", "speed-up against predictor none",
          "accuracy loss (points)"))


def _series(row: dict, skips: set) -> str:
    """A plot series: the target, and the build when the sweep has several."""
    return f"{row['target']} {row['skip']}" if len(skips) > 1 else row["target"]


def _plot(path: str, rows: list[dict], xcol: str, ycol: str, xlabel: str, ylabel: str) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def x_of(row):
        if xcol == "neg_speedup":
            return None if row.get("speedup") is None else -row["speedup"]
        return row.get(xcol)

    usable = [r for r in rows if x_of(r) is not None and r.get(ycol) is not None]
    if not usable:
        return False
    pts = [(x_of(r), r[ycol]) for r in usable]
    front = pareto(pts)
    skips = {r["skip"] for r in usable}
    fig, ax = plt.subplots(figsize=(6, 4))
    for series in sorted({_series(r, skips) for r in usable}):
        mine = [(x, y) for (x, y), r in zip(pts, usable) if _series(r, skips) == series]
        ax.scatter([abs(x) if xcol == "neg_speedup" else x for x, _ in mine], [y for _, y in mine], s=14, alpha=0.6,
                   label=series)
    fx = [abs(pts[i][0]) if xcol == "neg_speedup" else pts[i][0] for i in front]
    ax.plot(fx, [pts[i][1] for i in front], "k.-", lw=1, label="Pareto front")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_outputs(outdir: str, rows: list[dict]) -> list[str]:
    """``results.csv``, ``results.json`` and the Pareto plots; returns the files written."""
    os.makedirs(outdir, exist_ok=True)
    written = []
    for name, text in (("results.csv", csv_text(rows)), ("results.json", json.dumps(rows, indent=1))):
        write_text(os.path.join(outdir, name), text)
        written.append(name)
    for name, xcol, ycol, xlabel, ylabel in PLOTS:
        if _plot(os.path.join(outdir, name), rows, xcol, ycol, xlabel, ylabel):
            written.append(name)
    return written
