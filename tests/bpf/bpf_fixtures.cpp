// SPDX-License-Identifier: GPL-2.0-only
// BPF_PROG_TEST_RUN fixtures: each builds a packet by hand, runs it through the real object's
// XDP, tc-ingress and tc-egress programs (loaded, never attached) and compares the drained flow
// entries and per-reason counters with values written out by hand from the packet layout.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "linux/bpf_loader.h"
#include "linux/clock_linux.h"
#include "core/log.h"
#include "source/bpf_decode.h"

using namespace fa;

namespace {

int g_fail = 0, g_pass = 0, g_not_runnable = 0;
const char* g_case = "";

#define EXPECT_EQ(a, b)                                                                      \
    do {                                                                                     \
        unsigned long long va_ = (unsigned long long)(a), vb_ = (unsigned long long)(b);     \
        if (va_ != vb_) {                                                                    \
            std::printf("FAIL [%s] %s:%d: %s = %llu, expected %s = %llu\n", g_case, __FILE__, \
                        __LINE__, #a, va_, #b, vb_);                                         \
            ++g_fail;                                                                        \
        } else {                                                                             \
            ++g_pass;                                                                        \
        }                                                                                    \
    } while (0)

class StderrLog : public LogSink {
public:
    void write(LogLevel, const char* line) override { std::fprintf(stderr, "%s\n", line); }
};

struct Capture : SourceSink {
    std::vector<FlowDelta> d;
    void on_delta(const FlowDelta& x) override { d.push_back(x); }
    void on_record(const FlowRecord&) override {}
};

// ---- packet builder: every field written explicitly, big-endian by hand -----------------
struct Pkt {
    std::vector<uint8_t> b;
    void u8(unsigned v) { b.push_back(uint8_t(v)); }
    void u16(unsigned v) { u8(v >> 8); u8(v); }
    void u32(unsigned long v) { u16(unsigned(v >> 16)); u16(unsigned(v & 0xffff)); }
    void bytes(const uint8_t* p, size_t n) { b.insert(b.end(), p, p + n); }
    void zeros(size_t n) { b.insert(b.end(), n, 0); }
    void eth(unsigned type)
    {
        const uint8_t dst[6] = {0x02, 0, 0, 0, 0, 2}, src[6] = {0x02, 0, 0, 0, 0, 1};
        bytes(dst, 6);
        bytes(src, 6);
        u16(type);
    }
    void vlan(unsigned vid, unsigned type) { u16(vid); u16(type); }
    // RFC 2516 session header; length = PPP payload incl. the 2-byte protocol.
    void pppoe(unsigned ppp_proto, unsigned len) { u8(0x11); u8(0); u16(0x1234); u16(len); u16(ppp_proto); }
    // IPv4: ihl in 32-bit words; options are `ihl-5` words of NOP (1).
    void ip4(unsigned proto, unsigned tos, const char* s, const char* d, unsigned tot_len,
             unsigned id = 0x4242, unsigned frag = 0, unsigned ihl = 5)
    {
        u8(0x40 | ihl); u8(tos); u16(tot_len); u16(id); u16(frag); u8(64); u8(proto); u16(0);
        uint8_t a[4];
        inet_pton(AF_INET, s, a); bytes(a, 4);
        inet_pton(AF_INET, d, a); bytes(a, 4);
        for (unsigned i = 5; i < ihl; ++i) { u8(1); u8(1); u8(1); u8(1); }
    }
    void ip6(unsigned nh, unsigned tc, const char* s, const char* d, unsigned payload_len)
    {
        u32(0x60000000ul | (unsigned long)tc << 20 | 0x12345); u16(payload_len); u8(nh); u8(64);
        uint8_t a[16];
        inet_pton(AF_INET6, s, a); bytes(a, 16);
        inet_pton(AF_INET6, d, a); bytes(a, 16);
    }
    void ext(unsigned nh, unsigned hdrlen_units) // HBH/DSTOPT/ROUTING: (n+1)*8 bytes
    {
        u8(nh); u8(hdrlen_units); zeros((hdrlen_units + 1) * 8 - 2);
    }
    void tcp(unsigned sp, unsigned dp, unsigned flags)
    {
        u16(sp); u16(dp); u32(1000); u32(0); u8(0x50); u8(flags); u16(65535); u16(0); u16(0);
    }
    void udp(unsigned sp, unsigned dp, unsigned len) { u16(sp); u16(dp); u16(len); u16(0); }
};

struct Expect {
    const char* src;      // printable address, nullptr = no flow expected
    const char* dst;
    unsigned sport, dport, proto, tos, vlan;
    unsigned long long packets, octets;
    unsigned tcp_flags;
};

bool addr_eq(const uint8_t* a16, const char* s)
{
    uint8_t want[16] = {};
    if (std::strchr(s, ':') != nullptr) {
        inet_pton(AF_INET6, s, want);
    } else {
        want[10] = want[11] = 0xff;
        inet_pton(AF_INET, s, want + 12);
    }
    return std::memcmp(a16, want, 16) == 0;
}

const BpfHook kHooks[3] = {BpfHook::xdp, BpfHook::tc_in, BpfHook::tc_eg};
const char* kHookName[3] = {"xdp", "tc_in", "tc_eg"};

int run(const BpfFlowObject& o, BpfHook h, const std::vector<uint8_t>& pkt, uint32_t repeat = 1,
        uint32_t* duration = nullptr)
{
    LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = pkt.data(), .data_size_in = uint32_t(pkt.size()),
                .repeat = int(repeat));
    int err = bpf_prog_test_run_opts(o.prog_fd(h), &t);
    if (err) {
        std::printf("FAIL [%s] test_run: %s\n", g_case, std::strerror(errno));
        ++g_fail;
        return err;
    }
    const uint32_t pass = h == BpfHook::xdp ? uint32_t(XDP_PASS) : uint32_t(TC_ACT_UNSPEC);
    EXPECT_EQ(t.retval, pass);  // never drops or alters a verdict
    if (duration) *duration = t.duration;
    return 0;
}

BpfLoadOptions opts(uint32_t max_flows = 256, uint32_t rate = 1, uint32_t mode = FA_SAMPLE_RANDOM)
{
    BpfLoadOptions o;
    o.max_flows = max_flows;
    o.sample_rate = rate;
    o.sample_mode = mode;
    return o;
}

// Runs `pkts` (each once) on every hook with a fresh object and checks the drained flow and
// the one reason counter expected to move (FA_R_MAX = none).
void fixture(const char* name, const std::vector<std::vector<uint8_t>>& pkts, const Expect& e,
             uint32_t reason = FA_R_MAX, unsigned long long reason_pkts = 0)
{
    for (int hi = 0; hi < 3; ++hi) {
        char label[128];
        std::snprintf(label, sizeof(label), "%s/%s", name, kHookName[hi]);
        g_case = label;
        BpfFlowObject o;
        if (o.load(opts()) != 0) { ++g_fail; std::printf("FAIL [%s] load\n", label); return; }
        for (const auto& p : pkts) run(o, kHooks[hi], p);
        Capture c;
        int n = o.drain(c);
        EXPECT_EQ(n, e.src ? 1 : 0);
        EXPECT_EQ(c.d.size(), e.src ? 1u : 0u);
        if (e.src && c.d.size() == 1) {
            const FlowDelta& d = c.d[0];
            EXPECT_EQ(addr_eq(d.key.src, e.src), 1);
            EXPECT_EQ(addr_eq(d.key.dst, e.dst), 1);
            EXPECT_EQ(d.key.src_port, e.sport);
            EXPECT_EQ(d.key.dst_port, e.dport);
            EXPECT_EQ(d.key.proto, e.proto);
            EXPECT_EQ(d.key.tos, e.tos);
            EXPECT_EQ(d.key.vlan, e.vlan);
            EXPECT_EQ(d.packets, e.packets);
            EXPECT_EQ(d.octets, e.octets);
            EXPECT_EQ(d.tcp_flags, e.tcp_flags);
            // BPF_PROG_TEST_RUN runs on the loopback device (ifindex 1).
            const bool eg = kHooks[hi] == BpfHook::tc_eg;
            EXPECT_EQ(d.key.dir, eg ? 1 : 0);
            EXPECT_EQ(d.key.in_if, eg ? 0 : 1);
            EXPECT_EQ(d.key.out_if, eg ? 1 : 0);
            EXPECT_EQ(d.first_ms <= d.last_ms, 1);
        }
        BpfStats s;
        EXPECT_EQ(o.read_stats(s), 0);
        for (uint32_t r = 0; r < FA_R_MAX; ++r) {
            const unsigned long long want = r == reason ? reason_pkts : 0;
            if (s.reason[r].packets != want) {
                std::printf("FAIL [%s] counter %s = %llu, expected %llu\n", label,
                            bpf_reason_name(r), (unsigned long long)s.reason[r].packets, want);
                ++g_fail;
            } else {
                ++g_pass;
            }
        }
        // Nothing left behind: the second generation is empty too.
        Capture c2;
        EXPECT_EQ(o.drain(c2), 0);
    }
}

std::vector<uint8_t> v4_tcp_vlan()
{
    Pkt p;
    p.eth(0x8100); p.vlan(100, 0x0800);
    p.ip4(6, 0, "10.0.0.1", "10.0.0.2", 40);
    p.tcp(1234, 80, 0x02);
    return p.b;
}

// Truncation at every byte boundary of a header stack: the reason is the header cut.
void truncation(const char* name, const std::vector<uint8_t>& full,
                const std::vector<std::pair<size_t, uint32_t>>& ranges)
{
    // ranges: (first length at which `reason` applies, reason) in increasing order; the last
    // range ends at full.size() - 1. BPF_PROG_TEST_RUN refuses frames below ETH_HLEN (14).
    for (int hi = 0; hi < 3; ++hi) {
        BpfFlowObject o;
        if (o.load(opts()) != 0) { ++g_fail; return; }
        for (size_t len = 14; len < full.size(); ++len) {
            uint32_t want = FA_R_MAX;
            for (const auto& r : ranges)
                if (len >= r.first) want = r.second;
            std::vector<uint8_t> cut(full.begin(), full.begin() + long(len));
            char label[128];
            std::snprintf(label, sizeof(label), "%s/len%zu/%s", name, len, kHookName[hi]);
            g_case = label;
            BpfStats before, after;
            o.read_stats(before);
            LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = cut.data(),
                        .data_size_in = uint32_t(cut.size()));
            if (bpf_prog_test_run_opts(o.prog_fd(kHooks[hi]), &t) != 0) {
                // The kernel will not build an skb for some truncated frames (it checks the
                // L3 header for skb test runs); XDP covers these lengths.
                if (hi != 0 && errno == EINVAL) { ++g_not_runnable; continue; }
                std::printf("FAIL [%s] test_run: %s\n", label, std::strerror(errno));
                ++g_fail;
                continue;
            }
            Capture c;
            EXPECT_EQ(o.drain(c), 0);
            o.read_stats(after);
            EXPECT_EQ(after.reason[want].packets - before.reason[want].packets, 1);
            EXPECT_EQ(after.reason[want].bytes - before.reason[want].bytes, len);
        }
    }
}

