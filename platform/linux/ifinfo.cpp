// SPDX-License-Identifier: GPL-2.0-only
#include "ifinfo.h"

#include <cstdio>
#include <cstring>
#include <net/if.h>

#include "core/log.h"

namespace fa {
namespace {
void read_alias(const char* name, char* out, size_t len)
{
    char path[96];
    std::snprintf(path, sizeof path, "/sys/class/net/%s/ifalias", name);
    FILE* f = std::fopen(path, "re");
    out[0] = 0;
    if (!f) return;
    if (std::fgets(out, int(len), f)) {
        size_t n = std::strlen(out);
        while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r')) out[--n] = 0;
    }
    std::fclose(f);
}

bool fill(const char* name, unsigned idx, InterfaceInfo& info)
{
    info = InterfaceInfo{};
    info.ifindex = idx;
    std::snprintf(info.name, sizeof info.name, "%s", name);
    read_alias(name, info.descr, sizeof info.descr);
    return true;
}
} // namespace

int collect_interfaces(const char (*names)[16], int count, InterfaceInfo* out, int max)
{
    int n = 0;
    for (int i = 0; i < count && n < max; ++i) {
        unsigned idx = if_nametoindex(names[i]);
        if (idx == 0) {
            // Logged where it matters: the source waits for it, the link monitor follows it.
            FA_DEBUG("interface %s: not found, left out of the interface table", names[i]);
            continue;
        }
        fill(names[i], idx, out[n++]);
    }
    return n;
}

int collect_all_interfaces(InterfaceInfo* out, int max)
{
    struct if_nameindex* list = if_nameindex();
    if (!list) return 0;
    int n = 0;
    for (struct if_nameindex* p = list; p->if_index != 0 && n < max; ++p) {
        fill(p->if_name, p->if_index, out[n++]);
    }
    if_freenameindex(list);
    return n;
}

} // namespace fa
