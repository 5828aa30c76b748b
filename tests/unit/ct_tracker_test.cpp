// SPDX-License-Identifier: GPL-2.0-only
// CtTracker on synthetic entries and a fake clock: the event orders the kernel can produce
// (NEW/DESTROY races with dumps, DESTROY before NEW after an overrun, id reuse, a dump that finds
// a connection whose NEW was lost), the forced dump at stop without counter zeroing, baselines
// across a restart (the state file codec) and the fallback for unknown baselines. Ground truth:
// the counters written into the entries by hand; every check sums what the sink received.
#include <cstring>

#include "CppUTest/TestHarness.h"
#include "source/ct_state.h"
#include "source/ct_tracker.h"

using namespace fa;

namespace {

class FakeClock final : public Clock {
public:
    MonoMs mono_ms() override { return now; }
    int64_t wall_offset_ms() override { return 0; }
    MonoMs now = 1000;
};

class Sink final : public SourceSink {
public:
    void on_delta(const FlowDelta&) override {}
    void on_record(const FlowRecord& r) override
    {
        ++records;
        packets += r.packets;
        octets += r.octets;
        rev_packets += r.rev_packets;
        last_reason = r.end_reason;
    }
    void on_nat_event(const NatEvent& ev) override
    {
        if (ev.event == kNat44SessionCreate) ++creates;
        else ++deletes;
    }
    int records = 0, creates = 0, deletes = 0;
    uint64_t packets = 0, octets = 0, rev_packets = 0;
    EndReason last_reason = EndReason::none;
};

constexpr uint64_t kStartWallNs = 5000ull * 1000000ull;  // the listener started at wall 5 s

// UDP 10.0.0.2:sport -> 192.0.2.1:53, conntrack id `id`, counters as given.
CtEntry entry(uint32_t id, uint16_t sport, CtEvent ev, uint64_t op, uint64_t rp, bool nat = false,
              uint64_t start_ns = kStartWallNs + 1)
{
    CtEntry e;
    e.event = ev;
    e.family = 2;
    e.id = id;
    e.has_id = 1;
    const uint8_t c[4] = {10, 0, 0, 2}, s[4] = {192, 0, 2, 1}, r[4] = {203, 0, 113, 1};
    for (CtTuple* t : {&e.orig, &e.reply}) {
        t->src[10] = t->src[11] = t->dst[10] = t->dst[11] = 0xff;
        t->proto = 17;
        t->has_ip = t->has_proto = 1;
    }
    std::memcpy(e.orig.src + 12, c, 4);
    std::memcpy(e.orig.dst + 12, s, 4);
    std::memcpy(e.reply.src + 12, s, 4);
    std::memcpy(e.reply.dst + 12, nat ? r : c, 4);
    e.orig.src_port = sport;
    e.orig.dst_port = 53;
    e.reply.src_port = 53;
    e.reply.dst_port = sport;
    if (nat) e.status = kIpsSrcNat | kIpsConfirmed;
    e.orig_ctr = CtCounters{op, op * 100, 1};
    e.reply_ctr = CtCounters{rp, rp * 100, 1};
    e.tstamp_start_ns = start_ns;
    e.has_tstamp_start = 1;
    return e;
}

} // namespace

TEST_GROUP(CtTracker) {
    FakeClock clock;
    CtTracker t;
    Sink sink;
    void setup() override
    {
        CtTrackerConfig c;
        c.max_flows = 1024;
        c.active_ms = 10000;
        CHECK(t.init(c, clock, kStartWallNs) == Status::ok);
        t.begin(clock.now);
    }
    void at(MonoMs ms)
    {
        clock.now = ms;
        t.begin(ms);
    }
    // A whole dump cycle with the given replies.
    void dump(const CtEntry* replies, size_t n)
    {
        CHECK(t.dump_due());
        (void)t.begin_cycle();
        for (size_t i = 0; i < n; ++i) t.on_entry(replies[i], CtMode::dump, sink);
        t.end_cycle(true);
    }
};

