// SPDX-License-Identifier: GPL-2.0-only
// Config parser: a full file round-trips into every field, defaults, and a table of broken
// configs, each of which must give bad_input with a message naming FILE:LINE, section, key and
// value. Expected values and messages are written out by hand from the config text.
#include "app/config_parse.h"

#include <CppUTest/TestHarness.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace fa;

namespace {

std::string data_dir()
{
    std::string f = __FILE__;  // .../tests/unit/config_test.cpp
    return f.substr(0, f.rfind('/')) + "/../data/config";
}

struct TempDir {
    char path[64] = "/tmp/fa_config_test.XXXXXX";
    TempDir() { CHECK(mkdtemp(path) != nullptr); }
    ~TempDir()
    {
        std::string cmd = std::string("rm -rf ") + path;
        (void)system(cmd.c_str());
    }
    std::string write(const char* name, const char* text) const
    {
        std::string p = std::string(path) + "/" + name;
        FILE* f = fopen(p.c_str(), "w");
        CHECK(f != nullptr);
        fputs(text, f);
        fclose(f);
        return p;
    }
};

void check_contains(const char* msg, const char* want, const char* row)
{
    if (strstr(msg, want) == nullptr) {
        std::string m = std::string("row ") + row + ": message \"" + msg +
                        "\" lacks \"" + want + "\"";
        FAIL(m.c_str());
    }
}

} // namespace

TEST_GROUP(ConfigParse) {};

TEST(ConfigParse, FullFileRoundTripsIntoEveryField)
{
    const std::string path = data_dir() + "/full.ini";
    Config c;
    ConfigError err;
    const Status s = parse_config_file(path.c_str(), c, err);
    STRCMP_EQUAL("", err.message);
    CHECK(s == Status::ok);
    STRCMP_EQUAL(path.c_str(), c.path);
    CHECK(c.source == SourceKind::conntrack);
    LONGS_EQUAL(3, c.interface_count);
    STRCMP_EQUAL("eth0", c.interfaces[0]);
    STRCMP_EQUAL("br-lan", c.interfaces[1]);
    STRCMP_EQUAL("wan", c.interfaces[2]);
    UNSIGNED_LONGS_EQUAL(7, c.observation_domain);
    CHECK(c.log_level == LogLevel::debug);
    CHECK(c.log_syslog);
    UNSIGNED_LONGS_EQUAL(12, c.stop_timeout_s);
    UNSIGNED_LONGS_EQUAL(1024, c.max_flows);
    UNSIGNED_LONGS_EQUAL(120, c.active_timeout_s);
    UNSIGNED_LONGS_EQUAL(30, c.inactive_timeout_s);
    CHECK(c.full_policy == FullPolicyCfg::drop);
    UNSIGNED_LONGS_EQUAL(100, c.sampling_rate);
    CHECK(c.sampling_mode == SamplingMode::deterministic);
    LONGS_EQUAL(3, c.collector_count);

    const CollectorConfig& m = c.collectors[0];
    STRCMP_EQUAL("main", m.name);
    STRCMP_EQUAL("192.0.2.10", m.host);
    UNSIGNED_LONGS_EQUAL(2055, m.port);
    CHECK(m.protocol == Protocol::v9);
    UNSIGNED_LONGS_EQUAL(42, m.observation_domain);
    UNSIGNED_LONGS_EQUAL(1200, m.max_datagram);
    UNSIGNED_LONGS_EQUAL(300, m.template_refresh_s);
    UNSIGNED_LONGS_EQUAL(50, m.template_refresh_datagrams);
    CHECK(m.nat_events);
    CHECK(!m.biflow);
    UNSIGNED_LONGS_EQUAL(250, m.rate_limit);
    LONGS_EQUAL(22, m.address_line);

    // backup: defaults, observation domain inherited from [agent], IPv6 without brackets
    const CollectorConfig& b = c.collectors[1];
    STRCMP_EQUAL("backup", b.name);
    STRCMP_EQUAL("2001:db8::1", b.host);
    UNSIGNED_LONGS_EQUAL(4739, b.port);
    CHECK(b.protocol == Protocol::ipfix);
    UNSIGNED_LONGS_EQUAL(7, b.observation_domain);
    UNSIGNED_LONGS_EQUAL(1400, b.max_datagram);
    UNSIGNED_LONGS_EQUAL(600, b.template_refresh_s);  // RFC 7011 §8.4 default of ours: ipfix
    UNSIGNED_LONGS_EQUAL(20, b.template_refresh_datagrams);
    CHECK(!b.nat_events);
    CHECK(b.biflow);
    UNSIGNED_LONGS_EQUAL(1000, b.rate_limit);
    LONGS_EQUAL(33, b.address_line);

    const CollectorConfig& l = c.collectors[2];
    STRCMP_EQUAL("lab", l.name);
    STRCMP_EQUAL("collector.example.net", l.host);
    UNSIGNED_LONGS_EQUAL(9995, l.port);
    CHECK(l.protocol == Protocol::v9);
    UNSIGNED_LONGS_EQUAL(1800, l.template_refresh_s);  // v9 default
    LONGS_EQUAL(38, l.address_line);

    CHECK(c.print_json);
    UNSIGNED_LONGS_EQUAL(262144, c.ct_rcvbuf);
    CHECK(!c.ct_both_directions);
    CHECK(c.ct_mark);
    CHECK(c.ct_zone);
    UNSIGNED_LONGS_EQUAL(10, c.gen_flows);
    UNSIGNED_LONGS_EQUAL(500, c.gen_packets_per_s);
    UNSIGNED_LONGS_EQUAL(5, c.gen_duration_s);
}

