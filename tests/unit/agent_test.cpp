// SPDX-License-Identifier: GPL-2.0-only
// Agent routing of conntrack output: a biflow record goes whole to biflow collectors and as
// its two uniflow records to the others (and to JSON); NAT events only to nat_events
// collectors, IPv6 ones counted and dropped. Checked on the datagrams each collector gets.
#include "app/agent.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <CppUTest/TestHarness.h>

#include "sample_nat.h"

using namespace fa;

namespace {

struct Capture : DatagramSink {
    std::vector<std::vector<uint8_t>> dgrams;
    SendResult send(const uint8_t* data, size_t len) override
    {
        dgrams.emplace_back(data, data + len);
        return SendResult::ok;
    }
    // Data records of set `tid` over all datagrams (fixed record length `len`).
    size_t records(uint16_t tid, size_t len) const
    {
        size_t n = 0;
        for (const auto& d : dgrams) {
            size_t off = d[1] == 10 ? 16 : 20;
            while (off + 4 <= d.size()) {
                const unsigned sid = unsigned(d[off]) << 8 | d[off + 1];
                const unsigned sl = unsigned(d[off + 2]) << 8 | d[off + 3];
                if (sid == tid) {
                    if ((sl - 4) % len >= 4) return SIZE_MAX;  // not whole records + padding
                    n += (sl - 4) / len;
                }
                off += sl;
            }
        }
        return n;
    }
};

struct Lines : LineSink {
    std::vector<std::string> lines;
    void write_line(const char* line, size_t len) override { lines.emplace_back(line, len); }
};

FlowRecord biflow_rec()
{
    FlowRecord r{};
    std::memset(&r.key, 0, sizeof r.key);
    r.key.set_v4(r.key.src, 0x0a000002);
    r.key.set_v4(r.key.dst, 0xc0000201);
    r.key.src_port = 40000;
    r.key.dst_port = 80;
    r.key.proto = 6;
    r.key.set_v4(r.post_src, 0xcb007101);
    r.key.set_v4(r.post_dst, 0xc0000201);
    r.post_src_port = 61000;
    r.post_dst_port = 80;
    r.flags = uint8_t(kRecHasNat | kRecBiflow);
    r.packets = 5;
    r.octets = 300;
    r.rev_packets = 4;
    r.rev_octets = 5000;
    r.first_ms = 2000;
    r.last_ms = 3000;
    r.end_reason = EndReason::end_of_flow;
    return r;
}

// Conntrack-fed agent (records carry NAT fields, flow sampling) at mono 10 s.
void start(Agent& a, const Config& cfg, DatagramSink* const* sinks, int n, Lines& json)
{
    CHECK(a.init(cfg, sinks, n, &json, 1, false, true, SamplingKind::flow) == Status::ok);
    ExportTime t;
    t.mono_ms = 10000;
    t.wall_offset_ms = 1700000000000;
    a.set_time(t);
}

// UDP 10.0.0.i:(1000 + i) -> 192.0.2.1:53 seen at `at`.
FlowDelta udp_delta(uint32_t i, MonoMs at, uint64_t packets, uint64_t octets, uint32_t in_if,
                    uint32_t out_if)
{
    FlowDelta d;
    std::memset(&d.key, 0, sizeof d.key);
    d.key.set_v4(d.key.src, 0x0a000000u + i);
    d.key.set_v4(d.key.dst, 0xc0000201);
    d.key.src_port = uint16_t(1000 + i);
    d.key.dst_port = 53;
    d.key.proto = 17;
    d.key.in_if = in_if;
    d.key.out_if = out_if;
    d.packets = packets;
    d.octets = octets;
    d.first_ms = d.last_ms = at;
    return d;
}

} // namespace

TEST_GROUP(Agent) {};

