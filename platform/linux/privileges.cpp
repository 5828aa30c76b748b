// SPDX-License-Identifier: GPL-2.0-only
#include "privileges.h"

#include <cerrno>
#include <cstring>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/log.h"

namespace fa {
namespace {

// CAP_BPF and CAP_PERFMON came with Linux 5.8; older UAPI headers lack the names.
constexpr int kCapPerfmon = 38;
constexpr int kCapBpf = 39;

bool cap_known(int cap) { return prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; }

bool cap_effective(const __user_cap_data_struct* data, int cap)
{
    return (data[cap / 32].effective & (uint32_t(1) << (cap % 32))) != 0;
}

} // namespace

int check_bpf_privileges()
{
    __user_cap_header_struct hdr{};
    hdr.version = _LINUX_CAPABILITY_VERSION_3;
    hdr.pid = 0;
    __user_cap_data_struct data[2]{};
    if (syscall(SYS_capget, &hdr, data) != 0) return 0;  // cannot tell: let bpf() decide
    const bool bpf = cap_effective(data, CAP_SYS_ADMIN) ||
                     (cap_known(kCapBpf) && cap_effective(data, kCapBpf));
    const bool net = cap_effective(data, CAP_NET_ADMIN);
    if (bpf && net) return 0;
    FA_ERROR("bpf: not permitted (needs CAP_BPF, CAP_NET_ADMIN): running as uid %u without %s; "
             "start flowagent as root, or use source = conntrack",
             unsigned(geteuid()), !bpf && !net ? "either" : !bpf ? "CAP_BPF" : "CAP_NET_ADMIN");
    return -EPERM;
}

int drop_privileges(SourceKind source)
{
    if (geteuid() != 0) return 0;
    uint64_t keep = 0;
    auto add = [&keep](int cap) { keep |= uint64_t(1) << cap; };
    switch (source) {
    case SourceKind::xdp:
    case SourceKind::tc:
        // Detach at exit, re-attach on reload and on link events. Not CAP_SYS_ADMIN (reading
        // another program's name by id): a stale program met after the drop is recognised by
        // its owner record (bpf_attach.cpp), not by its name.
        add(CAP_NET_ADMIN);
        if (cap_known(kCapBpf)) {
            add(kCapBpf);
            add(kCapPerfmon);
        } else {
            add(CAP_SYS_ADMIN);  // kernels before 5.8 gate bpf() on CAP_SYS_ADMIN
        }
        break;
    case SourceKind::conntrack:
        add(CAP_NET_ADMIN);  // ctnetlink dumps, SO_RCVBUFFORCE, sysctls on reload
        break;
    case SourceKind::generator:
        break;
    }
    // Reload re-reads the config and may re-open sockets: nothing beyond the above is needed.
    int last = CAP_LAST_CAP;
    while (last < 63 && cap_known(last + 1)) ++last;
    for (int cap = 0; cap <= last; ++cap) {
        if (!(keep & (uint64_t(1) << cap))) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
    }
    __user_cap_header_struct hdr{};
    hdr.version = _LINUX_CAPABILITY_VERSION_3;
    hdr.pid = 0;
    __user_cap_data_struct data[2]{};
    data[0].effective = data[0].permitted = uint32_t(keep);
    data[1].effective = data[1].permitted = uint32_t(keep >> 32);
    if (syscall(SYS_capset, &hdr, data) != 0) {
        int err = errno;
        FA_WARN("could not drop capabilities: %s", std::strerror(err));
        return -err;
    }
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    FA_DEBUG("capabilities reduced to 0x%llx", (unsigned long long)keep);
    return 0;
}

} // namespace fa
