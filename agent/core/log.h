// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include <cstdarg>

namespace fa {

enum class LogLevel : unsigned char { error = 0, warn = 1, info = 2, debug = 3 };

// Where log lines go. platform/ installs a stderr or syslog sink; tests install a capture.
class LogSink {
public:
    virtual ~LogSink() = default;
    virtual void write(LogLevel level, const char* line) = 0;
};

void set_log_sink(LogSink* sink);        // nullptr: discard
void set_log_level(LogLevel max_level);  // lines above this level are dropped
LogLevel log_level();
const char* log_level_name(LogLevel level);

// printf-style; formats into a fixed stack buffer (no allocation), truncates long lines.
void log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void vlog(LogLevel level, const char* fmt, va_list ap);

#define FA_ERROR(...) ::fa::log(::fa::LogLevel::error, __VA_ARGS__)
#define FA_WARN(...) ::fa::log(::fa::LogLevel::warn, __VA_ARGS__)
#define FA_INFO(...) ::fa::log(::fa::LogLevel::info, __VA_ARGS__)
#define FA_DEBUG(...)                                                                            \
    do {                                                                                         \
        if (::fa::log_level() >= ::fa::LogLevel::debug) ::fa::log(::fa::LogLevel::debug, __VA_ARGS__); \
    } while (0)

} // namespace fa
