// SPDX-License-Identifier: GPL-2.0-only
#include "source/conntrack_decode.h"

#include <cstring>


namespace fa {

EndReason ct_end_reason(const CtEntry& e, bool forced)
{
    if (forced) return EndReason::forced_end;
    if (e.event != CtEvent::destroy) return EndReason::active_timeout;
    if (e.orig.proto == 6 && e.has_tcp_state) {
        switch (e.tcp_state) {
        case kTcpCtFinWait: case kTcpCtCloseWait: case kTcpCtLastAck: case kTcpCtTimeWait:
        case kTcpCtClose:
            return EndReason::end_of_flow;
        default: break;
        }
    }
    return EndReason::idle_timeout;
}

namespace {

MonoMs wall_ns_to_mono(uint64_t wall_ns, int64_t offset_ms, MonoMs fallback)
{
    int64_t wall_ms = int64_t(wall_ns / 1000000u);
    int64_t mono = wall_ms - offset_ms;
    return mono > 0 ? MonoMs(mono) : fallback;
}

void fill(FlowRecord& r, const CtEntry& e, const CtTuple& self, const CtTuple& other,
          const CtRecordOptions& opts)
{
    const bool nat = e.nat();
    r = FlowRecord{};
    std::memset(&r.key, 0, sizeof(r.key));
    std::memcpy(r.key.src, self.src, 16);
    std::memcpy(r.key.dst, self.dst, 16);
    r.key.src_port = self.src_port;
    r.key.dst_port = self.dst_port;
    r.key.proto = self.proto;
    r.key.dir = uint8_t(Direction::ingress);
    if (nat) {
        // The packets of this direction leave the router carrying the inverse of the other
        // direction's tuple (RFC 7659 / IPFIX 225-228, 281/282).
        std::memcpy(r.post_src, other.dst, 16);
        std::memcpy(r.post_dst, other.src, 16);
        if (self.proto != 1 && self.proto != 58) {
            r.post_src_port = other.dst_port;
            r.post_dst_port = other.src_port;
        }
        r.flags = kRecHasNat;
    }
    if (opts.with_mark) {
        r.ct_mark = e.mark;
        r.flags |= kRecHasMark;
    }
    if (opts.with_zone) {
        r.ct_zone = e.zone;
        r.flags |= kRecHasZone;
    }
}

} // namespace

size_t ct_to_records(const CtEntry& e, const CtRecordOptions& opts, const CtExported* prev,
                     EndReason reason, FlowRecord out[2])
{
    static const CtExported kNone{};
    if (!prev) prev = &kNone;
    MonoMs first = e.has_tstamp_start
                       ? wall_ns_to_mono(e.tstamp_start_ns, opts.wall_offset_ms,
                                         opts.fallback_first_ms)
                       : opts.fallback_first_ms;
    MonoMs last = e.has_tstamp_stop
                      ? wall_ns_to_mono(e.tstamp_stop_ns, opts.wall_offset_ms, opts.now_ms)
                      : opts.now_ms;
    if (last < first) last = first;
    size_t n = 0;
    uint64_t op = ct_counter_delta(e.orig_ctr.packets, prev->orig_packets);
    if (op != 0) {
        FlowRecord& r = out[n++];
        fill(r, e, e.orig, e.reply, opts);
        r.packets = op;
        r.octets = ct_counter_delta(e.orig_ctr.octets, prev->orig_octets);
        r.first_ms = first;
        r.last_ms = last;
        r.end_reason = reason;
    }
    uint64_t rp = ct_counter_delta(e.reply_ctr.packets, prev->reply_packets);
    if (opts.both_directions && rp != 0) {
        FlowRecord& r = out[n++];
        fill(r, e, e.reply, e.orig, opts);
        r.packets = rp;
        r.octets = ct_counter_delta(e.reply_ctr.octets, prev->reply_octets);
        r.first_ms = first;
        r.last_ms = last;
        r.end_reason = reason;
    }
    return n;
}

bool ct_is_own_export(const CtTuple& orig, const CtOwnSocket* own, size_t n)
{
    if (orig.proto != 17) return false;
    for (size_t i = 0; i < n; ++i) {
        const CtOwnSocket& o = own[i];
        if (orig.src_port == o.local_port && orig.dst_port == o.peer_port &&
            std::memcmp(orig.src, o.local, 16) == 0 && std::memcmp(orig.dst, o.peer, 16) == 0)
            return true;
    }
    return false;
}

bool ct_to_biflow(const CtEntry& e, const CtRecordOptions& opts, const CtExported* prev,
                  EndReason reason, FlowRecord& out)
{
    static const CtExported kNone{};
    const CtExported& p = prev ? *prev : kNone;
    FlowRecord uni[2];
    const size_t n = ct_to_records(e, opts, prev, reason, uni);
    if (n == 0) return false;
    const bool has_orig = ct_counter_delta(e.orig_ctr.packets, p.orig_packets) != 0;
    // Times, end reason, flags and per-connection fields are the same in both records; the
    // key and post_* are the original direction's.
    out = uni[0];
    if (!has_orig) {
        FlowRecord o;
        fill(o, e, e.orig, e.reply, opts);
        out.key = o.key;
        std::memcpy(out.post_src, o.post_src, 16);
        std::memcpy(out.post_dst, o.post_dst, 16);
        out.post_src_port = o.post_src_port;
        out.post_dst_port = o.post_dst_port;
        out.packets = out.octets = 0;
    }
    if (n == 2 || !has_orig) {
        out.rev_packets = uni[n - 1].packets;
        out.rev_octets = uni[n - 1].octets;
    }
    if (e.orig.proto == 1 || e.orig.proto == 58) out.rev_icmp = e.reply.dst_port;
    out.flags = uint8_t(out.flags | kRecBiflow);
    return true;
}

namespace {

void fill_nat_event(const CtEntry& e, bool create, int64_t wall_offset_ms, MonoMs now,
                    NatEvent& out)
{
    out = NatEvent{};
    out.event = create ? kNat44SessionCreate : kNat44SessionDelete;
    const bool stamped = create ? e.has_tstamp_start : e.has_tstamp_stop;
    out.time_ms = stamped ? wall_ns_to_mono(create ? e.tstamp_start_ns : e.tstamp_stop_ns,
                                            wall_offset_ms, now)
                          : now;
    std::memcpy(out.src, e.orig.src, 16);
    std::memcpy(out.dst, e.orig.dst, 16);
    std::memcpy(out.post_src, e.reply.dst, 16);
    std::memcpy(out.post_dst, e.reply.src, 16);
    out.proto = e.orig.proto;
    if (e.orig.proto == 1 || e.orig.proto == 58) {
        out.src_port = e.orig.icmp_id;
        out.post_src_port = e.reply.icmp_id;
        out.dst_port = out.post_dst_port = e.orig.dst_port;
    } else {
        out.src_port = e.orig.src_port;
        out.dst_port = e.orig.dst_port;
        out.post_src_port = e.reply.dst_port;
        out.post_dst_port = e.reply.src_port;
    }
}

} // namespace

bool ct_to_nat_event(const CtEntry& e, int64_t wall_offset_ms, MonoMs now, NatEvent& out)
{
    if (!e.nat() || e.event == CtEvent::update) return false;
    fill_nat_event(e, e.event == CtEvent::create, wall_offset_ms, now, out);
    return true;
}

bool ct_recovered_nat_create(const CtEntry& e, uint64_t since_wall_ns, int64_t wall_offset_ms,
                             MonoMs now, NatEvent& out)
{
    if (!e.nat() || !e.has_tstamp_start || e.tstamp_start_ns < since_wall_ns) return false;
    fill_nat_event(e, true, wall_offset_ms, now, out);
    return true;
}

uint32_t ct_tuple_hash(const CtTuple& t)
{
    uint32_t h = 2166136261u;  // FNV-1a offset basis
    auto mix = [&h](uint8_t b) { h = (h ^ b) * 16777619u; };
    for (uint8_t b : t.src) mix(b);
    for (uint8_t b : t.dst) mix(b);
    mix(uint8_t(t.src_port >> 8));
    mix(uint8_t(t.src_port));
    mix(uint8_t(t.dst_port >> 8));
    mix(uint8_t(t.dst_port));
    mix(t.proto);
    h ^= h >> 16;  // finaliser (murmur3 fmix32): FNV's low bits are weak for small moduli
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

} // namespace fa
