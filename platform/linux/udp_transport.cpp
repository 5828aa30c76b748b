// SPDX-License-Identifier: GPL-2.0-only
#include "udp_transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <new>

#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "core/log.h"

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

uint64_t mono_us()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000u + uint64_t(ts.tv_nsec) / 1000u;
}

// The bytes that tell two datagrams apart: the NetFlow v9 header (version, count, sysUptime,
// unix_secs, sequence) or the IPFIX one (version, length, export time, sequence, domain).
constexpr size_t kHead = 20;

// Port of an IPv4/IPv6 socket address (host order); 0 for anything else.
uint16_t port_of(const sockaddr_storage& ss)
{
    if (ss.ss_family == AF_INET) {
        sockaddr_in sin;
        std::memcpy(&sin, &ss, sizeof sin);
        return ntohs(sin.sin_port);
    }
    if (ss.ss_family == AF_INET6) {
        sockaddr_in6 sin6;
        std::memcpy(&sin6, &ss, sizeof sin6);
        return ntohs(sin6.sin6_port);
    }
    return 0;
}

// Same family and IP address (ports and IPv6 flow labels ignored).
bool same_ip(const sockaddr_storage& a, const sockaddr_storage& b)
{
    if (a.ss_family != b.ss_family) return false;
    if (a.ss_family == AF_INET) {
        sockaddr_in x, y;
        std::memcpy(&x, &a, sizeof x);
        std::memcpy(&y, &b, sizeof y);
        return x.sin_addr.s_addr == y.sin_addr.s_addr;
    }
    if (a.ss_family == AF_INET6) {
        sockaddr_in6 x, y;
        std::memcpy(&x, &a, sizeof x);
        std::memcpy(&y, &b, sizeof y);
        return std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof x.sin6_addr) == 0 &&
               x.sin6_scope_id == y.sin6_scope_id;
    }
    return false;
}

// The IPv4/IPv6 address family's wildcard address with `port`, for bind().
socklen_t any_addr(int family, uint16_t port, sockaddr_storage* out)
{
    std::memset(out, 0, sizeof *out);
    if (family == AF_INET6) {
        sockaddr_in6 sin6{};
        sin6.sin6_family = AF_INET6;
        sin6.sin6_addr = in6addr_any;
        sin6.sin6_port = htons(port);
        std::memcpy(out, &sin6, sizeof sin6);
        return sizeof sin6;
    }
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_ANY);
    sin.sin_port = htons(port);
    std::memcpy(out, &sin, sizeof sin);
    return sizeof sin;
}

void format_local(const sockaddr_storage& ss, char* out, size_t out_len)
{
    if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)
        format_sockaddr(reinterpret_cast<const sockaddr*>(&ss), out, out_len);
    else
        std::snprintf(out, out_len, "none");
}

} // namespace

namespace {
int resolve(const char* host, uint16_t port, sockaddr_storage* out, socklen_t* out_len, char* err,
            size_t err_len, bool numeric_only);
} // namespace

int resolve_collector(const char* host, uint16_t port, sockaddr_storage* out, socklen_t* out_len,
                      char* err, size_t err_len)
{
    return resolve(host, port, out, out_len, err, err_len, false);
}

int resolve_numeric(const char* host, uint16_t port, sockaddr_storage* out, socklen_t* out_len)
{
    return resolve(host, port, out, out_len, nullptr, 0, true);
}

namespace {
int resolve(const char* host, uint16_t port, sockaddr_storage* out, socklen_t* out_len, char* err,
            size_t err_len, bool numeric_only)
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
    hints.ai_flags = AI_NUMERICSERV | (numeric_only ? AI_NUMERICHOST : 0);
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
} // namespace

bool same_endpoint(const sockaddr_storage& a, const sockaddr_storage& b)
{
    return same_ip(a, b) && port_of(a) == port_of(b);
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
    feedback_ = nullptr;  // the exporter may be gone already
    close();
    free_queue();
    delete[] tmpl_buf_;
}

void UdpTransport::set_label(const char* label)
{
    std::snprintf(label_, sizeof label_, "%s", label != nullptr ? label : "");
}

bool UdpTransport::is_route_error(int e)
{
    switch (e) {
    case EADDRNOTAVAIL:
    case EINVAL:
    case ENETUNREACH:
    case EHOSTUNREACH:
    case ENETDOWN:
        return true;
    default:
        return false;
    }
}

int UdpTransport::open(const char* host, uint16_t port, char* err, size_t err_len)
{
    close_socket();
    sockaddr_storage ss;
    socklen_t ss_len = 0;
    int rc = resolve_collector(host, port, &ss, &ss_len, err, err_len);
    if (rc < 0) {
        return rc;
    }
    return open_addr(ss, ss_len, err, err_len);
}

