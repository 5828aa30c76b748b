// SPDX-License-Identifier: GPL-2.0-only
// Command-line options of the flowagent binary. Portable (no getopt_long): the parser is tiny
// and must behave the same on every libc OpenWrt ships (musl, glibc).
#pragma once
#include <cstddef>

#include "core/status.h"

namespace fa {

struct CliOptions {
    const char* config_path = nullptr;  // -c FILE / --config FILE (points into argv)
    bool check_config = false;          // --check-config: validate, print nothing else, exit
    bool print = false;                 // --print: same as [output] stdout = yes
    bool help = false;                  // -h / --help
    bool version = false;               // -V / --version
    bool foreground = true;             // procd supervises us; there is no daemon mode
    const char* log_level = nullptr;    // --log-level LEVEL, or "debug" for -v/--verbose;
                                        // overrides [agent] log_level. Already validated.
};

// Returns Status::ok, or bad_input with a message (unknown option, missing argument).
// Accepts "--opt VALUE" and "--opt=VALUE" for long options with a value, "-c FILE" and
// "-cFILE" for the short one. Positional arguments are an error.
[[nodiscard]] Status parse_cli(int argc, char** argv, CliOptions& out, char* err, size_t err_len);

// The --help text: every option, one line each, plus "see README for the config reference".
const char* cli_usage();

} // namespace fa
