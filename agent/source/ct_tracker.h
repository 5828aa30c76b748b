// SPDX-License-Identifier: GPL-2.0-only
// The conntrack source's state machine: what it remembers per connection (the counters already
// exported, the baseline of every delta), tombstones, the sweep of connections that never send a
// DESTROY, NAT-create recovery after an overrun, and the dump schedule (active-timeout dumps and
// resyncs). Portable and driven from outside: platform/linux/conntrack_source.cpp reads the
// sockets, parses every message into a CtEntry and hands it here, with the time read once per
// wake-up (begin()). The kernel's connection tracking is only ever read, never written: every
// record is a delta against the counters this tracker (or the previous run, through the state
// file, ct_state.h) already exported.
//
// Why the counts are exact. Counters reach us two ways: DESTROY events (final counters) and dumps
// of the table (live counters). Per connection the tracking table (fixed size, keyed by conntrack
// id and tuple hash) remembers what was already exported, and every record is the delta against
// that, so any mix of dumps and one DESTROY sums to the connection's total.
//  1. DESTROY is never lost: the event socket sets NETLINK_BROADCAST_ERROR, so a DESTROY that
//     cannot be queued stays in the kernel's event cache and is re-delivered (the platform side
//     checks that the option is set, and fails the start otherwise).
//  2. What an overrun can lose is NEW events. Without its NEW a connection has no tracking slot,
//     so it would get no active-timeout records. So each overrun (on_overrun) is counted and
//     followed by a resync dump, started at most every kResyncGapMs: every live connection gets
//     a slot, and from then on its active-timeout records; its DESTROY exports the rest. A resync
//     exports only the connections whose active timeout is due.
//  3. The race between the two sockets: a dump reply for X can be read after X's DESTROY (the
//     kernel built the dump chunk before X died). Re-inserting X would export it twice. So while a
//     dump runs, a DESTROY leaves a tombstone and dump replies for a dead key are ignored;
//     tombstones go when the cycle ends. No room for a tombstone: the cycle inserts no new slots.
//  4. Connections without a slot (table full: untracked()) get no dump records; their DESTROY
//     exports their whole lifetime. The forced dump at stop exports them too (shutdown flushes
//     every connection) and hands their counters to set_untracked_export()'s callback, so the
//     state file keeps their baselines as well: the next run applies them to the connections
//     its own table holds. One its table cannot hold either is exported whole again by its
//     DESTROY: a full table across a restart can count such a connection twice (logged as
//     untracked in both runs).
//  5. Connections created without the event extension never send a DESTROY. A dump gives them a
//     slot like any other; a slot missed by two complete cycles in a row is swept (swept(),
//     counted as a source-event drop). No cycle that starts less than kSweepHoldMs after an
//     overrun marks anything: the kernel may still be re-delivering DESTROYs (1).
// NAT session events (RFC 8158) come from NEW and DESTROY events, before flow sampling. After an
// overrun of this listener, creates whose NEW was lost are rebuilt (ct_recovered_nat_create) from
// a dump reply or the DESTROY, for connections that started after the listener; a slot's
// create_seen says a create was sent, by its NEW or rebuilt, so there is one create either way.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/status.h"
#include "core/time.h"
#include "export/export_types.h"
#include "source/conntrack_decode.h"
#include "source/source.h"

namespace fa {

struct CtTrackerConfig {
    size_t max_flows = 65536;      // slots: rounded up to a power of two, at least 1024
    MonoMs active_ms = 60000;      // active timeout
    uint32_t sample_rate = 1;      // flow sampling by tuple hash
    bool both_directions = true;
    bool with_mark = false, with_zone = false;
};

// How an entry reached the tracker.
enum class CtMode : uint8_t {
    event,   // the event socket (NEW / DESTROY)
    dump,    // a dump cycle (active timeout or resync)
    forced,  // the dump at stop: every tracked connection's delta, forcedEnd
    initial, // the dump at start, before the event socket: every live connection gets a slot,
             // nothing is exported (its baseline: zero, the state file's, or with baselines
             // unknown its current counters)
};

// One connection's baseline, as saved across a restart or a reload: its key and what was
// already exported of it.
struct CtBaseline {
    uint32_t id = 0;
    uint32_t tuple_hash = 0;
    CtExported exported;
    uint8_t create_seen = 0;
};

class CtTracker {
public:
    CtTracker() = default;
    ~CtTracker();
    CtTracker(const CtTracker&) = delete;
    CtTracker& operator=(const CtTracker&) = delete;

    // The one allocation: the slot table. start_wall_ns: CLOCK_REALTIME ns of the listener's
    // start (connections stamped after it are ours: their NAT creates may be rebuilt).
    [[nodiscard]] Status init(const CtTrackerConfig& cfg, Clock& clock, uint64_t start_wall_ns);
    size_t capacity() const { return cap_; }
    static size_t slot_bytes();

    // Called by the forced dump for each connection without a slot that it exported (point 4).
    using UntrackedExportFn = void (*)(const CtBaseline& b, void* ctx);
    void set_untracked_export(UntrackedExportFn fn, void* ctx)
    {
        untracked_fn_ = fn;
        untracked_ctx_ = ctx;
    }

    // The agent's own export sockets: their entries produce nothing.
    void set_own(const CtOwnSocket* own, size_t n);

    // Once per wake-up, before entries: reads the clock (monotonic now and the wall offset that
    // turns kernel timestamps into monotonic time).
    void begin(MonoMs now);
    MonoMs now() const { return now_; }

    // One decoded entry (an event, a dump reply, or a reply of the forced dump at stop).
    void on_entry(const CtEntry& e, CtMode mode, SourceSink& sink);

