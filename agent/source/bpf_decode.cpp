// SPDX-License-Identifier: GPL-2.0-only
#include "source/bpf_decode.h"

#include <cstring>

namespace fa {

namespace {

// Ports in the kernel key are the packet's bytes (network order): assemble, never cast.
uint16_t be16(const uint8_t* p) { return uint16_t(uint16_t(p[0]) << 8 | p[1]); }

bool all_zero(const uint8_t* p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; ++i) acc |= p[i];
    return acc == 0;
}

} // namespace

Status bpf_decode(const fa_flow_key& k, const fa_flow_val& v, MonoMs now_ms,
                  const uint32_t* slot_ifindex, FlowDelta& out)
{
    if (v.pad != 0 || v.vlan > 0x0fff || (v.flags & ~FA_VAL_MAC) != 0 ||
        !all_zero(v.pad2, sizeof(v.pad2)))
        return Status::bad_input;
    const bool has_mac = (v.flags & FA_VAL_MAC) != 0;
    if (!has_mac && (!all_zero(v.smac, 6) || !all_zero(v.dmac, 6))) return Status::bad_input;
    const uint32_t slot = k.ifx & FA_IFX_SLOT;
    if (slot_ifindex == nullptr || slot == 0 || slot > FA_MAX_SLOTS || slot_ifindex[slot] == 0)
        return Status::bad_input;
    const uint32_t ifindex = slot_ifindex[slot];
    const uint32_t span = v.last_ms - v.first_ms;       // modulo 2^32
    const uint32_t age = uint32_t(now_ms) - v.last_ms;  // modulo 2^32
    if (v.packets == 0 || span >= 0x80000000u || age >= 0x80000000u ||
        uint64_t(span) + age > now_ms)
        return Status::bad_input;

    out = FlowDelta{};
    std::memset(&out.key, 0, sizeof(out.key));
    std::memcpy(out.key.src, k.saddr, 16);
    std::memcpy(out.key.dst, k.daddr, 16);
    out.key.src_port = be16(k.sport);
    out.key.dst_port = be16(k.dport);  // ICMP: {type, code} -> type << 8 | code
    const bool egress = (k.ifx & FA_IFX_EGRESS) != 0;
    // One hook sees one interface: ingress hooks know the input, egress hooks the output.
    out.key.in_if = egress ? 0 : ifindex;
    out.key.out_if = egress ? ifindex : 0;
    out.key.vlan = v.vlan;
    out.key.proto = k.proto;
    out.key.tos = k.tos;
    out.key.dir = uint8_t(egress ? Direction::egress : Direction::ingress);
    out.packets = v.packets;
    out.octets = v.bytes;
    // fa_ctl.now_ms counts CLOCK_MONOTONIC ms, the clock MonoMs counts in.
    out.last_ms = now_ms - age;
    out.first_ms = out.last_ms - span;
    out.tcp_flags = v.tcp_flags;
    if (has_mac) {
        out.has_mac = 1;
        std::memcpy(out.src_mac, v.smac, 6);
        std::memcpy(out.dst_mac, v.dmac, 6);
    }
    return Status::ok;
}

Status bpf_decode(const uint8_t* key, size_t key_len, const uint8_t* val, size_t val_len,
                  MonoMs now_ms, const uint32_t* slot_ifindex, FlowDelta& out)
{
    if (key == nullptr || val == nullptr || key_len != sizeof(fa_flow_key) ||
        val_len != sizeof(fa_flow_val))
        return Status::bad_input;
    fa_flow_key k;
    fa_flow_val v;
    std::memcpy(&k, key, sizeof(k));  // map buffers may be unaligned: copy, never cast
    std::memcpy(&v, val, sizeof(v));
    return bpf_decode(k, v, now_ms, slot_ifindex, out);
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
    case FA_R_BAD_TCP_OFF: return "bad_tcp_offset";
    case FA_R_LEN_OVER_FRAME: return "len_over_frame";
    case FA_R_NO_SLOT: return "no_slot";
    default: return "unknown";
    }
}

bool bpf_reason_is_loss(uint32_t reason)
{
    return reason < FA_R_MAX && FA_REASON_IS_LOSS(reason);
}

} // namespace fa
