// SPDX-License-Identifier: GPL-2.0-only
// UDP transport to one collector: a connected, non-blocking datagram socket.
#pragma once
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

#include "export/export_types.h"

namespace fa {

// Resolves host (numeric IPv4/IPv6 or a name, via getaddrinfo) and port into a socket address,
// without opening anything: used by open() and by --check-config. Takes the first address
// getaddrinfo returns (RFC 6724 order). Returns 0 or a negative errno (-EINVAL for bad
// arguments, -EHOSTUNREACH when the name does not resolve); on failure writes a one-line reason
// naming the host to err (if err_len > 0).
int resolve_collector(const char* host, uint16_t port, sockaddr_storage* out, socklen_t* out_len,
                      char* err, size_t err_len);

// The same for numeric addresses only (AI_NUMERICHOST): never waits for a name service.
// -EHOSTUNREACH for a name.
int resolve_numeric(const char* host, uint16_t port, sockaddr_storage* out, socklen_t* out_len);

// The same IPv4/IPv6 address and port (IPv6: and scope).
bool same_endpoint(const sockaddr_storage& a, const sockaddr_storage& b);

// Formats an IPv4/IPv6 socket address as "192.0.2.1:2055" / "[2001:db8::1]:4739".
void format_sockaddr(const sockaddr* sa, char* out, size_t out_len);

// Pacing of one collector's datagrams: a token bucket of `rate` datagrams per second with a
// burst of `burst`, and a queue of `slots` datagrams of up to `slot_bytes` each, allocated once.
struct PacingConfig {
    uint32_t rate = 0;        // datagrams per second; 0 = unpaced (no queue)
    uint32_t burst = 0;       // 0 = rate / 100, at least 1
    uint32_t slots = 0;       // queue length in datagrams
    uint16_t slot_bytes = 0;  // largest datagram (the collector's max_datagram)
};

// What the transport did beyond the exporter's own counters, for logs.
struct TransportCounters {
    uint64_t resent_after_stale_refusal = 0;  // ECONNREFUSED for an earlier datagram: sent again
    uint64_t icmp_errors = 0;                 // error-queue entries read (IP_RECVERR)
    uint64_t icmp_matched = 0;                // ... that quoted a datagram still in the ring
    uint64_t queue_overflow = 0;              // datagrams refused because the queue was full
    uint64_t queue_dropped = 0;               // queued datagrams given up (stop deadline, close)
    uint64_t queue_peak = 0;                  // most datagrams queued at once
    uint64_t resent_after_stale_error = 0;    // EHOSTUNREACH/ENETUNREACH of an earlier datagram
    uint64_t reopens = 0;                     // sockets reopened (route errors, address events)
    uint64_t reopen_failures = 0;             // reopens that found no route (retried each 1 s)
    uint64_t templates_inserted = 0;          // template messages sent first on a new session
};

class UdpTransport final : public DatagramSink {
public:
    UdpTransport();
    ~UdpTransport() override;
    UdpTransport(const UdpTransport&) = delete;
    UdpTransport& operator=(const UdpTransport&) = delete;

    // Logic (export follows the routes, issue 10):
    //  1. The socket is connect()ed, so the kernel fixed its local address then. When that
    //     address goes away (WAN renumbered, PPPoE redial, VPN down) or the route does, sends
    //     fail with a route error (kReopenErrors below: IPv4 gives ENETUNREACH, also when a
    //     second address took over the subnet) or, for IPv6, go on from the removed address
    //     without an error (so only the address event, on_local_address_removed, moves it).
    //  2. On a route error the socket is closed and a new one connect()ed to the same collector
    //     (the kernel picks the route and source address now), bound to the old local port when
    //     it is free; the datagram in hand is sent once more on it. At most one such reopen per
    //     second: a route error within a second of the last one, or on the new socket, takes
    //     the transport down.
    //  3. Down (no route now): no socket; the datagrams wait in the send queue, in order, as
    //     for a name that does not resolve yet, and pump() tries to reopen once per second.
    //     What does not fit in the queue, or is still there at stop, is counted as not sent.
    //  4. ENETUNREACH and EHOSTUNREACH are also how an earlier datagram's ICMP error (network
    //     or host unreachable, IP_RECVERR) is reported on a later send: when the error queue
    //     holds such an ICMP error, the error was not this datagram's and it is sent again on
    //     the same socket (as for ECONNREFUSED), without a reopen.
    //  5. A socket whose session differs from the last one's (local address or port, or
    //     collector address) is new to the collector: before the first datagram on it, the
    //     feedback (the exporter) writes a template-only message numbered to go before it
    //     (SendFeedback::templates_before). No datagram is renumbered, dropped or reordered.
    //  6. One log line per reopen (reason, old and new local address); a failed reopen is
    //     logged once per outage.

