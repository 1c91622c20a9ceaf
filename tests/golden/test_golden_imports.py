"""Imports of float models from ONNX (golden/onnxio.py), TorchScript and ``.pt`` state
dicts (golden/torchio.py).

The ONNX tests build files with the onnx helper API and check the imported model against
an ONNX-spec reference written here from the operator definitions (gate orders i, o, f, c
and z, r, h), so no torch is needed; the torch tests export real modules through
``torch.onnx`` and TorchScript and require bit-exact golden results against the same
model saved as ``.npz``.
"""

import warnings

import numpy as np
import pytest

from golden_testlib import random_lengths, run_main
from memornn.golden.errors import MemornnError
from memornn.golden.floatmodel import load_float_model
from memornn.golden.floatref import float_forward
from memornn.golden.inputs import make_batch
from memornn.golden.intmodel import golden_run
from memornn.golden.quantize import quantize_model

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402  (needs onnx)


def _sig(v):
    return 1 / (1 + np.exp(-v))


def _onnx_reference(op, w, r, b, x, reverse=False):
    """One direction of an ONNX LSTM / GRU (linear_before_reset = 1), straight from the spec."""
    hidden = r.shape[1]
    h = np.zeros(hidden)
    c = np.zeros(hidden)
    out = np.zeros((len(x), hidden))
    wb, rb = b[:len(b) // 2], b[len(b) // 2:]
    blocks = lambda v: [v[k * hidden:(k + 1) * hidden] for k in range(len(v) // hidden)]  # noqa: E731
    for t in (range(len(x) - 1, -1, -1) if reverse else range(len(x))):
        if op == "LSTM":
            gi, go, gf, gc = blocks(w @ x[t] + r @ h + wb + rb)
            c = _sig(gf) * c + _sig(gi) * np.tanh(gc)
            h = _sig(go) * np.tanh(c)
        else:
            xz, xr, xh = blocks(w @ x[t] + wb)
            hz, hr, hh = blocks(r @ h + rb)
            z, rr = _sig(xz + hz), _sig(xr + hr)
            h = (1 - z) * np.tanh(xh + rr * hh) + z * h
        out[t] = h
    return out


def _node_tensors(rng, op, dirs, x_size, hidden, name):
    g = 4 if op == "LSTM" else 3
    w = rng.uniform(-0.5, 0.5, (dirs, g * hidden, x_size)).astype(np.float32)
    r = rng.uniform(-0.5, 0.5, (dirs, g * hidden, hidden)).astype(np.float32)
    b = rng.uniform(-0.5, 0.5, (dirs, 2 * g * hidden)).astype(np.float32)
    return [numpy_helper.from_array(a, f"{name}_{k}") for a, k in ((w, "W"), (r, "R"), (b, "B"))]


def _onnx_file(path, op="LSTM", layers=2, direction="bidirectional", x_size=3, hidden=4, seed=0, attrs=None,
               extra_inputs=(), graph_inputs=()):
    """An ONNX graph of ``layers`` stacked nodes (Y squeezed/reshaped between them)."""
    rng = np.random.default_rng(seed)
    dirs = 2 if direction == "bidirectional" else 1
    inits, nodes = [], []
    prev = "X"
    for k in range(layers):
        tensors = _node_tensors(rng, op, dirs, x_size if k == 0 else hidden * dirs, hidden, f"n{k}")
        inits += tensors
        node_attrs = {"hidden_size": hidden, "direction": direction}
        if op == "GRU":
            node_attrs["linear_before_reset"] = 1
        node_attrs.update(attrs or {})
        nodes.append(helper.make_node(op, [prev] + [t.name for t in tensors] + list(extra_inputs), [f"Y{k}"],
                                      name=f"rnn{k}", **node_attrs))
        # Y (T, D, N, H) -> (T, N, D*H) for the next node, as torch's exports do
        nodes.append(helper.make_node("Transpose", [f"Y{k}"], [f"Yt{k}"], perm=[0, 2, 1, 3]))
        inits.append(numpy_helper.from_array(np.array([0, 0, -1], np.int64), f"shape{k}"))
        nodes.append(helper.make_node("Reshape", [f"Yt{k}", f"shape{k}"], [f"Z{k}"]))
        prev = f"Z{k}"
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "N", x_size])]
    inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in graph_inputs]
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info(prev, TensorProto.FLOAT, None)],
                              initializer=inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), str(path))
    return path


@pytest.mark.parametrize("op, direction", [("LSTM", "bidirectional"), ("LSTM", "forward"), ("GRU", "bidirectional"),
                                           ("GRU", "forward")])