TEST(ConfigParse, MinimalConfigGetsDocumentedDefaults)
{
    const char* text = "[agent]\ninterfaces = eth0\n[collector c]\naddress = 198.51.100.1:4739\n";
    Config c;
    ConfigError err;
    CHECK(parse_config_string(text, "min.ini", c, err) == Status::ok);
    STRCMP_EQUAL("min.ini", c.path);
    CHECK(c.source == SourceKind::xdp);
    LONGS_EQUAL(1, c.interface_count);
    UNSIGNED_LONGS_EQUAL(1, c.observation_domain);
    CHECK(c.log_level == LogLevel::info);
    CHECK(!c.log_syslog);
    UNSIGNED_LONGS_EQUAL(5, c.stop_timeout_s);
    UNSIGNED_LONGS_EQUAL(1000, c.collectors[0].rate_limit);
    UNSIGNED_LONGS_EQUAL(65536, c.max_flows);
    UNSIGNED_LONGS_EQUAL(60, c.active_timeout_s);
    UNSIGNED_LONGS_EQUAL(15, c.inactive_timeout_s);
    CHECK(c.full_policy == FullPolicyCfg::evict);
    UNSIGNED_LONGS_EQUAL(1, c.sampling_rate);
    CHECK(c.sampling_mode == SamplingMode::random);
    LONGS_EQUAL(1, c.collector_count);
    CHECK(c.collectors[0].protocol == Protocol::ipfix);
    UNSIGNED_LONGS_EQUAL(1, c.collectors[0].observation_domain);
    UNSIGNED_LONGS_EQUAL(1400, c.collectors[0].max_datagram);
    UNSIGNED_LONGS_EQUAL(600, c.collectors[0].template_refresh_s);
    UNSIGNED_LONGS_EQUAL(20, c.collectors[0].template_refresh_datagrams);
    LONGS_EQUAL(4, c.collectors[0].address_line);
    CHECK(!c.print_json);
    UNSIGNED_LONGS_EQUAL(8388608, c.ct_rcvbuf);
    CHECK(c.ct_both_directions);
    CHECK(!c.ct_mark);
    CHECK(!c.ct_zone);
    UNSIGNED_LONGS_EQUAL(64, c.gen_flows);
    UNSIGNED_LONGS_EQUAL(1000, c.gen_packets_per_s);
    UNSIGNED_LONGS_EQUAL(0, c.gen_duration_s);
}

TEST(ConfigParse, AcceptsEveryBooleanSpellingAndRangeEdges)
{
    const char* spell_true[] = {"yes", "true", "1", "on", "YES", "On"};
    const char* spell_false[] = {"no", "false", "0", "off", "No", "FALSE"};
    for (int t = 0; t < 2; ++t) {
        for (const char* v : t ? spell_true : spell_false) {
            std::string text = "[agent]\nsource = generator\n[collector a]\naddress = h:1\n"
                               "[output]\nstdout = ";
            text += v;
            Config c;
            ConfigError err;
            CHECK_TEXT(parse_config_string(text.c_str(), "b.ini", c, err) == Status::ok, v);
            CHECK_TEXT(c.print_json == (t == 1), v);
        }
    }
    const char* edges = "[agent]\nsource = generator\nobservation_domain = 4294967295\n"
                        "[flows]\nmax_flows = 16777216\nactive_timeout = 86400\n"
                        "inactive_timeout = 86400\n[sampling]\nrate = 16777216\n"
                        "[collector a]\naddress = [::1]:65535\nmax_datagram = 576\n"
                        "[collector b]\naddress = h:1\nmax_datagram = 9000\n";
    Config c;
    ConfigError err;
    CHECK(parse_config_string(edges, "e.ini", c, err) == Status::ok);
    STRCMP_EQUAL("", err.message);
    UNSIGNED_LONGS_EQUAL(4294967295u, c.observation_domain);
    UNSIGNED_LONGS_EQUAL(16777216, c.max_flows);
    UNSIGNED_LONGS_EQUAL(16777216, c.sampling_rate);
    UNSIGNED_LONGS_EQUAL(65535, c.collectors[0].port);
    UNSIGNED_LONGS_EQUAL(576, c.collectors[0].max_datagram);
    UNSIGNED_LONGS_EQUAL(9000, c.collectors[1].max_datagram);
    UNSIGNED_LONGS_EQUAL(4294967295u, c.collectors[1].observation_domain);
}

