// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/span.h"

namespace fa {

// Big-endian (network order) writer over a caller-owned buffer. Byte by byte with shifts, so it
// is correct on any host byte order and never makes an unaligned store (MIPS traps on those).
// Every put is bounds-checked; callers that reserved room first may ignore the result.
class WireWriter {
public:
    WireWriter() = default;
    explicit WireWriter(Span<uint8_t> buf) : begin_(buf.begin()), p_(buf.begin()), end_(buf.end()) {}

    [[nodiscard]] bool put_u8(uint8_t v)
    {
        if (end_ - p_ < 1) return false;
        *p_++ = v;
        return true;
    }
    [[nodiscard]] bool put_u16(uint16_t v)
    {
        if (end_ - p_ < 2) return false;
        *p_++ = uint8_t(v >> 8);
        *p_++ = uint8_t(v);
        return true;
    }
    [[nodiscard]] bool put_u32(uint32_t v)
    {
        if (end_ - p_ < 4) return false;
        for (int s = 24; s >= 0; s -= 8) *p_++ = uint8_t(v >> s);
        return true;
    }
    [[nodiscard]] bool put_u64(uint64_t v)
    {
        if (end_ - p_ < 8) return false;
        for (int s = 56; s >= 0; s -= 8) *p_++ = uint8_t(v >> s);
        return true;
    }
    [[nodiscard]] bool put_bytes(const void* src, size_t n)
    {
        if (size_t(end_ - p_) < n) return false;
        std::memcpy(p_, src, n);
        p_ += n;
        return true;
    }
    [[nodiscard]] bool put_zeros(size_t n)
    {
        if (size_t(end_ - p_) < n) return false;
        std::memset(p_, 0, n);
        p_ += n;
        return true;
    }

    // Overwrite a u16 at an earlier offset (set and message lengths).
    static void patch_u16(uint8_t* at, uint16_t v)
    {
        at[0] = uint8_t(v >> 8);
        at[1] = uint8_t(v);
    }
    static void patch_u32(uint8_t* at, uint32_t v)
    {
        for (int i = 0; i < 4; ++i) at[i] = uint8_t(v >> (24 - 8 * i));
    }

    uint8_t* pos() const { return p_; }
    size_t used() const { return size_t(p_ - begin_); }
    size_t room() const { return size_t(end_ - p_); }
    void rewind_to(uint8_t* mark) { p_ = mark; }

private:
    uint8_t* begin_ = nullptr;
    uint8_t* p_ = nullptr;
    uint8_t* end_ = nullptr;
};

// Big-endian reads, for tests and decoders.
inline uint16_t get_u16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline uint32_t get_u32(const uint8_t* p)
{
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
inline uint64_t get_u64(const uint8_t* p) { return uint64_t(get_u32(p)) << 32 | get_u32(p + 4); }

} // namespace fa
