// SPDX-License-Identifier: GPL-2.0-only
// The link monitor against the kernel: the test process moves into a network namespace of its
// own (unshare(CLONE_NEWNET): nothing outside it is touched, and everything it made vanishes
// with the process), creates, changes and deletes links (veth pairs: a kernel may lack the
// dummy driver) and addresses with ip(8), and checks the events the monitor delivers: names,
// and the ifindex the kernel gave (if_nametoindex right after the change, independently of the
// monitor). Needs root (CAP_SYS_ADMIN for the
// namespace): skipped otherwise, a failure under CI=true.
#include "linux/link_monitor.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <net/if_arp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <string>
#include <vector>

#include <CppUTest/TestHarness.h>

using namespace fa;

// Every malloc/calloc/realloc of the process is counted while g_counting is set (libnl's
// included, which CppUTest's allocator hooks do not see). Not under AddressSanitizer, whose
// own malloc this would shadow.
#if defined(__SANITIZE_ADDRESS__)
#define FA_COUNT_ALLOCS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FA_COUNT_ALLOCS 0
#endif
#endif
#ifndef FA_COUNT_ALLOCS
#define FA_COUNT_ALLOCS 1
#endif
namespace {
volatile bool g_counting = false;
volatile long g_allocs = 0;
} // namespace
#if FA_COUNT_ALLOCS
extern "C" {
void* __libc_malloc(size_t n);
void* __libc_calloc(size_t n, size_t m);
void* __libc_realloc(void* p, size_t n);
void* malloc(size_t n)
{
    if (g_counting) g_allocs = g_allocs + 1;
    return __libc_malloc(n);
}
void* calloc(size_t n, size_t m)
{
    if (g_counting) g_allocs = g_allocs + 1;
    return __libc_calloc(n, m);
}
void* realloc(void* p, size_t n)
{
    if (g_counting) g_allocs = g_allocs + 1;
    return __libc_realloc(p, n);
}
}
#endif

namespace {

struct Ev {
    enum Kind { link, gone, addr_add, addr_del, dump_begin, dump_end, overrun } kind;
    LinkState l;
    std::string addr;  // numeric text
};

struct Rec : LinkListener {
    std::vector<Ev> ev;
    void on_link(const LinkState& l) override { ev.push_back(Ev{Ev::link, l, ""}); }
    void on_link_gone(uint32_t ifindex, const char* name) override
    {
        Ev e{Ev::gone, LinkState{}, ""};
        e.l.ifindex = ifindex;
        std::snprintf(e.l.name, sizeof e.l.name, "%s", name);
        ev.push_back(e);
    }
    void on_address(bool added, uint32_t ifindex, const sockaddr_storage& a) override
    {
        char text[INET6_ADDRSTRLEN] = {};
        if (a.ss_family == AF_INET)
            inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&a)->sin_addr, text,
                      sizeof text);
        else
            inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&a)->sin6_addr, text,
                      sizeof text);
        Ev e{added ? Ev::addr_add : Ev::addr_del, LinkState{}, text};
        e.l.ifindex = ifindex;
        ev.push_back(e);
    }
    void on_dump_begin() override { ev.push_back(Ev{Ev::dump_begin, LinkState{}, ""}); }
    void on_dump_end() override { ev.push_back(Ev{Ev::dump_end, LinkState{}, ""}); }
    void on_overrun() override { ev.push_back(Ev{Ev::overrun, LinkState{}, ""}); }

    // Index of the first event from `from` on that matches, or -1.
    int find(size_t from, Ev::Kind k, const char* name = nullptr, const char* addr = nullptr) const
    {
        for (size_t i = from; i < ev.size(); ++i) {
            if (ev[i].kind != k) continue;
            if (name != nullptr && std::strcmp(ev[i].l.name, name) != 0) continue;
            if (addr != nullptr && ev[i].addr != addr) continue;
            return int(i);
        }
        return -1;
    }
};

void sh(const char* cmd)
{
    const int rc = std::system(cmd);
    if (rc != 0) FAIL(("command failed: " + std::string(cmd)).c_str());
}

