// SPDX-License-Identifier: GPL-2.0-only
// Conntrack source: the socket side. Two netlink sockets (libmnl): the event socket, subscribed
// to NEW and DESTROY, and a dump socket for the periodic dumps; every message is parsed with
// libnetfilter_conntrack (CtParser) and handed to the portable CtTracker (source/ct_tracker.h),
// which holds all the policy: baselines, tombstones, sweep, NAT recovery and the dump schedule,
// with the argument for why the counts are exact. This file never writes the kernel's
// connection tracking: dumps are plain IPCTNL_MSG_CT_GET (never GET_CTRZERO), so conntrack -L,
// nlbwmon, conntrackd and nft "ct bytes" rules see the counters they would see without us.
//
// Restart: stop() exports every tracked connection's delta (forcedEnd) and writes the baselines
// to [conntrack] state_file; start() reads them back (source/ct_state.h says what each kind of
// file leads to). Reload (SIGHUP): the tracker itself goes to the next listener with the event
// socket (release_event_fd / adopt_event_fd), so the baselines stay in memory.
//
// Fairness: one wake-up reads at most kEventBudget datagrams from the event socket and each tick
// at most kDumpBudget from the dump socket; the loop comes back for the rest, so a storm of
// events cannot starve the tick, the signals or the export.
#include "conntrack_source.h"

#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>

#include "clock_linux.h"
#include "conntrack_parse.h"
#include "core/log.h"
#include "source/ct_state.h"
#include "source/ct_tracker.h"

namespace fa {
namespace {

constexpr int kEventBudget = 64;  // event datagrams per wake-up (each up to 64 KiB)
constexpr int kDumpBudget = 64;   // dump datagrams per tick

// A reload hands the tracker (the baselines) to the next listener, with the event socket.
CtTracker* g_carried_tracker = nullptr;

class NullSink final : public SourceSink {
public:
    void on_delta(const FlowDelta&) override {}
    void on_record(const FlowRecord&) override {}
};

// Sets a per-netns sysctl to 1; returns 1 when it changed it (*was = the old first character),
// 0 when already 1, <0 on error.
int ensure_sysctl(const char* path, char* was)
{
    int fd = ::open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return -errno;
    char c = 0;
    int ret = 0;
    if (::read(fd, &c, 1) != 1) ret = -EIO;
    else if (c != '1') {
        *was = c;
        ret = ::pwrite(fd, "1", 1, 0) == 1 ? 1 : -errno;
    }
    ::close(fd);
    return ret;
}

bool to_ct_addr(const sockaddr_storage& ss, uint8_t out[16], uint16_t* port)
{
    if (ss.ss_family == AF_INET) {
        sockaddr_in a;
        std::memcpy(&a, &ss, sizeof(a));
        std::memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        std::memcpy(out + 12, &a.sin_addr, 4);
        *port = ntohs(a.sin_port);
        return true;
    }
    if (ss.ss_family == AF_INET6) {
        sockaddr_in6 a;
        std::memcpy(&a, &ss, sizeof(a));
        std::memcpy(out, &a.sin6_addr, 16);
        *port = ntohs(a.sin6_port);
        return true;
    }
    return false;
}

// This run's identity for the state file: boot id and network namespace.
void run_identity(char boot_id[kCtStateBootIdLen], uint64_t* netns)
{
    std::memset(boot_id, 0, kCtStateBootIdLen);
    int fd = ::open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = ::read(fd, boot_id, kCtStateBootIdLen - 1);
        ::close(fd);
        for (ssize_t i = 0; i < n; ++i)
            if (boot_id[i] == '\n') boot_id[i] = 0;
    }
    struct stat st{};
    *netns = ::stat("/proc/self/ns/net", &st) == 0 ? uint64_t(st.st_ino) : 0;
}

class ConntrackSource final : public Source {
public:
    ~ConntrackSource() override
    {
        if (ev_) mnl_socket_close(ev_);
        else if (adopted_fd_ >= 0) ::close(adopted_fd_);
        if (sw_.fd >= 0) ::close(sw_.fd);
        if (dump_) mnl_socket_close(dump_);
        delete tracker_;
    }

