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
};

class UdpTransport final : public DatagramSink {
public:
    UdpTransport();
    ~UdpTransport() override;
    UdpTransport(const UdpTransport&) = delete;
    UdpTransport& operator=(const UdpTransport&) = delete;

    // Resolves host:port and opens the socket (closing any previous one first, so this is also
    // the reload path). The socket is connect()ed so that an ICMP port unreachable from the
    // collector's host comes back as ECONNREFUSED on a later send. Returns 0 or negative errno;
    // on failure writes a one-line reason (e.g. "cannot resolve host 'foo.invalid': Name or
    // service not known") to err.
    int open(const char* host, uint16_t port, char* err, size_t err_len);

    // Opens the socket to an address already resolved (resolve_collector). Same contract. What
    // was queued before (while the name did not resolve) is kept and paced out from here on.
    int open_addr(const sockaddr_storage& ss, socklen_t ss_len, char* err, size_t err_len);

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

    // Allocates the queue (once per size; the same or a smaller size keeps it). false: no memory.
    bool set_pacing(const PacingConfig& pc);
    // Where late outcomes go (the exporter); nullptr drops them (between runtimes).
    void set_feedback(SendFeedback* fb) { feedback_ = fb; }
    // Reads the error queue, then sends what the bucket allows. Call from a timer.
    void pump();
    // Milliseconds until pump() has work (a token for the queue's head), -1 when the queue is
    // empty.
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

    SendResult send_fresh(const uint8_t* data, size_t len);  // send, resending after a stale error
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
};

} // namespace fa
