// SPDX-License-Identifier: GPL-2.0-only
#include "daemon.h"

#include <cerrno>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <net/if.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "app/config_parse.h"
#include "core/text_out.h"
#include "gen_source.h"
#include "log_sink.h"
#include "privileges.h"
#if defined(FA_WITH_BPF) && __has_include("bpf_source.h")
#include "bpf_source.h"
#define FA_HAVE_BPF_SOURCE 1
#endif
#if defined(FA_WITH_CONNTRACK) && __has_include("conntrack_source.h")
#include "conntrack_source.h"
#define FA_HAVE_CT_SOURCE 1
#endif

namespace fa {
namespace {

Source* make_source(SourceKind kind)
{
    switch (kind) {
    case SourceKind::generator: return new_generator_source();
    case SourceKind::xdp:
    case SourceKind::tc:
#ifdef FA_HAVE_BPF_SOURCE
        return make_bpf_source().release();
#else
        return nullptr;
#endif
    case SourceKind::conntrack:
#ifdef FA_HAVE_CT_SOURCE
        return new_conntrack_source();
#else
        return nullptr;
#endif
    }
    return nullptr;
}

// A config error: on stderr before logging is set up (start, --check-config), through the
// logger at a reload, so that with `log = syslog` the reason reaches syslog too.
void config_error(bool via_log, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void config_error(bool via_log, const char* fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (via_log) {
        FA_ERROR("%s", msg);
    } else {
        std::fprintf(stderr, "flowagent: error: %s\n", msg);
    }
}

uint64_t random_seed()
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != sizeof seed) {
        seed = uint64_t(getpid()) * 0x9e3779b97f4a7c15ULL ^ uint64_t(time(nullptr));
    }
    return seed;
}

ExportTime now_time(LinuxClock& clock)
{
    ExportTime t;
    t.mono_ms = clock.mono_ms();
    t.wall_offset_ms = clock.wall_offset_ms();
    t.boot_offset_ms = clock.boot_offset_ms();  // v9 times count from boot, not agent start
    return t;
}

// What a reload carries over per collector slot: the socket stays open (same local port, so the
// collector keeps seeing the same exporter) and the sequence numbering continues, when the
// source kind and the collector's name, address, protocol and observation domain are unchanged.
struct Carry {
    bool keep[kMaxCollectors] = {};
    ExporterSeq seq[kMaxCollectors] = {};
    int event_fd = -1;  // Source::release_event_fd() of the old source, for the new one
};

void own_sockets_to_source(Runtime& rt)
{
    int own_fds[kMaxCollectors];
    for (int i = 0; i < rt.cfg.collector_count; ++i) own_fds[i] = rt.transports[i].fd();
    rt.source->set_own_sockets(own_fds, rt.cfg.collector_count);
}

// Collector i of rt.cfg: a numeric address opens now; a name goes to the resolver thread (the
// loop asks). Nothing to do for a socket kept open or a name already waiting. Returns 0 or an
// exit code.
int open_collector(Runtime& rt, int i)
{
    const Config& cfg = rt.cfg;
    const CollectorConfig& c = cfg.collectors[i];
    if (!rt.transports[i].is_open() && !rt.res[i].waiting) {
        sockaddr_storage ss;
        socklen_t len = 0;
        char err[256];
        if (resolve_numeric(c.host, c.port, &ss, &len) == 0) {
            const int rc = rt.transports[i].open_addr(ss, len, err, sizeof err);
            if (rc < 0 && UdpTransport::is_route_error(-rc)) {
                // No route yet (a router that boots before its WAN): the records wait in the
                // send queue and the socket opens once a route exists (issue 10).
                FA_WARN("collector %s (%s:%u): %s; metering goes on, datagrams wait in the "
                        "send queue, reopening every second", c.name, c.host, c.port, err);
                rt.transports[i].retry_later();
            } else if (rc < 0) {
                FA_ERROR("collector %s (%s:%u): %s", c.name, c.host, c.port, err);
                return kExitRuntime;
            }
        } else {
            const uint32_t gen = rt.res[i].gen;
            rt.res[i] = Resolution{};
            rt.res[i].gen = gen;
            rt.res[i].waiting = true;
        }
    }
    FA_INFO("collector %s: %s %s, observation domain %u", c.name,
            rt.transports[i].has_peer() ? rt.transports[i].peer() : c.host,
            c.protocol == Protocol::ipfix ? "IPFIX" : "NetFlow v9",
            c.observation_domain ? c.observation_domain : cfg.observation_domain);
    return 0;
}

// Late outcomes (datagrams an ICMP error quotes, paced ones) go to the collector's exporter.
// The send queue holds a flush of the whole table, so that a stop or a flood is paced out at
// rate_limit instead of sent as one burst; allocated here, kept across reloads. 0 or an exit
// code.
int attach_collector(Runtime& rt, int i)
{
    const Config& cfg = rt.cfg;
    const CollectorConfig& c = cfg.collectors[i];
    rt.transports[i].set_label(c.name);
    rt.transports[i].set_feedback(&rt.agent->exporter(i));
    PacingConfig pc;
    pc.rate = c.rate_limit;
    pc.slots = rt.agent->exporter(i).datagrams_for(cfg.max_flows) + 64;
    pc.slot_bytes = c.max_datagram;
    if (!rt.transports[i].set_pacing(pc)) {
        FA_ERROR("collector %s: cannot allocate the send queue (%u datagrams of %u bytes)",
                 c.name, pc.slots, unsigned(pc.slot_bytes));
        return kExitRuntime;
    }
    FA_INFO("collector %s: at most %u datagrams/s; send queue %u datagrams (%zu bytes)", c.name,
            c.rate_limit, pc.slots, size_t(pc.slots) * pc.slot_bytes);
    return 0;
}

// Brings a runtime up from a valid config. `started`: a source already started (it took over
// the old one's interfaces at a reload), owned from here on. Returns 0 or an exit code.
int start_runtime(Runtime& rt, LinuxClock& clock, const Carry* carry,
                  Source* started = nullptr)
{
    if (started != nullptr) rt.source.reset(started);
    const Config& cfg = rt.cfg;
    DatagramSink* sinks[kMaxCollectors];
    for (int i = 0; i < cfg.collector_count; ++i) {
        rt.sinks[i].transport = &rt.transports[i];
        sinks[i] = &rt.sinks[i];
        if (open_collector(rt, i) != 0) return kExitRuntime;
    }

    if (started == nullptr) rt.source.reset(make_source(cfg.source));
    if (!rt.source) {
        FA_ERROR("source %s is not available in this build", source_name(cfg.source));
        if (carry != nullptr && carry->event_fd >= 0) close(carry->event_fd);
        return kExitRuntime;
    }
    if (carry != nullptr && started == nullptr) rt.source->adopt_event_fd(carry->event_fd);
    else if (carry != nullptr && carry->event_fd >= 0) close(carry->event_fd);
    rt.agent.reset(new Agent());
    Status s = rt.agent->init(cfg, sinks, cfg.collector_count, cfg.print_json ? &rt.json : nullptr,
                              // MACs: records of L2 devices (xdp, tc) carry them; the others
                              // use templates without 56/80.
                              random_seed(),
                              cfg.source == SourceKind::xdp || cfg.source == SourceKind::tc,
                              cfg.source == SourceKind::conntrack,
                              cfg.source == SourceKind::conntrack ? SamplingKind::flow
                                                                  : SamplingKind::packet);
    if (s != Status::ok) {
        FA_ERROR("cannot allocate the flow table for max_flows = %u (%zu bytes): %s", cfg.max_flows,
                 FlowTable::bytes_for(cfg.max_flows), status_name(s));
        return kExitRuntime;
    }
    for (int i = 0; carry != nullptr && i < cfg.collector_count; ++i)
        if (carry->keep[i]) rt.agent->exporter(i).resume(carry->seq[i]);
    for (int i = 0; i < cfg.collector_count; ++i)
        if (attach_collector(rt, i) != 0) return kExitRuntime;
    int n = cfg.interface_count > 0
                ? collect_interfaces(cfg.interfaces, cfg.interface_count, rt.ifaces, kMaxInterfaces)
                : collect_all_interfaces(rt.ifaces, kMaxInterfaces);
    rt.iface_count = n;
    rt.agent->set_interfaces(rt.ifaces, n);
    rt.agent->set_time(now_time(clock));

    own_sockets_to_source(rt);
    rt.source_started = false;
    int rc = started != nullptr ? 0 : rt.source->start(cfg);
    if (rc < 0) {
        FA_ERROR("source %s failed to start (%s)", source_name(cfg.source), std::strerror(-rc));
        return kExitRuntime;
    }
    rt.source_started = true;
    FA_INFO("started: source %s, max_flows %u (%u slots, %zu bytes), timeouts %u/%u s, "
            "sampling 1:%u",
            source_name(cfg.source), cfg.max_flows, rt.agent->table().capacity(),
            FlowTable::bytes_for(cfg.max_flows), cfg.active_timeout_s, cfg.inactive_timeout_s,
            cfg.sampling_rate);
    return 0;
}

void log_summary(const Runtime& rt)
{
    const Agent& a = *rt.agent;
    const AgentStats& st = a.stats();
    const FlowTableStats& ts = a.table().stats();
    DropCounters d = a.drops();
    FA_INFO("totals: %llu packets %llu octets metered; %llu records exported (%llu packets, "
            "%llu octets); flows created %llu, idle %llu, active %llu, tcp end %llu, evicted %llu, "
            "flushed %llu",
            (unsigned long long)st.delta_packets, (unsigned long long)st.delta_octets,
            (unsigned long long)st.records, (unsigned long long)st.record_packets,
            (unsigned long long)st.record_octets, (unsigned long long)ts.flows_created,
            (unsigned long long)ts.expired_idle, (unsigned long long)ts.expired_active,
            (unsigned long long)ts.ended_tcp, (unsigned long long)ts.evicted_full,
            (unsigned long long)ts.flushed);
    FA_INFO("dropped: table full %llu flows %llu packets; source %llu packets, %llu events",
            (unsigned long long)d.table_full_flows, (unsigned long long)d.table_full_packets,
            (unsigned long long)d.source_packets, (unsigned long long)d.source_events);
    if (st.nat_events != 0 || st.nat_events_v6_skipped != 0)
        FA_INFO("nat events: %llu NAT44 session events; %llu IPv6 NAT events not exported (RFC "
                "8158 has no NAT66 event)", (unsigned long long)st.nat_events,
                (unsigned long long)st.nat_events_v6_skipped);
    for (int i = 0; i < a.exporter_count(); ++i) {
        const ExporterCounters& c = a.exporter(i).counters();
        if (a.exporter(i).config().nat_events)
            FA_INFO("collector %s: %llu NAT event records sent, %llu not sent",
                    rt.cfg.collectors[i].name, (unsigned long long)c.nat_events,
                    (unsigned long long)c.not_sent_nat_events);
        FA_INFO("collector %s: %llu datagrams, %llu records, %llu octets sent; not sent: %llu "
                "datagrams, %llu records (refused %llu, again %llu, error %llu)",
                rt.cfg.collectors[i].name, (unsigned long long)c.messages,
                (unsigned long long)c.records, (unsigned long long)c.octets,
                (unsigned long long)c.not_sent_messages, (unsigned long long)c.not_sent_flows,
                (unsigned long long)c.send_refused, (unsigned long long)c.send_again,
                (unsigned long long)c.send_error);
        const TransportCounters& tc = rt.transports[i].tcounters();
        FA_INFO("collector %s: ICMP errors %llu (%llu attributed to a datagram), resent after a "
                "stale refusal %llu; send queue peak %llu of %u, full %llu, dropped at stop %llu",
                rt.cfg.collectors[i].name, (unsigned long long)tc.icmp_errors,
                (unsigned long long)tc.icmp_matched,
                (unsigned long long)tc.resent_after_stale_refusal,
                (unsigned long long)tc.queue_peak, rt.transports[i].pacing().slots,
                (unsigned long long)tc.queue_overflow, (unsigned long long)tc.queue_dropped);
        if (tc.reopens != 0 || tc.reopen_failures != 0 || tc.resent_after_stale_error != 0)
            FA_INFO("collector %s: export socket reopened %llu times (%llu tries found no "
                    "route), template messages sent first on a new session %llu, resent after "
                    "a stale unreachable %llu", rt.cfg.collectors[i].name,
                    (unsigned long long)tc.reopens, (unsigned long long)tc.reopen_failures,
                    (unsigned long long)tc.templates_inserted,
                    (unsigned long long)tc.resent_after_stale_error);
    }
}


// Collector i goes on as one stream (socket, local port, sequence numbering) from config a to
// b: same source (it decides the data template layouts and the sampling kind, which must not
// change within one stream under the same IDs), name, address, protocol and observation domain.
bool same_stream(const Config& a, const Config& b, int i)
{
    if (i >= a.collector_count || i >= b.collector_count || a.source != b.source) return false;
    const CollectorConfig& x = a.collectors[i];
    const CollectorConfig& y = b.collectors[i];
    return std::strcmp(x.name, y.name) == 0 && std::strcmp(x.host, y.host) == 0 &&
           x.port == y.port && x.protocol == y.protocol &&
           (x.observation_domain ? x.observation_domain : a.observation_domain) ==
               (y.observation_domain ? y.observation_domain : b.observation_domain);
}

// A new or changed collector resolves afresh; a stale answer is ignored (gen).
void forget_name(Runtime& rt, int i)
{
    rt.resolver.cancel(i);
    const uint32_t gen = rt.res[i].gen + 1;
    rt.res[i] = Resolution{};
    rt.res[i].gen = gen;
}

// Paces out what the collectors' send queues hold (those with drain[i]) until they are empty
// or stop_timeout has passed; what is left is dropped and counted as not sent by the exporters,
// and logged.
void drain_collectors(Runtime& rt, const bool* drain)
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const uint64_t now_ms = uint64_t(ts.tv_sec) * 1000u + uint64_t(ts.tv_nsec) / 1000000u;
    const uint64_t deadline = now_ms + uint64_t(rt.cfg.stop_timeout_s) * 1000u;
    for (;;) {
        int wait_ms = -1;
        for (int i = 0; i < rt.cfg.collector_count; ++i) {
            if (!drain[i]) continue;
            rt.transports[i].pump();
            const int d = rt.transports[i].pump_delay_ms();
            if (d >= 0 && (wait_ms < 0 || d < wait_ms)) wait_ms = d;
        }
        if (wait_ms < 0) break;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        const uint64_t t = uint64_t(ts.tv_sec) * 1000u + uint64_t(ts.tv_nsec) / 1000000u;
        if (t >= deadline) break;
        if (wait_ms < 1) wait_ms = 1;
        if (uint64_t(wait_ms) > deadline - t) wait_ms = int(deadline - t);
        timespec nap{wait_ms / 1000, long(wait_ms % 1000) * 1000000L};
        nanosleep(&nap, nullptr);
    }
    for (int i = 0; i < rt.cfg.collector_count; ++i) {
        if (!drain[i]) continue;
        const uint32_t left = rt.transports[i].queued();
        if (left != 0 && rt.transports[i].down())
            FA_WARN("collector %s: no route to %s: %u datagrams queued for it counted as not "
                    "sent", rt.cfg.collectors[i].name, rt.transports[i].peer(), left);
        else if (left != 0 && !rt.transports[i].is_open())
            FA_WARN("collector %s: %s never resolved: %u datagrams queued for it counted as not "
                    "sent", rt.cfg.collectors[i].name, rt.cfg.collectors[i].host, left);
        else if (left != 0)
            FA_WARN("collector %s: stop_timeout (%u s) passed with %u datagrams queued: counted "
                    "as not sent", rt.cfg.collectors[i].name, rt.cfg.stop_timeout_s, left);
        rt.transports[i].drop_queue();
    }
}

