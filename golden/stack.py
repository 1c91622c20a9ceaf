"""The shape of a layer stack, shared by the float and the quantized model, and what
else their files share: the optional classifier head and saving as ``.npz``."""

from __future__ import annotations

from .npzfile import save_npz
from .numerics import GATES


class LayerStackShape:
    """Mixin for a model with ``cell``, ``layers[k][d]`` and ``head_weight``/``head_bias``
    attributes and a ``to_arrays()`` method (its ``.npz`` entries)."""

    cell: str
    layers: list

    @property
    def gates(self) -> int:
        """Gates per hidden unit: 4 for an LSTM, 3 for a GRU."""
        return GATES[self.cell]

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def directions(self) -> int:
        return len(self.layers[0])

    @property
    def bidirectional(self) -> bool:
        return self.directions == 2

    def head_arrays(self) -> dict:
        """The ``.npz`` entries of the optional classifier head (none without one)."""
        if self.head_weight is None:
            return {}
        return {"head_weight": self.head_weight, "head_bias": self.head_bias}

    def save(self, path) -> None:
        """Write the model as an ``.npz`` file: the entries of ``to_arrays()``."""
        save_npz(path, self.to_arrays())
