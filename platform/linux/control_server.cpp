// SPDX-License-Identifier: GPL-2.0-only
#include "control_server.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <new>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"

namespace fa {
namespace {

int fail(char* err, size_t err_len, int rc, const char* fmt, const char* path, const char* why)
{
    if (err != nullptr && err_len > 0) snprintf(err, err_len, fmt, path, why);
    return rc;
}

uint64_t thread_cpu_us()
{
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return uint64_t(ts.tv_sec) * 1000000u + uint64_t(ts.tv_nsec) / 1000u;
}

// Creates the socket's directory (one level, 0700) if it is missing.
int make_parent_dir(const char* path)
{
    char dir[sizeof(sockaddr_un::sun_path)];
    snprintf(dir, sizeof dir, "%s", path);
    char* slash = strrchr(dir, '/');
    if (slash == nullptr || slash == dir) return 0;
    *slash = '\0';
    if (mkdir(dir, 0700) == 0 || errno == EEXIST) return 0;
    return -errno;
}

} // namespace

ControlServer::~ControlServer()
{
    close();
    delete[] buffers_;
}

int ControlServer::open(const char* path, EventLoop& loop, ControlHandler& handler, char* err,
                        size_t err_len)
{
    close();
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path == nullptr || path[0] != '/' || strlen(path) >= sizeof sa.sun_path)
        return fail(err, err_len, -EINVAL, "control socket %s: %s", path ? path : "",
                    "must be an absolute path of at most 107 characters");
    memcpy(sa.sun_path, path, strlen(path));
    if (buffers_ == nullptr) buffers_ = new (std::nothrow) char[kMaxClients * kResponseBytes];
    if (buffers_ == nullptr || snapshot_.init() != Status::ok)
        return fail(err, err_len, -ENOMEM, "control socket %s: %s", path, "out of memory");

    int rc = make_parent_dir(path);
    if (rc < 0)
        return fail(err, err_len, rc, "control socket %s: cannot create its directory: %s",
                    path, strerror(-rc));
    struct stat st{};
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return fail(err, err_len, -EEXIST, "control socket %s: %s", path,
                        "exists and is not a socket (not removed)");
        // A socket file: in use if an agent answers on it, else left by one that died.
        const int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (probe < 0) return fail(err, err_len, -errno, "control socket %s: %s", path,
                                   strerror(errno));
        const int c = connect(probe, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
        const int e = errno;
        ::close(probe);
        if (c == 0 || e == EAGAIN)
            return fail(err, err_len, -EADDRINUSE,
                        "control socket %s: %s", path,
                        "another flowagent is running and answering on it (stop it, or give "
                        "this one another [agent] control_socket)");
        if (unlink(path) != 0 && errno != ENOENT)
            return fail(err, err_len, -errno, "control socket %s: cannot remove stale: %s", path,
                        strerror(errno));
    }
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(err, err_len, -errno, "control socket %s: %s", path, strerror(errno));
    const mode_t old = umask(077);  // owner-only from the moment the file exists
    rc = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    const int bind_errno = errno;
    umask(old);
    if (rc != 0 || chmod(path, 0600) != 0 || listen(fd, 8) != 0) {
        const int e = rc != 0 ? bind_errno : errno;
        ::close(fd);
        if (rc == 0) unlink(path);
        return fail(err, err_len, -e, "control socket %s: %s", path, strerror(e));
    }
    loop_ = &loop;
    handler_ = &handler;
    snprintf(path_, sizeof path_, "%s", path);
    listen_.fd = fd;
    listen_.events = EPOLLIN;
    listen_.cb = on_accept;
    listen_.user = this;
    rc = loop.add(listen_);
    if (rc < 0) {
        close();
        return fail(err, err_len, rc, "control socket %s: %s", path, strerror(-rc));
    }
    snap_timer_.cb = on_snapshot;
    snap_timer_.user = this;
    for (int i = 0; i < kMaxClients; ++i) {
        Client& c = clients_[i];
        c.server = this;
        c.out = buffers_ + size_t(i) * kResponseBytes;
        c.watch.user = &c;
        c.watch.cb = on_client;
        c.deadline.user = &c;
        c.deadline.cb = on_deadline;
    }
    return 0;
}

