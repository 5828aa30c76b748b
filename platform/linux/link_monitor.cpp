// SPDX-License-Identifier: GPL-2.0-only
#include "link_monitor.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "core/log.h"

namespace fa {
namespace {

// Large enough that a burst of events (a router bringing up its VLANs and Wi-Fi at boot) waits
// in the socket instead of overrunning it; the kernel caps it at net.core.rmem_max.
constexpr int kRcvBuf = 256 * 1024;

// libnl-tiny's nla_parse takes a non-const policy; libnl-3's a const one: both accept this.
nla_policy g_link_policy[IFLA_MAX + 1];
nla_policy g_addr_policy[IFA_MAX + 1];

void init_policies()
{
    g_link_policy[IFLA_IFNAME].type = NLA_STRING;   // NUL-terminated, checked by libnl
    g_link_policy[IFLA_IFNAME].maxlen = IFNAMSIZ;
}

void copy_name(const nlattr* a, char (&out)[16])
{
    out[0] = 0;
    if (a == nullptr) return;
    std::snprintf(out, sizeof out, "%s", static_cast<const char*>(nla_data(a)));
}

// An address attribute as a socket address: 4 bytes (IPv4) or 16 (IPv6); false otherwise.
bool to_sockaddr(int family, const nlattr* a, uint32_t ifindex, sockaddr_storage& ss)
{
    std::memset(&ss, 0, sizeof ss);
    if (a == nullptr) return false;
    if (family == AF_INET && nla_len(a) == 4) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
        sin->sin_family = AF_INET;
        std::memcpy(&sin->sin_addr, nla_data(a), 4);
        return true;
    }
    if (family == AF_INET6 && nla_len(a) == 16) {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
        sin6->sin6_family = AF_INET6;
        std::memcpy(&sin6->sin6_addr, nla_data(a), 16);
        if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr)) sin6->sin6_scope_id = ifindex;
        return true;
    }
    return false;
}

} // namespace

int LinkMonitor::open(char* why, size_t why_len)
{
    close();
    init_policies();
    sk_ = nl_socket_alloc();
    if (sk_ == nullptr) {
        std::snprintf(why, why_len, "link monitor: cannot allocate a netlink socket");
        return -ENOMEM;
    }
    int err = nl_connect(sk_, NETLINK_ROUTE);
    if (err == 0)
        err = nl_socket_add_memberships(sk_, RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR,
                                        RTNLGRP_IPV6_IFADDR, 0);
    if (err < 0) {
        std::snprintf(why, why_len, "link monitor: rtnetlink socket: %s", nl_geterror(err));
        close();
        return -EIO;
    }
    fd_ = nl_socket_get_fd(sk_);
    (void)nl_socket_set_buffer_size(sk_, kRcvBuf, 0);
    const int fl = fcntl(fd_, F_GETFL);
    if (fl < 0 || fcntl(fd_, F_SETFL, fl | O_NONBLOCK) < 0 ||
        fcntl(fd_, F_SETFD, FD_CLOEXEC) < 0) {
        err = -errno;
        std::snprintf(why, why_len, "link monitor: fcntl: %s", std::strerror(-err));
        close();
        return err;
    }
    err = request_dump();
    if (err < 0) {
        std::snprintf(why, why_len, "link monitor: link dump request: %s", std::strerror(-err));
        close();
        return err;
    }
    return 0;
}

void LinkMonitor::close()
{
    if (sk_ != nullptr) nl_socket_free(sk_);  // closes fd_
    sk_ = nullptr;
    fd_ = -1;
    dumping_ = false;
    dump_again_ = false;
}

int LinkMonitor::request_dump()
{
    struct {
        nlmsghdr nh;
        ifinfomsg ifm;
    } req;
    std::memset(&req, 0, sizeof req);
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.ifm);
    req.nh.nlmsg_type = RTM_GETLINK;
    req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.nh.nlmsg_seq = ++seq_;
    req.ifm.ifi_family = AF_UNSPEC;
    const int rc = nl_sendto(sk_, &req, req.nh.nlmsg_len);
    if (rc < 0) return -EIO;
    dumping_ = true;
    dump_again_ = false;
    dump_begun_ = false;
    return 0;
}

void LinkMonitor::begin_dump(LinkListener& l)
{
    if (dump_begun_) return;
    dump_begun_ = true;
    l.on_dump_begin();
}

