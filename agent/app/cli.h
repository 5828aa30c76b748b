// SPDX-License-Identifier: GPL-2.0-only
// Command-line options of the flowagent binary. Portable (no getopt_long): the parser is tiny
// and must behave the same on every libc OpenWrt ships (musl, glibc).
#pragma once
#include <cstddef>

#include "control/control_request.h"
#include "core/status.h"

namespace fa {

// What the invocation does: run the agent, or ask a running one over its control socket.
enum class CliCommand : uint8_t { run, status, flows, top, reload };

struct CliOptions {
    CliCommand command = CliCommand::run;  // first positional word: status | flows | top |
                                           // reload
    const char* config_path = nullptr;  // -c FILE / --config FILE (points into argv)
    bool check_config = false;          // --check-config: validate, print nothing else, exit
    bool print = false;                 // --print: same as [output] stdout = yes
    bool help = false;                  // -h / --help
    bool version = false;               // -V / --version
    bool foreground = true;             // procd supervises us; there is no daemon mode
    const char* log_level = nullptr;    // --log-level LEVEL, or "debug" for -v/--verbose;
                                        // overrides [agent] log_level. Already validated.
    // status / flows / top (validated; only accepted with the command that uses them):
    bool json = false;                  // --json (status, flows)
    uint32_t top = 0;                   // --top N (flows: 1..kMaxTop; 0 = default)
    SortBy by = SortBy::bytes;          // --by bytes|packets|rate (flows, top)
    GroupBy group = GroupBy::flow;      // --group-by flow|src|dst|pair|port|proto (flows, top)
    const char* socket_path = nullptr;  // --socket PATH (status, flows, top): else -c FILE's
                                        // [agent] control_socket, else the default
};

// Returns Status::ok, or bad_input with a message (unknown option, missing argument).
// Accepts "--opt VALUE" and "--opt=VALUE" for long options with a value, "-c FILE" and
// "-cFILE" for the short one. One positional word selects a command (status, flows, top);
// any other positional argument is an error, and so is an option the command does not use.
[[nodiscard]] Status parse_cli(int argc, char** argv, CliOptions& out, char* err, size_t err_len);

// The --help text: every option, one line each, plus "see README for the config reference".
const char* cli_usage();

} // namespace fa
