#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# Bad input proof for the config: runs the real binary `flowagent --check-config -c FILE` on
# broken config files written here and asserts exit status 2 and that stderr names the problem
# (FILE:LINE, key, value). A good config must exit 0; so must one whose collector name does not
# resolve (a warning). Needs no root and no network: the only
# name looked up is under .invalid, which RFC 6761 §6.4 guarantees never resolves.
set -euo pipefail
# `printf ... | bad ...` must run `bad` in this shell, or its failure count would be lost in a
# subshell (bash runs the last pipeline element here only with lastpipe and no job control).
shopt -s lastpipe
set +m
. "$(dirname "$0")/lib/common.sh"

BIN=${FA_BUILD_DIR:?FA_BUILD_DIR not set}/flowagent
[ -x "$BIN" ] || fa_fail "binary not built: $BIN"
require_tool timeout

fa_tmpdir D
failures=0

# Words run_check puts before the binary: none (this user), or setpriv for another user.
RUN_AS=()

# run_check FILE -> sets RC, ERR (stderr text)
run_check() {
    local f=$1
    RC=0
    "${RUN_AS[@]}" timeout 20 "$BIN" --check-config -c "$f" >"$D/out" 2>"$D/err" </dev/null ||
        RC=$?
    ERR=$(cat "$D/err")
}

# expect_good LABEL FILE: exit 0.
expect_good() {
    local label=$1 f=$2
    run_check "$f"
    if [ "$RC" -ne 0 ]; then
        fa_log "FAIL $label: exit $RC, want 0; stderr: $ERR"
        failures=$((failures + 1))
    else
        fa_log "ok   $label exits 0"
    fi
}

# expect_bad NAME FILE SUBSTRING...: exit 2 and every substring in stderr.
expect_bad() {
    local name=$1 f=$2 s
    shift 2
    run_check "$f"
    if [ "$RC" -ne 2 ]; then
        fa_log "FAIL $name: exit $RC, want 2; stderr: $ERR"
        failures=$((failures + 1))
        return
    fi
    for s in "$@"; do
        if ! grep -qF -- "$s" "$D/err"; then
            fa_log "FAIL $name: stderr lacks '$s'; stderr: $ERR"
            failures=$((failures + 1))
            return
        fi
    done
    fa_log "ok   $name: $ERR"
}

# bad NAME WHERE SUBSTRING... < config text: writes $D/NAME.ini and runs expect_bad on it.
# stderr must also hold the file's path followed by WHERE: ":6:" for line 6, ":" for an error
# about the whole file.
bad() {
    local name=$1 where=$2
    shift 2
    cat >"$D/$name.ini"
    expect_bad "$name" "$D/$name.ini" "$D/$name.ini$where" "$@"
}

# with_address ADDRESS: a config of 4 lines whose only collector has ADDRESS, on line 4.
with_address() {
    printf '[agent]\nsource = generator\n[collector main]\naddress = %s\n' "$1"
}

# A valid head of 5 lines; errors appended after it are on line 6.
HEAD='[agent]
source = generator
[collector main]
address = 127.0.0.1:2055
protocol = ipfix'

# --- a good config exits 0 ------------------------------------------------------------------
printf '%s\n[flows]\nmax_flows = 1024\n[generator]\nflows = 4\n' "$HEAD" >"$D/good.ini"
expect_good "good config" "$D/good.ini"

# --- broken configs ----------------------------------------------------------------------------
printf '%s\n[bogus]\nx = 1\n' "$HEAD" | bad unknown_section :6: "[bogus]" "unknown section"
printf '%s\ncolour = blue\n' "$HEAD" | bad unknown_key :6: "[collector main] colour = blue" \
    "unknown key"
with_address 127.0.0.1:70000 | bad bad_port :4: "address = 127.0.0.1:70000" "bad port"
with_address 127.0.0.1:0 | bad port_zero :4: "address = 127.0.0.1:0" "bad port"
with_address 127.0.0.1 | bad no_port :4: "address = 127.0.0.1" "missing port"
# A name that does not resolve is a warning, not an error (issue 12: a router boots before its
# WAN and DNS; the agent retries the name): exit 0, and stderr names the line and the name.
with_address no-such-host.invalid:2055 >"$D/unresolvable.ini"
expect_good "unresolvable name" "$D/unresolvable.ini"
if ! grep -qF "warning: $D/unresolvable.ini:4: [collector main] address = no-such-host.invalid:2055" "$D/err"; then
    fa_log "FAIL unresolvable name: no warning naming line 4 and the name; stderr: $ERR"
    failures=$((failures + 1))
fi
printf '%s\n[flows]\nmax_flows = 0\n' "$HEAD" | bad zero :7: "[flows] max_flows = 0" "zero"
printf '%s\n[flows]\nactive_timeout = -1\n' "$HEAD" |
    bad negative :7: "active_timeout = -1" "negative"
printf '%s\n[sampling]\nrate = 99999999999\n' "$HEAD" |
    bad huge :7: "[sampling] rate = 99999999999" "too large"
printf '%s\nmax_datagram = 100\n' "$HEAD" | bad out_of_range :6: "max_datagram = 100" "576..9000"
printf '%s\n[sampling]\nmode = sometimes\n' "$HEAD" |
    bad bad_enum :7: "mode = sometimes" "random | deterministic"
