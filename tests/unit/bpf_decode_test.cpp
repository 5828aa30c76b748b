// SPDX-License-Identifier: GPL-2.0-only
// Expected values are written out by hand from the packet fields, not computed by the decoder.
#include <cstring>

#include "CppUTest/TestHarness.h"
#include "source/bpf_decode.h"

using namespace fa;

namespace {

fa_flow_key v4_key()
{
    fa_flow_key k;
    std::memset(&k, 0, sizeof(k));
    const uint8_t src[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1};
    const uint8_t dst[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 9};
    std::memcpy(k.saddr, src, 16);
    std::memcpy(k.daddr, dst, 16);
    k.sport[0] = 0xd4;  // 54321 = 0xd431
    k.sport[1] = 0x31;
    k.dport[0] = 0x01;  // 443 = 0x01bb
    k.dport[1] = 0xbb;
    k.ifx = 7;
    k.proto = 6;
    k.tos = 0xb8;
    return k;
}

fa_flow_val val(uint32_t packets, uint64_t bytes, uint32_t first_ms, uint32_t last_ms)
{
    fa_flow_val v;
    std::memset(&v, 0, sizeof(v));
    v.packets = packets;
    v.bytes = bytes;
    v.first_ms = first_ms;
    v.last_ms = last_ms;
    v.tcp_flags = 0x1b;  // FIN SYN PSH ACK
    v.vlan = 100;
    return v;
}

constexpr MonoMs kNow = 3000;  // drain time of the tests below

// Slot -> kernel ifindex as the loader keeps it: slot 7 is an interface whose ifindex no longer
// fits the key's 14 bits (a PPP link after many redials), slot 32 (the last) another one, slot
// 3 was never assigned.
struct Slots {
    uint32_t ifx[FA_MAX_SLOTS + 1] = {};
    Slots()
    {
        ifx[1] = 2;
        ifx[7] = 123456;
        ifx[FA_MAX_SLOTS] = 40000;
    }
};
const Slots kSlots;
const uint32_t* const kIfx = kSlots.ifx;

} // namespace

TEST_GROUP(BpfDecode) { FlowDelta d; };

TEST(BpfDecode, Ipv4TcpIngress)
{
    fa_flow_key k = v4_key();
    fa_flow_val v = val(3, 180, 1500, 2750);
    uint8_t kb[sizeof(k)], vb[sizeof(v)];
    std::memcpy(kb, &k, sizeof(k));
    std::memcpy(vb, &v, sizeof(v));
    CHECK(bpf_decode(kb, sizeof(kb), vb, sizeof(vb), kNow, kIfx, d) == Status::ok);
    const uint8_t src[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1};
    const uint8_t dst[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 9};
    MEMCMP_EQUAL(src, d.key.src, 16);
    MEMCMP_EQUAL(dst, d.key.dst, 16);
    CHECK(d.key.is_v4());
    UNSIGNED_LONGS_EQUAL(54321, d.key.src_port);
    UNSIGNED_LONGS_EQUAL(443, d.key.dst_port);
    UNSIGNED_LONGS_EQUAL(123456, d.key.in_if);  // slot 7's ifindex, not the slot
    UNSIGNED_LONGS_EQUAL(0, d.key.out_if);
    UNSIGNED_LONGS_EQUAL(0, d.key.dir);
    UNSIGNED_LONGS_EQUAL(100, d.key.vlan);
    UNSIGNED_LONGS_EQUAL(6, d.key.proto);
    UNSIGNED_LONGS_EQUAL(0xb8, d.key.tos);
    const uint8_t zero[3] = {0, 0, 0};
    MEMCMP_EQUAL(zero, d.key.pad, 3);
    UNSIGNED_LONGS_EQUAL(3, d.packets);
    UNSIGNED_LONGS_EQUAL(180, d.octets);
    UNSIGNED_LONGS_EQUAL(1500, d.first_ms);
    UNSIGNED_LONGS_EQUAL(2750, d.last_ms);
    UNSIGNED_LONGS_EQUAL(0x1b, d.tcp_flags);
    UNSIGNED_LONGS_EQUAL(0, d.has_mac);
}

TEST(BpfDecode, EgressWithGenerationBit)
{
    fa_flow_key k = v4_key();
    k.ifx = 7 | FA_IFX_EGRESS | FA_IFX_GEN;
    UNSIGNED_LONGS_EQUAL(1, bpf_key_gen(k));
    CHECK(bpf_decode(k, val(1, 60, 5, 5), kNow, kIfx, d) == Status::ok);
    UNSIGNED_LONGS_EQUAL(0, d.key.in_if);
    UNSIGNED_LONGS_EQUAL(123456, d.key.out_if);
    UNSIGNED_LONGS_EQUAL(1, d.key.dir);
    k.ifx = 7 | FA_IFX_EGRESS;
    UNSIGNED_LONGS_EQUAL(0, bpf_key_gen(k));
    k.ifx = FA_MAX_SLOTS | FA_IFX_GEN;  // the last slot
    CHECK(bpf_decode(k, val(1, 60, 5, 5), kNow, kIfx, d) == Status::ok);
    UNSIGNED_LONGS_EQUAL(40000, d.key.in_if);
    UNSIGNED_LONGS_EQUAL(0, d.key.out_if);
}

