# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=dash
# UCI -> INI rendering for flowagent (sourced by /etc/init.d/flowagent; installed as
# /usr/share/flowagent/render.sh). Needs config_load done and the OpenWrt shell libraries
# (/lib/functions.sh: config_get, config_get_bool, config_list_foreach, config_foreach;
# /lib/functions/network.sh: network_get_device).
#
#   flowagent_render SECTION FILE [DEVICES]
#                                   writes the INI for `config flowagent SECTION` to FILE, and
#                                   the devices it meters (one line, space-separated) to
#                                   DEVICES. Returns 0, or 1 with a message on stderr naming
#                                   the section, option and value. Both files are replaced
#                                   atomically, and only on success.
#   flowagent_networks SECTION      prints the logical networks the section meters.
#   flowagent_metered FILE DEVICE   true when DEVICE is in FILE (a DEVICES file, above).
#
# Values are checked for characters that would change the INI's structure (newlines, ';', '#',
# '=', spaces) and for their kind (number, host:port, one of a list); flowagent --check-config
# validates the rest (ranges, name resolution).

FA_RENDER_ERR=""

# fa_value SECTION OPTION VALUE [KIND]: fail unless VALUE is safe for an INI value and of KIND:
# `number` (decimal digits), `hostport` (ends in :PORT) or a space-separated list of words.
fa_value() {
	case "$3" in
	*[!A-Za-z0-9._:@%/+,\[\]-]*)
		echo "flowagent: $1.$2='$3': character not allowed in this option" >&2
		return 1
		;;
	esac
	case "${4:-}" in
	"") return 0 ;;
	number)
		case "$3" in
		*[!0-9]*) ;;
		?*) return 0 ;;
		esac
		echo "flowagent: $1.$2='$3': expected a decimal number" >&2
		return 1
		;;
	hostport)
		# The port follows the last ':'; an IPv6 literal is bracketed, a host name is not.
		case "${3##*:}" in
		*[!0-9]*|"") ;;
		*)
			case "${3%:*}" in
			""|*:*[!\]]) ;;
			*) return 0 ;;
			esac
			;;
		esac
		echo "flowagent: $1.$2='$3': expected host:port, IPv4:port or [IPv6]:port" >&2
		return 1
		;;
	esac
	local word
	for word in $4; do
		[ "$3" = "$word" ] && return 0
	done
	echo "flowagent: $1.$2='$3': expected one of: $4" >&2
	return 1
}

# fa_key OUT SECTION OPTION INI_KEY [KIND]: copy an option to the INI file if it is set.
fa_key() {
	local val
	config_get val "$2" "$3"
	[ -n "$val" ] || return 0
	fa_value "$2" "$3" "$val" "${5:-}" || return 1
	echo "$4 = $val" >> "$1"
}

# fa_bool OUT SECTION OPTION INI_KEY: copy a boolean option (UCI 0/1/yes/no/on/off/true/false)
# as yes/no if it is set.
fa_bool() {
	local val
	config_get val "$2" "$3"
	[ -n "$val" ] || return 0
	case "$val" in
	1|yes|on|true|enabled) echo "$4 = yes" >> "$1" ;;
	0|no|off|false|disabled) echo "$4 = no" >> "$1" ;;
	*)
		echo "flowagent: $2.$3='$val': expected 0 or 1" >&2
		return 1
		;;
	esac
}

fa_add_network() {
	local dev
	if network_get_device dev "$1" && [ -n "$dev" ]; then
		fa_value "$2" network "$dev" || { FA_RENDER_ERR=1; return 0; }
		FA_DEVICES="${FA_DEVICES:+$FA_DEVICES }$dev"
	else
		# Not up yet: the hotplug hook reloads when it comes up (its device is new).
		echo "flowagent: $2: network '$1' has no device (down?), not metered for now" >&2
	fi
}

fa_add_device() {
	fa_value "$2" device "$1" || { FA_RENDER_ERR=1; return 0; }
	FA_DEVICES="${FA_DEVICES:+$FA_DEVICES }$1"
}

fa_collector() {
	local section="$1" instance="$2" out="$3" inst
	config_get inst "$section" instance
	[ "$inst" = "$instance" ] || return 0
	FA_COLLECTORS=$((FA_COLLECTORS + 1))
	local addr
	config_get addr "$section" address
	if [ -z "$addr" ]; then
		echo "flowagent: $section.address: missing (host:port)" >&2
		FA_RENDER_ERR=1
		return 0
	fi
	fa_value "$section" name "$section" || { FA_RENDER_ERR=1; return 0; }
	{ echo; echo "[collector $section]"; } >> "$out"
	fa_key "$out" "$section" address address hostport &&
	fa_key "$out" "$section" protocol protocol 'ipfix v9' &&
	fa_key "$out" "$section" observation_domain observation_domain number &&
	fa_key "$out" "$section" max_datagram max_datagram number &&
	fa_key "$out" "$section" template_refresh template_refresh number &&
	fa_key "$out" "$section" template_refresh_packets template_refresh_packets number &&
	fa_bool "$out" "$section" nat_events nat_events &&
	fa_bool "$out" "$section" biflow biflow &&
	fa_key "$out" "$section" rate_limit rate_limit number ||
		FA_RENDER_ERR=1
}

