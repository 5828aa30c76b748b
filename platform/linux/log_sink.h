// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include "core/log.h"

namespace fa {

// "flowagent: warn: message" on stderr (procd and systemd add their own timestamps).
class StderrLogSink final : public LogSink {
public:
    void write(LogLevel level, const char* line) override;
};

// syslog(3), facility daemon, ident "flowagent".
class SyslogLogSink final : public LogSink {
public:
    SyslogLogSink();
    ~SyslogLogSink() override;
    void write(LogLevel level, const char* line) override;
};

} // namespace fa
