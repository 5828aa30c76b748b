// SPDX-License-Identifier: GPL-2.0-only
#include "flow/biflow.h"

#include <cstring>

namespace fa {

size_t biflow_split(const FlowRecord& bi, FlowRecord out[2])
{
    if (!(bi.flags & kRecBiflow)) {
        out[0] = bi;
        return 1;
    }
    FlowRecord uni = bi;
    uni.flags = uint8_t(uni.flags & ~kRecBiflow);
    uni.rev_packets = uni.rev_octets = 0;
    uni.rev_icmp = 0;
    size_t n = 0;
    if (bi.packets != 0) out[n++] = uni;
    if (bi.rev_packets == 0) return n;

    FlowRecord& r = out[n++];
    r = uni;
    r.packets = bi.rev_packets;
    r.octets = bi.rev_octets;
    const bool nat = (bi.flags & kRecHasNat) != 0;
    const bool icmp = bi.key.is_icmp();
    std::memcpy(r.key.src, nat ? bi.post_dst : bi.key.dst, 16);
    std::memcpy(r.key.dst, nat ? bi.post_src : bi.key.src, 16);
    r.key.src_port = icmp ? 0 : (nat ? bi.post_dst_port : bi.key.dst_port);
    r.key.dst_port = icmp ? bi.rev_icmp : (nat ? bi.post_src_port : bi.key.src_port);
    if (nat) {
        std::memcpy(r.post_src, bi.key.dst, 16);
        std::memcpy(r.post_dst, bi.key.src, 16);
        r.post_src_port = icmp ? 0 : bi.key.dst_port;
        r.post_dst_port = icmp ? 0 : bi.key.src_port;
    }
    return n;
}

} // namespace fa
