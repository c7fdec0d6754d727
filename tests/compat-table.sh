#!/usr/bin/env bash
# compat-table.sh: turns the TAP output of tests/compat.bats into the README compatibility table.
#
# usage: tests/compat-table.sh TAPFILE                   print the Markdown table
#        tests/compat-table.sh --readme FILE TAPFILE     rewrite FILE between <!-- compat:begin -->
#                                                        and <!-- compat:end --> with a line saying
#                                                        how and when it was made, the table, and
#                                                        tests/compat/known-limits.md
# Test names read "compat: PROGRAM | MODE". The version column names the Debian package of each
# word of PROGRAM that is an installed package or a command a package owns.
# Exit status: 0, or 2 on bad usage or a TAP file without compat results.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readme=
if [ "${1:-}" = --readme ]; then
	readme=${2:?usage: compat-table.sh --readme FILE TAPFILE}
	shift 2
fi
tap=${1:?usage: compat-table.sh [--readme FILE] TAPFILE}
[ -r "$tap" ] || { echo "compat-table.sh: cannot read $tap" >&2; exit 2; }

declare -A pkgcache

# pkg_of WORD: the installed Debian package WORD names, directly or as a command; nothing if none.
pkg_of() {
	local w=$1 p
	if [ -n "${pkgcache[$w]+x}" ]; then printf '%s' "${pkgcache[$w]}"; return; fi
	if dpkg-query -W -f='${Status}' "$w" 2>/dev/null | grep -q 'ok installed'; then
		p=$w
	elif p=$(PATH=$PATH:/usr/sbin:/sbin command -v "$w" 2>/dev/null) && [ "${p#/}" != "$p" ]; then
		p=$(dpkg -S "$(readlink -f "$p")" 2>/dev/null | head -n 1 | cut -d: -f1) || p=
	else
		p=
	fi
	pkgcache[$w]=$p
	printf '%s' "$p"
}

# versions PROGRAM: "pkg version, pkg version" for the packages behind PROGRAM's words.
versions() {
	local w p out= seen=" "
	for w in ${1//+/ }; do
		p=$(pkg_of "$w")
		[ -n "$p" ] && [[ "$seen" != *" $p "* ]] || continue
		seen="$seen$p "
		out="${out:+$out, }$p $(dpkg-query -W -f='${Version}' "$p")"
	done
	printf '%s' "${out:-?}"
}

cell() { local s=${1//|/\\|}; printf '%s' "$s"; }

table=$(
	echo "| program | version | mode | result |"
	echo "| --- | --- | --- | --- |"
	while IFS= read -r line; do
		[[ "$line" =~ ^(not\ )?ok\ [0-9]+\ compat:\ (.*)$ ]] || continue
		name=${BASH_REMATCH[2]}
		if [ -n "${BASH_REMATCH[1]}" ]; then
			result=FAIL
		elif [[ "$name" =~ ^(.*)\ \#\ skip(\ (.*))?$ ]]; then
			name=${BASH_REMATCH[1]}
			result="skipped: ${BASH_REMATCH[3]:-no reason given}"
		else
			result=pass
		fi
		program=${name%% | *}
		mode=${name#* | }
		[ "$mode" != "$name" ] || mode=
		echo "| $(cell "$program") | $(cell "$(versions "$program")") | $(cell "$mode") | $(cell "$result") |"
	done < "$tap"
)
total=$(grep -cE '^(not )?ok [0-9]+ compat: ' "$tap" || true)
fail=$(grep -cE '^not ok [0-9]+ compat: ' "$tap" || true)
skipped=$(grep -cE '^ok [0-9]+ compat: .* # skip' "$tap" || true)
pass=$((total - fail - skipped))
if [ "$total" -eq 0 ]; then
	echo "compat-table.sh: no compat results in $tap" >&2
	exit 2
fi

if [ -z "$readme" ]; then
	printf '%s\n' "$table"
	exit 0
fi

grep -q '^<!-- compat:begin -->$' "$readme" && grep -q '^<!-- compat:end -->$' "$readme" || {
	echo "compat-table.sh: $readme lacks the compat markers" >&2
	exit 2
}
block=$(mktemp)
trap 'rm -f "$block" "$block.readme"' EXIT
{
	printf 'Produced by `make compat` (bats --tap tests/compat.bats, then tests/compat-table.sh) on %s,\n' "$(date -u +%Y-%m-%d)"
	printf 'Debian %s, %s: %d passed, %d failed, %d skipped.\n\n' \
		"$(cat /etc/debian_version 2>/dev/null || echo '?')" "$(uname -m)" "$pass" "$fail" "$skipped"
	printf '%s\n' "$table"
	if [ -s "$here/compat/known-limits.md" ]; then
		echo
		cat "$here/compat/known-limits.md"
	fi
} > "$block"
awk -v blockfile="$block" '
	$0 == "<!-- compat:begin -->" { print; while ((getline l < blockfile) > 0) print l; skip = 1; next }
	$0 == "<!-- compat:end -->" { skip = 0 }
	!skip { print }
 ' "$readme" > "$block.readme"
# Rewrite in place: the file keeps its inode and mode.
cat "$block.readme" > "$readme"
