// SPDX-License-Identifier: GPL-2.0-only
// Test tool: reads known flow records from a text file and exports them through the real
// encoder (fa::Exporter) and the real UDP transport, so real decoders can be checked against
// the file. Record file format (tests/data/records/README): one record per line,
// whitespace-separated key=value fields; '#' starts a comment.
//
//   src=192.0.2.1 dst=2001:db8::1 sport=1234 dport=80 proto=6 tos=0 tcp_flags=0x1b
//   icmp_type=8 icmp_code=0 in_if=2 out_if=3 dir=ingress|egress|0|1 vlan=10
//   packets=10 octets=1500 start=1700000000000 end=1700000001000 (epoch ms)
//   end_reason=1..5|idle|active|end|forced|lack src_mac=02:00:00:00:00:01 dst_mac=...
//   post_src=ADDR post_dst=ADDR post_sport=N post_dport=N (NAT fields, exported with --nat)
//   rev_packets=N rev_octets=N rev_icmp_type=T rev_icmp_code=C (biflow, with --biflow)
//   nat_event=create|delete: the line is an RFC 8158 NAT44 session event (with --nat-events)
//     at time `start`: src dst sport dport proto post_*; ICMP: sport = echo identifier
//
// Times: the tool keeps a synthetic monotonic clock and picks ExportTime::wall_offset_ms so
// that mono + offset equals the file's epoch ms exactly; the simulated "now" (message export
// time) is one second after the latest end time in the file, advancing with real time.
#include <arpa/inet.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "flow/flow_record.h"
#include "flow/nat_event.h"
#include "linux/udp_transport.h"

#if __has_include("export/exporter.h")
#include "export/exporter.h"
#define FA_HAVE_EXPORTER 1
#endif

namespace {

struct FileRecord {
    fa::FlowRecord rec;
    uint8_t nat_event = 0;  // 0: a flow record; else natEvent (IE 230)
    uint64_t start_ms = 0;
    uint64_t end_ms = 0;
};

[[noreturn]] __attribute__((format(printf, 1, 2))) void die(const char* fmt, ...)
{
    std::fprintf(stderr, "fa_export_records: ");
    va_list ap;
    va_start(ap, fmt);
    std::vfprintf(stderr, fmt, ap);
    va_end(ap);
    std::fprintf(stderr, "\n");
    std::exit(2);
}

bool parse_u64(const char* s, uint64_t max, uint64_t* out)
{
    if (s == nullptr || *s == '\0' || *s == '-') {
        return false;
    }
    errno = 0;
    char* end = nullptr;
    unsigned long long v = std::strtoull(s, &end, 0);
    if (errno != 0 || *end != '\0' || v > max) {
        return false;
    }
    *out = v;
    return true;
}

bool parse_mac(const char* s, uint8_t* mac)
{
    unsigned v[6];
    char tail = 0;
    if (std::sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                    &tail) != 6) {
        return false;
    }
    for (int i = 0; i < 6; ++i) {
        if (v[i] > 255) {
            return false;
        }
        mac[i] = uint8_t(v[i]);
    }
    return true;
}

// Addresses go into the key IPv4-mapped, network order (flow_key.h).
bool parse_addr(const char* s, uint8_t* out, bool* is_v4)
{
    in_addr a4;
    if (inet_pton(AF_INET, s, &a4) == 1) {
        std::memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        std::memcpy(out + 12, &a4, 4);
        *is_v4 = true;
        return true;
    }
    in6_addr a6;
    if (inet_pton(AF_INET6, s, &a6) == 1) {
        std::memcpy(out, &a6, 16);
        *is_v4 = false;
        return true;
    }
    return false;
}

