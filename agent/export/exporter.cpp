// SPDX-License-Identifier: GPL-2.0-only
#include "export/exporter.h"

#include <cstring>
#include <new>

#include "core/wire.h"
#include "flow/flow_hash.h"

namespace fa {

namespace {

// Big-endian unsigned of `len` bytes (1, 2, 4 or 8): reduced-size encoding keeps the low bytes
// (RFC 7011 §6.2).
inline void put_num(WireWriter& w, uint64_t v, uint16_t len)
{
    for (int i = int(len) - 1; i >= 0; --i) (void)w.put_u8(uint8_t(v >> (8 * i)));
}

// v9 FLOW_SAMPLER_MODE (RFC 3954 §8): 1 deterministic, 2 random.
inline uint8_t v9_algo(SamplingMode m) { return m == SamplingMode::deterministic ? 1 : 2; }
// IANA "PSAMP selectorAlgorithm" (RFC 5476): 1 systematic count-based (every Nth packet),
// 4 uniform probabilistic (each packet with probability 1/N, bpf_get_prandom_u32() % N == 0).
inline uint8_t psamp_algo(SamplingMode m) { return m == SamplingMode::deterministic ? 1 : 4; }

// IEEE 754 binary64 in network order (RFC 7011 §6.1.3), through its bit pattern.
inline void put_float64(WireWriter& w, double v)
{
    uint64_t bits = 0;
    static_assert(sizeof bits == sizeof v, "binary64");
    std::memcpy(&bits, &v, sizeof bits);
    (void)w.put_u64(bits);
}

// Bytes of a NUL-padded fixed string field, at most max.
inline size_t str_len(const char* s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n] != 0) ++n;
    return n;
}

// RFC 3954 §5.3/§6.2: a v9 FlowSet SHOULD end on a 4-byte boundary; pad bytes are zero.
inline size_t v9_pad(size_t set_len) { return (4u - set_len % 4u) % 4u; }

size_t template_record_len(Protocol p, const TemplateDesc& td)
{
    // IPFIX: id, field count (+ scope field count for options); v9: id, count / id, scope
    // length, option length. Then 4 bytes per field, 8 with an enterprise number (IPFIX only).
    size_t len = td.n_scope ? 6 : 4;
    for (int i = 0; i < td.n_fields; ++i) len += td.fields[i].pen ? 8u : 4u;
    // v9: each options template has its FlowSet, padded to 4 bytes (+ up to 3).
    if (p == Protocol::v9 && td.n_scope) len += 3;
    return len;
}

void put_field_spec(WireWriter& w, const Field& f)
{
    // RFC 7011 §3.2: enterprise bit set and the PEN after the length.
    (void)w.put_u16(f.pen ? uint16_t(f.id | 0x8000u) : f.id);
    (void)w.put_u16(f.len);
    if (f.pen) (void)w.put_u32(f.pen);
}

} // namespace

Exporter::Exporter() = default;
Exporter::~Exporter() { delete[] buf_; }

