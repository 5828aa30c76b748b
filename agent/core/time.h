// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include <cstdint>

namespace fa {

// Monotonic milliseconds (CLOCK_MONOTONIC, the clock bpf_ktime_get_ns() uses). All flow state
// keeps monotonic time; wall time is derived only at export (DESIGN decision 4).
using MonoMs = uint64_t;

// The moment of an export: monotonic now, and the mono->wall offset sampled at that moment.
// Routers boot without an RTC and fix the clock via NTP later, so the offset is re-read for
// every export instead of once at start.
struct ExportTime {
    MonoMs mono_ms = 0;
    int64_t wall_offset_ms = 0;   // wall_ms = mono_ms + wall_offset_ms
    // CLOCK_BOOTTIME - CLOCK_MONOTONIC (ms), read now: the time the device spent suspended.
    // v9 sysUpTime and FIRST/LAST_SWITCHED count from the device's boot (RFC 3954 §5.1):
    // uptime = mono + boot_offset_ms, on the same clock as the flow times.
    int64_t boot_offset_ms = 0;

    uint64_t wall_of(MonoMs m) const { return uint64_t(int64_t(m) + wall_offset_ms); }
    uint64_t wall_now() const { return wall_of(mono_ms); }
    // Milliseconds since boot of a monotonic time, 32 bit, wrapping like sysUpTime.
    uint32_t uptime_of(MonoMs m) const { return uint32_t(int64_t(m) + boot_offset_ms); }
};

// Reads the clocks. Implemented in platform/ (clock_gettime) and by FakeClock in tests.
class Clock {
public:
    virtual ~Clock() = default;
    virtual MonoMs mono_ms() = 0;
    virtual int64_t wall_offset_ms() = 0;
    virtual int64_t boot_offset_ms() = 0;  // CLOCK_BOOTTIME - CLOCK_MONOTONIC
};

} // namespace fa
