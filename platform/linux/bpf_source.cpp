// SPDX-License-Identifier: GPL-2.0-only
#include "bpf_source.h"

#include <net/if.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "bpf_loader.h"
#include "core/log.h"
#include "privileges.h"
#include "source/bpf_decode.h"

namespace fa {

namespace {

constexpr MonoMs kFragAgeEveryMs = 10000;
constexpr uint32_t kFragMaxAgeMs = 60000;  // RFC 791 / Linux ipfrag_time 30-60 s
constexpr MonoMs kStatsLogEveryMs = 60000;
// The kernel maps are drained once a second; in between, every tick only rewrites the time the
// programs stamp packets with, so flow times keep the tick's resolution. A drain walks every
// bucket of fa_flows (and costs an RCU grace period), which on a small router CPU is the
// agent's main idle cost; the map only has to hold the flows of one interval.
constexpr MonoMs kDrainEveryMs = 1000;

// BpfSource's plain state, all zero at the start (one value-initialisation).
struct BpfSourceState {
    char ifnames_[kBpfMaxSlots][16];
    // The not-IP warning, per slot: IP packets metered and not-IP packets counted since the
    // last verdict, the not-IP counter last read, warned for the current attachment.
    uint64_t ip_packets_[kBpfMaxSlots + 1];
    uint64_t not_ip_window_[kBpfMaxSlots + 1];
    uint64_t not_ip_seen_[kBpfMaxSlots + 1];
    bool not_ip_warned_[kBpfMaxSlots + 1];
    int nif_;
    bool drain_error_logged_;
    MonoMs last_frag_age_;
    MonoMs last_drain_;
    MonoMs last_stats_log_;
    char desc_[256];
};

class BpfSource final : public Source, BpfSourceState {
public:
    explicit BpfSource(const BpfSourceOptions& opt) : BpfSourceState(), sopt_(opt) {}

    int start(const Config& cfg) override { return start_with(cfg, nullptr); }

    int start_replacing(const Config& cfg, Source& old) override
    {
        BpfAttachments* oatt = old.bpf_attachments();
        const BpfFlowObject* oobj = old.bpf_object();
        if (oatt == nullptr || oobj == nullptr || !oobj->loaded()) return 1;
        return start_with(cfg, oatt);
    }

    BpfAttachments* bpf_attachments() override { return &att_; }
    const BpfFlowObject* bpf_object() const override { return &obj_; }

