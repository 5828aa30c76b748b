// SPDX-License-Identifier: GPL-2.0-only
// ns per packet of the flow programs via BPF_PROG_TEST_RUN (kernel-measured duration / repeat),
// each beside two baselines in the same run (bench_baseline.bpf.c: empty XDP_PASS, and a plain
// parser + one HASH lookup/update with atomic adds), at 1K and 64K resident flows. Also drain
// cost per flow and kernel memory per flow (memlock from the map's fdinfo, as bpftool shows).
// ABI v4: the L3 entry (fa_xdp_l3) against the L2 entry on the same IP packet (tc L3 cannot be
// test-run: a tc test run always builds an Ethernet frame), and the interface-slot lookup alone
// (fa_bench_slot) against the empty program. ABI v5: the slot lookup of the programs
// (fa_bench_slot_arr: direct-mapped array, hash on a mismatch), on an array hit and on the
// fallback (lo's array entry held by ifindex 257, lo in the hash), beside the hash alone.
// Usage: bench_bpf_prog [repeat]   (root; numbers go in notes, not assertions)
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/log.h"
#include "app/agent.h"
#include "linux/bpf_loader.h"
#include "linux/clock_linux.h"

using namespace fa;

namespace {

struct Null : SourceSink {
    unsigned long long n = 0;
    void on_delta(const FlowDelta&) override { ++n; }
    void on_record(const FlowRecord&) override {}
};

// The agent's side of a drain: the real Agent (flow table of 65,536 flows, 6 MB; one
// collector whose datagrams go nowhere), fed batch by batch with on_deltas() (the buckets
// prefetched 8 deltas ahead) or delta by delta with on_delta().
struct Discard : DatagramSink {
    SendResult send(const uint8_t*, size_t) override { return SendResult::ok; }
};
struct AgentSink : SourceSink {
    Discard discard;
    Agent agent;
    bool ahead = true;
    AgentSink()
    {
        Config c;
        c.source = SourceKind::xdp;
        c.max_flows = 65536;
        c.active_timeout_s = c.inactive_timeout_s = 3600;
        c.collector_count = 1;
        DatagramSink* sinks[1] = {&discard};
        if (agent.init(c, sinks, 1, nullptr, 1, false, false, SamplingKind::packet) != Status::ok)
            std::exit(1);
    }
    void on_delta(const FlowDelta& d) override { agent.on_delta(d); }
    void on_deltas(const FlowDelta* d, size_t n) override
    {
        if (ahead) {
            agent.on_deltas(d, n);
        } else {
            for (size_t i = 0; i < n; ++i) agent.on_delta(d[i]);
        }
    }
    void on_record(const FlowRecord& r) override { agent.on_record(r); }
};

// Ethernet + IPv4 + UDP + 64 bytes payload; flow i differs in source address and port.
std::vector<uint8_t> packet(uint32_t i)
{
    std::vector<uint8_t> b = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00,
                              0x45, 0, 0, 92, 0, 1, 0, 0, 64, 17, 0, 0,
                              10, uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i), 10, 255, 0, 1,
                              uint8_t(1024 + (i & 0x3ff)) , 0, 0, 53, 0, 72, 0, 0};
    b[34] = uint8_t((1024 + (i & 0x3ff)) >> 8);
    b[35] = uint8_t(1024 + (i & 0x3ff));
    b.resize(14 + 92, 0x5a);
    return b;
}

double run(int fd, const std::vector<uint8_t>& p, int repeat)
{
    LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = p.data(), .data_size_in = uint32_t(p.size()),
                .repeat = repeat);
    if (bpf_prog_test_run_opts(fd, &t) != 0) {
        std::perror("bpf_prog_test_run_opts");
        std::exit(1);
    }
    return double(t.duration);  // kernel: average ns per repetition
}

// Average over `n` distinct never-seen flows, one run each.
double run_new(int fd, uint32_t base, uint32_t n)
{
    double sum = 0;
    for (uint32_t i = 0; i < n; ++i) sum += run(fd, packet(base + i), 1);
    return sum / n;
}

long memlock(int map_fd)
{
    char path[64], line[256];
    std::snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", map_fd);
    FILE* f = std::fopen(path, "r");
    long v = -1;
    while (f && std::fgets(line, sizeof(line), f))
        if (std::sscanf(line, "memlock: %ld", &v) == 1) break;
    if (f) std::fclose(f);
    return v;
}

} // namespace

