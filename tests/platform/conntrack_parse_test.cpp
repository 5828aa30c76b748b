// SPDX-License-Identifier: GPL-2.0-only
// The parse path of the listener (platform/linux/conntrack_parse: libnetfilter_conntrack into one
// nf_conntrack object, libmnl framing) and the mapping of its entries into records.
// Ground truth: the messages are assembled attribute by attribute from the kernel UAPI layout
// (nfnetlink_conntrack.h numbering written out here as literals, NOT taken from the decoder's
// header), payload bytes spelled out by hand in network order; expected records written by hand.
#include <cstring>

#include <libmnl/libmnl.h>

#include <algorithm>

#include "CppUTest/TestHarness.h"
#include "linux/conntrack_parse.h"
#include "flow/biflow.h"
#include "source/conntrack_decode.h"

using namespace fa;

namespace {

// One message at the start of [msg, msg + len) through the listener's path: the framing check
// (ct_msg_ok), then CtParser (one nf_conntrack object for every call, as in the
// listener). *consumed: the aligned message length, to walk a buffer.
Status ct_decode(const uint8_t* msg, size_t len, CtEntry& out, CtMsgKind* kind, size_t* consumed,
                 int* err, const char** why)
{
    static CtParser parser;
    static uint32_t copy[1024];  // aligned for nlmsghdr
    const size_t n = std::min(len, sizeof copy);
    std::memcpy(copy, msg, n);
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(copy);
    *consumed = n;
    *kind = CtMsgKind::other;
    if (!ct_msg_ok(nlh, int(n))) {
        *why = "netlink: truncated message";
        return Status::bad_input;
    }
    *consumed = std::min(n, size_t(MNL_ALIGN(nlh->nlmsg_len)));
    return parser.parse(nlh, out, kind, err, why);
}

// Tiny netlink message builder. Headers (nlmsghdr, nlattr) are host order by definition of
// netlink, so they are written with memcpy of native integers.
struct Msg {
    uint8_t buf[1024];
    size_t len = 0;
    size_t nest_at[8];
    int depth = 0;

    void put16(size_t at, uint16_t v) { std::memcpy(buf + at, &v, 2); }
    void put32(size_t at, uint32_t v) { std::memcpy(buf + at, &v, 4); }
    void pad() { while (len % 4) buf[len++] = 0; }

    void header(uint16_t type, uint16_t flags, uint8_t family)
    {
        std::memset(buf, 0, sizeof(buf));
        len = 16;
        put16(4, type);
        put16(6, flags);
        buf[len++] = family;  // nfgenmsg: family, version 0, res_id 0
        buf[len++] = 0;
        buf[len++] = 0;
        buf[len++] = 0;
    }
    void attr(uint16_t type, const uint8_t* data, size_t n)
    {
        put16(len, uint16_t(4 + n));
        put16(len + 2, type);
        std::memcpy(buf + len + 4, data, n);
        len += 4 + n;
        pad();
    }
    void begin(uint16_t type)
    {
        nest_at[depth++] = len;
        put16(len + 2, uint16_t(type | 0x8000));  // NLA_F_NESTED, as the kernel sets it
        len += 4;
    }
    void end()
    {
        size_t at = nest_at[--depth];
        put16(at, uint16_t(len - at));
    }
    size_t finish()
    {
        put32(0, uint32_t(len));
        return len;
    }
};

const uint8_t kV4Client[4] = {10, 0, 0, 2};
const uint8_t kV4Server[4] = {192, 0, 2, 1};
const uint8_t kV4Router[4] = {203, 0, 113, 1};
const uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void v4_tuple(Msg& m, uint16_t which, const uint8_t* src, const uint8_t* dst, uint8_t proto,
              const uint8_t sport[2], const uint8_t dport[2])
{
    m.begin(which);
    m.begin(1);          // CTA_TUPLE_IP
    m.attr(1, src, 4);   // CTA_IP_V4_SRC
    m.attr(2, dst, 4);   // CTA_IP_V4_DST
    m.end();
    m.begin(2);          // CTA_TUPLE_PROTO
    m.attr(1, &proto, 1);  // CTA_PROTO_NUM
    m.attr(2, sport, 2);   // CTA_PROTO_SRC_PORT
    m.attr(3, dport, 2);   // CTA_PROTO_DST_PORT
    m.end();
    m.end();
}

// TCP 10.0.0.2:40000 -> 192.0.2.1:80 masqueraded to 203.0.113.1:61000. DESTROY in TIME_WAIT.
size_t build_tcp_destroy(Msg& m)
{
    m.header(uint16_t(1 << 8 | 2), 0, 2);  // CTNETLINK << 8 | IPCTNL_MSG_CT_DELETE, AF_INET
    const uint8_t p40000[2] = {0x9c, 0x40}, p80[2] = {0x00, 0x50}, p61000[2] = {0xee, 0x48};
    v4_tuple(m, 1, kV4Client, kV4Server, 6, p40000, p80);   // CTA_TUPLE_ORIG
    v4_tuple(m, 2, kV4Server, kV4Router, 6, p80, p61000);   // CTA_TUPLE_REPLY
    const uint8_t status[4] = {0x00, 0x00, 0x00, 0x1e};  // SEEN_REPLY|ASSURED|CONFIRMED|SRC_NAT
    m.attr(3, status, 4);
    m.begin(9);  // CTA_COUNTERS_ORIG
    const uint8_t five[8] = {0, 0, 0, 0, 0, 0, 0, 5}, b300[8] = {0, 0, 0, 0, 0, 0, 0x01, 0x2c};
    m.attr(1, five, 8);
    m.attr(2, b300, 8);
    m.end();
    m.begin(10);  // CTA_COUNTERS_REPLY
    const uint8_t four[8] = {0, 0, 0, 0, 0, 0, 0, 4};
    const uint8_t b5000000000[8] = {0, 0, 0, 0x01, 0x2a, 0x05, 0xf2, 0x00};  // > 2^32
    m.attr(1, four, 8);
    m.attr(2, b5000000000, 8);
    m.end();
    const uint8_t id[4] = {0x12, 0x34, 0x56, 0x78};
    m.attr(12, id, 4);
    const uint8_t mark[4] = {0, 0, 0, 7};
    m.attr(8, mark, 4);
    const uint8_t zone[2] = {0, 3};
    m.attr(18, zone, 2);
    m.begin(4);  // CTA_PROTOINFO
    m.begin(1);  // CTA_PROTOINFO_TCP
    const uint8_t tw = 7;  // TCP_CONNTRACK_TIME_WAIT
    m.attr(1, &tw, 1);
    m.end();
    m.end();
    m.begin(20);  // CTA_TIMESTAMP, wall ns: start 1 700 000 000 000 ms, stop +2500 ms
    // 1700000000000 ms = 1700000000000000000 ns = 0x17979cfe362a0000
    const uint8_t start[8] = {0x17, 0x97, 0x9c, 0xfe, 0x36, 0x2a, 0x00, 0x00};
    // 1700000002500000000 ns = 0x17979cfe362a0000 + 2500000000 (0x9502f900) = 0x17979cfecb2cf900
    const uint8_t stop[8] = {0x17, 0x97, 0x9c, 0xfe, 0xcb, 0x2c, 0xf9, 0x00};
    m.attr(1, start, 8);
    m.attr(2, stop, 8);
    m.end();
    return m.finish();
}

bool is_v4(const uint8_t* a, const uint8_t* v4)
{
    return std::memcmp(a, kMappedPrefix, 12) == 0 && std::memcmp(a + 12, v4, 4) == 0;
}

} // namespace

