#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
# Checks for e2e.control_socket: the answers of `flowagent status --json` / `flows --json`
# and the screen of `flowagent top` against ground truth computed here, not by the agent.
#   control_check.py truth FLOWS PACKETS             -> per-flow and per-protocol JSON truth
#   control_check.py status STATUS.json TRUTH.json DATAGRAMS
#   control_check.py flows FLOWS.json TRUTH.json [proto]
#   control_check.py top SCREEN.txt PPS FLOWS GROUP SORT
#   control_check.py probe SOCKET                    -> malformed, oversized, slow clients
import json, re, socket, sys, time


def fail(msg):
    print("control_check: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def gen_packet(flows, n):
    """The generator's packet n (agent/source/generator.cpp Generator::packet), reimplemented."""
    f = n % flows
    v6 = f % 8 == 7
    icmp = f % 16 == 5
    if v6:
        src = "2001:db8:1::%x" % f  # f % 8 == 7: never 0
        dst = "2001:db8:2::1"
    else:
        src = "198.51.100.%d" % (f & 0xFF)
        dst = "203.0.113.%d" % (((f >> 8) & 0xFF) + 1)
    if icmp:
        proto = 58 if v6 else 1
        sport, dport = 0, (128 << 8) if v6 else (8 << 8)
    else:
        proto = 17 if f % 2 else 6
        sport, dport = 10000 + f % 50000, 53 if f % 2 else 443
    return (src, dst, sport, dport, proto), 60 + (n * 37) % 1400


def truth(flows, packets):
    per_flow, per_proto = {}, {}
    for n in range(packets):
        k, octets = gen_packet(flows, n)
        p, b = per_flow.get(k, (0, 0))
        per_flow[k] = (p + 1, b + octets)
        p, b, c = per_proto.get(k[4], (0, 0, set()))
        c.add(k)
        per_proto[k[4]] = (p + 1, b + octets, c)
    return {
        "flows": [list(k) + [v[0], v[1]] for k, v in per_flow.items()],
        "proto": {str(k): [v[0], v[1], len(v[2])] for k, v in per_proto.items()},
        "packets": packets,
        "bytes": sum(v[1] for v in per_flow.values()),
    }


def check_status(st, tr, datagrams):
    if st.get("source") != "generator":
        fail("status source %r" % st.get("source"))
    ft = st["flow_table"]
    if ft["flows"] != len(tr["flows"]):
        fail("status flow_table.flows %d, sent %d flows" % (ft["flows"], len(tr["flows"])))
    if ft["capacity"] < ft["flows"] or ft["evicted"] != 0:
        fail("status flow_table %r" % ft)
    m = st["metered"]
    if (m["packets"], m["bytes"]) != (tr["packets"], tr["bytes"]):
        fail("status metered %r, sent %d packets %d bytes" % (m, tr["packets"], tr["bytes"]))
    if st["sampling"] != {"rate": 1, "mode": "random", "kind": "packet"}:
        fail("status sampling %r" % st["sampling"])
    c = st["collectors"][0]
    if c["protocol"] != "ipfix" or c["datagrams"] != datagrams or c["last_error"] is not None:
        fail("status collector %r, the collector received %d datagrams" % (c, datagrams))
    if c["template_sends"] < 1 or not 0 <= c["last_template_seconds_ago"] < 600:
        fail("status collector templates %r" % c)
    for k in ("version", "uptime_s", "pid", "dropped", "loop", "control"):
        if k not in st:
            fail("status lacks %s" % k)


def check_flows(fl, tr, by_proto):
    if by_proto:
        got = {str(r["proto"]): [r["packets"], r["bytes"], r["flows"]] for r in fl["rows"]}
        if got != tr["proto"]:
            fail("flows by proto %r, sent %r" % (got, tr["proto"]))
        return
    want = {tuple(f[:5]): (f[5], f[6]) for f in tr["flows"]}
    got = {}
    for r in fl["rows"]:
        got[(r["src"], r["dst"], r["src_port"], r["dst_port"], r["proto"])] = (r["packets"],
                                                                                 r["bytes"])
    if got != want:
        missing = set(want) - set(got)
        fail("flows differ from what was sent: %d rows, %d sent, missing %r, wrong %r" % (
            len(got), len(want), sorted(missing)[:3],
            [(k, got[k], want[k]) for k in got if k in want and got[k] != want[k]][:3]))
    sizes = [r["bytes"] for r in fl["rows"]]
    if sizes != sorted(sizes, reverse=True):
        fail("flows not sorted by bytes")
    if fl["flows"] != len(want) or fl["total"]["packets"] != tr["packets"]:
        fail("flows totals %r" % fl["total"])


UNITS = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def num(text):
    m = re.fullmatch(r"([0-9.]+)([kMGT]?)", text)
    if not m:
        fail("not a number on screen: %r" % text)
    return float(m.group(1)) * UNITS[m.group(2)]


def check_top(screen, pps, flows, group, sort):
    lines = screen.rstrip("\n").split("\n")
    if len(lines) > 24 or any(len(l) > 80 for l in lines):
        fail("top does not fit 80x24: %d lines, longest %d" % (len(lines), max(map(len, lines))))
    if "sort: %s  group: %s" % (sort, group) not in lines[0]:
        fail("top header %r, want sort %s group %s" % (lines[0], sort, group))
    m = re.search(r"total: (\d+) flows\s+(\S+) bit/s\s+(\S+) pkt/s", lines[1])
    if not m:
        fail("top total line %r" % lines[1])
    if int(m.group(1)) != flows:
        fail("top shows %s flows, sent %d" % (m.group(1), flows))
    # Packets are generated at exactly `pps`; sizes 60 + (n*37 % 1400): 759.5 bytes on average.
    total_pps, total_bps = num(m.group(3)), num(m.group(2))
    if not 0.85 * pps <= total_pps <= 1.15 * pps:
        fail("top total %s pkt/s, sent %d/s" % (m.group(3), pps))
    want_bps = pps * 759.5 * 8
    if not 0.75 * want_bps <= total_bps <= 1.25 * want_bps:
        fail("top total %s bit/s, sent about %.0f" % (m.group(2), want_bps))
    rows = [l.split() for l in lines[4:] if not l.startswith("keys:") and l.strip()]
    if len(rows) != flows:
        fail("top shows %d rows, %d flows/groups expected:\n%s" % (len(rows), flows, screen))
    for r in rows:
        if not 0.8 * pps / flows <= num(r[1]) <= 1.2 * pps / flows:
            fail("top row %r: %s pkt/s, sent %.0f/s" % (" ".join(r), r[1], pps / flows))
        key = r[5]
        if group == "src" and not re.fullmatch(r"198\.51\.100\.\d+", key):
            fail("top row key %r is not a source" % key)
        if group == "flow" and ">" not in key:
            fail("top row key %r is not a flow" % key)
    if sort == "rate":
        rates = [num(r[0]) for r in rows]
        if rates != sorted(rates, reverse=True):
            fail("top rows not sorted by rate: %r" % rates)


def talk(path, data, wait=3.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(wait)
    s.connect(path)
    s.sendall(data)
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    return out


def probe(path):
    # Malformed, binary, oversized: each gets an error line and the connection is closed.
    for data, want in ((b"bogus\n", b'{"error":"unknown command \'bogus\''),
                       (b"flows top=0\n", b"bad top '0'"),
                       (b"status \x1b[2J\n", b"bad byte \\\\x1b"),
                       (b"x" * 5000, b"request longer than 256 bytes")):
        got = talk(path, data)
        if want not in got or not got.endswith(b"\n") or got.count(b"\n") != 1:
            fail("request %r: answer %r, want %r" % (data[:20], got, want))
    # Slow clients: four idle connections fill every slot; the fifth is closed at once; the
    # idle ones are closed after the request timeout (2 s) and the agent answers again.
    idle = []
    for _ in range(4):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        idle.append(s)
    time.sleep(0.3)
    try:
        extra = talk(path, b"status\n", wait=1.0)
    except OSError:
        extra = b""
    if extra != b"":
        fail("a fifth client was served while four held every slot: %r" % extra[:40])
    t0 = time.time()
    for s in idle:
        s.settimeout(5)
        if s.recv(10) != b"":
            fail("an idle client got data")
    took = time.time() - t0
    if took > 3.5:
        fail("idle clients closed after %.1f s (timeout is 2 s)" % took)
    st = json.loads(talk(path, b"status\n"))
    c = st["control"]
    if c["timeouts"] < 4 or c["refused"] < 1 or c["bad_requests"] < 4:
        fail("control counters %r" % c)
    # A client that sends half a line and stalls is closed too; one that reads its answer
    # slowly still gets all of it.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(b"sta")
    s.settimeout(5)
    if s.recv(10) != b"":
        fail("a half request got an answer")
    print("probe ok: %r" % c)


def main():
    cmd = sys.argv[1]
    if cmd == "truth":
        print(json.dumps(truth(int(sys.argv[2]), int(sys.argv[3]))))
    elif cmd == "status":
        check_status(json.load(open(sys.argv[2])), json.load(open(sys.argv[3])), int(sys.argv[4]))
        print("status ok")
    elif cmd == "flows":
        check_flows(json.load(open(sys.argv[2])), json.load(open(sys.argv[3])),
                    len(sys.argv) > 4 and sys.argv[4] == "proto")
        print("flows ok")
    elif cmd == "top":
        check_top(open(sys.argv[2]).read(), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5],
                  sys.argv[6])
        print("top ok")
    elif cmd == "probe":
        probe(sys.argv[2])
    else:
        fail("unknown command " + cmd)


if __name__ == "__main__":
    main()
