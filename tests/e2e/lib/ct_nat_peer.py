# SPDX-License-Identifier: GPL-2.0-only
# Traffic endpoints for test_agent_conntrack_nfdump.sh (run inside the test's namespaces).
#   server ADDR OUTFILE: UDP on ADDR:9999 (expects 10 datagrams, answers 4 of 200 payload bytes
#                        to the sender), then TCP on ADDR:8080 (reads to EOF, answers 7000 bytes).
#                        Writes "ready" to stdout once both sockets are bound, and the peers it
#                        saw ("udp IP PORT", "tcp IP PORT": the post-NAT source) to OUTFILE.
#   client SRC DST:      sends 10 UDP datagrams of 100 payload bytes from SRC:40001 to DST:9999,
#                        waits for the 4 answers, then a TCP connection SRC:40010 -> DST:8080
#                        sending 3000 bytes, reading the 7000-byte answer to EOF.
# Exits non-zero (with a message) if any expected datagram or byte is missing within 10 s.
import socket
import sys

UDP_PORT, TCP_PORT = 9999, 8080
UDP_N, UDP_LEN = 10, 100
UDP_REPLY_N, UDP_REPLY_LEN = 4, 200
TCP_UP, TCP_DOWN = 3000, 7000


def server(addr, outfile):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((addr, UDP_PORT))
    u.settimeout(20)
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((addr, TCP_PORT))
    t.listen(1)
    t.settimeout(20)
    print("ready", flush=True)
    peer = None
    for _ in range(UDP_N):
        data, peer = u.recvfrom(2048)
        if len(data) != UDP_LEN:
            sys.exit("server: UDP datagram of %d bytes" % len(data))
    for _ in range(UDP_REPLY_N):
        u.sendto(b"r" * UDP_REPLY_LEN, peer)
    c, tpeer = t.accept()
    c.settimeout(10)
    got = 0
    while True:
        d = c.recv(65536)
        if not d:
            break
        got += len(d)
    if got != TCP_UP:
        sys.exit("server: TCP got %d bytes, want %d" % (got, TCP_UP))
    c.sendall(b"d" * TCP_DOWN)
    c.close()
    with open(outfile, "w") as f:
        f.write("udp %s %d\ntcp %s %d\n" % (peer[0], peer[1], tpeer[0], tpeer[1]))


def client(src, dst):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((src, 40001))
    u.settimeout(10)
    for _ in range(UDP_N):
        u.sendto(b"x" * UDP_LEN, (dst, UDP_PORT))
    for _ in range(UDP_REPLY_N):
        data, _ = u.recvfrom(2048)
        if len(data) != UDP_REPLY_LEN:
            sys.exit("client: UDP answer of %d bytes" % len(data))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind((src, 40010))
    t.settimeout(10)
    t.connect((dst, TCP_PORT))
    t.sendall(b"u" * TCP_UP)
    t.shutdown(socket.SHUT_WR)
    got = 0
    while True:
        d = t.recv(65536)
        if not d:
            break
        got += len(d)
    t.close()
    if got != TCP_DOWN:
        sys.exit("client: TCP got %d bytes, want %d" % (got, TCP_DOWN))


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(sys.argv[2], sys.argv[3])
    else:
        client(sys.argv[2], sys.argv[3])
