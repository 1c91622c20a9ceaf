"""The float reference (golden/floatref.py) against PyTorch's nn.LSTM / nn.GRU in float64.

Weights go from a torch module to the float model through ``torchio.arrays_from_module``
and ``floatmodel.model_from_arrays``, or through a ``.pt`` file and ``load_float_model``.
"""

import numpy as np
import pytest

from memornn.golden.errors import MemornnError
from memornn.golden.floatmodel import load_float_model, model_from_arrays
from memornn.golden.floatref import apply_head, float_forward, last_outputs
from memornn.golden.inputs import make_batch

torch = pytest.importorskip("torch")
from memornn.golden import torchio  # noqa: E402  (needs torch)

TOL = 1e-5

CONFIGS = [  # cell, X, H, layers, bidirectional, bias
    ("lstm", 13, 37, 1, False, True),
    ("gru", 13, 37, 1, False, True),
    ("lstm", 37, 13, 2, True, True),
    ("gru", 5, 13, 3, True, True),
    ("lstm", 7, 13, 3, False, False),
    ("gru", 37, 13, 2, False, False),
    ("lstm", 1, 1, 1, True, True),
]


def _module(cell, x, h, layers, bidir, bias, seed):
    torch.manual_seed(seed)
    cls = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
    return cls(x, h, num_layers=layers, bidirectional=bidir, bias=bias, batch_first=True).double()


def _torch_packed(module, x, lengths):
    """PyTorch's output on padded sequences via pack_padded_sequence (padding comes back as 0)."""
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(x), torch.from_numpy(lengths),
                                                     batch_first=True, enforce_sorted=False)
    with torch.no_grad():
        out, _ = module(packed)
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out.numpy()


def _torch_one_by_one(module, x, lengths):
    out = np.zeros(x.shape[:2] + (module.hidden_size * (2 if module.bidirectional else 1),))
    with torch.no_grad():
        for i, length in enumerate(lengths):
            out[i, :length] = module(torch.from_numpy(x[i:i + 1, :length]))[0][0].numpy()
    return out


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c)))
def test_float_forward_matches_torch(config):
    cell, x_size, hidden, layers, bidir, bias = config
    module = _module(*config, seed=CONFIGS.index(config))
    model = model_from_arrays(torchio.arrays_from_module(module))
    assert (model.cell, model.input_size, model.hidden_size, model.num_layers, model.bidirectional) == (
        cell, x_size, hidden, layers, bidir)
    rng = np.random.default_rng(7)
    n, t_max = 6, 11
    x = rng.standard_normal((n, t_max, x_size)) * 1.5
    lengths = np.array([11, 1, 7, 4, 11, 2])

    # all sequences full length: one plain batched call
    full = make_batch(x)
    with torch.no_grad():
        expected = module(torch.from_numpy(x))[0].numpy()
    got = float_forward(model, full)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)

    # per-sequence lengths: packed, and one sequence at a time
    batch = make_batch(x, lengths)
    got = float_forward(model, batch)
    np.testing.assert_allclose(got, _torch_packed(module, x, lengths), rtol=0, atol=TOL)
    np.testing.assert_allclose(got, _torch_one_by_one(module, x, lengths), rtol=0, atol=TOL)
    padded = np.arange(t_max)[None, :] >= lengths[:, None]
    assert np.all(got[padded] == 0)


def test_float_forward_every_layer_matches_torch_stack():
    """``return_layers`` gives each layer's output: layer k equals a 1-layer torch run on layer k-1's."""
    module = _module("gru", 5, 13, 2, True, True, seed=3)
    model = model_from_arrays(torchio.arrays_from_module(module))
    x = np.random.default_rng(8).standard_normal((3, 6, 5))
    lengths = np.array([6, 3, 5])
    last, layers = float_forward(model, make_batch(x, lengths), return_layers=True)
    assert len(layers) == 2 and layers[1] is last
    one = torch.nn.GRU(5, 13, bidirectional=True, batch_first=True).double()
    with torch.no_grad():
        for name, p in one.named_parameters():
            p.copy_(getattr(module, name))
    np.testing.assert_allclose(layers[0], _torch_packed(one, x, lengths), rtol=0, atol=TOL)


