// SPDX-License-Identifier: GPL-2.0-only
// Attaching the programs to interfaces, replacing them in place on reload, detaching; owning
// exactly our programs (BPF links where the kernel has them, an owner lock per interface,
// expected-program checks on every detach).
#include "bpf_loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/log.h"

// Newer than some libc headers (kernel values).
#ifndef ARPHRD_RAWIP
#define ARPHRD_RAWIP 519
#endif
#ifndef ARPHRD_IP6GRE
#define ARPHRD_IP6GRE 823
#endif

namespace fa {

namespace {

const uint32_t kTcHandle = 0xfa;    // our filter's handle and priority on clsact
const uint32_t kTcPriority = 0xfa;
const uint32_t kXdpModes[2] = {XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE};
const bpf_tc_attach_point kTcPoints[2] = {BPF_TC_INGRESS, BPF_TC_EGRESS};
const char* const kTcPointNames[2] = {"ingress", "egress"};

// tcx (kernel 6.6): BPF links on the device's ingress/egress, no qdisc, no classifier chain
// walk. The numbers are the kernel's enum bpf_attach_type values (newer than Debian 12's
// headers).
constexpr int kTcxIngress = 46;  // BPF_TCX_INGRESS
constexpr int kTcxEgress = 47;   // BPF_TCX_EGRESS

// Program names of every flowagent object (L2 and L3 entries), for telling a stale program
// of ours that no owner record names (left by a version without records) from a foreign one.
const char* const kOurNames[] = {FA_PROG_XDP, FA_PROG_TC_IN, FA_PROG_TC_EG,
                                 "fa_xdp_l3", "fa_tc_in_l3", "fa_tc_eg_l3"};

// Name of the program with this id. Needs CAP_SYS_ADMIN (BPF_PROG_GET_FD_BY_ID), which the
// agent drops after start: 0 or a negative errno.
int prog_name(uint32_t id, char* out, size_t len)
{
    out[0] = 0;
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) return -errno;
    bpf_prog_info info;
    std::memset(&info, 0, sizeof(info));
    uint32_t ilen = sizeof(info);
    int err = bpf_obj_get_info_by_fd(fd, &info, &ilen) == 0 ? 0 : -errno;
    if (err == 0) snprintf(out, len, "%s", info.name);
    ::close(fd);
    return err;
}

uint32_t prog_id_of(int fd)
{
    bpf_prog_info info;
    std::memset(&info, 0, sizeof(info));
    uint32_t ilen = sizeof(info);
    return bpf_obj_get_info_by_fd(fd, &info, &ilen) == 0 ? info.id : 0;
}

// ifindex and ARPHRD type of an interface of this network namespace. -ENODEV: none by that name.
int link_info(const char* ifname, uint32_t* ifindex, uint16_t* type)
{
    if (std::strlen(ifname) >= IFNAMSIZ) return -EINVAL;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -errno;
    ifreq ifr;
    std::memset(&ifr, 0, sizeof(ifr));
    std::memcpy(ifr.ifr_name, ifname, std::strlen(ifname));
    int err = 0;
    if (ioctl(s, SIOCGIFINDEX, &ifr) != 0) err = -errno;
    else *ifindex = uint32_t(ifr.ifr_ifindex);
    if (err == 0 && ioctl(s, SIOCGIFHWADDR, &ifr) != 0) err = -errno;
    else if (err == 0) *type = ifr.ifr_hwaddr.sa_family;
    ::close(s);
    return err;
}

// This boot's id: program ids are unique only within one boot.
const char* boot_id()
{
    static char id[40];
    if (id[0] == 0) {
        FILE* f = std::fopen("/proc/sys/kernel/random/boot_id", "re");
        if (f != nullptr) {
            if (std::fscanf(f, "%39s", id) != 1) id[0] = 0;
            std::fclose(f);
        }
        if (id[0] == 0) snprintf(id, sizeof(id), "unknown");
    }
    return id;
}

} // namespace

