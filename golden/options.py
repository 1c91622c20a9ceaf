"""Run options of the golden model: the skip policy and its parameters, parsed once.

:class:`RunOptions` is the typed form of everything a run's skipping depends on. It is
built and checked once (:meth:`RunOptions.parse` from command-line text, Python
values or a settings file) and passed down as is; :meth:`RunOptions.for_model` checks
it against a model and gives each layer's integer register values
(:class:`LayerPolicy`).

Which parameters a policy reads (others must be left unset):

=========  =====================================================================
policy     parameters
=========  =====================================================================
none       (none)
bnn        ``threshold`` (relative, Q8.8; default 0.2), ``reuse_cap``
oracle     ``threshold`` (relative, Q8.8; default 0.2), ``reuse_cap``
delta      ``delta_x``, ``delta_h`` (int8 units)
sign       ``threshold`` (absolute, gate-output units), ``reuse_cap``, ``row_weights``
hybrid     ``delta_x``, ``delta_h``, ``threshold`` (as sign), ``reuse_cap``, ``row_weights``
=========  =====================================================================

The semantics of each policy are in :mod:`.intmodel`'s docstring.

Settings file
-------------
The file ``memornn tune`` writes and ``memornn golden --settings`` (and ``simulate``,
``generate``) reads: TOML, three tables.

``[model]`` (required), the fingerprint of the model the settings were chosen for; a
file for another model shape is refused::

    cell = "lstm"          # "lstm" or "gru"
    input_size = 12        # X of layer 0
    hidden_size = 64       # H
    num_layers = 1
    directions = 1         # 2: bidirectional

``[policy]`` (required), the run options; lists give one value per layer (one value:
every layer); keys a policy does not read are absent::

    predictor = "hybrid"   # none, bnn, oracle, delta, sign, hybrid
    threshold = [0.01]     # bnn/oracle: relative theta; sign/hybrid: absolute tau
    delta_x = [2]          # delta/hybrid: input-column threshold, int8 units
    delta_h = [3]          # delta/hybrid: h-column threshold, int8 units
    reuse_cap = 4          # largest run of consecutive reuses (0: no cap)
    row_weights = 3        # sign/hybrid: 1 (sign x row mean) or 3 (sign x power of two)

``[selection]`` (optional, informational, never read back into a run): what the
selection measured, e.g. ``max_loss``, ``margin``, ``validation_accuracy``,
``macs_skipped``: strings, numbers, booleans or lists of them.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass

import numpy as np

from . import numerics as nx
from .errors import MemornnError

#: Every skip policy of the golden model.
PREDICTORS = ("bnn", "oracle", "none", "delta", "sign", "hybrid")
#: Threshold of bnn and oracle when none is given (the CLI's long-standing default).
DEFAULT_RELATIVE_THRESHOLD = 0.2

#: The parameters each policy reads (besides ``predictor``).
POLICY_PARAMETERS = {
    "none": (),
    "bnn": ("threshold", "reuse_cap"),
    "oracle": ("threshold", "reuse_cap"),
    "delta": ("delta_x", "delta_h"),
    "sign": ("threshold", "reuse_cap", "row_weights"),
    "hybrid": ("delta_x", "delta_h", "threshold", "reuse_cap", "row_weights"),
}
#: Parameters without a default: a policy that reads them needs them given.
_REQUIRED = {"delta": ("delta_x", "delta_h"), "sign": ("threshold",), "hybrid": ("delta_x", "delta_h", "threshold")}
#: The threshold's register value per policy: relative (Q8.8) or absolute (Q1.15). none
#: accepts a relative threshold (checked, then unused); delta reads none.
_THRESHOLD_Q = {"bnn": nx.theta_to_q, "oracle": nx.theta_to_q, "none": nx.theta_to_q, "sign": nx.tau_to_q,
                "hybrid": nx.tau_to_q}
_DEFAULT_THRESHOLD = {"bnn": DEFAULT_RELATIVE_THRESHOLD, "oracle": DEFAULT_RELATIVE_THRESHOLD}
_PER_LAYER = ("threshold", "delta_x", "delta_h")
_FINGERPRINT = ("cell", "input_size", "hidden_size", "num_layers", "directions")


@dataclass(frozen=True)
class LayerPolicy:
    """One layer's integer parameters (register values) of a run.

    Attributes
    ----------
    theta_q : int
        bnn/oracle: the relative threshold in Q8.8; sign/hybrid: the absolute threshold
        ``tau`` in gate-output LSBs (Q0.15, so 1.0 is 32768); else 0.
    delta_x, delta_h : int
        delta/hybrid: the column thresholds in int8 units; else 0.
    """

    theta_q: int = 0
    delta_x: int = 0
    delta_h: int = 0


@dataclass(frozen=True)
class RunOptions:
    """The skip policy of a run and its parameters, checked (see the module docstring).

    Build it with :meth:`parse`; per-layer values are tuples of one value (every layer)
    or one per layer. Unset parameters are ``None``.

    Attributes
    ----------
    predictor : str
        One of :data:`PREDICTORS`.
    threshold : tuple of float or None
    delta_x, delta_h : tuple of int or None
    reuse_cap : int
        0: no cap.
    row_weights : int
        Bits per weight of the sign row predictor: 1 or 3.
    """

    predictor: str = "bnn"
    threshold: tuple | None = None
    delta_x: tuple | None = None
    delta_h: tuple | None = None
    reuse_cap: int = 0
    row_weights: int = nx.SIGN_ROW_WEIGHTS_DEFAULT

    @classmethod
    def parse(cls, predictor: str = "bnn", threshold=None, delta_x=None, delta_h=None, reuse_cap=None,
              row_weights=None) -> "RunOptions":
        """Check and convert the options of a run (text as on the command line, or values).

        Parameters
        ----------
        predictor : str
        threshold : float, str (``"0.2,0.3"``), sequence of float, or None
        delta_x, delta_h : int, str (``"2,3"``), sequence of int, or None
        reuse_cap : int or None
        row_weights : int or None

        Raises
        ------
        MemornnError
            On an unknown policy, a parameter the policy does not read, a missing one, or
            a value out of the policy's range; the message names the value.
        """
        if predictor not in PREDICTORS:
            raise MemornnError(f"unknown predictor {predictor!r} (choose from {', '.join(PREDICTORS)})")
        given = {"threshold": threshold, "delta_x": delta_x, "delta_h": delta_h, "reuse_cap": reuse_cap,
                 "row_weights": row_weights}
        reads = POLICY_PARAMETERS[predictor]
        for name, value in given.items():
            if value is not None and name not in reads and not (name == "threshold" and predictor in _THRESHOLD_Q):
                raise MemornnError(f"predictor {predictor!r} takes no {_flag(name)} (it reads "
                                   f"{', '.join(_flag(n) for n in reads) or 'nothing'})")
        for name in _REQUIRED.get(predictor, ()):
            if given[name] is None:
                raise MemornnError(f"predictor {predictor!r} needs {_flag(name)}")
        threshold = _DEFAULT_THRESHOLD.get(predictor) if threshold is None else threshold
        thresholds = None
        if threshold is not None:
            thresholds = tuple(_check_threshold(v, predictor) for v in _values(threshold, float, "threshold"))
        if "threshold" not in reads:  # none: checked, not kept
            thresholds = None
        return cls(predictor, thresholds, _deltas(delta_x, "delta_x"), _deltas(delta_h, "delta_h"),
                   0 if reuse_cap is None else check_reuse_cap(reuse_cap),
                   nx.SIGN_ROW_WEIGHTS_DEFAULT if row_weights is None else _check_row_weights(row_weights))

    def for_model(self, num_layers: int) -> tuple[LayerPolicy, ...]:
        """Each layer's :class:`LayerPolicy`.

        Raises
        ------
        MemornnError
            If a per-layer list has neither 1 nor ``num_layers`` values.
        """
        columns = {}
        for name in _PER_LAYER:
            values = getattr(self, name)
            if values is None:
                columns[name] = (0,) * num_layers
                continue
            if len(values) == 1:
                values = values * num_layers
            if len(values) != num_layers:
                what = "thresholds" if name == "threshold" else f"{_flag(name)} values"
                raise MemornnError(f"{len(values)} {what} given for a model of {num_layers} layers (give 1 or "
                                   f"{num_layers})")
            columns[name] = values
        theta_q = [threshold_to_q(v, self.predictor) for v in columns["threshold"]]
        return tuple(LayerPolicy(t, dx, dh) for t, dx, dh in zip(theta_q, columns["delta_x"], columns["delta_h"]))

    def to_table(self) -> dict:
        """The ``[policy]`` table of a settings file: only the keys the policy reads."""
        table = {"predictor": self.predictor}
        for name in POLICY_PARAMETERS[self.predictor]:
            value = getattr(self, name)
            table[name] = list(value) if isinstance(value, tuple) else value
        return table


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _values(spec, kind, name: str) -> list:
    """A per-layer spec (one value, a list, or ``"a,b"``) as a list of ``kind`` values."""
    if isinstance(spec, str):
        parts = [p.strip() for p in spec.split(",")]
    elif np.ndim(spec) == 0:
        parts = [spec]
    else:
        parts = list(spec)
    values = []
    for part in parts:
        try:
            if isinstance(part, (bool, np.bool_)):
                raise ValueError
            value = kind(part) if isinstance(part, str) or kind is float else _exact_int(part)
        except (TypeError, ValueError):
            what = "a number" if kind is float else "an integer"
            raise MemornnError(f"{name} {part!r} is not {what}") from None
        values.append(value)
    return values


def _exact_int(value) -> int:
    """``value`` as an int when it is one (3 or 3.0), else ValueError (3.5)."""
    as_float = float(value)
    if not math.isfinite(as_float) or as_float != int(as_float):
        raise ValueError
    return int(as_float)


def _check_threshold(value: float, predictor: str) -> float:
    threshold_to_q(value, predictor)  # raises when out of range
    return float(value)


def threshold_to_q(value: float, predictor: str) -> int:
    """A threshold to the register value of ``predictor``'s test.

    bnn/oracle (and none, unused): Q8.8 (:func:`nx.theta_to_q`); sign/hybrid: Q1.15
    gate-output LSBs (:func:`nx.tau_to_q`); delta reads none (0).

    Raises
    ------
    MemornnError
        If the value is out of the policy's range.
    """
    convert = _THRESHOLD_Q.get(predictor)
    try:
        return convert(value) if convert else 0
    except ValueError as exc:
        raise MemornnError(f"{exc} (predictor {predictor})") from None


def _deltas(spec, name: str) -> tuple | None:
    """Per-layer column thresholds, checked: integers in [0, DELTA_MAX] (None: not given)."""
    if spec is None:
        return None
    values = tuple(_values(spec, int, name))
    for value in values:
        if not 0 <= value <= nx.DELTA_MAX:
            raise MemornnError(f"{_flag(name)} {value!r} is out of range: int8 units in [0, {nx.DELTA_MAX}]")
    return values


def _check_row_weights(value) -> int:
    if isinstance(value, str):
        value = value.strip()
    if str(value) not in {str(c) for c in nx.SIGN_ROW_WEIGHT_CHOICES}:
        raise MemornnError(f"--row-weights {value!r} is not one of "
                           f"{', '.join(str(c) for c in nx.SIGN_ROW_WEIGHT_CHOICES)}")
    return int(value)


def check_reuse_cap(cap) -> int:
    """The consecutive-reuse cap, checked against the hardware run counter's width."""
    if isinstance(cap, (bool, np.bool_)) or not isinstance(cap, (int, np.integer)) \
            or not 0 <= cap <= nx.REUSE_CAP_MAX:
        raise MemornnError(f"reuse cap must be an integer in [0, {nx.REUSE_CAP_MAX}], got {cap!r}")
    return int(cap)