// Final drain and flush: nothing counted is lost at a stop or a reload. For a reload, `next`
// is the new config: the sockets of collectors it keeps unchanged stay open and their sequence
// state goes into *carry.
void stop_runtime(Runtime& rt, LinuxClock& clock,
                  const Config* next = nullptr, Carry* carry = nullptr)
{
    if (!rt.agent) return;
    rt.agent->set_time(now_time(clock));
    if (rt.source) {
        rt.source->stop(rt.agent->time().mono_ms, *rt.agent);
        rt.agent->set_source_drops(rt.source->drops());
        // Only from one source kind to the same: the stopped one's events are the new one's.
        if (carry != nullptr && next != nullptr && next->source == rt.cfg.source)
            carry->event_fd = rt.source->release_event_fd();
    }
    if (rt.source_started) rt.agent->flush_all();  // else: the table is empty, nothing was sent
    rt.source_started = false;
    // Which collectors go on (a reload that keeps them keeps their queue too) and which stop:
    // those are paced out first, within stop_timeout.
    bool keep_of[kMaxCollectors] = {};
    bool drain[kMaxCollectors] = {};
    for (int i = 0; i < kMaxCollectors; ++i) {
        bool keep = false;
        if (next != nullptr && carry != nullptr && i < rt.cfg.collector_count &&
            i < next->collector_count) {
            keep = same_stream(rt.cfg, *next, i);
            carry->keep[i] = keep;
            if (keep) carry->seq[i] = rt.agent->exporter(i).sequence();
        }
        keep_of[i] = keep;
        drain[i] = !keep;
        if (!keep) forget_name(rt, i);
    }
    drain_collectors(rt, drain);
    // The ICMP errors the last datagrams drew are counted before the totals are logged.
    for (int i = 0; i < rt.cfg.collector_count; ++i) rt.transports[i].read_errors();
    log_summary(rt);
    for (int i = 0; i < kMaxCollectors; ++i) {
        rt.transports[i].set_feedback(nullptr);  // the exporter goes with the agent
        if (!keep_of[i]) rt.transports[i].close();
    }
    rt.source.reset();
    rt.agent.reset();
}

