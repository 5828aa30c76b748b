// SPDX-License-Identifier: GPL-2.0-only
// Proof of the flow table (STYLE 2.6). Expected values are worked out by hand from the
// semantics in flow_table.h, never read back from the table itself.
#include "flow/flow_table.h"

#include <cstring>

#include <CppUTest/TestHarness.h>
#include <CppUTest/TestMemoryAllocator.h>

#include "alloc_counter.h"

using namespace fa;

namespace {

// Keeps the first kKeep records and running totals of all of them. No allocation.
struct Sink : RecordSink {
    static constexpr int kKeep = 512;
    FlowRecord rec[kKeep];
    int n = 0;
    uint64_t packets = 0, octets = 0;
    uint64_t by_reason[6] = {};
    void on_record(const FlowRecord& r) override
    {
        if (n < kKeep) rec[n] = r;
        n++;
        packets += r.packets;
        octets += r.octets;
        by_reason[int(r.end_reason)]++;
    }
    void reset() { *this = Sink(); }
};

FlowKey v4_key(uint32_t src, uint32_t dst, uint16_t sp, uint16_t dp, uint8_t proto = 6)
{
    FlowKey k;
    std::memset(&k, 0, sizeof k);
    k.set_v4(k.src, src);
    k.set_v4(k.dst, dst);
    k.src_port = sp;
    k.dst_port = dp;
    k.proto = proto;
    return k;
}

FlowKey v6_key()
{
    FlowKey k;
    std::memset(&k, 0, sizeof k);
    const uint8_t s[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    const uint8_t d[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    std::memcpy(k.src, s, 16);
    std::memcpy(k.dst, d, 16);
    k.src_port = 40000;
    k.dst_port = 443;
    k.proto = 17;
    k.in_if = 3;
    k.out_if = 4;
    k.vlan = 10;
    k.tos = 0x28;
    k.dir = 1;
    return k;
}

FlowDelta delta(const FlowKey& k, uint64_t pk, uint64_t oc, MonoMs first, MonoMs last,
                uint8_t flags = 0)
{
    FlowDelta d;
    d.key = k;
    d.packets = pk;
    d.octets = oc;
    d.first_ms = first;
    d.last_ms = last;
    d.tcp_flags = flags;
    return d;
}

uint64_t const_hash(const FlowKey&, uint64_t) { return 0x5a5a5a5a5a5a5a5aull; }

FlowTableConfig cfg_small(uint32_t flows, FullPolicy pol = FullPolicy::evict)
{
    FlowTableConfig c;
    c.max_flows = flows;
    c.full_policy = pol;
    c.seed = 0x0123456789abcdefull;
    c.sweep_ms = 1;   // every expire() with >= 1 ms elapsed scans the whole table
    return c;
}

// Deterministic PRNG (splitmix64) for the random runs.
struct Rng {
    uint64_t s;
    uint64_t next()
    {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    uint32_t below(uint32_t n) { return uint32_t(next() % n); }
};

} // namespace

TEST_GROUP(FlowTable)
{
    Sink sink;
    FlowTable t;
};

TEST(FlowTable, CapacityRoundingAndBadConfig)
{
    LONGS_EQUAL(0, FlowTable::capacity_for(0));
    LONGS_EQUAL(8, FlowTable::capacity_for(1));
    LONGS_EQUAL(8, FlowTable::capacity_for(8));
    LONGS_EQUAL(16, FlowTable::capacity_for(9));
    LONGS_EQUAL(65536, FlowTable::capacity_for(65536));
    LONGS_EQUAL(131072, FlowTable::capacity_for(65537));
    LONGS_EQUAL(1u << 24, FlowTable::capacity_for(1u << 24));
    LONGS_EQUAL(0, FlowTable::capacity_for((1u << 24) + 1));
    LONGS_EQUAL(0, FlowTable::bytes_for(0));

    FlowTableConfig c;
    c.max_flows = 0;
    CHECK(t.init(c) == Status::bad_input);
    c.max_flows = (1u << 24) + 1;
    CHECK(t.init(c) == Status::bad_input);
    c.max_flows = 100;
    c.sweep_ms = 0;
    CHECK(t.init(c) == Status::bad_input);
    c.sweep_ms = 1000;
    c.inactive_timeout_ms = 0;
    CHECK(t.init(c) == Status::bad_input);
    c.inactive_timeout_ms = 15000;
    c.active_timeout_ms = 0;
    CHECK(t.init(c) == Status::bad_input);
    // Not initialised: update refuses instead of crashing.
    CHECK(t.update(delta(v4_key(1, 2, 3, 4), 1, 1, 0, 0), sink) == Status::bad_input);
    c.active_timeout_ms = 60000;
    CHECK(t.init(c) == Status::ok);
    LONGS_EQUAL(128, t.capacity());
    // Budget: <= 96 bytes per flow.
    CHECK(FlowTable::bytes_for(65536) <= size_t(96) * 65536);
    CHECK(FlowTable::bytes_for(1u << 20) <= size_t(96) * (1u << 20));
}

TEST(FlowTable, RejectsDeltaEndingBeforeItStarts)
{
    CHECK(t.init(cfg_small(64)) == Status::ok);
    CHECK(t.update(delta(v4_key(1, 2, 3, 4), 1, 1, 100, 99), sink) == Status::bad_input);
    LONGS_EQUAL(0, t.size());
    LONGS_EQUAL(1, t.stats().bad_deltas);
}

TEST(FlowTable, HitAggregatesCountsTimesAndFlags)
{
    CHECK(t.init(cfg_small(1024)) == Status::ok);
    FlowKey k = v4_key(0x0a000001, 0x0a000002, 1234, 80);
    CHECK(t.update(delta(k, 2, 120, 1000, 1010, kTcpSyn), sink) == Status::ok);
    CHECK(t.update(delta(k, 3, 4500, 990, 1005, kTcpAck), sink) == Status::ok);
    CHECK(t.update(delta(k, 1, 52, 1020, 1500, kTcpPsh | kTcpAck), sink) == Status::ok);
    LONGS_EQUAL(1, t.size());
    LONGS_EQUAL(0, sink.n);
    t.flush(2000, EndReason::forced_end, sink);
    LONGS_EQUAL(1, sink.n);
    const FlowRecord& r = sink.rec[0];
    CHECK(r.key == k);
    CHECK(r.packets == 6);
    CHECK(r.octets == 4672);
    CHECK(r.first_ms == 990);
    CHECK(r.last_ms == 1500);
    LONGS_EQUAL(0x1a, r.tcp_flags);   // SYN|ACK|PSH
    CHECK(r.end_reason == EndReason::forced_end);
    LONGS_EQUAL(0, r.flags);
    LONGS_EQUAL(1, t.stats().flows_created);
    LONGS_EQUAL(3, t.stats().updates);
}

TEST(FlowTable, MacsTakenWhenTheDeltaHasThem)
{
    CHECK(t.init(cfg_small(64)) == Status::ok);
    FlowKey a = v4_key(1, 2, 3, 4, 17);
    FlowKey b = v4_key(1, 2, 3, 5, 17);
    CHECK(t.update(delta(a, 1, 100, 0, 0), sink) == Status::ok);
    FlowDelta d = delta(a, 1, 100, 1, 1);
    d.has_mac = 1;
    const uint8_t sm[6] = {0x02, 0, 0, 0, 0, 0x01}, dm[6] = {0x02, 0, 0, 0, 0, 0x02};
    std::memcpy(d.src_mac, sm, 6);
    std::memcpy(d.dst_mac, dm, 6);
    CHECK(t.update(d, sink) == Status::ok);
    // A later delta without MACs keeps the known ones, and one with other MACs too: the
    // record carries the MACs of the flow's first frame (README).
    CHECK(t.update(delta(a, 1, 100, 2, 2), sink) == Status::ok);
    FlowDelta later = delta(a, 0, 0, 2, 2);
    later.has_mac = 1;
    std::memset(later.src_mac, 0x0e, 6);
    std::memset(later.dst_mac, 0x0f, 6);
    CHECK(t.update(later, sink) == Status::ok);
    CHECK(t.update(delta(b, 1, 100, 0, 0), sink) == Status::ok);
    t.flush(10, EndReason::forced_end, sink);
    LONGS_EQUAL(2, sink.n);
    for (int i = 0; i < 2; ++i) {
        const FlowRecord& r = sink.rec[i];
        if (r.key == a) {
            LONGS_EQUAL(kRecHasMac, r.flags);
            MEMCMP_EQUAL(sm, r.src_mac, 6);
            MEMCMP_EQUAL(dm, r.dst_mac, 6);
            CHECK(r.packets == 3);
        } else {
            CHECK(r.key == b);
            LONGS_EQUAL(0, r.flags);
            const uint8_t zero[6] = {};
            MEMCMP_EQUAL(zero, r.src_mac, 6);
        }
    }
}

// Every byte of the key that can be non-zero (0..48; 49..51 are padding) separates flows,
// both with the real hash and when a constant hash puts both keys in one bucket with one tag,
// so only the full key compare can tell them apart.
static void check_one_byte_apart(const FlowKey& base, bool collide)
{
    for (size_t i = 0; i < 49; ++i) {
        FlowTable t;
        Sink sink;
        FlowTableConfig c = cfg_small(collide ? 8 : 4096);
        if (collide) c.hash_override = const_hash;
        CHECK(t.init(c) == Status::ok);
        FlowKey other = base;
        reinterpret_cast<uint8_t*>(&other)[i] ^= 0x01;
        if (collide) LONGS_EQUAL(t.bucket_of(base), t.bucket_of(other));
        CHECK(t.update(delta(base, 1, 10, 0, 0), sink) == Status::ok);
        CHECK(t.update(delta(other, 2, 20, 0, 0), sink) == Status::ok);
        CHECK(t.update(delta(base, 4, 40, 0, 0), sink) == Status::ok);
        LONGS_EQUAL(2, t.size());
        t.flush(1, EndReason::forced_end, sink);
        LONGS_EQUAL(2, sink.n);
        for (int j = 0; j < 2; ++j) {
            if (sink.rec[j].key == base) {
                CHECK(sink.rec[j].packets == 5);
            } else {
                CHECK(sink.rec[j].key == other);
                CHECK(sink.rec[j].packets == 2);
            }
        }
    }
}

TEST(FlowTable, KeysOneByteApartStaySeparateV4)
{
    check_one_byte_apart(v4_key(0xc0a80001, 0x08080808, 5353, 53, 17), false);
    check_one_byte_apart(v4_key(0xc0a80001, 0x08080808, 5353, 53, 17), true);
}

TEST(FlowTable, KeysOneByteApartStaySeparateV6)
{
    check_one_byte_apart(v6_key(), false);
    check_one_byte_apart(v6_key(), true);
}

TEST(FlowTable, IdleTimeoutAtExactBoundary)
{
    FlowTableConfig c = cfg_small(64);
    c.inactive_timeout_ms = 15000;
    CHECK(t.init(c) == Status::ok);
    FlowKey k = v4_key(1, 2, 3, 4);
    CHECK(t.update(delta(k, 1, 60, 1000, 1000), sink) == Status::ok);
    t.expire(1000 + 14999, sink);
    LONGS_EQUAL(0, sink.n);
    LONGS_EQUAL(1, t.size());
    t.expire(1000 + 15000, sink);
    LONGS_EQUAL(1, sink.n);
    CHECK(sink.rec[0].end_reason == EndReason::idle_timeout);
    CHECK(sink.rec[0].last_ms == 1000);
    LONGS_EQUAL(0, t.size());
    LONGS_EQUAL(1, t.stats().expired_idle);
}

TEST(FlowTable, ActiveTimeoutAtExactBoundaryThenNewRecord)
{
    FlowTableConfig c = cfg_small(64);
    c.active_timeout_ms = 60000;
    c.inactive_timeout_ms = 15000;
    CHECK(t.init(c) == Status::ok);
    FlowKey k = v4_key(1, 2, 3, 4);
    // One packet per second from t=0 to t=59 s: never idle.
    for (MonoMs ms = 0; ms < 60000; ms += 1000) {
        CHECK(t.update(delta(k, 1, 100, ms, ms), sink) == Status::ok);
        t.expire(ms + 999, sink);
    }
    LONGS_EQUAL(0, sink.n);
    t.expire(59999, sink);
    LONGS_EQUAL(0, sink.n);
    t.expire(60000, sink);
    LONGS_EQUAL(1, sink.n);
    CHECK(sink.rec[0].end_reason == EndReason::active_timeout);
    CHECK(sink.rec[0].packets == 60);
    CHECK(sink.rec[0].first_ms == 0);
    CHECK(sink.rec[0].last_ms == 59000);
    LONGS_EQUAL(0, t.size());
    CHECK(t.update(delta(k, 1, 100, 60500, 60500), sink) == Status::ok);
    t.flush(61000, EndReason::forced_end, sink);
    LONGS_EQUAL(2, sink.n);
    CHECK(sink.rec[1].packets == 1);
    CHECK(sink.rec[1].first_ms == 60500);
}

TEST(FlowTable, FinAndRstEndTheFlowIncludingThatDelta)
{
    CHECK(t.init(cfg_small(64)) == Status::ok);
    FlowKey a = v4_key(1, 2, 1000, 80);
    FlowKey b = v4_key(1, 2, 1001, 80);
    CHECK(t.update(delta(a, 3, 300, 0, 10, kTcpSyn | kTcpAck), sink) == Status::ok);
    CHECK(t.update(delta(a, 1, 40, 20, 20, kTcpFin | kTcpAck), sink) == Status::ok);
    CHECK(t.update(delta(b, 2, 200, 0, 5, kTcpSyn), sink) == Status::ok);
    CHECK(t.update(delta(b, 1, 40, 30, 30, kTcpRst), sink) == Status::ok);
    LONGS_EQUAL(2, sink.n);
    LONGS_EQUAL(0, t.size());
    CHECK(sink.rec[0].key == a);
    CHECK(sink.rec[0].end_reason == EndReason::end_of_flow);
    CHECK(sink.rec[0].packets == 4);
    CHECK(sink.rec[0].octets == 340);
    CHECK(sink.rec[0].last_ms == 20);
    LONGS_EQUAL(0x13, sink.rec[0].tcp_flags);
    CHECK(sink.rec[1].key == b);
    CHECK(sink.rec[1].end_reason == EndReason::end_of_flow);
    CHECK(sink.rec[1].packets == 3);
    LONGS_EQUAL(0x06, sink.rec[1].tcp_flags);
    // A lone RST for an unknown flow is exported at once, too.
    CHECK(t.update(delta(v4_key(9, 9, 9, 9), 1, 40, 40, 40, kTcpRst), sink) == Status::ok);
    LONGS_EQUAL(3, sink.n);
    CHECK(sink.rec[2].packets == 1);
    LONGS_EQUAL(0, t.size());
    LONGS_EQUAL(3, t.stats().ended_tcp);
    // The FIN bit means nothing for UDP.
    CHECK(t.update(delta(v4_key(1, 2, 3, 4, 17), 1, 40, 50, 50, kTcpFin), sink) == Status::ok);
    LONGS_EQUAL(3, sink.n);
    LONGS_EQUAL(1, t.size());
}

TEST(FlowTable, EvictPolicyEvictsLruTailAndMidInsertionProtectsHotFlow)
{
    FlowTableConfig c = cfg_small(8);   // one bucket of 8 ways
    CHECK(t.init(c) == Status::ok);
    FlowKey k[8];
    for (uint16_t i = 0; i < 8; ++i) {
        k[i] = v4_key(1, 2, uint16_t(100 + i), 80, 17);
        CHECK(t.update(delta(k[i], 1, 10, 0, 0), sink) == Status::ok);
    }
    // Hit 7, 6, ..., 0: recency order is now 0 (newest) .. 7 (oldest).
    for (int i = 7; i >= 0; --i) CHECK(t.update(delta(k[i], 1, 10, 1, 1), sink) == Status::ok);
    FlowKey n0 = v4_key(9, 9, 1, 1, 17);
    CHECK(t.update(delta(n0, 1, 10, 2, 2), sink) == Status::ok);
    LONGS_EQUAL(1, sink.n);
    CHECK(sink.rec[0].key == k[7]);
    CHECK(sink.rec[0].end_reason == EndReason::lack_of_resources);
    CHECK(sink.rec[0].packets == 2);
    LONGS_EQUAL(8, t.size());

    // Hot flow k[3]: hit once, then a burst of 100 one-packet flows. New flows enter at the
    // middle, so they evict each other and never reach the front half.
    CHECK(t.update(delta(k[3], 1, 10, 3, 3), sink) == Status::ok);
    for (uint16_t i = 0; i < 100; ++i) {
        CHECK(t.update(delta(v4_key(7, 7, i, 7, 17), 1, 10, 4, 4), sink) == Status::ok);
    }
    LONGS_EQUAL(101, sink.n);
    for (int i = 0; i < Sink::kKeep && i < sink.n; ++i) {
        CHECK(!(sink.rec[i].key == k[3]));
        CHECK(sink.rec[i].end_reason == EndReason::lack_of_resources);
    }
    LONGS_EQUAL(101, t.stats().evicted_full);
    t.flush(5, EndReason::forced_end, sink);
    bool found = false;
    for (int i = 101; i < sink.n; ++i) {
        if (sink.rec[i].key == k[3]) {
            found = true;
            CHECK(sink.rec[i].packets == 3);
        }
    }
    CHECK(found);
}

TEST(FlowTable, DropPolicyRefusesAndCounts)
{
    CHECK(t.init(cfg_small(8, FullPolicy::drop)) == Status::ok);
    for (uint16_t i = 0; i < 8; ++i) {
        CHECK(t.update(delta(v4_key(1, 2, i, 80, 17), 1, 10, 0, 0), sink) == Status::ok);
    }
    for (uint16_t i = 0; i < 5; ++i) {
        CHECK(t.update(delta(v4_key(3, 4, i, 80, 17), 2, 150, 0, 0), sink) == Status::full);
    }
    LONGS_EQUAL(0, sink.n);
    CHECK(t.stats().dropped_flows == 5);
    CHECK(t.stats().dropped_packets == 10);
    CHECK(t.stats().dropped_octets == 750);
    CHECK(t.stats().evicted_full == 0);
    // Existing flows still aggregate.
    CHECK(t.update(delta(v4_key(1, 2, 0, 80, 17), 1, 10, 1, 1), sink) == Status::ok);
    LONGS_EQUAL(8, t.size());
}

TEST(FlowTable, FlushExportsEverythingWithForcedEnd)
{
    CHECK(t.init(cfg_small(1024)) == Status::ok);
    for (uint32_t i = 0; i < 300; ++i) {
        CHECK(t.update(delta(v4_key(i, 1, 2, 3, 17), 1, 10, 0, 0), sink) == Status::ok);
    }
    uint32_t in_table = t.size();
    t.flush(100, EndReason::forced_end, sink);
    LONGS_EQUAL(int(in_table), sink.n);
    LONGS_EQUAL(int(in_table) + int(t.stats().evicted_full), 300);
    LONGS_EQUAL(int(in_table), int(sink.by_reason[int(EndReason::forced_end)]));
    LONGS_EQUAL(0, t.size());
    sink.reset();
    t.flush(100, EndReason::forced_end, sink);
    LONGS_EQUAL(0, sink.n);
    // Reusable after a flush.
    CHECK(t.update(delta(v4_key(1, 1, 2, 3, 17), 1, 10, 0, 0), sink) == Status::ok);
    LONGS_EQUAL(1, t.size());
}

// A link monitor event: interface 7 went away. The table holds flows of interfaces 7 and 9
// (ingress on 7, egress on 7, both on 9, 7 -> 9 forwarded): exactly the ones naming 7 come out,
// forced_end, with their own counters; the others stay, untouched, and keep aggregating.
TEST(FlowTable, FlushInterfaceExportsOnlyThatInterfacesFlows)
{
    CHECK(t.init(cfg_small(1024)) == Status::ok);
    // 40 flows in on 7 (out 0), 30 out on 7 (in 0), 50 in on 9, 20 forwarded 7 -> 9, 10 on 9
    // -> 11: 90 name interface 7, 60 do not.
    struct Group { uint32_t in, out, n, base; };
    const Group groups[] = {{7, 0, 40, 1000}, {0, 7, 30, 2000}, {9, 0, 50, 3000},
                            {7, 9, 20, 4000}, {9, 11, 10, 5000}};
    uint64_t pk7 = 0, oc7 = 0;
    for (const Group& g : groups) {
        for (uint32_t i = 0; i < g.n; ++i) {
            FlowKey k = v4_key(0x0a000000u + g.base + i, 0x0a640001u, uint16_t(1000 + i), 53, 17);
            k.in_if = g.in;
            k.out_if = g.out;
            const uint64_t pk = 1 + i % 3, oc = 100 * pk;
            CHECK(t.update(delta(k, pk, oc, 10, 20), sink) == Status::ok);
            if (g.in == 7 || g.out == 7) {
                pk7 += pk;
                oc7 += oc;
            }
        }
    }
    LONGS_EQUAL(150, t.size());
    LONGS_EQUAL(0, sink.n);
    LONGS_EQUAL(90, t.flush_interface(7, EndReason::forced_end, sink));
    LONGS_EQUAL(90, sink.n);
    LONGS_EQUAL(90, int(sink.by_reason[int(EndReason::forced_end)]));
    CHECK_EQUAL(pk7, sink.packets);
    CHECK_EQUAL(oc7, sink.octets);
    for (int i = 0; i < sink.n; ++i)
        CHECK(sink.rec[i].key.in_if == 7 || sink.rec[i].key.out_if == 7);
    LONGS_EQUAL(60, t.size());
    LONGS_EQUAL(90, int(t.stats().flushed));
    // Nothing left for 7; interface 0 ("unknown") is never a match.
    sink.reset();
    LONGS_EQUAL(0, t.flush_interface(7, EndReason::forced_end, sink));
    LONGS_EQUAL(0, t.flush_interface(0, EndReason::forced_end, sink));
    LONGS_EQUAL(0, sink.n);
    // The other interface's flows were not split: one more packet on one of them still
    // aggregates into the same record (no new flow).
    FlowKey k9 = v4_key(0x0a000000u + 3000, 0x0a640001u, 1000, 53, 17);
    k9.in_if = 9;
    const uint64_t created = t.stats().flows_created;
    CHECK(t.update(delta(k9, 1, 100, 30, 30), sink) == Status::ok);
    CHECK_EQUAL(created, t.stats().flows_created);
    t.flush(40, EndReason::forced_end, sink);
    LONGS_EQUAL(60, sink.n);
    uint64_t k9_packets = 0;
    for (int i = 0; i < sink.n; ++i) {
        CHECK(sink.rec[i].key.in_if != 7 && sink.rec[i].key.out_if != 7);
        if (sink.rec[i].key == k9) k9_packets = sink.rec[i].packets;
    }
    CHECK_EQUAL(2u, k9_packets);  // 1 (i = 0: 1 + 0 % 3) before, 1 after
}

static void conservation(FullPolicy pol, uint64_t seed)
{
    FlowTable t;
    Sink sink;
    FlowTableConfig c;
    c.max_flows = 64;
    c.full_policy = pol;
    c.seed = seed;
    c.active_timeout_ms = 5000;
    c.inactive_timeout_ms = 1500;
    c.sweep_ms = 1000;
    CHECK(t.init(c) == Status::ok);
    Rng rng{seed};
    uint64_t fed_p = 0, fed_o = 0;
    MonoMs now = 0;
    for (int i = 0; i < 20000; ++i) {
        now += rng.below(20);
        FlowKey k = v4_key(rng.below(300), 7, 1, 2, rng.below(4) ? 6 : 17);
        uint8_t flags = rng.below(50) == 0 ? kTcpFin : (rng.below(80) == 0 ? kTcpRst : kTcpAck);
        FlowDelta d = delta(k, 1 + rng.below(5), 40 + rng.below(1460), now, now, flags);
        fed_p += d.packets;
        fed_o += d.octets;
        Status s = t.update(d, sink);
        CHECK(s == Status::ok || (pol == FullPolicy::drop && s == Status::full));
        if (rng.below(10) == 0) t.expire(now, sink);
    }
    t.flush(now, EndReason::forced_end, sink);
    const FlowTableStats& st = t.stats();
    CHECK(sink.packets + st.dropped_packets == fed_p);
    CHECK(sink.octets + st.dropped_octets == fed_o);
    CHECK(uint64_t(sink.n) == st.expired_idle + st.expired_active + st.ended_tcp +
                                  st.evicted_full + st.flushed);
    CHECK(st.flows_created == uint64_t(sink.n));
    if (pol == FullPolicy::evict) CHECK(st.evicted_full > 0);
    if (pol == FullPolicy::drop) CHECK(st.dropped_flows > 0);
    CHECK(st.expired_idle > 0);
    CHECK(st.expired_active > 0);
}

TEST(FlowTable, ConservationOverLongRandomRunEvict) { conservation(FullPolicy::evict, 42); }
TEST(FlowTable, ConservationOverLongRandomRunDrop) { conservation(FullPolicy::drop, 7); }

TEST(FlowTable, ExpiryIsAmortised)
{
    FlowTableConfig c;
    c.max_flows = 1024;   // 128 buckets
    c.seed = 99;
    c.inactive_timeout_ms = 100;
    c.sweep_ms = 1000;    // 100 ms tick -> ceil(128 * 100 / 1000) = 13 buckets per call
    CHECK(t.init(c) == Status::ok);
    LONGS_EQUAL(128, t.bucket_count());
    t.expire(0, sink);    // first call: full pass, cursor wraps back to 0
    LONGS_EQUAL(0, t.sweep_cursor());
    FlowKey near_k{}, far_k{};
    bool have_near = false, have_far = false;
    for (uint32_t i = 0; i < 100000 && !(have_near && have_far); ++i) {
        FlowKey k = v4_key(i, 1, 2, 3, 17);
        uint32_t b = t.bucket_of(k);
        if (!have_near && b < 13) { near_k = k; have_near = true; }
        if (!have_far && b >= 64) { far_k = k; have_far = true; }
    }
    CHECK(have_near && have_far);
    CHECK(t.update(delta(near_k, 1, 10, 0, 0), sink) == Status::ok);
    CHECK(t.update(delta(far_k, 1, 10, 0, 0), sink) == Status::ok);
    t.expire(100, sink);   // both idle, but only buckets 0..12 are visited
    LONGS_EQUAL(13, t.sweep_cursor());
    LONGS_EQUAL(1, sink.n);
    CHECK(sink.rec[0].key == near_k);
    MonoMs now = 100;
    while (sink.n < 2 && now < 100 + 1000) {
        now += 100;
        t.expire(now, sink);
    }
    LONGS_EQUAL(2, sink.n);
    CHECK(sink.rec[1].key == far_k);
    CHECK(now <= 1100);   // within one sweep of becoming idle
}

TEST(FlowTable, NoHeapAllocationAfterInit)
{
    FlowTableConfig c = cfg_small(256);
    c.sweep_ms = 1000;
    c.inactive_timeout_ms = 300;
    c.active_timeout_ms = 2000;
    CHECK(t.init(c) == Status::ok);
    fa_test::AllocCounter counter;
    const int probe_count = counter.start();  // 1: the hook sees allocations
    Rng rng{5};
    MonoMs now = 0;
    for (int i = 0; i < 5000; ++i) {
        now += rng.below(10);
        FlowKey k = v4_key(rng.below(1000), 2, 3, 4, 6);
        (void)t.update(delta(k, 1, 100, now, now, rng.below(30) == 0 ? kTcpFin : 0), sink);
        t.expire(now, sink);
        if (i % 1000 == 999) t.flush(now, EndReason::forced_end, sink);
    }
    const int allocs = counter.stop();
    LONGS_EQUAL(1, probe_count);
    LONGS_EQUAL(0, allocs);
    CHECK(sink.n > 1000);
}