void sampling()
{
    Pkt p;
    p.eth(0x0800); p.ip4(17, 0, "10.1.0.1", "10.1.0.2", 28); p.udp(5000, 6000, 8);
    const uint32_t kRuns = 200000, kN = 10;
    // Deterministic: every Nth packet on a CPU; test_run stays on one CPU -> exact.
    {
        g_case = "sampling/deterministic";
        BpfFlowObject o;
        if (o.load(opts(256, kN, FA_SAMPLE_DETERMINISTIC)) != 0) { ++g_fail; return; }
        run(o, BpfHook::xdp, p.b, kRuns);
        Capture c;
        o.drain(c);
        EXPECT_EQ(c.d.size(), 1);
        if (c.d.size() == 1) EXPECT_EQ(c.d[0].packets, kRuns / kN);
        BpfStats s;
        o.read_stats(s);
        EXPECT_EQ(s.reason[FA_R_SAMPLED_OUT].packets, kRuns - kRuns / kN);
    }
    // Random: binomial(200000, 0.1): mean 20000, sd sqrt(200000*0.1*0.9) = 134.2; accept
    // |x - mean| <= 6 sd = 805 (false failure probability < 2e-9).
    {
        g_case = "sampling/random";
        BpfFlowObject o;
        if (o.load(opts(256, kN, FA_SAMPLE_RANDOM)) != 0) { ++g_fail; return; }
        run(o, BpfHook::tc_in, p.b, kRuns);
        Capture c;
        o.drain(c);
        EXPECT_EQ(c.d.size(), 1);
        unsigned long long got = c.d.size() == 1 ? c.d[0].packets : 0;
        EXPECT_EQ(got >= 20000 - 805 && got <= 20000 + 805, 1);
        BpfStats s;
        o.read_stats(s);
        EXPECT_EQ(s.reason[FA_R_SAMPLED_OUT].packets + got, kRuns);
        std::printf("sampling random 1/%u: %llu of %u selected (expected 20000 +- 805)\n", kN,
                    got, kRuns);
    }
    // Rate 1: every packet.
    {
        g_case = "sampling/rate1";
        BpfFlowObject o;
        if (o.load(opts(256, 1)) != 0) { ++g_fail; return; }
        run(o, BpfHook::xdp, p.b, 1000);
        Capture c;
        o.drain(c);
        EXPECT_EQ(c.d.size(), 1);
        if (c.d.size() == 1) EXPECT_EQ(c.d[0].packets, 1000);
        if (c.d.size() == 1) EXPECT_EQ(c.d[0].octets, 28000);
    }
}

