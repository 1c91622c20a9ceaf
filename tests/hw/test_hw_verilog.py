"""Every datapath block converts to Verilog (through Yosys)."""

import pytest
from amaranth.back import verilog

from memornn.hw.bnn import BnnLane
from memornn.hw.cell import GruCellUnit, LstmCellUnit
from memornn.hw.decision import DecisionUnit
from memornn.hw.mac import MacLanes
from memornn.hw.pwl import PwlUnit
from memornn.hw.requant import Requantizer

BLOCKS = {
    "pwl_sigmoid": lambda: PwlUnit("sigmoid"),
    "pwl_tanh_256": lambda: PwlUnit("tanh", 256),
    "requant": Requantizer,
    "mac_3": lambda: MacLanes(3),
    "mac_16": lambda: MacLanes(16),
    "bnn_64": lambda: BnnLane(64),
    "bnn_12": lambda: BnnLane(12, max_bits=100),
    "decision": lambda: DecisionUnit(18),
    "lstm_cell": LstmCellUnit,
    "gru_cell": GruCellUnit,
}


@pytest.mark.parametrize("name", list(BLOCKS))
def test_converts_to_verilog(name):
    block = BLOCKS[name]()
    text = verilog.convert(block, name=name)
    assert f"module {name}" in text
    # Every port of the signature is a port of the module.
    for member in block.signature.members:
        assert member in text
