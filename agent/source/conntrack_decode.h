// SPDX-License-Identifier: GPL-2.0-only
// A conntrack entry as plain data (CtEntry: what platform/linux/conntrack_parse fills from a
// ctnetlink message with libnetfilter_conntrack), and its mapping into one FlowRecord per
// direction with NAT fields, biflow records and NAT events. Portable: no Linux headers; the few
// constants below are the kernel UAPI's values (linux/netfilter/nf_conntrack_common.h,
// nf_conntrack_tcp.h), a stable ABI.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/status.h"
#include "flow/flow_record.h"
#include "flow/nat_event.h"

namespace fa {

// ctattr_status bits (IPS_*).
enum : uint32_t {
    kIpsSeenReply = 1u << 1,
    kIpsAssured = 1u << 2,
    kIpsConfirmed = 1u << 3,
    kIpsSrcNat = 1u << 4,
    kIpsDstNat = 1u << 5,
    kIpsDying = 1u << 9,
    kIpsOffload = 1u << 14,    // software flow offload (counted only with a counter flowtable)
    kIpsHwOffload = 1u << 15,  // hardware flow offload
};
// enum tcp_conntrack (linux/netfilter/nf_conntrack_tcp.h).
enum : uint8_t {
    kTcpCtNone = 0, kTcpCtSynSent = 1, kTcpCtSynRecv = 2, kTcpCtEstablished = 3,
    kTcpCtFinWait = 4, kTcpCtCloseWait = 5, kTcpCtLastAck = 6, kTcpCtTimeWait = 7,
    kTcpCtClose = 8, kTcpCtSynSent2 = 9,
};

enum class CtEvent : uint8_t {
    create,   // NEW event (IPCTNL_MSG_CT_NEW with NLM_F_CREATE): natEvent "create"
    update,   // UPDATE event, or an entry of a dump (NLM_F_MULTI)
    destroy,  // DESTROY event (IPCTNL_MSG_CT_DELETE): natEvent "delete"
};

// One direction's tuple. Addresses as in FlowKey: network order, IPv4 stored IPv4-mapped.
// Ports in host order. ICMP/ICMPv6: src_port = 0, dst_port = type << 8 | code (as FlowKey),
// icmp_id holds the echo identifier.
struct CtTuple {
    uint8_t src[16] = {};
    uint8_t dst[16] = {};
    uint16_t src_port = 0;
    uint16_t dst_port = 0;
    uint16_t icmp_id = 0;
    uint8_t proto = 0;
    uint8_t has_ip = 0;     // 1 once both addresses were seen
    uint8_t has_proto = 0;  // 1 once CTA_PROTO_NUM was seen
};

struct CtCounters {
    uint64_t packets = 0;
    uint64_t octets = 0;     // layer-3 octets, as the kernel's nf_conn_acct counts them
    uint8_t present = 0;     // 1 when CTA_COUNTERS_* was in the message (accounting on)
};

struct CtEntry {
    CtEvent event = CtEvent::update;
    uint8_t family = 0;             // nfgen_family: 2 (AF_INET) or 10 (AF_INET6)
    uint8_t tcp_state = 0;          // kTcpCt*, valid when has_tcp_state
    uint8_t has_tcp_state = 0;
    uint8_t has_id = 0, has_status = 0, has_mark = 0, has_zone = 0, has_tstamp_start = 0,
            has_tstamp_stop = 0, has_timeout = 0;
    uint16_t zone = 0;              // CTA_ZONE
    uint32_t id = 0;                // CTA_ID: the kernel's conntrack id (stable for the entry)
    uint32_t status = 0;            // CTA_STATUS, kIps* bits
    uint32_t mark = 0;              // CTA_MARK
    uint32_t timeout_s = 0;         // CTA_TIMEOUT: seconds until expiry
    uint64_t tstamp_start_ns = 0;   // CTA_TIMESTAMP_START: wall-clock (CLOCK_REALTIME) ns
    uint64_t tstamp_stop_ns = 0;    // CTA_TIMESTAMP_STOP: wall-clock ns (DESTROY only)
    CtTuple orig;                   // CTA_TUPLE_ORIG
    CtTuple reply;                  // CTA_TUPLE_REPLY
    CtCounters orig_ctr;            // CTA_COUNTERS_ORIG
    CtCounters reply_ctr;           // CTA_COUNTERS_REPLY