int UdpTransport::open_socket(const sockaddr_storage& ss, socklen_t ss_len, uint16_t bind_port,
                              char* err, size_t err_len)
{
    int fd = ::socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd < 0) {
        int e = errno;
        set_err(err, err_len, "collector %s: socket: %s", peer_, std::strerror(e));
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
    // ICMP errors also go to the error queue, with the start of the datagram that drew them:
    // that tells which datagram the collector's host refused (read_errors).
    int on = 1;
    if (ss.ss_family == AF_INET6) {
        (void)::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof(on));
    } else {
        (void)::setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof(on));
    }
    // A reopened socket keeps its local port when it is free: with the same source address
    // (the route came back) the collector sees the same session and needs no templates.
    if (bind_port != 0) {
        sockaddr_storage any;
        const socklen_t any_len = any_addr(ss.ss_family, bind_port, &any);
        (void)::bind(fd, reinterpret_cast<const sockaddr*>(&any), any_len);
    }
    // connect() on UDP sends nothing; it fixes the peer so ICMP errors are reported to us, and
    // picks the route and the source address.
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&ss), ss_len) < 0) {
        int e = errno;
        ::close(fd);
        set_err(err, err_len, "collector %s: connect: %s", peer_, std::strerror(e));
        return -e;
    }
    return fd;
}

// The new socket fd replaces the old one (already closed); the session is new to the collector
// when the local or the collector address differs from the last socket's (point 5).
void UdpTransport::adopt(int fd, const sockaddr_storage& old_local,
                         const sockaddr_storage& old_peer)
{
    fd_ = fd;
    last_errno_ = 0;
    ring_used_ = 0;
    std::memset(&local_, 0, sizeof local_);
    socklen_t l = sizeof local_;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local_), &l) < 0)
        std::memset(&local_, 0, sizeof local_);
    if (had_session_ && !(same_endpoint(local_, old_local) && same_endpoint(peer_addr_, old_peer)))
        need_templates_ = true;
    had_session_ = true;
    down_ = false;
    down_tries_ = 0;
}

int UdpTransport::open_addr(const sockaddr_storage& ss, socklen_t ss_len, char* err,
                            size_t err_len)
{
    const sockaddr_storage old_local = local_;
    const sockaddr_storage old_peer = peer_addr_;
    close_socket();  // what is queued stays: it waited for this address
    if (ss_len > sizeof peer_addr_) ss_len = sizeof peer_addr_;
    std::memset(&peer_addr_, 0, sizeof peer_addr_);
    std::memcpy(&peer_addr_, &ss, ss_len);
    peer_len_ = ss_len;
    format_sockaddr(reinterpret_cast<const sockaddr*>(&ss), peer_, sizeof(peer_));
    const int fd = open_socket(ss, ss_len, 0, err, err_len);
    if (fd < 0) return fd;
    adopt(fd, old_local, old_peer);
    return 0;
}

int UdpTransport::reopen(const char* why)
{
    if (peer_len_ == 0) return -ENOTCONN;
    const uint64_t now = mono_us();
    const sockaddr_storage old_local = local_;
    char was[64];
    format_local(old_local, was, sizeof was);
    close_socket();
    next_reopen_us_ = now + kReopenIntervalUs;
    char err[160];
    const int fd = open_socket(peer_addr_, peer_len_, port_of(old_local), err, sizeof err);
    if (fd < 0) {
        ++tc_.reopen_failures;
        ++down_tries_;
        if (!down_) {
            down_ = true;
            reopened_ = true;
            down_since_us_ = now;
            FA_WARN("collector %s: export socket (local address %s): %s; then %s; datagrams "
                    "wait in the send queue, reopening every second", name(), was, why, err);
        }
        return fd;
    }
    const bool was_down = down_;
    const uint32_t tries = down_tries_ + 1;  // this one included
    adopt(fd, old_local, peer_addr_);
    ++tc_.reopens;
    reopened_ = true;
    char now_local[64];
    format_local(local_, now_local, sizeof now_local);
    if (was_down)
        FA_WARN("collector %s: export socket reopened after %llu s without a route (%u tries): "
                "local address %s -> %s", name(),
                (unsigned long long)((now - down_since_us_) / 1000000u), tries, was,
                now_local);
    else
        FA_WARN("collector %s: export socket reopened (%s): local address %s -> %s", name(), why,
                was, now_local);
    return 0;
}

