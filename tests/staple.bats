#!/usr/bin/env bats
# staple.bats: ocsp_staple_file: a server rule staples a DER OCSP response from a file to clients
# that ask (status_request), checks it at load (fail closed), reloads it when the file changes and
# stops stapling it once it expires.

load helpers
load ocsp

setup_file() {
	# One OCSP PKI for both sides: conf() and sclient() use $PKI/ca.crt and $PKI/client.*.
	export PKI=$BATS_FILE_TMPDIR/opki
	export OURL=http://127.0.0.1:9/ocsp
	mkocsp_pki "$PKI" "$OURL"
	ocsp_issue "$PKI" server /CN=localhost "$OURL"
	ocsp_issue "$PKI" client /CN=client "$OURL" client
	ocsp_issue "$PKI" other /CN=other "$OURL"
	ocsp_issue "$PKI" isrv /CN=localhost "$OURL" server int
	ocsp_staple "$PKI" server "$PKI/server.der"
	ocsp_staple "$PKI" other "$PKI/other.der"
	ocsp_staple "$PKI" isrv "$PKI/isrv.der"
	ocsp_staple_dated "$PKI" server "$PKI/server-expired.der" -7200 -3600
	ocsp_staple_dated "$PKI" server "$PKI/server-revoked.der" -60 86400 revoked
	ocsp_staple_dated "$PKI" server "$PKI/server-later.der" -60 172800
	ocsp_staple_dated "$PKI" server "$PKI/server-future.der" 3600 7200
	head -c 300 /dev/urandom > "$PKI/garbage.der"
}
setup() {
	require_build
	LIVE=$BATS_TEST_TMPDIR/live
	mkdir -p "$LIVE"
}
teardown() { common_teardown; }

# staple_conf NAME PORT STAPLE [CERT-BASE [KEY-BASE]]: a server rule on PORT stapling the file
# STAPLE, presenting $PKI/CERT-BASE.crt (default server) with $PKI/KEY-BASE.key (default CERT-BASE).
staple_conf() {
	conf "$1" <<-EOF
	cert_file = "$PKI/${4:-server}.crt"
	key_file = "$PKI/${5:-${4:-server}}.key"
	server "$1" {
	    port = $2
	    ocsp_staple_file = "$3"
	}
	EOF
}

# start_staple STAPLE [CERT-BASE]: a shimmed epoll echo_server (rule "st") stapling STAPLE; sets
# PORT, SRVLOG, CONF.
start_staple() {
	PORT=$(free_port)
	CONF=$(staple_conf st "$PORT" "$@")
	SRVLOG=$BATS_TEST_TMPDIR/st.log
	shim_bg "$BATS_TEST_TMPDIR/st.out" "$CONF" "$PROGS/echo_server" -m epoll "$PORT"
	wait_port "$PORT"
}

# assert_refused CONF WHY...: the program never runs: exit 78 and one stderr line naming CONF,
# the rule, the option, the file and each WHY; through LD_PRELOAD, the launcher and `check`.
assert_refused() {
	local c=$1; shift
	local how w
	for how in preload launcher check; do
		case $how in
		preload) run --separate-stderr shim "$c" "$PROGS/echo_server" 1 ;;
		launcher) run --separate-stderr launcher -c "$c" "$PROGS/echo_server" 1 ;;
		check) run --separate-stderr launcher check -c "$c" ;;
		esac
		echo "[$how] status=$status stdout=$output"
		echo "[$how] stderr=$stderr"
		[ "$status" -eq 78 ]
		refute_contains "$output" listening
		[ "${#stderr_lines[@]}" -eq 1 ]
		[[ "$stderr" == "mtlsshim: "* ]]
		assert_contains "$stderr" "$c: server \"st\": ocsp_staple_file $STAPLE: "
		for w in "$@"; do assert_contains "$stderr" "$w"; done
	done
}

@test "s_client -status gets the stapled response: successful, good; the connection works" {
	start_staple "$PKI/server.der"
	local produced
	produced=$(openssl ocsp -respin "$PKI/server.der" -resp_text -noverify | grep 'Produced At:')
	wire_start "$PORT"
	run status_client -status
	show
	# The file's response (its production time), successful and good.
	assert_contains "$output" "$produced"
	assert_contains "$output" "OCSP Response Status: successful"
	assert_contains "$output" "Cert Status: good"
	assert_contains "$output" "Verify return code: 0 (ok)"
	assert_contains "$output" "hello"
	# The same over TLS 1.2 (a CertificateStatus message rather than a certificate extension).
	run status_client -status -tls1_2
	show
	assert_contains "$output" "Cert Status: good"
	assert_contains "$output" "hello"
	# TLS 1.2: the server acknowledges the request in its ServerHello.
	run status_client -status -tls1_2 -tlsextdebug
	assert_contains "$output" 'TLS server extension "status request"'
	wire_check --min-conns 3
	[ "$(count "$SRVLOG" 'accepted rule=st')" -eq 3 ]
}