Status Exporter::init(const ExporterConfig& cfg, DatagramSink& sink, const OptionsProvider& opts)
{
    if (buf_) return Status::bad_input;  // init once: templates never change under a live ID
    cfg_ = cfg;
    sink_ = &sink;
    opts_ = &opts;
    const Protocol p = cfg.protocol;
    header_len_ = p == Protocol::ipfix ? kIpfixHeader : kV9Header;
    // Reverse IEs need enterprise numbers, which v9 has not (the config refuses biflow + v9).
    if (cfg.biflow && p != Protocol::ipfix) return Status::bad_input;
    // The layouts this source can produce: what it observes, per record direction and NAT.
    const uint16_t base =
        uint16_t((cfg.observed & (kDfPacketFields | kDfInIf | kDfOutIf)) |
                 (cfg.with_mark ? kDfMark : 0) |
                 (cfg.with_zone ? kDfZone : 0) | (cfg.biflow ? kDfBiflow : 0));
    size_t tmpl = header_len_ + kSetHeader + 3;  // the template set, padded in v9
    size_t max_rec = 0;
    for (int v = 0; v < kDataVariants; ++v) {
        data_[v] = TemplateDesc{};
        const bool egress = (v & 2) != 0, nat = (v & 4) != 0, mac = (v & 8) != 0;
        if ((egress && !cfg.split_dir) || (nat && !cfg.with_nat) || (mac && !cfg.with_mac))
            continue;
        uint16_t layout = uint16_t(base | ((v & 1) ? kDfV6 : 0) | (nat ? kDfNat : 0) |
                                   (mac ? kDfMac : 0));
        if (cfg.split_dir) layout = uint16_t(layout & ~(egress ? kDfInIf : kDfOutIf));
        build_data_template(p, layout, data_[v]);
        tmpl += template_record_len(p, data_[v]);
        if (data_[v].rec_len > max_rec) max_rec = data_[v].rec_len;
    }
    nat44_ = TemplateDesc{};
    if (cfg.nat_events) build_nat44_template(p, nat44_);
    build_sampling_template(p, opts.sampling().kind, sampling_);
    build_sampler_template(p, opts.sampling(), sampler_);
    build_interface_template(p, true, interfaces_);
    build_interface_template(p, false, if_names_);
    build_stats_template(p, stats_);

    // The datagram that carries the templates must hold all of them, and any datagram must hold
    // one record of every template after the header (and v9 padding).
    tmpl += 5 * kSetHeader +  // one set per options template
            template_record_len(p, sampling_) + template_record_len(p, sampler_) +
            template_record_len(p, interfaces_) + template_record_len(p, if_names_) +
            template_record_len(p, stats_) +
            (cfg.nat_events ? template_record_len(p, nat44_) : 0);
    for (const TemplateDesc* td :
         {&sampling_, &sampler_, &interfaces_, &if_names_, &stats_, &nat44_})
        if (td->rec_len > max_rec) max_rec = td->rec_len;
    if (cfg.max_datagram < tmpl || cfg.max_datagram < header_len_ + kSetHeader + max_rec + 3)
        return Status::bad_input;
    buf_ = new (std::nothrow) uint8_t[cfg.max_datagram];
    if (!buf_) return Status::full;
    return Status::ok;
}

bool Exporter::templates_due(const ExportTime& t) const
{
    if (!ever_sent_templates_ || error_state_ || resend_templates_) return true;
    if (cfg_.template_refresh_datagrams &&
        dgram_index_ - last_tmpl_index_ >= cfg_.template_refresh_datagrams)
        return true;
    return cfg_.template_refresh_s && t.mono_ms >= last_tmpl_ms_ &&
           t.mono_ms - last_tmpl_ms_ >= uint64_t(cfg_.template_refresh_s) * 1000u;
}

