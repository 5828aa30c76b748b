// SPDX-License-Identifier: GPL-2.0-only
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/status.h"
#include "core/time.h"
#include "flow/flow_key.h"
#include "flow/flow_record.h"

namespace fa {

// What to do with a new flow whose bucket is full (STYLE 2.6).
enum class FullPolicy : uint8_t {
    evict,  // export the bucket's LRU tail with EndReason::lack_of_resources, take its slot
    drop,   // refuse the new flow; count it in dropped_flows/packets/octets
};

struct FlowTableConfig {
    // Rounded up to a power of two, at least kFlowTableWays (so always a multiple of the ways).
    // 0 and values above kFlowTableMaxFlows are rejected with Status::bad_input.
    uint32_t max_flows = 65536;
    uint32_t active_timeout_ms = 60000;   // export when now - first >= this (ms, > 0)
    uint32_t inactive_timeout_ms = 15000; // export when now - last >= this (ms, > 0)
    FullPolicy full_policy = FullPolicy::evict;
    uint64_t seed = 0;          // per-start random seed from the platform
    uint32_t sweep_ms = 1000;   // every bucket visited at least once per sweep (ms, > 0)
    // Tests only: replaces the keyed hash (e.g. a constant, to force every key into one
    // bucket with one tag). nullptr = the built-in seeded hash.
    uint64_t (*hash_override)(const FlowKey& k, uint64_t seed) = nullptr;
};

class RecordSink {
public:
    virtual ~RecordSink() = default;
    virtual void on_record(const FlowRecord& r) = 0;
};

// Read-only view of one live flow, for snapshots (the control socket's `flows`).
class FlowVisitor {
public:
    virtual ~FlowVisitor() = default;
    virtual void on_flow(const FlowKey& key, uint64_t packets, uint64_t octets, MonoMs first_ms,
                         MonoMs last_ms) = 0;
};

struct FlowTableStats {
    uint64_t flows_created = 0, updates = 0, expired_idle = 0, expired_active = 0, ended_tcp = 0,
             evicted_full = 0, flushed = 0;
    uint64_t dropped_flows = 0, dropped_packets = 0, dropped_octets = 0;  // drop policy
    uint64_t bad_deltas = 0;   // update() refused with Status::bad_input (last_ms < first_ms)
};

constexpr uint32_t kFlowTableWays = 8;
constexpr uint32_t kFlowTableMaxFlows = 1u << 24;

// Keyed 64-bit hash over all 52 bytes of the key (xxh64 short-input construction). Lanes are
// read in host byte order: only bucket placement depends on it, never wire bytes.
uint64_t flow_key_hash(const FlowKey& k, uint64_t seed);

// Fixed-capacity, set-associative flow table (STYLE 2.6). Buckets of kFlowTableWays slots;
// a key lives only in bucket hash & (buckets - 1). Lookups compare a 1-byte tag first, then
// the full key. Each bucket keeps an LRU order: hits move to the front, new flows go in at the
// middle (position min(used, W/2)), so a burst of one-packet flows cannot push out a busy
// flow. A TCP delta with FIN or RST ends its flow at once (end_of_flow, record includes it);
// if the flow was unknown it is exported directly without taking a slot.
// All memory is allocated once in init(); update/expire/flush never allocate.
// Not thread-safe: one owner thread.
class FlowTable {
public:
    FlowTable() = default;
    ~FlowTable();
    FlowTable(const FlowTable&) = delete;
    FlowTable& operator=(const FlowTable&) = delete;

    // Bytes init() will allocate for max_flows (after rounding); 0 when max_flows is invalid.
    static size_t bytes_for(uint32_t max_flows);
    // Rounded capacity for max_flows; 0 when invalid.
    static uint32_t capacity_for(uint32_t max_flows);

    [[nodiscard]] Status init(const FlowTableConfig& cfg);
    // Status::full = the flow was dropped (drop policy, counted); Status::bad_input = the delta
    // is malformed (last_ms < first_ms) or init() has not succeeded.
    [[nodiscard]] Status update(const FlowDelta& d, RecordSink& sink);
    // update() of d[0..n) in order, for a caller that has many at once (a drain): the keys are
    // hashed a chunk at a time and each bucket header is prefetched a few deltas before its
    // update, so the memory waits of a table larger than the caches overlap. The results are
    // exactly those of update() one by one (refusals are counted in stats() as there).
    void update_batch(const FlowDelta* d, size_t n, RecordSink& sink);
    // Amortised: scans ceil(buckets * elapsed / sweep_ms) buckets (elapsed = ms since the
    // previous call), resuming where the previous call stopped. The first call, a gap of a
    // whole sweep or more, and a clock that went backwards scan every bucket once. Exports
    // flows with now - last >= inactive (idle_timeout), else now - first >= active
    // (active_timeout); both remove the flow.
    void expire(MonoMs now, RecordSink& sink);
    void flush(MonoMs now, EndReason reason, RecordSink& sink);
    // An interface went away: exports (with `reason`) and removes every flow whose in_if or
    // out_if is `ifindex` (not 0); the others stay as they are. Visits every bucket once (a
    // link event, not the packet path). Returns how many flows it exported.
    uint32_t flush_interface(uint32_t ifindex, EndReason reason, RecordSink& sink);
    // A reload that changes only the timeouts: the flows stay, the next expire() applies the
    // new ones. Status::bad_input (and nothing changed) for 0.
    [[nodiscard]] Status set_timeouts(uint32_t active_ms, uint32_t inactive_ms)
    {
        if (active_ms == 0 || inactive_ms == 0) return Status::bad_input;
        cfg_.active_timeout_ms = active_ms;
        cfg_.inactive_timeout_ms = inactive_ms;
        return Status::ok;
    }

    // Calls v.on_flow() for every flow in buckets [from, from + n) (clipped to the table);
    // returns the bucket to continue from, bucket_count() when the walk is complete. Never
    // changes the table: a caller may walk a large table a budget of buckets at a time.
    uint32_t visit(uint32_t from, uint32_t n, FlowVisitor& v) const;
    uint32_t size() const { return size_; }
    uint32_t capacity() const { return buckets_n_ * kFlowTableWays; }
    const FlowTableStats& stats() const { return stats_; }

    // Introspection for tests.
    uint32_t bucket_count() const { return buckets_n_; }
    uint32_t bucket_of(const FlowKey& k) const;
    uint32_t sweep_cursor() const { return cursor_; }

    struct Bucket;

private:
    uint64_t hash(const FlowKey& k) const;
    void prefetch(uint64_t key_hash) const;
    Status update(const FlowDelta& d, uint64_t key_hash, RecordSink& sink);
    void emit(Bucket& b, uint32_t way, EndReason reason, RecordSink& sink);
    void remove(Bucket& b, uint32_t way);
    void expire_bucket(Bucket& b, MonoMs now, RecordSink& sink);

    Bucket* buckets_ = nullptr;
    uint32_t buckets_n_ = 0;
    uint32_t size_ = 0;
    uint32_t cursor_ = 0;
    bool expired_once_ = false;
    MonoMs last_expire_ms_ = 0;
    FlowTableConfig cfg_;
    FlowTableStats stats_;
};

} // namespace fa
