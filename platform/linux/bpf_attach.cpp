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


// Name of the program with this id. Needs CAP_SYS_ADMIN (BPF_PROG_GET_FD_BY_ID), which the
// agent drops after start: 0 or a negative errno.
int prog_name(uint32_t id, char* out, size_t len)
{
    out[0] = 0;
    int fd = bpf_prog_get_fd_by_id(id);  // negative errno (libbpf >= 1.0)
    if (fd < 0) return fd;
    bpf_prog_info info;
    std::memset(&info, 0, sizeof(info));
    uint32_t ilen = sizeof(info);
    int err = bpf_obj_get_info_by_fd(fd, &info, &ilen);
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

// Our clsact filter (handle and priority kTcHandle, kTcPriority) on side 0 (ingress) or 1
// (egress) of ifindex. The id of the program there; 0: none, or the query failed.
__attribute__((noinline)) uint32_t tc_prog_at(int ifindex, int side)
{
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = kTcPoints[side]);
    LIBBPF_OPTS(bpf_tc_opts, q, .handle = kTcHandle, .priority = kTcPriority);
    return bpf_tc_query(&hook, &q) == 0 ? q.prog_id : 0;
}

// Attaches prog as that filter (flags: 0, or BPF_TC_F_REPLACE), or detaches the filter there
// when prog < 0.
__attribute__((noinline)) int tc_set(int ifindex, int side, int prog, uint32_t flags)
{
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = kTcPoints[side]);
    LIBBPF_OPTS(bpf_tc_opts, o, .handle = kTcHandle, .priority = kTcPriority);
    if (prog < 0) return bpf_tc_detach(&hook, &o);
    o.prog_fd = prog;
    o.flags = flags;
    return bpf_tc_attach(&hook, &o);
}

// Removes the XDP program of `mode` from ifindex; with *expected as the expected program when
// expected is not nullptr.
__attribute__((noinline)) int xdp_detach(int ifindex, uint32_t mode, const int* expected)
{
    LIBBPF_OPTS(bpf_xdp_attach_opts, xo, .old_prog_fd = expected != nullptr ? *expected : 0);
    return bpf_xdp_detach(ifindex, mode, expected != nullptr ? &xo : nullptr);
}

const char kNotPermitted[] = " (not permitted: needs CAP_BPF, CAP_NET_ADMIN)";

} // namespace

namespace {

// The link types we know by name, with the entries they get (in one table: no switch ladders).
// A name is kArphrdNames + off.
struct ArphrdType {
    uint16_t type;
    LinkKind kind;
    uint8_t off;
};
const char kArphrdNames[] = "ether\0loopback\0ppp\0none\0ipip\0tunnel6\0sit\0gre\0ip6gre\0"
                            "rawip\0ieee802\0ieee802.11/radiotap\0infiniband\0can\0"
                            "ieee802.15.4\0unknown";
const ArphrdType kArphrdTypes[] = {
    {ARPHRD_ETHER, LinkKind::ether, 0},
    {ARPHRD_LOOPBACK, LinkKind::ether, 6},  // XDP and tc see an Ethernet header of zeros
                                            // with the IP type
    {ARPHRD_PPP, LinkKind::l3, 15},         // pppoe-wan, pppN: the PPP header is gone before
                                            // XDP/tc
    {ARPHRD_NONE, LinkKind::l3, 19},        // tun, WireGuard
    {ARPHRD_TUNNEL, LinkKind::l3, 24},      // ipip
    {ARPHRD_TUNNEL6, LinkKind::l3, 29},     // ip6tnl
    {ARPHRD_SIT, LinkKind::l3, 37},         // 6in4
    {ARPHRD_IPGRE, LinkKind::l3, 41},
    {ARPHRD_IP6GRE, LinkKind::l3, 45},
    {ARPHRD_RAWIP, LinkKind::l3, 52},
    {ARPHRD_IEEE802, LinkKind::unsupported, 58},
    {ARPHRD_IEEE80211_RADIOTAP, LinkKind::unsupported, 66},
    {ARPHRD_INFINIBAND, LinkKind::unsupported, 86},
    {ARPHRD_CAN, LinkKind::unsupported, 97},
    {ARPHRD_IEEE802154, LinkKind::unsupported, 101},
};
constexpr uint8_t kArphrdUnknown = 114;
static_assert(sizeof(kArphrdNames) == kArphrdUnknown + sizeof("unknown"), "name offsets");

const ArphrdType* arphrd_find(uint16_t arphrd)
{
    for (const ArphrdType& t : kArphrdTypes)
        if (t.type == arphrd) return &t;
    return nullptr;
}

} // namespace

