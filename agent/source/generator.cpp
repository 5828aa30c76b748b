// SPDX-License-Identifier: GPL-2.0-only
#include "source/generator.h"

#include <cstring>

namespace fa {

void Generator::start(const GeneratorConfig& cfg, MonoMs now)
{
    cfg_ = cfg;
    if (cfg_.flows == 0) cfg_.flows = 1;
    start_ = now;
    sent_ = octets_ = 0;
    done_ = false;
}

void Generator::packet(const GeneratorConfig& cfg, uint64_t n, MonoMs at, FlowDelta& d)
{
    // 32-bit arithmetic: a 64-bit % is a libgcc call (__umoddi3) on 32-bit CPUs. Packet
    // numbers wrap at 2^32 here, which only restarts the flow and size patterns.
    const uint32_t n32 = uint32_t(n);
    const uint32_t f = n32 % (cfg.flows ? cfg.flows : 1u);
    d = FlowDelta{};
    std::memset(&d.key, 0, sizeof d.key);
    // Flows 0..: a mix of TCP and UDP (alternating, and alternating again every 8 flows, so
    // the IPv6 ones are both), an ICMP echo every 16th (f % 16 == 5) and an ICMPv6 echo every
    // 32nd (f % 32 == 31), IPv6 every 8th. Documentation prefixes only (RFC 5737
    // 198.51.100.0/24 and 203.0.113.0/24, RFC 3849).
    const bool v6 = (f % 8) == 7;
    const bool icmp = (f % 16) == 5 || (f % 32) == 31;
    if (v6) {
        static const uint8_t kSrc[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1};
        static const uint8_t kDst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 2};
        std::memcpy(d.key.src, kSrc, 16);
        std::memcpy(d.key.dst, kDst, 16);
        d.key.src[12] = uint8_t(f >> 24);
        d.key.src[13] = uint8_t(f >> 16);
        d.key.src[14] = uint8_t(f >> 8);
        d.key.src[15] = uint8_t(f);
        d.key.dst[15] = 1;
    } else {
        d.key.set_v4(d.key.src, 0xc6336400u + (f & 0xff));          // 198.51.100.x
        d.key.set_v4(d.key.dst, 0xcb007100u + ((f >> 8) & 0xff) + 1); // 203.0.113.y
    }
    if (icmp) {
        d.key.proto = v6 ? 58 : 1;
        d.key.dst_port = v6 ? uint16_t(128 << 8) : uint16_t(8 << 8);  // echo request
    } else {
        const bool udp = ((f + f / 8) % 2) != 0;
        d.key.proto = udp ? 17 : 6;
        d.key.src_port = uint16_t(10000 + (f % 50000));
        d.key.dst_port = udp ? 53 : 443;
    }
    d.key.in_if = cfg.in_if;
    d.key.dir = uint8_t(Direction::ingress);
    d.packets = 1;
    d.octets = 60 + ((n32 % 1400u) * 37u) % 1400u;
    d.first_ms = d.last_ms = at;
    if (d.key.proto == 6) d.tcp_flags = kTcpAck | kTcpPsh;
}

void Generator::step(MonoMs now, SourceSink& sink, uint32_t budget)
{
    if (done_ || now < start_) return;
    MonoMs elapsed = now - start_;
    if (cfg_.duration_s && elapsed >= MonoMs(cfg_.duration_s) * 1000u) {
        elapsed = MonoMs(cfg_.duration_s) * 1000u;
    }
    const uint64_t due = elapsed * cfg_.packets_per_s / 1000u;
    FlowDelta d;
    while (sent_ < due && budget-- > 0) {
        packet(cfg_, sent_, now, d);
        ++sent_;
        octets_ += d.octets;
        sink.on_delta(d);
    }
    if (cfg_.duration_s && elapsed >= MonoMs(cfg_.duration_s) * 1000u && sent_ >= due) done_ = true;
}

} // namespace fa