TEST(CtTracker, DumpDeltasAndDestroySumToTheConnectionsTotal)
{
    t.on_entry(entry(7, 1000, CtEvent::create, 0, 0), CtMode::event, sink);
    at(20000);  // active timeout due
    CtEntry live = entry(7, 1000, CtEvent::update, 30, 20);
    dump(&live, 1);
    LONGS_EQUAL(1, sink.records);
    at(40000);
    live = entry(7, 1000, CtEvent::update, 45, 31);
    dump(&live, 1);
    t.on_entry(entry(7, 1000, CtEvent::destroy, 50, 40), CtMode::event, sink);
    LONGS_EQUAL(3, sink.records);
    UNSIGNED_LONGLONGS_EQUAL(50, sink.packets);
    UNSIGNED_LONGLONGS_EQUAL(5000, sink.octets);
    UNSIGNED_LONGLONGS_EQUAL(40, sink.rev_packets);
    LONGS_EQUAL(0, long(t.tracked()));
}

TEST(CtTracker, DumpReplyReadAfterTheDestroyIsNotCountedAgain)
{
    t.on_entry(entry(7, 1000, CtEvent::create, 0, 0), CtMode::event, sink);
    at(20000);
    (void)t.begin_cycle();
    // The DESTROY overtakes the dump chunk that still holds the entry.
    t.on_entry(entry(7, 1000, CtEvent::destroy, 10, 5), CtMode::event, sink);
    t.on_entry(entry(7, 1000, CtEvent::update, 9, 4), CtMode::dump, sink);
    t.end_cycle(true);
    LONGS_EQUAL(1, sink.records);
    UNSIGNED_LONGLONGS_EQUAL(10, sink.packets);
    UNSIGNED_LONGLONGS_EQUAL(5, sink.rev_packets);
    LONGS_EQUAL(0, long(t.tracked()));  // the tombstone went with the cycle
}

TEST(CtTracker, DestroyOfAnUnseenConnectionDuringADumpIsNotReinsertedByTheDump)
{
    at(20000);
    (void)t.begin_cycle();
    t.on_entry(entry(8, 1001, CtEvent::destroy, 3, 3), CtMode::event, sink);  // NEW was lost
    t.on_entry(entry(8, 1001, CtEvent::update, 3, 3), CtMode::dump, sink);
    t.end_cycle(true);
    LONGS_EQUAL(1, sink.records);
    UNSIGNED_LONGLONGS_EQUAL(3, sink.packets);
    LONGS_EQUAL(0, long(t.tracked()));
}

TEST(CtTracker, DestroyBeforeNewAfterAnOverrunRebuildsOneNatCreate)
{
    t.on_overrun();
    // The NEW was lost with the overrun; the DESTROY (never lost) is all that comes.
    t.on_entry(entry(9, 1002, CtEvent::destroy, 4, 2, true), CtMode::event, sink);
    LONGS_EQUAL(1, sink.creates);
    LONGS_EQUAL(1, sink.deletes);
    LONGS_EQUAL(1, sink.records);
    UNSIGNED_LONGLONGS_EQUAL(4, sink.packets);
    UNSIGNED_LONGLONGS_EQUAL(1, t.drops().source_events);  // the overrun
    UNSIGNED_LONGLONGS_EQUAL(1, t.nat_recovered());
}

TEST(CtTracker, NoNatCreateIsRebuiltWithoutAnOverrun)
{
    t.on_entry(entry(9, 1002, CtEvent::destroy, 4, 2, true), CtMode::event, sink);
    LONGS_EQUAL(0, sink.creates);  // its NEW was not lost: it went to a previous listener
    LONGS_EQUAL(1, sink.deletes);
}

TEST(CtTracker, ResyncDumpFindsAConnectionWhoseNewWasLost)
{
    t.on_overrun();
    CHECK(t.dump_due());
    CHECK(t.begin_cycle());  // a resync
    t.on_entry(entry(10, 1003, CtEvent::update, 6, 6, true), CtMode::dump, sink);
    t.end_cycle(true);
    LONGS_EQUAL(1, sink.creates);    // rebuilt from the dump reply
    LONGS_EQUAL(0, sink.records);    // active timeout not due: nothing exported yet
    LONGS_EQUAL(1, long(t.tracked()));
    // The NEW, still queued behind the dump, arrives: no second create.
    t.on_entry(entry(10, 1003, CtEvent::create, 0, 0, true), CtMode::event, sink);
    LONGS_EQUAL(1, sink.creates);
    t.on_entry(entry(10, 1003, CtEvent::destroy, 8, 7, true), CtMode::event, sink);
    LONGS_EQUAL(1, sink.creates);
    LONGS_EQUAL(1, sink.deletes);
    UNSIGNED_LONGLONGS_EQUAL(8, sink.packets);
    UNSIGNED_LONGLONGS_EQUAL(7, sink.rev_packets);
}

