#!/usr/bin/env bash
# layering.sh: the arrows between src/'s folders point down (README "How it works"): nothing below
# the exported hooks calls one, no folder includes a header of a folder above it, and the objects
# of libmtlsshim.so import each other in no circle.
#
# usage: tests/layering.sh [BUILD]   BUILD: the build directory after `make all` (default
#                                    $MTLSSHIM_BUILD, else build), relative to the repository or not
# Exit status: 0; 1 with one line per breach on stderr; 2 when BUILD lacks the objects.
set -euo pipefail
export LC_ALL=C

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-${MTLSSHIM_BUILD:-build}}
case $build in /*) ;; *) build=$repo/$build ;; esac
lib=$build/libmtlsshim.so
fail=0
breach() { echo "layering: $*" >&2; fail=1; }

# Lower to higher.  src/cli is beside the others, not above them: the launcher links the pure
# modules and the engine's tlsctx and identity (libmtlsshim-core.a), never the preload.
declare -A rank=([common]=0 [engine]=1 [preload]=2 [hooks]=3)
cli_may="cli common engine"

# The engine is a library of its own, but its calls into the preload go through the front table
# (engine/engine.h, entry.c); it may include the preload headers that declare what that table
# forwards, and nothing else of the preload:
#   preload/fdtable.h  struct fdobj, which every session starts with, and fdtable_clear_if
#   preload/signals.h  signals_restart
engine_may_preload="fdtable.h signals.h"

# Objects of each folder, one per source: a stale object of a removed file is no evidence.
need() { [ -f "$1" ] || { echo "layering: $1 missing: make B=${build#"$repo"/} all first" >&2; exit 2; }; }
objects() {
	local c
	for c in "$repo"/src/"$1"/*.c; do
		objs+=("$build/$1/$(basename "${c%.c}").o")
		need "${objs[-1]}"
	done
}
need "$lib"
objs=(); objects hooks; objects preload; objects common; preload_objs=("${objs[@]}")
objs=(); objects engine; engine_objs=("${objs[@]}")

# 1. Nothing calls an exported hook by name, not even another hook: inside the preload such a
# call goes through the PLT to whatever definition wins the lookup, and from the engine it lands
# in our own hook.  Internal code calls REAL(...) (common/real.h) or an internal body (hook_read,
# fdforget_one).  Every reference counts, defined in the same object or not; debug info is no call.
hooks=$(nm -D --defined-only "$lib" | awk '{ print $NF }' | sort -u)
for o in "${preload_objs[@]}" "${engine_objs[@]}"; do
	refs=$(objdump -r "$o" | awk '
		/^RELOCATION RECORDS FOR / { skip = ($0 ~ /\[\.debug/); next }
		!skip && NF == 3 && $1 ~ /^[0-9a-f]+$/ { s = $3; sub(/[-+]0x[0-9a-f]+$/, "", s); print s }' |
	    sort -u | comm -12 - <(echo "$hooks") | tr '\n' ' ')
	[ -z "$refs" ] || breach "${o#"$build"/} calls exported hooks by name: $refs"
done

# 2. Includes point down, or stay in their folder.
for f in "$repo"/src/*/*.[ch]; do
	from=$(basename "$(dirname "$f")")
	while read -r inc; do
		to=${inc%%/*}
		if [ "$to" = "$inc" ] || { [ -z "${rank[$to]+x}" ] && [ "$to" != cli ]; }; then
			breach "src/$from/$(basename "$f") includes \"$inc\", which names no folder of src/"
		elif [ "$from" = cli ]; then
			case " $cli_may " in *" $to "*) ;; *) breach "src/cli/$(basename "$f") includes \"$inc\"" ;; esac
		elif [ "$to" = cli ] || [ "${rank[$to]}" -gt "${rank[$from]}" ]; then
			if [ "$from" = engine ] && [ "$to" = preload ] &&
			    case " $engine_may_preload " in *" ${inc#preload/} "*) true ;; *) false ;; esac; then
				continue
			fi
			breach "src/$from/$(basename "$f") includes \"$inc\", a folder above it"
		fi
	done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done

# 3. No import circle among the objects of libmtlsshim.so: A -> B when A uses a global symbol B
# defines.  (The engine's entry.c is the library's front: it forwards the preload's services to
# the other engine objects and hands their functions back in the ops table, a circle by design.)
defs=$(mktemp)
trap 'rm -f "$defs"' EXIT
for o in "${preload_objs[@]}"; do
	nm -g --defined-only "$o" | awk -v o="${o#"$build"/}" 'NF == 3 { print $3, o }'
done | sort -u > "$defs"
edges=$(
	for o in "${preload_objs[@]}"; do
		nm -u "$o" | awk '{ print $NF }' | sort -u |
		    join - "$defs" | awk -v o="${o#"$build"/}" '$2 != o { print o, $2 }'
	done | sort -u
)
if ! loop=$(printf '%s\n' "$edges" | tsort 2>&1 >/dev/null) || [ -n "$loop" ]; then
	breach "objects of libmtlsshim.so import each other in a circle:" \
	    "$(printf '%s\n' "$loop" | sed -n 's/^tsort: \([^-].*\.o\)$/\1/p' | sort -u | tr '\n' ' ')"
fi

exit $fail
