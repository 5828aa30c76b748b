// SPDX-License-Identifier: GPL-2.0-only
// Conntrack source on raw ctnetlink (NETLINK_NETFILTER); decoding is the pure ct_decode().
//
// Loss handling, and why it is exact. Counters reach us two ways: DESTROY events (final
// counters) and dumps of the table (live counters). Per connection the tracking table (fixed
// size, keyed by conntrack id and tuple hash) remembers what was already exported, and every
// record is the delta against that, so any mix of dumps and one DESTROY sums to the connection's
// total.
//  1. DESTROY is never lost. The event socket sets NETLINK_BROADCAST_ERROR: when a DESTROY cannot
//     be queued (socket full), the broadcast fails with ENOBUFS towards ctnetlink, and the
//     kernel's event cache keeps the dying entry, with its final counters, and re-delivers the
//     DESTROY from its worker until it is queued (nf_conntrack_ecache "reliable event delivery";
//     we never set NETLINK_NO_ENOBUFS, which would hide the overrun). A dump cannot replace this:
//     a connection destroyed while events were being lost is no longer in the table.
//  2. What an overrun can lose is NEW events (the kernel folds a failed NEW into the entry's next
//     event, which for us is its DESTROY). Without its NEW a connection has no tracking slot, so
//     it would get no active-timeout records. So each ENOBUFS is counted (drops().source_events,
//     logged) and followed by a resync dump, started on the next tick after the overrun (at most
//     one every kResyncGapMs) and read with the same per-tick budget as the active-timeout
//     dump: every live connection gets a slot, so it gets its active-timeout records from then
//     on, and its DESTROY exports the rest. The resync is a plain dump cycle started early: it
//     exports only the connections whose active timeout is due, so an overrun (a storm) is not
//     followed by a burst of records for every live connection.
//  3. The race between the two sockets: a dump reply for X can be read after X's DESTROY was
//     processed (the kernel built the dump chunk before X died). Re-inserting X then would export
//     its counters twice. So while a dump runs, a DESTROY leaves a tombstone (the slot marked dead,
//     or a new dead slot) and dump replies for a dead id are ignored; tombstones are cleared when
//     the dump cycle ends. If the table has no room for a tombstone, that dump cycle inserts no
//     new slots (it only updates tracked connections), so nothing can be re-inserted.
//  4. Connections without a slot (table full: counted in untracked_) get no dump records at all;
//     their DESTROY exports their whole lifetime.
//  5. Some connections never send a DESTROY: those created without the conntrack event
//     extension (while nf_conntrack_events was 0, or 2 with no listener: everything that existed
//     before the agent started, or was created while it restarted). A dump gives them a slot
//     like any other, so without a sweep their slots would stay until the table is full. Each
//     complete dump cycle (both families read to NLMSG_DONE) marks the slots it did not see;
//     a slot missed by two complete cycles in a row is swept (counted in swept_ and in
//     drops().source_events, logged). Two cycles, not one: a slot inserted by a NEW event
//     after the dump passed its bucket is missed once, and a DESTROY still queued has a whole
//     dump interval to arrive. No cycle that starts less than kSweepHoldMs after an overrun
//     marks anything: the DESTROYs the kernel is re-delivering (1) may take many seconds in a
//     storm, while resync cycles follow each other quickly; sweeping such a slot would make
//     its DESTROY export the connection's whole lifetime again. What a swept connection
//     counted after its last export is lost with it: nothing reports it.
// Each record carries both directions of a connection (biflow, kRecBiflow); the agent splits it
// for uniflow collectors, so all of the above holds per direction too. The agent's own export
// sockets produce neither records nor NAT events.
//
// NAT session events (RFC 8158) come from NEW and DESTROY events, for every NATed connection,
// before flow sampling. A DESTROY's delete event is never lost (1), and without an overrun
// neither is a NEW: every create comes from its NEW, also across a reload, which hands the
// still-subscribed socket to the next listener (release_event_fd). Once this listener has seen
// an overrun, a NEW may have been lost with its create event, so creates are rebuilt
// (ct_recovered_nat_create: tuples from the entry, time from CTA_TIMESTAMP_START) for the
// connections that started after the listener did and whose NEW never came. Only then: a
// rebuild when no NEW was lost could only race with a NEW still queued for the next listener.
// A slot's create_seen says a create was sent, by its NEW or rebuilt:
//  - a dump reply for a slot without it rebuilds the create (a NEW still queued behind the dump
//    then finds create_seen and sends nothing: one create either way);
//  - a DESTROY without any slot, when the table never refused a connection (untracked_ == 0:
//    so no slot means its NEW was lost and no dump reached it), rebuilds it before the delete;
//  - the forced dump at stop does both, and keeps the slots so that a NEW read after it finds
//    create_seen.
// Only sampled connections have slots: with flow sampling, creates of the others lost in an
// overrun stay lost; with a full table, so do those of connections that no dump reached.
#include "conntrack_source.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>