    // old_att: a running source's attachments, whose interfaces this one takes over in place.
    int start_with(const Config& cfg, BpfAttachments* old_att)
    {
        if (cfg.source != SourceKind::xdp && cfg.source != SourceKind::tc) {
            FA_ERROR("bpf: source must be xdp or tc");
            return -EINVAL;
        }
        if (cfg.interface_count <= 0) {
            FA_ERROR("bpf: [agent] interfaces is empty: name at least one interface");
            return -EINVAL;
        }
        int err = check_bpf_privileges();
        if (err) return err;
        xdp_ = cfg.source == SourceKind::xdp;
        BpfAttachOptions aopt;
        aopt.xdp_link = sopt_.xdp_link;
        aopt.tcx = sopt_.tcx;
        run_dir(cfg.control_socket, aopt.lock_dir, sizeof(aopt.lock_dir));
        att_.set_options(aopt);
        BpfLoadOptions opt;
        opt.max_flows = cfg.max_flows;
        opt.sample_rate = cfg.sampling_rate;
        opt.sample_mode = cfg.sampling_mode == SamplingMode::deterministic
                              ? FA_SAMPLE_DETERMINISTIC
                              : FA_SAMPLE_RANDOM;
        opt.load_xdp = xdp_;
        opt.load_tc = !xdp_;
        opt.object_path = sopt_.object_path;
        err = obj_.load(opt);
        if (err) return err;
        nif_ = 0;
        int replaced = 0, waiting = 0;
        for (int i = 0; i < cfg.interface_count && i < int(kBpfMaxSlots); ++i) {
            const char* ifname = cfg.interfaces[i];
            snprintf(ifnames_[nif_++], sizeof(ifnames_[0]), "%s", ifname);
            const uint32_t slot = uint32_t(i) + 1;
            err = old_att != nullptr ? att_.replace(*old_att, obj_, ifname, slot) : 1;
            if (err == 0) ++replaced;
            if (err == 1) err = att_.attach(obj_, ifname, slot, xdp_);
            if (err == -ENODEV) {
                // Router boot order: the link monitor attaches it when it appears (link_new).
                FA_WARN("bpf: waiting for interface %s (it does not exist yet)", ifname);
                ++waiting;
                continue;
            }
            if (err && old_att != nullptr) return err;  // the caller stops this (drains it)
            if (err) {
                att_.detach_all();
                obj_.close();
                return err;
            }
        }
        if (old_att != nullptr)
            FA_INFO("bpf: reload: %d interface(s) handed over in place, %d attached afresh, %d "
                    "left to detach after the old maps' final drain",
                    replaced, att_.count() - replaced, old_att->count());
        int n = 0;
        for (int i = 0; i < nif_ && n < int(sizeof(desc_)) - 1; ++i)
            n += snprintf(desc_ + n, sizeof(desc_) - size_t(n), "%s%s", i ? " " : "",
                          ifnames_[i]);
        FA_INFO("bpf: %s source on %s, max_flows %u, sampling 1 in %u (%s)%s",
                xdp_ ? "xdp" : "tc", desc_, cfg.max_flows,
                cfg.sampling_rate ? cfg.sampling_rate : 1,
                opt.sample_mode == FA_SAMPLE_DETERMINISTIC ? "deterministic" : "random",
                waiting ? ", waiting for some interfaces" : "");
        return 0;
    }

    int link_gone(uint32_t ifindex, const char* ifname, SourceSink& sink) override
    {
        if (!obj_.loaded()) return -1;
        const int slot = att_.find_ifindex(ifindex);
        if (slot < 0) return -1;
        char name[16];
        snprintf(name, sizeof(name), "%s", att_.name(uint32_t(slot)));
        att_.detach(uint32_t(slot));
        not_ip_warned_[slot] = false;  // a new attachment may warn again
        // Detached: no new runs on it. Two drains flip through both generations, so every
        // entry counted there reaches the sink now (the other interfaces' entries with them).
        drain(sink);
        drain(sink);
        obj_.clear_slot(ifindex);
        (void)ifname;  // the event's name; the slot's is the one configured
        FA_INFO("bpf: interface %s (ifindex %u) is gone: detached, its flows drained", name,
                ifindex);
        return slot;
    }

    int link_new(const char* ifname, SourceSink& sink) override
    {
        if (!obj_.loaded()) return 0;
        int slot = 0;
        for (int i = 0; i < nif_ && slot == 0; ++i)
            if (std::strcmp(ifnames_[i], ifname) == 0) slot = i + 1;
        if (slot == 0) return 0;
        if (att_.attached(uint32_t(slot))) {
            // Attached under this name already: nothing to do, unless the name now belongs to
            // another interface (the old one went away and its event has not come yet).
            const uint32_t was = att_.ifindex_of_slot(uint32_t(slot));
            const unsigned now = if_nametoindex(ifname);
            if (now == 0 || now == was) return 0;
            link_gone(was, ifname, sink);
        }
        int err = att_.attach(obj_, ifname, uint32_t(slot), xdp_);
        if (err == -ENODEV) return 0;  // gone again before we got to it
        if (err) return err;
        return slot;
    }