bool parse_end_reason(const char* s, fa::EndReason* out)
{
    static const struct { const char* name; fa::EndReason r; } kNames[] = {
        {"none", fa::EndReason::none}, {"idle", fa::EndReason::idle_timeout},
        {"active", fa::EndReason::active_timeout}, {"end", fa::EndReason::end_of_flow},
        {"forced", fa::EndReason::forced_end}, {"lack", fa::EndReason::lack_of_resources},
    };
    for (const auto& n : kNames) {
        if (std::strcmp(s, n.name) == 0) {
            *out = n.r;
            return true;
        }
    }
    uint64_t v = 0;
    if (!parse_u64(s, 5, &v)) {
        return false;
    }
    *out = fa::EndReason(v);
    return true;
}

std::vector<FileRecord> read_records(const char* path)
{
    FILE* f = std::fopen(path, "r");
    if (f == nullptr) {
        die("cannot open record file '%s': %s", path, std::strerror(errno));
    }
    std::vector<FileRecord> out;
    char line[2048];
    long lineno = 0;
    while (std::fgets(line, sizeof(line), f) != nullptr) {
        ++lineno;
        if (char* hash = std::strchr(line, '#')) {
            *hash = '\0';
        }
        FileRecord fr;
        std::memset(&fr.rec.key, 0, sizeof(fr.rec.key));
        bool have_src = false, have_dst = false, src_v4 = false, dst_v4 = false;
        bool have_start = false, have_end = false, any = false;
        uint64_t icmp_type = 0, icmp_code = 0, rev_type = 0, rev_code = 0;
        bool have_icmp = false, have_rev = false, post_v4 = true, post_ok = true;
        uint64_t given_sport = 0;
        char* save = nullptr;
        for (char* tok = strtok_r(line, " \t\r\n", &save); tok != nullptr;
             tok = strtok_r(nullptr, " \t\r\n", &save)) {
            any = true;
            char* eq = std::strchr(tok, '=');
            if (eq == nullptr) {
                die("%s: line %ld: field '%s' is not key=value", path, lineno, tok);
            }
            *eq = '\0';
            const char* k = tok;
            const char* v = eq + 1;
            uint64_t n = 0;
            bool ok = true;
            fa::FlowKey& key = fr.rec.key;
            if (!std::strcmp(k, "src")) {
                ok = have_src = parse_addr(v, key.src, &src_v4);
            } else if (!std::strcmp(k, "dst")) {
                ok = have_dst = parse_addr(v, key.dst, &dst_v4);
            } else if (!std::strcmp(k, "sport")) {
                ok = parse_u64(v, 65535, &n);
                key.src_port = uint16_t(n);
                given_sport = n;
            } else if (!std::strcmp(k, "dport")) {
                ok = parse_u64(v, 65535, &n);
                key.dst_port = uint16_t(n);
            } else if (!std::strcmp(k, "proto")) {
                ok = parse_u64(v, 255, &n);
                key.proto = uint8_t(n);
            } else if (!std::strcmp(k, "tos")) {
                ok = parse_u64(v, 255, &n);
                key.tos = uint8_t(n);
            } else if (!std::strcmp(k, "tcp_flags")) {
                ok = parse_u64(v, 255, &n);
                fr.rec.tcp_flags = uint8_t(n);
            } else if (!std::strcmp(k, "icmp_type")) {
                ok = have_icmp = parse_u64(v, 255, &icmp_type);
            } else if (!std::strcmp(k, "icmp_code")) {
                ok = have_icmp = parse_u64(v, 255, &icmp_code);
            } else if (!std::strcmp(k, "in_if")) {
                ok = parse_u64(v, UINT32_MAX, &n);
                key.in_if = uint32_t(n);
            } else if (!std::strcmp(k, "out_if")) {
                ok = parse_u64(v, UINT32_MAX, &n);
                key.out_if = uint32_t(n);
            } else if (!std::strcmp(k, "dir")) {
                if (!std::strcmp(v, "ingress") || !std::strcmp(v, "in") || !std::strcmp(v, "0")) {
                    key.dir = uint8_t(fa::Direction::ingress);
                } else if (!std::strcmp(v, "egress") || !std::strcmp(v, "out") ||
                           !std::strcmp(v, "1")) {
                    key.dir = uint8_t(fa::Direction::egress);
                } else {
                    ok = false;
                }
            } else if (!std::strcmp(k, "vlan")) {
                ok = parse_u64(v, 4095, &n);
                key.vlan = uint16_t(n);
            } else if (!std::strcmp(k, "packets")) {
                ok = parse_u64(v, UINT64_MAX, &fr.rec.packets);
            } else if (!std::strcmp(k, "octets")) {
                ok = parse_u64(v, UINT64_MAX, &fr.rec.octets);
            } else if (!std::strcmp(k, "start")) {
                ok = have_start = parse_u64(v, UINT64_MAX / 2, &fr.start_ms);
            } else if (!std::strcmp(k, "end")) {
                ok = have_end = parse_u64(v, UINT64_MAX / 2, &fr.end_ms);
            } else if (!std::strcmp(k, "end_reason")) {
                ok = parse_end_reason(v, &fr.rec.end_reason);
            } else if (!std::strcmp(k, "src_mac")) {
                ok = parse_mac(v, fr.rec.src_mac);
                fr.rec.flags = uint8_t(fr.rec.flags | fa::kRecHasMac);
            } else if (!std::strcmp(k, "dst_mac")) {
                ok = parse_mac(v, fr.rec.dst_mac);
                fr.rec.flags = uint8_t(fr.rec.flags | fa::kRecHasMac);
            } else if (!std::strcmp(k, "post_src") || !std::strcmp(k, "post_dst")) {
                bool v4 = false;
                ok = parse_addr(v, k[5] == 's' ? fr.rec.post_src : fr.rec.post_dst, &v4);
                post_ok = post_ok && v4 == post_v4;
                post_v4 = v4;
                fr.rec.flags = uint8_t(fr.rec.flags | fa::kRecHasNat);
            } else if (!std::strcmp(k, "post_sport")) {
                ok = parse_u64(v, 65535, &n);
                fr.rec.post_src_port = uint16_t(n);
            } else if (!std::strcmp(k, "post_dport")) {
                ok = parse_u64(v, 65535, &n);
                fr.rec.post_dst_port = uint16_t(n);
            } else if (!std::strcmp(k, "rev_packets")) {
                ok = have_rev = parse_u64(v, UINT64_MAX, &fr.rec.rev_packets);
            } else if (!std::strcmp(k, "rev_octets")) {
                ok = have_rev = parse_u64(v, UINT64_MAX, &fr.rec.rev_octets);
            } else if (!std::strcmp(k, "rev_icmp_type")) {
                ok = parse_u64(v, 255, &rev_type);
            } else if (!std::strcmp(k, "rev_icmp_code")) {
                ok = parse_u64(v, 255, &rev_code);
            } else if (!std::strcmp(k, "nat_event")) {
                ok = !std::strcmp(v, "create") || !std::strcmp(v, "delete");
                fr.nat_event = !std::strcmp(v, "create") ? fa::kNat44SessionCreate
                                                         : fa::kNat44SessionDelete;
            } else {
                die("%s: line %ld: unknown field '%s'", path, lineno, k);
            }
            if (!ok) {
                std::fprintf(stderr, "fa_export_records: %s: line %ld: bad value '%s' for %s\n",
                             path, lineno, v, k);
                std::exit(2);
            }
        }
        if (!any) {
            continue;
        }
        if (!have_src || !have_dst) {
            die("%s: line %ld: src and dst are required", path, lineno);
        }
        if (src_v4 != dst_v4) {
            die("%s: line %ld: src and dst must be the same family", path, lineno);
        }
        if (!have_start || !have_end || fr.end_ms < fr.start_ms) {
            die("%s: line %ld: start and end (epoch ms, start <= end) are required", path, lineno);
        }
        if (!post_ok || ((fr.rec.flags & fa::kRecHasNat) && post_v4 != src_v4)) {
            die("%s: line %ld: post_src/post_dst must be the family of src/dst", path, lineno);
        }
        if (have_icmp) {
            // flow_key.h: ICMP keys carry type << 8 | code in dst_port, src_port 0 (NAT events:
            // the echo identifier, nat_event.h).
            fr.rec.key.src_port = fr.nat_event ? uint16_t(given_sport) : 0;
            fr.rec.key.dst_port = uint16_t(icmp_type << 8 | icmp_code);
        }
        if (have_rev) {
            fr.rec.flags = uint8_t(fr.rec.flags | fa::kRecBiflow);
            fr.rec.rev_icmp = uint16_t(rev_type << 8 | rev_code);
        }
        out.push_back(fr);
    }
    std::fclose(f);
    if (out.empty()) {
        die("%s: no records", path);
    }
    return out;
}

