// SPDX-License-Identifier: GPL-2.0-only
#include "source/generator.h"

#include <CppUTest/TestHarness.h>

using namespace fa;

namespace {
struct Counting : SourceSink {
    uint64_t packets = 0, octets = 0, deltas = 0;
    uint64_t v6 = 0, icmp = 0;
    void on_delta(const FlowDelta& d) override
    {
        ++deltas;
        packets += d.packets;
        octets += d.octets;
        if (!d.key.is_v4()) ++v6;
        if (d.key.is_icmp()) ++icmp;
    }
    void on_record(const FlowRecord&) override {}
};
} // namespace

TEST_GROUP(Generator) {};

TEST(Generator, EmitsExactlyTheDuePacketsAtTheConfiguredRate)
{
    GeneratorConfig cfg;
    cfg.flows = 16;
    cfg.packets_per_s = 2000;
    Generator g;
    Counting sink;
    g.start(cfg, 1000);
    g.step(1000, sink);
    LONGS_EQUAL(0, sink.packets);
    g.step(1250, sink);  // 250 ms at 2000/s
    LONGS_EQUAL(500, sink.packets);
    g.step(2000, sink);
    LONGS_EQUAL(2000, sink.packets);
    // One full cycle of 16 flows has 2 IPv6 flows (f % 8 == 7) and 1 ICMP flow (f % 16 == 5).
    LONGS_EQUAL(2000 / 16 * 2, sink.v6);
    LONGS_EQUAL(2000 / 16 * 1, sink.icmp);
}

TEST(Generator, StopsAtDurationAndOctetsMatchThePacketFormula)
{
    GeneratorConfig cfg;
    cfg.flows = 3;
    cfg.packets_per_s = 100;
    cfg.duration_s = 2;
    Generator g;
    Counting sink;
    g.start(cfg, 0);
    g.step(60000, sink);
    CHECK(g.done());
    LONGS_EQUAL(200, sink.packets);
    uint64_t want = 0;
    for (uint64_t n = 0; n < 200; ++n) want += 60 + (n * 37) % 1400;
    CHECK(want == sink.octets);
    CHECK(want == g.octets_sent());
}

TEST(Generator, BudgetDefersPacketsWithoutLosingThem)
{
    GeneratorConfig cfg;
    cfg.packets_per_s = 1000;
    Generator g;
    Counting sink;
    g.start(cfg, 0);
    g.step(1000, sink, 300);
    LONGS_EQUAL(300, sink.packets);
    g.step(1000, sink, 300);
    LONGS_EQUAL(600, sink.packets);
    g.step(1000, sink);
    LONGS_EQUAL(1000, sink.packets);
}