    bool offloaded() const { return (status & (kIpsOffload | kIpsHwOffload)) != 0; }
    bool nat() const { return (status & (kIpsSrcNat | kIpsDstNat)) != 0; }
};

// Options for turning an entry into records.
struct CtRecordOptions {
    bool both_directions = true;   // false: only the original direction (reply counters dropped)
    int64_t wall_offset_ms = 0;    // wall_ms = mono_ms + offset (to convert CTA_TIMESTAMP)
    MonoMs now_ms = 0;             // monotonic now: flow end when the entry has no stop stamp
    MonoMs fallback_first_ms = 0;  // flow start when the entry has no start stamp
    bool with_mark = false;        // [conntrack] mark = yes: ct_mark + kRecHasMark on each record
    bool with_zone = false;        // [conntrack] zone = yes: ct_zone + kRecHasZone
};

// Counters already exported for one entry (by the active-timeout dump or a previous run).
struct CtExported {
    uint64_t orig_packets = 0, orig_octets = 0, reply_packets = 0, reply_octets = 0;
};

// Delta since `prev`. When the kernel counter is below `prev` (a different connection that
// reused the id and tuple, or a baseline from a state file that does not belong to it), the
// whole current value is the delta: never a wrap-around to 2^64.
inline uint64_t ct_counter_delta(uint64_t cur, uint64_t prev) { return cur >= prev ? cur - prev : cur; }

// flowEndReason for a record of `e` (RFC 5102 IE 136): DESTROY of a TCP connection that reached
// FIN/close states -> end_of_flow; other DESTROYs -> idle_timeout; create/update -> active_timeout.
// `forced` (agent shutdown) -> forced_end.
EndReason ct_end_reason(const CtEntry& e, bool forced);

// Fills out[0] (original direction) and, when opts.both_directions, out[1] (reply direction).
// Counters are deltas against `prev` (null = nothing exported yet). NAT: when the entry is
// NATed, post_* come from the other direction's tuple (orig record: post_src = reply.dst,
// post_dst = reply.src, ports likewise; reply record: post_src = orig.dst, post_dst = orig.src)
// and kRecHasNat is set. With opts.with_mark / with_zone, ct_mark / ct_zone carry CTA_MARK /
// CTA_ZONE (0 when the message has none: the kernel leaves out a zero mark and the default
// zone in events) and kRecHasMark / kRecHasZone are set. Records with zero packets are skipped. Returns the number written
// (0..2). `reason` is the flowEndReason to stamp.
size_t ct_to_records(const CtEntry& e, const CtRecordOptions& opts, const CtExported* prev,
                     EndReason reason, FlowRecord out[2]);

// The agent's own export sockets, so that the conntrack source does not meter its own datagrams
// to the collectors (in a router namespace that exports to a local or routed collector, every
// export datagram is a conntrack entry too). Addresses as in CtTuple (IPv4-mapped, network
// order), ports host order.
struct CtOwnSocket {
    uint8_t local[16] = {};
    uint8_t peer[16] = {};
    uint16_t local_port = 0;
    uint16_t peer_port = 0;
};
// True when `orig` (an entry's ORIGINAL tuple) is UDP from one of `own[0..n)`'s local address and
// port to its peer: the connection the agent's connected UDP socket created.
bool ct_is_own_export(const CtTuple& orig, const CtOwnSocket* own, size_t n);

// Flow offload (nftables flowtable, software or hardware): packets of an offloaded connection
// reach the conntrack counters only when the flowtable has the counter flag; without it its
// records undercount. The listener warns once per run;
// note() counts offloaded entries and returns true exactly once, for the first one seen.
struct CtOffloadNotice {
    uint64_t entries = 0;  // offloaded entries seen (events and dump replies)
    bool warned = false;
    bool note(const CtEntry& e)
    {
        if (!e.offloaded()) return false;
        ++entries;
        if (warned) return false;
        warned = true;
        return true;
    }
};

// The same entry as ONE biflow record (RFC 5103): the original direction's key, post_* and
// counters, the reply direction's counters in rev_packets/rev_octets (opts.both_directions
// false: left 0), rev_icmp from the reply tuple, kRecBiflow set. Built from ct_to_records(), so
// biflow_split() (flow/biflow.h) of it gives exactly ct_to_records()' records. Returns false
// when neither direction has packets (no record).
bool ct_to_biflow(const CtEntry& e, const CtRecordOptions& opts, const CtExported* prev,
                  EndReason reason, FlowRecord& out);

// A NAT44 session event (RFC 8158) for a NEW (create) or DESTROY (delete) event of a NATed
// entry: pre-NAT from the original tuple, post-NAT from the inverted reply tuple (ICMP: the
// echo identifiers as ports, see NatEvent). Time: CTA_TIMESTAMP_START (create) or _STOP
// (delete) when present, else `now`. False for other entries (not NATed, UPDATE, dump).
// IPv6 entries are filled too; whether they can be exported is the caller's decision.
bool ct_to_nat_event(const CtEntry& e, int64_t wall_offset_ms, MonoMs now, NatEvent& out);

// The create event of a NATed connection whose NEW event was lost (socket overrun), rebuilt
// from a later message about it (a dump reply, its DESTROY, whatever e.event says), timed by
// CTA_TIMESTAMP_START. False when the entry is not NATed, has no start stamp, or started
// before `since_wall_ns` (CLOCK_REALTIME ns: the listener's start; older connections' creates
// were never ours to report).
bool ct_recovered_nat_create(const CtEntry& e, uint64_t since_wall_ns, int64_t wall_offset_ms,
                             MonoMs now, NatEvent& out);

// Flow sampling (1 in `rate`) by a hash of the ORIGINAL tuple, so both directions and every
// event of one connection (NEW, dumps, DESTROY) get the same decision. FNV-1a (32 bit) over
// src[16] dst[16] src_port(BE) dst_port(BE) proto, then a multiplicative finaliser so low bits
// are mixed. rate <= 1 keeps everything. Announced as SamplingKind::flow.
uint32_t ct_tuple_hash(const CtTuple& t);
inline bool ct_sample_keep_hash(uint32_t tuple_hash, uint32_t rate)
{
    return rate <= 1 || tuple_hash % rate == 0;
}
inline bool ct_sample_keep(const CtTuple& t, uint32_t rate)
{
    return ct_sample_keep_hash(ct_tuple_hash(t), rate);
}

} // namespace fa