void Exporter::open_datagram(const ExportTime& t, bool templates)
{
    WireWriter w(Span<uint8_t>(buf_, cfg_.max_datagram));
    const uint64_t wall_ms = t.wall_now();
    const uint64_t wall_s = wall_ms / 1000u;
    if (cfg_.protocol == Protocol::ipfix) {
        // RFC 7011 §3.1: version, length (patched at send), export time, sequence, domain.
        (void)w.put_u16(10);
        (void)w.put_u16(0);
        (void)w.put_u32(uint32_t(wall_s));
        (void)w.put_u32(ipfix_seq_);
        (void)w.put_u32(cfg_.observation_domain);
    } else {
        // RFC 3954 §5.1: version, count (patched), sysUptime, unix_secs, sequence, source id.
        // Both header times describe one export instant: the next whole second (at most 999 ms
        // after the send, within unix_secs' 1 s resolution). Collectors place a flow at
        // unix_secs * 1000 - (sysUptime - FIRST_SWITCHED), which is then exact instead of off by
        // the sub-second part of the send time, a random 0-999 ms per datagram; rounding up, not
        // down, keeps sysUptime >= every FIRST/LAST_SWITCHED, so the difference never wraps.
        // wall_ms - wall_s * 1000: the remainder without a 64-bit % (libgcc's __umoddi3 on
        // 32-bit CPUs).
        const uint32_t rem = uint32_t(wall_ms - wall_s * 1000u);
        const uint64_t to_next_s = rem ? 1000u - rem : 0u;
        (void)w.put_u16(9);
        (void)w.put_u16(0);
        (void)w.put_u32(t.uptime_of(t.mono_ms + to_next_s));
        (void)w.put_u32(uint32_t((wall_ms + to_next_s) / 1000u));
        (void)w.put_u32(v9_seq_);
        (void)w.put_u32(cfg_.observation_domain);
    }
    len_ = w.used();
    open_ = true;
    open_ms_ = t.mono_ms;
    set_id_ = 0;
    has_templates_ = false;
    dgram_records_ = 0;
    dgram_data_records_ = 0;
    dgram_flows_ = dgram_packets_ = dgram_octets_ = dgram_nat_events_ = 0;
    if (templates) write_templates();
}

void Exporter::write_templates()
{
    close_set();
    WireWriter w(Span<uint8_t>(buf_ + len_, cfg_.max_datagram - len_));
    dgram_records_ = uint16_t(dgram_records_ + put_template_sets(w));
    len_ += w.used();
    has_templates_ = true;
}

uint16_t Exporter::put_template_sets(WireWriter& w) const
{
    const bool ipfix = cfg_.protocol == Protocol::ipfix;
    uint16_t records = 0;
    // Template set: IPFIX set ID 2 (RFC 7011 §3.3.2), v9 FlowSet ID 0 (RFC 3954 §5.2).
    uint8_t* set = w.pos();
    (void)w.put_u16(ipfix ? 2 : 0);
    (void)w.put_u16(0);
    auto put_template = [&](const TemplateDesc& td) {
        if (td.id == 0) return;  // variant not used; NAT44 template without nat_events
        (void)w.put_u16(td.id);
        (void)w.put_u16(td.n_fields);
        for (int i = 0; i < td.n_fields; ++i) put_field_spec(w, td.fields[i]);
        ++records;
    };
    for (const TemplateDesc& td : data_) put_template(td);
    put_template(nat44_);
    // v9 padding (IPFIX sets are never padded here: a template record ends on its fields).
    auto end_set = [&]() {
        if (!ipfix)
            for (size_t n = v9_pad(size_t(w.pos() - set)); n > 0; --n) (void)w.put_u8(0);
        WireWriter::patch_u16(set + 2, uint16_t(w.pos() - set));
    };
    end_set();
    // Options template sets: IPFIX set ID 3 (RFC 7011 §3.4.2.2), v9 FlowSet ID 1 (RFC 3954 §6.1).
    // One record per set: a set may hold several (RFC 7011 §3.3.1, RFC 3954 §6.1), but nfcapd
    // 1.7.1 decodes only the first options template of a set and silently drops the rest.
    for (const TemplateDesc* td : {&sampling_, &sampler_, &interfaces_, &if_names_, &stats_}) {
        set = w.pos();
        (void)w.put_u16(ipfix ? 3 : 1);
        (void)w.put_u16(0);
        (void)w.put_u16(td->id);
        if (ipfix) {
            (void)w.put_u16(td->n_fields);   // field count, scope included
            (void)w.put_u16(td->n_scope);    // scope field count
        } else {
            // v9: byte lengths of the scope and option (type, length) lists.
            (void)w.put_u16(uint16_t(4 * td->n_scope));
            (void)w.put_u16(uint16_t(4 * (td->n_fields - td->n_scope)));
        }
        for (int i = 0; i < td->n_fields; ++i) put_field_spec(w, td->fields[i]);
        ++records;
        end_set();
    }
    return records;
}

