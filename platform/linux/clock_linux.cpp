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
    return best / 1000000;
}
} // namespace

MonoMs LinuxClock::mono_ms() { return MonoMs(ns_of(CLOCK_MONOTONIC) / 1000000); }

int64_t LinuxClock::wall_offset_ms() { return offset_to_mono_ms(CLOCK_REALTIME); }

int64_t LinuxClock::boot_offset_ms() { return offset_to_mono_ms(CLOCK_BOOTTIME); }

} // namespace fa
