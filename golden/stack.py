"""The shape of a layer stack, shared by the float and the quantized model."""

from __future__ import annotations

from .numerics import GATES


class LayerStackShape:
    """Mixin for a model with ``cell`` and ``layers[k][d]`` attributes."""

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