void Exporter::close_set()
{
    if (!set_id_) return;
    if (cfg_.protocol == Protocol::v9) {
            // reserve() kept room for this; the pad is shorter than any record, so collectors
        // never read it as one (RFC 3954 §5.3).
        for (size_t n = v9_pad(len_ - set_start_); n > 0; --n) buf_[len_++] = 0;
    }
    WireWriter::patch_u16(buf_ + set_start_ + 2, uint16_t(len_ - set_start_));
    set_id_ = 0;
}

const TemplateDesc& Exporter::data_template_for(const FlowRecord& r) const
{
    int v = r.key.is_v4() ? 0 : 1;
    if (cfg_.split_dir && r.key.dir == uint8_t(Direction::egress)) v |= 2;
    if (cfg_.with_nat && (r.flags & kRecHasNat)) v |= 4;
    if (cfg_.with_mac && (r.flags & kRecHasMac)) v |= 8;
    return data_[v];
}

bool Exporter::reserve(uint16_t tid, size_t len, const ExportTime& t, bool allow_templates)
{
    bool templates_sent_here = false;
    for (int attempt = 0; attempt < 3; ++attempt) {
        if (!open_) {
            sink_->poll_outcomes();
            if (allow_templates && !templates_sent_here && templates_due(t)) {
                open_datagram(t, true);
                write_options_data(t);
                templates_sent_here = true;
                if (!open_) continue;  // options filled and sent datagrams; open a fresh one
            } else {
                open_datagram(t, false);
            }
        }
        // v9: room for the set's closing pad too.
        const size_t set_len = (set_id_ == tid ? len_ - set_start_ : kSetHeader) + len;
        size_t pad = 0;
        if (cfg_.protocol == Protocol::v9) {
            pad = v9_pad(set_len);
            if (set_id_ && set_id_ != tid) pad += v9_pad(len_ - set_start_);  // closing the open one
        }
        const size_t need = len + pad + (set_id_ == tid ? 0 : kSetHeader);
        if (len_ + need <= cfg_.max_datagram) {
            if (set_id_ != tid) {
                close_set();
                WireWriter w(Span<uint8_t>(buf_ + len_, cfg_.max_datagram - len_));
                set_start_ = len_;
                (void)w.put_u16(tid);  // data set ID = template ID (RFC 7011 §3.3.2)
                (void)w.put_u16(0);
                len_ += kSetHeader;
                set_id_ = tid;
            }
            return true;
        }
        if (len_ == header_len_) return false;  // cannot happen after init's size check
        send_datagram();
        if (has_templates_) templates_sent_here = true;
    }
    return false;
}

