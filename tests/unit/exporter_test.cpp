// SPDX-License-Identifier: GPL-2.0-only
// Exporter proof: golden datagrams written by hand from RFC 7011 §3 / RFC 3954 §5, decoded back
// by an independent parser below (which knows nothing of agent/export/ie.h), sequence numbers,
// refresh, packing, options content and collector-error template resend.
#include "export/exporter.h"

#include <cstring>
#include <initializer_list>
#include <map>
#include <vector>

#include <CppUTest/TestHarness.h>

#include "sample_nat.h"

using namespace fa;

namespace {

struct CaptureSink : DatagramSink {
    std::vector<std::vector<uint8_t>> dgrams;
    std::vector<SendResult> script;  // result per datagram index; ok beyond
    SendResult send(const uint8_t* data, size_t len) override
    {
        dgrams.emplace_back(data, data + len);
        size_t i = dgrams.size() - 1;
        return i < script.size() ? script[i] : SendResult::ok;
    }
};

struct FakeOptions : OptionsProvider {
    SamplingInfo s;
    InterfaceInfo ifs[2];
    DropCounters d;
    FakeOptions()
    {
        s.rate = 100;
        s.mode = SamplingMode::deterministic;
        ifs[0].ifindex = 2;
        std::strcpy(ifs[0].name, "eth0");
        std::strcpy(ifs[0].descr, "wan");
        ifs[1].ifindex = 3;
        std::strcpy(ifs[1].name, "br-lan");
        std::strcpy(ifs[1].descr, "lan");
        d.table_full_packets = 7;
        d.source_packets = 3;
        d.table_full_octets = 700;
        d.source_octets = 300;
    }
    SamplingInfo sampling() const override { return s; }
    Span<const InterfaceInfo> interfaces() const override
    {
        return Span<const InterfaceInfo>(ifs, 2);
    }
    DropCounters drops() const override { return d; }
};

// Independent decoder: learns templates, splits data sets into records (variable-length
// fields, RFC 7011 §7, and v9 FlowSet padding, RFC 3954 §5.3, included).
using FieldList = std::vector<std::pair<uint16_t, uint16_t>>;  // (IE, length; 65535 = var)
struct Rec {
    uint16_t tid = 0;
    const uint8_t* p = nullptr;  // record start inside a captured datagram
    const FieldList* t = nullptr;
    std::vector<std::pair<size_t, size_t>> at;  // per field: offset in the record, length
    size_t size = 0;                            // bytes of the record
    // Bytes of field `ie` (nullptr when absent); *len gets its length.
    const uint8_t* field(uint16_t ie, size_t* len = nullptr) const
    {
        for (size_t i = 0; i < t->size(); ++i) {
            if ((*t)[i].first == ie) {
                if (len) *len = at[i].second;
                return p + at[i].first;
            }
        }
        return nullptr;
    }
    uint64_t num(uint16_t ie) const
    {
        size_t n = 0;
        const uint8_t* b = field(ie, &n);
        if (!b) return ~0ull;
        uint64_t v = 0;
        for (size_t i = 0; i < n; ++i) v = v << 8 | b[i];
        return v;
    }
    double float64(uint16_t ie) const
    {
        uint64_t bits = num(ie);
        double d;
        std::memcpy(&d, &bits, sizeof d);
        return d;
    }
};
struct Msg {
    unsigned version = 0, count_or_len = 0;
    uint32_t seq = 0, time = 0, domain = 0, uptime = 0;
    unsigned tmpl_records = 0;
    std::vector<Rec> recs;
    uint16_t last_set = 0, first_data_tid = 0;
    size_t last_set_len = 0, last_pad = 0;  // the last set: length without its padding, pad
    bool bad = false;
};
struct Decoder {
    std::map<uint16_t, FieldList> tmpl;
    static unsigned be16(const uint8_t* p) { return unsigned(p[0]) << 8 | p[1]; }
    static uint32_t be32(const uint8_t* p) { return uint32_t(be16(p)) << 16 | be16(p + 2); }
    // One record of template `t` at d[p..end): its field offsets, or false when it does not fit.
    static bool split(const std::vector<uint8_t>& d, size_t p, size_t end, const FieldList& t,
                      Rec& r, size_t& len)
    {
        size_t off = 0;
        r.at.clear();
        for (auto& fl : t) {
            size_t n = fl.second, hdr = 0;
            if (n == 65535) {
                if (p + off >= end) return false;
                n = d[p + off];
                hdr = 1;
                if (n == 255) {
                    if (p + off + 3 > end) return false;
                    n = be16(&d[p + off + 1]);
                    hdr = 3;
                }
            }
            if (p + off + hdr + n > end) return false;
            r.at.emplace_back(off + hdr, n);
            off += hdr + n;
        }
        len = off;
        return off > 0;
    }
    Msg parse(const std::vector<uint8_t>& d)
    {
        Msg m;
        m.version = be16(&d[0]);
        m.count_or_len = be16(&d[2]);
        size_t off;
        if (m.version == 10) {
            m.time = be32(&d[4]);
            m.seq = be32(&d[8]);
            m.domain = be32(&d[12]);
            off = 16;
        } else {
            m.uptime = be32(&d[4]);
            m.time = be32(&d[8]);
            m.seq = be32(&d[12]);
            m.domain = be32(&d[16]);
            off = 20;
        }
        while (off + 4 <= d.size()) {
            unsigned sid = be16(&d[off]), slen = be16(&d[off + 2]);
            if (slen < 4 || off + slen > d.size()) { m.bad = true; return m; }
            // v9: every FlowSet a multiple of 4 bytes (we always pad).
            if (m.version == 9 && slen % 4 != 0) { m.bad = true; return m; }
            size_t p = off + 4, end = off + slen;
            m.last_set = uint16_t(sid);
            if (sid == 0 || sid == 2 || sid == 1 || sid == 3) {
                while (end - p >= 4 && (m.version == 10 || be16(&d[p]) != 0)) {
                    unsigned tid = be16(&d[p]), n;
                    if (sid == 1) {  // v9 options: scope bytes, option bytes
                        n = (be16(&d[p + 2]) + be16(&d[p + 4])) / 4;
                        p += 6;
                    } else if (sid == 3) {
                        n = be16(&d[p + 2]);
                        p += 6;
                    } else {
                        n = be16(&d[p + 2]);
                        p += 4;
                    }
                    auto& v = tmpl[uint16_t(tid)];
                    v.clear();
                    for (unsigned i = 0; i < n; ++i, p += 4) {
                        v.emplace_back(uint16_t(be16(&d[p])), uint16_t(be16(&d[p + 2])));
                        // IPFIX enterprise bit (RFC 7011 §3.2): the enterprise number follows;
                        // the field keeps the bit in its ID (0x8002 = reverse PEN element 2).
                        if (m.version == 10 && (v.back().first & 0x8000)) p += 4;
                    }
                    ++m.tmpl_records;
                }
            } else {
                auto it = tmpl.find(uint16_t(sid));
                if (it == tmpl.end()) { m.bad = true; return m; }
                Rec r;
                size_t rl = 0;
                while (p < end && split(d, p, end, it->second, r, rl)) {
                    r.tid = uint16_t(sid);
                    r.p = &d[p];
                    r.t = &it->second;
                    r.size = rl;
                    p += rl;
                    if (!m.first_data_tid && sid >= 1024) m.first_data_tid = uint16_t(sid);
                    m.recs.push_back(r);
                }
            }
            // What is left: IPFIX never pads; v9 pads with fewer than 4 zero bytes.
            m.last_pad = end - p;
            m.last_set_len = slen - m.last_pad;
            if (m.version == 10 && p != end) m.bad = true;
            for (; p < end; ++p)
                if (m.last_pad >= 4 || d[p] != 0) m.bad = true;
            off = end;
        }
        if (off != d.size()) m.bad = true;
        return m;
    }
};

ExportTime at(MonoMs mono)
{
    ExportTime t;
    t.mono_ms = mono;
    t.wall_offset_ms = 1700000000000LL;
    t.boot_offset_ms = 2500;  // the device slept 2.5 s: v9 uptime = mono + 2500
    return t;
}

FlowRecord v4_rec()
{
    FlowRecord r{};
    std::memset(&r.key, 0, sizeof r.key);
    r.key.set_v4(r.key.src, 0x0a000001);  // 10.0.0.1
    r.key.set_v4(r.key.dst, 0xc0a80102);  // 192.168.1.2
    r.key.src_port = 12345;
    r.key.dst_port = 443;
    r.key.proto = 6;
    r.key.tos = 0x10;
    r.key.in_if = 3;
    r.key.out_if = 5;
    r.key.vlan = 100;
    r.key.dir = 0;
    r.tcp_flags = 0x1b;
    r.packets = 10;
    r.octets = 1500;
    r.first_ms = 5000;
    r.last_ms = 9000;
    r.end_reason = EndReason::idle_timeout;
    return r;
}

FlowRecord v6_icmp_rec()
{
    FlowRecord r{};
    std::memset(&r.key, 0, sizeof r.key);
    const uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    std::memcpy(r.key.src, a, 16);
    std::memcpy(r.key.dst, a, 16);
    r.key.dst[15] = 2;
    r.key.src_port = 0;
    r.key.dst_port = 0x8000;  // echo request: type 128, code 0
    r.key.proto = 58;
    r.key.in_if = 2;
    r.key.out_if = 3;
    r.key.dir = 1;
    r.packets = 1;
    r.octets = 104;
    r.first_ms = 6000;
    r.last_ms = 6000;
    r.end_reason = EndReason::end_of_flow;
    return r;
}

std::vector<uint8_t> hex(const char* s)
{
    std::vector<uint8_t> out;
    int hi = -1;
    for (; *s; ++s) {
        int v;
        if (*s >= '0' && *s <= '9') v = *s - '0';
        else if (*s >= 'a' && *s <= 'f') v = *s - 'a' + 10;
        else continue;
        if (hi < 0) hi = v;
        else { out.push_back(uint8_t(hi << 4 | v)); hi = -1; }
    }
    return out;
}

void check_bytes(const std::vector<uint8_t>& want, const std::vector<uint8_t>& got)
{
    LONGS_EQUAL(want.size(), got.size());
    MEMCMP_EQUAL(want.data(), got.data(), want.size());
}

ExporterConfig cfg_of(Protocol p)
{
    ExporterConfig c;
    c.protocol = p;
    c.template_refresh_s = 100000;
    c.template_refresh_datagrams = 1000;
    return c;
}

// One exporter with the fake options that is its own capture sink: each test, and each pass of
// a test's loop over protocols or variants, starts from a fresh one.
struct Harness : CaptureSink {
    FakeOptions opts;
    Exporter ex;
    // The status goes back to the test, whose own CHECK then fails at its own line.
    Status init(const ExporterConfig& c) { return ex.init(c, *this, opts); }
    Status init(Protocol p) { return init(cfg_of(p)); }
    // `recs` added at `mono`, then flushed: one datagram when they fit.
    void send(std::initializer_list<FlowRecord> recs, MonoMs mono = 10000)
    {
        for (const FlowRecord& r : recs) ex.add(r, at(mono));
        ex.flush(at(mono));
    }
    // A datagram of templates + options (send_options), then one of `recs`.
    void options_then(std::initializer_list<FlowRecord> recs, MonoMs mono = 10000)
    {
        ex.send_options(at(mono));
        send(recs, mono);
    }
    // The NAT event alone in a datagram, at 10 s like the golden records.
    void send_nat(const NatEvent& ev)
    {
        ex.add_nat(ev, at(10000));
        ex.flush(at(10000));
    }
    void options_then_nat(const NatEvent& ev)
    {
        ex.send_options(at(10000));
        send_nat(ev);
    }
};

// Configs of a conntrack-fed exporter: NAT44 session events; biflow records (which carry the
// NAT fields); conntrack mark and zone on top of either layout.
ExporterConfig nat_events_cfg(Protocol p)
{
    ExporterConfig c = cfg_of(p);
    c.nat_events = true;
    return c;
}

ExporterConfig biflow_cfg()
{
    ExporterConfig c = cfg_of(Protocol::ipfix);
    c.with_nat = true;
    c.biflow = true;
    return c;
}

ExporterConfig with_mark_zone(ExporterConfig c, bool mark, bool zone)
{
    c.with_mark = mark;
    c.with_zone = zone;
    return c;
}

// The mark/zone template tests send a v4 and a v6 record with these, different per record:
// 0xdeadbeef has the top bit set and 0xffff is the largest zone, so a cut field shows.
void set_mark_zone(FlowRecord& r4, FlowRecord& r6)
{
    r4.ct_mark = 0xdeadbeef;
    r4.ct_zone = 3;
    r6.ct_mark = 0x01020304;
    r6.ct_zone = 0xffff;
}

// Their data datagram: the v4 record, then the v6 one, each under its own template.
void check_two_records(const Msg& m, uint16_t v4_id, uint16_t v6_id)
{
    CHECK_FALSE(m.bad);
    LONGS_EQUAL(2, m.recs.size());
    LONGS_EQUAL(v4_id, m.recs[0].tid);
    LONGS_EQUAL(v6_id, m.recs[1].tid);
}

// Their mark and zone fields: set_mark_zone()'s values when configured, else absent.
void check_mark_zone(const Msg& m, bool mark, bool zone)
{
    CHECK(m.recs[0].num(137) == (mark ? 0xdeadbeefull : ~0ull));
    CHECK(m.recs[0].num(234) == (zone ? 3ull : ~0ull));
    CHECK(m.recs[1].num(137) == (mark ? 0x01020304ull : ~0ull));
    CHECK(m.recs[1].num(234) == (zone ? 0xffffull : ~0ull));
    LONGS_EQUAL(443, m.recs[0].num(11));  // the plain fields are where they were
}

} // namespace

