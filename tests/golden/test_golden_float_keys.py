"""Strict key parsing of the float model format (golden/floatmodel.py): a key that only
looks like a layer key is an unknown key, never layer 0."""

import numpy as np
import pytest

from memornn.golden.errors import MemornnError
from memornn.golden.floatmodel import model_from_arrays


@pytest.mark.parametrize("key", ["weight_ih_l00", "weight_ih_l\u0660", "weight_ih_l0\n", "weight_ih_l+0",
                                 "weight_ih_l1\u0661"])
def test_float_keys_are_parsed_strictly(key):
    rng = np.random.default_rng(5)
    arrays = {"cell": np.array("gru"), "weight_ih_l0": rng.standard_normal((6, 3)),
              "weight_hh_l0": rng.standard_normal((6, 2)), key: rng.standard_normal((6, 3))}
    with pytest.raises(MemornnError, match="unknown key"):
        model_from_arrays(arrays)
