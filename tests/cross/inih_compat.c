// SPDX-License-Identifier: GPL-2.0-only
// A stand-in for Debian's libinih (55-1) for the one target that has no Debian port, mips
// big-endian, whose core unit tests must still link the portable config parser. Debian's
// source package is the first choice (tests/cross/make_sysroot.sh tries it); this file is used
// only when the source cannot be fetched. Written from inih's documented behaviour with Debian's
// defaults, compiled against Debian's own ini.h (taken from libinih-dev), and checked against
// the real libinih on the host by tests/cross/test_inih_compat.sh (same handler calls, same
// return values) on tricky inputs.
//
// Rules: a line is at most ini_max_line bytes; a UTF-8 BOM at the start is skipped; lines
// starting (after blanks) with a start-comment prefix are comments; an inline comment prefix
// preceded by whitespace ends the text; "[section]"; "name = value" or "name: value" (blanks
// around name and value stripped); with multi-line on, an indented line after a name=value is a
// continuation of that name (the handler is called again); a line that is none of these, or a
// handler returning 0, is an error. Parsing goes on after errors unless ini_stop_on_first_error;
// the first error's line number is returned (0 = ok, -1 = cannot open the file).
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ini.h"

bool ini_allow_multiline = INI_ALLOW_MULTILINE;
bool ini_allow_bom = INI_ALLOW_BOM;
char* ini_start_comment_prefixes = INI_START_COMMENT_PREFIXES;
bool ini_allow_inline_comments = INI_ALLOW_INLINE_COMMENTS;
char* ini_inline_comment_prefixes = INI_INLINE_COMMENT_PREFIXES;
bool ini_use_stack = INI_USE_STACK;
int ini_max_line = INI_MAX_LINE;
bool ini_allow_realloc = INI_ALLOW_REALLOC;
int ini_initial_alloc = INI_INITIAL_ALLOC;
bool ini_stop_on_first_error = INI_STOP_ON_FIRST_ERROR;
bool ini_allow_no_value = INI_ALLOW_NO_VALUE;

enum { kMaxSection = 50, kMaxName = 50, kLineBuf = 4096 };

static char* strip_right(char* s)
{
    char* p = s + strlen(s);
    while (p > s && isspace((unsigned char)p[-1]))
        *--p = '\0';
    return s;
}

static char* skip_left(char* s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    return s;
}

// First char of s that is in `stop` (NULL: none), or an inline comment prefix that follows
// whitespace; the terminating NUL when there is neither.
static char* find_stop(char* s, const char* stop)
{
    bool after_space = false;
    while (*s && !(stop && strchr(stop, *s)) &&
           !(ini_allow_inline_comments && after_space && strchr(ini_inline_comment_prefixes, *s))) {
        after_space = isspace((unsigned char)*s) != 0;
        s++;
    }
    return s;
}

static void copy_bounded(char* dst, const char* src, size_t size)
{
    size_t n = strlen(src);
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int ini_parse_stream(ini_reader reader, void* stream, ini_handler handler, void* user)
{
    char line[kLineBuf];
    char section[kMaxSection] = "";
    char prev_name[kMaxName] = "";
    int max_line = ini_max_line > 0 && ini_max_line <= kLineBuf ? ini_max_line : kLineBuf;
    int lineno = 0;
    int error = 0;

    while (reader(line, max_line, stream) != NULL) {
        lineno++;
        char* start = line;
        if (ini_allow_bom && lineno == 1 && (unsigned char)start[0] == 0xEF &&
            (unsigned char)start[1] == 0xBB && (unsigned char)start[2] == 0xBF)
            start += 3;
        // Continuation lines are told apart by their leading blank: look before skipping it.
        bool indented = start[0] != '\0' && isspace((unsigned char)start[0]) &&
                        start[0] != '\n' && start[0] != '\r';
        start = skip_left(strip_right(start));

        if (*start != '\0' && strchr(ini_start_comment_prefixes, *start)) {
            // comment line
        } else if (ini_allow_multiline && prev_name[0] && *start && indented) {
            char* end = find_stop(start, NULL);
            *end = '\0';
            strip_right(start);
            if (!handler(user, section, prev_name, start) && !error)
                error = lineno;
        } else if (*start == '[') {
            char* end = find_stop(start + 1, "]");
            if (*end == ']') {
                *end = '\0';
                copy_bounded(section, start + 1, sizeof(section));
                prev_name[0] = '\0';
            } else if (!error) {
                error = lineno;
            }
        } else if (*start) {
            char* end = find_stop(start, "=:");
            if (*end == '=' || *end == ':') {
                *end = '\0';
                char* name = strip_right(start);
                char* value = end + 1;
                end = find_stop(value, NULL);
                *end = '\0';
                value = skip_left(value);
                strip_right(value);
                copy_bounded(prev_name, name, sizeof(prev_name));
                if (!handler(user, section, name, value) && !error)
                    error = lineno;
            } else if (ini_allow_no_value) {
                *end = '\0';
                char* name = strip_right(start);
                if (!handler(user, section, name, NULL) && !error)
                    error = lineno;
            } else if (!error) {
                error = lineno;
            }
        }
        if (ini_stop_on_first_error && error)
            break;
    }
    return error;
}

static char* file_reader(char* str, int num, void* stream)
{
    return fgets(str, num, (FILE*)stream);
}

int ini_parse_file(FILE* file, ini_handler handler, void* user)
{
    return ini_parse_stream(file_reader, file, handler, user);
}

int ini_parse(const char* filename, ini_handler handler, void* user)
{
    FILE* file = fopen(filename, "r");
    if (!file)
        return -1;
    int error = ini_parse_file(file, handler, user);
    fclose(file);
    return error;
}

struct StringCursor {
    const char* ptr;
    size_t left;
};

// Like fgets over a string: up to num-1 bytes, stopping after '\n'.
static char* string_reader(char* str, int num, void* stream)
{
    struct StringCursor* c = (struct StringCursor*)stream;
    if (c->left == 0 || num < 2)
        return NULL;
    int i = 0;
    while (i < num - 1 && c->left > 0) {
        char ch = *c->ptr++;
        c->left--;
        str[i++] = ch;
        if (ch == '\n')
            break;
    }
    str[i] = '\0';
    return str;
}

int ini_parse_string(const char* string, ini_handler handler, void* user)
{
    struct StringCursor c = {string, strlen(string)};
    return ini_parse_stream(string_reader, &c, handler, user);
}
