// SPDX-License-Identifier: GPL-2.0-only
// UdpTransport (platform/linux/udp_transport.h) on loopback: the token bucket and the fixed
// send queue (what exceeds the queue is refused as again and counted; queued datagrams are
// reported when they leave or are dropped), queueing before the socket is open (a name that
// did not resolve yet), and the attribution of an ICMP port unreachable to the datagram it
// quotes (reported as refused, was_counted).
#include <CppUTest/TestHarness.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "linux/udp_transport.h"

using namespace fa;

namespace {

struct Outcome {
    DatagramMeta m;
    SendResult res;
    bool was_counted;
};

struct Recorder : SendFeedback {
    std::vector<Outcome> got;
    void on_send_outcome(const DatagramMeta& m, SendResult res, bool was_counted) override
    {
        got.push_back(Outcome{m, res, was_counted});
    }
};

// A UDP socket bound to 127.0.0.1 (or ::1) on a free port (receiver), or only a free port
// (none bound afterwards: datagrams to it draw ICMP / ICMPv6 port unreachable).
struct Receiver {
    int fd = -1;
    sockaddr_storage addr{};
    socklen_t len = 0;
    explicit Receiver(bool keep = true, bool v6 = false)
    {
        fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (v6) {
            sockaddr_in6 sin6{};
            sin6.sin6_family = AF_INET6;
            sin6.sin6_addr = in6addr_loopback;
            std::memcpy(&addr, &sin6, sizeof sin6);
            len = sizeof sin6;
        } else {
            sockaddr_in sin{};
            sin.sin_family = AF_INET;
            sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            std::memcpy(&addr, &sin, sizeof sin);
            len = sizeof sin;
        }
        (void)bind(fd, reinterpret_cast<sockaddr*>(&addr), len);
        socklen_t l = len;
        (void)getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &l);
        if (!keep) {
            close(fd);
            fd = -1;
        }
    }
    ~Receiver()
    {
        if (fd >= 0) close(fd);
    }
    int count()
    {
        int n = 0;
        uint8_t buf[2048];
        while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0) ++n;
        return n;
    }
};

uint64_t mono_ms()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000u + uint64_t(ts.tv_nsec) / 1000000u;
}

// A datagram whose first bytes (the header the ring compares) are unique per n.
void dgram(uint8_t* buf, uint32_t n)
{
    std::memset(buf, 0, 100);
    buf[1] = 10;
    buf[8] = uint8_t(n >> 24);
    buf[9] = uint8_t(n >> 16);
    buf[10] = uint8_t(n >> 8);
    buf[11] = uint8_t(n);
}

DatagramMeta meta_of(uint32_t n)
{
    DatagramMeta m;
    m.flows = n;
    m.bytes = 100;
    return m;
}

// A transport reporting to fb, paced at `rate` with `slots` queue slots of 100 bytes, opened to
// rx when open is true. false if a step failed (checked at the caller's line).
bool paced(UdpTransport& t, Recorder& fb, const Receiver& rx, uint32_t rate, uint32_t slots,
           bool open = true)
{
    t.set_feedback(&fb);
    char err[128];
    if (open && t.open_addr(rx.addr, rx.len, err, sizeof err) != 0) return false;
    PacingConfig pc;
    pc.rate = rate;
    pc.slots = slots;
    pc.slot_bytes = 100;
    return t.set_pacing(pc);
}

} // namespace

TEST_GROUP(UdpTransport) {};

