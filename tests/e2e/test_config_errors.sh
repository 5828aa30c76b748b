#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
# shellcheck source-path=SCRIPTDIR
# Bad input proof for the config: runs the real binary `flowagent --check-config -c FILE` on
# broken config files written here and asserts exit status 2 and that stderr names the problem
# (FILE:LINE, key, value). A good config must exit 0. Needs no root and no network: the only
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

# run_check FILE -> sets RC, ERR (stderr text)
run_check() {
    local f=$1
    RC=0
    timeout 20 "$BIN" --check-config -c "$f" >"$D/out" 2>"$D/err" </dev/null || RC=$?
    ERR=$(cat "$D/err")
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

# bad NAME SUBSTRING... < config text: writes $D/NAME.ini and runs expect_bad on it.
bad() {
    local name=$1
    shift
    cat >"$D/$name.ini"
    expect_bad "$name" "$D/$name.ini" "$@"
}

# A valid head of 5 lines; errors appended after it are on line 6.
HEAD='[agent]
source = generator
[collector main]
address = 127.0.0.1:2055
protocol = ipfix'

# --- a good config exits 0 ------------------------------------------------------------------
printf '%s\n[flows]\nmax_flows = 1024\n[generator]\nflows = 4\n' "$HEAD" >"$D/good.ini"
run_check "$D/good.ini"
if [ "$RC" -ne 0 ]; then
    fa_log "FAIL good config: exit $RC, want 0; stderr: $ERR"
    failures=$((failures + 1))
else
    fa_log "ok   good config exits 0"
fi

# --- broken configs ----------------------------------------------------------------------------
f=$D/unknown_section.ini
printf '%s\n[bogus]\nx = 1\n' "$HEAD" | bad unknown_section "$f:6:" "[bogus]" "unknown section"
f=$D/unknown_key.ini
printf '%s\ncolour = blue\n' "$HEAD" | bad unknown_key "$f:6:" "[collector main] colour = blue" \
    "unknown key"
f=$D/bad_port.ini
printf '[agent]\nsource = generator\n[collector main]\naddress = 127.0.0.1:70000\n' |
    bad bad_port "$f:4:" "address = 127.0.0.1:70000" "bad port"
f=$D/port_zero.ini
printf '[agent]\nsource = generator\n[collector main]\naddress = 127.0.0.1:0\n' |
    bad port_zero "$f:4:" "address = 127.0.0.1:0" "bad port"
f=$D/no_port.ini
printf '[agent]\nsource = generator\n[collector main]\naddress = 127.0.0.1\n' |
    bad no_port "$f:4:" "address = 127.0.0.1" "missing port"
f=$D/unresolvable.ini
printf '[agent]\nsource = generator\n[collector main]\naddress = no-such-host.invalid:2055\n' |
    bad unresolvable "$f:4:" "no-such-host.invalid"
f=$D/zero.ini
printf '%s\n[flows]\nmax_flows = 0\n' "$HEAD" | bad zero "$f:7:" "[flows] max_flows = 0" "zero"
f=$D/negative.ini
printf '%s\n[flows]\nactive_timeout = -1\n' "$HEAD" |
    bad negative "$f:7:" "active_timeout = -1" "negative"
f=$D/huge.ini
printf '%s\n[sampling]\nrate = 99999999999\n' "$HEAD" |
    bad huge "$f:7:" "[sampling] rate = 99999999999" "too large"
f=$D/out_of_range.ini
printf '%s\nmax_datagram = 100\n' "$HEAD" |
    bad out_of_range "$f:6:" "max_datagram = 100" "576..9000"
f=$D/bad_enum.ini
printf '%s\n[sampling]\nmode = sometimes\n' "$HEAD" |
    bad bad_enum "$f:7:" "mode = sometimes" "random | deterministic"
f=$D/no_interfaces.ini
printf '[agent]\nsource = xdp\n[collector main]\naddress = 127.0.0.1:2055\n' |
    bad no_interfaces "$f:2:" "source = xdp" "interfaces is required"
f=$D/dup_collector.ini
printf '%s\n[collector main]\naddress = 127.0.0.1:4739\n' "$HEAD" |
    bad dup_collector "$f:6:" "[collector main]" "duplicate collector" "line 3"
f=$D/dup_address.ini
printf '%s\n[collector other]\naddress = 127.0.0.1:2055\n' "$HEAD" |
    bad dup_address "$f:7:" "[collector other] address = 127.0.0.1:2055" "same address"
f=$D/dup_key.ini
printf '%s\nprotocol = v9\n' "$HEAD" | bad dup_key "$f:6:" "protocol = v9" "duplicate key"
f=$D/no_collector.ini
printf '[agent]\nsource = generator\n' | bad no_collector "$f:" "no [collector NAME] section"
f=$D/empty.ini
: | bad empty "$f:" "empty config file"
# [conntrack]: only with source = conntrack, and each key's range / values.
CT='[agent]
source = conntrack
[collector main]
address = 127.0.0.1:2055
[conntrack]'
f=$D/ct_other_source.ini
printf '%s\n[conntrack]\nmark = yes\n' "$HEAD" |
    bad ct_other_source "$f:7:" "[conntrack] mark = yes" "only with [agent] source = conntrack"
f=$D/ct_rcvbuf_small.ini
printf '%s\nrcvbuf = 4096\n' "$CT" |
    bad ct_rcvbuf_small "$f:6:" "[conntrack] rcvbuf = 4096" "65536..1073741824"
f=$D/ct_rcvbuf_suffix.ini
printf '%s\nrcvbuf = 8M\n' "$CT" | bad ct_rcvbuf_suffix "$f:6:" "rcvbuf = 8M" "not a number"
f=$D/ct_directions.ini
printf '%s\ndirections = reply\n' "$CT" |
    bad ct_directions "$f:6:" "[conntrack] directions = reply" "both | original"
f=$D/ct_mark.ini
printf '%s\nmark = 2\n' "$CT" | bad ct_mark "$f:6:" "[conntrack] mark = 2" "bad boolean"
f=$D/ct_zone.ini
printf '%s\nzone = maybe\n' "$CT" | bad ct_zone "$f:6:" "[conntrack] zone = maybe" "bad boolean"
f=$D/ct_unknown.ini
printf '%s\nhelpers = yes\n' "$CT" | bad ct_unknown "$f:6:" "[conntrack] helpers = yes" "unknown key"
printf '%s\nrcvbuf = 262144\ndirections = original\nmark = yes\nzone = yes\n' "$CT" >"$D/ct_good.ini"
run_check "$D/ct_good.ini"
if [ "$RC" -ne 0 ]; then
    fa_log "FAIL good [conntrack] config: exit $RC, want 0; stderr: $ERR"
    failures=$((failures + 1))
else
    fa_log "ok   good [conntrack] config exits 0"
fi

expect_bad missing_file "$D/nope.ini" "$D/nope.ini" "No such file or directory"
mkdir "$D/adir"
expect_bad unreadable_dir "$D/adir" "$D/adir" "Is a directory"

# Permission denied: chmod 000. Root reads such files, so as root run the check as nobody
# when setpriv is there and nobody can reach the binary; otherwise the directory case above
# is the unreadable-file proof.
printf '%s\n' "$HEAD" >"$D/secret.ini"
chmod 000 "$D/secret.ini"
chmod 755 "$D"
if [ "$(id -u)" -ne 0 ]; then
    expect_bad permission "$D/secret.ini" "$D/secret.ini" "Permission denied"
elif command -v setpriv >/dev/null &&
    setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$BIN" 2>/dev/null; then
    RC=0
    setpriv --reuid=65534 --regid=65534 --clear-groups \
        timeout 20 "$BIN" --check-config -c "$D/secret.ini" >"$D/out" 2>"$D/err" || RC=$?
    ERR=$(cat "$D/err")
    if [ "$RC" -ne 2 ] || ! grep -qF "$D/secret.ini" "$D/err" ||
        ! grep -qF "Permission denied" "$D/err"; then
        fa_log "FAIL permission (as nobody): exit $RC, want 2; stderr: $ERR"
        failures=$((failures + 1))
    else
        fa_log "ok   permission (as nobody): $ERR"
    fi
else
    fa_log "note: root and nobody cannot run $BIN: permission case covered by unreadable_dir"
fi

if [ "$failures" -ne 0 ]; then
    fa_fail "$failures config error case(s) failed"
fi
fa_log "all config error cases passed"
