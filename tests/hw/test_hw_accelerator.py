"""The whole core in amaranth.sim against the golden model: outputs, reuse trace, counters."""

import zlib

import pytest

from memornn.golden.intmodel import golden_run
from memornn.golden.quantize import quantize_model
from memornn.golden.randmodel import random_batch, random_float_model
from memornn.hw.config import HwConfig
from memornn.hw.cycles import sequence_cycles_none
from memornn.hw.layout import make_layout
from memornn.sim.amaranth_backend import run_amaranth
from memornn.sim.compare import first_mismatch

# Pairwise coverage of cell, layers, directions, odd sizes, P, B, threshold, predictor.
CASES = [
    # cell, layers, bidir, X, H, P, B, predictor, threshold, cap
    ("lstm", 1, False, 5, 7, 4, 16, "bnn", "0", 0),
    ("gru", 1, False, 3, 9, 8, 64, "bnn", "0.5", 0),
    ("lstm", 2, True, 4, 5, 1, 64, "bnn", "0.1", 0),
    ("gru", 2, True, 6, 4, 4, 16, "none", "0", 0),
    ("lstm", 2, False, 13, 11, 8, 16, "bnn", "0.5,0.2", 2),
    ("gru", 1, True, 9, 6, 1, 16, "bnn", "0.1", 0),
    ("lstm", 1, False, 3, 8, 8, 64, "none", "0", 0),
    ("gru", 2, False, 2, 13, 4, 64, "bnn", "2.0", 1),
]


def test_smallest_row_fifo_with_predictor_none():
    """A row FIFO of 2 credits with a row issued every cycle loses no row."""
    model = random_float_model("lstm", 1, False, 2, 2, seed=0)
    batch = random_batch(2, sequences=2, max_len=3, seed=0)
    qmodel = quantize_model(model, batch)
    config = HwConfig(mac_lanes=2, bnn_width=8, max_seq_len=4, row_fifo_depth=2)
    for predictor in ("none", "bnn"):
        golden = golden_run(qmodel, batch, 0.5, predictor)
        assert first_mismatch(golden, run_amaranth(qmodel, batch, config, 0.5, predictor)) is None


def _case_id(case):
    cell, layers, bidir, x, h, p, b, pred, theta, cap = case
    return f"{cell}-{layers}l{'-bi' if bidir else ''}-x{x}h{h}-p{p}b{b}-{pred}{theta}-cap{cap}"


#: The shared datapath (one PWL unit and multiplier in the cell, a hidden unit every 5 or 3
#: cycles; the requantizer in two passes except for the GRU with X <= P or H <= P).
SHARED_CASES = [
    ("lstm", 2, True, 5, 6, 4, 16, "bnn", "0.3", 0),
    ("gru", 2, False, 4, 7, 2, 64, "bnn", "0.5", 0),
    ("lstm", 1, False, 3, 9, 8, 64, "none", "0", 0),
    ("gru", 1, True, 5, 5, 4, 16, "none", "0", 0),
    ("gru", 1, False, 3, 9, 8, 64, "bnn", "0.5", 0),
]


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_core_matches_golden(case):
    _check_core(case, "parallel")


@pytest.mark.parametrize("case", SHARED_CASES, ids=_case_id)
def test_core_with_shared_cell_matches_golden(case):
    _check_core(case, "shared")


@pytest.mark.parametrize("case", [CASES[0], SHARED_CASES[1]], ids=_case_id)
def test_core_with_loaded_weights_matches_golden(case):
    """Weight memory without initial contents: the run loads it through the load port first."""
    _check_core(case, "shared" if case in SHARED_CASES else "parallel", weight_memory="loaded")


def test_loaded_weights_come_only_through_the_load_port(monkeypatch):
    """Skip the load and the outputs go wrong: the memory really has no initial contents."""
    import memornn.sim.amaranth_backend as backend

    async def no_load(*args):
        pass

    monkeypatch.setattr(backend, "_load_memories", no_load)
    model = random_float_model("lstm", 1, False, 3, 4, seed=5)
    batch = random_batch(3, sequences=2, max_len=3, seed=5)
    qmodel = quantize_model(model, batch)
    config = HwConfig(mac_lanes=2, bnn_width=8, max_seq_len=4, weight_memory="loaded")
    golden = golden_run(qmodel, batch, 0.0, "none")
    assert first_mismatch(golden, backend.run_amaranth(qmodel, batch, config, 0.0, "none")) is not None


def test_shared_cases_cover_both_requantizers():
    passes = set()
    for cell, layers, bidir, x, h, p, b, *_ in SHARED_CASES:
        q = quantize_model(random_float_model(cell, layers, bidir, x, h, seed=0), random_batch(x, 2, 3, seed=0))
        passes.add(make_layout(q, HwConfig(mac_lanes=p, bnn_width=b, datapath="shared")).requant_passes)
    assert passes == {1, 2}


def _check_core(case, datapath, weight_memory="initialized"):
    cell, layers, bidir, x, h, p, b, predictor, theta, cap = case
    seed = zlib.crc32(_case_id(case).encode()) % 1000
    model = random_float_model(cell, layers, bidir, x, h, seed=seed)
    batch = random_batch(x, sequences=3, max_len=6, seed=seed, smooth=0.8)
    qmodel = quantize_model(model, batch)
    config = HwConfig(mac_lanes=p, bnn_width=b, max_seq_len=8, datapath=datapath, weight_memory=weight_memory)
    golden = golden_run(qmodel, batch, theta, predictor, cap)
    hardware = run_amaranth(qmodel, batch, config, theta, predictor, cap)
    assert first_mismatch(golden, hardware) is None
    if predictor == "none":
        layout = make_layout(qmodel, config)
        assert hardware["cycles"].tolist() == [sequence_cycles_none(layout, int(n)) for n in batch.lengths]
    elif float(theta.split(",")[0]) >= 0.5:
        assert hardware["neurons_reused"].sum() > 0, "a large threshold should reuse some neurons"


@pytest.mark.parametrize("cell,bidir", [("lstm", True), ("gru", False)])
def test_counters_sized_to_their_bound_do_not_wrap(cell, bidir):
    """A full-length sequence with every neuron computed drives the counts to their bound.

    Bounded counters are built only as wide as :meth:`Layout.counter_max`; a bound one too
    small or a width one bit short would wrap here.
    """
    model = random_float_model(cell, 2, bidir, 5, 3, seed=11)
    batch = random_batch(5, sequences=1, max_len=3, seed=11)  # the first sequence is full length
    qmodel = quantize_model(model, batch)
    config = HwConfig(mac_lanes=2, bnn_width=8, max_seq_len=3)
    layout = make_layout(qmodel, config)
    golden = golden_run(qmodel, batch, "0", "none")
    hardware = run_amaranth(qmodel, batch, config, "0", "none", extra_counters=True)
    assert first_mismatch(golden, hardware) is None
    for name in ("neurons_computed", "macs", "mac_busy_cycles"):
        assert int(hardware[name][0]) == layout.counter_max(name), name