void Exporter::write_record(const TemplateDesc& td, const FlowRecord* r, const InterfaceInfo* ifi,
                            const ExportTime& t, const NatEvent* ne)
{
    WireWriter w(Span<uint8_t>(buf_ + len_, cfg_.max_datagram - len_));
    const bool ipfix = cfg_.protocol == Protocol::ipfix;
    for (int i = 0; i < td.n_fields; ++i) {
        const Field& f = td.fields[i];
        switch (f.src) {
        case FieldSrc::src4: (void)w.put_bytes(r->key.src + 12, 4); break;
        case FieldSrc::dst4: (void)w.put_bytes(r->key.dst + 12, 4); break;
        case FieldSrc::src6: (void)w.put_bytes(r->key.src, 16); break;
        case FieldSrc::dst6: (void)w.put_bytes(r->key.dst, 16); break;
        case FieldSrc::src_port: (void)w.put_u16(r->key.src_port); break;
        case FieldSrc::dst_port:
            // IPFIX has icmpTypeCode for ICMP; v9 collectors read type*256+code from port 11.
            (void)w.put_u16(ipfix && r->key.is_icmp() ? 0 : r->key.dst_port);
            break;
        case FieldSrc::proto: (void)w.put_u8(r->key.proto); break;
        case FieldSrc::tos: (void)w.put_u8(r->key.tos); break;
        case FieldSrc::tcp_flags: (void)w.put_u8(r->tcp_flags); break;
        case FieldSrc::icmp_type_code:
            (void)w.put_u16(r->key.is_icmp() ? r->key.dst_port : 0);
            break;
        case FieldSrc::in_if: (void)w.put_u32(r->key.in_if); break;
        case FieldSrc::out_if: (void)w.put_u32(r->key.out_if); break;
        case FieldSrc::dir: (void)w.put_u8(r->key.dir); break;
        case FieldSrc::vlan: (void)w.put_u16(r->key.vlan); break;
        case FieldSrc::src_mac: (void)w.put_bytes(r->src_mac, 6); break;
        case FieldSrc::dst_mac: (void)w.put_bytes(r->dst_mac, 6); break;
        case FieldSrc::packets: (void)w.put_u64(r->packets); break;
        case FieldSrc::octets: (void)w.put_u64(r->octets); break;
        case FieldSrc::start_wall_ms: (void)w.put_u64(t.wall_of(r->first_ms)); break;
        case FieldSrc::end_wall_ms: (void)w.put_u64(t.wall_of(r->last_ms)); break;
        case FieldSrc::start_uptime: (void)w.put_u32(t.uptime_of(r->first_ms)); break;
        case FieldSrc::end_uptime: (void)w.put_u32(t.uptime_of(r->last_ms)); break;
        case FieldSrc::end_reason: (void)w.put_u8(uint8_t(r->end_reason)); break;
        case FieldSrc::post_src4: (void)w.put_bytes(r->post_src + 12, 4); break;
        case FieldSrc::post_dst4: (void)w.put_bytes(r->post_dst + 12, 4); break;
        case FieldSrc::post_src6: (void)w.put_bytes(r->post_src, 16); break;
        case FieldSrc::post_dst6: (void)w.put_bytes(r->post_dst, 16); break;
        case FieldSrc::post_src_port: (void)w.put_u16(r->post_src_port); break;
        case FieldSrc::post_dst_port: (void)w.put_u16(r->post_dst_port); break;
        case FieldSrc::ct_mark: (void)w.put_u32(r->ct_mark); break;
        case FieldSrc::ct_zone: (void)w.put_u32(r->ct_zone); break;
        case FieldSrc::rev_packets: (void)w.put_u64(r->rev_packets); break;
        case FieldSrc::rev_octets: (void)w.put_u64(r->rev_octets); break;
        case FieldSrc::biflow_dir: (void)w.put_u8(1); break;  // initiator: the original tuple
        case FieldSrc::nel_time: (void)w.put_u64(t.wall_of(ne->time_ms)); break;
        case FieldSrc::nel_src4: (void)w.put_bytes(ne->src + 12, 4); break;
        case FieldSrc::nel_dst4: (void)w.put_bytes(ne->dst + 12, 4); break;
        case FieldSrc::nel_src_port: (void)w.put_u16(ne->src_port); break;
        case FieldSrc::nel_dst_port: (void)w.put_u16(ne->dst_port); break;
        case FieldSrc::nel_post_src4: (void)w.put_bytes(ne->post_src + 12, 4); break;
        case FieldSrc::nel_post_dst4: (void)w.put_bytes(ne->post_dst + 12, 4); break;
        case FieldSrc::nel_post_src_port: (void)w.put_u16(ne->post_src_port); break;
        case FieldSrc::nel_post_dst_port: (void)w.put_u16(ne->post_dst_port); break;
        case FieldSrc::nel_proto: (void)w.put_u8(ne->proto); break;
        case FieldSrc::nel_event: (void)w.put_u8(ne->event); break;
        case FieldSrc::scope_odid: put_num(w, cfg_.observation_domain, f.len); break;
        case FieldSrc::scope_ifindex: put_num(w, ifi->ifindex, f.len); break;
        case FieldSrc::selector_id: put_num(w, 1, f.len); break;
        case FieldSrc::selector_algo: put_num(w, psamp_algo(opt_sampling_.mode), f.len); break;
        case FieldSrc::sampling_interval_one: put_num(w, 1, f.len); break;
        case FieldSrc::sampling_space:
            put_num(w, opt_sampling_.rate ? opt_sampling_.rate - 1u : 0u, f.len);
            break;
        case FieldSrc::sampling_rate:
            put_num(w, opt_sampling_.rate ? opt_sampling_.rate : 1u, f.len);
            break;
        case FieldSrc::sampling_probability:
            put_float64(w, 1.0 / double(opt_sampling_.rate ? opt_sampling_.rate : 1u));
            break;
        case FieldSrc::flow_selector_algo: put_num(w, kFlowSelectorBob, f.len); break;
        case FieldSrc::zero_value: put_num(w, 0, f.len); break;
        case FieldSrc::hash_output_max: put_num(w, 0xffffffffu, f.len); break;
        case FieldSrc::hash_selected_max:
            put_num(w, flow_hash_selected_max(opt_sampling_.rate), f.len);
            break;
        case FieldSrc::hash_init: put_num(w, kFlowHashInit, f.len); break;
        case FieldSrc::v9_sampler_mode: put_num(w, v9_algo(opt_sampling_.mode), f.len); break;
        case FieldSrc::sampler_id: put_num(w, 1, f.len); break;
        case FieldSrc::if_name:
        case FieldSrc::if_descr: {
            const char* str = f.src == FieldSrc::if_name ? ifi->name : ifi->descr;
            const size_t cap = f.src == FieldSrc::if_name ? sizeof ifi->name : sizeof ifi->descr;
            if (f.len == kVarLen) {
                // RFC 7011 §7: 1-byte length, then the string without padding or NUL.
                const size_t n = str_len(str, cap - 1);
                (void)w.put_u8(uint8_t(n));
                (void)w.put_bytes(str, n);
            } else {
                (void)w.put_bytes(str, f.len);
            }
            break;
        }
        case FieldSrc::st_messages: put_num(w, counters_.messages, f.len); break;
        case FieldSrc::st_flows: put_num(w, counters_.records, f.len); break;
        case FieldSrc::st_octets: put_num(w, counters_.octets, f.len); break;
        case FieldSrc::st_ignored_packets:
            put_num(w, opt_drops_.table_full_packets + opt_drops_.source_packets, f.len);
            break;
        case FieldSrc::st_ignored_octets:
            put_num(w, opt_drops_.table_full_octets + opt_drops_.source_octets, f.len);
            break;
        case FieldSrc::st_not_sent_flows:  // IE 166 counts every data record lost: NAT events too
            put_num(w, counters_.not_sent_flows + counters_.not_sent_nat_events, f.len);
            break;
        case FieldSrc::st_not_sent_packets: put_num(w, counters_.not_sent_packets, f.len); break;
        case FieldSrc::st_not_sent_octets: put_num(w, counters_.not_sent_octets, f.len); break;
        }
    }
    len_ += w.used();
    ++dgram_records_;
    ++dgram_data_records_;
}

