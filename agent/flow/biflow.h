// SPDX-License-Identifier: GPL-2.0-only
#pragma once
#include <cstddef>

#include "flow/flow_record.h"

namespace fa {

// Splits a biflow record (kRecBiflow) into the uniflow records a uniflow collector gets: the
// original direction (when it has packets) and the reply direction (when rev_packets != 0),
// in that order; returns how many (0..2). The reply record's key is the inverse of the
// original's after translation (reply.src = post_dst when NATed, else dst; ports likewise;
// ICMP: type/code from rev_icmp) and its post_* are the original's key inverted, exactly as
// ct_to_records() builds it from the reply tuple. A record without kRecBiflow is copied once.
size_t biflow_split(const FlowRecord& bi, FlowRecord out[2]);

} // namespace fa
