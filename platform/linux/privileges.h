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

} // namespace fa
