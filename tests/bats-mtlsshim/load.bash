# bats-mtlsshim: bats-core helpers to test a service's mutual TLS through the installed mtlsshim.
#
# Load it with `bats_load_library bats-mtlsshim` (installed by `make install` in
# $PREFIX/lib/bats; set BATS_LIB_PATH=$PREFIX/lib/bats unless PREFIX is /usr) or, from a
# checkout, `load /path/to/tests/bats-mtlsshim/load`. Needs bats-core (1.5+), openssl, ss
# (iproute2), ps (procps) and coreutils' timeout. With bats-support loaded its failures are
# printed with batslib_decorate and fail; without it, in the same shape on stderr.
#
# PKI and configs
#   mtls_pki [DIR]                      throwaway PKI made with `mtlsshim pki`; exports MTLS_PKI
#   mtls_free_port                      a loopback TCP port nobody uses right now
#   mtls_server_conf PORT [LINE...]     a config with one server rule on PORT; prints its path
#   mtls_client_conf PORT [LINE...]     a config with one client rule on PORT; prints its path
# Processes
#   mtls_start CONF CMD [ARG...]        CMD under the shim in the background, once it listens
#   mtls_run CONF CMD [ARG...]          CMD under the shim in the foreground (for `run`)
#   mtls_bg OUTFILE CMD [ARG...]        CMD without the shim in the background (a peer)
#   mtls_track PID                      stop PID (and its process group) at mtls_teardown too
#   mtls_teardown                       stop, by PID, everything started above (call in teardown)
#   mtls_wait_port PORT [SECONDS]       wait until something listens on PORT (default 10 s)
#   mtls_launcher ARG...                the launcher itself, e.g. `run mtls_launcher check -c CONF`
# Assertions
#   assert_mtls_accepts PORT [CERT]            a client presenting CERT (default client) gets in
#   assert_mtls_refuses PORT [CERT] [REGEX]    a client presenting CERT (default none) is refused,
#                                              for a reason matching REGEX in the shim log
#   assert_no_plaintext PORT [REQUEST]         a plaintext REQUEST gets no plaintext byte back
#   assert_shim_log REGEX, refute_shim_log REGEX   the shim log has (waits up to 5 s) / has not
#                                              a line matching the ERE
#
# MTLS_PKI layout (mtls_pki DIR): ca.crt ca.key crl.pem (the trusted CA; crl.pem lists
# `revoked`), server.crt/.key (DNS:localhost, IP:127.0.0.1, IP:::1, serverAuth),
# client.crt/.key (clientAuth), expired.crt/.key, revoked.crt/.key (both clientAuth, from
# ca), foreign.crt/.key (localhost and both usages, from another CA, kept in DIR/foreign/ with
# its ca.crt, ca.key and crl.pem). A CERT argument is one of those names, any NAME with
# $MTLS_PKI/NAME.crt and .key, a path without the .crt (PATH.crt, PATH.key), or `none`.
#
# Settings (environment; all optional)
#   MTLSSHIM            the launcher (default: mtlsshim on PATH)
#   MTLS_LAUNCH_PREFIX  words run before the launcher, e.g. "env LD_PRELOAD=/path/libasan.so.8"
#                       (a bash array is taken as is)
#   MTLS_LOG            the shim log the configs write and the assertions read
#                       (default $BATS_TEST_TMPDIR/mtlsshim.log)
#   MTLS_RULE           rule name in the configs (default server / client)
#   MTLS_CERT           certificate the configs present (default server / client)
#   MTLS_LOG_LEVEL      the configs' log_level (default info; the assertions need info or debug)
#   MTLS_HOST           address the assertions connect to (default 127.0.0.1)
#   MTLS_WAIT           seconds a test client waits for the server's verdict (default 1)
#   MTLS_START_TIMEOUT  seconds mtls_start waits for the port (default 10)
#   MTLS_TIMEOUT        seconds mtls_run lets the command run (default 60)