void ControlServer::close()
{
    if (listen_.fd < 0) return;
    for (Client& c : clients_)
        if (c.state != State::free) drop(c);
    loop_->cancel(snap_timer_);
    loop_->remove(listen_);
    ::close(listen_.fd);
    listen_.fd = -1;
    unlink(path_);
    path_[0] = '\0';
}

void ControlServer::on_accept(Watch& w, uint32_t revents)
{
    (void)revents;
    ControlServer& s = *static_cast<ControlServer*>(w.user);
    for (;;) {
        const int fd = accept4(w.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;  // EAGAIN, or an error the next readiness retries
        Client* c = nullptr;
        for (Client& x : s.clients_)
            if (x.state == State::free) {
                c = &x;
                break;
            }
        if (c == nullptr) {
            ++s.stats_.refused;
            ::close(fd);
            continue;
        }
        c->watch.fd = fd;
        c->watch.events = EPOLLIN;
        c->in.clear();
        c->out_len = c->out_off = 0;
        if (s.loop_->add(c->watch) < 0) {
            ::close(fd);
            continue;
        }
        c->state = State::reading;
        s.loop_->arm(c->deadline, kRequestTimeoutMs);
    }
}

void ControlServer::on_client(Watch& w, uint32_t revents)
{
    Client& c = *static_cast<Client*>(w.user);
    ControlServer& s = *c.server;
    if (c.state == State::reading) {
        s.read_request(c);
    } else if (c.state == State::writing && (revents & EPOLLOUT)) {
        s.write_some(c);
    } else if (revents & (EPOLLHUP | EPOLLERR)) {
        s.drop(c);  // gone while waiting for its snapshot, or while we write
    }
}

void ControlServer::on_deadline(Timer& t)
{
    Client& c = *static_cast<Client*>(t.user);
    ++c.server->stats_.timeouts;
    c.server->drop(c);
}

void ControlServer::read_request(Client& c)
{
    for (;;) {
        if (c.in.space_left() == 0) break;
        const ssize_t n = read(c.watch.fd, c.in.space(), c.in.space_left());
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            drop(c);
            return;
        }
        if (n == 0) {  // EOF before a complete line: nothing to answer
            if (c.in.state() != RequestBuffer::State::complete) {
                drop(c);
                return;
            }
            break;
        }
        c.in.commit(size_t(n));
        if (c.in.state() != RequestBuffer::State::incomplete) break;
    }
    const RequestBuffer::State st = c.in.state();
    if (st == RequestBuffer::State::incomplete) return;
    if (st == RequestBuffer::State::too_long) {
        ++stats_.bad_requests;
        c.req = ControlRequest();
        char m[64];
        snprintf(m, sizeof m, "request longer than %zu bytes", kMaxControlRequest);
        answer_error(c, m);
        return;
    }
    char why[160];
    if (parse_control_request(c.in.data(), c.in.line_length(), c.req, why, sizeof why) !=
        Status::ok) {
        ++stats_.bad_requests;
        c.req = ControlRequest();
        answer_error(c, why);
        return;
    }
    ++stats_.requests;
    if (c.req.command != ControlCommand::flows) {
        const bool status = c.req.command == ControlCommand::status;
        const size_t len = status ? handler_->render_status(c.req, c.out, kResponseBytes)
                                  : handler_->reload_request(c.req, c.out, kResponseBytes);
        if (len == 0) {
            answer_error(c, status ? "status does not fit the response buffer"
                                   : "reload: the answer does not fit the response buffer");
            return;
        }
        c.out_len = len;
        start_write(c);
        return;
    }
    // flows: wait for the snapshot; stop reading (level-triggered EPOLLIN would spin).
    c.state = State::waiting;
    c.watch.events = 0;
    (void)loop_->modify(c.watch);
    schedule_snapshot();
}

