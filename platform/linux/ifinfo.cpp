// SPDX-License-Identifier: GPL-2.0-only
#include "ifinfo.h"

#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <net/if.h>
#include <unistd.h>

#include "core/log.h"

namespace fa {
namespace {
// The first line of the alias. open/read, not stdio: called on link events too, where nothing
// may be allocated.
void read_alias(const char* name, char* out, size_t len)
{
    char path[96];
    std::snprintf(path, sizeof path, "/sys/class/net/%s/ifalias", name);
    out[0] = 0;
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    const ssize_t n = ::read(fd, out, len - 1);
    ::close(fd);
    size_t end = n > 0 ? size_t(n) : 0;
    out[end] = 0;
    for (size_t i = 0; i < end; ++i) {
        if (out[i] == '\n' || out[i] == '\r') {
            out[i] = 0;
            break;
        }
    }
}

bool fill(const char* name, unsigned idx, InterfaceInfo& info)
{
    describe_interface(name, idx, info);
    return true;
}
} // namespace

void describe_interface(const char* name, uint32_t ifindex, InterfaceInfo& info)
{
    info = InterfaceInfo{};
    info.ifindex = ifindex;
    std::snprintf(info.name, sizeof info.name, "%s", name);
    read_alias(name, info.descr, sizeof info.descr);
}

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