[[maybe_unused]] uint64_t real_mono_ms()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000u + uint64_t(ts.tv_nsec) / 1000000u;
}

volatile sig_atomic_t g_stop = 0;
volatile sig_atomic_t g_round = 0;
[[maybe_unused]] void on_signal(int) { g_stop = 1; }
[[maybe_unused]] void on_usr1(int) { g_round = 1; }

void usage()
{
    std::fprintf(stderr,
        "usage: fa_export_records --records FILE --collector HOST:PORT [--protocol ipfix|v9]\n"
        "       [--odid N] [--sampling-rate N] [--sampling-mode random|deterministic]\n"
        "       [--sampling-kind packet|flow] [--mtu N] [--mac] [--iface IDX:NAME:DESCR]...\n"
        "       [--nat] [--biflow] [--nat-events] [--repeat-every-ms MS --duration-s S]\n"
        "       [--rounds-on-signal] [--rate DATAGRAMS_PER_S]\n"
        "--rounds-on-signal: export nothing at start; one round per SIGUSR1 (stderr logs\n"
        "'round=N ...' when it is out), until SIGTERM. --rate: pace through the transport's queue.\n"
        "Prints exporter counters as key=value lines on stdout.\n");
}

} // namespace

#ifdef FA_HAVE_EXPORTER
namespace {
class FileOptions final : public fa::OptionsProvider {
public:
    fa::SamplingInfo sampling_;
    std::vector<fa::InterfaceInfo> ifaces_;
    fa::SamplingInfo sampling() const override { return sampling_; }
    fa::Span<const fa::InterfaceInfo> interfaces() const override
    {
        return fa::Span<const fa::InterfaceInfo>(ifaces_.data(), ifaces_.size());
    }
    fa::DropCounters drops() const override { return fa::DropCounters(); }
};
} // namespace
#endif