LinkKind link_kind_for_arphrd(uint16_t arphrd)
{
    switch (arphrd) {
    case ARPHRD_ETHER:
    case ARPHRD_LOOPBACK:  // XDP and tc see an Ethernet header of zeros with the IP type
        return LinkKind::ether;
    case ARPHRD_PPP:       // pppoe-wan, pppN: the PPP header is gone before XDP/tc
    case ARPHRD_NONE:      // tun, WireGuard
    case ARPHRD_TUNNEL:    // ipip
    case ARPHRD_TUNNEL6:   // ip6tnl
    case ARPHRD_SIT:       // 6in4
    case ARPHRD_IPGRE:
    case ARPHRD_IP6GRE:
    case ARPHRD_RAWIP:
        return LinkKind::l3;
    default:
        return LinkKind::unsupported;
    }
}

const char* arphrd_name(uint16_t arphrd)
{
    switch (arphrd) {
    case ARPHRD_ETHER: return "ether";
    case ARPHRD_LOOPBACK: return "loopback";
    case ARPHRD_PPP: return "ppp";
    case ARPHRD_NONE: return "none";
    case ARPHRD_TUNNEL: return "ipip";
    case ARPHRD_TUNNEL6: return "tunnel6";
    case ARPHRD_SIT: return "sit";
    case ARPHRD_IPGRE: return "gre";
    case ARPHRD_IP6GRE: return "ip6gre";
    case ARPHRD_RAWIP: return "rawip";
    case ARPHRD_IEEE802: return "ieee802";
    case ARPHRD_IEEE80211_RADIOTAP: return "ieee802.11/radiotap";
    case ARPHRD_INFINIBAND: return "infiniband";
    case ARPHRD_CAN: return "can";
    case ARPHRD_IEEE802154: return "ieee802.15.4";
    default: return "unknown";
    }
}

// What the owner lock file says: the last owner's pid and the ids of the programs it attached
// (written before it attached them), valid only for this boot.
struct BpfAttachments::Record {
    long pid = 0;
    bool ids_valid = false;  // same boot
    uint32_t ids[2] = {};
    bool names(uint32_t id) const { return ids_valid && id != 0 && (id == ids[0] || id == ids[1]); }
};

namespace {

void read_record(int fd, long* pid, char* boot, size_t blen, uint32_t* ids)
{
    char buf[160];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0) return;
    buf[n] = 0;
    char b[40] = {};
    unsigned a = 0, c = 0;
    long p = 0;
    int got = std::sscanf(buf, "flowagent pid %ld boot %39s ids %u %u", &p, b, &a, &c);
    if (got >= 1) *pid = p;
    if (got == 4) {
        snprintf(boot, blen, "%s", b);
        ids[0] = a;
        ids[1] = c;
    }
}

// Who owns the program with this id on a hook we are about to take. `name` gets its name,
// or "program" when it cannot be read.
enum class Owner : uint8_t { stale_ours, foreign, unknown };

template <typename R>
Owner owner_of(uint32_t id, const R& rec, char* name, size_t len)
{
    int err = prog_name(id, name, len);
    if (err == 0) {
        for (const char* ours : kOurNames)
            if (std::strcmp(name, ours) == 0) return Owner::stale_ours;
        return rec.names(id) ? Owner::stale_ours : Owner::foreign;
    }
    snprintf(name, len, "program");
    return rec.names(id) ? Owner::stale_ours : Owner::unknown;
}

void log_not_ours(Owner o, const char* ifname, const char* hook, const char* name, uint32_t id)
{
    if (o == Owner::foreign)
        FA_ERROR("bpf: %s already has %s program '%s' (id %u), not ours: remove it%s", ifname,
                 hook, name, id, std::strcmp(hook, "XDP") == 0 ? " or use source = tc" : "");
    else
        FA_ERROR("bpf: %s already has %s %s (id %u), which no owner record names as ours, and "
                 "its name cannot be read without CAP_SYS_ADMIN (dropped after start): not "
                 "replacing it; restart flowagent to replace a stale program of ours, or remove "
                 "it",
                 ifname, hook, name, id);
}

} // namespace

