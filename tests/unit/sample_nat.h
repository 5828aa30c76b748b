// SPDX-License-Identifier: GPL-2.0-only
// A NAT44 session event for the unit tests: src:sport -> dst:dport translated to
// post_src:post_sport -> dst:dport (the destination is not translated, as with masquerading),
// at monotonic time_ms.
#pragma once
#include <cstdint>

#include "flow/flow_key.h"
#include "flow/nat_event.h"

namespace fa {

inline NatEvent sample_nat44(uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
                             uint32_t post_src, uint16_t post_sport, uint8_t proto,
                             uint8_t event, MonoMs time_ms = 0)
{
    NatEvent ev;
    FlowKey k{};  // set_v4 writes the IPv4-mapped form into any 16-byte field
    k.set_v4(ev.src, src);
    k.set_v4(ev.dst, dst);
    k.set_v4(ev.post_src, post_src);
    k.set_v4(ev.post_dst, dst);
    ev.src_port = sport;
    ev.dst_port = dport;
    ev.post_src_port = post_sport;
    ev.post_dst_port = dport;
    ev.proto = proto;
    ev.event = event;
    ev.time_ms = time_ms;
    return ev;
}

} // namespace fa
