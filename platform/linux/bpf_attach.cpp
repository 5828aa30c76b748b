// SPDX-License-Identifier: GPL-2.0-only
// Attaching the programs to interfaces, replacing them in place on reload, detaching.
#include "bpf_loader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/log.h"

namespace fa {

namespace {

// Name of the program with this id, or "" when it cannot be read.
void prog_name(uint32_t id, char* out, size_t len)
{
    out[0] = 0;
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) return;
    bpf_prog_info info;
    std::memset(&info, 0, sizeof(info));
    uint32_t ilen = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &ilen) == 0) snprintf(out, len, "%s", info.name);
    ::close(fd);
}

int resolve(const char* ifname, uint32_t* ifindex)
{
    unsigned idx = if_nametoindex(ifname);
    if (idx == 0) {
        FA_ERROR("bpf: interface %s not found (%s)", ifname, std::strerror(errno));
        return -ENODEV;
    }
    *ifindex = idx;
    return 0;
}

const uint32_t kTcHandle = 0xfa;    // our filter's handle and priority on clsact; a stale
const uint32_t kTcPriority = 0xfa;  // filter of ours is at the same place and is replaced

} // namespace

const char* BpfAttachments::mode(int i) const
{
    const Item& it = items_[i];
    if (it.xdp) return it.xdp_flags == XDP_FLAGS_SKB_MODE ? "xdp-generic" : "xdp-native";
    if (it.tcx_fd[0] >= 0 || it.tcx_fd[1] >= 0) return "tcx";
    return "clsact";
}

int BpfAttachments::attach_xdp(const BpfFlowObject& obj, const char* ifname)
{
    if (count_ >= 32) return -E2BIG;
    Item it;
    snprintf(it.name, sizeof(it.name), "%s", ifname);
    int err = resolve(ifname, &it.ifindex);
    if (err) return err;
    const int idx = int(it.ifindex);
    uint32_t id = 0;
    if (bpf_xdp_query_id(idx, 0, &id) == 0 && id != 0) {
        char name[BPF_OBJ_NAME_LEN];
        prog_name(id, name, sizeof(name));
        if (std::strcmp(name, FA_PROG_XDP) != 0) {
            FA_ERROR("bpf: %s already has XDP program '%s' (id %u), not ours: remove it or "
                     "use source = tc",
                     ifname, name, id);
            return -EBUSY;
        }
        FA_WARN("bpf: replacing stale %s (id %u) on %s left by an earlier run", name, id, ifname);
        bpf_xdp_detach(idx, XDP_FLAGS_DRV_MODE, nullptr);
        bpf_xdp_detach(idx, XDP_FLAGS_SKB_MODE, nullptr);
    }
    int fd = obj.prog_fd(BpfHook::xdp);
    it.xdp_flags = XDP_FLAGS_DRV_MODE;
    err = bpf_xdp_attach(idx, fd, it.xdp_flags, nullptr);
    if (err == -EPERM) {
        FA_ERROR("bpf: attaching XDP to %s not permitted: needs CAP_NET_ADMIN", ifname);
        return err;
    }
    if (err) {
        FA_INFO("bpf: native XDP unavailable on %s (%s), using generic XDP", ifname,
                std::strerror(-err));
        it.xdp_flags = XDP_FLAGS_SKB_MODE;
        err = bpf_xdp_attach(idx, fd, it.xdp_flags, nullptr);
    }
    if (err) {
        FA_ERROR("bpf: cannot attach XDP to %s: %s (try source = tc)", ifname,
                 std::strerror(-err));
        return err;
    }
    it.xdp = true;
    FA_INFO("bpf: XDP (%s) attached to %s (ifindex %u)",
            it.xdp_flags == XDP_FLAGS_DRV_MODE ? "native" : "generic", ifname, it.ifindex);
    items_[count_++] = it;
    return 0;
}

