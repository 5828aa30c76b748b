// SPDX-License-Identifier: GPL-2.0-only
// libFuzzer target for the config parser: any bytes as an INI file. Must never crash, hang or
// read out of bounds (built with ASan/UBSan), and a refused file must get a message that names
// the file, fits its buffer and is one line.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "app/config_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string text(reinterpret_cast<const char*>(data), size);  // NUL-terminated copy
    fa::Config cfg;
    fa::ConfigError err;
    if (fa::parse_config_string(text.c_str(), "fuzz.ini", cfg, err) == fa::Status::ok) return 0;
    const size_t n = strnlen(err.message, sizeof err.message);
    if (n == 0 || n == sizeof err.message) __builtin_trap();     // empty or unterminated
    if (std::strncmp(err.message, "fuzz.ini", 8) != 0) __builtin_trap();  // names the file
    if (std::memchr(err.message, '\n', n) != nullptr) __builtin_trap();    // one line
    return 0;
}