// The owner lock: <lock_dir>/bpf-<ifname>.lock, flock()ed for as long as we hold the hook.
// A live owner is a running agent (refuse); a file nobody holds was left by a dead one, and
// its record names the programs it attached (stale, replaced).
int BpfAttachments::lock(Item& it, Record& rec)
{
    if (opt_.lock_dir[0] == 0) return 0;
    if (mkdir(opt_.lock_dir, 0700) != 0 && errno != EEXIST) {
        int err = errno;
        FA_ERROR("bpf: cannot create the run directory %s for the interface owner locks: %s",
                 opt_.lock_dir, std::strerror(err));
        return -err;
    }
    int n = snprintf(it.lock_path, sizeof(it.lock_path), "%s/bpf-%s.lock", opt_.lock_dir,
                     it.name);
    if (n >= int(sizeof(it.lock_path))) return -ENAMETOOLONG;
    for (int attempt = 0; attempt < 8; ++attempt) {
        int fd = open(it.lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
            int err = errno;
            FA_ERROR("bpf: cannot open the owner lock %s: %s", it.lock_path, std::strerror(err));
            return -err;
        }
        char boot[40] = {};
        rec = Record{};
        read_record(fd, &rec.pid, boot, sizeof(boot), rec.ids);
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int err = errno;
            ::close(fd);
            if (err == EWOULDBLOCK) {
                FA_ERROR("bpf: interface %s is metered by a running flowagent (pid %ld): not "
                         "attaching to it",
                         it.name, rec.pid);
                return -EBUSY;
            }
            FA_ERROR("bpf: cannot lock %s: %s", it.lock_path, std::strerror(err));
            return -err;
        }
        // The last owner removes the file at detach: lock the file that is at the path.
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(it.lock_path, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino) {
            rec = Record{};
            std::memset(boot, 0, sizeof(boot));
            read_record(fd, &rec.pid, boot, sizeof(boot), rec.ids);
            rec.ids_valid = std::strcmp(boot, boot_id()) == 0;
            it.lock_fd = fd;
            return 0;
        }
        ::close(fd);
    }
    return -EAGAIN;
}

void BpfAttachments::unlock(Item& it, bool remove)
{
    if (it.lock_fd < 0) return;
    if (remove) unlink(it.lock_path);
    ::close(it.lock_fd);
    it.lock_fd = -1;
}

// Written before attaching: a crash between attach and record must not leave a program of
// ours that the next start cannot name.
void BpfAttachments::write_record(const Item& it)
{
    if (it.lock_fd < 0) return;
    char buf[160];
    int n = snprintf(buf, sizeof(buf), "flowagent pid %ld boot %s ids %u %u\n", long(getpid()),
                     boot_id(), it.prog_id[0], it.prog_id[1]);
    if (ftruncate(it.lock_fd, 0) != 0 || pwrite(it.lock_fd, buf, size_t(n), 0) != n)
        FA_WARN("bpf: cannot write the owner record %s: %s", it.lock_path, std::strerror(errno));
}

// Our own references to the programs we attach (for the expected-program checks at replace
// and detach, also after the object that loaded them is closed), and their ids.
int BpfAttachments::set_progs(Item& it, const int* progs, int n)
{
    for (int i = 0; i < 2; ++i) {
        if (it.prog_fd[i] >= 0) ::close(it.prog_fd[i]);
        it.prog_fd[i] = -1;
        it.prog_id[i] = 0;
        if (i >= n) continue;
        it.prog_fd[i] = fcntl(progs[i], F_DUPFD_CLOEXEC, 3);
        if (it.prog_fd[i] < 0) return -errno;
        it.prog_id[i] = prog_id_of(it.prog_fd[i]);
    }
    return 0;
}