    // Resolves host:port and opens the socket (closing any previous one first, so this is also
    // the reload path). The socket is connect()ed so that an ICMP port unreachable from the
    // collector's host comes back as ECONNREFUSED on a later send. Returns 0 or negative errno;
    // on failure writes a one-line reason (e.g. "cannot resolve host 'foo.invalid': Name or
    // service not known") to err.
    int open(const char* host, uint16_t port, char* err, size_t err_len);

    // Opens the socket to an address already resolved (resolve_collector). Same contract. What
    // was queued before (while the name did not resolve) is kept and paced out from here on.
    // Also how a collector name that now resolves to another address moves (point 5 above).
    int open_addr(const sockaddr_storage& ss, socklen_t ss_len, char* err, size_t err_len);

    // Closes the socket and opens a new one to the same collector address (point 2 above);
    // `why` goes in the log line. 0, or a negative errno and the transport is down (point 3).
    // -ENOTCONN when it never had an address.
    int reopen(const char* why);
    // An address was removed from an interface: reopens the socket when its local address is
    // that one (the port is ignored). true when it did (or tried, and is now down).
    bool on_local_address_removed(const sockaddr_storage& addr);
    // After a failed open_addr(): keep the address and let pump() try again (point 3).
    void retry_later();
    // No route to the collector now: pump() reopens once per second.
    bool down() const { return down_; }
    // true once after a reopen (done, or failed and now down) since the last call: the owner
    // then resolves a collector name again and tells the source the new socket.
    bool take_reopened()
    {
        const bool r = reopened_;
        reopened_ = false;
        return r;
    }
    // The collector address in use (valid when has_peer()).
    const sockaddr_storage& peer_addr() const { return peer_addr_; }
    bool has_peer() const { return peer_len_ != 0; }
    // The socket's local address (getsockname after connect); family AF_UNSPEC when closed.
    const sockaddr_storage& local_addr() const { return local_; }
    // Names the collector in log lines (the [collector NAME] section).
    void set_label(const char* label);

    // Sends one datagram; never blocks. ECONNREFUSED -> refused; EAGAIN/EWOULDBLOCK/ENOBUFS ->
    // again; anything else (including "not open") -> error. Unpaced, unaccounted.
    SendResult send(const uint8_t* data, size_t len) override;

    // The exporter's path. An ECONNREFUSED from send(2) reports an ICMP error drawn by an
    // earlier datagram: the error queue (IP_RECVERR) is read, the datagram it quotes is found in
    // the ring of recently sent ones and reported lost through the feedback, and the datagram in
    // hand is sent again. With pacing, the datagram is sent now if the bucket has a token and
    // nothing waits, else queued (queued), else, queue full, refused as again (counted).
    SendResult send_counted(const uint8_t* data, size_t len, const DatagramMeta& m) override;
    void poll_outcomes() override { read_errors(); }

    // Allocates the queue (once per size; the same or a smaller size keeps it), and a buffer of
    // slot_bytes for the template message of a new session. false: no memory.
    bool set_pacing(const PacingConfig& pc);
    // Where late outcomes go (the exporter); nullptr drops them (between runtimes).
    void set_feedback(SendFeedback* fb) { feedback_ = fb; }
    // Reads the error queue, then sends what the bucket allows. Call from a timer.
    void pump();
    // Milliseconds until pump() has work (a token for the queue's head, or, down, the next
    // reopen try), -1 when the queue is empty or the socket waits for its address.
    int pump_delay_ms() const;
    uint32_t queued() const { return q_count_; }
    // Pumps until the queue is empty or deadline_ms (CLOCK_MONOTONIC) passes, sleeping between
    // tokens; what is left is dropped and reported as not sent. Blocks: for stop and reload.
    void drain_until(uint64_t deadline_ms);
    // Drops everything queued (reported as not sent, again).
    void drop_queue();
    // Reads the ICMP errors queued on the socket; each one that quotes a datagram in the ring
    // is reported as refused through the feedback.
    void read_errors();
    const TransportCounters& tcounters() const { return tc_; }
    const PacingConfig& pacing() const { return pacing_; }