bool LinkMonitor::on_readable(LinkListener& l)
{
    if (fd_ < 0) return false;
    for (int r = 0; r < kReadsPerWake; ++r) {
        const ssize_t n = recv(fd_, buf_, sizeof buf_, MSG_TRUNC | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
            if (errno == ENOBUFS) {
                ++stats_.overruns;
                FA_WARN("links: netlink overrun (events lost); re-reading every link");
                l.on_overrun();
                if (dumping_) dump_again_ = true;
                else if (request_dump() < 0) FA_ERROR("links: link dump request failed");
                continue;
            }
            FA_ERROR("links: recv: %s", std::strerror(errno));
            return false;
        }
        if (size_t(n) > sizeof buf_) {  // a message larger than the buffer: lost, resync
            ++stats_.bad_messages;
            if (dumping_) dump_again_ = true;
            else (void)request_dump();
            continue;
        }
        int rem = int(n);
        for (nlmsghdr* h = reinterpret_cast<nlmsghdr*>(buf_); nlmsg_ok(h, rem);
             h = nlmsg_next(h, &rem))
            handle(h, l);
    }
    return true;
}

void LinkMonitor::handle(const nlmsghdr* h, LinkListener& l)
{
    const bool ours = dumping_ && h->nlmsg_seq == seq_ && (h->nlmsg_flags & NLM_F_MULTI) != 0;
    switch (h->nlmsg_type) {
    case NLMSG_DONE:
        if (!ours) return;
        begin_dump(l);  // a dump with no link at all still begins and ends
        dumping_ = false;
        dump_begun_ = false;
        ++stats_.dumps;
        l.on_dump_end();
        if (dump_again_ && request_dump() < 0) FA_ERROR("links: link dump request failed");
        return;
    case NLMSG_ERROR: {
        if (!dumping_ || h->nlmsg_seq != seq_) return;
        const auto* e = static_cast<const nlmsgerr*>(nlmsg_data(h));
        if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr)) && e->error != 0) {
            FA_WARN("links: link dump refused: %s", std::strerror(-e->error));
            dumping_ = false;
            dump_again_ = false;
            dump_begun_ = false;
        }
        return;
    }
    case RTM_NEWLINK:
    case RTM_DELLINK:
        handle_link(h, l);
        return;
    case RTM_NEWADDR:
    case RTM_DELADDR:
        handle_addr(h, l);
        return;
    default:
        return;
    }
}

void LinkMonitor::handle_link(const nlmsghdr* h, LinkListener& l)
{
    const bool dump = dumping_ && h->nlmsg_seq == seq_ && (h->nlmsg_flags & NLM_F_MULTI) != 0;
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) {
        ++stats_.bad_messages;
        return;
    }
    const auto* ifi = static_cast<const ifinfomsg*>(nlmsg_data(h));
    // AF_BRIDGE: bridge port events (RTM_DELLINK there means "left the bridge").
    if (ifi->ifi_family != AF_UNSPEC) return;
    nlattr* tb[IFLA_MAX + 1];
    if (nlmsg_parse(const_cast<nlmsghdr*>(h), sizeof(ifinfomsg), tb, IFLA_MAX, g_link_policy) <
            0 ||
        ifi->ifi_index <= 0) {
        ++stats_.bad_messages;
        return;
    }
    LinkState s;
    s.ifindex = uint32_t(ifi->ifi_index);
    copy_name(tb[IFLA_IFNAME], s.name);
    s.up = (ifi->ifi_flags & IFF_UP) != 0;
    s.running = (ifi->ifi_flags & IFF_RUNNING) != 0;
    s.arphrd = ifi->ifi_type;
    s.from_dump = dump;
    if (dump) {
        begin_dump(l);
        ++stats_.dumped_links;
    } else {
        ++stats_.link_events;
    }
    if (h->nlmsg_type == RTM_DELLINK && !dump) l.on_link_gone(s.ifindex, s.name);
    else l.on_link(s);
}

void LinkMonitor::handle_addr(const nlmsghdr* h, LinkListener& l)
{
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(ifaddrmsg))) {
        ++stats_.bad_messages;
        return;
    }
    const auto* ifa = static_cast<const ifaddrmsg*>(nlmsg_data(h));
    nlattr* tb[IFA_MAX + 1];
    if (nlmsg_parse(const_cast<nlmsghdr*>(h), sizeof(ifaddrmsg), tb, IFA_MAX, g_addr_policy) <
        0) {
        ++stats_.bad_messages;
        return;
    }
    // IFA_LOCAL is the local address (on point-to-point links IFA_ADDRESS is the peer);
    // without it, IFA_ADDRESS is the local one.
    const nlattr* a = tb[IFA_LOCAL] != nullptr ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
    sockaddr_storage ss;
    if (!to_sockaddr(ifa->ifa_family, a, ifa->ifa_index, ss)) {
        ++stats_.bad_messages;
        return;
    }
    ++stats_.address_events;
    l.on_address(h->nlmsg_type == RTM_NEWADDR, ifa->ifa_index, ss);
}

} // namespace fa
