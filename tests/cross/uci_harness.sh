# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=dash
# A stand-in for OpenWrt's /lib/functions.sh, /lib/functions/network.sh and procd's shell API,
# enough to run openwrt/files/*.sh on a Debian host (sourced by test_openwrt_render.sh).
# It loads a UCI file the way OpenWrt does - `uci export` output is shell: `config TYPE 'NAME'`,
# `option KEY 'VALUE'`, `list KEY 'VALUE'` - and keeps the same CONFIG_<section>_<option>
# variables, so config_get & co. behave like the originals (default when unset or empty;
# config_get_bool's 1/on/true/yes/enabled; anonymous sections named cfgNNNNNN in file order).
# Like OpenWrt's /lib/functions.sh (NO_EXPORT=1) the variables are not exported: a script run
# from a hook (the init script's reload from the hotplug hook) loads the config afresh.
#
# Inputs: UCI_FILE (the config to load), FA_TEST_NETS ("lan=br-lan wan=eth0.2": network ->
# device; a network absent from it is down), PROCD_LOG (file that records procd_* calls).

CONFIG_SECTIONS=""
CONFIG_NUM_SECTIONS=0
CONFIG_SECTION=""
CONFIG_LIST_STATE=""

config() {
	local type="$1" name="$2"
	CONFIG_NUM_SECTIONS=$((CONFIG_NUM_SECTIONS + 1))
	[ -n "$name" ] || name=$(printf 'cfg%02x%04x' "$CONFIG_NUM_SECTIONS" 0)
	CONFIG_SECTION="$name"
	CONFIG_SECTIONS="$CONFIG_SECTIONS $name"
	eval "CONFIG_${name}_TYPE=\$type"
}

option() {
	eval "CONFIG_${CONFIG_SECTION}_$1=\$2"
}

list() {
	local len
	eval "len=\${CONFIG_${CONFIG_SECTION}_$1_LENGTH:-0}"
	[ "$len" -gt 0 ] || CONFIG_LIST_STATE="$CONFIG_LIST_STATE ${CONFIG_SECTION}_$1"
	len=$((len + 1))
	eval "CONFIG_${CONFIG_SECTION}_$1_ITEM$len=\$2"
	eval "CONFIG_${CONFIG_SECTION}_$1_LENGTH=\$len"
	# uci also joins list items into the plain option, separated by spaces.
	local cur
	eval "cur=\${CONFIG_${CONFIG_SECTION}_$1:-}"
	cur="${cur:+$cur }$2"
	eval "CONFIG_${CONFIG_SECTION}_$1=\$cur"
}

config_load() {
	[ -f "$UCI_FILE" ] || { echo "harness: no UCI file '$UCI_FILE' for '$1'" >&2; return 1; }
	# Like uci_load: forget the previous load's sections and lists.
	local var
	for var in $CONFIG_LIST_STATE; do
		unset "CONFIG_${var}" "CONFIG_${var}_LENGTH"
	done
	CONFIG_LIST_STATE=""
	CONFIG_SECTIONS=""
	CONFIG_NUM_SECTIONS=0
	# shellcheck source=/dev/null
	. "$UCI_FILE"
}

config_get() {
	local __var="$1" __val
	eval "__val=\${CONFIG_$2_$3:-}"
	[ -n "$__val" ] || __val="${4:-}"
	eval "$__var=\$__val"
}

config_get_bool() {
	local _cgb_var="$1" _cgb_val
	config_get _cgb_val "$2" "$3" "${4:-0}"
	case "$_cgb_val" in
	1|on|true|yes|enabled) _cgb_val=1 ;;
	0|off|false|no|disabled) _cgb_val=0 ;;
	*) _cgb_val="${4:-0}" ;;
	esac
	eval "$_cgb_var=\$_cgb_val"
}

config_foreach() {
	local fn="$1" type="$2" s t
	shift 2
	for s in $CONFIG_SECTIONS; do
		eval "t=\${CONFIG_${s}_TYPE}"
		[ "$t" = "$type" ] || continue
		"$fn" "$s" "$@"
	done
}

config_list_foreach() {
	local section="$1" opt="$2" fn="$3" len i item
	shift 3
	eval "len=\${CONFIG_${section}_${opt}_LENGTH:-0}"
	i=1
	while [ "$i" -le "$len" ]; do
		eval "item=\${CONFIG_${section}_${opt}_ITEM$i}"
		"$fn" "$item" "$@"
		i=$((i + 1))
	done
}

network_get_device() {
	local __pair
	for __pair in $FA_TEST_NETS; do
		if [ "${__pair%%=*}" = "$2" ]; then
			eval "$1=\${__pair#*=}"
			return 0
		fi
	done
	eval "$1="
	return 1
}

logger() {
	local arg
	while [ $# -gt 0 ]; do
		case "$1" in
		-t) shift ;;
		-s) ;;
		*) arg="${arg:+$arg }$1" ;;
		esac
		shift
	done
	echo "logger: $arg" >> "$PROCD_LOG"
}

procd_open_instance() { echo "open_instance $*" >> "$PROCD_LOG"; }
procd_set_param() { echo "set_param $*" >> "$PROCD_LOG"; }
procd_close_instance() { echo "close_instance" >> "$PROCD_LOG"; }
procd_add_reload_trigger() { echo "reload_trigger $*" >> "$PROCD_LOG"; }
procd_add_interface_trigger() { echo "interface_trigger $*" >> "$PROCD_LOG"; }
