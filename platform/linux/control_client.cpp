// SPDX-License-Identifier: GPL-2.0-only
#include "control_client.h"

#include <new>
#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "app/config_parse.h"

namespace fa {
namespace {

constexpr size_t kClientBuffer = 256 * 1024;
constexpr int kTimeoutS = 5;
// A reload runs in the agent's loop before it answers: a datapath change flushes the table and
// paces out the collectors that go away within their stop_timeout.
constexpr int kReloadTimeoutS = 120;

const char* socket_path(const CliOptions& cli, int* exit_code)
{
    if (cli.socket_path != nullptr) return cli.socket_path;
    if (cli.config_path == nullptr) return kDefaultControlSocket;
    // Built in zeroed static storage (.bss): a `static Config` with its default member
    // initialisers is 3.7 KB of initialised data in the binary (the router size budget).
    alignas(Config) static unsigned char cfg_storage[sizeof(Config)];
    Config& cfg = *new (cfg_storage) Config();
    ConfigError err;
    if (parse_config_file(cli.config_path, cfg, err) != Status::ok) {
        std::fprintf(stderr, "flowagent: error: %s\n", err.message);
        *exit_code = 2;
        return nullptr;
    }
    return cfg.control_socket;
}

bool is_error(const char* resp)
{
    return std::strncmp(resp, "{\"error\"", 8) == 0 || std::strncmp(resp, "error: ", 7) == 0;
}

void say_unreachable(const char* path, long rc)
{
    std::fprintf(stderr,
                 "flowagent: cannot talk to the agent on %s: %s (is it running? as the user "
                 "that runs it? see --socket and [agent] control_socket)\n",
                 path, std::strerror(int(-rc)));
}

// ----- top -----------------------------------------------------------------------------------
// Plain fixed arrays, no std containers: the router build links libstdc++ statically and
// must not pull in its exception machinery (platform/linux/cxx_runtime.cpp).

constexpr size_t kKeyLen = 96;
constexpr int kHistory = 3;  // rates over the last ~2 s: oldest of three refreshes

struct Row {
    char key[kKeyLen];
    uint64_t flows, packets, bytes, bps, pps;  // bps/pps: the agent's average
    double live_bps, live_pps;                  // between refreshes; < 0 unknown
};

struct Sample {
    double t;
    int n;
    Row rows[kMaxTop];
    Row total;
};

double now_s()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

// 1234567 -> "1.23M"
void human(double v, char* out, size_t len)
{
    static const char units[] = " kMGTP";
    int u = 0;
    while (v >= 999.5 && u < 5) {
        v /= 1000.0;
        ++u;
    }
    if (u == 0) std::snprintf(out, len, "%.0f", v);
    else std::snprintf(out, len, "%.*f%c", v < 9.995 ? 2 : v < 99.95 ? 1 : 0, v, units[u]);
}

// The agent's TSV answer: "total" line, then one line per row. Returns false if malformed.
bool parse_tsv(const char* text, Sample& s)
{
    s.n = 0;
    bool have_total = false;
    const char* p = text;
    while (*p != 0) {
        const char* nl = std::strchr(p, '\n');
        if (nl == nullptr) break;
        char line[256];
        const size_t ln = size_t(nl - p) < sizeof line - 1 ? size_t(nl - p) : sizeof line - 1;
        std::memcpy(line, p, ln);
        line[ln] = '\0';
        p = nl + 1;
        Row r{};
        unsigned long long f, pk, by, bps, pps;
        if (std::sscanf(line, "%95[^\t]\t%llu\t%llu\t%llu\t%llu\t%llu", r.key, &f, &pk, &by, &bps,
                        &pps) != 6)
            return false;
        r.flows = f;
        r.packets = pk;
        r.bytes = by;
        r.bps = bps;
        r.pps = pps;
        r.live_bps = r.live_pps = -1;
        if (!have_total) {
            s.total = r;
            have_total = true;
        } else if (s.n < int(kMaxTop)) {
            s.rows[s.n++] = r;
        }
    }
    return have_total;
}

const Row* find(const Sample& s, const char* key)
{
    for (int i = 0; i < s.n; ++i)
        if (std::strcmp(s.rows[i].key, key) == 0) return &s.rows[i];
    return nullptr;
}

struct Terminal {
    bool raw = false;
    termios saved{};
    void enter()
    {
        if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved) != 0) return;
        termios t = saved;
        t.c_lflag &= ~tcflag_t(ICANON | ECHO);
        t.c_cc[VMIN] = 0;
        t.c_cc[VTIME] = 0;
        raw = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
        std::fputs("\033[?25l", stdout);  // hide the cursor
    }
    void leave()
    {
        if (raw) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        std::fputs("\033[?25h\n", stdout);
        std::fflush(stdout);
    }
};