TEST(Agent, RoutesBiflowAndNatEventsPerCollector)
{
    Config cfg;
    cfg.source = SourceKind::conntrack;
    cfg.max_flows = 1024;
    cfg.collector_count = 3;
    cfg.collectors[0].protocol = Protocol::ipfix;   // uniflow, no NAT events
    cfg.collectors[1].protocol = Protocol::ipfix;   // biflow + NAT events
    cfg.collectors[1].biflow = true;
    cfg.collectors[1].nat_events = true;
    cfg.collectors[2].protocol = Protocol::v9;      // uniflow + NAT events
    cfg.collectors[2].nat_events = true;
    Capture c0, c1, c2;
    DatagramSink* sinks[3] = {&c0, &c1, &c2};
    Lines json;
    Agent a;
    start(a, cfg, sinks, 3, json);
    a.on_record(biflow_rec());
    NatEvent ev = sample_nat44(0x0a000002, 0, 0xc0000201, 0, 0xcb007101, 0, 6,
                               kNat44SessionCreate);
    a.on_nat_event(ev);
    NatEvent v6 = ev;
    v6.src[10] = 0;  // not IPv4-mapped: an IPv6 NAT (NAT66) event
    a.on_nat_event(v6);
    a.flush_all();

    // v4 conntrack data record: IPFIX 48 bytes (no TCP flags, ToS, interfaces, direction or
    // VLAN: conntrack observes none of them) + 12 NAT (biflow: + 16 reverse counters + 1
    // direction); v9 40 + 12 NAT. Template ID 1024 + NAT 256 (+ biflow 2048). NAT44 event
    // record: 34 bytes in both.
    LONGS_EQUAL(2, c0.records(1280, 60));
    LONGS_EQUAL(1, c1.records(3328, 60 + 17));  // the biflow template's own ID
    LONGS_EQUAL(2, c2.records(1280, 52));
    LONGS_EQUAL(0, c0.records(262, 34));
    LONGS_EQUAL(1, c1.records(262, 34));
    LONGS_EQUAL(1, c2.records(262, 34));
    CHECK(a.exporter(0).counters().records == 2);
    CHECK(a.exporter(1).counters().records == 1);
    CHECK(a.exporter(1).counters().nat_events == 1);
    CHECK(a.exporter(2).counters().nat_events == 1);
    CHECK(a.exporter(0).counters().nat_events == 0);
    CHECK(a.stats().nat_events == 1);
    CHECK(a.stats().nat_events_v6_skipped == 1);
    // Agent totals and JSON lines are per direction: 2 records, 9 packets; then one line for
    // the NAT44 event (collectors take it), none for the IPv6 one.
    CHECK(a.stats().records == 2);
    CHECK(a.stats().record_packets == 9);
    LONGS_EQUAL(3, json.lines.size());
    CHECK(json.lines[2].find("{\"nat_event\":\"create\",") == 0);
}