LinkKind link_kind_for_arphrd(uint16_t arphrd)
{
    const ArphrdType* t = arphrd_find(arphrd);
    return t != nullptr ? t->kind : LinkKind::unsupported;
}

const char* arphrd_name(uint16_t arphrd)
{
    const ArphrdType* t = arphrd_find(arphrd);
    return kArphrdNames + (t != nullptr ? t->off : kArphrdUnknown);
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
        // Program names of every flowagent object (L2 and L3 entries), for telling a stale
        // program of ours that no owner record names (left by a version without records) from
        // a foreign one.
        for (const char* ours = kBpfProgNames; *ours != 0; ours += std::strlen(ours) + 1)
            if (std::strcmp(name, ours) == 0) return Owner::stale_ours;
        return rec.names(id) ? Owner::stale_ours : Owner::foreign;
    }
    snprintf(name, len, "program");
    return rec.names(id) ? Owner::stale_ours : Owner::unknown;
}

// obj's programs for an L2 or L3 device: XDP, or tc ingress and egress. Their number (1 or 2),
// or 0 when the object lacks one.
static_assert(int(BpfHook::tc_in) == int(BpfHook::xdp) + 1 &&
                  int(BpfHook::tc_eg) == int(BpfHook::xdp) + 2 &&
                  int(BpfHook::xdp_l3) == int(BpfHook::xdp) + 3 &&
                  int(BpfHook::tc_eg_l3) == int(BpfHook::xdp_l3) + 2,
              "BpfHook: xdp, tc_in, tc_eg, then the same for L3");
int entries(const BpfFlowObject& obj, bool l3, bool xdp, int* progs)
{
    const int base = l3 ? int(BpfHook::xdp_l3) : int(BpfHook::xdp);
    progs[0] = obj.prog_fd(BpfHook(base + (xdp ? 0 : 1)));
    progs[1] = xdp ? -1 : obj.prog_fd(BpfHook(base + 2));
    return progs[0] < 0 || (!xdp && progs[1] < 0) ? 0 : xdp ? 1 : 2;
}

void log_not_ours(Owner o, const char* ifname, const char* hook, const char* name, uint32_t id)
{
    if (o == Owner::foreign)
        FA_ERROR("bpf: %s already has %s program '%s' (id %u), not ours: remove it%s", ifname,
                 hook, name, id, hook[0] == 'X' ? " or use source = tc" : "");  // "XDP"
    else
        FA_ERROR("bpf: %s already has %s %s (id %u), which no owner record names as ours, and "
                 "its name cannot be read without CAP_SYS_ADMIN (dropped after start): not "
                 "replacing it; restart flowagent to replace a stale program of ours, or remove "
                 "it",
                 ifname, hook, name, id);
}

} // namespace

