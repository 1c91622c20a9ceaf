"""The formal checks of the accelerator: which harness, which mode, how deep, which verdict.

:data:`CHECKS` lists them; each has the verdict it must reach: ``PASS`` for the design,
``FAIL`` for a deliberately broken variant (a mutation), which shows the rules can
fail. ``default`` checks run in the default test run; the rest are deeper and slow.
The components' checks (:mod:`.components`: the stream ends, the work queue, the memo
table) run on :func:`tiny_layout` and :func:`small_layout`.

Run them with ``python -m memornn.hw.formal [--all] [--only NAME ...] [-o DIR]``.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from ...golden.errors import MemornnError
from ..config import HwConfig
from ..layout import make_layout
from .components import (MemoTableHarness, OutputStreamerHarness, SequencerInputHarness, TraceEmitterHarness,
                         WorkQueueHarness)
from .harness import AxilSlaveHarness, DecisionHarness, TopHarness
from .sby import Verdict, run_formal


def tiny_layout():
    """The smallest accelerator: a 1x1 GRU with one input, P = B = 1, two-step sequences."""
    shape = SimpleNamespace(cell="gru", gates=3, hidden_size=1, input_size=1, num_layers=1, directions=1,
                            pwl_segments=8, layer_input_size=lambda k: 1)
    return make_layout(shape, HwConfig(mac_lanes=1, bnn_width=1, max_seq_len=2, counter_bits=16, trace=True))


def small_layout():
    """A 1x3 LSTM with 3 inputs, P = B = 2, three-step sequences: several words a step, a
    partial last word (TKEEP), a beat written in two words."""
    shape = SimpleNamespace(cell="lstm", gates=4, hidden_size=3, input_size=3, num_layers=1, directions=1,
                            pwl_segments=8, layer_input_size=lambda k: 3)
    return make_layout(shape, HwConfig(mac_lanes=2, bnn_width=2, max_seq_len=3, counter_bits=16, trace=True))


@dataclass(frozen=True)
class Check:
    """One formal run: a harness, the SymbiYosys mode and depth, and the verdict it must reach.

    Attributes
    ----------
    name : str
        The run's directory, its ``--only`` name and its row in the table.
    make : callable
        Returns the harness.
    mode : {"bmc", "prove", "cover"}
        The SymbiYosys mode.
    depth : int
        Steps of the bounded check, the induction or the cover.
    expect : {"PASS", "FAIL"}
    default : bool
        Part of the default test run (else slow).
    what : str
        What the run shows, one line (the table's last column).
    fails_on : tuple of str
        For a mutation: the properties that name its fault (one of them must fail).
    memory_map : bool
        Memories as registers for the solver (:func:`~memornn.hw.formal.sby.sby_text`).
    """

    name: str
    make: object
    mode: str
    depth: int
    expect: str
    default: bool
    what: str
    fails_on: tuple = ()
    memory_map: bool = False


def _stream_end_proofs(name: str, harness, tiny: str, small: str, cover: str) -> tuple:
    """A stream end's proofs (k-induction) on the tiny and on the small layout and its cover
    on the small one; ``harness(layout)`` builds its harness, the strings say what each shows."""
    return (Check(name, lambda: harness(tiny_layout()), "prove", 20, "PASS", True, tiny),
            Check(f"{name}_small", lambda: harness(small_layout()), "prove", 20, "PASS", True, small),
            Check(f"{name}_cover", lambda: harness(small_layout()), "cover", 20, "PASS", True, cover))


def _component_checks() -> tuple:
    """The stream ends, the work queue and the memo table, each on its own (:mod:`.components`)."""
    out = lambda lay, **kw: lambda: OutputStreamerHarness(lay(), **kw)  # noqa: E731
    seq = lambda lay, **kw: lambda: SequencerInputHarness(lay(), **kw)  # noqa: E731
    broken = {"invariants": False}
    return (
        *_stream_end_proofs(
            "output_streamer", OutputStreamerHarness,
            "o_h master (tiny layout): valid held, TDATA/TKEEP/TLAST stable, (seq_last+1)*out_words beats a "
            "frame, TLAST on the last, done with it (k-induction)",
            "the same on the small layout: 2 words a step, a partial last word (k-induction)",
            "reachable: the last beat of a frame of max_seq_len steps"),
        Check("output_streamer_valid_drops", out(tiny_layout, mutation="valid_drops", **broken), "bmc", 20, "FAIL",
              True, "mutation: TVALID falls while stalled", ("o_h_valid_held",)),
        Check("output_streamer_beat_skipped", out(small_layout, mutation="beat_skipped", **broken), "bmc", 20,
              "FAIL", True, "mutation: a beat lost (the streamer sees a READY the sink did not give)",
              ("o_h_tlast_on_the_last_beat", "o_h_no_extra_beat", "o_h_payload_stable")),
        *_stream_end_proofs(
            "sequencer_input", SequencerInputHarness,
            "i_x slave (tiny layout): every accepted beat stored at its step, the last one starts the sequence "
            "with T = beats, a too-long one dropped, no beat taken while computing (k-induction)",
            "the same on the small layout: a beat in 2 words, sequences of up to 3 (k-induction)",
            "reachable: a sequence of max_seq_len beats computed to its output phase"),
        Check("sequencer_input_beat_lost", seq(tiny_layout, mutation="beat_lost", **broken), "bmc", 20, "FAIL",
              True, "mutation: a beat acknowledged without reaching the sequencer",
              ("i_x_beat_stored", "i_x_last_beat_starts_the_sequence")),
        Check("trace_emitter", lambda: TraceEmitterHarness(tlast_rule=False), "prove", 20, "PASS", True,
              "o_trace master (3 rows a step, 2 in flight): valid held, TDATA/TLAST stable, no word dropped "
              "under any back-pressure, only written words sent (k-induction)"),
        Check("trace_emitter_tlast", TraceEmitterHarness, "bmc", 20, "PASS", False,
              "the same with TLAST only on a sequence's last counter word (BMC)", memory_map=True),
        Check("trace_emitter_valid_drops", lambda: TraceEmitterHarness(mutation="valid_drops", **broken), "bmc", 20,
              "FAIL", True, "mutation: TVALID falls while stalled", ("o_trace_valid_held",), memory_map=True),
        Check("trace_emitter_room_ignored", lambda: TraceEmitterHarness(1, mutation="room_ignored", **broken),
              "bmc", 20, "FAIL", False, "mutation: the row issue ignores ROOM (1 row a step: a word a row)",
              ("no_trace_word_dropped",), memory_map=True),
        Check("work_queue", lambda: WorkQueueHarness(order_rule=False), "prove", 20, "PASS", True,
              "work queue (2 slots): a reserved write always accepted, items out <= items in, EMPTY exact, "
              "reservations conserved, read side held until ready (k-induction)"),
        Check("work_queue_order", WorkQueueHarness, "bmc", 20, "PASS", True,
              "the same, and a tagged item comes out at its position unchanged: no row lost or duplicated, "
              "in order (BMC)", memory_map=True),
        Check("work_queue_cover", WorkQueueHarness, "cover", 20, "PASS", True,
              "reachable: the tagged item out behind a full queue", memory_map=True),
        Check("work_queue_item_dropped", lambda: WorkQueueHarness(mutation="item_dropped", **broken), "bmc", 20,
              "FAIL", True, "mutation: a row acknowledged, never queued",
              ("empty_iff_no_item", "r_only_queued_items", "tagged_item_out_in_order_unchanged"), memory_map=True),
        Check("work_queue_item_duplicated", lambda: WorkQueueHarness(mutation="item_duplicated", **broken), "bmc",
              20, "FAIL", True, "mutation: a row taken twice", ("tagged_item_out_in_order_unchanged",),
              memory_map=True),
        Check("memo_table", MemoTableHarness, "bmc", 20, "PASS", True,
              "memo table (4 banks x 2): valid from a neuron's first computation in a sequence, then holding "
              "its last (BMC)", memory_map=True),
        Check("memo_table_cover", MemoTableHarness, "cover", 20, "PASS", True,
              "reachable: a read of the neuron in a new sequence", memory_map=True),
        Check("memo_table_write_lost", lambda: MemoTableHarness(mutation="write_lost"), "bmc", 20, "FAIL", True,
              "mutation: a computation's write lost", ("memo_entry_holds_its_last_computation",), memory_map=True),
    )


CHECKS = (
    Check("axil_slave", AxilSlaveHarness, "prove", 20, "PASS", True,
          "AXI4-Lite slave behind any register file: protocol, one register access per request, "
          "responses in order carrying the register file's answer (k-induction)"),
    Check("axil_slave_cover", AxilSlaveHarness, "cover", 20, "PASS", True,
          "reachable: a SLVERR write response; a SLVERR read answered while a write response waits and the "
          "next write is held"),
    Check("axil_slave_bvalid_drops", lambda: AxilSlaveHarness("bvalid_drops"), "bmc", 20, "FAIL", True,
          "mutation: BVALID falls while BREADY is low",
          ("b_valid_held", "write_held_exactly_while_not_ready")),
    Check("axil_slave_rdata_late", lambda: AxilSlaveHarness("rdata_late"), "bmc", 20, "FAIL", False,
          "mutation: RDATA not held", ("r_carries_the_register_files_answer", "r_payload_stable")),
    Check("axil_slave_double_write", lambda: AxilSlaveHarness("double_write"), "bmc", 20, "FAIL", False,
          "mutation: a write reaches the register file twice",
          ("write_only_after_aw_and_w", "one_write_held_each_way", "b_answers_the_write")),
    Check("decision", lambda: DecisionHarness(8), "bmc", 20, "PASS", True,
          "decision unit = golden reuse rule for every input (a feed-forward pipeline of 4 stages: "
          "BMC past its depth covers every input)"),
    Check("decision_theta_off_by_one", lambda: DecisionHarness(8, "theta_off_by_one"), "bmc", 20, "FAIL", True,
          "mutation: the unit sees THETA - 1",
          ("reuse_is_the_golden_rule", "run_next_is_the_golden_rule")),
    Check("top", lambda: TopHarness(tiny_layout()), "bmc", 20, "PASS", True,
          "accelerator ports: AXI4-Lite slave, output and trace stream masters, input stream (BMC 20)"),
    Check("top_30", lambda: TopHarness(tiny_layout()), "bmc", 30, "PASS", False,
          "the same past the first trace word (written at step 27): no trace word dropped in the composed core"),
    Check("top_deep", lambda: TopHarness(tiny_layout()), "bmc", 70, "PASS", False,
          "accelerator ports to a depth past a whole sequence: no input beat lost end to end"),
    Check("top_cover", lambda: TopHarness(tiny_layout()), "cover", 70, "PASS", False,
          "a whole sequence in and out (the end-to-end rules are not vacuous)"),
    Check("top_tvalid_drops", lambda: TopHarness(tiny_layout(), mutation="tvalid_drops"), "bmc", 70, "FAIL", False,
          "mutation: m_axis_tvalid falls while stalled", ("m_axis_valid_held",)),
    Check("top_beat_lost", lambda: TopHarness(tiny_layout(), mutation="beat_lost"), "bmc", 70, "FAIL", False,
          "mutation: an input beat acknowledged but never delivered",
          ("m_axis_tlast_on_the_last_beat", "m_axis_no_extra_beat", "m_axis_trace_tlast_on_the_last_beat",
           "m_axis_trace_no_extra_beat", "one_sequence_at_a_time")),
) + _component_checks()
BY_NAME = {c.name: c for c in CHECKS}


def property_names(il_text: str) -> dict:
    """``{"check_<N>": message}`` of the ``$check`` cells of an RTLIL file (the witness names
    SymbiYosys reports) whose message is set."""
    names = {}
    for m in re.finditer(r'cell \$check \$(\d+)\n\s+parameter \\FORMAT "([^"]*)"', il_text):
        if m.group(2):
            names[f"check_{m.group(1)}"] = m.group(2)
    return names


def run_check(check: Check, workdir: Path, timeout: float | None = None) -> Verdict:
    """Run ``check`` in ``workdir``; the verdict's ``failed`` lists the failed properties' messages."""
    verdict = run_formal(check.make(), check.mode, check.depth, Path(workdir), timeout, check.memory_map)
    il = Path(workdir) / "top.il"
    names = property_names(il.read_text()) if il.is_file() else {}
    named = []
    for failure in verdict.failed:
        m = re.search(r"_witness_\.(check_\d+)", failure)
        named.append(names.get(m.group(1), failure) if m else failure)
    verdict.failed = named
    return verdict


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m memornn.hw.formal",
                                     description="Run the formal checks (yowasp-sby, Yices) and print a table.")
    parser.add_argument("--all", action="store_true", help="also the slow (deep) checks")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=sorted(BY_NAME), help="these checks only")
    parser.add_argument("-o", "--output", metavar="DIR", help="keep the runs here (default: a temporary directory)")
    args = parser.parse_args(argv)
    chosen = [BY_NAME[n] for n in args.only] if args.only else [c for c in CHECKS if c.default or args.all]
    root = Path(args.output) if args.output else Path(tempfile.mkdtemp(prefix="memornn-formal-"))
    print("| check | mode | depth | expected | verdict | seconds | what |\n|---|---|---|---|---|---:|---|")
    bad = 0
    for check in chosen:
        try:
            verdict = run_check(check, root / check.name)
        except MemornnError as exc:
            print(f"memornn formal: error: {exc}", file=sys.stderr)
            return 2
        ok = verdict.status == check.expect
        bad += not ok
        print(f"| {check.name} | {check.mode} | {check.depth} | {check.expect} | {verdict.status}"
              f"{'' if ok else ' (WRONG)'} | {verdict.seconds:.1f} | {check.what} |", flush=True)
    print(f"runs in {root}", file=sys.stderr)
    return 1 if bad else 0