TEST(CtTracker, ResyncsAreSpacedAndAFailedOneIsRetried)
{
    t.on_overrun();
    CHECK(t.begin_cycle());
    t.end_cycle(true);
    t.on_overrun();
    CHECK(!t.dump_due());  // within kResyncGapMs of the last resync
    at(1000 + CtTracker::kResyncGapMs);
    CHECK(t.dump_due());
    CHECK(t.begin_cycle());
    t.end_cycle(false);  // error: retried at once, still a resync
    CHECK(t.dump_due());
    CHECK(t.begin_cycle());
    t.end_cycle(true);
    UNSIGNED_LONGLONGS_EQUAL(3, t.resyncs());
}

TEST(CtTracker, IdReuseByAnotherConnectionIsAnotherSlot)
{
    t.on_entry(entry(11, 1004, CtEvent::create, 0, 0), CtMode::event, sink);
    // Same id, another tuple (nf_ct_get_id() is a hash): tracked apart.
    t.on_entry(entry(11, 2004, CtEvent::create, 0, 0), CtMode::event, sink);
    LONGS_EQUAL(2, long(t.tracked()));
    at(20000);
    CtEntry both[2] = {entry(11, 1004, CtEvent::update, 5, 0), entry(11, 2004, CtEvent::update, 7, 0)};
    dump(both, 2);
    t.on_entry(entry(11, 1004, CtEvent::destroy, 6, 0), CtMode::event, sink);
    // The same id and tuple again later: a new connection, counted from zero.
    t.on_entry(entry(11, 1004, CtEvent::create, 0, 0), CtMode::event, sink);
    t.on_entry(entry(11, 1004, CtEvent::destroy, 2, 0), CtMode::event, sink);
    t.on_entry(entry(11, 2004, CtEvent::destroy, 9, 0), CtMode::event, sink);
    UNSIGNED_LONGLONGS_EQUAL(6 + 2 + 9, sink.packets);
}

TEST(CtTracker, CountersBelowTheBaselineCountWhole)
{
    t.on_entry(entry(12, 1005, CtEvent::create, 0, 0), CtMode::event, sink);
    at(20000);
    CtEntry live = entry(12, 1005, CtEvent::update, 50, 0);
    dump(&live, 1);
    // A DESTROY with lower counters is not that connection (a stale baseline): no wrap to 2^64.
    t.on_entry(entry(12, 1005, CtEvent::destroy, 3, 0), CtMode::event, sink);
    UNSIGNED_LONGLONGS_EQUAL(53, sink.packets);
}

TEST(CtTracker, ForcedDumpExportsDeltasWithoutZeroingAndKeepsTheBaseline)
{
    t.on_entry(entry(13, 1006, CtEvent::create, 0, 0), CtMode::event, sink);
    at(2000);
    t.on_entry(entry(13, 1006, CtEvent::update, 10, 4), CtMode::forced, sink);
    LONGS_EQUAL(1, sink.records);
    CHECK(sink.last_reason == EndReason::forced_end);
    // The kernel's counters were not touched: they keep growing from 10/4; the DESTROY
    // exports only what came after the forced dump.
    t.on_entry(entry(13, 1006, CtEvent::destroy, 12, 9), CtMode::event, sink);
    UNSIGNED_LONGLONGS_EQUAL(12, sink.packets);
    UNSIGNED_LONGLONGS_EQUAL(9, sink.rev_packets);
}

TEST(CtTracker, SweepFreesSlotsMissedByTwoCompleteCycles)
{
    t.on_entry(entry(14, 1007, CtEvent::create, 0, 0), CtMode::event, sink);
    at(20000);
    dump(nullptr, 0);
    LONGS_EQUAL(1, long(t.tracked()));
    at(40000);
    dump(nullptr, 0);
    LONGS_EQUAL(0, long(t.tracked()));
    UNSIGNED_LONGLONGS_EQUAL(1, t.swept());
    UNSIGNED_LONGLONGS_EQUAL(1, t.drops().source_events);
}

TEST(CtTracker, NoSweepSoonAfterAnOverrun)
{
    t.on_entry(entry(14, 1007, CtEvent::create, 0, 0), CtMode::event, sink);
    at(20000);
    t.on_overrun();
    dump(nullptr, 0);
    at(20000 + CtTracker::kResyncGapMs);
    dump(nullptr, 0);
    LONGS_EQUAL(1, long(t.tracked()));  // its DESTROY may still be re-delivered
}

