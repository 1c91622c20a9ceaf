"""PyTorch interop (the optional ``torch`` extra): ``.pt`` files to float-model arrays."""

from __future__ import annotations

import numpy as np

from .errors import MemornnError


def require_torch():
    """Import torch, or fail with a one-line message naming the extra to install."""
    try:
        import torch
    except ImportError:
        raise MemornnError("this needs PyTorch: install the torch extra (pip install 'memornn[torch]')") from None
    return torch


def arrays_from_module(module) -> dict:
    """The float-model entries of an ``nn.LSTM`` or ``nn.GRU``."""
    torch = require_torch()
    if isinstance(module, torch.nn.LSTM):
        cell = "lstm"
    elif isinstance(module, torch.nn.GRU):
        cell = "gru"
    else:
        raise MemornnError(f"expected an nn.LSTM or nn.GRU, got {type(module).__name__}")
    if getattr(module, "proj_size", 0):
        raise MemornnError("LSTM projections (proj_size > 0) are not supported")
    arrays = {k: v.detach().cpu().double().numpy() for k, v in module.state_dict().items()}
    arrays["cell"] = np.array(cell)
    return arrays


def arrays_from_torch_file(path: str) -> dict:
    """Read a ``.pt`` file holding a state dict (with a ``cell`` string) or a whole module."""
    torch = require_torch()
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise MemornnError(f"float model file {path!r} does not exist") from None
    except Exception as exc:  # torch raises many types for a corrupt file
        raise MemornnError(f"float model file {path!r} is not a readable PyTorch file ({type(exc).__name__})") from None
    if isinstance(obj, torch.nn.Module):
        return arrays_from_module(obj)
    if isinstance(obj, dict):
        arrays = {}
        for key, value in obj.items():
            if key == "cell":
                arrays[key] = np.array(str(value))
            elif isinstance(value, torch.Tensor):
                arrays[key] = value.detach().cpu().double().numpy()
            else:
                raise MemornnError(f"float model file {path!r}: entry {key!r} is not a tensor")
        return arrays
    raise MemornnError(f"float model file {path!r} holds a {type(obj).__name__}, not a state dict or nn.LSTM/nn.GRU")
