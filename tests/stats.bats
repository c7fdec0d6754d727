#!/usr/bin/env bats
# stats.bats: the shared counters (`mtlsshim status`, `mtlsshim metrics`) across the processes of
# real multi-process and threaded servers: counts, reasons, the open gauge, bytes, expiry, reloads.

load helpers

setup_file() {
	common_setup_file
}
setup() {
	require_build
	# Each test its own run directory: counters start at zero, nothing is left in /run.
	export MTLSSHIM_RUNDIR=$BATS_TEST_TMPDIR/run
}
teardown() { common_teardown; }

# status CONF [--json]: `mtlsshim status` for CONF.
status() { "$LAUNCHER" status -c "$@"; }
metrics() { "$LAUNCHER" metrics -c "$@"; }

# metric CONF SERIES: the value of one series of `mtlsshim metrics` (a name with its labels, as an ERE).
metric() {
	metrics "$1" | awk -v re="^$2 " '$0 ~ re { print $NF; n++ } END { if (!n) print "absent" }'
}

# refuse_none PORT, refuse_foreign PORT: a client with no certificate, one from another CA.
refuse_none() {
	{ sleep 1; } | timeout 15 openssl s_client -quiet -CAfile "$PKI/ca.crt" \
		-connect "127.0.0.1:$1" >/dev/null 2>&1 || true
}
refuse_foreign() {
	{ sleep 1; } | timeout 15 openssl s_client -quiet -CAfile "$PKI/ca.crt" \
		-cert "$PKI/foreign.crt" -key "$PKI/foreign.key" -connect "127.0.0.1:$1" >/dev/null 2>&1 || true
}

@test "stats: a socat fork server that admitted 4 and refused 2 reports 4 and 2, with reasons and bytes" {
	local port c i
	port=$(free_port)
	c=$(server_conf fork "$port")
	shim_bg "$BATS_TEST_TMPDIR/socat.out" "$c" socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" EXEC:cat
	wait_port "$port"
	wire_start "$port"
	for i in 1 2 3 4; do
		run tls_say "$port" "hello %s\n" 1
		[ "$output" = "hello " ] || [ "$output" = "hello" ] || [[ "$output" == hello* ]]
	done
	refuse_none "$port"
	refuse_foreign "$port"
	wire_check
	wait_for "$BATS_TEST_TMPDIR/fork.log" 'reason=.*unknown|unable to get|self' 10
	[ "$(metric "$c" 'mtlsshim_handshakes_total\{config="fork[^"]*",rule="fork",role="server",result="ok"\}')" = 4 ]
	[ "$(metric "$c" 'mtlsshim_handshakes_total\{config="fork[^"]*",rule="fork",role="server",result="refused"\}')" = 2 ]
	[ "$(metric "$c" 'mtlsshim_refusals_total\{config="fork[^"]*",rule="fork",reason="no_certificate"\}')" = 1 ]
	[ "$(metric "$c" 'mtlsshim_refusals_total\{config="fork[^"]*",rule="fork",reason="unknown_ca"\}')" = 1 ]
	[ "$(metric "$c" 'mtlsshim_handshake_duration_seconds_count\{config="fork[^"]*",rule="fork"\}')" = 4 ]
	# "hello \n" is 7 bytes, in from each client and echoed back out.
	[ "$(metric "$c" 'mtlsshim_bytes_total\{config="fork[^"]*",rule="fork",direction="in"\}')" = 28 ]
	[ "$(metric "$c" 'mtlsshim_bytes_total\{config="fork[^"]*",rule="fork",direction="out"\}')" = 28 ]
	run status "$c"
	echo "$output"
	[[ "$output" == *'server "fork": port '"$port"', open 0, accepted 4, refused 2'* ]]
}

# hold PORT SECONDS: a TLS client presenting the trusted certificate that stays connected, silent,
# for SECONDS, then closes; sets HOLDPID.
hold() {
	bg "$BATS_TEST_TMPDIR/hold.$1.out" python3 -c '
import socket, ssl, sys, time
pki, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
ctx = ssl.create_default_context(cafile=pki + "/ca.crt")
ctx.load_cert_chain(pki + "/client.crt", pki + "/client.key")
with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        print("connected", flush=True)
        time.sleep(secs)
' "$PKI" "$1" "$2"
	HOLDPID=$BGPID
}

# wait_metric CONF SERIES VALUE: bounded wait (10 s) for a series to read VALUE.
wait_metric() {
	local i v
	for i in $(seq 1 100); do
		v=$(metric "$1" "$2")
		[ "$v" = "$3" ] && return 0
		sleep 0.1
	done
	echo "$2: $v, wanted $3" >&2
	metrics "$1" >&2
	return 1
}

@test "stats: the open gauge counts a held connection in the fork child, and drops it when the client leaves or the child is killed" {
	local port c
	port=$(free_port)
	c=$(server_conf hold "$port")
	shim_bg "$BATS_TEST_TMPDIR/socat.out" "$c" socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" EXEC:cat
	SRVPID_SOCAT=$BGPID
	wait_port "$port"
	hold "$port" 3
	wait_metric "$c" 'mtlsshim_connections_open\{config="hold[^"]*",rule="hold"\}' 1
	# The parent and the child serving the client.
	[ "$(metric "$c" 'mtlsshim_processes\{config="hold[^"]*"\}')" = 2 ]
	run status "$c"
	[[ "$output" == *"open 1, accepted 1"* ]]
	[[ "$output" == *": hold open 1"* ]]
	wait_metric "$c" 'mtlsshim_connections_open\{config="hold[^"]*",rule="hold"\}' 0
	wait_metric "$c" 'mtlsshim_processes\{config="hold[^"]*"\}' 1
	# A child killed while it holds one: its connection is no longer counted; its counts stay.
	hold "$port" 30
	wait_metric "$c" 'mtlsshim_connections_open\{config="hold[^"]*",rule="hold"\}' 1
	kill -KILL "$(pgrep -P "$SRVPID_SOCAT" socat | head -1)"
	wait_metric "$c" 'mtlsshim_connections_open\{config="hold[^"]*",rule="hold"\}' 0
	[ "$(metric "$c" 'mtlsshim_handshakes_total\{config="hold[^"]*",rule="hold",role="server",result="ok"\}')" = 2 ]
}