TEST(UdpTransport, PacedQueueOverflowsCountedAndDrains)
{
    Receiver rx;
    UdpTransport t;
    Recorder fb;
    CHECK(paced(t, fb, rx, 100, 10));  // 100 datagrams/s: a burst of 1
    uint8_t buf[100];
    int ok = 0, queued = 0, again = 0;
    for (uint32_t n = 1; n <= 15; ++n) {
        dgram(buf, n);
        SendResult r = t.send_counted(buf, sizeof buf, meta_of(n));
        ok += r == SendResult::ok;
        queued += r == SendResult::queued;
        again += r == SendResult::again;
    }
    LONGS_EQUAL(1, ok);       // the one token
    LONGS_EQUAL(10, queued);  // the queue
    LONGS_EQUAL(4, again);    // counted by the exporter as not sent
    LONGS_EQUAL(4, t.tcounters().queue_overflow);
    LONGS_EQUAL(1, rx.count());
    t.drain_until(mono_ms() + 5000);
    LONGS_EQUAL(0, t.queued());
    LONGS_EQUAL(10, rx.count());
    LONGS_EQUAL(10, fb.got.size());
    for (size_t i = 0; i < fb.got.size(); ++i) {
        CHECK(fb.got[i].res == SendResult::ok);
        CHECK(!fb.got[i].was_counted);
        LONGS_EQUAL(i + 2, fb.got[i].m.flows);  // in order, the queued ones 2..11
    }
}

TEST(UdpTransport, DeadlineDropsWhatIsLeftAsNotSent)
{
    Receiver rx;
    UdpTransport t;
    Recorder fb;
    CHECK(paced(t, fb, rx, 1, 5));  // one a second
    uint8_t buf[100];
    for (uint32_t n = 1; n <= 4; ++n) {
        dgram(buf, n);
        (void)t.send_counted(buf, sizeof buf, meta_of(n));
    }
    t.drain_until(mono_ms());  // no time left: all three queued are dropped
    LONGS_EQUAL(3, fb.got.size());
    for (const Outcome& o : fb.got) CHECK(o.res == SendResult::again);
    LONGS_EQUAL(3, t.tcounters().queue_dropped);
    LONGS_EQUAL(1, rx.count());
}

TEST(UdpTransport, QueuesUntilOpened)
{
    Receiver rx;
    UdpTransport t;
    Recorder fb;
    CHECK(paced(t, fb, rx, 100000, 8, false));
    uint8_t buf[100];
    for (uint32_t n = 1; n <= 3; ++n) {
        dgram(buf, n);
        CHECK(t.send_counted(buf, sizeof buf, meta_of(n)) == SendResult::queued);
    }
    LONGS_EQUAL(-1, t.pump_delay_ms());  // nothing to do before the address is known
    char err[128];
    LONGS_EQUAL(0, t.open_addr(rx.addr, rx.len, err, sizeof err));
    t.drain_until(mono_ms() + 5000);
    LONGS_EQUAL(3, rx.count());
    LONGS_EQUAL(3, fb.got.size());
}

// Two datagrams to a port nobody listens on; each ICMP error is read from the error queue and
// reported as refused for the datagram it quotes.
static void check_refusals_attributed(bool v6)
{
    Receiver gone(false, v6);
    UdpTransport t;
    Recorder fb;
    t.set_feedback(&fb);
    char err[128];
    LONGS_EQUAL(0, t.open_addr(gone.addr, gone.len, err, sizeof err));
    uint8_t buf[100];
    dgram(buf, 7);
    CHECK(t.send_counted(buf, sizeof buf, meta_of(7)) == SendResult::ok);
    dgram(buf, 8);
    // The pending error of datagram 7 does not cost datagram 8: sent (or read first and sent).
    CHECK(t.send_counted(buf, sizeof buf, meta_of(8)) == SendResult::ok);
    timespec ts{0, 20 * 1000000L};
    nanosleep(&ts, nullptr);
    t.read_errors();
    LONGS_EQUAL(2, fb.got.size());
    LONGS_EQUAL(7, fb.got[0].m.flows);
    LONGS_EQUAL(8, fb.got[1].m.flows);
    for (const Outcome& o : fb.got) {
        CHECK(o.res == SendResult::refused);
        CHECK(o.was_counted);
    }
    LONGS_EQUAL(2, t.tcounters().icmp_matched);
}

TEST(UdpTransport, IcmpRefusalIsAttributedToTheQuotedDatagram) { check_refusals_attributed(false); }

TEST(UdpTransport, Icmp6RefusalIsAttributedToTheQuotedDatagram) { check_refusals_attributed(true); }
