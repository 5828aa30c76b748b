// SPDX-License-Identifier: GPL-2.0-only
// One ctnetlink message into a CtEntry, with libnetfilter_conntrack (nfct_payload_parse into one
// nf_conntrack object made at start: no allocation per message) and libmnl for the framing. The
// listener, the fuzz target and the parse benchmark all go through here.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/status.h"
#include "source/conntrack_decode.h"

struct nf_conntrack;
struct nlmsghdr;

namespace fa {

// What a netlink message on a ctnetlink socket is.
enum class CtMsgKind : uint8_t {
    entry,   // a conntrack entry (NEW/UPDATE event, DESTROY event, dump reply): parsed
    done,    // NLMSG_DONE: end of a dump
    error,   // NLMSG_ERROR: *err holds the (negative) errno, 0 for an ACK
    other,   // another subsystem or message type: ignore it
};

class CtParser {
public:
    CtParser();
    ~CtParser();
    CtParser(const CtParser&) = delete;
    CtParser& operator=(const CtParser&) = delete;
    bool ok() const { return ct_ != nullptr; }

    // `nlh` must be a whole message (mnl_nlmsg_ok() on the receive buffer). On bad_input *why
    // names the problem (malformed attribute, missing tuple, unknown family); never reads
    // outside the message.
    [[nodiscard]] Status parse(const nlmsghdr* nlh, CtEntry& out, CtMsgKind* kind, int* err,
                               const char** why);
    // Objects recycled because the library allocated inside them (security context, labels,
    // helper data: attributes this agent does not use, rare on routers).
    uint64_t recycled() const { return recycled_; }
    // Messages passed to the library without the attributes this parser does not know (labels,
    // synproxy, helper data, attributes of newer kernels): see check_attrs in the source.
    uint64_t stripped() const { return stripped_; }

private:
    void reset();
    nf_conntrack* ct_ = nullptr;
    size_t size_ = 0;
    uint64_t recycled_ = 0;
    uint64_t stripped_ = 0;
    alignas(4) uint8_t scratch_[4096];  // the message's known attributes, when some were not
};

// mnl_nlmsg_ok() with its gap closed: libmnl compares (int)nlmsg_len with the bytes left, so a
// length of 2^31 or more passes and mnl_nlmsg_next() then jumps outside the buffer (found by
// the fuzz target). Use this to walk a receive buffer.
bool ct_msg_ok(const nlmsghdr* nlh, int left);

} // namespace fa
