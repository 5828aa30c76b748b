// SPDX-License-Identifier: GPL-2.0-only
// Hash-based flow selection (RFC 7014 §6.2.3, the hash functions of RFC 5475 §6.2.3): the
// conntrack source keeps a connection when the hash of its original tuple falls in the
// selected range, so every event of one connection gets the same decision, and the exporter
// announces exactly this: flowSelectorAlgorithm 6 (hash-based filtering using BOB), output
// range 0..2^32-1, selected range 0..flow_hash_selected_max(N), initialiser kFlowHashInit.
#pragma once
#include <cstddef>
#include <cstdint>

namespace fa {

constexpr uint8_t kFlowSelectorBob = 6;  // IANA flowSelectorAlgorithm: hash-based, BOB
constexpr uint32_t kFlowHashInit = 0;    // BOB initval (hashInitialiserValue, IE 334)

// The BOB hash (Bob Jenkins' 1996 hash, RFC 5475 §6.2.3 and its reference code): 12-byte
// blocks little-endian into a, b, c, the length added to c, the rest byte by byte.
inline uint32_t flow_hash_bob(const uint8_t* k, size_t length, uint32_t initval)
{
    uint32_t a = 0x9e3779b9u, b = 0x9e3779b9u, c = initval;
    auto mix = [&]() {
        a -= b; a -= c; a ^= (c >> 13);
        b -= c; b -= a; b ^= (a << 8);
        c -= a; c -= b; c ^= (b >> 13);
        a -= b; a -= c; a ^= (c >> 12);
        b -= c; b -= a; b ^= (a << 16);
        c -= a; c -= b; c ^= (b >> 5);
        a -= b; a -= c; a ^= (c >> 3);
        b -= c; b -= a; b ^= (a << 10);
        c -= a; c -= b; c ^= (b >> 15);
    };
    auto le32 = [](const uint8_t* p) {
        return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 |
               uint32_t(p[3]) << 24;
    };
    size_t len = length;
    while (len >= 12) {
        a += le32(k);
        b += le32(k + 4);
        c += le32(k + 8);
        mix();
        k += 12;
        len -= 12;
    }
    c += uint32_t(length);
    // The low byte of c holds the length: the tail's bytes 8..10 go above it.
    for (size_t i = len; i-- > 0;) {
        const uint32_t byte = k[i];
        if (i >= 8) c += byte << (8 * (i - 7));
        else if (i >= 4) b += byte << (8 * (i - 4));
        else a += byte << (8 * i);
    }
    mix();
    return c;
}

// hashSelectedRangeMax for 1-in-`rate` selection: 0..max holds floor(2^32 / rate) values;
// rate <= 1 selects the whole output range.
inline uint32_t flow_hash_selected_max(uint32_t rate)
{
    if (rate <= 1) return 0xffffffffu;
    return uint32_t((uint64_t(1) << 32) / rate - 1u);
}

inline bool flow_hash_selected(uint32_t hash, uint32_t rate)
{
    return hash <= flow_hash_selected_max(rate);
}

} // namespace fa
