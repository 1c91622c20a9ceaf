"""The float model format: PyTorch ``nn.LSTM`` / ``nn.GRU`` parameters in an ``.npz``.

Keys (``k`` the layer, ``_reverse`` for the backward direction of a bidirectional layer):

- ``cell``: the string ``lstm`` or ``gru``;
- ``weight_ih_l{k}`` (G*H, X_k), ``weight_hh_l{k}`` (G*H, H): PyTorch's gate order
  (LSTM i, f, g, o; GRU r, z, n), X_0 the input size, X_k = H * directions after;
- ``bias_ih_l{k}``, ``bias_hh_l{k}`` (G*H,): optional, but all present or all absent;
- ``head_weight`` (C, H * directions), ``head_bias`` (C,): an optional linear classifier
  applied in float to the last layer's output at each sequence's last step.

Any other key is an error (so is a layer index with a leading zero or a non-ASCII
digit). With the ``torch`` extra, ``.pt`` state dicts and TorchScript archives load as
well (:mod:`.torchio`); with the ``onnx`` extra, ONNX ``LSTM`` / ``GRU`` nodes
(:mod:`.onnxio`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np

from .errors import MemornnError
from .stack import LayerStackShape
from .npzfile import load_npz, scalar_string
from .numerics import GATES

# ASCII digits without leading zeros: 'weight_ih_l00' or a non-ASCII digit is an unknown key, not layer 0.
_LAYER_KEY = re.compile(r"(weight_ih|weight_hh|bias_ih|bias_hh)_l(0|[1-9][0-9]{0,5})(_reverse)?", re.ASCII)


@dataclass
class FloatLayer:
    """One direction of one layer, in PyTorch's layout (float64)."""

    w_ih: np.ndarray
    w_hh: np.ndarray
    b_ih: np.ndarray
    b_hh: np.ndarray


@dataclass
class FloatModel(LayerStackShape):
    """A float LSTM or GRU stack with an optional linear head.

    Attributes
    ----------
    cell : str
        ``"lstm"`` or ``"gru"``.
    layers : list of list of FloatLayer
        ``layers[k][d]``: layer ``k``, direction ``d`` (0 forward, 1 backward).
    head_weight, head_bias : ndarray or None
        The optional classifier head.
    """

    cell: str
    layers: list
    head_weight: np.ndarray | None = None
    head_bias: np.ndarray | None = None

    @property
    def hidden_size(self) -> int:
        return self.layers[0][0].w_hh.shape[1]

    @property
    def input_size(self) -> int:
        return self.layers[0][0].w_ih.shape[1]

    def to_arrays(self) -> dict:
        """The ``.npz`` entries of this model."""
        arrays = {"cell": np.array(self.cell)}
        for k, layer in enumerate(self.layers):
            for d, p in enumerate(layer):
                sfx = f"_l{k}" + ("_reverse" if d else "")
                arrays.update({f"weight_ih{sfx}": p.w_ih, f"weight_hh{sfx}": p.w_hh,
                               f"bias_ih{sfx}": p.b_ih, f"bias_hh{sfx}": p.b_hh})
        return {**arrays, **self.head_arrays()}


def _finite(name: str, value: np.ndarray, where: str) -> np.ndarray:
    if value.dtype.kind not in "fiu":
        raise MemornnError(f"{where}: {name!r} must be numeric, got dtype {value.dtype}")
    value = value.astype(np.float64)
    if not np.all(np.isfinite(value)):
        raise MemornnError(f"{where}: {name!r} contains NaN or inf")
    return value


def _expect_shape(name: str, value: np.ndarray, shape: tuple, where: str) -> None:
    if value.shape != shape:
        raise MemornnError(f"{where}: {name!r} has shape {value.shape}, expected {shape}")


