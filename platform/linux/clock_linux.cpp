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
} // namespace

MonoMs LinuxClock::mono_ms() { return MonoMs(ns_of(CLOCK_MONOTONIC) / 1000000); }

int64_t LinuxClock::wall_offset_ms()
{
    // Read real-mono-real and keep the pair closest together, so a preemption between the two
    // reads does not skew the offset.
    int64_t best = 0, best_gap = -1;
    for (int i = 0; i < 3; ++i) {
        int64_t r1 = ns_of(CLOCK_REALTIME), m = ns_of(CLOCK_MONOTONIC), r2 = ns_of(CLOCK_REALTIME);
        int64_t gap = r2 - r1;
        if (best_gap < 0 || gap < best_gap) {
            best_gap = gap;
            best = (r1 + gap / 2) - m;
        }
    }
    return best / 1000000;
}

int64_t LinuxClock::boot_offset_ms()
{
    // Same pairing as above: boot-mono-boot, the closest pair wins.
    int64_t best = 0, best_gap = -1;
    for (int i = 0; i < 3; ++i) {
        int64_t b1 = ns_of(CLOCK_BOOTTIME), m = ns_of(CLOCK_MONOTONIC), b2 = ns_of(CLOCK_BOOTTIME);
        int64_t gap = b2 - b1;
        if (best_gap < 0 || gap < best_gap) {
            best_gap = gap;
            best = (b1 + gap / 2) - m;
        }
    }
    return best / 1000000;
}

} // namespace fa