const char* BpfAttachments::mode(uint32_t slot) const
{
    if (!attached(slot)) return "";
    const Item& it = items_[slot];
    switch (it.via) {
    case Via::xdp_link:
    case Via::xdp:
        return it.xdp_flags == XDP_FLAGS_SKB_MODE ? "xdp-generic" : "xdp-native";
    case Via::tcx:
        return "tcx";
    default:
        return "clsact";
    }
}

bool BpfAttachments::linked(uint32_t slot) const
{
    return attached(slot) && (items_[slot].via == Via::xdp_link || items_[slot].via == Via::tcx);
}

int BpfAttachments::find_slot(const char* ifname) const
{
    for (uint32_t s = 1; s <= kBpfMaxSlots; ++s)
        if (items_[s].used && std::strcmp(items_[s].name, ifname) == 0) return int(s);
    return -1;
}

int BpfAttachments::find_ifindex(uint32_t ifindex) const
{
    for (uint32_t s = 1; s <= kBpfMaxSlots; ++s)
        if (items_[s].used && items_[s].ifindex == ifindex) return int(s);
    return -1;
}

int BpfAttachments::attach(BpfFlowObject& obj, const char* ifname, uint32_t slot, bool xdp)
{
    if (!slot_ok(slot)) return -EINVAL;
    if (items_[slot].used) return -EALREADY;
    Item it;
    snprintf(it.name, sizeof(it.name), "%s", ifname);
    uint16_t type = 0;
    int err = link_info(ifname, &it.ifindex, &type);
    if (err == -ENODEV) return err;  // the caller waits for it
    if (err) {
        FA_ERROR("bpf: interface %s: %s", ifname, std::strerror(-err));
        return err;
    }
    const LinkKind kind = link_kind_for_arphrd(type);
    if (kind == LinkKind::unsupported) {
        FA_ERROR("bpf: interface %s has link type %s (ARPHRD %u), which neither the Ethernet nor "
                 "the IP entry parses: not metered; remove it from [agent] interfaces",
                 ifname, arphrd_name(type), unsigned(type));
        return -EPROTONOSUPPORT;
    }
    it.l3 = kind == LinkKind::l3;
    const BpfHook hx = it.l3 ? BpfHook::xdp_l3 : BpfHook::xdp;
    const BpfHook hin = it.l3 ? BpfHook::tc_in_l3 : BpfHook::tc_in;
    const BpfHook heg = it.l3 ? BpfHook::tc_eg_l3 : BpfHook::tc_eg;
    const int progs[2] = {obj.prog_fd(xdp ? hx : hin), xdp ? -1 : obj.prog_fd(heg)};
    const int nprogs = xdp ? 1 : 2;
    if (progs[0] < 0 || (!xdp && progs[1] < 0)) {
        FA_ERROR("bpf: %s is %s device (link type %s) and the loaded object has no %s program "
                 "for it",
                 ifname, it.l3 ? "an IP (L3)" : "an Ethernet", arphrd_name(type),
                 it.l3 ? "L3 (IP header first)" : "Ethernet");
        return -EOPNOTSUPP;
    }
    Record rec;
    err = lock(it, rec);
    if (err) return err;
    err = set_progs(it, progs, nprogs);
    if (err == 0) err = obj.set_slot(it.ifindex, slot);
    if (err) {
        FA_ERROR("bpf: %s: cannot set up slot %u: %s", ifname, slot, std::strerror(-err));
    } else {
        write_record(it);
        err = xdp ? attach_xdp(it, progs[0], rec) : attach_tc(it, progs, rec);
    }
    if (err) {
        obj.clear_slot(it.ifindex);
        set_progs(it, nullptr, 0);
        // Keep a record that still names a stale program we did not replace.
        if (rec.ids_valid && (rec.ids[0] || rec.ids[1])) {
            Item keep = it;
            keep.prog_id[0] = rec.ids[0];
            keep.prog_id[1] = rec.ids[1];
            write_record(keep);
            unlock(it, false);
        } else {
            unlock(it, true);
        }
        return err;
    }
    it.used = true;
    items_[slot] = it;
    ++count_;
    return 0;
}

