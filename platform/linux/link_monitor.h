// SPDX-License-Identifier: GPL-2.0-only
// Link monitor: rtnetlink link and address events through libnl, for the event loop.
//
// Logic:
//  1. open(): a NETLINK_ROUTE socket from libnl (nl_socket_alloc, nl_connect), joined to
//     RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR and RTNLGRP_IPV6_IFADDR, non-blocking, close-on-exec;
//     then a dump of every link (RTM_GETLINK), so that the listener learns the links present
//     at start through the same path as later ones.
//  2. on_readable(): at most kReadsPerWake datagrams per wake-up (the loop is level-triggered
//     and calls again while more wait), each into one fixed buffer; every message is parsed
//     with nlmsg_parse() into a fixed attribute table and handed to the listener as a plain
//     struct. Nothing is allocated after open(): libnl's receive path (nl_recvmsgs) mallocs a
//     buffer per call and its cache API an object per link, so neither is used; libnl does
//     the socket set-up and the message/attribute parsing (calls libnl-tiny has too).
//  3. Overrun (recv fails with ENOBUFS: the kernel dropped events): counted, the listener is
//     told (on_overrun), and the links are dumped again; links that went away while events
//     were lost are the ones the dump does not name (the listener compares at on_dump_end).
//     A dump asked for while one runs (the kernel answers EBUSY) is asked again at its end.
//  4. Link messages of other families (AF_BRIDGE port events, whose RTM_DELLINK means "left
//     the bridge", not "deleted") are ignored.
#pragma once
#include <cstddef>
#include <cstdint>
#include <sys/socket.h>

struct nl_sock;
struct nlmsghdr;

namespace fa {

struct LinkState {
    uint32_t ifindex = 0;
    char name[16] = {};      // IFNAMSIZ
    bool up = false;         // IFF_UP: administratively up
    bool running = false;    // IFF_RUNNING: carrier (operational)
    uint16_t arphrd = 0;     // ARPHRD_* (ifi_type)
    bool from_dump = false;  // reported by a link dump, not by a change notification
};

class LinkListener {
public:
    virtual ~LinkListener() = default;
    // A link is new, or one of its properties changed (name, flags, ...); also once per link
    // of a dump.
    virtual void on_link(const LinkState& l) = 0;
    // A link was deleted.
    virtual void on_link_gone(uint32_t ifindex, const char* name) = 0;
    // An address was added to or removed from interface ifindex (sockaddr_in / sockaddr_in6;
    // IPv6 link-local ones carry ifindex as scope id).
    virtual void on_address(bool added, uint32_t ifindex, const sockaddr_storage& addr) = 0;
    // A dump of every link: on_dump_begin(), on_link() per link, on_dump_end().
    virtual void on_dump_begin() {}
    virtual void on_dump_end() {}
    // Events were lost (socket overrun): a link dump follows; address removals may be missed.
    virtual void on_overrun() {}
};

struct LinkMonitorStats {
    uint64_t link_events = 0;     // RTM_NEWLINK / RTM_DELLINK notifications handled
    uint64_t address_events = 0;  // RTM_NEWADDR / RTM_DELADDR notifications handled
    uint64_t dumped_links = 0;    // links reported by dumps (start and resyncs)
    uint64_t dumps = 0;           // dumps completed
    uint64_t overruns = 0;        // ENOBUFS: events lost, resynced by a dump
    uint64_t bad_messages = 0;    // malformed or truncated messages skipped
};

class LinkMonitor {
public:
    static constexpr int kReadsPerWake = 8;
    static constexpr size_t kBufBytes = 32768;  // a kernel dump datagram is at most 32 KiB

    LinkMonitor() = default;
    ~LinkMonitor() { close(); }
    LinkMonitor(const LinkMonitor&) = delete;
    LinkMonitor& operator=(const LinkMonitor&) = delete;

    // Socket, memberships, non-blocking; then asks for the first link dump (delivered through
    // on_readable like every event). Returns 0 or a negative errno (why is filled).
    int open(char* why, size_t why_len);
    void close();
    int fd() const { return fd_; }
    // Reads and handles at most kReadsPerWake datagrams. Returns true when it stopped at the
    // budget (more may be waiting; a level-triggered loop calls again).
    bool on_readable(LinkListener& l);
    const LinkMonitorStats& stats() const { return stats_; }
    bool dumping() const { return dumping_; }

private:
    int request_dump();
    void begin_dump(LinkListener& l);  // on_dump_begin() once per dump, at its first message
    void handle(const nlmsghdr* h, LinkListener& l);
    void handle_link(const nlmsghdr* h, LinkListener& l);
    void handle_addr(const nlmsghdr* h, LinkListener& l);

    nl_sock* sk_ = nullptr;
    int fd_ = -1;
    uint32_t seq_ = 0;
    bool dumping_ = false;       // a dump request is out, its NLMSG_DONE not seen yet
    bool dump_again_ = false;    // an overrun during a dump: dump again after it
    bool dump_begun_ = false;    // on_dump_begin() called for the running dump
    LinkMonitorStats stats_;
    uint32_t buf_[kBufBytes / 4];  // 4-byte aligned, as netlink messages are
};

} // namespace fa
