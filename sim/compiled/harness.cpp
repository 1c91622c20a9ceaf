// memornn compiled harness: the accelerator's AXI top (memornn_accel) driven from a
// stimulus file, with no Python in the per-cycle loop (memornn.sim.compiled).
//
// Usage: harness STIMULUS RESULT [--flip-output-beat N]
//
// Both files are little-endian uint32 words. The stimulus is a header (magic, version,
// x_words, h_words, out_words_per_step, trace_words_per_step, counters) then operations
// (the OP_* codes below, mirrored in compiled.py); the result is a list of records (REC_*).
// Every value read from the design is recorded, nothing is judged here except the
// protocol rules a stream must keep (valid held until ready, payload stable while
// stalled) and the cycle budget; the Python side compares with the golden model.
// --flip-output-beat N flips bit 0 of output beat N: the fault the tests inject to show
// that a wrong output is caught.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "Vaccel.h"
#include "verilated.h"

namespace {

enum Op : uint32_t { OP_END = 0, OP_RESET = 1, OP_WRITES = 2, OP_READ = 3, OP_THROTTLE = 4, OP_STREAM = 5,
                     OP_WAIT_IDLE = 6 };
enum Rec : uint32_t { REC_READ = 1, REC_STREAM = 2, REC_ERROR = 3, REC_END = 4, REC_WRITE_RESP = 5 };
constexpr uint32_t MAGIC = 0x53434e4d;  // "MNCS"
constexpr uint32_t VERSION = 1;
constexpr uint32_t STATUS_ADDR = 0x04, STATUS_BUSY = 1;

// Ports of any width: Verilator holds up to 64 bits in an integer, more in a VlWide.
template <typename T> void put(T& port, const uint32_t* w, size_t n) {
    uint64_t v = w[0];
    if (n > 1 && sizeof(T) > 4) v |= uint64_t(w[1]) << 32;
    port = static_cast<T>(v);
}
template <std::size_t N> void put(VlWide<N>& port, const uint32_t* w, size_t n) {
    for (std::size_t i = 0; i < N; ++i) port[i] = i < n ? w[i] : 0;
}
template <typename T> void get(const T& port, uint32_t* w, size_t n) {
    uint64_t v = port;
    for (size_t i = 0; i < n; ++i) w[i] = i < 2 ? uint32_t(v >> (32 * i)) : 0;
}
template <std::size_t N> void get(const VlWide<N>& port, uint32_t* w, size_t n) {
    for (size_t i = 0; i < n; ++i) w[i] = i < N ? port[i] : 0;
}

// xorshift64*: the seeded throttling; p16 is a probability in 1/65536.
struct Rng {
    uint64_t s = 1;
    uint32_t next() {
        s ^= s >> 12; s ^= s << 25; s ^= s >> 27;
        return uint32_t((s * 0x2545F4914F6CDD1DULL) >> 32);
    }
    bool chance(uint32_t p16) { return p16 && (next() & 0xFFFF) < p16; }
};

struct Failure { std::string message; };

// CPU time of this process: the simulator's own speed, whatever else shares the machine.
uint64_t cpu_ns() {
    timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return uint64_t(t.tv_sec) * 1000000000ULL + uint64_t(t.tv_nsec);
}

class Harness {
  public:
    Harness(Vaccel* top, const std::vector<uint32_t>& stim, long flip_beat)
        : top_(top), s_(stim), flip_beat_(flip_beat) {}

    std::vector<uint32_t> run() {
        header();
        try {
            while (true) {
                uint32_t op = take();
                if (op == OP_END) break;
                dispatch(op);
            }
        } catch (const Failure& f) {
            error(f.message);
        }
        rec_.push_back(REC_END);
        push64(cycle_);
        return rec_;
    }

  private:
    Vaccel* top_;
    const std::vector<uint32_t>& s_;
    size_t pos_ = 0;
    long flip_beat_;
    long out_beats_ = 0;
    uint64_t cycle_ = 0;
    uint32_t x_words_ = 1, h_words_ = 1, out_per_step_ = 1, trace_per_step_ = 1, counters_ = 0;
    uint32_t p_in_ = 0, p_out_ = 0, p_trace_ = 0, p_axil_ = 0;
    Rng rng_;
    std::vector<uint32_t> rec_;

