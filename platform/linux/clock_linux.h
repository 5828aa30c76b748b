// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include "core/time.h"

namespace fa {

// CLOCK_MONOTONIC is what bpf_ktime_get_ns() returns, so kernel timestamps and ours agree.
class LinuxClock final : public Clock {
public:
    MonoMs mono_ms() override;
    // CLOCK_REALTIME - CLOCK_MONOTONIC, read now: follows NTP steps on RTC-less routers.
    int64_t wall_offset_ms() override;
    // CLOCK_BOOTTIME - CLOCK_MONOTONIC, read now: the time suspended. v9 sysUpTime and the
    // flow times in it count from boot (RFC 3954 §5.1) on CLOCK_BOOTTIME.
    int64_t boot_offset_ms() override;
};

} // namespace fa