TEST(ConfigParse, ConntrackSectionRangeEdgesAndEnums)
{
    const char* lo = "[agent]\nsource = conntrack\n[collector a]\naddress = h:1\n"
                     "[conntrack]\nrcvbuf = 65536\ndirections = BOTH\nmark = off\nzone = 1\n";
    Config c;
    ConfigError err;
    CHECK(parse_config_string(lo, "c.ini", c, err) == Status::ok);
    STRCMP_EQUAL("", err.message);
    UNSIGNED_LONGS_EQUAL(65536, c.ct_rcvbuf);
    CHECK(c.ct_both_directions);
    CHECK(!c.ct_mark);
    CHECK(c.ct_zone);
    const char* hi = "[conntrack]\nrcvbuf = 1073741824\ndirections = original\n"
                     "[agent]\nsource = conntrack\n[collector a]\naddress = h:1\n";
    Config d;
    CHECK(parse_config_string(hi, "c.ini", d, err) == Status::ok);
    UNSIGNED_LONGS_EQUAL(1073741824u, d.ct_rcvbuf);
    CHECK(!d.ct_both_directions);
    STRCMP_EQUAL("/var/run/flowagent/conntrack.state", d.ct_state_file);  // the default
    const char* st = "[agent]\nsource = conntrack\n[collector a]\naddress = h:1\n"
                     "[conntrack]\nstate_file = /tmp/x/ct.state\n";
    Config e;
    CHECK(parse_config_string(st, "c.ini", e, err) == Status::ok);
    STRCMP_EQUAL("/tmp/x/ct.state", e.ct_state_file);
    const char* none = "[agent]\nsource = conntrack\n[collector a]\naddress = h:1\n"
                       "[conntrack]\nstate_file =\n";
    Config f;
    CHECK(parse_config_string(none, "c.ini", f, err) == Status::ok);
    STRCMP_EQUAL("", f.ct_state_file);  // no state file
}