@test "a client that does not ask for status gets none and works" {
	start_staple "$PKI/server.der"
	wire_start "$PORT"
	run status_client -trace
	show
	assert_contains "$output" "hello"
	assert_contains "$output" "Verify return code: 0 (ok)"
	# Neither the client's request nor the server's answer (a certificate entry extension).
	refute_contains "$output" "status_request"
	refute_contains "$output" "OCSP Response Status"
	# Asking, the trace shows both, so their absence above means something.
	run status_client -trace -status
	assert_contains "$output" "status_request"
	assert_contains "$output" "Cert Status: good"
	wire_check --min-conns 2
}

# refused_with STAPLE WHY...: a rule stapling STAPLE does not start (assert_refused).
refused_with() {
	STAPLE=$1; shift
	assert_refused "$(staple_conf st 1 "$STAPLE")" "$@"
}

@test "a response for another certificate, revoked, expired, not yet valid, or garbage: the program does not start" {
	refused_with "$PKI/other.der" "the response is not about cert_file $PKI/server.crt"
	refused_with "$PKI/server-revoked.der" "it says cert_file $PKI/server.crt is revoked"
	refused_with "$PKI/server-expired.der" "status expired (thisUpdate 20" ", nextUpdate 20"
	refused_with "$PKI/server-future.der" "status not yet valid (thisUpdate 20"
	refused_with "$PKI/garbage.der" "not a DER OCSP response"
	refused_with "$PKI/server.crt" "not a DER OCSP response"
	refused_with "$PKI/no-such.der" "No such file or directory"
}

@test "a response not signed by the rule's trust: the program does not start" {
	# Another PKI's OCSP signer answering for our certificate (the right issuer name and key
	# hash in the response): the signer must chain to ca_file.
	local f=$BATS_TEST_TMPDIR/fpki
	mkocsp_pki "$f"
	cp "$PKI/server.crt" "$f/server.crt"
	cp "$PKI/ca.crt" "$f/ca.crt"	# the issuer the response names; the signer stays f's own
	ocsp_staple_dated "$f" server "$BATS_TEST_TMPDIR/forged.der" -60 3600
	refused_with "$BATS_TEST_TMPDIR/forged.der" "its signature does not verify against ca_file $PKI/ca.crt"
}

@test "a certificate issued by the intermediate: the staple is checked against the chain in cert_file" {
	STAPLE=$PKI/isrv.der
	PORT=$(free_port)
	CONF=$(staple_conf st "$PORT" "$STAPLE" isrv-chain isrv)
	shim_bg "$BATS_TEST_TMPDIR/st.out" "$CONF" "$PROGS/echo_server" -m epoll "$PORT"
	wait_port "$PORT"
	wire_start "$PORT"
	run status_client -status
	show
	assert_contains "$output" "Cert Status: good"
	assert_contains "$output" "hello"
	wire_check
	# The root's staple for another certificate does not fit this one.
	STAPLE=$PKI/server.der
	assert_refused "$(staple_conf st 1 "$STAPLE" isrv-chain isrv)" "not about cert_file $PKI/isrv-chain.crt"
}

# next_update [s_client options...]: the Next Update of the response a new connection is stapled.
next_update() {
	status_client -status "$@" | sed -n 's/^ *Next Update: //p' | head -1
}

# wait_reload ERE: new connections (the context is looked at by handshakes), bounded (10 s), until
# the server log has a line matching ERE; each must still be stapled $KEEP.
wait_reload() {
	local i seen
	for i in $(seq 1 30); do
		seen=$(next_update)
		[ "$seen" = "$KEEP" ] || { echo "a new connection was stapled '$seen', want '$KEEP'" >&2; return 1; }
		grep -Eq -- "$1" "$SRVLOG" && return 0
		sleep 0.3
	done
	wait_for "$SRVLOG" "$1" 0
}

