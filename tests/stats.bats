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
	# The parent, the child serving the client and the cat it runs: every process under the config.
	wait_metric "$c" 'mtlsshim_processes\{config="hold[^"]*"\}' 3
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

# A test-local nginx: master and 2 workers, epoll, serving index.html on PORT.
nginx_here() {
	local d=$BATS_TEST_TMPDIR/nginx
	mkdir -p "$d/html" "$d/tmp"
	echo "hello from nginx" > "$d/html/index.html"
	cat > "$d/nginx.conf" <<-NGX
	daemon off;
	master_process on;
	worker_processes 2;
	user root root;
	pid $d/nginx.pid;
	error_log $d/error.log info;
	events { worker_connections 64; use epoll; }
	http {
	    access_log off;
	    client_body_temp_path $d/tmp;
	    proxy_temp_path $d/tmp;
	    fastcgi_temp_path $d/tmp;
	    uwsgi_temp_path $d/tmp;
	    scgi_temp_path $d/tmp;
	    server { listen 127.0.0.1:$1; root $d/html; }
	}
	NGX
	shim_bg "$d/out" "$2" nginx -c "$d/nginx.conf" -p "$d"
	wait_port "$1"
}

@test "stats: nginx with 2 workers: exact counts whichever worker served, 3 processes attached" {
	local port c i
	port=$(free_port)
	c=$(server_conf nginx "$port")
	nginx_here "$port" "$c"
	wire_start "$port"
	for i in 1 2 3 4 5 6; do
		# A new connection each time: the kernel spreads them over the workers.
		[ "$(mcurl "https://localhost:$port/")" = "hello from nginx" ]
	done
	run curl -sS --max-time 10 --cacert "$PKI/ca.crt" "https://localhost:$port/"
	[ "$status" -ne 0 ]
	wire_check
	wait_metric "$c" 'mtlsshim_handshakes_total\{config="nginx[^"]*",rule="nginx",role="server",result="refused"\}' 1
	[ "$(metric "$c" 'mtlsshim_handshakes_total\{config="nginx[^"]*",rule="nginx",role="server",result="ok"\}')" = 6 ]
	[ "$(metric "$c" 'mtlsshim_refusals_total\{config="nginx[^"]*",rule="nginx",reason="no_certificate"\}')" = 1 ]
	[ "$(metric "$c" 'mtlsshim_handshake_duration_seconds_count\{config="nginx[^"]*",rule="nginx"\}')" = 6 ]
	wait_metric "$c" 'mtlsshim_connections_open\{config="nginx[^"]*",rule="nginx"\}' 0
	# The master and its two workers.
	wait_metric "$c" 'mtlsshim_processes\{config="nginx[^"]*"\}' 3
	# Every response body (17 bytes) went out through the shim, headers too.
	[ "$(metric "$c" 'mtlsshim_bytes_total\{config="nginx[^"]*",rule="nginx",direction="out"\}')" -gt $((6 * 17)) ]
	[ "$(metric "$c" 'mtlsshim_bytes_total\{config="nginx[^"]*",rule="nginx",direction="in"\}')" -gt 0 ]
}

@test "stats: a threaded server (python http.server): counts, open connections while held, bytes" {
	local port c i
	port=$(free_port)
	c=$(server_conf py "$port")
	mkdir -p "$BATS_TEST_TMPDIR/www" && printf 'twelve bytes' > "$BATS_TEST_TMPDIR/www/f"
	shim_bg "$BATS_TEST_TMPDIR/py.out" "$c" python3 -m http.server --bind 127.0.0.1 \
		--directory "$BATS_TEST_TMPDIR/www" "$port"
	wait_port "$port"
	for i in 1 2 3; do
		[ "$(mcurl "https://localhost:$port/f")" = "twelve bytes" ]
	done
	# Two clients held open at once, each on its own thread of the server.
	hold "$port" 30; local h1=$HOLDPID
	hold "$port" 30; local h2=$HOLDPID
	wait_metric "$c" 'mtlsshim_connections_open\{config="py[^"]*",rule="py"\}' 2
	[ "$(metric "$c" 'mtlsshim_processes\{config="py[^"]*"\}')" = 1 ]
	kill "$h1" "$h2"
	wait_metric "$c" 'mtlsshim_connections_open\{config="py[^"]*",rule="py"\}' 0
	[ "$(metric "$c" 'mtlsshim_handshakes_total\{config="py[^"]*",rule="py",role="server",result="ok"\}')" = 5 ]
	[ "$(metric "$c" 'mtlsshim_bytes_total\{config="py[^"]*",rule="py",direction="out"\}')" -gt 36 ]
}

@test "stats: cert_not_after is the certificate's notAfter; a rotation counts a reload and moves it" {
	local port c live=$BATS_TEST_TMPDIR/live want
	port=$(free_port)
	mkdir -p "$live"
	cp "$PKI/server.crt" "$live/tls.crt"
	cp "$PKI/server.key" "$live/tls.key"
	c=$(MTLS_PKI=$PKI MTLS_RULE=rot MTLS_CERT=server MTLS_LOG=$BATS_TEST_TMPDIR/rot.log \
		mtls_server_conf "$port" "cert_file = \"$live/tls.crt\"" "key_file = \"$live/tls.key\"")
	shim_bg "$BATS_TEST_TMPDIR/socat.out" "$c" socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" EXEC:cat
	wait_port "$port"
	want=$(date -d "$(openssl x509 -enddate -noout -in "$PKI/server.crt" | cut -d= -f2)" +%s)
	[ "$(metric "$c" 'mtlsshim_cert_not_after_timestamp_seconds\{config="rot[^"]*",rule="rot"\}')" = "$want" ]
	# A certificate for 90 days replaces the one for 30.
	issue_cert "$PKI" long /CN=localhost "subjectAltName = DNS:localhost, IP:127.0.0.1" 90
	put "$PKI/long.key" "$live/tls.key"
	put "$PKI/long.crt" "$live/tls.crt"
	want=$(date -d "$(openssl x509 -enddate -noout -in "$PKI/long.crt" | cut -d= -f2)" +%s)
	# The library looks at its files when the program works: keep it busy until it has.
	local i
	for i in $(seq 1 20); do
		run tls_say "$port" "x\n" 0
		[ "$(metric "$c" 'mtlsshim_reloads_total\{config="rot[^"]*",rule="rot",result="ok"\}')" = 1 ] && break
		sleep 0.5
	done
	[ "$(metric "$c" 'mtlsshim_reloads_total\{config="rot[^"]*",rule="rot",result="ok"\}')" = 1 ]
	[ "$(metric "$c" 'mtlsshim_reloads_total\{config="rot[^"]*",rule="rot",result="failed"\}')" = 0 ]
	[ "$(metric "$c" 'mtlsshim_cert_not_after_timestamp_seconds\{config="rot[^"]*",rule="rot"\}')" = "$want" ]
	run status "$c"
	[[ "$output" == *"(1 ok, 0 failed)"* ]]
}

@test "stats: a client rule counts its handshakes as role=\"client\", refusals by reason" {
	local c
	start_tls_echo
	c=$(client_conf out "$EPORT")
	run shim "$c" socat -T 5 - "TCP:127.0.0.1:$EPORT" <<< "ping"
	[ "$status" -eq 0 ]
	[[ "$output" == *ping* ]]
	[ "$(metric "$c" 'mtlsshim_handshakes_total\{config="out[^"]*",rule="out",role="client",result="ok"\}')" = 1 ]
	# A server from another CA: the client refuses it.
	kill_bg
	start_tls_echo foreign
	c=$(client_conf out2 "$EPORT")
	run shim "$c" socat -T 5 - "TCP:127.0.0.1:$EPORT" <<< "ping"
	[ "$status" -ne 0 ]
	[ "$(metric "$c" 'mtlsshim_handshakes_total\{config="out2[^"]*",rule="out2",role="client",result="refused"\}')" = 1 ]
	[ "$(metric "$c" 'mtlsshim_refusals_total\{config="out2[^"]*",rule="out2",reason="unknown_ca"\}')" = 1 ]
}

# one_each NAME: an echo server (socat) under rule NAME, on a free port (port), config c: one
# client admitted, one without a certificate refused, both counted.
one_each() {
	port=$(free_port)
	c=$(server_conf "$1" "$port")
	shim_bg "$BATS_TEST_TMPDIR/socat.out" "$c" socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" EXEC:cat
	wait_port "$port"
	run tls_say "$port" "hi\n" 1
	refuse_none "$port"
	wait_metric "$c" "mtlsshim_handshakes_total\\{config=\"$1[^\"]*\",rule=\"$1\",role=\"server\",result=\"refused\"\\}" 1
}

@test "stats: promtool accepts the exposition; node_exporter's textfile collector serves it with no scrape error" {
	command -v promtool >/dev/null || skip "promtool (package prometheus) is not installed"
	command -v prometheus-node-exporter >/dev/null || skip "prometheus-node-exporter is not installed"
	local port c tf=$BATS_TEST_TMPDIR/textfile np
	one_each prom
	run bash -c "'$LAUNCHER' metrics -c '$c' | promtool check metrics"
	echo "$output"
	[ "$status" -eq 0 ]
	mkdir -p "$tf"
	run "$LAUNCHER" metrics -c "$c" --textfile "$tf"
	[ "$status" -eq 0 ]
	local prom=$tf/mtlsshim-$(basename "$c" .conf).prom
	[ -f "$prom" ]
	# No temporary file is left for the collector to trip on.
	[ "$(ls "$tf")" = "$(basename "$prom")" ]
	np=$(free_port)
	bg "$BATS_TEST_TMPDIR/ne.out" prometheus-node-exporter --web.listen-address="127.0.0.1:$np" \
		--collector.disable-defaults --collector.textfile --collector.textfile.directory="$tf"
	wait_port "$np"
	run curl -sS --max-time 10 "http://127.0.0.1:$np/metrics"
	[ "$status" -eq 0 ]
	[[ "$output" == *'mtlsshim_handshakes_total{config="prom'*'",result="ok",role="server",rule="prom"} 1'* ]]
	[[ "$output" == *'mtlsshim_refusals_total{config="prom'*'",reason="no_certificate",rule="prom"} 1'* ]]
	[[ "$output" == *'node_textfile_scrape_error 0'* ]]
}

@test "stats: status --json is valid JSON with the documented fields" {
	local port c
	one_each js
	# The fork children that served the two clients are gone.
	wait_metric "$c" 'mtlsshim_processes\{config="js[^"]*"\}' 1
	run bash -c "'$LAUNCHER' status -c '$c' --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
r = d[\"rules\"][0]
assert r[\"name\"] == \"js\" and r[\"role\"] == \"server\" and r[\"port\"] == $port, r
assert r[\"accepted\"] == 1 and r[\"refused\"] == 1 and r[\"open\"] == 0, r
assert r[\"refusals\"][\"no_certificate\"] == 1, r
assert r[\"cert_not_after\"] > 0 and r[\"cert_days_left\"] >= 29, r
assert r[\"handshake_p50_seconds\"] > 0, r
assert r[\"bytes_in\"] == 3 and r[\"bytes_out\"] == 3, r
assert len(d[\"processes\"]) == 1 and d[\"processes\"][0][\"pid\"] > 0, d
print(\"ok\")
'"
	echo "$output"
	[ "$output" = ok ]
}

@test "stats: a run directory that cannot be made: the program serves, one line says why; status says so" {
	local port c
	port=$(free_port)
	: > "$BATS_TEST_TMPDIR/afile"
	export MTLSSHIM_RUNDIR=$BATS_TEST_TMPDIR/afile/run
	c=$(server_conf nodir "$port")
	shim_bg "$BATS_TEST_TMPDIR/socat.out" "$c" socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" EXEC:cat
	wait_port "$port"
	run tls_say "$port" "still served\n" 1
	[[ "$output" == "still served"* ]]
	run tls_say "$port" "again\n" 1
	[[ "$output" == "again"* ]]
	# One line per program image (socat, and the cat each connection runs), not one per fork child.
	[ "$(count "$BATS_TEST_TMPDIR/nodir.log" 'stats: .*afile/run.*carrying on without metrics')" = 3 ]
	run status "$c"
	[ "$status" -ne 0 ]
	[[ "$output" == *afile/run* ]]
	# A run directory writable by others is not used either.
	mkdir -m 0777 "$BATS_TEST_TMPDIR/open"
	export MTLSSHIM_RUNDIR=$BATS_TEST_TMPDIR/open
	run shim "$(server_conf other "$(free_port)")" /bin/true
	[ "$status" -eq 0 ]
	assert_file_has "$BATS_TEST_TMPDIR/other.log" 'stats: .*open is not a directory owned by uid 0 and writable by it alone'
}

@test "stats: stats = false keeps no file; status and metrics say the counters are off" {
	local port c
	port=$(free_port)
	c=$(MTLS_PKI=$PKI MTLS_RULE=off MTLS_CERT=server MTLS_LOG=$BATS_TEST_TMPDIR/off.log mtls_server_conf "$port")
	sed -i '1i stats = false' "$c"
	shim_bg "$BATS_TEST_TMPDIR/socat.out" "$c" socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" EXEC:cat
	wait_port "$port"
	run tls_say "$port" "hi\n" 1
	[[ "$output" == hi* ]]
	[ ! -e "$MTLSSHIM_RUNDIR" ] || [ -z "$(ls -A "$MTLSSHIM_RUNDIR")" ]
	run status "$c"
	[ "$status" -eq 1 ]
	[[ "$output" == *"stats = false: no counters are kept"* ]]
	run metrics "$c"
	[ "$status" -eq 1 ]
}
