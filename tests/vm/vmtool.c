// SPDX-License-Identifier: GPL-2.0-only
// The VM test's traffic and capture tool, built static for the guest CPU (the initramfs has
// busybox but no python, tcpdump or collector). One binary, one command per run:
//   vmtool capture IFACE FILE         every frame on IFACE (both directions) into a pcap file
//                                     (first 160 bytes of each, original length kept); stops on
//                                     SIGTERM after reading what is queued
//   vmtool collect PORT FILE          a UDP collector on 127.0.0.1:PORT: every datagram into a
//                                     pcap file (LINKTYPE_RAW, a made-up IPv4/UDP header in
//                                     front); stops on SIGTERM after reading what is queued
//   vmtool udp SRC DST PORT COUNT SIZE [SPORT]   COUNT datagrams of SIZE payload bytes
//   vmtool udp-echo ADDR PORT REPLIES SIZE   answers the first REPLIES datagrams with SIZE bytes,
//                                     reads until 2 s of silence; prints "udp PEER PORT"
//   vmtool tcp-server ADDR PORT SEND  accepts one connection, reads to EOF, sends SEND bytes,
//                                     closes; prints "tcp PEER PORT"
//   vmtool tcp-client SRC DST PORT SEND [SPORT]  10 writes (TCP_NODELAY), shutdown, reads to EOF
//   vmtool raw IFACE FRAMEHEX COUNT   COUNT copies of one raw Ethernet frame sent on IFACE
// Addresses are IPv4 or IPv6 literals. Exit 0 on success, 1 with a message on any error.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static void die(const char* what) {
    fprintf(stderr, "vmtool: %s: %s\n", what, strerror(errno));
    exit(1);
}

static socklen_t parse_addr(const char* text, int port, struct sockaddr_storage* ss) {
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in* a4 = (struct sockaddr_in*)ss;
    struct sockaddr_in6* a6 = (struct sockaddr_in6*)ss;
    if (inet_pton(AF_INET, text, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        return sizeof *a4;
    }
    if (inet_pton(AF_INET6, text, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        return sizeof *a6;
    }
    fprintf(stderr, "vmtool: not an address: %s\n", text);
    exit(1);
}

static void print_peer(const char* proto, const struct sockaddr_storage* ss) {
    char buf[INET6_ADDRSTRLEN];
    int port;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in* a = (const struct sockaddr_in*)ss;
        inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
        port = ntohs(a->sin_port);
    } else {
        const struct sockaddr_in6* a = (const struct sockaddr_in6*)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
        port = ntohs(a->sin6_port);
    }
    printf("%s %s %d\n", proto, buf, port);
    fflush(stdout);
}

// pcap (microsecond) file header and records, in the writer's byte order as the format allows.
static FILE* pcap_open(const char* path, uint32_t linktype, uint32_t snaplen) {
    FILE* f = fopen(path, "wb");
    if (f == NULL) die(path);
    struct { uint32_t magic; uint16_t major, minor; int32_t zone; uint32_t sigfigs, snaplen, link; }
        h = {0xa1b2c3d4u, 2, 4, 0, 0, snaplen, linktype};
    if (fwrite(&h, sizeof h, 1, f) != 1) die(path);
    return f;
}

static void pcap_record(FILE* f, const void* head, size_t head_len, const void* data,
                        size_t caplen, size_t origlen) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    uint32_t r[4] = {(uint32_t)tv.tv_sec, (uint32_t)tv.tv_usec, (uint32_t)(head_len + caplen),
                     (uint32_t)(head_len + origlen)};
    if (fwrite(r, sizeof r, 1, f) != 1 || (head_len && fwrite(head, head_len, 1, f) != 1) ||
        (caplen && fwrite(data, caplen, 1, f) != 1))
        die("pcap write");
    fflush(f);
}

static void catch_term(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

// True when fd has a message; false once SIGTERM came and nothing is queued any more.
static int next_message(int fd) {
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int n = poll(&p, 1, stop ? 0 : 200);
        if (n < 0 && errno != EINTR) die("poll");
        if (n > 0) return 1;
        if (stop) return 0;
    }
}

// Reads fd until SIGTERM, then until it has nothing queued; calls fn per message.
static void read_loop(int fd, void (*fn)(const unsigned char*, ssize_t, void*), void* ctx,
                      unsigned char* buf, size_t len) {
    while (next_message(fd)) {
        ssize_t got = recv(fd, buf, len, MSG_DONTWAIT);
        if (got < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            die("recv");
        }
        fn(buf, got, ctx);
    }
}

enum { kSnap = 160 };

