// SPDX-License-Identifier: GPL-2.0-only
#include "clock_linux.h"

#include <ctime>

namespace fa {
namespace {
int64_t ns_of(clockid_t id)
{
    timespec ts{};
    clock_gettime(id, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// 64-bit divisions here are unsigned on purpose: a signed one pulls libgcc's __divdi3 (1.2 KB
// on 32-bit MIPS) into the router binary for this file alone.
int64_t ms_of_ns(int64_t ns)
{
    return ns >= 0 ? int64_t(uint64_t(ns) / 1000000u) : -int64_t(uint64_t(-ns) / 1000000u);
}

// `other` - CLOCK_MONOTONIC in ms: reads other-mono-other and keeps the pair closest
// together, so a preemption between the reads does not skew the offset.
int64_t offset_to_mono_ms(clockid_t other)
{
    int64_t best = 0, best_gap = -1;
    for (int i = 0; i < 3; ++i) {
        int64_t o1 = ns_of(other), m = ns_of(CLOCK_MONOTONIC), o2 = ns_of(other);
        int64_t gap = o2 - o1;
        if (best_gap < 0 || gap < best_gap) {
            best_gap = gap;
            best = (o1 + gap / 2) - m;
        }
    }
    return ms_of_ns(best);
}
} // namespace

MonoMs LinuxClock::mono_ms()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return MonoMs(uint64_t(ts.tv_sec) * 1000u + uint64_t(ts.tv_nsec / 1000000));
}

int64_t LinuxClock::wall_offset_ms() { return offset_to_mono_ms(CLOCK_REALTIME); }

int64_t LinuxClock::boot_offset_ms() { return offset_to_mono_ms(CLOCK_BOOTTIME); }

} // namespace fa