int BpfAttachments::attach_xdp(Item& it, int prog, const Record& rec)
{
    const int idx = int(it.ifindex);
    for (uint32_t m : kXdpModes) {
        uint32_t id = 0;
        if (bpf_xdp_query_id(idx, int(m), &id) != 0 || id == 0) continue;
        char name[64];
        Owner o = owner_of(id, rec, name, sizeof(name));
        if (o != Owner::stale_ours) {
            log_not_ours(o, it.name, "XDP", name, id);
            return -EBUSY;
        }
        FA_WARN("bpf: replacing stale %s (id %u) on %s left by an earlier run%s", name, id,
                it.name, rec.names(id) ? " (its owner is no longer running)" : "");
        // Detach exactly that program: with its fd as the expected one when we can get it;
        // after the capability drop (no fd by id), by the id just read (the owner lock keeps
        // every other flowagent off this interface).
        int fd = bpf_prog_get_fd_by_id(id);
        int err;
        if (fd >= 0) {
            LIBBPF_OPTS(bpf_xdp_attach_opts, xo, .old_prog_fd = fd);
            err = bpf_xdp_detach(idx, m, &xo);
            ::close(fd);
        } else {
            err = bpf_xdp_detach(idx, m, nullptr);
        }
        if (err == -EBUSY) {
            FA_ERROR("bpf: %s: %s is held through a BPF link by a running process (another "
                     "flowagent with another run directory?): not attaching",
                     it.name, name);
            return err;
        }
        if (err) {
            FA_ERROR("bpf: cannot remove the stale XDP program from %s: %s", it.name,
                     std::strerror(-err));
            return err;
        }
    }
    // Native XDP where the driver has it. Not on L3 devices: the only one with native XDP is
    // tun, which runs it for TAP frames only; generic XDP sees every packet of an L3 device.
    const int first = it.l3 ? 1 : 0;
    int err = -EINVAL;
    if (opt_.xdp_link && xdp_link_ok_) {
        for (int i = first; i < 2; ++i) {
            LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = kXdpModes[i]);
            int fd = bpf_link_create(prog, idx, BPF_XDP, &lo);
            if (fd >= 0) {
                it.link_fd[0] = fd;
                it.via = Via::xdp_link;
                it.xdp_flags = kXdpModes[i];
                FA_INFO("bpf: XDP (%s, link) attached to %s (ifindex %u%s)",
                        i == 0 ? "native" : "generic", it.name, it.ifindex, it.l3 ? ", L3" : "");
                return 0;
            }
            err = -errno;
            if (err == -EPERM) break;
            if (i == 0 && err != -EINVAL)
                FA_INFO("bpf: native XDP unavailable on %s (%s), using generic XDP", it.name,
                        std::strerror(-err));
        }
        if (err != -EINVAL) {
            FA_ERROR("bpf: cannot attach XDP to %s: %s%s", it.name, std::strerror(-err),
                     err == -EPERM ? " (not permitted: needs CAP_BPF, CAP_NET_ADMIN)"
                                   : " (try source = tc)");
            return err;
        }
        xdp_link_ok_ = false;
        FA_INFO("bpf: XDP links not available (kernel before 5.9): attaching through netlink");
    }
    for (int i = first; i < 2; ++i) {
        // UPDATE_IF_NOEXIST: never replace a program that appeared since the check above.
        err = bpf_xdp_attach(idx, prog, kXdpModes[i] | XDP_FLAGS_UPDATE_IF_NOEXIST, nullptr);
        if (err == 0) {
            it.via = Via::xdp;
            it.xdp_flags = kXdpModes[i];
            FA_INFO("bpf: XDP (%s) attached to %s (ifindex %u%s)", i == 0 ? "native" : "generic",
                    it.name, it.ifindex, it.l3 ? ", L3" : "");
            return 0;
        }
        if (err == -EPERM) break;
        if (i == 0)
            FA_INFO("bpf: native XDP unavailable on %s (%s), using generic XDP", it.name,
                    std::strerror(-err));
    }
    FA_ERROR("bpf: cannot attach XDP to %s: %s%s", it.name, std::strerror(-err),
             err == -EPERM ? " (not permitted: needs CAP_BPF, CAP_NET_ADMIN)"
                           : " (try source = tc)");
    return err;
}

