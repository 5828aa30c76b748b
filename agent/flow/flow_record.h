// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include <cstdint>

#include "core/time.h"
#include "flow/flow_key.h"

namespace fa {

// IPFIX flowEndReason (IE 136, RFC 5102).
enum class EndReason : uint8_t {
    none = 0,
    idle_timeout = 1,
    active_timeout = 2,
    end_of_flow = 3,        // TCP FIN or RST seen; conntrack DESTROY of a closed connection
    forced_end = 4,         // shutdown, reload
    lack_of_resources = 5,  // evicted from a full table
};

// What a source hands to the flow table: counts observed for one key since the last delta.
// Sources never aggregate (STYLE 2.1); they translate kernel data into this.
struct FlowDelta {
    FlowKey key;
    uint64_t packets = 0;
    uint64_t octets = 0;      // layer-3 octets (IP header and payload), as IE 1 defines them
    MonoMs first_ms = 0;
    MonoMs last_ms = 0;
    uint8_t tcp_flags = 0;    // OR of all flags seen
    uint8_t has_mac = 0;      // 1 when src_mac/dst_mac are valid
    uint8_t src_mac[6] = {};
    uint8_t dst_mac[6] = {};
};

// Flag bits for FlowRecord::flags.
enum RecordFlag : uint8_t {
    kRecHasMac = 0x01,   // src_mac/dst_mac valid
    kRecHasNat = 0x02,   // post_* fields valid (conntrack NAT)
    kRecHasMark = 0x04,  // ct_mark valid (conntrack, [conntrack] mark = yes)
    kRecHasZone = 0x08,  // ct_zone valid (conntrack, [conntrack] zone = yes)
    kRecBiflow = 0x10,   // rev_* valid: one conntrack connection, both directions (RFC 5103)
};

// One exported flow record: what leaves the flow table (or the conntrack source) and goes to
// every encoder and to the JSON printer. Lives on the stack; never stored in bulk.
struct FlowRecord {
    FlowKey key;
    uint64_t packets = 0;     // packetDeltaCount (IE 2)
    uint64_t octets = 0;      // octetDeltaCount (IE 1)
    MonoMs first_ms = 0;      // monotonic; flowStartMilliseconds (IE 152) after conversion
    MonoMs last_ms = 0;       // flowEndMilliseconds (IE 153)
    uint8_t tcp_flags = 0;    // tcpControlBits (IE 6)
    EndReason end_reason = EndReason::none;
    uint8_t flags = 0;        // RecordFlag bits
    uint8_t src_mac[6] = {};  // sourceMacAddress (IE 56)
    uint8_t dst_mac[6] = {};  // destinationMacAddress (IE 80)
    // NAT (conntrack): the translated addresses and ports, from the reply tuple. Same encoding
    // as the key (IPv4-mapped, network order; ports host order).
    uint8_t post_src[16] = {};  // postNATSourceIPv4Address (225) / postNATSourceIPv6Address (281)
    uint8_t post_dst[16] = {};  // postNATDestinationIPv4Address (226) / IPv6 (282)
    uint16_t post_src_port = 0; // postNAPTSourceTransportPort (227)
    uint16_t post_dst_port = 0; // postNAPTDestinationTransportPort (228)
    uint16_t ct_zone = 0;       // conntrack zone (CTA_ZONE), when kRecHasZone
    uint32_t ct_mark = 0;       // conntrack mark (CTA_MARK), when kRecHasMark
    // Biflow (kRecBiflow): the fields above describe the original direction; the reply
    // direction's counters ride along. Its key and post_* follow from the original's (see
    // biflow_split in flow/biflow.h), except the ICMP type/code of the reply (echo -> reply).
    uint64_t rev_packets = 0;   // reversePacketDeltaCount (PEN 29305, IE 2)
    uint64_t rev_octets = 0;    // reverseOctetDeltaCount (PEN 29305, IE 1)
    uint16_t rev_icmp = 0;      // reply tuple's ICMP type << 8 | code (ICMP/ICMPv6 only)
};

} // namespace fa
