// SPDX-License-Identifier: GPL-2.0-only
#include "resolver.h"

#include <errno.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>

#include "udp_transport.h"

namespace fa {

Resolver::~Resolver() { stop(); }

int Resolver::start()
{
    if (started_) return 0;
    efd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd_ < 0) return -errno;
    quit_ = false;
    // The thread blocks every signal: TERM/INT/HUP are the loop's (signalfd).
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    const int rc = pthread_create(&thread_, nullptr, &Resolver::run, this);
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (rc != 0) {
        ::close(efd_);
        efd_ = -1;
        return -rc;
    }
    started_ = true;
    return 0;
}

void Resolver::stop()
{
    if (!started_) return;
    pthread_mutex_lock(&mu_);
    quit_ = true;
    pthread_cond_signal(&cv_);
    pthread_mutex_unlock(&mu_);
    // A lookup in progress ends with the resolver's own timeout; do not wait for it at exit.
    pthread_detach(thread_);
    started_ = false;
    // efd_ stays open: the detached thread may still write to it.
}

void Resolver::request(int slot, const char* host, uint16_t port, uint32_t gen)
{
    if (slot < 0 || slot >= kMaxCollectors) return;
    pthread_mutex_lock(&mu_);
    Req& r = reqs_[slot];
    std::strncpy(r.host, host, sizeof(r.host) - 1);
    r.host[sizeof(r.host) - 1] = '\0';
    r.port = port;
    r.gen = gen;
    r.wanted = true;
    r.done = false;
    pthread_cond_signal(&cv_);
    pthread_mutex_unlock(&mu_);
}

void Resolver::cancel(int slot)
{
    if (slot < 0 || slot >= kMaxCollectors) return;
    pthread_mutex_lock(&mu_);
    reqs_[slot].wanted = false;
    reqs_[slot].done = false;
    ++reqs_[slot].gen;
    pthread_mutex_unlock(&mu_);
}

bool Resolver::take(ResolveResult& out)
{
    uint64_t v;
    ssize_t n = ::read(efd_, &v, sizeof v);
    (void)n;
    bool got = false;
    pthread_mutex_lock(&mu_);
    for (Req& r : reqs_) {
        if (!r.done) continue;
        if (got) {
            // More answers wait: keep the eventfd readable.
            const uint64_t one = 1;
            n = ::write(efd_, &one, sizeof one);
            break;
        }
        out = r.res;
        r.done = false;
        got = true;
    }
    pthread_mutex_unlock(&mu_);
    return got;
}

void* Resolver::run(void* self)
{
    static_cast<Resolver*>(self)->loop();
    return nullptr;
}

void Resolver::loop()
{
    pthread_mutex_lock(&mu_);
    for (;;) {
        int slot = -1;
        for (int i = 0; i < kMaxCollectors && slot < 0; ++i)
            if (reqs_[i].wanted) slot = i;
        if (quit_) break;
        if (slot < 0) {
            pthread_cond_wait(&cv_, &mu_);
            continue;
        }
        Req& r = reqs_[slot];
        r.wanted = false;
        char host[sizeof(r.host)];
        std::memcpy(host, r.host, sizeof(host));
        const uint16_t port = r.port;
        const uint32_t gen = r.gen;
        pthread_mutex_unlock(&mu_);

        ResolveResult res;
        res.slot = slot;
        res.gen = gen;
        res.rc = resolve_collector(host, port, &res.addr, &res.addr_len, res.err, sizeof res.err);

        pthread_mutex_lock(&mu_);
        if (quit_) break;
        if (r.gen == gen && !r.wanted) {
            r.res = res;
            r.done = true;
            const uint64_t one = 1;
            ssize_t n = ::write(efd_, &one, sizeof one);
            (void)n;
        }
    }
    pthread_mutex_unlock(&mu_);
}

} // namespace fa
