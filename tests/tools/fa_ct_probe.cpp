// SPDX-License-Identifier: GPL-2.0-only
// Test tool for the conntrack source without the agent: prints every record the source
// delivers, one line each: "proto src sport > dst dport post psrc pport > pdst pdport pkts bytes
// reason". Runs until SIGTERM/SIGINT (then stop(): forced-end records) or for ARG1 seconds
// (0 = until signalled); ARG2 = active timeout in seconds (default 60); ARG3 = a slow reader:
// milliseconds to stall once at the first readable event (forces socket overflow in tests).
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>

#include "flow/biflow.h"
#include "linux/conntrack_source.h"

namespace {

volatile sig_atomic_t g_stop = 0;
void on_sig(int) { g_stop = 1; }

fa::MonoMs mono_ms()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return fa::MonoMs(ts.tv_sec) * 1000u + fa::MonoMs(ts.tv_nsec / 1000000);
}

void addr(const uint8_t* a, char* out, size_t len)
{
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (__builtin_memcmp(a, kMapped, 12) == 0) inet_ntop(AF_INET, a + 12, out, socklen_t(len));
    else inet_ntop(AF_INET6, a, out, socklen_t(len));
}

class Printer : public fa::SourceSink {
public:
    void on_delta(const fa::FlowDelta&) override {}
    // The source hands one biflow record per connection; print the per-direction records a
    // uniflow collector gets (as the agent does).
    void on_record(const fa::FlowRecord& bi) override
    {
        fa::FlowRecord uni[2];
        const size_t n = fa::biflow_split(bi, uni);
        for (size_t i = 0; i < n; ++i) print(uni[i]);
    }

private:
    static void print(const fa::FlowRecord& r)
    {
        char s[64], d[64], ps[64] = "-", pd[64] = "-";
        addr(r.key.src, s, sizeof(s));
        addr(r.key.dst, d, sizeof(d));
        if (r.flags & fa::kRecHasNat) {
            addr(r.post_src, ps, sizeof(ps));
            addr(r.post_dst, pd, sizeof(pd));
        }
        std::printf("%u %s %u > %s %u post %s %u > %s %u pkts %llu bytes %llu reason %u\n",
                    r.key.proto, s, r.key.src_port, d, r.key.dst_port, ps, r.post_src_port, pd,
                    r.post_dst_port, static_cast<unsigned long long>(r.packets),
                    static_cast<unsigned long long>(r.octets), unsigned(r.end_reason));
        std::fflush(stdout);
    }
};

} // namespace

int main(int argc, char** argv)
{
    int seconds = argc > 1 ? std::atoi(argv[1]) : 0;
    signal(SIGTERM, on_sig);
    signal(SIGINT, on_sig);
    fa::Config cfg;
    cfg.source = fa::SourceKind::conntrack;
    // The state file is the caller's ($FA_CT_PROBE_STATE; none when unset): the default one
    // (/var/run/flowagent/conntrack.state) is the host agent's, and a probe run that wrote it
    // was read by the next conntrack test.
    const char* state = std::getenv("FA_CT_PROBE_STATE");
    std::snprintf(cfg.ct_state_file, sizeof cfg.ct_state_file, "%s", state ? state : "");
    if (argc > 2) cfg.active_timeout_s = uint32_t(std::atoi(argv[2]));
    fa::Source* src = fa::new_conntrack_source();
    if (!src || src->start(cfg) < 0) return 1;
    std::fprintf(stderr, "fa_ct_probe: listening\n");
    Printer sink;
    int stall_ms = argc > 3 ? std::atoi(argv[3]) : 0;
    fa::MonoMs end = seconds > 0 ? mono_ms() + fa::MonoMs(seconds) * 1000u : 0;
    while (!g_stop && (end == 0 || mono_ms() < end)) {
        pollfd p{src->fd(), POLLIN, 0};
        if (poll(&p, 1, 100) > 0) {
            if (stall_ms > 0) {
                timespec ts{stall_ms / 1000, long(stall_ms % 1000) * 1000000L};
                nanosleep(&ts, nullptr);
                stall_ms = 0;
            }
            src->on_readable(mono_ms(), sink);
        }
        src->on_tick(mono_ms(), sink);
    }
    src->stop(mono_ms(), sink);
    std::fprintf(stderr, "fa_ct_probe: lost_events %llu\n",
                 static_cast<unsigned long long>(src->drops().source_events));
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    std::fprintf(stderr, "fa_ct_probe: cpu %ld.%06ld s user %ld.%06ld s sys, max RSS %ld KB\n",
                 long(ru.ru_utime.tv_sec), long(ru.ru_utime.tv_usec), long(ru.ru_stime.tv_sec),
                 long(ru.ru_stime.tv_usec), ru.ru_maxrss);
    delete src;
    return 0;
}
