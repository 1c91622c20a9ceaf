"""The core takes its trace flag, row FIFO depth and counter width from its BuildSpec alone."""

import pytest
from amaranth.hdl import Fragment

from memornn.golden.quantize import quantize_model
from memornn.golden.randmodel import random_batch, random_float_model
from memornn.hw.build import build_design
from memornn.hw.config import HwConfig
from memornn.hw.contract import COUNTER_NAMES
from memornn.hw.core import MemoCore
from memornn.hw.spec import BuildSpec


@pytest.fixture(scope="module")
def qmodel():
    return quantize_model(random_float_model("gru", 1, False, 3, 4, seed=0), random_batch(3, 2, 3, seed=0))


@pytest.mark.parametrize("trace, depth, bits", [(False, 8, 32), (True, 3, 48), (True, 16, 64)])
def test_core_settings_come_from_the_spec(qmodel, trace, depth, bits):
    spec = BuildSpec.of(qmodel, HwConfig(mac_lanes=2, bnn_width=8, max_seq_len=4, trace=trace,
                                         row_fifo_depth=depth, counter_bits=bits))
    core = build_design(spec, core_only=True)
    assert isinstance(core, MemoCore)
    members = core.signature.members
    assert ("o_trace" in members) == trace
    assert members["counters"].shape.size == bits * len(COUNTER_NAMES)
    fragment = Fragment.get(core, None)  # the whole design elaborated: nothing left unused
    queue = next(sub for sub, name, _ in fragment.subfragments if name == "work_queue")
    assert queue.origins[0].depth == depth