int main(int argc, char** argv)
{
    const char* records_path = nullptr;
    std::string collector;
    const char* protocol = "ipfix";
    uint64_t odid = 1, rate = 1, mtu = 1400, repeat_ms = 0, duration_s = 0;
    const char* mode = "random";
    const char* kind = "packet";
    bool with_mac = false, with_nat = false, biflow = false, nat_events = false;
    bool on_signal_rounds = false;
    uint64_t pace_rate = 0;
    std::vector<std::string> iface_args;
    for (int i = 1; i < argc; ++i) {
        const char* a = argv[i];
        auto need = [&](const char* name) -> const char* {
            if (i + 1 >= argc) {
                die("option %s needs a value", name);
            }
            return argv[++i];
        };
        auto num = [&](const char* name, uint64_t max) -> uint64_t {
            const char* v = need(name);
            uint64_t n = 0;
            if (!parse_u64(v, max, &n)) {
                die("bad value '%s' for %s", v, name);
            }
            return n;
        };
        if (!std::strcmp(a, "--records")) {
            records_path = need(a);
        } else if (!std::strcmp(a, "--collector")) {
            collector = need(a);
        } else if (!std::strcmp(a, "--protocol")) {
            protocol = need(a);
        } else if (!std::strcmp(a, "--odid")) {
            odid = num(a, UINT32_MAX);
        } else if (!std::strcmp(a, "--sampling-rate")) {
            rate = num(a, UINT32_MAX);
        } else if (!std::strcmp(a, "--sampling-mode")) {
            mode = need(a);
        } else if (!std::strcmp(a, "--sampling-kind")) {
            kind = need(a);
        } else if (!std::strcmp(a, "--mtu")) {
            mtu = num(a, 65507);
        } else if (!std::strcmp(a, "--mac")) {
            with_mac = true;
        } else if (!std::strcmp(a, "--nat")) {
            with_nat = true;
        } else if (!std::strcmp(a, "--biflow")) {
            biflow = true;
        } else if (!std::strcmp(a, "--nat-events")) {
            nat_events = true;
        } else if (!std::strcmp(a, "--iface")) {
            iface_args.emplace_back(need(a));
        } else if (!std::strcmp(a, "--repeat-every-ms")) {
            repeat_ms = num(a, 3600000);
        } else if (!std::strcmp(a, "--duration-s")) {
            duration_s = num(a, 86400);
        } else if (!std::strcmp(a, "--rounds-on-signal")) {
            on_signal_rounds = true;
        } else if (!std::strcmp(a, "--rate")) {
            pace_rate = num(a, 10000000);
        } else if (!std::strcmp(a, "-h") || !std::strcmp(a, "--help")) {
            usage();
            return 0;
        } else {
            usage();
            die("unknown option '%s'", a);
        }
    }
    if (records_path == nullptr || collector.empty()) {
        usage();
        die("--records and --collector are required");
    }
    if (std::strcmp(protocol, "ipfix") != 0 && std::strcmp(protocol, "v9") != 0) {
        die("bad --protocol '%s' (ipfix or v9)", protocol);
    }
    if (rate == 0) {
        die("--sampling-rate must be >= 1");
    }
    if (std::strcmp(mode, "random") != 0 && std::strcmp(mode, "deterministic") != 0) {
        die("bad --sampling-mode '%s' (random or deterministic)", mode);
    }
    if (std::strcmp(kind, "packet") != 0 && std::strcmp(kind, "flow") != 0) {
        die("bad --sampling-kind '%s' (packet or flow)", kind);
    }
    if ((repeat_ms == 0) != (duration_s == 0)) {
        die("--repeat-every-ms and --duration-s go together");
    }
    // HOST:PORT, [v6]:PORT; the last ':' separates the port.
    size_t colon = collector.rfind(':');
    if (colon == std::string::npos || colon == 0) {
        die("--collector '%s' is not HOST:PORT", collector.c_str());
    }
    std::string host = collector.substr(0, colon);
    uint64_t port = 0;
    if (!parse_u64(collector.c_str() + colon + 1, 65535, &port) || port == 0) {
        die("--collector '%s': bad port", collector.c_str());
    }
    if (host.find(':') != std::string::npos && host.front() != '[') {
        die("--collector '%s': write IPv6 as [addr]:port", collector.c_str());
    }

    std::vector<FileRecord> recs = read_records(records_path);

    fa::UdpTransport udp;
    char err[256] = {};
    int rc = udp.open(host.c_str(), uint16_t(port), err, sizeof(err));
    if (rc < 0) {
        std::fprintf(stderr, "fa_export_records: %s\n", err);
        return 1;
    }
    std::fprintf(stderr, "fa_export_records: exporting %zu records to %s (sndbuf %d)\n",
                 recs.size(), udp.peer(), udp.sndbuf());

#ifndef FA_HAVE_EXPORTER
    (void)odid; (void)mtu; (void)with_mac; (void)g_stop; (void)on_signal_rounds; (void)pace_rate;
    std::fprintf(stderr, "fa_export_records: built without agent/export/exporter.h\n");
    return 3;
#else
    FileOptions opts;
    opts.sampling_.rate = uint32_t(rate);
    opts.sampling_.mode = std::strcmp(mode, "random") == 0 ? fa::SamplingMode::random
                                                           : fa::SamplingMode::deterministic;
    opts.sampling_.kind = std::strcmp(kind, "packet") == 0 ? fa::SamplingKind::packet
                                                           : fa::SamplingKind::flow;
    for (const std::string& s : iface_args) {
        fa::InterfaceInfo ii;
        char name[64] = {}, descr[64] = {};
        unsigned idx = 0;
        if (std::sscanf(s.c_str(), "%u:%63[^:]:%63[^\n]", &idx, name, descr) < 2 ||
            std::strlen(name) >= sizeof(ii.name) || std::strlen(descr) >= sizeof(ii.descr)) {
            die("bad --iface '%s' (IDX:NAME[:DESCR], name < 16, descr < 32 chars)", s.c_str());
        }
        ii.ifindex = idx;
        std::memcpy(ii.name, name, std::strlen(name));
        std::memcpy(ii.descr, descr, std::strlen(descr));
        opts.ifaces_.push_back(ii);
    }

    // Synthetic clock: mono starts at kMonoBase; "now" in wall time is one second after the
    // latest end in the file. offset = wall - mono, so record mono = file_ms - offset exactly.
    const uint64_t kMonoBase = 100000000;  // ms, ~27.8 h: room for a file spanning a day
    uint64_t min_start = UINT64_MAX, max_end = 0;
    for (const FileRecord& fr : recs) {
        if (fr.start_ms < min_start) min_start = fr.start_ms;
        if (fr.end_ms > max_end) max_end = fr.end_ms;
    }
    if (max_end - min_start > kMonoBase - 120000) {
        die("record times span more than a day");
    }
    const int64_t offset = int64_t(max_end + 1000) - int64_t(kMonoBase);
    for (FileRecord& fr : recs) {
        fr.rec.first_ms = uint64_t(int64_t(fr.start_ms) - offset);
        fr.rec.last_ms = uint64_t(int64_t(fr.end_ms) - offset);
        if (with_mac) {
            fr.rec.flags = uint8_t(fr.rec.flags | fa::kRecHasMac);
        }
    }
    const uint64_t real0 = real_mono_ms();
    auto now = [&]() {
        fa::ExportTime t;
        t.mono_ms = kMonoBase + (real_mono_ms() - real0);
        t.wall_offset_ms = offset;
        // v9 sysUptime: the synthetic mono clock is the boot clock (no suspend), so every
        // record's mono time (>= kMonoBase minus a day) is its uptime.
        t.boot_offset_ms = 0;
        return t;
    };

    fa::ExporterConfig cfg;
    cfg.protocol = std::strcmp(protocol, "v9") == 0 ? fa::Protocol::v9 : fa::Protocol::ipfix;
    cfg.observation_domain = uint32_t(odid);
    cfg.max_datagram = uint16_t(mtu);
    cfg.with_mac = with_mac;
    cfg.with_nat = with_nat;
    cfg.biflow = biflow;
    cfg.nat_events = nat_events;
    fa::Exporter ex;
    fa::Status st = ex.init(cfg, udp, opts);
    if (st != fa::Status::ok) {
        std::fprintf(stderr, "fa_export_records: exporter init failed: %s\n",
                     fa::status_name(st));
        return 1;
    }
    // Late outcomes (paced sends, datagrams an ICMP error quotes) are counted by the exporter.
    udp.set_feedback(&ex);
    if (pace_rate > 0) {
        fa::PacingConfig pc;
        pc.rate = uint32_t(pace_rate);
        pc.slots = ex.datagrams_for(uint32_t(recs.size())) + 64;
        pc.slot_bytes = uint16_t(mtu);
        if (!udp.set_pacing(pc)) die("cannot allocate the send queue");
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGUSR1, on_usr1);

    uint64_t rounds = 0;
    auto export_all = [&]() {
        fa::ExportTime t = now();
        ex.tick(t);
        for (const FileRecord& fr : recs) {
            if (fr.nat_event) {
                fa::NatEvent ev;
                ev.time_ms = fr.rec.first_ms;
                std::memcpy(ev.src, fr.rec.key.src, 16);
                std::memcpy(ev.dst, fr.rec.key.dst, 16);
                std::memcpy(ev.post_src, fr.rec.post_src, 16);
                std::memcpy(ev.post_dst, fr.rec.post_dst, 16);
                ev.src_port = fr.rec.key.src_port;
                ev.dst_port = fr.rec.key.dst_port;
                ev.post_src_port = fr.rec.post_src_port;
                ev.post_dst_port = fr.rec.post_dst_port;
                ev.proto = fr.rec.key.proto;
                ev.event = fr.nat_event;
                ex.add_nat(ev, t);
            } else {
                ex.add(fr.rec, t);
            }
        }
        ex.flush(t);
        ++rounds;
    };
    auto progress = [&]() {
        // Progress for tests that act on the exporter's state (collector restart).
        const fa::ExporterCounters& pc = ex.counters();
        std::fprintf(stderr, "round=%" PRIu64 " messages=%" PRIu64 " send_refused=%" PRIu64
                     " send_again=%" PRIu64 " send_error=%" PRIu64 "\n", rounds,
                     pc.messages, pc.send_refused, pc.send_again, pc.send_error);
    };
    auto nap = [](uint64_t ms) {
        timespec ts = {time_t(ms / 1000), long(ms % 1000) * 1000000L};
        nanosleep(&ts, nullptr);
    };
    ex.send_options(now());
    if (on_signal_rounds) {
        while (!g_stop) {
            if (g_round) {
                g_round = 0;
                export_all();
                // Unpaced, nothing reads the error queue between rounds: the next round meets
                // the ICMP errors of this one the way an agent's next export does.
                if (pace_rate > 0) udp.drain_until(real_mono_ms() + 10000);
                progress();
            }
            if (pace_rate > 0) udp.pump();
            nap(5);
        }
    } else {
        export_all();
    }
    if (repeat_ms > 0) {
        const uint64_t until = real_mono_ms() + duration_s * 1000u;
        uint64_t next = real_mono_ms() + repeat_ms;
        while (!g_stop && real_mono_ms() < until) {
            uint64_t r = real_mono_ms();
            if (r < next) {
                udp.pump();
                nap(std::min<uint64_t>(next - r, 5));
                continue;
            }
            next += repeat_ms;
            export_all();
            progress();
        }
    }
    // The final statistics (so the collector sees the not-sent totals), everything queued out,
    // and the ICMP errors those last datagrams drew.
    ex.send_options(now());
    udp.drain_until(real_mono_ms() + 10000);
    nap(50);
    udp.read_errors();
    const fa::ExporterCounters& c = ex.counters();
    std::printf("rounds=%" PRIu64 "\nmessages=%" PRIu64 "\nrecords=%" PRIu64
                "\noctets=%" PRIu64 "\nnot_sent_messages=%" PRIu64 "\nnot_sent_flows=%" PRIu64
                "\nsend_refused=%" PRIu64 "\nsend_again=%" PRIu64 "\nsend_error=%" PRIu64
                "\ntemplate_sends=%" PRIu64 "\nnat_events=%" PRIu64 "\n",
                rounds, c.messages, c.records, c.octets, c.not_sent_messages, c.not_sent_flows,
                c.send_refused, c.send_again, c.send_error, c.template_sends, c.nat_events);
    const fa::TransportCounters& tc = udp.tcounters();
    std::printf("resent_after_stale_refusal=%" PRIu64 "\nicmp_errors=%" PRIu64
                "\nicmp_matched=%" PRIu64 "\nqueue_overflow=%" PRIu64 "\nqueue_dropped=%" PRIu64
                "\nqueue_peak=%" PRIu64 "\n", tc.resent_after_stale_refusal, tc.icmp_errors,
                tc.icmp_matched, tc.queue_overflow, tc.queue_dropped, tc.queue_peak);
    udp.set_feedback(nullptr);
    return 0;
#endif
}