    void on_tick(MonoMs now, SourceSink& sink) override
    {
        if (now - last_drain_ >= kDrainEveryMs) {
            last_drain_ = now;
            drain(sink);
            refresh_stats();  // with the drain: one read of the per-CPU counters a second
        } else {
            obj_.stamp_time(now);
        }
        if (now - last_frag_age_ >= kFragAgeEveryMs) {
            last_frag_age_ = now;
            obj_.age_frags(now, kFragMaxAgeMs);
        }
        if (now - last_stats_log_ >= kStatsLogEveryMs) {
            last_stats_log_ = now;
            log_stats(false);
        }
    }

    void stop(MonoMs now, SourceSink& sink) override
    {
        (void)now;
        if (!obj_.loaded()) return;  // start failed: nothing attached, nothing to drain
        att_.detach_all();
        // Detached: no new runs start. Two drains flip through both generations, so entries
        // written under either one (up to the last run before detach) are delivered.
        drain(sink);
        drain(sink);
        refresh_stats();
        log_stats(true);
        obj_.close();
    }

    DropCounters drops() const override { return drops_; }

    void describe(char* buf, int len) const override
    {
        if (len > 0) snprintf(buf, size_t(len), "%s", desc_);
    }

    void status_json(char* buf, int len) const override
    {
        int n = snprintf(buf, size_t(len), "\"interfaces\":[");
        bool first = true;
        for (uint32_t s = 1; s <= kBpfMaxSlots && n < len; ++s) {
            if (!att_.attached(s)) continue;
            n += snprintf(buf + n, size_t(len - n), "%s{\"name\":\"%s\",\"ifindex\":%u,"
                          "\"mode\":\"%s\",\"link\":%s,\"l3\":%s}", first ? "" : ",",
                          att_.name(s), att_.ifindex_of_slot(s), att_.mode(s),
                          att_.linked(s) ? "true" : "false", att_.l3(s) ? "true" : "false");
            first = false;
        }
        // The programs count per reason over all interfaces (per-CPU array, one per reason).
        if (n < len) n += snprintf(buf + n, size_t(len - n), "],\"packets_by_reason\":{");
        for (uint32_t r = 0; r < FA_R_MAX && n < len; ++r) {
            const fa_stat t = stats_.total(r);
            n += snprintf(buf + n, size_t(len - n), "%s\"%s\":{\"packets\":%llu,\"bytes\":%llu}",
                          r ? "," : "", bpf_reason_name(r), (unsigned long long)t.packets,
                          (unsigned long long)t.bytes);
        }
        if (n < len) n += snprintf(buf + n, size_t(len - n), "},\"decode_errors\":%llu",
                                   (unsigned long long)obj_.decode_errors());
        if (n >= len && len > 0) buf[0] = 0;  // truncated JSON is worse than none
    }

private:
    // Forwards a drain's deltas and counts the packets metered per slot (for the not-IP
    // warning).
    struct CountingSink final : SourceSink {
        SourceSink* next = nullptr;
        const BpfAttachments* att = nullptr;
        uint64_t* ip = nullptr;  // per slot
        void count(const FlowDelta& d)
        {
            const int s = att->find_ifindex(d.key.in_if != 0 ? d.key.in_if : d.key.out_if);
            if (s > 0) ip[s] += d.packets;
        }
        void on_delta(const FlowDelta& d) override
        {
            count(d);
            next->on_delta(d);
        }
        void on_deltas(const FlowDelta* d, size_t n) override
        {
            for (size_t i = 0; i < n; ++i) count(d[i]);
            next->on_deltas(d, n);
        }
        void on_record(const FlowRecord& r) override { next->on_record(r); }
    };

    void drain(SourceSink& sink)
    {
        CountingSink counting;
        counting.next = &sink;
        counting.att = &att_;
        counting.ip = ip_packets_;
        int r = obj_.drain(counting);
        if (r < 0 && !drain_error_logged_) {
            drain_error_logged_ = true;
            FA_ERROR("bpf: drain failed: %s", std::strerror(-r));
        }
    }