int BpfAttachments::attach_tc(Item& it, const int* progs, const Record& rec)
{
    const int idx = int(it.ifindex);
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = idx, .attach_point = BPF_TC_INGRESS);
    // A clsact filter at our handle/priority: a stale one of ours (left by a killed run without
    // tcx) is removed; anything else there is refused.
    for (int i = 0; i < 2; ++i) {
        hook.attach_point = kTcPoints[i];
        LIBBPF_OPTS(bpf_tc_opts, q, .handle = kTcHandle, .priority = kTcPriority);
        if (bpf_tc_query(&hook, &q) != 0 || q.prog_id == 0) continue;
        char name[64];
        Owner o = owner_of(q.prog_id, rec, name, sizeof(name));
        if (o != Owner::stale_ours) {
            log_not_ours(o, it.name, i == 0 ? "a tc ingress" : "a tc egress", name, q.prog_id);
            return -EBUSY;
        }
        FA_WARN("bpf: replacing stale %s (id %u) on %s %s left by an earlier run%s", name,
                q.prog_id, it.name, kTcPointNames[i],
                rec.names(q.prog_id) ? " (its owner is no longer running)" : "");
        LIBBPF_OPTS(bpf_tc_opts, d, .handle = kTcHandle, .priority = kTcPriority);
        int err = bpf_tc_detach(&hook, &d);
        if (err) {
            FA_ERROR("bpf: cannot remove the stale tc filter from %s: %s", it.name,
                     std::strerror(-err));
            return err;
        }
    }

    if (opt_.tcx && tcx_ok_) {
        const int types[2] = {kTcxIngress, kTcxEgress};
        int err = 0;
        for (int i = 0; i < 2 && err == 0; ++i) {
            it.link_fd[i] = bpf_link_create(progs[i], idx, bpf_attach_type(types[i]), nullptr);
            if (it.link_fd[i] < 0) err = -errno;
        }
        if (err == 0) {
            it.via = Via::tcx;
            FA_INFO("bpf: tcx ingress+egress attached to %s (ifindex %u%s)", it.name, it.ifindex,
                    it.l3 ? ", L3" : "");
            return 0;
        }
        for (int& fd : it.link_fd) {
            if (fd >= 0) ::close(fd);
            fd = -1;
        }
        if (err == -EPERM) {
            FA_ERROR("bpf: cannot attach tcx programs to %s: not permitted (needs CAP_BPF, "
                     "CAP_NET_ADMIN)",
                     it.name);
            return err;
        }
        tcx_ok_ = false;  // kernel < 6.6 (EINVAL): clsact from now on
        FA_INFO("bpf: tcx not available (%s), using a clsact qdisc", std::strerror(-err));
    }

    hook.attach_point = kTcPoints[0];
    int err = bpf_tc_hook_create(&hook);
    if (err && err != -EEXIST) {
        FA_ERROR("bpf: cannot create clsact qdisc on %s: %s%s", it.name, std::strerror(-err),
                 err == -EPERM ? " (not permitted: needs CAP_BPF, CAP_NET_ADMIN)" : "");
        return err;
    }
    it.created_qdisc = err == 0;
    it.via = Via::clsact;
    for (int i = 0; i < 2; ++i) {
        hook.attach_point = kTcPoints[i];
        // No BPF_TC_F_REPLACE: whatever took our handle since the check above stays.
        LIBBPF_OPTS(bpf_tc_opts, to, .prog_fd = progs[i], .handle = kTcHandle,
                    .priority = kTcPriority);
        err = bpf_tc_attach(&hook, &to);
        if (err) {
            FA_ERROR("bpf: cannot attach tc %s program to %s: %s", kTcPointNames[i], it.name,
                     std::strerror(-err));
            undo(it);
            return err;
        }
    }
    FA_INFO("bpf: tc clsact ingress+egress attached to %s (ifindex %u%s)", it.name, it.ifindex,
            it.l3 ? ", L3" : "");
    return 0;
}

