// SPDX-License-Identifier: GPL-2.0-only
// Conntrack source on raw ctnetlink (NETLINK_NETFILTER); decoding is the pure ct_decode().
//
// Loss handling: the event socket sets NETLINK_BROADCAST_ERROR, which makes the kernel's
// conntrack event cache treat a failed DESTROY delivery as an error and re-deliver it later
// (nf_conntrack_ecache "reliable event delivery"), so a DESTROY (which carries the final
// counters) is not lost to ENOBUFS. NEW/UPDATE events may be lost; each ENOBUFS is counted
// (drops().source_events) and triggers a resync dump on the next tick.
#include "conntrack_source.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>

#include "clock_linux.h"
#include "core/log.h"
#include "source/conntrack_decode.h"

namespace fa {
namespace {

constexpr int kDefaultRcvBuf = 8 << 20;  // bytes; ~1.28 KB per queued event (PLATFORM-NOTES §3)
constexpr unsigned kGroupNew = 1u << (1 - 1);      // NFNLGRP_CONNTRACK_NEW = 1
constexpr unsigned kGroupDestroy = 1u << (3 - 1);  // NFNLGRP_CONNTRACK_DESTROY = 3

// Turns a per-netns sysctl on; returns 1 when it changed it, 0 when already on, <0 on error.
int ensure_sysctl(const char* path)
{
    int fd = ::open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return -errno;
    char c = 0;
    int ret = 0;
    if (::read(fd, &c, 1) != 1) ret = -EIO;
    else if (c == '0') {
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
        both_ = true;
        active_ms_ = MonoMs(cfg.active_timeout_s) * 1000u;
        sample_rate_ = cfg.sampling_rate;  // flow sampling by tuple hash (SamplingKind::flow)
        cap_ = 1024;
        while (cap_ < size_t(cfg.max_flows) && cap_ < (size_t(1) << 24)) cap_ <<= 1;
        slots_ = new (std::nothrow) Slot[cap_]();  // the one allocation, at start-up
        if (!slots_) {
            log(LogLevel::error, "conntrack: cannot allocate %zu table slots", cap_);
            return -ENOMEM;
        }
        dump_fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_NETFILTER);
        if (dump_fd_ < 0) {
            int e = -errno;
            log(LogLevel::error, "conntrack: dump socket: %s", strerror(-e));
            return e;
        }
        static const char* const kSysctls[] = {"/proc/sys/net/netfilter/nf_conntrack_acct",
                                               "/proc/sys/net/netfilter/nf_conntrack_timestamp"};
        for (const char* p : kSysctls) {
            int r = ensure_sysctl(p);
            if (r == 1) log(LogLevel::info, "conntrack: turned on %s (was 0)", p);
            else if (r < 0)
                log(LogLevel::warn, "conntrack: cannot read/enable %s: %s", p, strerror(-r));
        }
        ev_fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_NETFILTER);
        if (ev_fd_ < 0) {
            int e = -errno;
            log(LogLevel::error, "conntrack: netlink socket: %s (is nf_conntrack_netlink loaded?)",
                strerror(-e));
            return e;
        }
        int sz = kDefaultRcvBuf;
        if (::setsockopt(ev_fd_, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
            (void)::setsockopt(ev_fd_, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
        int one = 1;
        (void)::setsockopt(ev_fd_, SOL_NETLINK, NETLINK_BROADCAST_ERROR, &one, sizeof(one));
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

    int fd() const override { return ev_fd_; }

    void on_readable(MonoMs now, SourceSink& sink) override
    {
        for (;;) {
            ssize_t n = ::recv(ev_fd_, buf_, sizeof(buf_), MSG_DONTWAIT);
            if (n < 0) {
                if (errno == ENOBUFS) {
                    ++drops_.source_events;
                    resync_ = true;
                    continue;
                }
                return;  // EAGAIN or a transient error: wait for the next readiness
            }
            walk(buf_, size_t(n), now, sink, Mode::event);
        }
    }

    void on_tick(MonoMs now, SourceSink& sink) override
    {
        if (resync_) {
            resync_ = false;
            log(LogLevel::warn, "conntrack: event socket overflowed (%llu times so far); "
                "DESTROY events are re-delivered by the kernel (NETLINK_BROADCAST_ERROR)",
                static_cast<unsigned long long>(drops_.source_events));
        }
        // Periodic dump for active-timeout deltas: started every active_timeout / 2 so that no
        // tracked connection waits more than 1.5 active timeouts; read at most kBudget
        // messages per tick so one tick never blocks the loop.
        if (dump_family_ == 0 && now >= next_dump_ms_ && dump_fd_ >= 0) {
            next_dump_ms_ = now + (active_ms_ / 2 > 0 ? active_ms_ / 2 : 1);
            if (send_dump(dump_fd_, 2, kCtMsgGet)) dump_family_ = 2;
        }
        constexpr int kBudget = 64;  // recv() calls per tick (each up to 64 KiB of messages)
        for (int i = 0; i < kBudget && dump_family_ != 0; ++i) {
            ssize_t n = ::recv(dump_fd_, buf_, sizeof(buf_), MSG_DONTWAIT);
            if (n <= 0) {
                if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) dump_family_ = 0;
                return;
            }
            if (walk(buf_, size_t(n), now, sink, Mode::dump)) {
                if (dump_family_ == 2 && send_dump(dump_fd_, 10, kCtMsgGet)) dump_family_ = 10;
                else dump_family_ = 0;
            }
        }
    }

    void stop(MonoMs now, SourceSink& sink) override
    {
        // Forced end: dump every live connection and export its counters.
        int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
        if (fd < 0) {
            log(LogLevel::error, "conntrack: final dump socket: %s", strerror(errno));
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
        if (ev_fd_ >= 0) ::close(ev_fd_);
        ev_fd_ = -1;
    }

    DropCounters drops() const override { return drops_; }

    void describe(char* out, int len) const override
    {
        if (len > 0) std::snprintf(out, size_t(len), "conntrack");
    }

private:
    // Returns true at NLMSG_DONE or an error (end of a dump).
    enum class Mode : uint8_t { event, dump, forced };
    bool walk(const uint8_t* p, size_t n, MonoMs now, SourceSink& sink, Mode mode)
    {
        // Kernel timestamps are wall-clock ns; they become monotonic ms with the offset read
        // now (once per batch: it follows NTP steps), so the exporter's wall_of() is exact.
        const int64_t wall_offset_ms = LinuxClock().wall_offset_ms();
        size_t off = 0;
        while (off < n) {
            CtEntry e;
            CtMsgKind kind;
            size_t used = 0;
            int err = 0;
            const char* why = nullptr;
            if (ct_decode(p + off, n - off, e, &kind, &used, &err, &why) != Status::ok) {
                ++bad_msgs_;
                if (bad_msgs_ < 10) log(LogLevel::warn, "conntrack: %s", why);
                return false;
            }
            off += used;
            if (kind == CtMsgKind::done || kind == CtMsgKind::error) return true;
            if (kind != CtMsgKind::entry) continue;
            if (e.offloaded() && !warned_offload_) {
                warned_offload_ = true;
                log(LogLevel::warn, "conntrack: flow offload is active; offloaded packets "
                    "bypass the conntrack counters and are not counted");
            }
            // NAT session log (RFC 8158): every NATed NEW/DESTROY, before flow sampling (a
            // sampled NAT log could not answer "who had this address and port").
            NatEvent nev;
            if (mode == Mode::event && ct_to_nat_event(e, wall_offset_ms, now, nev))
                sink.on_nat_event(nev);
            if (!ct_sample_keep(e.orig, sample_rate_)) continue;  // not sampled: no state
            bool forced = mode == Mode::forced;
            bool destroy = mode == Mode::event && e.event == CtEvent::destroy;
            Slot* slot = nullptr;
            if (e.has_id) slot = find(e.id, mode == Mode::dump || e.event == CtEvent::create, now);
            if (mode == Mode::event && !destroy) continue;  // NEW: tracked above, no counters
            if (mode == Mode::dump && (!slot || now - slot->last_export_ms < active_ms_))
                continue;
            CtRecordOptions o;
            o.both_directions = both_;
            o.now_ms = now;
            o.wall_offset_ms = wall_offset_ms;
            o.fallback_first_ms = slot ? slot->last_export_ms : now;
            // Both directions in one biflow record; the agent splits it for uniflow collectors.
            FlowRecord r;
            EndReason why_end = mode == Mode::dump ? EndReason::active_timeout
                                                   : ct_end_reason(e, forced);
            if (ct_to_biflow(e, o, slot ? &slot->exported : nullptr, why_end, r)) {
                // Active-timeout records start where the previous export ended.
                if (slot && (mode == Mode::dump || slot->exported.orig_packets != 0 ||
                             slot->exported.reply_packets != 0))
                    r.first_ms = slot->last_export_ms;
                sink.on_record(r);
            }
            if (slot) {
                if (destroy || forced) erase(slot);
                else record_export(slot, e, now);
            }
        }
        return false;
    }

    // Per-connection export state for active-timeout deltas, keyed by conntrack id. Fixed
    // capacity (cfg.max_flows rounded up to a power of two), open addressing, linear probing,
    // backward-shift deletion. Full policy: a connection that finds no slot is not tracked
    // (counted in untracked_); it gets no active-timeout records, and its DESTROY exports its
    // whole lifetime's counters, so totals stay exact.
    struct Slot {
        uint32_t id;
        uint8_t used;
        MonoMs last_export_ms;
        CtExported exported;
    };
    Slot* find(uint32_t id, bool insert, MonoMs now)
    {
        if (!slots_) return nullptr;
        size_t mask = cap_ - 1;
        for (size_t i = (id * 2654435761u) & mask, n = 0; n < cap_; i = (i + 1) & mask, ++n) {
            if (slots_[i].used && slots_[i].id == id) return &slots_[i];
            if (!slots_[i].used) {
                if (!insert) return nullptr;
                if (count_ + 1 > cap_ - cap_ / 8) break;  // keep probes short: 87.5 % max load
                slots_[i] = Slot{id, 1, now, CtExported{}};
                ++count_;
                return &slots_[i];
            }
        }
        if (insert) ++untracked_;
        return nullptr;
    }
    void erase(Slot* s)
    {
        size_t mask = cap_ - 1;
        size_t i = size_t(s - slots_);
        slots_[i].used = 0;
        --count_;
        for (size_t j = (i + 1) & mask; slots_[j].used; j = (j + 1) & mask) {
            size_t home = (slots_[j].id * 2654435761u) & mask;
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
    bool resync_ = false;
    bool warned_offload_ = false;
    uint64_t bad_msgs_ = 0;
    DropCounters drops_;
    alignas(8) uint8_t buf_[64 * 1024];
};

} // namespace

Source* new_conntrack_source() { return new (std::nothrow) ConntrackSource(); }

} // namespace fa
