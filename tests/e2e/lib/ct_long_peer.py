# SPDX-License-Identifier: GPL-2.0-only
# Long-lived connections for test_conntrack_restart.sh and test_conntrack_coexist.sh, driven in
# phases while the agent starts, reloads and stops (run inside the test's namespaces).
#   server ADDR:        UDP on ADDR:9999 echoes every datagram to its sender; TCP on ADDR:8080
#                       echoes every byte of each accepted connection. Prints "ready".
#   client SRC DST CMD [PORT]: reads commands from the file CMD (a FIFO), one per line:
#                         send N   N UDP datagrams of 100 payload bytes from SRC:PORT (default
#                                  40001) to DST:9999 and N writes of 1000 bytes on the TCP
#                                  connection SRC:PORT+9 -> DST:8080 (opened at start); waits for every
#                                  echo, then prints "sent N"
#                         close    closes the TCP connection (FIN both ways), prints "closed"
#                         quit     exits
# Exits non-zero (with a message) when an echo is missing within 10 s.
import socket
import sys
import threading

UDP_PORT, TCP_PORT, UDP_LEN, TCP_CHUNK = 9999, 8080, 100, 1000


def server(addr):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((addr, UDP_PORT))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((addr, TCP_PORT))
    t.listen(4)

    def udp_echo():
        while True:
            data, peer = u.recvfrom(2048)
            u.sendto(data, peer)

    def tcp_echo(c):
        while True:
            data = c.recv(65536)
            if not data:
                c.close()
                return
            c.sendall(data)

    threading.Thread(target=udp_echo, daemon=True).start()
    print("ready", flush=True)
    while True:
        c, _ = t.accept()
        threading.Thread(target=tcp_echo, args=(c,), daemon=True).start()


def client(src, dst, cmd_path, port):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((src, port))
    u.settimeout(10)
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind((src, port + 9))
    t.settimeout(10)
    t.connect((dst, TCP_PORT))
    print("connected", flush=True)
    with open(cmd_path) as cmds:
        for line in cmds:
            words = line.split()
            if not words:
                continue
            if words[0] == "send":
                n = int(words[1])
                for _ in range(n):
                    u.sendto(b"u" * UDP_LEN, (dst, UDP_PORT))
                    u.recvfrom(2048)
                    t.sendall(b"t" * TCP_CHUNK)
                    got = 0
                    while got < TCP_CHUNK:
                        data = t.recv(TCP_CHUNK - got)
                        if not data:
                            sys.exit("tcp echo closed early")
                        got += len(data)
                print("sent", n, flush=True)
            elif words[0] == "close":
                t.shutdown(socket.SHUT_WR)
                while t.recv(65536):
                    pass
                t.close()
                print("closed", flush=True)
            elif words[0] == "quit":
                return


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(sys.argv[2])
    else:
        client(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else 40001)
