// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include "source_linux.h"

namespace fa {

// The conntrack source (source = conntrack): ctnetlink NEW/DESTROY events, one FlowRecord per
// direction with NAT fields, forced-end export of every live connection at stop().
Source* new_conntrack_source();

} // namespace fa