// Reads events until `done` holds (or 5 s pass).
template <typename F>
bool pump_until(LinkMonitor& m, Rec& r, F done)
{
    for (int i = 0; i < 500; ++i) {
        if (done()) return true;
        pollfd p{m.fd(), POLLIN, 0};
        if (poll(&p, 1, 10) > 0) (void)m.on_readable(r);
    }
    return done();
}

// Reads what is pending now (and what arrives within 100 ms).
void drain(LinkMonitor& m, Rec& r)
{
    pollfd p{m.fd(), POLLIN, 0};
    while (poll(&p, 1, 100) > 0) (void)m.on_readable(r);
}

bool in_own_netns()
{
    if (unshare(CLONE_NEWNET) == 0) return true;
    const char* ci = std::getenv("CI");
    if (ci != nullptr && std::strcmp(ci, "true") == 0)
        FAIL("cannot make a network namespace (needs root); CI=true: no skipping");
    std::printf("\nlink_monitor: SKIP: cannot make a network namespace (%s; needs root)\n",
                std::strerror(errno));
    return false;
}

} // namespace

// Each test: a fresh namespace, the monitor opened in it and its first dump read.
TEST_GROUP(LinkMonitor)
{
    LinkMonitor m;
    Rec r;
    bool ready = false;
    void setup() override
    {
        if (!in_own_netns()) return;
        char why[256] = {};
        LONGS_EQUAL(0, m.open(why, sizeof why));
        CHECK(pump_until(m, r, [&] { return r.find(0, Ev::dump_end) >= 0; }));
        ready = true;
    }
    void teardown() override
    {
        m.close();
        r.ev.clear();
        r.ev.shrink_to_fit();
    }
};

