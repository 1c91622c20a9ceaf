"""The delta datapath's step engine: change detection, the column walk, the accumulators.

It replaces the memo core's prep and rows phases in a ``skip = "delta"`` build
(:class:`~memornn.hw.delta_core.DeltaCore`); the semantics are those of the golden
model's ``delta`` policy (:mod:`memornn.golden.intmodel`), the column rule
:func:`memornn.golden.numerics.delta_columns`:

- **detect** (the sequencer's prep phase), one column a cycle: ``v_j`` (``x_t`` from the
  seq buffer, ``h_(t-1)`` from the h buffer, 0 at step 0) against the stored last-used
  value ``v_last_j`` (0 at step 0); a used column (``|v_j - v_last_j| > theta``, every
  column with CTRL.PREDICTOR = 0) takes ``v_last_j = v_j`` and goes, with its change
  ``dv_j = v_j - v_last_j``, to the column list.
- **walk** (the rows phase): row groups (``P`` rows) outer, listed columns inner; lane
  ``i`` adds ``W[g*P + i, j] * dv_j`` (one tiled weight word a cycle) to its own sum
  (GRU candidate rows: h columns to a second sum). At a group's end its persistent
  accumulators (``P`` int32 a block-RAM word; step 0 reads them as 0) take the sums and
  go, a row a cycle (a GRU candidate row: x part, then h part), to the requantizer with
  the row's bias. A step without a used column (after step 0) walks nothing: every
  pre-activation in the memo table stands.

So each accumulator is ``W . v_last`` and the requantizer adds the bias: the golden
model's ``bias + W . v_last``. A group takes ``max(columns, results)`` cycles, where
``results`` are its requantizer products (``P``, plus its GRU candidate rows): the
requantizer, a row a cycle, bounds a group with fewer used columns than that.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden import numerics as nx
from .layout import SHIFT_FIELD_BITS, Layout
from .mac_path import product_beat
from .pipeline import read_bus

__all__ = ["DeltaRows"]

#: Bits of a column change ``v - v_last`` of two int8 values.
DV_BITS = nx.INPUT_BITS + 1


class DeltaRows(wiring.Component):
    """Change detection and the column walk of one step (see the module docstring).

    Attributes
    ----------
    DETECT_FILL : int
        Cycles of the detect phase beyond one a column: 3 (the memories' read, the
        change, the test), registered apart for the clock rate.
    WALK_DRAIN : int
        Cycles of the rows phase beyond the last group's issue, its results and the
        requantizer's latency: 8 (list read, weight read, weight word register, product
        register, lane sums, accumulator update, result register, and the registered end
        of the phase).
    IDLE_ROWS : int
        Cycles of a rows phase with nothing to walk: 2.

    Members
    -------
    prep, rows_start, rows, step0, delta : In(1)
        Phase levels and pulses; ``delta``: CTRL.PREDICTOR (0: every column used).
    in_size, t_base, weight_base, memo_base, pre_base : In
        The running layer direction's constants.
    theta_x, theta_h : In(nx.DELTA_BITS)
        The layer's column thresholds.
    ld : In
        The layer direction (its v_last and accumulator region).
    prep_done, rows_done : Out(1)
    seq, h, weights, bias, requant, bias_hn : read buses (``bias_hn`` GRU only)
    products : Out(stream.Signature(product_beat(layout)))
        To the :class:`~memornn.hw.requant_stage.RequantStage` (always ready).
    may_detect : In(1)
        The trace has room for the column bits (1 without a trace).
    col_valid, col_used, col_last : Out(1)
        A column's decision (``col_last``: the step's last column), for the trace.
    step_valid : Out(1), step_used : Out
        A pulse after detection with the step's used-column count.
    mac_beat : Out(1)
        A weight word entered the lanes (a MAC-busy cycle).
    req_done : In(1)
        A product left the requantizer (for the end of the rows phase).
    """

    DETECT_FILL = 3
    WALK_DRAIN = 8
    IDLE_ROWS = 2

    @staticmethod
    def group_results(layout: Layout, group: int) -> int:
        """Requantizer products of row group ``group`` (as :meth:`_group_results` counts)."""
        lo, hi = group * layout.lanes, min(layout.rows, (group + 1) * layout.lanes)
        cand = max(0, hi - max(lo, 2 * layout.hidden)) if layout.cell == "gru" else 0
        return hi - lo + cand

    def __init__(self, layout: Layout):
        self._layout = lay = layout
        n_max = lay.max_row_inputs
        rows = lay.layer_dirs * lay.rows
        members = {
            "prep": In(1), "rows_start": In(1), "rows": In(1), "step0": In(1), "delta": In(1),
            "in_size": In(range(n_max + 1)), "t_base": In(range(lay.seq_buffer_depth + 1)),
            "weight_base": In(range(lay.weight_depth + 1)), "memo_base": In(range(rows + 1)),
            "pre_base": In(range(lay.layer_dirs * lay.hidden + 1)), "ld": In(range(lay.layer_dirs)),
            "theta_x": In(nx.DELTA_BITS), "theta_h": In(nx.DELTA_BITS),
            "prep_done": Out(1), "rows_done": Out(1),
            "seq": Out(read_bus(range(lay.seq_buffer_depth + 1), lay.lanes * 8)),
            "h": Out(read_bus(range(max(lay.layers[0].h_words, 2)), lay.lanes * 8)),
            "weights": Out(read_bus(range(lay.weight_depth + 1), lay.lanes * 8)),
            "bias": Out(read_bus(range(rows + 1), nx.BIAS_BITS)),
            "requant": Out(read_bus(range(rows + 1), nx.MULT_BITS + SHIFT_FIELD_BITS)),
            "products": Out(stream.Signature(product_beat(lay))),
            "may_detect": In(1), "col_valid": Out(1), "col_used": Out(1), "col_last": Out(1),
            "step_valid": Out(1), "step_used": Out(range(n_max + 1)), "mac_beat": Out(1), "req_done": In(1),
        }
        if lay.cell == "gru":
            members["bias_hn"] = Out(read_bus(range(lay.layer_dirs * lay.hidden + 1), nx.BIAS_BITS))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        lay = self._layout
        n_max = lay.max_row_inputs
        # The column list: (column, change) of this step's used columns.
        entry = data.StructLayout({"j": range(n_max), "dv": signed(DV_BITS)})
        m.submodules.col_list = col_list = memory.Memory(shape=entry, depth=n_max, init=[])
        count = Signal(range(n_max + 1))
        count_next = Signal(range(n_max + 1))  # with the column in D3: the step's count at prep_done
        self._detect(m, col_list.write_port(), count, count_next)
        self._walk(m, col_list.read_port(), count, count_next)
        return m

    def _detect(self, m, list_wr, count, count_next):
        """The detect phase: a column a cycle against v_last (read D0, values D1, change D2,
        test and writes D3); the column list and ``count``."""
        lay = self._layout
        P, n_max = lay.lanes, lay.max_row_inputs
        m.submodules.v_last = v_last = memory.Memory(shape=signed(nx.INPUT_BITS), depth=lay.layer_dirs * n_max,
                                                     init=[])
        vl_rd, vl_wr = v_last.read_port(), v_last.write_port()
        n_cols = Signal(range(n_max + 1))
        m.d.comb += n_cols.eq(self.in_size + lay.hidden)
        # D0: the issue of column j (x words then h words, P lanes a word).
        j, word, lane, in_h, issued = (Signal(range(n_max + 1)), Signal(range(lay.seq_buffer_depth + 1)),
                                       Signal(range(P)), Signal(), Signal())
        go = Signal()
        m.d.comb += [go.eq(self.prep & ~issued & self.may_detect),
                     self.seq.addr.eq(self.t_base + word), self.h.addr.eq(word),
                     vl_rd.addr.eq(self.ld * n_max + j)]
        d1 = Signal(data.StructLayout({"valid": 1, "j": range(n_max), "h": 1, "lane": range(P), "last": 1}))
        m.d.sync += [d1.valid.eq(go), d1.j.eq(j), d1.h.eq(in_h), d1.lane.eq(lane), d1.last.eq(j == n_cols - 1)]
        m.d.sync += count.eq(count_next)  # first: a new step's reset below wins
        with m.If(~self.prep):
            m.d.sync += [j.eq(0), word.eq(0), lane.eq(0), in_h.eq(0), issued.eq(0)]
        with m.Elif(go):
            m.d.sync += j.eq(j + 1)
            with m.If(j == 0):  # a new list (no column of the last step is still in flight)
                m.d.sync += count.eq(0)
            with m.If(j == n_cols - 1):
                m.d.sync += issued.eq(1)
            with m.Elif(j == self.in_size - 1):  # the h columns start at a word of their own
                m.d.sync += [in_h.eq(1), word.eq(0), lane.eq(0)]
            with m.Elif(lane == P - 1):
                m.d.sync += [word.eq(word + 1), lane.eq(0)]
            with m.Else():
                m.d.sync += lane.eq(lane + 1)
        # D1: the column's value and last-used value out of the memories, registered.
        src = Mux(d1.h, self.h.data, self.seq.data)
        col = data.StructLayout({"valid": 1, "j": range(n_max), "h": 1, "last": 1,
                                 "v": signed(nx.INPUT_BITS), "vl": signed(nx.INPUT_BITS)})
        d2 = Signal(col)
        m.d.sync += [d2.valid.eq(d1.valid), d2.j.eq(d1.j), d2.h.eq(d1.h), d2.last.eq(d1.last),
                     d2.v.eq(Mux(d1.h & self.step0, 0, src.word_select(d1.lane, nx.INPUT_BITS))),
                     d2.vl.eq(Mux(self.step0, 0, vl_rd.data))]
        # D2: the change and its magnitude, registered.
        d3 = Signal(data.StructLayout({"c": col, "dv": signed(DV_BITS), "mag": unsigned(DV_BITS)}))
        dv = Signal(signed(DV_BITS))
        m.d.comb += dv.eq(d2.v - d2.vl)
        m.d.sync += [d3.c.eq(d2), d3.dv.eq(dv), d3.mag.eq(abs(dv))]
        # D3: the test of nx.delta_columns; v_last and the list written.
        c3 = d3.c
        used = Signal()
        m.d.comb += [used.eq(~self.delta | (d3.mag > Mux(c3.h, self.theta_h, self.theta_x))),
                     vl_wr.addr.eq(self.ld * n_max + c3.j), vl_wr.data.eq(Mux(used, c3.v, c3.vl)),
                     vl_wr.en.eq(c3.valid),
                     list_wr.addr.eq(count), list_wr.data.j.eq(c3.j), list_wr.data.dv.eq(d3.dv),
                     list_wr.en.eq(c3.valid & used),
                     self.col_valid.eq(c3.valid), self.col_used.eq(used), self.col_last.eq(c3.last),
                     self.prep_done.eq(c3.valid & c3.last)]
        m.d.comb += count_next.eq(count + (c3.valid & used))
        m.d.sync += [self.step_valid.eq(self.prep_done), self.step_used.eq(count_next)]

    def _group_results(self, m, row0):
        """Requantizer products of the group starting at row ``row0``: its rows, plus its
        GRU candidate rows (rows ``2H .. 3H - 1``, two parts each)."""
        lay = self._layout
        rows = Signal(range(lay.lanes + 1))
        m.d.comb += rows.eq(Mux(lay.rows - row0 < lay.lanes, lay.rows - row0, lay.lanes))
        if lay.cell != "gru":
            return rows
        lo = Mux(row0 > 2 * lay.hidden, row0, 2 * lay.hidden)
        cand = Signal(range(lay.lanes + 1))
        m.d.comb += cand.eq(Mux(row0 + rows > lo, row0 + rows - lo, 0))
        total = Signal(range(2 * lay.lanes + 1))
        m.d.comb += total.eq(rows + cand)
        return total

    def _walk(self, m, list_rd, count, count_next):
        """The rows phase: the issue of (group, column) beats, the lanes, the accumulators."""
        lay = self._layout
        P, n_max = lay.lanes, lay.max_row_inputs
        row_bits = range(lay.groups * P + 1)
        # W0: issue. A group issues max(columns, results) beats; beats past its columns
        # are bubbles that keep the requantizer from falling behind.
        g, row0, k = Signal(range(lay.groups + 1)), Signal(row_bits), Signal(range(max(n_max, 2 * P) + 1))
        gbase = Signal(range(lay.weight_depth + 1))
        running = Signal()
        columns = Signal(range(n_max + 1))  # the beats of a group: at least one (step 0 with no column)
        m.d.comb += columns.eq(Mux(count == 0, 1, count))
        # The group's results, registered: computed for the next group as a group starts.
        row0_next = Signal(row_bits)
        m.d.comb += row0_next.eq(Mux(self.rows_start, 0, row0 + P))
        results_next = self._group_results(m, row0_next)
        results = Signal.like(results_next)
        interval = Mux(columns > results, columns, results)
        m.d.comb += list_rd.addr.eq(k)
        w1 = Signal(data.StructLayout({"valid": 1, "first": 1, "last": 1, "null": 1, "g": range(lay.groups),
                                       "row0": row_bits, "gbase": range(lay.weight_depth + 1)}))
        m.d.sync += [w1.valid.eq(running & (k < columns)), w1.first.eq(k == 0), w1.last.eq(k == columns - 1),
                     w1.null.eq(count == 0), w1.g.eq(g), w1.row0.eq(row0), w1.gbase.eq(gbase)]
        with m.If(self.rows_start):
            # rows_start comes with prep_done, while the last column is in D3: count_next
            m.d.sync += [running.eq(self.step0 | (count_next != 0)), g.eq(0), row0.eq(0), k.eq(0),
                         gbase.eq(self.weight_base), results.eq(results_next)]
        with m.Elif(running):
            m.d.sync += k.eq(k + 1)
            with m.If(k == interval - 1):
                m.d.sync += [k.eq(0), g.eq(g + 1), row0.eq(row0_next), results.eq(results_next),
                             gbase.eq(gbase + self.in_size + lay.hidden)]
                with m.If(g == lay.groups - 1):
                    m.d.sync += running.eq(0)
        # W1: the listed column's weight word.
        m.d.comb += self.weights.addr.eq(w1.gbase + list_rd.data.j)
        w2 = Signal(data.StructLayout({"valid": 1, "first": 1, "last": 1, "h": 1, "dv": signed(DV_BITS),
                                       "g": range(lay.groups), "row0": row_bits}))
        m.d.sync += [w2.valid.eq(w1.valid), w2.first.eq(w1.first), w2.last.eq(w1.last),
                     w2.h.eq(list_rd.data.j >= self.in_size), w2.dv.eq(Mux(w1.null, 0, list_rd.data.dv)),
                     w2.g.eq(w1.g), w2.row0.eq(w1.row0)]
        m.d.comb += self.mac_beat.eq(w2.valid & (count != 0))
        # W2: the weight word registered before the multipliers (the clock rate: the block
        # RAM's output straight into the DSPs was the build's critical path).
        w2w = Signal(data.StructLayout({"beat": w2.shape(), "word": lay.lanes * 8}))
        m.d.sync += [w2w.beat.eq(w2), w2w.word.eq(self.weights.data)]
        sums, sums_hn, w3, w4 = self._lanes(m, w2w.beat, w2w.word)
        busy = self._accumulate(m, sums, sums_hn, w3, w4)
        inflight = Signal(range(16))
        m.d.sync += inflight.eq(inflight + self.products.valid - self.req_done)
        done = Signal()
        m.d.sync += done.eq(self.rows & ~self.rows_start & ~running & ~w1.valid & ~w2.valid & ~w2w.beat.valid
                            & ~w3.valid & ~w4.valid & ~busy & (inflight == 0) & ~self.products.valid)
        m.d.comb += self.rows_done.eq(done)

    def _lanes(self, m, w2, weights):
        """W3, W4: the lanes' products of the registered weight word ``weights`` and the
        beat ``w2``, registered, and their own sums (GRU: x and h parts)."""
        lay = self._layout
        P, H = lay.lanes, lay.hidden
        gru = lay.cell == "gru"
        prod_shape = signed(nx.WEIGHT_BITS + DV_BITS)
        w3 = Signal(data.StructLayout({"valid": 1, "first": 1, "last": 1, "h": 1, "g": range(lay.groups),
                                       "row0": w2.row0.shape(), "p": data.ArrayLayout(prod_shape, P)}))
        m.d.sync += [w3.valid.eq(w2.valid), w3.first.eq(w2.first), w3.last.eq(w2.last), w3.h.eq(w2.h),
                     w3.g.eq(w2.g), w3.row0.eq(w2.row0)]
        for i in range(P):
            w = weights.word_select(i, nx.WEIGHT_BITS).as_signed()
            m.d.sync += w3.p[i].eq(w * w2.dv)
        sums = Signal(data.ArrayLayout(signed(nx.ACC_BITS), P))
        sums_hn = Signal(data.ArrayLayout(signed(nx.ACC_BITS), P)) if gru else None
        with m.If(w3.valid):
            for i in range(P):
                # A GRU candidate row (rows 2H..3H-1) keeps its h columns apart.
                to_hn = (w3.h & (w3.row0 + i >= 2 * H)) if gru else 0
                m.d.sync += sums[i].eq(Mux(w3.first, 0, sums[i]) + Mux(to_hn, 0, w3.p[i]))
                if gru:
                    m.d.sync += sums_hn[i].eq(Mux(w3.first, 0, sums_hn[i]) + Mux(to_hn, w3.p[i], 0))
        w4 = Signal(data.StructLayout({"valid": 1, "g": range(lay.groups), "row0": w2.row0.shape()}))
        m.d.sync += [w4.valid.eq(w3.valid & w3.last), w4.g.eq(w3.g), w4.row0.eq(w3.row0)]
        return sums, sums_hn, w3, w4

    def _accumulate(self, m, sums, sums_hn, w3, w4):
        """W4: the persistent accumulators take a group's sums; the results to the requantizer."""
        lay = self._layout
        P = lay.lanes
        word = data.ArrayLayout(signed(nx.ACC_BITS), P)
        depth = lay.layer_dirs * lay.groups
        parts = [("acc", sums)] + ([("acc_hn", sums_hn)] if sums_hn is not None else [])
        new = {}
        for name, lane_sums in parts:
            m.submodules[name] = mem = memory.Memory(shape=word, depth=depth, init=[])
            rd, wr = mem.read_port(), mem.write_port()
            # Read in the group's last lane cycle (W3), written with the sums a cycle later.
            addr = Signal(range(depth + 1))
            m.d.comb += addr.eq(self.ld * lay.groups + w4.g)
            m.d.comb += rd.addr.eq(self.ld * lay.groups + w3.g)
            value = Signal(word, name=f"{name}_new")
            for i in range(P):
                m.d.comb += value[i].eq(Mux(self.step0, 0, rd.data[i]) + lane_sums[i])
            m.d.comb += [wr.addr.eq(addr), wr.data.eq(value), wr.en.eq(w4.valid)]
            new[name] = value
        return self._serialize(m, new, w4)

    def _serialize(self, m, new, w4):
        """A group's results to the requantizer, a product a cycle (rows in order; a GRU
        candidate row's x part, then its h part); returns ``busy``."""
        lay = self._layout
        P, H = lay.lanes, lay.hidden
        gru = lay.cell == "gru"
        held = {name: Signal.like(value, name=f"held_{name}") for name, value in new.items()}
        busy, lane, part = Signal(), Signal(range(P)), Signal()
        row, gate, jj = Signal(range(lay.groups * P + 1)), Signal(range(lay.gates + 1)), Signal(range(H + 1))
        last_lane = Signal(range(P))
        cand = (gate == 2) if gru else 0
        s1 = Signal(data.StructLayout({"valid": 1, "part": 1, "acc": signed(nx.ACC_BITS), "g": range(lay.gates),
                                       "j": range(H)}))
        m.d.comb += [self.bias.addr.eq(self.memo_base + row), self.requant.addr.eq(self.memo_base + row)]
        acc = Mux(part, held["acc_hn"][lane], held["acc"][lane]) if gru else held["acc"][lane]
        m.d.sync += [s1.valid.eq(busy), s1.part.eq(part), s1.acc.eq(acc), s1.g.eq(gate), s1.j.eq(jj)]
        with m.If(self.rows_start):
            m.d.sync += [row.eq(0), gate.eq(0), jj.eq(0)]
        with m.If(busy):
            with m.If(cand & ~part):
                m.d.sync += part.eq(1)
            with m.Else():
                m.d.sync += [part.eq(0), lane.eq(lane + 1), row.eq(row + 1), jj.eq(jj + 1)]
                with m.If(jj == H - 1):
                    m.d.sync += [jj.eq(0), gate.eq(gate + 1)]
                with m.If(lane == last_lane):
                    m.d.sync += busy.eq(0)
        with m.If(w4.valid):  # never while busy: a group's beats outlast its results
            rows = Mux(lay.rows - w4.row0 < P, lay.rows - w4.row0, P)
            m.d.sync += [busy.eq(1), lane.eq(0), part.eq(0), last_lane.eq(rows - 1)]
            m.d.sync += [held[name].eq(value) for name, value in new.items()]
        p = self.products.payload
        bias = self.bias.data
        if gru:
            m.d.comb += self.bias_hn.addr.eq(self.pre_base + jj)
            bias = Mux(s1.part, self.bias_hn.data, self.bias.data)
        m.d.comb += [self.products.valid.eq(s1.valid), p.acc.eq(s1.acc), p.bias.eq(bias),
                     p.mult.eq(self.requant.data[:nx.MULT_BITS]), p.shift.eq(self.requant.data[nx.MULT_BITS:]),
                     p.hpart_product.eq(s1.part), p.g.eq(s1.g), p.j.eq(s1.j)]
        return busy
