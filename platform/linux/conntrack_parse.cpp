// SPDX-License-Identifier: GPL-2.0-only
#include "conntrack_parse.h"

#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>

#include <cstring>

namespace fa {
namespace {

// The object's size, for clearing it between messages (nfct_payload_parse only sets
// attributes). The library documents this use (a zeroed object of nfct_maxsize() bytes is a new
// one) and marks the call deprecated only because the size may grow between versions: it is
// read at run time from the library in use.
size_t object_size()
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    return nfct_maxsize();
#pragma GCC diagnostic pop
}

void mapped_v4(uint8_t out[16], const void* v4)
{
    std::memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    std::memcpy(out + 12, v4, 4);
}

// The reply tuple's ICMP type, code and identifier: nf_conntrack keeps them, but its getters
// (ATTR_ICMP_*) answer for the original tuple only, so they are read from the message with libmnl.
// A NATed echo may carry another identifier in its reply tuple (the post-NAT one).
// Calls fn(attr) for each whole attribute in [p, p + len): libmnl's mnl_attr_ok() / _next()
// conditions, written out (its iteration macros assign from void *, which C++ does not allow,
// and the calls through the PLT were a third of the parse time).
template <typename Fn>
void for_each_attr(const void* p, size_t len, Fn fn)
{
    const auto* c = static_cast<const char*>(p);
    while (len >= sizeof(nlattr)) {
        nlattr a;
        std::memcpy(&a, c, sizeof a);
        if (a.nla_len < sizeof(nlattr) || a.nla_len > len) return;
        fn(reinterpret_cast<const nlattr*>(static_cast<const void*>(c)), uint16_t(a.nla_type & NLA_TYPE_MASK));
        const size_t step = MNL_ALIGN(a.nla_len);
        if (step >= len) return;
        c += step;
        len -= step;
    }
}

// libnetfilter_conntrack ends the process (exit(), "ctnetlink kernel ABI is broken") when an
// attribute it knows has the wrong size. The kernel never sends one, but a parser must not
// exit on its input: this checks, with libmnl's validators, every attribute the library checks
// that way, and the message is refused as bad input instead. The table mirrors the library's
// attribute policy (ctattr_type and its nested types, linux/netfilter/nfnetlink_conntrack.h).
struct Rule {
    uint16_t type;
    mnl_attr_data_type kind;  // MNL_TYPE_NESTED: `nested` holds the rules inside
    size_t len;               // MNL_TYPE_UNSPEC: exact payload length
    const Rule* nested;
    size_t n_nested;
};
template <size_t N>
constexpr size_t count(const Rule (&)[N]) { return N; }

constexpr Rule kIp[] = {{CTA_IP_V4_SRC, MNL_TYPE_U32, 0, nullptr, 0},
                        {CTA_IP_V4_DST, MNL_TYPE_U32, 0, nullptr, 0},
                        {CTA_IP_V6_SRC, MNL_TYPE_UNSPEC, 16, nullptr, 0},
                        {CTA_IP_V6_DST, MNL_TYPE_UNSPEC, 16, nullptr, 0}};
constexpr Rule kProto[] = {
    {CTA_PROTO_NUM, MNL_TYPE_U8, 0, nullptr, 0},
    {CTA_PROTO_SRC_PORT, MNL_TYPE_U16, 0, nullptr, 0},
    {CTA_PROTO_DST_PORT, MNL_TYPE_U16, 0, nullptr, 0},
    {CTA_PROTO_ICMP_ID, MNL_TYPE_U16, 0, nullptr, 0},
    {CTA_PROTO_ICMP_TYPE, MNL_TYPE_U8, 0, nullptr, 0},
    {CTA_PROTO_ICMP_CODE, MNL_TYPE_U8, 0, nullptr, 0},
    {CTA_PROTO_ICMPV6_ID, MNL_TYPE_U16, 0, nullptr, 0},
    {CTA_PROTO_ICMPV6_TYPE, MNL_TYPE_U8, 0, nullptr, 0},
    {CTA_PROTO_ICMPV6_CODE, MNL_TYPE_U8, 0, nullptr, 0}};
constexpr Rule kTuple[] = {{CTA_TUPLE_IP, MNL_TYPE_NESTED, 0, kIp, count(kIp)},
                           {CTA_TUPLE_PROTO, MNL_TYPE_NESTED, 0, kProto, count(kProto)},
                           {CTA_TUPLE_ZONE, MNL_TYPE_U16, 0, nullptr, 0}};
constexpr Rule kTcp[] = {{CTA_PROTOINFO_TCP_STATE, MNL_TYPE_U8, 0, nullptr, 0},
                         {CTA_PROTOINFO_TCP_WSCALE_ORIGINAL, MNL_TYPE_U8, 0, nullptr, 0},
                         {CTA_PROTOINFO_TCP_WSCALE_REPLY, MNL_TYPE_U8, 0, nullptr, 0},
                         {CTA_PROTOINFO_TCP_FLAGS_ORIGINAL, MNL_TYPE_UNSPEC, 2, nullptr, 0},
                         {CTA_PROTOINFO_TCP_FLAGS_REPLY, MNL_TYPE_UNSPEC, 2, nullptr, 0}};
constexpr Rule kSctp[] = {{CTA_PROTOINFO_SCTP_STATE, MNL_TYPE_U8, 0, nullptr, 0},
                          {CTA_PROTOINFO_SCTP_VTAG_ORIGINAL, MNL_TYPE_U32, 0, nullptr, 0},
                          {CTA_PROTOINFO_SCTP_VTAG_REPLY, MNL_TYPE_U32, 0, nullptr, 0}};
constexpr Rule kDccp[] = {{CTA_PROTOINFO_DCCP_STATE, MNL_TYPE_U8, 0, nullptr, 0},
                          {CTA_PROTOINFO_DCCP_ROLE, MNL_TYPE_U8, 0, nullptr, 0},
                          {CTA_PROTOINFO_DCCP_HANDSHAKE_SEQ, MNL_TYPE_U64, 0, nullptr, 0}};
constexpr Rule kProtoinfo[] = {
    {CTA_PROTOINFO_TCP, MNL_TYPE_NESTED, 0, kTcp, count(kTcp)},
    {CTA_PROTOINFO_SCTP, MNL_TYPE_NESTED, 0, kSctp, count(kSctp)},
    {CTA_PROTOINFO_DCCP, MNL_TYPE_NESTED, 0, kDccp, count(kDccp)}};
constexpr Rule kCounters[] = {{CTA_COUNTERS_PACKETS, MNL_TYPE_U64, 0, nullptr, 0},
                              {CTA_COUNTERS_BYTES, MNL_TYPE_U64, 0, nullptr, 0},
                              {CTA_COUNTERS32_PACKETS, MNL_TYPE_U32, 0, nullptr, 0},
                              {CTA_COUNTERS32_BYTES, MNL_TYPE_U32, 0, nullptr, 0}};
constexpr Rule kNatSeq[] = {{CTA_NAT_SEQ_CORRECTION_POS, MNL_TYPE_U32, 0, nullptr, 0},
                            {CTA_NAT_SEQ_OFFSET_BEFORE, MNL_TYPE_U32, 0, nullptr, 0},
                            {CTA_NAT_SEQ_OFFSET_AFTER, MNL_TYPE_U32, 0, nullptr, 0}};
constexpr Rule kName[] = {{1, MNL_TYPE_NUL_STRING, 0, nullptr, 0}};  // CTA_HELP_NAME, CTA_SECCTX_NAME
constexpr Rule kTstamp[] = {{CTA_TIMESTAMP_START, MNL_TYPE_U64, 0, nullptr, 0},
                            {CTA_TIMESTAMP_STOP, MNL_TYPE_U64, 0, nullptr, 0}};
constexpr Rule kTop[] = {
    {CTA_TUPLE_ORIG, MNL_TYPE_NESTED, 0, kTuple, count(kTuple)},
    {CTA_TUPLE_REPLY, MNL_TYPE_NESTED, 0, kTuple, count(kTuple)},
    {CTA_TUPLE_MASTER, MNL_TYPE_NESTED, 0, kTuple, count(kTuple)},
    {CTA_NAT_SEQ_ADJ_ORIG, MNL_TYPE_NESTED, 0, kNatSeq, count(kNatSeq)},
    {CTA_NAT_SEQ_ADJ_REPLY, MNL_TYPE_NESTED, 0, kNatSeq, count(kNatSeq)},
    {CTA_PROTOINFO, MNL_TYPE_NESTED, 0, kProtoinfo, count(kProtoinfo)},
    {CTA_COUNTERS_ORIG, MNL_TYPE_NESTED, 0, kCounters, count(kCounters)},
    {CTA_COUNTERS_REPLY, MNL_TYPE_NESTED, 0, kCounters, count(kCounters)},
    {CTA_HELP, MNL_TYPE_NESTED, 0, kName, count(kName)},
    {CTA_SECCTX, MNL_TYPE_NESTED, 0, kName, count(kName)},
    {CTA_TIMESTAMP, MNL_TYPE_NESTED, 0, kTstamp, count(kTstamp)},
    {CTA_STATUS, MNL_TYPE_U32, 0, nullptr, 0},
    {CTA_TIMEOUT, MNL_TYPE_U32, 0, nullptr, 0},
    {CTA_MARK, MNL_TYPE_U32, 0, nullptr, 0},
    {CTA_SECMARK, MNL_TYPE_U32, 0, nullptr, 0},
    {CTA_USE, MNL_TYPE_U32, 0, nullptr, 0},
    {CTA_ID, MNL_TYPE_U32, 0, nullptr, 0},
    {CTA_ZONE, MNL_TYPE_U16, 0, nullptr, 0}};

enum class AttrCheck { ok, bad, strip };

// Every attribute of the table checked as the library checks it. `strip`: all known attributes
// are valid but some are not in the table (CTA_LABELS, CTA_SYNPROXY, CTA_HELP_INFO, whatever a
// newer kernel adds): the library version in use may check those too and exit on them, so the
// message is passed on without them (copy_known).
AttrCheck check_attrs(const void* p, size_t len, const Rule* rules, size_t n, int depth)
{
    AttrCheck res = AttrCheck::ok;
    for_each_attr(p, len, [&](const nlattr* a, uint16_t type) {
        if (res == AttrCheck::bad) return;
        const Rule* r = nullptr;
        for (size_t i = 0; i < n && !r; ++i)
            if (rules[i].type == type) r = &rules[i];
        if (!r) {
            res = AttrCheck::strip;
            return;
        }
        const bool ok = r->kind == MNL_TYPE_UNSPEC ? mnl_attr_validate2(a, MNL_TYPE_UNSPEC, r->len) == 0
                                                   : mnl_attr_validate(a, r->kind) == 0;
        if (!ok) {
            res = AttrCheck::bad;
            return;
        }
        if (!r->nested) return;
        if (depth >= 4) {
            res = AttrCheck::bad;
            return;
        }
        const AttrCheck in = check_attrs(mnl_attr_get_payload(a), mnl_attr_get_payload_len(a),
                                         r->nested, r->n_nested, depth + 1);
        if (in != AttrCheck::ok) res = in;
    });
    return res;
}

// Copies the attributes of [p, p + len) that the table knows into out (cap bytes), nested ones
// with only their known children. Returns the bytes written, or kFull when out is too small (a
// message that repeats attributes: refused).
constexpr size_t kFull = ~size_t(0);
size_t copy_known(const void* p, size_t len, const Rule* rules, size_t n, uint8_t* out, size_t cap)
{
    size_t used = 0;
    bool full = false;
    for_each_attr(p, len, [&](const nlattr* a, uint16_t type) {
        if (full) return;
        const Rule* r = nullptr;
        for (size_t i = 0; i < n && !r; ++i)
            if (rules[i].type == type) r = &rules[i];
        if (!r) return;
        const size_t plen = mnl_attr_get_payload_len(a);
        if (used + MNL_ALIGN(sizeof(nlattr) + plen) > cap) {
            full = true;
            return;
        }
        nlattr h;
        std::memcpy(&h, a, sizeof h);
        size_t body = plen;
        if (r->nested) {
            body = copy_known(mnl_attr_get_payload(a), plen, r->nested, r->n_nested,
                              out + used + sizeof(nlattr), cap - used - sizeof(nlattr));
            if (body == kFull) {
                full = true;
                return;
            }
        } else {
            std::memcpy(out + used + sizeof(nlattr), mnl_attr_get_payload(a), plen);
        }
        h.nla_len = uint16_t(sizeof(nlattr) + body);
        std::memcpy(out + used, &h, sizeof h);
        const size_t step = MNL_ALIGN(h.nla_len);
        std::memset(out + used + h.nla_len, 0, step - h.nla_len);
        used += step;
    });
    return full ? kFull : used;
}

void reply_icmp(const void* attrs, size_t len, CtTuple& t)
{
    const nlattr* tuple = nullptr;
    for_each_attr(attrs, len, [&](const nlattr* a, uint16_t type) {
        if (type == CTA_TUPLE_REPLY) tuple = a;
    });
    if (!tuple) return;
    const nlattr* proto = nullptr;
    for_each_attr(mnl_attr_get_payload(tuple), mnl_attr_get_payload_len(tuple),
                  [&](const nlattr* a, uint16_t type) {
                      if (type == CTA_TUPLE_PROTO) proto = a;
                  });
    if (!proto) return;
    uint8_t icmp_type = 0, code = 0;
    for_each_attr(mnl_attr_get_payload(proto), mnl_attr_get_payload_len(proto),
                  [&](const nlattr* a, uint16_t type) {
        switch (type) {
        case CTA_PROTO_ICMP_TYPE: case CTA_PROTO_ICMPV6_TYPE:
            if (mnl_attr_validate(a, MNL_TYPE_U8) == 0) icmp_type = mnl_attr_get_u8(a);
            break;
        case CTA_PROTO_ICMP_CODE: case CTA_PROTO_ICMPV6_CODE:
            if (mnl_attr_validate(a, MNL_TYPE_U8) == 0) code = mnl_attr_get_u8(a);
            break;
        case CTA_PROTO_ICMP_ID: case CTA_PROTO_ICMPV6_ID:
            if (mnl_attr_validate(a, MNL_TYPE_U16) == 0) t.icmp_id = ntohs(mnl_attr_get_u16(a));
            break;
        default: break;
        }
    });
    t.dst_port = uint16_t(icmp_type << 8 | code);
}

} // namespace

