#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# Export sequence numbers, judged from tshark's decode (-V text) of a capture that holds every
# datagram one collector received, in order. Usage: check_seq.py TSHARK_V_TEXT PROTO
# Checks the RFC rule on every consecutive pair of datagrams and prints how many sequence
# failures nfcapd 1.7.1 must count for this stream (one line, a number):
#  - v9 (RFC 3954 §5.1): sequence = export packets sent before; +1 per datagram. nfcapd counts
#    the same, so it must report 0.
#  - IPFIX (RFC 7011 §3.1): sequence = Data Records sent before this message, Options Data
#    Records included (§2: a Data Record is any record of a (Options) Template). nfcapd 1.7.1
#    advances its expected sequence only per flow record (Process_ipfix_data), not per options
#    data record, so after every datagram that carries options data and is followed by another
#    one it counts one failure, and only there (once it has seen a flow data set: before that
#    it resyncs silently). A real gap (a lost datagram, a wrong count)
#    breaks the RFC check below or adds a failure beyond this prediction.
# Exit 1 with a message when the RFC rule is broken or the text holds no datagram.
import re, sys

# Data templates: flows 1024 and up (1024 + layout bits, agent/export/ie.h), and the NAT44
# session events 262 (data records too: RFC 7011 §2, and nfcapd processes them as such);
# 258-261, 263 and 264 are options.
FLOW_TEMPLATES = {262} | set(range(1024, 65536))


def parse(path):
    msgs = []
    set_re = re.compile(r"^\s*(?:Flow)?Set \d+ \[id=(\d+)\] \((\d+) flows\)")
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("Frame "):
                msgs.append({"seq": None, "flows": 0, "opts": 0})
                continue
            m = re.match(r"^\s*FlowSequence: (\d+)", line)
            if m and msgs:
                msgs[-1]["seq"] = int(m.group(1))
                continue
            m = set_re.match(line)
            if m and msgs:
                tid, n = int(m.group(1)), int(m.group(2))
                msgs[-1]["flows" if tid in FLOW_TEMPLATES else "opts"] += n
    return [m for m in msgs if m["seq"] is not None]


def main():
    msgs = parse(sys.argv[1])
    proto = sys.argv[2]
    if not msgs:
        print("check_seq: no export datagram in the decode", file=sys.stderr)
        return 1
    expected_failures = 0
    # nfcapd resyncs silently while it has processed no flow data set yet (DataRecords == 0).
    flows_seen = False
    for k in range(len(msgs) - 1):
        a, b = msgs[k], msgs[k + 1]
        step = 1 if proto == "v9" else a["flows"] + a["opts"]
        if (b["seq"] - a["seq"]) % 2**32 != step:
            print(f"check_seq: datagram {k + 1}: sequence {a['seq']} with {a['flows']} flow and "
                  f"{a['opts']} options data records, next datagram has {b['seq']}, want "
                  f"{(a['seq'] + step) % 2**32}", file=sys.stderr)
            return 1
        flows_seen = flows_seen or a["flows"] > 0
        if proto != "v9" and a["opts"] and flows_seen:
            expected_failures += 1
    print(expected_failures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
