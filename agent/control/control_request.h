// SPDX-License-Identifier: GPL-2.0-only
// The control socket's request: one line of text from a local client (flowagent status /
// flows / top, the rpcd plugin through them). Untrusted input: parsed strictly, fuzzed
// (tests/fuzz/fuzz_control_request.cpp).
//
//   request = command *(" " key "=" value) "\n"          at most kMaxControlRequest bytes
//   status  [format=json|text]
//   flows   [top=1..kMaxTop] [by=bytes|packets|rate] [group=flow|src|dst|pair|port|proto]
//           [format=json|text|tsv]
//   reload  [format=json|text]     re-read the config file, as SIGHUP does
// Keys at most once each; only printable ASCII; anything else is an error with a message.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/status.h"

namespace fa {

constexpr size_t kMaxControlRequest = 256;  // bytes, including the '\n'
constexpr uint32_t kMaxTop = 200;
constexpr uint32_t kDefaultTop = 20;

enum class ControlCommand : uint8_t { status, flows, reload };
enum class ControlFormat : uint8_t { json, text, tsv };
enum class SortBy : uint8_t { bytes, packets, rate };
enum class GroupBy : uint8_t { flow, src, dst, pair, port, proto };

struct ControlRequest {
    ControlCommand command = ControlCommand::status;
    ControlFormat format = ControlFormat::json;
    uint32_t top = kDefaultTop;
    SortBy by = SortBy::bytes;
    GroupBy group = GroupBy::flow;
};

// Parses one request line (`len` bytes, the trailing '\n' included or not). Returns
// Status::ok, or Status::bad_input with a one-line reason in err (printable ASCII only).
[[nodiscard]] Status parse_control_request(const char* line, size_t len, ControlRequest& out,
                                           char* err, size_t err_len);

// Writes the request line for `r` (with '\n'); returns its length, 0 if it does not fit.
size_t format_control_request(const ControlRequest& r, char* buf, size_t len);

// Names as used on the wire and on the command line; parse_* return false for others.
const char* sort_by_name(SortBy b);
const char* group_by_name(GroupBy g);
bool parse_sort_by(const char* s, size_t n, SortBy& out);
bool parse_group_by(const char* s, size_t n, GroupBy& out);

// Splits a byte stream into request lines: the server appends what it reads and takes one
// complete line. Bounded: a line longer than kMaxControlRequest is an error, not a wait.
class RequestBuffer {
public:
    enum class State : uint8_t { incomplete, complete, too_long };
    // Appends up to n bytes; returns how many were taken.
    size_t append(const char* data, size_t n);
    State state() const;
    const char* data() const { return buf_; }
    size_t line_length() const;  // up to and including the '\n' when complete
    void clear() { used_ = 0; }
    char* space() { return buf_ + used_; }
    size_t space_left() const { return sizeof buf_ - used_; }
    void commit(size_t n) { used_ += n; }

private:
    char buf_[kMaxControlRequest];
    size_t used_ = 0;
};

} // namespace fa