void Exporter::write_options_data(const ExportTime& t)
{
    opt_sampling_ = opts_->sampling();
    opt_drops_ = opts_->drops();
    if (reserve(sampling_.id, sampling_.rec_len, t, false))
        write_record(sampling_, nullptr, nullptr, t);
    if (reserve(sampler_.id, sampler_.rec_len, t, false))
        write_record(sampler_, nullptr, nullptr, t);
    for (const InterfaceInfo& ifi : opts_->interfaces()) {
        // An interface without a description is listed by name alone (no empty field).
        const TemplateDesc& td = ifi.descr[0] ? interfaces_ : if_names_;
        if (reserve(td.id, td.rec_len, t, false)) write_record(td, nullptr, &ifi, t);
    }
    if (reserve(stats_.id, stats_.rec_len, t, false)) write_record(stats_, nullptr, nullptr, t);
}

void Exporter::send_datagram()
{
    if (!open_) return;
    close_set();
    // IPFIX: message length (RFC 7011 §3.1); v9: Count of all records (RFC 3954 §5.1).
    WireWriter::patch_u16(buf_ + 2, cfg_.protocol == Protocol::ipfix ? uint16_t(len_)
                                                                      : dgram_records_);
    DatagramMeta meta;
    meta.flows = dgram_flows_;
    meta.packets = dgram_packets_;
    meta.octets = dgram_octets_;
    meta.nat_events = dgram_nat_events_;
    meta.bytes = uint32_t(len_);
    const SendResult res = sink_->send_counted(buf_, len_, meta);
    if (has_templates_) {
        resend_templates_ = false;
        ++counters_.template_sends;
        ever_sent_templates_ = true;
        last_tmpl_index_ = dgram_index_;
        last_tmpl_ms_ = open_ms_;
    }
    // Sequence numbers advance even when the send failed: the loss is real (RFC 7011 §10.3.2).
    ++dgram_index_;
    ++v9_seq_;
    ipfix_seq_ += dgram_data_records_;
    if (res != SendResult::queued) account(meta, res);
    open_ = false;
    len_ = 0;
}

