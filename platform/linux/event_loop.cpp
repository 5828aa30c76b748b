// SPDX-License-Identifier: GPL-2.0-only
#include "event_loop.h"

#include <cerrno>
#include <ctime>
#include <sys/epoll.h>
#include <unistd.h>

namespace fa {
uint64_t EventLoop::now_us()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000u + uint64_t(ts.tv_nsec) / 1000u;
}

MonoMs EventLoop::now_ms() { return now_us() / 1000u; }

EventLoop::~EventLoop()
{
    if (ep_ >= 0) close(ep_);
}

int EventLoop::init()
{
    if (ep_ >= 0) return 0;
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    return ep_ < 0 ? -errno : 0;
}

int EventLoop::add(Watch& w)
{
    if (w.registered) return modify(w);
    epoll_event ev{};
    ev.events = w.events;
    ev.data.ptr = &w;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, w.fd, &ev) < 0) return -errno;
    w.registered = true;
    return 0;
}

int EventLoop::modify(Watch& w)
{
    if (!w.registered) return add(w);
    epoll_event ev{};
    ev.events = w.events;
    ev.data.ptr = &w;
    return epoll_ctl(ep_, EPOLL_CTL_MOD, w.fd, &ev) < 0 ? -errno : 0;
}

void EventLoop::remove(Watch& w)
{
    if (!w.registered) return;
    epoll_ctl(ep_, EPOLL_CTL_DEL, w.fd, nullptr);
    w.registered = false;
    // An event of this watch may still wait in the batch being dispatched (uloop's cur_fds).
    for (int i = 0; i < batch_n_; ++i)
        if (batch_[i] == &w) batch_[i] = nullptr;
}

void EventLoop::insert(Timer& t)
{
    Timer** p = &timers_;
    while (*p != nullptr && (*p)->due_ms <= t.due_ms) p = &(*p)->next;
    t.next = *p;
    *p = &t;
    t.pending = true;
}

void EventLoop::cancel(Timer& t)
{
    if (!t.pending) return;
    for (Timer** p = &timers_; *p != nullptr; p = &(*p)->next) {
        if (*p == &t) {
            *p = t.next;
            break;
        }
    }
    t.next = nullptr;
    t.pending = false;
}

void EventLoop::arm(Timer& t, uint32_t delay_ms)
{
    cancel(t);
    t.due_ms = now_ms() + delay_ms;
    if (timers_now_ != 0 && t.due_ms <= timers_now_) t.due_ms = timers_now_ + 1;
    insert(t);
}

void EventLoop::run_timers(MonoMs now)
{
    // Only timers due at `now`: arm() from a callback in here schedules at least 1 ms after
    // `now` (see arm), so a timer that re-arms itself with delay 0 cannot starve descriptors.
    timers_now_ = now;
    while (timers_ != nullptr && timers_->due_ms <= now) {
        Timer* t = timers_;
        timers_ = t->next;
        t->next = nullptr;
        t->pending = false;
        if (t->period_ms != 0) {
            MonoMs next = t->due_ms + t->period_ms;
            if (next <= now) {
                // now + period - (now - due) % period, without a 64-bit % (a libgcc call on
                // 32-bit CPUs): the lag is below 2^32 ms for any timer that ever ran.
                const uint32_t lag = uint32_t(now - t->due_ms);
                next = now + t->period_ms - lag % uint32_t(t->period_ms);
            }
            t->due_ms = next;
            insert(*t);
        }
        if (t->cb != nullptr) t->cb(*t);
    }
    timers_now_ = 0;
}

int EventLoop::run()
{
    running_ = true;
    while (running_) {
        int timeout = -1;
        if (timers_ != nullptr) {
            const MonoMs now = now_ms();
            timeout = timers_->due_ms <= now ? 0 : int(timers_->due_ms - now);
        }
        epoll_event evs[kBatch];
        const int n = epoll_wait(ep_, evs, kBatch, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            running_ = false;
            return -errno;
        }
        const uint64_t t0 = now_us();
        run_timers(t0 / 1000u);
        batch_n_ = n;
        for (int i = 0; i < n; ++i) {
            batch_[i] = static_cast<Watch*>(evs[i].data.ptr);
            batch_events_[i] = evs[i].events;
        }
        for (int i = 0; i < batch_n_ && running_; ++i) {
            Watch* w = batch_[i];
            if (w != nullptr && w->cb != nullptr) w->cb(*w, batch_events_[i]);
        }
        batch_n_ = 0;
        const uint64_t took = now_us() - t0;
        if (took > max_dispatch_us_) max_dispatch_us_ = took;
    }
    return 0;
}

} // namespace fa