def test_last_outputs_and_head_match_torch():
    module = _module("lstm", 4, 13, 1, True, True, seed=4)
    head = torch.nn.Linear(26, 3).double()
    arrays = torchio.arrays_from_module(module)
    arrays["head_weight"] = head.weight.detach().numpy()
    arrays["head_bias"] = head.bias.detach().numpy()
    model = model_from_arrays(arrays)
    x = np.random.default_rng(9).standard_normal((4, 9, 4))
    lengths = np.array([9, 2, 5, 1])
    out_t = torch.from_numpy(_torch_packed(module, x, lengths))
    feats_t = out_t[torch.arange(4), torch.from_numpy(lengths) - 1]
    with torch.no_grad():
        scores_t = head(feats_t).numpy()
    feats = last_outputs(float_forward(model, make_batch(x, lengths)), lengths)
    np.testing.assert_allclose(feats, feats_t.numpy(), rtol=0, atol=TOL)
    np.testing.assert_allclose(apply_head(model, feats), scores_t, rtol=0, atol=TOL)


# -- .pt files -------------------------------------------------------------------------------


def _compare_model_to_module(model, module):
    x = np.random.default_rng(10).standard_normal((3, 5, module.input_size))
    with torch.no_grad():
        expected = module.double()(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(float_forward(model, make_batch(x)), expected, rtol=0, atol=TOL)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_load_pt_state_dict_with_cell(tmp_path, cell):
    module = _module(cell, 6, 13, 2, True, True, seed=11).float()  # saved as float32, as usual
    path = tmp_path / "m.pt"
    torch.save({**module.state_dict(), "cell": cell}, path)
    model = load_float_model(path)
    assert model.cell == cell and model.num_layers == 2 and model.bidirectional
    np.testing.assert_array_equal(model.layers[1][1].w_hh, module.weight_hh_l1_reverse.detach().double().numpy())
    _compare_model_to_module(model, module)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_load_pt_whole_module_is_refused(tmp_path, cell):
    """A pickled module needs code to unpickle: torch.load(weights_only=True) refuses it."""
    module = _module(cell, 3, 13, 1, False, True, seed=12).float()
    path = tmp_path / "m.pth"
    torch.save(module, path)
    with pytest.raises(MemornnError, match="needs more than tensors to load"):
        load_float_model(path)
    torch.save(module.state_dict(), path)  # the state dict alone loads (cell from weight_hh's rows)
    model = load_float_model(path)
    assert model.cell == cell and model.input_size == 3 and model.hidden_size == 13
    _compare_model_to_module(model, module)


def test_load_pt_errors(tmp_path):
    module = _module("lstm", 3, 5, 1, False, True, seed=13)
    bad_cell = tmp_path / "badcell.pt"
    torch.save({**module.state_dict(), "cell": "rnn"}, bad_cell)
    with pytest.raises(MemornnError, match="cell must be 'lstm' or 'gru', got 'rnn'"):
        load_float_model(bad_cell)
    other = tmp_path / "linear.pt"
    torch.save(torch.nn.Linear(3, 2).state_dict(), other)
    with pytest.raises(MemornnError, match="no recurrent module"):
        load_float_model(other)
    proj = tmp_path / "proj.pt"
    torch.save(torch.nn.LSTM(3, 8, proj_size=4).state_dict(), proj)
    with pytest.raises(MemornnError, match="proj_size"):
        load_float_model(proj)
    non_tensor = tmp_path / "nontensor.pt"
    torch.save({**module.state_dict(), "cell": "lstm", "epoch": 3}, non_tensor)
    with pytest.raises(MemornnError, match="'epoch' is not a tensor"):
        load_float_model(non_tensor)
    text = tmp_path / "text.pt"
    text.write_text("not a torch file\n")
    with pytest.raises(MemornnError, match="not a readable PyTorch file"):
        load_float_model(text)
    with pytest.raises(MemornnError, match="does not exist"):
        load_float_model(tmp_path / "missing.pt")
    listed = tmp_path / "list.pt"
    torch.save([1, 2], listed)
    with pytest.raises(MemornnError, match="holds a list"):
        load_float_model(listed)
