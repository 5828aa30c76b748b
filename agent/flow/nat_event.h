// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include <cstdint>
#include <cstring>

#include "core/time.h"

namespace fa {

// IPFIX natEvent (IE 230) values used here (RFC 8158 §4.1, IANA "NAT Event Type"). RFC 8158
// defines session events for NAT44 and NAT64 only: IPv6-to-IPv6 NAT (conntrack NAT66) has no
// code, so such events are not exported (counted in AgentStats::nat_events_v6_skipped).
enum NatEventType : uint8_t {
    kNat44SessionCreate = 1,
    kNat44SessionDelete = 2,
};

// One NAT session event (conntrack NEW or DESTROY of a NATed connection), routed by the agent
// to the collectors with `nat_events = yes`. Addresses as in FlowKey (network order, IPv4
// stored IPv4-mapped); ports host order. ICMP: src_port / post_src_port carry the echo
// identifier before / after translation (what masquerading rewrites), dst_port and
// post_dst_port the type << 8 | code.
struct NatEvent {
    MonoMs time_ms = 0;          // observationTimeMilliseconds (IE 323) after conversion
    uint8_t src[16] = {};        // sourceIPv4Address (8)
    uint8_t dst[16] = {};        // destinationIPv4Address (12)
    uint8_t post_src[16] = {};   // postNATSourceIPv4Address (225)
    uint8_t post_dst[16] = {};   // postNATDestinationIPv4Address (226)
    uint16_t src_port = 0;       // sourceTransportPort (7)
    uint16_t dst_port = 0;       // destinationTransportPort (11)
    uint16_t post_src_port = 0;  // postNAPTSourceTransportPort (227)
    uint16_t post_dst_port = 0;  // postNAPTDestinationTransportPort (228)
    uint8_t proto = 0;           // protocolIdentifier (4)
    uint8_t event = 0;           // natEvent (230), NatEventType

    bool is_v4() const
    {
        static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        return std::memcmp(src, kMapped, 12) == 0 && std::memcmp(dst, kMapped, 12) == 0 &&
               std::memcmp(post_src, kMapped, 12) == 0 && std::memcmp(post_dst, kMapped, 12) == 0;
    }
};

} // namespace fa
