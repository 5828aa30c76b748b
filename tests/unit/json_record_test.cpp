// SPDX-License-Identifier: GPL-2.0-only
#include "export/json_record.h"

#include <cstring>
#include <string>

#include <CppUTest/TestHarness.h>

#include "sample_nat.h"

using namespace fa;

TEST_GROUP(JsonRecord) {};

TEST(JsonRecord, V4TcpRecordByHand)
{
    FlowRecord r{};
    std::memset(&r.key, 0, sizeof r.key);
    r.key.set_v4(r.key.src, 0x0a000001);
    r.key.set_v4(r.key.dst, 0xc0a80102);
    r.key.src_port = 12345;
    r.key.dst_port = 443;
    r.key.proto = 6;
    r.key.in_if = 3;
    r.tcp_flags = 0x12;
    r.packets = 10;
    r.octets = 1500;
    r.first_ms = 5000;
    r.last_ms = 9000;
    r.end_reason = EndReason::idle_timeout;
    ExportTime t;
    t.wall_offset_ms = 1700000000000LL;
    char buf[512];
    size_t n = format_json(r, t, buf, sizeof buf);
    const char* want =
        "{\"src\":\"10.0.0.1\",\"dst\":\"192.168.1.2\",\"src_port\":12345,\"dst_port\":443,"
        "\"proto\":6,\"tos\":0,\"tcp_flags\":18,\"in_if\":3,\"out_if\":0,\"dir\":\"ingress\","
        "\"vlan\":0,\"packets\":10,\"octets\":1500,\"start_ms\":1700000005000,"
        "\"end_ms\":1700000009000,\"end_reason\":\"idle_timeout\"}";
    STRCMP_EQUAL(want, buf);
    LONGS_EQUAL(std::strlen(want), n);
    // Conntrack mark and zone appear only when flagged.
    r.ct_mark = 4294967295u;
    r.ct_zone = 7;
    char with[512];
    format_json(r, t, with, sizeof with);
    STRCMP_EQUAL(want, with);
    r.flags = kRecHasMark | kRecHasZone;
    format_json(r, t, with, sizeof with);
    std::string w2(want);
    w2.insert(w2.size() - 1, ",\"ct_mark\":4294967295,\"ct_zone\":7");
    STRCMP_EQUAL(w2.c_str(), with);
    r.flags = 0;
    // Too small: 0 and an empty string, no overflow.
    char small[20];
    LONGS_EQUAL(0, format_json(r, t, small, sizeof small));
    STRCMP_EQUAL("", small);
}

TEST(JsonRecord, V6IcmpCompressesZeros)
{
    FlowRecord r{};
    std::memset(&r.key, 0, sizeof r.key);
    const uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    std::memcpy(r.key.src, a, 16);
    std::memcpy(r.key.dst, a, 16);
    r.key.dst[0] = 0xfe;
    r.key.dst[1] = 0x80;
    r.key.dst[2] = r.key.dst[3] = 0;
    r.key.proto = 58;
    r.key.dst_port = 0x8000;
    ExportTime t;
    char buf[512];
    CHECK(format_json(r, t, buf, sizeof buf) > 0);
    CHECK(std::strstr(buf, "\"src\":\"2001:db8::1\",\"dst\":\"fe80::1\","
                           "\"icmp_type\":128,\"icmp_code\":0") != nullptr);
}

TEST(JsonRecord, NatEventByHand)
{
    NatEvent ev = sample_nat44(0x0a000002, 40000, 0xc0000201, 80, 0xcb007101, 61000, 6,
                               kNat44SessionCreate, 5250);
    ExportTime t;
    t.wall_offset_ms = 1700000000000LL;
    char buf[512];
    size_t n = format_nat_json(ev, t, buf, sizeof buf);
    const char* want =
        "{\"nat_event\":\"create\",\"time_ms\":1700000005250,\"proto\":6,\"src\":\"10.0.0.2\","
        "\"src_port\":40000,\"dst\":\"192.0.2.1\",\"dst_port\":80,\"post_src\":\"203.0.113.1\","
        "\"post_src_port\":61000,\"post_dst\":\"192.0.2.1\",\"post_dst_port\":80}";
    STRCMP_EQUAL(want, buf);
    LONGS_EQUAL(std::strlen(want), n);
    ev.event = kNat44SessionDelete;
    (void)format_nat_json(ev, t, buf, sizeof buf);
    CHECK(std::strstr(buf, "{\"nat_event\":\"delete\",") == buf);
    LONGS_EQUAL(0, format_nat_json(ev, t, buf, 40));  // too small: empty, 0
    STRCMP_EQUAL("", buf);
}
