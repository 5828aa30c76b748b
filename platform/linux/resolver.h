// SPDX-License-Identifier: GPL-2.0-only
// Collector names resolved off the event loop (a router boots before its WAN and DNS): one
// thread runs getaddrinfo (resolve_collector) for the requests the loop posts, one per
// collector slot, and hands each result back through an eventfd the loop watches. The loop
// never waits for a lookup; a lookup that hangs (a resolver that does not answer) holds only the
// thread, for the resolver's own timeout (resolv.conf), and later requests wait behind it.
#pragma once
#include <pthread.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

#include "app/config.h"

namespace fa {

struct ResolveResult {
    int slot = -1;
    uint32_t gen = 0;    // the request's generation (a stale answer is recognised by it)
    int rc = 0;          // 0 or a negative errno (resolve_collector)
    sockaddr_storage addr{};
    socklen_t addr_len = 0;
    char err[256] = {};
};

class Resolver {
public:
    Resolver() = default;
    ~Resolver();
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    // Starts the thread and the eventfd. 0 or a negative errno.
    int start();
    void stop();
    // Readable when results wait (EPOLLIN).
    int fd() const { return efd_; }
    // Asks for host:port for `slot` (0..kMaxCollectors-1); replaces that slot's pending request.
    void request(int slot, const char* host, uint16_t port, uint32_t gen);
    // Forgets the slot's request and any answer not yet taken.
    void cancel(int slot);
    // Takes one finished lookup; false when there is none. Clears the eventfd once all are taken.
    bool take(ResolveResult& out);

private:
    struct Req {
        bool wanted = false;   // a request waits for the thread
        bool done = false;     // an answer waits for the loop
        char host[256] = {};
        uint16_t port = 0;
        uint32_t gen = 0;
        ResolveResult res;
    };
    static void* run(void* self);
    void loop();

    pthread_t thread_{};
    bool started_ = false;
    bool quit_ = false;
    int efd_ = -1;
    pthread_mutex_t mu_ = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv_ = PTHREAD_COND_INITIALIZER;
    Req reqs_[kMaxCollectors];
};

} // namespace fa