// Reads frames until SIGTERM, then what is queued. The kernel hands a received VLAN tag over
// out of band (PACKET_AUXDATA); it is put back into the frame, as libpcap does.
static void capture_loop(int fd, FILE* f) {
    static unsigned char buf[65536 + 4];
    union { struct cmsghdr h; char space[CMSG_SPACE(sizeof(struct tpacket_auxdata))]; } ctl;
    while (next_message(fd)) {
        struct iovec iov = {buf + 4, sizeof buf - 4};
        struct msghdr m;
        memset(&m, 0, sizeof m);
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = &ctl;
        m.msg_controllen = sizeof ctl;
        ssize_t got = recvmsg(fd, &m, MSG_DONTWAIT | MSG_TRUNC);
        if (got < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            die("recvmsg");
        }
        unsigned char* frame = buf + 4;
        size_t len = (size_t)got;
        for (struct cmsghdr* c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c)) {
            if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA) continue;
            struct tpacket_auxdata aux;
            memcpy(&aux, CMSG_DATA(c), sizeof aux);
            if (!(aux.tp_status & TP_STATUS_VLAN_VALID) || len < 12) continue;
            uint16_t tpid = (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) ? aux.tp_vlan_tpid
                                                                        : ETH_P_8021Q;
            memmove(buf, frame, 12);  // MACs move 4 bytes to the front
            frame = buf;
            frame[12] = (unsigned char)(tpid >> 8), frame[13] = (unsigned char)tpid;
            frame[14] = (unsigned char)(aux.tp_vlan_tci >> 8);
            frame[15] = (unsigned char)aux.tp_vlan_tci;
            len += 4;
        }
        size_t cap = len < kSnap ? len : kSnap;
        pcap_record(f, NULL, 0, frame, cap, len);
    }
}
static int cmd_capture(const char* ifname, const char* path) {
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (fd < 0) die("packet socket");
    struct sockaddr_ll ll;
    memset(&ll, 0, sizeof ll);
    ll.sll_family = AF_PACKET;
    ll.sll_protocol = htons(ETH_P_ALL);
    ll.sll_ifindex = (int)if_nametoindex(ifname);
    if (ll.sll_ifindex == 0) die(ifname);
    if (bind(fd, (struct sockaddr*)&ll, sizeof ll) < 0) die("bind packet socket");
    int rcv = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv);
    int one = 1;
    if (setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) < 0) die("PACKET_AUXDATA");
    FILE* f = pcap_open(path, 1, kSnap);
    catch_term();
    printf("capturing\n");
    fflush(stdout);
    capture_loop(fd, f);
    fclose(f);
    return 0;
}

struct collect_ctx { FILE* f; int port; };
static uint16_t csum16(const unsigned char* p, size_t n) {
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}
static void col_one(const unsigned char* b, ssize_t got, void* vctx) {
    struct collect_ctx* c = vctx;
    unsigned char h[28];
    size_t total = (size_t)got + sizeof h;
    memset(h, 0, sizeof h);
    h[0] = 0x45;
    h[2] = (unsigned char)(total >> 8);
    h[3] = (unsigned char)total;
    h[8] = 64;
    h[9] = 17;
    h[12] = 127, h[15] = 1, h[16] = 127, h[19] = 1;
    uint16_t cs = csum16(h, 20);
    h[10] = (unsigned char)(cs >> 8);
    h[11] = (unsigned char)cs;
    h[20] = (unsigned char)(c->port >> 8), h[21] = (unsigned char)c->port;  // sport: unused
    h[22] = (unsigned char)(c->port >> 8), h[23] = (unsigned char)c->port;
    h[24] = (unsigned char)((got + 8) >> 8), h[25] = (unsigned char)(got + 8);
    pcap_record(c->f, h, sizeof h, b, (size_t)got, (size_t)got);
}

static int cmd_collect(int port, const char* path) {
    struct sockaddr_storage ss;
    socklen_t sl = parse_addr("127.0.0.1", port, &ss);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) die("socket");
    int rcv = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv);
    if (bind(fd, (struct sockaddr*)&ss, sl) < 0) die("bind collector");
    struct collect_ctx c = {pcap_open(path, 101, 65535), port};
    catch_term();
    printf("collecting\n");
    fflush(stdout);
    static unsigned char buf[65536];
    read_loop(fd, col_one, &c, buf, sizeof buf);
    fclose(c.f);
    return 0;
}

static int bound_socket(const char* src, int type, int sport, struct sockaddr_storage* ss) {
    socklen_t sl = parse_addr(src, sport, ss);
    int fd = socket(ss->ss_family, type, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr*)ss, sl) < 0) die("bind");
    return fd;
}

static int cmd_udp(const char* src, const char* dst, int port, int count, int size, int sport) {
    struct sockaddr_storage s, d;
    int fd = bound_socket(src, SOCK_DGRAM, sport, &s);
    socklen_t dl = parse_addr(dst, port, &d);
    static char buf[65536];
    memset(buf, 'x', sizeof buf);
    for (int i = 0; i < count; i++) {
        if (sendto(fd, buf, (size_t)size, 0, (struct sockaddr*)&d, dl) != size) die("sendto");
        usleep(1000);  // a slow guest must not drop a burst in a socket buffer
    }
    close(fd);
    return 0;
}

