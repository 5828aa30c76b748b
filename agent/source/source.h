// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include <cstddef>

#include "flow/flow_record.h"
#include "flow/nat_event.h"

namespace fa {

// Where sources deliver what they observed. Packet sources (XDP, tc, generator) produce
// FlowDeltas that the flow table aggregates; the conntrack source aggregates in the kernel and
// produces finished FlowRecords (with NAT fields; one biflow record per connection, kRecBiflow,
// that the agent splits for uniflow collectors) that go straight to the exporters, and NAT
// session events (RFC 8158) for the collectors that asked for them.
class SourceSink {
public:
    virtual ~SourceSink() = default;
    virtual void on_delta(const FlowDelta& delta) = 0;
    // The same for `n` deltas in order (a drain delivers thousands at once): the agent uses
    // the look-ahead to prefetch flow-table buckets.
    virtual void on_deltas(const FlowDelta* d, size_t n)
    {
        for (size_t i = 0; i < n; ++i) on_delta(d[i]);
    }
    virtual void on_record(const FlowRecord& record) = 0;
    virtual void on_nat_event(const NatEvent& ev) { (void)ev; }
};

} // namespace fa
