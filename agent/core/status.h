// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include <cstdint>

namespace fa {

// Result of a core operation. Steady-state code never aborts: it returns one of these and
// counts the degradation in a named counter.
enum class [[nodiscard]] Status : uint8_t {
    ok,
    full,        // a fixed-capacity structure (buffer, table) has no room
    bad_input,   // malformed record, config value or packet
    io,          // the OS refused (send, read)
    unsupported, // a feature the build or the kernel lacks
};

inline const char* status_name(Status s)
{
    switch (s) {
    case Status::ok: return "ok";
    case Status::full: return "full";
    case Status::bad_input: return "bad_input";
    case Status::io: return "io";
    case Status::unsupported: return "unsupported";
    }
    return "?";
}

} // namespace fa
