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

// Formats an IPv4/IPv6 socket address as "192.0.2.1:2055" / "[2001:db8::1]:4739".
void format_sockaddr(const sockaddr* sa, char* out, size_t out_len);

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

    // Sends one datagram; never blocks. ECONNREFUSED -> refused; EAGAIN/EWOULDBLOCK/ENOBUFS ->
    // again; anything else (including "not open") -> error.
    SendResult send(const uint8_t* data, size_t len) override;

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
    int fd_ = -1;
    int last_errno_ = 0;
    int sndbuf_ = 0;
    char peer_[64] = {};  // "[" + 45 (INET6_ADDRSTRLEN-1) + "]:" + 5 + NUL fits
};

} // namespace fa