printf '[agent]\nsource = xdp\n[collector main]\naddress = 127.0.0.1:2055\n' |
    bad no_interfaces :2: "source = xdp" "interfaces is required"
printf '%s\n[collector main]\naddress = 127.0.0.1:4739\n' "$HEAD" |
    bad dup_collector :6: "[collector main]" "duplicate collector" "line 3"
printf '%s\n[collector other]\naddress = 127.0.0.1:2055\n' "$HEAD" |
    bad dup_address :7: "[collector other] address = 127.0.0.1:2055" "same address"
printf '%s\nprotocol = v9\n' "$HEAD" | bad dup_key :6: "protocol = v9" "duplicate key"
printf '[agent]\nsource = generator\n' | bad no_collector : "no [collector NAME] section"
: | bad empty : "empty config file"
# [conntrack]: only with source = conntrack, and each key's range / values.
CT='[agent]
source = conntrack
[collector main]
address = 127.0.0.1:2055
[conntrack]'
printf '%s\n[conntrack]\nmark = yes\n' "$HEAD" |
    bad ct_other_source :7: "[conntrack] mark = yes" "only with [agent] source = conntrack"
printf '%s\nrcvbuf = 4096\n' "$CT" |
    bad ct_rcvbuf_small :6: "[conntrack] rcvbuf = 4096" "65536..1073741824"
printf '%s\nrcvbuf = 8M\n' "$CT" | bad ct_rcvbuf_suffix :6: "rcvbuf = 8M" "not a number"
printf '%s\ndirections = reply\n' "$CT" |
    bad ct_directions :6: "[conntrack] directions = reply" "both | original"
printf '%s\nmark = 2\n' "$CT" | bad ct_mark :6: "[conntrack] mark = 2" "bad boolean"
printf '%s\nzone = maybe\n' "$CT" | bad ct_zone :6: "[conntrack] zone = maybe" "bad boolean"
printf '%s\nhelpers = yes\n' "$CT" | bad ct_unknown :6: "[conntrack] helpers = yes" "unknown key"
printf '%s\nrcvbuf = 262144\ndirections = original\nmark = yes\nzone = yes\n' "$CT" >"$D/ct_good.ini"
expect_good "good [conntrack] config" "$D/ct_good.ini"

expect_bad missing_file "$D/nope.ini" "$D/nope.ini" "No such file or directory"
mkdir "$D/adir"
expect_bad unreadable_dir "$D/adir" "$D/adir" "Is a directory"

# Not a regular file: refused before reading (a character device that never ends, a FIFO
# whose open would block, a symlink to a device); run_check's `timeout 20` turns a spin or a
# block into exit 124, which fails the case. A symlink to a regular file is read.
expect_bad dev_zero /dev/zero "/dev/zero: not a regular file (a character device)"
mkfifo "$D/nr_fifo.ini"
expect_bad fifo "$D/nr_fifo.ini" "$D/nr_fifo.ini: not a regular file (a FIFO)"
ln -s /dev/zero "$D/nr_devlink.ini"
expect_bad symlink_dev "$D/nr_devlink.ini" "$D/nr_devlink.ini: not a regular file (a character device)"
printf '%s\n' "$HEAD" >"$D/nr_real.ini"
ln -s "$D/nr_real.ini" "$D/nr_link.ini"
expect_good "symlink to a regular file" "$D/nr_link.ini"
# Bigger than the 1 MiB cap (valid head, then comment lines): refused, not read to the end.
{
    printf '%s\n' "$HEAD"
    head -c 1100000 /dev/zero | tr '\0' 'x' | fold -w 99 | sed 's/^/;/'
} >"$D/nr_big.ini"
expect_bad too_big "$D/nr_big.ini" "$D/nr_big.ini:" "file larger than 1048576 bytes"
# A binary file: the bytes of the offending line come back escaped; no raw control byte (an
# ESC sequence would drive the terminal) and no byte >= 0x80 reaches stderr.
printf '[agent]\n\033[2J\377\001zz\n' >"$D/nr_binary.ini"
expect_bad binary "$D/nr_binary.ini" "$D/nr_binary.ini:2:" "'\\x1b[2J\\xff\\x01zz'"
if LC_ALL=C grep -q '[^[:print:]]' "$D/err"; then
    fa_log "FAIL binary: stderr holds unprintable bytes: $(od -c "$D/err" | head -3)"
    failures=$((failures + 1))
fi

# Permission denied: chmod 000. Root reads such files, so as root run the check as nobody
# when setpriv is there and nobody can reach the binary; otherwise the directory case above
# is the unreadable-file proof.
printf '%s\n' "$HEAD" >"$D/secret.ini"
chmod 000 "$D/secret.ini"
chmod 755 "$D"
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
if [ "$(id -u)" -ne 0 ]; then
    expect_bad permission "$D/secret.ini" "$D/secret.ini" "Permission denied"
elif command -v setpriv >/dev/null && "${NOBODY[@]}" test -x "$BIN" 2>/dev/null; then
    RUN_AS=("${NOBODY[@]}")
    expect_bad "permission (as nobody)" "$D/secret.ini" "$D/secret.ini" "Permission denied"
    RUN_AS=()
else
    fa_log "note: root and nobody cannot run $BIN: permission case covered by unreadable_dir"
fi

if [ "$failures" -ne 0 ]; then
    fa_fail "$failures config error case(s) failed"
fi
fa_log "all config error cases passed"