TEST_GROUP(Exporter) {};

// Datagram 0 = templates + options (send_options); datagram 1 = our record only, by hand.
TEST(Exporter, IpfixGoldenV4AndV6)
{
    Harness h;
    CHECK(h.init(Protocol::ipfix) == Status::ok);
    h.options_then({v4_rec()});
    h.send({v6_icmp_rec()});
    LONGS_EQUAL(3, h.dgrams.size());
    // RFC 7011 §3.1 header: version 10, length 81, export time 1700000010 s, sequence 5 (the
    // 5 options data records of datagram 0), domain 1. §3.3.2 set: ID 1150, length 65. ID:
    // 1024 + layout bits tcpControlBits 2 | ToS 4 | VLAN 8 | direction 16 | in 32 | out 64.
    check_bytes(hex("000a 0051 6553f10a 00000005 00000001"
                    "047e 0041"
                    "0a000001 c0a80102 3039 01bb 06 10 1b 0000 00000003 00000005 00 0064"
                    "000000000000000a 00000000000005dc"
                    "0000018bcfe57b88 0000018bcfe58b28 01"),
                h.dgrams[1]);
    // v6 ICMP: destinationTransportPort 0, icmpTypeCodeIPv6 0x8000; sequence 6.
    check_bytes(hex("000a 0069 6553f10a 00000006 00000001"
                    "047f 0059"
                    "20010db8000000000000000000000001 20010db8000000000000000000000002"
                    "0000 0000 3a 00 00 8000 00000002 00000003 01 0000"
                    "0000000000000001 0000000000000068"
                    "0000018bcfe57f70 0000018bcfe57f70 03"),
                h.dgrams[2]);
    // Template set of datagram 0, by hand: v4 template 1150 has 17 fields.
    std::vector<uint8_t> v4t = hex("047e 0011 0008 0004 000c 0004 0007 0002 000b 0002 0004 0001"
                                   "0005 0001 0006 0001 0020 0002 000a 0004 000e 0004 003d 0001"
                                   "003a 0002 0002 0008 0001 0008 0098 0008 0099 0008 0088 0001");
    const std::vector<uint8_t>& d0 = h.dgrams[0];
    LONGS_EQUAL(2, Decoder::be16(&d0[16]));  // first set: template set
    MEMCMP_EQUAL(v4t.data(), &d0[20], v4t.size());

    Decoder dec;
    Msg m0 = dec.parse(d0);
    CHECK_FALSE(m0.bad);
    LONGS_EQUAL(7, m0.tmpl_records);
    LONGS_EQUAL(0, m0.seq);
    LONGS_EQUAL(d0.size(), m0.count_or_len);
    Msg m1 = dec.parse(h.dgrams[1]);
    CHECK_FALSE(m1.bad);
    LONGS_EQUAL(1, m1.recs.size());
    LONGS_EQUAL(0xc0a80102, m1.recs[0].num(12));
    LONGS_EQUAL(443, m1.recs[0].num(11));
    CHECK(m1.recs[0].num(152) == 1700000005000ull);
    Msg m2 = dec.parse(h.dgrams[2]);
    CHECK_FALSE(m2.bad);
    LONGS_EQUAL(0x8000, m2.recs[0].num(139));
}

