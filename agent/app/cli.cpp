// SPDX-License-Identifier: GPL-2.0-only
#include "app/cli.h"

#include <cstdio>
#include <cstring>
#include <initializer_list>

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
    bool seen_json = false, seen_flows_opt = false, seen_view_opt = false,
         seen_client_opt = false;
    if (err != nullptr && err_len > 0) err[0] = '\0';
    for (int i = 1; i < argc; ++i) {
        const char* a = argv[i];
        if (a == nullptr) break;
        const char* val = nullptr;
        // Options that take a value: fetch it inline or from the next argument.
        bool is_config = false;
        bool is_level = false;
        const char* vopt = nullptr;  // a long option of the control commands that takes a value
        if (strncmp(a, "-c", 2) == 0 && a[1] == 'c') {
            is_config = true;
            val = a[2] != '\0' ? a + 2 : nullptr;
        } else if (long_opt(a, "--config", &val)) {
            is_config = true;
        } else if (long_opt(a, "--log-level", &val)) {
            is_level = true;
        } else {
            for (const char* name : {"--top", "--by", "--group-by", "--socket"})
                if (long_opt(a, name, &val)) vopt = name;
        }
        if (vopt != nullptr) {
            if (val == nullptr) {
                if (i + 1 >= argc || argv[i + 1] == nullptr)
                    return cli_fail(err, err_len, "missing argument for option", vopt);
                val = argv[++i];
            }
            const size_t n = strlen(val);
            bool ok = n > 0;
            if (strcmp(vopt, "--top") == 0) {
                uint32_t t = 0;
                for (size_t k = 0; ok && k < n; ++k) {
                    if (val[k] < '0' || val[k] > '9' || k >= 4) ok = false;
                    else t = t * 10 + uint32_t(val[k] - '0');
                }
                ok = ok && t >= 1 && t <= kMaxTop;
                if (!ok) return cli_fail(err, err_len, "bad --top (expected 1..200)", val);
                o.top = t;
                seen_flows_opt = true;
            } else if (strcmp(vopt, "--by") == 0) {
                if (!parse_sort_by(val, n, o.by))
                    return cli_fail(err, err_len, "bad --by (expected bytes | packets | rate)",
                                    val);
                seen_view_opt = true;
            } else if (strcmp(vopt, "--group-by") == 0) {
                if (!parse_group_by(val, n, o.group))
                    return cli_fail(err, err_len,
                                    "bad --group-by (expected flow | src | dst | pair | port | "
                                    "proto)",
                                    val);
                seen_view_opt = true;
            } else {
                if (!ok) return cli_fail(err, err_len, "empty argument for option", vopt);
                o.socket_path = val;
                seen_client_opt = true;
            }
            continue;
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
        if (strcmp(a, "--json") == 0) {
            o.json = true;
            seen_json = true;
        } else if (strcmp(a, "--check-config") == 0) {
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
        } else if (o.command == CliCommand::run && strcmp(a, "status") == 0) {
            o.command = CliCommand::status;
        } else if (o.command == CliCommand::run && strcmp(a, "flows") == 0) {
            o.command = CliCommand::flows;
        } else if (o.command == CliCommand::run && strcmp(a, "top") == 0) {
            o.command = CliCommand::top;
        } else if (o.command == CliCommand::run && strcmp(a, "reload") == 0) {
            o.command = CliCommand::reload;
        } else {
            return cli_fail(err, err_len, "unexpected argument", a);
        }
    }
    const CliCommand c = o.command;
    if (seen_json && c != CliCommand::status && c != CliCommand::flows &&
        c != CliCommand::reload)
        return cli_fail(err, err_len, "option only for status, flows and reload", "--json");
    if (seen_flows_opt && c != CliCommand::flows)
        return cli_fail(err, err_len, "option only for flows", "--top");
    if (seen_view_opt && c != CliCommand::flows && c != CliCommand::top)
        return cli_fail(err, err_len, "option only for flows and top", "--by/--group-by");
    if (seen_client_opt && c == CliCommand::run)
        return cli_fail(err, err_len, "option only for status, flows, top and reload",
                        "--socket");
    if (c != CliCommand::run && (o.check_config || o.print))
        return cli_fail(err, err_len, "option not for status, flows, top or reload",
                        o.check_config ? "--check-config" : "--print");
    out = o;
    return Status::ok;
}

const char* cli_usage()
{
    return "usage: flowagent [options]                 run the agent (-c FILE)\n"
           "       flowagent status [--json]          ask the running agent how it is doing\n"
           "       flowagent flows [--top N] [--by bytes|packets|rate]\n"
           "                 [--group-by flow|src|dst|pair|port|proto] [--json]\n"
           "                                          the largest flows in the live table\n"
           "       flowagent top [--by ...] [--group-by ...]\n"
           "                                          live view, refreshed every second\n"
           "                                          (keys: s sort, g grouping, q quit)\n"
           "       flowagent reload [--json]          make the running agent re-read its config\n"
           "                                          (as SIGHUP; says applied or refused)\n"
           "  -c, --config FILE      read the INI config from FILE\n"
           "      --check-config     validate the config and exit (0 valid, 2 invalid); warns\n"
           "                         about collector names that do not resolve and\n"
           "                         interfaces that do not exist now\n"
           "      --print            one JSON line per exported record on stdout"
           " (= [output] stdout = yes)\n"
           "  -v, --verbose          debug logging (= --log-level debug)\n"
           "      --log-level LEVEL  error | warn | info | debug; overrides [agent] log_level\n"
           "  -V, --version          print the version and exit\n"
           "  -h, --help             print this help and exit\n"
           "      --socket PATH      status/flows/top/reload: the agent's control socket\n"
           "                         (default: [agent] control_socket of -c FILE, else\n"
           "                         /var/run/flowagent/flowagent.sock)\n"
           "see README for the config reference\n";
}

} // namespace fa
