// SPDX-License-Identifier: GPL-2.0-only
// Prints every handler call and the return value of ini_parse() / ini_parse_string() for the
// files given, so that two inih builds can be compared (tests/cross/test_inih_compat.sh).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ini.h"

static int calls;

static int print_handler(void* user, const char* section, const char* name, const char* value)
{
    (void)user;
    calls++;
    printf("  [%s] <%s> = <%s>\n", section, name, value ? value : "(null)");
    // Reject one magic name, to see handler errors reported by line.
    return strcmp(name, "reject") != 0;
}

int main(int argc, char** argv)
{
    for (int i = 1; i < argc; i++) {
        printf("%s:\n", argv[i]);
        int rc = ini_parse(argv[i], print_handler, NULL);
        printf("ini_parse -> %d\n", rc);
        FILE* f = fopen(argv[i], "rb");
        if (!f)
            continue;
        static char buf[65536];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        printf("ini_parse_string -> %d\n", ini_parse_string(buf, print_handler, NULL));
    }
    printf("ini_parse(missing) -> %d\n",
           ini_parse("/nonexistent/flowagent.ini", print_handler, NULL));
    printf("calls %d\n", calls);
    return 0;
}