# ---------------------------------------------------------------------------------------------
# Internals

# _mtls_tmp: this test's temporary directory (the file's in setup_file/teardown_file).
_mtls_tmp() { echo "${BATS_TEST_TMPDIR:-${BATS_FILE_TMPDIR:-${TMPDIR:-/tmp}}}"; }

# _mtls_log: the path of the shim log.
_mtls_log() { echo "${MTLS_LOG:-$(_mtls_tmp)/mtlsshim.log}"; }

# _mtls_kv KEY VALUE...: one `key : value` line per pair; a multi-line value indented below its key.
_mtls_kv() {
	while [ $# -ge 2 ]; do
		if [[ $2 == *$'\n'* ]]; then
			printf '%s (%s lines):\n' "$1" "$(printf '%s\n' "$2" | wc -l)"
			printf '%s\n' "$2" | sed 's/^/  /'
		else
			printf '%-11s: %s\n' "$1" "$2"
		fi
		shift 2
	done
}

# _mtls_fail TITLE KEY VALUE...: prints a failure (bats-support's batslib_decorate and fail when
# loaded, else the same shape on stderr) and returns 1. The shim log's tail always ends it.
_mtls_fail() {
	local title=$1 body; shift
	body=$(_mtls_kv "$@" "shim log" "$(_mtls_log_tail)")
	if declare -F batslib_decorate >/dev/null && declare -F fail >/dev/null; then
		printf '%s\n' "$body" | batslib_decorate "$title" | fail
		return 1
	fi
	printf -- '-- %s --\n%s\n--\n' "$title" "$body" >&2
	return 1
}

# _mtls_log_tail: the shim log's last 10 lines, or why there are none.
_mtls_log_tail() {
	local log; log=$(_mtls_log)
	if [ -s "$log" ]; then tail -n 10 "$log"; else echo "(empty or absent: $log)"; fi
}

# _mtls_log_lines: how many lines the shim log has now; _mtls_log_since N: those after line N.
_mtls_log_lines() { local n; n=$(wc -l 2>/dev/null < "$(_mtls_log)") || n=0; echo "${n:-0}"; }
_mtls_log_since() { tail -n "+$(($1 + 1))" "$(_mtls_log)" 2>/dev/null || true; }

# _mtls_need_launcher: sets _MTLS_LAUNCH, the launcher with its prefix; fails if not found.
_mtls_need_launcher() {
	local -a pre=()
	if [[ $(declare -p MTLS_LAUNCH_PREFIX 2>/dev/null) == "declare -a"* ]]; then
		pre=("${MTLS_LAUNCH_PREFIX[@]}")
	else
		read -ra pre <<< "${MTLS_LAUNCH_PREFIX:-}"
	fi
	_MTLS_LAUNCH=("${pre[@]}" "${MTLSSHIM:-mtlsshim}")
	command -v "${MTLSSHIM:-mtlsshim}" >/dev/null && return 0
	_mtls_fail "mtlsshim launcher not found" \
		launcher "${MTLSSHIM:-mtlsshim}" \
		hint "put mtlsshim on PATH or set MTLSSHIM=/path/to/mtlsshim"
}

# _mtls_cert CERT: sets _MTLS_ID, the s_client options presenting CERT (see the header).
_mtls_cert() {
	_MTLS_ID=()
	[ "$1" != none ] || return 0
	local base=$1
	[[ $base == */* ]] || base=${MTLS_PKI:-MTLS_PKI-not-set}/$base
	if [ -f "$base.crt" ] && [ -f "$base.key" ]; then
		_MTLS_ID=(-cert "$base.crt" -key "$base.key")
		return 0
	fi
	_mtls_fail "no certificate $1" expected "$base.crt and $base.key" hint "MTLS_PKI=${MTLS_PKI:-} (mtls_pki DIR sets it)"
}

# _mtls_alive PID: PID runs (a zombie does not count).
_mtls_alive() { [[ $(ps -o stat= -p "$1" 2>/dev/null) == [^Z]* ]]; }

# _mtls_listening PORT: something listens on TCP PORT (v4 or v6), seen without connecting.
_mtls_listening() { [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }

# _mtls_poll_port PORT SECONDS [PID]: 0 once PORT listens, 1 after SECONDS, 2 when PID is gone.
_mtls_poll_port() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		_mtls_listening "$1" && return 0
		if [ -n "${3:-}" ] && ! _mtls_alive "$3"; then return 2; fi
		sleep 0.1
	done
	_mtls_listening "$1" && return 0
	return 1
}

# _mtls_server_ports CONF: the port of each server rule of CONF.
_mtls_server_ports() {
	awk '/^[[:space:]]*#/ { next }
	/^[[:space:]]*server[[:space:]]*"/ { s = 1 }
	/^[[:space:]]*client[[:space:]]*"/ { s = 0 }
	s && /^[[:space:]]*port[[:space:]]*=/ { v = $0; sub(/^[^=]*=[[:space:]]*/, "", v); sub(/[^0-9].*/, "", v); print v; s = 0 }' "$1"
}

# _mtls_descendants PID...: every descendant of the PIDs, one a line.
_mtls_descendants() {
	ps -e -o pid=,ppid= | awk -v roots="$*" '
	BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) want[r[i]] = 1 }
	{ parent[$1] = $2 }
	END {
		do {
			more = 0
			for (p in parent) if (!(p in want) && (parent[p] in want)) { want[p] = 1; out[p] = 1; more = 1 }
		} while (more)
		for (p in out) print p
	}'
}

