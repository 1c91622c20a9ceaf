"""The hardware configuration: a TOML file whose every key has a default and is checked.

Example ``hw.toml``::

    mac_lanes = 8        # P: full-precision multiply-accumulates per cycle
    bnn_width = 64       # B: XNOR-popcount bits per cycle
    max_seq_len = 64     # longer sequences are rejected with an error status
    trace = false        # emit the reuse trace stream (tests turn it on)
    datapath = "parallel"   # or "shared": multipliers time-shared (small FPGAs)
    weight_memory = "initialized"   # or "loaded": no initial contents (iCE40 SPRAM)
    skip = "memo"        # or "delta": the delta-network column-skipping datapath
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass, fields

from ..golden import numerics as nx
from ..golden.errors import MemornnError

#: Values of ``datapath`` and ``weight_memory``: see :class:`HwConfig`.
DATAPATHS = ("parallel", "shared")
WEIGHT_MEMORIES = ("initialized", "loaded")
#: Values of ``skip``: the skipping datapath a build has (see :class:`HwConfig`).
SKIP_DATAPATHS = ("memo", "delta")


@dataclass(frozen=True)
class HwConfig:
    """Generation parameters of one accelerator.

    Attributes
    ----------
    mac_lanes : int
        P, int8 multiply-accumulates per cycle (1 to 64).
    bnn_width : int
        B, XNOR-popcount bits per cycle (1 to 1024).
    max_seq_len : int
        Longest sequence the buffers hold (1 to 65536); longer ones are rejected.
    row_fifo_depth : int
        Rows the BNN may run ahead of the MAC lanes (2 to 256).
    trace : bool
        Generate the reuse-trace stream.
    counter_bits : int
        Width of the performance counters (16 to 64).
    weight_bits, act_bits : int
        Operand widths; the numerics module defines 8-bit weights and activations and
        only that value is accepted.
    max_weight_bytes : int
        Largest weight memory the generator will build, in bytes.
    datapath : str
        ``"parallel"``: the cell unit has five PWL units and three multipliers (LSTM;
        GRU three and two) and takes a hidden unit every cycle; the requantizer
        multiplies in one pass. ``"shared"``: one PWL unit and one multiplier take a
        hidden unit every 5 (LSTM) or 3 (GRU) cycles, and the requantizer multiplies in
        two passes on that same multiplier (when products are at least two cycles
        apart: always for LSTM, for GRU when X > P and H > P); the decision unit and the
        PWL unit share a second one. For FPGAs with few DSP blocks (the iCE40s: with SPRAM
        weights it fits P = 8, B = 64 for a 1x32 LSTM on the UP5K), for 4H (LSTM) or 2H
        (GRU) more cycles a step.
    weight_memory : str
        ``"initialized"``: the weights are the weight memory's initial contents (and
        can be overwritten through the load port). ``"loaded"``: the weight memory has
        no initial contents and one address port shared by reads and loads, so Yosys
        maps it to the iCE40 UP5K's SPRAM (1 Mbit, which has no initial contents); the
        weights must be loaded through the LOAD_* registers before the first sequence
        (``manifest.json`` lists the memories; :func:`memornn.hw.top.load_writes`
        gives the writes).
    skip : str
        The skipping datapath, a generation-time choice. ``"memo"``: row memoization
        (the BNN predictor, row-major weights). ``"delta"``: delta-network column skipping
        (predictor ``delta``: a change detector, a column walk over a tiled weight image,
        persistent int32 accumulators; ``docs/hardware.md``); needs ``datapath =
        "parallel"``.
    """

    mac_lanes: int = 8
    bnn_width: int = 64
    max_seq_len: int = 64
    row_fifo_depth: int = 8
    trace: bool = False
    counter_bits: int = 32
    weight_bits: int = nx.WEIGHT_BITS
    act_bits: int = nx.INPUT_BITS
    max_weight_bytes: int = 4 * 2**20
    datapath: str = "parallel"
    weight_memory: str = "initialized"
    skip: str = "memo"

    def __post_init__(self):
        def check_int(name, low, high):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise MemornnError(f"hardware config: {name} = {value!r} must be an integer in [{low}, {high}]")

        check_int("mac_lanes", 1, 64)
        check_int("bnn_width", 1, 1024)
        check_int("max_seq_len", 1, 65536)
        check_int("row_fifo_depth", 2, 256)
        check_int("counter_bits", 16, 64)
        check_int("max_weight_bytes", 1, 2**32)
        if self.datapath not in DATAPATHS:
            raise MemornnError(f"hardware config: datapath = {self.datapath!r} must be one of "
                               f"{', '.join(DATAPATHS)}")
        if self.weight_memory not in WEIGHT_MEMORIES:
            raise MemornnError(f"hardware config: weight_memory = {self.weight_memory!r} must be one of "
                               f"{', '.join(WEIGHT_MEMORIES)}")
        if self.skip not in SKIP_DATAPATHS:
            raise MemornnError(f"hardware config: skip = {self.skip!r} must be one of {', '.join(SKIP_DATAPATHS)}")
        if self.skip == "delta" and self.datapath != "parallel":
            raise MemornnError(f"hardware config: skip = 'delta' needs datapath = 'parallel', got "
                               f"datapath = {self.datapath!r} (the delta requantizer has no two-pass form)")
        if not isinstance(self.trace, bool):
            raise MemornnError(f"hardware config: trace = {self.trace!r} must be true or false")
        for name, supported in (("weight_bits", nx.WEIGHT_BITS), ("act_bits", nx.INPUT_BITS)):
            if getattr(self, name) != supported:
                raise MemornnError(f"hardware config: {name} = {getattr(self, name)!r} is not supported "
                                   f"(the numerics module defines {supported})")

    def to_dict(self) -> dict:
        return asdict(self)

    def replace(self, **changes) -> "HwConfig":
        return HwConfig(**{**self.to_dict(), **changes})


def config_from_dict(values: dict, where: str = "hardware config") -> HwConfig:
    """Build a config from a dict (for example a parsed TOML table), rejecting unknown keys."""
    known = {f.name for f in fields(HwConfig)}
    for key in values:
        if key not in known:
            raise MemornnError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")
    return HwConfig(**values)


def load_config(path: str | os.PathLike | None) -> HwConfig:
    """Read a TOML hardware configuration; ``None`` gives the defaults."""
    if path is None:
        return HwConfig()
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            values = tomllib.load(f)
    except FileNotFoundError:
        raise MemornnError(f"hardware config {path!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise MemornnError(f"hardware config {path!r} is not valid TOML: {exc}") from None
    return config_from_dict(values, f"hardware config {path!r}")