    // Drops what is queued (reported as not sent) and closes the socket.
    void close();
    bool is_open() const { return fd_ >= 0; }
    int fd() const { return fd_; }
    // errno of the last failed send (0 if none), for logs.
    int last_errno() const { return last_errno_; }
    // Send buffer the kernel actually granted, in bytes (as getsockopt reports it, i.e. doubled).
    int sndbuf() const { return sndbuf_; }
    const char* peer() const { return peer_; }

    static constexpr int kSendBufferBytes = 1 << 20;  // 1 MiB: a burst of ~700 full datagrams
    static constexpr uint64_t kReopenIntervalUs = 1000000;  // route errors: one reopen a second
    // The send errors that mean "no route from this socket's address": EADDRNOTAVAIL (the
    // local address is gone), EINVAL (IPv4: source no longer local, or a blackhole route),
    // ENETUNREACH, EHOSTUNREACH (no route, or an unreachable route), ENETDOWN (its device is
    // down). EACCES (a prohibit route) and EPERM (a firewall) are policy, not routing: a new
    // socket would meet them too.
    static bool is_route_error(int e);

private:
    struct Sent {  // a recently sent datagram, to tell which one an ICMP error quotes
        uint8_t head[20];
        uint8_t head_len;
        bool refused;
        DatagramMeta meta;
    };
    static constexpr uint32_t kRing = 256;
    struct Slot {
        DatagramMeta meta;
        uint16_t len;
    };

    SendResult send_fresh(const uint8_t* data, size_t len);  // with the reopen (points 2, 3)
    SendResult send_session(const uint8_t* data, size_t len);  // templates first (point 5)
    SendResult send_stale(const uint8_t* data, size_t len);  // resending after a stale error
    int open_socket(const sockaddr_storage& ss, socklen_t ss_len, uint16_t bind_port, char* err,
                    size_t err_len);
    void adopt(int fd, const sockaddr_storage& old_local, const sockaddr_storage& old_peer);
    void go_down(const char* why);
    void retry_down(uint64_t now_us);
    const char* name() const { return label_[0] != 0 ? label_ : peer_; }
    void remember(const uint8_t* data, size_t len, const DatagramMeta& m);
    bool take_token(uint64_t now_us);
    void report(const DatagramMeta& m, SendResult res, bool was_counted);
    void free_queue();
    void close_socket();  // the socket only: what is queued stays

    int fd_ = -1;
    int last_errno_ = 0;
    int sndbuf_ = 0;
    char peer_[64] = {};  // "[" + 45 (INET6_ADDRSTRLEN-1) + "]:" + 5 + NUL fits
    SendFeedback* feedback_ = nullptr;
    TransportCounters tc_{};
    Sent ring_[kRing] = {};
    uint32_t ring_next_ = 0;
    uint32_t ring_used_ = 0;
    PacingConfig pacing_{};
    uint8_t* q_data_ = nullptr;  // slots * slot_bytes
    Slot* q_slots_ = nullptr;
    uint32_t q_cap_ = 0, q_head_ = 0, q_count_ = 0;
    uint16_t q_slot_bytes_ = 0;
    double tokens_ = 0;
    uint64_t tokens_us_ = 0;     // when tokens_ was last refilled
    sockaddr_storage peer_addr_{};
    socklen_t peer_len_ = 0;     // 0: no collector address yet
    sockaddr_storage local_{};   // of fd_, or of the last socket while down
    bool down_ = false;
    bool need_templates_ = false;  // the next datagram sent opens a new session (point 5)
    bool had_session_ = false;     // a socket was open since the last close()
    bool reopened_ = false;        // take_reopened()
    uint64_t next_reopen_us_ = 0;  // no reopen on route errors before this (CLOCK_MONOTONIC)
    uint64_t down_since_us_ = 0;
    uint32_t down_tries_ = 0;
    uint8_t* tmpl_buf_ = nullptr;  // the template message (slot_bytes)
    uint16_t tmpl_cap_ = 0;
    char label_[32] = {};
};

} // namespace fa
