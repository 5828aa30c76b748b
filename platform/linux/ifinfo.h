// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include "export/export_types.h"

namespace fa {

// Fills one InterfaceInfo per name (ifindex, name, description from the interface alias,
// `ip link set dev X alias "..."`). Returns how many were filled; a missing interface is
// logged and skipped.
int collect_interfaces(const char (*names)[16], int count, InterfaceInfo* out, int max);

// Every interface of this network namespace (for sources that see them all, e.g. conntrack).
// At start only (if_nameindex allocates); later changes come from the link monitor.
int collect_all_interfaces(InterfaceInfo* out, int max);

// One interface's entry: ifindex, name, description (alias). Allocates nothing.
void describe_interface(const char* name, uint32_t ifindex, InterfaceInfo& out);

} // namespace fa