// A reload from a to b can keep the flow table, the source and its kernel state (attached
// programs, maps, the conntrack subscription): the same source on the same interfaces, the same
// table size and full policy, the same sampling, the same conntrack and generator settings.
bool table_kept(const Config& a, const Config& b)
{
    if (a.source != b.source || a.interface_count != b.interface_count ||
        a.max_flows != b.max_flows || a.full_policy != b.full_policy ||
        a.sampling_rate != b.sampling_rate || a.sampling_mode != b.sampling_mode ||
        a.ct_rcvbuf != b.ct_rcvbuf || a.ct_both_directions != b.ct_both_directions ||
        a.ct_mark != b.ct_mark || a.ct_zone != b.ct_zone || a.gen_flows != b.gen_flows ||
        a.gen_packets_per_s != b.gen_packets_per_s || a.gen_duration_s != b.gen_duration_s)
        return false;
    if (std::strcmp(a.ct_state_file, b.ct_state_file) != 0) return false;
    for (int i = 0; i < a.interface_count; ++i)
        if (std::strcmp(a.interfaces[i], b.interfaces[i]) != 0) return false;
    return true;
}

// Collector i's exporter goes on unchanged from a to b: the same stream and every exporter
// setting the same (rate_limit is the transport's, applied in place).
bool same_exporter(const Config& a, const Config& b, int i)
{
    if (!same_stream(a, b, i)) return false;
    const CollectorConfig& x = a.collectors[i];
    const CollectorConfig& y = b.collectors[i];
    return x.max_datagram == y.max_datagram && x.template_refresh_s == y.template_refresh_s &&
           x.template_refresh_datagrams == y.template_refresh_datagrams &&
           x.nat_events == y.nat_events && x.biflow == y.biflow;
}

// The reload that keeps the table (table_kept): nothing is flushed, detached or drained; the
// flows metered before the reload are exported once, whole, after it. Only collectors that
// changed are redone (the pending datagram of a changed one goes to its old address, a removed
// or moved one's queue is paced out within stop_timeout), then the timeouts, the JSON output
// and rate limits apply in place. Returns 0 or an exit code.
int reload_in_place(Runtime& rt, const Config& next, LinuxClock& clock)
{
    Agent& a = *rt.agent;
    a.set_time(now_time(clock));
    bool keep_exporter[kMaxCollectors] = {};
    bool resume_valid[kMaxCollectors] = {};
    ExporterSeq resume[kMaxCollectors];
    bool drain[kMaxCollectors] = {};
    const int old_count = rt.cfg.collector_count;
    for (int i = 0; i < kMaxCollectors; ++i) {
        keep_exporter[i] = same_exporter(rt.cfg, next, i);
        const bool stream = same_stream(rt.cfg, next, i);
        if (stream && !keep_exporter[i]) {
            resume_valid[i] = true;
            resume[i] = a.exporter(i).sequence();
        }
        if (i < old_count && !keep_exporter[i]) a.exporter(i).flush(a.time());
        drain[i] = i < old_count && !stream;
    }
    drain_collectors(rt, drain);
    for (int i = 0; i < kMaxCollectors; ++i) {
        if (!drain[i]) continue;
        rt.transports[i].read_errors();
        rt.transports[i].set_feedback(nullptr);
        rt.transports[i].close();
        forget_name(rt, i);
    }
    rt.cfg = next;
    DatagramSink* sinks[kMaxCollectors];
    for (int i = 0; i < next.collector_count; ++i) {
        rt.sinks[i].transport = &rt.transports[i];
        sinks[i] = &rt.sinks[i];
        if (open_collector(rt, i) != 0) return kExitRuntime;
    }
    const bool packet_source = next.source == SourceKind::xdp || next.source == SourceKind::tc;
    Status s = a.reconfigure(next, sinks, next.collector_count,
                             next.print_json ? &rt.json : nullptr, keep_exporter, resume,
                             resume_valid, packet_source, next.source == SourceKind::conntrack);
    if (s != Status::ok) {
        FA_ERROR("reload: collectors cannot be set up: %s", status_name(s));
        return kExitRuntime;
    }
    for (int i = 0; i < next.collector_count; ++i)
        if (attach_collector(rt, i) != 0) return kExitRuntime;
    own_sockets_to_source(rt);
    FA_INFO("started: source %s (reload in place: flow table with %u flows, source and kernel "
            "state kept), max_flows %u, timeouts %u/%u s, sampling 1:%u",
            source_name(next.source), a.table().size(), next.max_flows, next.active_timeout_s,
            next.inactive_timeout_s, next.sampling_rate);
    return 0;
}

// Issue 10: a collector given by name that has an address is resolved again (a reopen, a
// reload): the resolver thread answers, take_resolved() moves the socket if the address changed.
void refresh_name(Runtime& rt, int i)
{
    if (i < 0 || i >= rt.cfg.collector_count) return;
    Resolution& r = rt.res[i];
    if (r.waiting) return;  // no address yet: that lookup goes on
    const CollectorConfig& c = rt.cfg.collectors[i];
    sockaddr_storage ss;
    socklen_t len = 0;
    if (resolve_numeric(c.host, c.port, &ss, &len) == 0) return;  // an address, not a name
    r.refresh = true;
    r.next_try = 0;
}

// Issue 10: collector i's socket was reopened (or went down): the source learns the new socket
// (the conntrack source skips the agent's own export connections) and a name resolves again.
void after_reopen(Runtime& rt, int i)
{
    if (rt.source) own_sockets_to_source(rt);
    refresh_name(rt, i);
}

