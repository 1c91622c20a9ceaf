"""The hardware data layout: how a quantized model sits in the accelerator's memories.

One explicit function per memory turns a :class:`QModel` into the words that the
generator uses as memory initial contents and that the runtime load port writes.

Each layer direction ``ld = k * directions + d`` has a row for every gate neuron
``r = gate * H + j`` (``G*H`` rows). Rows are split in two parts, inputs ``x`` then
recurrent ``h``, each padded to whole words with zeros, so a part never straddles a
word and the GRU candidate's two dot products fall out of one walk:

- weight memory, ``P`` int8 lanes a word: ``cx = ceil(X/P)`` words of ``x`` weights then
  ``ch = ceil(H/P)`` of ``h`` weights per row; rows in order, layer directions in order.
  With ``skip = "delta"`` the image is tiled instead, for the column walk: word ``g*N + j``
  of a layer direction holds column ``j`` (``N = X + H`` columns, x then h) of the ``P``
  rows ``g*P .. g*P + P - 1`` (lane i: row ``g*P + i``; rows past ``G*H`` zero).
- weight-sign memory, ``B`` bits a word: ``ceil(X/B)`` words of x sign bits, then
  ``ceil(H/B)`` of h sign bits per row (padding bits 0; masked off in the lane).
- row parameters (bias, multiplier and shift), one entry per row: address ``ld*G*H + r``.
- GRU candidate bias ``b_hn``: address ``ld*H + j``.
- BNN offsets, ``P`` int8 lanes a word, ``cx`` words per layer direction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..golden import numerics as nx
from ..golden.errors import MemornnError
from ..golden.qmodel import QModel
from .config import HwConfig


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class LayerDesc:
    """Constants of one layer direction, as the sequencer sees them."""

    layer: int
    direction: int
    in_size: int          # X
    x_words: int          # ceil(X / P)
    h_words: int          # ceil(H / P)
    xbit_words: int       # ceil(X / B)
    hbit_words: int       # ceil(H / B)
    weight_base: int      # first word in the weight memory
    bits_base: int        # first word in the weight-sign memory
    offset_base: int      # first word in the offset memory
    in_buffer: int        # seq buffer read by this layer (0 or 1)

    @property
    def row_words(self) -> int:
        return self.x_words + self.h_words

    @property
    def row_bit_words(self) -> int:
        return self.xbit_words + self.hbit_words


@dataclass(frozen=True)
class Layout:
    """Every size and base address of the accelerator for one model shape and config."""

    cell: str
    gates: int
    hidden: int
    input_size: int
    num_layers: int
    directions: int
    lanes: int
    bnn_width: int
    max_seq_len: int
    pwl_segments: int
    layers: tuple
    datapath: str = "parallel"
    weight_memory: str = "initialized"
    skip: str = "memo"

    @property
    def groups(self) -> int:
        """Row groups of the delta column walk, ``ceil(G*H / P)``."""
        return ceil_div(self.rows, self.lanes)

    @property
    def loaded_memories(self) -> tuple:
        """Memories built without initial contents, to be loaded through the load port
        (the BNN offsets share the weights' memory, so they come with it)."""
        return ("weights", "offsets") if self.weight_memory == "loaded" else ()

    @property
    def cell_input_regs(self) -> int:
        """Registers between the memo RAMs and the cell unit: 1 for the parallel datapath
        (its PWL units start from them), 0 for the shared one (it registers its PWL input)."""
        return 1 if self.datapath == "parallel" else 0

    @property
    def requant_passes(self) -> int:
        """Multiplier passes of the requantizer: 2 with the shared datapath when its products
        are always two or more cycles apart (a row's x and h parts, for the GRU candidate,
        are products of their own), else 1."""
        if self.datapath != "shared":
            return 1
        if self.cell == "gru" and any(min(d.x_words, d.h_words) < 2 for d in self.layers):
            return 1
        return 2

    @property
    def rows(self) -> int:
        """Gate neurons per layer direction, ``G*H``."""
        return self.gates * self.hidden

    @property
    def layer_dirs(self) -> int:
        return self.num_layers * self.directions

    @property
    def output_size(self) -> int:
        return self.hidden * self.directions

    @property
    def out_words(self) -> int:
        """Seq-buffer words per step of a layer output (and of a later layer's input)."""
        return ceil_div(self.output_size, self.lanes)

    @property
    def in_words(self) -> int:
        """Seq-buffer words per step of the model input."""
        return ceil_div(self.input_size, self.lanes)

    @property
    def step_words(self) -> int:
        """Seq-buffer stride per step: room for either."""
        return max(self.in_words, self.out_words)

    @property
    def seq_buffer_depth(self) -> int:
        return self.max_seq_len * self.step_words

    @property
    def weight_depth(self) -> int:
        last = self.layers[-1]
        if self.skip == "delta":
            return last.weight_base + self.groups * (last.in_size + self.hidden)
        return last.weight_base + self.rows * last.row_words

    @property
    def bits_depth(self) -> int:
        last = self.layers[-1]
        return last.bits_base + self.rows * last.row_bit_words

    @property
    def offset_depth(self) -> int:
        last = self.layers[-1]
        return last.offset_base + last.x_words

    @property
    def max_row_inputs(self) -> int:
        """Largest ``N = X + H`` over the layers: the BNN output lies in ``[-N, N]``."""
        return max(d.in_size for d in self.layers) + self.hidden

    @property
    def yb_bits(self) -> int:
        return self.max_row_inputs.bit_length() + 1

    @property
    def max_xbit_words(self) -> int:
        return max(d.xbit_words for d in self.layers)

    @property
    def max_x_words(self) -> int:
        return max(d.x_words for d in self.layers)

    def counter_max(self, name: str) -> int | None:
        """Largest value counter ``name`` can reach in one sequence (``None``: unbounded).

        Every count but ``cycles`` (which output back-pressure can stretch without end)
        is bounded by what a sequence of ``max_seq_len`` steps holds, so those counters
        are built only as wide as their bound needs.
        """
        rows = self.max_seq_len * self.rows * len(self.layers)
        columns = self.max_seq_len * sum(d.in_size + self.hidden for d in self.layers)
        bounds = {
            "columns_used": columns, "columns_skipped": columns, "acc_updates": rows,
            "neurons_computed": rows, "neurons_reused": rows, "bnn_evals": rows,
            "macs": self.max_seq_len * self.rows * sum(d.in_size + self.hidden for d in self.layers),
            "mac_busy_cycles": self.max_seq_len * (self.groups * sum(d.in_size + self.hidden for d in self.layers)
                                                   if self.skip == "delta" else
                                                   self.rows * sum(d.row_words for d in self.layers)),
        }
        bounds["macs_skipped"] = bounds["macs"]
        return bounds.get(name)


def make_layout(model: QModel, config: HwConfig) -> Layout:
    """Sizes and base addresses for ``model`` on an accelerator built with ``config``."""
    p, b = config.mac_lanes, config.bnn_width
    hidden, rows = model.hidden_size, model.gates * model.hidden_size
    groups = ceil_div(rows, p)
    layers = []
    weight_base = bits_base = offset_base = 0
    for k in range(model.num_layers):
        x = model.layer_input_size(k)
        for d in range(model.directions):
            desc = LayerDesc(k, d, x, ceil_div(x, p), ceil_div(hidden, p), ceil_div(x, b), ceil_div(hidden, b),
                             weight_base, bits_base, offset_base, k % 2)
            layers.append(desc)
            weight_base += groups * (x + hidden) if config.skip == "delta" else rows * desc.row_words
            bits_base += rows * desc.row_bit_words
            offset_base += desc.x_words
    return Layout(model.cell, model.gates, hidden, model.input_size, model.num_layers, model.directions, p, b,
                  config.max_seq_len, model.pwl_segments, tuple(layers), config.datapath, config.weight_memory,
                  config.skip)


def _pack_lanes(values: np.ndarray, lanes: int, bits: int) -> list[int]:
    """Pack a (words, lanes) array of signed ints into ``lanes * bits``-bit words, lane 0 lowest."""
    mask = (1 << bits) - 1
    words = []
    for row in values.reshape(-1, lanes):
        word = 0
        for lane, v in enumerate(row):
            word |= (int(v) & mask) << (lane * bits)
        words.append(word)
    return words


def _pad_part(part: np.ndarray, words: int, width: int) -> np.ndarray:
    """(rows, n) to (rows * words, width), zero padded."""
    out = np.zeros((part.shape[0], words * width), dtype=np.int64)
    out[:, :part.shape[1]] = part
    return out.reshape(part.shape[0] * words, width)


def _layer_dirs(model: QModel, layout: Layout):
    for desc in layout.layers:
        yield desc, model.layers[desc.layer][desc.direction]


def weight_words(model: QModel, layout: Layout) -> list[int]:
    """The weight memory image: ``P`` int8 lanes a word (tiled with ``skip = "delta"``)."""
    if layout.skip == "delta":
        return tiled_weight_words(model, layout)
    words = []
    for desc, q in _layer_dirs(model, layout):
        x = _pad_part(q.weight[:, :desc.in_size], desc.x_words, layout.lanes)
        h = _pad_part(q.weight[:, desc.in_size:], desc.h_words, layout.lanes)
        per_row = np.concatenate([x.reshape(layout.rows, -1), h.reshape(layout.rows, -1)], axis=1)
        words += _pack_lanes(per_row, layout.lanes, nx.WEIGHT_BITS)
    return words


def tiled_weight_words(model: QModel, layout: Layout) -> list[int]:
    """The delta column walk's weight image: word ``g*N + j`` holds column ``j`` of rows
    ``g*P .. g*P + P - 1`` (lane i: row ``g*P + i``), row groups in order, layer directions
    in order."""
    words = []
    p = layout.lanes
    for _, q in _layer_dirs(model, layout):
        w = np.zeros((layout.groups * p, q.weight.shape[1]), np.int64)
        w[:layout.rows] = q.weight
        tiles = w.reshape(layout.groups, p, -1).transpose(0, 2, 1)  # (group, column, lane)
        words += _pack_lanes(tiles, p, nx.WEIGHT_BITS)
    return words


def weight_bit_words(model: QModel, layout: Layout) -> list[int]:
    """The weight-sign memory image: ``B`` bits a word, padding bits 0."""
    words = []
    for desc, q in _layer_dirs(model, layout):
        bits = q.weight_bits
        x = _pad_part(bits[:, :desc.in_size], desc.xbit_words, layout.bnn_width)
        h = _pad_part(bits[:, desc.in_size:], desc.hbit_words, layout.bnn_width)
        per_row = np.concatenate([x.reshape(layout.rows, -1), h.reshape(layout.rows, -1)], axis=1)
        words += _pack_lanes(per_row, layout.bnn_width, 1)
    return words


def bias_words(model: QModel, layout: Layout) -> list[int]:
    """Row biases (two's complement, ``BIAS_BITS``), address ``ld*G*H + r``."""
    mask = (1 << nx.BIAS_BITS) - 1
    return [int(v) & mask for _, q in _layer_dirs(model, layout) for v in q.bias]


#: Row parameter word: multiplier in the low bits, shift above it.
SHIFT_FIELD_BITS = 6


def requant_words(model: QModel, layout: Layout) -> list[int]:
    """Row requantization parameters, ``mult | shift << MULT_BITS``, address ``ld*G*H + r``."""
    return [int(m) | (int(s) << nx.MULT_BITS) for _, q in _layer_dirs(model, layout)
            for m, s in zip(q.mult, q.shift)]


def bias_hn_words(model: QModel, layout: Layout) -> list[int]:
    """GRU candidate h-part biases, address ``ld*H + j`` (empty for an LSTM)."""
    if model.cell != "gru":
        return []
    mask = (1 << nx.BIAS_BITS) - 1
    return [int(v) & mask for _, q in _layer_dirs(model, layout) for v in q.bias_hn]


def offset_words(model: QModel, layout: Layout) -> list[int]:
    """BNN offsets: ``P`` int8 lanes a word, ``cx`` words per layer direction."""
    words = []
    for desc, q in _layer_dirs(model, layout):
        words += _pack_lanes(_pad_part(q.offset[None, :], desc.x_words, layout.lanes), layout.lanes, 8)
    return words


#: Load-port memory selectors, in register-map order.
MEMORIES = ("weights", "weight_bits", "bias", "requant", "bias_hn", "offsets")


def memory_images(model: QModel, layout: Layout) -> dict[str, list[int]]:
    """Every loadable memory's image, keyed by the names of :data:`MEMORIES`."""
    bits = weight_bit_words(model, layout) if layout.skip == "memo" else []  # no BNN in a delta build
    return {"weights": weight_words(model, layout), "weight_bits": bits,
            "bias": bias_words(model, layout), "requant": requant_words(model, layout),
            "bias_hn": bias_hn_words(model, layout), "offsets": offset_words(model, layout)}


def memory_widths(layout: Layout) -> dict[str, int]:
    """Word width in bits of every loadable memory, keyed by the names of :data:`MEMORIES`."""
    return {"weights": layout.lanes * nx.WEIGHT_BITS, "weight_bits": layout.bnn_width, "bias": nx.BIAS_BITS,
            "requant": nx.MULT_BITS + SHIFT_FIELD_BITS, "bias_hn": nx.BIAS_BITS, "offsets": layout.lanes * 8}


def memory_depths(layout: Layout) -> dict[str, int]:
    """Depth in words of every loadable memory (``bias_hn`` is 0 for an LSTM, ``weight_bits``
    for a delta build)."""
    rows = layout.layer_dirs * layout.rows
    bits = layout.bits_depth if layout.skip == "memo" else 0
    return {"weights": layout.weight_depth, "weight_bits": bits, "bias": rows, "requant": rows,
            "bias_hn": layout.layer_dirs * layout.hidden if layout.cell == "gru" else 0,
            "offsets": layout.offset_depth}


def check_fits(model: QModel, layout: Layout, config: HwConfig) -> None:
    """Refuse a model the configured hardware cannot hold, naming the numbers."""
    weight_bytes = layout.weight_depth * layout.lanes
    if weight_bytes > config.max_weight_bytes:
        raise MemornnError(f"the model needs {weight_bytes} bytes of weight memory, more than max_weight_bytes = "
                           f"{config.max_weight_bytes}")