TEST_GROUP(ConntrackDecode) {
    Msg m;
    CtEntry e;
    CtMsgKind kind = CtMsgKind::other;
    size_t used = 0;
    int err = 0;
    const char* why = nullptr;
};

TEST(ConntrackDecode, TcpDestroyWithNatAllAttributes)
{
    size_t n = build_tcp_destroy(m);
    CHECK(ct_decode(m.buf, n, e, &kind, &used, &err, &why) == Status::ok);
    CHECK(kind == CtMsgKind::entry);
    UNSIGNED_LONGS_EQUAL(n, used);
    CHECK(e.event == CtEvent::destroy);
    UNSIGNED_LONGS_EQUAL(2, e.family);
    CHECK(is_v4(e.orig.src, kV4Client));
    CHECK(is_v4(e.orig.dst, kV4Server));
    UNSIGNED_LONGS_EQUAL(40000, e.orig.src_port);
    UNSIGNED_LONGS_EQUAL(80, e.orig.dst_port);
    UNSIGNED_LONGS_EQUAL(6, e.orig.proto);
    CHECK(is_v4(e.reply.src, kV4Server));
    CHECK(is_v4(e.reply.dst, kV4Router));
    UNSIGNED_LONGS_EQUAL(80, e.reply.src_port);
    UNSIGNED_LONGS_EQUAL(61000, e.reply.dst_port);
    UNSIGNED_LONGS_EQUAL(0x1e, e.status);
    CHECK(e.nat());
    CHECK(!e.offloaded());
    UNSIGNED_LONGS_EQUAL(5, e.orig_ctr.packets);
    UNSIGNED_LONGS_EQUAL(300, e.orig_ctr.octets);
    UNSIGNED_LONGS_EQUAL(4, e.reply_ctr.packets);
    CHECK(e.reply_ctr.octets == 5000000000ull);
    UNSIGNED_LONGS_EQUAL(0x12345678u, e.id);
    UNSIGNED_LONGS_EQUAL(7, e.mark);
    UNSIGNED_LONGS_EQUAL(3, e.zone);
    UNSIGNED_LONGS_EQUAL(7, e.tcp_state);
    CHECK(e.tstamp_start_ns == 1700000000000000000ull);
    CHECK(e.tstamp_stop_ns == 1700000002500000000ull);
    CHECK(ct_end_reason(e, false) == EndReason::end_of_flow);
    CHECK(ct_end_reason(e, true) == EndReason::forced_end);
}

TEST(ConntrackDecode, RecordsPerDirectionWithNatFields)
{
    size_t n = build_tcp_destroy(m);
    CHECK(ct_decode(m.buf, n, e, &kind, &used, &err, &why) == Status::ok);
    CtRecordOptions o;
    o.wall_offset_ms = 1699999000000;  // wall 1700000000000 ms is monotonic 1000000 ms
    o.now_ms = 9999999;
    FlowRecord r[2];
    UNSIGNED_LONGS_EQUAL(2, ct_to_records(e, o, nullptr, EndReason::end_of_flow, r));
    // Original direction: client -> server as the router received it, post-NAT source is the
    // router's address/port (IE 225/227), destination unchanged (226/228).
    CHECK(is_v4(r[0].key.src, kV4Client));
    CHECK(is_v4(r[0].key.dst, kV4Server));
    UNSIGNED_LONGS_EQUAL(40000, r[0].key.src_port);
    UNSIGNED_LONGS_EQUAL(80, r[0].key.dst_port);
    UNSIGNED_LONGS_EQUAL(6, r[0].key.proto);
    UNSIGNED_LONGS_EQUAL(kRecHasNat, r[0].flags);
    CHECK(is_v4(r[0].post_src, kV4Router));
    CHECK(is_v4(r[0].post_dst, kV4Server));
    UNSIGNED_LONGS_EQUAL(61000, r[0].post_src_port);
    UNSIGNED_LONGS_EQUAL(80, r[0].post_dst_port);
    UNSIGNED_LONGS_EQUAL(5, r[0].packets);
    UNSIGNED_LONGS_EQUAL(300, r[0].octets);
    UNSIGNED_LONGS_EQUAL(1000000, r[0].first_ms);
    UNSIGNED_LONGS_EQUAL(1002500, r[0].last_ms);
    CHECK(r[0].end_reason == EndReason::end_of_flow);
    // Reply direction: server -> router as received; post-NAT destination is the client.
    CHECK(is_v4(r[1].key.src, kV4Server));
    CHECK(is_v4(r[1].key.dst, kV4Router));
    UNSIGNED_LONGS_EQUAL(80, r[1].key.src_port);
    UNSIGNED_LONGS_EQUAL(61000, r[1].key.dst_port);
    CHECK(is_v4(r[1].post_src, kV4Server));
    CHECK(is_v4(r[1].post_dst, kV4Client));
    UNSIGNED_LONGS_EQUAL(80, r[1].post_src_port);
    UNSIGNED_LONGS_EQUAL(40000, r[1].post_dst_port);
    UNSIGNED_LONGS_EQUAL(4, r[1].packets);
    CHECK(r[1].octets == 5000000000ull);

    o.both_directions = false;
    UNSIGNED_LONGS_EQUAL(1, ct_to_records(e, o, nullptr, EndReason::end_of_flow, r));
}