TEST(CtTracker, BaselinesSurviveARestartThroughTheStateCodec)
{
    t.on_entry(entry(15, 1008, CtEvent::create, 0, 0, true), CtMode::event, sink);
    at(2000);
    t.on_entry(entry(15, 1008, CtEvent::update, 20, 10, true), CtMode::forced, sink);  // stop
    // Save as the platform does: header + records, CRC over the records.
    uint8_t file[kCtStateHeaderLen + 4 * kCtStateRecordLen] = {};
    CtStateHeader h;
    h.clean = true;
    h.netns = 42;
    std::strcpy(h.boot_id, "boot-a");
    size_t cursor = 0;
    CtBaseline b;
    while (t.next_baseline(cursor, b)) {
        ct_state_put_record(b, file + kCtStateHeaderLen + h.count * kCtStateRecordLen);
        ++h.count;
    }
    LONGS_EQUAL(1, long(h.count));
    h.crc = ct_crc32(0, file + kCtStateHeaderLen, h.count * kCtStateRecordLen);
    ct_state_put_header(h, file);
    const size_t len = kCtStateHeaderLen + h.count * kCtStateRecordLen;

    // The next run.
    CtTracker next;
    Sink s2;
    CtTrackerConfig c;
    c.active_ms = 10000;
    CHECK(next.init(c, clock, kStartWallNs + 9000000000ull) == Status::ok);
    next.begin(clock.now);
    CtStateHeader r;
    const char* why = "";
    CHECK(ct_state_get_header(file, r, &why) == Status::ok);
    CHECK(ct_state_judge(r, len, "boot-a", 42) == CtStateVerdict::use);
    UNSIGNED_LONGS_EQUAL(r.crc, ct_crc32(0, file + kCtStateHeaderLen, len - kCtStateHeaderLen));
    CHECK(next.restore(ct_state_get_record(file + kCtStateHeaderLen)));
    // Its NEW came to the previous run: no create now (create_seen kept); its DESTROY exports
    // only what came after the previous run's last export.
    next.on_entry(entry(15, 1008, CtEvent::destroy, 26, 13, true), CtMode::event, s2);
    UNSIGNED_LONGLONGS_EQUAL(6, s2.packets);
    UNSIGNED_LONGLONGS_EQUAL(3, s2.rev_packets);
    LONGS_EQUAL(0, s2.creates);
    LONGS_EQUAL(1, s2.deletes);

    // The verdicts for other files.
    CHECK(ct_state_judge(r, len, "boot-b", 42) == CtStateVerdict::stale);
    CHECK(ct_state_judge(r, len, "boot-a", 43) == CtStateVerdict::stale);
    CHECK(ct_state_judge(r, len - 1, "boot-a", 42) == CtStateVerdict::corrupt);
    r.clean = false;
    CHECK(ct_state_judge(r, len, "boot-a", 42) == CtStateVerdict::unclean);
    file[0] ^= 1;
    CHECK(ct_state_get_header(file, r, &why) == Status::bad_input);
    file[0] ^= 1;
    file[kCtStateHeaderLen + 9] ^= 1;  // a record byte: the CRC no longer matches
    CHECK(ct_crc32(0, file + kCtStateHeaderLen, len - kCtStateHeaderLen) != h.crc);
}

TEST(CtTracker, Crc32IsTheIeeeOne)
{
    const uint8_t s[] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
    UNSIGNED_LONGS_EQUAL(0xcbf43926u, ct_crc32(0, s, sizeof s));
}

TEST(CtTracker, UnknownBaselinesAreTakenFromTheFirstDumpNeverCountedTwice)
{
    t.set_baselines_unknown();
    const uint64_t before_start = kStartWallNs - 1000;
    // An old connection ends before the first dump reaches it: not exported (the previous run
    // may have exported part of it), counted as a drop.
    t.on_entry(entry(16, 1009, CtEvent::destroy, 30, 30, false, before_start), CtMode::event,
               sink);
    LONGS_EQUAL(0, sink.records);
    UNSIGNED_LONGLONGS_EQUAL(1, t.unknown_baseline_drops());
    // A connection started after this start counts from zero as always.
    t.on_entry(entry(17, 1010, CtEvent::destroy, 4, 0), CtMode::event, sink);
    UNSIGNED_LONGLONGS_EQUAL(4, sink.packets);
    // The first dump takes an old connection's counters as its baseline.
    CtEntry old = entry(18, 1011, CtEvent::update, 100, 50, false, before_start);
    dump(&old, 1);
    CHECK(!t.baselines_unknown());
    UNSIGNED_LONGLONGS_EQUAL(4, sink.packets);
    t.on_entry(entry(18, 1011, CtEvent::destroy, 103, 52, false, before_start), CtMode::event,
               sink);
    UNSIGNED_LONGLONGS_EQUAL(4 + 3, sink.packets);
    UNSIGNED_LONGLONGS_EQUAL(2, sink.rev_packets);
}

