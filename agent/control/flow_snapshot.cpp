// SPDX-License-Identifier: GPL-2.0-only
#include "control/flow_snapshot.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <new>

#include "core/text_out.h"
#include "export/json_record.h"

namespace fa {
namespace {

constexpr uint32_t kGroupMask = kMaxGroups - 1;
static_assert((kMaxGroups & kGroupMask) == 0, "power of two");
constexpr uint32_t kMaxProbe = 8;  // linear probes before a flow goes to `other`

uint64_t mix(uint64_t h, const void* p, size_t n)
{
    const uint8_t* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ULL;  // FNV-1a
    return h;
}

bool same_group(const SnapshotRow& x, const SnapshotRow& y)
{
    return std::memcmp(x.a, y.a, 16) == 0 && std::memcmp(x.b, y.b, 16) == 0 &&
           x.a_port == y.a_port && x.b_port == y.b_port && x.proto == y.proto;
}

void add(SnapshotRow& into, const SnapshotRow& r)
{
    into.flows += r.flows;
    into.packets += r.packets;
    into.octets += r.octets;
    into.bps += r.bps;
    into.pps += r.pps;
}

const char* proto_name(uint8_t p)
{
    switch (p) {
    case 1: return "icmp";
    case 6: return "tcp";
    case 17: return "udp";
    case 47: return "gre";
    case 50: return "esp";
    case 58: return "icmp6";
    case 132: return "sctp";
    }
    return nullptr;
}

// "10.0.0.1" / "[2001:db8::1]" (bracketed when a port follows and the address is IPv6).
void addr_text(const uint8_t* a, bool v4, char* out, size_t len)
{
    (void)format_addr(a, v4, out, len);
}

// The group's name as one word, e.g. "198.51.100.1:10001>203.0.113.2:53/udp".
void key_text(const SnapshotRow& r, GroupBy g, char* out, size_t len)
{
    char a[48], b[48], pr[8];
    addr_text(r.a, r.v4, a, sizeof a);
    addr_text(r.b, r.v4, b, sizeof b);
    const char* pn = proto_name(r.proto);
    if (pn != nullptr) snprintf(pr, sizeof pr, "%s", pn);
    else snprintf(pr, sizeof pr, "%u", r.proto);
    switch (g) {
    case GroupBy::flow:
        if (r.v4) snprintf(out, len, "%s:%u>%s:%u/%s", a, r.a_port, b, r.b_port, pr);
        else snprintf(out, len, "[%s]:%u>[%s]:%u/%s", a, r.a_port, b, r.b_port, pr);
        return;
    case GroupBy::src:
    case GroupBy::dst: snprintf(out, len, "%s", a); return;
    case GroupBy::pair: snprintf(out, len, "%s<>%s", a, b); return;
    case GroupBy::port:
        if (r.proto == 1 || r.proto == 58) {  // ICMP: type and code (the key's dst_port word)
            snprintf(out, len, "%s/%u.%u", pr, r.a_port >> 8, r.a_port & 0xff);
        } else {
            snprintf(out, len, "%s/%u", pr, r.a_port);
        }
        return;
    case GroupBy::proto: snprintf(out, len, "%s", pr); return;
    }
}

void row_json(TextOut& o, const SnapshotRow& r, GroupBy g)
{
    char a[48], b[48];
    addr_text(r.a, r.v4, a, sizeof a);
    addr_text(r.b, r.v4, b, sizeof b);
    o.put("{");
    switch (g) {
    case GroupBy::flow:
        o.put("\"src\":\"%s\",\"dst\":\"%s\",\"src_port\":%u,\"dst_port\":%u,\"proto\":%u,", a, b,
              r.a_port, r.b_port, r.proto);
        break;
    case GroupBy::src: o.put("\"src\":\"%s\",", a); break;
    case GroupBy::dst: o.put("\"dst\":\"%s\",", a); break;
    case GroupBy::pair: o.put("\"host_a\":\"%s\",\"host_b\":\"%s\",", a, b); break;
    case GroupBy::port: o.put("\"proto\":%u,\"port\":%u,", r.proto, r.a_port); break;
    case GroupBy::proto: o.put("\"proto\":%u,", r.proto); break;
    }
    o.put("\"flows\":%u,\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"bps\":%" PRIu64
          ",\"pps\":%" PRIu64 "}",
          r.flows, r.packets, r.octets, r.bps, r.pps);
}

// 1234567 -> "1.2M" (k = 1000); fits 7 characters.
void human(uint64_t v, char* out, size_t len)
{
    static const char units[] = " kMGTPE";
    double d = double(v);
    int u = 0;
    while (d >= 999.5 && u < 6) {
        d /= 1000.0;
        ++u;
    }
    if (u == 0) snprintf(out, len, "%" PRIu64, v);
    else snprintf(out, len, "%.*f%c", d < 9.95 ? 1 : 0, d, units[u]);
}

} // namespace

FlowSnapshot::~FlowSnapshot() { delete[] groups_; }

Status FlowSnapshot::init()
{
    if (groups_ == nullptr) groups_ = new (std::nothrow) SnapshotRow[kMaxGroups];
    return groups_ != nullptr ? Status::ok : Status::full;
}

void FlowSnapshot::begin(const ControlRequest& req, MonoMs now)
{
    req_ = req;
    now_ = now;
    cursor_ = 0;
    done_ = false;
    top_n_ = 0;
    other_ = SnapshotRow();
    total_ = SnapshotRow();
    flows_seen_ = 0;
    if (groups_used_ != 0 && groups_ != nullptr) {
        for (uint32_t i = 0; i < kMaxGroups; ++i) groups_[i].used = false;
    }
    groups_used_ = 0;
}

uint64_t FlowSnapshot::sort_key(const SnapshotRow& r) const
{
    switch (req_.by) {
    case SortBy::bytes: return r.octets;
    case SortBy::packets: return r.packets;
    case SortBy::rate: return r.bps;
    }
    return r.octets;
}

void FlowSnapshot::offer(const SnapshotRow& r)
{
    // Min-heap on sort_key of at most req_.top rows: the root is the smallest kept.
    const uint32_t cap = req_.top < kMaxTop ? req_.top : kMaxTop;
    if (top_n_ < cap) {
        uint32_t i = top_n_++;
        while (i > 0 && sort_key(top_[(i - 1) / 2]) > sort_key(r)) {
            top_[i] = top_[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        top_[i] = r;
        return;
    }
    if (cap == 0 || sort_key(r) <= sort_key(top_[0])) return;
    sift_down(top_n_, r);
}

void FlowSnapshot::sift_down(uint32_t n, const SnapshotRow& x)
{
    // Puts x at the root of the min-heap top_[0..n) and moves it down to its place.
    uint32_t i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && sort_key(top_[c + 1]) < sort_key(top_[c])) ++c;
        if (sort_key(top_[c]) >= sort_key(x)) break;
        top_[i] = top_[c];
        i = c;
    }
    top_[i] = x;
}

void FlowSnapshot::on_flow(const FlowKey& key, uint64_t packets, uint64_t octets,
                           MonoMs first_ms, MonoMs last_ms)
{
    ++flows_seen_;
    SnapshotRow r;
    r.v4 = key.is_v4();
    r.flows = 1;
    r.packets = packets;
    r.octets = octets;
    const uint64_t dur = last_ms > first_ms + 1000 ? last_ms - first_ms : 1000;
    r.bps = octets * 8000 / dur;
    r.pps = packets * 1000 / dur;
    r.proto = key.proto;
    switch (req_.group) {
    case GroupBy::flow:
        std::memcpy(r.a, key.src, 16);
        std::memcpy(r.b, key.dst, 16);
        r.a_port = key.src_port;
        r.b_port = key.dst_port;
        break;
    case GroupBy::src: std::memcpy(r.a, key.src, 16); r.proto = 0; break;
    case GroupBy::dst: std::memcpy(r.a, key.dst, 16); r.proto = 0; break;
    case GroupBy::pair: {
        const bool lt = std::memcmp(key.src, key.dst, 16) <= 0;
        std::memcpy(r.a, lt ? key.src : key.dst, 16);
        std::memcpy(r.b, lt ? key.dst : key.src, 16);
        r.proto = 0;
        break;
    }
    case GroupBy::port:
        // The service side: the lower port of the two (ICMP: type/code word as in the key).
        r.a_port = key.is_icmp() ? key.dst_port
                                 : (key.src_port < key.dst_port ? key.src_port : key.dst_port);
        r.v4 = false;
        break;
    case GroupBy::proto: r.v4 = false; break;
    }
    add(total_, r);
    if (req_.group == GroupBy::flow) {
        offer(r);
        return;
    }
    uint64_t h = mix(0xcbf29ce484222325ULL, r.a, 16);
    h = mix(h, r.b, 16);
    h = mix(h, &r.a_port, sizeof r.a_port);
    h = mix(h, &r.proto, 1);
    for (uint32_t p = 0; p < kMaxProbe; ++p) {
        SnapshotRow& g = groups_[(uint32_t(h) + p) & kGroupMask];
        if (!g.used) {
            g = r;
            g.used = true;
            ++groups_used_;
            return;
        }
        if (same_group(g, r)) {
            add(g, r);
            return;
        }
    }
    add(other_, r);
}

void FlowSnapshot::finish()
{
    if (req_.group != GroupBy::flow) {
        for (uint32_t i = 0; i < kMaxGroups; ++i)
            if (groups_[i].used) offer(groups_[i]);
    }
    // Heap -> descending order (heap sort: pop the minimum to the end).
    uint32_t n = top_n_;
    while (n > 1) {
        const SnapshotRow min = top_[0];
        --n;
        sift_down(n, top_[n]);
        top_[n] = min;
    }
}

bool FlowSnapshot::step(const FlowTable& table, uint32_t budget_buckets)
{
    if (done_) return true;
    if (req_.group != GroupBy::flow && groups_ == nullptr) {
        done_ = true;  // init() failed: an empty result rather than a crash
        return true;
    }
    cursor_ = table.visit(cursor_, budget_buckets, *this);
    if (cursor_ >= table.bucket_count()) {
        finish();
        done_ = true;
    }
    return done_;
}

size_t FlowSnapshot::render(char* buf, size_t len) const
{
    TextOut o{buf, len};
    const GroupBy g = req_.group;
    if (req_.format == ControlFormat::json) {
        o.put("{\"group\":\"%s\",\"by\":\"%s\",\"top\":%u,\"flows\":%" PRIu64
              ",\"groups\":%u,\"total\":",
              group_by_name(g), sort_by_name(req_.by), req_.top, flows_seen_,
              g == GroupBy::flow ? uint32_t(flows_seen_) : groups_used_);
        o.put("{\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"bps\":%" PRIu64
              ",\"pps\":%" PRIu64 "}",
              total_.packets, total_.octets, total_.bps, total_.pps);
        o.put(",\"not_grouped\":{\"flows\":%u,\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
              other_.flows, other_.packets, other_.octets);
        o.put(",\"rows\":[");
        for (uint32_t i = 0; i < top_n_; ++i) {
            if (i) o.put(",");
            row_json(o, top_[i], g);
        }
        o.put("]}\n");
    } else if (req_.format == ControlFormat::tsv) {
        // One line per row: key, flows, packets, bytes, bps, pps; first line the totals.
        o.put("total\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\n",
              flows_seen_, total_.packets, total_.octets, total_.bps, total_.pps);
        char k[128];
        for (uint32_t i = 0; i < top_n_; ++i) {
            const SnapshotRow& r = top_[i];
            key_text(r, g, k, sizeof k);
            o.put("%s\t%u\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\n", k, r.flows,
                  r.packets, r.octets, r.bps, r.pps);
        }
    } else {
        char k[128], p[16], b[16], bps[16], pps[16];
        o.put("%" PRIu64 " flows in the table; top %u by %s, grouped by %s\n", flows_seen_,
              top_n_, sort_by_name(req_.by), group_by_name(g));
        o.put("%-46s %6s %7s %7s %7s %7s\n", g == GroupBy::flow ? "FLOW" : "GROUP", "FLOWS",
              "PKTS", "BYTES", "BIT/S", "PKT/S");
        for (uint32_t i = 0; i < top_n_; ++i) {
            const SnapshotRow& r = top_[i];
            key_text(r, g, k, sizeof k);
            human(r.packets, p, sizeof p);
            human(r.octets, b, sizeof b);
            human(r.bps, bps, sizeof bps);
            human(r.pps, pps, sizeof pps);
            o.put("%-46s %6u %7s %7s %7s %7s\n", k, r.flows, p, b, bps, pps);
        }
        if (other_.flows != 0)
            o.put("(%u flows in groups beyond the %u tracked are not shown)\n", other_.flows,
                  kMaxGroups);
    }
    return o.ok ? o.used : 0;
}

} // namespace fa