# _mtls_conf KIND PORT LINE...: the config of mtls_server_conf / mtls_client_conf.
_mtls_conf() {
	local kind=$1 port=$2; shift 2
	local pki=${MTLS_PKI:-}
	if [ -z "$pki" ] || [ ! -f "$pki/ca.crt" ]; then
		_mtls_fail "mtls_${kind}_conf: no PKI" MTLS_PKI "${pki:-(not set)}" hint "call mtls_pki DIR first"
		return 1
	fi
	local rule=${MTLS_RULE:-$kind} cert=${MTLS_CERT:-$kind} f
	[[ $cert == */* ]] || cert=$pki/$cert
	f=$(_mtls_tmp)/$rule.$port.conf
	{
		echo "log_level = \"${MTLS_LOG_LEVEL:-info}\""
		echo "log_file = \"$(_mtls_log)\""
		echo "ca_file = \"$pki/ca.crt\""
		echo "cert_file = \"$cert.crt\""
		echo "key_file = \"$cert.key\""
		echo "$kind \"$rule\" {"
		echo "    port = $port"
		[ $# -eq 0 ] || printf '    %s\n' "$@"
		echo "}"
	} > "$f"
	echo "$f"
}

# _mtls_sclient PORT CERT: an unshimmed openssl s_client to $MTLS_HOST:PORT presenting CERT,
# verifying the server against $MTLS_PKI/ca.crt, sending nothing and reading for $MTLS_WAIT s
# (TLS 1.3: a server refuses the client's certificate after the client's handshake is done, so
# a refusal shows only in that read). Sets _MTLS_MARK (the shim log's length before),
# _MTLS_SC (s_client's telling lines), _MTLS_WHAT (what happened, in words) and _MTLS_VERDICT:
# accepted, refused (an alert or an error during the handshake), closed (an end without an
# alert), unverified (the client rejected the server's certificate), unreachable, timeout.
_mtls_sclient() {
	_mtls_cert "$2" || return 1
	local out rc=0 host=${MTLS_HOST:-127.0.0.1} alert
	_MTLS_MARK=$(_mtls_log_lines)
	out=$({ sleep "${MTLS_WAIT:-1}"; } | timeout -k 2 20 openssl s_client -connect "$host:$1" \
		-CAfile "$MTLS_PKI/ca.crt" -verify_return_error "${_MTLS_ID[@]}" 3>&- 2>&1) || rc=$?
	_MTLS_SC=$(printf '%s\n' "$out" | grep -E '^(CONNECTED|depth=|verify |Verification|Verify return|New,|DONE|closed)|error|errno|alert' | tail -n 12)
	alert=$(printf '%s\n' "$out" | sed -n 's/.*:\([^:]*alert [^:]*\):.*SSL alert number \([0-9]*\).*/\1 (alert number \2)/p' | head -n 1)
	if [ $rc -ge 124 ]; then
		_MTLS_VERDICT=timeout _MTLS_WHAT="no outcome within 20 s (stalled handshake?)"
	elif ! grep -q '^CONNECTED' <<< "$out"; then
		_MTLS_VERDICT=unreachable _MTLS_WHAT="could not connect to $host:$1 (nothing listens?)"
	elif grep -q 'verify error:' <<< "$out"; then
		_MTLS_VERDICT=unverified
		_MTLS_WHAT="the client rejected the server's certificate: $(grep -m1 'verify error:' <<< "$out")"
	elif [ -n "$alert" ]; then
		_MTLS_VERDICT=refused _MTLS_WHAT="the server sent $alert"
	elif [ $rc -ne 0 ]; then
		_MTLS_VERDICT=refused _MTLS_WHAT="the handshake failed (s_client exit $rc)"
	elif grep -q '^closed$' <<< "$out"; then
		_MTLS_VERDICT=closed _MTLS_WHAT="the server closed the connection after the handshake, without an alert"
	elif grep -q '^DONE$' <<< "$out"; then
		_MTLS_VERDICT=accepted _MTLS_WHAT="the handshake completed and the connection stayed open ${MTLS_WAIT:-1} s"
	else
		_MTLS_VERDICT=refused _MTLS_WHAT="no completed handshake (s_client exit $rc)"
	fi
}

# _mtls_refusals: the reasons of the shim log's refused lines since _MTLS_MARK, one a line.
_mtls_refusals() { _mtls_log_since "$_MTLS_MARK" | sed -n 's/.* refused .*reason="\(.*\)"$/\1/p'; }

# _mtls_tls_only FILE: FILE holds whole or truncated TLS records only (or nothing); else prints
# the offset of the first byte that is not.
_mtls_tls_only() {
	local -a b
	b=($(od -An -v -tu1 "$1"))
	local i=0 n=${#b[@]}
	while [ $i -lt $n ]; do
		if [ "${b[i]}" -lt 20 ] || [ "${b[i]}" -gt 23 ] ||
			{ [ $((i + 1)) -lt $n ] && [ "${b[i + 1]}" != 3 ]; } ||
			{ [ $((i + 2)) -lt $n ] && [ "${b[i + 2]}" -gt 4 ]; } ||
			{ [ $((i + 4)) -lt $n ] && [ $((b[i + 3] * 256 + b[i + 4])) -gt 18432 ]; }; then
			echo "$i"
			return 1
		fi
		[ $((i + 4)) -lt $n ] || return 0
		i=$((i + 5 + b[i + 3] * 256 + b[i + 4]))
	done
}

# _mtls_pki ARG...: `mtlsshim pki ARG...`, echoed first (mtls_pki's log).
_mtls_pki() { echo "+ mtlsshim pki $*"; "${_MTLS_LAUNCH[@]}" pki "$@"; }

# ---------------------------------------------------------------------------------------------
# PKI, ports and configs

# mtls_pki [DIR]: a throwaway PKI in DIR (default $BATS_TEST_TMPDIR/pki) made with
# `mtlsshim pki` (layout in the header); exports MTLS_PKI=DIR.
mtls_pki() {
	local d=${1:-$(_mtls_tmp)/pki}
	_mtls_need_launcher || return 1
	mkdir -p "$d" || return 1
	d=$(cd "$d" && pwd)
	local log=$(_mtls_tmp)/mtls-pki.$(basename "$d").log loopback=(--dns localhost --ip 127.0.0.1 --ip ::1)
	if ! {
		_mtls_pki init "$d" --name "bats-mtlsshim CA" &&
		_mtls_pki issue "$d" server --server "${loopback[@]}" &&
		_mtls_pki issue "$d" client --client &&
		_mtls_pki issue "$d" expired --client --expired &&
		_mtls_pki issue "$d" revoked --client &&
		_mtls_pki revoke "$d" revoked &&
		_mtls_pki init "$d/foreign" --name "bats-mtlsshim foreign CA" &&
		_mtls_pki issue "$d/foreign" foreign --server --client "${loopback[@]}" &&
		cp -p "$d/foreign/foreign.crt" "$d/foreign/foreign.key" "$d/"
	} > "$log" 2>&1; then
		_mtls_fail "mtls_pki: mtlsshim pki failed" dir "$d" output "$(tail -n 15 "$log")"
		return 1
	fi
	export MTLS_PKI=$d
}

# mtls_free_port: a TCP port from the kernel's ephemeral range that no socket (any state, v4 or
# v6) has as its local port right now.
mtls_free_port() {
	local lo=32768 hi=60999 i p
	read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
		if [ -z "$(ss -Htan "sport = :$p" 2>/dev/null)" ]; then
			echo "$p"
			return 0
		fi
	done
	_mtls_fail "mtls_free_port: no free port in $lo-$hi after 100 tries"
}

# mtls_server_conf PORT [LINE...], mtls_client_conf PORT [LINE...]: write a config presenting
# $MTLS_PKI's server (client) certificate, trusting its ca.crt, logging to $MTLS_LOG, with one
# rule on PORT; each LINE (e.g. 'crl_file = "..."', 'allow_cn = {"client"}', 'host = "::1"')
# goes inside the rule, where every option but log_level and log_file may stand (a rule's
# cert_file, key_file or ca_file overrides the top-level one). Print the config's path.
mtls_server_conf() { _mtls_conf server "$@"; }
mtls_client_conf() { _mtls_conf client "$@"; }

# ---------------------------------------------------------------------------------------------
# Processes

# mtls_launcher ARG...: runs the launcher (MTLSSHIM, after MTLS_LAUNCH_PREFIX) with ARGs.
mtls_launcher() {
	_mtls_need_launcher || return 1
	"${_MTLS_LAUNCH[@]}" "$@"
}

# mtls_track PID: mtls_teardown stops PID, its process group and its descendants too.
mtls_track() { echo "$1" >> "$(_mtls_tmp)/mtls.pids"; }

# mtls_bg OUTFILE CMD [ARG...]: starts CMD (not under the shim) in its own session and process
# group, stdin from /dev/null, stdout and stderr to OUTFILE; sets MTLS_PID; mtls_teardown stops it.
mtls_bg() {
	local out=$1; shift
	setsid "$@" < /dev/null > "$out" 2>&1 3>&- &
	MTLS_PID=$!
	mtls_track "$MTLS_PID"
}

# mtls_wait_port PORT [SECONDS]: waits (default 10 s) until something listens on PORT, without
# connecting; fails if nothing does.
mtls_wait_port() {
	_mtls_poll_port "$1" "${2:-10}" && return 0
	_mtls_fail "nothing listens on port $1" expected "a listening socket on port $1 within ${2:-10} s" \
		listening "$(ss -Hltn 2>/dev/null | awk '{print $4}' | tr '\n' ' ')"
}

# mtls_start CONF CMD [ARG...]: starts CMD under the shim with CONF in the background (mtls_bg;
# output in MTLS_OUT, PID in MTLS_PID) and waits (MTLS_START_TIMEOUT, 10 s) until the port of
# each server rule of CONF listens. Fails, showing CMD's output and the shim log, if CMD exits
# first or the port does not listen in time.
mtls_start() {
	local conf=$1 port rc n; shift
	_mtls_need_launcher || return 1
	[ -f "$conf" ] || { _mtls_fail "mtls_start: no config" config "$conf"; return 1; }
	n=$(cat "$(_mtls_tmp)/mtls.pids" 2>/dev/null | wc -l)
	MTLS_OUT=$(_mtls_tmp)/mtls-start.$((n + 1)).out
	mtls_bg "$MTLS_OUT" "${_MTLS_LAUNCH[@]}" -c "$conf" "$@"
	for port in $(_mtls_server_ports "$conf"); do
		rc=0
		_mtls_poll_port "$port" "${MTLS_START_TIMEOUT:-10}" "$MTLS_PID" || rc=$?
		[ $rc -ne 0 ] || continue
		local what="port $port did not listen within ${MTLS_START_TIMEOUT:-10} s (PID $MTLS_PID still runs)"
		if [ $rc -eq 2 ]; then
			local st=0
			wait "$MTLS_PID" 2>/dev/null || st=$?
			what="it exited with status $st before port $port listened"
		fi
		_mtls_fail "mtls_start: $1 did not start" command "$*" config "$conf" what "$what" \
			"output" "$(tail -n 15 "$MTLS_OUT")"
		return 1
	done
}

# mtls_run CONF CMD [ARG...]: runs CMD under the shim with CONF in the foreground, bounded by
# MTLS_TIMEOUT (60 s; then exit status 124); returns its exit status. For `run`.
mtls_run() {
	local conf=$1; shift
	_mtls_need_launcher || return 1
	timeout -k 5 "${MTLS_TIMEOUT:-60}" "${_MTLS_LAUNCH[@]}" -c "$conf" "$@"
}

# mtls_teardown: stops everything mtls_start, mtls_bg and mtls_track took on: SIGTERM to each
# PID's process group, the PID and its descendants; SIGKILL to those left after 3 s. By PID only.
mtls_teardown() {
	local f p i
	f=$(_mtls_tmp)/mtls.pids
	[ -s "$f" ] || return 0
	local -a pids kids
	mapfile -t pids < "$f"
	rm -f "$f"
	mapfile -t kids < <(_mtls_descendants "${pids[@]}")
	for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
	for p in "${pids[@]}" "${kids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for ((i = 0; i < 30; i++)); do
		local alive=
		for p in "${pids[@]}" "${kids[@]}"; do _mtls_alive "$p" && alive=$p && break; done
		[ -n "$alive" ] || return 0
		sleep 0.1
	done
	for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
	for p in "${pids[@]}" "${kids[@]}"; do
		if _mtls_alive "$p"; then
			echo "mtls_teardown: PID $p ($(ps -o comm= -p "$p")) ignored SIGTERM for 3 s: killed" >&2
			kill -KILL "$p" 2>/dev/null || true
		fi
	done
	return 0
}

# ---------------------------------------------------------------------------------------------
# Assertions

# assert_mtls_accepts PORT [CERT]: an unshimmed openssl s_client presenting CERT (default
# client) completes the handshake with $MTLS_HOST:PORT, verifies the server against ca.crt and is
# not cut off within MTLS_WAIT seconds; nor does the shim log a refusal meanwhile. A connection
# the program itself closes passes only when the shim log shows it accepted.
assert_mtls_accepts() {
	local port=$1 cert=${2:-client}
	_mtls_sclient "$port" "$cert" || return 1
	local refused accepted
	refused=$(_mtls_refusals)
	accepted=$(_mtls_log_since "$_MTLS_MARK" | grep ' accepted ' || true)
	if [ -z "$refused" ] && { [ "$_MTLS_VERDICT" = accepted ] ||
		{ [ "$_MTLS_VERDICT" = closed ] && [ -n "$accepted" ]; }; }; then
		return 0
	fi
	[ -z "$refused" ] || _MTLS_WHAT="$_MTLS_WHAT; the shim logged: refused reason=\"$refused\""
	_mtls_fail "mTLS handshake not accepted" expected "port $port accepts a client presenting $cert" \
		got "$_MTLS_WHAT" s_client "$_MTLS_SC"
}

# assert_mtls_refuses PORT [CERT|none] [REGEX]: an unshimmed openssl s_client presenting CERT
# (default none: no certificate) is refused by $MTLS_HOST:PORT: an alert, a failed handshake or
# a connection cut within MTLS_WAIT s, though the client accepted the server's certificate.
# With REGEX (an ERE), the shim log also gets (within 5 s) a `refused` line whose reason
# matches it.
assert_mtls_refuses() {
	local port=$1 cert=${2:-none} re=${3:-} i reasons
	_mtls_sclient "$port" "$cert" || return 1
	case $_MTLS_VERDICT in
	refused | closed) ;;
	*)
		_mtls_fail "mTLS handshake not refused" expected "port $port refuses a client presenting $cert" \
			got "$_MTLS_WHAT" s_client "$_MTLS_SC"
		return 1 ;;
	esac
	[ -n "$re" ] || return 0
	for ((i = 0; i < 50; i++)); do
		reasons=$(_mtls_refusals)
		grep -Eq -- "$re" <<< "$reasons" && return 0
		sleep 0.1
	done
	_mtls_fail "refused, but not for the expected reason" expected "a shim log line: refused ... reason=\"/$re/\"" \
		got "$_MTLS_WHAT; logged reasons: ${reasons:-(no refused line in $(_mtls_log))}" s_client "$_MTLS_SC"
}

# assert_no_plaintext PORT [REQUEST]: a plaintext client (bash /dev/tcp) connects to
# $MTLS_HOST:PORT, sends REQUEST (a printf format, default 'PING\r\n') and reads for
# MTLS_WAIT + 1 s: whatever comes back must be TLS records (a TLS alert, say) or nothing.
assert_no_plaintext() {
	local port=$1 req=${2:-'PING\r\n'} host=${MTLS_HOST:-127.0.0.1} w=${MTLS_WAIT:-1} f off rc=0
	w=${w%.*}
	f=$(_mtls_tmp)/mtls-plain.$port.bin
	rm -f "$f"
	timeout -k 1 $((w + 5)) bash -c 'exec 5<>"/dev/tcp/$0/$1" || exit 2
		printf "$2" >&5 2>/dev/null
		timeout "$3" cat <&5 | head -c 65536 > "$4"
		exit 0' "$host" "$port" "$req" "$((w + 1))" "$f" 3>&- 2>/dev/null || rc=$?
	if [ $rc -ne 0 ] || [ ! -f "$f" ]; then
		_mtls_fail "plaintext client could not connect" expected "a connection to $host:$port" \
			got "exit status $rc (nothing listens?)"
		return 1
	fi
	off=$(_mtls_tls_only "$f") && return 0
	_mtls_fail "plaintext answered in plaintext" expected "no byte back, or TLS records only, for $req" \
		got "$(wc -c < "$f") bytes; byte $off is not part of a TLS record" \
		received "$(head -c 300 "$f" | cat -v)"
}

# assert_shim_log REGEX: a line of the shim log matches the ERE, now or within 5 s.
assert_shim_log() {
	local i
	for ((i = 0; i < 50; i++)); do
		grep -Eq -- "$1" "$(_mtls_log)" 2>/dev/null && return 0
		sleep 0.1
	done
	_mtls_fail "no such line in the shim log" expected "a line matching /$1/ in $(_mtls_log)"
}

# refute_shim_log REGEX: no line of the shim log matches the ERE.
refute_shim_log() {
	local hits
	hits=$(grep -E -- "$1" "$(_mtls_log)" 2>/dev/null) || return 0
	_mtls_fail "unexpected line in the shim log" expected "no line matching /$1/" got "$hits"
}