    int start(const Config& cfg) override
    {
        std::snprintf(state_path_, sizeof state_path_, "%s", cfg.ct_state_file);
        if (!parser_.ok()) {
            log(LogLevel::error, "conntrack: cannot allocate the nf_conntrack object");
            return -ENOMEM;
        }
        timespec ts{};
        (void)::clock_gettime(CLOCK_REALTIME, &ts);
        const uint64_t start_wall_ns = uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
        CtTrackerConfig tc;
        tc.max_flows = cfg.max_flows;
        tc.active_ms = MonoMs(cfg.active_timeout_s) * 1000u;
        tc.sample_rate = cfg.sampling_rate;  // flow sampling by tuple hash (SamplingKind::flow)
        tc.both_directions = cfg.ct_both_directions;
        tc.with_mark = cfg.ct_mark;
        tc.with_zone = cfg.ct_zone;
        tracker_ = new (std::nothrow) CtTracker();
        if (!tracker_ || tracker_->init(tc, clock_, start_wall_ns) != Status::ok) {
            log(LogLevel::error, "conntrack: cannot allocate the tracking table for %u flows",
                cfg.max_flows);
            return -ENOMEM;
        }
        tracker_->set_own(own_, size_t(n_own_));
        tracker_->begin(clock_.mono_ms());
        log(LogLevel::info, "conntrack: tracking table %zu slots x %zu bytes = %zu bytes (up to "
            "%zu connections at 87.5 %% load)", tracker_->capacity(), CtTracker::slot_bytes(),
            tracker_->capacity() * CtTracker::slot_bytes(),
            tracker_->capacity() - tracker_->capacity() / 8);
        dump_ = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (!dump_ || mnl_socket_bind(dump_, 0, MNL_SOCKET_AUTOPID) < 0) {
            int e = -errno;
            log(LogLevel::error, "conntrack: dump socket: %s (is nf_conntrack_netlink loaded?)",
                strerror(-e));
            return e;
        }
        // Accounting and timestamps for the counters and times; events = 1 (the default 2
        // gives a connection its event extension only when a listener exists as it is
        // created, so connections opened while no agent runs would never report their
        // DESTROY). Sysctls only: the agent never writes the connection table itself.
        static const char* const kSysctls[] = {"/proc/sys/net/netfilter/nf_conntrack_acct",
                                               "/proc/sys/net/netfilter/nf_conntrack_timestamp",
                                               "/proc/sys/net/netfilter/nf_conntrack_events"};
        for (const char* p : kSysctls) {
            char was = '?';
            int r = ensure_sysctl(p, &was);
            if (r == 1) log(LogLevel::info, "conntrack: set %s to 1 (was %c)", p, was);
            else if (r < 0)
                log(LogLevel::warn, "conntrack: cannot read/enable %s: %s", p, strerror(-r));
        }
        // Baselines before the event socket (a reload's in memory; else the state file matched
        // against an initial dump): see load_baselines().
        load_baselines();
        const bool adopted = adopted_fd_ >= 0;  // a reload's: already subscribed
        ev_ = adopted ? mnl_socket_fdopen(adopted_fd_)
                      : mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (!ev_) {
            int e = -errno;
            log(LogLevel::error, "conntrack: event socket: %s (is nf_conntrack_netlink loaded?)",
                strerror(-e));
            return e;
        }
        adopted_fd_ = -1;  // owned by ev_ now
        const int fd = mnl_socket_get_fd(ev_);
        // [conntrack] rcvbuf; ~1.28 KB of buffer per queued event (PLATFORM-NOTES §3). FORCE
        // (CAP_NET_ADMIN) may exceed net.core.rmem_max; without it the kernel caps the size.
        int sz = int(cfg.ct_rcvbuf);
        if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0 &&
            ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz)) < 0) {
            int e = -errno;
            log(LogLevel::error, "conntrack: event socket receive buffer: %s", strerror(-e));
            return e;
        }
        int got = 0;
        socklen_t gl = sizeof(got);
        if (::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &gl) < 0) got = -1;
        // getsockopt reports the kernel's doubled figure (bookkeeping overhead included).
        log(LogLevel::info, "conntrack: %sevent socket receive buffer %d bytes (kernel figure, "
            "rcvbuf = %u)%s, %s, mark %s, zone %s, %d own export socket(s) not metered",
            adopted ? "kept across the reload: " : "", got,
            cfg.ct_rcvbuf, got / 2 < int(cfg.ct_rcvbuf) ? " capped by net.core.rmem_max" : "",
            cfg.ct_both_directions ? "both directions" : "original direction only",
            cfg.ct_mark ? "on" : "off", cfg.ct_zone ? "on" : "off", n_own_);
        // The "DESTROY is never lost" guarantee (ct_tracker.h, point 1) rests on this option:
        // without it the kernel drops a DESTROY that finds the socket full.
        int one = 1;
        if (mnl_socket_setsockopt(ev_, NETLINK_BROADCAST_ERROR, &one, sizeof(one)) < 0) {
            int e = -errno;
            log(LogLevel::error, "conntrack: NETLINK_BROADCAST_ERROR: %s", strerror(-e));
            return e;
        }
        if (adopted) return 0;
        if (mnl_socket_bind(ev_, (1u << (NFNLGRP_CONNTRACK_NEW - 1)) |
                                     (1u << (NFNLGRP_CONNTRACK_DESTROY - 1)),
                            MNL_SOCKET_AUTOPID) < 0) {
            int e = -errno;
            log(LogLevel::error, "conntrack: bind to ctnetlink event groups: %s (needs "
                "CAP_NET_ADMIN)", strerror(-e));
            return e;
        }
        return 0;
    }

    void set_own_sockets(const int* fds, int n) override
    {
        n_own_ = 0;
        for (int i = 0; i < n && n_own_ < kMaxCollectors; ++i) {
            sockaddr_storage l{}, r{};
            socklen_t ll = sizeof(l), rl = sizeof(r);
            if (fds[i] < 0 || ::getsockname(fds[i], reinterpret_cast<sockaddr*>(&l), &ll) < 0 ||
                ::getpeername(fds[i], reinterpret_cast<sockaddr*>(&r), &rl) < 0)
                continue;
            CtOwnSocket& o = own_[n_own_];
            if (to_ct_addr(l, o.local, &o.local_port) && to_ct_addr(r, o.peer, &o.peer_port))
                ++n_own_;
        }
        if (tracker_) tracker_->set_own(own_, size_t(n_own_));
    }

    int fd() const override { return ev_ ? mnl_socket_get_fd(ev_) : -1; }

    void on_readable(MonoMs now, SourceSink& sink) override
    {
        if (!ev_ || !tracker_) return;
        tracker_->begin(now);
        read_events(sink, kEventBudget);
    }

    void on_tick(MonoMs now, SourceSink& sink) override
    {
        if (!tracker_ || !dump_) return;
        tracker_->begin(now);
        if (tracker_->dump_due()) {
            if (tracker_->begin_cycle())
                log(LogLevel::warn, "conntrack: event socket overrun (ENOBUFS, %llu so far): "
                    "resync dump started (DESTROY events are re-delivered by the kernel)",
                    static_cast<unsigned long long>(tracker_->overruns()));
            if (send_dump(dump_, AF_INET, ++seq_)) {
                dump_family_ = AF_INET;
            } else {
                log(LogLevel::warn, "conntrack: dump request failed: %s", strerror(errno));
                tracker_->end_cycle(false);
            }
        }
        for (int i = 0; i < kDumpBudget && dump_family_ != 0; ++i) {
            ssize_t n = mnl_socket_recvfrom(dump_, buf_, sizeof(buf_));
            if (n <= 0) {
                if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                    // Dump socket overrun or error: the cycle is incomplete; retry it soon.
                    log(LogLevel::warn, "conntrack: dump failed: %s; restarting it",
                        strerror(errno));
                    end_cycle(false);
                }
                return;
            }
            bool failed = false;
            if (!walk(buf_, size_t(n), sink, CtMode::dump, seq_, &failed)) continue;
            if (failed) {
                // NLMSG_ERROR instead of NLMSG_DONE: what was not read is unknown.
                log(LogLevel::warn, "conntrack: dump of family %d ended with an error; "
                    "restarting it", dump_family_);
                end_cycle(false);
            } else if (dump_family_ == AF_INET) {
                if (send_dump(dump_, AF_INET6, ++seq_)) {
                    dump_family_ = AF_INET6;
                } else {
                    log(LogLevel::warn, "conntrack: IPv6 dump request failed: %s",
                        strerror(errno));
                    end_cycle(false);
                }
            } else {
                if (tracker_->last_cycle_was_resync())
                    log(LogLevel::info, "conntrack: resync dump done: %llu connection "
                        "records, %zu tracked, %llu untracked (table full) so far",
                        static_cast<unsigned long long>(tracker_->cycle_records()),
                        tracker_->tracked(),
                        static_cast<unsigned long long>(tracker_->untracked()));
                end_cycle(true);
            }
        }
    }

    void stop(MonoMs now, SourceSink& sink) override
    {
        if (!tracker_) return;
        tracker_->begin(now);
        // DESTROY events already queued carry the final counters of connections the dump below
        // can no longer see: read them first, and again after the dump for the connections
        // that ended while it ran.
        if (ev_) read_events(sink, -1);
        // The state file is written as the forced dump runs: it gets the baselines of the
        // connections without a slot that the dump exports (ct_tracker.h, point 4), then those
        // of every slot.
        const bool saving = state_open(!tracker_->baselines_unknown());
        if (saving)
            tracker_->set_untracked_export(
                [](const CtBaseline& b, void* self) {
                    static_cast<ConntrackSource*>(self)->state_add(b);
                },
                this);
        (void)blocking_dump(sink, CtMode::forced);
        tracker_->set_untracked_export(nullptr, nullptr);
        if (ev_) read_events(sink, -1);
        if (saving) save_baselines();
        log(LogLevel::info, "conntrack: totals: %llu overruns, %llu resync dumps, %llu "
            "connections untracked (table full), %llu swept without a DESTROY event, %llu NAT "
            "creates rebuilt, %llu own-export entries skipped, %llu offloaded entries seen, %llu "
            "undecodable messages, %llu DESTROYs of connections with an unknown baseline not "
            "exported", static_cast<unsigned long long>(tracker_->overruns()),
            static_cast<unsigned long long>(tracker_->resyncs()),
            static_cast<unsigned long long>(tracker_->untracked()),
            static_cast<unsigned long long>(tracker_->swept()),
            static_cast<unsigned long long>(tracker_->nat_recovered()),
            static_cast<unsigned long long>(tracker_->own_skipped()),
            static_cast<unsigned long long>(tracker_->offloaded()),
            static_cast<unsigned long long>(bad_msgs_),
            static_cast<unsigned long long>(tracker_->unknown_baseline_drops()));
    }

    DropCounters drops() const override { return tracker_ ? tracker_->drops() : DropCounters{}; }
    void status_json(char* buf, int len) const override
    {
        const unsigned long long overruns = tracker_ ? tracker_->overruns() : 0;
        const unsigned long long resyncs = tracker_ ? tracker_->resyncs() : 0;
        snprintf(buf, size_t(len), "\"conntrack\":{\"overruns\":%llu,\"resyncs\":%llu}",
                 overruns, resyncs);
    }

    int release_event_fd() override
    {
        if (!ev_) return -1;
        // The event socket stays subscribed; the baselines go with it (a reload).
        const int fd = ::dup(mnl_socket_get_fd(ev_));
        if (fd < 0) return -1;
        delete g_carried_tracker;
        g_carried_tracker = tracker_;
        tracker_ = nullptr;
        return fd;
    }
    void adopt_event_fd(int fd) override
    {
        if (adopted_fd_ >= 0) ::close(adopted_fd_);
        adopted_fd_ = fd;
    }

    void describe(char* out, int len) const override
    {
        if (len > 0) std::snprintf(out, size_t(len), "conntrack");
    }

