// SPDX-License-Identifier: GPL-2.0-only
#include "control_client.h"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <poll.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>
#include <unordered_map>
#include <vector>

#include "app/config_parse.h"

namespace fa {
namespace {

constexpr size_t kClientBuffer = 256 * 1024;
constexpr int kTimeoutS = 5;

const char* socket_path(const CliOptions& cli, int* exit_code)
{
    if (cli.socket_path != nullptr) return cli.socket_path;
    if (cli.config_path == nullptr) return kDefaultControlSocket;
    static Config cfg;
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

struct Row {
    std::string key;
    uint64_t flows = 0, packets = 0, bytes = 0, bps = 0, pps = 0;  // bps/pps: server average
    double live_bps = -1, live_pps = -1;  // from two refreshes; < 0 unknown
};

struct Sample {
    double t = 0;
    std::unordered_map<std::string, std::pair<uint64_t, uint64_t>> counters;  // packets, bytes
    uint64_t total_packets = 0, total_bytes = 0;
};

double now_s()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

// 1234567 -> "1.23M"
std::string human(double v)
{
    static const char units[] = " kMGTP";
    int u = 0;
    while (v >= 999.5 && u < 5) {
        v /= 1000.0;
        ++u;
    }
    char b[16];
    if (u == 0) std::snprintf(b, sizeof b, "%.0f", v);
    else std::snprintf(b, sizeof b, "%.*f%c", v < 9.995 ? 2 : v < 99.95 ? 1 : 0, v, units[u]);
    return b;
}

bool parse_tsv(const char* text, Row& total, std::vector<Row>& rows)
{
    rows.clear();
    bool have_total = false;
    const char* p = text;
    while (*p != 0) {
        const char* nl = std::strchr(p, '\n');
        if (nl == nullptr) break;
        std::string line(p, size_t(nl - p));
        p = nl + 1;
        Row r;
        char key[160];
        unsigned long long f, pk, by, bps, pps;
        if (std::sscanf(line.c_str(), "%159[^\t]\t%llu\t%llu\t%llu\t%llu\t%llu", key, &f, &pk,
                        &by, &bps, &pps) != 6)
            return false;
        r.key = key;
        r.flows = f;
        r.packets = pk;
        r.bytes = by;
        r.bps = bps;
        r.pps = pps;
        if (!have_total) {
            total = r;
            have_total = true;
        } else {
            rows.push_back(r);
        }
    }
    return have_total;
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

int run_top(const char* path, const CliOptions& cli)
{
    static const SortBy kSorts[] = {SortBy::bytes, SortBy::packets, SortBy::rate};
    static const GroupBy kGroups[] = {GroupBy::flow, GroupBy::src, GroupBy::dst,
                                      GroupBy::pair, GroupBy::port, GroupBy::proto};
    SortBy by = cli.by;
    GroupBy group = cli.group;
    std::vector<char> buf(kClientBuffer);
    std::vector<Sample> history;  // the last refreshes, oldest first (rates over ~2 s)
    Terminal term;
    term.enter();
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    int rc = 0;
    bool redraw_now = true;
    while (g_stop == 0) {
        ControlRequest r;
        r.command = ControlCommand::flows;
        r.format = ControlFormat::tsv;
        r.top = kMaxTop;
        // Rate order needs the live rates of many groups: ask for the busiest by bytes and
        // sort here; bytes and packets come sorted from the agent.
        r.by = by == SortBy::rate ? SortBy::bytes : by;
        r.group = group;
        const long n = control_query(path, r, buf.data(), buf.size());
        int cols, lines;
        term_size(cols, lines);
        std::string screen = "\033[H";
        auto line = [&](const std::string& s) {
            screen += s.substr(0, size_t(cols));
            screen += "\033[K\n";
        };
        Row total;
        std::vector<Row> rows;
        if (n < 0 || is_error(buf.data()) || !parse_tsv(buf.data(), total, rows)) {
            line("flowagent top: " + std::string(n < 0 ? std::strerror(int(-n)) : buf.data()));
            rc = 1;
        } else {
            rc = 0;
            Sample s;
            s.t = now_s();
            s.total_packets = total.packets;
            s.total_bytes = total.bytes;
            for (const Row& x : rows) s.counters[x.key] = {x.packets, x.bytes};
            const Sample* base = history.empty() ? nullptr : &history.front();
            double tot_bps = double(total.bps), tot_pps = double(total.pps);
            if (base != nullptr && s.t > base->t) {
                const double dt = s.t - base->t;
                for (Row& x : rows) {
                    auto it = base->counters.find(x.key);
                    if (it != base->counters.end() && x.bytes >= it->second.second &&
                        x.packets >= it->second.first) {
                        x.live_pps = double(x.packets - it->second.first) / dt;
                        x.live_bps = double(x.bytes - it->second.second) * 8.0 / dt;
                    }
                }
                if (total.bytes >= base->total_bytes && total.packets >= base->total_packets) {
                    tot_bps = double(total.bytes - base->total_bytes) * 8.0 / dt;
                    tot_pps = double(total.packets - base->total_packets) / dt;
                }
            }
            for (Row& x : rows) {
                if (x.live_bps < 0) {  // new group, or its flows were exported meanwhile
                    x.live_bps = double(x.bps);
                    x.live_pps = double(x.pps);
                }
            }
            if (by == SortBy::rate)
                std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
                    return a.live_bps > b.live_bps;
                });
            history.push_back(std::move(s));
            if (history.size() > 3) history.erase(history.begin());
            char hdr[256];
            time_t wall = time(nullptr);
            char clock[16];
            strftime(clock, sizeof clock, "%H:%M:%S", localtime(&wall));
            std::snprintf(hdr, sizeof hdr, "flowagent top  %s  sort: %s  group: %s", clock,
                          sort_by_name(by), group_by_name(group));
            line(hdr);
            std::snprintf(hdr, sizeof hdr, "total: %" PRIu64 " flows  %s bit/s  %s pkt/s",
                          total.flows, human(tot_bps).c_str(), human(tot_pps).c_str());
            line(hdr);
            line("");
            std::snprintf(hdr, sizeof hdr, "%7s %7s %7s %7s %5s  %s", "BIT/S", "PKT/S", "BYTES",
                          "PKTS", "FLOWS", group == GroupBy::flow ? "FLOW" : "GROUP");
            line(hdr);
            const int room = lines - 6;
            for (int i = 0; i < room && size_t(i) < rows.size(); ++i) {
                const Row& x = rows[size_t(i)];
                std::snprintf(hdr, sizeof hdr, "%7s %7s %7s %7s %5" PRIu64 "  %s",
                              human(x.live_bps).c_str(), human(x.live_pps).c_str(),
                              human(double(x.bytes)).c_str(), human(double(x.packets)).c_str(),
                              x.flows, x.key.c_str());
                line(hdr);
            }
        }
        screen += "\033[J";  // clear the rest
        std::snprintf(buf.data(), 128, "\033[%d;1H", lines);
        screen += buf.data();
        screen += std::string("keys: s sort  g group  b/p/r bytes/packets/rate  q quit")
                      .substr(0, size_t(cols > 1 ? cols - 1 : 1));
        std::fputs(screen.c_str(), stdout);
        std::fflush(stdout);
        (void)redraw_now;
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
                history.clear();  // other keys: the rates start over
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
    timeval tv{kTimeoutS, 0};
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
    r.command = cli.command == CliCommand::status ? ControlCommand::status : ControlCommand::flows;
    r.format = cli.json ? ControlFormat::json : ControlFormat::text;
    if (cli.top != 0) r.top = cli.top;
    r.by = cli.by;
    r.group = cli.group;
    std::vector<char> buf(kClientBuffer);
    const long n = control_query(path, r, buf.data(), buf.size());
    if (n < 0) {
        say_unreachable(path, n);
        return 1;
    }
    if (n == 0) {
        std::fprintf(stderr, "flowagent: empty answer from the agent on %s\n", path);
        return 1;
    }
    if (is_error(buf.data())) {
        std::fprintf(stderr, "flowagent: the agent answered: %s", buf.data());
        return 1;
    }
    std::fwrite(buf.data(), 1, size_t(n), stdout);
    return 0;
}

} // namespace fa