# -- settings files ------------------------------------------------------------------------


def model_fingerprint(model) -> dict:
    """The ``[model]`` table of a settings file for a :class:`~.qmodel.QModel`."""
    return {"cell": model.cell, "input_size": int(model.input_size), "hidden_size": int(model.hidden_size),
            "num_layers": int(model.num_layers), "directions": int(model.directions)}


def save_settings(path: str | os.PathLike, options: RunOptions, model, selection: dict | None = None) -> None:
    """Write a settings file (module docstring) for ``model``.

    ``selection``: the optional ``[selection]`` table (values: str, int, float, bool or
    lists of them). The file is written whole or not at all (a temporary file renamed).
    """
    options.for_model(model.num_layers)  # per-layer counts must fit the model
    tables = [("model", model_fingerprint(model)), ("policy", options.to_table())]
    if selection:
        tables.append(("selection", selection))
    lines = ["# memornn run settings: memornn golden/simulate/generate --settings FILE"]
    for name, table in tables:
        lines += ["", f"[{name}]"] + [f"{key} = {_toml_value(value)}" for key, value in table.items()]
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def _toml_value(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise ValueError(f"a settings file cannot hold {value!r}")
        return repr(float(value))
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"a settings file cannot hold {type(value).__name__} {value!r}")