// A tick time for the cache cases, 10 s before the real CLOCK_MONOTONIC: the drain stamps the
// real clock, and a flow last seen "after" it is refused as undecodable (bpf_decode), so a
// fixed time would fail on a machine up for less than that time.
MonoMs past_tick()
{
    const MonoMs now = LinuxClock().mono_ms();
    return now > 10000 ? now - 10000 : 0;
}

// UDP 10.2.0.1:port -> 10.2.0.2:53 with `payload` bytes: 28 + payload octets.
std::vector<uint8_t> udp_flow(unsigned port, unsigned payload)
{
    Pkt p;
    p.eth(0x0800); p.ip4(17, 0, "10.2.0.1", "10.2.0.2", 28 + payload); p.udp(port, 53, 8 + payload);
    p.zeros(payload);
    return p.b;
}

// More flows on one CPU than it has cache slots: flows evicted from the cache move into
// fa_flows and come back to the cache later. Every flow must still add up exactly.
void cache_eviction(BpfHook hook = BpfHook::xdp)
{
    g_case = "cache_eviction";
    BpfFlowObject o;
    if (o.load(opts(16384)) != 0) { ++g_fail; return; }
    // More flows than slots, so that slots are shared whatever the hash does with these
    // (consecutive ports spread perfectly under a multiplicative hash).
    const unsigned kFlows = o.cache_slots() < 1000 ? 2000 : 2 * o.cache_slots();
    // A new tick per round, in the opposite order: a slot's resident was last hit in an
    // earlier tick, so the round's first contender for the slot evicts it into fa_flows and
    // takes the slot.
    const MonoMs base = past_tick();
    for (int round = 0; round < 3; ++round) {
        EXPECT_EQ(o.stamp_time(base + MonoMs(100 * round)), 0);
        for (unsigned i = 1; i <= kFlows; ++i)
            run(o, hook, udp_flow(round % 2 ? kFlows + 1 - i : i, 100));
    }
    Capture c;
    const int n = o.drain(c);
    EXPECT_EQ(n > int(kFlows), 1);  // some flows were both in the cache and in fa_flows
    std::map<unsigned, std::pair<unsigned long long, unsigned long long>> per;
    for (const auto& d : c.d) {
        per[d.key.src_port].first += d.packets;
        per[d.key.src_port].second += d.octets;
    }
    EXPECT_EQ(per.size(), kFlows);
    unsigned bad = 0;
    for (const auto& kv : per)
        if (kv.second.first != 3 || kv.second.second != 3 * 128) ++bad;
    EXPECT_EQ(bad, 0);
    BpfStats s;
    o.read_stats(s);
    EXPECT_EQ(s.reason[FA_R_MAP_FULL].packets, 0);
    Capture c2;
    EXPECT_EQ(o.drain(c2), 0);  // everything was delivered by the first drain
}