TEST(LinkMonitor, LinksAndAddressesComeAndGoWithTheirIfindex)
{
    if (!ready) return;
    // The first dump: a fresh namespace has only lo (ifindex 1, loopback, down).
    LONGS_EQUAL(Ev::dump_begin, r.ev[0].kind);
    LONGS_EQUAL(3, r.ev.size());
    STRCMP_EQUAL("lo", r.ev[1].l.name);
    LONGS_EQUAL(1, r.ev[1].l.ifindex);
    LONGS_EQUAL(ARPHRD_LOOPBACK, r.ev[1].l.arphrd);
    CHECK_FALSE(r.ev[1].l.up);
    LONGS_EQUAL(1, m.stats().dumped_links);
    LONGS_EQUAL(0, m.stats().link_events);

    // A new link: its name, the ifindex the kernel gave it, Ethernet framing, down.
    size_t from = r.ev.size();
    sh("ip link add fa-d0 type veth peer name fa-p0");
    const uint32_t idx1 = if_nametoindex("fa-d0");
    CHECK(idx1 > 1);
    CHECK(pump_until(m, r, [&] { return r.find(from, Ev::link, "fa-d0") >= 0; }));
    const Ev& added = r.ev[size_t(r.find(from, Ev::link, "fa-d0"))];
    LONGS_EQUAL(idx1, added.l.ifindex);
    LONGS_EQUAL(ARPHRD_ETHER, added.l.arphrd);
    CHECK_FALSE(added.l.up);

    // Up.
    from = r.ev.size();
    sh("ip link set fa-d0 up");
    CHECK(pump_until(m, r, [&] {
        const int i = r.find(from, Ev::link, "fa-d0");
        return i >= 0 && r.ev[size_t(i)].l.up;
    }));

    // Addresses: added and removed, IPv4 and IPv6, on that ifindex.
    from = r.ev.size();
    sh("ip addr add 10.9.8.7/24 dev fa-d0");
    sh("ip -6 addr add fd00:9::7/64 dev fa-d0 nodad");
    sh("ip addr del 10.9.8.7/24 dev fa-d0");
    CHECK(pump_until(m, r, [&] { return r.find(from, Ev::addr_del, nullptr, "10.9.8.7") >= 0; }));
    const int a4 = r.find(from, Ev::addr_add, nullptr, "10.9.8.7");
    const int a6 = r.find(from, Ev::addr_add, nullptr, "fd00:9::7");
    const int d4 = r.find(from, Ev::addr_del, nullptr, "10.9.8.7");
    CHECK(a4 >= 0 && a6 > a4 && d4 > a6);
    LONGS_EQUAL(idx1, r.ev[size_t(a4)].l.ifindex);
    LONGS_EQUAL(idx1, r.ev[size_t(a6)].l.ifindex);
    LONGS_EQUAL(idx1, r.ev[size_t(d4)].l.ifindex);

    // A bridge port leaving its bridge: AF_BRIDGE RTM_DELLINK, which is not a deletion.
    sh("ip link add fa-br type bridge");
    sh("ip link set fa-d0 master fa-br");
    sh("ip link set fa-d0 nomaster");
    drain(m, r);
    LONGS_EQUAL(-1, r.find(from, Ev::gone, "fa-d0"));

    // Deleted (with its veth peer): gone with its old ifindex (its IPv6 address goes with it).
    from = r.ev.size();
    sh("ip link del fa-d0");
    CHECK(pump_until(m, r, [&] { return r.find(from, Ev::gone, "fa-d0") >= 0; }));
    LONGS_EQUAL(idx1, r.ev[size_t(r.find(from, Ev::gone, "fa-d0"))].l.ifindex);
    drain(m, r);
    const int d6 = r.find(from, Ev::addr_del, nullptr, "fd00:9::7");
    CHECK(d6 >= 0);
    LONGS_EQUAL(idx1, r.ev[size_t(d6)].l.ifindex);

    // The same name again: a new ifindex.
    from = r.ev.size();
    sh("ip link add fa-d0 type veth peer name fa-p0");
    const uint32_t idx2 = if_nametoindex("fa-d0");
    CHECK(idx2 != idx1 && idx2 != 0);
    CHECK(pump_until(m, r, [&] { return r.find(from, Ev::link, "fa-d0") >= 0; }));
    LONGS_EQUAL(idx2, r.ev[size_t(r.find(from, Ev::link, "fa-d0"))].l.ifindex);

    // Renamed away: the same ifindex under the new name.
    from = r.ev.size();
    sh("ip link set fa-d0 name fa-d9");
    CHECK(pump_until(m, r, [&] { return r.find(from, Ev::link, "fa-d9") >= 0; }));
    LONGS_EQUAL(idx2, r.ev[size_t(r.find(from, Ev::link, "fa-d9"))].l.ifindex);

    // An L3 device (tun: no link-layer header).
    from = r.ev.size();
    sh("ip tuntap add fa-t0 mode tun");
    CHECK(pump_until(m, r, [&] { return r.find(from, Ev::link, "fa-t0") >= 0; }));
    const Ev& tun = r.ev[size_t(r.find(from, Ev::link, "fa-t0"))];
    LONGS_EQUAL(if_nametoindex("fa-t0"), tun.l.ifindex);
    LONGS_EQUAL(ARPHRD_NONE, tun.l.arphrd);

    LONGS_EQUAL(0, m.stats().overruns);
    LONGS_EQUAL(0, m.stats().bad_messages);
    CHECK(m.stats().link_events >= 8);
    // 10.9.8.7 and fd00:9::7 added and removed. fa-d0's veth peer stays down: no carrier, so
    // the kernel never gave fa-d0 an IPv6 link-local address.
    LONGS_EQUAL(4, m.stats().address_events);
}