TEST(ConntrackDecode, DeltaBookkeeping)
{
    size_t n = build_tcp_destroy(m);
    CHECK(ct_decode(m.buf, n, e, &kind, &used, &err, &why) == Status::ok);
    CtRecordOptions o;
    CtExported prev;
    prev.orig_packets = 3;
    prev.orig_octets = 180;
    prev.reply_packets = 4;  // nothing new in the reply direction: no record
    prev.reply_octets = 5000000000ull;
    FlowRecord r[2];
    UNSIGNED_LONGS_EQUAL(1, ct_to_records(e, o, &prev, EndReason::idle_timeout, r));
    UNSIGNED_LONGS_EQUAL(2, r[0].packets);
    UNSIGNED_LONGS_EQUAL(120, r[0].octets);
    // Counters below the baseline (another connection on the same key): the current value is
    // the delta.
    UNSIGNED_LONGS_EQUAL(7, ct_counter_delta(7, 100));
    UNSIGNED_LONGS_EQUAL(93, ct_counter_delta(100, 7));
}

TEST(ConntrackDecode, NewEventIcmpNoNat)
{
    m.header(uint16_t(1 << 8 | 0), 0x400 | 0x200, 2);  // CT_NEW, NLM_F_CREATE|NLM_F_EXCL
    for (uint16_t which = 1; which <= 2; ++which) {
        m.begin(which);
        m.begin(1);
        m.attr(1, which == 1 ? kV4Client : kV4Server, 4);
        m.attr(2, which == 1 ? kV4Server : kV4Client, 4);
        m.end();
        m.begin(2);
        const uint8_t proto = 1, type = which == 1 ? 8 : 0, code = 0, id[2] = {0x04, 0xd2};
        m.attr(1, &proto, 1);
        m.attr(4, id, 2);    // CTA_PROTO_ICMP_ID
        m.attr(5, &type, 1); // CTA_PROTO_ICMP_TYPE
        m.attr(6, &code, 1); // CTA_PROTO_ICMP_CODE
        m.end();
        m.end();
    }
    size_t n = m.finish();
    CHECK(ct_decode(m.buf, n, e, &kind, &used, &err, &why) == Status::ok);
    CHECK(e.event == CtEvent::create);
    UNSIGNED_LONGS_EQUAL(0x0800, e.orig.dst_port);  // echo request: type 8 << 8
    UNSIGNED_LONGS_EQUAL(0, e.orig.src_port);
    UNSIGNED_LONGS_EQUAL(0x0000, e.reply.dst_port); // echo reply
    UNSIGNED_LONGS_EQUAL(1234, e.orig.icmp_id);
    CHECK(!e.orig_ctr.present);
    CHECK(!e.nat());
    CHECK(ct_end_reason(e, false) == EndReason::active_timeout);
}

TEST(ConntrackDecode, UpdateAndDumpAreUpdates)
{
    m.header(uint16_t(1 << 8 | 0), 0x2 | 0x400, 2);  // a dump entry (NLM_F_MULTI)
    const uint8_t p1[2] = {0, 1}, p2[2] = {0, 2};
    v4_tuple(m, 1, kV4Client, kV4Server, 17, p1, p2);
    v4_tuple(m, 2, kV4Server, kV4Client, 17, p2, p1);
    size_t n = m.finish();
    CHECK(ct_decode(m.buf, n, e, &kind, &used, &err, &why) == Status::ok);
    CHECK(e.event == CtEvent::update);
    UNSIGNED_LONGS_EQUAL(17, e.orig.proto);
}

TEST(ConntrackDecode, DoneErrorAndOtherMessages)
{
    uint8_t b[20] = {};
    uint32_t l = 16;
    uint16_t t = 3;  // NLMSG_DONE
    std::memcpy(b, &l, 4);
    std::memcpy(b + 4, &t, 2);
    CHECK(ct_decode(b, 16, e, &kind, &used, &err, &why) == Status::ok);
    CHECK(kind == CtMsgKind::done);
    l = 20;
    t = 2;  // NLMSG_ERROR, error -105 (ENOBUFS)
    int32_t ev = -105;
    std::memcpy(b, &l, 4);
    std::memcpy(b + 4, &t, 2);
    std::memcpy(b + 16, &ev, 4);
    CHECK(ct_decode(b, 20, e, &kind, &used, &err, &why) == Status::ok);
    CHECK(kind == CtMsgKind::error);
    LONGS_EQUAL(-105, err);
    t = uint16_t(2 << 8);  // another nfnetlink subsystem
    l = 16;
    std::memcpy(b, &l, 4);
    std::memcpy(b + 4, &t, 2);
    CHECK(ct_decode(b, 16, e, &kind, &used, &err, &why) == Status::ok);
    CHECK(kind == CtMsgKind::other);
}

