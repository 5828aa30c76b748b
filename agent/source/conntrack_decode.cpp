// SPDX-License-Identifier: GPL-2.0-only
#include "source/conntrack_decode.h"

#include <cstring>

#include "core/wire.h"

namespace fa {
namespace {

// Netlink framing (linux/netlink.h). Headers are host order: read with memcpy, never a cast,
// so alignment is irrelevant and a big-endian CPU reads its own order.
constexpr size_t kNlmsgHdrLen = 16;   // struct nlmsghdr
constexpr size_t kNfgenLen = 4;       // struct nfgenmsg
constexpr size_t kNlaHdrLen = 4;      // struct nlattr
constexpr uint16_t kNlaTypeMask = 0x3fff;  // ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER)

// ctattr_type
enum : uint16_t {
    kCtaTupleOrig = 1, kCtaTupleReply = 2, kCtaStatus = 3, kCtaProtoinfo = 4, kCtaTimeout = 7,
    kCtaMark = 8, kCtaCountersOrig = 9, kCtaCountersReply = 10, kCtaId = 12, kCtaZone = 18,
    kCtaTimestamp = 20,
};
enum : uint16_t { kCtaTupleIp = 1, kCtaTupleProto = 2 };
enum : uint16_t { kCtaIpV4Src = 1, kCtaIpV4Dst = 2, kCtaIpV6Src = 3, kCtaIpV6Dst = 4 };
enum : uint16_t {
    kCtaProtoNum = 1, kCtaProtoSrcPort = 2, kCtaProtoDstPort = 3, kCtaProtoIcmpId = 4,
    kCtaProtoIcmpType = 5, kCtaProtoIcmpCode = 6, kCtaProtoIcmpv6Id = 7,
    kCtaProtoIcmpv6Type = 8, kCtaProtoIcmpv6Code = 9,
};
enum : uint16_t {
    kCtaCountersPackets = 1, kCtaCountersBytes = 2, kCtaCounters32Packets = 3,
    kCtaCounters32Bytes = 4,
};
enum : uint16_t { kCtaTimestampStart = 1, kCtaTimestampStop = 2 };
enum : uint16_t { kCtaProtoinfoTcp = 1 };
enum : uint16_t { kCtaProtoinfoTcpState = 1 };

uint16_t rd_host16(const uint8_t* p)
{
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}
uint32_t rd_host32(const uint8_t* p)
{
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

size_t align4(size_t n) { return (n + 3) & ~size_t(3); }

// Iterates the attributes in [p, p+len). Each call yields one; returns false at the end or
// sets *bad on a malformed header (length < 4 or beyond the container).
struct AttrIter {
    const uint8_t* p;
    size_t left;
    bool next(uint16_t& type, const uint8_t*& data, size_t& dlen, const char** why)
    {
        if (left == 0) return false;
        if (left < kNlaHdrLen) {
            *why = "ctnetlink: truncated attribute header";
            bad = true;
            return false;
        }
        size_t alen = rd_host16(p);
        if (alen < kNlaHdrLen || alen > left) {
            *why = "ctnetlink: attribute length out of bounds";
            bad = true;
            return false;
        }
        type = uint16_t(rd_host16(p + 2) & kNlaTypeMask);
        data = p + kNlaHdrLen;
        dlen = alen - kNlaHdrLen;
        size_t step = align4(alen);
        if (step > left) step = left;  // last attribute may omit its padding
        p += step;
        left -= step;
        return true;
    }
    bool bad = false;
};

void set_mapped_v4(uint8_t* dst, const uint8_t* v4)
{
    std::memset(dst, 0, 10);
    dst[10] = dst[11] = 0xff;
    std::memcpy(dst + 12, v4, 4);
}

Status decode_ip(const uint8_t* p, size_t len, uint8_t family, CtTuple& t, const char** why)
{
    AttrIter it{p, len};
    uint16_t type;
    const uint8_t* d;
    size_t dl;
    bool src = false, dst = false;
    while (it.next(type, d, dl, why)) {
        switch (type) {
        case kCtaIpV4Src:
        case kCtaIpV4Dst:
            if (dl != 4 || family != 2) {
                *why = "ctnetlink: bad IPv4 address attribute";
                return Status::bad_input;
            }
            set_mapped_v4(type == kCtaIpV4Src ? t.src : t.dst, d);
            (type == kCtaIpV4Src ? src : dst) = true;
            break;
        case kCtaIpV6Src:
        case kCtaIpV6Dst:
            if (dl != 16 || family != 10) {
                *why = "ctnetlink: bad IPv6 address attribute";
                return Status::bad_input;
            }
            std::memcpy(type == kCtaIpV6Src ? t.src : t.dst, d, 16);
            (type == kCtaIpV6Src ? src : dst) = true;
            break;
        default: break;  // newer kernels may add attributes: ignore
        }
    }
    if (it.bad) return Status::bad_input;
    if (!src || !dst) {
        *why = "ctnetlink: tuple without source or destination address";
        return Status::bad_input;
    }
    t.has_ip = 1;
    return Status::ok;
}

Status decode_proto(const uint8_t* p, size_t len, CtTuple& t, const char** why)
{
    AttrIter it{p, len};
    uint16_t type;
    const uint8_t* d;
    size_t dl;
    uint8_t icmp_type = 0, icmp_code = 0;
    while (it.next(type, d, dl, why)) {
        size_t want = 0;
        switch (type) {
        case kCtaProtoNum: case kCtaProtoIcmpType: case kCtaProtoIcmpCode:
        case kCtaProtoIcmpv6Type: case kCtaProtoIcmpv6Code:
            want = 1;
            break;
        case kCtaProtoSrcPort: case kCtaProtoDstPort: case kCtaProtoIcmpId:
        case kCtaProtoIcmpv6Id:
            want = 2;
            break;
        default: continue;
        }
        if (dl != want) {
            *why = "ctnetlink: wrong size of a protocol attribute";
            return Status::bad_input;
        }
        switch (type) {
        case kCtaProtoNum: t.proto = d[0]; t.has_proto = 1; break;
        case kCtaProtoSrcPort: t.src_port = get_u16(d); break;   // network order
        case kCtaProtoDstPort: t.dst_port = get_u16(d); break;
        case kCtaProtoIcmpId: case kCtaProtoIcmpv6Id: t.icmp_id = get_u16(d); break;
        case kCtaProtoIcmpType: case kCtaProtoIcmpv6Type: icmp_type = d[0]; break;
        case kCtaProtoIcmpCode: case kCtaProtoIcmpv6Code: icmp_code = d[0]; break;
        default: break;
        }
    }
    if (it.bad) return Status::bad_input;
    if (!t.has_proto) {
        *why = "ctnetlink: tuple without protocol number";
        return Status::bad_input;
    }
    if (t.proto == 1 || t.proto == 58) {
        // FlowKey convention: ICMP type/code in dst_port, src_port 0.
        t.src_port = 0;
        t.dst_port = uint16_t(icmp_type << 8 | icmp_code);
    }
    return Status::ok;
}

Status decode_tuple(const uint8_t* p, size_t len, uint8_t family, CtTuple& t, const char** why)
{
    AttrIter it{p, len};
    uint16_t type;
    const uint8_t* d;
    size_t dl;
    while (it.next(type, d, dl, why)) {
        Status s = Status::ok;
        if (type == kCtaTupleIp) s = decode_ip(d, dl, family, t, why);
        else if (type == kCtaTupleProto) s = decode_proto(d, dl, t, why);
        if (s != Status::ok) return s;
    }
    if (it.bad) return Status::bad_input;
    if (!t.has_ip || !t.has_proto) {
        *why = "ctnetlink: incomplete tuple (address or protocol missing)";
        return Status::bad_input;
    }
    return Status::ok;
}

Status decode_counters(const uint8_t* p, size_t len, CtCounters& c, const char** why)
{
    AttrIter it{p, len};
    uint16_t type;
    const uint8_t* d;
    size_t dl;
    while (it.next(type, d, dl, why)) {
        bool is64 = type == kCtaCountersPackets || type == kCtaCountersBytes;
        bool is32 = type == kCtaCounters32Packets || type == kCtaCounters32Bytes;
        if (!is64 && !is32) continue;  // CTA_COUNTERS_PAD and future attributes
        if (dl != (is64 ? 8u : 4u)) {
            *why = "ctnetlink: wrong size of a counter attribute";
            return Status::bad_input;
        }
        uint64_t v = is64 ? get_u64(d) : get_u32(d);
        if (type == kCtaCountersPackets || type == kCtaCounters32Packets) c.packets = v;
        else c.octets = v;
        c.present = 1;
    }
    return it.bad ? Status::bad_input : Status::ok;
}

Status decode_tstamp(const uint8_t* p, size_t len, CtEntry& e, const char** why)
{
    AttrIter it{p, len};
    uint16_t type;
    const uint8_t* d;
    size_t dl;
    while (it.next(type, d, dl, why)) {
        if (type != kCtaTimestampStart && type != kCtaTimestampStop) continue;
        if (dl != 8) {
            *why = "ctnetlink: wrong size of a timestamp attribute";
            return Status::bad_input;
        }
        if (type == kCtaTimestampStart) {
            e.tstamp_start_ns = get_u64(d);
            e.has_tstamp_start = 1;
        } else {
            e.tstamp_stop_ns = get_u64(d);
            e.has_tstamp_stop = 1;
        }
    }
    return it.bad ? Status::bad_input : Status::ok;
}

Status decode_protoinfo(const uint8_t* p, size_t len, CtEntry& e, const char** why)
{
    AttrIter it{p, len};
    uint16_t type;
    const uint8_t* d;
    size_t dl;
    while (it.next(type, d, dl, why)) {
        if (type != kCtaProtoinfoTcp) continue;
        AttrIter in{d, dl};
        uint16_t t2;
        const uint8_t* d2;
        size_t dl2;
        while (in.next(t2, d2, dl2, why)) {
            if (t2 != kCtaProtoinfoTcpState) continue;
            if (dl2 != 1) {
                *why = "ctnetlink: wrong size of the TCP state attribute";
                return Status::bad_input;
            }
            e.tcp_state = d2[0];
            e.has_tcp_state = 1;
        }
        if (in.bad) return Status::bad_input;
    }
    return it.bad ? Status::bad_input : Status::ok;
}

Status decode_u32(const uint8_t* d, size_t dl, uint32_t& v, uint8_t& has, const char* what,
                  const char** why)
{
    if (dl != 4) {
        *why = what;
        return Status::bad_input;
    }
    v = get_u32(d);
    has = 1;
    return Status::ok;
}

} // namespace

Status ct_decode(const uint8_t* msg, size_t len, CtEntry& out, CtMsgKind* kind, size_t* consumed,
                 int* errno_out, const char** why)
{
    static const char* dummy_why;
    if (!why) why = &dummy_why;
    *why = "";
    *kind = CtMsgKind::other;
    *consumed = len;
    if (errno_out) *errno_out = 0;
    if (!msg || len < kNlmsgHdrLen) {
        *why = "netlink: truncated message header";
        return Status::bad_input;
    }
    size_t mlen = rd_host32(msg);
    uint16_t type = rd_host16(msg + 4);
    uint16_t flags = rd_host16(msg + 6);
    if (mlen < kNlmsgHdrLen || mlen > len) {
        *why = "netlink: message length out of bounds";
        return Status::bad_input;
    }
    size_t step = align4(mlen);
    *consumed = step > len ? len : step;
    const uint8_t* body = msg + kNlmsgHdrLen;
    size_t blen = mlen - kNlmsgHdrLen;

    if (type == kNlmsgDone) {
        *kind = CtMsgKind::done;
        return Status::ok;
    }
    if (type == kNlmsgError) {
        if (blen < 4) {
            *why = "netlink: truncated error message";
            return Status::bad_input;
        }
        if (errno_out) *errno_out = int(int32_t(rd_host32(body)));
        *kind = CtMsgKind::error;
        return Status::ok;
    }
    if ((type >> 8) != kNfnlSubsysCtnetlink) return Status::ok;  // other subsystem
    uint16_t ct_type = uint16_t(type & 0xff);
    if (ct_type != kCtMsgNew && ct_type != kCtMsgDelete) return Status::ok;
    if (blen < kNfgenLen) {
        *why = "ctnetlink: truncated nfgenmsg";
        return Status::bad_input;
    }
    out = CtEntry{};
    out.family = body[0];
    if (out.family != 2 && out.family != 10) {
        *why = "ctnetlink: unknown address family";
        return Status::bad_input;
    }
    if (ct_type == kCtMsgDelete) out.event = CtEvent::destroy;
    else if ((flags & kNlmFCreate) && !(flags & kNlmFMulti)) out.event = CtEvent::create;
    else out.event = CtEvent::update;

    AttrIter it{body + kNfgenLen, blen - kNfgenLen};
    uint16_t at;
    const uint8_t* d;
    size_t dl;
    bool have_orig = false, have_reply = false;
    while (it.next(at, d, dl, why)) {
        Status s = Status::ok;
        switch (at) {
        case kCtaTupleOrig:
            s = decode_tuple(d, dl, out.family, out.orig, why);
            have_orig = true;
            break;
        case kCtaTupleReply:
            s = decode_tuple(d, dl, out.family, out.reply, why);
            have_reply = true;
            break;
        case kCtaCountersOrig: s = decode_counters(d, dl, out.orig_ctr, why); break;
        case kCtaCountersReply: s = decode_counters(d, dl, out.reply_ctr, why); break;
        case kCtaTimestamp: s = decode_tstamp(d, dl, out, why); break;
        case kCtaProtoinfo: s = decode_protoinfo(d, dl, out, why); break;
        case kCtaStatus:
            s = decode_u32(d, dl, out.status, out.has_status, "ctnetlink: bad CTA_STATUS", why);
            break;
        case kCtaMark:
            s = decode_u32(d, dl, out.mark, out.has_mark, "ctnetlink: bad CTA_MARK", why);
            break;
        case kCtaId:
            s = decode_u32(d, dl, out.id, out.has_id, "ctnetlink: bad CTA_ID", why);
            break;
        case kCtaTimeout:
            s = decode_u32(d, dl, out.timeout_s, out.has_timeout, "ctnetlink: bad CTA_TIMEOUT",
                           why);
            break;
        case kCtaZone:
            if (dl != 2) {
                *why = "ctnetlink: bad CTA_ZONE";
                return Status::bad_input;
            }
            out.zone = get_u16(d);
            out.has_zone = 1;
            break;
        default: break;
        }
        if (s != Status::ok) return s;
    }
    if (it.bad) return Status::bad_input;
    if (!have_orig || !have_reply) {
        *why = "ctnetlink: entry without original or reply tuple";
        return Status::bad_input;
    }
    if (out.orig.proto != out.reply.proto) {
        *why = "ctnetlink: original and reply tuples disagree on the protocol";
        return Status::bad_input;
    }
    *kind = CtMsgKind::entry;
    return Status::ok;
}

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
    uint8_t k[37];
    std::memcpy(k, t.src, 16);
    std::memcpy(k + 16, t.dst, 16);
    k[32] = uint8_t(t.src_port >> 8);
    k[33] = uint8_t(t.src_port);
    k[34] = uint8_t(t.dst_port >> 8);
    k[35] = uint8_t(t.dst_port);
    k[36] = t.proto;
    return flow_hash_bob(k, sizeof k, kFlowHashInit);
}

} // namespace fa
