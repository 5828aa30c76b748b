#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# Downloads the Debian packages a VM test needs for one architecture, through a private apt
# configuration (own sources list, lists, cache and state under OUTDIR: the host's dpkg
# architectures and apt sources stay untouched), and extracts them into OUTDIR/root.
#
#   tests/vm/fetch_debs.sh ARCH OUTDIR PACKAGE...
#
# The packages are resolved with their run-time dependencies (Depends and Pre-Depends,
# recursively) for ARCH. Downloaded .deb files stay in OUTDIR/debs: a second run with the same
# package list downloads nothing (the stamp OUTDIR/.stamp names the list).
set -euo pipefail
arch=${1:?usage: fetch_debs.sh ARCH OUTDIR PACKAGE...}
out=${2:?usage: fetch_debs.sh ARCH OUTDIR PACKAGE...}
shift 2
[ $# -gt 0 ] || { echo "fetch_debs: no packages named" >&2; exit 2; }
mirror=${FA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$out"
out=$(cd "$out" && pwd)
stamp="$arch $*"
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ] && [ -d "$out/root" ]; then
    echo "fetch_debs: $out is up to date"
    exit 0
fi
apt_dir=$out/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$out/debs"
echo "deb [arch=$arch] $mirror bookworm main" > "$apt_dir/sources.list"
: > "$apt_dir/status"
apt_opts=(-q -o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::State::status=$apt_dir/status"
          -o "Dir::Cache=$apt_dir/cache" -o "APT::Architecture=$arch"
          -o "APT::Architectures::=$arch" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
apt-get "${apt_opts[@]}" update >/dev/null
# The named packages and, recursively, the libraries (lib*) they depend on (Depends and
# Pre-Depends; the first of alternatives). Helper programs they depend on (debconf, ...) are
# not followed: the initramfs takes only the files it needs, by ELF NEEDED entries.
declare -A seen=()
level=("$@")
all=()
while [ ${#level[@]} -gt 0 ]; do
    for p in "${level[@]}"; do seen[$p]=1; all+=("$p"); done
    mapfile -t next < <(apt-cache "${apt_opts[@]}" depends --no-recommends --no-suggests \
            --no-conflicts --no-breaks --no-replaces --no-enhances "${level[@]}" |
        sed -n 's/^ *|\{0,1\}\(Pre\)\{0,1\}Depends: \(\(lib\|linux-image-\)[a-z0-9.+-]*\)\(:.*\)\{0,1\}$/\2/p' |
        sort -u)
    level=()
    for p in "${next[@]}"; do [ -n "${seen[$p]:-}" ] || level+=("$p"); done
done
# Already downloaded files are kept; only missing ones are fetched.
need=()
while read -r p v; do
    v=${v//:/%3a}
    compgen -G "$out/debs/${p}_${v}_*.deb" >/dev/null || need+=("$p")
done < <(apt-cache "${apt_opts[@]}" show --no-all-versions "${all[@]}" |
         awk '/^Package: / { p = $2 } /^Version: / { print p, $2 }')
if [ ${#need[@]} -gt 0 ]; then
    (cd "$out/debs" && apt-get "${apt_opts[@]}" download "${need[@]}" >/dev/null)
fi
rm -rf "$out/root"
mkdir -p "$out/root"
for p in "${all[@]}"; do
    for deb in "$out/debs/${p}"_*.deb; do
        [ -f "$deb" ] && dpkg -x "$deb" "$out/root"
    done
done
echo "$stamp" > "$out/.stamp"
echo "fetch_debs: $out/root from ${#all[@]} packages (${#need[@]} downloaded)"