TEST(ConntrackDecode, MalformedInputNamedNeverCrashes)
{
    size_t n = build_tcp_destroy(m);
    // Every truncation of a valid message: message length no longer fits -> bad_input.
    for (size_t cut = 0; cut < n; ++cut) {
        CHECK(ct_decode(m.buf, cut, e, &kind, &used, &err, &why) == Status::bad_input);
        CHECK(why != nullptr && why[0] != '\0');
    }
    // Claimed message length shrunk anywhere before the end of the reply tuple: either an
    // attribute overruns the message or a tuple is missing; both must be rejected. (Cuts at a
    // later attribute boundary leave a well-formed, shorter message.)
    uint16_t orig_len, reply_len;
    std::memcpy(&orig_len, m.buf + 20, 2);
    std::memcpy(&reply_len, m.buf + 20 + orig_len, 2);
    for (size_t cut = 20; cut < 20u + orig_len + reply_len; ++cut) {
        uint32_t l = uint32_t(cut);
        Msg c = m;
        std::memcpy(c.buf, &l, 4);
        CHECK(ct_decode(c.buf, n, e, &kind, &used, &err, &why) == Status::bad_input);
    }
    // A counter attribute with a wrong size.
    Msg c = m;
    // Find CTA_COUNTERS_ORIG's first child by scanning for its known 8-byte packets payload.
    const uint8_t five[8] = {0, 0, 0, 0, 0, 0, 0, 5};
    for (size_t i = 24; i + 8 <= n; ++i) {
        if (std::memcmp(c.buf + i, five, 8) == 0) {
            uint16_t bad_len = 4 + 7;
            std::memcpy(c.buf + i - 4, &bad_len, 2);
            break;
        }
    }
    CHECK(ct_decode(c.buf, n, e, &kind, &used, &err, &why) == Status::bad_input);
    STRCMP_EQUAL("ctnetlink: attribute of the wrong size or type", why);
    // Unknown family.
    c = m;
    c.buf[16] = 7;
    CHECK(ct_decode(c.buf, n, e, &kind, &used, &err, &why) == Status::bad_input);
    STRCMP_EQUAL("ctnetlink: unknown address family", why);
}

TEST(ConntrackDecode, WalksABufferOfTwoMessages)
{
    size_t n = build_tcp_destroy(m);
    uint8_t two[2048];
    std::memcpy(two, m.buf, n);
    std::memcpy(two + n, m.buf, n);
    size_t off = 0;
    int entries = 0;
    while (off < 2 * n) {
        CHECK(ct_decode(two + off, 2 * n - off, e, &kind, &used, &err, &why) == Status::ok);
        entries += kind == CtMsgKind::entry;
        off += used;
    }
    LONGS_EQUAL(2, entries);
}

TEST(ConntrackDecode, FlowSamplingByTupleHash)
{
    // 10.0.0.2:40000 -> 192.0.2.1:80 TCP.
    CtTuple t;
    std::memcpy(t.src, kMappedPrefix, 12);
    std::memcpy(t.src + 12, kV4Client, 4);
    std::memcpy(t.dst, kMappedPrefix, 12);
    std::memcpy(t.dst + 12, kV4Server, 4);
    t.src_port = 40000;
    t.dst_port = 80;
    t.proto = 6;
    // The BOB hash (RFC 5475 §6.2.3) of the 37 tuple bytes, initval 0: reference from a
    // separate Python transcription of Bob Jenkins' 1996 code (switch-style tail).
    UNSIGNED_LONGS_EQUAL(0xda7183cdu, ct_tuple_hash(t));
    CHECK(ct_sample_keep(t, 1));
    CHECK(ct_sample_keep(t, 0));
    // Kept when the hash is in the announced selected range 0..floor(2^32 / N) - 1.
    CHECK(ct_sample_keep_hash(0x3fffffffu, 4));
    CHECK_FALSE(ct_sample_keep_hash(0x40000000u, 4));
    CHECK(ct_sample_keep(t, 1) && !ct_sample_keep(t, 2));  // 0xda7183cd > 0x7fffffff
    // 1 in 4 over 40,000 distinct source ports: within 5 % of 10,000.
    int kept = 0;
    for (uint32_t i = 0; i < 40000; ++i) {
        t.src_port = uint16_t(1024 + i);
        kept += ct_sample_keep(t, 4);
    }
    CHECK(kept > 9500 && kept < 10500);
}