def test_onnx_import_matches_the_onnx_spec(tmp_path, op, direction):
    path = _onnx_file(tmp_path / "m.onnx", op, layers=2, direction=direction)
    model = load_float_model(path)
    assert (model.cell, model.num_layers, model.directions) == (op.lower(), 2, 2 if direction != "forward" else 1)
    proto = onnx.load(str(path))
    params = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in proto.graph.initializer}
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3))
    layer_in = x
    for k in range(2):
        outs = [_onnx_reference(op, params[f"n{k}_W"][d], params[f"n{k}_R"][d], params[f"n{k}_B"][d], layer_in,
                                reverse=bool(d)) for d in range(model.directions)]
        layer_in = np.concatenate(outs, axis=1)
    np.testing.assert_allclose(float_forward(model, make_batch(x))[0], layer_in, rtol=0, atol=1e-12)


BAD_ONNX = {
    "gru linear_before_reset 0": (dict(op="GRU", attrs={"linear_before_reset": 0}), "linear_before_reset = 0"),
    "clip": (dict(attrs={"clip": 3.0}), "attribute 'clip' = 3.0"),
    "activations": (dict(direction="forward", attrs={"activations": ["Sigmoid", "Relu", "Tanh"]}),
                    "activations ['Sigmoid', 'Relu', 'Tanh']"),
    "activation alpha": (dict(attrs={"activation_alpha": [1.0]}), "'activation_alpha'"),
    "input_forget": (dict(attrs={"input_forget": 1}), "input_forget = 1"),
    "layout": (dict(attrs={"layout": 2}), "layout 2"),
    "unknown attribute": (dict(attrs={"peephole_mode": 1}), "unsupported attribute 'peephole_mode'"),
    "reverse only": (dict(direction="reverse"), "direction 'reverse'"),
    "initial state input": (dict(direction="forward", layers=1, extra_inputs=("", "h0"), graph_inputs=("h0",)),
                            "initial_h 'h0' is not a constant"),
}


@pytest.mark.parametrize("case", list(BAD_ONNX))
def test_onnx_refusals_are_one_line_errors(tmp_path, capsys, case):
    kwargs, words = BAD_ONNX[case]
    path = _onnx_file(tmp_path / "bad.onnx", **kwargs)
    np.save(tmp_path / "calib.npy", np.ones((2, 4, 3)))
    code, out, err = run_main(["quantize", "--model", path, "--calibration", tmp_path / "calib.npy",
                               "-o", tmp_path / "Q.npz"], capsys)
    assert code != 0 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert words in err, err
    assert not (tmp_path / "Q.npz").exists()


def test_onnx_peepholes_and_mixed_cells(tmp_path):
    p = np.zeros((1, 12), np.float32)
    p[0, 3] = 0.5
    path = _onnx_file(tmp_path / "p.onnx", direction="forward", layers=1, extra_inputs=("", "", "", "P"))
    proto = onnx.load(str(path))
    proto.graph.initializer.append(numpy_helper.from_array(p, "P"))
    onnx.save(proto, str(path))
    with pytest.raises(MemornnError, match="peepholes P 'P' is not zero"):
        load_float_model(path)
    proto.graph.initializer[-1].CopyFrom(numpy_helper.from_array(np.zeros_like(p), "P"))
    onnx.save(proto, str(path))
    assert load_float_model(path).num_layers == 1  # zero peepholes are no peepholes
    with pytest.raises(MemornnError, match="no LSTM or GRU node"):
        onnx.save(helper.make_model(helper.make_graph([helper.make_node("Relu", ["X"], ["Y"])], "g", [], [])),
                  str(tmp_path / "relu.onnx"))
        load_float_model(tmp_path / "relu.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00not onnx at all")
    with pytest.raises(MemornnError, match="not a readable ONNX file"):
        load_float_model(tmp_path / "junk.onnx")


# -- torch: exports, TorchScript, state dicts --------------------------------------------------------


def _torch():
    return pytest.importorskip("torch")


def _same_golden(a, b, x_size, seed=7):
    """Both models quantize to identical integers and run bit-exactly alike."""
    rng = np.random.default_rng(seed)
    calib = make_batch(rng.standard_normal((6, 9, x_size)), random_lengths(rng, 6, 9))
    test = make_batch(rng.standard_normal((4, 7, x_size)), random_lengths(rng, 4, 7))
    qa, qb = quantize_model(a, calib), quantize_model(b, calib)
    ra, rb = golden_run(qa, test, 0.3, "bnn"), golden_run(qb, test, 0.3, "bnn")
    assert ra.keys() == rb.keys()
    for key in ra:
        np.testing.assert_array_equal(ra[key], rb[key])


def _npz_of(torch, module, path):
    from memornn.golden.torchio import arrays_from_module

    np.savez(path, **arrays_from_module(module))
    return load_float_model(path)