// The owner lock: <lock_dir>/bpf-<netns>-<ifname>.lock (<netns>: the inode of our network
// namespace, whose interface names these are), flock()ed for as long as we hold the hook.
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
    struct stat ns;
    if (stat("/proc/self/ns/net", &ns) != 0) ns.st_ino = 0;
    int n = snprintf(it.lock_path, sizeof(it.lock_path), "%s/bpf-%llu-%s.lock", opt_.lock_dir,
                     (unsigned long long)ns.st_ino, it.name);
    if (n >= int(sizeof(it.lock_path))) return -ENAMETOOLONG;
    for (int attempt = 0; attempt < 8; ++attempt) {
        int fd = open(it.lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
            int err = errno;
            FA_ERROR("bpf: cannot open the owner lock %s: %s", it.lock_path, std::strerror(err));
            return -err;
        }
        // The record, read once the lock is ours, or while a live owner holds it (which
        // wrote it before attaching).
        const int err = flock(fd, LOCK_EX | LOCK_NB) != 0 ? errno : 0;
        char boot[40] = {};
        rec = Record{};
        read_record(fd, &rec.pid, boot, sizeof(boot), rec.ids);
        if (err) {
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
// and detach, also after the object that loaded them is closed), and their ids: the first n
// become references to progs[0..n) (nullptr: none).
int BpfAttachments::set_progs(Item& it, const int* progs, int n)
{
    int err = 0;
    for (int i = 0; i < n; ++i) {
        if (it.prog_fd[i] >= 0) ::close(it.prog_fd[i]);
        it.prog_fd[i] = progs != nullptr ? fcntl(progs[i], F_DUPFD_CLOEXEC, 3) : -1;
        if (progs != nullptr && it.prog_fd[i] < 0) err = -errno;
        it.prog_id[i] = it.prog_fd[i] >= 0 ? prog_id_of(it.prog_fd[i]) : 0;
    }
    return err;
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
    int progs[2];
    const int nprogs = entries(obj, it.l3, xdp, progs);
    if (nprogs == 0) {
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
        set_progs(it, nullptr, 2);
        // Keep a record that still names a stale program we did not replace.
        // (`it` is dropped: its ids may name them.)
        const bool keep = rec.ids_valid && (rec.ids[0] || rec.ids[1]);
        if (keep) {
            it.prog_id[0] = rec.ids[0];
            it.prog_id[1] = rec.ids[1];
            write_record(it);
        }
        unlock(it, !keep);
        return err;
    }
    it.used = true;
    items_[slot] = it;
    ++count_;
    return 0;
}

// A program `id` on a hook we are about to take (side < 0: XDP of xdp_mode; else tc side 0
// ingress or 1 egress at our handle): a stale one of ours is removed (0); anything else is
// refused (-EBUSY), as is a failed removal (negative errno), after logging.
int BpfAttachments::remove_stale(const Item& it, const Record& rec, uint32_t id,
                                 uint32_t xdp_mode, int side)
{
    const int idx = int(it.ifindex);
    const bool xdp = side < 0;
    char name[64];
    Owner o = owner_of(id, rec, name, sizeof(name));
    if (o != Owner::stale_ours) {
        log_not_ours(o, it.name, xdp ? "XDP" : side == 0 ? "a tc ingress" : "a tc egress", name,
                     id);
        return -EBUSY;
    }
    FA_WARN("bpf: replacing stale %s (id %u) on %s%s%s left by an earlier run%s", name, id,
            it.name, xdp ? "" : " ", xdp ? "" : kTcPointNames[side],
            rec.names(id) ? " (its owner is no longer running)" : "");
    int err;
    if (xdp) {
        // Detach exactly that program: with its fd as the expected one when we can get it;
        // after the capability drop (no fd by id), by the id just read (the owner lock keeps
        // every other flowagent off this interface).
        int fd = bpf_prog_get_fd_by_id(id);
        err = xdp_detach(idx, xdp_mode, fd >= 0 ? &fd : nullptr);
        if (fd >= 0) ::close(fd);
        if (err == -EBUSY) {
            FA_ERROR("bpf: %s: %s is held through a BPF link by a running process (another "
                     "flowagent with another run directory?): not attaching",
                     it.name, name);
            return err;
        }
    } else {
        err = tc_set(idx, side, -1, 0);
    }
    if (err)
        FA_ERROR("bpf: cannot remove the stale %s from %s: %s",
                 xdp ? "XDP program" : "tc filter", it.name, std::strerror(-err));
    return err;
}

int BpfAttachments::attach_xdp(Item& it, int prog, const Record& rec)
{
    const int idx = int(it.ifindex);
    for (uint32_t m : kXdpModes) {
        uint32_t id = 0;
        if (bpf_xdp_query_id(idx, int(m), &id) != 0 || id == 0) continue;
        const int err = remove_stale(it, rec, id, m, -1);
        if (err) return err;
    }
    // Native XDP where the driver has it. Not on L3 devices: the only one with native XDP is
    // tun, which runs it for TAP frames only; generic XDP sees every packet of an L3 device.
    // Through a BPF link where the kernel has them (5.9), else netlink.
    const int first = it.l3 ? 1 : 0;
    int err = -EINVAL;
    for (;;) {
        const bool link = opt_.xdp_link && xdp_link_ok_;
        for (int i = first; i < 2; ++i) {
            if (link) {
                LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = kXdpModes[i]);
                const int fd = bpf_link_create(prog, idx, BPF_XDP, &lo);
                err = fd >= 0 ? 0 : fd;  // negative errno (libbpf >= 1.0)
                if (fd >= 0) it.link_fd[0] = fd;
            } else {
                // UPDATE_IF_NOEXIST: never replace a program that appeared since the check
                // above.
                err = bpf_xdp_attach(idx, prog, kXdpModes[i] | XDP_FLAGS_UPDATE_IF_NOEXIST,
                                     nullptr);
            }
            if (err == 0) {
                it.via = link ? Via::xdp_link : Via::xdp;
                it.xdp_flags = kXdpModes[i];
                FA_INFO("bpf: XDP (%s%s) attached to %s (ifindex %u%s)",
                        i == 0 ? "native" : "generic", link ? ", link" : "", it.name, it.ifindex,
                        it.l3 ? ", L3" : "");
                return 0;
            }
            if (err == -EPERM) break;
            if (i == 0 && (!link || err != -EINVAL))
                FA_INFO("bpf: native XDP unavailable on %s (%s), using generic XDP", it.name,
                        std::strerror(-err));
        }
        if (!link || err != -EINVAL) break;
        xdp_link_ok_ = false;
        FA_INFO("bpf: XDP links not available (kernel before 5.9): attaching through netlink");
    }
    FA_ERROR("bpf: cannot attach XDP to %s: %s%s", it.name, std::strerror(-err),
             err == -EPERM ? kNotPermitted : " (try source = tc)");
    return err;
}

int BpfAttachments::attach_tc(Item& it, const int* progs, const Record& rec)
{
    const int idx = int(it.ifindex);
    // A clsact filter at our handle/priority: a stale one of ours (left by a killed run without
    // tcx) is removed; anything else there is refused.
    for (int i = 0; i < 2; ++i) {
        const uint32_t id = tc_prog_at(idx, i);
        if (id == 0) continue;
        const int err = remove_stale(it, rec, id, 0, i);
        if (err) return err;
    }

    if (opt_.tcx && tcx_ok_) {
        const int types[2] = {kTcxIngress, kTcxEgress};
        int err = 0;
        for (int i = 0; i < 2 && err == 0; ++i) {
            it.link_fd[i] = bpf_link_create(progs[i], idx, bpf_attach_type(types[i]), nullptr);
            if (it.link_fd[i] < 0) err = it.link_fd[i];
        }
        if (err == 0) {
            it.via = Via::tcx;
            FA_INFO("bpf: %s ingress+egress attached to %s (ifindex %u%s)", "tcx", it.name,
                    it.ifindex, it.l3 ? ", L3" : "");
            return 0;
        }
        close_links(it);
        if (err == -EPERM) {
            FA_ERROR("bpf: cannot attach tcx programs to %s: not permitted (needs CAP_BPF, "
                     "CAP_NET_ADMIN)",
                     it.name);
            return err;
        }
        tcx_ok_ = false;  // kernel < 6.6 (EINVAL): clsact from now on
        FA_INFO("bpf: tcx not available (%s), using a clsact qdisc", std::strerror(-err));
    }

    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = idx, .attach_point = BPF_TC_INGRESS);
    int err = bpf_tc_hook_create(&hook);
    if (err && err != -EEXIST) {
        FA_ERROR("bpf: cannot create clsact qdisc on %s: %s%s", it.name, std::strerror(-err),
                 err == -EPERM ? kNotPermitted : "");
        return err;
    }
    it.created_qdisc = err == 0;
    it.via = Via::clsact;
    for (int i = 0; i < 2; ++i) {
        // No BPF_TC_F_REPLACE: whatever took our handle since the check above stays.
        err = tc_set(idx, i, progs[i], 0);
        if (err) {
            FA_ERROR("bpf: cannot attach tc %s program to %s: %s", kTcPointNames[i], it.name,
                     std::strerror(-err));
            undo(it);
            return err;
        }
    }
    FA_INFO("bpf: %s ingress+egress attached to %s (ifindex %u%s)", "tc clsact", it.name,
            it.ifindex, it.l3 ? ", L3" : "");
    return 0;
}

