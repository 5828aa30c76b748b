#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# IPv6 traffic endpoints for test_agent_conntrack_v6_end.sh (run inside the test's namespaces).
#   server ADDR OUTFILE: UDP on [ADDR]:9999 (expects 10 datagrams of 100 bytes, answers 4 of 200
#       bytes), then TCP on [ADDR]:8080 for three connections, in order: "fin" (reads 3000 bytes
#       to EOF, answers 7000, closes), "rst" (reads 1000 bytes, answers 1 byte, then reads until
#       the client's reset), "idle" (reads 500, answers 500, then holds the connection open until
#       killed). Prints "ready" once bound, writes the peers it saw ("udp IP PORT", "fin IP
#       PORT", ...: the post-NAT source) to OUTFILE, then prints "done".
#   client SRC DST: the matching client from [SRC]:40001 (UDP), :40010 (fin), :40011 (rst: 1000
#       bytes, waits for the 1-byte answer, then closes with SO_LINGER 0, i.e. an RST), :40012
#       (idle: 500 up, 500 down, then holds the socket until killed). Prints "idle" once the idle connection is set up.
import socket
import struct
import sys
import time

UDP_PORT, TCP_PORT = 9999, 8080


def recv_exact(s, n):
    got = 0
    while got < n:
        d = s.recv(n - got)
        if not d:
            sys.exit("peer: EOF after %d of %d bytes" % (got, n))
        got += len(d)


def recv_to_eof(s):
    got = 0
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return got
            got += len(d)
    except ConnectionResetError:
        return -got - 1  # reset after got bytes


def server(addr, outfile):
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.bind((addr, UDP_PORT))
    u.settimeout(20)
    t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((addr, TCP_PORT))
    t.listen(3)
    t.settimeout(20)
    print("ready", flush=True)
    peers = []
    for _ in range(10):
        data, peer = u.recvfrom(2048)
        if len(data) != 100:
            sys.exit("server: UDP datagram of %d bytes" % len(data))
    for _ in range(4):
        u.sendto(b"r" * 200, peer)
    peers.append(("udp", peer))
    c, p = t.accept()
    if recv_to_eof(c) != 3000:
        sys.exit("server: fin connection did not carry 3000 bytes")
    c.sendall(b"d" * 7000)
    c.close()
    peers.append(("fin", p))
    c, p = t.accept()
    recv_exact(c, 1000)
    c.sendall(b"k")  # tells the client the 1000 bytes arrived; it resets then
    n = recv_to_eof(c)
    if n != -1:
        sys.exit("server: rst connection: %d (want a reset after the 1000 bytes)" % n)
    c.close()
    peers.append(("rst", p))
    idle, p = t.accept()
    recv_exact(idle, 500)
    idle.sendall(b"i" * 500)
    peers.append(("idle", p))
    with open(outfile, "w") as f:
        for name, pr in peers:
            f.write("%s %s %d\n" % (name, pr[0], pr[1]))
    print("done", flush=True)
    while True:
        time.sleep(3600)


def client(src, dst):
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.bind((src, 40001))
    u.settimeout(10)
    for _ in range(10):
        u.sendto(b"x" * 100, (dst, UDP_PORT))
    for _ in range(4):
        if len(u.recvfrom(2048)[0]) != 200:
            sys.exit("client: UDP answer size")

    def conn(port):
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind((src, port))
        s.settimeout(10)
        s.connect((dst, TCP_PORT))
        return s

    s = conn(40010)
    s.sendall(b"u" * 3000)
    s.shutdown(socket.SHUT_WR)
    if recv_to_eof(s) != 7000:
        sys.exit("client: fin connection did not get 7000 bytes")
    s.close()
    s = conn(40011)
    s.sendall(b"u" * 1000)
    recv_exact(s, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    s = conn(40012)
    s.sendall(b"u" * 500)
    recv_exact(s, 500)
    print("idle", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(sys.argv[2], sys.argv[3])
    else:
        client(sys.argv[2], sys.argv[3])