bool UdpTransport::on_local_address_removed(const sockaddr_storage& addr)
{
    if (fd_ < 0 || !same_ip(local_, addr)) return false;
    char a[64], why[96];
    format_local(addr, a, sizeof a);
    // The port is the removed address's formatting artefact: name the address alone.
    char* colon = std::strrchr(a, ':');
    if (colon != nullptr) *colon = '\0';
    std::snprintf(why, sizeof why, "local address %s removed", a);
    (void)reopen(why);
    return true;
}

void UdpTransport::go_down(const char* why)
{
    const uint64_t now = mono_us();
    char was[64];
    format_local(local_, was, sizeof was);
    close_socket();
    if (down_) return;
    down_ = true;
    reopened_ = true;
    down_since_us_ = now;
    down_tries_ = 0;
    if (next_reopen_us_ < now + kReopenIntervalUs) next_reopen_us_ = now + kReopenIntervalUs;
    FA_WARN("collector %s: export socket (local address %s): %s; datagrams wait in the send "
            "queue, reopening every second", name(), was, why);
}

void UdpTransport::retry_later()
{
    if (peer_len_ == 0 || fd_ >= 0) return;
    if (!down_) {
        down_ = true;
        down_since_us_ = mono_us();
        down_tries_ = 1;
    }
    next_reopen_us_ = mono_us() + kReopenIntervalUs;
}

void UdpTransport::retry_down(uint64_t now_us)
{
    if (!down_ || fd_ >= 0 || peer_len_ == 0 || now_us < next_reopen_us_) return;
    (void)reopen("retry");
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

SendResult UdpTransport::send_stale(const uint8_t* data, size_t len)
{
    SendResult r = send(data, len);
    // ECONNREFUSED from send(2) on a connected UDP socket is the pending error of an earlier
    // datagram's ICMP port unreachable; this one was not sent. Account the earlier one from the
    // error queue and send this one again (a few times: several errors may be pending). The
    // same for an ICMP network/host unreachable (point 4), told from a local route error by the
    // ICMP error it left in the error queue.
    for (int i = 0; i < 4; ++i) {
        if (r == SendResult::refused) {
            read_errors();
            ++tc_.resent_after_stale_refusal;
        } else if (r == SendResult::error &&
                   (last_errno_ == ENETUNREACH || last_errno_ == EHOSTUNREACH)) {
            const uint64_t before = tc_.icmp_errors;
            read_errors();
            if (tc_.icmp_errors == before) break;  // no ICMP error: this datagram's own
            ++tc_.resent_after_stale_error;
        } else {
            break;
        }
        r = send(data, len);
    }
    return r;
}

SendResult UdpTransport::send_session(const uint8_t* data, size_t len)
{
    if (need_templates_ && feedback_ != nullptr) {
        const size_t n =
            tmpl_buf_ != nullptr ? feedback_->templates_before(data, len, tmpl_buf_, tmpl_cap_)
                                 : 0;
        if (n > 0) {
            // Not sent: neither is the datagram in hand; both go together on the next try (a
            // message without records is counted only when it leaves).
            const SendResult tr = send_stale(tmpl_buf_, n);
            if (tr != SendResult::ok) return tr;
            DatagramMeta tm;
            tm.bytes = uint32_t(n);
            remember(tmpl_buf_, n, tm);
            report(tm, SendResult::ok, false);
            ++tc_.templates_inserted;
        }
        need_templates_ = false;
    }
    return send_stale(data, len);
}

SendResult UdpTransport::send_fresh(const uint8_t* data, size_t len)
{
    SendResult r = send_session(data, len);
    if (r != SendResult::error || !is_route_error(last_errno_)) return r;
    char why[96];
    std::snprintf(why, sizeof why, "send: %s", std::strerror(last_errno_));
    if (mono_us() >= next_reopen_us_) {
        if (reopen(why) < 0) return SendResult::error;  // down now (point 3)
        r = send_session(data, len);  // the datagram in hand, once, after the templates
        if (r != SendResult::error || !is_route_error(last_errno_)) return r;
        std::snprintf(why, sizeof why, "send on the reopened socket: %s",
                      std::strerror(last_errno_));
    }
    go_down(why);
    return SendResult::error;
}

void UdpTransport::remember(const uint8_t* data, size_t len, const DatagramMeta& m)
{
    Sent& s = ring_[ring_next_];
    s.head_len = uint8_t(len < kHead ? len : kHead);
    std::memcpy(s.head, data, s.head_len);
    s.refused = false;
    s.meta = m;
    ring_next_ = (ring_next_ + 1) % kRing;
    if (ring_used_ < kRing) ++ring_used_;
}

void UdpTransport::report(const DatagramMeta& m, SendResult res, bool was_counted)
{
    if (feedback_ != nullptr) feedback_->on_send_outcome(m, res, was_counted);
}

void UdpTransport::read_errors()
{
    if (fd_ < 0) return;
    for (int guard = 0; guard < 1024; ++guard) {
        uint8_t buf[kHead];
        alignas(cmsghdr) uint8_t control[256];
        iovec iov{buf, sizeof(buf)};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        ssize_t n = ::recvmsg(fd_, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;  // EAGAIN: the queue is empty
        }
        sock_extended_err eeb{};
        const sock_extended_err* ee = nullptr;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
            if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
                (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
                std::memcpy(&eeb, CMSG_DATA(c), sizeof(eeb));
                ee = &eeb;
            }
        }
        if (ee == nullptr || (ee->ee_origin != SO_EE_ORIGIN_ICMP &&
                              ee->ee_origin != SO_EE_ORIGIN_ICMP6)) {
            continue;
        }
        ++tc_.icmp_errors;
        const size_t got = size_t(n) < kHead ? size_t(n) : kHead;
        // Newest first: the datagram an ICMP error quotes was sent a round trip ago.
        for (uint32_t k = 1; k <= ring_used_; ++k) {
            Sent& s = ring_[(ring_next_ + kRing - k) % kRing];
            if (s.refused || s.head_len < got || std::memcmp(s.head, buf, got) != 0) continue;
            s.refused = true;
            ++tc_.icmp_matched;
            last_errno_ = int(ee->ee_errno);
            report(s.meta, ee->ee_errno == ECONNREFUSED ? SendResult::refused
                                                          : SendResult::error, true);
            break;
        }
    }
}

