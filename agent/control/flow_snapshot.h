// SPDX-License-Identifier: GPL-2.0-only
// A snapshot of the live flow table for `flowagent flows` / `top`: the top N flows or groups
// (by source, destination, host pair, port, protocol) by bytes, packets or rate.
//
// Logic:
//  1. begin(request, now): reset. step(table, budget): walk `budget` buckets (FlowTable::visit),
//     so that a 1,000,000-flow table is read over several loop iterations and metering never
//     waits long; the caller runs step() again until it returns true.
//  2. group = flow: each flow goes straight into a top-N min-heap. Otherwise flows add up in a
//     fixed open-addressing group table (kMaxGroups); flows of groups that find no room are
//     summed in `other` (reported, never silently left out).
//  3. At the end the top N groups are selected and sorted (descending).
// Rate of a flow = its counters over its duration in the table (last - first, at least 1 s):
// the average since its record started (flows are exported and restarted every
// active_timeout). A group's rate is the sum of its flows' rates.
// Memory: allocated once in init(); begin/step never allocate. The table may change between
// steps (a live snapshot, not an atomic one): a flow can be missed or seen twice only if it
// moves buckets, which it does not (a key lives in one bucket), so a flow is counted at most
// once; flows created in already-walked buckets after the walk passed them are not seen.
#pragma once
#include <cstddef>
#include <cstdint>

#include "control/control_request.h"
#include "core/status.h"
#include "core/time.h"
#include "flow/flow_table.h"

namespace fa {

constexpr uint32_t kMaxGroups = 4096;

struct SnapshotRow {
    // group = flow: the 5-tuple; src: a; dst: a; pair: a, b (a < b); port: proto, port;
    // proto: proto. Addresses in FlowKey encoding.
    uint8_t a[16] = {};
    uint8_t b[16] = {};
    uint16_t a_port = 0;
    uint16_t b_port = 0;
    uint8_t proto = 0;
    bool v4 = false;
    bool used = false;
    uint32_t flows = 0;
    uint64_t packets = 0;
    uint64_t octets = 0;
    uint64_t bps = 0;  // bits/s
    uint64_t pps = 0;  // packets/s
};

class FlowSnapshot final : private FlowVisitor {
public:
    FlowSnapshot() = default;
    ~FlowSnapshot() override;
    FlowSnapshot(const FlowSnapshot&) = delete;
    FlowSnapshot& operator=(const FlowSnapshot&) = delete;

    [[nodiscard]] Status init();
    void begin(const ControlRequest& req, MonoMs now);
    // Walks up to `budget_buckets` more buckets; true when the snapshot is complete.
    bool step(const FlowTable& table, uint32_t budget_buckets);

    const ControlRequest& request() const { return req_; }
    // After step() returned true: rows()[0 .. row_count()), largest first.
    const SnapshotRow* rows() const { return top_; }
    uint32_t row_count() const { return top_n_; }
    uint64_t flows_seen() const { return flows_seen_; }
    uint32_t groups() const { return groups_used_; }
    const SnapshotRow& other() const { return other_; }  // flows that found no group slot
    const SnapshotRow& total() const { return total_; }

    // Writes the result as JSON, text or TSV (req.format). Returns the length, or 0 if it
    // did not fit.
    size_t render(char* buf, size_t len) const;

private:
    void on_flow(const FlowKey& key, uint64_t packets, uint64_t octets, MonoMs first_ms,
                 MonoMs last_ms) override;
    uint64_t sort_key(const SnapshotRow& r) const;
    void offer(const SnapshotRow& r);  // into the top-N min-heap
    void sift_down(uint32_t n, const SnapshotRow& x);
    void finish();

    ControlRequest req_;
    MonoMs now_ = 0;
    uint32_t cursor_ = 0;
    bool done_ = false;
    SnapshotRow* groups_ = nullptr;  // kMaxGroups
    uint32_t groups_used_ = 0;
    SnapshotRow top_[kMaxTop];
    uint32_t top_n_ = 0;
    SnapshotRow other_;
    SnapshotRow total_;
    uint64_t flows_seen_ = 0;
};

} // namespace fa