// Flows taking turns within one tick (fa_ctl.now_ms unchanged): a resident that was hit in
// this tick keeps its slot and the contenders go straight to fa_flows, so each flow is in
// exactly one place: one record per flow. (Evicting on every conflict would put the flows
// that share a slot in both, and the drain would return more records than flows.)
void cache_same_tick()
{
    g_case = "cache_same_tick";
    BpfFlowObject o;
    if (o.load(opts(4096)) != 0) { ++g_fail; return; }
    EXPECT_EQ(o.stamp_time(past_tick()), 0);
    // More than the default 1,024 slots (many are shared); at 4,096 (FA_BPF_CACHE_BITS=12)
    // fewer are, by hashing.
    const unsigned kFlows = 2000;
    for (int round = 0; round < 3; ++round)
        for (unsigned port = 1; port <= kFlows; ++port) run(o, BpfHook::xdp, udp_flow(port, 100));
    Capture c;
    EXPECT_EQ(o.drain(c), int(kFlows));
    std::map<unsigned, unsigned long long> pk;
    for (const auto& d : c.d) pk[d.key.src_port] += d.packets;
    unsigned bad = 0;
    for (const auto& kv : pk) if (kv.second != 3) ++bad;
    EXPECT_EQ(pk.size(), kFlows);
    EXPECT_EQ(bad, 0);
}