void Exporter::account(const DatagramMeta& m, SendResult res)
{
    if (res == SendResult::ok) {
        ++counters_.messages;
        counters_.records += m.flows;
        counters_.octets += m.bytes;
        counters_.nat_events += m.nat_events;
        if (error_state_ && ++ok_streak_ >= 2) error_state_ = false;
        return;
    }
    ++counters_.not_sent_messages;
    counters_.not_sent_flows += m.flows;
    counters_.not_sent_packets += m.packets;
    counters_.not_sent_octets += m.octets;
    counters_.not_sent_nat_events += m.nat_events;
    ok_streak_ = 0;
    if (res == SendResult::again) {
        ++counters_.send_again;
    } else {
        // The collector (or the path to it) is gone: resend templates until it is back.
        error_state_ = true;
        if (res == SendResult::refused) ++counters_.send_refused;
        else ++counters_.send_error;
    }
}

void Exporter::on_send_outcome(const DatagramMeta& m, SendResult res, bool was_counted)
{
    if (res == SendResult::queued) return;
    if (was_counted && res == SendResult::ok) return;
    // A datagram counted as sent when it left and then refused by the collector's host is
    // counted as not sent too. The sent totals (IE 40-42) stay as they were: they are
    // totalCounters (RFC 7012 §3.2.5), which never step down, and the datagram was sent.
    account(m, res);
}