def load_settings(path: str | os.PathLike, model=None) -> tuple[RunOptions, dict]:
    """Read a settings file: ``(options, selection)``.

    With ``model``, the file's fingerprint must match it and the per-layer lists its
    layer count.

    Raises
    ------
    MemornnError
        If the file is missing or not TOML, a table or key is missing or unknown, a value
        is out of range, or the fingerprint is not ``model``'s.
    """
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise MemornnError(f"settings file {os.fspath(path)!r} does not exist") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MemornnError(f"settings file {os.fspath(path)!r} is not readable TOML: {exc}") from None
    where = f"settings file {os.fspath(path)!r}"
    unknown = set(data) - {"model", "policy", "selection"}
    if unknown:
        raise MemornnError(f"{where}: unknown table [{sorted(unknown)[0]}]")
    for table in ("model", "policy"):
        if not isinstance(data.get(table), dict):
            raise MemornnError(f"{where}: missing table [{table}]")
    fingerprint = data["model"]
    if set(fingerprint) != set(_FINGERPRINT):
        key = sorted(set(_FINGERPRINT) ^ set(fingerprint))[0]
        raise MemornnError(f"{where}: [model] key {key!r} is " + ("missing" if key in _FINGERPRINT else "unknown"))
    if model is not None:
        expected = model_fingerprint(model)
        for key in _FINGERPRINT:
            if fingerprint[key] != expected[key]:
                raise MemornnError(f"{where} is for another model: {key} = {fingerprint[key]!r}, the model has "
                                   f"{expected[key]!r}")
    policy = dict(data["policy"])
    known = {"predictor", "threshold", "delta_x", "delta_h", "reuse_cap", "row_weights"}
    extra = set(policy) - known
    if extra:
        raise MemornnError(f"{where}: unknown [policy] key {sorted(extra)[0]!r}")
    if "predictor" not in policy:
        raise MemornnError(f"{where}: [policy] key 'predictor' is missing")
    options = RunOptions.parse(**policy)
    if model is not None:
        options.for_model(model.num_layers)
    selection = data.get("selection", {})
    return options, selection if isinstance(selection, dict) else {}
