// SPDX-License-Identifier: GPL-2.0-only
// The control socket's request parser: every command and key, and the errors for malformed,
// oversized and binary input.
#include "control/control_request.h"

#include <CppUTest/TestHarness.h>

#include <cstring>
#include <string>

using namespace fa;

namespace {

Status parse(const char* s, ControlRequest& r, char* err, size_t n)
{
    return parse_control_request(s, strlen(s), r, err, n);
}

} // namespace

TEST_GROUP(ControlRequest) {
    ControlRequest r;
    char err[160] = {};
};

TEST(ControlRequest, StatusDefaults)
{
    CHECK(parse("status\n", r, err, sizeof err) == Status::ok);
    CHECK(r.command == ControlCommand::status);
    CHECK(r.format == ControlFormat::json);
    CHECK(parse("status format=text", r, err, sizeof err) == Status::ok);
    CHECK(r.format == ControlFormat::text);
}

TEST(ControlRequest, FlowsEveryKey)
{
    CHECK(parse("flows top=10 by=rate group=pair format=tsv\n", r, err, sizeof err) ==
          Status::ok);
    CHECK(r.command == ControlCommand::flows);
    LONGS_EQUAL(10, r.top);
    CHECK(r.by == SortBy::rate);
    CHECK(r.group == GroupBy::pair);
    CHECK(r.format == ControlFormat::tsv);
    CHECK(parse("flows", r, err, sizeof err) == Status::ok);
    LONGS_EQUAL(kDefaultTop, r.top);
    CHECK(r.by == SortBy::bytes);
    CHECK(r.group == GroupBy::flow);
    CHECK(parse("flows top=200", r, err, sizeof err) == Status::ok);
    LONGS_EQUAL(200, r.top);
}

TEST(ControlRequest, Reload)
{
    CHECK(parse("reload\n", r, err, sizeof err) == Status::ok);
    CHECK(r.command == ControlCommand::reload);
    CHECK(r.format == ControlFormat::json);
    CHECK(parse("reload format=text", r, err, sizeof err) == Status::ok);
    CHECK(r.command == ControlCommand::reload);
    CHECK(r.format == ControlFormat::text);
    ControlRequest a;
    a.command = ControlCommand::reload;
    a.format = ControlFormat::text;
    char line[kMaxControlRequest];
    const size_t n = format_control_request(a, line, sizeof line);
    STRCMP_EQUAL("reload format=text\n", std::string(line, n).c_str());
    CHECK(parse_control_request(line, n, r, err, sizeof err) == Status::ok);
    CHECK(r.command == ControlCommand::reload);
    CHECK(r.format == ControlFormat::text);
}

TEST(ControlRequest, FormatRoundTrips)
{
    ControlRequest a;
    a.command = ControlCommand::flows;
    a.top = 7;
    a.by = SortBy::packets;
    a.group = GroupBy::port;
    a.format = ControlFormat::text;
    char line[kMaxControlRequest];
    const size_t n = format_control_request(a, line, sizeof line);
    CHECK(n > 0);
    CHECK(parse_control_request(line, n, r, err, sizeof err) == Status::ok);
    LONGS_EQUAL(7, r.top);
    CHECK(r.by == SortBy::packets);
    CHECK(r.group == GroupBy::port);
    CHECK(r.format == ControlFormat::text);
}

TEST(ControlRequest, ErrorsNameTheProblem)
{
    struct Case {
        const char* in;
        const char* want;
    } cases[] = {
        {"", "empty request"},
        {"\n", "empty request"},
        {"reboot\n", "unknown command 'reboot' (expected status | flows | reload)"},
        {"reload top=1", "unknown key 'top'"},
        {"reload by=rate", "unknown key 'by'"},
        {"reload format=tsv", "bad value in 'format=tsv'"},
        {"reload format=json format=text", "key 'format' given twice"},
        {"reloadx", "unknown command 'reloadx'"},
        {"flows top=0", "bad top '0' (expected 1..200)"},
        {"flows top=201", "bad top '201'"},
        {"flows top=99999", "bad top '99999'"},
        {"flows top=-1", "bad top '-1'"},
        {"flows top=", "bad top ''"},
        {"flows by=size", "bad value in 'by=size'"},
        {"flows group=mac", "bad value in 'group=mac'"},
        {"flows top=1 top=2", "key 'top' given twice"},
        {"flows  top=1", "empty argument"},
        {"flows top", "argument 'top' is not key=value"},
        {"status top=1", "unknown key 'top'"},
        {"status format=tsv", "bad value in 'format=tsv'"},
        {"flows colour=red", "unknown key 'colour'"},
        {"flows\ttop=1", "bad byte \\x09 in request"},
        {"status\x1b[2J", "bad byte \\x1b in request"},
        {"status \xff", "bad byte \\xff in request"},
    };
    for (const Case& c : cases) {
        ControlRequest keep;
        keep.top = 3;
        r = keep;
        if (parse(c.in, r, err, sizeof err) != Status::bad_input) FAIL(c.in);
        if (strstr(err, c.want) == nullptr) {
            std::string m = std::string("'") + c.in + "': got '" + err + "', want '" + c.want + "'";
            FAIL(m.c_str());
        }
        LONGS_EQUAL(3, r.top);  // untouched on error
        for (const char* p = err; *p != 0; ++p) CHECK(*p >= 0x20 && *p < 0x7f);
    }
}

TEST(ControlRequest, EmbeddedNulAndOverlong)
{
    const char nul[] = "status\0format=text";
    CHECK(parse_control_request(nul, sizeof nul - 1, r, err, sizeof err) == Status::bad_input);
    STRCMP_CONTAINS("bad byte \\x00", err);
    std::string longest = "flows top=1" + std::string(kMaxControlRequest - 12, ' ');
    CHECK(parse_control_request(longest.data(), longest.size(), r, err, sizeof err) ==
          Status::bad_input);  // too many spaces: an empty argument, but within the length
    std::string too_long = "status" + std::string(kMaxControlRequest, 'x');
    CHECK(parse_control_request(too_long.data(), too_long.size(), r, err, sizeof err) ==
          Status::bad_input);
    STRCMP_CONTAINS("request too long", err);
    CHECK(parse_control_request(nullptr, 0, r, err, sizeof err) == Status::bad_input);
}

TEST(ControlRequest, BufferSplitsLinesAndBoundsLength)
{
    RequestBuffer b;
    CHECK(b.state() == RequestBuffer::State::incomplete);
    LONGS_EQUAL(3, b.append("sta", 3));
    CHECK(b.state() == RequestBuffer::State::incomplete);
    b.append("tus\nrest", 8);
    CHECK(b.state() == RequestBuffer::State::complete);
    LONGS_EQUAL(7, b.line_length());
    CHECK(parse_control_request(b.data(), b.line_length(), r, err, sizeof err) == Status::ok);
    b.clear();
    std::string junk(kMaxControlRequest + 10, 'a');
    LONGS_EQUAL(kMaxControlRequest, b.append(junk.data(), junk.size()));
    CHECK(b.state() == RequestBuffer::State::too_long);
    LONGS_EQUAL(0, b.space_left());
}