TEST(CtTracker, UntrackedConnectionsAreFlushedAtStopAndTheirBaselinesHandedOut)
{
    CtTracker small;
    CtTrackerConfig c;
    c.max_flows = 1;  // 1024 slots, 896 usable
    CHECK(small.init(c, clock, kStartWallNs) == Status::ok);
    small.begin(clock.now);
    for (uint16_t i = 0; i < 896; ++i)
        small.on_entry(entry(100 + i, uint16_t(3000 + i), CtEvent::create, 0, 0), CtMode::event,
                       sink);
    small.on_entry(entry(5000, 9000, CtEvent::create, 0, 0), CtMode::event, sink);
    UNSIGNED_LONGLONGS_EQUAL(1, small.untracked());
    struct Saved {
        int n = 0;
        CtBaseline b;
    } saved;
    small.set_untracked_export(
        [](const CtBaseline& b, void* ctx) {
            auto* s = static_cast<Saved*>(ctx);
            ++s->n;
            s->b = b;
        },
        &saved);
    const CtEntry live = entry(5000, 9000, CtEvent::update, 8, 8);
    small.on_entry(live, CtMode::forced, sink);
    LONGS_EQUAL(1, sink.records);  // shutdown flushes it, whole
    UNSIGNED_LONGLONGS_EQUAL(8, sink.packets);
    LONGS_EQUAL(1, saved.n);       // and its baseline goes to the state file
    UNSIGNED_LONGS_EQUAL(5000, saved.b.id);
    UNSIGNED_LONGS_EQUAL(ct_tuple_hash(live.orig), saved.b.tuple_hash);
    UNSIGNED_LONGLONGS_EQUAL(8, saved.b.exported.orig_packets);
    UNSIGNED_LONGLONGS_EQUAL(8, saved.b.exported.reply_packets);
    // Tracked connections are not handed out: their slots are saved.
    small.on_entry(entry(100, 3000, CtEvent::update, 1, 1), CtMode::forced, sink);
    LONGS_EQUAL(1, saved.n);
}

TEST(CtTracker, SamplingKeepsOnlyHashedConnectionsAndOwnExportIsSkipped)
{
    CtOwnSocket own;
    std::memcpy(own.local, entry(1, 1, CtEvent::create, 0, 0).orig.src, 16);
    std::memcpy(own.peer, entry(1, 1, CtEvent::create, 0, 0).orig.dst, 16);
    own.local_port = 4444;
    own.peer_port = 53;
    t.set_own(&own, 1);
    t.on_entry(entry(19, 4444, CtEvent::destroy, 5, 5), CtMode::event, sink);
    LONGS_EQUAL(0, sink.records);
    UNSIGNED_LONGLONGS_EQUAL(1, t.own_skipped());
}

TEST(CtTracker, ReloadCarriesTheBaselinesInMemory)
{
    t.on_entry(entry(20, 1012, CtEvent::create, 0, 0, true), CtMode::event, sink);
    LONGS_EQUAL(1, sink.creates);  // from its NEW
    at(2000);
    t.on_entry(entry(20, 1012, CtEvent::update, 11, 6, true), CtMode::forced, sink);  // SIGHUP
    CtTracker next;
    Sink s2;
    CtTrackerConfig c;
    c.max_flows = 4096;  // the new config may size the table differently
    CHECK(next.init(c, clock, kStartWallNs) == Status::ok);
    next.begin(clock.now);
    UNSIGNED_LONGS_EQUAL(1, next.adopt(t));
    next.on_overrun();  // even after an overrun of the new listener: its create was sent
    next.on_entry(entry(20, 1012, CtEvent::destroy, 15, 9, true), CtMode::event, s2);
    UNSIGNED_LONGLONGS_EQUAL(4, s2.packets);
    UNSIGNED_LONGLONGS_EQUAL(3, s2.rev_packets);
    LONGS_EQUAL(0, s2.creates);
    LONGS_EQUAL(1, s2.deletes);
}
