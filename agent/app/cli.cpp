// SPDX-License-Identifier: GPL-2.0-only
#include "app/cli.h"

#include <cstdio>
#include <cstring>

#include "app/config_parse.h"

namespace fa {
namespace {

Status cli_fail(char* err, size_t err_len, const char* what, const char* arg)
{
    if (err != nullptr && err_len > 0) {
        const int n = snprintf(err, err_len, "%s: %s (try --help)", what, arg);
        (void)n;
    }
    return Status::bad_input;
}

// Matches "--name" exactly or "--name=VALUE"; sets *inline_value for the latter.
bool long_opt(const char* a, const char* name, const char** inline_value)
{
    const size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return false;
    if (a[n] == '\0') {
        *inline_value = nullptr;
        return true;
    }
    if (a[n] == '=') {
        *inline_value = a + n + 1;
        return true;
    }
    return false;
}

} // namespace

Status parse_cli(int argc, char** argv, CliOptions& out, char* err, size_t err_len)
{
    CliOptions o;
    if (err != nullptr && err_len > 0) err[0] = '\0';
    for (int i = 1; i < argc; ++i) {
        const char* a = argv[i];
        if (a == nullptr) break;
        const char* val = nullptr;
        // Options that take a value: fetch it inline or from the next argument.
        bool is_config = false;
        bool is_level = false;
        if (strncmp(a, "-c", 2) == 0 && a[1] == 'c') {
            is_config = true;
            val = a[2] != '\0' ? a + 2 : nullptr;
        } else if (long_opt(a, "--config", &val)) {
            is_config = true;
        } else if (long_opt(a, "--log-level", &val)) {
            is_level = true;
        }
        if (is_config || is_level) {
            const char* opt = is_config ? (a[1] == 'c' ? "-c" : "--config") : "--log-level";
            if (val == nullptr) {
                if (i + 1 >= argc || argv[i + 1] == nullptr) {
                    return cli_fail(err, err_len, "missing argument for option", opt);
                }
                val = argv[++i];
            }
            if (val[0] == '\0') return cli_fail(err, err_len, "empty argument for option", opt);
            if (is_config) {
                o.config_path = val;
            } else {
                LogLevel lvl = LogLevel::info;
                if (!parse_log_level(val, lvl)) {
                    return cli_fail(err, err_len,
                                    "bad --log-level (expected error | warn | info | debug)", val);
                }
                o.log_level = val;
            }
            continue;
        }
        if (strcmp(a, "--check-config") == 0) {
            o.check_config = true;
        } else if (strcmp(a, "--print") == 0) {
            o.print = true;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            o.help = true;
        } else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
            o.version = true;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            o.log_level = "debug";
        } else if (a[0] == '-') {
            return cli_fail(err, err_len, "unknown option", a);
        } else {
            return cli_fail(err, err_len, "unexpected argument", a);
        }
    }
    out = o;
    return Status::ok;
}

const char* cli_usage()
{
    return "usage: flowagent [options]\n"
           "  -c, --config FILE      read the INI config from FILE\n"
           "      --check-config     validate the config and exit (0 valid, 2 invalid)\n"
           "      --print            one JSON line per exported record on stdout"
           " (= [output] stdout = yes)\n"
           "  -v, --verbose          debug logging (= --log-level debug)\n"
           "      --log-level LEVEL  error | warn | info | debug; overrides [agent] log_level\n"
           "  -V, --version          print the version and exit\n"
           "  -h, --help             print this help and exit\n"
           "see README for the config reference\n";
}

} // namespace fa
