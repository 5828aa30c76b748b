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
    k.ifindex = 7;
    k.vlan = 100;
    k.proto = 6;
    k.tos = 0xb8;
    return k;
}

fa_flow_val val(uint64_t packets, uint64_t bytes, uint64_t first_ns, uint64_t last_ns)
{
    fa_flow_val v;
    std::memset(&v, 0, sizeof(v));
    v.packets = packets;
    v.bytes = bytes;
    v.first_ns = first_ns;
    v.last_ns = last_ns;
    v.tcp_flags = 0x1b;  // FIN SYN PSH ACK
    return v;
}

} // namespace

TEST_GROUP(BpfDecode) { FlowDelta d; };

TEST(BpfDecode, Ipv4TcpIngress)
{
    fa_flow_key k = v4_key();
    fa_flow_val v = val(3, 180, 1500000000ull, 2750999999ull);
    uint8_t kb[sizeof(k)], vb[sizeof(v)];
    std::memcpy(kb, &k, sizeof(k));
    std::memcpy(vb, &v, sizeof(v));
    CHECK(bpf_decode(kb, sizeof(kb), vb, sizeof(vb), d) == Status::ok);
    const uint8_t src[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1};
    const uint8_t dst[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 9};
    MEMCMP_EQUAL(src, d.key.src, 16);
    MEMCMP_EQUAL(dst, d.key.dst, 16);
    CHECK(d.key.is_v4());
    UNSIGNED_LONGS_EQUAL(54321, d.key.src_port);
    UNSIGNED_LONGS_EQUAL(443, d.key.dst_port);
    UNSIGNED_LONGS_EQUAL(7, d.key.in_if);
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
    UNSIGNED_LONGS_EQUAL(2750, d.last_ms);  // truncated, not rounded
    UNSIGNED_LONGS_EQUAL(0x1b, d.tcp_flags);
    UNSIGNED_LONGS_EQUAL(0, d.has_mac);
}

TEST(BpfDecode, EgressWithGenerationBit)
{
    fa_flow_key k = v4_key();
    k.flags = FA_KF_EGRESS | FA_KF_GEN;
    UNSIGNED_LONGS_EQUAL(1, bpf_key_gen(k));
    CHECK(bpf_decode(k, val(1, 60, 5, 5), d) == Status::ok);
    UNSIGNED_LONGS_EQUAL(0, d.key.in_if);
    UNSIGNED_LONGS_EQUAL(7, d.key.out_if);
    UNSIGNED_LONGS_EQUAL(1, d.key.dir);
    k.flags = 0;
    UNSIGNED_LONGS_EQUAL(0, bpf_key_gen(k));
}

TEST(BpfDecode, IcmpTypeCodeInDstPort)
{
    fa_flow_key k = v4_key();
    k.proto = 1;
    k.sport[0] = k.sport[1] = 0;
    k.dport[0] = 3;  // destination unreachable
    k.dport[1] = 1;  // host unreachable
    CHECK(bpf_decode(k, val(1, 84, 0, 0), d) == Status::ok);
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
    CHECK(bpf_decode(k, val(2, 2 * 1280, 0, 1), d) == Status::ok);
    MEMCMP_EQUAL(a, d.key.src, 16);
    MEMCMP_EQUAL(b, d.key.dst, 16);
    CHECK_FALSE(d.key.is_v4());
    UNSIGNED_LONGS_EQUAL(2560, d.octets);
}

TEST(BpfDecode, RejectsImpossibleEntries)
{
    fa_flow_key k = v4_key();
    fa_flow_val v = val(1, 60, 10, 20);
    uint8_t kb[sizeof(k)], vb[sizeof(v)];
    std::memcpy(kb, &k, sizeof(k));
    std::memcpy(vb, &v, sizeof(v));
    CHECK(bpf_decode(kb, sizeof(kb) - 1, vb, sizeof(vb), d) == Status::bad_input);
    CHECK(bpf_decode(kb, sizeof(kb), vb, sizeof(vb) + 1, d) == Status::bad_input);
    CHECK(bpf_decode(nullptr, sizeof(kb), vb, sizeof(vb), d) == Status::bad_input);

    fa_flow_key bad = k;
    bad.pad[2] = 1;
    CHECK(bpf_decode(bad, v, d) == Status::bad_input);
    bad = k;
    bad.flags = 0x04;
    CHECK(bpf_decode(bad, v, d) == Status::bad_input);
    bad = k;
    bad.vlan = 4096;
    CHECK(bpf_decode(bad, v, d) == Status::bad_input);
    CHECK(bpf_decode(k, val(0, 0, 10, 20), d) == Status::bad_input);
    CHECK(bpf_decode(k, val(1, 60, 20, 10), d) == Status::bad_input);
    fa_flow_val vp = v;
    vp.pad[6] = 9;
    CHECK(bpf_decode(k, vp, d) == Status::bad_input);
}

TEST(BpfDecode, ReasonNamesAndLossClasses)
{
    STRCMP_EQUAL("sampled_out", bpf_reason_name(FA_R_SAMPLED_OUT));
    STRCMP_EQUAL("map_full", bpf_reason_name(FA_R_MAP_FULL));
    STRCMP_EQUAL("trunc_l4", bpf_reason_name(FA_R_TRUNC_L4));
    STRCMP_EQUAL("frag_full", bpf_reason_name(FA_R_FRAG_FULL));
    STRCMP_EQUAL("unknown", bpf_reason_name(FA_R_MAX));
    for (uint32_t r = 0; r < FA_R_MAX; ++r) STRCMP_CONTAINS("", bpf_reason_name(r));
    CHECK(bpf_reason_is_loss(FA_R_MAP_FULL));
    CHECK(bpf_reason_is_loss(FA_R_TRUNC_IP4));
    CHECK_FALSE(bpf_reason_is_loss(FA_R_SAMPLED_OUT));
    CHECK_FALSE(bpf_reason_is_loss(FA_R_NOT_IP));
    CHECK_FALSE(bpf_reason_is_loss(FA_R_FRAG_UNMATCHED));  // still metered, with ports 0
    CHECK_FALSE(bpf_reason_is_loss(FA_R_MAX));
}