def model_from_arrays(arrays: dict, where: str = "float model") -> FloatModel:
    """Check the entries of a float model and build it.

    Raises
    ------
    MemornnError
        On a missing or unknown key, a bad shape, a non-finite value or an unknown cell.
    """
    if "cell" not in arrays:
        raise MemornnError(f"{where}: missing key 'cell' (the string 'lstm' or 'gru')")
    cell = scalar_string(arrays, "cell", where).lower()
    if cell not in GATES:
        raise MemornnError(f"{where}: cell must be 'lstm' or 'gru', got {cell!r}")
    gates = GATES[cell]
    found: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    for key, value in arrays.items():
        if key in ("cell", "head_weight", "head_bias"):
            continue
        match = _LAYER_KEY.fullmatch(key)
        if not match:
            raise MemornnError(f"{where}: unknown key {key!r}")
        found.setdefault((int(match[2]), 1 if match[3] else 0), {})[match[1]] = _finite(key, value, where)
    if (0, 0) not in found:
        raise MemornnError(f"{where}: missing key 'weight_ih_l0'")
    num_layers = 1 + max(k for k, _ in found)
    directions = 2 if any(d for _, d in found) else 1
    has_bias = "bias_ih" in found[(0, 0)] or "bias_hh" in found[(0, 0)]
    for name in ("weight_ih", "weight_hh"):
        if name not in found[(0, 0)]:
            raise MemornnError(f"{where}: missing key '{name}_l0'")
    w_hh0 = found[(0, 0)].get("weight_hh")
    if w_hh0 is None or w_hh0.ndim != 2 or w_hh0.shape[1] < 1 or w_hh0.shape[0] != gates * w_hh0.shape[1]:
        shape = None if w_hh0 is None else w_hh0.shape
        raise MemornnError(f"{where}: 'weight_hh_l0' must have shape ({gates}*H, H) for a {cell}, got {shape}")
    hidden = w_hh0.shape[1]
    w_ih0 = found[(0, 0)].get("weight_ih")
    if w_ih0 is None or w_ih0.ndim != 2 or w_ih0.shape[1] < 1:
        raise MemornnError(f"{where}: 'weight_ih_l0' must have shape ({gates * hidden}, X), got "
                           f"{None if w_ih0 is None else w_ih0.shape}")
    layers = []
    for k in range(num_layers):
        in_size = w_ih0.shape[1] if k == 0 else hidden * directions
        layer = []
        for d in range(directions):
            sfx = f"_l{k}" + ("_reverse" if d else "")
            params = found.get((k, d), {})
            names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if has_bias else [])
            for name in names:
                if name not in params:
                    raise MemornnError(f"{where}: missing key {name + sfx!r}")
            for name in ("bias_ih", "bias_hh"):
                if not has_bias and name in params:
                    raise MemornnError(f"{where}: {name + sfx!r} given but 'bias_ih_l0'/'bias_hh_l0' are not")
            _expect_shape("weight_ih" + sfx, params["weight_ih"], (gates * hidden, in_size), where)
            _expect_shape("weight_hh" + sfx, params["weight_hh"], (gates * hidden, hidden), where)
            zeros = np.zeros(gates * hidden)
            b_ih, b_hh = params.get("bias_ih", zeros), params.get("bias_hh", zeros)
            _expect_shape("bias_ih" + sfx, b_ih, (gates * hidden,), where)
            _expect_shape("bias_hh" + sfx, b_hh, (gates * hidden,), where)
            layer.append(FloatLayer(params["weight_ih"], params["weight_hh"], b_ih, b_hh))
        layers.append(layer)
    head_weight = head_bias = None
    if ("head_weight" in arrays) != ("head_bias" in arrays):
        raise MemornnError(f"{where}: 'head_weight' and 'head_bias' must be given together")
    if "head_weight" in arrays:
        head_weight = _finite("head_weight", arrays["head_weight"], where)
        head_bias = _finite("head_bias", arrays["head_bias"], where)
        if head_weight.ndim != 2 or head_weight.shape[1] != hidden * directions:
            raise MemornnError(f"{where}: 'head_weight' has shape {head_weight.shape}, "
                               f"expected (classes, {hidden * directions})")
        _expect_shape("head_bias", head_bias, (head_weight.shape[0],), where)
    return FloatModel(cell, layers, head_weight, head_bias)


def load_float_model(path: str | os.PathLike, module: str | None = None) -> FloatModel:
    """Load a float model: ``.npz``; ``.pt`` / ``.pth`` (torch extra); ``.onnx`` (onnx extra).

    Parameters
    ----------
    path : path-like
    module : str, optional
        The recurrent submodule of a TorchScript archive or nested state dict.

    Raises
    ------
    MemornnError
        If the file is missing or malformed, holds nothing this format can express, or
        its extra is not installed.
    """
    path = os.fspath(path)
    where = f"float model {path!r}"
    if path.endswith((".pt", ".pth")):
        from .torchio import arrays_from_torch_file

        return model_from_arrays(arrays_from_torch_file(path, module), where)
    if module is not None:
        raise MemornnError(f"--module {module!r} applies to .pt files only, not {path!r}")
    if path.endswith(".onnx"):
        from .onnxio import arrays_from_onnx_file

        return model_from_arrays(arrays_from_onnx_file(path), where)
    return model_from_arrays(load_npz(path, "float model"), where)
