"""The delta-network core: :class:`MemoCore`'s memories, sequencer, cell and output, with
:class:`~memornn.hw.delta_rows.DeltaRows` in place of the BNN predictor and row walk.

Built by :func:`memornn.hw.build.build_design` for ``skip = "delta"``; see
``docs/hardware.md`` ("The delta datapath").
"""

from __future__ import annotations

from amaranth.hdl import Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In

from ..golden import numerics as nx
from .contract import counter_names
from .core import MemoCore
from .delta_rows import DeltaRows
from .output_streamer import OutputStreamer
from .requant_stage import RequantStage
from .cell_stage import CellStage
from .trace_emitter import TraceEmitter

__all__ = ["DeltaCore"]


def delta_thresholds(lay) -> data.StructLayout:
    """One layer's column thresholds (THETA<k> bits 23:16 and 31:24), int8 units."""
    return data.ArrayLayout(data.StructLayout({"x": unsigned(nx.DELTA_BITS), "h": unsigned(nx.DELTA_BITS)}),
                            lay.num_layers)


class DeltaCore(MemoCore):
    """The delta-network LSTM/GRU core for one model shape (``layout.skip == "delta"``).

    Ports as :class:`MemoCore`'s, plus ``deltas`` (per layer ``x`` and ``h`` column
    thresholds, latched while idle, so a value written during a sequence takes effect at
    the next one); ``predictor`` 1 skips columns, 0 uses every column every step;
    ``thetas`` and ``reuse_cap`` are unused. The counters are
    :data:`~memornn.hw.contract.DELTA_COUNTER_NAMES`; the trace carries each step's
    used-column bits.
    """

    def _policy_members(self) -> dict:
        return {"deltas": In(delta_thresholds(self._layout))}

    def _stages(self, m, seq) -> dict:
        lay = self._layout
        c = seq.layer
        st = {}
        m.submodules.delta_rows = st["delta"] = dr = DeltaRows(lay)
        m.submodules.requant_stage = st["req"] = req = RequantStage(lay)
        m.submodules.cell_stage = st["cell"] = cell = CellStage(lay)
        m.submodules.output_streamer = st["out"] = OutputStreamer(lay)
        if self._spec.trace:
            m.submodules.trace_emitter = st["trace"] = TraceEmitter(None, 4, self._spec.counter_bits,
                                                                    counter_names(lay.skip))
        wiring.connect(m, dr.products, req.products)
        # The layer direction and layer from the sequencer's pre_base (ld * H).
        ld, layer = Signal(range(lay.layer_dirs)), Signal(range(lay.num_layers))
        with m.Switch(c.pre_base):
            for i in range(lay.layer_dirs):
                with m.Case(i * lay.hidden):
                    m.d.comb += [ld.eq(i), layer.eq(i // lay.directions)]
        # Thresholds latched while idle (the sequencer latches THETA the same way).
        deltas = Signal.like(self.deltas)
        with m.If(~seq.busy):
            m.d.sync += deltas.eq(self.deltas)
        m.d.comb += [dr.ld.eq(ld), dr.theta_x.eq(deltas[layer].x), dr.theta_h.eq(deltas[layer].h),
                     dr.in_size.eq(c.in_size), dr.t_base.eq(c.t_base),
                     dr.weight_base.eq(c.weight_base), dr.memo_base.eq(c.memo_base), dr.pre_base.eq(c.pre_base),
                     dr.step0.eq(c.step0), dr.delta.eq(c.bnn), dr.req_done.eq(req.out_valid),
                     cell.step0.eq(c.step0), cell.pre_base.eq(c.pre_base), cell.t_base.eq(c.t_base),
                     cell.out_word0.eq(c.out_word0), cell.out_lane0.eq(c.out_lane0)]
        return st

    def _rows_wiring(self, m, mem, seq, st):
        """Detect and walk: the phase signals and the memory reads of :class:`DeltaRows`."""
        lay = self._layout
        dr, req = st["delta"], st["req"]
        m.d.comb += [dr.prep.eq(seq.prep), seq.prep_done.eq(dr.prep_done), dr.rows_start.eq(seq.rows_start),
                     dr.rows.eq(seq.rows), seq.rows_done.eq(dr.rows_done),
                     dr.may_detect.eq(st["trace"].room if self._spec.trace else 1)]
        w_rd, h_rd = mem["weights"][0], mem["h_buf"][0]
        m.d.comb += [dr.seq.data.eq(mem["seq_buf"][0].data), dr.weights.data.eq(w_rd.data),
                     dr.h.data.eq(h_rd.data), w_rd.en.eq(self._w_rd_en), self._w_rd_addr.eq(dr.weights.addr)]
        with m.If(seq.prep):
            m.d.comb += h_rd.addr.eq(dr.h.addr)
        for name in ("bias", "requant") + (("bias_hn",) if lay.cell == "gru" else ()):
            rd, bus = mem[name][0], getattr(dr, name)
            m.d.comb += [rd.addr.eq(bus.addr), bus.data.eq(rd.data)]
        memo = mem["memo"]
        m.d.comb += [memo.w_en.eq(req.out_valid), memo.w_bank.eq(req.bank), memo.w_addr.eq(seq.layer.pre_base + req.j),
                     memo.w_data.eq(req.pre)]

    def _prep_seq_addr(self, st):
        return st["delta"].seq.addr  # the detector's x_t words (the half: the layer's in_buf)

    def _rows_seq_reader(self, m, st, rd_buf, rd_word):
        return 1  # the walk reads no input

    def _trace_bits(self, st, tr) -> list:
        """The trace's per-step bits: each column's use (the step's last column closes its words)."""
        dr = st["delta"]
        return [tr.decided.eq(dr.col_valid), tr.reuse.eq(dr.col_used), tr.step_last.eq(dr.col_last)]

    def _count(self, m, seq, st, cnt, row_inputs):
        """The golden delta policy's counts, per step from the detector's used-column count."""
        lay = self._layout
        dr = st["delta"]
        with m.If(dr.mac_beat):
            m.d.sync += cnt["mac_busy_cycles"].eq(cnt["mac_busy_cycles"] + 1)
        with m.If(dr.step_valid):  # a step's column stage is done (the walk starts)
            used, skipped = dr.step_used, row_inputs - dr.step_used
            moved = (used != 0) | seq.layer.step0
            m.d.sync += [cnt["neurons_computed"].eq(cnt["neurons_computed"] + lay.rows),
                         cnt["columns_used"].eq(cnt["columns_used"] + used),
                         cnt["columns_skipped"].eq(cnt["columns_skipped"] + skipped),
                         cnt["macs"].eq(cnt["macs"] + used * lay.rows),
                         cnt["macs_skipped"].eq(cnt["macs_skipped"] + skipped * lay.rows),
                         cnt["acc_updates"].eq(cnt["acc_updates"] + moved * lay.rows)]