TEST(Exporter, V9GoldenV4AndV6)
{
    Harness h;
    CHECK(h.init(Protocol::v9) == Status::ok);
    h.options_then({v4_rec()});
    h.send({v6_icmp_rec()});
    LONGS_EQUAL(3, h.dgrams.size());
    // RFC 3954 §5.1: version 9, count 1, sysUptime 12500 ms (mono 10000 + 2500 asleep: time
    // since boot), unix_secs, sequence 1 (one packet before), source id 1. FIRST/LAST_SWITCHED
    // 7500/11500 ms (mono 5000/9000 + 2500). FlowSet 57 bytes + 3 zero bytes of padding = 60.
    check_bytes(hex("0009 0001 000030d4 6553f10a 00000001 00000001"
                    "047e 003c"
                    "0a000001 c0a80102 3039 01bb 06 10 1b 0000 00000003 00000005 00 0064"
                    "000000000000000a 00000000000005dc"
                    "00001d4c 00002cec 01 000000"),
                h.dgrams[1]);
    // v9 ICMP: L4_DST_PORT carries type*256+code as well as ICMP_TYPE 32.
    // 81 bytes + 3 of padding = 84; FIRST = LAST = 6000 + 2500 = 8500 ms.
    check_bytes(hex("0009 0001 000030d4 6553f10a 00000002 00000001"
                    "047f 0054"
                    "20010db8000000000000000000000001 20010db8000000000000000000000002"
                    "0000 8000 3a 00 00 8000 00000002 00000003 01 0000"
                    "0000000000000001 0000000000000068"
                    "00002134 00002134 03 000000"),
                h.dgrams[2]);
    Decoder dec;
    Msg m0 = dec.parse(h.dgrams[0]);
    CHECK_FALSE(m0.bad);
    // Count = 2 data templates + 5 options templates + 2 + 2 + 1 options data records.
    LONGS_EQUAL(12, m0.count_or_len);
    LONGS_EQUAL(0, m0.seq);
    // v9 options templates for sampling, by hand (RFC 3954 §6.1), each in its own FlowSet ID 1
    // right after the 20-byte header and the 148-byte template FlowSet (4 + 2 * (4 + 17 * 4)):
    // 258 = scope System (1) len 4, SAMPLING_INTERVAL (34) len 4; 4 + 6 + 8 = 18, padded to 20.
    // 261 = scope System, FLOW_SAMPLER_ID 48/1, MODE 49/1, RANDOM_INTERVAL 50/4; 4 + 6 + 16 =
    // 26, padded to 28 (RFC 3954 §5.3).
    std::vector<uint8_t> st = hex("0001 0014 0102 0004 0004 0001 0004 0022 0004 0000"
                                  "0001 001c 0105 0004 000c 0001 0004"
                                  "0030 0001 0031 0001 0032 0004 0000");
    const auto& d0 = h.dgrams[0];
    CHECK(d0.size() >= 168 + st.size());
    MEMCMP_EQUAL(st.data(), &d0[168], st.size());
}

// IPFIX options templates (RFC 7011 §3.4.2.2), one per options template set (ID 3), after the
// 16-byte header and the 148-byte template set; then the first two options data sets.
TEST(Exporter, IpfixGoldenOptionsTemplates)
{
    Harness h;
    CHECK(h.init(Protocol::ipfix) == Status::ok);
    h.ex.send_options(at(10000));
    LONGS_EQUAL(1, h.dgrams.size());
    // 258: 2 fields, 1 scope: observationDomainId 149/4, samplingInterval 34/4; 4+6+8 = 18.
    // 261: 5 fields, 1 scope: 149/4, selectorId 302/8, selectorAlgorithm 304/1,
    //      samplingPacketInterval 305/4, samplingPacketSpace 306/4; 4+6+20 = 30.
    // 259: 3 fields, 1 scope: ingressInterface 10/4, interfaceName 82 and
    //      interfaceDescription 83 of variable length (65535, RFC 7011 §7); 4+6+12 = 22.
    // 265: the same without 83, for interfaces without a description; 4+6+8 = 18.
    // 260: 9 fields, 1 scope: 149/4, IEs 41, 42, 40, 164, 165, 166, 167, 168 of 8; 4+6+36 = 46.
    // Data set 258: domain 1, interval 100; 4+8 = 12. Data set 261: domain 1, selector 1,
    // algorithm 1 (systematic count-based), interval 1, space 99; 4+21 = 25.
    std::vector<uint8_t> want = hex(
        "0003 0012 0102 0002 0001 0095 0004 0022 0004"
        "0003 001e 0105 0005 0001 0095 0004 012e 0008 0130 0001 0131 0004 0132 0004"
        "0003 0016 0103 0003 0001 000a 0004 0052 ffff 0053 ffff"
        "0003 0012 0109 0002 0001 000a 0004 0052 ffff"
        "0003 002e 0104 0009 0001 0095 0004 0029 0008 002a 0008 0028 0008 00a4 0008"
        "00a5 0008 00a6 0008 00a7 0008 00a8 0008"
        "0102 000c 00000001 00000064"
        "0105 0019 00000001 0000000000000001 01 00000001 00000063");
    const auto& d0 = h.dgrams[0];
    CHECK(d0.size() >= 164 + want.size());
    MEMCMP_EQUAL(want.data(), &d0[164], want.size());
}

// v9 header sent 250 ms past a whole second: both times are stated for the next whole second,
// unix_secs 1700000011 and sysUptime 10250 + 750 + 2500 = 13500 ms (not 12750), so unix_secs *
// 1000 - sysUptime + FIRST_SWITCHED (7500) gives the flow's start, 1700000005000 ms, exactly.
TEST(Exporter, V9HeaderTimesShareOneInstant)
{
    Harness h;
    CHECK(h.init(Protocol::v9) == Status::ok);
    h.options_then({v4_rec()}, 10250);
    LONGS_EQUAL(2, h.dgrams.size());
    check_bytes(hex("0009 0001 000034bc 6553f10b 00000001 00000001"
                    "047e 003c"
                    "0a000001 c0a80102 3039 01bb 06 10 1b 0000 00000003 00000005 00 0064"
                    "000000000000000a 00000000000005dc"
                    "00001d4c 00002cec 01 000000"),
                h.dgrams[1]);
}

