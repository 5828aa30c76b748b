// SPDX-License-Identifier: GPL-2.0-only
// A NAT44 session event for the unit tests: src -> dst translated to post_src -> dst (the
// destination is not translated, as with masquerading). Ports and time are left to the caller.
#pragma once
#include <cstdint>

#include "flow/flow_key.h"
#include "flow/nat_event.h"

namespace fa {

inline NatEvent sample_nat44(uint32_t src, uint32_t dst, uint32_t post_src, uint8_t proto,
                             uint8_t event)
{
    NatEvent ev;
    FlowKey k{};  // set_v4 writes the IPv4-mapped form into any 16-byte field
    k.set_v4(ev.src, src);
    k.set_v4(ev.dst, dst);
    k.set_v4(ev.post_src, post_src);
    k.set_v4(ev.post_dst, dst);
    ev.proto = proto;
    ev.event = event;
    return ev;
}

} // namespace fa