static int cmd_udp_echo(const char* addr, int port, int replies, int size) {
    struct sockaddr_storage s, peer;
    int fd = bound_socket(addr, SOCK_DGRAM, port, &s);
    static char buf[65536];
    memset(buf, 'r', sizeof buf);
    printf("ready\n");
    fflush(stdout);
    int seen = 0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int n = poll(&p, 1, seen ? 2000 : 30000);
        if (n <= 0) break;
        socklen_t pl = sizeof peer;
        if (recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr*)&peer, &pl) < 0) die("recvfrom");
        if (seen++ == 0) print_peer("udp", &peer);
        if (replies > 0) {
            replies--;
            if (sendto(fd, buf, (size_t)size, 0, (struct sockaddr*)&peer, pl) != size)
                die("sendto");
        }
    }
    return seen ? 0 : 1;
}

static int cmd_tcp_server(const char* addr, int port, long send_bytes) {
    struct sockaddr_storage s, peer;
    int fd = bound_socket(addr, SOCK_STREAM, port, &s);
    if (listen(fd, 1) < 0) die("listen");
    printf("ready\n");
    fflush(stdout);
    socklen_t pl = sizeof peer;
    int c = accept(fd, (struct sockaddr*)&peer, &pl);
    if (c < 0) die("accept");
    print_peer("tcp", &peer);
    static char buf[65536];
    ssize_t n;
    while ((n = recv(c, buf, sizeof buf, 0)) > 0) {}
    if (n < 0) die("recv");
    memset(buf, 'd', sizeof buf);
    while (send_bytes > 0) {
        size_t chunk = send_bytes > 1000 ? 1000 : (size_t)send_bytes;
        ssize_t w = send(c, buf, chunk, 0);
        if (w < 0) die("send");
        send_bytes -= w;
    }
    close(c);
    return 0;
}

static int cmd_tcp_client(const char* src, const char* dst, int port, long send_bytes,
                          int sport) {
    struct sockaddr_storage s, d;
    int fd = bound_socket(src, SOCK_STREAM, sport, &s);
    socklen_t dl = parse_addr(dst, port, &d);
    if (connect(fd, (struct sockaddr*)&d, dl) < 0) die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    static char buf[65536];
    memset(buf, 'u', sizeof buf);
    for (int i = 0; i < 10; i++) {
        size_t chunk = (size_t)(send_bytes / 10 + (i < send_bytes % 10));
        if (send(fd, buf, chunk, 0) != (ssize_t)chunk) die("send");
        usleep(10000);
    }
    shutdown(fd, SHUT_WR);
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) {}
    if (n < 0) die("recv");
    close(fd);
    return 0;
}

static int cmd_raw(const char* ifname, const char* hex, int count) {
    static unsigned char frame[2048];
    size_t len = strlen(hex) / 2;
    if (len > sizeof frame || len < 14) { fprintf(stderr, "vmtool: bad frame\n"); return 1; }
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) { fprintf(stderr, "vmtool: bad hex\n"); return 1; }
        frame[i] = (unsigned char)v;
    }
    int fd = socket(AF_PACKET, SOCK_RAW, 0);
    if (fd < 0) die("packet socket");
    struct sockaddr_ll ll;
    memset(&ll, 0, sizeof ll);
    ll.sll_family = AF_PACKET;
    ll.sll_ifindex = (int)if_nametoindex(ifname);
    if (ll.sll_ifindex == 0) die(ifname);
    for (int i = 0; i < count; i++) {
        if (sendto(fd, frame, len, 0, (struct sockaddr*)&ll, sizeof ll) != (ssize_t)len)
            die("send raw");
        usleep(1000);
    }
    return 0;
}

int main(int argc, char** argv) {
    const char* c = argc > 1 ? argv[1] : "";
    if (!strcmp(c, "capture") && argc == 4) return cmd_capture(argv[2], argv[3]);
    if (!strcmp(c, "collect") && argc == 4) return cmd_collect(atoi(argv[2]), argv[3]);
    if (!strcmp(c, "udp") && (argc == 7 || argc == 8))
        return cmd_udp(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), atoi(argv[6]),
                       argc == 8 ? atoi(argv[7]) : 0);
    if (!strcmp(c, "udp-echo") && argc == 6)
        return cmd_udp_echo(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (!strcmp(c, "tcp-server") && argc == 5)
        return cmd_tcp_server(argv[2], atoi(argv[3]), atol(argv[4]));
    if (!strcmp(c, "tcp-client") && (argc == 6 || argc == 7))
        return cmd_tcp_client(argv[2], argv[3], atoi(argv[4]), atol(argv[5]),
                              argc == 7 ? atoi(argv[6]) : 0);
    if (!strcmp(c, "raw") && argc == 5) return cmd_raw(argv[2], argv[3], atoi(argv[4]));
    fprintf(stderr, "usage: see the head of tests/vm/vmtool.c\n");
    return 2;
}