// tc sees GRO-merged (ingress) and not yet segmented (egress) TCP super-packets: one skb that
// was or will be `segs` packets on the wire, each with its own IP and TCP header.
void gso_super_packet()
{
    g_case = "gso_super_packet";
    const unsigned kSegs = 3, kMss = 1000;  // test_run takes at most a page of data
    Pkt p;
    p.eth(0x0800); p.ip4(6, 0, "10.3.0.1", "10.3.0.2", 20 + 20 + kSegs * kMss); p.tcp(40000, 443, 0x10);
    p.zeros(kSegs * kMss);
    for (BpfHook h : {BpfHook::tc_in, BpfHook::tc_eg}) {
        BpfFlowObject o;
        if (o.load(opts()) != 0) { ++g_fail; return; }
        __sk_buff ctx;
        std::memset(&ctx, 0, sizeof(ctx));
        ctx.ifindex = 1;  // loopback, as without a context
        ctx.gso_segs = kSegs;
        ctx.gso_size = kMss;
        LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = p.b.data(),
                    .data_size_in = uint32_t(p.b.size()), .ctx_in = &ctx,
                    .ctx_size_in = sizeof(ctx), .repeat = 1);
        if (bpf_prog_test_run_opts(o.prog_fd(h), &t) != 0) {
            std::printf("FAIL [%s] test_run with gso_segs: %s\n", g_case, std::strerror(errno));
            ++g_fail;
            continue;
        }
        Capture c;
        o.drain(c);
        EXPECT_EQ(c.d.size(), 1);
        if (c.d.size() != 1) continue;
        EXPECT_EQ(c.d[0].packets, kSegs);
        EXPECT_EQ(c.d[0].octets, kSegs * (20 + 20 + kMss));  // what the wire carried
    }
}

// fa_flows with room for 4 flows behind the flow cache (64 slots per CPU at max_flows 4): 2000
// flows of 2 back-to-back packets (the second one a cache hit). Flows pushed out of the cache into the full map are
// counted as map_full, in whole: every packet is in a delivered flow or in that counter.
void map_full()
{
    g_case = "map_full";
    BpfFlowObject o;
    if (o.load(opts(4)) != 0) { ++g_fail; return; }
    const unsigned kFlows = 2000;
    for (unsigned port = 1; port <= kFlows; ++port) {
        run(o, BpfHook::xdp, udp_flow(port, 100));
        run(o, BpfHook::xdp, udp_flow(port, 100));
    }
    Capture c;
    const int n = o.drain(c);
    EXPECT_EQ(n >= 4 && n <= 4 + int(o.cache_slots()), 1);
    unsigned long long pk = 0, oc = 0;
    unsigned split = 0;
    for (const auto& d : c.d) {
        pk += d.packets;
        oc += d.octets;
        if (d.packets != 2) ++split;
    }
    EXPECT_EQ(split, 0);
    BpfStats s;
    o.read_stats(s);
    const unsigned long long full = s.reason[FA_R_MAP_FULL].packets;
    EXPECT_EQ(pk + full, 2ull * kFlows);
    EXPECT_EQ(oc + s.reason[FA_R_MAP_FULL].bytes, 2ull * kFlows * 128);
    if (kFlows > 4 + o.cache_slots()) EXPECT_EQ(full >= 2ull * (kFlows - 4 - o.cache_slots()), 1);
    // After the drain the map has room again.
    run(o, BpfHook::xdp, udp_flow(9, 0));
    Capture c2;
    EXPECT_EQ(o.drain(c2), 1);  // counted in the generation the last drain opened
    EXPECT_EQ(o.drain(c2), 0);
}

} // namespace