TEST(BpfDecode, SlotsWithoutAnInterfaceAreRefused)
{
    fa_flow_key k = v4_key();
    k.ifx = 0;  // slot 0: the programs never meter there (no_slot)
    CHECK(bpf_decode(k, val(1, 60, 5, 5), kNow, kIfx, d) == Status::bad_input);
    k.ifx = FA_MAX_SLOTS + 1;
    CHECK(bpf_decode(k, val(1, 60, 5, 5), kNow, kIfx, d) == Status::bad_input);
    k.ifx = FA_IFX_SLOT | FA_IFX_EGRESS;
    CHECK(bpf_decode(k, val(1, 60, 5, 5), kNow, kIfx, d) == Status::bad_input);
    k.ifx = 3;  // never assigned
    CHECK(bpf_decode(k, val(1, 60, 5, 5), kNow, kIfx, d) == Status::bad_input);
    k.ifx = 1;
    CHECK(bpf_decode(k, val(1, 60, 5, 5), kNow, nullptr, d) == Status::bad_input);
    CHECK(bpf_decode(k, val(1, 60, 5, 5), kNow, kIfx, d) == Status::ok);
    UNSIGNED_LONGS_EQUAL(2, d.key.in_if);
}

TEST(BpfDecode, MacsOnlyWithTheirFlag)
{
    fa_flow_key k = v4_key();
    fa_flow_val v = val(1, 60, 5, 5);
    const uint8_t sm[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
    const uint8_t dm[6] = {0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54};
    std::memcpy(v.smac, sm, 6);
    std::memcpy(v.dmac, dm, 6);
    v.flags = FA_VAL_MAC;
    uint8_t kb[sizeof(k)], vb[sizeof(v)];
    std::memcpy(kb, &k, sizeof(k));
    std::memcpy(vb, &v, sizeof(v));
    // The value's bytes at their ABI offsets: smac at 24, dmac at 30, flags at 36.
    MEMCMP_EQUAL(sm, vb + 24, 6);
    MEMCMP_EQUAL(dm, vb + 30, 6);
    UNSIGNED_LONGS_EQUAL(1, vb[36]);
    CHECK(bpf_decode(kb, sizeof(kb), vb, sizeof(vb), kNow, kIfx, d) == Status::ok);
    UNSIGNED_LONGS_EQUAL(1, d.has_mac);
    MEMCMP_EQUAL(sm, d.src_mac, 6);
    MEMCMP_EQUAL(dm, d.dst_mac, 6);
    // L3 entries: no flag, no MACs.
    CHECK(bpf_decode(k, val(1, 60, 5, 5), kNow, kIfx, d) == Status::ok);
    UNSIGNED_LONGS_EQUAL(0, d.has_mac);
    const uint8_t zero[6] = {};
    MEMCMP_EQUAL(zero, d.src_mac, 6);
    MEMCMP_EQUAL(zero, d.dst_mac, 6);
    // Impossible: MACs without the flag, an unknown flag, non-zero padding.
    fa_flow_val bad = v;
    bad.flags = 0;
    CHECK(bpf_decode(k, bad, kNow, kIfx, d) == Status::bad_input);
    bad = v;
    bad.flags = FA_VAL_MAC | 2;
    CHECK(bpf_decode(k, bad, kNow, kIfx, d) == Status::bad_input);
    bad = v;
    bad.pad2[2] = 1;
    CHECK(bpf_decode(k, bad, kNow, kIfx, d) == Status::bad_input);
}

TEST(BpfDecode, IcmpTypeCodeInDstPort)
{
    fa_flow_key k = v4_key();
    k.proto = 1;
    k.sport[0] = k.sport[1] = 0;
    k.dport[0] = 3;  // destination unreachable
    k.dport[1] = 1;  // host unreachable
    CHECK(bpf_decode(k, val(1, 84, 0, 0), kNow, kIfx, d) == Status::ok);
    UNSIGNED_LONGS_EQUAL(0x0301, d.key.dst_port);
    UNSIGNED_LONGS_EQUAL(3, d.key.icmp_type());
    UNSIGNED_LONGS_EQUAL(1, d.key.icmp_code());
    UNSIGNED_LONGS_EQUAL(0, d.key.src_port);
}

TEST(BpfDecode, Ipv6AddressesVerbatim)
{
    fa_flow_key k = v4_key();
    const uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    const uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    std::memcpy(k.saddr, a, 16);
    std::memcpy(k.daddr, b, 16);
    k.proto = 17;
    CHECK(bpf_decode(k, val(2, 2 * 1280, 0, 1), kNow, kIfx, d) == Status::ok);
    MEMCMP_EQUAL(a, d.key.src, 16);
    MEMCMP_EQUAL(b, d.key.dst, 16);
    CHECK_FALSE(d.key.is_v4());
    UNSIGNED_LONGS_EQUAL(2560, d.octets);
}

TEST(BpfDecode, UnwrapsTimesAcrossThe32BitWrap)
{
    // The kernel keeps the low 32 bits of CLOCK_MONOTONIC ms; 2^32 ms is 49.7 days of uptime.
    const MonoMs now = (MonoMs(5) << 32) + 100;  // 5 wraps, then 100 ms
    CHECK(bpf_decode(v4_key(), val(2, 120, 0xffffff9cu, 40), now, kIfx, d) == Status::ok);
    UNSIGNED_LONGS_EQUAL((MonoMs(5) << 32) - 100, d.first_ms);  // before the wrap
    UNSIGNED_LONGS_EQUAL((MonoMs(5) << 32) + 40, d.last_ms);    // after it
}

TEST(BpfDecode, RejectsImpossibleEntries)
{
    fa_flow_key k = v4_key();
    fa_flow_val v = val(1, 60, 10, 20);
    uint8_t kb[sizeof(k)], vb[sizeof(v)];
    std::memcpy(kb, &k, sizeof(k));
    std::memcpy(vb, &v, sizeof(v));
    CHECK(bpf_decode(kb, sizeof(kb) - 1, vb, sizeof(vb), kNow, kIfx, d) == Status::bad_input);
    CHECK(bpf_decode(kb, sizeof(kb), vb, sizeof(vb) + 1, kNow, kIfx, d) == Status::bad_input);
    CHECK(bpf_decode(nullptr, sizeof(kb), vb, sizeof(vb), kNow, kIfx, d) == Status::bad_input);

    fa_flow_val bad = v;
    bad.vlan = 4096;
    CHECK(bpf_decode(k, bad, kNow, kIfx, d) == Status::bad_input);
    bad = v;
    bad.pad = 1;
    CHECK(bpf_decode(k, bad, kNow, kIfx, d) == Status::bad_input);
    CHECK(bpf_decode(k, val(0, 0, 10, 20), kNow, kIfx, d) == Status::bad_input);
    CHECK(bpf_decode(k, val(1, 60, 20, 10), kNow, kIfx, d) == Status::bad_input);    // last < first
    // After the drain:
    CHECK(bpf_decode(k, val(1, 60, 10, 3001), kNow, kIfx, d) == Status::bad_input);
    CHECK(bpf_decode(k, val(1, 60, 10, 20), 15, kIfx, d) == Status::bad_input);      // after "now"
    // Last 50 ms ago, but first 256 ms before that: before CLOCK_MONOTONIC's zero (now = 100).
    CHECK(bpf_decode(k, val(1, 60, 0xffffff00u, 50), 100, kIfx, d) == Status::bad_input);
    CHECK(bpf_decode(k, val(1, 60, 0, 50), 100, kIfx, d) == Status::ok);  // the same, from 0
}

TEST(BpfDecode, ReasonNamesAndLossClasses)
{
    STRCMP_EQUAL("sampled_out", bpf_reason_name(FA_R_SAMPLED_OUT));
    STRCMP_EQUAL("map_full", bpf_reason_name(FA_R_MAP_FULL));
    STRCMP_EQUAL("trunc_l4", bpf_reason_name(FA_R_TRUNC_L4));
    STRCMP_EQUAL("frag_full", bpf_reason_name(FA_R_FRAG_FULL));
    STRCMP_EQUAL("bad_tcp_offset", bpf_reason_name(FA_R_BAD_TCP_OFF));
    STRCMP_EQUAL("len_over_frame", bpf_reason_name(FA_R_LEN_OVER_FRAME));
    STRCMP_EQUAL("no_slot", bpf_reason_name(FA_R_NO_SLOT));
    STRCMP_EQUAL("unknown", bpf_reason_name(FA_R_MAX));
    for (uint32_t r = 0; r < FA_R_MAX; ++r) CHECK(std::strcmp(bpf_reason_name(r), "unknown") != 0);
    CHECK(bpf_reason_is_loss(FA_R_MAP_FULL));
    CHECK(bpf_reason_is_loss(FA_R_TRUNC_IP4));
    CHECK_FALSE(bpf_reason_is_loss(FA_R_SAMPLED_OUT));
    CHECK_FALSE(bpf_reason_is_loss(FA_R_NOT_IP));
    CHECK_FALSE(bpf_reason_is_loss(FA_R_FRAG_UNMATCHED));  // still metered, with ports 0
    CHECK_FALSE(bpf_reason_is_loss(FA_R_LEN_OVER_FRAME));  // metered with the wire's bytes
    CHECK(bpf_reason_is_loss(FA_R_BAD_TCP_OFF));
    CHECK(bpf_reason_is_loss(FA_R_NO_SLOT));
    CHECK_FALSE(bpf_reason_is_loss(FA_R_MAX));
}
