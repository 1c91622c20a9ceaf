"""Formal checks with yowasp-sby and Yices: the interfaces' rules hold, broken variants fail.

Each check of :data:`memornn.hw.formal.checks.CHECKS` must reach its expected verdict:
``PASS`` for the design (k-induction for the AXI4-Lite slave, BMC of depth 20 for the
others), ``FAIL`` for a mutation, on the property that names its fault. The deep ones
(past a whole sequence of the smallest accelerator) are slow.
"""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.sim import Simulator

from memornn.golden import numerics as nx
from memornn.golden.errors import MemornnError
from memornn.hw.formal.checks import CHECKS, property_names, run_check, tiny_layout
from memornn.hw.formal.components import in_state, probe
from memornn.hw.formal.harness import AxilSlaveHarness, reuse_rule
from memornn.hw.formal.sby import read_verdict, sby_text

pytestmark = pytest.mark.formal


def _params():
    return [pytest.param(c, id=c.name, marks=() if c.default else pytest.mark.slow) for c in CHECKS]


@pytest.mark.parametrize("check", _params())
def test_formal_check_reaches_its_verdict(check, tmp_path):
    verdict = run_check(check, tmp_path)
    assert verdict.status == check.expect, (verdict, (tmp_path / "sby.log").read_text()[-2000:])
    if check.expect == "FAIL":
        assert set(check.fails_on) & set(verdict.failed), verdict.failed
        assert verdict.step is not None


def test_every_mutation_names_the_property_it_breaks():
    for check in CHECKS:
        assert (check.expect == "FAIL") == bool(check.fails_on), check.name
        assert check.depth >= 20, check.name
    assert any(c.default and c.expect == "FAIL" for c in CHECKS)


def test_reuse_rule_is_numerics_within_threshold_and_the_cap():
    """The rule the decision unit is proven against computes numerics.within_threshold
    and the golden cap rule, on edge and random inputs (amaranth.sim, no solver)."""
    bits = 8
    m = Module()
    yb, yb_m = Signal(signed(bits)), Signal(signed(bits))
    run, cap = Signal(unsigned(nx.REUSE_CAP_BITS)), Signal(unsigned(nx.REUSE_CAP_BITS))
    theta, step0 = Signal(unsigned(nx.THETA_BITS)), Signal()
    reuse, run_next = reuse_rule(m, yb, yb_m, run, step0, theta, cap)
    rng = np.random.default_rng(5)
    edge = [(-128, -128, 0), (127, -128, nx.THETA_MAX_Q), (2, 1, 256), (0, 1, 255), (1, 0, 0), (0, 0, 0),
            (-128, 127, 1), (3, 4, 64), (5, 4, 64), (6, 4, 127), (6, 4, 128)]
    cases = [(a, b, t, int(rng.integers(0, 256)), int(rng.integers(0, 4)), int(rng.integers(0, 2)))
             for a, b, t in edge]
    for _ in range(300):
        cases.append((int(rng.integers(-128, 128)), int(rng.integers(-128, 128)),
                      int(rng.choice([rng.integers(0, 2 ** 16), rng.integers(0, 512)])),
                      int(rng.choice([rng.integers(0, 256), 255])), int(rng.integers(0, 4)),
                      int(rng.random() < 0.1)))
    sim = Simulator(m)
    seen = []

    async def bench(ctx):
        for a, b, t, r, c, s0 in cases:
            for sig, v in ((yb, a), (yb_m, b), (theta, t), (run, r), (cap, c), (step0, s0)):
                ctx.set(sig, v)
            seen.append((ctx.get(reuse), ctx.get(run_next)))

    sim.add_testbench(bench)
    sim.run()
    for (a, b, t, r, c, s0), (got_reuse, got_run) in zip(cases, seen):
        want = bool(nx.within_threshold(a, b, t)) and not s0 and (c == 0 or r < c)
        assert got_reuse == want, (a, b, t, r, c, s0)
        assert got_run == (min(r + 1, nx.REUSE_CAP_MAX) if want else 0)
    assert 0 < sum(g for g, _ in seen) < len(seen)  # both outcomes exercised


def test_sby_file_and_bad_options():
    text = sby_text("prove", 20)
    assert "mode prove" in text and "depth 20" in text and "smtbmc yices" in text and "read_rtlil top.il" in text
    assert "memory_map" not in text and "prep -top top\nmemory_map\n" in sby_text("bmc", 20, memory_map=True)
    with pytest.raises(MemornnError, match="unknown formal mode 'bmcx'"):
        sby_text("bmcx", 20)
    with pytest.raises(MemornnError, match="depth must be a positive int, got 0"):
        sby_text("bmc", 0)
    with pytest.raises(ValueError, match="unknown mutation 'nope'"):
        AxilSlaveHarness("nope")


def test_verdict_parsing():
    log = ("SBY 1 [top] engine_0: ##   0:00:00  Assert failed in top: /x/harness.py:9 (_witness_.check_12)\n"
           "SBY 1 [top] summary:   failed assertion top._witness_.check_12 at /x/harness.py:9 step 4\n"
           "SBY 1 [top] DONE (FAIL, rc=2)\n")
    verdict = read_verdict(log, 1.0)
    assert verdict.status == "FAIL" and verdict.step == 4
    assert verdict.failed == ["/x/harness.py:9 (_witness_.check_12)"]
    il = 'cell $check $12\n    parameter \\FORMAT "b_valid_held"\n'
    assert property_names(il) == {"check_12": "b_valid_held"}
    assert read_verdict("no summary", 1.0).status == "ERROR"


def test_probe_finds_a_components_registers_and_fsm_states():
    """The component harnesses' invariants read registers by name: a renamed register or
    state must be an error, not an invariant on nothing."""
    from memornn.hw.output_streamer import OutputStreamer

    m = Module()
    m._MustUse__silence = True  # elaborated only to be read
    found = probe(m, "dut", OutputStreamer(tiny_layout()))
    assert {"out_state", "out_t", "out_c", "rd_word"} <= set(found)
    state = found["out_state"]
    assert [repr(in_state(state, name)) for name in ("IDLE", "READ", "SEND")] == \
        [repr(state == code) for code in range(3)]  # Amaranth numbers the states as they come
    with pytest.raises(ValueError, match="out_state has no state 'WAIT'"):
        in_state(state, "WAIT")
