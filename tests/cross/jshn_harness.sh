# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=dash
# A stand-in for OpenWrt's /usr/share/libubox/jshn.sh, enough to run openwrt/files/
# flowagent.rpcd on a Debian host (sourced by test_openwrt_rpcd.sh): json_load keeps the text,
# json_get_var reads one top-level member with jq (strings and numbers as jshn gives them;
# empty when absent or null), json_init/json_add_string/json_dump build one flat object.

JSHN_TEXT=""
JSHN_OUT=""

json_load() {
	printf '%s' "$1" | jq -e 'type == "object"' >/dev/null 2>&1 || return 1
	JSHN_TEXT="$1"
}

json_get_var() {
	local __v
	__v=$(printf '%s' "$JSHN_TEXT" | jq -r --arg k "$2" '.[$k] // empty | tostring')
	eval "$1=\$__v"
}

json_init() { JSHN_OUT=""; }

json_add_string() {
	JSHN_OUT="$JSHN_OUT$(jq -cn --arg k "$1" --arg v "$2" '{($k): $v}')"
}

json_dump() {
	printf '%s\n' "$JSHN_OUT" | jq -cs 'add // {}'
}
