// SPDX-License-Identifier: GPL-2.0-only
#include "control/control_request.h"

#include <cstdio>
#include <cstring>

namespace fa {
namespace {

const char* const kSortNames[] = {"bytes", "packets", "rate"};
const char* const kGroupNames[] = {"flow", "src", "dst", "pair", "port", "proto"};
const char* const kFormatNames[] = {"json", "text", "tsv"};

bool word_is(const char* s, size_t n, const char* w)
{
    return strlen(w) == n && memcmp(s, w, n) == 0;
}

template <typename E, size_t N>
bool lookup(const char* const (&names)[N], const char* s, size_t n, E& out)
{
    for (size_t i = 0; i < N; ++i) {
        if (word_is(s, n, names[i])) {
            out = static_cast<E>(i);
            return true;
        }
    }
    return false;
}

Status bad(char* err, size_t err_len, const char* fmt, const char* s, size_t n)
{
    if (err != nullptr && err_len > 0) {
        // Echo at most 32 bytes of the offending word, printable ASCII only (already checked).
        const int k = n > 32 ? 32 : static_cast<int>(n);
        snprintf(err, err_len, fmt, k, s);
    }
    return Status::bad_input;
}

} // namespace

const char* sort_by_name(SortBy b) { return kSortNames[static_cast<int>(b)]; }
const char* group_by_name(GroupBy g) { return kGroupNames[static_cast<int>(g)]; }
bool parse_sort_by(const char* s, size_t n, SortBy& out) { return lookup(kSortNames, s, n, out); }
bool parse_group_by(const char* s, size_t n, GroupBy& out)
{
    return lookup(kGroupNames, s, n, out);
}

Status parse_control_request(const char* line, size_t len, ControlRequest& out, char* err,
                             size_t err_len)
{
    if (err != nullptr && err_len > 0) err[0] = '\0';
    if (line == nullptr) return bad(err, err_len, "empty request%.*s", "", 0);
    if (len > 0 && line[len - 1] == '\n') --len;
    if (len >= kMaxControlRequest) return bad(err, err_len, "request too long%.*s", "", 0);
    for (size_t i = 0; i < len; ++i) {
        const unsigned char c = static_cast<unsigned char>(line[i]);
        if (c < 0x20 || c >= 0x7f) {
            char hex[8];
            snprintf(hex, sizeof hex, "\\x%02x", c);
            return bad(err, err_len, "bad byte %.*s in request", hex, strlen(hex));
        }
    }
    ControlRequest r;
    size_t pos = 0;
    size_t end = 0;
    while (end < len && line[end] != ' ') ++end;
    if (end == 0) return bad(err, err_len, "empty request%.*s", "", 0);
    if (word_is(line, end, "status")) {
        r.command = ControlCommand::status;
    } else if (word_is(line, end, "flows")) {
        r.command = ControlCommand::flows;
    } else if (word_is(line, end, "reload")) {
        r.command = ControlCommand::reload;
    } else {
        return bad(err, err_len, "unknown command '%.*s' (expected status | flows | reload)",
                   line, end);
    }
    unsigned seen = 0;
    pos = end;
    while (pos < len) {
        ++pos;  // the space
        const char* word = line + pos;
        end = pos;
        while (end < len && line[end] != ' ') ++end;
        const size_t n = end - pos;
        pos = end;
        const char* eq = static_cast<const char*>(memchr(word, '=', n));
        if (n == 0) return bad(err, err_len, "empty argument (double space?)%.*s", "", 0);
        if (eq == nullptr) return bad(err, err_len, "argument '%.*s' is not key=value", word, n);
        const size_t kn = static_cast<size_t>(eq - word);
        const char* v = eq + 1;
        const size_t vn = n - kn - 1;
        unsigned bit = 0;
        bool ok = false;
        if (word_is(word, kn, "format")) {
            bit = 1;
            ok = lookup(kFormatNames, v, vn, r.format) &&
                 (r.command == ControlCommand::flows || r.format != ControlFormat::tsv);
        } else if (r.command == ControlCommand::flows && word_is(word, kn, "top")) {
            bit = 2;
            uint32_t t = 0;
            ok = vn > 0 && vn <= 4;
            for (size_t i = 0; ok && i < vn; ++i) {
                if (v[i] < '0' || v[i] > '9') ok = false;
                else t = t * 10 + static_cast<uint32_t>(v[i] - '0');
            }
            ok = ok && t >= 1 && t <= kMaxTop;
            r.top = t;
            if (!ok) {
                char m[96];
                snprintf(m, sizeof m, "bad top '%%.*s' (expected 1..%u)", kMaxTop);
                return bad(err, err_len, m, v, vn);
            }
        } else if (r.command == ControlCommand::flows && word_is(word, kn, "by")) {
            bit = 4;
            ok = lookup(kSortNames, v, vn, r.by);
        } else if (r.command == ControlCommand::flows && word_is(word, kn, "group")) {
            bit = 8;
            ok = lookup(kGroupNames, v, vn, r.group);
        } else {
            return bad(err, err_len, "unknown key '%.*s'", word, kn);
        }
        if (!ok) return bad(err, err_len, "bad value in '%.*s'", word, n);
        if (seen & bit) return bad(err, err_len, "key '%.*s' given twice", word, kn);
        seen |= bit;
    }
    out = r;
    return Status::ok;
}

size_t format_control_request(const ControlRequest& r, char* buf, size_t len)
{
    int n;
    if (r.command != ControlCommand::flows) {
        n = snprintf(buf, len, "%s format=%s\n",
                     r.command == ControlCommand::status ? "status" : "reload",
                     kFormatNames[static_cast<int>(r.format)]);
    } else {
        n = snprintf(buf, len, "flows top=%u by=%s group=%s format=%s\n", r.top,
                     sort_by_name(r.by), group_by_name(r.group),
                     kFormatNames[static_cast<int>(r.format)]);
    }
    return n < 0 || static_cast<size_t>(n) >= len ? 0 : static_cast<size_t>(n);
}

size_t RequestBuffer::append(const char* data, size_t n)
{
    const size_t k = n < space_left() ? n : space_left();
    memcpy(buf_ + used_, data, k);
    used_ += k;
    return k;
}

RequestBuffer::State RequestBuffer::state() const
{
    if (memchr(buf_, '\n', used_) != nullptr) return State::complete;
    return used_ >= sizeof buf_ ? State::too_long : State::incomplete;
}

size_t RequestBuffer::line_length() const
{
    const char* nl = static_cast<const char*>(memchr(buf_, '\n', used_));
    return nl == nullptr ? 0 : static_cast<size_t>(nl - buf_) + 1;
}

} // namespace fa
