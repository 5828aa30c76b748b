// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include <cstdint>
#include <cstring>

namespace fa {

// IPFIX flowDirection (IE 61).
enum class Direction : uint8_t { ingress = 0, egress = 1 };

// The flow key. Compared as raw bytes, so every byte, padding included, must be set (start from
// a zeroed key). 52 bytes.
//
// Addresses are in network byte order; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d), so there is
// one key type for both families. Ports are in host order. For ICMP and ICMPv6 src_port is 0 and
// dst_port carries type << 8 | code: the key then separates echo from unreachable, and the v9
// encoder can put the value in L4_DST_PORT as collectors expect.
struct FlowKey {
    uint8_t src[16];
    uint8_t dst[16];
    uint16_t src_port;
    uint16_t dst_port;
    uint32_t in_if;    // ingressInterface (IE 10); 0 = unknown
    uint32_t out_if;   // egressInterface (IE 14); 0 = unknown
    uint16_t vlan;     // vlanId (IE 58), 12 bits; 0 = untagged
    uint8_t proto;     // protocolIdentifier (IE 4)
    uint8_t tos;       // ipClassOfService (IE 5): the whole ToS / traffic-class byte
    uint8_t dir;       // Direction
    uint8_t pad[3];    // zero

    bool is_v4() const
    {
        static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        return std::memcmp(src, kMapped, 12) == 0 && std::memcmp(dst, kMapped, 12) == 0;
    }
    bool is_icmp() const { return proto == 1 || proto == 58; }
    uint8_t icmp_type() const { return uint8_t(dst_port >> 8); }
    uint8_t icmp_code() const { return uint8_t(dst_port); }

    // Helpers for sources and tests. a, b, c, d in dotted order.
    void set_v4(uint8_t* addr, uint32_t host_order_ip)
    {
        std::memset(addr, 0, 10);
        addr[10] = addr[11] = 0xff;
        addr[12] = uint8_t(host_order_ip >> 24);
        addr[13] = uint8_t(host_order_ip >> 16);
        addr[14] = uint8_t(host_order_ip >> 8);
        addr[15] = uint8_t(host_order_ip);
    }
};
static_assert(sizeof(FlowKey) == 52, "FlowKey layout is part of the memory budget");

inline bool operator==(const FlowKey& a, const FlowKey& b)
{
    return std::memcmp(&a, &b, sizeof(FlowKey)) == 0;
}

// TCP flag bits as on the wire (IE 6 tcpControlBits, low byte).
enum TcpFlag : uint8_t {
    kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08,
    kTcpAck = 0x10, kTcpUrg = 0x20, kTcpEce = 0x40, kTcpCwr = 0x80,
};

} // namespace fa