@pytest.mark.parametrize("cls, kwargs", [("LSTM", dict(num_layers=2, bidirectional=True)),
                                         ("GRU", dict(num_layers=2, batch_first=True)),
                                         ("GRU", dict(bidirectional=True))])
def test_torch_onnx_and_torchscript_exports_import_bit_exact(tmp_path, cls, kwargs):
    torch = _torch()
    torch.manual_seed(3)
    module = getattr(torch.nn, cls)(3, 5, **kwargs)
    reference = _npz_of(torch, module, tmp_path / "m.npz")
    x = torch.randn(2, 4, 3)
    with warnings.catch_warnings():  # the TorchScript-based exporter warns (legacy exporter, tracer warnings)
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), str(tmp_path / "m.onnx"), dynamo=False)
        torch.jit.save(torch.jit.script(module), str(tmp_path / "m.pt"))
    for path in ("m.onnx", "m.pt"):
        _same_golden(load_float_model(tmp_path / path), reference, 3)


def test_torchscript_submodules_and_cells(tmp_path, capsys):
    torch = _torch()
    torch.manual_seed(4)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.front = torch.nn.Linear(3, 3)
            self.enc = torch.nn.LSTMCell(3, 4)
            self.dec = torch.nn.Sequential(torch.nn.GRU(4, 4))

        def forward(self, x):
            return self.front(x)

    net = Net()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(net), str(tmp_path / "net.pt"))
        torch.jit.save(torch.jit.script(torch.nn.Linear(3, 3)), str(tmp_path / "lin.pt"))
    with pytest.raises(MemornnError, match=r"several recurrent submodules \('enc', 'dec.0'\): choose one with "
                                           r"--module"):
        load_float_model(tmp_path / "net.pt")
    with pytest.raises(MemornnError, match="no LSTM, GRU, LSTMCell or GRUCell submodule"):
        load_float_model(tmp_path / "lin.pt")
    with pytest.raises(MemornnError, match=r"no recurrent submodule 'front' \(candidates: 'enc', 'dec.0'\)"):
        load_float_model(tmp_path / "net.pt", module="front")
    cell = load_float_model(tmp_path / "net.pt", module="enc")
    _same_golden(cell, _npz_of(torch, net.enc, tmp_path / "enc.npz"), 3)
    # an LSTMCell is a one-layer LSTM: one step of each agrees
    x = torch.randn(1, 3, dtype=torch.float64)
    h, _ = net.enc.double()(x)
    np.testing.assert_allclose(float_forward(cell, make_batch(x.numpy()))[0, 0], h.detach().numpy()[0], atol=1e-12)
    np.save(tmp_path / "calib.npy", np.ones((2, 3, 4)))
    code, out, err = run_main(["quantize", "--model", tmp_path / "net.pt", "--module", "dec.0", "--calibration",
                               tmp_path / "calib.npy", "-o", tmp_path / "Q.npz"], capsys)
    assert code == 0 and "gru 1x4" in out, err


def test_pt_state_dicts_load_without_running_code(tmp_path, capsys):
    torch = _torch()
    torch.manual_seed(5)
    gru_cell = torch.nn.GRUCell(3, 4)
    torch.save(gru_cell.state_dict(), tmp_path / "cell.pt")  # no 'cell' entry: 3H rows make it a GRU
    _same_golden(load_float_model(tmp_path / "cell.pt"), _npz_of(torch, gru_cell, tmp_path / "cell.npz"), 3)
    nested = {"rnn." + k: v for k, v in torch.nn.LSTM(3, 4).state_dict().items()}
    nested.update({"head.weight": torch.zeros(2, 4), "head.bias": torch.zeros(2)})
    torch.save(nested, tmp_path / "nested.pt")
    assert load_float_model(tmp_path / "nested.pt").cell == "lstm"
    nested.update({"rnn2." + k: v for k, v in torch.nn.GRU(3, 4).state_dict().items()})
    torch.save(nested, tmp_path / "two.pt")
    with pytest.raises(MemornnError, match=r"several recurrent modules \('rnn', 'rnn2'\)"):
        load_float_model(tmp_path / "two.pt")
    assert load_float_model(tmp_path / "two.pt", module="rnn2").cell == "gru"
    torch.save(torch.nn.LSTM(3, 4), tmp_path / "whole.pt")  # a pickled module: loading it would run code
    np.save(tmp_path / "calib.npy", np.ones((2, 3, 3)))
    code, out, err = run_main(["quantize", "--model", tmp_path / "whole.pt", "--calibration", tmp_path / "calib.npy",
                               "-o", tmp_path / "Q.npz"], capsys)
    assert code != 0 and len(err.splitlines()) == 1 and "needs more than tensors to load" in err
    assert not (tmp_path / "Q.npz").exists()