TEST(ConntrackDecode, MarkAndZoneOnlyWhenConfigured)
{
    size_t n = build_tcp_destroy(m);  // CTA_MARK 7, CTA_ZONE 3
    CHECK(ct_decode(m.buf, n, e, &kind, &used, &err, &why) == Status::ok);
    CtRecordOptions o;
    FlowRecord r[2];
    UNSIGNED_LONGS_EQUAL(2, ct_to_records(e, o, nullptr, EndReason::end_of_flow, r));
    UNSIGNED_LONGS_EQUAL(kRecHasNat, r[0].flags);  // off by default: no mark, no zone
    UNSIGNED_LONGS_EQUAL(0, r[0].ct_mark);
    UNSIGNED_LONGS_EQUAL(0, r[0].ct_zone);
    o.with_mark = true;
    UNSIGNED_LONGS_EQUAL(2, ct_to_records(e, o, nullptr, EndReason::end_of_flow, r));
    for (const FlowRecord& x : r) {
        UNSIGNED_LONGS_EQUAL(kRecHasNat | kRecHasMark, x.flags);
        UNSIGNED_LONGS_EQUAL(7, x.ct_mark);
        UNSIGNED_LONGS_EQUAL(0, x.ct_zone);
    }
    o.with_zone = true;
    UNSIGNED_LONGS_EQUAL(2, ct_to_records(e, o, nullptr, EndReason::end_of_flow, r));
    for (const FlowRecord& x : r) {
        UNSIGNED_LONGS_EQUAL(kRecHasNat | kRecHasMark | kRecHasZone, x.flags);
        UNSIGNED_LONGS_EQUAL(7, x.ct_mark);
        UNSIGNED_LONGS_EQUAL(3, x.ct_zone);
    }
    // The kernel leaves out a zero mark and the default zone in events: 0, still flagged.
    e.mark = 0;
    e.has_mark = 0;
    e.zone = 0;
    e.has_zone = 0;
    UNSIGNED_LONGS_EQUAL(2, ct_to_records(e, o, nullptr, EndReason::end_of_flow, r));
    UNSIGNED_LONGS_EQUAL(kRecHasNat | kRecHasMark | kRecHasZone, r[1].flags);
    UNSIGNED_LONGS_EQUAL(0, r[1].ct_mark);
    UNSIGNED_LONGS_EQUAL(0, r[1].ct_zone);
}

TEST(ConntrackDecode, OwnExportSocketIsRecognisedByTheOriginalTuple)
{
    // The agent's socket 10.0.0.2:40000 -> 192.0.2.1:80 (UDP); build_tcp_destroy has that tuple
    // as TCP, so first: TCP is never the agent's export.
    size_t n = build_tcp_destroy(m);
    CHECK(ct_decode(m.buf, n, e, &kind, &used, &err, &why) == Status::ok);
    CtOwnSocket own[2];
    std::memcpy(own[1].local, kMappedPrefix, 12);
    std::memcpy(own[1].local + 12, kV4Client, 4);
    std::memcpy(own[1].peer, kMappedPrefix, 12);
    std::memcpy(own[1].peer + 12, kV4Server, 4);
    own[1].local_port = 40000;
    own[1].peer_port = 80;
    CHECK(!ct_is_own_export(e.orig, own, 2));
    e.orig.proto = e.reply.proto = 17;
    CHECK(ct_is_own_export(e.orig, own, 2));
    CHECK(!ct_is_own_export(e.orig, own, 1));   // only own[0] (all zero) in the list
    CHECK(!ct_is_own_export(e.reply, own, 2));  // the reply tuple is the collector's side
    own[1].local_port = 40001;                   // another socket of the same host
    CHECK(!ct_is_own_export(e.orig, own, 2));
    own[1].local_port = 40000;
    own[1].peer_port = 81;                       // same socket address, another collector
    CHECK(!ct_is_own_export(e.orig, own, 2));
    own[1].peer_port = 80;
    own[1].peer[15] ^= 1;
    CHECK(!ct_is_own_export(e.orig, own, 2));
}

TEST(ConntrackDecode, OffloadedEntriesWarnOnceAndAreCounted)
{
    size_t n = build_tcp_destroy(m);
    CHECK(ct_decode(m.buf, n, e, &kind, &used, &err, &why) == Status::ok);
    CtOffloadNotice notice;
    CHECK(!notice.note(e));  // status 0x1e: not offloaded
    UNSIGNED_LONGS_EQUAL(0, notice.entries);
    // CTA_STATUS with IPS_OFFLOAD (bit 14) decoded from the wire.
    const uint8_t off[4] = {0x00, 0x00, 0x40, 0x1e};
    m.attr(3, off, 4);  // a second CTA_STATUS after the first: the last one wins
    n = m.finish();
    CHECK(ct_decode(m.buf, n, e, &kind, &used, &err, &why) == Status::ok);
    CHECK(e.offloaded());
    CHECK(notice.note(e));   // first offloaded entry: warn
    CHECK(!notice.note(e));  // never again
    e.status = kIpsHwOffload;
    CHECK(e.offloaded());
    CHECK(!notice.note(e));
    UNSIGNED_LONGS_EQUAL(3, notice.entries);
}