flowagent_networks() {
	config_list_foreach "$1" network echo
}

flowagent_metered() {
	local dev
	[ -f "$1" ] || return 1
	# shellcheck disable=SC2013 # the file is one line of words
	for dev in $(cat "$1"); do
		[ "$dev" = "$2" ] && return 0
	done
	return 1
}

flowagent_render() {
	local section="$1" file="$2" devices="${3:-}" tmp source
	tmp="$file.tmp.$$"
	: > "$tmp" || return 1
	FA_RENDER_ERR=""
	FA_DEVICES=""
	FA_COLLECTORS=0

	config_get source "$section" source xdp
	fa_value "$section" source "$source" 'xdp tc conntrack' || { rm -f "$tmp"; return 1; }
	config_list_foreach "$section" network fa_add_network "$section"
	config_list_foreach "$section" device fa_add_device "$section"
	if [ "$source" != conntrack ] && [ -z "$FA_DEVICES" ] && [ -z "$FA_RENDER_ERR" ]; then
		echo "flowagent: $section: source '$source' needs at least one network or device" \
			"that is up" >&2
		FA_RENDER_ERR=1
	fi

	{
		echo "; generated from /etc/config/flowagent section '$section' - edit that file"
		echo "[agent]"
		echo "source = $source"
		[ -z "$FA_DEVICES" ] || echo "interfaces = $FA_DEVICES"
		# One control socket per instance (sections are [A-Za-z0-9_] in UCI): `flowagent
		# status --socket ...` and the rpcd plugin (ubus call flowagent ...) find it there.
		echo "control_socket = /var/run/flowagent/$section.sock"
	} >> "$tmp"
	fa_key "$tmp" "$section" observation_domain observation_domain number &&
	fa_key "$tmp" "$section" log_level log_level 'error warn info debug' &&
	fa_key "$tmp" "$section" log log 'stderr syslog' &&
	fa_key "$tmp" "$section" stop_timeout stop_timeout number || FA_RENDER_ERR=1

	{ echo; echo "[flows]"; } >> "$tmp"
	fa_key "$tmp" "$section" max_flows max_flows number &&
	fa_key "$tmp" "$section" active_timeout active_timeout number &&
	fa_key "$tmp" "$section" inactive_timeout inactive_timeout number &&
	fa_key "$tmp" "$section" full_policy full_policy 'evict drop' || FA_RENDER_ERR=1

	{ echo; echo "[sampling]"; } >> "$tmp"
	fa_key "$tmp" "$section" sampling_rate rate number &&
	fa_key "$tmp" "$section" sampling_mode mode 'random deterministic' || FA_RENDER_ERR=1

	# [conntrack]: only for the conntrack source (the agent refuses these keys otherwise).
	local opt val
	if [ "$source" = conntrack ]; then
		{ echo; echo "[conntrack]"; } >> "$tmp"
		fa_key "$tmp" "$section" conntrack_rcvbuf rcvbuf number &&
		fa_key "$tmp" "$section" conntrack_directions directions 'both original' &&
		fa_bool "$tmp" "$section" conntrack_mark mark &&
		fa_bool "$tmp" "$section" conntrack_zone zone || FA_RENDER_ERR=1
		# One state file per instance (tmpfs): two instances must not share baselines.
		echo "state_file = /var/run/flowagent/$section.conntrack-state" >> "$tmp"
	else
		for opt in conntrack_rcvbuf conntrack_directions conntrack_mark conntrack_zone; do
			config_get val "$section" "$opt"
			[ -z "$val" ] && continue
			echo "flowagent: $section.$opt='$val': only with source 'conntrack'" >&2
			FA_RENDER_ERR=1
		done
	fi

	config_foreach fa_collector collector "$section" "$tmp"
	if [ "$FA_COLLECTORS" -eq 0 ]; then
		echo "flowagent: $section: no 'config collector' section with option instance" \
			"'$section'" >&2
		FA_RENDER_ERR=1
	fi

	if [ -n "$FA_RENDER_ERR" ]; then
		rm -f "$tmp"
		return 1
	fi
	if [ -n "$devices" ]; then
		if ! { echo "$FA_DEVICES" > "$devices.tmp.$$" && mv -f "$devices.tmp.$$" "$devices"; }; then
			rm -f "$tmp" "$devices.tmp.$$"
			return 1
		fi
	fi
	mv -f "$tmp" "$file"
}
