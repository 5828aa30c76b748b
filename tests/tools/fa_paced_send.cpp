// SPDX-License-Identifier: GPL-2.0-only
// Benchmark tool: replays a fixed mix of IPv4/UDP flows as raw Ethernet frames on one
// interface at a fixed packet rate, through an AF_PACKET socket (qdisc bypassed) with
// sendmmsg batches on an absolute-time schedule, so the sender costs little CPU and every run
// sends exactly the same frames in the same order.
//
// Flow i (0 <= i < flows): SRC -> DST_NET.(i / 250).(1 + i % 250), UDP sport 10000 + i, dport
// 9999; the frames go round robin over the flows, TRAIN frames of a flow in a row (1: every
// frame is another flow's), so each flow gets about packets / flows frames. IPv4 header
// checksum set, UDP checksum 0.
//
// Usage: fa_paced_send IFNAME SRC_MAC DST_MAC SRC_IP DST_NET_PREFIX PACKETS RATE FLOWS
//                      [FRAME_BYTES=64] [BATCH=32] [TRAIN=1]
//   DST_NET_PREFIX: first two octets, e.g. 10.99 (flows up to 250 x 256)
// Prints one line: sent=N seconds=S rate=PPS late_batches=L cpu_user=U cpu_sys=S
// (cpu_* in seconds of this process: the sender and, in its syscalls, the receive path).
// Exits non-zero if the kernel refused a frame.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr unsigned kMaxBatch = 256;
constexpr unsigned kHeaders = 14 + 20 + 8;

bool parse_mac(const char* s, uint8_t out[6]) {
    unsigned v[6];
    if (std::sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
        return false;
    for (int i = 0; i < 6; ++i) {
        if (v[i] > 255) return false;
        out[i] = static_cast<uint8_t>(v[i]);
    }
    return true;
}

bool parse_u64(const char* s, uint64_t lo, uint64_t hi, uint64_t& out) {
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) return false;
    out = v;
    return true;
}

void put16(uint8_t* p, unsigned v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}