volatile sig_atomic_t g_stop = 0;
void on_stop_signal(int) { g_stop = 1; }

void term_size(int& cols, int& lines)
{
    cols = 80;
    lines = 24;
    winsize ws{};
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
        cols = ws.ws_col;
        lines = ws.ws_row;
    }
}

// One screen line, cut to the terminal's width, clearing the rest of the line.
void put_line(int cols, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void put_line(int cols, const char* fmt, ...)
{
    char b[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    if (cols < int(sizeof b)) b[cols] = '\0';
    std::fputs(b, stdout);
    std::fputs("\033[K\n", stdout);
}

// Rates of `now` against `base` (an earlier refresh), where the counters only grew.
void live_rates(Sample& now, const Sample* base, double& tot_bps, double& tot_pps)
{
    tot_bps = double(now.total.bps);
    tot_pps = double(now.total.pps);
    const double dt = base != nullptr ? now.t - base->t : 0;
    for (int i = 0; i < now.n; ++i) {
        Row& x = now.rows[i];
        const Row* b = dt > 0 ? find(*base, x.key) : nullptr;
        if (b != nullptr && x.bytes >= b->bytes && x.packets >= b->packets) {
            x.live_bps = double(x.bytes - b->bytes) * 8.0 / dt;
            x.live_pps = double(x.packets - b->packets) / dt;
        } else {  // new group, or its flows were exported meanwhile: the agent's average
            x.live_bps = double(x.bps);
            x.live_pps = double(x.pps);
        }
    }
    if (dt > 0 && now.total.bytes >= base->total.bytes &&
        now.total.packets >= base->total.packets) {
        tot_bps = double(now.total.bytes - base->total.bytes) * 8.0 / dt;
        tot_pps = double(now.total.packets - base->total.packets) / dt;
    }
}

void sort_by_live_rate(Sample& s)
{
    for (int i = 1; i < s.n; ++i) {  // insertion sort, stable; at most kMaxTop rows
        const Row x = s.rows[i];
        int j = i;
        while (j > 0 && s.rows[j - 1].live_bps < x.live_bps) {
            s.rows[j] = s.rows[j - 1];
            --j;
        }
        s.rows[j] = x;
    }
}

int run_top(const char* path, const CliOptions& cli)
{
    static const SortBy kSorts[] = {SortBy::bytes, SortBy::packets, SortBy::rate};
    static const GroupBy kGroups[] = {GroupBy::flow, GroupBy::src, GroupBy::dst,
                                      GroupBy::pair, GroupBy::port, GroupBy::proto};
    static char buf[kClientBuffer];
    static Sample history[kHistory];  // ring of the last refreshes
    int hist_n = 0, hist_next = 0;
    SortBy by = cli.by;
    GroupBy group = cli.group;
    Terminal term;
    term.enter();
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    int rc = 0;
    while (g_stop == 0) {
        ControlRequest r;
        r.command = ControlCommand::flows;
        r.format = ControlFormat::tsv;
        r.top = kMaxTop;
        // Rate order needs the live rates of many groups: ask for the busiest by bytes and
        // sort here; bytes and packets come sorted from the agent.
        r.by = by == SortBy::rate ? SortBy::bytes : by;
        r.group = group;
        const long n = control_query(path, r, buf, sizeof buf);
        int cols, lines;
        term_size(cols, lines);
        std::fputs("\033[H", stdout);
        Sample& s = history[hist_next];
        if (n < 0 || is_error(buf) || !parse_tsv(buf, s)) {
            put_line(cols, "flowagent top: %s", n < 0 ? std::strerror(int(-n)) : buf);
            rc = 1;
        } else {
            rc = 0;
            s.t = now_s();
            // The oldest refresh kept is the base of the rates.
            const Sample* base = hist_n > 0 ? &history[(hist_next + kHistory - hist_n) % kHistory]
                                            : nullptr;
            double tot_bps, tot_pps;
            live_rates(s, base, tot_bps, tot_pps);
            if (by == SortBy::rate) sort_by_live_rate(s);
            hist_next = (hist_next + 1) % kHistory;
            if (hist_n < kHistory - 1) ++hist_n;
            char clock[16], a[16], b[16], c[16], d[16];
            const time_t wall = time(nullptr);
            strftime(clock, sizeof clock, "%H:%M:%S", localtime(&wall));
            put_line(cols, "flowagent top  %s  sort: %s  group: %s", clock, sort_by_name(by),
                     group_by_name(group));
            human(tot_bps, a, sizeof a);
            human(tot_pps, b, sizeof b);
            put_line(cols, "total: %" PRIu64 " flows  %s bit/s  %s pkt/s", s.total.flows, a, b);
            put_line(cols, "%s", "");
            put_line(cols, "%7s %7s %7s %7s %5s  %s", "BIT/S", "PKT/S", "BYTES", "PKTS", "FLOWS",
                     group == GroupBy::flow ? "FLOW" : "GROUP");
            const int room = lines - 6;
            for (int i = 0; i < room && i < s.n; ++i) {
                const Row& x = s.rows[i];
                human(x.live_bps, a, sizeof a);
                human(x.live_pps, b, sizeof b);
                human(double(x.bytes), c, sizeof c);
                human(double(x.packets), d, sizeof d);
                put_line(cols, "%7s %7s %7s %7s %5" PRIu64 "  %s", a, b, c, d, x.flows, x.key);
            }
        }
        std::printf("\033[J\033[%d;1H", lines);  // clear the rest; the key line at the bottom
        const char keys[] = "keys: s sort  g group  b/p/r bytes/packets/rate  q quit";
        std::printf("%.*s", cols > 1 ? cols - 1 : 1, keys);
        std::fflush(stdout);
        // Wait for a key or the next second.
        const double until = now_s() + 1.0;
        bool changed = false;
        while (g_stop == 0 && !changed) {
            const int ms = int((until - now_s()) * 1000);
            if (ms <= 0) break;
            pollfd pfd{STDIN_FILENO, POLLIN, 0};
            if (poll(&pfd, 1, ms) <= 0) continue;
            char k;
            if (read(STDIN_FILENO, &k, 1) != 1) {
                g_stop = 1;  // stdin closed
                break;
            }
            switch (k) {
            case 'q': case 'Q': g_stop = 1; break;
            case 's': by = kSorts[(int(by) + 1) % 3]; changed = true; break;
            case 'b': by = SortBy::bytes; changed = true; break;
            case 'p': by = SortBy::packets; changed = true; break;
            case 'r': by = SortBy::rate; changed = true; break;
            case 'g':
                group = kGroups[(int(group) + 1) % 6];
                hist_n = 0;  // other keys: the rates start over
                changed = true;
                break;
            default: break;
            }
        }
    }
    term.leave();
    return rc;
}

} // namespace

long control_query(const char* path, const ControlRequest& r, char* buf, size_t len)
{
    if (len == 0) return -EINVAL;
    buf[0] = '\0';
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (std::strlen(path) >= sizeof sa.sun_path) return -ENAMETOOLONG;
    std::memcpy(sa.sun_path, path, std::strlen(path));
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    timeval tv{r.command == ControlCommand::reload ? kReloadTimeoutS : kTimeoutS, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    long rc = 0;
    char req[kMaxControlRequest];
    const size_t rl = format_control_request(r, req, sizeof req);
    if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
        send(fd, req, rl, MSG_NOSIGNAL) != ssize_t(rl)) {
        rc = -errno;
        close(fd);
        return rc;
    }
    size_t used = 0;
    for (;;) {
        if (used + 1 >= len) {
            rc = -EMSGSIZE;
            break;
        }
        const ssize_t n = read(fd, buf + used, len - 1 - used);
        if (n < 0) {
            if (errno == EINTR) continue;
            rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
            break;
        }
        if (n == 0) break;
        used += size_t(n);
    }
    buf[used] = '\0';
    close(fd);
    return rc < 0 ? rc : long(used);
}

int run_control_command(const CliOptions& cli)
{
    int code = 0;
    const char* path = socket_path(cli, &code);
    if (path == nullptr) return code;
    if (cli.command == CliCommand::top) return run_top(path, cli);
    ControlRequest r;
    r.command = cli.command == CliCommand::status   ? ControlCommand::status
                : cli.command == CliCommand::reload ? ControlCommand::reload
                                                    : ControlCommand::flows;
    r.format = cli.json ? ControlFormat::json : ControlFormat::text;
    if (cli.top != 0) r.top = cli.top;
    r.by = cli.by;
    r.group = cli.group;
    static char buf[kClientBuffer];
    const long n = control_query(path, r, buf, sizeof buf);
    if (n < 0) {
        say_unreachable(path, n);
        return 1;
    }
    if (n == 0) {
        std::fprintf(stderr, "flowagent: empty answer from the agent on %s\n", path);
        return 1;
    }
    if (is_error(buf)) {
        std::fprintf(stderr, "flowagent: the agent answered: %s", buf);
        return 1;
    }
    std::fwrite(buf, 1, size_t(n), stdout);
    return 0;
}

} // namespace fa