int main(int argc, char** argv)
{
    if (geteuid() != 0) {
        std::printf("bench needs root\n");
        return 77;
    }
    const int repeat = argc > 1 ? std::atoi(argv[1]) : 1000000;
    bpf_object* base = bpf_object__open_file(FA_BENCH_OBJECT, nullptr);
    if (base == nullptr || bpf_object__load(base) != 0) {
        std::fprintf(stderr, "cannot load %s\n", FA_BENCH_OBJECT);
        return 1;
    }
    const int empty = bpf_program__fd(bpf_object__find_program_by_name(base, "fa_bench_empty"));
    const int plain = bpf_program__fd(bpf_object__find_program_by_name(base, "fa_bench_plain"));
    const int plain_map = bpf_object__find_map_fd_by_name(base, "fa_plain");
    const int slot_prog = bpf_program__fd(bpf_object__find_program_by_name(base, "fa_bench_slot"));
    const int slot_arr_prog =
        bpf_program__fd(bpf_object__find_program_by_name(base, "fa_bench_slot_arr"));
    const int slot_arr_map = bpf_object__find_map_fd_by_name(base, "fa_bslot_arr");
    const uint32_t lo = 1;  // test runs: loopback
    const fa_ifslot_ent lo_ent{1, 1}, other_ent{257, 2};  // 257 & 255 == 1: lo's entry
    {
        const uint32_t slot = 1;
        bpf_map_update_elem(bpf_object__find_map_fd_by_name(base, "fa_bslot"), &lo, &slot,
                            BPF_ANY);
    }
    // The array on a hit (lo's entry) or on the fallback (the entry is 257's: lo in the hash).
    auto slot_arr = [&](bool hit, const std::vector<uint8_t>& p) {
        if (bpf_map_update_elem(slot_arr_map, &lo, hit ? &lo_ent : &other_ent, BPF_ANY) != 0) {
            std::perror("fa_bslot_arr");
            std::exit(1);
        }
        return run(slot_arr_prog, p, repeat);
    };

    std::printf("repeat %d; ns/packet as measured by BPF_PROG_TEST_RUN (JIT on)\n", repeat);
    for (uint32_t resident : {1024u, 65536u - 8192u}) {
        BpfFlowObject fo;
        BpfLoadOptions o;
        o.max_flows = 65536;
        if (fo.load(o) != 0 || fo.set_slot(1, 1) != 0) return 1;  // test runs: loopback
        BpfFlowObject so;  // 1-in-100, deterministic: populated with exactly one packet per flow
        BpfLoadOptions os = o;
        os.sample_rate = 100;
        os.sample_mode = FA_SAMPLE_DETERMINISTIC;
        if (so.load(os) != 0 || so.set_slot(1, 1) != 0) return 1;
        BpfFlowObject ro;  // 1-in-100, random
        BpfLoadOptions orr = o;
        orr.sample_rate = 100;
        if (ro.load(orr) != 0 || ro.set_slot(1, 1) != 0) return 1;
        // Empty the plain map from the previous round.
        Null null;
        {
            fa_flow_key k, next;
            std::vector<fa_flow_key> keys;
            bool first = true;
            while (bpf_map_get_next_key(plain_map, first ? nullptr : &k, &next) == 0) {
                keys.push_back(next);
                k = next;
                first = false;
            }
            for (auto& x : keys) bpf_map_delete_elem(plain_map, &x);
        }
        // Populate through the tc program: every XDP test run swaps the XDP dispatcher twice
        // (bpf_prog_change_xdp(), a synchronize_rcu() each), tc test runs do not. The tc
        // ingress key equals the XDP key (ifindex 1, ingress), so XDP runs hit these entries.
        for (uint32_t i = 0; i < resident; ++i) run(fo.prog_fd(BpfHook::tc_in), packet(i), 1);
        for (uint32_t i = 0; i < resident; ++i) run(so.prog_fd(BpfHook::tc_in), packet(i), 100);
        {   // The plain map gets the same keys, written out from packet(i)'s fields (most of
            // fo's flows sit in its per-CPU cache, not in fa_flows).
            uint64_t init[2] = {1, 92};
            for (uint32_t i = 0; i < resident; ++i) {
                fa_flow_key k;
                std::memset(&k, 0, sizeof(k));
                const uint8_t s4[4] = {10, uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i)};
                const uint8_t d4[4] = {10, 255, 0, 1};
                k.saddr[10] = k.saddr[11] = k.daddr[10] = k.daddr[11] = 0xff;
                std::memcpy(k.saddr + 12, s4, 4);
                std::memcpy(k.daddr + 12, d4, 4);
                k.sport[0] = uint8_t((1024 + (i & 0x3ff)) >> 8);
                k.sport[1] = uint8_t(1024 + (i & 0x3ff));
                k.dport[1] = 53;
                k.proto = 17;
                k.ifx = 1;  // BPF_PROG_TEST_RUN: loopback's slot 1, ingress
                bpf_map_update_elem(plain_map, &k, init, BPF_NOEXIST);
            }
        }
        // The next tick: the resident flows are idle from here on, as a hot flow among idle
        // ones finds them in a running agent (fa_ctl.now_ms moves every 100 ms). Without it,
        // the hot flow's first hit would find its slot held by a flow hit "this tick" and
        // leave it there, and every measured hit would take the fa_flows path.
        if (fo.stamp_time(MonoMs(LinuxClock().mono_ms() + 100)) != 0) return 1;
        const auto hit = packet(resident / 2);
        std::printf("\n== %u resident flows ==\n", resident);
        for (int round = 0; round < 3; ++round) {
            std::printf("run %d: empty %.1f | plain hash %.1f | fa_xdp hit %.1f | fa_tc_in hit "
                        "%.1f | sampled N=100 random %.1f | N=100 deterministic %.1f\n",
                        round + 1, run(empty, hit, repeat), run(plain, hit, repeat),
                        run(fo.prog_fd(BpfHook::xdp), hit, repeat),
                        run(fo.prog_fd(BpfHook::tc_in), hit, repeat),
                        run(ro.prog_fd(BpfHook::xdp), hit, repeat),
                        run(so.prog_fd(BpfHook::xdp), hit, repeat));
        }
        // The L3 entry on the same IP packet (no Ethernet header): same key, so the same hit.
        const std::vector<uint8_t> hit3(hit.begin() + 14, hit.end());
        for (int round = 0; round < 3; ++round) {
            const double l2 = run(fo.prog_fd(BpfHook::xdp), hit, repeat);
            const double l3 = run(fo.prog_fd(BpfHook::xdp_l3), hit3, repeat);
            std::printf("run %d: fa_xdp (L2) hit %.1f | fa_xdp_l3 (L3, same IP packet) hit %.1f "
                        "| empty %.1f | slot lookup alone: array hit %.1f, array miss + hash "
                        "%.1f, hash only (ABI v4) %.1f\n",
                        round + 1, l2, l3, run(empty, hit, repeat), slot_arr(true, hit),
                        slot_arr(false, hit), run(slot_prog, hit, repeat));
        }
        // New-flow path: one run per never-seen flow (repeat 1, so each run inserts).
        // XDP: 100 runs (each costs two dispatcher swaps); tc: 2000.
        const uint32_t kNewXdp = 100, kNewTc = 2000;
        const double e1 = run_new(empty, 1u << 20, kNewXdp);
        const double p1 = run_new(plain, 1u << 20, kNewXdp);
        const double x1 = run_new(fo.prog_fd(BpfHook::xdp), 1u << 20, kNewXdp);
        const double t1 = run_new(fo.prog_fd(BpfHook::tc_in), 2u << 20, kNewTc);
        double th = 0;
        for (uint32_t i = 0; i < kNewTc; ++i) th += run(fo.prog_fd(BpfHook::tc_in), hit, 1);
        std::printf("new flow (repeat 1; avg of %u xdp, %u tc runs): empty %.1f | plain hash %.1f "
                    "| fa_xdp %.1f | fa_tc_in %.1f | fa_tc_in hit at repeat 1 %.1f\n",
                    kNewXdp, kNewTc, e1, p1, x1, t1, th / kNewTc);
        // Drain cost: everything resident (plus the new flows) in one drain.
        fo.drain(null);  // flips: entries so far are generation 0 -> delivered now
        null.n = 0;
        for (uint32_t i = 0; i < resident; ++i) run(fo.prog_fd(BpfHook::tc_in), packet(i), 1);
        const auto t0 = std::chrono::steady_clock::now();
        int n = fo.drain(null);
        const double us =
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                .count();
        std::printf("drain: %d flows in %.0f us = %.0f ns/flow (incl. one synchronize_rcu)\n", n,
                    us, us * 1000 / n);
        // The same drain into the agent (its flows already in its table: the steady state of
        // long flows), without and with the look-ahead, twice each, alternating.
        if (resident <= 65536) {
            AgentSink ts;
            for (uint32_t i = 0; i < resident; ++i) run(fo.prog_fd(BpfHook::tc_in), packet(i), 1);
            fo.drain(ts);  // inserts every flow into the table
            for (int round = 0; round < 4; ++round) {
                ts.ahead = round % 2 == 1;
                for (uint32_t i = 0; i < resident; ++i)
                    run(fo.prog_fd(BpfHook::tc_in), packet(i), 1);
                const auto ts0 = std::chrono::steady_clock::now();
                const int m = fo.drain(ts);
                const double us1 = std::chrono::duration<double, std::micro>(
                                       std::chrono::steady_clock::now() - ts0).count();
                std::printf("drain into the agent, look-ahead %s: %d flows, %.0f ns/flow\n",
                            ts.ahead ? "on " : "off", m, us1 * 1000 / m);
            }
        }
        const long ml = memlock(fo.flows_fd());
        std::printf("kernel memory: fa_flows memlock %ld bytes for %u entries = %.1f bytes/flow; "
                    "plain hash %ld bytes; fa_cache (fixed, all CPUs) %ld bytes\n",
                    ml, o.max_flows, double(ml) / o.max_flows, memlock(plain_map),
                    memlock(fo.cache_fd()));
        std::printf("kernel memory: fa_stats (per-slot counters, all CPUs) %ld bytes; fa_ifarr "
                    "%ld bytes; fa_ifslot %ld bytes\n", memlock(fo.stats_fd()),
                    memlock(fo.ifarr_fd()), memlock(fo.ifslot_fd()));
    }
    bpf_object__close(base);
    return 0;
}