// Events the socket cannot hold (a few hundred links made while nobody reads): the overrun is
// reported, and the re-dump names every link that exists, each with its ifindex.
TEST(LinkMonitor, OverrunResyncsWithADump)
{
    if (!ready) return;
    FILE* f = std::fopen("/tmp/fa-linkmon-batch", "w");
    CHECK(f != nullptr);
    constexpr int kLinks = 600;  // 300 veth pairs
    for (int i = 0; i < kLinks / 2; ++i)
        std::fprintf(f, "link add fa-o%d type veth peer name fa-q%d\n", i, i);
    std::fclose(f);
    sh("ip -batch /tmp/fa-linkmon-batch");
    std::remove("/tmp/fa-linkmon-batch");
    const size_t from = r.ev.size();
    CHECK(pump_until(m, r, [&] {
        const int o = r.find(from, Ev::overrun);
        return o >= 0 && r.find(size_t(o), Ev::dump_end) >= 0 && !m.dumping();
    }));
    CHECK(m.stats().overruns >= 1);
    // The last dump (after the last overrun) lists lo and every fa-oN/fa-qN with its ifindex.
    int last_begin = -1;
    for (size_t i = from; i < r.ev.size(); ++i)
        if (r.ev[i].kind == Ev::dump_begin) last_begin = int(i);
    CHECK(last_begin >= 0);
    int seen = 0;
    bool lo = false;
    for (size_t i = size_t(last_begin) + 1; i < r.ev.size() && r.ev[i].kind == Ev::link; ++i) {
        const Ev& e = r.ev[i];
        if (std::strcmp(e.l.name, "lo") == 0) {
            lo = true;
            continue;
        }
        LONGS_EQUAL(if_nametoindex(e.l.name), e.l.ifindex);
        ++seen;
    }
    CHECK(lo);
    LONGS_EQUAL(kLinks, seen);
    std::printf("\nlink_monitor: %d links made unread: %llu overruns, %llu link events "
                "before the overrun, %llu links in dumps\n", kLinks,
                (unsigned long long)m.stats().overruns,
                (unsigned long long)m.stats().link_events,
                (unsigned long long)m.stats().dumped_links);
}

// Counts, allocating nothing itself.
struct Tally : LinkListener {
    long links = 0, gone = 0, addrs = 0, dumps = 0, overruns = 0;
    void on_link(const LinkState&) override { ++links; }
    void on_link_gone(uint32_t, const char*) override { ++gone; }
    void on_address(bool, uint32_t, const sockaddr_storage&) override { ++addrs; }
    void on_dump_end() override { ++dumps; }
    void on_overrun() override { ++overruns; }
};

// Fixed memory after open(): handling events, an overrun and the resync dump allocate nothing.
// The changes are made first (ip(8) runs in child processes, outside the count), then read.
TEST(LinkMonitor, HandlingEventsAllocatesNothing)
{
    if (!ready) return;
    if (!FA_COUNT_ALLOCS) {
        std::printf("\nlink_monitor: allocation count not available under AddressSanitizer\n");
        return;
    }
    FILE* f = std::fopen("/tmp/fa-linkmon-batch2", "w");
    CHECK(f != nullptr);
    for (int i = 0; i < 300; ++i) {
        std::fprintf(f, "link add fa-m%d type veth peer name fa-n%d\n", i, i);
        if (i < 20) std::fprintf(f, "address add 10.8.%d.1/24 dev fa-m%d\n", i, i);
    }
    for (int i = 0; i < 10; ++i) std::fprintf(f, "link del fa-m%d\n", i);
    std::fclose(f);
    sh("ip -batch /tmp/fa-linkmon-batch2");
    std::remove("/tmp/fa-linkmon-batch2");
    Tally t;
    g_allocs = 0;
    g_counting = true;
    const long probe0 = g_allocs;
    void* probe = std::malloc(16);  // the hook must see allocations, or zero proves nothing
    const long probe1 = g_allocs;
    g_counting = false;
    std::free(probe);
    LONGS_EQUAL(1, probe1 - probe0);
    g_allocs = 0;
    g_counting = true;
    for (int i = 0; i < 500; ++i) {
        pollfd p{m.fd(), POLLIN, 0};
        if (poll(&p, 1, 50) <= 0 && !m.dumping()) break;
        (void)m.on_readable(t);
    }
    g_counting = false;
    LONGS_EQUAL(0, g_allocs);
    CHECK(t.overruns >= 1);     // 600 links and their events do not fit the socket
    CHECK(t.dumps >= 1);        // the resync
    CHECK(t.links >= 580);      // the dump names every link left (590 + lo)
    std::printf("\nlink_monitor: %ld link, %ld gone, %ld address events, %ld overruns, %ld "
                "dumps handled with %ld allocations\n", t.links, t.gone, t.addrs, t.overruns,
                t.dumps, long(g_allocs));
}
