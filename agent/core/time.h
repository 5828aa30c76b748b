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
    MonoMs agent_start_ms = 0;    // monotonic time the agent started: v9 sysUptime origin

    uint64_t wall_of(MonoMs m) const { return uint64_t(int64_t(m) + wall_offset_ms); }
    uint64_t wall_now() const { return wall_of(mono_ms); }
};

// Reads the clocks. Implemented in platform/ (clock_gettime) and by FakeClock in tests.
class Clock {
public:
    virtual ~Clock() = default;
    virtual MonoMs mono_ms() = 0;
    virtual int64_t wall_offset_ms() = 0;
};

} // namespace fa
