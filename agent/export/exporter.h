// SPDX-License-Identifier: GPL-2.0-only
// IPFIX (RFC 7011) and NetFlow v9 (RFC 3954) exporter: packs flow records into datagrams of at
// most max_datagram bytes, with templates, options (sampling, interface table, exporter
// statistics) and their refresh, and hands each datagram to a DatagramSink. Never blocks; the
// only allocation is the datagram buffer at init.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/status.h"
#include "core/time.h"
#include "export/export_types.h"
#include "export/ie.h"
#include "flow/flow_record.h"
#include "flow/nat_event.h"

namespace fa {

class WireWriter;

struct ExporterConfig {
    Protocol protocol = Protocol::ipfix;
    uint32_t observation_domain = 1;      // IPFIX Observation Domain ID / v9 Source ID
    uint16_t max_datagram = 1400;         // bytes of UDP payload
    uint32_t template_refresh_s = 600;    // lead passes 600 for IPFIX, 1800 for v9 by default
    uint32_t template_refresh_datagrams = 20;
    // Data layouts (DataField bits, see ie.h). A field the source does not observe is left out.
    uint16_t observed = kDfPacketFields | kDfInIf | kDfOutIf;  // of these: what the source fills
    bool split_dir = false;               // a record has in_if (ingress) or out_if (egress) only:
                                          // one layout per direction (tc: one hook per side)
    bool with_mac = false;                // records with MACs (kRecHasMac) carry 56/80 (L2
                                          // devices), the others a layout without them
    bool with_nat = false;                // NATed records (kRecHasNat) carry 225-228 / 281-282,
                                          // untranslated ones use a layout without them
    bool with_mark = false;               // conntrack mark (IE 137): template IDs 272+
    bool with_zone = false;               // conntrack zone (IE 234)
    bool biflow = false;                  // IPFIX only: data templates carry RFC 5103 reverse IEs
    bool nat_events = false;              // NAT44 session template; add_nat() exports
};

struct ExporterCounters {
    // sent OK: datagrams, flow data records, bytes (IE 41/42/40)
    uint64_t messages = 0, records = 0, octets = 0;
    // IE 166/167/168
    uint64_t not_sent_messages = 0, not_sent_flows = 0, not_sent_packets = 0, not_sent_octets = 0;
    uint64_t send_refused = 0, send_again = 0, send_error = 0, template_sends = 0;
    uint64_t nat_events = 0, not_sent_nat_events = 0;  // RFC 8158 records
};

// The sequence state a collector tracks per exporter and observation domain: carried across a
// config reload so that the collector sees one continuous stream (no sequence failure).
struct ExporterSeq {
    uint32_t v9 = 0;     // export packets sent (v9 header sequence of the next one)
    uint32_t ipfix = 0;  // data records sent (IPFIX header sequence of the next message)
};

class Exporter final : public SendFeedback {
public:
    Exporter();
    ~Exporter() override;
    Exporter(const Exporter&) = delete;
    Exporter& operator=(const Exporter&) = delete;

    // One allocation (the datagram buffer). bad_input when max_datagram cannot hold the
    // templates or one record of every template.
    [[nodiscard]] Status init(const ExporterConfig& cfg, DatagramSink& sink,
                              const OptionsProvider& opts);
    void add(const FlowRecord& r, const ExportTime& t);  // appends; sends the full datagram first
    // An RFC 8158 NAT44 record; no-op unless cfg.nat_events, and for IPv6 events.
    void add_nat(const NatEvent& ev, const ExportTime& t);
    void flush(const ExportTime& t);                     // sends the pending partial datagram
    void tick(const ExportTime& t);                      // time-driven refresh
    void send_options(const ExportTime& t);              // options data now
    const ExporterCounters& counters() const { return counters_; }
    ExporterSeq sequence() const { return ExporterSeq{v9_seq_, ipfix_seq_}; }
    // Continues the numbering of an earlier exporter to the same collector and domain. Call
    // before anything is sent (after init).
    void resume(const ExporterSeq& s)
    {
        v9_seq_ = s.v9;
        ipfix_seq_ = s.ipfix;
    }
    const ExporterConfig& config() const { return cfg_; }
    // SendFeedback: a paced or refusing sink reports a datagram's fate after send() returned.
    void on_send_outcome(const DatagramMeta& m, SendResult res, bool was_counted) override;
    // SendFeedback: a template-only message to go before `next` on a new transport session.
    size_t templates_before(const uint8_t* next, size_t next_len, uint8_t* out,
                            size_t cap) override;
    // Datagrams a flush of `records` flow records needs at most (for sizing a send queue).
    uint32_t datagrams_for(uint32_t records) const;
    // Monotonic time templates were last sent (0: never yet), for `flowagent status`.
    MonoMs last_template_ms() const { return ever_sent_templates_ ? last_tmpl_ms_ : 0; }

