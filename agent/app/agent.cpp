// SPDX-License-Identifier: GPL-2.0-only
#include "app/agent.h"

#include <new>

#include "export/json_record.h"
#include "flow/biflow.h"

namespace fa {

ExporterConfig exporter_config_for(const Config& cfg, const CollectorConfig& c, bool with_mac,
                                   bool with_nat)
{
    ExporterConfig e;
    e.protocol = c.protocol;
    e.observation_domain = c.observation_domain ? c.observation_domain : cfg.observation_domain;
    e.max_datagram = c.max_datagram;
    // RFC 6728 default for IPFIX over UDP is 600 s; v9 devices commonly use 30 minutes.
    e.template_refresh_s = c.template_refresh_s
                               ? c.template_refresh_s
                               : (c.protocol == Protocol::ipfix ? 600u : 1800u);
    e.template_refresh_datagrams = c.template_refresh_datagrams;
    // What each source observes (a field it cannot observe is left out of the templates):
    // - xdp: the ingress hook: input interface, ToS, VLAN, TCP flags, direction (ingress);
    // - tc: ingress and egress hooks: a record has the input or the output interface, each
    //   direction its own layout;
    // - conntrack: none of these (no flags, interfaces, ToS, VLAN or direction in ctnetlink);
    // - generator: the input interface it is configured with, TCP flags, direction.
    switch (cfg.source) {
    case SourceKind::xdp: e.observed = kDfPacketFields | kDfInIf; break;
    case SourceKind::tc:
        e.observed = kDfPacketFields | kDfInIf | kDfOutIf;
        e.split_dir = true;
        break;
    case SourceKind::conntrack: e.observed = 0; break;
    case SourceKind::generator: e.observed = kDfTcpFlags | kDfDir | kDfInIf; break;
    }
    e.with_mac = with_mac;
    e.with_nat = with_nat;
    e.with_mark = cfg.source == SourceKind::conntrack && cfg.ct_mark;
    e.with_zone = cfg.source == SourceKind::conntrack && cfg.ct_zone;
    e.biflow = c.biflow;
    e.nat_events = c.nat_events;
    return e;
}

Status Agent::init(const Config& cfg, DatagramSink* const* sinks, int sink_count, LineSink* json,
                   uint64_t seed, bool records_have_mac, bool records_have_nat,
                   SamplingKind sampling_kind)
{
    if (sink_count != cfg.collector_count || sink_count > kMaxCollectors) return Status::bad_input;

    FlowTableConfig tc;
    tc.max_flows = cfg.max_flows;
    tc.active_timeout_ms = cfg.active_timeout_s * 1000u;
    tc.inactive_timeout_ms = cfg.inactive_timeout_s * 1000u;
    tc.full_policy = cfg.full_policy == FullPolicyCfg::drop ? FullPolicy::drop : FullPolicy::evict;
    tc.seed = seed;
    Status s = table_.init(tc);
    if (s != Status::ok) return s;

    sampling_.rate = cfg.sampling_rate;
    sampling_.mode = cfg.sampling_mode;
    sampling_.kind = sampling_kind;

    for (int i = 0; i < sink_count; ++i) {
        ExporterConfig ec =
            exporter_config_for(cfg, cfg.collectors[i], records_have_mac, records_have_nat);
        s = exporters_[i].init(ec, *sinks[i], *this);
        if (s != Status::ok) return s;
    }
    exporter_count_ = sink_count;
    set_json(json);
    return Status::ok;
}

void Agent::set_json(LineSink* json)
{
    json_ = json;
    // JSON lines are for exported records: NAT events once a collector takes them.
    nat_json_ = false;
    for (int i = 0; i < exporter_count_; ++i)
        nat_json_ = nat_json_ || exporters_[i].config().nat_events;
    nat_json_ = nat_json_ && json != nullptr;
}

Status Agent::reconfigure(const Config& cfg, DatagramSink* const* sinks, int sink_count,
                          LineSink* json, const bool* keep, const ExporterSeq* resume,
                          const bool* resume_valid, bool records_have_mac, bool records_have_nat)
{
    if (sink_count != cfg.collector_count || sink_count > kMaxCollectors) return Status::bad_input;
    Status s = table_.set_timeouts(cfg.active_timeout_s * 1000u, cfg.inactive_timeout_s * 1000u);
    if (s != Status::ok) return s;
    const int old_count = exporter_count_;
    const int n = old_count > sink_count ? old_count : sink_count;
    for (int i = 0; i < n; ++i) {
        if (i < sink_count && i < old_count && keep[i]) continue;
        if (i < old_count) {
            exporters_[i].flush(now_);  // its pending datagram goes to the old collector
            exporters_[i].~Exporter();
            new (&exporters_[i]) Exporter();
        }
        if (i >= sink_count) continue;
        ExporterConfig ec =
            exporter_config_for(cfg, cfg.collectors[i], records_have_mac, records_have_nat);
        s = exporters_[i].init(ec, *sinks[i], *this);
        if (s != Status::ok) return s;
        if (resume != nullptr && resume_valid != nullptr && resume_valid[i])
            exporters_[i].resume(resume[i]);
    }
    exporter_count_ = sink_count;
    set_json(json);
    return Status::ok;
}

void Agent::set_interfaces(const InterfaceInfo* infos, int count)
{
    if (count > kMaxInterfaces) count = kMaxInterfaces;
    for (int i = 0; i < count; ++i) ifaces_[i] = infos[i];
    iface_count_ = count;
}

DropCounters Agent::drops() const
{
    DropCounters d = source_drops_;
    const FlowTableStats& ts = table_.stats();
    d.table_full_flows = ts.dropped_flows;
    d.table_full_packets = ts.dropped_packets;
    d.table_full_octets = ts.dropped_octets;
    return d;
}

void Agent::count(const FlowDelta& delta)
{
    ++stats_.deltas;
    stats_.delta_packets += delta.packets;
    stats_.delta_octets += delta.octets;
}

// Status::full (from update()) means the drop policy refused a new flow; the table counted it,
// and the count reaches collectors through drops() in the statistics options record.
void Agent::on_delta(const FlowDelta& delta)
{
    count(delta);
    (void)table_.update(delta, *this);
}

// A table much larger than the CPU's caches (6 MB at the default 65,536 flows; a router's L2
// is 256 KB to 1 MB) makes each update wait for memory: FlowTable::update_batch overlaps
// those waits (tests/bench/bench_flow_table: 1M flows, about 40 against 100-126 ns/update).
void Agent::on_deltas(const FlowDelta* d, size_t n)
{
    for (size_t i = 0; i < n; ++i) count(d[i]);
    table_.update_batch(d, n, *this);
}

void Agent::on_record(const FlowRecord& record)
{
    FlowRecord uni[2];
    const size_t n_uni = biflow_split(record, uni);
    for (int i = 0; i < exporter_count_; ++i) {
        if (exporters_[i].config().biflow) {
            exporters_[i].add(record, now_);
        } else {
            for (size_t k = 0; k < n_uni; ++k) exporters_[i].add(uni[k], now_);
        }
    }
    for (size_t k = 0; k < n_uni; ++k) {
        ++stats_.records;
        stats_.record_packets += uni[k].packets;
        stats_.record_octets += uni[k].octets;
        if (json_) {
            char line[1024];
            size_t n = format_json(uni[k], now_, line, sizeof line);
            if (n > 0) json_->write_line(line, n);
        }
    }
}

void Agent::on_nat_event(const NatEvent& ev)
{
    if (!ev.is_v4()) {
        ++stats_.nat_events_v6_skipped;
        return;
    }
    ++stats_.nat_events;
    for (int i = 0; i < exporter_count_; ++i) exporters_[i].add_nat(ev, now_);
    if (nat_json_) {
        char line[512];
        size_t n = format_nat_json(ev, now_, line, sizeof line);
        if (n > 0) json_->write_line(line, n);
    }
}

void Agent::tick()
{
    table_.expire(now_.mono_ms, *this);
    for (int i = 0; i < exporter_count_; ++i) {
        exporters_[i].tick(now_);
        exporters_[i].flush(now_);
    }
}

uint32_t Agent::flush_interface(uint32_t ifindex)
{
    const uint32_t n = table_.flush_interface(ifindex, EndReason::forced_end, *this);
    for (int i = 0; i < exporter_count_; ++i) exporters_[i].flush(now_);
    return n;
}

void Agent::interfaces_changed(const InterfaceInfo* infos, int count)
{
    set_interfaces(infos, count);
    for (int i = 0; i < exporter_count_; ++i) exporters_[i].send_options(now_);
}

void Agent::flush_all()
{
    table_.flush(now_.mono_ms, EndReason::forced_end, *this);
    for (int i = 0; i < exporter_count_; ++i) {
        exporters_[i].flush(now_);
        // Final statistics, so the collector sees the totals of this run.
        exporters_[i].send_options(now_);
        exporters_[i].flush(now_);
    }
}

} // namespace fa
