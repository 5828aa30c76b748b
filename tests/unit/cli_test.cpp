// SPDX-License-Identifier: GPL-2.0-only
// Command-line parsing: every option, both long forms, and the errors for bad input.
#include "app/cli.h"

#include <CppUTest/TestHarness.h>

#include <cstring>
#include <initializer_list>

using namespace fa;

namespace {

// argv as main() gets it: argv[argc] == nullptr.
struct Args {
    char* v[16] = {};
    int c = 0;
    explicit Args(std::initializer_list<const char*> list)
    {
        v[c++] = const_cast<char*>("flowagent");
        for (const char* a : list) v[c++] = const_cast<char*>(a);
    }
};

} // namespace

TEST_GROUP(Cli) {
    CliOptions o;
    char err[256] = {};
};

TEST(Cli, NoArgumentsGivesDefaults)
{
    Args a({});
    CHECK(parse_cli(a.c, a.v, o, err, sizeof err) == Status::ok);
    CHECK(o.config_path == nullptr);
    CHECK(!o.check_config);
    CHECK(!o.print);
    CHECK(!o.help);
    CHECK(!o.version);
    CHECK(o.foreground);
    CHECK(o.log_level == nullptr);
    STRCMP_EQUAL("", err);
}

TEST(Cli, ShortOptions)
{
    Args a({"-c", "/etc/fa.ini", "-v", "-h", "-V"});
    CHECK(parse_cli(a.c, a.v, o, err, sizeof err) == Status::ok);
    STRCMP_EQUAL("/etc/fa.ini", o.config_path);
    STRCMP_EQUAL("debug", o.log_level);
    CHECK(o.help);
    CHECK(o.version);
    CHECK(!o.check_config);
}

TEST(Cli, LongOptionsWithSeparateAndInlineValues)
{
    Args a({"--config", "a.ini", "--check-config", "--print", "--log-level", "warn"});
    CHECK(parse_cli(a.c, a.v, o, err, sizeof err) == Status::ok);
    STRCMP_EQUAL("a.ini", o.config_path);
    CHECK(o.check_config);
    CHECK(o.print);
    STRCMP_EQUAL("warn", o.log_level);

    CliOptions o2;
    Args b({"--config=b.ini", "--log-level=error", "--help", "--version"});
    CHECK(parse_cli(b.c, b.v, o2, err, sizeof err) == Status::ok);
    STRCMP_EQUAL("b.ini", o2.config_path);
    STRCMP_EQUAL("error", o2.log_level);
    CHECK(o2.help);
    CHECK(o2.version);

    CliOptions o3;
    Args c({"-cc.ini", "--verbose"});
    CHECK(parse_cli(c.c, c.v, o3, err, sizeof err) == Status::ok);
    STRCMP_EQUAL("c.ini", o3.config_path);
    STRCMP_EQUAL("debug", o3.log_level);
}

TEST(Cli, LaterLogLevelWins)
{
    Args a({"-v", "--log-level", "error"});
    CHECK(parse_cli(a.c, a.v, o, err, sizeof err) == Status::ok);
    STRCMP_EQUAL("error", o.log_level);
}

TEST(Cli, UnknownOptionIsNamed)
{
    o.config_path = "untouched";
    Args a({"-c", "x.ini", "--frobnicate"});
    CHECK(parse_cli(a.c, a.v, o, err, sizeof err) == Status::bad_input);
    STRCMP_EQUAL("unknown option: --frobnicate (try --help)", err);
    STRCMP_EQUAL("untouched", o.config_path);  // out unchanged on error
}

TEST(Cli, MissingArgumentIsNamed)
{
    Args a({"-c"});
    CHECK(parse_cli(a.c, a.v, o, err, sizeof err) == Status::bad_input);
    STRCMP_EQUAL("missing argument for option: -c (try --help)", err);
    Args b({"--config"});
    CHECK(parse_cli(b.c, b.v, o, err, sizeof err) == Status::bad_input);
    STRCMP_EQUAL("missing argument for option: --config (try --help)", err);
    Args c({"--log-level"});
    CHECK(parse_cli(c.c, c.v, o, err, sizeof err) == Status::bad_input);
    STRCMP_EQUAL("missing argument for option: --log-level (try --help)", err);
    Args d({"--config="});
    CHECK(parse_cli(d.c, d.v, o, err, sizeof err) == Status::bad_input);
    STRCMP_EQUAL("empty argument for option: --config (try --help)", err);
}

TEST(Cli, BadLogLevelAndStrayArgumentsAreErrors)
{
    Args a({"--log-level", "trace"});
    CHECK(parse_cli(a.c, a.v, o, err, sizeof err) == Status::bad_input);
    STRCMP_EQUAL("bad --log-level (expected error | warn | info | debug): trace (try --help)", err);
    Args b({"-c", "a.ini", "extra"});
    CHECK(parse_cli(b.c, b.v, o, err, sizeof err) == Status::bad_input);
    STRCMP_EQUAL("unexpected argument: extra (try --help)", err);
    Args c({"--print-everything"});
    CHECK(parse_cli(c.c, c.v, o, err, sizeof err) == Status::bad_input);
    STRCMP_EQUAL("unknown option: --print-everything (try --help)", err);
    Args d({"--configs=a"});
    CHECK(parse_cli(d.c, d.v, o, err, sizeof err) == Status::bad_input);
    STRCMP_EQUAL("unknown option: --configs=a (try --help)", err);
}

