// SPDX-License-Identifier: GPL-2.0-only
// The agent's one event loop: epoll, in the style of OpenWrt's uloop (libubox uloop.h).
//
// API (everything caller-owned and intrusive; the loop never allocates):
//  - Watch: a descriptor and a callback. Fill fd, events (EPOLLIN, EPOLLOUT, ...), cb and
//    optionally user, then loop.add(w). cb(w, revents) runs when the fd is ready (level
//    triggered). loop.modify(w) after changing w.events; loop.remove(w) before closing the fd.
//    A callback may add or remove any watch, itself included: a removed watch whose event is
//    still pending in the current batch is not called.
//  - Timer: a callback at a monotonic time. Fill cb (and user), then loop.arm(t, delay_ms) for
//    a one-shot; set t.period_ms first for a periodic timer (re-armed at due + period, skipping
//    periods missed while the loop was busy, so a slow tick never piles up). loop.cancel(t)
//    stops it; arm() on a pending timer moves it. A callback may arm/cancel any timer.
//  - run() dispatches until stop() is called (from a callback) or epoll fails; then returns.
//    Timers due are run before descriptors, in due order; each wait sleeps until the earliest
//    timer. Signals are a Watch on a signalfd (see main.cpp), as uloop's signal handling is a
//    descriptor too.
// The owner gets from the callback to its own object through `user` (or by embedding the
// Watch/Timer as the first member, uloop's container_of).
#pragma once
#include <cstdint>

#include "core/time.h"

namespace fa {

struct Watch {
    int fd = -1;
    uint32_t events = 0;                          // EPOLLIN | EPOLLOUT | ...
    void (*cb)(Watch& w, uint32_t revents) = nullptr;
    void* user = nullptr;
    bool registered = false;                      // managed by the loop
};

struct Timer {
    void (*cb)(Timer& t) = nullptr;
    void* user = nullptr;
    uint32_t period_ms = 0;                       // 0: one-shot
    // managed by the loop
    bool pending = false;
    MonoMs due_ms = 0;
    Timer* next = nullptr;
};

class EventLoop {
public:
    EventLoop() = default;
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;
    ~EventLoop();

    // Creates the epoll instance. Returns 0 or a negative errno.
    int init();
    int add(Watch& w);      // 0 or -errno
    int modify(Watch& w);   // 0 or -errno
    void remove(Watch& w);  // no-op when not registered
    void arm(Timer& t, uint32_t delay_ms);
    void cancel(Timer& t);
    // Returns 0 after stop(), or a negative errno if epoll_wait failed.
    int run();
    void stop() { running_ = false; }
    // The loop's monotonic clock (CLOCK_MONOTONIC ms), as the timers see it.
    static MonoMs now_ms();
    static uint64_t now_us();

    // Longest time one dispatch (all callbacks of one wake-up) took, in microseconds, since
    // the last reset: the loop stall a slow callback causes. For status and measurements.
    uint64_t max_dispatch_us() const { return max_dispatch_us_; }
    void reset_max_dispatch() { max_dispatch_us_ = 0; }

private:
    static constexpr int kBatch = 16;
    void insert(Timer& t);
    void run_timers(MonoMs now);

    int ep_ = -1;
    bool running_ = false;
    Timer* timers_ = nullptr;  // pending, sorted by due_ms
    MonoMs timers_now_ = 0;    // while run_timers() runs: the time it runs timers up to
    Watch* batch_[kBatch] = {};
    uint32_t batch_events_[kBatch] = {};
    int batch_n_ = 0;
    uint64_t max_dispatch_us_ = 0;
};

} // namespace fa
