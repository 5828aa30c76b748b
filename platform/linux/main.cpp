// SPDX-License-Identifier: GPL-2.0-only
// flowagent: meters traffic from one source and exports flow records to collectors.
//
// Logic:
//  1. Parse the command line and the config; every error exits 2 naming file, line, key, value.
//     Nothing is attached or opened before the whole config is valid. Names are not resolved
//     here (that could block): --check-config warns about one that does not resolve; the
//     daemon resolves them on its resolver thread.
//  2. The Daemon (daemon.h) starts the runtime, registers signals, the tick and the source with
//     the event loop (event_loop.h) and runs it until TERM/INT; then every flow is flushed.
#include <new>
#include <cstdio>

#include "app/cli.h"
#include "control_client.h"
#include "daemon.h"

using namespace fa;

int main(int argc, char** argv)
{
    CliOptions cli;
    char err[256];
    if (parse_cli(argc, argv, cli, err, sizeof err) != Status::ok) {
        std::fprintf(stderr, "flowagent: %s\n\n%s", err, cli_usage());
        return kExitConfig;
    }
    if (cli.help) {
        std::fputs(cli_usage(), stdout);
        return 0;
    }
    if (cli.version) {
        std::printf("flowagent %s\n", FA_VERSION);
        return 0;
    }
    if (cli.command != CliCommand::run) return run_control_command(cli);
    if (!cli.config_path) {
        std::fprintf(stderr, "flowagent: no config file: use -c FILE (see --help)\n");
        return kExitConfig;
    }

    // Built in zeroed static storage (.bss): a `static Config` with its default member
    // initialisers is 3.7 KB of initialised data in the binary (the router size budget).
    alignas(Config) static unsigned char cfg_storage[sizeof(Config)];
    Config& cfg = *new (cfg_storage) Config();
    if (!load_config(cli.config_path, cli, cfg, false)) return kExitConfig;
    if (cli.check_config) {
        if (!check_collectors(cfg)) return kExitConfig;
        const int missing = check_interfaces(cfg);
        std::printf("%s: config OK (source %s, %d collector%s", cli.config_path,
                    source_name(cfg.source), cfg.collector_count,
                    cfg.collector_count == 1 ? "" : "s");
        if (missing > 0)
            std::printf("; %d of %d interfaces do not exist now", missing, cfg.interface_count);
        std::printf(")\n");
        return 0;
    }

    apply_logging(cfg, cli);
    static Daemon daemon;  // large (export state per collector): not on the stack
    const int rc = daemon.start(cli, cfg);
    if (rc != 0) return rc;
    return daemon.run();
}
