// SPDX-License-Identifier: GPL-2.0-only
#include "log_sink.h"

#include <cstdio>
#include <syslog.h>

namespace fa {

void StderrLogSink::write(LogLevel level, const char* line)
{
    std::fprintf(stderr, "flowagent: %s: %s\n", log_level_name(level), line);
}

SyslogLogSink::SyslogLogSink() { openlog("flowagent", LOG_PID, LOG_DAEMON); }
SyslogLogSink::~SyslogLogSink() { closelog(); }

void SyslogLogSink::write(LogLevel level, const char* line)
{
    int prio = LOG_INFO;
    switch (level) {
    case LogLevel::error: prio = LOG_ERR; break;
    case LogLevel::warn: prio = LOG_WARNING; break;
    case LogLevel::info: prio = LOG_INFO; break;
    case LogLevel::debug: prio = LOG_DEBUG; break;
    }
    syslog(prio, "%s", line);
}

} // namespace fa