namespace {

struct BadRow {
    const char* text;
    const char* want[4];  // substrings of the message; unused slots nullptr
};

// Prefix for rows that need a valid agent and collector before the broken line.
#define OK_HEAD                                                                            \
    "[agent]\nsource = xdp\ninterfaces = eth0\n[collector main]\naddress = 192.0.2.1:2055\n"
// OK_HEAD is 5 lines: the broken line of "OK_HEAD X" is line 6, "OK_HEAD [s]\nX" line 7.
// CT_HEAD: a valid conntrack config, 5 lines, ending inside [conntrack]: "CT_HEAD X" is line 6.
#define CT_HEAD "[agent]\nsource = conntrack\n[collector main]\naddress = h:1\n[conntrack]\n"

const BadRow kBad[] = {
    // unknown section / key, syntax
    {OK_HEAD "[bogus]\n", {"t.ini:6: ", "[bogus]", "unknown section"}},
    {"[agent]\nsourc = xdp\n", {"t.ini:2: ", "[agent] sourc = xdp", "unknown key"}},
    {OK_HEAD "colour = blue\n", {"t.ini:6: ", "[collector main] colour = blue", "unknown key"}},
    {"source = xdp\n", {"t.ini:1: ", "source = xdp", "outside any section"}},
    {"[agent]\njust words\n", {"t.ini:2: ", "syntax error", "just words"}},
    {"[agent\nsource = xdp\n", {"t.ini:1: ", "missing ']'"}},
    {OK_HEAD "[collector]\naddress = h:1\n", {"t.ini:6: ", "[collector]", "needs a name"}},
    {OK_HEAD "[collector a/b]\n", {"t.ini:6: ", "bad collector name"}},
    // numbers
    {"[flows]\nmax_flows = abc\n", {"t.ini:2: ", "[flows] max_flows = abc", "not a number"}},
    {"[flows]\nmax_flows = -5\n", {"t.ini:2: ", "max_flows = -5", "negative"}},
    {"[flows]\nmax_flows = 0\n", {"t.ini:2: ", "max_flows = 0", "zero not allowed", "1..16777216"}},
    {"[flows]\nmax_flows = 99999999999\n", {"t.ini:2: ", "= 99999999999", "too large"}},
    {"[flows]\nmax_flows = 16777217\n", {"t.ini:2: ", "= 16777217", "too large", "1..16777216"}},
    {"[flows]\nmax_flows =\n", {"t.ini:2: ", "[flows] max_flows = :", "empty value"}},
    {"[flows]\nmax_flows = 12k\n", {"t.ini:2: ", "= 12k", "not a number"}},
    {"[flows]\nactive_timeout = 86401\n", {"t.ini:2: ", "active_timeout = 86401", "1..86400"}},
    {"[flows]\ninactive_timeout = 0\n", {"t.ini:2: ", "inactive_timeout = 0", "zero"}},
    {"[sampling]\nrate = 0\n", {"t.ini:2: ", "[sampling] rate = 0", "zero not allowed"}},
    {"[sampling]\nrate = 16777217\n", {"t.ini:2: ", "rate = 16777217", "1..16777216"}},
    {"[agent]\nobservation_domain = 4294967296\n",
     {"t.ini:2: ", "observation_domain = 4294967296", "too large"}},
    {OK_HEAD "max_datagram = 575\n", {"t.ini:6: ", "max_datagram = 575", "576..9000"}},
    {OK_HEAD "max_datagram = 9001\n", {"t.ini:6: ", "max_datagram = 9001", "too large"}},
    {OK_HEAD "template_refresh = 86401\n", {"t.ini:6: ", "template_refresh = 86401", "too large"}},
    {OK_HEAD "template_refresh_packets = 0\n",
     {"t.ini:6: ", "template_refresh_packets = 0", "zero"}},
    {OK_HEAD "rate_limit = 0\n", {"t.ini:6: ", "rate_limit = 0", "zero"}},
    {OK_HEAD "rate_limit = 1000001\n", {"t.ini:6: ", "rate_limit = 1000001", "1..1000000"}},
    {"[agent]\nstop_timeout = 601\n", {"t.ini:2: ", "stop_timeout = 601", "0..600"}},
    {"[generator]\npackets_per_second = 0\n", {"t.ini:2: ", "packets_per_second = 0", "zero"}},
    {"[generator]\nduration = -1\n", {"t.ini:2: ", "[generator] duration = -1", "negative"}},
    // enums and booleans
    {"[agent]\nsource = dpdk\n",
     {"t.ini:2: ", "source = dpdk", "xdp | tc | conntrack | generator"}},
    {"[agent]\nlog_level = verbose\n", {"t.ini:2: ", "log_level = verbose", "error | warn"}},
    {"[agent]\nlog = file\n", {"t.ini:2: ", "[agent] log = file", "stderr | syslog"}},
    {"[flows]\nfull_policy = panic\n", {"t.ini:2: ", "full_policy = panic", "evict | drop"}},
    {"[sampling]\nmode = sometimes\n", {"t.ini:2: ", "mode = sometimes", "random | deterministic"}},
    {OK_HEAD "protocol = v10\n", {"t.ini:6: ", "protocol = v10", "ipfix | v9"}},
    {"[output]\nstdout = maybe\n", {"t.ini:2: ", "[output] stdout = maybe", "bad boolean"}},
    {OK_HEAD "biflow = 2\n", {"t.ini:6: ", "biflow = 2", "bad boolean"}},
    // addresses
    {OK_HEAD "[collector b]\naddress = 192.0.2.10\n",
     {"t.ini:7: ", "[collector b] address = 192.0.2.10", "missing port"}},
    {OK_HEAD "[collector b]\naddress = 192.0.2.10:0\n",
     {"t.ini:7: ", "address = 192.0.2.10:0", "bad port"}},
    {OK_HEAD "[collector b]\naddress = 192.0.2.10:65536\n",
     {"t.ini:7: ", ":65536", "bad port", "too large"}},
    {OK_HEAD "[collector b]\naddress = 192.0.2.10:\n", {"t.ini:7: ", "missing port number"}},
    {OK_HEAD "[collector b]\naddress = 192.0.2.10:http\n", {"t.ini:7: ", ":http", "bad port"}},
    {OK_HEAD "[collector b]\naddress = [2001:db8::1:2055\n",
     {"t.ini:7: ", "[2001:db8::1:2055", "missing ']'"}},
    {OK_HEAD "[collector b]\naddress = [2001:db8::1]2055\n", {"t.ini:7: ", "missing ':port'"}},
    {OK_HEAD "[collector b]\naddress = 2001:db8::1:2055\n", {"t.ini:7: ", "needs brackets"}},
    {OK_HEAD "[collector b]\naddress = :2055\n", {"t.ini:7: ", "address = :2055", "empty host"}},
    {OK_HEAD "[collector b]\naddress = []:2055\n",
     {"t.ini:7: ", "address = []:2055", "empty host"}},
    {OK_HEAD "[collector b]\naddress = ho st:2055\n", {"t.ini:7: ", "bad character ' '"}},
    // duplicates
    {"[agent]\nsource = xdp\nsource = tc\n",
     {"t.ini:3: ", "[agent] source = tc", "duplicate key", "line 2"}},
    {OK_HEAD "address = 192.0.2.2:2055\n",
     {"t.ini:6: ", "[collector main] address", "duplicate key", "line 5"}},
    {OK_HEAD "[collector main]\naddress = 192.0.2.2:2055\n",
     {"t.ini:6: ", "[collector main]", "duplicate collector", "line 4"}},
    {OK_HEAD "[collector b]\naddress = 192.0.2.1:2055\n",
     {"t.ini:7: ", "[collector b] address = 192.0.2.1:2055", "same address as [collector main]",
      "line 5"}},
    {"[agent]\ninterfaces = eth0 eth1 eth0\n",
     {"t.ini:2: ", "interfaces = eth0 eth1 eth0", "'eth0' listed twice"}},
    // missing required keys, cross-field checks
    {"[agent]\nsource = tc\ninterfaces = eth0\n", {"t.ini: ", "no [collector NAME] section"}},
    {"[agent]\nsource = xdp\n[collector main]\naddress = h:1\n",
     {"t.ini:2: ", "[agent] source = xdp", "interfaces is required"}},
    {"[collector main]\naddress = h:1\n", {"t.ini: ", "interfaces is required"}},
    {OK_HEAD "[collector b]\nprotocol = v9\n",
     {"t.ini:6: ", "[collector b]", "address is required"}},
    {OK_HEAD "[flows]\nactive_timeout = 20\ninactive_timeout = 30\n",
     {"t.ini:8: ", "[flows] inactive_timeout = 30", "must not exceed active_timeout (20)"}},
    {OK_HEAD "nat_events = yes\n",
     {"t.ini:6: ", "[collector main] nat_events = yes", "source = conntrack"}},
    // the value is echoed as written, whichever spelling of true it was
    {OK_HEAD "nat_events = On\n",
     {"t.ini:6: ", "[collector main] nat_events = On", "source = conntrack"}},
    {OK_HEAD "biflow = 1\n", {"t.ini:6: ", "[collector main] biflow = 1", "source = conntrack"}},
    // [conntrack]: ranges, enums, booleans; every key only with source = conntrack
    {CT_HEAD "rcvbuf = 65535\n", {"t.ini:6: ", "[conntrack] rcvbuf = 65535", "65536..1073741824"}},
    {CT_HEAD "rcvbuf = 1073741825\n", {"t.ini:6: ", "rcvbuf = 1073741825", "too large"}},
    {CT_HEAD "rcvbuf = 8M\n", {"t.ini:6: ", "[conntrack] rcvbuf = 8M", "not a number"}},
    {CT_HEAD "directions = reply\n",
     {"t.ini:6: ", "[conntrack] directions = reply", "both | original"}},
    {CT_HEAD "mark = sometimes\n", {"t.ini:6: ", "[conntrack] mark = sometimes", "bad boolean"}},
    {CT_HEAD "zone = 2\n", {"t.ini:6: ", "[conntrack] zone = 2", "bad boolean"}},
    {CT_HEAD "state_file = run/ct.state\n",
     {"t.ini:6: ", "[conntrack] state_file = run/ct.state", "absolute path"}},
    {CT_HEAD "colour = red\n", {"t.ini:6: ", "[conntrack] colour = red", "unknown key", "zone"}},
    {CT_HEAD "mark = yes\nmark = no\n", {"t.ini:7: ", "[conntrack] mark = no", "duplicate key"}},
    {OK_HEAD "[conntrack]\nzone = no\nmark = yes\n",
     {"t.ini:7: ", "[conntrack] zone = no", "only with [agent] source = conntrack"}},
    {"[conntrack]\nrcvbuf = 100000\n[agent]\nsource = generator\n[collector c]\naddress = h:1\n",
     {"t.ini:2: ", "[conntrack] rcvbuf = 100000", "only with [agent] source = conntrack"}},
    {"[agent]\nsource = conntrack\n[collector main]\naddress = h:1\nprotocol = v9\n"
     "biflow = yes\n",
     {"t.ini:6: ", "[collector main] biflow = yes", "only with protocol = ipfix"}},
    {"[agent]\nsource = conntrack\n[collector main]\naddress = h:1\nprotocol = v9\n"
     "biflow = true\n",
     {"t.ini:6: ", "[collector main] biflow = true", "only with protocol = ipfix"}},
    // sizes of fixed fields
    {"[agent]\ninterfaces = a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 b0 b1 b2 b3 b4 b5 b6 b7 b8 b9 "
     "c0 c1 c2 c3 c4 c5 c6 c7 c8 c9 d0 d1 d2\n",
     {"t.ini:2: ", "[agent] interfaces = a0 a1", "too many interfaces (max 32)"}},
    {"[agent]\ninterfaces = eth0 averyveryverylongname\n",
     {"t.ini:2: ", "interfaces = eth0 averyveryverylongname", "too long (max 15"}},
    {"[agent]\ninterfaces = eth/0\n", {"t.ini:2: ", "bad interface name 'eth/0'"}},
    {OK_HEAD "[collector c1]\naddress=h:1\n[collector c2]\naddress=h:2\n"
     "[collector c3]\naddress=h:3\n"
     "[collector c4]\naddress=h:4\n[collector c5]\naddress=h:5\n[collector c6]\naddress=h:6\n"
     "[collector c7]\naddress=h:7\n[collector c8]\naddress=h:8\n",
     {"t.ini:20: ", "[collector c8]", "too many collectors (max 8)"}},
    {OK_HEAD "[collector abcdefghijklmnopqrstuvwxyz0123456]\n",
     {"t.ini:6: ", "collector name too long (max 31"}},
    // empty input
    {"", {"t.ini: ", "empty config file"}},
    {"; only a comment\n\n   \n# another\n", {"t.ini: ", "empty config file"}},
};

} // namespace

