// SPDX-License-Identifier: GPL-2.0-only
// Benchmark tool: attaches one program of a BPF object to one interface and holds it there
// until SIGTERM or SIGINT, then detaches and exits 0. tests/bench/e2e_cpu.sh uses it to
// measure what a hook costs with nothing or with a plain hash meter in it (the baseline
// programs of tests/bpf/bench_baseline.bpf.c), beside flowagent on the same hook.
//
// Usage: fa_hook OBJECT PROGRAM xdp|tcx_ingress IFNAME [redirect TARGET_IFNAME]
//   xdp          native (driver) mode, as flowagent attaches
//   tcx_ingress  a tcx link (kernel 6.6+), as flowagent attaches on such kernels
//   redirect     writes TARGET_IFNAME's ifindex into the object's devmap fa_redir, key 0
//                (for fa_bench_redirect)
// Prints "attached PROGRAM to IFNAME (HOOK)" on stderr once the program is in place.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

namespace {

constexpr int kTcxIngress = 46;  // BPF_TCX_INGRESS (older uapi headers lack it)

int usage()
{
    std::fprintf(stderr,
                 "usage: fa_hook OBJECT PROGRAM xdp|tcx_ingress IFNAME [redirect TARGET]\n");
    return 2;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc != 5 && !(argc == 7 && std::strcmp(argv[5], "redirect") == 0)) return usage();
    const char* path = argv[1];
    const char* name = argv[2];
    const bool xdp = std::strcmp(argv[3], "xdp") == 0;
    if (!xdp && std::strcmp(argv[3], "tcx_ingress") != 0) return usage();
    const unsigned ifindex = if_nametoindex(argv[4]);
    if (ifindex == 0) {
        std::fprintf(stderr, "fa_hook: no interface %s: %s\n", argv[4], std::strerror(errno));
        return 1;
    }
    bpf_object* obj = bpf_object__open_file(path, nullptr);
    if (obj == nullptr) {
        std::fprintf(stderr, "fa_hook: cannot open %s: %s\n", path, std::strerror(errno));
        return 1;
    }
    bpf_program* prog = bpf_object__find_program_by_name(obj, name);
    if (prog == nullptr) {
        std::fprintf(stderr, "fa_hook: %s has no program %s\n", path, name);
        return 1;
    }
    // Load only the program asked for (and the maps): the object holds others.
    for (bpf_program* p = bpf_object__next_program(obj, nullptr); p != nullptr;
         p = bpf_object__next_program(obj, p))
        bpf_program__set_autoload(p, p == prog);
    if (bpf_object__load(obj) != 0) {
        std::fprintf(stderr, "fa_hook: cannot load %s: %s\n", path, std::strerror(errno));
        return 1;
    }
    if (argc == 7) {
        const unsigned target = if_nametoindex(argv[6]);
        const int map = bpf_object__find_map_fd_by_name(obj, "fa_redir");
        const uint32_t zero = 0;
        if (target == 0 || map < 0 || bpf_map_update_elem(map, &zero, &target, BPF_ANY) != 0) {
            std::fprintf(stderr, "fa_hook: cannot set redirect target %s: %s\n", argv[6],
                         std::strerror(errno));
            return 1;
        }
    }
    const int fd = bpf_program__fd(prog);
    int link = -1;
    if (xdp) {
        if (bpf_xdp_attach(int(ifindex), fd, XDP_FLAGS_DRV_MODE, nullptr) != 0) {
            std::fprintf(stderr, "fa_hook: cannot attach XDP to %s: %s\n", argv[4],
                         std::strerror(errno));
            return 1;
        }
    } else {
        link = bpf_link_create(fd, int(ifindex), bpf_attach_type(kTcxIngress), nullptr);
        if (link < 0) {
            std::fprintf(stderr, "fa_hook: cannot attach tcx to %s: %s\n", argv[4],
                         std::strerror(errno));
            return 1;
        }
    }
    std::fprintf(stderr, "attached %s to %s (%s)\n", name, argv[4], argv[3]);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    int sig = 0;
    sigwait(&set, &sig);

    if (xdp)
        bpf_xdp_detach(int(ifindex), XDP_FLAGS_DRV_MODE, nullptr);
    else
        close(link);
    bpf_object__close(obj);
    return 0;
}
