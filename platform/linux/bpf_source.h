// SPDX-License-Identifier: GPL-2.0-only
// The XDP / tc source: loads bpf/fa_flow.bpf.c, attaches it to [agent] interfaces and drains
// its maps into the flow table every tick, exactly (see BpfFlowObject::drain).
#pragma once
#include <memory>

#include "source_linux.h"

namespace fa {

// cfg.source must be SourceKind::xdp or SourceKind::tc.
std::unique_ptr<Source> make_bpf_source();

} // namespace fa