// [conntrack] mark/zone through the biflow path: the biflow collector's record and both split
// records of the uniflow collector (and the JSON lines) carry the mark and the zone.
TEST(Agent, MarkAndZoneSurviveTheBiflowSplit)
{
    Config cfg;
    cfg.source = SourceKind::conntrack;
    cfg.max_flows = 1024;
    cfg.ct_mark = cfg.ct_zone = true;
    cfg.collector_count = 2;
    cfg.collectors[0].protocol = Protocol::ipfix;   // uniflow
    cfg.collectors[1].protocol = Protocol::ipfix;   // biflow
    cfg.collectors[1].biflow = true;
    Capture c0, c1;
    DatagramSink* sinks[2] = {&c0, &c1};
    Lines json;
    Agent a;
    start(a, cfg, sinks, 2, json);
    FlowRecord r = biflow_rec();
    r.flags = uint8_t(r.flags | kRecHasMark | kRecHasZone);
    r.ct_mark = 0x11223344;
    r.ct_zone = 7;
    a.on_record(r);
    a.flush_all();

    // + 4 bytes mark + 4 bytes zone: uniflow template 1280 + 512 + 1024, biflow + 2048.
    LONGS_EQUAL(2, c0.records(2816, 60 + 8));
    LONGS_EQUAL(0, c0.records(1280, 60));
    LONGS_EQUAL(1, c1.records(4864, 60 + 17 + 8));
    LONGS_EQUAL(0, c1.records(3328, 60 + 17));
    // The mark and zone are the last 8 bytes of every data record.
    auto tail_of = [](const Capture& c, uint16_t tid, size_t len, std::vector<std::string>& out) {
        for (const auto& d : c.dgrams) {
            size_t off = 16;
            while (off + 4 <= d.size()) {
                const unsigned sid = unsigned(d[off]) << 8 | d[off + 1];
                const unsigned sl = unsigned(d[off + 2]) << 8 | d[off + 3];
                for (size_t p = off + 4; sid == tid && p + len <= off + sl; p += len)
                    out.emplace_back(reinterpret_cast<const char*>(&d[p + len - 8]), 8);
                off += sl;
            }
        }
    };
    std::vector<std::string> tails;
    tail_of(c0, 2816, 60 + 8, tails);
    tail_of(c1, 4864, 60 + 17 + 8, tails);
    LONGS_EQUAL(3, tails.size());
    const std::string want("\x11\x22\x33\x44\x00\x00\x00\x07", 8);
    for (const std::string& x : tails) CHECK(x == want);
    LONGS_EQUAL(2, json.lines.size());
    for (const std::string& l : json.lines) {
        CHECK(l.find("\"ct_mark\":287454020") != std::string::npos);
        CHECK(l.find("\"ct_zone\":7") != std::string::npos);
    }
}

// A drain hands deltas over in batches (on_deltas, which prefetches table buckets ahead): the
// records must be exactly those of the same deltas one by one, in the same order, whatever the
// batch sizes. Repeated keys and a TCP FIN mid-stream make the order matter.
TEST(Agent, DeltaBatchesEqualOneByOne)
{
    std::vector<FlowDelta> ds;
    for (uint32_t i = 0; i < 300; ++i) {
        FlowDelta d;
        std::memset(&d.key, 0, sizeof d.key);
        d.key.set_v4(d.key.src, 0x0a000000u + i % 37);
        d.key.set_v4(d.key.dst, 0xc0000201);
        d.key.src_port = uint16_t(1000 + i % 37);
        d.key.dst_port = 443;
        d.key.proto = 6;
        d.packets = 1 + i % 3;
        d.octets = 100 * d.packets;
        d.first_ms = d.last_ms = 9000 + i;
        d.tcp_flags = i == 150 ? uint8_t(kTcpAck | kTcpFin) : uint8_t(kTcpAck);
        ds.push_back(d);
    }
    Config cfg;
    cfg.source = SourceKind::generator;
    cfg.max_flows = 1024;
    cfg.collector_count = 1;
    cfg.collectors[0].protocol = Protocol::ipfix;
    Capture c1, c2;
    DatagramSink* s1[1] = {&c1};
    DatagramSink* s2[1] = {&c2};
    Lines j1, j2;
    Agent one, batched;
    CHECK(one.init(cfg, s1, 1, &j1, 1, false, false, SamplingKind::packet) == Status::ok);
    CHECK(batched.init(cfg, s2, 1, &j2, 1, false, false, SamplingKind::packet) == Status::ok);
    ExportTime t;
    t.mono_ms = 10000;
    t.wall_offset_ms = 1700000000000;
    one.set_time(t);
    batched.set_time(t);
    for (const FlowDelta& d : ds) one.on_delta(d);
    const size_t sizes[] = {1, 7, 8, 9, 75, 200};  // 300 in all, around the look-ahead of 8
    size_t off = 0;
    for (size_t n : sizes) {
        batched.on_deltas(ds.data() + off, n);
        off += n;
    }
    LONGS_EQUAL(ds.size(), off);
    one.flush_all();
    batched.flush_all();
    CHECK(one.stats().delta_packets == batched.stats().delta_packets);
    CHECK(one.stats().records == batched.stats().records);
    CHECK(one.stats().record_packets == one.stats().delta_packets);
    LONGS_EQUAL(38, j1.lines.size());  // 37 flows + the one the FIN ended and a delta restarted
    CHECK(j1.lines == j2.lines);
}

