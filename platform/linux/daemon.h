// SPDX-License-Identifier: GPL-2.0-only
// The running agent: the config, what lives between a start and a stop (source, agent,
// collector sockets), and what registers with the event loop (signals, the tick, the source).
//
// Logic:
//  1. start(): allocate everything (flow table, export buffers, send queues), open the sockets
//     of collectors given by address, start the source (attach XDP/tc, subscribe to conntrack,
//     or start the generator), then register with the loop: a signalfd watch for TERM/INT/HUP,
//     the periodic 100 ms tick (drain the source, expire flows, send pending datagrams, ask
//     the resolver), the source's descriptor, the pacer (a one-shot timer while a send queue
//     holds datagrams) and the resolver thread's eventfd (collector names).
//  2. TERM/INT: the loop stops; stop() drains, exports every flow with forced_end, paces the
//     queues out within stop_timeout, logs the final statistics.
//  2a. Links (link_monitor.h, opened before the source starts so no event is missed): a
//     metered interface that goes away (deleted, or renamed away from its configured name) is
//     detached by the source, which delivers what it counted there; then its flows leave the
//     table with forced_end (no other flow is touched) and the interface options records go
//     out again. An interface with a configured name that appears (router boot order, a PPPoE
//     redial: a new ifindex) is attached by the source. Down/up is only logged: programs stay
//     attached across it and flows just pause. A removed local address goes to the export
//     (address_removed).
//  3. HUP: re-read the config; if valid and the table can stay (table_kept), apply it in place
//     (reload_in_place: only changed collectors are redone); else flush everything and restart
//     with it (collector sockets and sequence numbers carried over where unchanged). Invalid:
//     keep going.
#pragma once
#include <memory>

#include "app/agent.h"
#include "app/cli.h"
#include "app/config.h"
#include "clock_linux.h"
#include "control_server.h"
#include "event_loop.h"
#include "ifinfo.h"
#include "link_monitor.h"
#include "resolver.h"
#include "source_linux.h"
#include "udp_transport.h"

namespace fa {

constexpr int kExitConfig = 2;
constexpr int kExitRuntime = 1;
constexpr uint32_t kTickMs = 100;

const char* source_name(SourceKind k);

// Parses `path`. Errors go to stderr (via_log false: start, --check-config) or to the logger
// (a reload). Names are not resolved here: that could block for a resolver that does not answer.
// why: when not null, the error message is copied there too (a refused `flowagent reload`).
bool load_config(const char* path, const CliOptions& cli, Config& cfg, bool via_log,
                 char* why = nullptr, size_t why_len = 0);

// --check-config: resolves every collector now. A name that does not resolve is a warning on
// stderr (the agent starts anyway and retries it); false only for an address that can never
// work (the message names file, line, collector and value).
bool check_collectors(const Config& cfg);

// --check-config: a warning on stderr for each configured interface that does not exist now
// (not an error: the agent waits for it, as at a router's boot). Returns how many are missing.
int check_interfaces(const Config& cfg);

// [agent] log and log_level, with --log-level / -v over the config's level.
void apply_logging(const Config& cfg, const CliOptions& cli);

class StdoutLineSink final : public LineSink {
public:
    void write_line(const char* line, size_t len) override;
};

// Collector names that did not resolve yet, per collector slot: asked of the resolver thread
// with back-off (1 s doubling to 60 s); logged once, then at most every 10 minutes. Meanwhile
// the exporter's datagrams wait in the collector's send queue.
struct Resolution {
    bool waiting = false;    // no address yet
    bool refresh = false;    // has an address; asked again (a reopen, a reload): issue 10
    bool in_flight = false;  // a request is with the resolver thread
    uint32_t gen = 0;
    uint32_t tries = 0;
    uint32_t backoff_ms = 0;
    MonoMs next_try = 0;
    MonoMs last_log = 0;
};

// A collector's transport as the exporter sees it: remembers the last failed send and when,
// for `flowagent status`.
// Forwards the exporter's accounted path (pacing, refusal attribution) to the transport.
class ObservedSink final : public DatagramSink {
public:
    SendResult send(const uint8_t* data, size_t len) override;
    SendResult send_counted(const uint8_t* data, size_t len, const DatagramMeta& m) override;
    void poll_outcomes() override { transport->read_errors(); }
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
    // The source started (start() or start_replacing() succeeded). When not, a stop sends
    // nothing: no templates or options for a run that never metered.
    bool source_started = false;
    StdoutLineSink json;
    InterfaceInfo ifaces[kMaxInterfaces];
    int iface_count = 0;
    Resolution res[kMaxCollectors];
    Resolver resolver;
};

// Issue 10 hook (export follows the routes): an address was removed from an interface. Every
// collector socket whose local address it was is reopened (the kernel picks a new route and
// source address; templates go first on the new session, the numbering goes on), a collector
// name is resolved again, and the source learns the new sockets. Returns how many collectors
// it moved.
int export_address_removed(Runtime& rt, const sockaddr_storage& addr);

// What the daemon knows of one configured interface (index as in Config::interfaces).
struct LinkTrack {
    uint32_t ifindex = 0;  // 0: does not exist (as far as the last event or dump said)
    bool up = false;
    bool up_known = false; // up was reported (down/up changes are logged from then on)
    uint16_t arphrd = 0;   // link type, once reported (arphrd_known)
    bool arphrd_known = false;
    bool seen = false;     // named by the running link dump, or appeared during it
};

class Daemon final : public ControlHandler, public LinkListener {
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
    size_t reload_request(const ControlRequest& r, char* buf, size_t len) override;
    const FlowTable* flow_table() override { return rt_.agent ? &rt_.agent->table() : nullptr; }