namespace {

// ICMP echo 10.0.0.2 -> 192.0.2.1, id 1234, masqueraded to 203.0.113.1 with id 4096 (the
// reply tuple: 192.0.2.1 -> 203.0.113.1, echo reply, id 4096). NEW event with counters.
size_t build_icmp_nat_new(Msg& m)
{
    m.header(uint16_t(1 << 8 | 0), 0x400 | 0x200, 2);  // CT_NEW, NLM_F_CREATE|NLM_F_EXCL
    for (uint16_t which = 1; which <= 2; ++which) {
        m.begin(which);
        m.begin(1);
        m.attr(1, which == 1 ? kV4Client : kV4Server, 4);
        m.attr(2, which == 1 ? kV4Server : kV4Router, 4);
        m.end();
        m.begin(2);
        const uint8_t proto = 1, type = which == 1 ? 8 : 0, code = 0;
        const uint8_t id1234[2] = {0x04, 0xd2}, id4096[2] = {0x10, 0x00};
        m.attr(1, &proto, 1);
        m.attr(4, which == 1 ? id1234 : id4096, 2);  // CTA_PROTO_ICMP_ID
        m.attr(5, &type, 1);
        m.attr(6, &code, 1);
        m.end();
        m.end();
    }
    const uint8_t status[4] = {0x00, 0x00, 0x00, 0x1a};  // SEEN_REPLY|CONFIRMED|SRC_NAT
    m.attr(3, status, 4);
    const uint8_t three[8] = {0, 0, 0, 0, 0, 0, 0, 3}, b252[8] = {0, 0, 0, 0, 0, 0, 0, 0xfc};
    for (uint16_t ctr = 9; ctr <= 10; ++ctr) {
        m.begin(ctr);
        m.attr(1, three, 8);
        m.attr(2, b252, 8);
        m.end();
    }
    return m.finish();
}

// Field-by-field equality of two records (the key compared as bytes, padding included).
void check_same(const FlowRecord& a, const FlowRecord& b)
{
    MEMCMP_EQUAL(&a.key, &b.key, sizeof a.key);
    CHECK(a.packets == b.packets);
    CHECK(a.octets == b.octets);
    CHECK(a.first_ms == b.first_ms);
    CHECK(a.last_ms == b.last_ms);
    LONGS_EQUAL(a.tcp_flags, b.tcp_flags);
    CHECK(a.end_reason == b.end_reason);
    LONGS_EQUAL(a.flags, b.flags);
    MEMCMP_EQUAL(a.src_mac, b.src_mac, 6);
    MEMCMP_EQUAL(a.dst_mac, b.dst_mac, 6);
    MEMCMP_EQUAL(a.post_src, b.post_src, 16);
    MEMCMP_EQUAL(a.post_dst, b.post_dst, 16);
    LONGS_EQUAL(a.post_src_port, b.post_src_port);
    LONGS_EQUAL(a.post_dst_port, b.post_dst_port);
    LONGS_EQUAL(a.ct_zone, b.ct_zone);
    CHECK(a.ct_mark == b.ct_mark);
    CHECK(a.rev_packets == b.rev_packets);
    CHECK(a.rev_octets == b.rev_octets);
    LONGS_EQUAL(a.rev_icmp, b.rev_icmp);
}

// What a uniflow collector gets from the biflow path must be exactly ct_to_records().
void check_split_equals_records(const CtEntry& e, const CtRecordOptions& o,
                                const CtExported* prev)
{
    FlowRecord uni[2], bi, split[2];
    const size_t n = ct_to_records(e, o, prev, EndReason::idle_timeout, uni);
    const bool have = ct_to_biflow(e, o, prev, EndReason::idle_timeout, bi);
    CHECK_EQUAL(n != 0, have);
    if (!have) return;
    CHECK(bi.flags & kRecBiflow);
    UNSIGNED_LONGS_EQUAL(n, biflow_split(bi, split));
    for (size_t i = 0; i < n; ++i) check_same(uni[i], split[i]);
}

} // namespace

TEST(ConntrackDecode, NatEventsFromNewAndDestroy)
{
    size_t n = build_tcp_destroy(m);
    CHECK(ct_decode(m.buf, n, e, &kind, &used, &err, &why) == Status::ok);
    const int64_t off = 1699999000000;  // wall 1700000000000 ms = monotonic 1000000 ms
    NatEvent ev;
    CHECK(ct_to_nat_event(e, off, 9999999, ev));
    LONGS_EQUAL(2, ev.event);          // NAT44 session delete (RFC 8158)
    UNSIGNED_LONGS_EQUAL(1002500, ev.time_ms);  // CTA_TIMESTAMP_STOP
    CHECK(is_v4(ev.src, kV4Client));
    CHECK(is_v4(ev.dst, kV4Server));
    CHECK(is_v4(ev.post_src, kV4Router));
    CHECK(is_v4(ev.post_dst, kV4Server));
    LONGS_EQUAL(40000, ev.src_port);
    LONGS_EQUAL(80, ev.dst_port);
    LONGS_EQUAL(61000, ev.post_src_port);
    LONGS_EQUAL(80, ev.post_dst_port);
    LONGS_EQUAL(6, ev.proto);
    CHECK(ev.is_v4());
    e.event = CtEvent::create;
    CHECK(ct_to_nat_event(e, off, 9999999, ev));
    LONGS_EQUAL(1, ev.event);          // NAT44 session create
    UNSIGNED_LONGS_EQUAL(1000000, ev.time_ms);  // CTA_TIMESTAMP_START
    e.has_tstamp_start = 0;
    CHECK(ct_to_nat_event(e, off, 9999999, ev));
    UNSIGNED_LONGS_EQUAL(9999999, ev.time_ms);  // no stamp: now
    e.event = CtEvent::update;         // updates and dump entries are not NAT events
    CHECK_FALSE(ct_to_nat_event(e, off, 9999999, ev));
    e.event = CtEvent::create;
    e.status = 0x0e;                   // not NATed
    CHECK_FALSE(ct_to_nat_event(e, off, 9999999, ev));
}

TEST(ConntrackDecode, RecoveredNatCreateFromDestroyOrDump)
{
    // A DESTROY whose NEW was lost: the create is rebuilt from it, timed by its start stamp.
    size_t n = build_tcp_destroy(m);
    CHECK(ct_decode(m.buf, n, e, &kind, &used, &err, &why) == Status::ok);
    const int64_t off = 1699999000000;
    const uint64_t start_ns = e.tstamp_start_ns;
    NatEvent ev;
    CHECK(ct_recovered_nat_create(e, start_ns, off, 9999999, ev));
    LONGS_EQUAL(1, ev.event);                   // create, although the message is a DESTROY
    UNSIGNED_LONGS_EQUAL(1000000, ev.time_ms);  // CTA_TIMESTAMP_START, not the stop
    CHECK(is_v4(ev.src, kV4Client));
    CHECK(is_v4(ev.post_src, kV4Router));
    LONGS_EQUAL(40000, ev.src_port);
    LONGS_EQUAL(61000, ev.post_src_port);
    LONGS_EQUAL(80, ev.post_dst_port);
    e.event = CtEvent::update;                  // a dump reply: the same
    CHECK(ct_recovered_nat_create(e, start_ns, off, 9999999, ev));
    LONGS_EQUAL(1, ev.event);
    // Started before the listener (1 ns later): not ours to report.
    CHECK_FALSE(ct_recovered_nat_create(e, start_ns + 1, off, 9999999, ev));
    e.has_tstamp_start = 0;                     // no start stamp: unknown, nothing rebuilt
    CHECK_FALSE(ct_recovered_nat_create(e, 0, off, 9999999, ev));
    e.has_tstamp_start = 1;
    e.status = 0x0e;                            // not NATed
    CHECK_FALSE(ct_recovered_nat_create(e, 0, off, 9999999, ev));
}

