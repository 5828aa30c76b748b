// SPDX-License-Identifier: GPL-2.0-only
// The control socket: a local AF_UNIX stream socket, owner-only (0600, in a 0700 directory it
// creates), no network listener (DESIGN decision 7). One request line per connection
// (agent/control/control_request.h), one response, then the agent closes.
//
// Logic:
//  1. open(): if the path answers a connect(), another agent owns it: refuse (-EADDRINUSE).
//     A stale socket (connect refused) is removed; a path that is not a socket is left alone.
//  2. Everything is non-blocking and bounded: at most kMaxClients connections (more are
//     closed at once), a request line of at most kMaxControlRequest bytes that must arrive
//     within kRequestTimeoutMs, a response of at most kResponseBytes written as the client
//     reads it, the whole connection closed after kConnectionTimeoutMs. A malformed or
//     oversized request gets a one-line error. No client can block the loop.
//  3. `status` and `reload` (which runs the reload in the loop, as SIGHUP) are answered at once. `flows` runs a FlowSnapshot a budget of table buckets per
//     loop iteration (a zero-delay timer; the budget adapts to keep a step near kStepTargetUs),
//     so the tick and the source run between steps; one snapshot at a time, clients queue.
// Memory: the response buffers and the snapshot's group table are allocated in open().
#pragma once
#include <cstddef>
#include <cstdint>

#include "control/control_request.h"
#include "control/flow_snapshot.h"
#include "event_loop.h"

namespace fa {

// What the server asks the agent for.
class ControlHandler {
public:
    virtual ~ControlHandler() = default;
    // The `status` response (JSON or text per r.format), with its '\n'. 0 if it did not fit.
    virtual size_t render_status(const ControlRequest& r, char* buf, size_t len) = 0;
    // `reload`: re-reads the config as SIGHUP does; the response says whether it was applied
    // (and how) or refused (an error response with the reason). 0 if it did not fit.
    virtual size_t reload_request(const ControlRequest& r, char* buf, size_t len) = 0;
    // The live flow table (nullptr: none, e.g. between stop and start of a reload).
    virtual const FlowTable* flow_table() = 0;
};

struct ControlStats {
    uint64_t requests = 0;
    uint64_t bad_requests = 0;   // malformed or oversized: answered with an error
    uint64_t timeouts = 0;       // slow clients closed
    uint64_t refused = 0;        // connections beyond kMaxClients
    uint64_t snapshot_steps = 0;
    uint64_t max_step_us = 0;    // longest snapshot step (walk + final sort + render) since
                                 // the previous status, wall time
    uint64_t max_step_cpu_us = 0;  // the same in CPU time (without other processes' turns)
};

class ControlServer {
public:
    static constexpr int kMaxClients = 4;
    static constexpr size_t kResponseBytes = 64 * 1024;
    static constexpr uint32_t kRequestTimeoutMs = 2000;
    static constexpr uint32_t kConnectionTimeoutMs = 10000;
    // A snapshot step walks `step_buckets_` table buckets, adapted after every step so that one
    // step takes about kStepTargetUs whatever the CPU (a router's is ten times slower than a
    // PC's) and the grouping (group tables cost more per flow than the plain top N).
    static constexpr uint32_t kStepTargetUs = 1000;
    static constexpr uint32_t kMinStepBuckets = 64;
    static constexpr uint32_t kMaxStepBuckets = 8192;

    ControlServer() = default;
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    // Creates the socket at `path` and registers with `loop`. Returns 0, -EADDRINUSE when
    // another running agent answers on the path, or another negative errno; err says what.
    int open(const char* path, EventLoop& loop, ControlHandler& handler, char* err,
             size_t err_len);
    void close();  // closes every connection and removes the socket file
    bool is_open() const { return listen_.fd >= 0; }
    const char* path() const { return path_; }
    const ControlStats& stats() const { return stats_; }
    void reset_max_step() { stats_.max_step_us = stats_.max_step_cpu_us = 0; }

private:
    enum class State : uint8_t { free, reading, waiting, writing };
    struct Client {
        Watch watch;
        Timer deadline;
        RequestBuffer in;
        char* out = nullptr;
        size_t out_len = 0;
        size_t out_off = 0;
        State state = State::free;
        ControlRequest req;
        ControlServer* server = nullptr;
    };

    static void on_accept(Watch& w, uint32_t revents);
    static void on_client(Watch& w, uint32_t revents);
    static void on_deadline(Timer& t);
    static void on_snapshot(Timer& t);
    void read_request(Client& c);
    void answer(Client& c, const char* text, size_t len);
    void answer_error(Client& c, const char* msg);
    void start_write(Client& c);
    void write_some(Client& c);
    void drop(Client& c);
    void schedule_snapshot();
    void step_snapshot(Client& c);

    EventLoop* loop_ = nullptr;
    ControlHandler* handler_ = nullptr;
    Watch listen_;
    Client clients_[kMaxClients];
    char* buffers_ = nullptr;  // kMaxClients * kResponseBytes
    FlowSnapshot snapshot_;
    Client* snap_client_ = nullptr;  // the client the running snapshot is for
    const FlowTable* snap_table_ = nullptr;
    Timer snap_timer_;
    uint32_t step_buckets_ = 1024;
    char path_[108] = {};  // sun_path
    ControlStats stats_;
};

} // namespace fa
