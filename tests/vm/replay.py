#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# Sends the datagrams a VM collector stored (tests/vm/vmtool collect: a pcap of LINKTYPE_RAW
# IPv4/UDP packets) to a collector on the host's loopback, in their order, so nfcapd decodes
# exactly what the agent exported inside the VM.
# Usage: replay.py PCAP PORT   (prints the number of datagrams sent)
import socket, struct, sys, time

def datagrams(path):
    data = open(path, "rb").read()
    magic = struct.unpack_from("<I", data, 0)[0]
    order = "<" if magic == 0xA1B2C3D4 else ">"
    if struct.unpack_from(order + "I", data, 0)[0] != 0xA1B2C3D4:
        raise SystemExit("replay: %s: not a pcap file" % path)
    if struct.unpack_from(order + "I", data, 20)[0] != 101:
        raise SystemExit("replay: %s: not LINKTYPE_RAW" % path)
    off = 24
    while off + 16 <= len(data):
        _, _, incl, orig = struct.unpack_from(order + "IIII", data, off)
        off += 16
        pkt = data[off:off + incl]
        off += incl
        if incl != orig or len(pkt) < 28:
            raise SystemExit("replay: %s: truncated record" % path)
        yield pkt[28:]

def main():
    path, port = sys.argv[1], int(sys.argv[2])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    n = 0
    for d in datagrams(path):
        s.sendto(d, ("127.0.0.1", port))
        n += 1
        time.sleep(0.002)  # nfcapd reads one datagram at a time
    print(n)

if __name__ == "__main__":
    main()