// tcx (kernel 6.6): BPF links on the device's ingress/egress, no qdisc, no classifier chain
// walk; the link goes with our file descriptor, so a crash leaves nothing behind. The numbers
// are the kernel's enum bpf_attach_type values (newer than Debian 12's headers).
constexpr int kTcxIngress = 46;  // BPF_TCX_INGRESS
constexpr int kTcxEgress = 47;   // BPF_TCX_EGRESS

int BpfAttachments::attach_tc(const BpfFlowObject& obj, const char* ifname)
{
    if (count_ >= 32) return -E2BIG;
    Item it;
    snprintf(it.name, sizeof(it.name), "%s", ifname);
    int err = resolve(ifname, &it.ifindex);
    if (err) return err;
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = int(it.ifindex), .attach_point = BPF_TC_INGRESS);
    const BpfHook hooks[2] = {BpfHook::tc_in, BpfHook::tc_eg};
    const bpf_tc_attach_point points[2] = {BPF_TC_INGRESS, BPF_TC_EGRESS};

    if (tcx_ok_) {
        const int types[2] = {kTcxIngress, kTcxEgress};
        for (int i = 0; i < 2; ++i) {
            it.tcx_fd[i] = bpf_link_create(obj.prog_fd(hooks[i]), int(it.ifindex),
                                           bpf_attach_type(types[i]), nullptr);
            if (it.tcx_fd[i] < 0) break;
        }
        if (it.tcx_fd[0] >= 0 && it.tcx_fd[1] >= 0) {
            // A clsact filter of ours left by a crash of a run that had no tcx: remove it.
            for (bpf_tc_attach_point p : points) {
                hook.attach_point = p;
                LIBBPF_OPTS(bpf_tc_opts, to, .handle = kTcHandle, .priority = kTcPriority);
                if (bpf_tc_detach(&hook, &to) == 0)
                    FA_WARN("bpf: removed a stale clsact filter of ours from %s", ifname);
            }
            FA_INFO("bpf: tcx ingress+egress attached to %s (ifindex %u)", ifname, it.ifindex);
            items_[count_++] = it;
            return 0;
        }
        err = -errno;
        for (int& fd : it.tcx_fd) {
            if (fd >= 0) ::close(fd);
            fd = -1;
        }
        if (err == -EPERM) {
            FA_ERROR("bpf: cannot attach tcx programs to %s: %s (needs CAP_NET_ADMIN and "
                     "CAP_BPF)", ifname, std::strerror(-err));
            return err;
        }
        tcx_ok_ = false;  // kernel < 6.6 (EINVAL): clsact from now on
        FA_INFO("bpf: tcx not available (%s), using a clsact qdisc", std::strerror(-err));
    }

    err = bpf_tc_hook_create(&hook);
    if (err && err != -EEXIST) {
        FA_ERROR("bpf: cannot create clsact qdisc on %s: %s%s", ifname, std::strerror(-err),
                 err == -EPERM ? " (needs CAP_NET_ADMIN)" : "");
        return err;
    }
    it.created_qdisc = err == 0;
    for (int i = 0; i < 2; ++i) {
        hook.attach_point = points[i];
        // BPF_TC_F_REPLACE: a stale filter of ours at (handle, priority) is replaced in place.
        LIBBPF_OPTS(bpf_tc_opts, to, .prog_fd = obj.prog_fd(hooks[i]), .flags = BPF_TC_F_REPLACE,
                    .handle = kTcHandle, .priority = kTcPriority);
        err = bpf_tc_attach(&hook, &to);
        if (err) {
            FA_ERROR("bpf: cannot attach tc %s program to %s: %s", i == 0 ? "ingress" : "egress",
                     ifname, std::strerror(-err));
            it.tc = true;
            items_[count_++] = it;  // so detach_all() undoes the half
            return err;
        }
    }
    it.tc = true;
    FA_INFO("bpf: tc clsact ingress+egress attached to %s (ifindex %u)", ifname, it.ifindex);
    items_[count_++] = it;
    return 0;
}

