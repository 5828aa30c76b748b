#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# A UDP sink for tests: binds ADDR PORT, counts datagrams into COUNT_FILE (rewritten after each
# datagram), so senders get no ICMP port unreachable. Runs until killed.
import os, socket, sys
addr, port, count_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind((addr, port))
n = 0
with open(count_file + ".tmp", "w") as f:
    f.write("0\n")
os.rename(count_file + ".tmp", count_file)
while True:
    s.recv(65535)
    n += 1
    with open(count_file + ".tmp", "w") as f:
        f.write("%d\n" % n)
    os.rename(count_file + ".tmp", count_file)