void ControlServer::answer_error(Client& c, const char* msg)
{
    // The message is printable ASCII (the parser escapes bytes); quote and backslash are
    // escaped for JSON.
    size_t o = 0;
    const bool json = c.req.format == ControlFormat::json;
    o += size_t(snprintf(c.out, kResponseBytes, json ? "{\"error\":\"" : "error: "));
    for (const char* p = msg; *p != 0 && o + 8 < kResponseBytes; ++p) {
        if (json && (*p == '"' || *p == '\\')) c.out[o++] = '\\';
        c.out[o++] = *p;
    }
    o += size_t(snprintf(c.out + o, kResponseBytes - o, json ? "\"}\n" : "\n"));
    c.out_len = o;
    start_write(c);
}

void ControlServer::start_write(Client& c)
{
    c.state = State::writing;
    c.out_off = 0;
    c.watch.events = EPOLLOUT;
    (void)loop_->modify(c.watch);
    loop_->arm(c.deadline, kConnectionTimeoutMs);
    write_some(c);
}

void ControlServer::write_some(Client& c)
{
    while (c.out_off < c.out_len) {
        const ssize_t n = send(c.watch.fd, c.out + c.out_off, c.out_len - c.out_off,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // wait for EPOLLOUT
            drop(c);
            return;
        }
        c.out_off += size_t(n);
    }
    // All written: close, the client reads to EOF. Unread input (the rest of an oversized
    // request) would make the close a reset that can destroy the answer in flight: discard
    // what is there, a bounded amount, first.
    char sink[4096];
    for (int i = 0; i < 16 && read(c.watch.fd, sink, sizeof sink) > 0; ++i) {
    }
    drop(c);
}

void ControlServer::drop(Client& c)
{
    if (c.state == State::free) return;
    loop_->remove(c.watch);
    ::close(c.watch.fd);
    c.watch.fd = -1;
    loop_->cancel(c.deadline);
    c.state = State::free;
    c.in.clear();
    if (snap_client_ == &c) {
        snap_client_ = nullptr;
        schedule_snapshot();
    }
}

void ControlServer::schedule_snapshot()
{
    if (snap_client_ != nullptr) return;
    for (Client& c : clients_) {
        if (c.state != State::waiting) continue;
        snap_table_ = handler_->flow_table();
        snapshot_.begin(c.req, EventLoop::now_ms());
        snap_client_ = &c;
        loop_->arm(snap_timer_, 0);
        return;
    }
}

void ControlServer::on_snapshot(Timer& t)
{
    ControlServer& s = *static_cast<ControlServer*>(t.user);
    Client* c = s.snap_client_;
    if (c == nullptr) return;
    const uint64_t t0 = EventLoop::now_us();
    const uint64_t c0 = thread_cpu_us();
    s.step_snapshot(*c);
    const uint64_t took = EventLoop::now_us() - t0;
    const uint64_t cpu = thread_cpu_us() - c0;
    ++s.stats_.snapshot_steps;
    if (took > s.stats_.max_step_us) s.stats_.max_step_us = took;
    if (cpu > s.stats_.max_step_cpu_us) s.stats_.max_step_cpu_us = cpu;
    // Next step's budget, from the CPU time (wall time also counts other processes' turns):
    // halve after a long step, double after a short one.
    if (cpu > 2 * kStepTargetUs && s.step_buckets_ > kMinStepBuckets) s.step_buckets_ /= 2;
    if (cpu < kStepTargetUs / 2 && s.step_buckets_ < kMaxStepBuckets) s.step_buckets_ *= 2;
}

void ControlServer::step_snapshot(Client& c)
{
    const FlowTable* table = handler_->flow_table();
    if (table != snap_table_) {  // a reload replaced the table: start over on the new one
        snap_table_ = table;
        snapshot_.begin(c.req, EventLoop::now_ms());
    }
    if (table != nullptr && !snapshot_.step(*table, step_buckets_)) {
        loop_->arm(snap_timer_, 0);
        return;
    }
    snap_client_ = nullptr;
    const size_t len = table != nullptr ? snapshot_.render(c.out, kResponseBytes) : 0;
    if (len == 0) {
        answer_error(c, table == nullptr ? "no flow table" : "response too large");
    } else {
        c.out_len = len;
        start_write(c);
    }
    schedule_snapshot();
}

} // namespace fa
