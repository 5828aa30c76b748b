// SPDX-License-Identifier: GPL-2.0-only
// EventLoop (platform/linux/event_loop.h): watches, one-shot and periodic timers, removal of a
// watch whose event is pending in the same batch, stop().
#include <CppUTest/TestHarness.h>

#include <sys/epoll.h>
#include <unistd.h>

#include "linux/event_loop.h"

using namespace fa;

namespace {

struct Pipe {
    int r = -1;
    int w = -1;
    Pipe()
    {
        int p[2];
        if (pipe(p) == 0) {
            r = p[0];
            w = p[1];
        }
    }
    ~Pipe()
    {
        close(r);
        close(w);
    }
    void poke() const { CHECK_EQUAL(1, write(w, "x", 1)); }
    void drain() const
    {
        char c;
        CHECK_EQUAL(1, read(r, &c, 1));
    }
};

struct Ctx {
    EventLoop* loop = nullptr;
    int calls = 0;
    int order[8] = {};
    int n = 0;
    Watch* victim = nullptr;
    Pipe* pipe = nullptr;
    int stop_after = 1;
};

void on_read(Watch& w, uint32_t revents)
{
    Ctx& c = *static_cast<Ctx*>(w.user);
    CHECK(revents & EPOLLIN);
    c.pipe->drain();
    ++c.calls;
    if (c.victim != nullptr) c.loop->remove(*c.victim);
    if (c.calls >= c.stop_after) c.loop->stop();
}

void on_timer(Timer& t)
{
    Ctx& c = *static_cast<Ctx*>(t.user);
    c.order[c.n++] = static_cast<int>(t.period_ms == 0 ? t.due_ms % 1000 : 999);
    ++c.calls;
    if (c.calls >= c.stop_after) c.loop->stop();
}

} // namespace

TEST_GROUP(EventLoop){};

TEST(EventLoop, WatchCallbackRunsWhenReadable)
{
    EventLoop loop;
    CHECK_EQUAL(0, loop.init());
    Pipe p;
    Ctx c;
    c.loop = &loop;
    c.pipe = &p;
    Watch w;
    w.fd = p.r;
    w.events = EPOLLIN;
    w.cb = on_read;
    w.user = &c;
    CHECK_EQUAL(0, loop.add(w));
    CHECK(w.registered);
    p.poke();
    CHECK_EQUAL(0, loop.run());
    CHECK_EQUAL(1, c.calls);
    loop.remove(w);
    CHECK(!w.registered);
}

TEST(EventLoop, WatchRemovedByEarlierCallbackInSameBatchIsNotCalled)
{
    EventLoop loop;
    CHECK_EQUAL(0, loop.init());
    Pipe p1, p2;
    Ctx c1, c2;
    c1.loop = c2.loop = &loop;
    c1.pipe = &p1;
    c2.pipe = &p2;
    Watch w1, w2;
    w1.fd = p1.r;
    w2.fd = p2.r;
    w1.events = w2.events = EPOLLIN;
    w1.cb = w2.cb = on_read;
    w1.user = &c1;
    w2.user = &c2;
    c1.victim = &w2;  // whichever runs first removes the other
    c2.victim = &w1;
    c1.stop_after = c2.stop_after = 100;
    CHECK_EQUAL(0, loop.add(w1));
    CHECK_EQUAL(0, loop.add(w2));
    p1.poke();
    p2.poke();
    // Both are ready in one epoll_wait; a one-shot timer ends the run afterwards.
    Ctx tc;
    tc.loop = &loop;
    Timer t;
    t.cb = on_timer;
    t.user = &tc;
    loop.arm(t, 20);
    CHECK_EQUAL(0, loop.run());
    CHECK_EQUAL(1, c1.calls + c2.calls);
}

TEST(EventLoop, OneShotTimersRunInDueOrderAndCancelWorks)
{
    EventLoop loop;
    CHECK_EQUAL(0, loop.init());
    Ctx c;
    c.loop = &loop;
    c.stop_after = 2;
    Timer a, b, x;
    for (Timer* t : {&a, &b, &x}) {
        t->cb = on_timer;
        t->user = &c;
    }
    const MonoMs t0 = EventLoop::now_ms();
    loop.arm(b, 30);
    loop.arm(a, 10);
    loop.arm(x, 20);
    loop.cancel(x);
    CHECK(!x.pending);
    CHECK_EQUAL(0, loop.run());
    CHECK_EQUAL(2, c.calls);
    CHECK_EQUAL(int(a.due_ms % 1000), c.order[0]);
    CHECK_EQUAL(int(b.due_ms % 1000), c.order[1]);
    CHECK(EventLoop::now_ms() - t0 >= 30);
}

TEST(EventLoop, PeriodicTimerRepeatsUntilCancelled)
{
    EventLoop loop;
    CHECK_EQUAL(0, loop.init());
    Ctx c;
    c.loop = &loop;
    c.stop_after = 5;
    Timer t;
    t.cb = on_timer;
    t.user = &c;
    t.period_ms = 5;
    const MonoMs t0 = EventLoop::now_ms();
    loop.arm(t, 5);
    CHECK_EQUAL(0, loop.run());
    CHECK_EQUAL(5, c.calls);
    CHECK(t.pending);  // re-armed before its callback ran
    CHECK(EventLoop::now_ms() - t0 >= 25);
    loop.cancel(t);
    CHECK(!t.pending);
}