#include "clock_linux.h"
#include "core/log.h"
#include "source/conntrack_decode.h"

namespace fa {
namespace {

constexpr unsigned kGroupNew = 1u << (1 - 1);      // NFNLGRP_CONNTRACK_NEW = 1
constexpr unsigned kGroupDestroy = 1u << (3 - 1);  // NFNLGRP_CONNTRACK_DESTROY = 3

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

class ConntrackSource final : public Source {
public:
    ~ConntrackSource() override
    {
        if (ev_fd_ >= 0) ::close(ev_fd_);
        if (dump_fd_ >= 0) ::close(dump_fd_);
        delete[] slots_;
    }

    int start(const Config& cfg) override
    {
        both_ = cfg.ct_both_directions;
        with_mark_ = cfg.ct_mark;
        with_zone_ = cfg.ct_zone;
        active_ms_ = MonoMs(cfg.active_timeout_s) * 1000u;
        sample_rate_ = cfg.sampling_rate;  // flow sampling by tuple hash (SamplingKind::flow)
        cap_ = 1024;
        while (cap_ < size_t(cfg.max_flows) && cap_ < (size_t(1) << 24)) cap_ <<= 1;
        slots_ = new (std::nothrow) Slot[cap_]();  // the one allocation, at start-up
        if (!slots_) {
            log(LogLevel::error, "conntrack: cannot allocate %zu table slots", cap_);
            return -ENOMEM;
        }
        log(LogLevel::info, "conntrack: tracking table %zu slots x %zu bytes = %zu bytes (up to "
            "%zu connections at 87.5 %% load)", cap_, sizeof(Slot), cap_ * sizeof(Slot),
            cap_ - cap_ / 8);
        dump_fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_NETFILTER);
        if (dump_fd_ < 0) {
            int e = -errno;
            log(LogLevel::error, "conntrack: dump socket: %s", strerror(-e));
            return e;
        }
        // Accounting and timestamps for the counters and times; events = 1 (the default 2
        // gives a connection its event extension only when a listener exists as it is
        // created, so connections opened while no agent runs, e.g. during a respawn, would
        // never report their DESTROY and their last counters).
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
        const bool adopted = ev_fd_ >= 0;  // a reload's: already subscribed (adopt_event_fd)
        if (!adopted)
            ev_fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
                              NETLINK_NETFILTER);
        if (ev_fd_ < 0) {
            int e = -errno;
            log(LogLevel::error, "conntrack: netlink socket: %s (is nf_conntrack_netlink loaded?)",
                strerror(-e));
            return e;
        }
        // [conntrack] rcvbuf; ~1.28 KB of buffer per queued event (PLATFORM-NOTES §3). FORCE
        // (CAP_NET_ADMIN) may exceed net.core.rmem_max; without it the kernel caps the size.
        int sz = int(cfg.ct_rcvbuf);
        if (::setsockopt(ev_fd_, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
            (void)::setsockopt(ev_fd_, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
        int got = 0;
        socklen_t gl = sizeof(got);
        (void)::getsockopt(ev_fd_, SOL_SOCKET, SO_RCVBUF, &got, &gl);
        // getsockopt reports the kernel's doubled figure (bookkeeping overhead included).
        log(LogLevel::info, "conntrack: %sevent socket receive buffer %d bytes (kernel figure, "
            "rcvbuf = %u)%s, %s, mark %s, zone %s, %d own export socket(s) not metered",
            adopted ? "kept across the reload: " : "", got,
            cfg.ct_rcvbuf, got / 2 < int(cfg.ct_rcvbuf) ? " capped by net.core.rmem_max" : "",
            both_ ? "both directions" : "original direction only", with_mark_ ? "on" : "off",
            with_zone_ ? "on" : "off", n_own_);
        int one = 1;
        (void)::setsockopt(ev_fd_, SOL_NETLINK, NETLINK_BROADCAST_ERROR, &one, sizeof(one));
        // Connections stamped from here on are ours: their NAT creates may be rebuilt.
        timespec ts{};
        (void)::clock_gettime(CLOCK_REALTIME, &ts);
        start_wall_ns_ = uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
        if (adopted) return 0;
        sockaddr_nl sa{};
        sa.nl_family = AF_NETLINK;
        sa.nl_groups = kGroupNew | kGroupDestroy;
        if (::bind(ev_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0) {
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
    }

    int fd() const override { return ev_fd_; }

    void on_readable(MonoMs now, SourceSink& sink) override
    {
        wall_offset_ms_ = LinuxClock().wall_offset_ms();  // once per wake-up, see walk()
        for (;;) {
            ssize_t n = ::recv(ev_fd_, buf_, sizeof(buf_), MSG_DONTWAIT);
            if (n < 0) {
                if (errno == ENOBUFS) {
                    ++overruns_;
                    last_overrun_ms_ = now;
                    cycle_sweepable_ = false;  // point 5 at the top
                    ++drops_.source_events;
                    resync_pending_ = true;
                    continue;
                }
                return;  // EAGAIN or a transient error: wait for the next readiness
            }
            walk(buf_, size_t(n), now, sink, Mode::event);
        }
    }

    void on_tick(MonoMs now, SourceSink& sink) override
    {
        // A dump cycle (AF_INET, then AF_INET6) starts when a resync is pending (an overrun
        // since the last resync started) or every active_timeout / 2 for active-timeout deltas,
        // so no tracked connection waits more than 1.5 active timeouts. Resyncs start at most
        // every kResyncGapMs: in a storm the socket overruns again and again, and each resync
        // walks the whole conntrack table in the kernel (70 % of the agent's CPU time in
        // e2e.conntrack_storm when they ran back to back); a connection whose NEW was lost
        // loses nothing by waiting (its DESTROY, or the next dump, catches it). At most kBudget
        // recv()s per tick, so one tick never blocks the loop.
        const bool resync_due =
            resync_pending_ && (resyncs_ == 0 || now - last_resync_ms_ >= kResyncGapMs);
        if (dump_family_ == 0 && dump_fd_ >= 0 && (resync_due || now >= next_dump_ms_)) {
            next_dump_ms_ = now + (active_ms_ / 2 > 0 ? active_ms_ / 2 : 1);
            resync_ = resync_pending_;
            if (resync_) {
                resync_pending_ = false;
                last_resync_ms_ = now;
                ++resyncs_;
                log(LogLevel::warn, "conntrack: event socket overrun (ENOBUFS, %llu so far): "
                    "resync dump started (DESTROY events are re-delivered by the kernel)",
                    static_cast<unsigned long long>(overruns_));
            }
            cycle_records_ = 0;
            no_insert_ = false;
            dump_failed_ = false;
            cycle_sweepable_ = overruns_ == 0 || now - last_overrun_ms_ >= kSweepHoldMs;
            if (send_dump(dump_fd_, 2, kCtMsgGet)) dump_family_ = 2;
        }
        constexpr int kBudget = 64;  // recv() calls per tick (each up to 64 KiB of messages)
        if (dump_family_ != 0) wall_offset_ms_ = LinuxClock().wall_offset_ms();
        for (int i = 0; i < kBudget && dump_family_ != 0; ++i) {
            ssize_t n = ::recv(dump_fd_, buf_, sizeof(buf_), MSG_DONTWAIT);
            if (n <= 0) {
                if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                    // Dump socket overrun or error: the cycle is incomplete; retry it soon.
                    log(LogLevel::warn, "conntrack: dump failed: %s; restarting it",
                        strerror(errno));
                    if (resync_) resync_pending_ = true;
                    next_dump_ms_ = now;
                    end_dump_cycle(false);
                }
                return;
            }
            if (walk(buf_, size_t(n), now, sink, resync_ ? Mode::resync : Mode::dump)) {
                if (dump_failed_) {
                    // NLMSG_ERROR instead of NLMSG_DONE: what was not read is unknown.
                    log(LogLevel::warn, "conntrack: dump of family %d ended with an error; "
                        "restarting it", dump_family_);
                    if (resync_) resync_pending_ = true;
                    next_dump_ms_ = now;
                    end_dump_cycle(false);
                } else if (dump_family_ == 2) {
                    if (send_dump(dump_fd_, 10, kCtMsgGet)) {
                        dump_family_ = 10;
                    } else {
                        log(LogLevel::warn, "conntrack: IPv6 dump request failed: %s",
                            strerror(errno));
                        end_dump_cycle(false);
                    }
                } else {
                    if (resync_)
                        log(LogLevel::info, "conntrack: resync dump done: %llu connection "
                            "records, %zu tracked, %llu untracked (table full) so far",
                            static_cast<unsigned long long>(cycle_records_), count_ - dead_,
                            static_cast<unsigned long long>(untracked_));
                    end_dump_cycle(true);
                }
            }
        }
    }

    void stop(MonoMs now, SourceSink& sink) override
    {
        wall_offset_ms_ = LinuxClock().wall_offset_ms();
        // DESTROY events already queued carry the final counters of connections the dump below
        // can no longer see: read them first, and again after the dump for the connections
        // that ended while it ran.
        if (ev_fd_ >= 0) on_readable(now, sink);
        // Forced end: dump every live connection and export its counters.
        int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
        if (fd < 0) {
            log(LogLevel::error, "conntrack: final dump socket: %s", strerror(errno));
            if (ev_fd_ >= 0) ::close(ev_fd_);
            ev_fd_ = -1;
            return;
        }
        timeval tv{2, 0};
        (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        for (uint8_t family : {uint8_t(2), uint8_t(10)}) {
            uint8_t req[20] = {};
            uint32_t len = 20;
            // GET_CTRZERO: dump and zero the counters atomically per entry, so what is exported
            // here is not exported again when the connection's DESTROY reaches the next start
            // (restart, reboot of the agent only). Cost: the kernel's own counters restart from
            // zero for other readers (conntrack -L, nft "ct bytes" rules) — documented.
            uint16_t type = uint16_t(kNfnlSubsysCtnetlink << 8 | kCtMsgGetCtrZero);
            uint16_t flags = NLM_F_REQUEST | NLM_F_DUMP;
            uint32_t seq = family;
            std::memcpy(req, &len, 4);
            std::memcpy(req + 4, &type, 2);
            std::memcpy(req + 6, &flags, 2);
            std::memcpy(req + 8, &seq, 4);
            req[16] = family;
            if (::send(fd, req, sizeof(req), 0) < 0) continue;
            bool done = false;
            while (!done) {
                ssize_t n = ::recv(fd, buf_, sizeof(buf_), 0);
                if (n <= 0) break;
                done = walk(buf_, size_t(n), now, sink, Mode::forced);
            }
        }
        ::close(fd);
        // The event socket stays open (and subscribed) until the destructor, or until a reload
        // hands it to the next listener (release_event_fd): what it receives from here on is
        // that listener's.
        if (ev_fd_ >= 0) on_readable(now, sink);
        log(LogLevel::info, "conntrack: totals: %llu overruns, %llu resync dumps, %llu "
            "connections untracked (table full), %llu swept without a DESTROY event, %llu NAT "
            "creates rebuilt, %llu own-export entries skipped, %llu offloaded entries seen, %llu "
            "undecodable messages",
            static_cast<unsigned long long>(overruns_),
            static_cast<unsigned long long>(resyncs_), static_cast<unsigned long long>(untracked_),
            static_cast<unsigned long long>(swept_),
            static_cast<unsigned long long>(nat_recovered_),
            static_cast<unsigned long long>(own_skipped_),
            static_cast<unsigned long long>(offload_.entries),
            static_cast<unsigned long long>(bad_msgs_));
    }

    DropCounters drops() const override { return drops_; }
    void status_json(char* buf, int len) const override
    {
        snprintf(buf, size_t(len), "\"conntrack\":{\"overruns\":%llu,\"resyncs\":%llu}",
                 static_cast<unsigned long long>(overruns_),
                 static_cast<unsigned long long>(resyncs_));
    }

    int release_event_fd() override
    {
        const int fd = ev_fd_;
        ev_fd_ = -1;
        return fd;
    }
    void adopt_event_fd(int fd) override
    {
        if (ev_fd_ >= 0) ::close(ev_fd_);
        ev_fd_ = fd;
    }

    void describe(char* out, int len) const override
    {
        if (len > 0) std::snprintf(out, size_t(len), "conntrack");
    }

private:
    // Bytes from a netlink message's start to the next one (NLMSG_ALIGN(nlmsg_len)), or 0 when
    // its header is truncated or its length impossible.
    static size_t msg_span(const uint8_t* m, size_t avail)
    {
        uint32_t len = 0;
        if (avail < 16) return 0;
        std::memcpy(&len, m, 4);  // nlmsg_len, host order
        if (len < 16 || len > avail) return 0;
        return std::min(avail, (size_t(len) + 3) & ~size_t(3));
    }

    // Returns true at NLMSG_DONE or an error (end of a dump).
    // event: the event socket; dump: active-timeout dump (exports connections due); resync: the
    // same, started early after an overrun; forced: the stop() dump. An NLMSG_ERROR that is not
    // an ACK, in a dump, sets dump_failed_.
    enum class Mode : uint8_t { event, dump, resync, forced };
    bool walk(const uint8_t* p, size_t n, MonoMs now, SourceSink& sink, Mode mode)
    {
        // Kernel timestamps are wall-clock ns; they become monotonic ms with the offset read
        // at each wake-up (on_readable, on_tick, stop: it follows NTP steps), so the exporter's
        // wall_of() is exact. Not per message: reading it takes 9 clock reads, which were 5 %
        // of the agent's time in an event storm.
        const int64_t wall_offset_ms = wall_offset_ms_;
        size_t off = 0;
        while (off < n) {
            CtEntry e;
            CtMsgKind kind;
            size_t used = 0;
            int err = 0;
            const char* why = nullptr;
            const size_t whole = msg_span(p + off, n - off);  // 0: header unusable
            if ((mode == Mode::dump || mode == Mode::resync) && whole != 0) {
                // A reply to an earlier, abandoned dump request (after a failed cycle) would
                // re-insert or re-export connections: only this request's sequence counts.
                uint32_t mseq = 0;
                std::memcpy(&mseq, p + off + 8, 4);  // nlmsg_seq, host order
                if (mseq != seq_) {
                    off += whole;
                    continue;
                }
            }
            if (ct_decode(p + off, n - off, e, &kind, &used, &err, &why) != Status::ok) {
                ++bad_msgs_;
                if (bad_msgs_ < 10) log(LogLevel::warn, "conntrack: %s", why);
                // Skip just this message when its own header is sound (the rest of the batch,
                // DESTROYs included, still counts); stop when even that cannot be trusted.
                if (whole == 0) return false;
                off += whole;
                continue;
            }
            off += used;
            const bool dumping = mode == Mode::dump || mode == Mode::resync;
            if (kind == CtMsgKind::error && err != 0 && dumping) dump_failed_ = true;
            if (kind == CtMsgKind::done || kind == CtMsgKind::error) return true;
            if (kind != CtMsgKind::entry) continue;
            if (offload_.note(e))
                log(LogLevel::warn, "conntrack: flow offload is active (connection %s): "
                    "offloaded packets reach the conntrack counters only if the flowtable has "
                    "the counter flag (nft list flowtables); without it they are not counted",
                    e.status & kIpsHwOffload ? "offloaded to hardware" : "in a flowtable");
            if (n_own_ > 0 && ct_is_own_export(e.orig, own_, size_t(n_own_))) {
                ++own_skipped_;
                continue;  // the agent's own export datagrams
            }
            // NAT session log (RFC 8158): every NATed NEW/DESTROY, before flow sampling (a
            // sampled NAT log could not answer "who had this address and port").
            // The tuple hash, once per message: the sampling decision and the slot key.
            const uint32_t th = ct_tuple_hash(e.orig);
            const bool keep = ct_sample_keep_hash(th, sample_rate_);
            const uint64_t key = slot_key(th, e.id);
            if (mode == Mode::event && e.nat())
                nat_events(e, key, keep, now, wall_offset_ms, sink);
            if (!keep) continue;  // not sampled: no state
            on_entry(e, key, mode, now, wall_offset_ms, sink);
        }
        return false;
    }

    // A NATed NEW or DESTROY event: its NAT event, and before a DESTROY the rebuilt create
    // when its NEW was lost (see the top of the file).
    void nat_events(const CtEntry& e, uint64_t key, bool keep, MonoMs now,
                    int64_t wall_offset_ms, SourceSink& sink)
    {
        Slot* s = keep && e.has_id ? find(key, false, now) : nullptr;
        const bool live = s && s->used == kLive;
        NatEvent nev;
        if (e.event == CtEvent::create && live && s->create_seen) return;  // rebuilt already
        if (e.event == CtEvent::destroy && keep && e.has_id && overruns_ != 0 &&
            (live ? !s->create_seen : (!s && untracked_ == 0)))
            recover_nat_create(e, wall_offset_ms, now, sink);
        if (ct_to_nat_event(e, wall_offset_ms, now, nev)) sink.on_nat_event(nev);
    }
    bool recover_nat_create(const CtEntry& e, int64_t wall_offset_ms, MonoMs now,
                            SourceSink& sink)
    {
        NatEvent nev;
        if (!ct_recovered_nat_create(e, start_wall_ns_, wall_offset_ms, now, nev)) return false;
        sink.on_nat_event(nev);
        ++nat_recovered_;
        return true;
    }

    void on_entry(const CtEntry& e, uint64_t key, Mode mode, MonoMs now, int64_t wall_offset_ms,
                  SourceSink& sink)
    {
        const bool forced = mode == Mode::forced;
        const bool dumping = mode == Mode::dump || mode == Mode::resync;
        const bool destroy = mode == Mode::event && e.event == CtEvent::destroy;
        Slot* slot = nullptr;
        if (e.has_id) {
            const bool insert = (dumping && !no_insert_) ||
                                (mode == Mode::event && e.event == CtEvent::create) ||
                                (destroy && dump_family_ != 0);  // tombstone, below
            slot = find(key, insert, now, destroy);
            if (!slot && destroy && dump_family_ != 0) no_insert_ = true;  // no tombstone room
            // Forced end: a connection no dump reached and whose NEW was lost gets its create
            // rebuilt, and a slot that keeps a NEW read after this dump from sending another.
            if (forced && !slot && e.nat() && untracked_ == 0 && overruns_ != 0 &&
                recover_nat_create(e, wall_offset_ms, now, sink)) {
                slot = find(key, true, now);
                if (slot) slot->create_seen = 1;
            }
        }
        if (slot && slot->used == kDead) {
            // Destroyed during this dump cycle: dump replies for it are stale. A NEW or DESTROY
            // on the same id is another connection that reused it: a NEW stays untracked
            // (counted: see nat_events()), a DESTROY exports that connection's whole lifetime;
            // the tombstone stays.
            if (mode == Mode::event && e.event == CtEvent::create) ++untracked_;
            if (!destroy) return;
            slot = nullptr;
        }
        if (slot && mode == Mode::event && e.event == CtEvent::create) slot->create_seen = 1;
        if (slot && (dumping || forced) && !slot->create_seen && e.nat() && overruns_ != 0 &&
            recover_nat_create(e, wall_offset_ms, now, sink))
            slot->create_seen = 1;  // else it predates us, or a NEW may still bring it
        if (mode == Mode::event && !destroy) return;  // NEW: tracked above, no counters
        if (dumping) {
            if (!slot) return;  // untracked: its DESTROY exports everything
            slot->missed = 0;   // alive: see end_dump_cycle()
            if (now - slot->last_export_ms < active_ms_) return;
        }
        CtRecordOptions o;
        o.both_directions = both_;
        o.with_mark = with_mark_;
        o.with_zone = with_zone_;
        o.now_ms = now;
        o.wall_offset_ms = wall_offset_ms;
        o.fallback_first_ms = slot ? slot->last_export_ms : now;
        // Both directions in one biflow record; the agent splits it for uniflow collectors.
        FlowRecord r;
        EndReason why_end = dumping ? EndReason::active_timeout : ct_end_reason(e, forced);
        const bool continued = slot && (slot->exported.orig_packets != 0 ||
                                        slot->exported.reply_packets != 0);
        if (ct_to_biflow(e, o, slot ? &slot->exported : nullptr, why_end, r)) {
            // Records after an earlier export start where that export ended.
            if (continued) r.first_ms = slot->last_export_ms;
            sink.on_record(r);
            ++cycle_records_;
        }
        if (!slot) return;
        if (destroy && dump_family_ != 0) {
            slot->used = kDead;  // tombstone until the dump cycle ends
            ++dead_;
        } else if (destroy) {
            erase(slot);
        } else if (forced) {
            // GET_CTRZERO zeroed the kernel's counters: a DESTROY read after this exports what
            // they count from zero. The slot stays for create_seen (above).
            slot->exported = CtExported{};
            slot->last_export_ms = now;
        } else {
            record_export(slot, e, now);
        }
    }

    // Per-connection export state for active-timeout deltas, keyed by slot_key(). Fixed
    // capacity (cfg.max_flows rounded up to a power of two), open addressing, linear probing,
    // backward-shift deletion. Full policy: a connection that finds no slot is not tracked
    // (counted in untracked_); it gets no active-timeout records, and its DESTROY exports its
    // whole lifetime's counters, so totals stay exact.
    static constexpr uint8_t kLive = 1, kDead = 2;  // Slot::used; 0 = free
    struct Slot {
        uint64_t key;    // slot_key()
        uint8_t used;
        uint8_t missed;  // complete dump cycles in a row that did not see it (point 5 above)
        uint8_t create_seen;  // NAT create sent, by its NEW or rebuilt (top of the file)
        MonoMs last_export_ms;
        CtExported exported;
    };
    // End of a dump cycle: tombstones go, and after a complete cycle so do the slots that two
    // complete cycles in a row did not see (point 5 above). Marking first and erasing in a
    // second pass: erase() shifts later slots back, at the wrap-around even one already
    // visited, which a single pass would count twice. The erasing pass looks at i again after
    // an erase; its test does not change what it looks at.
    void end_dump_cycle(bool complete)
    {
        dump_family_ = 0;
        resync_ = false;
        size_t stale = 0;
        if (complete && cycle_sweepable_) {
            for (size_t i = 0; i < cap_; ++i) {
                Slot& s = slots_[i];
                if (s.used == kLive && s.missed < 255 && ++s.missed >= 2) ++stale;
            }
        }
        const size_t stale_total = stale;
        for (size_t i = 0; (dead_ > 0 || stale > 0) && i < cap_;) {
            Slot& s = slots_[i];
            if (s.used == kDead) {
                erase(&s);
                --dead_;
            } else if (s.used == kLive && s.missed >= 2) {
                erase(&s);
                --stale;
            } else {
                ++i;
            }
        }
        if (stale_total > 0) {
            swept_ += stale_total;
            drops_.source_events += stale_total;
            log(LogLevel::info, "conntrack: %zu connection(s) ended without a DESTROY event "
                "(created without the event extension, e.g. before the agent started): slots "
                "freed, %llu so far", stale_total, static_cast<unsigned long long>(swept_));
        }
    }
    static bool to_ct_addr(const sockaddr_storage& ss, uint8_t out[16], uint16_t* port)
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
    // A connection's slot key: its conntrack id with the hash of its original tuple above it.
    // The id alone is a 32-bit hash (nf_ct_get_id()), so among tens of thousands of connections
    // two share one now and then (the birthday bound gives about 1 in 4 for the 50,000 of
    // e2e.conntrack_storm, which saw it): keyed by id alone they shared a slot, its exported
    // counters (a double count) and its NAT create state (a create lost, another sent twice).
    static uint64_t slot_key(uint32_t tuple_hash, uint32_t id)
    {
        return uint64_t(tuple_hash) << 32 | id;
    }
    static size_t home_of(uint64_t key, size_t mask)
    {
        return size_t((key * 0x9e3779b97f4a7c15ull) >> 32) & mask;
    }
    // tombstone: the insert is only a DESTROY's marker during a dump, not a connection to track.
    Slot* find(uint64_t key, bool insert, MonoMs now, bool tombstone = false)
    {
        if (!slots_) return nullptr;
        size_t mask = cap_ - 1;
        for (size_t i = home_of(key, mask), n = 0; n < cap_; i = (i + 1) & mask, ++n) {
            if (slots_[i].used && slots_[i].key == key) return &slots_[i];
            if (!slots_[i].used) {
                if (!insert) return nullptr;
                if (count_ + 1 > cap_ - cap_ / 8) break;  // keep probes short: 87.5 % max load
                slots_[i] = Slot{key, kLive, 0, 0, now, CtExported{}};
                ++count_;
                return &slots_[i];
            }
        }
        if (insert && !tombstone) ++untracked_;  // a tombstone that finds no room is not a connection
        return nullptr;
    }
    void erase(Slot* s)
    {
        size_t mask = cap_ - 1;
        size_t i = size_t(s - slots_);
        slots_[i].used = 0;
        --count_;
        for (size_t j = (i + 1) & mask; slots_[j].used; j = (j + 1) & mask) {
            size_t home = home_of(slots_[j].key, mask);
            // Move j back into the hole at i when its home is not in (i, j] cyclically.
            bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
            if (!between) {
                slots_[i] = slots_[j];
                slots_[j].used = 0;
                i = j;
            }
        }
    }
    static void record_export(Slot* s, const CtEntry& e, MonoMs now)
    {
        s->exported = CtExported{e.orig_ctr.packets, e.orig_ctr.octets, e.reply_ctr.packets,
                                 e.reply_ctr.octets};
        s->last_export_ms = now;
    }
    bool send_dump(int fd, uint8_t family, uint16_t msg)
    {
        uint8_t req[20] = {};
        uint32_t len = 20;
        uint16_t type = uint16_t(kNfnlSubsysCtnetlink << 8 | msg);
        uint16_t flags = NLM_F_REQUEST | NLM_F_DUMP;
        uint32_t seq = ++seq_;
        std::memcpy(req, &len, 4);
        std::memcpy(req + 4, &type, 2);
        std::memcpy(req + 6, &flags, 2);
        std::memcpy(req + 8, &seq, 4);
        req[16] = family;
        return ::send(fd, req, sizeof(req), 0) == ssize_t(sizeof(req));
    }

    Slot* slots_ = nullptr;
    size_t cap_ = 0;
    size_t count_ = 0;
    uint64_t untracked_ = 0;
    uint32_t seq_ = 0;
    int dump_fd_ = -1;
    int dump_family_ = 0;     // 0 idle, 2 = AF_INET dump running, 10 = AF_INET6 dump running
    MonoMs next_dump_ms_ = 0;
    MonoMs active_ms_ = 60000;
    uint32_t sample_rate_ = 1;
    int ev_fd_ = -1;
    bool both_ = true;
    bool with_mark_ = false, with_zone_ = false;
    bool resync_pending_ = false;  // an overrun happened since the last resync dump started
    bool resync_ = false;          // the running dump cycle is a resync
    bool no_insert_ = false;       // a tombstone found no room: this cycle inserts no slots
    bool dump_failed_ = false;     // the running cycle got an NLMSG_ERROR: it is not complete
    bool cycle_sweepable_ = false; // the running cycle started kSweepHoldMs after any overrun
    MonoMs last_overrun_ms_ = 0;
    static constexpr MonoMs kSweepHoldMs = 30000;  // point 5 at the top
    MonoMs last_resync_ms_ = 0;
    static constexpr MonoMs kResyncGapMs = 5000;   // on_tick()
    size_t dead_ = 0;              // tombstones in the table
    uint64_t resyncs_ = 0, cycle_records_ = 0, own_skipped_ = 0;
    uint64_t overruns_ = 0;        // ENOBUFS on the event socket
    uint64_t swept_ = 0;           // slots freed without a DESTROY (point 5 above)
    uint64_t nat_recovered_ = 0;   // NAT create events rebuilt (top of the file)
    uint64_t start_wall_ns_ = 0;   // CLOCK_REALTIME when the listener started
    int64_t wall_offset_ms_ = 0;   // walk(): read at each wake-up
    CtOffloadNotice offload_;
    CtOwnSocket own_[kMaxCollectors];
    int n_own_ = 0;
    uint64_t bad_msgs_ = 0;
    DropCounters drops_;
    alignas(8) uint8_t buf_[64 * 1024];
};

} // namespace

Source* new_conntrack_source() { return new (std::nothrow) ConntrackSource(); }

} // namespace fa
