// SPDX-License-Identifier: GPL-2.0-only
// Parse throughput of the listener's path (libnetfilter_conntrack into one nf_conntrack object,
// platform/linux/conntrack_parse): ctnetlink DESTROY messages (TCP, NAT, counters, timestamps, 200 bytes as
// the kernel emits them) decoded and turned into two records each, on one core; then the same
// through the biflow record, its split and the NAT event (the source's and agent's path now).
// Prints events/s. The agent's full per-event cost adds recv() and the exporters.
#include <time.h>

#include <cstdio>
#include <cstring>
#include <initializer_list>

#include <linux/netlink.h>

#include "flow/biflow.h"
#include "linux/conntrack_parse.h"
#include "source/conntrack_decode.h"

namespace {

struct Msg {
    alignas(8) uint8_t buf[512];
    size_t len = 0;
    size_t nest[8];
    int depth = 0;
    void put16(size_t at, uint16_t v) { std::memcpy(buf + at, &v, 2); }
    void attr(uint16_t t, const void* d, size_t n)
    {
        put16(len, uint16_t(4 + n));
        put16(len + 2, t);
        std::memcpy(buf + len + 4, d, n);
        len += (4 + n + 3) & ~size_t(3);
    }
    void begin(uint16_t t) { nest[depth++] = len; put16(len + 2, uint16_t(t | 0x8000)); len += 4; }
    void end() { size_t at = nest[--depth]; put16(at, uint16_t(len - at)); }
};

double now_s()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

// meta: as configured with [conntrack] mark = yes, zone = yes and two collectors (the listener
// also checks every entry against the agent's own export sockets). biflow_path: what the source
// and the agent do now: one biflow record, split for a uniflow collector, and the NAT event (the
// message is a NATed DESTROY); otherwise the two per-direction records of ct_to_records().
void run(Msg& m, bool meta, bool biflow_path)
{
    const long kIters = 5000000;
    fa::CtOwnSocket own[2];
    own[0].local_port = own[1].local_port = 40000;
    uint64_t sum = 0;
    fa::CtParser parser;
    double t0 = now_s();
    for (long i = 0; i < kIters; ++i) {
        m.buf[35] = uint8_t(i);  // last byte of the original source address
        fa::CtEntry e;
        fa::CtMsgKind kind;
        int err;
        const char* why;
        if (parser.parse(reinterpret_cast<const nlmsghdr*>(static_cast<void*>(m.buf)), e, &kind,
                         &err, &why) != fa::Status::ok)
            return;
        fa::FlowRecord r[2];
        fa::CtRecordOptions o;
        o.with_mark = o.with_zone = meta;
        if (meta && fa::ct_is_own_export(e.orig, own, 2)) continue;
        if (biflow_path) {
            fa::FlowRecord bi;
            fa::NatEvent ev;
            if (fa::ct_to_biflow(e, o, nullptr, fa::EndReason::idle_timeout, bi))
                sum += fa::biflow_split(bi, r);
            sum += fa::ct_to_nat_event(e, 0, 0, ev) ? ev.post_src_port : 0;
        } else {
            sum += fa::ct_to_records(e, o, nullptr, fa::EndReason::idle_timeout, r);
        }
        sum += r[0].key.src[15];
    }
    double dt = now_s() - t0;
    std::printf("conntrack decode%s%s: %zu-byte DESTROY messages, %.0f events/s (%.1f ns/event), "
                "check %llu\n", biflow_path ? " + biflow, split, NAT event" : " + 2 records",
                meta ? " + mark/zone + own-export check" : "", m.len, double(kIters) / dt,
                dt * 1e9 / double(kIters), static_cast<unsigned long long>(sum));
}

} // namespace

int main()
{
    Msg m;
    std::memset(m.buf, 0, sizeof(m.buf));
    m.len = 20;
    m.put16(4, uint16_t(1 << 8 | 2));
    m.buf[16] = 2;
    const uint8_t a[4] = {10, 1, 0, 2}, b[4] = {10, 2, 0, 2}, c[4] = {10, 2, 0, 1};
    const uint8_t proto = 6, p1[2] = {0x9c, 0x40}, p2[2] = {0, 80};
    for (uint16_t w = 1; w <= 2; ++w) {
        m.begin(w);
        m.begin(1);
        m.attr(1, w == 1 ? a : b, 4);
        m.attr(2, w == 1 ? b : c, 4);
        m.end();
        m.begin(2);
        m.attr(1, &proto, 1);
        m.attr(2, w == 1 ? p1 : p2, 2);
        m.attr(3, w == 1 ? p2 : p1, 2);
        m.end();
        m.end();
    }
    const uint8_t st[4] = {0, 0, 0, 0x1e}, cnt[8] = {0, 0, 0, 0, 0, 0, 0, 9};
    m.attr(3, st, 4);
    for (uint16_t w = 9; w <= 10; ++w) {
        m.begin(w);
        m.attr(1, cnt, 8);
        m.attr(2, cnt, 8);
        m.end();
    }
    m.attr(12, st, 4);
    m.begin(20);
    m.attr(1, cnt, 8);
    m.attr(2, cnt, 8);
    m.end();
    uint32_t l = uint32_t(m.len);
    std::memcpy(m.buf, &l, 4);

    for (bool biflow_path : {false, true}) {
        run(m, false, biflow_path);
        run(m, true, biflow_path);
    }
    return 0;
}
