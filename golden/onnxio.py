"""ONNX interop (the optional ``onnx`` extra): ``LSTM`` / ``GRU`` nodes to float-model arrays.

Every ``LSTM`` or ``GRU`` node of the graph, in the graph's (topological) order, becomes
one layer; the nodes must share the cell and ``hidden_size``, and each node after the
first must take ``hidden_size * directions`` inputs. Per node:

- ``W`` (D, G*H, X), ``R`` (D, G*H, H) and ``B`` (D, 2*G*H) = ``[Wb | Rb]`` must be
  constants (initializers or ``Constant`` nodes); they split into ``weight_ih``,
  ``weight_hh``, ``bias_ih``, ``bias_hh`` per direction (D = 2 for
  ``direction = "bidirectional"``: forward, then ``_reverse``). A missing ``B`` is zero.
- Gate blocks are reordered to PyTorch's: ONNX LSTM ``i, o, f, c`` to ``i, f, g, o``;
  ONNX GRU ``z, r, h`` to ``r, z, n``.
- ``direction``: ``forward`` and ``bidirectional`` map directly; a single ``reverse``
  node is the backward half of a bidirectional layer, which this format has only
  together with a forward half, so it is refused.
- GRU: ``linear_before_reset = 1`` is PyTorch's formula ``n = tanh(W_in x + b_in +
  r * (W_hn h + b_hn))`` and is accepted; ``0`` (the ONNX default) applies ``r`` before
  the matrix product, a different function, and is refused.
- Refused with a one-line error: peepholes ``P`` (unless all zero), ``clip``,
  ``input_forget = 1``, activations other than the defaults (LSTM Sigmoid, Tanh, Tanh;
  GRU Sigmoid, Tanh), ``activation_alpha`` / ``activation_beta``, a ``layout`` other
  than 0 or 1, initial states that are not constant zeros (the accelerator starts every
  sequence from zero), and any attribute not named here.

``sequence_lens`` is ignored (lengths are the inputs' business). Layers between the
recurrent nodes (``Transpose``, ``Squeeze``, ``Reshape`` of torch's exports) are not
checked; a classifier after the last node is not imported.
"""

from __future__ import annotations

import os

import numpy as np

from .errors import MemornnError

#: ONNX gate block index for each of PyTorch's gate blocks.
GATE_ORDER = {"LSTM": (0, 2, 3, 1), "GRU": (1, 0, 2)}
DEFAULT_ACTIVATIONS = {"LSTM": ("sigmoid", "tanh", "tanh"), "GRU": ("sigmoid", "tanh")}
KNOWN_ATTRIBUTES = {"direction", "hidden_size", "layout", "activations", "clip", "input_forget",
                    "linear_before_reset", "activation_alpha", "activation_beta"}


def require_onnx():
    """Import onnx, or fail with a one-line message naming the extra to install."""
    try:
        import onnx
    except ImportError:
        raise MemornnError("this needs the onnx package: install the onnx extra (pip install 'memornn[onnx]')") \
            from None
    return onnx


class _Constants:
    """Resolves tensor names to constant arrays: initializers, ``Constant``, ``Expand`` and
    ``ConstantOfShape`` of constants (what exporters emit for zero initial states)."""

    def __init__(self, onnx, graph):
        self.onnx = onnx
        self.values = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
        self.producers = {out: node for node in graph.node for out in node.output}

    def get(self, name: str):
        if name in self.values:
            return self.values[name]
        node = self.producers.get(name)
        if node is None:
            return None
        attrs = {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Constant" and "value" in attrs:
            return self.onnx.numpy_helper.to_array(attrs["value"])
        if node.op_type == "ConstantOfShape":
            value = attrs.get("value")
            return np.zeros(1) if value is None else self.onnx.numpy_helper.to_array(value)
        if node.op_type == "Expand":
            return self.get(node.input[0])
        return None


def _attributes(onnx, node, where: str) -> dict:
    attrs = {}
    for a in node.attribute:
        if a.name not in KNOWN_ATTRIBUTES:
            raise MemornnError(f"{where}: unsupported attribute {a.name!r}")
        value = onnx.helper.get_attribute_value(a)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, list):
            value = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in value]
        attrs[a.name] = value
    return attrs


def _check_attributes(op: str, attrs: dict, where: str) -> int:
    """Refuse what the format cannot express; the number of directions."""
    direction = attrs.get("direction", "forward")
    if direction not in ("forward", "bidirectional"):
        raise MemornnError(f"{where}: direction {direction!r} is not supported (only forward and bidirectional: a "
                           "lone reverse node has no forward half)")
    if attrs.get("layout", 0) not in (0, 1):
        raise MemornnError(f"{where}: layout {attrs['layout']!r} is not supported (0 or 1)")
    if "clip" in attrs:
        raise MemornnError(f"{where}: attribute 'clip' = {attrs['clip']!r} is not supported (no cell clipping)")
    if attrs.get("input_forget", 0):
        raise MemornnError(f"{where}: input_forget = {attrs['input_forget']!r} is not supported (coupled gates)")
    for name in ("activation_alpha", "activation_beta"):
        if name in attrs:
            raise MemornnError(f"{where}: attribute {name!r} is not supported (default activations only)")
    if "activations" in attrs:
        wanted = DEFAULT_ACTIVATIONS[op] * (2 if direction == "bidirectional" else 1)
        got = tuple(str(a).lower() for a in attrs["activations"])
        if got != wanted:
            raise MemornnError(f"{where}: activations {list(attrs['activations'])} are not supported (only "
                               f"{list(DEFAULT_ACTIVATIONS[op])} per direction)")
    if op == "GRU" and attrs.get("linear_before_reset", 0) != 1:
        raise MemornnError(f"{where}: linear_before_reset = {attrs.get('linear_before_reset', 0)} is not supported "
                           "(only 1, PyTorch's GRU: r multiplies W_hn h + b_hn)")
    return 2 if direction == "bidirectional" else 1