    uint32_t take() {
        if (pos_ >= s_.size()) throw Failure{"the stimulus file ends in the middle of an operation"};
        return s_[pos_++];
    }
    void push64(uint64_t v) { rec_.push_back(uint32_t(v)); rec_.push_back(uint32_t(v >> 32)); }
    void error(const std::string& m) {
        rec_.push_back(REC_ERROR);
        rec_.push_back(uint32_t(m.size()));
        for (size_t i = 0; i < m.size(); i += 4) {
            uint32_t w = 0;
            for (size_t k = 0; k < 4 && i + k < m.size(); ++k) w |= uint32_t(uint8_t(m[i + k])) << (8 * k);
            rec_.push_back(w);
        }
    }

    void header() {
        if (s_.size() < 7 || s_[0] != MAGIC || s_[1] != VERSION) throw Failure{"not a memornn stimulus file"};
        x_words_ = s_[2]; h_words_ = s_[3]; out_per_step_ = s_[4]; trace_per_step_ = s_[5]; counters_ = s_[6];
        pos_ = 7;
    }

    // One clock cycle: inputs are set by the caller, `sample` sees the settled
    // combinational outputs just before the rising edge (the handshakes of this edge).
    template <typename F> void cycle(F sample) {
        top_->clk = 0;
        top_->eval();
        sample();
        top_->clk = 1;
        top_->eval();
        ++cycle_;
    }
    void idle() { cycle([] {}); }

    void dispatch(uint32_t op) {
        switch (op) {
            case OP_RESET: reset(take()); break;
            case OP_WRITES: writes(); break;
            case OP_READ: { uint32_t a = take(); read(a); break; }
            case OP_THROTTLE: throttle(); break;
            case OP_STREAM: stream(); break;
            case OP_WAIT_IDLE: wait_idle(take()); break;
            default: throw Failure{"unknown stimulus operation " + std::to_string(op)};
        }
    }

    void reset(uint32_t cycles) {
        top_->s_axis_tvalid = 0; top_->m_axis_tready = 0; top_->m_axis_trace_tready = 0;
        top_->s_axil_awvalid = 0; top_->s_axil_wvalid = 0; top_->s_axil_bready = 0;
        top_->s_axil_arvalid = 0; top_->s_axil_rready = 0;
        top_->rst = 1;
        for (uint32_t i = 0; i < cycles; ++i) idle();
        top_->rst = 0;
        idle(); idle(); idle();  // the top registers rst: the accelerator leaves reset a cycle later
    }

    void throttle() {
        uint64_t seed = take();
        seed |= uint64_t(take()) << 32;
        rng_.s = seed ? seed : 1;
        p_in_ = take(); p_out_ = take(); p_trace_ = take(); p_axil_ = take();
    }

    // AXI4-Lite: a channel's valid, once raised, stays up until its handshake.
    void write(uint32_t addr, uint32_t data) {
        bool aw = false, w = false, b = false;
        uint32_t resp = 0;
        uint64_t start = cycle_;
        top_->s_axil_awaddr = addr; top_->s_axil_wdata = data; top_->s_axil_wstrb = 0xF;
        top_->s_axil_awprot = 0;
        while (!b) {
            if (cycle_ - start > 10000) throw Failure{"AXI4-Lite write to " + std::to_string(addr) + " never answered"};
            top_->s_axil_awvalid = !aw && (top_->s_axil_awvalid || !rng_.chance(p_axil_));
            top_->s_axil_wvalid = !w && (top_->s_axil_wvalid || !rng_.chance(p_axil_));
            top_->s_axil_bready = !rng_.chance(p_axil_);
            cycle([&] {
                aw |= top_->s_axil_awvalid && top_->s_axil_awready;
                w |= top_->s_axil_wvalid && top_->s_axil_wready;
                if (top_->s_axil_bvalid && top_->s_axil_bready) { b = true; resp = top_->s_axil_bresp; }
            });
            if (aw) top_->s_axil_awvalid = 0;
            if (w) top_->s_axil_wvalid = 0;
        }
        top_->s_axil_awvalid = 0; top_->s_axil_wvalid = 0; top_->s_axil_bready = 0;
        if (resp) {
            rec_.push_back(REC_WRITE_RESP); rec_.push_back(addr); rec_.push_back(data); rec_.push_back(resp);
        }
    }