TEST(Exporter, OptionsContent)
{
    for (Protocol p : {Protocol::ipfix, Protocol::v9}) {
        Harness h;
        CHECK(h.init(p) == Status::ok);
        h.options_then({v4_rec()});
        h.ex.send_options(at(20000));
        LONGS_EQUAL(3, h.dgrams.size());
        Decoder dec;
        dec.parse(h.dgrams[0]);
        dec.parse(h.dgrams[1]);
        Msg m = dec.parse(h.dgrams[2]);
        CHECK_FALSE(m.bad);
        LONGS_EQUAL(5, m.recs.size());
        const Rec& s = m.recs[0];
        const Rec& s2 = m.recs[1];
        LONGS_EQUAL(100, s.num(34));
        // No samplingAlgorithm 35 next to 34: nfcapd 1.7.1 ignores the pair (ie.cpp).
        CHECK(s.field(35) == nullptr);
        if (p == Protocol::ipfix) {
            LONGS_EQUAL(1, s.num(149));
            LONGS_EQUAL(1, s2.num(304));  // systematic count-based
            LONGS_EQUAL(1, s2.num(305));
            LONGS_EQUAL(99, s2.num(306));
        } else {
            LONGS_EQUAL(1, s.num(1));
            LONGS_EQUAL(1, s2.num(48));
            LONGS_EQUAL(1, s2.num(49));
            LONGS_EQUAL(100, s2.num(50));
        }
        const Rec& i1 = m.recs[3];
        LONGS_EQUAL(3, i1.num(p == Protocol::ipfix ? 10 : 2));
        size_t n82 = 0, n83 = 0;
        const uint8_t* f82 = i1.field(82, &n82);
        const uint8_t* f83 = i1.field(83, &n83);
        CHECK(f82 && f83);
        // IPFIX: the strings alone (variable length); v9: fixed 16 / 32, NUL-padded.
        const bool var = p == Protocol::ipfix;
        LONGS_EQUAL(var ? 6 : 16, n82);
        LONGS_EQUAL(var ? 3 : 32, n83);
        const uint8_t want82[16] = {'b', 'r', '-', 'l', 'a', 'n'};
        const uint8_t want83[32] = {'l', 'a', 'n'};
        MEMCMP_EQUAL(want82, f82, n82);
        MEMCMP_EQUAL(want83, f83, n83);
        const Rec& st = m.recs[4];
        LONGS_EQUAL(2, st.num(41));
        LONGS_EQUAL(1, st.num(42));
        LONGS_EQUAL(h.dgrams[0].size() + h.dgrams[1].size(), st.num(40));
        LONGS_EQUAL(10, st.num(164));
        LONGS_EQUAL(1000, st.num(165));
        LONGS_EQUAL(0, st.num(166));
    }
}

// 10,000 mixed records: headers against an independent running count, packing, maximality.
TEST(Exporter, SequenceCountAndPackingOverLongRuns)
{
    for (Protocol p : {Protocol::ipfix, Protocol::v9}) {
        for (uint16_t maxd : {uint16_t(512), uint16_t(577), uint16_t(1400), uint16_t(1499)}) {
            Harness h;
            ExporterConfig c = cfg_of(p);
            c.max_datagram = maxd;
            c.template_refresh_datagrams = 7;
            CHECK(h.init(c) == Status::ok);
            for (int i = 0; i < 10000; ++i) {
                FlowRecord r = (i % 3 == 2) ? v6_icmp_rec() : v4_rec();
                r.packets = uint64_t(i);  // identity of the record
                h.ex.add(r, at(10000 + uint64_t(i)));
            }
            h.ex.flush(at(30000));
            Decoder dec;
            uint32_t data_before = 0;
            std::vector<int> seen(10000, 0);
            std::vector<Msg> msgs;
            for (size_t k = 0; k < h.dgrams.size(); ++k) {
                const auto& d = h.dgrams[k];
                CHECK(d.size() <= maxd);
                Msg m = dec.parse(d);
                CHECK_FALSE(m.bad);
                if (p == Protocol::v9) {
                    LONGS_EQUAL(k, m.seq);
                    LONGS_EQUAL(m.recs.size() + m.tmpl_records, m.count_or_len);
                } else {
                    LONGS_EQUAL(data_before, m.seq);
                    LONGS_EQUAL(d.size(), m.count_or_len);
                }
                data_before += uint32_t(m.recs.size());
                // Templates exactly in datagrams 0, 7, 14, ...
                CHECK_EQUAL(k % 7 == 0, m.tmpl_records == 7);
                for (const Rec& r : m.recs)
                    if (r.tid >= 1024) seen[size_t(r.num(2))]++;
                msgs.push_back(m);
            }
            for (int v : seen) LONGS_EQUAL(1, v);
            // Maximal: the record that opened the next datagram would not have fitted. That is
            // the next datagram's first record, or, when it starts with templates (and their
            // options data), its first flow record. IPFIX interface records are variable-length:
            // the exporter reserves their longest encoding, so they are left out of this check.
            for (size_t k = 0; k + 1 < msgs.size(); ++k) {
                const Msg& nm = msgs[k + 1];
                const Rec* nr = nullptr;
                for (const Rec& r : nm.recs) {
                    if (nm.tmpl_records == 0 || r.tid >= 1024) {
                        nr = &r;
                        break;
                    }
                }
                if (!nr || (p == Protocol::ipfix && (nr->tid == 259 || nr->tid == 265))) continue;
                const size_t rl = nr->size;
                if (nr->tid >= 1024) LONGS_EQUAL(nr->tid == 1150 ? (p == Protocol::ipfix ? 61 : 53)
                                                                 : (p == Protocol::ipfix ? 85 : 77),
                                                 rl);
                // The set it would have joined (or opened), and in v9 its padding then.
                const bool same = msgs[k].last_set == nr->tid;
                size_t set_len = (same ? msgs[k].last_set_len : 4) + rl;
                size_t pad = p == Protocol::v9 ? (4 - set_len % 4) % 4 : 0;
                size_t unpadded = h.dgrams[k].size() - msgs[k].last_pad;
                CHECK(unpadded + rl + (same ? 0 : 4) + pad > maxd);
            }
        }
    }
}

TEST(Exporter, RefreshByTime)
{
    Harness h;
    ExporterConfig c = cfg_of(Protocol::ipfix);
    c.template_refresh_s = 10;
    CHECK(h.init(c) == Status::ok);
    for (int k = 0; k < 35; ++k) h.send({v4_rec()}, 10000 + uint64_t(k) * 1000);
    Decoder dec;
    for (size_t k = 0; k < h.dgrams.size(); ++k) {
        Msg m = dec.parse(h.dgrams[k]);
        CHECK_EQUAL(k % 10 == 0, m.tmpl_records == 7);
    }
    // tick alone sends a template datagram when due, and nothing when not.
    size_t n = h.dgrams.size();
    h.ex.tick(at(10000 + 35 * 1000));
    LONGS_EQUAL(n, h.dgrams.size());
    h.ex.tick(at(10000 + 40 * 1000));
    LONGS_EQUAL(n + 1, h.dgrams.size());
    LONGS_EQUAL(7, dec.parse(h.dgrams.back()).tmpl_records);
}

TEST(Exporter, CollectorErrorResendsTemplatesAndCountsNotSent)
{
    Harness h;
    CHECK(h.init(Protocol::v9) == Status::ok);
    // datagrams: 0 ok, 1 ok, 2 refused, 3 error, 4 ok, 5 ok, 6 ok, 7 again
    h.script = {SendResult::ok, SendResult::ok, SendResult::refused, SendResult::error,
                SendResult::ok, SendResult::ok, SendResult::ok, SendResult::again};
    for (int k = 0; k < 9; ++k) h.send({v4_rec()});
    Decoder dec;
    const bool want[9] = {true, false, false, true, true, true, false, false, false};
    for (size_t k = 0; k < 9; ++k) {
        Msg m = dec.parse(h.dgrams[k]);
        LONGS_EQUAL(k, m.seq);
        CHECK_EQUAL(want[k], m.tmpl_records == 7);
    }
    const ExporterCounters& c = h.ex.counters();
    LONGS_EQUAL(3, c.not_sent_messages);
    LONGS_EQUAL(3, c.not_sent_flows);
    LONGS_EQUAL(30, c.not_sent_packets);
    LONGS_EQUAL(4500, c.not_sent_octets);
    LONGS_EQUAL(1, c.send_refused);
    LONGS_EQUAL(1, c.send_error);
    LONGS_EQUAL(1, c.send_again);
    LONGS_EQUAL(6, c.messages);
    LONGS_EQUAL(6, c.records);
}

