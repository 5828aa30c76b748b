// SPDX-License-Identifier: GPL-2.0-only
#include "core/log.h"

#include <cstdio>

namespace fa {
namespace {
LogSink* g_sink = nullptr;
LogLevel g_level = LogLevel::info;
} // namespace

void set_log_sink(LogSink* sink) { g_sink = sink; }
void set_log_level(LogLevel max_level) { g_level = max_level; }
LogLevel log_level() { return g_level; }

const char* log_level_name(LogLevel level)
{
    switch (level) {
    case LogLevel::error: return "error";
    case LogLevel::warn: return "warn";
    case LogLevel::info: return "info";
    case LogLevel::debug: return "debug";
    }
    return "?";
}

void vlog(LogLevel level, const char* fmt, va_list ap)
{
    if (!g_sink || level > g_level) return;
    char line[512];
    std::vsnprintf(line, sizeof line, fmt, ap);
    g_sink->write(level, line);
}

void log(LogLevel level, const char* fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

} // namespace fa