bool UdpTransport::set_pacing(const PacingConfig& pc)
{
    if (pc.slot_bytes > tmpl_cap_) {
        uint8_t* b = new (std::nothrow) uint8_t[pc.slot_bytes];
        if (b == nullptr) return false;
        delete[] tmpl_buf_;
        tmpl_buf_ = b;
        tmpl_cap_ = pc.slot_bytes;
    }
    PacingConfig want = pc;
    if (want.rate != 0 && want.burst == 0) want.burst = want.rate / 100 ? want.rate / 100 : 1;
    if (want.rate == 0 || want.slots == 0 || want.slot_bytes == 0) {
        drop_queue();
        free_queue();
        pacing_ = want;
        return true;
    }
    if (q_data_ == nullptr || want.slots > q_cap_ || want.slot_bytes > q_slot_bytes_) {
        // At start, or a reload that grew the table: what is queued moves to the new queue.
        const uint16_t bytes = want.slot_bytes > q_slot_bytes_ ? want.slot_bytes : q_slot_bytes_;
        const uint32_t slots = want.slots > q_count_ ? want.slots : q_count_;
        uint8_t* data = new (std::nothrow) uint8_t[size_t(slots) * bytes];
        Slot* meta = new (std::nothrow) Slot[slots];
        if (data == nullptr || meta == nullptr) {
            delete[] data;
            delete[] meta;
            return false;  // the old queue, if any, stays
        }
        for (uint32_t i = 0; i < q_count_; ++i) {
            const uint32_t from = (q_head_ + i) % q_cap_;
            meta[i] = q_slots_[from];
            std::memcpy(data + size_t(i) * bytes, q_data_ + size_t(from) * q_slot_bytes_,
                        meta[i].len);
        }
        const uint32_t count = q_count_;
        free_queue();
        q_data_ = data;
        q_slots_ = meta;
        q_cap_ = slots;
        q_slot_bytes_ = bytes;
        q_head_ = 0;
        q_count_ = count;
    }
    if (pacing_.rate != want.rate || pacing_.burst != want.burst) {
        tokens_ = double(want.burst);
        tokens_us_ = mono_us();
    }
    pacing_ = want;
    return true;
}

void UdpTransport::free_queue()
{
    delete[] q_data_;
    delete[] q_slots_;
    q_data_ = nullptr;
    q_slots_ = nullptr;
    q_cap_ = q_head_ = q_count_ = 0;
    q_slot_bytes_ = 0;
}

bool UdpTransport::take_token(uint64_t now_us)
{
    if (now_us > tokens_us_) {
        tokens_ += double(now_us - tokens_us_) * pacing_.rate / 1e6;
        if (tokens_ > double(pacing_.burst)) tokens_ = double(pacing_.burst);
        tokens_us_ = now_us;
    }
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
}