    // Issue 10 hook, for the link monitor's address events (RTM_DELADDR): see
    // export_address_removed(). Returns how many collectors it moved.
    int on_address_removed(const sockaddr_storage& addr);

private:
    static void on_signal(Watch& w, uint32_t revents);
    static void on_source(Watch& w, uint32_t revents);
    static void on_tick(Timer& t);
    static void on_pacer(Timer& t);
    static void on_resolved(Watch& w, uint32_t revents);
    void arm_pacer();
    // What a reload did (for `flowagent reload`'s answer).
    enum class Reloaded : uint8_t { in_place, handed_over, restarted, refused, failed };
    // SIGHUP and `flowagent reload`. why: the reason when refused or failed. defer_control: a
    // moved control socket is reopened at the next tick (the request being answered is on it).
    Reloaded reload(char* why, size_t why_len, bool defer_control);
    void watch_source();
    int open_control(bool at_start);

    // LinkListener (the link monitor's events)
    void on_link(const LinkState& l) override;
    void on_link_gone(uint32_t ifindex, const char* name) override;
    void on_address(bool added, uint32_t ifindex, const sockaddr_storage& addr) override;
    void on_dump_begin() override;
    void on_dump_end() override;
    void on_overrun() override;
    static void on_links(Watch& w, uint32_t revents);
    void open_links();
    // After a (re)start of the runtime: what exists now of the configured interfaces; the
    // source is asked to attach each existing one (it knows which it attached already).
    void sync_links();
    void iface_gone(int i, const char* why, const char* now_named);
    void iface_new(int i, const LinkState& l);
    void refresh_interfaces();
    void send_interfaces();
    void follow_all(uint32_t ifindex, const char* name);
    // A local address was removed (AF_UNSPEC: events were lost, any may have been): the
    // export's hook (helper D, issue 10 item 4).
    void address_removed(const sockaddr_storage& addr);
    bool meters_links() const;

    CliOptions cli_;
    Runtime rt_;
    LinuxClock clock_;
    MonoMs agent_start_ = 0;
    MonoMs last_stats_ = 0;
    EventLoop loop_;
    Watch signals_;
    Watch source_;
    Timer tick_;
    bool reopen_control_ = false;  // a reload through the control socket moved its path
    Timer pacer_;     // one-shot at the next token while a collector's send queue holds datagrams
    Watch resolved_;  // the resolver thread's eventfd
    ControlServer control_;
    LinkMonitor links_;
    Watch links_watch_;
    LinkTrack track_[kMaxInterfaces];
    bool resync_ = false;  // the running link dump follows an overrun
    int exit_code_ = 0;
};

} // namespace fa
