// SPDX-License-Identifier: GPL-2.0-only
// FlowSnapshot: top N flows and groups of a live table, walked in budgeted steps, against
// totals computed here from the deltas put into the table.
#include "control/flow_snapshot.h"

#include <CppUTest/TestHarness.h>

#include <cstring>
#include <string>

#include "flow/flow_table.h"

using namespace fa;

namespace {

struct NullSink : RecordSink {
    void on_record(const FlowRecord&) override {}
};

FlowDelta delta(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t proto,
                uint64_t packets, uint64_t octets, MonoMs first, MonoMs last)
{
    FlowDelta d{};
    d.key.set_v4(d.key.src, src);
    d.key.set_v4(d.key.dst, dst);
    d.key.src_port = sport;
    d.key.dst_port = dport;
    d.key.proto = proto;
    d.packets = packets;
    d.octets = octets;
    d.first_ms = first;
    d.last_ms = last;
    return d;
}

} // namespace

TEST_GROUP(FlowSnapshot) {
    FlowTable table;
    NullSink sink;
    FlowSnapshot snap;
    void setup() override
    {
        FlowTableConfig c;
        c.max_flows = 4096;
        c.active_timeout_ms = 600000;
        c.inactive_timeout_ms = 600000;
        CHECK(table.init(c) == Status::ok);
        CHECK(snap.init() == Status::ok);
    }
    // Runs the snapshot in steps of `budget` buckets; returns the number of steps.
    int run(const ControlRequest& r, uint32_t budget)
    {
        snap.begin(r, 0);
        int steps = 1;
        while (!snap.step(table, budget)) ++steps;
        return steps;
    }
};

TEST(FlowSnapshot, TopFlowsByBytesInStepsWithExactTotals)
{
    // 300 flows from 10.0.0.(i%30) to 192.0.2.1, flow i has i+1 packets of 100 bytes.
    uint64_t total_p = 0, total_b = 0;
    for (uint32_t i = 0; i < 300; ++i) {
        FlowDelta d = delta(0x0a000000u + i % 30, 0xc0000201u, uint16_t(1000 + i), 53, 17, i + 1,
                            (i + 1) * 100, 1000, 3000);
        CHECK(table.update(d, sink) == Status::ok);
        total_p += i + 1;
        total_b += (i + 1) * 100;
    }
    ControlRequest r;
    r.command = ControlCommand::flows;
    r.top = 5;
    const int steps = run(r, 16);  // 4096 flows / 8 ways = 512 buckets: 32 steps
    LONGS_EQUAL(32, steps);
    LONGS_EQUAL(300, snap.flows_seen());
    CHECK_EQUAL(total_p, snap.total().packets);
    CHECK_EQUAL(total_b, snap.total().octets);
    LONGS_EQUAL(5, snap.row_count());
    for (uint32_t k = 0; k < 5; ++k) {
        const SnapshotRow& row = snap.rows()[k];
        CHECK_EQUAL(uint64_t(300 - k), row.packets);  // the largest first
        CHECK_EQUAL(uint64_t(1000 + 299 - k), row.a_port);
        // 2 s in the table: bits per second = bytes * 8 / 2
        CHECK_EQUAL(uint64_t((300 - k) * 100 * 8 / 2), row.bps);
    }
}

TEST(FlowSnapshot, GroupBySourceSumsFlows)
{
    for (uint32_t i = 0; i < 300; ++i) {
        FlowDelta d = delta(0x0a000000u + i % 30, 0xc0000201u, uint16_t(1000 + i), 53, 17, 1,
                            100 + i, 1000, 1000);
        CHECK(table.update(d, sink) == Status::ok);
    }
    ControlRequest r;
    r.command = ControlCommand::flows;
    r.group = GroupBy::src;
    r.top = 200;
    run(r, 64);
    LONGS_EQUAL(30, snap.groups());
    LONGS_EQUAL(30, snap.row_count());
    // Source 10.0.0.29 holds flows 29, 59, ..., 299: 10 flows, bytes sum(100 + i).
    const SnapshotRow& top = snap.rows()[0];
    CHECK_EQUAL(10u, top.flows);
    uint64_t want = 0;
    for (uint32_t i = 29; i < 300; i += 30) want += 100 + i;
    CHECK_EQUAL(want, top.octets);
    CHECK_EQUAL(0x1du, top.a[15]);
    char out[8192];
    const size_t n = snap.render(out, sizeof out);
    CHECK(n > 0);
    STRCMP_CONTAINS("\"group\":\"src\"", out);
    STRCMP_CONTAINS("{\"src\":\"10.0.0.29\",\"flows\":10,", out);
}

TEST(FlowSnapshot, PairIsUnorderedAndPortIsTheServiceSide)
{
    CHECK(table.update(delta(0x0a000001u, 0x0a000002u, 40000, 443, 6, 2, 200, 0, 0), sink) ==
          Status::ok);
    CHECK(table.update(delta(0x0a000002u, 0x0a000001u, 443, 40000, 6, 3, 300, 0, 0), sink) ==
          Status::ok);
    ControlRequest r;
    r.command = ControlCommand::flows;
    r.group = GroupBy::pair;
    run(r, 1000);
    LONGS_EQUAL(1, snap.row_count());
    CHECK_EQUAL(500u, snap.rows()[0].octets);
    r.group = GroupBy::port;
    r.format = ControlFormat::tsv;
    run(r, 1000);
    LONGS_EQUAL(1, snap.row_count());
    CHECK_EQUAL(443u, snap.rows()[0].a_port);
    char out[1024];
    CHECK(snap.render(out, sizeof out) > 0);
    STRCMP_EQUAL("total\t2\t5\t500\t4000\t5\ntcp/443\t2\t5\t500\t4000\t5\n", out);
}

TEST(FlowSnapshot, GroupsBeyondCapacityAreCountedNotLost)
{
    FlowTableConfig c;
    c.max_flows = 16384;
    c.active_timeout_ms = 600000;
    c.inactive_timeout_ms = 600000;
    FlowTable big;
    CHECK(big.init(c) == Status::ok);
    uint64_t flows = 0;
    for (uint32_t i = 0; i < 10000; ++i)
        if (big.update(delta(0x0a000000u + i, 0xc0000201u, 1, 2, 17, 1, 64, 0, 0), sink) ==
            Status::ok)
            ++flows;
    ControlRequest r;
    r.command = ControlCommand::flows;
    r.group = GroupBy::src;
    r.top = 3;
    snap.begin(r, 0);
    while (!snap.step(big, 100)) {
    }
    CHECK_EQUAL(uint64_t(big.size()), snap.flows_seen());
    CHECK(snap.groups() <= kMaxGroups);
    // Every flow is in a group or in `other`.
    CHECK_EQUAL(snap.flows_seen(), uint64_t(snap.groups()) + snap.other().flows);
    CHECK(snap.other().flows > 0);
}

TEST(FlowSnapshot, ResponseThatDoesNotFitIsRefused)
{
    for (uint32_t i = 0; i < 50; ++i)
        CHECK(table.update(delta(0x0a000000u + i, 0xc0000201u, 1, 2, 17, 1, 64, 0, 0), sink) ==
              Status::ok);
    ControlRequest r;
    r.command = ControlCommand::flows;
    r.top = 50;
    run(r, 1000);
    char small[256];
    LONGS_EQUAL(0, snap.render(small, sizeof small));
}