// JSON lines are for exported records: a NAT event no collector takes is not printed.
TEST(Agent, NatEventJsonOnlyWhenExported)
{
    Config cfg;
    cfg.source = SourceKind::conntrack;
    cfg.max_flows = 1024;
    cfg.collector_count = 1;
    cfg.collectors[0].protocol = Protocol::ipfix;  // no nat_events
    Capture c0;
    DatagramSink* sinks[1] = {&c0};
    Lines json;
    Agent a;
    start(a, cfg, sinks, 1, json);
    a.on_nat_event(sample_nat44(0x0a000002, 0, 0xc0000201, 0, 0xcb007101, 0, 17,
                                kNat44SessionDelete));
    a.flush_all();
    LONGS_EQUAL(0, json.lines.size());
    LONGS_EQUAL(0, c0.records(262, 34));
}

// A reload that keeps the table (Agent::reconfigure): the flows metered before it are not
// flushed or split; they leave once, whole, with the counts of before and after the reload. A
// kept collector's exporter goes on (same numbering); a changed one's pending datagram goes to
// its old sink and its new exporter to the new sink; new timeouts apply to the kept flows.
TEST(Agent, ReconfigureKeepsFlowsWhole)
{
    Config cfg;
    cfg.source = SourceKind::generator;
    cfg.max_flows = 1024;
    cfg.active_timeout_s = 60;
    cfg.inactive_timeout_s = 30;
    cfg.collector_count = 2;
    cfg.collectors[0].protocol = Protocol::ipfix;
    cfg.collectors[1].protocol = Protocol::v9;
    Capture keep0, old1, new1;
    DatagramSink* sinks[2] = {&keep0, &old1};
    Agent a;
    CHECK(a.init(cfg, sinks, 2, nullptr, 1, false, false, SamplingKind::packet) == Status::ok);
    ExportTime t;
    t.mono_ms = 10000;
    t.wall_offset_ms = 1700000000000;
    a.set_time(t);
    auto delta = [](uint32_t i, MonoMs at) { return udp_delta(i, at, 1, 100, 0, 0); };
    for (uint32_t i = 0; i < 20; ++i) a.on_delta(delta(i, 9000));
    a.tick();  // templates and options out; no flow is due
    const size_t sent0 = keep0.dgrams.size();
    const uint64_t tmpl0 = a.exporter(0).counters().template_sends;

    Config next = cfg;
    next.active_timeout_s = 45;
    next.inactive_timeout_s = 5;
    next.collectors[1].template_refresh_s = 300;  // collector 1 changed: a new exporter
    DatagramSink* next_sinks[2] = {&keep0, &new1};
    const bool keep[2] = {true, false};
    CHECK(a.reconfigure(next, next_sinks, 2, nullptr, keep, nullptr, nullptr, false, false) ==
          Status::ok);
    LONGS_EQUAL(20, a.table().size());  // nothing flushed
    LONGS_EQUAL(sent0, keep0.dgrams.size());
    CHECK(a.exporter(0).counters().template_sends == tmpl0);  // the same exporter
    CHECK(a.exporter(1).counters().messages == 0);           // a new one

    for (uint32_t i = 0; i < 20; ++i) a.on_delta(delta(i, 10000));  // the same flows again
    t.mono_ms = 16000;  // 6 s idle: expired by the new inactive timeout (5 s), not the old 30
    a.set_time(t);
    a.tick();
    LONGS_EQUAL(0, a.table().size());
    // One record per flow with both packets, to the kept and to the new collector.
    CHECK(a.exporter(0).counters().records == 20);
    CHECK(a.exporter(1).counters().records == 20);
    CHECK(a.stats().records == 20);
    CHECK(a.stats().record_packets == 40);
    // The generator's v4 layout (tcpControlBits, flowDirection, ingressInterface): ID 1024 + 50,
    // v9 record 4+4+2+2+1+1+2+4+1+8+8+4+4+1 = 46 bytes.
    LONGS_EQUAL(20, new1.records(1074, 46));
    LONGS_EQUAL(0, old1.records(1074, 46));
}

