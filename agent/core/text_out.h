// SPDX-License-Identifier: GPL-2.0-only
// printf into a caller's fixed buffer; `ok` turns false (and stays) once something did not fit.
#pragma once
#include <cstdarg>
#include <cstddef>
#include <cstdio>

namespace fa {

struct TextOut {
    char* buf;
    size_t len;
    size_t used = 0;
    bool ok = true;
    void put(const char* fmt, ...) __attribute__((format(printf, 2, 3)))
    {
        if (!ok) return;
        va_list ap;
        va_start(ap, fmt);
        const int n = std::vsnprintf(buf + used, len - used, fmt, ap);
        va_end(ap);
        if (n < 0 || size_t(n) >= len - used) ok = false;
        else used += size_t(n);
    }
};

} // namespace fa