private:
    void end_cycle(bool complete)
    {
        dump_family_ = 0;
        tracker_->end_cycle(complete);
        if (size_t n = tracker_->take_swept_now())
            log(LogLevel::info, "conntrack: %zu connection(s) ended without a DESTROY event "
                "(created without the event extension, e.g. before the agent started): slots "
                "freed, %llu so far", n, static_cast<unsigned long long>(tracker_->swept()));
    }

    // budget < 0: until the socket is empty (stop).
    void read_events(SourceSink& sink, int budget)
    {
        for (int i = 0; budget < 0 || i < budget; ++i) {
            ssize_t n = ::recv(mnl_socket_get_fd(ev_), buf_, sizeof(buf_), MSG_DONTWAIT);
            if (n < 0) {
                if (errno == ENOBUFS) {
                    tracker_->on_overrun();
                    continue;
                }
                return;  // EAGAIN or a transient error: wait for the next readiness
            }
            (void)walk(buf_, size_t(n), sink, CtMode::event, 0, nullptr);
        }
    }

    // Walks one receive buffer. seq != 0: only replies to that request count (a reply to an
    // earlier, abandoned request would re-insert or re-export connections). Returns true at
    // NLMSG_DONE or NLMSG_ERROR (the end of a dump); *failed set for an error that is not an ACK.
    bool walk(const void* p, size_t n, SourceSink& sink, CtMode mode, uint32_t seq, bool* failed)
    {
        const auto* nlh = static_cast<const nlmsghdr*>(p);
        int left = int(n);
        for (; ct_msg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
            if (seq != 0 && nlh->nlmsg_seq != seq) continue;
            CtEntry e;
            CtMsgKind kind;
            int err = 0;
            const char* why = nullptr;
            if (parser_.parse(nlh, e, &kind, &err, &why) != Status::ok) {
                ++bad_msgs_;
                if (bad_msgs_ < 10) log(LogLevel::warn, "conntrack: %s", why);
                continue;  // just this message: the rest of the batch, DESTROYs too, counts
            }
            if (kind == CtMsgKind::error && err != 0 && failed) *failed = true;
            if (kind == CtMsgKind::done || kind == CtMsgKind::error) return true;
            if (kind != CtMsgKind::entry) continue;
            tracker_->on_entry(e, mode, sink);
            if (tracker_->take_offload_warning())
                log(LogLevel::warn, "conntrack: flow offload is active (connection %s): "
                    "offloaded packets reach the conntrack counters only if the flowtable has "
                    "the counter flag (nft list flowtables); without it they are not counted",
                    e.status & kIpsHwOffload ? "offloaded to hardware" : "in a flowtable");
        }
        if (left > 0 && bad_msgs_++ < 10)
            log(LogLevel::warn, "conntrack: truncated netlink message (%d bytes) skipped", left);
        return false;
    }

    static bool send_dump(mnl_socket* nl, uint8_t family, uint32_t seq)
    {
        alignas(nlmsghdr) uint8_t req[MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(nfgenmsg))] = {};
        nlmsghdr* nlh = mnl_nlmsg_put_header(req);
        nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;  // never CTRZERO
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        nlh->nlmsg_seq = seq;
        auto* nfh = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
        nfh->nfgen_family = family;
        nfh->version = NFNETLINK_V0;
        nfh->res_id = 0;
        return mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) == ssize_t(nlh->nlmsg_len);
    }

    // A blocking dump of both families. forced (stop): every tracked connection's delta goes
    // out with forcedEnd and becomes its baseline. initial (start): every live connection gets
    // a slot. Returns true when both families were read to the end.
    bool blocking_dump(SourceSink& sink, CtMode mode)
    {
        mnl_socket* nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
        if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
            log(LogLevel::error, "conntrack: dump socket: %s", strerror(errno));
            if (nl) mnl_socket_close(nl);
            return false;
        }
        bool complete = true;
        timeval tv{2, 0};
        if (::setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
            log(LogLevel::warn, "conntrack: final dump timeout: %s", strerror(errno));
        for (uint8_t family : {uint8_t(AF_INET), uint8_t(AF_INET6)}) {
            const uint32_t seq = ++seq_;
            if (!send_dump(nl, family, seq)) {
                log(LogLevel::error, "conntrack: dump request (family %u): %s", family,
                    strerror(errno));
                complete = false;
                continue;
            }
            bool done = false, failed = false;
            while (!done) {
                ssize_t n = mnl_socket_recvfrom(nl, buf_, sizeof(buf_));
                if (n <= 0) {
                    log(LogLevel::error, "conntrack: dump (family %u) cut short: %s",
                        family, n < 0 ? strerror(errno) : "end of stream");
                    break;
                }
                done = walk(buf_, size_t(n), sink, mode, seq, &failed);
            }
            if (failed) log(LogLevel::error, "conntrack: dump (family %u) failed", family);
            complete = complete && done && !failed;
        }
        mnl_socket_close(nl);
        return complete;
    }

    // start(): the previous run's baselines (a reload's in memory, else the state file), then a
    // marker that says a run is in progress (a crash leaves it: unclean).
    void load_baselines()
    {
        if (g_carried_tracker) {
            const size_t n = tracker_->adopt(*g_carried_tracker);
            log(LogLevel::info, "conntrack: %zu connection baseline(s) carried over by the reload", n);
            if (g_carried_tracker->baselines_unknown()) tracker_->set_baselines_unknown();
            delete g_carried_tracker;
            g_carried_tracker = nullptr;
            write_marker();
            return;
        }
        if (state_path_[0] == 0) {
            log(LogLevel::info, "conntrack: no state file (state_file empty): every connection "
                "counts from zero");
            return;
        }
        run_identity(boot_id_, &netns_);
        CtStateVerdict v = CtStateVerdict::missing;
        const char* why = "";
        int fd = ::open(state_path_, O_RDONLY | O_CLOEXEC);
        uint32_t count = 0;
        if (fd < 0) {
            if (errno != ENOENT) {
                v = CtStateVerdict::corrupt;
                why = strerror(errno);
            }
        } else {
            v = read_state(fd, nullptr, &count, &why);  // header, length and CRC only
        }
        if (v == CtStateVerdict::corrupt || v == CtStateVerdict::unclean)
            tracker_->set_baselines_unknown();
        // The initial dump, before the event socket is subscribed: every live connection gets
        // a slot, and the file's records apply only to those (their 64-bit keys match: the
        // records of connections that ended meanwhile, or of another network namespace whose
        // inode number was reused, match nothing). A connection that ends between this dump and
        // the subscription sends its DESTROY to no one: what it counted since the previous
        // run's export is lost (a sweep frees its slot), never counted twice.
        NullSink none;
        const bool complete = blocking_dump(none, CtMode::initial);
        if (complete) tracker_->initial_done();
        size_t applied = 0;
        if (v == CtStateVerdict::use && fd >= 0) (void)read_state(fd, &applied, &count, &why);
        if (fd >= 0) ::close(fd);
        switch (v) {
        case CtStateVerdict::use:
            log(LogLevel::info, "conntrack: state file %s: baselines of %zu live connection(s) "
                "restored (%u saved)", state_path_, applied, count);
            break;
        case CtStateVerdict::missing:
            log(LogLevel::info, "conntrack: state file %s not found (first start since boot): "
                "every connection counts from zero", state_path_);
            break;
        case CtStateVerdict::stale:
            log(LogLevel::warn, "conntrack: state file %s is from another boot or network "
                "namespace: ignored, every connection counts from zero", state_path_);
            break;
        case CtStateVerdict::corrupt:
        case CtStateVerdict::unclean:
            log(LogLevel::warn, "conntrack: state file %s %s%s%s: baselines unknown; connections "
                "older than this start count from what the initial dump found (traffic between "
                "the previous run's last export and this start is not exported)", state_path_,
                v == CtStateVerdict::unclean ? "was left by a run that did not stop cleanly"
                                             : "is unusable",
                why[0] ? ": " : "", why);
            break;
        }
        write_marker();
    }

    // applied == nullptr: checks the header, length and CRC. Else applies the records to the
    // slots of the initial dump.
    CtStateVerdict read_state(int fd, size_t* applied, uint32_t* count, const char** why)
    {
        struct stat st{};
        uint8_t hb[kCtStateHeaderLen];
        CtStateHeader h;
        if (::fstat(fd, &st) < 0 || ::pread(fd, hb, sizeof hb, 0) != ssize_t(sizeof hb)) {
            *why = "short header";
            return CtStateVerdict::corrupt;
        }
        if (ct_state_get_header(hb, h, why) != Status::ok) return CtStateVerdict::corrupt;
        *count = h.count;
        const CtStateVerdict v = ct_state_judge(h, size_t(st.st_size), boot_id_, netns_);
        if (v != CtStateVerdict::use) return v;
        {
            const int pass = applied ? 1 : 0;
            uint32_t crc = 0;
            size_t left = h.count;
            off_t off = off_t(kCtStateHeaderLen);
            while (left > 0) {
                const size_t k = left < sizeof(buf_) / kCtStateRecordLen
                                     ? left : sizeof(buf_) / kCtStateRecordLen;
                const size_t bytes = k * kCtStateRecordLen;
                if (::pread(fd, buf_, bytes, off) != ssize_t(bytes)) {
                    *why = "short read";
                    return CtStateVerdict::corrupt;
                }
                if (pass == 0) {
                    crc = ct_crc32(crc, buf_, bytes);
                } else {
                    for (size_t i = 0; i < k; ++i)
                        if (tracker_->apply_baseline(
                                ct_state_get_record(buf_ + i * kCtStateRecordLen)))
                            ++*applied;
                }
                left -= k;
                off += off_t(bytes);
            }
            if (pass == 0 && crc != h.crc) {
                *why = "CRC mismatch";
                return CtStateVerdict::corrupt;
            }
        }
        return CtStateVerdict::use;
    }

    // A header with clean = 0 and no records: "a run is in progress".
    void write_marker()
    {
        if (state_open(false)) (void)state_finish();
    }

    // The tracker's slots into the open state file, then the file into place.
    void save_baselines()
    {
        size_t cursor = 0;
        CtBaseline b;
        while (sw_.clean && tracker_->next_baseline(cursor, b)) state_add(b);
        const bool clean = sw_.clean;
        const size_t n = sw_.h.count;
        if (state_finish())
            log(LogLevel::info, "conntrack: state file %s written: %zu connection baseline(s)%s",
                state_path_, n, clean ? "" : " (marked unclean: baselines unknown)");
    }

    // The state file, written to PATH.tmp and renamed into place: state_open(), state_add()
    // per record (a clean file only: an unclean one says the baselines are unknown, and writing
    // some would claim knowledge this run does not have), state_finish().
    bool state_open(bool clean)
    {
        if (state_path_[0] == 0) return false;
        if (boot_id_[0] == 0) run_identity(boot_id_, &netns_);
        char dir[sizeof state_path_];
        std::snprintf(dir, sizeof dir, "%s", state_path_);
        if (char* slash = std::strrchr(dir, '/'); slash && slash != dir) {
            *slash = 0;
            if (::mkdir(dir, 0700) < 0 && errno != EEXIST)
                log(LogLevel::warn, "conntrack: cannot create %s: %s", dir, strerror(errno));
        }
        std::snprintf(sw_.tmp, sizeof sw_.tmp, "%s.tmp", state_path_);
        sw_.fd = ::open(sw_.tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (sw_.fd < 0) {
            log(LogLevel::warn, "conntrack: cannot write state file %s: %s", sw_.tmp,
                strerror(errno));
            return false;
        }
        sw_.h = CtStateHeader{};
        sw_.h.clean = sw_.clean = clean;
        sw_.h.netns = netns_;
        std::memcpy(sw_.h.boot_id, boot_id_, kCtStateBootIdLen);
        sw_.off = off_t(kCtStateHeaderLen);
        sw_.fill = 0;
        sw_.ok = true;
        return true;
    }
    void state_add(const CtBaseline& b)
    {
        if (sw_.fd < 0 || !sw_.clean) return;
        ct_state_put_record(b, sw_.buf + sw_.fill);
        sw_.fill += kCtStateRecordLen;
        ++sw_.h.count;
        if (sw_.fill + kCtStateRecordLen > sizeof(sw_.buf)) state_flush();
    }
    void state_flush()
    {
        if (sw_.fill == 0) return;
        sw_.h.crc = ct_crc32(sw_.h.crc, sw_.buf, sw_.fill);
        sw_.ok = sw_.ok && ::pwrite(sw_.fd, sw_.buf, sw_.fill, sw_.off) == ssize_t(sw_.fill);
        sw_.off += off_t(sw_.fill);
        sw_.fill = 0;
    }
    bool state_finish()
    {
        if (sw_.fd < 0) return false;
        state_flush();
        uint8_t hb[kCtStateHeaderLen];
        ct_state_put_header(sw_.h, hb);
        bool ok = sw_.ok && ::pwrite(sw_.fd, hb, sizeof hb, 0) == ssize_t(sizeof hb);
        ok = ::close(sw_.fd) == 0 && ok;
        sw_.fd = -1;
        if (!ok || ::rename(sw_.tmp, state_path_) < 0) {
            log(LogLevel::warn, "conntrack: cannot write state file %s: %s", state_path_,
                strerror(errno));
            (void)::unlink(sw_.tmp);
            return false;
        }
        return true;
    }

    struct StateWriter {
        int fd = -1;
        bool clean = false, ok = false;
        CtStateHeader h;
        off_t off = 0;
        size_t fill = 0;
        char tmp[256 + 8] = {};
        uint8_t buf[kCtStateRecordLen * 93];  // 4 KB of records per write
    };

    LinuxClock clock_;
    CtParser parser_;
    CtTracker* tracker_ = nullptr;
    mnl_socket* ev_ = nullptr;
    mnl_socket* dump_ = nullptr;
    int adopted_fd_ = -1;
    int dump_family_ = 0;  // 0 idle, AF_INET / AF_INET6: that family's dump is running
    uint32_t seq_ = 0;
    CtOwnSocket own_[kMaxCollectors];
    int n_own_ = 0;
    uint64_t bad_msgs_ = 0;
    char state_path_[256] = {};
    char boot_id_[kCtStateBootIdLen] = {};
    uint64_t netns_ = 0;
    StateWriter sw_;
    alignas(8) uint8_t buf_[64 * 1024];
};

} // namespace

Source* new_conntrack_source() { return new (std::nothrow) ConntrackSource(); }

} // namespace fa