// Outcomes learned after send() returned: a queued datagram is counted only when its fate is
// reported; a datagram counted as sent and then quoted by an ICMP error is counted as not sent
// too (the sent totals do not step down); the
// next datagram opened after that refusal carries the templates again.
TEST(Exporter, LateOutcomesMoveCountsAndResendTemplates)
{
    Harness h;
    CHECK(h.init(Protocol::v9) == Status::ok);
    h.script = {SendResult::ok, SendResult::ok, SendResult::queued};
    h.send({v4_rec()});                   // 0: ok (templates)
    h.send({v4_rec(), v4_rec()});         // 1: ok, no templates
    h.send({v4_rec()});                   // 2: queued: counted nowhere yet
    const ExporterCounters& c = h.ex.counters();
    LONGS_EQUAL(2, c.messages);
    LONGS_EQUAL(3, c.records);
    LONGS_EQUAL(0, c.not_sent_messages);
    DatagramMeta m1;
    m1.flows = 2;
    m1.packets = 20;
    m1.octets = 3000;
    m1.bytes = uint32_t(h.dgrams[1].size());
    const uint64_t octets_before = c.octets;
    h.ex.on_send_outcome(m1, SendResult::refused, true);  // datagram 1 drew an ICMP error
    LONGS_EQUAL(2, c.messages);  // sent totals never step down (RFC 7012 totalCounter)
    LONGS_EQUAL(3, c.records);
    CHECK(c.octets == octets_before);
    LONGS_EQUAL(1, c.not_sent_messages);
    LONGS_EQUAL(2, c.not_sent_flows);
    LONGS_EQUAL(20, c.not_sent_packets);
    LONGS_EQUAL(3000, c.not_sent_octets);
    LONGS_EQUAL(1, c.send_refused);
    DatagramMeta m2;
    m2.flows = 1;
    m2.bytes = uint32_t(h.dgrams[2].size());
    h.ex.on_send_outcome(m2, SendResult::ok, false);  // the queued one left
    LONGS_EQUAL(3, c.messages);
    LONGS_EQUAL(4, c.records);
    h.send({v4_rec()});                   // 3: after the refusal: templates again
    Decoder dec;
    // Every template of the first datagram again (how many depends on the source's layouts).
    const size_t first_tmpl = dec.parse(h.dgrams[0]).tmpl_records;
    CHECK(first_tmpl >= 4);  // at least data v4 and v6 and the options templates
    LONGS_EQUAL(0, dec.parse(h.dgrams[1]).tmpl_records);
    LONGS_EQUAL(first_tmpl, dec.parse(h.dgrams[3]).tmpl_records);
    LONGS_EQUAL(3, dec.parse(h.dgrams[3]).seq);  // the queued one took its sequence number
}

// A new transport session (the export socket reopened on a new source address): the sink asks
// for a template-only message to go before the next numbered datagram. A collector that starts
// with that message decodes the datagram (one that starts without it cannot); the numbering of
// the datagrams already made stays: IPFIX takes next's sequence (template records are not
// counted), v9 the one before next's (each packet is counted). The exporter's next datagram
// carries templates again; a `next` that starts with them gets no message.
static void check_templates_before(Protocol p)
{
    Harness h;
    CHECK(h.init(p) == Status::ok);
    h.send({v4_rec()});                 // 0: templates + options + data
    h.send({v4_rec(), v6_icmp_rec()});       // 1: data only
    h.send({v6_icmp_rec()});                 // 2: data only: the `next` of the new session
    LONGS_EQUAL(3, h.dgrams.size());
    const std::vector<uint8_t> next = h.dgrams[2];
    Decoder old_session;
    for (const auto& d : h.dgrams) CHECK_FALSE(old_session.parse(d).bad);
    Decoder cold;  // a collector that sees `next` first cannot decode it
    CHECK(cold.parse(next).bad);

    uint8_t small[64];
    LONGS_EQUAL(0, h.ex.templates_before(next.data(), next.size(), small, sizeof small));
    LONGS_EQUAL(0, h.ex.templates_before(h.dgrams[0].data(), h.dgrams[0].size(),
                                         small, sizeof small));  // carries them itself
    std::vector<uint8_t> out(1400);
    const size_t n = h.ex.templates_before(next.data(), next.size(), out.data(), out.size());
    CHECK(n > 0);
    out.resize(n);
    Decoder fresh;
    const Msg t = fresh.parse(out);
    CHECK_FALSE(t.bad);
    LONGS_EQUAL(old_session.parse(h.dgrams[0]).tmpl_records, t.tmpl_records);
    LONGS_EQUAL(0, t.recs.size());
    const Msg d = fresh.parse(next);
    CHECK_FALSE(d.bad);
    LONGS_EQUAL(1, d.recs.size());
    LONGS_EQUAL(d.domain, t.domain);
    LONGS_EQUAL(d.time, t.time);
    if (p == Protocol::ipfix) {
        LONGS_EQUAL(n, t.count_or_len);
        LONGS_EQUAL(d.seq, t.seq);
    } else {
        LONGS_EQUAL(t.tmpl_records, t.count_or_len);
        LONGS_EQUAL(d.seq - 1u, t.seq);
        LONGS_EQUAL(d.uptime, t.uptime);
    }
    // The exporter's own next datagram carries templates and options again, then not.
    h.send({v4_rec()});
    h.send({v4_rec()});
    LONGS_EQUAL(t.tmpl_records, fresh.parse(h.dgrams[3]).tmpl_records);
    LONGS_EQUAL(0, fresh.parse(h.dgrams[4]).tmpl_records);
    const Msg m2 = fresh.parse(h.dgrams[2]);
    const Msg m3 = fresh.parse(h.dgrams[3]);
    if (p == Protocol::ipfix) CHECK(m3.seq > m2.seq);
    else LONGS_EQUAL(m2.seq + 1u, m3.seq);
}

TEST(Exporter, TemplatesBeforeNewSessionIpfix) { check_templates_before(Protocol::ipfix); }
TEST(Exporter, TemplatesBeforeNewSessionV9) { check_templates_before(Protocol::v9); }

TEST(Exporter, RejectsDatagramTooSmallForTemplates)
{
    Harness h;
    ExporterConfig c = cfg_of(Protocol::ipfix);
    c.max_datagram = 100;
    CHECK(h.init(c) == Status::bad_input);
    h.ex.add(v4_rec(), at(1));  // must not crash
    LONGS_EQUAL(0, h.dgrams.size());
}

// Conntrack mark/zone: appended last (137 commonPropertiesId, 234 ingressVRFID, 4 bytes each),
// each combination under its own template ID. The NATed v4 record takes the layout with the
// post-NAT fields (1024 + 126 + NAT 256 = 1406, + mark 512, + zone 1024), the untranslated v6
// one the layout without them (1024 + 126 + v6 1 = 1151, + 512, + 1024).
TEST(Exporter, ConntrackMarkAndZoneTemplatesHaveTheirOwnIds)
{
    struct Case {
        bool mark, zone;
        uint16_t v4_id, v6_id;
    } cases[] = {{false, false, 1406, 1151}, {true, false, 1918, 1663},
                 {false, true, 2430, 2175}, {true, true, 2942, 2687}};
    for (Protocol p : {Protocol::ipfix, Protocol::v9}) {
        for (const Case& c : cases) {
            Harness h;
            ExporterConfig ec = cfg_of(p);
            ec.with_nat = true;
            CHECK(h.init(with_mark_zone(ec, c.mark, c.zone)) == Status::ok);
            FlowRecord r4 = v4_rec(), r6 = v6_icmp_rec();
            set_mark_zone(r4, r6);
            r4.flags = kRecHasNat | kRecHasMark | kRecHasZone;
            h.options_then({r4, r6});
            LONGS_EQUAL(2, h.dgrams.size());
            Decoder dec;
            CHECK_FALSE(dec.parse(h.dgrams[0]).bad);
            for (uint16_t id : {c.v4_id, c.v6_id}) {
                auto it = dec.tmpl.find(id);
                CHECK(it != dec.tmpl.end());
                const auto& f = it->second;
                // NAT fields (v4) or flowEndReason (v6, no NAT fields at all) end the plain
                // layout; mark then zone follow.
                size_t tail = size_t(c.mark) + size_t(c.zone);
                CHECK(f.size() > tail);
                LONGS_EQUAL(id == c.v4_id ? 228 : 136, f[f.size() - 1 - tail].first);
                for (auto& fl : f) CHECK(id == c.v4_id || (fl.first < 225 || fl.first > 228));
                if (c.mark) {
                    LONGS_EQUAL(137, f[f.size() - tail].first);
                    LONGS_EQUAL(4, f[f.size() - tail].second);
                }
                if (c.zone) {
                    LONGS_EQUAL(234, f.back().first);
                    LONGS_EQUAL(4, f.back().second);
                }
            }
            // No other data template than the four of this variant (v4/v6, NAT or not).
            size_t data_tmpls = 0;
            for (auto& t : dec.tmpl) data_tmpls += t.first >= 1024;
            LONGS_EQUAL(4, data_tmpls);
            Msg m = dec.parse(h.dgrams[1]);
            check_two_records(m, c.v4_id, c.v6_id);
            check_mark_zone(m, c.mark, c.zone);
        }
    }
}