TEST(Cli, TinyErrorBufferIsSafe)
{
    char small[8];
    memset(small, 'x', sizeof small);
    Args a({"--nope"});
    CHECK(parse_cli(a.c, a.v, o, small, sizeof small) == Status::bad_input);
    STRCMP_EQUAL("unknown", small);
    CHECK(parse_cli(a.c, a.v, o, nullptr, 0) == Status::bad_input);
}

TEST(Cli, UsageListsEveryOptionAndPointsToReference)
{
    const char* u = cli_usage();
    const char* want[] = {"-c, --config FILE", "--check-config", "--print", "-v, --verbose",
                          "--log-level LEVEL", "-V, --version", "-h, --help",
                          "see README for the config reference", "flowagent status [--json]",
                          "flowagent flows [--top N] [--by bytes|packets|rate]",
                          "[--group-by flow|src|dst|pair|port|proto] [--json]", "flowagent top",
                          "--socket PATH"};
    for (const char* w : want) CHECK_TEXT(strstr(u, w) != nullptr, w);
}

TEST(Cli, ControlCommandsAndTheirOptions)
{
    Args a({"status", "--json", "--socket", "/run/x.sock"});
    CHECK(parse_cli(a.c, a.v, o, err, sizeof err) == Status::ok);
    CHECK(o.command == CliCommand::status);
    CHECK(o.json);
    STRCMP_EQUAL("/run/x.sock", o.socket_path);
    Args b({"flows", "--top=10", "--by", "rate", "--group-by=pair", "-c", "a.ini"});
    CHECK(parse_cli(b.c, b.v, o, err, sizeof err) == Status::ok);
    CHECK(o.command == CliCommand::flows);
    LONGS_EQUAL(10, o.top);
    CHECK(o.by == SortBy::rate);
    CHECK(o.group == GroupBy::pair);
    STRCMP_EQUAL("a.ini", o.config_path);
    Args c({"top", "--group-by", "src"});
    CHECK(parse_cli(c.c, c.v, o, err, sizeof err) == Status::ok);
    CHECK(o.command == CliCommand::top);
    CHECK(o.group == GroupBy::src);
    Args r({"reload", "--json", "-c", "a.ini"});
    CHECK(parse_cli(r.c, r.v, o, err, sizeof err) == Status::ok);
    CHECK(o.command == CliCommand::reload);
    CHECK(o.json);
    STRCMP_EQUAL("a.ini", o.config_path);
    Args d({"-c", "a.ini"});
    CHECK(parse_cli(d.c, d.v, o, err, sizeof err) == Status::ok);
    CHECK(o.command == CliCommand::run);
}

TEST(Cli, ControlOptionErrors)
{
    struct Case {
        std::initializer_list<const char*> args;
        const char* want;
    } cases[] = {
        {{"flows", "--top", "0"}, "bad --top (expected 1..200): 0 (try --help)"},
        {{"flows", "--top", "201"}, "bad --top (expected 1..200): 201"},
        {{"flows", "--top", "1x"}, "bad --top (expected 1..200): 1x"},
        {{"flows", "--top"}, "missing argument for option: --top"},
        {{"flows", "--by", "size"}, "bad --by (expected bytes | packets | rate): size"},
        {{"flows", "--group-by", "mac"}, "bad --group-by"},
        {{"status", "--top", "3"}, "option only for flows: --top"},
        {{"top", "--json"}, "option only for status, flows and reload: --json"},
        {{"reload", "--top", "3"}, "option only for flows: --top"},
        {{"reload", "--by", "rate"}, "option only for flows and top"},
        {{"reload", "--check-config"}, "option not for status, flows, top or reload"},
        {{"reload", "status"}, "unexpected argument: status"},
        {{"status", "--by", "rate"}, "option only for flows and top"},
        {{"-c", "a.ini", "--socket", "/x"}, "option only for status, flows, top and reload: --socket"},
        {{"-c", "a.ini", "--json"}, "option only for status, flows and reload: --json"},
        {{"status", "--check-config"},
         "option not for status, flows, top or reload: --check-config"},
        {{"status", "flows"}, "unexpected argument: flows"},
        {{"status", "--socket="}, "empty argument for option: --socket"},
    };
    for (const Case& k : cases) {
        Args a(k.args);
        CHECK_TEXT(parse_cli(a.c, a.v, o, err, sizeof err) == Status::bad_input, k.want);
        CHECK_TEXT(strstr(err, k.want) != nullptr, err);
    }
}