// A metered interface went away (daemon: link monitor): only its flows leave the table, as
// forced_end records sent at once; the other interface's flows stay whole. Then the interface
// table changes and the options records (ifIndex -> ifName) go out again at once.
TEST(Agent, FlushInterfaceAndInterfacesChanged)
{
    Config cfg;
    cfg.source = SourceKind::tc;
    cfg.max_flows = 1024;
    cfg.collector_count = 1;
    cfg.collectors[0].protocol = Protocol::ipfix;
    Capture c0;
    DatagramSink* sinks[1] = {&c0};
    Lines json;
    Agent a;
    CHECK(a.init(cfg, sinks, 1, &json, 1, false, false, SamplingKind::packet) == Status::ok);
    InterfaceInfo ifs[2] = {};
    ifs[0].ifindex = 7;
    std::strcpy(ifs[0].name, "lan0");
    ifs[1].ifindex = 9;
    std::strcpy(ifs[1].name, "wan0");
    a.set_interfaces(ifs, 2);
    ExportTime t;
    t.mono_ms = 10000;
    t.wall_offset_ms = 1700000000000;
    a.set_time(t);
    auto delta = [](uint32_t i, uint32_t in_if, uint32_t out_if) {
        return udp_delta(i, 9000, 2, 200, in_if, out_if);
    };
    for (uint32_t i = 0; i < 12; ++i) a.on_delta(delta(i, 7, 0));        // in on lan0
    for (uint32_t i = 100; i < 105; ++i) a.on_delta(delta(i, 0, 7));     // out on lan0
    for (uint32_t i = 200; i < 230; ++i) a.on_delta(delta(i, 9, 0));     // in on wan0
    a.tick();  // templates and options; no flow due
    const size_t before = c0.dgrams.size();
    LONGS_EQUAL(47, a.table().size());
    LONGS_EQUAL(0, json.lines.size());

    LONGS_EQUAL(17, a.flush_interface(7));
    LONGS_EQUAL(30, a.table().size());
    LONGS_EQUAL(17, json.lines.size());
    for (const std::string& l : json.lines) {
        CHECK(l.find("\"end_reason\":\"forced_end\"") != std::string::npos);
        CHECK(l.find("\"in_if\":7,") != std::string::npos ||
              l.find("\"out_if\":7,") != std::string::npos);
    }
    CHECK(a.exporter(0).counters().records == 17);
    CHECK(a.stats().record_packets == 34);
    CHECK(c0.dgrams.size() > before);  // sent now, not at the next tick

    // lan0 is back with ifindex 12: the options go out now and name it.
    ifs[0].ifindex = 12;
    const size_t before_opts = c0.dgrams.size();
    a.interfaces_changed(ifs, 2);
    LONGS_EQUAL(before_opts + 1, c0.dgrams.size());
    const std::vector<uint8_t>& d = c0.dgrams.back();
    const std::string bytes(d.begin(), d.end());
    CHECK(bytes.find("lan0") != std::string::npos);
    CHECK(bytes.find("wan0") != std::string::npos);
    LONGS_EQUAL(2, a.interfaces().size());
    LONGS_EQUAL(12, a.interfaces()[0].ifindex);

    // wan0's flows were not touched: one record each, at the final flush.
    a.flush_all();
    CHECK(a.exporter(0).counters().records == 47);
    LONGS_EQUAL(47, json.lines.size());
}