// Removes what `it` attached, and only that. Does not touch the lock or the program refs.
void BpfAttachments::undo(Item& it)
{
    const int idx = int(it.ifindex);
    for (int& fd : it.link_fd) {
        if (fd >= 0) ::close(fd);  // our link: the last reference detaches it
        fd = -1;
    }
    if (it.via == Via::xdp) {
        // The expected program is ours: an interface that took our old ifindex, or a program
        // that replaced ours, is left alone (-EEXIST).
        LIBBPF_OPTS(bpf_xdp_attach_opts, xo, .old_prog_fd = it.prog_fd[0]);
        int err = bpf_xdp_detach(idx, it.xdp_flags, &xo);
        if (err == -EINVAL) {  // kernel < 5.7: no XDP_FLAGS_REPLACE; check the id instead
            uint32_t id = 0;
            err = bpf_xdp_query_id(idx, int(it.xdp_flags), &id) == 0 && id == it.prog_id[0]
                      ? bpf_xdp_detach(idx, it.xdp_flags, nullptr)
                      : -EEXIST;
        }
        if (err == -EEXIST)
            FA_WARN("bpf: the XDP program on ifindex %u is no longer ours (%s): left in place",
                    it.ifindex, it.name);
    }
    if (it.via == Via::clsact) {
        LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = idx, .attach_point = BPF_TC_INGRESS);
        int removed = 0;
        for (int i = 0; i < 2; ++i) {
            hook.attach_point = kTcPoints[i];
            LIBBPF_OPTS(bpf_tc_opts, q, .handle = kTcHandle, .priority = kTcPriority);
            if (bpf_tc_query(&hook, &q) != 0 || q.prog_id == 0) continue;
            if (q.prog_id != it.prog_id[i]) {
                FA_WARN("bpf: the tc %s filter on ifindex %u is no longer ours (%s): left in "
                        "place",
                        kTcPointNames[i], it.ifindex, it.name);
                continue;
            }
            LIBBPF_OPTS(bpf_tc_opts, d, .handle = kTcHandle, .priority = kTcPriority);
            if (bpf_tc_detach(&hook, &d) == 0) ++removed;
        }
        if (it.created_qdisc && removed == 2) {
            hook.attach_point = bpf_tc_attach_point(BPF_TC_INGRESS | BPF_TC_EGRESS);
            bpf_tc_hook_destroy(&hook);
        }
    }
    it.via = Via::none;
}

