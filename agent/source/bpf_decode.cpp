// SPDX-License-Identifier: GPL-2.0-only
#include "source/bpf_decode.h"

#include <cstring>

namespace fa {

namespace {

constexpr uint64_t kNsPerMs = 1000000;

// Ports in the kernel key are the packet's bytes (network order): assemble, never cast.
uint16_t be16(const uint8_t* p) { return uint16_t(uint16_t(p[0]) << 8 | p[1]); }

bool all_zero(const uint8_t* p, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        if (p[i] != 0) return false;
    return true;
}

} // namespace

Status bpf_decode(const fa_flow_key& k, const fa_flow_val& v, FlowDelta& out)
{
    if (!all_zero(k.pad, sizeof(k.pad)) || !all_zero(v.pad, sizeof(v.pad)))
        return Status::bad_input;
    if ((k.flags & ~(FA_KF_EGRESS | FA_KF_GEN)) != 0 || k.vlan > 0x0fff)
        return Status::bad_input;
    if (v.packets == 0 || v.last_ns < v.first_ns) return Status::bad_input;

    out = FlowDelta{};
    std::memset(&out.key, 0, sizeof(out.key));
    std::memcpy(out.key.src, k.saddr, 16);
    std::memcpy(out.key.dst, k.daddr, 16);
    out.key.src_port = be16(k.sport);
    out.key.dst_port = be16(k.dport);  // ICMP: {type, code} -> type << 8 | code
    const bool egress = (k.flags & FA_KF_EGRESS) != 0;
    // One hook sees one interface: ingress hooks know the input, egress hooks the output.
    out.key.in_if = egress ? 0 : k.ifindex;
    out.key.out_if = egress ? k.ifindex : 0;
    out.key.vlan = k.vlan;
    out.key.proto = k.proto;
    out.key.tos = k.tos;
    out.key.dir = uint8_t(egress ? Direction::egress : Direction::ingress);
    out.packets = v.packets;
    out.octets = v.bytes;
    // bpf_ktime_get_ns() is CLOCK_MONOTONIC, the clock MonoMs counts in.
    out.first_ms = v.first_ns / kNsPerMs;
    out.last_ms = v.last_ns / kNsPerMs;
    out.tcp_flags = v.tcp_flags;
    return Status::ok;
}

Status bpf_decode(const uint8_t* key, size_t key_len, const uint8_t* val, size_t val_len,
                  FlowDelta& out)
{
    if (key == nullptr || val == nullptr || key_len != sizeof(fa_flow_key) ||
        val_len != sizeof(fa_flow_val))
        return Status::bad_input;
    fa_flow_key k;
    fa_flow_val v;
    std::memcpy(&k, key, sizeof(k));  // map buffers may be unaligned: copy, never cast
    std::memcpy(&v, val, sizeof(v));
    return bpf_decode(k, v, out);
}

const char* bpf_reason_name(uint32_t reason)
{
    switch (reason) {
    case FA_R_SAMPLED_OUT: return "sampled_out";
    case FA_R_MAP_FULL: return "map_full";
    case FA_R_NOT_IP: return "not_ip";
    case FA_R_TRUNC_ETH: return "trunc_eth";
    case FA_R_TRUNC_VLAN: return "trunc_vlan";
    case FA_R_VLAN_DEPTH: return "vlan_depth";
    case FA_R_TRUNC_PPPOE: return "trunc_pppoe";
    case FA_R_PPP_NOT_IP: return "ppp_not_ip";
    case FA_R_TRUNC_IP4: return "trunc_ip4";
    case FA_R_BAD_IP4: return "bad_ip4";
    case FA_R_TRUNC_IP6: return "trunc_ip6";
    case FA_R_BAD_IP6: return "bad_ip6";
    case FA_R_TRUNC_EXT: return "trunc_ext";
    case FA_R_EXT_DEPTH: return "ext_depth";
    case FA_R_TRUNC_L4: return "trunc_l4";
    case FA_R_FRAG_UNMATCHED: return "frag_unmatched";
    case FA_R_FRAG_FULL: return "frag_full";
    default: return "unknown";
    }
}

bool bpf_reason_is_loss(uint32_t reason)
{
    return reason < FA_R_MAX && FA_REASON_IS_LOSS(reason);
}

} // namespace fa