def _constant_input(consts: _Constants, node, index: int):
    return consts.get(node.input[index]) if len(node.input) > index and node.input[index] else None


def _check_states(consts: _Constants, node, where: str) -> None:
    """Peepholes must be absent or zero, initial states constant zeros."""
    for index, what in ((5, "initial_h"), (6, "initial_c"), (7, "peepholes P")):
        if len(node.input) <= index or not node.input[index]:
            continue
        value = consts.get(node.input[index])
        if value is None or np.any(value != 0):
            raise MemornnError(f"{where}: {what} {node.input[index]!r} is "
                               f"{'not a constant' if value is None else 'not zero'}: not supported")


def _reorder(block: np.ndarray, op: str, hidden: int) -> np.ndarray:
    return np.concatenate([block[g * hidden:(g + 1) * hidden] for g in GATE_ORDER[op]], axis=0)


def _node_layer(consts: _Constants, op: str, node, attrs: dict, directions: int, where: str) -> tuple[int, list]:
    """Hidden size and per-direction (w_ih, w_hh, b_ih, b_hh) in PyTorch's order."""
    gates = len(GATE_ORDER[op])
    w, r, b = (_constant_input(consts, node, i) for i in (1, 2, 3))
    for name, value in (("W", w), ("R", r)):
        if value is None:
            raise MemornnError(f"{where}: input {name} is not a constant (initializer or Constant node)")
    if len(node.input) > 3 and node.input[3] and b is None:
        raise MemornnError(f"{where}: input B is not a constant (initializer or Constant node)")
    if w.ndim != 3 or r.ndim != 3 or w.shape[0] != directions or w.shape[1] % gates or r.shape[:2] != w.shape[:2]:
        raise MemornnError(f"{where}: W {w.shape} and R {r.shape} do not fit a {directions}-direction {op}")
    hidden = w.shape[1] // gates
    if "hidden_size" in attrs and attrs["hidden_size"] != hidden:
        raise MemornnError(f"{where}: hidden_size = {attrs['hidden_size']} but W has {w.shape[1]} rows")
    if r.shape[2] != hidden:
        raise MemornnError(f"{where}: R has shape {r.shape}, expected ({directions}, {gates * hidden}, {hidden})")
    if b is None:
        b = np.zeros((directions, 2 * gates * hidden))
    if b.shape != (directions, 2 * gates * hidden):
        raise MemornnError(f"{where}: B has shape {b.shape}, expected ({directions}, {2 * gates * hidden})")
    parts = []
    for d in range(directions):
        split = gates * hidden
        parts.append(tuple(_reorder(np.asarray(a, np.float64), op, hidden)
                           for a in (w[d], r[d], b[d, :split], b[d, split:])))
    return hidden, parts


def arrays_from_onnx_model(model, where: str = "ONNX model") -> dict:
    """Float-model arrays from a loaded ``onnx.ModelProto`` (see the module docstring)."""
    onnx = require_onnx()
    graph = model.graph
    consts = _Constants(onnx, graph)
    nodes = [n for n in graph.node if n.op_type in GATE_ORDER]
    if not nodes:
        ops = sorted({n.op_type for n in graph.node})
        raise MemornnError(f"{where}: no LSTM or GRU node (the graph has {', '.join(ops) if ops else 'no nodes'})")
    op = nodes[0].op_type
    arrays = {"cell": np.array(op.lower())}
    hidden0 = dirs0 = None
    for k, node in enumerate(nodes):
        here = f"{where}: node {node.name or k!r} ({node.op_type})"
        if node.op_type != op:
            raise MemornnError(f"{here}: mixes {op} and {node.op_type} nodes; the format has one cell type")
        attrs = _attributes(onnx, node, here)
        directions = _check_attributes(op, attrs, here)
        _check_states(consts, node, here)
        hidden, parts = _node_layer(consts, op, node, attrs, directions, here)
        if k == 0:
            hidden0, dirs0 = hidden, directions
        elif (hidden, directions) != (hidden0, dirs0):
            raise MemornnError(f"{here}: hidden size {hidden} x {directions} directions differs from the first "
                               f"node's {hidden0} x {dirs0}")
        for d, (w_ih, w_hh, b_ih, b_hh) in enumerate(parts):
            sfx = f"_l{k}" + ("_reverse" if d else "")
            arrays.update({f"weight_ih{sfx}": w_ih, f"weight_hh{sfx}": w_hh, f"bias_ih{sfx}": b_ih,
                           f"bias_hh{sfx}": b_hh})
    return arrays


def arrays_from_onnx_file(path: str | os.PathLike) -> dict:
    """Read an ``.onnx`` file's recurrent nodes.

    Raises
    ------
    MemornnError
        If onnx is missing, the file is missing or unreadable, or a node uses what the
        format cannot express.
    """
    onnx = require_onnx()
    path = os.fspath(path)
    where = f"ONNX model {path!r}"
    if not os.path.isfile(path):
        raise MemornnError(f"{where} does not exist")
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and others for a corrupt file
        raise MemornnError(f"{where} is not a readable ONNX file ({type(exc).__name__})") from None
    return arrays_from_onnx_model(model, where)