int main()
{
    if (geteuid() != 0) {
        std::printf("bpf fixtures need root (BPF_PROG_TEST_RUN)\n");
        const char* ci = std::getenv("CI");
        return ci && std::strcmp(ci, "true") == 0 ? 1 : 77;
    }
    static StderrLog log_sink;
    set_log_sink(&log_sink);
    // One CPU for the whole run: the per-CPU flow cache then sees every packet of a case, which
    // the map_full case's "a flow is never split" expectation relies on.
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    if (sched_setaffinity(0, sizeof(one), &one) != 0) {
        std::perror("bpf fixtures: sched_setaffinity (needed by the per-CPU cache cases)");
        return 1;
    }

    const char* A = "10.0.0.1";
    const char* B = "10.0.0.2";
    const char* A6 = "2001:db8::1";
    const char* B6 = "2001:db8::2";
    {   // IPv4 TCP SYN, tos 0x10: 20 + 20 = 40 octets
        Pkt p; p.eth(0x0800); p.ip4(6, 0x10, A, B, 40); p.tcp(40000, 443, 0x02);
        Pkt q; q.eth(0x0800); q.ip4(6, 0x10, A, B, 40); q.tcp(40000, 443, 0x11);  // FIN ACK
        fixture("ipv4_tcp", {p.b, q.b}, {A, B, 40000, 443, 6, 0x10, 0, 2, 80, 0x13});
    }
    {   // IPv4 UDP + 100 payload: 20 + 8 + 100 = 128
        Pkt p; p.eth(0x0800); p.ip4(17, 0, A, B, 128); p.udp(1111, 2222, 108); p.zeros(100);
        fixture("ipv4_udp", {p.b}, {A, B, 1111, 2222, 17, 0, 0, 1, 128, 0});
    }
    {   // IPv4 with 8 bytes of options (ihl 7) + UDP + 10: 28 + 8 + 10 = 46
        Pkt p; p.eth(0x0800); p.ip4(17, 0, A, B, 46, 1, 0, 7); p.udp(7, 9, 18); p.zeros(10);
        fixture("ipv4_options", {p.b}, {A, B, 7, 9, 17, 0, 0, 1, 46, 0});
    }
    {   // Ethernet padding beyond the IP total length is not counted: 28 octets
        Pkt p; p.eth(0x0800); p.ip4(17, 0, A, B, 28); p.udp(1, 2, 8); p.zeros(18);
        fixture("ipv4_eth_padding", {p.b}, {A, B, 1, 2, 17, 0, 0, 1, 28, 0});
    }
    {   // 802.1Q VID 100
        fixture("vlan", {v4_tcp_vlan()}, {A, B, 1234, 80, 6, 0, 100, 1, 40, 0x02});
    }
    {   // QinQ: 802.1ad VID 200 outer, 802.1Q VID 300 inner -> vlanId 200
        Pkt p; p.eth(0x88a8); p.vlan(200, 0x8100); p.vlan(300, 0x0800);
        p.ip4(17, 0, A, B, 28); p.udp(3, 4, 8);
        fixture("qinq", {p.b}, {A, B, 3, 4, 17, 0, 200, 1, 28, 0});
    }
    {   // Three tags: counted, not parsed
        Pkt p; p.eth(0x88a8); p.vlan(1, 0x8100); p.vlan(2, 0x8100); p.vlan(3, 0x0800);
        p.ip4(17, 0, A, B, 28); p.udp(3, 4, 8);
        fixture("vlan_depth", {p.b}, {nullptr, nullptr, 0, 0, 0, 0, 0, 0, 0, 0}, FA_R_VLAN_DEPTH, 1);
    }
    {   // PPPoE session, IPv4
        Pkt p; p.eth(0x8864); p.pppoe(0x0021, 2 + 28); p.ip4(17, 0, A, B, 28); p.udp(5, 6, 8);
        fixture("pppoe_ipv4", {p.b}, {A, B, 5, 6, 17, 0, 0, 1, 28, 0});
    }
    {   // PPPoE session, IPv6 UDP: 40 + 8 = 48
        Pkt p; p.eth(0x8864); p.pppoe(0x0057, 2 + 48); p.ip6(17, 0, A6, B6, 8); p.udp(5, 6, 8);
        fixture("pppoe_ipv6", {p.b}, {A6, B6, 5, 6, 17, 0, 0, 1, 48, 0});
    }
    {   // PPPoE LCP: not a flow
        Pkt p; p.eth(0x8864); p.pppoe(0xc021, 6); p.zeros(4);
        fixture("pppoe_lcp", {p.b}, {nullptr, nullptr, 0, 0, 0, 0, 0, 0, 0, 0}, FA_R_PPP_NOT_IP, 1);
    }
    {   // SCTP common header (12 bytes) + 16 chunk bytes: 20 + 28 = 48
        Pkt p; p.eth(0x0800); p.ip4(132, 0, A, B, 48);
        p.u16(36412); p.u16(38412); p.u32(0xdeadbeef); p.u32(0); p.zeros(16);
        fixture("sctp", {p.b}, {A, B, 36412, 38412, 132, 0, 0, 1, 48, 0});
    }
    {   // ICMP echo request: type 8 code 0 -> dst_port 0x0800; 20 + 8 + 56 = 84
        Pkt p; p.eth(0x0800); p.ip4(1, 0, A, B, 84); p.u8(8); p.u8(0); p.u16(0); p.u32(0x00010001);
        p.zeros(56);
        fixture("icmp_echo", {p.b}, {A, B, 0, 0x0800, 1, 0, 0, 1, 84, 0});
    }
    {   // ICMP port unreachable: type 3 code 3
        Pkt p; p.eth(0x0800); p.ip4(1, 0, A, B, 56); p.u8(3); p.u8(3); p.u16(0); p.u32(0);
        p.zeros(28);
        fixture("icmp_unreach", {p.b}, {A, B, 0, 0x0303, 1, 0, 0, 1, 56, 0});
    }
    {   // ICMPv6 echo request 128/0; 40 + 8 + 8 = 56
        Pkt p; p.eth(0x86dd); p.ip6(58, 0, A6, B6, 16); p.u8(128); p.u8(0); p.u16(0); p.u32(1);
        p.zeros(8);
        fixture("icmpv6_echo", {p.b}, {A6, B6, 0, 0x8000, 58, 0, 0, 1, 56, 0});
    }
    {   // IPv6 TCP, traffic class 0xb8 (EF); 40 + 20 = 60
        Pkt p; p.eth(0x86dd); p.ip6(6, 0xb8, A6, B6, 20); p.tcp(443, 50000, 0x12);
        fixture("ipv6_tcp", {p.b}, {A6, B6, 443, 50000, 6, 0xb8, 0, 1, 60, 0x12});
    }
    {   // IPv6 chain: hop-by-hop (8) -> dest opts (16) -> routing (8) -> UDP (8): 40 + 40 = 80
        Pkt p; p.eth(0x86dd); p.ip6(0, 0, A6, B6, 40);
        p.ext(60, 0); p.ext(43, 1); p.ext(17, 0); p.udp(53, 5353, 8);
        fixture("ipv6_ext_chain", {p.b}, {A6, B6, 53, 5353, 17, 0, 0, 1, 80, 0});
    }
    {   // IPv6 AH (payload len 4 -> (4+2)*4 = 24 bytes) -> TCP: 40 + 24 + 20 = 84
        Pkt p; p.eth(0x86dd); p.ip6(51, 0, A6, B6, 44);
        p.u8(6); p.u8(4); p.zeros(22); p.tcp(22, 60000, 0x18);
        fixture("ipv6_ah", {p.b}, {A6, B6, 22, 60000, 6, 0, 0, 1, 84, 0x18});
    }
    {   // Seven extension headers: beyond FA_MAX_EXT (6)
        Pkt p; p.eth(0x86dd); p.ip6(0, 0, A6, B6, 64);
        for (int i = 0; i < 6; ++i) p.ext(60, 0);
        p.ext(17, 0); p.udp(1, 2, 8);
        fixture("ipv6_ext_depth", {p.b}, {nullptr, nullptr, 0, 0, 0, 0, 0, 0, 0, 0}, FA_R_EXT_DEPTH, 1);
    }
    {   // GRE (47): any protocol by number, no ports; 20 + 4 = 24
        Pkt p; p.eth(0x0800); p.ip4(47, 0, A, B, 24); p.u16(0); p.u16(0x0800);
        fixture("gre", {p.b}, {A, B, 0, 0, 47, 0, 0, 1, 24, 0});
    }
    {   // ARP: not IP
        Pkt p; p.eth(0x0806); p.zeros(28);
        fixture("arp", {p.b}, {nullptr, nullptr, 0, 0, 0, 0, 0, 0, 0, 0}, FA_R_NOT_IP, 1);
    }
    {   // IPv4 fragments: first = 20 + UDP 8 + 24 data (MF, off 0) = 52;
        // second = 20 + 16 data (off 32/8 = 4, last) = 36; both in the UDP flow: 2 pkts, 88.
        Pkt f1; f1.eth(0x0800); f1.ip4(17, 0, A, B, 52, 0x7777, 0x2000); f1.udp(4000, 4001, 48);
        f1.zeros(24);
        Pkt f2; f2.eth(0x0800); f2.ip4(17, 0, A, B, 36, 0x7777, 4); f2.zeros(16);
        fixture("ipv4_fragments", {f1.b, f2.b}, {A, B, 4000, 4001, 17, 0, 0, 2, 88, 0});
        // A later fragment alone: metered with ports 0 and counted.
        fixture("ipv4_frag_unmatched", {f2.b}, {A, B, 0, 0, 17, 0, 0, 1, 36, 0},
                FA_R_FRAG_UNMATCHED, 1);
    }
    {   // IPv6 fragments: first = 40 + frag 8 + UDP 8 + 16 = 72 (off 0, M);
        // second = 40 + frag 8 + 8 data = 56 (off 24/8 = 3, last): 2 pkts, 128 octets.
        Pkt f1; f1.eth(0x86dd); f1.ip6(44, 0, A6, B6, 32);
        f1.u8(17); f1.u8(0); f1.u16(0 << 3 | 1); f1.u32(0xabcdef01); f1.udp(7000, 7001, 32);
        f1.zeros(16);
        Pkt f2; f2.eth(0x86dd); f2.ip6(44, 0, A6, B6, 16);
        f2.u8(17); f2.u8(0); f2.u16(3 << 3); f2.u32(0xabcdef01); f2.zeros(8);
        fixture("ipv6_fragments", {f1.b, f2.b}, {A6, B6, 7000, 7001, 17, 0, 0, 2, 128, 0});
    }
    {   // Malformed IPv4: IHL 4, and total length below the header length
        Pkt p; p.eth(0x0800); p.ip4(17, 0, A, B, 28, 1, 0, 5); p.udp(1, 2, 8);
        p.b[14] = 0x44;
        fixture("ipv4_bad_ihl", {p.b}, {nullptr, nullptr, 0, 0, 0, 0, 0, 0, 0, 0}, FA_R_BAD_IP4, 1);
        Pkt q; q.eth(0x0800); q.ip4(17, 0, A, B, 19); q.udp(1, 2, 8);
        fixture("ipv4_bad_totlen", {q.b}, {nullptr, nullptr, 0, 0, 0, 0, 0, 0, 0, 0}, FA_R_BAD_IP4, 1);
    }
    // Truncation at every boundary.
    truncation("trunc_vlan_ipv4_tcp", v4_tcp_vlan(),
               {{14, FA_R_TRUNC_VLAN}, {18, FA_R_TRUNC_IP4}, {38, FA_R_TRUNC_L4}});
    {
        Pkt p; p.eth(0x0800); p.ip4(17, 0, A, B, 36, 1, 0, 7); p.udp(1, 2, 8);
        truncation("trunc_ipv4_options_udp", p.b,
                   {{14, FA_R_TRUNC_IP4}, {42, FA_R_TRUNC_L4}});
    }
    {
        Pkt p; p.eth(0x8864); p.pppoe(0x0057, 2 + 40 + 8 + 4); p.ip6(0, 0, A6, B6, 8 + 4);
        p.ext(58, 0); p.u8(128); p.u8(0); p.u16(0);
        truncation("trunc_pppoe_ipv6_hbh_icmpv6", p.b,
                   {{14, FA_R_TRUNC_PPPOE}, {22, FA_R_TRUNC_IP6}, {62, FA_R_TRUNC_EXT},
                    {70, FA_R_TRUNC_L4}});
    }
    {
        Pkt p; p.eth(0x86dd); p.ip6(44, 0, A6, B6, 8 + 12);
        p.u8(132); p.u8(0); p.u16(1); p.u32(5); p.u16(1); p.u16(2); p.u32(0); p.u32(0);
        truncation("trunc_ipv6_frag_sctp", p.b,
                   {{14, FA_R_TRUNC_IP6}, {54, FA_R_TRUNC_EXT}, {62, FA_R_TRUNC_L4}});
    }
    sampling();
    cache_eviction();
    cache_same_tick();
    gso_super_packet();
    map_full();
    // Again through the drain's key-by-key paths (kernels before 5.6 have no batch calls);
    // cache_eviction leaves 2000 entries in fa_flows, more than one drain chunk.
    setenv("FA_BPF_NO_BATCH", "1", 1);
    cache_eviction();
    map_full();
    unsetenv("FA_BPF_NO_BATCH");
    // And with the flow cache as kernels before 5.5 get it: without BPF_F_MMAPABLE (slots not
    // line-aligned), and at its smallest and largest sizes.
    setenv("FA_BPF_NO_MMAPABLE", "1", 1);
    cache_eviction();
    // Both: kernels before 5.5 drain the cache slot by slot (lookup and update per slot).
    setenv("FA_BPF_NO_BATCH", "1", 1);
    cache_eviction();
    map_full();
    unsetenv("FA_BPF_NO_BATCH");
    unsetenv("FA_BPF_NO_MMAPABLE");
    for (const char* bits : {"6", "12"}) {  // eviction on tc: no XDP dispatcher swap per run
        setenv("FA_BPF_CACHE_BITS", bits, 1);
        cache_eviction(BpfHook::tc_in);
        cache_same_tick();
    }
    unsetenv("FA_BPF_CACHE_BITS");
    // The last online CPU: its region of the cache is indexed (program) and found (loader:
    // mapping offset, batch cursor) differently from CPU 0's; mapped and not.
    const long last = sysconf(_SC_NPROCESSORS_ONLN) - 1;
    cpu_set_t last_only;
    CPU_ZERO(&last_only);
    if (last > 0 && last < CPU_SETSIZE) CPU_SET(int(last), &last_only);
    if (last > 0 && sched_setaffinity(0, sizeof(last_only), &last_only) == 0) {
        std::printf("bpf fixtures: cache cases again on CPU %ld\n", last);
        cache_eviction();
        setenv("FA_BPF_NO_MMAPABLE", "1", 1);
        cache_eviction();
        unsetenv("FA_BPF_NO_MMAPABLE");
    } else {
        std::printf("bpf fixtures: one CPU only, no second cache region to check\n");
    }

    std::printf("bpf fixtures: %d checks passed, %d failed (%d truncated tc cases the kernel "
                "refuses to run as skb)\n", g_pass, g_fail, g_not_runnable);
    return g_fail == 0 ? 0 : 1;
}