namespace {

// The v4 record as the conntrack source hands it for a biflow collector: NATed, with the
// reply direction's counters (kRecBiflow).
FlowRecord v4_biflow_rec()
{
    FlowRecord r = v4_rec();
    r.flags = uint8_t(kRecHasNat | kRecBiflow);
    r.key.set_v4(r.post_src, 0xcb007101);  // 203.0.113.1
    r.key.set_v4(r.post_dst, 0xc0a80102);  // 192.168.1.2
    r.post_src_port = 61000;
    r.post_dst_port = 443;
    r.rev_packets = 7;
    r.rev_octets = 5000000000ull;
    return r;
}

NatEvent v4_nat_event()
{
    // 10.0.0.1 -> 192.168.1.2 as 203.0.113.1
    return sample_nat44(0x0a000001, 12345, 0xc0a80102, 443, 0xcb007101, 61000, 6,
                        kNat44SessionCreate, 7000);
}

bool contains(const std::vector<uint8_t>& hay, const std::vector<uint8_t>& needle)
{
    for (size_t i = 0; i + needle.size() <= hay.size(); ++i)
        if (std::memcmp(&hay[i], needle.data(), needle.size()) == 0) return true;
    return false;
}

// RFC 8158 NAT44 session template 262, by hand: observationTimeMilliseconds 323/8, 8/4, 12/4,
// 7/2, 11/2, 225/4, 226/4, 227/2, 228/2, 4/1, natEvent 230/1. Same numbers in v9.
const char* const kNat44Template = "0106 000b 0143 0008 0008 0004 000c 0004 0007 0002 000b 0002"
                                   "00e1 0004 00e2 0004 00e3 0002 00e4 0002 0004 0001 00e6 0001";
// Its record for v4_nat_event(): time 1700000007000 ms, 10.0.0.1:12345 -> 192.168.1.2:443,
// post 203.0.113.1:61000 -> 192.168.1.2:443, TCP, create (1). 34 bytes.
const char* const kNat44Record = "0000018bcfe58358 0a000001 c0a80102 3039 01bb"
                                 "cb007101 c0a80102 ee48 01bb 06 01";

// hex(head) then hex(rec): a golden header and set header before the shared golden record.
std::vector<uint8_t> hex_cat(const char* head, const char* rec)
{
    std::vector<uint8_t> out = hex(head), r = hex(rec);
    out.insert(out.end(), r.begin(), r.end());
    return out;
}

// The NAT44 golden tests' run: datagram 0 = templates (262 among them) + options, datagram 1 =
// the event of v4_nat_event() alone.
void send_nat44_golden(Harness& h, Protocol p)
{
    CHECK(h.init(nat_events_cfg(p)) == Status::ok);
    h.options_then_nat(v4_nat_event());
    LONGS_EQUAL(2, h.dgrams.size());
    CHECK(contains(h.dgrams[0], hex(kNat44Template)));
}

} // namespace

// RFC 5103: one record per connection with reverse counters under PEN 29305 (enterprise bit
// set, PEN after the length, RFC 7011 §3.2) and biflowDirection 239 = initiator (1).
TEST(Exporter, IpfixBiflowGolden)
{
    Harness h;
    CHECK(h.init(biflow_cfg()) == Status::ok);
    h.options_then({v4_biflow_rec()});
    LONGS_EQUAL(2, h.dgrams.size());
    // Template 3454 (1024 + 126 + NAT 256 + biflow 2048): the 17 uniflow fields, 225-228, then
    // 0x8002/8 PEN 29305, 0x8001/8 PEN 29305, 239/1: 24 fields, 4 + 22 * 4 + 2 * 8 = 108 bytes.
    std::vector<uint8_t> t = hex("0d7e 0018 0008 0004 000c 0004 0007 0002 000b 0002 0004 0001"
                                 "0005 0001 0006 0001 0020 0002 000a 0004 000e 0004 003d 0001"
                                 "003a 0002 0002 0008 0001 0008 0098 0008 0099 0008 0088 0001"
                                 "00e1 0004 00e2 0004 00e3 0002 00e4 0002"
                                 "8002 0008 00007279 8001 0008 00007279 00ef 0001");
    CHECK(contains(h.dgrams[0], t));
    // Record: 61 uniflow bytes + post-NAT 12 + reverse packets 7, octets 5000000000 + 01.
    check_bytes(hex("000a 006e 6553f10a 00000005 00000001"
                    "0d7e 005e"
                    "0a000001 c0a80102 3039 01bb 06 10 1b 0000 00000003 00000005 00 0064"
                    "000000000000000a 00000000000005dc"
                    "0000018bcfe57b88 0000018bcfe58b28 01"
                    "cb007101 c0a80102 ee48 01bb"
                    "0000000000000007 000000012a05f200 01"),
                h.dgrams[1]);
    // One record for the whole connection, not one per direction.
    CHECK(h.ex.counters().records == 1);
}

TEST(Exporter, BiflowNeedsIpfix)
{
    Harness h;
    ExporterConfig c = cfg_of(Protocol::v9);
    c.biflow = true;
    CHECK(h.init(c) == Status::bad_input);
}

// A uniflow exporter writes only the forward fields of a record that carries reverse counters.
TEST(Exporter, UniflowIgnoresReverseCounters)
{
    Harness plain, fed;
    ExporterConfig c = cfg_of(Protocol::ipfix);
    c.with_nat = true;
    CHECK(plain.init(c) == Status::ok);
    CHECK(fed.init(c) == Status::ok);
    FlowRecord uni = v4_biflow_rec();
    uni.flags = kRecHasNat;
    uni.rev_packets = uni.rev_octets = 0;
    plain.send({uni});
    fed.send({v4_biflow_rec()});
    LONGS_EQUAL(1, plain.dgrams.size());
    check_bytes(plain.dgrams[0], fed.dgrams[0]);
}

TEST(Exporter, Nat44EventIpfixGolden)
{
    Harness h;
    send_nat44_golden(h, Protocol::ipfix);
    Decoder dec;
    Msg m0 = dec.parse(h.dgrams[0]);
    CHECK_FALSE(m0.bad);
    LONGS_EQUAL(8, m0.tmpl_records);  // 2 data, 262 + 5 options templates
    // Header: length 16 + 4 + 34 = 54, sequence 5; set 262, length 38.
    check_bytes(hex_cat("000a 0036 6553f10a 00000005 00000001 0106 0026", kNat44Record),
                h.dgrams[1]);
    // A data record for the IPFIX sequence number, not a flow; IPv6 events are never written.
    NatEvent v6 = v4_nat_event();
    v6.src[10] = 0;
    h.send_nat(v6);
    LONGS_EQUAL(2, h.dgrams.size());
    CHECK(h.ex.counters().nat_events == 1);
    CHECK(h.ex.counters().records == 0);
    h.send({v4_rec()});
    Msg m2 = dec.parse(h.dgrams[2]);
    LONGS_EQUAL(6, m2.seq);
}

TEST(Exporter, Nat44EventV9Golden)
{
    Harness h;
    send_nat44_golden(h, Protocol::v9);
    // Count 1, sysUptime 12500, sequence 1; FlowSet 262, length 38 + 2 bytes of padding.
    std::vector<uint8_t> want =
        hex_cat("0009 0001 000030d4 6553f10a 00000001 00000001 0106 0028", kNat44Record);
    want.push_back(0);
    want.push_back(0);
    check_bytes(want, h.dgrams[1]);
}

// A NAT event record in a datagram the collector refused is exported as lost: IE 166
// notSentFlowTotalCount of the next statistics record counts it (there is no flow in it).
TEST(Exporter, NatEventNotSentIsInTheStatistics)
{
    Harness h;
    CHECK(h.init(nat_events_cfg(Protocol::ipfix)) == Status::ok);
    h.ex.send_options(at(10000));                   // datagram 0: ok
    h.script = {SendResult::ok, SendResult::refused};
    h.send_nat(v4_nat_event());                     // datagram 1: refused
    LONGS_EQUAL(1, h.ex.counters().not_sent_nat_events);
    LONGS_EQUAL(0, h.ex.counters().not_sent_flows);
    h.ex.send_options(at(11000));
    Decoder dec;
    dec.parse(h.dgrams[0]);
    Msg m = dec.parse(h.dgrams.back());
    bool found = false;
    for (const Rec& r : m.recs) {
        if (r.tid != 260) continue;
        found = true;
        LONGS_EQUAL(1, r.num(166));
    }
    CHECK(found);
}

