// SPDX-License-Identifier: GPL-2.0-only
// Exact drain under load: writer threads run the real programs through BPF_PROG_TEST_RUN as
// fast as the machine allows (each run's packet count is known exactly: `repeat`), while the
// main thread drains the flow map continuously. Per flow, the drained packets and octets must
// equal what the writers ran, exactly. Any update lost to the packet/drain race fails this.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "core/log.h"
#include "linux/bpf_loader.h"
#include "source/bpf_decode.h"

using namespace fa;

namespace {

constexpr int kFlows = 64;
constexpr uint32_t kRepeat = 64;     // packets per test run
constexpr int kWriters = 2;

struct Sum : SourceSink {
    unsigned long long packets[kFlows] = {};
    unsigned long long octets[kFlows] = {};
    unsigned long long deltas = 0, bad = 0;
    void on_delta(const FlowDelta& d) override
    {
        ++deltas;
        const unsigned i = d.key.src_port - 1000u;
        if (i >= unsigned(kFlows)) { ++bad; return; }
        packets[i] += d.packets;
        octets[i] += d.octets;
    }
    void on_record(const FlowRecord&) override {}
};

std::vector<uint8_t> packet(int flow)
{
    // Ethernet + IPv4 (20) + UDP (8) + flow-dependent payload: octets = 28 + flow.
    const unsigned payload = unsigned(flow), tot = 28 + payload;
    std::vector<uint8_t> b = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00,
                              0x45, 0, uint8_t(tot >> 8), uint8_t(tot), 0, 1, 0, 0, 64, 17, 0, 0,
                              10, 9, 0, 1, 10, 9, 0, 2,
                              uint8_t((1000 + flow) >> 8), uint8_t(1000 + flow), 0, 53,
                              uint8_t((8 + payload) >> 8), uint8_t(8 + payload), 0, 0};
    b.resize(b.size() + payload, 0xab);
    return b;
}

} // namespace

int main(int argc, char** argv)
{
    if (geteuid() != 0) {
        std::printf("bpf drain stress needs root\n");
        const char* ci = std::getenv("CI");
        return ci && std::strcmp(ci, "true") == 0 ? 1 : 77;
    }
    const double seconds = argc > 1 ? std::atof(argv[1]) : 5.0;
    BpfFlowObject o;
    BpfLoadOptions opt;
    opt.max_flows = 1024;
    if (o.load(opt) != 0 || o.set_slot(1, 1) != 0) return 1;  // test runs: loopback

    std::vector<std::vector<uint8_t>> pkts;
    for (int f = 0; f < kFlows; ++f) pkts.push_back(packet(f));
    std::atomic<bool> stop{false};
    std::atomic<int> errors{0};
    unsigned long long sent[kWriters][kFlows] = {};
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
        writers.emplace_back([&, w] {
            // Writer 0 runs XDP, writer 1 tc ingress: both hooks race with the drain.
            const int fd = o.prog_fd(w == 0 ? BpfHook::xdp : BpfHook::tc_in);
            for (unsigned long i = 0; !stop.load(std::memory_order_relaxed); ++i) {
                const int f = int((i * 7 + unsigned(w)) % kFlows);
                LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pkts[f].data(),
                            .data_size_in = uint32_t(pkts[f].size()), .repeat = int(kRepeat));
                if (bpf_prog_test_run_opts(fd, &t) != 0) { ++errors; return; }
                sent[w][f] += kRepeat;
            }
        });
    }
    Sum sum;
    unsigned long drains = 0;
    const auto t0 = std::chrono::steady_clock::now();
    while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() <
           seconds) {
        if (o.drain(sum) < 0) { std::printf("FAIL drain error\n"); return 1; }
        ++drains;
    }
    stop = true;
    for (auto& t : writers) t.join();
    // Writers are finished; two drains empty both generations.
    o.drain(sum);
    o.drain(sum);
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    int fail = errors.load();
    unsigned long long tp = 0, to = 0, gp = 0, go = 0;
    for (int f = 0; f < kFlows; ++f) {
        unsigned long long want_p = 0;
        for (int w = 0; w < kWriters; ++w) want_p += sent[w][f];
        const unsigned long long want_o = want_p * (28u + unsigned(f));
        tp += want_p; to += want_o; gp += sum.packets[f]; go += sum.octets[f];
        if (want_p != sum.packets[f] || want_o != sum.octets[f]) {
            std::printf("FAIL flow %d: drained %llu pkts %llu octets, ran %llu pkts %llu octets\n",
                        f, sum.packets[f], sum.octets[f], want_p, want_o);
            ++fail;
        }
    }
    BpfStats s;
    o.read_stats(s);
    for (uint32_t r = 0; r < FA_R_MAX; ++r)
        if (s.total(r).packets) { std::printf("FAIL counter %s = %llu\n", bpf_reason_name(r),
                                              (unsigned long long)s.total(r).packets); ++fail; }
    if (sum.bad) ++fail;
    std::printf("drain stress: %.1f s, %lu drains (%.0f/s), %llu deltas, packets ran %llu "
                "drained %llu (%.2f Mpps), octets ran %llu drained %llu: %s\n",
                el, drains, double(drains) / el, sum.deltas, tp, gp, double(tp) / el / 1e6, to,
                go, fail ? "FAIL" : "exact");
    return fail ? 1 : 0;
}