    // Header sizes (RFC 7011 §3.1: 16 bytes; RFC 3954 §5.1: 20 bytes).
    static constexpr size_t kIpfixHeader = 16;
    static constexpr size_t kV9Header = 20;
    static constexpr size_t kSetHeader = 4;

private:
    bool open_ = false;
    void open_datagram(const ExportTime& t, bool templates);
    void send_datagram();
    void account(const DatagramMeta& m, SendResult res);
    bool templates_due(const ExportTime& t) const;
    void write_templates();
    // The template set and the options template sets at w; returns the records written.
    uint16_t put_template_sets(WireWriter& w) const;
    void write_options_data(const ExportTime& t);
    // Makes room for one record of template `tid` (len bytes), opening/closing sets and
    // datagrams as needed. Returns false if the datagram cannot take it even when empty.
    bool reserve(uint16_t tid, size_t len, const ExportTime& t, bool allow_templates);
    void close_set();
    const TemplateDesc& data_template_for(const FlowRecord& r) const;
    void write_record(const TemplateDesc& td, const FlowRecord* r, const InterfaceInfo* ifi,
                      const ExportTime& t, const NatEvent* ne = nullptr);

    ExporterConfig cfg_{};
    DatagramSink* sink_ = nullptr;
    const OptionsProvider* opts_ = nullptr;
    ExporterCounters counters_{};

    // Data templates by variant: v6 | egress << 1 | nat << 2 | mac << 3 (id 0 = variant not
    // used). A record without MACs (L3 device, conntrack) uses a template without 56/80.
    static constexpr int kDataVariants = 16;
    TemplateDesc data_[kDataVariants]{};
    TemplateDesc sampling_{}, sampler_{}, interfaces_{}, if_names_{}, stats_{};
    TemplateDesc nat44_{};       // id 0 unless cfg.nat_events

    uint8_t* buf_ = nullptr;
    size_t len_ = 0;             // bytes used in buf_
    size_t header_len_ = 0;
    size_t set_start_ = 0;       // offset of the open set's header
    uint16_t set_id_ = 0;        // template ID of the open data set; 0 = none open
    bool has_templates_ = false; // current datagram carries templates
    uint16_t dgram_records_ = 0; // v9 Count: every record in the datagram
    uint32_t dgram_data_records_ = 0;  // IPFIX: data records (flows + options data)
    uint64_t dgram_flows_ = 0, dgram_packets_ = 0, dgram_octets_ = 0, dgram_nat_events_ = 0;

    uint32_t v9_seq_ = 0;        // export packets sent before this one (RFC 3954 §5.1)
    uint32_t ipfix_seq_ = 0;     // data records sent before this message (RFC 7011 §3.1)
    uint64_t dgram_index_ = 0;   // datagrams sent (attempted)
    bool ever_sent_templates_ = false;
    uint64_t last_tmpl_index_ = 0;
    MonoMs last_tmpl_ms_ = 0;
    MonoMs open_ms_ = 0;         // mono time the current datagram was opened
    SamplingInfo opt_sampling_{};  // options values read for the records being written
    DropCounters opt_drops_{};
    bool error_state_ = false;   // collector refused/errored; resend templates every datagram
    bool resend_templates_ = false;  // a new transport session: the next datagram carries them
    int ok_streak_ = 0;
};

} // namespace fa
