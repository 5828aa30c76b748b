// SPDX-License-Identifier: GPL-2.0-only
#include "export/json_record.h"

#include "core/text_out.h"

#include <cinttypes>
#include <cstdio>

namespace fa {

namespace {

void put_addr(TextOut& o, const uint8_t* a, bool v4)
{
    char text[48];
    format_addr(a, v4, text, sizeof text);
    o.put("\"%s\"", text);
}

void put_mac(TextOut& o, const uint8_t* m)
{
    o.put("\"%02x:%02x:%02x:%02x:%02x:%02x\"", m[0], m[1], m[2], m[3], m[4], m[5]);
}

} // namespace

size_t format_addr(const uint8_t* a, bool v4, char* buf, size_t len)
{
    TextOut o{buf, len};
    if (len > 0) buf[0] = '\0';
    if (v4) {
        o.put("%u.%u.%u.%u", a[12], a[13], a[14], a[15]);
        return o.ok ? o.used : 0;
    }
    unsigned g[8];
    for (int i = 0; i < 8; ++i) g[i] = unsigned(a[2 * i]) << 8 | a[2 * i + 1];
    int best = -1, best_len = 0;
    for (int i = 0; i < 8;) {
        int j = i;
        while (j < 8 && g[j] == 0) ++j;
        if (j - i > best_len && j - i >= 2) { best = i; best_len = j - i; }
        i = j == i ? i + 1 : j;
    }
    for (int i = 0; i < 8; ++i) {
        if (i == best) {
            o.put("::");
            i += best_len - 1;
            continue;
        }
        if (i && i != best + best_len) o.put(":");
        o.put("%x", g[i]);
    }
    return o.ok ? o.used : 0;
}

const char* end_reason_name(EndReason e)
{
    switch (e) {
    case EndReason::none: return "none";
    case EndReason::idle_timeout: return "idle_timeout";
    case EndReason::active_timeout: return "active_timeout";
    case EndReason::end_of_flow: return "end_of_flow";
    case EndReason::forced_end: return "forced_end";
    case EndReason::lack_of_resources: return "lack_of_resources";
    }
    return "unknown";
}

size_t format_json(const FlowRecord& r, const ExportTime& t, char* buf, size_t len)
{
    if (!buf || len == 0) return 0;
    TextOut o{buf, len};
    const FlowKey& k = r.key;
    const bool v4 = k.is_v4();
    o.put("{\"src\":");
    put_addr(o, k.src, v4);
    o.put(",\"dst\":");
    put_addr(o, k.dst, v4);
    if (k.is_icmp())
        o.put(",\"icmp_type\":%u,\"icmp_code\":%u", k.icmp_type(), k.icmp_code());
    else
        o.put(",\"src_port\":%u,\"dst_port\":%u", k.src_port, k.dst_port);
    o.put(",\"proto\":%u,\"tos\":%u,\"tcp_flags\":%u,\"in_if\":%" PRIu32 ",\"out_if\":%" PRIu32
             ",\"dir\":\"%s\",\"vlan\":%u",
             k.proto, k.tos, r.tcp_flags, k.in_if, k.out_if,
             k.dir == uint8_t(Direction::egress) ? "egress" : "ingress", k.vlan);
    if (r.flags & kRecHasMac) {
        o.put(",\"src_mac\":");
        put_mac(o, r.src_mac);
        o.put(",\"dst_mac\":");
        put_mac(o, r.dst_mac);
    }
    o.put(",\"packets\":%" PRIu64 ",\"octets\":%" PRIu64 ",\"start_ms\":%" PRIu64
             ",\"end_ms\":%" PRIu64 ",\"end_reason\":\"%s\"",
             r.packets, r.octets, t.wall_of(r.first_ms), t.wall_of(r.last_ms),
             end_reason_name(r.end_reason));
    if (r.flags & kRecHasNat) {
        o.put(",\"post_src\":");
        put_addr(o, r.post_src, v4);
        o.put(",\"post_dst\":");
        put_addr(o, r.post_dst, v4);
        o.put(",\"post_src_port\":%u,\"post_dst_port\":%u", r.post_src_port, r.post_dst_port);
    }
    if (r.flags & kRecHasMark) o.put(",\"ct_mark\":%" PRIu32, r.ct_mark);
    if (r.flags & kRecHasZone) o.put(",\"ct_zone\":%u", unsigned(r.ct_zone));
    o.put("}");
    if (!o.ok) {
        buf[0] = '\0';
        return 0;
    }
    return o.used;
}

size_t format_nat_json(const NatEvent& ev, const ExportTime& t, char* buf, size_t len)
{
    if (!buf || len == 0) return 0;
    TextOut o{buf, len};
    const bool v4 = ev.is_v4();
    o.put("{\"nat_event\":\"%s\",\"time_ms\":%" PRIu64 ",\"proto\":%u,\"src\":",
             ev.event == kNat44SessionCreate ? "create" : "delete", t.wall_of(ev.time_ms),
             unsigned(ev.proto));
    put_addr(o, ev.src, v4);
    o.put(",\"src_port\":%u,\"dst\":", unsigned(ev.src_port));
    put_addr(o, ev.dst, v4);
    o.put(",\"dst_port\":%u,\"post_src\":", unsigned(ev.dst_port));
    put_addr(o, ev.post_src, v4);
    o.put(",\"post_src_port\":%u,\"post_dst\":", unsigned(ev.post_src_port));
    put_addr(o, ev.post_dst, v4);
    o.put(",\"post_dst_port\":%u}", unsigned(ev.post_dst_port));
    if (!o.ok) {
        buf[0] = '\0';
        return 0;
    }
    return o.used;
}

} // namespace fa