TEST(ConfigParse, TableOfBrokenConfigsGiveBadInputNamingLineKeyAndValue)
{
    CHECK(sizeof kBad / sizeof kBad[0] >= 30);
    int row = 0;
    for (const BadRow& r : kBad) {
        ++row;
        char rowname[16];
        snprintf(rowname, sizeof rowname, "%d", row);
        Config c;
        c.max_flows = 777;  // sentinel: `out` must be untouched on error
        ConfigError err;
        const Status s = parse_config_string(r.text, "t.ini", c, err);
        CHECK_TEXT(s == Status::bad_input, rowname);
        UNSIGNED_LONGS_EQUAL_TEXT(777, c.max_flows, rowname);
        for (const char* w : r.want) {
            if (w != nullptr) check_contains(err.message, w, rowname);
        }
    }
}

TEST(ConfigParse, ErrorMessageHasExactShape)
{
    Config c;
    ConfigError err;
    CHECK(parse_config_string("[flows]\n\nmax_flows = 0   ; none\n", "/etc/fa.ini", c, err) ==
          Status::bad_input);
    STRCMP_EQUAL("/etc/fa.ini:3: [flows] max_flows = 0: zero not allowed, expected 1..16777216",
                 err.message);
}

TEST(ConfigParse, MissingFileIsNamed)
{
    Config c;
    ConfigError err;
    CHECK(parse_config_file("/nonexistent/fa.ini", c, err) == Status::bad_input);
    STRCMP_EQUAL("/nonexistent/fa.ini: cannot open: No such file or directory", err.message);
    CHECK(parse_config_file(nullptr, c, err) == Status::bad_input);
    check_contains(err.message, "no config file", "null");
}

