"""memornn: generator of synthesizable RNN (LSTM/GRU) inference accelerators.

Sub-packages ``memornn.golden`` (NumPy golden model), ``memornn.hw`` (Amaranth
HDL) and ``memornn.sim`` (cocotb testbenches) live at the repository root in
golden/, hw/ and sim/; pyproject.toml maps them into this package.
"""

__version__ = "0.1.0"