    void writes() {
        uint32_t n = take();
        for (uint32_t i = 0; i < n; ++i) {
            uint32_t addr = take();
            write(addr, take());
        }
    }

    uint32_t read_value(uint32_t addr, uint32_t* resp) {
        bool ar = false, r = false;
        uint32_t data = 0;
        uint64_t start = cycle_;
        top_->s_axil_araddr = addr; top_->s_axil_arprot = 0;
        while (!r) {
            if (cycle_ - start > 10000) throw Failure{"AXI4-Lite read of " + std::to_string(addr) + " never answered"};
            top_->s_axil_arvalid = !ar && (top_->s_axil_arvalid || !rng_.chance(p_axil_));
            top_->s_axil_rready = !rng_.chance(p_axil_);
            cycle([&] {
                ar |= top_->s_axil_arvalid && top_->s_axil_arready;
                if (top_->s_axil_rvalid && top_->s_axil_rready) { r = true; data = top_->s_axil_rdata; *resp = top_->s_axil_rresp; }
            });
            if (ar) top_->s_axil_arvalid = 0;
        }
        top_->s_axil_arvalid = 0; top_->s_axil_rready = 0;
        return data;
    }

    void read(uint32_t addr) {
        uint32_t resp = 0;
        uint32_t data = read_value(addr, &resp);
        rec_.push_back(REC_READ); rec_.push_back(addr); rec_.push_back(data); rec_.push_back(resp);
    }

    void wait_idle(uint32_t polls) {
        for (uint32_t i = 0; i < polls; ++i) {
            uint32_t resp = 0;
            if (!(read_value(STATUS_ADDR, &resp) & STATUS_BUSY)) return;
            for (int k = 0; k < 8; ++k) idle();
        }
        throw Failure{"STATUS.BUSY did not clear"};
    }

    void stream();
};

// An output stream as received, with the AXI4-Stream rule that a beat offered and not
// taken stays offered with the same payload (data, last, keep).
struct Sink {
    const char* name;
    size_t words;  // 32-bit words of tdata
    std::vector<uint32_t> data, last, keep_lo, keep_hi;
    std::vector<uint32_t> now, held;  // this cycle's payload: data words, last, keep lo, keep hi
    bool stalled = false;

    Sink(const char* n, size_t w) : name(n), words(w), now(w + 3), held(w + 3) {}

