// SPDX-License-Identifier: GPL-2.0-only
// INI config parser (inih) into the fixed-size Config model (config.h). Runs at start and at
// SIGHUP, never on the packet path. Every error names "FILE:LINE: [section] key = value: problem"
// (line 0 and no key when the problem is not tied to one line, e.g. "FILE: no collector").
// The full key reference with ranges and defaults is tests/data/config/REFERENCE.md.
#pragma once
#include <cstddef>

#include "app/config.h"
#include "core/log.h"
#include "core/status.h"

namespace fa {

// Documented limits (REFERENCE.md). Changing one is a user-visible contract change.
constexpr uint32_t kMaxFlowsLimit = 16777216;       // 2^24 flow records
constexpr uint32_t kMaxTimeoutS = 86400;            // one day, for both flow timeouts
constexpr uint32_t kMaxSamplingRate = 16777216;     // 2^24: 1-in-N
constexpr uint16_t kMinDatagram = 576;              // bytes of UDP payload
constexpr uint16_t kMaxDatagram = 9000;
constexpr uint32_t kMaxTemplateRefreshS = 86400;
constexpr uint32_t kMaxTemplateRefreshDatagrams = 1000000;
constexpr uint32_t kMaxRateLimit = 1000000;        // [collector] rate_limit, datagrams/s
constexpr uint32_t kMaxStopTimeoutS = 600;          // [agent] stop_timeout
constexpr uint32_t kMaxGenFlows = 1000000;
constexpr uint32_t kMaxGenPacketsPerS = 10000000;
constexpr uint32_t kMaxGenDurationS = 31536000;     // one year
constexpr uint32_t kMinCtRcvbuf = 65536;          // [conntrack] rcvbuf, bytes
constexpr uint32_t kMaxCtRcvbuf = 1073741824;       // 1 GiB
constexpr uint32_t kTemplateRefreshIpfixS = 600;    // default when template_refresh = 0
constexpr uint32_t kTemplateRefreshV9S = 1800;
constexpr int kMaxConfigLine = 199;                 // inih INI_MAX_LINE 200 incl. the NUL
constexpr size_t kMaxConfigBytes = 1048576;         // 1 MiB: more is not a config file

// Parses the file at `path`. On success `out` holds the parsed config with defaults applied;
// on error (Status::bad_input) `out` is left unchanged and err.message says what and where.
[[nodiscard]] Status parse_config_file(const char* path, Config& out, ConfigError& err);

// Same for an in-memory NUL-terminated text; `name_for_errors` stands in for FILE in messages.
[[nodiscard]] Status parse_config_string(const char* text, const char* name_for_errors,
                                         Config& out, ConfigError& err);

// "error" | "warn" | "info" | "debug" -> level. Returns false for anything else.
[[nodiscard]] bool parse_log_level(const char* text, LogLevel& out);

} // namespace fa