SendResult UdpTransport::send_counted(const uint8_t* data, size_t len, const DatagramMeta& m)
{
    retry_down(mono_us());
    read_errors();
    if (q_data_ == nullptr || pacing_.rate == 0) {
        SendResult r = send_fresh(data, len);
        if (r == SendResult::ok) remember(data, len, m);
        return r;
    }
    pump();
    // Not open yet (the collector's name does not resolve yet) or down (no route): the queue
    // keeps what it can hold until open_addr() or a reopen.
    if (fd_ >= 0 && q_count_ == 0 && take_token(mono_us())) {
        SendResult r = send_fresh(data, len);
        if (r == SendResult::ok) remember(data, len, m);
        if (r != SendResult::again && !(r == SendResult::error && down_)) return r;
        tokens_ += 1.0;  // the socket buffer is full, or no route now: queue it instead
    }
    if (q_count_ >= q_cap_ || len > q_slot_bytes_) {
        ++tc_.queue_overflow;
        return SendResult::again;
    }
    const uint32_t at = (q_head_ + q_count_) % q_cap_;
    std::memcpy(q_data_ + size_t(at) * q_slot_bytes_, data, len);
    q_slots_[at].meta = m;
    q_slots_[at].len = uint16_t(len);
    ++q_count_;
    if (q_count_ > tc_.queue_peak) tc_.queue_peak = q_count_;
    return SendResult::queued;
}

void UdpTransport::pump()
{
    retry_down(mono_us());
    read_errors();
    if (q_count_ == 0 || fd_ < 0) return;
    const uint64_t now = mono_us();
    while (q_count_ > 0 && take_token(now)) {
        const uint8_t* d = q_data_ + size_t(q_head_) * q_slot_bytes_;
        const Slot& sl = q_slots_[q_head_];
        SendResult r = send_fresh(d, sl.len);
        if (r == SendResult::again || (r == SendResult::error && down_)) {
            tokens_ += 1.0;  // socket buffer full, or no route now: keep it for the next pump
            return;
        }
        if (r == SendResult::ok) remember(d, sl.len, sl.meta);
        report(sl.meta, r, false);
        q_head_ = (q_head_ + 1) % q_cap_;
        --q_count_;
    }
}

int UdpTransport::pump_delay_ms() const
{
    if (q_count_ == 0) return -1;
    if (fd_ < 0) {
        // Down: the next reopen try (a stop waits for it within stop_timeout too). Not open
        // yet (a name that does not resolve): the resolver's answer opens it.
        if (!down_ || peer_len_ == 0) return -1;
        const uint64_t now = mono_us();
        return now >= next_reopen_us_ ? 0 : int((next_reopen_us_ - now) / 1000u) + 1;
    }
    if (tokens_ >= 1.0 || pacing_.rate == 0) return 0;
    const double us = (1.0 - tokens_) * 1e6 / pacing_.rate;
    const uint64_t since = mono_us() - tokens_us_;
    if (double(since) >= us) return 0;
    return int((us - double(since)) / 1000.0) + 1;
}

void UdpTransport::drain_until(uint64_t deadline_ms)
{
    for (;;) {
        pump();
        if (q_count_ == 0) break;
        const uint64_t now_ms = mono_us() / 1000u;
        if (now_ms >= deadline_ms) break;
        int d = pump_delay_ms();
        if (d <= 0) d = 1;
        if (uint64_t(d) > deadline_ms - now_ms) d = int(deadline_ms - now_ms);
        timespec ts{d / 1000, long(d % 1000) * 1000000L};
        nanosleep(&ts, nullptr);
    }
    drop_queue();
    read_errors();
}

void UdpTransport::drop_queue()
{
    while (q_count_ > 0) {
        report(q_slots_[q_head_].meta, SendResult::again, false);
        ++tc_.queue_dropped;
        q_head_ = (q_head_ + 1) % q_cap_;
        --q_count_;
    }
}

void UdpTransport::close()
{
    drop_queue();
    close_socket();
    // The stream ends here: what opens next is a new stream, whose exporter starts with
    // templates anyway.
    std::memset(peer_, 0, sizeof(peer_));
    std::memset(&peer_addr_, 0, sizeof peer_addr_);
    peer_len_ = 0;
    std::memset(&local_, 0, sizeof local_);
    down_ = false;
    need_templates_ = false;
    had_session_ = false;
    reopened_ = false;
    down_tries_ = 0;
}

// The socket only: the collector address, the last local address (for the next session's
// comparison and the old port) and what is queued stay.
void UdpTransport::close_socket()
{
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
    sndbuf_ = 0;
    ring_used_ = 0;
}

} // namespace fa
