// SPDX-License-Identifier: GPL-2.0-only
// The running agent: the config, what lives between a start and a stop (source, agent,
// collector sockets), and what registers with the event loop (signals, the tick, the source).
//
// Logic:
//  1. start(): allocate everything (flow table, export buffers), open the collectors' sockets,
//     start the source (attach XDP/tc, subscribe to conntrack, or start the generator), then
//     register with the loop: a signalfd watch for TERM/INT/HUP, the periodic 100 ms tick
//     (drain the source, expire flows, send pending datagrams), the source's descriptor.
//  2. TERM/INT: the loop stops; stop() drains, exports every flow with forced_end, logs the
//     final statistics.
//  3. HUP: re-read the config; if valid, flush everything and restart with it (collector
//     sockets and sequence numbers carried over where unchanged); else keep going.
#pragma once
#include <memory>

#include "app/agent.h"
#include "app/cli.h"
#include "app/config.h"
#include "clock_linux.h"
#include "control_server.h"
#include "event_loop.h"
#include "ifinfo.h"
#include "source_linux.h"
#include "udp_transport.h"

namespace fa {

constexpr int kExitConfig = 2;
constexpr int kExitRuntime = 1;
constexpr uint32_t kTickMs = 100;

const char* source_name(SourceKind k);

// Parses `path` and resolves every collector, so that a typo fails before anything starts.
// Errors go to stderr (via_log false: start, --check-config) or to the logger (a reload).
bool load_config(const char* path, const CliOptions& cli, Config& cfg, bool via_log);

// [agent] log and log_level, with --log-level / -v over the config's level.
void apply_logging(const Config& cfg, const CliOptions& cli);

class StdoutLineSink final : public LineSink {
public:
    void write_line(const char* line, size_t len) override;
};

// A collector's transport as the exporter sees it: remembers the last failed send and when,
// for `flowagent status`.
class ObservedSink final : public DatagramSink {
public:
    SendResult send(const uint8_t* data, size_t len) override;
    UdpTransport* transport = nullptr;
    SendResult last_result = SendResult::ok;  // of the last failed send
    int last_errno = 0;
    MonoMs last_error_ms = 0;                 // 0: none yet
};

// Everything that lives between a start and a stop (or a reload).
struct Runtime {
    Config cfg;
    UdpTransport transports[kMaxCollectors];
    ObservedSink sinks[kMaxCollectors];
    std::unique_ptr<Source> source;
    std::unique_ptr<Agent> agent;
    StdoutLineSink json;
    InterfaceInfo ifaces[kMaxInterfaces];
    int iface_count = 0;
};

class Daemon final : public ControlHandler {
public:
    Daemon() = default;
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    // Takes the validated config; starts the runtime and registers with the loop. Returns 0 or
    // an exit code (the runtime is then stopped again).
    int start(const CliOptions& cli, const Config& cfg);
    // Runs the loop until TERM/INT (or a failed reload); flushes and returns the exit code.
    int run();

    EventLoop& loop() { return loop_; }
    const Runtime& runtime() const { return rt_; }
    MonoMs agent_start() const { return agent_start_; }
    LinuxClock& clock() { return clock_; }

    // ControlHandler
    size_t render_status(const ControlRequest& r, char* buf, size_t len) override;
    const FlowTable* flow_table() override { return rt_.agent ? &rt_.agent->table() : nullptr; }

private:
    static void on_signal(Watch& w, uint32_t revents);
    static void on_source(Watch& w, uint32_t revents);
    static void on_tick(Timer& t);
    void reload();
    void watch_source();
    int open_control(bool at_start);

    CliOptions cli_;
    Runtime rt_;
    LinuxClock clock_;
    MonoMs agent_start_ = 0;
    MonoMs last_stats_ = 0;
    EventLoop loop_;
    Watch signals_;
    Watch source_;
    Timer tick_;
    ControlServer control_;
    int exit_code_ = 0;
};

} // namespace fa
