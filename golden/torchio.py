"""PyTorch interop (the optional ``torch`` extra): ``.pt`` files to float-model arrays.

Three kinds of file load, none of which runs code from the file:

- a state dict saved with ``torch.save`` (read with ``torch.load(weights_only=True)``:
  tensors, strings and containers only; a pickled module or any other object is
  refused): ``nn.LSTM`` / ``nn.GRU`` keys (``weight_ih_l0``, ...) or ``nn.LSTMCell`` /
  ``nn.GRUCell`` keys (``weight_ih``, ...), optionally with a ``cell`` string (else the
  cell follows from ``weight_hh``'s shape: 4H or 3H rows) and ``head_weight`` /
  ``head_bias``; or the state dict of a larger module holding one recurrent module
  (``rnn.weight_ih_l0``, ...), whose prefix ``module`` picks when there are several;
- a TorchScript archive (``torch.jit.save``) holding an ``LSTM``, ``GRU``, ``LSTMCell``
  or ``GRUCell`` somewhere inside; ``module`` names the submodule when there are several.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile

import numpy as np

from .errors import MemornnError

RECURRENT = {"LSTM": "lstm", "GRU": "gru", "LSTMCell": "lstm", "GRUCell": "gru"}
_CELL_KEY = re.compile(r"(weight_ih|weight_hh|bias_ih|bias_hh)")
_OWN_KEYS = re.compile(r"(weight_ih|weight_hh|bias_ih|bias_hh)(_l[0-9]+(_reverse)?)?|weight_hr_l[0-9]+(_reverse)?|"
                       r"cell|head_weight|head_bias", re.ASCII)


def require_torch():
    """Import torch, or fail with a one-line message naming the extra to install."""
    try:
        import torch
    except ImportError:
        raise MemornnError("this needs PyTorch: install the torch extra (pip install 'memornn[torch]')") from None
    return torch


def arrays_from_module(module) -> dict:
    """The float-model entries of an ``nn.LSTM``, ``nn.GRU``, ``nn.LSTMCell`` or ``nn.GRUCell``."""
    require_torch()
    kind = type(module).__name__
    if kind not in RECURRENT:
        raise MemornnError(f"expected an nn.LSTM, nn.GRU, nn.LSTMCell or nn.GRUCell, got {kind}")
    return _from_state(module.state_dict(), RECURRENT[kind], kind)


def _to_numpy(value):
    return value.detach().cpu().double().numpy()


def _from_state(state: dict, cell: str | None, where: str) -> dict:
    """Float-model arrays from one recurrent module's state dict (tensors or arrays)."""
    if any(k.startswith("weight_hr_l") for k in state):
        raise MemornnError(f"{where}: LSTM projections (proj_size > 0, 'weight_hr_l0') are not supported")
    arrays = {}
    for key, value in state.items():
        if key == "cell":
            arrays[key] = np.array(str(value))
            continue
        value = _to_numpy(value) if hasattr(value, "detach") else np.asarray(value)
        # nn.LSTMCell / nn.GRUCell: one layer without the _l0 suffix
        arrays[key + "_l0" if _CELL_KEY.fullmatch(key) else key] = value
    if cell is not None:
        arrays["cell"] = np.array(cell)
    elif "cell" not in arrays:
        w_hh = arrays.get("weight_hh_l0")
        gates = w_hh.shape[0] // w_hh.shape[1] if w_hh is not None and w_hh.ndim == 2 and w_hh.shape[1] else 0
        if w_hh is None or gates * w_hh.shape[1] != w_hh.shape[0] or gates not in (3, 4):
            raise MemornnError(f"{where}: no 'cell' entry, and 'weight_hh_l0' "
                               f"{'is missing' if w_hh is None else f'of shape {w_hh.shape} is neither 4HxH nor 3HxH'}")
        arrays["cell"] = np.array("lstm" if gates == 4 else "gru")
    return arrays