// Every tick: collectors still waiting for their name, or asked to resolve it again, ask the
// resolver when their back-off is over.
void ask_resolver(Runtime& rt, MonoMs now)
{
    for (int i = 0; i < rt.cfg.collector_count; ++i) {
        Resolution& r = rt.res[i];
        if ((!r.waiting && !r.refresh) || r.in_flight || now < r.next_try) continue;
        const CollectorConfig& c = rt.cfg.collectors[i];
        rt.resolver.request(i, c.host, c.port, ++r.gen);
        r.in_flight = true;
    }
}

// The resolver thread's answers: open the collector's socket (its queue then drains at
// rate_limit), or schedule the next try.
void take_resolved(Runtime& rt, MonoMs now)
{
    ResolveResult res;
    while (rt.resolver.take(res)) {
        if (res.slot < 0 || res.slot >= rt.cfg.collector_count) continue;
        Resolution& r = rt.res[res.slot];
        if ((!r.waiting && !r.refresh) || res.gen != r.gen) continue;  // stale (reload, cancel)
        r.in_flight = false;
        const CollectorConfig& c = rt.cfg.collectors[res.slot];
        UdpTransport& t = rt.transports[res.slot];
        char err[256];
        if (r.refresh) {
            // Issue 10: the name again. Another address: the socket moves there (a new session:
            // templates first, the numbering goes on); none: the current address stays.
            r.refresh = false;
            if (res.rc != 0) {
                if (now - r.last_log >= 600000 || r.last_log == 0) {
                    r.last_log = now;
                    FA_WARN("collector %s: %s does not resolve now (%s); still sending to %s",
                            c.name, c.host, res.err, t.peer());
                }
                continue;
            }
            if (t.has_peer() && same_endpoint(res.addr, t.peer_addr())) continue;
            char was[64];
            std::snprintf(was, sizeof was, "%s", t.peer());
            if (t.open_addr(res.addr, res.addr_len, err, sizeof err) == 0) {
                FA_WARN("collector %s: %s now resolves to %s (was %s): export socket moved",
                        c.name, c.host, t.peer(), was);
            } else {
                FA_WARN("collector %s: %s now resolves to %s (was %s): %s; retrying every second",
                        c.name, c.host, t.peer(), was, err);
                t.retry_later();
            }
            own_sockets_to_source(rt);
            continue;
        }
        int rc = res.rc;
        if (rc == 0) rc = t.open_addr(res.addr, res.addr_len, err, sizeof err);
        else std::snprintf(err, sizeof err, "%s", res.err);
        ++r.tries;
        if (rc == 0) {
            r.waiting = false;
            FA_INFO("collector %s: %s resolved to %s after %u tries; %u datagrams waited in the "
                    "send queue", c.name, c.host, t.peer(), r.tries, t.queued());
            own_sockets_to_source(rt);
            continue;
        }
        r.backoff_ms = r.backoff_ms == 0 ? 1000 : (r.backoff_ms >= 30000 ? 60000 : r.backoff_ms * 2);
        r.next_try = now + r.backoff_ms;
        if (r.tries == 1 || now - r.last_log >= 600000) {
            r.last_log = now;
            FA_WARN("collector %s: %s%s; metering goes on, records wait in the send queue (%u "
                    "datagrams); retrying every %u s at most", c.name,
                    r.tries == 1 ? "" : "still unresolved: ", err, t.pacing().slots, 60u);
        }
    }
}

} // namespace

int export_address_removed(Runtime& rt, const sockaddr_storage& addr)
{
    int moved = 0;
    for (int i = 0; i < rt.cfg.collector_count; ++i) {
        if (!rt.transports[i].on_local_address_removed(addr)) continue;
        ++moved;
        (void)rt.transports[i].take_reopened();
        after_reopen(rt, i);
    }
    return moved;
}

int Daemon::on_address_removed(const sockaddr_storage& addr)
{
    const int moved = export_address_removed(rt_, addr);
    if (moved > 0) arm_pacer();
    return moved;
}

const char* source_name(SourceKind k)
{
    switch (k) {
    case SourceKind::xdp: return "xdp";
    case SourceKind::tc: return "tc";
    case SourceKind::conntrack: return "conntrack";
    case SourceKind::generator: return "generator";
    }
    return "?";
}