TEST(ConntrackDecode, IcmpNatEventCarriesEchoIdentifiers)
{
    size_t n = build_icmp_nat_new(m);
    CHECK(ct_decode(m.buf, n, e, &kind, &used, &err, &why) == Status::ok);
    NatEvent ev;
    CHECK(ct_to_nat_event(e, 0, 5000, ev));
    LONGS_EQUAL(1, ev.event);
    UNSIGNED_LONGS_EQUAL(5000, ev.time_ms);
    LONGS_EQUAL(1234, ev.src_port);       // identifier before translation
    LONGS_EQUAL(4096, ev.post_src_port);  // after
    LONGS_EQUAL(0x0800, ev.dst_port);     // echo request type << 8 | code
    LONGS_EQUAL(0x0800, ev.post_dst_port);
    CHECK(is_v4(ev.post_src, kV4Router));
    CHECK(is_v4(ev.post_dst, kV4Server));
}

TEST(ConntrackDecode, BiflowRecordCarriesBothDirections)
{
    size_t n = build_tcp_destroy(m);
    CHECK(ct_decode(m.buf, n, e, &kind, &used, &err, &why) == Status::ok);
    CtRecordOptions o;
    o.wall_offset_ms = 1699999000000;
    FlowRecord bi;
    CHECK(ct_to_biflow(e, o, nullptr, EndReason::end_of_flow, bi));
    CHECK(is_v4(bi.key.src, kV4Client));
    CHECK(is_v4(bi.key.dst, kV4Server));
    CHECK(is_v4(bi.post_src, kV4Router));
    UNSIGNED_LONGS_EQUAL(kRecHasNat | kRecBiflow, bi.flags);
    UNSIGNED_LONGS_EQUAL(5, bi.packets);
    UNSIGNED_LONGS_EQUAL(300, bi.octets);
    UNSIGNED_LONGS_EQUAL(4, bi.rev_packets);
    CHECK(bi.rev_octets == 5000000000ull);
    UNSIGNED_LONGS_EQUAL(1000000, bi.first_ms);
    UNSIGNED_LONGS_EQUAL(1002500, bi.last_ms);
    // Only the reply direction moved since the last export: the key stays the original's.
    CtExported prev;
    prev.orig_packets = 5;
    prev.orig_octets = 300;
    CHECK(ct_to_biflow(e, o, &prev, EndReason::active_timeout, bi));
    CHECK(is_v4(bi.key.src, kV4Client));
    LONGS_EQUAL(40000, bi.key.src_port);
    LONGS_EQUAL(61000, bi.post_src_port);
    UNSIGNED_LONGS_EQUAL(0, bi.packets);
    UNSIGNED_LONGS_EQUAL(4, bi.rev_packets);
}

TEST(ConntrackDecode, BiflowSplitIsExactlyThePerDirectionRecords)
{
    CtRecordOptions o;
    o.wall_offset_ms = 1699999000000;
    o.now_ms = 1234567;
    size_t n = build_tcp_destroy(m);
    CHECK(ct_decode(m.buf, n, e, &kind, &used, &err, &why) == Status::ok);
    check_split_equals_records(e, o, nullptr);          // both directions, NATed TCP
    CtExported prev;
    prev.reply_packets = 4;
    prev.reply_octets = 5000000000ull;
    check_split_equals_records(e, o, &prev);            // original direction only
    prev = CtExported{5, 300, 1, 1};
    check_split_equals_records(e, o, &prev);            // reply direction only
    prev = CtExported{5, 300, 4, 5000000000ull};
    check_split_equals_records(e, o, &prev);            // nothing new: no record
    o.both_directions = false;
    check_split_equals_records(e, o, nullptr);
    o.both_directions = true;
    e.status = 0x0e;                                    // the same entry without NAT bits
    e.reply = e.orig;                                   // ... and the inverse reply tuple
    std::memcpy(e.reply.src, e.orig.dst, 16);
    std::memcpy(e.reply.dst, e.orig.src, 16);
    e.reply.src_port = e.orig.dst_port;
    e.reply.dst_port = e.orig.src_port;
    check_split_equals_records(e, o, nullptr);
    n = build_icmp_nat_new(m);                          // ICMP: echo request vs reply type
    CHECK(ct_decode(m.buf, n, e, &kind, &used, &err, &why) == Status::ok);
    check_split_equals_records(e, o, nullptr);
    FlowRecord bi, split[2];
    CHECK(ct_to_biflow(e, o, nullptr, EndReason::idle_timeout, bi));
    LONGS_EQUAL(0x0000, bi.rev_icmp);
    UNSIGNED_LONGS_EQUAL(2, biflow_split(bi, split));
    LONGS_EQUAL(0x0000, split[1].key.dst_port);         // echo reply
    CHECK(is_v4(split[1].key.dst, kV4Router));
    // Type 0 is also the default: a timestamp request (13) / reply (14) shows the reply's type
    // really travels through the biflow record.
    e.orig.dst_port = 0x0d00;
    e.reply.dst_port = 0x0e00;
    CHECK(ct_to_biflow(e, o, nullptr, EndReason::idle_timeout, bi));
    LONGS_EQUAL(0x0e00, bi.rev_icmp);
    LONGS_EQUAL(0x0d00, bi.key.dst_port);
    UNSIGNED_LONGS_EQUAL(2, biflow_split(bi, split));
    LONGS_EQUAL(0x0d00, split[0].key.dst_port);
    LONGS_EQUAL(0x0e00, split[1].key.dst_port);
    check_split_equals_records(e, o, nullptr);
}

