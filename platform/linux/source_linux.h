// SPDX-License-Identifier: GPL-2.0-only
// A traffic source as the event loop sees it (xdp, tc, conntrack, generator).
#pragma once
#include <unistd.h>

#include "app/config.h"
#include "core/time.h"
#include "export/export_types.h"
#include "source/source.h"

namespace fa {

class BpfAttachments;
class BpfFlowObject;

class Source {
public:
    virtual ~Source() = default;
    // Attach / subscribe. Called once the config is valid. Returns 0 or a negative errno after
    // logging an error that says what to do about it.
    virtual int start(const Config& cfg) = 0;
    // The agent's export sockets (connected UDP, one per collector), opened before start(): a
    // source that sees the host's own traffic (conntrack) must not meter these datagrams.
    virtual void set_own_sockets(const int* fds, int n) { (void)fds; (void)n; }
    // A descriptor the loop waits on (events ready), or -1 when the source is only polled.
    virtual int fd() const { return -1; }
    virtual void on_readable(MonoMs now, SourceSink& sink) { (void)now; (void)sink; }
    // Called every tick (default 100 ms): drain maps, budgeted dumps, generator steps.
    virtual void on_tick(MonoMs now, SourceSink& sink) = 0;
    // Shutdown: deliver everything still held (final drain), then detach. Nothing counted may
    // be lost here.
    virtual void stop(MonoMs now, SourceSink& sink) = 0;
    // Packets/events the source saw but could not deliver, by reason (exported in options).
    virtual DropCounters drops() const { return {}; }
    // Interfaces the source meters, for the interface options table.
    virtual void describe(char* buf, int len) const { if (len > 0) buf[0] = 0; }
    // For `flowagent status`: source-specific JSON members, written without the enclosing
    // braces and without a leading comma (e.g. "\"interfaces\":[...]"), or "" for none.
    virtual void status_json(char* buf, int len) const { if (len > 0) buf[0] = 0; }
    // Reload between two sources of the same kind: after stop(), the old source hands over its
    // event socket (-1: none), still subscribed, and the new one adopts it before start(), so
    // the events of the reload itself wait in the socket instead of reaching no listener
    // (conntrack: a NEW there would lose its NAT create). A source that cannot use it closes it.
    virtual int release_event_fd() { return -1; }
    // Reload that changes the datapath, between two sources of the same kind: start while
    // `old` still runs, taking over its interfaces without a gap (xdp, tc: the new programs
    // replace the old ones atomically). Returns 0 when started so; 1 when this source cannot
    // (nothing done: the caller stops `old` first, then calls start()); a negative errno on
    // failure, after which the caller stops this source into the old agent (what it metered is
    // drained there) and then takes the stop-then-start path.
    virtual int start_replacing(const Config& cfg, Source& old)
    {
        (void)cfg;
        (void)old;
        return 1;
    }
    // For start_replacing between bpf sources (no RTTI): the attachments and loaded object.
    virtual BpfAttachments* bpf_attachments() { return nullptr; }
    virtual const BpfFlowObject* bpf_object() const { return nullptr; }
    virtual void adopt_event_fd(int fd);
    // Link events (the link monitor). link_gone: the kernel interface `ifindex` (named ifname)
    // went away: a source metering it detaches from it and delivers everything it counted
    // there to `sink` now; returns the interface's slot (position in [agent] interfaces + 1),
    // or -1 when the source did not meter it. link_new: an interface named ifname appeared
    // (or came back with a new ifindex): a source configured for that name attaches to it;
    // returns the slot when attached now, 0 when there is nothing to do (not configured,
    // already attached), or a negative errno after logging.
    virtual int link_gone(uint32_t ifindex, const char* ifname, SourceSink& sink)
    {
        (void)ifindex;
        (void)ifname;
        (void)sink;
        return -1;
    }
    virtual int link_new(const char* ifname, SourceSink& sink)
    {
        (void)ifname;
        (void)sink;
        return 0;
    }
};

inline void Source::adopt_event_fd(int fd)
{
    if (fd >= 0) ::close(fd);
}

} // namespace fa