void StdoutLineSink::write_line(const char* line, size_t len)
{
    std::fwrite(line, 1, len, stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

bool load_config(const char* path, const CliOptions& cli, Config& cfg, bool via_log,
                 char* why, size_t why_len)
{
    ConfigError err;
    if (parse_config_file(path, cfg, err) != Status::ok) {
        config_error(via_log, "%s", err.message);
        if (why != nullptr && why_len > 0) snprintf(why, why_len, "%s", err.message);
        return false;
    }
    if (cli.print) cfg.print_json = true;
    return true;
}

// --check-config: resolves every collector now. A name that does not resolve is a warning, not
// an error: the agent starts anyway and retries it (a router boots before its WAN and DNS).
bool check_collectors(const Config& cfg)
{
    for (int i = 0; i < cfg.collector_count; ++i) {
        const CollectorConfig& c = cfg.collectors[i];
        sockaddr_storage ss{};
        socklen_t len = 0;
        char err[256];
        const int rc = resolve_collector(c.host, c.port, &ss, &len, err, sizeof err);
        if (rc == -EINVAL) {
            config_error(false, "%s:%d: [collector %s] address = %s:%u: %s", cfg.path,
                         c.address_line, c.name, c.host, c.port, err);
            return false;
        }
        if (rc < 0)
            std::fprintf(stderr, "flowagent: warning: %s:%d: [collector %s] address = %s:%u: %s "
                         "(now; the agent meters meanwhile and retries until it resolves)\n",
                         cfg.path, c.address_line, c.name, c.host, c.port, err);
    }
    return true;
}


int check_interfaces(const Config& cfg)
{
    int missing = 0;
    for (int i = 0; i < cfg.interface_count; ++i) {
        if (if_nametoindex(cfg.interfaces[i]) != 0) continue;
        ++missing;
        std::fprintf(stderr, "flowagent: warning: %s: [agent] interfaces: %s does not exist now "
                     "(the agent starts anyway and attaches to it when it appears)\n", cfg.path,
                     cfg.interfaces[i]);
    }
    return missing;
}

// [agent] log and log_level, with --log-level / -v over the config's level: at start and at
// every reload (a reload that changed `log` moves the output; the command line still wins).
void apply_logging(const Config& cfg, const CliOptions& cli)
{
    static StderrLogSink stderr_sink;
    static std::unique_ptr<SyslogLogSink> syslog_sink;
    if (cfg.log_syslog) {
        if (!syslog_sink) syslog_sink.reset(new SyslogLogSink());
        set_log_sink(syslog_sink.get());
    } else {
        set_log_sink(&stderr_sink);
    }
    set_log_level(cfg.log_level);
    if (cli.log_level) {
        LogLevel lv = cfg.log_level;
        if (parse_log_level(cli.log_level, lv)) set_log_level(lv);
    }
}


SendResult ObservedSink::send(const uint8_t* data, size_t len)
{
    const SendResult r = transport->send(data, len);
    if (r != SendResult::ok) {
        last_result = r;
        last_errno = transport->last_errno();
        last_error_ms = EventLoop::now_ms();
    }
    return r;
}

SendResult ObservedSink::send_counted(const uint8_t* data, size_t len, const DatagramMeta& m)
{
    const SendResult r = transport->send_counted(data, len, m);
    if (r != SendResult::ok && r != SendResult::queued) {
        last_result = r;
        last_errno = transport->last_errno();
        last_error_ms = EventLoop::now_ms();
    }
    return r;
}

// The control socket, before anything is attached at start (a second agent on the same path
// must not take over the interfaces of the first), again at a reload that changed its path.
// Another agent answering on the path is fatal at start; any other failure (no permission to
// create /var/run/flowagent as non-root) is logged and the agent runs without it.
int Daemon::open_control(bool at_start)
{
    char err[320];
    const int rc = control_.open(rt_.cfg.control_socket, loop_, *this, err, sizeof err);
    if (rc == 0) {
        FA_INFO("control socket %s", control_.path());
        return 0;
    }
    if (rc == -EADDRINUSE && at_start) {
        FA_ERROR("%s", err);
        return kExitRuntime;
    }
    FA_WARN("%s; running without a control socket", err);
    return 0;
}

int Daemon::start(const CliOptions& cli, const Config& cfg)
{
    cli_ = cli;
    rt_.cfg = cfg;
    int err = loop_.init();
    if (err < 0) {
        FA_ERROR("event loop setup failed: %s", std::strerror(-err));
        return kExitRuntime;
    }
    if (open_control(true) != 0) return kExitRuntime;

    // Block the signals we handle so they arrive through the signalfd only.
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    agent_start_ = clock_.mono_ms();
    last_stats_ = agent_start_;
    open_links();  // before the source starts: a link that appears meanwhile is an event
    int rc = start_runtime(rt_, clock_, nullptr);
    if (rc != 0) {
        stop_runtime(rt_, clock_);
        control_.close();
        return rc;
    }
    sync_links();

    signals_.fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    signals_.events = EPOLLIN;
    signals_.cb = on_signal;
    signals_.user = this;
    tick_.cb = on_tick;
    tick_.user = this;
    tick_.period_ms = kTickMs;
    if (signals_.fd < 0) err = -errno;
    if (err == 0) err = loop_.add(signals_);
    if (err < 0) {
        FA_ERROR("event loop setup failed: %s", std::strerror(-err));
        stop_runtime(rt_, clock_);
        control_.close();
        return kExitRuntime;
    }
    loop_.arm(tick_, kTickMs);
    watch_source();
    pacer_.cb = on_pacer;
    pacer_.user = this;
    // Attached and connected: from here on only what the running source needs.
    (void)drop_privileges(rt_.cfg.source);
    // After the drop: capabilities are per thread, and the resolver thread needs none.
    err = rt_.resolver.start();
    resolved_.fd = rt_.resolver.fd();
    resolved_.events = EPOLLIN;
    resolved_.cb = on_resolved;
    resolved_.user = this;
    if (err == 0) err = loop_.add(resolved_);
    if (err < 0) {
        FA_ERROR("resolver thread: %s", std::strerror(-err));
        stop_runtime(rt_, clock_);
        return kExitRuntime;
    }
    ask_resolver(rt_, clock_.mono_ms());
    arm_pacer();
    return 0;
}

// One-shot at the earliest time a collector's queue can send again; cancelled when all are
// empty (or wait for their name). Called after everything that may queue datagrams.
void Daemon::arm_pacer()
{
    int wait_ms = -1;
    for (int i = 0; i < rt_.cfg.collector_count; ++i) {
        const int dl = rt_.transports[i].pump_delay_ms();
        if (dl >= 0 && (wait_ms < 0 || dl < wait_ms)) wait_ms = dl;
    }
    if (wait_ms < 0) {
        loop_.cancel(pacer_);
        return;
    }
    loop_.arm(pacer_, uint32_t(wait_ms < 1 ? 1 : wait_ms));
}

void Daemon::on_pacer(Timer& t)
{
    Daemon& d = *static_cast<Daemon*>(t.user);
    for (int i = 0; i < d.rt_.cfg.collector_count; ++i) d.rt_.transports[i].pump();
    d.arm_pacer();
}

void Daemon::on_resolved(Watch& w, uint32_t revents)
{
    (void)revents;
    Daemon& d = *static_cast<Daemon*>(w.user);
    take_resolved(d.rt_, d.clock_.mono_ms());
    d.arm_pacer();
}

int Daemon::run()
{
    const int rc = loop_.run();
    if (rc < 0) FA_ERROR("epoll_wait: %s", std::strerror(-rc));
    stop_runtime(rt_, clock_);
    control_.close();
    const LinkMonitorStats& ls = links_.stats();
    if (links_.fd() >= 0)
        FA_INFO("links: %llu link events, %llu address events; %llu links in %llu dumps, %llu "
                "overruns", (unsigned long long)ls.link_events,
                (unsigned long long)ls.address_events, (unsigned long long)ls.dumped_links,
                (unsigned long long)ls.dumps, (unsigned long long)ls.overruns);
    loop_.remove(links_watch_);
    links_.close();
    loop_.remove(source_);
    loop_.remove(signals_);
    loop_.remove(resolved_);
    loop_.cancel(tick_);
    loop_.cancel(pacer_);
    rt_.resolver.stop();
    if (signals_.fd >= 0) close(signals_.fd);
    signals_.fd = -1;
    return exit_code_;
}

void Daemon::watch_source()
{
    source_.fd = rt_.source->fd();
    source_.events = EPOLLIN;
    source_.cb = on_source;
    source_.user = this;
    if (source_.fd >= 0) (void)loop_.add(source_);
}

void Daemon::on_tick(Timer& t)
{
    Daemon& d = *static_cast<Daemon*>(t.user);
    Runtime& rt = d.rt_;
    if (d.reopen_control_) {  // moved by a reload asked for on the old socket
        d.reopen_control_ = false;
        (void)d.open_control(false);
    }
    rt.agent->set_time(now_time(d.clock_));
    const MonoMs now = rt.agent->time().mono_ms;
    rt.source->on_tick(now, *rt.agent);
    rt.agent->set_source_drops(rt.source->drops());
    rt.agent->tick();
    // The pacer sends the queues; here the error queues are read (late refusals) at least, and
    // a collector without a route tries to reopen (once a second).
    for (int i = 0; i < rt.cfg.collector_count; ++i) {
        rt.transports[i].pump();
        if (rt.transports[i].take_reopened()) after_reopen(rt, i);  // issue 10
    }
    ask_resolver(rt, now);
    d.arm_pacer();
    if (now - d.last_stats_ >= 60000) {
        d.last_stats_ = now;
        if (log_level() >= LogLevel::debug) log_summary(rt);
    }
}

void Daemon::on_source(Watch& w, uint32_t revents)
{
    (void)revents;
    Daemon& d = *static_cast<Daemon*>(w.user);
    d.rt_.agent->set_time(now_time(d.clock_));
    d.rt_.source->on_readable(d.rt_.agent->time().mono_ms, *d.rt_.agent);
    d.arm_pacer();
}

void Daemon::on_signal(Watch& w, uint32_t revents)
{
    (void)revents;
    Daemon& d = *static_cast<Daemon*>(w.user);
    signalfd_siginfo si;
    while (read(w.fd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGHUP) {
            char why[8];
            (void)d.reload(why, sizeof why, false);
            if (d.exit_code_ != 0) return;
        } else {
            FA_INFO("signal %u: flushing every flow and exiting", si.ssi_signo);
            d.loop_.stop();
            return;
        }
    }
}

Daemon::Reloaded Daemon::reload(char* why, size_t why_len, bool defer_control)
{
    Config next;
    if (why_len > 0) why[0] = 0;
    if (!load_config(cli_.config_path, cli_, next, true, why, why_len)) {
        FA_ERROR("reload: config invalid, keeping the running one");
        return Reloaded::refused;
    }
    if (table_kept(rt_.cfg, next)) {
        FA_INFO("reload: applying %s in place (same source, interfaces, [flows] size and "
                "policy, [sampling])", cli_.config_path);
        const bool control_moved = std::strcmp(rt_.cfg.control_socket, next.control_socket) != 0;
        apply_logging(next, cli_);
        if (reload_in_place(rt_, next, clock_) != 0) {
            exit_code_ = kExitRuntime;
            loop_.stop();
            snprintf(why, why_len, "collectors cannot be set up; the agent stops (see its log)");
            return Reloaded::failed;
        }
        if (control_moved && defer_control) reopen_control_ = true;
        else if (control_moved) (void)open_control(false);
        // Issue 10: kept collectors given by name resolve again (a changed or new one does
        // anyway); the next tick asks.
        for (int i = 0; i < rt_.cfg.collector_count; ++i) refresh_name(rt_, i);
        arm_pacer();
        return Reloaded::in_place;
    }
    loop_.remove(source_);
    // The datapath changes. Where the source can (xdp, tc), the new one starts first and its
    // programs replace the old ones atomically on every interface that stays; the old maps are
    // drained exactly into the old table by stop_runtime below (flushed as records), after the
    // old programs' last runs. Otherwise (or when that fails) the old source stops first and
    // the new one starts after it: packets in between are not seen.
    std::unique_ptr<Source> fresh;
    if (next.source == rt_.cfg.source) fresh.reset(make_source(next.source));
    const int handover = fresh ? fresh->start_replacing(next, *rt_.source) : 1;
    if (handover == 0) {
        FA_INFO("reload: datapath changes; handed over without a gap, flushing the old table "
                "and restarting with %s", cli_.config_path);
    } else {
        if (handover < 0) {
            // What the new programs metered so far goes into the old table (exported).
            rt_.agent->set_time(now_time(clock_));
            fresh->stop(rt_.agent->time().mono_ms, *rt_.agent);
            FA_WARN("reload: handing the datapath over failed (%s): stopping then restarting; "
                    "packets between the old programs' detach and the new ones' attach are "
                    "not counted", std::strerror(-handover));
        }
        fresh.reset();
        FA_INFO("reload: flushing and restarting with %s", cli_.config_path);
    }
    Carry carry;
    stop_runtime(rt_, clock_, &next, &carry);
    const bool control_moved = std::strcmp(rt_.cfg.control_socket, next.control_socket) != 0;
    rt_.cfg = next;
    apply_logging(rt_.cfg, cli_);
    if (control_moved && defer_control) reopen_control_ = true;
    else if (control_moved) (void)open_control(false);
    if (start_runtime(rt_, clock_, &carry, fresh.release()) != 0) {
        exit_code_ = kExitRuntime;
        loop_.stop();
        snprintf(why, why_len, "the new config could not be started; the agent stops (see its "
                 "log)");
        return Reloaded::failed;
    }
    watch_source();
    sync_links();
    for (int i = 0; i < rt_.cfg.collector_count; ++i) refresh_name(rt_, i);  // issue 10
    arm_pacer();
    return handover == 0 ? Reloaded::handed_over : Reloaded::restarted;
}

// ---- links -------------------------------------------------------------------------------

void Daemon::open_links()
{
    char why[256] = {};
    if (links_.open(why, sizeof why) != 0) {
        FA_WARN("%s: interfaces that go away or appear later are not followed (a reload "
                "picks them up)", why);
        return;
    }
    links_watch_.fd = links_.fd();
    links_watch_.events = EPOLLIN;
    links_watch_.cb = on_links;
    links_watch_.user = this;
    const int err = loop_.add(links_watch_);
    if (err < 0) {
        FA_WARN("links: event loop: %s: interfaces are not followed", std::strerror(-err));
        links_.close();
    }
}

void Daemon::on_links(Watch& w, uint32_t revents)
{
    (void)revents;
    Daemon& d = *static_cast<Daemon*>(w.user);
    (void)d.links_.on_readable(d);  // bounded; the loop calls again while more wait
    d.arm_pacer();
}

// Only the packet sources meter per interface (attach, flows keyed by ifindex).
bool Daemon::meters_links() const
{
    return rt_.cfg.source == SourceKind::xdp || rt_.cfg.source == SourceKind::tc;
}

void Daemon::sync_links()
{
    const Config& cfg = rt_.cfg;
    for (int i = 0; i < kMaxInterfaces; ++i) track_[i] = LinkTrack{};
    for (int i = 0; i < cfg.interface_count; ++i) {
        track_[i].ifindex = if_nametoindex(cfg.interfaces[i]);
        track_[i].seen = true;
        if (track_[i].ifindex == 0) {
            if (!meters_links()) FA_INFO("links: interface %s does not exist yet", cfg.interfaces[i]);
            continue;
        }
        if (!meters_links()) continue;
        // Made between the source's start and now: the source attaches it (a no-op for one it
        // attached already).
        rt_.agent->set_time(now_time(clock_));
        if (rt_.source->link_new(cfg.interfaces[i], *rt_.agent) > 0)
            FA_INFO("links: interface %s (ifindex %u) appeared during start: attached",
                    cfg.interfaces[i], track_[i].ifindex);
    }
}

// The interface table (options records) from what exists now; sent to the collectors only
// when it changed. Nothing is allocated for configured interfaces (if_nametoindex, the alias
// read with open/read); every interface (conntrack) is listed afresh with if_nameindex, which
// allocates: only after an overrun (follow_all keeps that table otherwise).
void Daemon::refresh_interfaces()
{
    Runtime& rt = rt_;
    if (!rt.agent) return;
    InterfaceInfo now[kMaxInterfaces];
    const int n = rt.cfg.interface_count > 0
                      ? collect_interfaces(rt.cfg.interfaces, rt.cfg.interface_count, now,
                                           kMaxInterfaces)
                      : collect_all_interfaces(now, kMaxInterfaces);
    bool same = n == rt.iface_count;
    for (int i = 0; same && i < n; ++i)
        same = now[i].ifindex == rt.ifaces[i].ifindex &&
               std::strcmp(now[i].name, rt.ifaces[i].name) == 0 &&
               std::strcmp(now[i].descr, rt.ifaces[i].descr) == 0;
    if (same) return;
    for (int i = 0; i < n; ++i) rt.ifaces[i] = now[i];
    rt.iface_count = n;
    send_interfaces();
}

void Daemon::send_interfaces()
{
    rt_.agent->set_time(now_time(clock_));
    rt_.agent->interfaces_changed(rt_.ifaces, rt_.iface_count);
    FA_DEBUG("links: interface table changed (%d interfaces): options records sent",
             rt_.iface_count);
}

// Every interface (conntrack): the table follows the events. name nullptr: ifindex is gone.
void Daemon::follow_all(uint32_t ifindex, const char* name)
{
    Runtime& rt = rt_;
    int i = 0;
    while (i < rt.iface_count && rt.ifaces[i].ifindex != ifindex) ++i;
    if (name == nullptr) {
        if (i == rt.iface_count) return;
        for (int j = i; j + 1 < rt.iface_count; ++j) rt.ifaces[j] = rt.ifaces[j + 1];
        --rt.iface_count;
    } else if (i < rt.iface_count) {
        if (std::strcmp(rt.ifaces[i].name, name) == 0) return;
        describe_interface(name, ifindex, rt.ifaces[i]);  // renamed
    } else {
        if (rt.iface_count == kMaxInterfaces) return;  // as at start: the first 32
        describe_interface(name, ifindex, rt.ifaces[rt.iface_count++]);
    }
    send_interfaces();
}

// Configured interface i (kernel ifindex track_[i].ifindex) went away: the source detaches it
// and delivers what it counted there, then its flows leave the table (forced_end), and the
// interface table goes out again.
void Daemon::iface_gone(int i, const char* why, const char* now_named)
{
    Runtime& rt = rt_;
    const uint32_t idx = track_[i].ifindex;
    const char* name = rt.cfg.interfaces[i];
    track_[i] = LinkTrack{};
    track_[i].seen = true;
    rt.agent->set_time(now_time(clock_));
    uint32_t n = 0;
    if (meters_links()) {
        (void)rt.source->link_gone(idx, now_named, *rt.agent);
        n = rt.agent->flush_interface(idx);
    }
    if (meters_links())
        FA_INFO("links: interface %s (ifindex %u) %s: %u flows exported (forced end); it is "
                "attached again when it comes back", name, idx, why, n);
    else
        FA_INFO("links: interface %s (ifindex %u) %s", name, idx, why);
    refresh_interfaces();
}

// Configured interface i appeared (new, or back with a new ifindex): the source attaches it.
void Daemon::iface_new(int i, const LinkState& l)
{
    Runtime& rt = rt_;
    const char* name = rt.cfg.interfaces[i];
    LinkTrack& t = track_[i];
    t.ifindex = l.ifindex;
    t.up = l.up;
    t.up_known = true;
    t.arphrd = l.arphrd;
    t.arphrd_known = true;
    t.seen = true;
    int rc = 0;
    if (meters_links()) {
        rt.agent->set_time(now_time(clock_));
        rc = rt.source->link_new(name, *rt.agent);
    }
    if (rc >= 0)
        FA_INFO("links: interface %s appeared (ifindex %u, %s, link type %u)%s", name,
                l.ifindex, l.up ? "up" : "down", l.arphrd, rc > 0 ? ": attached" : "");
    // rc < 0: the source logged why it could not attach; retried when the ifindex changes.
    refresh_interfaces();
}

void Daemon::on_link(const LinkState& l)
{
    if (!rt_.agent) return;
    const Config& cfg = rt_.cfg;
    if (cfg.interface_count == 0) {  // every interface (conntrack): the table only
        follow_all(l.ifindex, l.name);
        return;
    }
    // A metered ifindex under another name: renamed away from its configured name.
    for (int i = 0; i < cfg.interface_count; ++i)
        if (track_[i].ifindex == l.ifindex && std::strcmp(cfg.interfaces[i], l.name) != 0)
            iface_gone(i, "was renamed", l.name);
    int i = 0;
    while (i < cfg.interface_count && std::strcmp(cfg.interfaces[i], l.name) != 0) ++i;
    if (i == cfg.interface_count) return;
    LinkTrack& t = track_[i];
    if (l.from_dump) t.seen = true;
    if (t.ifindex == l.ifindex && t.arphrd_known && t.arphrd != l.arphrd) {
        // A new link type (TUNSETLINK, only while down): the programs for it may differ
        // (Ethernet or IP entries), so the interface is taken down and attached again.
        char why[64];
        std::snprintf(why, sizeof why, "changed its link type (ARPHRD %u -> %u)", t.arphrd,
                      l.arphrd);
        iface_gone(i, why, l.name);
        iface_new(i, l);
        return;
    }
    if (t.ifindex == l.ifindex) {
        t.arphrd = l.arphrd;
        t.arphrd_known = true;
        // Down/up: XDP and tc programs stay attached across it; the flows just pause (no
        // packets) and end by their timeouts as any idle flow.
        if (t.up_known && t.up != l.up && !l.from_dump)
            FA_INFO("links: interface %s (ifindex %u) is %s: programs stay attached, its flows "
                    "%s", cfg.interfaces[i], l.ifindex, l.up ? "up" : "down",
                    l.up ? "go on" : "pause");
        t.up = l.up;
        t.up_known = true;
        return;
    }
    if (t.ifindex != 0) iface_gone(i, "was replaced", l.name);  // its deletion was not seen
    iface_new(i, l);
}

void Daemon::on_link_gone(uint32_t ifindex, const char* name)
{
    if (!rt_.agent) return;
    if (rt_.cfg.interface_count == 0) {
        follow_all(ifindex, nullptr);
        return;
    }
    for (int i = 0; i < rt_.cfg.interface_count; ++i)
        if (track_[i].ifindex == ifindex) iface_gone(i, "was deleted", name);
}

void Daemon::on_address(bool added, uint32_t ifindex, const sockaddr_storage& addr)
{
    (void)ifindex;
    if (!added) address_removed(addr);
}

void Daemon::on_dump_begin()
{
    for (LinkTrack& t : track_) t.seen = false;
}

// After an overrun, a metered interface the dump does not name was deleted while events were
// lost. (The first dump, at start, is not judged so: a link made between its request and the
// source's start is known from sync_links but may be missing from it.)
void Daemon::on_dump_end()
{
    if (!resync_ || !rt_.agent) return;
    resync_ = false;
    if (rt_.cfg.interface_count == 0) {
        refresh_interfaces();
        return;
    }
    for (int i = 0; i < rt_.cfg.interface_count; ++i)
        if (track_[i].ifindex != 0 && !track_[i].seen)
            iface_gone(i, "is gone (missing from the link dump after lost events)", "");
}

void Daemon::on_overrun()
{
    resync_ = true;
    sockaddr_storage any;
    std::memset(&any, 0, sizeof any);
    any.ss_family = AF_UNSPEC;
    address_removed(any);
}

// An address went away: the collector sockets bound to it are reopened (export follows the
// routes). AF_UNSPEC: events were lost in an overrun; an IPv4 socket then finds out on its next
// send (ENETUNREACH and friends reopen it), an IPv6 one keeps its old source address until
// the next removal event names it (the kernel does not fail such sends).
void Daemon::address_removed(const sockaddr_storage& addr)
{
    if (addr.ss_family != AF_UNSPEC) (void)on_address_removed(addr);
}

} // namespace fa

namespace fa {
namespace {

const char* send_result_name(SendResult r)
{
    switch (r) {
    case SendResult::ok: return "ok";
    case SendResult::refused: return "refused";
    case SendResult::again: return "again";
    case SendResult::error: return "error";
    case SendResult::queued: return "queued";
    }
    return "?";
}

// JSON string contents: quote, backslash and control bytes escaped.
void put_json_text(TextOut& o, const char* s)
{
    for (; *s != 0; ++s) {
        const unsigned char c = static_cast<unsigned char>(*s);
        if (c == '"' || c == '\\') o.put("\\%c", c);
        else if (c < 0x20) o.put("\\u%04x", c);
        else o.put("%c", c);
    }
}

} // namespace

size_t Daemon::render_status(const ControlRequest& r, char* buf, size_t len)
{
    TextOut o{buf, len};
    const MonoMs now = clock_.mono_ms();
    const Config& cfg = rt_.cfg;
    const bool json = r.format == ControlFormat::json;
    if (!rt_.agent) {
        o.put(json ? "{\"error\":\"agent not running (reload in progress)\"}\n"
                   : "error: agent not running (reload in progress)\n");
        return o.ok ? o.used : 0;
    }
    const Agent& a = *rt_.agent;
    const FlowTableStats& ts = a.table().stats();
    const AgentStats& st = a.stats();
    const DropCounters d = a.drops();
    const SamplingInfo smp = a.sampling();
    const char* smode = smp.mode == SamplingMode::deterministic ? "deterministic" : "random";
    const char* skind = smp.kind == SamplingKind::flow ? "flow" : "packet";
    char src_json[4096];
    rt_.source->status_json(src_json, sizeof src_json);
    const uint64_t stall = loop_.max_dispatch_us();
    loop_.reset_max_dispatch();

    if (json) {
        o.put("{\"version\":\"%s\",\"pid\":%d,\"uptime_s\":%llu,\"config\":\"", FA_VERSION,
              int(getpid()), (unsigned long long)((now - agent_start_) / 1000));
        put_json_text(o, cfg.path);
        o.put("\",\"source\":\"%s\"", source_name(cfg.source));
        if (src_json[0] != 0) o.put(",%s", src_json);
        o.put(",\"flow_table\":{\"flows\":%u,\"capacity\":%u,\"created\":%llu,"
              "\"expired_idle\":%llu,\"expired_active\":%llu,\"ended_tcp\":%llu,"
              "\"evicted\":%llu,\"flushed\":%llu}",
              a.table().size(), a.table().capacity(), (unsigned long long)ts.flows_created,
              (unsigned long long)ts.expired_idle, (unsigned long long)ts.expired_active,
              (unsigned long long)ts.ended_tcp, (unsigned long long)ts.evicted_full,
              (unsigned long long)ts.flushed);
        o.put(",\"dropped\":{\"table_full_flows\":%llu,\"table_full_packets\":%llu,"
              "\"source_packets\":%llu,\"source_events\":%llu}",
              (unsigned long long)d.table_full_flows, (unsigned long long)d.table_full_packets,
              (unsigned long long)d.source_packets, (unsigned long long)d.source_events);
        o.put(",\"sampling\":{\"rate\":%u,\"mode\":\"%s\",\"kind\":\"%s\"}", smp.rate, smode,
              skind);
        o.put(",\"metered\":{\"packets\":%llu,\"bytes\":%llu,\"records\":%llu}",
              (unsigned long long)st.delta_packets, (unsigned long long)st.delta_octets,
              (unsigned long long)st.records);
        o.put(",\"collectors\":[");
    } else {
        o.put("flowagent %s, pid %d, up %llu s, config %s\n", FA_VERSION, int(getpid()),
              (unsigned long long)((now - agent_start_) / 1000), cfg.path);
        o.put("source %s%s%s\n", source_name(cfg.source), src_json[0] ? ": " : "", src_json);
        o.put("flow table: %u of %u flows; created %llu, expired idle %llu, active %llu, tcp "
              "end %llu, evicted %llu\n",
              a.table().size(), a.table().capacity(), (unsigned long long)ts.flows_created,
              (unsigned long long)ts.expired_idle, (unsigned long long)ts.expired_active,
              (unsigned long long)ts.ended_tcp, (unsigned long long)ts.evicted_full);
        o.put("dropped: table full %llu flows %llu packets; source %llu packets, %llu events\n",
              (unsigned long long)d.table_full_flows, (unsigned long long)d.table_full_packets,
              (unsigned long long)d.source_packets, (unsigned long long)d.source_events);
        o.put("sampling: 1 in %u (%s, %s)\n", smp.rate, smode, skind);
        o.put("metered: %llu packets, %llu bytes; %llu records\n",
              (unsigned long long)st.delta_packets, (unsigned long long)st.delta_octets,
              (unsigned long long)st.records);
    }
    for (int i = 0; i < a.exporter_count(); ++i) {
        const Exporter& e = a.exporter(i);
        const ExporterCounters& c = e.counters();
        const CollectorConfig& cc = cfg.collectors[i];
        const ObservedSink& os = rt_.sinks[i];
        const ExporterSeq seq = e.sequence();
        const bool ipfix = cc.protocol == Protocol::ipfix;
        const MonoMs tmpl = e.last_template_ms();
        const long long tmpl_ago = tmpl ? (long long)((now - tmpl) / 1000) : -1;
        const long long err_ago =
            os.last_error_ms ? (long long)((now - os.last_error_ms) / 1000) : -1;
        if (json) {
            o.put("%s{\"name\":\"", i ? "," : "");
            put_json_text(o, cc.name);
            o.put("\",\"address\":\"%s\",\"protocol\":\"%s\",\"observation_domain\":%u,"
                  "\"datagrams\":%llu,\"records\":%llu,\"bytes\":%llu,"
                  "\"not_sent\":{\"datagrams\":%llu,\"records\":%llu,\"refused\":%llu,"
                  "\"again\":%llu,\"error\":%llu},",
                  rt_.transports[i].peer(), ipfix ? "ipfix" : "v9", cc.observation_domain,
                  (unsigned long long)c.messages, (unsigned long long)c.records,
                  (unsigned long long)c.octets, (unsigned long long)c.not_sent_messages,
                  (unsigned long long)c.not_sent_flows, (unsigned long long)c.send_refused,
                  (unsigned long long)c.send_again, (unsigned long long)c.send_error);
            if (os.last_error_ms != 0)
                o.put("\"last_error\":{\"kind\":\"%s\",\"errno\":%d,\"text\":\"%s\","
                      "\"seconds_ago\":%lld},",
                      send_result_name(os.last_result), os.last_errno,
                      std::strerror(os.last_errno), err_ago);
            else
                o.put("\"last_error\":null,");
            o.put("\"sequence\":%u,\"template_sends\":%llu,\"last_template_seconds_ago\":%lld}",
                  ipfix ? seq.ipfix : seq.v9, (unsigned long long)c.template_sends, tmpl_ago);
        } else {
            o.put("collector %s: %s %s, domain %u: sent %llu datagrams, %llu records; not sent "
                  "%llu datagrams, %llu records (refused %llu, again %llu, error %llu); "
                  "sequence %u; templates sent %llu times, last %lld s ago",
                  cc.name, rt_.transports[i].peer(), ipfix ? "IPFIX" : "NetFlow v9",
                  cc.observation_domain, (unsigned long long)c.messages,
                  (unsigned long long)c.records, (unsigned long long)c.not_sent_messages,
                  (unsigned long long)c.not_sent_flows, (unsigned long long)c.send_refused,
                  (unsigned long long)c.send_again, (unsigned long long)c.send_error,
                  ipfix ? seq.ipfix : seq.v9, (unsigned long long)c.template_sends, tmpl_ago);
            if (os.last_error_ms != 0)
                o.put("; last error %s (%s) %lld s ago", send_result_name(os.last_result),
                      std::strerror(os.last_errno), err_ago);
            o.put("\n");
        }
    }
    const ControlStats cs = control_.stats();
    control_.reset_max_step();
    if (json) {
        o.put("],\"control\":{\"requests\":%llu,\"bad_requests\":%llu,\"timeouts\":%llu,"
              "\"refused\":%llu,\"snapshot_steps\":%llu,\"max_snapshot_step_us\":%llu,"
              "\"max_snapshot_step_cpu_us\":%llu},"
              "\"loop\":{\"max_dispatch_us\":%llu}}\n",
              (unsigned long long)cs.requests, (unsigned long long)cs.bad_requests,
              (unsigned long long)cs.timeouts, (unsigned long long)cs.refused,
              (unsigned long long)cs.snapshot_steps, (unsigned long long)cs.max_step_us,
              (unsigned long long)cs.max_step_cpu_us, (unsigned long long)stall);
    } else {
        o.put("event loop: longest dispatch %llu us since the previous status\n",
              (unsigned long long)stall);
    }
    return o.ok ? o.used : 0;
}

size_t Daemon::reload_request(const ControlRequest& r, char* buf, size_t len)
{
    char why[512];
    const Reloaded how = reload(why, sizeof why, true);
    TextOut o{buf, len};
    const bool json = r.format == ControlFormat::json;
    if (how == Reloaded::refused || how == Reloaded::failed) {
        const char* what = how == Reloaded::refused ? "reload refused, the running config "
                                                      "stays: " : "reload failed: ";
        if (json) {
            o.put("{\"error\":\"%s", what);
            put_json_text(o, why);
            o.put("\"}\n");
        } else {
            o.put("error: %s", what);
            for (const char* p = why; *p != 0; ++p)  // one line, printable
                o.put("%c", (*p < 0x20 || *p == 0x7f) ? ' ' : *p);
            o.put("\n");
        }
        return o.ok ? o.used : 0;
    }
    const char* text = how == Reloaded::in_place
                           ? "applied in place (flow table, source and kernel state kept)"
                       : how == Reloaded::handed_over
                           ? "applied; datapath handed over without a gap, old table flushed"
                           : "applied; flushed and restarted";
    const char* key = how == Reloaded::in_place      ? "in_place"
                      : how == Reloaded::handed_over ? "handed_over"
                                                     : "restarted";
    if (json) {
        o.put("{\"reload\":\"applied\",\"how\":\"%s\",\"config\":\"", key);
        put_json_text(o, cli_.config_path);
        o.put("\"}\n");
    } else {
        o.put("reload: %s (%s)\n", text, cli_.config_path);
    }
    return o.ok ? o.used : 0;
}

} // namespace fa