TEST(ConfigParse, DirectoryIsUnreadable)
{
    TempDir d;
    Config c;
    ConfigError err;
    CHECK(parse_config_file(d.path, c, err) == Status::bad_input);
    check_contains(err.message, d.path, "dir");
    check_contains(err.message, "Is a directory", "dir");
}

TEST(ConfigParse, PermissionDeniedIsNamed)
{
    TempDir d;
    CHECK(chmod(d.path, 0755) == 0);
    const std::string p = d.write("secret.ini", "[agent]\n");
    CHECK(chmod(p.c_str(), 0) == 0);
    const std::string want = p + ": cannot open: Permission denied";
    if (geteuid() != 0) {
        Config c;
        ConfigError err;
        CHECK(parse_config_file(p.c_str(), c, err) == Status::bad_input);
        STRCMP_EQUAL(want.c_str(), err.message);
        return;
    }
    // root reads mode-000 files: check from a child that drops to nobody (65534)
    fflush(nullptr);
    const pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
        Config c;
        ConfigError err;
        if (parse_config_file(p.c_str(), c, err) != Status::bad_input) _exit(4);
        _exit(strcmp(want.c_str(), err.message) == 0 ? 0 : 5);
    }
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st));
    LONGS_EQUAL(0, WEXITSTATUS(st));
}

