// SPDX-License-Identifier: GPL-2.0-only
// The client side of the control socket: `flowagent status`, `flowagent flows`, `flowagent top`.
#pragma once
#include <cstddef>

#include "app/cli.h"
#include "control/control_request.h"

namespace fa {

// Sends one request to the agent at `path` and reads the whole response into buf (NUL-
// terminated). Returns its length, or a negative errno (connect, timeout after 5 s). A response
// that does not fit is cut (still NUL-terminated) and -EMSGSIZE returned.
long control_query(const char* path, const ControlRequest& r, char* buf, size_t len);

// Runs cli.command (status, flows or top) and returns the exit code: 0, 1 when the agent
// cannot be reached or answered with an error, 2 for a config that cannot be read.
int run_control_command(const CliOptions& cli);

} // namespace fa