// Without nat_events: no template 262 and add_nat() writes nothing.
TEST(Exporter, NatEventsOffByDefault)
{
    Harness h;
    CHECK(h.init(Protocol::ipfix) == Status::ok);
    h.options_then_nat(v4_nat_event());
    LONGS_EQUAL(1, h.dgrams.size());
    CHECK_FALSE(contains(h.dgrams[0], hex("0106 000b")));
}

// Biflow templates with conntrack mark/zone: reverse fields, then mark and zone, under the
// biflow IDs (layout bit 2048: 3454 NATed v4, 3199 untranslated v6, + mark 512, + zone 1024),
// records carrying both.
TEST(Exporter, BiflowTemplatesHaveTheirOwnIdsWithMarkAndZone)
{
    for (int variant = 0; variant < 4; ++variant) {
        const bool mark = variant & 1, zone = variant & 2;
        const uint16_t v4_id = uint16_t(3454 + 512 * variant), v6_id = uint16_t(3199 + 512 * variant);
        Harness h;
        CHECK(h.init(with_mark_zone(biflow_cfg(), mark, zone)) == Status::ok);
        FlowRecord r4 = v4_biflow_rec(), r6 = v6_icmp_rec();
        set_mark_zone(r4, r6);
        r4.flags = uint8_t(r4.flags | kRecHasMark | kRecHasZone);
        r6.flags = uint8_t(kRecBiflow | kRecHasMark | kRecHasZone);
        r6.rev_packets = 1;
        r6.rev_octets = 104;
        h.options_then({r4, r6});
        LONGS_EQUAL(2, h.dgrams.size());
        Decoder dec;
        CHECK_FALSE(dec.parse(h.dgrams[0]).bad);
        size_t data_tmpls = 0;
        for (auto& t : dec.tmpl) data_tmpls += t.first >= 1024;
        LONGS_EQUAL(4, data_tmpls);
        for (uint16_t id : {v4_id, v6_id}) {
            auto it = dec.tmpl.find(id);
            CHECK(it != dec.tmpl.end());
            const auto& f = it->second;
            const size_t tail = size_t(mark) + size_t(zone);
            CHECK(f.size() > tail + 4);
            LONGS_EQUAL(id == v4_id ? 228 : 136, f[f.size() - 4 - tail].first);
            LONGS_EQUAL(0x8002, f[f.size() - 3 - tail].first);
            LONGS_EQUAL(0x8001, f[f.size() - 2 - tail].first);
            LONGS_EQUAL(239, f[f.size() - 1 - tail].first);
            if (mark) LONGS_EQUAL(137, f[f.size() - tail].first);
            if (zone) LONGS_EQUAL(234, f.back().first);
        }
        Msg m = dec.parse(h.dgrams[1]);
        check_two_records(m, v4_id, v6_id);
        CHECK(m.recs[0].num(0x8002) == 7);
        CHECK(m.recs[0].num(0x8001) == 5000000000ull);
        CHECK(m.recs[0].num(239) == 1);
        CHECK(m.recs[1].num(0x8002) == 1);
        check_mark_zone(m, mark, zone);
    }
}

// v9 times count from the device's boot (RFC 3954 §5.1), not from the agent's start: a flow
// that began before anything (mono 500) is 3000 ms of uptime with the 2.5 s of sleep, not
// clamped to 0, and the absolute times a v9 collector computes (unix_secs * 1000 - (sysUptime -
// FIRST/LAST_SWITCHED)) equal the IPFIX flowStart/EndMilliseconds of the same record, to the ms.
TEST(Exporter, V9AndIpfixAgreeOnFlowTimesFromBoot)
{
    FlowRecord r = v4_rec();
    r.first_ms = 500;
    r.last_ms = 9731;
    uint64_t start[2] = {}, end[2] = {};
    for (Protocol p : {Protocol::ipfix, Protocol::v9}) {
        Harness h;
        CHECK(h.init(p) == Status::ok);
        h.options_then({r}, 10250);
        Decoder dec;
        dec.parse(h.dgrams[0]);
        Msg m = dec.parse(h.dgrams[1]);
        CHECK_FALSE(m.bad);
        LONGS_EQUAL(1, m.recs.size());
        const int i = p == Protocol::v9;
        if (i) {
            LONGS_EQUAL(3000, m.recs[0].num(22));
            LONGS_EQUAL(9731 + 2500, m.recs[0].num(21));
            start[i] = uint64_t(m.time) * 1000u - (m.uptime - m.recs[0].num(22));
            end[i] = uint64_t(m.time) * 1000u - (m.uptime - m.recs[0].num(21));
        } else {
            start[i] = m.recs[0].num(152);
            end[i] = m.recs[0].num(153);
        }
    }
    CHECK(start[0] == 1700000000500ull);
    CHECK(end[0] == 1700000009731ull);
    CHECK(start[1] == start[0]);
    CHECK(end[1] == end[0]);
}

// The sampler options record says how packets or flows were selected, per mode (FakeOptions:
// rate 100), next to samplingInterval 34 = 100 which collectors renormalise from.
TEST(Exporter, SamplerAnnouncedPerMode)
{
    struct Case {
        Protocol p;
        SamplingKind kind;
        SamplingMode mode;
        uint16_t tid;
    } cases[] = {
        {Protocol::ipfix, SamplingKind::packet, SamplingMode::random, 263},
        {Protocol::ipfix, SamplingKind::packet, SamplingMode::deterministic, 261},
        {Protocol::v9, SamplingKind::packet, SamplingMode::random, 261},
        {Protocol::v9, SamplingKind::packet, SamplingMode::deterministic, 261},
        {Protocol::ipfix, SamplingKind::flow, SamplingMode::random, 264},
        {Protocol::v9, SamplingKind::flow, SamplingMode::deterministic, 264},
    };
    for (const Case& c : cases) {
        Harness h;
        h.opts.s.kind = c.kind;
        h.opts.s.mode = c.mode;
        CHECK(h.init(c.p) == Status::ok);
        h.ex.send_options(at(10000));
        Decoder dec;
        Msg m = dec.parse(h.dgrams[0]);
        CHECK_FALSE(m.bad);
        const Rec* s = nullptr;
        for (const Rec& r : m.recs) {
            if (r.tid == 258) LONGS_EQUAL(100, r.num(34));
            if (r.tid == c.tid) s = &r;
        }
        CHECK(s != nullptr);
        if (c.kind == SamplingKind::flow) {
            // RFC 7014 hash-based flow selection with BOB: output range 0..2^32-1, selected
            // 0..floor(2^32 / 100) - 1 = 42949671, initialiser 0.
            LONGS_EQUAL(1, s->num(302));
            LONGS_EQUAL(6, s->num(390));
            LONGS_EQUAL(0, s->num(329));
            LONGS_EQUAL(0xffffffffu, s->num(330));
            LONGS_EQUAL(0, s->num(331));
            LONGS_EQUAL(42949671, s->num(332));
            LONGS_EQUAL(0, s->num(334));
            CHECK(s->field(304) == nullptr && s->field(49) == nullptr);
        } else if (c.p == Protocol::v9) {
            LONGS_EQUAL(c.mode == SamplingMode::random ? 2 : 1, s->num(49));
            LONGS_EQUAL(100, s->num(50));
        } else if (c.mode == SamplingMode::random) {
            // Uniform probabilistic (4), probability 1/100; not n-out-of-N, not count-based.
            LONGS_EQUAL(4, s->num(304));
            DOUBLES_EQUAL(0.01, s->float64(311), 0.0);
            CHECK(s->field(305) == nullptr && s->field(306) == nullptr);
        } else {
            LONGS_EQUAL(1, s->num(304));
            LONGS_EQUAL(1, s->num(305));
            LONGS_EQUAL(99, s->num(306));
        }
    }
    // The random IPFIX template and record by hand: 263, 4 fields, 1 scope: 149/4, 302/8,
    // 304/1, samplingProbability 311/8 (float64); set 4 + 6 + 16 = 26. Record: domain 1,
    // selector 1, algorithm 4, 0.01 = 0x3f847ae147ae147b (IEEE 754 binary64).
    Harness h;
    h.opts.s.mode = SamplingMode::random;
    CHECK(h.init(Protocol::ipfix) == Status::ok);
    h.ex.send_options(at(10000));
    CHECK(contains(h.dgrams[0], hex("0003 001a 0107 0004 0001 0095 0004 012e 0008 0130 0001"
                                    "0137 0008")));
    CHECK(contains(h.dgrams[0], hex("0107 0019 00000001 0000000000000001 04 3f847ae147ae147b")));
}