// Builds flow i's frame into f (frame_bytes long).
void build_frame(uint8_t* f, unsigned frame_bytes, const uint8_t dst_mac[6],
                 const uint8_t src_mac[6], const uint8_t src_ip[4], const uint8_t dst_net[2],
                 unsigned i) {
    std::memset(f, 0, frame_bytes);
    std::memcpy(f, dst_mac, 6);
    std::memcpy(f + 6, src_mac, 6);
    put16(f + 12, 0x0800);
    uint8_t* ip = f + 14;
    const unsigned ip_len = frame_bytes - 14;
    ip[0] = 0x45;
    put16(ip + 2, ip_len);
    put16(ip + 4, i & 0xffff);  // IP ID
    ip[8] = 64;
    ip[9] = 17;
    std::memcpy(ip + 12, src_ip, 4);
    ip[16] = dst_net[0];
    ip[17] = dst_net[1];
    ip[18] = static_cast<uint8_t>(i / 250);
    ip[19] = static_cast<uint8_t>(1 + i % 250);
    uint32_t sum = 0;
    for (unsigned k = 0; k < 20; k += 2) sum += static_cast<uint32_t>(ip[k] << 8 | ip[k + 1]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    put16(ip + 10, ~sum & 0xffff);
    uint8_t* udp = ip + 20;
    put16(udp, 10000 + i);
    put16(udp + 2, 9999);
    put16(udp + 4, ip_len - 20);
    for (unsigned k = kHeaders; k < frame_bytes; ++k) f[k] = static_cast<uint8_t>('p');
}

uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

void sleep_until_ns(uint64_t t) {
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(t / 1000000000u);
    ts.tv_nsec = static_cast<long>(t % 1000000000u);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
}

double tv_s(const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 9 || argc > 12) {
        std::fprintf(stderr,
                     "usage: %s IFNAME SRC_MAC DST_MAC SRC_IP DST_NET_PREFIX PACKETS RATE FLOWS "
                     "[FRAME_BYTES=64] [BATCH=32] [TRAIN=1]\n",
                     argv[0]);
        return 2;
    }
    uint8_t src_mac[6], dst_mac[6], src_ip[4], dst_net[2];
    uint64_t packets = 0, rate = 0, flows = 0, frame_bytes = 64, batch = 32, train = 1;
    unsigned net_a = 0, net_b = 0;
    char tail = 0;
    const unsigned ifindex = if_nametoindex(argv[1]);
    if (ifindex == 0) {
        std::fprintf(stderr, "fa_paced_send: interface %s: %s\n", argv[1], std::strerror(errno));
        return 2;
    }
    if (!parse_mac(argv[2], src_mac) || !parse_mac(argv[3], dst_mac)) {
        std::fprintf(stderr, "fa_paced_send: bad MAC address '%s' or '%s'\n", argv[2], argv[3]);
        return 2;
    }
    if (inet_pton(AF_INET, argv[4], src_ip) != 1) {
        std::fprintf(stderr, "fa_paced_send: bad SRC_IP '%s'\n", argv[4]);
        return 2;
    }
    if (std::sscanf(argv[5], "%u.%u%c", &net_a, &net_b, &tail) != 2 || net_a > 255 || net_b > 255) {
        std::fprintf(stderr, "fa_paced_send: bad DST_NET_PREFIX '%s' (want e.g. 10.99)\n",
                     argv[5]);
        return 2;
    }
    dst_net[0] = static_cast<uint8_t>(net_a);
    dst_net[1] = static_cast<uint8_t>(net_b);
    if (!parse_u64(argv[6], 1, UINT64_MAX / 2, packets) ||
        !parse_u64(argv[7], 1, 100000000, rate) || !parse_u64(argv[8], 1, 250 * 256, flows) ||
        (argc > 9 && !parse_u64(argv[9], kHeaders + 18, 1514, frame_bytes)) ||
        (argc > 10 && !parse_u64(argv[10], 1, kMaxBatch, batch)) ||
        (argc > 11 && !parse_u64(argv[11], 1, 1000000, train))) {
        std::fprintf(stderr,
                     "fa_paced_send: bad number (PACKETS >= 1, RATE 1..1e8, FLOWS 1..64000, "
                     "FRAME_BYTES 60..1514, BATCH 1..%u, TRAIN 1..1e6)\n",
                     kMaxBatch);
        return 2;
    }

    const unsigned fb = static_cast<unsigned>(frame_bytes);
    std::vector<uint8_t> frames(flows * fb);
    for (unsigned i = 0; i < flows; ++i)
        build_frame(&frames[i * fb], fb, dst_mac, src_mac, src_ip, dst_net, i);

    const int fd = socket(AF_PACKET, SOCK_RAW, 0);  // protocol 0: send only, receive nothing
    if (fd < 0) {
        std::fprintf(stderr, "fa_paced_send: socket(AF_PACKET): %s\n", std::strerror(errno));
        return 2;
    }
    int one = 1;
    if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) != 0)
        std::fprintf(stderr, "fa_paced_send: PACKET_QDISC_BYPASS: %s (continuing)\n",
                     std::strerror(errno));
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = static_cast<int>(ifindex);
    sll.sll_protocol = htons(ETH_P_IP);
    sll.sll_halen = 6;
    std::memcpy(sll.sll_addr, dst_mac, 6);
    if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
        std::fprintf(stderr, "fa_paced_send: bind %s: %s\n", argv[1], std::strerror(errno));
        return 2;
    }

    iovec iov[kMaxBatch];
    mmsghdr msgs[kMaxBatch];
    std::memset(msgs, 0, sizeof msgs);
    for (unsigned k = 0; k < kMaxBatch; ++k) {
        iov[k].iov_len = fb;
        msgs[k].msg_hdr.msg_iov = &iov[k];
        msgs[k].msg_hdr.msg_iovlen = 1;
    }

    // Batch b is due at start + b x batch / rate; a late batch goes out at once (and is
    // counted), so the average rate holds unless the machine cannot keep up at all.
    const uint64_t start = now_ns();
    uint64_t sent = 0, late = 0, b = 0;
    unsigned next_flow = 0;
    uint64_t in_train = 0;
    while (sent < packets) {
        const uint64_t due = start + static_cast<uint64_t>(
                                         static_cast<double>(b) * 1e9 *
                                         static_cast<double>(batch) / static_cast<double>(rate));
        const uint64_t t = now_ns();
        if (t < due)
            sleep_until_ns(due);
        else if (t > due + 1000000)
            ++late;
        ++b;
        const unsigned n =
            static_cast<unsigned>(packets - sent < batch ? packets - sent : batch);
        for (unsigned k = 0; k < n; ++k) {
            iov[k].iov_base = &frames[next_flow * fb];
            if (++in_train == train) {
                in_train = 0;
                if (++next_flow == flows) next_flow = 0;
            }
        }
        unsigned done = 0;
        while (done < n) {
            const int r = sendmmsg(fd, msgs + done, n - done, 0);
            if (r < 0) {
                if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN) continue;
                std::fprintf(stderr, "fa_paced_send: sendmmsg after %" PRIu64 " frames: %s\n",
                             sent + done, std::strerror(errno));
                return 1;
            }
            done += static_cast<unsigned>(r);
        }
        sent += n;
    }
    const double secs = static_cast<double>(now_ns() - start) / 1e9;
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    std::printf("sent=%" PRIu64 " seconds=%.3f rate=%.0f late_batches=%" PRIu64
                " cpu_user=%.3f cpu_sys=%.3f\n",
                sent, secs, static_cast<double>(sent) / secs, late, tv_s(ru.ru_utime),
                tv_s(ru.ru_stime));
    close(fd);
    return 0;
}