bool ct_msg_ok(const nlmsghdr* nlh, int left)
{
    return left >= int(sizeof(nlmsghdr)) && mnl_nlmsg_ok(nlh, left) &&
           nlh->nlmsg_len <= uint32_t(left);
}

CtParser::CtParser() : ct_(nfct_new()), size_(object_size()) {}

CtParser::~CtParser()
{
    if (ct_) nfct_destroy(ct_);
}

void CtParser::reset()
{
    // Attributes the library allocates for (security context, labels, helper data): only
    // nfct_destroy() frees them, so such an object is replaced, never cleared. Rare: SELinux,
    // "ct label" rules, helpers with private data.
    if (nfct_attr_is_set(ct_, ATTR_SECCTX) > 0 || nfct_attr_is_set(ct_, ATTR_CONNLABELS) > 0 ||
        nfct_attr_is_set(ct_, ATTR_CONNLABELS_MASK) > 0 ||
        nfct_attr_is_set(ct_, ATTR_HELPER_INFO) > 0) {
        nf_conntrack* fresh = nfct_new();
        if (fresh) {
            nfct_destroy(ct_);
            ct_ = fresh;
            ++recycled_;
            return;
        }
    }
    std::memset(static_cast<void*>(ct_), 0, size_);  // holds no allocation (checked above)
}

