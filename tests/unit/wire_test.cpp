// SPDX-License-Identifier: GPL-2.0-only
#include "core/wire.h"

#include <CppUTest/TestHarness.h>

using namespace fa;

TEST_GROUP(WireWriter) {};

TEST(WireWriter, WritesBigEndianWhateverTheHost)
{
    uint8_t buf[15] = {};
    WireWriter w(buf);
    CHECK(w.put_u8(0x01));
    CHECK(w.put_u16(0x0203));
    CHECK(w.put_u32(0x04050607));
    CHECK(w.put_u64(0x08090a0b0c0d0e0fULL));
    const uint8_t want[15] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    MEMCMP_EQUAL(want, buf, sizeof want);
    LONGS_EQUAL(15, w.used());
    LONGS_EQUAL(0x0203, get_u16(buf + 1));
    LONGS_EQUAL(0x04050607, get_u32(buf + 3));
    CHECK(get_u64(buf + 7) == 0x08090a0b0c0d0e0fULL);
}

TEST(WireWriter, RefusesToWritePastTheEndAndLeavesBufferIntact)
{
    uint8_t buf[5] = {0xee, 0xee, 0xee, 0xee, 0xee};
    WireWriter w(Span<uint8_t>(buf, 3));
    CHECK(w.put_u16(0xaaaa));
    CHECK_FALSE(w.put_u16(0xbbbb));
    CHECK_FALSE(w.put_u32(1));
    CHECK(w.put_u8(0xcc));
    CHECK_FALSE(w.put_u8(0xdd));
    const uint8_t want[5] = {0xaa, 0xaa, 0xcc, 0xee, 0xee};
    MEMCMP_EQUAL(want, buf, sizeof want);
}

TEST(WireWriter, PatchesLengthsInPlace)
{
    uint8_t buf[6] = {};
    WireWriter::patch_u16(buf, 0x1234);
    WireWriter::patch_u32(buf + 2, 0xdeadbeef);
    const uint8_t want[6] = {0x12, 0x34, 0xde, 0xad, 0xbe, 0xef};
    MEMCMP_EQUAL(want, buf, sizeof want);
}