def _select_prefix(state: dict, module: str | None, where: str) -> dict:
    """The entries of the one recurrent module in a (possibly nested) state dict."""
    if module is None and all(_OWN_KEYS.fullmatch(k) for k in state):
        return state
    prefixes = sorted({m[1] for k in state if (m := re.fullmatch(r"(.*?)\.?weight_hh(_l0)?", k, re.ASCII))})
    if module is not None:
        if module not in prefixes:
            raise MemornnError(f"{where}: no recurrent module {module!r} (candidates: {', '.join(map(repr, prefixes))})"
                               if prefixes else f"{where}: no recurrent module {module!r}")
        chosen = module
    elif len(prefixes) == 1:
        chosen = prefixes[0]
    elif prefixes:
        raise MemornnError(f"{where}: several recurrent modules ({', '.join(map(repr, prefixes))}): choose one with "
                           "--module")
    else:
        raise MemornnError(f"{where}: no recurrent module (no 'weight_hh' or 'weight_hh_l0' key)")
    head = chosen + "." if chosen else ""
    return {k[len(head):]: v for k, v in state.items() if k.startswith(head) and _OWN_KEYS.fullmatch(k[len(head):])}


def _is_torchscript(path: str) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.split("/")[1:2] == ["code"] for n in z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _from_torchscript(torch, path: str, module: str | None, where: str) -> dict:
    try:
        # torch 2.13 marks TorchScript deprecated on every load; archives still load, and the
        # notice is not the user's business here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            archive = torch.jit.load(path, map_location="cpu")
    except Exception as exc:  # torch raises RuntimeError and others for a corrupt archive
        raise MemornnError(f"{where} is not a readable TorchScript archive ({type(exc).__name__})") from None
    found = {name: RECURRENT[m.original_name] for name, m in archive.named_modules()
             if getattr(m, "original_name", None) in RECURRENT}
    names = ", ".join(repr(n) for n in found)
    if module is not None:
        if module not in found:
            raise MemornnError(f"{where}: no recurrent submodule {module!r}"
                               + (f" (candidates: {names})" if found else ""))
    elif len(found) == 1:
        module = next(iter(found))
    elif found:
        raise MemornnError(f"{where}: several recurrent submodules ({names}): choose one with --module")
    else:
        raise MemornnError(f"{where}: no LSTM, GRU, LSTMCell or GRUCell submodule in the TorchScript archive")
    sub = dict(archive.named_modules())[module]
    return _from_state(dict(sub.state_dict()), found[module], f"{where}, submodule {module!r}")


def arrays_from_torch_file(path: str, module: str | None = None) -> dict:
    """Read a ``.pt`` state dict or TorchScript archive (see the module docstring).

    Raises
    ------
    MemornnError
        If torch is missing, the file is missing or unreadable, needs code to load, or
        holds no (or several, without ``module``) recurrent modules.
    """
    torch = require_torch()
    where = f"float model file {path!r}"
    if _is_torchscript(path):
        return _from_torchscript(torch, path, module, where)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise MemornnError(f"{where} does not exist") from None
    except pickle.UnpicklingError as exc:
        # torch names the global it would have had to import ("Unsupported global: ...") when
        # the file is a pickle of objects; any other unpickling failure is a corrupt file.
        if "unsupported global" not in str(exc).lower():
            raise MemornnError(f"{where} is not a readable PyTorch file (UnpicklingError)") from None
        raise MemornnError(f"{where} needs more than tensors to load (a pickled module or other object): refused, "
                           "since loading it would run code; save module.state_dict() or a TorchScript archive") \
            from None
    except Exception as exc:  # torch raises many types for a corrupt file
        raise MemornnError(f"{where} is not a readable PyTorch file ({type(exc).__name__})") from None
    if not isinstance(obj, dict):
        raise MemornnError(f"{where} holds a {type(obj).__name__}, not a state dict")
    for key, value in obj.items():
        if not isinstance(key, str) or not (isinstance(value, torch.Tensor) or key == "cell"):
            raise MemornnError(f"{where}: entry {key!r} is not a tensor")
    return _from_state(_select_prefix(obj, module, where), None, where)
