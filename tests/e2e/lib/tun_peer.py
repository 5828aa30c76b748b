#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The far end of a tun device (IFF_TUN, no packet information: every read and write is one
IP packet, as on pppoe-wan or wg0), for the e2e tests.

  tun_peer.py settype IFNAME ARPHRD
      Sets the (down) tun device's link type (TUNSETLINK), e.g. 512 = PPP.
  tun_peer.py run IFNAME LOCAL4 PEER4 LOCAL6 PEER6 PORT N
      Attaches to IFNAME and, at the same time:
      - writes N IPv4 and N IPv6 UDP datagrams of 100 payload bytes from PEER:PORT to
        LOCAL:PORT (they enter the host on IFNAME: XDP and tc ingress see them);
      - sends N IPv4 and N IPv6 datagrams of 100 payload bytes from LOCAL:PORT+1 to
        PEER:PORT+1 through the host's stack (tc egress sees them on IFNAME);
      - reads every packet the host sends out of IFNAME until it has been idle for 1 s.
      Prints one line per UDP flow it wrote (in) or the host sent (out; what it read back
      must be the same flows, and no more):
        in|out PROTO SRC SPORT DST DPORT PACKETS BYTES
      (BYTES: the sum of the IP total lengths, the agent's octets).
"""
import fcntl
import os
import select
import socket
import struct
import sys
import time

from truth_peer import csum  # noqa: E402 (same directory)

TUNSETIFF = 0x400454CA
TUNSETLINK = 0x400454CD
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def udp4(src, dst, sport, dport, payload):
    s, d = socket.inet_aton(src), socket.inet_aton(dst)
    ulen = 8 + len(payload)
    pseudo = s + d + struct.pack("!BBH", 0, 17, ulen)
    u = struct.pack("!HHHH", sport, dport, ulen, 0) + payload
    u = u[:6] + struct.pack("!H", csum(pseudo + u) or 0xFFFF) + u[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, 1, 0, 64, 17, 0, s, d)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ip + u


def udp6(src, dst, sport, dport, payload):
    s, d = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
    ulen = 8 + len(payload)
    pseudo = s + d + struct.pack("!IxxxB", ulen, 17)
    u = struct.pack("!HHHH", sport, dport, ulen, 0) + payload
    u = u[:6] + struct.pack("!H", csum(pseudo + u) or 0xFFFF) + u[8:]
    return struct.pack("!IHBB", 6 << 28, ulen, 17, 64) + s + d + u


def parse(pkt):
    """(proto, src, sport, dst, dport, iplen) of a UDP packet, else None."""
    v = pkt[0] >> 4
    if v == 4 and len(pkt) >= 28 and pkt[9] == 17:
        ihl = (pkt[0] & 15) * 4
        sp, dp = struct.unpack("!HH", pkt[ihl:ihl + 4])
        return (17, socket.inet_ntoa(pkt[12:16]), sp, socket.inet_ntoa(pkt[16:20]), dp,
                struct.unpack("!H", pkt[2:4])[0])
    if v == 6 and len(pkt) >= 48 and pkt[6] == 17:
        sp, dp = struct.unpack("!HH", pkt[40:44])
        return (17, socket.inet_ntop(socket.AF_INET6, pkt[8:24]), sp,
                socket.inet_ntop(socket.AF_INET6, pkt[24:40]), dp,
                40 + struct.unpack("!H", pkt[4:6])[0])
    return None


def run(name, l4, p4, l6, p6, port, n):
    fd = open_tun(name)
    flows = {}

    def add(d, key, iplen):
        k = (d,) + key
        c = flows.setdefault(k, [0, 0])
        c[0] += 1
        c[1] += iplen

    # Listeners, so the datagrams written in are delivered (no ICMP errors back out).
    lis = []
    for fam, addr in ((socket.AF_INET, l4), (socket.AF_INET6, l6)):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.bind((addr, port))
        lis.append(s)
    out4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out4.bind((l4, port + 1))
    out6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    out6.bind((l6, port + 1))
    payload = b"t" * 100

    def drain(timeout):
        while True:
            r, _, _ = select.select([fd], [], [], timeout)
            if not r:
                return
            pkt = os.read(fd, 65536)
            p = parse(pkt)
            if p:
                add("out", p[:5], p[5])
            timeout = min(timeout, 0.05) if timeout < 1 else timeout

    for i in range(n):
        for pkt, key in ((udp4(p4, l4, port, port, payload), (17, p4, port, l4, port)),
                         (udp6(p6, l6, port, port, payload), (17, p6, port, l6, port))):
            os.write(fd, pkt)
            add("in", key, len(pkt))
        out4.sendto(payload, (p4, port + 1))
        out6.sendto(payload, (p6, port + 1))
        add("sent", (17, l4, port + 1, p4, port + 1), 20 + 8 + len(payload))
        add("sent", (17, l6, port + 1, p6, port + 1), 40 + 8 + len(payload))
        if i % 20 == 19:
            drain(0.0)
            time.sleep(0.005)
    # Idle for 1 s: everything the host sent is read.
    while True:
        r, _, _ = select.select([fd], [], [], 1.0)
        if not r:
            break
        p = parse(os.read(fd, 65536))
        if p:
            add("out", p[:5], p[5])
    got = 0
    for s in lis:
        s.setblocking(False)
        try:
            while True:
                s.recv(2048)
                got += 1
        except BlockingIOError:
            pass
    if got != 2 * n:
        print("tun_peer: the host received %d of %d datagrams" % (got, 2 * n), file=sys.stderr)
        return 1
    # Out of IFNAME, the truth is what the host's sockets sent: tc egress runs before the
    # device's qdisc and queue, which may drop some of them (seen on a loaded machine, and on
    # a PPP-typed tun even with a long queue); the agent rightly counts those. What the peer
    # read must not exceed it, and must be the same flows.
    for k in [k for k in flows if k[0] == "out"]:
        sent = flows.get(("sent",) + k[1:])
        if sent is None or flows[k][0] > sent[0]:
            print("tun_peer: read %r, but sent %r" % (flows[k], sent), file=sys.stderr)
            return 1
        if flows[k][0] < sent[0]:
            print("tun_peer: %s: %d of %d sent packets dropped behind the egress hook"
                  % (k[1:], sent[0] - flows[k][0], sent[0]), file=sys.stderr)
    for k in sorted(flows):
        if k[0] == "sent":
            print("out %d %s %d %s %d %d %d" % (k[1:] + tuple(flows[k])))
        elif k[0] == "in":
            print("%s %d %s %d %s %d %d %d" % (k + tuple(flows[k])))
    return 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "settype":
        fd = open_tun(sys.argv[2])
        fcntl.ioctl(fd, TUNSETLINK, int(sys.argv[3]))
        return 0
    if len(sys.argv) == 9 and sys.argv[1] == "run":
        a = sys.argv[2:]
        return run(a[0], a[1], a[2], a[3], a[4], int(a[5]), int(a[6]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
