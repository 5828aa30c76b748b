// SPDX-License-Identifier: GPL-2.0-only
#include "udp_transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace fa {

namespace {

__attribute__((format(printf, 3, 4))) void set_err(char* err, size_t err_len, const char* fmt,
                                                   ...)
{
    if (err == nullptr || err_len == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

} // namespace

int resolve_collector(const char* host, uint16_t port, sockaddr_storage* out, socklen_t* out_len,
                      char* err, size_t err_len)
{
    if (host == nullptr || host[0] == '\0') {
        set_err(err, err_len, "collector host is empty");
        return -EINVAL;
    }
    if (port == 0) {
        set_err(err, err_len, "collector '%s': port 0 is not valid", host);
        return -EINVAL;
    }
    if (out == nullptr || out_len == nullptr) {
        set_err(err, err_len, "resolve_collector: no output");
        return -EINVAL;
    }
    // "[2001:db8::1]" is accepted too: strip the brackets people copy from URLs and logs.
    char name[256];
    size_t n = std::strlen(host);
    if (n >= sizeof(name)) {
        set_err(err, err_len, "collector host name too long (%zu bytes, max 255)", n);
        return -EINVAL;
    }
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        std::memcpy(name, host + 1, n - 2);
        name[n - 2] = '\0';
    } else {
        std::memcpy(name, host, n + 1);
    }
    char service[8];
    std::snprintf(service, sizeof(service), "%u", unsigned(port));

    addrinfo hints;
    std::memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_protocol = IPPROTO_UDP;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(name, service, &hints, &res);
    if (rc != 0) {
        const char* why = rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc);
        set_err(err, err_len, "cannot resolve host '%s': %s", host, why);
        return rc == EAI_MEMORY ? -ENOMEM : -EHOSTUNREACH;
    }
    int result = -EAFNOSUPPORT;
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
        if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
            ai->ai_addrlen <= sizeof(sockaddr_storage)) {
            std::memset(out, 0, sizeof(*out));
            std::memcpy(out, ai->ai_addr, ai->ai_addrlen);
            *out_len = ai->ai_addrlen;
            result = 0;
            break;
        }
    }
    freeaddrinfo(res);
    if (result != 0) {
        set_err(err, err_len, "cannot resolve host '%s': no IPv4 or IPv6 address", host);
    }
    return result;
}

void format_sockaddr(const sockaddr* sa, char* out, size_t out_len)
{
    if (out == nullptr || out_len == 0) {
        return;
    }
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa != nullptr && sa->sa_family == AF_INET) {
        sockaddr_in sin;
        std::memcpy(&sin, sa, sizeof(sin));
        inet_ntop(AF_INET, &sin.sin_addr, ip, sizeof(ip));
        std::snprintf(out, out_len, "%s:%u", ip, unsigned(ntohs(sin.sin_port)));
    } else if (sa != nullptr && sa->sa_family == AF_INET6) {
        sockaddr_in6 sin6;
        std::memcpy(&sin6, sa, sizeof(sin6));
        inet_ntop(AF_INET6, &sin6.sin6_addr, ip, sizeof(ip));
        std::snprintf(out, out_len, "[%s]:%u", ip, unsigned(ntohs(sin6.sin6_port)));
    } else {
        std::snprintf(out, out_len, "?");
    }
}

UdpTransport::UdpTransport() = default;

UdpTransport::~UdpTransport()
{
    close();
}

int UdpTransport::open(const char* host, uint16_t port, char* err, size_t err_len)
{
    close();
    sockaddr_storage ss;
    socklen_t ss_len = 0;
    int rc = resolve_collector(host, port, &ss, &ss_len, err, err_len);
    if (rc < 0) {
        return rc;
    }
    char peer[sizeof(peer_)];
    format_sockaddr(reinterpret_cast<const sockaddr*>(&ss), peer, sizeof(peer));

    int fd = ::socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd < 0) {
        int e = errno;
        set_err(err, err_len, "collector %s: socket: %s", peer, std::strerror(e));
        return -e;
    }
    // Best effort: a bigger send buffer absorbs export bursts (table sweeps) without EAGAIN.
    // The kernel caps it at net.core.wmem_max; that is not an error.
    int want = kSendBufferBytes;
    (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
    int got = 0;
    socklen_t got_len = sizeof(got);
    if (::getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &got, &got_len) == 0) {
        sndbuf_ = got;
    }
    // connect() on UDP sends nothing; it fixes the peer so ICMP errors are reported to us.
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&ss), ss_len) < 0) {
        int e = errno;
        ::close(fd);
        set_err(err, err_len, "collector %s: connect: %s", peer, std::strerror(e));
        return -e;
    }
    fd_ = fd;
    last_errno_ = 0;
    std::memcpy(peer_, peer, sizeof(peer_));
    return 0;
}

SendResult UdpTransport::send(const uint8_t* data, size_t len)
{
    if (fd_ < 0) {
        last_errno_ = ENOTCONN;
        return SendResult::error;
    }
    for (;;) {
        ssize_t n = ::send(fd_, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) {
            // UDP sends all or nothing; a short count cannot happen for a datagram socket.
            return SendResult::ok;
        }
        int e = errno;
        if (e == EINTR) {
            continue;
        }
        last_errno_ = e;
        if (e == ECONNREFUSED) {
            return SendResult::refused;
        }
        if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
            return SendResult::again;
        }
        return SendResult::error;
    }
}

void UdpTransport::close()
{
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
    sndbuf_ = 0;
    std::memset(peer_, 0, sizeof(peer_));
}

} // namespace fa
