// SPDX-License-Identifier: GPL-2.0-only
// The configuration model: what the INI file (DESIGN.md "Interfaces for users") parses into.
// Fixed-size fields only; parsed once at start (and at SIGHUP), never on the packet path.
#pragma once
#include <cstdint>

#include "core/log.h"
#include "core/status.h"
#include "export/export_types.h"

namespace fa {

enum class SourceKind : uint8_t { xdp, tc, conntrack, generator };
enum class FullPolicyCfg : uint8_t { evict, drop };  // mirrors flow table FullPolicy

constexpr int kMaxInterfaces = 32;
constexpr int kMaxCollectors = 8;
constexpr int kIfNameLen = 16;  // IFNAMSIZ
constexpr const char* kDefaultControlSocket = "/var/run/flowagent/flowagent.sock";

struct CollectorConfig {
    char name[32] = {};          // from [collector NAME]
    char host[256] = {};         // host name, IPv4 or IPv6 literal (without brackets)
    uint16_t port = 0;
    Protocol protocol = Protocol::ipfix;
    uint32_t observation_domain = 0;   // 0 in the file = inherit [agent] observation_domain
    uint16_t max_datagram = 1400;      // bytes of UDP payload
    uint32_t template_refresh_s = 0;   // 0 in the file = protocol default (ipfix 600, v9 1800)
    uint32_t template_refresh_datagrams = 20;
    bool nat_events = false;           // RFC 8158 NAT event records (conntrack source)
    bool biflow = false;               // RFC 5103 biflow records (conntrack source)
    uint32_t rate_limit = 1000;        // datagrams per second at most (paced send queue)
    int address_line = 0;              // line of `address =`, for resolution errors
};

struct Config {
    char path[256] = {};

    // [agent]
    SourceKind source = SourceKind::xdp;
    char interfaces[kMaxInterfaces][kIfNameLen] = {};
    int interface_count = 0;
    uint32_t observation_domain = 1;
    LogLevel log_level = LogLevel::info;
    bool log_syslog = false;           // log = stderr | syslog
    uint32_t stop_timeout_s = 5;       // stop_timeout: the paced final flush at SIGTERM, bound
    // control_socket: the AF_UNIX path `flowagent status/flows/top` talk to (sun_path size)
    char control_socket[108] = "/var/run/flowagent/flowagent.sock";

    // [flows]
    uint32_t max_flows = 65536;
    uint32_t active_timeout_s = 60;
    uint32_t inactive_timeout_s = 15;
    FullPolicyCfg full_policy = FullPolicyCfg::evict;

    // [sampling]
    uint32_t sampling_rate = 1;
    SamplingMode sampling_mode = SamplingMode::random;

    // [collector NAME] ...
    CollectorConfig collectors[kMaxCollectors] = {};
    int collector_count = 0;

    // [conntrack] (only with source = conntrack)
    uint32_t ct_rcvbuf = 8u << 20;     // rcvbuf: event socket receive buffer, bytes
    bool ct_both_directions = true;    // directions = both | original
    bool ct_mark = false;              // mark = yes: export the conntrack mark (IE 137)
    bool ct_zone = false;              // zone = yes: export the conntrack zone (IE 234)
    // state_file: the baselines kept across a restart (source/ct_state.h); empty = none
    char ct_state_file[256] = "/var/run/flowagent/conntrack.state";

    // [output]
    bool print_json = false;           // stdout = yes: one JSON line per exported record

    // [generator] built-in traffic generator (source = generator; demo and tests)
    uint32_t gen_flows = 64;           // distinct flows
    uint32_t gen_packets_per_s = 1000;
    uint32_t gen_duration_s = 0;       // 0 = until stopped
};

// A config error: "FILE:LINE: [section] key = value: problem". Line 0 when not tied to a line.
struct ConfigError {
    char message[512] = {};
};

} // namespace fa
