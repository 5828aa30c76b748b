// SPDX-License-Identifier: GPL-2.0-only
// The contract between the agent, the encoders and the transport.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/span.h"

namespace fa {

enum class Protocol : uint8_t { ipfix, v9 };

enum class SamplingMode : uint8_t {
    deterministic = 1,  // 1-in-N, every Nth packet (PSAMP systematic count-based, v9 algorithm 1)
    random = 2,         // 1-in-N at random (PSAMP random n-out-of-N, v9 algorithm 2)
};

// What is sampled: packets (bpf sources) or whole flows (conntrack source).
enum class SamplingKind : uint8_t { packet = 0, flow = 1 };

struct SamplingInfo {
    uint32_t rate = 1;  // 1 = every packet / flow; N = 1 in N
    SamplingMode mode = SamplingMode::random;
    SamplingKind kind = SamplingKind::packet;
};

// One row of the interface options table: ifIndex -> interfaceName (IE 82) and
// interfaceDescription (IE 83). Fixed sizes: the v9 wire format has no variable lengths.
struct InterfaceInfo {
    uint32_t ifindex = 0;
    char name[16] = {};    // IFNAMSIZ, NUL-padded on the wire
    char descr[32] = {};   // e.g. "lan", "wan" or the alias
};

// Packets or flows the agent saw but did not meter or export, by reason. Each is exported in
// the exporter statistics options record and printed in stats logs. Totals only ever grow.
struct DropCounters {
    uint64_t table_full_packets = 0;  // flow table full under the drop policy (IE 164 part)
    uint64_t table_full_octets = 0;
    uint64_t table_full_flows = 0;
    uint64_t source_packets = 0;      // dropped in the source: BPF map full, parse errors (IE 164 part)
    uint64_t source_octets = 0;
    uint64_t source_events = 0;       // conntrack events lost (ENOBUFS) before resync
};

// Result of handing one datagram to the transport.
enum class SendResult : uint8_t {
    ok,
    refused,  // ECONNREFUSED: the collector's host answered ICMP port unreachable
    again,    // EAGAIN/ENOBUFS: socket buffer full
    error,    // anything else (no route, resolution failure, ...)
    queued,   // held by a paced sink: its outcome comes later through SendFeedback
};

// What one datagram carries, so that its records can be counted when its fate is learned
// after send() returned (a paced queue sent or dropped it; an ICMP error refused it).
struct DatagramMeta {
    uint64_t flows = 0, packets = 0, octets = 0, nat_events = 0;
    uint32_t bytes = 0;
};

// Told by a sink what became of a datagram after send() returned. res is ok/again/error/
// refused. was_counted: the datagram had already been counted as sent (send() returned ok) and
// now is known lost (an ICMP error from the collector's host quoted it): count it as not sent
// as well (the sent totals never step down).
class SendFeedback {
public:
    virtual ~SendFeedback() = default;
    virtual void on_send_outcome(const DatagramMeta& m, SendResult res, bool was_counted) = 0;
    // The sink reopened its socket and the collector now sees a new transport session (a new
    // local address or port, or a new collector address), which knows none of our templates.
    // Writes into out (cap bytes) a message that holds only the templates, numbered to go right
    // before `next` (the first datagram the sink sends on the new socket; its header gives the
    // number), and makes the next datagram opened carry templates and options data again.
    // Returns the message's length; 0 when `next` carries the templates itself, is not one of
    // ours, or the message does not fit. The sink reports the message's fate through
    // on_send_outcome (a datagram without records).
    virtual size_t templates_before(const uint8_t* next, size_t next_len, uint8_t* out,
                                    size_t cap)
    {
        (void)next;
        (void)next_len;
        (void)out;
        (void)cap;
        return 0;
    }
};

// The transport seen from an encoder: sends one complete datagram, never blocks.
class DatagramSink {
public:
    virtual ~DatagramSink() = default;
    virtual SendResult send(const uint8_t* data, size_t len) = 0;
    // With the datagram's accounting, for sinks that queue or learn of refusals later (they
    // may return queued). The default sends at once.
    virtual SendResult send_counted(const uint8_t* data, size_t len, const DatagramMeta& m)
    {
        (void)m;
        return send(data, len);
    }
    // Learn now what became of datagrams sent earlier (reported through SendFeedback): called
    // before a new datagram is opened, so that it carries templates if the collector was found
    // gone meanwhile.
    virtual void poll_outcomes() {}
};

// What the options records report, read by the exporter whenever it writes options data.
class OptionsProvider {
public:
    virtual ~OptionsProvider() = default;
    virtual SamplingInfo sampling() const = 0;
    virtual Span<const InterfaceInfo> interfaces() const = 0;
    virtual DropCounters drops() const = 0;
};

} // namespace fa