int BpfAttachments::replace(BpfAttachments& old, const BpfFlowObject& old_obj,
                            const BpfFlowObject& obj, const char* ifname)
{
    int at = -1;
    for (int i = 0; i < old.count_ && at < 0; ++i)
        if (std::strcmp(old.items_[i].name, ifname) == 0) at = i;
    if (at < 0) return 1;
    if (count_ >= 32) return -E2BIG;
    Item& it = old.items_[at];
    const int idx = int(it.ifindex);
    const BpfHook hooks[2] = {BpfHook::tc_in, BpfHook::tc_eg};
    int err = 0;
    bool half = false;
    if (it.xdp) {
        LIBBPF_OPTS(bpf_xdp_attach_opts, xo, .old_prog_fd = old_obj.prog_fd(BpfHook::xdp));
        err = bpf_xdp_attach(idx, obj.prog_fd(BpfHook::xdp), it.xdp_flags | XDP_FLAGS_REPLACE,
                             &xo);
    } else if (it.tcx_fd[0] >= 0 && it.tcx_fd[1] >= 0) {
        for (int i = 0; i < 2 && err == 0; ++i) {
            LIBBPF_OPTS(bpf_link_update_opts, lo, .flags = BPF_F_REPLACE,
                        .old_prog_fd = uint32_t(old_obj.prog_fd(hooks[i])));
            if (bpf_link_update(it.tcx_fd[i], obj.prog_fd(hooks[i]), &lo) != 0) err = -errno;
            else half = true;
        }
    } else if (it.tc) {
        const bpf_tc_attach_point points[2] = {BPF_TC_INGRESS, BPF_TC_EGRESS};
        LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = idx, .attach_point = BPF_TC_INGRESS);
        for (int i = 0; i < 2 && err == 0; ++i) {
            hook.attach_point = points[i];
            LIBBPF_OPTS(bpf_tc_opts, to, .prog_fd = obj.prog_fd(hooks[i]),
                        .flags = BPF_TC_F_REPLACE, .handle = kTcHandle, .priority = kTcPriority);
            err = bpf_tc_attach(&hook, &to);
            if (err == 0) half = true;
        }
    } else {
        return 1;
    }
    if (err && !half) {
        FA_WARN("bpf: cannot replace the program on %s in place: %s", ifname,
                std::strerror(-err));
        return err;
    }
    items_[count_++] = it;
    if (err) FA_ERROR("bpf: %s: ingress replaced, egress not: %s", ifname, std::strerror(-err));
    else FA_INFO("bpf: program on %s replaced in place (%s)", ifname, mode(count_ - 1));
    for (int i = at; i + 1 < old.count_; ++i) old.items_[i] = old.items_[i + 1];
    old.items_[--old.count_] = Item{};
    return err;
}

void BpfAttachments::detach_all()
{
    for (int i = count_ - 1; i >= 0; --i) {
        Item& it = items_[i];
        const int idx = int(it.ifindex);
        if (it.xdp) bpf_xdp_detach(idx, it.xdp_flags, nullptr);
        for (int& fd : it.tcx_fd) {
            if (fd >= 0) ::close(fd);  // the last reference: the link detaches
            fd = -1;
        }
        if (it.tc) {
            LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = idx, .attach_point = BPF_TC_INGRESS);
            const bpf_tc_attach_point points[2] = {BPF_TC_INGRESS, BPF_TC_EGRESS};
            for (bpf_tc_attach_point p : points) {
                hook.attach_point = p;
                LIBBPF_OPTS(bpf_tc_opts, to, .handle = kTcHandle, .priority = kTcPriority);
                bpf_tc_detach(&hook, &to);
            }
            if (it.created_qdisc) {
                hook.attach_point = bpf_tc_attach_point(BPF_TC_INGRESS | BPF_TC_EGRESS);
                bpf_tc_hook_destroy(&hook);
            }
        }
        FA_INFO("bpf: detached from %s", it.name);
    }
    count_ = 0;
}

} // namespace fa
