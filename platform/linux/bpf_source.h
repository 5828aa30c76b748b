// SPDX-License-Identifier: GPL-2.0-only
// The XDP / tc source: loads bpf/fa_flow.bpf.c, attaches it to [agent] interfaces and drains
// its maps into the flow table every tick, exactly (see BpfFlowObject::drain).
#pragma once
#include <memory>

#include "source_linux.h"

namespace fa {

// Attach paths (tests force those of older kernels).
struct BpfSourceOptions {
    bool xdp_link = true;  // false: netlink XDP (kernels before 5.9)
    bool tcx = true;       // false: clsact (kernels before 6.6)
    const char* object_path = nullptr;  // another BPF object (tests, VM images); nullptr: ours
};

// The test knobs, read once by the caller: FA_BPF_NO_TCX (set: no tcx), FA_BPF_NO_XDP_LINK
// (set: no XDP links), FA_BPF_OBJECT (the object to load).
BpfSourceOptions bpf_source_options_from_env();

// cfg.source must be SourceKind::xdp or SourceKind::tc. The interface owner locks live in the
// directory of [agent] control_socket (the run directory).
std::unique_ptr<Source> make_bpf_source(const BpfSourceOptions& opt);
// make_bpf_source(bpf_source_options_from_env())
std::unique_ptr<Source> make_bpf_source();

} // namespace fa