    void refresh_stats()
    {
        if (obj_.read_stats(stats_) != 0) return;
        DropCounters d;
        for (uint32_t r = 0; r < FA_R_MAX; ++r) {
            if (!bpf_reason_is_loss(r)) continue;
            const fa_stat t = stats_.total(r);
            d.source_packets += t.packets;
            d.source_octets += t.bytes;
        }
        drops_ = d;
        check_not_ip();
    }

    // A device where nearly all packets are not IP (the not_ip counters would hide it): a
    // warning, once per attachment, when 95% of at least 1,000 packets were not IP.
    void check_not_ip()
    {
        for (uint32_t s = 1; s <= kBpfMaxSlots; ++s) {
            const uint64_t not_ip = stats_.reason[s][FA_R_NOT_IP].packets +
                                    stats_.reason[s][FA_R_PPP_NOT_IP].packets;
            const uint64_t fresh = not_ip - not_ip_seen_[s];
            not_ip_seen_[s] = not_ip;
            if (!att_.attached(s) || not_ip_warned_[s]) {
                ip_packets_[s] = not_ip_window_[s] = 0;
                continue;
            }
            not_ip_window_[s] += fresh;
            const uint64_t all = not_ip_window_[s] + ip_packets_[s];
            if (all < 1000) continue;
            if (not_ip_window_[s] * 100 >= all * 95) {
                not_ip_warned_[s] = true;
                FA_WARN("bpf: interface %s: %llu of %llu packets were not IP (%s entry): is it "
                        "the interface meant?",
                        att_.name(s), (unsigned long long)not_ip_window_[s],
                        (unsigned long long)all, att_.l3(s) ? "IP" : "Ethernet");
            }
            ip_packets_[s] = not_ip_window_[s] = 0;
        }
    }

    // One line with every non-zero per-reason counter (at most once a minute, and at exit).
    void log_stats(bool final)
    {
        char line[768];
        int n = snprintf(line, sizeof(line), "bpf: counters%s:", final ? " (final)" : "");
        bool any = false;
        for (uint32_t r = 0; r < FA_R_MAX && n < int(sizeof(line)) - 1; ++r) {
            const fa_stat t = stats_.total(r);
            if (t.packets == 0) continue;
            any = true;
            n += snprintf(line + n, sizeof(line) - size_t(n), " %s=%llu/%lluB",
                          bpf_reason_name(r), (unsigned long long)t.packets,
                          (unsigned long long)t.bytes);
        }
        if (obj_.decode_errors() != 0 && n < int(sizeof(line)) - 1)
            snprintf(line + n, sizeof(line) - size_t(n), " decode_errors=%llu",
                     (unsigned long long)obj_.decode_errors());
        if (any || final || obj_.decode_errors() != 0) FA_INFO("%s", line);
    }

    // The run directory (owner locks): the directory of the control socket's path.
    static void run_dir(const char* sock, char* out, size_t len)
    {
        const char* slash = std::strrchr(sock, '/');
        size_t n = slash != nullptr ? size_t(slash - sock) : 0;
        if (n == 0 || n >= len) {
            snprintf(out, len, "%s", slash == sock ? "/" : ".");
            return;
        }
        std::memcpy(out, sock, n);
        out[n] = 0;
    }

    BpfSourceOptions sopt_;
    BpfFlowObject obj_;
    BpfAttachments att_;
    BpfStats stats_;
    DropCounters drops_;
    bool xdp_ = true;
};

} // namespace

BpfSourceOptions bpf_source_options_from_env()
{
    BpfSourceOptions o;
    o.tcx = std::getenv("FA_BPF_NO_TCX") == nullptr;
    o.xdp_link = std::getenv("FA_BPF_NO_XDP_LINK") == nullptr;
    o.object_path = std::getenv("FA_BPF_OBJECT");
    return o;
}

std::unique_ptr<Source> make_bpf_source(const BpfSourceOptions& opt)
{
    return std::unique_ptr<Source>(new BpfSource(opt));
}

std::unique_ptr<Source> make_bpf_source() { return make_bpf_source(bpf_source_options_from_env()); }

} // namespace fa
