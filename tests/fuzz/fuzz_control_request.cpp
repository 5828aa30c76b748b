// SPDX-License-Identifier: GPL-2.0-only
// libFuzzer target for the control socket's request parser (agent/control/control_request):
// any bytes from a local client, fed through the RequestBuffer the server uses. Must never
// crash or read out of bounds (ASan/UBSan); an error message is one line of printable ASCII
// that fits its buffer; an accepted request formats back into a line that parses the same.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "control/control_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    fa::RequestBuffer buf;
    const size_t taken = buf.append(reinterpret_cast<const char*>(data), size);
    if (taken > fa::kMaxControlRequest) __builtin_trap();
    size_t len = taken;
    if (buf.state() == fa::RequestBuffer::State::complete) len = buf.line_length();
    if (len > taken) __builtin_trap();
    fa::ControlRequest r;
    char err[160];
    if (fa::parse_control_request(buf.data(), len, r, err, sizeof err) != fa::Status::ok) {
        const size_t n = strnlen(err, sizeof err);
        if (n == 0 || n == sizeof err) __builtin_trap();
        for (size_t i = 0; i < n; ++i)
            if (err[i] < 0x20 || err[i] >= 0x7f) __builtin_trap();
        return 0;
    }
    if (r.top < 1 || r.top > fa::kMaxTop) __builtin_trap();
    char line[fa::kMaxControlRequest];
    const size_t n = fa::format_control_request(r, line, sizeof line);
    fa::ControlRequest again;
    if (n == 0 || fa::parse_control_request(line, n, again, err, sizeof err) != fa::Status::ok)
        __builtin_trap();
    if (again.command != r.command || again.format != r.format || again.top != r.top ||
        again.by != r.by || again.group != r.group)
        __builtin_trap();
    return 0;
}
