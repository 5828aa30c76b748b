// SPDX-License-Identifier: GPL-2.0-only
#include "source/ct_state.h"

#include <cstring>

#include "core/wire.h"

namespace fa {
namespace {
constexpr uint8_t kMagic[8] = {'F', 'A', 'C', 'T', 'S', 'T', 'A', 'T'};
constexpr uint32_t kVersion = 1;
} // namespace

const char* ct_state_verdict_name(CtStateVerdict v)
{
    switch (v) {
    case CtStateVerdict::use: return "use";
    case CtStateVerdict::missing: return "missing";
    case CtStateVerdict::stale: return "stale";
    case CtStateVerdict::corrupt: return "corrupt";
    case CtStateVerdict::unclean: return "unclean";
    }
    return "?";
}

void ct_state_put_header(const CtStateHeader& h, uint8_t out[kCtStateHeaderLen])
{
    WireWriter w(Span<uint8_t>(out, kCtStateHeaderLen));
    (void)w.put_bytes(kMagic, sizeof(kMagic));
    (void)w.put_u32(kVersion);
    (void)w.put_u32(h.clean ? 1 : 0);
    (void)w.put_u64(h.netns);
    (void)w.put_bytes(h.boot_id, kCtStateBootIdLen);
    (void)w.put_u32(h.count);
    (void)w.put_u32(h.crc);
}

Status ct_state_get_header(const uint8_t in[kCtStateHeaderLen], CtStateHeader& h,
                           const char** why)
{
    if (std::memcmp(in, kMagic, sizeof(kMagic)) != 0) {
        *why = "not a flowagent conntrack state file (magic)";
        return Status::bad_input;
    }
    if (get_u32(in + 8) != kVersion) {
        *why = "unknown state file version";
        return Status::bad_input;
    }
    const uint32_t clean = get_u32(in + 12);
    if (clean > 1) {
        *why = "bad clean flag";
        return Status::bad_input;
    }
    h.clean = clean == 1;
    h.netns = get_u64(in + 16);
    std::memcpy(h.boot_id, in + 24, kCtStateBootIdLen);
    h.boot_id[kCtStateBootIdLen - 1] = 0;
    h.count = get_u32(in + 64);
    h.crc = get_u32(in + 68);
    return Status::ok;
}

void ct_state_put_record(const CtBaseline& b, uint8_t out[kCtStateRecordLen])
{
    WireWriter w(Span<uint8_t>(out, kCtStateRecordLen));
    (void)w.put_u32(b.id);
    (void)w.put_u32(b.tuple_hash);
    (void)w.put_u64(b.exported.orig_packets);
    (void)w.put_u64(b.exported.orig_octets);
    (void)w.put_u64(b.exported.reply_packets);
    (void)w.put_u64(b.exported.reply_octets);
    (void)w.put_u8(b.create_seen ? 1 : 0);
    (void)w.put_zeros(3);
}

CtBaseline ct_state_get_record(const uint8_t in[kCtStateRecordLen])
{
    CtBaseline b;
    b.id = get_u32(in);
    b.tuple_hash = get_u32(in + 4);
    b.exported.orig_packets = get_u64(in + 8);
    b.exported.orig_octets = get_u64(in + 16);
    b.exported.reply_packets = get_u64(in + 24);
    b.exported.reply_octets = get_u64(in + 32);
    b.create_seen = in[40] ? 1 : 0;
    return b;
}

uint32_t ct_crc32(uint32_t crc, const uint8_t* p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; ++i) {
        crc ^= p[i];
        for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

CtStateVerdict ct_state_judge(const CtStateHeader& h, size_t file_len, const char* boot_id,
                              uint64_t netns)
{
    if (std::strncmp(h.boot_id, boot_id, kCtStateBootIdLen) != 0 || h.netns != netns)
        return CtStateVerdict::stale;
    if (file_len != kCtStateHeaderLen + size_t(h.count) * kCtStateRecordLen)
        return CtStateVerdict::corrupt;
    if (!h.clean) return CtStateVerdict::unclean;
    return CtStateVerdict::use;
}

} // namespace fa
