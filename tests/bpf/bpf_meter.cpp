// SPDX-License-Identifier: GPL-2.0-only
// Test tool: runs the real BPF source (make_bpf_source: load, attach, drain every tick,
// detach + final drain on SIGTERM) and prints the aggregated flows as CSV on exit:
//   proto,src,sport,dst,dport,in_if,out_if,dir,vlan,tos,packets,octets,tcp_flags
// Usage: bpf_meter xdp|tc IFACE[,IFACE...] [RATE [random|deterministic]]
// Prints "ready" on stderr once attached. $FA_RUN_DIR: the run directory (interface owner
// locks), else the agent's default. Used by tests/e2e/test_bpf_*.sh until the agent's
// main runs bpf sources, and to show the drain exact on real traffic.
#include <arpa/inet.h>
#include <signal.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <tuple>

#include "core/log.h"
#include "linux/bpf_source.h"

using namespace fa;

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

class StderrLog : public LogSink {
public:
    void write(LogLevel, const char* line) override { std::fprintf(stderr, "%s\n", line); }
};

struct Agg : SourceSink {
    struct Key {
        FlowKey k;
        bool operator<(const Key& o) const { return std::memcmp(&k, &o.k, sizeof(k)) < 0; }
    };
    struct Val {
        unsigned long long packets = 0, octets = 0;
        unsigned flags = 0;
    };
    std::map<Key, Val> flows;
    unsigned long long deltas = 0;
    void on_delta(const FlowDelta& d) override
    {
        ++deltas;
        Val& v = flows[Key{d.key}];
        v.packets += d.packets;
        v.octets += d.octets;
        v.flags |= d.tcp_flags;
    }
    void on_record(const FlowRecord&) override {}
};

MonoMs now_ms()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return MonoMs(ts.tv_sec) * 1000 + MonoMs(ts.tv_nsec / 1000000);
}

void addr(const uint8_t* a, char* out, size_t len)
{
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(a, kMapped, 12) == 0) inet_ntop(AF_INET, a + 12, out, socklen_t(len));
    else inet_ntop(AF_INET6, a, out, socklen_t(len));
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s xdp|tc IFACE[,IFACE...] [RATE [random|deterministic]]\n",
                     argv[0]);
        return 2;
    }
    static StderrLog log_sink;
    set_log_sink(&log_sink);
    static Config cfg;
    cfg.source = std::strcmp(argv[1], "tc") == 0 ? SourceKind::tc : SourceKind::xdp;
    char list[512];
    std::snprintf(list, sizeof(list), "%s", argv[2]);
    for (char* tok = std::strtok(list, ","); tok && cfg.interface_count < kMaxInterfaces;
         tok = std::strtok(nullptr, ","))
        std::snprintf(cfg.interfaces[cfg.interface_count++], kIfNameLen, "%s", tok);
    cfg.max_flows = 4096;
    if (const char* run = std::getenv("FA_RUN_DIR"))
        std::snprintf(cfg.control_socket, sizeof(cfg.control_socket), "%s/meter.sock", run);
    if (argc > 3) cfg.sampling_rate = uint32_t(std::strtoul(argv[3], nullptr, 10));
    if (argc > 4 && std::strcmp(argv[4], "deterministic") == 0)
        cfg.sampling_mode = SamplingMode::deterministic;

    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    std::unique_ptr<Source> src = make_bpf_source();
    if (src->start(cfg) != 0) return 1;
    std::fprintf(stderr, "ready\n");
    Agg agg;
    unsigned long ticks = 0;
    while (!g_stop) {
        timespec ts{0, 100 * 1000000};  // the agent's default tick: 100 ms
        nanosleep(&ts, nullptr);
        src->on_tick(now_ms(), agg);
        ++ticks;
    }
    src->stop(now_ms(), agg);
    DropCounters d = src->drops();
    std::fprintf(stderr, "ticks %lu deltas %llu drops %llu/%llu\n", ticks, agg.deltas,
                 (unsigned long long)d.source_packets, (unsigned long long)d.source_octets);
    for (const auto& kv : agg.flows) {
        const FlowKey& k = kv.first.k;
        char s[64], t[64];
        addr(k.src, s, sizeof(s));
        addr(k.dst, t, sizeof(t));
        std::printf("%u,%s,%u,%s,%u,%u,%u,%u,%u,%u,%llu,%llu,%u\n", k.proto, s, k.src_port, t,
                    k.dst_port, k.in_if, k.out_if, k.dir, k.vlan, k.tos, kv.second.packets,
                    kv.second.octets, kv.second.flags);
    }
    return 0;
}