TEST(ConntrackDecode, BiflowCarriesMarkAndZoneIntoBothSplitRecords)
{
    size_t n = build_tcp_destroy(m);  // CTA_MARK 7, CTA_ZONE 3
    CHECK(ct_decode(m.buf, n, e, &kind, &used, &err, &why) == Status::ok);
    CtRecordOptions o;
    o.with_mark = o.with_zone = true;
    FlowRecord bi, split[2];
    CHECK(ct_to_biflow(e, o, nullptr, EndReason::end_of_flow, bi));
    UNSIGNED_LONGS_EQUAL(kRecHasNat | kRecHasMark | kRecHasZone | kRecBiflow, bi.flags);
    UNSIGNED_LONGS_EQUAL(7, bi.ct_mark);
    UNSIGNED_LONGS_EQUAL(3, bi.ct_zone);
    UNSIGNED_LONGS_EQUAL(2, biflow_split(bi, split));
    for (const FlowRecord& x : split) {
        UNSIGNED_LONGS_EQUAL(kRecHasNat | kRecHasMark | kRecHasZone, x.flags);
        UNSIGNED_LONGS_EQUAL(7, x.ct_mark);
        UNSIGNED_LONGS_EQUAL(3, x.ct_zone);
    }
    // Only the reply direction moved: the biflow record is built from the reply record, and
    // still carries both.
    CtExported prev;
    prev.orig_packets = 5;
    prev.orig_octets = 300;
    CHECK(ct_to_biflow(e, o, &prev, EndReason::active_timeout, bi));
    UNSIGNED_LONGS_EQUAL(kRecHasNat | kRecHasMark | kRecHasZone | kRecBiflow, bi.flags);
    UNSIGNED_LONGS_EQUAL(7, bi.ct_mark);
    UNSIGNED_LONGS_EQUAL(3, bi.ct_zone);
    check_split_equals_records(e, o, &prev);
    check_split_equals_records(e, o, nullptr);
    o.with_zone = false;  // mark only
    check_split_equals_records(e, o, nullptr);
    CHECK(ct_to_biflow(e, o, nullptr, EndReason::end_of_flow, bi));
    UNSIGNED_LONGS_EQUAL(kRecHasNat | kRecHasMark | kRecBiflow, bi.flags);
    UNSIGNED_LONGS_EQUAL(0, bi.ct_zone);
}

TEST(ConntrackDecode, MessageLengthBeyondTwoGigabytesIsNotAWholeMessage)
{
    // Found by the fuzz target: libmnl's mnl_nlmsg_ok() compares the length as an int, so
    // 0x89898989 passed and the walk jumped outside the buffer.
    uint32_t b[4];
    std::memset(b, 0x89, sizeof b);
    CHECK(!ct_msg_ok(reinterpret_cast<const nlmsghdr*>(b), int(sizeof b)));
    const uint32_t l = 16;
    std::memcpy(b, &l, 4);
    CHECK(ct_msg_ok(reinterpret_cast<const nlmsghdr*>(b), int(sizeof b)));
}

TEST(ConntrackDecode, AttributesTheParserDoesNotKnowNeverEndTheProcess)
{
    // Found by the fuzz target: libnetfilter_conntrack 1.0.9 exit()s ("ctnetlink kernel ABI is
    // broken") on a CTA_SYNPROXY child of the wrong size. Attributes outside the parser's table
    // are removed before the library sees the message; everything else parses as before.
    build_tcp_destroy(m);
    m.begin(24);  // CTA_SYNPROXY
    const uint8_t bad[7] = {1, 2, 3, 4, 5, 6, 7};
    m.attr(1, bad, sizeof bad);  // CTA_SYNPROXY_ISN is a u32
    m.end();
    const uint8_t labels[16] = {0xff};
    m.attr(22, labels, sizeof labels);  // CTA_LABELS: the library would allocate for it
    m.begin(9);  // CTA_COUNTERS_ORIG again, with a child type no kernel has sent yet
    m.attr(9, bad, sizeof bad);
    m.end();
    m.attr(200, bad, 3);  // a top-level type beyond every CTA_MAX
    const size_t n = m.finish();
    CHECK(ct_decode(m.buf, n, e, &kind, &used, &err, &why) == Status::ok);
    CHECK(kind == CtMsgKind::entry);
    CHECK(is_v4(e.orig.src, kV4Client));
    UNSIGNED_LONGS_EQUAL(61000, e.reply.dst_port);
    UNSIGNED_LONGS_EQUAL(4, e.reply_ctr.packets);
    UNSIGNED_LONGS_EQUAL(0x12345678u, e.id);
    UNSIGNED_LONGS_EQUAL(7, e.tcp_state);

    // A known attribute of the wrong size inside a nest that also holds unknown ones: refused,
    // not stripped.
    build_tcp_destroy(m);
    m.begin(4);  // CTA_PROTOINFO
    m.begin(1);  // CTA_PROTOINFO_TCP
    m.attr(1, bad, 2);  // CTA_PROTOINFO_TCP_STATE is a u8
    m.attr(30, bad, 1);
    m.end();
    m.end();
    const size_t n2 = m.finish();
    CHECK(ct_decode(m.buf, n2, e, &kind, &used, &err, &why) == Status::bad_input);
    STRCMP_EQUAL("ctnetlink: attribute of the wrong size or type", why);
}
