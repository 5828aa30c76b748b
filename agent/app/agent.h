// SPDX-License-Identifier: GPL-2.0-only
// The agent's wiring and tick logic, still OS-free: sources -> flow table -> exporters.
// platform/ owns the event loop, the sockets and the clocks and calls into this.
#pragma once
#include <cstddef>
#include <cstdint>

#include "app/config.h"
#include "core/status.h"
#include "core/time.h"
#include "export/export_types.h"
#include "export/exporter.h"
#include "flow/flow_table.h"
#include "source/source.h"

namespace fa {

// Where --print / [output] stdout = yes JSON lines go (stdout in the platform).
class LineSink {
public:
    virtual ~LineSink() = default;
    virtual void write_line(const char* line, size_t len) = 0;
};

struct AgentStats {
    uint64_t deltas = 0;           // FlowDeltas received from the source
    uint64_t delta_packets = 0;    // packets in them
    uint64_t delta_octets = 0;
    uint64_t records = 0;          // records handed to the exporters
    uint64_t record_packets = 0;
    uint64_t record_octets = 0;
    uint64_t nat_events = 0;             // NAT44 session events handed to the exporters
    uint64_t nat_events_v6_skipped = 0;  // IPv6 NAT (no RFC 8158 natEvent code): not exported
};

class Agent final : public SourceSink, public RecordSink, public OptionsProvider {
public:
    Agent() = default;
    Agent(const Agent&) = delete;
    Agent& operator=(const Agent&) = delete;

    // sinks[i] is the transport of cfg.collectors[i]. json may be null. All memory the agent
    // needs (table, export buffers) is allocated here, once.
    [[nodiscard]] Status init(const Config& cfg, DatagramSink* const* sinks, int sink_count,
                              LineSink* json, uint64_t seed, bool records_have_mac,
                              bool records_have_nat, SamplingKind sampling_kind);

    // The time used for everything that happens until the next call (records emitted by
    // update() are stamped with it at export). Call before each batch of events.
    void set_time(const ExportTime& t) { now_ = t; }
    const ExportTime& time() const { return now_; }

    // SourceSink (packet deltas into the table; finished records straight to the exporters)
    // and RecordSink (records the table emits): one on_record serves both.
    void on_delta(const FlowDelta& delta) override;
    void on_deltas(const FlowDelta* d, size_t n) override;
    void on_record(const FlowRecord& record) override;
    // Biflow records (kRecBiflow) go whole to biflow collectors and split into the two uniflow
    // records (flow/biflow.h) to the others and to JSON. NAT events go to the nat_events
    // collectors only.
    void on_nat_event(const NatEvent& ev) override;

    // A reload that keeps the flow table (same source, interfaces, [flows] size and policy,
    // [sampling]): applies the new timeouts and JSON output, and re-creates the exporter of
    // every collector index whose keep[i] is false (the old one sends its pending datagram
    // first; resume[i], if not null, continues a numbering). Collectors beyond the new count
    // are closed the same way. The flows stay in the table: nothing is flushed or split.
    // sinks[i] as in init(). Status::bad_input if cfg does not fit (the agent is unchanged
    // then, except exporters already re-created).
    [[nodiscard]] Status reconfigure(const Config& cfg, DatagramSink* const* sinks, int sink_count,
                                     LineSink* json, const bool* keep, const ExporterSeq* resume,
                                     const bool* resume_valid, bool records_have_mac,
                                     bool records_have_nat);

    // Every tick: amortised expiry, time-driven template/options refresh, send pending data.
    void tick();
    // Shutdown or reload: every flow out with forced_end, final statistics, everything sent.
    void flush_all();
    // An interface went away (deleted, or renamed away from its configured name): its flows
    // (in_if or out_if == ifindex) out with forced_end and sent now; no other flow is touched.
    // Returns how many flows were exported.
    uint32_t flush_interface(uint32_t ifindex);

    // OptionsProvider
    SamplingInfo sampling() const override { return sampling_; }
    Span<const InterfaceInfo> interfaces() const override
    {
        return Span<const InterfaceInfo>(ifaces_, size_t(iface_count_));
    }
    DropCounters drops() const override;

    void set_interfaces(const InterfaceInfo* infos, int count);
    // The interface table changed while running (a link came, went or was renamed): takes the
    // new table and sends the options records (interface names included) to every collector
    // now, so that collectors name the new ifIndex before its first flow.
    void interfaces_changed(const InterfaceInfo* infos, int count);
    void set_source_drops(const DropCounters& d) { source_drops_ = d; }

    const FlowTable& table() const { return table_; }
    const Exporter& exporter(int i) const { return exporters_[i]; }
    Exporter& exporter(int i) { return exporters_[i]; }
    int exporter_count() const { return exporter_count_; }
    const AgentStats& stats() const { return stats_; }

private:
    void count(const FlowDelta& delta);
    void set_json(LineSink* json);  // json_ and nat_json_ (after the exporters are set up)  // the delta totals in stats()

    FlowTable table_;
    Exporter exporters_[kMaxCollectors];
    int exporter_count_ = 0;
    LineSink* json_ = nullptr;
    bool nat_json_ = false;  // json_ and a collector with nat_events: NAT events as JSON too
    ExportTime now_;
    SamplingInfo sampling_;
    InterfaceInfo ifaces_[kMaxInterfaces];
    int iface_count_ = 0;
    DropCounters source_drops_;
    AgentStats stats_;
};

// The exporter settings for one collector, with defaults resolved.
ExporterConfig exporter_config_for(const Config& cfg, const CollectorConfig& c, bool with_mac,
                                   bool with_nat);

} // namespace fa