    // Checks the stall rule; returns true (and keeps the beat) on a handshake.
    bool observe(bool valid, bool ready) {
        if (stalled) {
            if (!valid) throw Failure{std::string(name) + ": tvalid dropped before tready"};
            if (now != held) throw Failure{std::string(name) + ": payload changed while stalled"};
        }
        stalled = valid && !ready;
        if (stalled) held = now;
        if (!(valid && ready)) return false;
        data.insert(data.end(), now.begin(), now.begin() + words);
        last.push_back(now[words]);
        keep_lo.push_back(now[words + 1]);
        keep_hi.push_back(now[words + 2]);
        return true;
    }
    size_t beats() const { return last.size(); }
    void record(std::vector<uint32_t>& rec, bool keep) const {
        rec.push_back(uint32_t(beats()));
        for (const auto* v : {&data, &last}) rec.insert(rec.end(), v->begin(), v->end());
        if (keep)
            for (const auto* v : {&keep_lo, &keep_hi}) rec.insert(rec.end(), v->begin(), v->end());
    }
};

void Harness::stream() {
    uint32_t nseq = take();
    uint64_t budget = take();
    std::vector<std::pair<uint32_t, size_t>> seqs;  // (length, position of its first beat)
    size_t want_out = 0, want_trace = 0;
    for (uint32_t i = 0; i < nseq; ++i) {
        uint32_t len = take();
        seqs.emplace_back(len, pos_);
        if (pos_ + size_t(len) * x_words_ > s_.size()) throw Failure{"the stimulus file ends inside a sequence"};
        pos_ += size_t(len) * x_words_;
        want_out += size_t(len) * out_per_step_;
        want_trace += size_t(len) * trace_per_step_ + counters_;
    }
    Sink out("m_axis", h_words_), trace("m_axis_trace", 1);
    uint32_t seq = 0, step = 0;
    bool offered = false;
    uint64_t start = cycle_;
    auto wall0 = std::chrono::steady_clock::now();
    uint64_t cpu0 = cpu_ns();
    while (out.beats() < want_out || trace.beats() < want_trace) {
        if (cycle_ - start > budget) throw Failure{"timed out: " + std::to_string(out.beats()) + " of " +
                                                   std::to_string(want_out) + " output beats, " +
                                                   std::to_string(trace.beats()) + " of " +
                                                   std::to_string(want_trace) + " trace words"};
        if (seq < nseq && !offered) offered = !rng_.chance(p_in_);
        top_->s_axis_tvalid = offered;
        if (offered) {
            put(top_->s_axis_tdata, &s_[seqs[seq].second + size_t(step) * x_words_], x_words_);
            top_->s_axis_tlast = step + 1 == seqs[seq].first;
        }
        top_->m_axis_tready = !rng_.chance(p_out_);
        top_->m_axis_trace_tready = !rng_.chance(p_trace_);
        cycle([&] {
            if (offered && top_->s_axis_tready) {
                offered = false;
                if (++step == seqs[seq].first) { step = 0; ++seq; }
            }
            get(top_->m_axis_tdata, out.now.data(), out.words);
            out.now[out.words] = top_->m_axis_tlast;
            uint64_t keep = top_->m_axis_tkeep;
            out.now[out.words + 1] = uint32_t(keep); out.now[out.words + 2] = uint32_t(keep >> 32);
            if (out.observe(top_->m_axis_tvalid, top_->m_axis_tready) && out_beats_++ == flip_beat_)
                out.data[out.data.size() - out.words] ^= 1;
            trace.now[0] = top_->m_axis_trace_tdata; trace.now[1] = top_->m_axis_trace_tlast;
            trace.observe(top_->m_axis_trace_tvalid, top_->m_axis_trace_tready);
        });
    }
    top_->s_axis_tvalid = 0;
    top_->m_axis_tready = 0;
    top_->m_axis_trace_tready = 0;
    uint64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - wall0).count();
    rec_.push_back(REC_STREAM);
    push64(cycle_ - start);
    push64(ns);
    push64(cpu_ns() - cpu0);
    out.record(rec_, true);
    trace.record(rec_, false);
}

bool read_words(const char* path, std::vector<uint32_t>& words) {
    FILE* f = std::fopen(path, "rb");
    if (!f) return false;
    uint32_t buf[4096];
    size_t n;
    while ((n = std::fread(buf, 4, 4096, f)) > 0) words.insert(words.end(), buf, buf + n);
    std::fclose(f);
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s STIMULUS RESULT [--flip-output-beat N]\n", argv[0]);
        return 2;
    }
    long flip = -1;
    for (int i = 3; i + 1 < argc; i += 2)
        if (!std::strcmp(argv[i], "--flip-output-beat")) flip = std::atol(argv[i + 1]);
    std::vector<uint32_t> stim;
    if (!read_words(argv[1], stim)) {
        std::fprintf(stderr, "cannot read %s\n", argv[1]);
        return 2;
    }
    auto context = new VerilatedContext;
    auto top = new Vaccel{context};
    std::vector<uint32_t> rec = Harness(top, stim, flip).run();
    top->final();
    delete top;
    delete context;
    FILE* f = std::fopen(argv[2], "wb");
    if (!f || std::fwrite(rec.data(), 4, rec.size(), f) != rec.size()) {
        std::fprintf(stderr, "cannot write %s\n", argv[2]);
        return 2;
    }
    std::fclose(f);
    return 0;
}
