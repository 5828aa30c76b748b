#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# Traffic endpoints for test_export_truth.sh (run inside its namespaces). Every socket sets a
# non-zero ToS / traffic class, so ToS is something to observe in both directions.
#   serve ADDR...          per ADDR: TCP on 8080 (reads, answers 2000 bytes per read until
#                          EOF) and UDP on 9999 (answers each datagram twice). Prints "ready".
#   hold SRC SPORT DST FLAG  TCP SRC:SPORT -> DST:8080, 300 bytes; prints "open"; keeps the
#                          connection until the file FLAG exists, sends 300 more, closes.
#   burst SRC DST          5 UDP datagrams SRC -> DST:9999 (waits for the 10 answers), then a
#                          TCP connection SRC -> DST:8080 with 1000 bytes each way.
#   vlan IFACE SRCMAC DSTMAC SRC DST VID  20 raw 802.1Q-tagged UDP frames (IPv4 or IPv6 by the
#                          address) out of IFACE, ToS/traffic class 0x48.
import os, socket, struct, sys, threading, time

TOS = 0x48  # DSCP 18 (AF21)


def fam(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def set_tos(s, addr):
    if ":" in addr:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, TOS)
    else:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, TOS)


def serve(addrs):
    def tcp(addr):
        t = socket.socket(fam(addr), socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((addr, 8080))
        t.listen(8)
        return t

    def tcp_conn(c, addr):
        set_tos(c, addr)
        while c.recv(65536):
            c.sendall(b"r" * 2000)
        c.close()

    def tcp_loop(t, addr):
        while True:
            c, _ = t.accept()
            threading.Thread(target=tcp_conn, args=(c, addr), daemon=True).start()

    def udp_loop(u):
        while True:
            data, peer = u.recvfrom(65536)
            for _ in range(2):
                u.sendto(b"a" * 200, peer)

    for a in addrs:
        t = tcp(a)
        u = socket.socket(fam(a), socket.SOCK_DGRAM)
        u.bind((a, 9999))
        set_tos(u, a)
        threading.Thread(target=tcp_loop, args=(t, a), daemon=True).start()
        threading.Thread(target=udp_loop, args=(u,), daemon=True).start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


def hold(src, sport, dst, flag):
    c = socket.socket(fam(dst), socket.SOCK_STREAM)
    set_tos(c, dst)
    c.bind((src, int(sport)))
    c.connect((dst, 8080))
    c.sendall(b"h" * 300)
    c.recv(65536)
    print("open", flush=True)
    while not os.path.exists(flag):
        time.sleep(0.05)
    c.sendall(b"h" * 300)
    c.recv(65536)
    c.shutdown(socket.SHUT_WR)
    while c.recv(65536):
        pass
    c.close()


def burst(src, dst):
    u = socket.socket(fam(dst), socket.SOCK_DGRAM)
    set_tos(u, dst)
    u.bind((src, 0))
    u.settimeout(5)
    for _ in range(5):
        u.sendto(b"b" * 100, (dst, 9999))
    for _ in range(10):
        u.recv(65536)
    c = socket.socket(fam(dst), socket.SOCK_STREAM)
    set_tos(c, dst)
    c.settimeout(5)
    c.bind((src, 0))
    c.connect((dst, 8080))
    c.sendall(b"t" * 1000)
    got = 0
    while got < 2000:
        got += len(c.recv(65536))
    c.shutdown(socket.SHUT_WR)
    while c.recv(65536):
        pass
    c.close()


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def vlan(iface, smac, dmac, src, dst, vid):
    sm, dm = (bytes.fromhex(m.replace(":", "")) for m in (smac, dmac))
    payload = b"v" * 100
    udp = struct.pack("!HHHH", 9003, 9003, 8 + len(payload), 0) + payload
    if ":" in src:
        ip = struct.pack("!IHBB16s16s", 6 << 28 | TOS << 20, len(udp), 17, 64,
                         socket.inet_pton(socket.AF_INET6, src),
                         socket.inet_pton(socket.AF_INET6, dst))
        ethertype = 0x86DD
    else:
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, TOS, 20 + len(udp), 1, 0, 64, 17, 0,
                          socket.inet_aton(src), socket.inet_aton(dst))
        ip = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
        ethertype = 0x0800
    frame = dm + sm + struct.pack("!HHH", 0x8100, int(vid), ethertype) + ip + udp
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    for _ in range(20):
        s.send(frame)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"serve": lambda: serve(args), "hold": lambda: hold(*args), "burst": lambda: burst(*args),
     "vlan": lambda: vlan(*args)}[cmd]()