int BpfAttachments::replace(BpfAttachments& old, BpfFlowObject& obj, const char* ifname,
                            uint32_t slot)
{
    const int at = old.find_slot(ifname);
    if (at < 0) return 1;
    if (!slot_ok(slot) || items_[slot].used) return -EINVAL;
    Item& o = old.items_[at];
    const bool xdp = o.via == Via::xdp_link || o.via == Via::xdp;
    const BpfHook hooks[2] = {
        xdp ? (o.l3 ? BpfHook::xdp_l3 : BpfHook::xdp) : (o.l3 ? BpfHook::tc_in_l3 : BpfHook::tc_in),
        o.l3 ? BpfHook::tc_eg_l3 : BpfHook::tc_eg};
    const int n = xdp ? 1 : 2;
    int progs[2] = {obj.prog_fd(hooks[0]), xdp ? -1 : obj.prog_fd(hooks[1])};
    if (progs[0] < 0 || (!xdp && progs[1] < 0)) {
        FA_WARN("bpf: the new object has no program for %s (%s): not replaced in place", ifname,
                o.l3 ? "L3" : "Ethernet");
        return -EOPNOTSUPP;
    }
    int err = obj.set_slot(o.ifindex, slot);
    if (err) return err;
    const int idx = int(o.ifindex);
    int done = 0;  // hooks replaced
    if (o.via == Via::xdp_link || o.via == Via::tcx) {
        for (int i = 0; i < n && err == 0; ++i) {
            LIBBPF_OPTS(bpf_link_update_opts, lo, .flags = BPF_F_REPLACE,
                        .old_prog_fd = uint32_t(o.prog_fd[i]));
            if (bpf_link_update(o.link_fd[i], progs[i], &lo) != 0) err = -errno;
            else ++done;
        }
    } else if (o.via == Via::xdp) {
        LIBBPF_OPTS(bpf_xdp_attach_opts, xo, .old_prog_fd = o.prog_fd[0]);
        err = bpf_xdp_attach(idx, progs[0], o.xdp_flags | XDP_FLAGS_REPLACE, &xo);
        if (err == 0) done = 1;
    } else if (o.via == Via::clsact) {
        LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = idx, .attach_point = BPF_TC_INGRESS);
        for (int i = 0; i < 2 && err == 0; ++i) {
            hook.attach_point = kTcPoints[i];
            // tc has no expected-program replace: check the program at our handle first.
            LIBBPF_OPTS(bpf_tc_opts, q, .handle = kTcHandle, .priority = kTcPriority);
            if (bpf_tc_query(&hook, &q) != 0 || q.prog_id != o.prog_id[i]) {
                err = -EEXIST;
                break;
            }
            LIBBPF_OPTS(bpf_tc_opts, to, .prog_fd = progs[i], .flags = BPF_TC_F_REPLACE,
                        .handle = kTcHandle, .priority = kTcPriority);
            err = bpf_tc_attach(&hook, &to);
            if (err == 0) ++done;
        }
    } else {
        return 1;
    }
    if (done == 0) {
        FA_WARN("bpf: cannot replace the program on %s in place: %s", ifname,
                std::strerror(-err));
        return err;
    }
    Item it = o;
    o = Item{};
    --old.count_;
    for (int i = 0; i < done; ++i) {
        ::close(it.prog_fd[i]);
        it.prog_fd[i] = fcntl(progs[i], F_DUPFD_CLOEXEC, 3);
        it.prog_id[i] = it.prog_fd[i] >= 0 ? prog_id_of(it.prog_fd[i]) : 0;
    }
    write_record(it);
    items_[slot] = it;
    ++count_;
    if (err) FA_ERROR("bpf: %s: ingress replaced, egress not: %s", ifname, std::strerror(-err));
    else FA_INFO("bpf: program on %s replaced in place (%s)", ifname, mode(slot));
    return err;
}

int BpfAttachments::detach(uint32_t slot)
{
    if (!attached(slot)) return -ENOENT;
    Item& it = items_[slot];
    undo(it);
    set_progs(it, nullptr, 0);
    unlock(it, true);
    FA_INFO("bpf: detached from %s", it.name);
    it = Item{};
    --count_;
    return 0;
}

void BpfAttachments::detach_all()
{
    for (uint32_t s = kBpfMaxSlots; s >= 1; --s)
        if (items_[s].used) detach(s);
}

} // namespace fa