    // The event socket overran (ENOBUFS): events were lost, a resync is due.
    void on_overrun();

    // Dump schedule. dump_due(): true when a cycle should start now (a resync is pending and
    // allowed, or the active-timeout interval passed); then begin_cycle(), which says whether it
    // is a resync. end_cycle(complete): both families read to NLMSG_DONE (complete) or not
    // (an error: retried at once).
    bool dump_due() const;
    bool begin_cycle();
    void end_cycle(bool complete);
    bool cycle_running() const { return cycle_running_; }

    // Baselines. When the state file of the previous run could not be used and its baselines are
    // unknown (corrupt, or left by a run that did not stop cleanly), the first complete dump
    // cycle takes each connection's counters as its baseline without exporting them, and a
    // DESTROY that reaches a connection older than this start before that is counted as a drop,
    // not exported: never a second count of what the previous run may have exported.
    void set_baselines_unknown() { baselines_unknown_ = true; }
    bool baselines_unknown() const { return baselines_unknown_; }
    // Restores one baseline (a reload); false when the table has no room.
    bool restore(const CtBaseline& b);
    // A baseline from the state file, for a connection the initial dump found (the key, 64
    // bits of conntrack id and tuple hash, must match a slot: records of connections that are
    // gone, or of another namespace, match nothing). True when applied.
    bool apply_baseline(const CtBaseline& b);
    // After the initial dump (complete): baselines are known from here on.
    void initial_done() { baselines_unknown_ = false; }
    // Walks the live slots: call with cursor = 0 until it returns false.
    bool next_baseline(size_t& cursor, CtBaseline& out) const;
    // Moves every live slot of `from` into this tracker (a reload: the baselines stay in memory).
    size_t adopt(const CtTracker& from);

    // Counters for logs and drops.
    uint64_t overruns() const { return overruns_; }
    uint64_t resyncs() const { return resyncs_; }
    uint64_t untracked() const { return untracked_; }
    uint64_t swept() const { return swept_; }
    uint64_t nat_recovered() const { return nat_recovered_; }
    uint64_t own_skipped() const { return own_skipped_; }
    uint64_t offloaded() const { return offload_.entries; }
    uint64_t cycle_records() const { return cycle_records_; }
    uint64_t unknown_baseline_drops() const { return unknown_drops_; }
    size_t tracked() const { return count_ - dead_; }
    DropCounters drops() const { return drops_; }
    bool last_cycle_was_resync() const { return resync_; }
    // Set by on_entry when the first offloaded entry was seen (the platform logs it once).
    bool take_offload_warning()
    {
        const bool w = offload_warn_;
        offload_warn_ = false;
        return w;
    }
    // Set by end_cycle when it swept slots: how many (the platform logs it).
    size_t take_swept_now()
    {
        const size_t n = swept_now_;
        swept_now_ = 0;
        return n;
    }

    static constexpr MonoMs kSweepHoldMs = 30000;
    static constexpr MonoMs kResyncGapMs = 5000;

private:
    static constexpr uint8_t kLive = 1, kDead = 2;  // Slot::used; 0 = free
    struct Slot {
        uint64_t key;
        uint8_t used;
        uint8_t missed;       // complete dump cycles in a row that did not see it (point 5)
        uint8_t create_seen;  // NAT create sent, by its NEW or rebuilt
        MonoMs last_export_ms;
        CtExported exported;
    };
    static uint64_t slot_key(uint32_t tuple_hash, uint32_t id)
    {
        return uint64_t(tuple_hash) << 32 | id;
    }
    static size_t home_of(uint64_t key, size_t mask)
    {
        return size_t((key * 0x9e3779b97f4a7c15ull) >> 32) & mask;
    }
    Slot* find(uint64_t key, bool insert, bool tombstone = false);
    // Its baseline is unknown (set_baselines_unknown): it existed before this start.
    bool unknown_baseline(const CtEntry& e) const
    {
        return baselines_unknown_ && !(e.has_tstamp_start && e.tstamp_start_ns >= start_wall_ns_);
    }
    void erase(Slot* s);
    void nat_events(const CtEntry& e, uint64_t key, bool keep, SourceSink& sink);
    bool recover_nat_create(const CtEntry& e, SourceSink& sink);
    void track(const CtEntry& e, uint64_t key, CtMode mode, SourceSink& sink);

    Clock* clock_ = nullptr;
    Slot* slots_ = nullptr;
    size_t cap_ = 0;
    size_t count_ = 0;
    size_t dead_ = 0;
    CtTrackerConfig cfg_;
    MonoMs now_ = 0;
    int64_t wall_offset_ms_ = 0;
    uint64_t start_wall_ns_ = 0;
    CtOwnSocket own_[8];
    size_t n_own_ = 0;
    CtOffloadNotice offload_;
    bool offload_warn_ = false;
    bool baselines_unknown_ = false;
    // dump schedule
    bool cycle_running_ = false;
    bool resync_pending_ = false;
    bool resync_ = false;
    bool no_insert_ = false;
    bool cycle_sweepable_ = false;
    MonoMs next_dump_ms_ = 0;
    MonoMs last_resync_ms_ = 0;
    MonoMs last_overrun_ms_ = 0;
    // counters
    uint64_t overruns_ = 0, resyncs_ = 0, untracked_ = 0, swept_ = 0, nat_recovered_ = 0,
             own_skipped_ = 0, cycle_records_ = 0, unknown_drops_ = 0;
    size_t swept_now_ = 0;
    DropCounters drops_;
    UntrackedExportFn untracked_fn_ = nullptr;
    void* untracked_ctx_ = nullptr;
};

} // namespace fa