@test "a replaced staple file is stapled from the next handshake; a bad one keeps the old" {
	cp "$PKI/server.der" "$LIVE/staple.der"
	start_staple "$LIVE/staple.der"
	local want1 want2 i seen
	want1=$(openssl ocsp -respin "$PKI/server.der" -resp_text -noverify | sed -n 's/^ *Next Update: //p' | head -1)
	want2=$(openssl ocsp -respin "$PKI/server-later.der" -resp_text -noverify | sed -n 's/^ *Next Update: //p' | head -1)
	[ "$want1" != "$want2" ]
	wire_start "$PORT"
	[ "$(next_update)" = "$want1" ]
	put "$PKI/server-later.der" "$LIVE/staple.der"
	for i in $(seq 1 30); do
		seen=$(next_update)
		[ "$seen" = "$want2" ] && break
		[ "$seen" = "$want1" ] || { echo "a new connection was stapled '$seen'" >&2; false; }
		sleep 0.3
	done
	[ "$seen" = "$want2" ]
	wait_for "$SRVLOG" 'reloaded rule=st'
	# Garbage in its place: refused with one line, the previous staple (and certificate) stay.
	KEEP=$want2
	put "$PKI/garbage.der" "$LIVE/staple.der"
	wait_reload "reload failed rule=st: .*: server \"st\": ocsp_staple_file $LIVE/staple.der: not a DER OCSP response .*; keeping the previous certificate"
	[ "$(next_update)" = "$want2" ]
	[ "$(count "$SRVLOG" 'reload failed')" -eq 1 ]
	# A response for another certificate is refused the same way.
	put "$PKI/other.der" "$LIVE/staple.der"
	wait_reload "reload failed rule=st: .*ocsp_staple_file $LIVE/staple.der: the response is not about cert_file"
	[ "$(next_update)" = "$want2" ]
	[ "$(count "$SRVLOG" 'reload failed')" -eq 2 ]
	# And a good one is picked up again.
	put "$PKI/server.der" "$LIVE/staple.der"
	for i in $(seq 1 30); do
		seen=$(next_update)
		[ "$seen" = "$want1" ] && break
		sleep 0.3
	done
	[ "$seen" = "$want1" ]
	wire_check --min-conns 4
	[ "$(count "$BATS_TEST_TMPDIR/st.out" '^listening')" -eq 1 ]
}

@test "a staple that expires while the program runs is no longer stapled, logged once" {
	ocsp_staple_dated "$PKI" server "$LIVE/soon.der" -60 4
	start_staple "$LIVE/soon.der"
	wire_start "$PORT"
	run status_client -status
	show
	assert_contains "$output" "Cert Status: good"
	sleep 5
	run status_client -status
	show
	assert_contains "$output" "OCSP response: no response sent"
	assert_contains "$output" "hello"
	run status_client -status
	assert_contains "$output" "no response sent"
	wire_check --min-conns 3
	wait_for "$SRVLOG" "rule=st: ocsp_staple_file $LIVE/soon.der expired at .* \\(its nextUpdate\\); stapling nothing"
	[ "$(count "$SRVLOG" 'stapling nothing')" -eq 1 ]
}

@test "the start-up cache does not outlive the staple: expired or replaced, the next start checks it again" {
	local x=$BATS_TEST_TMPDIR/xdg c
	mkdir -m 700 "$x"
	ocsp_staple_dated "$PKI" server "$LIVE/soon.der" -60 3
	STAPLE=$LIVE/soon.der
	c=$(staple_conf st "$(free_port)" "$STAPLE")
	XDG_RUNTIME_DIR=$x run shim "$c" /bin/true
	show
	[ "$status" -eq 0 ]
	run grep -rl "$c" "$x/mtlsshim"
	[ "$status" -eq 0 ]
	# Expired since: refused at start, although the configuration and certificates are as cached.
	sleep 4
	XDG_RUNTIME_DIR=$x run --separate-stderr shim "$c" /bin/true
	show
	[ "$status" -eq 78 ]
	assert_contains "$stderr" "ocsp_staple_file $STAPLE: status expired"
	# A good staple is cached; the file replaced with a bad one is checked at the next start.
	cp "$PKI/server.der" "$LIVE/soon.der"
	XDG_RUNTIME_DIR=$x run shim "$c" /bin/true
	[ "$status" -eq 0 ]
	put "$PKI/other.der" "$LIVE/soon.der"
	XDG_RUNTIME_DIR=$x run --separate-stderr shim "$c" /bin/true
	show
	[ "$status" -eq 78 ]
	assert_contains "$stderr" "ocsp_staple_file $STAPLE: the response is not about cert_file"
}