TEST(ConfigParse, EmptyFileAndLineNumbersFromFiles)
{
    TempDir d;
    const std::string e = d.write("empty.ini", "");
    Config c;
    ConfigError err;
    CHECK(parse_config_file(e.c_str(), c, err) == Status::bad_input);
    STRCMP_EQUAL((e + ": empty config file (no sections or keys)").c_str(), err.message);

    const std::string b = d.write("bad.ini", "[agent]\r\ninterfaces = eth0\r\n\r\n[collector x]\r\n"
                                             "address = 192.0.2.1:70000\r\n");
    CHECK(parse_config_file(b.c_str(), c, err) == Status::bad_input);
    check_contains(err.message, (b + ":5: [collector x] address = 192.0.2.1:70000").c_str(),
                   "crlf");
}

TEST(ConfigParse, NulByteIsRejected)
{
    TempDir d;
    const std::string p = std::string(d.path) + "/nul.ini";
    FILE* f = fopen(p.c_str(), "wb");
    CHECK(f != nullptr);
    const char bytes[] = "[agent]\nsou\0rce = xdp\n";
    fwrite(bytes, 1, sizeof bytes - 1, f);
    fclose(f);
    Config c;
    ConfigError err;
    CHECK(parse_config_file(p.c_str(), c, err) == Status::bad_input);
    check_contains(err.message, "nul.ini:2: [agent]: NUL byte", "nul");
}

TEST(ConfigParse, NonRegularFilesAreRefusedBeforeReading)
{
    Config c;
    ConfigError err;
    // /dev/zero would be read forever (it has no newline); refused before the first byte.
    CHECK(parse_config_file("/dev/zero", c, err) == Status::bad_input);
    STRCMP_EQUAL("/dev/zero: not a regular file (a character device)", err.message);
    // A FIFO would block the open itself until a writer comes.
    TempDir d;
    const std::string fifo = std::string(d.path) + "/fifo.ini";
    CHECK(mkfifo(fifo.c_str(), 0600) == 0);
    CHECK(parse_config_file(fifo.c_str(), c, err) == Status::bad_input);
    STRCMP_EQUAL((fifo + ": not a regular file (a FIFO)").c_str(), err.message);
    // A symlink to a regular file is read as the file.
    const std::string real = d.write("real.ini", "[agent]\nsource = generator\n"
                                                 "[collector a]\naddress = 192.0.2.1:2055\n");
    const std::string link = std::string(d.path) + "/link.ini";
    CHECK(symlink(real.c_str(), link.c_str()) == 0);
    CHECK(parse_config_file(link.c_str(), c, err) == Status::ok);
    CHECK(c.source == SourceKind::generator);
    // ... and a symlink to a device is not.
    const std::string dev = std::string(d.path) + "/dev.ini";
    CHECK(symlink("/dev/zero", dev.c_str()) == 0);
    CHECK(parse_config_file(dev.c_str(), c, err) == Status::bad_input);
    check_contains(err.message, "not a regular file (a character device)", "symlink to dev");
}

TEST(ConfigParse, OversizedFileIsRefused)
{
    // A valid file padded with comment lines past the cap: refused at the cap, naming it.
    TempDir d;
    std::string text = "[agent]\nsource = generator\n[collector a]\naddress = 192.0.2.1:2055\n";
    const std::string comment = "; " + std::string(97, 'x') + "\n";  // 100 bytes
    while (text.size() <= kMaxConfigBytes) text += comment;
    const std::string p = d.write("big.ini", text.c_str());
    Config c;
    ConfigError err;
    CHECK(parse_config_file(p.c_str(), c, err) == Status::bad_input);
    check_contains(err.message, "file larger than 1048576 bytes", "big");
    // Exactly at the cap is still read.
    std::string exact = "[agent]\nsource = generator\n[collector a]\naddress = 192.0.2.1:2055\n";
    while (exact.size() + 100 <= kMaxConfigBytes) exact += comment;
    exact += "; " + std::string(kMaxConfigBytes - exact.size() - 3, 'y') + "\n";
    CHECK_EQUAL(kMaxConfigBytes, exact.size());
    const std::string q = d.write("cap.ini", exact.c_str());
    CHECK(parse_config_file(q.c_str(), c, err) == Status::ok);
}

