// SPDX-License-Identifier: GPL-2.0-only
// INI config parser. inih (r55, Debian build) calls our handler once per `key = value` but
// passes no line number (INI_HANDLER_LINENO is 0), so we feed it through ini_parse_stream with
// our own line reader. The reader counts lines, strips leading blanks (so an indented key is
// never taken as an inih continuation line), rejects over-long lines instead of letting inih
// split them, and handles `[section]` headers itself, because inih reports a header only
// implicitly with the next key and we must catch empty and duplicate sections.
#include "app/config_parse.h"

#include <ini.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <sys/stat.h>

namespace fa {
namespace {

enum class Sec : uint8_t { none, agent, flows, sampling, collector, output, generator, conntrack };
constexpr int kSecCount = 8;
constexpr int kMaxKeys = 16;
constexpr size_t kValueEcho = 80;  // longest value quoted back in a message, in characters

// Key names per section, in table order; the index is the key's bit in the seen masks.
const char* const kAgentKeys[] = {"source",    "interfaces",     "observation_domain",
                                  "log_level", "log",            "control_socket",
                                  "stop_timeout", nullptr};
const char* const kFlowsKeys[] = {"max_flows", "active_timeout", "inactive_timeout",
                                  "full_policy", nullptr};
const char* const kSamplingKeys[] = {"rate", "mode", nullptr};
const char* const kCollectorKeys[] = {"address", "protocol", "observation_domain",
                                      "max_datagram", "template_refresh",
                                      "template_refresh_packets", "nat_events", "biflow",
                                      "rate_limit", nullptr};
const char* const kOutputKeys[] = {"stdout", nullptr};
const char* const kGeneratorKeys[] = {"flows", "packets_per_second", "duration", nullptr};
const char* const kConntrackKeys[] = {"rcvbuf", "directions", "mark", "zone", "state_file",
                                      nullptr};

const char* const* keys_of(Sec s)
{
    switch (s) {
    case Sec::agent: return kAgentKeys;
    case Sec::flows: return kFlowsKeys;
    case Sec::sampling: return kSamplingKeys;
    case Sec::collector: return kCollectorKeys;
    case Sec::output: return kOutputKeys;
    case Sec::generator: return kGeneratorKeys;
    case Sec::conntrack: return kConntrackKeys;
    case Sec::none: break;
    }
    return nullptr;
}

bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equals_nocase(const char* a, const char* b)
{
    for (; *a && *b; ++a, ++b) {
        if (lower(*a) != lower(*b)) return false;
    }
    return *a == *b;
}

// Appends printf output to a fixed buffer, truncating silently (messages are for humans).
void append(char* buf, size_t cap, size_t& len, const char* fmt, ...)
    __attribute__((format(printf, 4, 5)));
void append(char* buf, size_t cap, size_t& len, const char* fmt, ...)
{
    if (len + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(buf + len, cap - len, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    len += static_cast<size_t>(n);
    if (len >= cap) len = cap - 1;
}

// Copies `src` into a fixed field; false if it does not fit (including the NUL).
bool copy_field(char* dst, size_t cap, const char* src, size_t n)
{
    if (n + 1 > cap) return false;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return true;
}

// Copies a message for the terminal: bytes outside printable ASCII (control characters, DEL,
// and every byte >= 0x80, so no escape sequence of a binary file reaches the terminal) become
// \xNN. Truncates at a character boundary to fit cap (including the NUL).
void copy_escaped(char* dst, size_t cap, const char* src)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (const unsigned char* q = reinterpret_cast<const unsigned char*>(src); *q != 0; ++q) {
        const unsigned char c = *q;
        if (c >= 0x20 && c < 0x7f) {
            if (o + 2 > cap) break;
            dst[o++] = static_cast<char>(c);
        } else {
            if (o + 5 > cap) break;
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        }
    }
    if (cap > 0) dst[o] = '\0';
}

struct Parser {
    const char* name = "";       // FILE in messages
    FILE* file = nullptr;        // either a file ...
    const char* text = nullptr;  // ... or an in-memory text
    size_t pos = 0;
    size_t bytes = 0;            // bytes read so far (capped at kMaxConfigBytes)
    int line = 0;                // line most recently handed to inih, 1-based

    Config cfg;
    ConfigError* err = nullptr;
    bool failed = false;
    bool any_content = false;

    Sec sec = Sec::none;
    char sec_text[64] = {};      // the current section as written, for messages
    int coll = -1;               // index of the current collector section
    int sec_line = 0;

    int key_line[kSecCount][kMaxKeys] = {};       // 0 = not seen yet (duplicate detection)
    int coll_key_line[kMaxCollectors][kMaxKeys] = {};
    int coll_header_line[kMaxCollectors] = {};
    char ct_value[kMaxKeys][kValueEcho + 1] = {};  // [conntrack] values as written, for finish()
    char nat_value[kMaxCollectors][8] = {};   // nat_events / biflow as written (a valid boolean
    char bi_value[kMaxCollectors][8] = {};    // is at most 5 characters), for finish()
};

// "FILE:LINE: [section] key = value: problem"; each part is left out when null/0.
void fail(Parser& p, int line, const char* key, const char* value, const char* fmt, ...)
    __attribute__((format(printf, 5, 6)));
void fail(Parser& p, int line, const char* key, const char* value, const char* fmt, ...)
{
    if (p.failed) return;  // the first error is the one the user needs
    p.failed = true;
    char m[sizeof p.err->message];  // raw; escaped into err->message at the end
    const size_t cap = sizeof m;
    size_t len = 0;
    m[0] = '\0';
    if (line > 0) {
        append(m, cap, len, "%s:%d: ", p.name, line);
    } else {
        append(m, cap, len, "%s: ", p.name);
    }
    if (p.sec_text[0] != '\0' && (key != nullptr || line > 0)) {
        append(m, cap, len, "[%s]", p.sec_text);
        if (key == nullptr) append(m, cap, len, ": ");
    }
    if (key != nullptr) {
        if (p.sec_text[0] != '\0') append(m, cap, len, " ");
        append(m, cap, len, "%s", key);
        if (value != nullptr) {
            const size_t vlen = strlen(value);
            if (vlen > kValueEcho) {
                append(m, cap, len, " = %.*s...", static_cast<int>(kValueEcho), value);
            } else {
                append(m, cap, len, " = %s", value);
            }
        }
        append(m, cap, len, ": ");
    }
    va_list ap;
    va_start(ap, fmt);
    if (len + 1 < cap) {
        const int n = vsnprintf(m + len, cap - len, fmt, ap);
        (void)n;
    }
    va_end(ap);
    copy_escaped(p.err->message, sizeof p.err->message, m);
}

// Sets the section context used by fail() for messages that concern another section.
void set_context(Parser& p, const char* sec_text)
{
    const size_t n = strlen(sec_text);
    const size_t k = n < sizeof p.sec_text - 1 ? n : sizeof p.sec_text - 1;
    memcpy(p.sec_text, sec_text, k);
    p.sec_text[k] = '\0';
}

// ----- value parsers: true on success, else false with a description in `problem` -----------

// Strict unsigned decimal in [lo, hi]. `problem` gets a description with the range.
bool parse_u32(const char* v, uint32_t lo, uint32_t hi, uint32_t& out, char* problem,
               size_t cap)
{
    size_t len = 0;
    if (v[0] == '\0') {
        append(problem, cap, len, "empty value, expected a number in %u..%u", lo, hi);
        return false;
    }
    if (v[0] == '-') {
        append(problem, cap, len, "negative number, expected %u..%u", lo, hi);
        return false;
    }
    uint64_t x = 0;
    for (const char* c = v; *c; ++c) {
        if (!is_digit(*c)) {
            append(problem, cap, len, "not a number (decimal digits only), expected %u..%u",
                   lo, hi);
            return false;
        }
        x = x * 10 + static_cast<uint64_t>(*c - '0');
        if (x > 0xffffffffULL) {
            append(problem, cap, len, "number too large, expected %u..%u", lo, hi);
            return false;
        }
    }
    if (x < lo) {
        if (x == 0) {
            append(problem, cap, len, "zero not allowed, expected %u..%u", lo, hi);
        } else {
            append(problem, cap, len, "too small, expected %u..%u", lo, hi);
        }
        return false;
    }
    if (x > hi) {
        append(problem, cap, len, "too large, expected %u..%u", lo, hi);
        return false;
    }
    out = static_cast<uint32_t>(x);
    return true;
}

bool parse_bool(const char* v, bool& out)
{
    static const char* const kTrue[] = {"yes", "true", "1", "on"};
    static const char* const kFalse[] = {"no", "false", "0", "off"};
    for (const char* t : kTrue) {
        if (equals_nocase(v, t)) {
            out = true;
            return true;
        }
    }
    for (const char* f : kFalse) {
        if (equals_nocase(v, f)) {
            out = false;
            return true;
        }
    }
    return false;
}

// Linux dev_valid_name(): 1..15 bytes, not "." or "..", no '/', ':' or blanks.
bool valid_ifname(const char* s, size_t n)
{
    if (n == 0 || n >= static_cast<size_t>(kIfNameLen)) return false;
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return false;
    for (size_t i = 0; i < n; ++i) {
        if (s[i] == '/' || s[i] == ':' || is_space(s[i])) return false;
    }
    return true;
}

// host:port or [v6]:port (brackets as in RFC 3986 §3.2.2). Only the syntax is checked here:
// platform resolves names and reports failures at CollectorConfig::address_line.
bool parse_address(const char* v, CollectorConfig& c, char* problem, size_t cap)
{
    size_t len = 0;
    const char* host = nullptr;
    size_t host_len = 0;
    const char* port = nullptr;
    if (v[0] == '\0') {
        append(problem, cap, len, "empty address, expected host:port or [v6]:port");
        return false;
    }
    if (v[0] == '[') {
        const char* close = strchr(v, ']');
        if (close == nullptr) {
            append(problem, cap, len, "missing ']' after IPv6 address, expected [v6]:port");
            return false;
        }
        host = v + 1;
        host_len = static_cast<size_t>(close - host);
        if (close[1] != ':') {
            append(problem, cap, len, "missing ':port' after ']', expected [v6]:port");
            return false;
        }
        port = close + 2;
        if (host_len == 0) {
            append(problem, cap, len, "empty host between brackets");
            return false;
        }
        for (size_t i = 0; i < host_len; ++i) {
            const char ch = host[i];
            // hex digits, ':' and '.' (IPv4-mapped), '%' plus an interface name for a zone
            if (!(is_alnum(ch) || ch == ':' || ch == '.' || ch == '%' || ch == '-' ||
                  ch == '_')) {
                append(problem, cap, len, "bad character '%c' in bracketed IPv6 address", ch);
                return false;
            }
        }
    } else {
        const char* colon = strrchr(v, ':');
        if (colon == nullptr) {
            append(problem, cap, len, "missing port, expected host:port or [v6]:port");
            return false;
        }
        if (memchr(v, ':', static_cast<size_t>(colon - v)) != nullptr) {
            append(problem, cap, len, "IPv6 address needs brackets, expected [v6]:port");
            return false;
        }
        host = v;
        host_len = static_cast<size_t>(colon - v);
        port = colon + 1;
        if (host_len == 0) {
            append(problem, cap, len, "empty host, expected host:port");
            return false;
        }
        for (size_t i = 0; i < host_len; ++i) {
            const char ch = host[i];
            if (!(is_alnum(ch) || ch == '.' || ch == '-' || ch == '_')) {
                append(problem, cap, len, "bad character '%c' in host name", ch);
                return false;
            }
        }
        if (strchr(port, ']') != nullptr || memchr(v, '[', host_len) != nullptr ||
            memchr(v, ']', host_len) != nullptr) {
            append(problem, cap, len, "bad brackets, expected [v6]:port");
            return false;
        }
    }
    if (port[0] == '\0') {
        append(problem, cap, len, "missing port number after ':'");
        return false;
    }
    uint32_t p = 0;
    char sub[96] = {};
    if (!parse_u32(port, 1, 65535, p, sub, sizeof sub)) {
        append(problem, cap, len, "bad port '%s': %s", port, sub);
        return false;
    }
    if (!copy_field(c.host, sizeof c.host, host, host_len)) {
        append(problem, cap, len, "host name too long (max %zu characters)",
               sizeof c.host - 1);
        return false;
    }
    c.port = static_cast<uint16_t>(p);
    return true;
}

// ----- section headers (called from the reader) ----------------------------------------------

void on_section(Parser& p, const char* s, size_t n)
{
    char text[sizeof p.sec_text] = {};
    const size_t k = n < sizeof text - 1 ? n : sizeof text - 1;
    memcpy(text, s, k);
    set_context(p, text);
    p.sec_line = p.line;
    p.coll = -1;
    p.any_content = true;

    static const struct {
        const char* name;
        Sec sec;
    } kFixed[] = {{"agent", Sec::agent},   {"flows", Sec::flows},
                  {"sampling", Sec::sampling}, {"output", Sec::output},
                  {"generator", Sec::generator}, {"conntrack", Sec::conntrack}};
    for (const auto& f : kFixed) {
        if (n == strlen(f.name) && memcmp(s, f.name, n) == 0) {
            p.sec = f.sec;
            return;
        }
    }
    static const char kColl[] = "collector";
    const size_t kc = sizeof kColl - 1;
    if (n >= kc && memcmp(s, kColl, kc) == 0 && (n == kc || is_space(s[kc]))) {
        p.sec = Sec::collector;
        const char* nm = s + kc;
        size_t nl = n - kc;
        while (nl > 0 && is_space(*nm)) {
            ++nm;
            --nl;
        }
        if (nl == 0) {
            fail(p, p.line, nullptr, nullptr, "collector section needs a name: [collector NAME]");
            return;
        }
        for (size_t i = 0; i < nl; ++i) {
            if (!(is_alnum(nm[i]) || nm[i] == '_' || nm[i] == '-' || nm[i] == '.')) {
                fail(p, p.line, nullptr, nullptr,
                     "bad collector name: use letters, digits, '_', '-' or '.'");
                return;
            }
        }
        for (int i = 0; i < p.cfg.collector_count; ++i) {
            const char* other = p.cfg.collectors[i].name;
            if (strlen(other) == nl && memcmp(other, nm, nl) == 0) {
                fail(p, p.line, nullptr, nullptr, "duplicate collector section (first on line %d)",
                     p.coll_header_line[i]);
                return;
            }
        }
        if (p.cfg.collector_count >= kMaxCollectors) {
            fail(p, p.line, nullptr, nullptr, "too many collectors (max %d)", kMaxCollectors);
            return;
        }
        CollectorConfig& c = p.cfg.collectors[p.cfg.collector_count];
        if (!copy_field(c.name, sizeof c.name, nm, nl)) {
            fail(p, p.line, nullptr, nullptr, "collector name too long (max %zu characters)",
                 sizeof c.name - 1);
            return;
        }
        p.coll = p.cfg.collector_count;
        p.coll_header_line[p.coll] = p.line;
        ++p.cfg.collector_count;
        return;
    }
    p.sec = Sec::none;
    fail(p, p.line, nullptr, nullptr,
         "unknown section (known: agent, flows, sampling, collector NAME, output, generator, "
         "conntrack)");
}

// Checks one (already blank-stripped) line for what inih would silently mis-handle or only
// report without text: section headers and lines that are not `key = value`.
void inspect_line(Parser& p, const char* s, size_t n)
{
    while (n > 0 && is_space(s[n - 1])) --n;
    if (n == 0 || s[0] == ';' || s[0] == '#') return;
    if (s[0] == '[') {
        const char* close = static_cast<const char*>(memchr(s, ']', n));
        if (close == nullptr) {
            fail(p, p.line, nullptr, nullptr, "missing ']' in section header");
            return;
        }
        const char* a = s + 1;
        const char* b = close;
        while (a < b && is_space(*a)) ++a;
        while (b > a && is_space(b[-1])) --b;
        on_section(p, a, static_cast<size_t>(b - a));
        return;
    }
    bool has_delim = false;
    for (size_t i = 0; i < n; ++i) {
        if (s[i] == '=' || s[i] == ':') {
            has_delim = true;
            break;
        }
    }
    if (!has_delim) {
        char shown[kValueEcho + 1] = {};
        const size_t k = n < kValueEcho ? n : kValueEcho;
        memcpy(shown, s, k);
        fail(p, p.line, nullptr, nullptr, "syntax error in '%s': expected key = value", shown);
    }
}

int next_char(Parser& p)
{
    if (p.failed) return EOF;
    int c = EOF;
    if (p.file != nullptr) {
        c = fgetc(p.file);
    } else if (p.text[p.pos] != '\0') {
        c = static_cast<unsigned char>(p.text[p.pos++]);
    }
    if (c != EOF && ++p.bytes > kMaxConfigBytes) {
        fail(p, p.line, nullptr, nullptr, "file larger than %zu bytes (not a config file?)",
             kMaxConfigBytes);
        return EOF;
    }
    return c;
}

// inih's ini_reader: one line into `str` (at most num-1 chars, keeping the '\n').
char* reader(char* str, int num, void* stream)
{
    Parser& p = *static_cast<Parser*>(stream);
    if (p.failed) return nullptr;  // stop at the first error
    size_t n = 0;
    const size_t cap = static_cast<size_t>(num) - 1;
    bool too_long = false;
    bool nul = false;
    bool leading = true;
    int c = next_char(p);
    if (c == EOF) {
        if (p.file != nullptr && ferror(p.file)) {
            fail(p, 0, nullptr, nullptr, "cannot read: %s", strerror(errno));
        }
        return nullptr;
    }
    ++p.line;
    // UTF-8 byte order mark on the first line: inih would skip it too
    if (p.line == 1 && c == 0xef) {
        const int c2 = next_char(p);
        const int c3 = next_char(p);
        if (c2 != 0xbb || c3 != 0xbf) {
            fail(p, p.line, nullptr, nullptr, "bad byte 0xef at start of file (not UTF-8 BOM)");
            return nullptr;
        }
        c = next_char(p);
    }
    for (; c != EOF; c = next_char(p)) {
        if (c == '\0') nul = true;
        if (leading && (c == ' ' || c == '\t')) continue;  // no inih continuation lines
        leading = false;
        if (n < cap) {
            str[n++] = static_cast<char>(c);
        } else if (c != '\n' && c != '\r') {
            too_long = true;
        }
        if (c == '\n') break;
    }
    if (c == EOF && p.file != nullptr && ferror(p.file)) {
        fail(p, p.line, nullptr, nullptr, "cannot read: %s", strerror(errno));
        return nullptr;
    }
    if (p.failed) return nullptr;  // size cap reached inside this line
    str[n] = '\0';
    if (too_long) {
        fail(p, p.line, nullptr, nullptr, "line too long (max %d characters)", kMaxConfigLine);
        return nullptr;
    }
    if (nul) {
        fail(p, p.line, nullptr, nullptr, "NUL byte in line (not a text file?)");
        return nullptr;
    }
    inspect_line(p, str, n);
    return p.failed ? nullptr : str;
}

// ----- key = value -----------------------------------------------------------------------------

void set_interfaces(Parser& p, const char* key, const char* v)
{
    Config& c = p.cfg;
    c.interface_count = 0;
    const char* s = v;
    while (*s) {
        while (*s && (is_space(*s) || *s == ',')) ++s;
        if (*s == '\0') break;
        const char* e = s;
        while (*e && !is_space(*e) && *e != ',') ++e;
        const size_t n = static_cast<size_t>(e - s);
        if (c.interface_count >= kMaxInterfaces) {
            fail(p, p.line, key, v, "too many interfaces (max %d)", kMaxInterfaces);
            return;
        }
        if (n >= static_cast<size_t>(kIfNameLen)) {
            fail(p, p.line, key, v, "interface name '%.*s' too long (max %d characters)",
                 static_cast<int>(n), s, kIfNameLen - 1);
            return;
        }
        if (!valid_ifname(s, n)) {
            fail(p, p.line, key, v, "bad interface name '%.*s'", static_cast<int>(n), s);
            return;
        }
        for (int i = 0; i < c.interface_count; ++i) {
            if (strlen(c.interfaces[i]) == n && memcmp(c.interfaces[i], s, n) == 0) {
                fail(p, p.line, key, v, "interface '%.*s' listed twice", static_cast<int>(n), s);
                return;
            }
        }
        (void)copy_field(c.interfaces[c.interface_count], kIfNameLen, s, n);
        ++c.interface_count;
        s = e;
    }
    if (c.interface_count == 0) fail(p, p.line, key, v, "empty list, expected interface names");
}

// Parses an enum value from a table of names; on failure reports the allowed names.
template <typename T, size_t N>
bool set_enum(Parser& p, const char* key, const char* v, const char* const (&names)[N],
              const T (&values)[N], T& out)
{
    for (size_t i = 0; i < N; ++i) {
        if (equals_nocase(v, names[i])) {
            out = values[i];
            return true;
        }
    }
    char allowed[128] = {};
    size_t len = 0;
    for (size_t i = 0; i < N; ++i) {
        append(allowed, sizeof allowed, len, "%s%s", i ? " | " : "", names[i]);
    }
    fail(p, p.line, key, v, "bad value, expected %s", allowed);
    return false;
}

void set_u32(Parser& p, const char* key, const char* v, uint32_t lo, uint32_t hi, uint32_t& out)
{
    char problem[128] = {};
    if (!parse_u32(v, lo, hi, out, problem, sizeof problem)) fail(p, p.line, key, v, "%s", problem);
}

void set_bool(Parser& p, const char* key, const char* v, bool& out)
{
    if (!parse_bool(v, out)) {
        fail(p, p.line, key, v, "bad boolean, expected yes | no | true | false | on | off | 1 | 0");
    }
}

void apply_agent(Parser& p, int k, const char* key, const char* v)
{
    Config& c = p.cfg;
    switch (k) {
    case 0: {
        static const char* const names[] = {"xdp", "tc", "conntrack", "generator"};
        static const SourceKind values[] = {SourceKind::xdp, SourceKind::tc,
                                            SourceKind::conntrack, SourceKind::generator};
        (void)set_enum(p, key, v, names, values, c.source);
        break;
    }
    case 1: set_interfaces(p, key, v); break;
    case 2: set_u32(p, key, v, 0, 0xffffffffU, c.observation_domain); break;
    case 3: {
        if (!parse_log_level(v, c.log_level)) {
            fail(p, p.line, key, v, "bad value, expected error | warn | info | debug");
        }
        break;
    }
    case 4: {
        static const char* const names[] = {"stderr", "syslog"};
        static const bool values[] = {false, true};
        (void)set_enum(p, key, v, names, values, c.log_syslog);
        break;
    }
    case 5: {
        // An AF_UNIX path: absolute, fits sun_path, no blanks or control bytes.
        const size_t n = strlen(v);
        bool ok = n > 1 && v[0] == '/' && v[n - 1] != '/' && n < sizeof c.control_socket;
        for (size_t i = 0; ok && i < n; ++i)
            if (static_cast<unsigned char>(v[i]) <= 0x20 || v[i] == 0x7f) ok = false;
        if (!ok) {
            fail(p, p.line, key, v, "expected an absolute path of a socket file (at most %zu "
                 "characters, no blanks), e.g. %s", sizeof c.control_socket - 1,
                 kDefaultControlSocket);
            break;
        }
        memcpy(c.control_socket, v, n + 1);
        break;
    }
    case 6: set_u32(p, key, v, 0, kMaxStopTimeoutS, c.stop_timeout_s); break;
    default: break;
    }
}

void apply_flows(Parser& p, int k, const char* key, const char* v)
{
    Config& c = p.cfg;
    switch (k) {
    case 0: set_u32(p, key, v, 1, kMaxFlowsLimit, c.max_flows); break;
    case 1: set_u32(p, key, v, 1, kMaxTimeoutS, c.active_timeout_s); break;
    case 2: set_u32(p, key, v, 1, kMaxTimeoutS, c.inactive_timeout_s); break;
    case 3: {
        static const char* const names[] = {"evict", "drop"};
        static const FullPolicyCfg values[] = {FullPolicyCfg::evict, FullPolicyCfg::drop};
        (void)set_enum(p, key, v, names, values, c.full_policy);
        break;
    }
    default: break;
    }
}

void apply_sampling(Parser& p, int k, const char* key, const char* v)
{
    Config& c = p.cfg;
    if (k == 0) {
        set_u32(p, key, v, 1, kMaxSamplingRate, c.sampling_rate);
    } else {
        static const char* const names[] = {"random", "deterministic"};
        static const SamplingMode values[] = {SamplingMode::random, SamplingMode::deterministic};
        (void)set_enum(p, key, v, names, values, c.sampling_mode);
    }
}

void apply_collector(Parser& p, int k, const char* key, const char* v)
{
    CollectorConfig& c = p.cfg.collectors[p.coll];
    uint32_t x = 0;
    switch (k) {
    case 0: {
        char problem[160] = {};
        if (!parse_address(v, c, problem, sizeof problem)) {
            fail(p, p.line, key, v, "%s", problem);
            return;
        }
        c.address_line = p.line;
        break;
    }
    case 1: {
        static const char* const names[] = {"ipfix", "v9"};
        static const Protocol values[] = {Protocol::ipfix, Protocol::v9};
        (void)set_enum(p, key, v, names, values, c.protocol);
        break;
    }
    case 2: set_u32(p, key, v, 0, 0xffffffffU, c.observation_domain); break;
    case 3:
        set_u32(p, key, v, kMinDatagram, kMaxDatagram, x);
        c.max_datagram = static_cast<uint16_t>(x);
        break;
    case 4: set_u32(p, key, v, 0, kMaxTemplateRefreshS, c.template_refresh_s); break;
    case 5:
        set_u32(p, key, v, 1, kMaxTemplateRefreshDatagrams, c.template_refresh_datagrams);
        break;
    case 6:
        set_bool(p, key, v, c.nat_events);
        (void)copy_field(p.nat_value[p.coll], sizeof p.nat_value[p.coll], v, strlen(v));
        break;
    case 7:
        set_bool(p, key, v, c.biflow);
        (void)copy_field(p.bi_value[p.coll], sizeof p.bi_value[p.coll], v, strlen(v));
        break;
    case 8: set_u32(p, key, v, 1, kMaxRateLimit, c.rate_limit); break;
    default: break;
    }
}

void apply_generator(Parser& p, int k, const char* key, const char* v)
{
    Config& c = p.cfg;
    switch (k) {
    case 0: set_u32(p, key, v, 1, kMaxGenFlows, c.gen_flows); break;
    case 1: set_u32(p, key, v, 1, kMaxGenPacketsPerS, c.gen_packets_per_s); break;
    case 2: set_u32(p, key, v, 0, kMaxGenDurationS, c.gen_duration_s); break;
    default: break;
    }
}

void apply_conntrack(Parser& p, int k, const char* key, const char* v)
{
    Config& c = p.cfg;
    (void)copy_field(p.ct_value[k], sizeof p.ct_value[k], v,
                     strlen(v) < kValueEcho ? strlen(v) : kValueEcho);
    switch (k) {
    case 0: set_u32(p, key, v, kMinCtRcvbuf, kMaxCtRcvbuf, c.ct_rcvbuf); break;
    case 1: {
        static const char* const names[] = {"both", "original"};
        static const bool values[] = {true, false};
        (void)set_enum(p, key, v, names, values, c.ct_both_directions);
        break;
    }
    case 2: set_bool(p, key, v, c.ct_mark); break;
    case 3: set_bool(p, key, v, c.ct_zone); break;
    case 4:
        // Empty: no state file (a restart then counts every connection from zero).
        if (v[0] != '\0' && v[0] != '/')
            fail(p, p.line, key, v, "expected an absolute path (or nothing: no state file)");
        else if (!copy_field(c.ct_state_file, sizeof c.ct_state_file, v, strlen(v)))
            fail(p, p.line, key, v, "path longer than %zu characters",
                 sizeof c.ct_state_file - 1);
        break;
    default: break;
    }
}

int handler(void* user, const char* /*section*/, const char* key, const char* value)
{
    Parser& p = *static_cast<Parser*>(user);
    if (p.failed) return 1;
    p.any_content = true;
    const char* const* keys = keys_of(p.sec);
    if (keys == nullptr) {
        fail(p, p.line, key, value, "key outside any section (start with [agent])");
        return 1;
    }
    int k = -1;
    for (int i = 0; keys[i] != nullptr; ++i) {
        if (strcmp(keys[i], key) == 0) {
            k = i;
            break;
        }
    }
    if (k < 0) {
        char known[200] = {};
        size_t len = 0;
        for (int i = 0; keys[i] != nullptr; ++i) {
            append(known, sizeof known, len, "%s%s", i ? ", " : "", keys[i]);
        }
        fail(p, p.line, key, value, "unknown key (known in this section: %s)", known);
        return 1;
    }
    int& seen = p.sec == Sec::collector ? p.coll_key_line[p.coll][k]
                                        : p.key_line[static_cast<int>(p.sec)][k];
    if (seen != 0) {
        fail(p, p.line, key, value, "duplicate key (first set on line %d)", seen);
        return 1;
    }
    seen = p.line;
    switch (p.sec) {
    case Sec::agent: apply_agent(p, k, key, value); break;
    case Sec::flows: apply_flows(p, k, key, value); break;
    case Sec::sampling: apply_sampling(p, k, key, value); break;
    case Sec::collector: apply_collector(p, k, key, value); break;
    case Sec::output: set_bool(p, key, value, p.cfg.print_json); break;
    case Sec::generator: apply_generator(p, k, key, value); break;
    case Sec::conntrack: apply_conntrack(p, k, key, value); break;
    case Sec::none: break;
    }
    return 1;
}

// Whole-file checks and defaults, after every line was read.
void finish(Parser& p)
{
    Config& c = p.cfg;
    if (!p.any_content) {
        p.sec_text[0] = '\0';
        fail(p, 0, nullptr, nullptr, "empty config file (no sections or keys)");
        return;
    }
    const int src_line = p.key_line[static_cast<int>(Sec::agent)][0];
    set_context(p, "agent");
    if ((c.source == SourceKind::xdp || c.source == SourceKind::tc) && c.interface_count == 0) {
        const char* src = c.source == SourceKind::xdp ? "xdp" : "tc";
        if (src_line > 0) {
            fail(p, src_line, "source", src, "interfaces is required for source %s (missing)",
                 src);
        } else {
            fail(p, 0, nullptr, nullptr,
                 "[agent] interfaces is required (missing; source defaults to xdp)");
        }
        return;
    }
    if (c.source != SourceKind::conntrack) {
        // [conntrack] keys configure the conntrack listener only: a key set for another source
        // is a mistake (e.g. a copied config whose source was changed), not silently ignored.
        const int* lines = p.key_line[static_cast<int>(Sec::conntrack)];
        int first = -1;
        for (int k = 0; kConntrackKeys[k] != nullptr; ++k) {
            if (lines[k] != 0 && (first < 0 || lines[k] < lines[first])) first = k;
        }
        if (first >= 0) {
            set_context(p, "conntrack");
            fail(p, lines[first], kConntrackKeys[first], p.ct_value[first],
                 "only with [agent] source = conntrack");
            return;
        }
    }
    const int act_line = p.key_line[static_cast<int>(Sec::flows)][1];
    const int inact_line = p.key_line[static_cast<int>(Sec::flows)][2];
    if (c.inactive_timeout_s > c.active_timeout_s) {
        set_context(p, "flows");
        char v[16] = {};
        snprintf(v, sizeof v, "%u", c.inactive_timeout_s);
        fail(p, inact_line > 0 ? inact_line : act_line, "inactive_timeout", v,
             "must not exceed active_timeout (%u)", c.active_timeout_s);
        return;
    }
    if (c.collector_count == 0) {
        p.sec_text[0] = '\0';
        fail(p, 0, nullptr, nullptr,
             "no [collector NAME] section: at least one collector is required");
        return;
    }
    for (int i = 0; i < c.collector_count; ++i) {
        CollectorConfig& col = c.collectors[i];
        char ctx[sizeof col.name + 16] = {};
        snprintf(ctx, sizeof ctx, "collector %s", col.name);
        set_context(p, ctx);
        if (col.address_line == 0) {
            fail(p, p.coll_header_line[i], nullptr, nullptr, "address is required (missing)");
            return;
        }
        if (c.source != SourceKind::conntrack) {
            const int nat_line = p.coll_key_line[i][6];
            const int bi_line = p.coll_key_line[i][7];
            if (col.nat_events) {
                fail(p, nat_line, "nat_events", p.nat_value[i],
                     "only with [agent] source = conntrack");
                return;
            }
            if (col.biflow) {
                fail(p, bi_line, "biflow", p.bi_value[i], "only with [agent] source = conntrack");
                return;
            }
        }
        if (col.biflow && col.protocol != Protocol::ipfix) {
            // RFC 5103 reverse IEs are enterprise-specific (PEN 29305): IPFIX only.
            fail(p, p.coll_key_line[i][7], "biflow", p.bi_value[i], "only with protocol = ipfix");
            return;
        }
        for (int j = 0; j < i; ++j) {
            const CollectorConfig& o = c.collectors[j];
            if (o.port == col.port && equals_nocase(o.host, col.host)) {
                char v[300] = {};
                const bool v6 = strchr(col.host, ':') != nullptr;
                snprintf(v, sizeof v, v6 ? "[%s]:%u" : "%s:%u", col.host,
                         static_cast<unsigned>(col.port));
                fail(p, col.address_line, "address", v,
                     "same address as [collector %s] (line %d)", o.name, o.address_line);
                return;
            }
        }
        if (col.observation_domain == 0) col.observation_domain = c.observation_domain;
        if (col.template_refresh_s == 0) {
            col.template_refresh_s =
                col.protocol == Protocol::ipfix ? kTemplateRefreshIpfixS : kTemplateRefreshV9S;
        }
    }
}

const char* file_kind(unsigned mode)
{
    if (S_ISDIR(mode)) return strerror(EISDIR);
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a file";
}

Status run(Parser& p, Config& out, ConfigError& err)
{
    p.err = &err;
    err.message[0] = '\0';
    if (!copy_field(p.cfg.path, sizeof p.cfg.path, p.name, strlen(p.name))) {
        fail(p, 0, nullptr, nullptr, "config path too long (max %zu characters)",
             sizeof p.cfg.path - 1);
        return Status::bad_input;
    }
    const int rc = ini_parse_stream(reader, &p, handler, &p);
    if (!p.failed && rc != 0) {
        // Not expected: reader() reports every line inih rejects. Keep a message anyway.
        p.sec_text[0] = '\0';
        if (rc > 0) {
            fail(p, rc, nullptr, nullptr, "syntax error");
        } else {
            fail(p, 0, nullptr, nullptr, "parser error %d", rc);
        }
    }
    if (!p.failed) finish(p);
    if (p.failed) return Status::bad_input;
    out = p.cfg;
    return Status::ok;
}

} // namespace

bool parse_log_level(const char* text, LogLevel& out)
{
    static const char* const names[] = {"error", "warn", "info", "debug"};
    static const LogLevel values[] = {LogLevel::error, LogLevel::warn, LogLevel::info,
                                      LogLevel::debug};
    if (text == nullptr) return false;
    for (size_t i = 0; i < 4; ++i) {
        if (equals_nocase(text, names[i])) {
            out = values[i];
            return true;
        }
    }
    return false;
}

Status parse_config_string(const char* text, const char* name_for_errors, Config& out,
                           ConfigError& err)
{
    Parser p;  // ~5 KiB, start-up/SIGHUP only
    p.name = name_for_errors != nullptr ? name_for_errors : "<config>";
    p.text = text != nullptr ? text : "";
    return run(p, out, err);
}

Status parse_config_file(const char* path, Config& out, ConfigError& err)
{
    err.message[0] = '\0';
    if (path == nullptr || path[0] == '\0') {
        snprintf(err.message, sizeof err.message, "no config file given (use -c FILE)");
        return Status::bad_input;
    }
    // Only a regular file (or a symlink to one): /dev/zero would be read forever, a FIFO would
    // block the open, a directory reads as an error only on some libcs. Checked before the
    // open (which blocks on a FIFO) and again on the opened file (it may have been replaced).
    char raw[sizeof err.message];
    struct stat st{};
    if (stat(path, &st) != 0) {
        snprintf(raw, sizeof raw, "%s: cannot open: %s", path, strerror(errno));
        copy_escaped(err.message, sizeof err.message, raw);
        return Status::bad_input;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(raw, sizeof raw, "%s: not a regular file (%s)", path, file_kind(st.st_mode));
        copy_escaped(err.message, sizeof err.message, raw);
        return Status::bad_input;
    }
    FILE* f = fopen(path, "r");
    if (f == nullptr) {
        snprintf(raw, sizeof raw, "%s: cannot open: %s", path, strerror(errno));
        copy_escaped(err.message, sizeof err.message, raw);
        return Status::bad_input;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(raw, sizeof raw, "%s: not a regular file (%s)", path, file_kind(st.st_mode));
        copy_escaped(err.message, sizeof err.message, raw);
        fclose(f);
        return Status::bad_input;
    }
    Parser p;
    p.name = path;
    p.file = f;
    const Status s = run(p, out, err);
    fclose(f);
    return s;
}

} // namespace fa