Status CtParser::parse(const nlmsghdr* nlh, CtEntry& out, CtMsgKind* kind, int* err,
                       const char** why)
{
    static const char* dummy;
    if (!why) why = &dummy;
    *why = "";
    *kind = CtMsgKind::other;
    if (err) *err = 0;
    const size_t plen = mnl_nlmsg_get_payload_len(nlh);
    if (nlh->nlmsg_type == NLMSG_DONE) {
        *kind = CtMsgKind::done;
        return Status::ok;
    }
    if (nlh->nlmsg_type == NLMSG_ERROR) {
        int32_t e = 0;
        if (plen < sizeof(e)) {
            *why = "netlink: truncated error message";
            return Status::bad_input;
        }
        std::memcpy(&e, mnl_nlmsg_get_payload(nlh), sizeof(e));
        if (err) *err = e;
        *kind = CtMsgKind::error;
        return Status::ok;
    }
    if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_CTNETLINK) return Status::ok;
    const uint16_t ct_type = NFNL_MSG_TYPE(nlh->nlmsg_type);
    if (ct_type != IPCTNL_MSG_CT_NEW && ct_type != IPCTNL_MSG_CT_DELETE) return Status::ok;
    if (plen < sizeof(nfgenmsg)) {
        *why = "ctnetlink: truncated nfgenmsg";
        return Status::bad_input;
    }
    if (!ct_) {
        *why = "ctnetlink: no conntrack object";
        return Status::bad_input;
    }
    const auto* nfg = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(nlh));
    const uint8_t family = nfg->nfgen_family;
    if (family != AF_INET && family != AF_INET6) {
        *why = "ctnetlink: unknown address family";
        return Status::bad_input;
    }
    const void* attrs = mnl_nlmsg_get_payload_offset(nlh, sizeof(nfgenmsg));
    const size_t alen = plen - sizeof(nfgenmsg);
    const void* lib_attrs = attrs;
    size_t lib_len = alen;
    switch (check_attrs(attrs, alen, kTop, count(kTop), 0)) {
    case AttrCheck::ok: break;
    case AttrCheck::bad:
        *why = "ctnetlink: attribute of the wrong size or type";
        return Status::bad_input;
    case AttrCheck::strip:
        lib_len = copy_known(attrs, alen, kTop, count(kTop), scratch_, sizeof scratch_);
        if (lib_len == kFull) {
            *why = "ctnetlink: message too large once unknown attributes are removed";
            return Status::bad_input;
        }
        lib_attrs = scratch_;
        ++stripped_;
        break;
    }
    reset();
    if (nfct_payload_parse(lib_attrs, lib_len, family, ct_) < 0) {
        *why = "ctnetlink: malformed attribute (libnetfilter_conntrack refused the message)";
        return Status::bad_input;
    }
    const bool v4 = family == AF_INET;
    const nf_conntrack_attr need[] = {
        v4 ? ATTR_ORIG_IPV4_SRC : ATTR_ORIG_IPV6_SRC, v4 ? ATTR_ORIG_IPV4_DST : ATTR_ORIG_IPV6_DST,
        v4 ? ATTR_REPL_IPV4_SRC : ATTR_REPL_IPV6_SRC, v4 ? ATTR_REPL_IPV4_DST : ATTR_REPL_IPV6_DST,
        ATTR_ORIG_L4PROTO, ATTR_REPL_L4PROTO};
    if (nfct_attr_is_set_array(ct_, need, int(sizeof need / sizeof need[0])) <= 0) {
        *why = "ctnetlink: entry without a complete original and reply tuple";
        return Status::bad_input;
    }
    out = CtEntry{};
    out.family = family;
    if (ct_type == IPCTNL_MSG_CT_DELETE) out.event = CtEvent::destroy;
    else if ((nlh->nlmsg_flags & NLM_F_CREATE) && !(nlh->nlmsg_flags & NLM_F_MULTI))
        out.event = CtEvent::create;
    else out.event = CtEvent::update;

    const nf_conntrack* ct = ct_;
    CtTuple* tuples[2] = {&out.orig, &out.reply};
    for (int d = 0; d < 2; ++d) {
        CtTuple& t = *tuples[d];
        const bool o = d == 0;
        if (v4) {
            mapped_v4(t.src, nfct_get_attr(ct, o ? ATTR_ORIG_IPV4_SRC : ATTR_REPL_IPV4_SRC));
            mapped_v4(t.dst, nfct_get_attr(ct, o ? ATTR_ORIG_IPV4_DST : ATTR_REPL_IPV4_DST));
        } else {
            std::memcpy(t.src, nfct_get_attr(ct, o ? ATTR_ORIG_IPV6_SRC : ATTR_REPL_IPV6_SRC), 16);
            std::memcpy(t.dst, nfct_get_attr(ct, o ? ATTR_ORIG_IPV6_DST : ATTR_REPL_IPV6_DST), 16);
        }
        t.proto = nfct_get_attr_u8(ct, o ? ATTR_ORIG_L4PROTO : ATTR_REPL_L4PROTO);
        t.has_ip = t.has_proto = 1;
        if (t.proto == IPPROTO_ICMP || t.proto == IPPROTO_ICMPV6) continue;
        t.src_port = ntohs(nfct_get_attr_u16(ct, o ? ATTR_ORIG_PORT_SRC : ATTR_REPL_PORT_SRC));
        t.dst_port = ntohs(nfct_get_attr_u16(ct, o ? ATTR_ORIG_PORT_DST : ATTR_REPL_PORT_DST));
    }
    if (out.orig.proto != out.reply.proto) {
        *why = "ctnetlink: original and reply tuples disagree on the protocol";
        return Status::bad_input;
    }
    if (out.orig.proto == IPPROTO_ICMP || out.orig.proto == IPPROTO_ICMPV6) {
        // FlowKey convention: ICMP type/code in dst_port, src_port 0.
        out.orig.dst_port = uint16_t(nfct_get_attr_u8(ct, ATTR_ICMP_TYPE) << 8 |
                                     nfct_get_attr_u8(ct, ATTR_ICMP_CODE));
        out.orig.icmp_id = ntohs(nfct_get_attr_u16(ct, ATTR_ICMP_ID));
        reply_icmp(attrs, alen, out.reply);
    }
    if (nfct_attr_is_set(ct, ATTR_TCP_STATE) > 0) {
        out.tcp_state = nfct_get_attr_u8(ct, ATTR_TCP_STATE);
        out.has_tcp_state = 1;
    }
    auto u32 = [ct](nf_conntrack_attr a, uint32_t& v, uint8_t& has) {
        if (nfct_attr_is_set(ct, a) <= 0) return;
        v = nfct_get_attr_u32(ct, a);
        has = 1;
    };
    u32(ATTR_ID, out.id, out.has_id);
    u32(ATTR_STATUS, out.status, out.has_status);
    u32(ATTR_MARK, out.mark, out.has_mark);
    u32(ATTR_TIMEOUT, out.timeout_s, out.has_timeout);
    if (nfct_attr_is_set(ct, ATTR_ZONE) > 0) {
        out.zone = nfct_get_attr_u16(ct, ATTR_ZONE);
        out.has_zone = 1;
    }
    if (nfct_attr_is_set(ct, ATTR_TIMESTAMP_START) > 0) {
        out.tstamp_start_ns = nfct_get_attr_u64(ct, ATTR_TIMESTAMP_START);
        out.has_tstamp_start = 1;
    }
    if (nfct_attr_is_set(ct, ATTR_TIMESTAMP_STOP) > 0) {
        out.tstamp_stop_ns = nfct_get_attr_u64(ct, ATTR_TIMESTAMP_STOP);
        out.has_tstamp_stop = 1;
    }
    CtCounters* ctr[2] = {&out.orig_ctr, &out.reply_ctr};
    const nf_conntrack_attr pk[2] = {ATTR_ORIG_COUNTER_PACKETS, ATTR_REPL_COUNTER_PACKETS};
    const nf_conntrack_attr by[2] = {ATTR_ORIG_COUNTER_BYTES, ATTR_REPL_COUNTER_BYTES};
    for (int d = 0; d < 2; ++d) {
        if (nfct_attr_is_set(ct, pk[d]) > 0) {
            ctr[d]->packets = nfct_get_attr_u64(ct, pk[d]);
            ctr[d]->present = 1;
        }
        if (nfct_attr_is_set(ct, by[d]) > 0) {
            ctr[d]->octets = nfct_get_attr_u64(ct, by[d]);
            ctr[d]->present = 1;
        }
    }
    *kind = CtMsgKind::entry;
    return Status::ok;
}

} // namespace fa
