#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Differential test of tests/cross/inih_compat.c (the inih stand-in used for mips big-endian
# only when Debian's libinih source package cannot be fetched) against the real Debian libinih
# on the host: the same probe program, linked once with each, must print identical handler
# calls and return values for every file in tests/cross/inih_cases/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc=${CC:-cc}
# shellcheck disable=SC2046 # pkg-config output is a list of flags
$cc -std=c11 -Wall -Wextra -Werror -o "$tmp/probe-real" "$here/inih_probe.c" \
    $(pkg-config --cflags --libs inih)
# shellcheck disable=SC2046
$cc -std=c11 -Wall -Wextra -Werror -o "$tmp/probe-compat" "$here/inih_probe.c" \
    "$here/inih_compat.c" $(pkg-config --cflags inih)
(cd "$here/inih_cases" && "$tmp/probe-real" ./*.ini) > "$tmp/real.txt"
(cd "$here/inih_cases" && "$tmp/probe-compat" ./*.ini) > "$tmp/compat.txt"
n=$(grep -c '^  \[' "$tmp/real.txt")
if ! diff -u "$tmp/real.txt" "$tmp/compat.txt"; then
    echo "inih compat: 0 passed, 1 failed (differs from Debian libinih)"
    exit 1
fi
files=$(find "$here/inih_cases" -name '*.ini' | wc -l)
echo "inih compat: identical to Debian libinih on $files files ($n handler calls)"