// Logic (a new transport session, e.g. the export socket reopened on a new source address):
//  1. The collector keys templates by transport session (RFC 7011 §8.4; RFC 3954 §5.1: source
//     address and Source ID), so data sent on the new one cannot be decoded before templates.
//  2. The datagrams already numbered (the one in hand, those in a send queue) must keep their
//     numbers, and go out in order: the templates go in a message of their own, placed before
//     the first of them, `next`.
//  3. IPFIX numbers Data Records (RFC 7011 §3.1): a message of template sets only carries the
//     sequence of the message after it, which stays correct.
//  4. NetFlow v9 numbers export packets (RFC 3954 §5.1): every packet takes a number, and none is
//     free before `next`. The message takes the one before next's: that number went out on the
//     old session, which the collector tells apart from the new one, so each session's sequence
//     has no gap and no repeat. (Only a collector that merges the two sessions sees it twice.)
//  5. The exporter's next datagram carries templates and options data (the interface table,
//     sampling) again, for the new session.
size_t Exporter::templates_before(const uint8_t* next, size_t next_len, uint8_t* out, size_t cap)
{
    if (!buf_ || next == nullptr || out == nullptr) return 0;
    resend_templates_ = true;
    const bool ipfix = cfg_.protocol == Protocol::ipfix;
    if (next_len < header_len_ + kSetHeader || next[0] != 0 || next[1] != (ipfix ? 10 : 9))
        return 0;
    // `next` starts with the template set: it carries the templates itself.
    if (get_u16(next + header_len_) == (ipfix ? 2 : 0)) return 0;
    // init() made sure that the templates fit in one max_datagram after a header.
    if (cap < cfg_.max_datagram) return 0;
    // The header of `next` (version, export time / sysUptime and unix_secs, domain); then
    // length or count, and the v9 sequence, are patched below.
    std::memcpy(out, next, header_len_);
    WireWriter w(Span<uint8_t>(out + header_len_, cap - header_len_));
    const uint16_t records = put_template_sets(w);
    const size_t len = header_len_ + w.used();
    if (ipfix) {
        WireWriter::patch_u16(out + 2, uint16_t(len));  // the sequence stays next's (point 3)
    } else {
        WireWriter::patch_u16(out + 2, records);
        WireWriter::patch_u32(out + 12, get_u32(next + 12) - 1u);  // point 4; wraps like it
    }
    return len;
}

uint32_t Exporter::datagrams_for(uint32_t records) const
{
    size_t rec = 0;
    for (const TemplateDesc& td : data_)
        if (td.rec_len > rec) rec = td.rec_len;
    if (cfg_.nat_events && nat44_.rec_len > rec) rec = nat44_.rec_len;
    if (rec == 0 || cfg_.max_datagram <= header_len_ + 2 * kSetHeader) return records;
    // Worst case: a set header for each family and a template datagram now and then.
    const size_t per = (cfg_.max_datagram - header_len_ - 2 * kSetHeader) / rec;
    const uint64_t n = per ? (uint64_t(records) + per - 1) / per : records;
    return uint32_t(n + n / 8 + 8);
}

void Exporter::add(const FlowRecord& r, const ExportTime& t)
{
    if (!buf_) return;
    const TemplateDesc& td = data_template_for(r);
    if (!reserve(td.id, td.rec_len, t, true)) return;
    write_record(td, &r, nullptr, t);
    ++dgram_flows_;
    dgram_packets_ += r.packets + r.rev_packets;
    dgram_octets_ += r.octets + r.rev_octets;
}

void Exporter::add_nat(const NatEvent& ev, const ExportTime& t)
{
    if (!buf_ || nat44_.id == 0 || !ev.is_v4()) return;
    if (!reserve(nat44_.id, nat44_.rec_len, t, true)) return;
    write_record(nat44_, nullptr, nullptr, t, &ev);
    ++dgram_nat_events_;
}

void Exporter::flush(const ExportTime& t)
{
    (void)t;
    if (open_) send_datagram();
}

void Exporter::tick(const ExportTime& t)
{
    if (!buf_) return;
    const bool time_due =
        !ever_sent_templates_ || resend_templates_ ||
        (cfg_.template_refresh_s && t.mono_ms >= last_tmpl_ms_ &&
         t.mono_ms - last_tmpl_ms_ >= uint64_t(cfg_.template_refresh_s) * 1000u);
    if (!time_due) return;
    flush(t);
    open_datagram(t, true);
    write_options_data(t);
    send_datagram();
}

void Exporter::send_options(const ExportTime& t)
{
    if (!buf_) return;
    if (!open_) {
        sink_->poll_outcomes();
        const bool tmpl = templates_due(t);
        open_datagram(t, tmpl);
    }
    write_options_data(t);
    send_datagram();
}

} // namespace fa