// Closes our links (the last reference detaches a link's program).
void BpfAttachments::close_links(Item& it)
{
    for (int& fd : it.link_fd) {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
}

// Removes what `it` attached, and only that. Does not touch the lock or the program refs.
void BpfAttachments::undo(Item& it)
{
    const int idx = int(it.ifindex);
    close_links(it);
    if (it.via == Via::xdp) {
        // The expected program is ours: an interface that took our old ifindex, or a program
        // that replaced ours, is left alone (-EEXIST).
        int err = xdp_detach(idx, it.xdp_flags, &it.prog_fd[0]);
        if (err == -EINVAL) {  // kernel < 5.7: no XDP_FLAGS_REPLACE; check the id instead
            uint32_t id = 0;
            err = bpf_xdp_query_id(idx, int(it.xdp_flags), &id) == 0 && id == it.prog_id[0]
                      ? xdp_detach(idx, it.xdp_flags, nullptr)
                      : -EEXIST;
        }
        if (err == -EEXIST)
            FA_WARN("bpf: the %s%s on ifindex %u is no longer ours (%s): left in place", "XDP",
                    " program", it.ifindex, it.name);
    }
    if (it.via == Via::clsact) {
        int removed = 0;
        for (int i = 0; i < 2; ++i) {
            const uint32_t id = tc_prog_at(idx, i);
            if (id == 0) continue;
            if (id != it.prog_id[i]) {
                FA_WARN("bpf: the %s%s on ifindex %u is no longer ours (%s): left in place",
                        i == 0 ? "tc ingress" : "tc egress", " filter", it.ifindex, it.name);
                continue;
            }
            if (tc_set(idx, i, -1, 0) == 0) ++removed;
        }
        if (it.created_qdisc && removed == 2) {
            LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = idx,
                        .attach_point = bpf_tc_attach_point(BPF_TC_INGRESS | BPF_TC_EGRESS));
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
    int progs[2];
    const int n = entries(obj, o.l3, o.via == Via::xdp_link || o.via == Via::xdp, progs);
    if (n == 0) {
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
            err = bpf_link_update(o.link_fd[i], progs[i], &lo);
            if (err == 0) ++done;
        }
    } else if (o.via == Via::xdp) {
        LIBBPF_OPTS(bpf_xdp_attach_opts, xo, .old_prog_fd = o.prog_fd[0]);
        err = bpf_xdp_attach(idx, progs[0], o.xdp_flags | XDP_FLAGS_REPLACE, &xo);
        if (err == 0) done = 1;
    } else if (o.via == Via::clsact) {
        for (int i = 0; i < 2 && err == 0; ++i) {
            // tc has no expected-program replace: check the program at our handle first.
            const uint32_t id = tc_prog_at(idx, i);
            if (id == 0 || id != o.prog_id[i]) {
                err = -EEXIST;
                break;
            }
            err = tc_set(idx, i, progs[i], BPF_TC_F_REPLACE);
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
    Item& it = items_[slot];
    it = o;
    o = Item{};
    --old.count_;
    set_progs(it, progs, done);
    write_record(it);
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
    set_progs(it, nullptr, 2);
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