namespace {

// The IEs of the data template that carried `r` (fresh exporter with `c`).
std::vector<uint16_t> ies_for(const ExporterConfig& c, const FlowRecord& r, uint16_t* tid)
{
    Harness h;
    CHECK(h.init(c) == Status::ok);
    h.options_then({r});
    Decoder dec;
    dec.parse(h.dgrams[0]);
    Msg m = dec.parse(h.dgrams[1]);
    CHECK_FALSE(m.bad);
    LONGS_EQUAL(1, m.recs.size());
    *tid = m.recs[0].tid;
    std::vector<uint16_t> out;
    for (auto& f : *m.recs[0].t) out.push_back(f.first);
    return out;
}

bool has(const std::vector<uint16_t>& v, int ie)
{
    for (uint16_t x : v)
        if (x == ie) return true;
    return false;
}

} // namespace

// A field the source does not observe is not in its templates (issue: no filler values).
TEST(Exporter, DataLayoutsCarryOnlyWhatTheSourceObserves)
{
    for (Protocol p : {Protocol::ipfix, Protocol::v9}) {
        uint16_t tid_in = 0, tid_out = 0, tid_nat = 0, tid_plain = 0, tid = 0;
        // tc: ingress hook records have the input interface only, egress the output only.
        ExporterConfig tc = cfg_of(p);
        tc.split_dir = true;
        FlowRecord in = v4_rec(), out = v4_rec();
        out.key.dir = 1;
        std::vector<uint16_t> a = ies_for(tc, in, &tid_in), b = ies_for(tc, out, &tid_out);
        CHECK(has(a, 10) && !has(a, 14) && has(a, 6) && has(a, 5) && has(a, 58));
        CHECK(!has(b, 10) && has(b, 14));
        CHECK(tid_in != tid_out);
        // xdp: ingress only, no egressInterface at all.
        ExporterConfig xdp = cfg_of(p);
        xdp.observed = kDfPacketFields | kDfInIf;
        a = ies_for(xdp, in, &tid);
        CHECK(has(a, 10) && !has(a, 14));
        // conntrack: no flags, ToS, interfaces, VLAN or direction; post-NAT fields only for a
        // translated connection, under another template ID.
        ExporterConfig ct = cfg_of(p);
        ct.observed = 0;
        ct.with_nat = true;
        FlowRecord nat = v4_rec(), plain = v4_rec();
        nat.flags = kRecHasNat;
        a = ies_for(ct, nat, &tid_nat);
        b = ies_for(ct, plain, &tid_plain);
        for (int ie : {5, 6, 10, 14, 58, 61}) CHECK(!has(a, ie) && !has(b, ie));
        for (int ie : {225, 226, 227, 228}) CHECK(has(a, ie) && !has(b, ie));
        CHECK(tid_nat != tid_plain);
        LONGS_EQUAL(1024 + 256, tid_nat);
        LONGS_EQUAL(1024, tid_plain);
    }
}

// MACs: with_mac gives records with MACs (L2 device) a template with 56/80 and the others (L3
// device: pppoe-wan, wg0, tun0) one without them, under another ID; never six zero bytes.
TEST(Exporter, MacFieldsOnlyForRecordsThatHaveThem)
{
    for (Protocol p : {Protocol::ipfix, Protocol::v9}) {
        ExporterConfig c = cfg_of(p);
        c.with_mac = true;
        FlowRecord l2 = v4_rec(), l3 = v4_rec();
        l2.flags = kRecHasMac;
        const uint8_t sm[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
        const uint8_t dm[6] = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee};
        std::memcpy(l2.src_mac, sm, 6);
        std::memcpy(l2.dst_mac, dm, 6);
        uint16_t tid2 = 0, tid3 = 0;
        std::vector<uint16_t> a = ies_for(c, l2, &tid2), b = ies_for(c, l3, &tid3);
        CHECK(has(a, 56) && has(a, 80));
        CHECK(!has(b, 56) && !has(b, 80));
        CHECK(tid2 != tid3);
        LONGS_EQUAL(1024 + kDfMac + (0x7f & (kDfPacketFields | kDfInIf | kDfOutIf)), tid2);
        // The values are the record's.
        Harness h;
        CHECK(h.init(c) == Status::ok);
        h.options_then({l2, l3});
        Decoder dec;
        dec.parse(h.dgrams[0]);
        Msg m = dec.parse(h.dgrams[1]);
        LONGS_EQUAL(2, m.recs.size());
        size_t n = 0;
        MEMCMP_EQUAL(sm, m.recs[0].field(56, &n), 6);
        LONGS_EQUAL(6, n);
        MEMCMP_EQUAL(dm, m.recs[0].field(80, &n), 6);
        CHECK(m.recs[1].field(56) == nullptr);
    }
}

// v9 padding is counted before a datagram fills: over every datagram size in a window, with
// sets switching between v4 (53 bytes) and v6 (77) records, no datagram exceeds the limit and
// every FlowSet is a multiple of 4 bytes, zero-padded (the decoder checks both).
TEST(Exporter, V9PaddingNeverOverflowsTheDatagram)
{
    for (uint16_t maxd = 560; maxd < 600; ++maxd) {
        Harness h;
        ExporterConfig c = cfg_of(Protocol::v9);
        c.max_datagram = maxd;
        CHECK(h.init(c) == Status::ok);
        for (int i = 0; i < 200; ++i) h.ex.add(i % 2 ? v6_icmp_rec() : v4_rec(), at(10000));
        h.ex.flush(at(10000));
        Decoder dec;
        size_t n = 0;
        for (const auto& d : h.dgrams) {
            CHECK(d.size() <= maxd);
            Msg m = dec.parse(d);
            CHECK_FALSE(m.bad);
            for (const Rec& r : m.recs) n += r.tid >= 1024;
        }
        LONGS_EQUAL(200, n);
    }
}

// An interface without a description (no ifAlias) is listed under 265, by name alone: no
// empty interfaceDescription is ever sent. IPFIX record: ifindex 4, length 3, "wg0".
TEST(Exporter, InterfaceWithoutDescriptionHasNoDescriptionField)
{
    for (Protocol p : {Protocol::ipfix, Protocol::v9}) {
        Harness h;
        h.opts.ifs[1] = InterfaceInfo{};
        h.opts.ifs[1].ifindex = 4;
        std::strcpy(h.opts.ifs[1].name, "wg0");
        CHECK(h.init(p) == Status::ok);
        h.ex.send_options(at(10000));
        Decoder dec;
        Msg m = dec.parse(h.dgrams[0]);
        CHECK_FALSE(m.bad);
        int with = 0, without = 0;
        for (const Rec& r : m.recs) {
            if (r.tid == 259) {
                ++with;
                LONGS_EQUAL(2, r.num(p == Protocol::ipfix ? 10 : 2));
                CHECK(r.field(83) != nullptr);
            }
            if (r.tid == 265) {
                ++without;
                LONGS_EQUAL(4, r.num(p == Protocol::ipfix ? 10 : 2));
                CHECK(r.field(83) == nullptr);
                size_t n = 0;
                const uint8_t* name = r.field(82, &n);
                LONGS_EQUAL(p == Protocol::ipfix ? 3 : 16, n);
                MEMCMP_EQUAL("wg0", name, 3);
            }
        }
        LONGS_EQUAL(1, with);
        LONGS_EQUAL(1, without);
        if (p == Protocol::ipfix)
            CHECK(contains(h.dgrams[0], hex("0109 000c 00000004 03 776730")));
    }
}
