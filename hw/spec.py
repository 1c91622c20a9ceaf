"""What shapes one accelerator build: :class:`BuildSpec`, one typed configuration.

The layout (sizes, from the model and :class:`~memornn.hw.config.HwConfig`) and the
build options (trace stream, row FIFO depth, counter width) travel together, checked
once; :func:`memornn.hw.build.build_design` makes the design from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..golden.errors import MemornnError
from ..golden.qmodel import QModel
from . import contract
from .config import HwConfig
from .cycles import Latencies, delta_step_cycles, step_cycles_none
from .layout import MEMORIES, Layout, check_fits, make_layout


def _check_int(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise MemornnError(f"{name} must be an integer in [{low}, {high}], got {value!r}")


def counter_bounds(layout: Layout) -> dict[str, int]:
    """The largest value of every counter in one sequence of ``layout.max_seq_len`` steps.

    ``cycles`` (a :data:`~memornn.hw.contract.STALLABLE_COUNTERS` member) is bounded for
    streams that never stall: every row paying both its MAC words and its BNN words
    plus two cycles of hand-over, which bounds the BNN and MAC lanes working side by side.
    """
    lat = Latencies.of(layout)
    steps = layout.max_seq_len
    if layout.skip == "delta":  # the most cycles a step takes: every column used
        cycles = sum(1 + steps * delta_step_cycles(layout, d, d.in_size + layout.hidden, True, lat)
                     for d in layout.layers)
    else:
        cycles = sum(1 + steps * (step_cycles_none(layout, d, lat) + layout.rows * (d.row_bit_words + 2))
                     for d in layout.layers)
    return {name: cycles if name == "cycles" else layout.counter_max(name)
            for name in contract.counter_names(layout.skip)}


@dataclass(frozen=True)
class BuildSpec:
    """Everything that shapes one accelerator build.

    Attributes
    ----------
    layout : Layout
        Sizes and base addresses (from :func:`memornn.hw.layout.make_layout`); at most
        16 layers.
    trace : bool
        Generate the reuse-trace stream.
    row_fifo_depth : int
        Rows the BNN may decide ahead of the MAC lanes (2 to 256).
    counter_bits : int
        Width of the performance counters (16 to 64); refused if a counter could wrap
        within a sequence of ``layout.max_seq_len`` steps (:func:`counter_bounds`).

    Raises
    ------
    MemornnError
        Naming the bad value.
    """

    layout: Layout
    trace: bool = False
    row_fifo_depth: int = 8
    counter_bits: int = 32

    def __post_init__(self):
        lay = self.layout
        if not isinstance(lay, Layout):
            raise MemornnError(f"layout must be a Layout (from make_layout), got {lay!r}")
        if not isinstance(self.trace, bool):
            raise MemornnError(f"trace must be True or False, got {self.trace!r}")
        _check_int("row_fifo_depth", self.row_fifo_depth, 2, 256)
        _check_int("counter_bits", self.counter_bits, *contract.COUNTER_BITS_RANGE)
        _check_int("layout.num_layers", lay.num_layers, 1, contract.MAX_LAYERS)
        _check_int("layout.hidden", lay.hidden, 1, 2**16 - 1)
        _check_int("layout.input_size", lay.input_size, 1, 2**16 - 1)
        _check_int("layout.directions", lay.directions, 1, 2)
        _check_int("layout.lanes", lay.lanes, 1, 255)
        _check_int("layout.bnn_width", lay.bnn_width, 1, 2**16 - 1)
        _check_int("layout.max_seq_len", lay.max_seq_len, 1, 2**32 - 1)
        try:
            contract.counter_widths(counter_bounds(lay), self.counter_bits)
        except ValueError as exc:
            raise MemornnError(f"hardware config: {exc}") from None

    @classmethod
    def of(cls, model: QModel, config: HwConfig, trace: bool | None = None) -> "BuildSpec":
        """The build of ``model`` on ``config`` (``trace`` overrides ``config.trace``),
        refusing a model the hardware cannot hold."""
        layout = make_layout(model, config)
        check_fits(model, layout, config)
        return cls.from_config(layout, config, trace)

    @classmethod
    def from_config(cls, layout: Layout, config: HwConfig, trace: bool | None = None) -> "BuildSpec":
        """The build of ``layout`` with ``config``'s trace flag (or ``trace``), FIFO depth
        and counter width."""
        return cls(layout, config.trace if trace is None else trace, config.row_fifo_depth, config.counter_bits)


def check_images(images) -> None:
    """Refuse memory images that are not ``None`` or a dict keyed by :data:`MEMORIES`."""
    if images is None:
        return
    if not isinstance(images, dict):
        raise MemornnError(f"images must be a dict of memory images or None, got {images!r}")
    unknown = sorted(set(images) - set(MEMORIES))
    if unknown:
        raise MemornnError(f"images has an unknown memory {unknown[0]!r} (known: {', '.join(MEMORIES)})")