TEST(ConfigParse, UnprintableBytesAreEscapedInErrors)
{
    Config c;
    ConfigError err;
    // An ESC sequence and a high byte in a line without '=': shown as \xNN, never raw.
    CHECK(parse_config_string("[agent]\n\x1b[2J\xff\x01zz\n", "bin.ini", c, err) ==
          Status::bad_input);
    STRCMP_EQUAL("bin.ini:2: [agent]: syntax error in '\\x1b[2J\\xff\\x01zz': expected key = "
                 "value",
                 err.message);
    for (const char* q = err.message; *q != 0; ++q) CHECK(*q >= 0x20 && *q < 0x7f);
    // In a value too.
    CHECK(parse_config_string("[agent]\nsource = x\x07y\n", "bin.ini", c, err) ==
          Status::bad_input);
    check_contains(err.message, "source = x\\x07y", "value");
}

TEST(ConfigParse, ParseLogLevel)
{
    LogLevel l = LogLevel::info;
    CHECK(parse_log_level("error", l));
    CHECK(l == LogLevel::error);
    CHECK(parse_log_level("warn", l));
    CHECK(l == LogLevel::warn);
    CHECK(parse_log_level("debug", l));
    CHECK(l == LogLevel::debug);
    CHECK(!parse_log_level("trace", l));
    CHECK(!parse_log_level(nullptr, l));
    CHECK(l == LogLevel::debug);
}

TEST(ConfigParse, ReferenceExampleParses)
{
    const std::string path = data_dir() + "/example.ini";
    Config c;
    ConfigError err;
    CHECK(parse_config_file(path.c_str(), c, err) == Status::ok);
    STRCMP_EQUAL("", err.message);
    LONGS_EQUAL(2, c.interface_count);
    STRCMP_EQUAL("br-lan", c.interfaces[1]);
    LONGS_EQUAL(2, c.collector_count);
    STRCMP_EQUAL("2001:db8::10", c.collectors[1].host);
    UNSIGNED_LONGS_EQUAL(9995, c.collectors[1].port);
    UNSIGNED_LONGS_EQUAL(1800, c.collectors[1].template_refresh_s);
}

TEST(ConfigParse, ColonDelimiterRepeatedSectionAndIndentation)
{
    // `key: value` is inih syntax too; [agent] may be split in two blocks; an indented key
    // must not become a continuation of the previous value (inih multi-line mode).
    const char* text = "[agent]\nsource: tc\n[collector a]\naddress = [fe80::1%eth0]:2055\n"
                       "[agent]\n\t interfaces = lan1\n   observation_domain = 9\n";
    Config c;
    ConfigError err;
    CHECK(parse_config_string(text, "c.ini", c, err) == Status::ok);
    STRCMP_EQUAL("", err.message);
    CHECK(c.source == SourceKind::tc);
    LONGS_EQUAL(1, c.interface_count);
    STRCMP_EQUAL("lan1", c.interfaces[0]);
    UNSIGNED_LONGS_EQUAL(9, c.observation_domain);
    UNSIGNED_LONGS_EQUAL(9, c.collectors[0].observation_domain);
    STRCMP_EQUAL("fe80::1%eth0", c.collectors[0].host);

    // ... and a key repeated in the second [agent] block is still a duplicate
    CHECK(parse_config_string("[agent]\nsource = tc\n[agent]\nsource = xdp\n", "d.ini", c, err) ==
          Status::bad_input);
    STRCMP_EQUAL("d.ini:4: [agent] source = xdp: duplicate key (first set on line 2)", err.message);
}

TEST(ConfigParse, LineLengthLimitIs199Characters)
{
    // "address = " (10) + host + ":2055" (5): host of 184 gives 199 characters, 185 gives 200.
    for (int host_len = 184; host_len <= 185; ++host_len) {
        const std::string host = std::string(static_cast<size_t>(host_len) - 8, 'h') + ".example";
        const std::string line = "address = " + host + ":2055";
        LONGS_EQUAL(host_len + 15, line.size());
        const std::string text = "[agent]\nsource = generator\n[collector b]\n" + line + "\r\n";
        Config c;
        ConfigError err;
        const Status s = parse_config_string(text.c_str(), "l.ini", c, err);
        if (host_len == 184) {
            STRCMP_EQUAL("", err.message);
            CHECK(s == Status::ok);
            LONGS_EQUAL(184, strlen(c.collectors[0].host));
        } else {
            CHECK(s == Status::bad_input);
            STRCMP_EQUAL("l.ini:4: [collector b]: line too long (max 199 characters)", err.message);
        }
    }
}

TEST(ConfigParse, PathLongerThanTheFixedFieldIsRejected)
{
    const std::string name(300, 'p');
    Config c;
    ConfigError err;
    CHECK(parse_config_string("[agent]\nsource = generator\n[collector a]\naddress = h:1\n",
                              name.c_str(), c, err) == Status::bad_input);
    check_contains(err.message, "config path too long (max 255 characters)", "path");
}
