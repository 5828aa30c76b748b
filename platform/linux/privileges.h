// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include "app/config.h"

namespace fa {

// DESIGN decision 7, least privilege: once the source is attached and the sockets are open, keep
// only the capabilities the running agent still uses (bpf() map reads and detach for the eBPF
// sources, netlink dumps and buffer sizing for conntrack, nothing for the generator) and drop the
// rest from the effective, permitted, inheritable and bounding sets. No-op when not root.
// Returns 0 or a negative errno (logged; the agent keeps running).
int drop_privileges(SourceKind source);

// Before loading BPF: the effective set must hold CAP_BPF (CAP_SYS_ADMIN on kernels before
// 5.8) and CAP_NET_ADMIN. Else logs "bpf: not permitted (needs CAP_BPF, CAP_NET_ADMIN)" with
// the uid, and returns -EPERM (a non-root start must not read as "kernel too old").
int check_bpf_privileges();

} // namespace fa
