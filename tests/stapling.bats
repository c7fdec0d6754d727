#!/usr/bin/env bats
# stapling.bats: ocsp_stapling = true: a server rule fetches its own certificate's status from its
# responder (a real `openssl ocsp`, tests/ocsp.bash) off the handshake path, staples it to clients
# that ask, refreshes it, and goes on unstapled while the responder is down or says revoked.

load helpers
load ocsp

setup_file() {
	export PKI=$BATS_FILE_TMPDIR/opki
	export OPORT OURL
	OPORT=$(free_port)
	OURL=http://127.0.0.1:$OPORT
	mkocsp_pki "$PKI" "$OURL"
	ocsp_issue "$PKI" srv /CN=localhost "$OURL"
	ocsp_issue "$PKI" rsrv /CN=localhost "$OURL"
	ocsp_issue "$PKI" srv2 /CN=localhost "$OURL"
	ocsp_issue "$PKI" client /CN=client "$OURL" client
	ocsp_revoke "$PKI" rsrv
}
setup() { require_build; T=$BATS_TEST_TMPDIR; }
teardown() { common_teardown; }

# sconf NAME PORT [CERT-BASE] [LINES]: a server rule on PORT with ocsp_stapling = true presenting
# $PKI/CERT-BASE (default srv), whose AIA names the responder on OPORT.
sconf() {
	conf "$1" <<-EOF
	cert_file = "$PKI/${3:-srv}.crt"
	key_file = "$PKI/${3:-srv}.key"
	server "$1" {
	    port = $2
	    ocsp_stapling = true
	    ${4:-}
	}
	EOF
}

# start_stapler [CERT-BASE] [PROGRAM ARGS...]: a shimmed server (default: the epoll echo_server)
# under sconf "st" on PORT (a free one unless set); sets PORT, SRVLOG, SRVPID.
start_stapler() {
	local cert=${1:-srv}
	[ $# -eq 0 ] || shift
	PORT=${PORT:-$(free_port)}
	local c; c=$(sconf st "$PORT" "$cert")
	SRVLOG=$T/st.log
	if [ $# -eq 0 ]; then
		set -- "$PROGS/echo_server" -m epoll "$PORT"
	fi
	shim_bg "$T/st.out" "$c" "$@"
	SRVPID=$BGPID
	wait_port "$PORT"
}

FETCHED='rule=st: OCSP staple fetched from http://127\.0\.0\.1:[0-9]+: good, nextUpdate '

@test "s_client -status gets the fetched staple: successful, good; one fetch serves every connection" {
	ocsp_responder_start "$PKI" "$OPORT"
	start_stapler
	# Fetched when the listener was made, before any client asked.
	wait_for "$SRVLOG" "$FETCHED" 10
	wire_start "$PORT"
	run status_client -status
	show
	assert_stapled_good "$output"
	assert_contains "$output" "Verify return code: 0 (ok)"
	# TLS 1.2: a CertificateStatus message rather than a certificate extension.
	run status_client -status -tls1_2
	show
	assert_stapled_good "$output"
	# A client that does not ask gets none and works.
	run status_client
	show
	refute_contains "$output" "OCSP Response Status"
	assert_contains "$output" "hello"
	wire_check --min-conns 3
	[ "$(count "$SRVLOG" 'accepted rule=st')" -eq 3 ]
	# One query for the three connections: the server's own fetch.
	[ "$(ocsp_query_count "$OCSP_LOG")" -eq 1 ]
	[ "$(count "$SRVLOG" 'OCSP staple fetched')" -eq 1 ]
}

@test "the responder down at start: connections work unstapled, a warning; once it is up a later connection is stapled" {
	# A short retry (1 s, doubling) keeps this fast; the default is 10 s.
	export MTLSSHIM_TEST_STAPLE_RETRY=1
	start_stapler
	wait_for "$SRVLOG" "rule=st: OCSP staple not fetched from http://127\\.0\\.0\\.1:$OPORT: OCSP responder connect: Connection refused; stapling nothing; next try in 1s" 10
	wire_start "$PORT"
	run status_client -status
	show
	assert_contains "$output" "OCSP response: no response sent"
	assert_contains "$output" "Verify return code: 0 (ok)"
	assert_contains "$output" "hello"
	# Retries back off: 1 s, 2 s, 4 s ...
	wait_for "$SRVLOG" 'next try in 2s' 10
	ocsp_responder_start "$PKI" "$OPORT"
	# The retry rides on the listener's timer: the program sits in epoll_wait meanwhile.
	wait_for "$SRVLOG" "$FETCHED" 30
	run status_client -status
	show
	assert_stapled_good "$output"
	wire_check --min-conns 2
	[ "$(ocsp_query_count "$OCSP_LOG")" -eq 1 ]
}

@test "a revoked own certificate: no staple is served, a warning says revoked; connections still work" {
	ocsp_responder_start "$PKI" "$OPORT"
	start_stapler rsrv
	wait_for "$SRVLOG" "rule=st: OCSP staple not fetched from http://127\\.0\\.0\\.1:$OPORT: it says cert_file $PKI/rsrv\\.crt is revoked; stapling nothing; next try in 10s" 10
	wire_start "$PORT"
	run status_client -status
	show
	assert_contains "$output" "OCSP response: no response sent"
	refute_contains "$output" "Cert Status"
	assert_contains "$output" "hello"
	wire_check --min-conns 1
	refute_file_has "$SRVLOG" 'OCSP staple fetched'
}

@test "clients use the staple: s_client -status and a shimmed ocsp = leaf client ask the responder nothing" {
	ocsp_responder_start "$PKI" "$OPORT"
	start_stapler
	wait_for "$SRVLOG" "$FETCHED" 10
	local before c
	before=$(ocsp_query_count "$OCSP_LOG")
	[ "$before" -eq 1 ]
	c=$(conf oc <<-EOF
	cert_file = "$PKI/client.crt"
	key_file = "$PKI/client.key"
	client "oc" {
	    port = $PORT
	    ocsp = "leaf"
	}
	EOF
	)
	wire_start "$PORT"
	run status_client -status
	show
	assert_contains "$output" "Cert Status: good"
	assert_contains "$output" "hello"
	run shim "$c" timeout 20 "$PROGS/client" -l 1 127.0.0.1 "$PORT" $'stapled\n'
	show
	[ "$status" -eq 0 ]
	[ "$output" = stapled ]
	assert_file_has "$T/oc.log" 'rule=oc'
	wire_check --min-conns 2
	# Neither client asked: the staple settled the server's certificate.
	[ "$(ocsp_query_count "$OCSP_LOG")" -eq "$before" ]
}

@test "a daemon that forks after listening (epfork): the child fetches for itself and staples" {
	ocsp_responder_start "$PKI" "$OPORT"
	PORT=$(free_port)
	start_stapler srv "$PROGS/epfork" "$PORT" 20
	wait_for "$T/st.out" 'child ready' 10
	wire_start "$PORT"
	local i out=
	# The child's first service starts its fetch (the parent's went with it); bounded.
	for i in $(seq 1 20); do
		run status_client -status
		out=$output
		grep -q 'Cert Status: good' <<<"$out" && break
		sleep 0.5
	done
	echo "$out"
	assert_contains "$out" "OCSP Response Status: successful"
	assert_contains "$out" "Cert Status: good"
	assert_contains "$out" "echo:hello"
	wire_check --min-conns 1
	wait_for "$SRVLOG" "$FETCHED" 5
}

# serials: of the certificate the server presented and of the one its staple is about ("-" when
# none was stapled), from status_client -status -showcerts OUTPUT.
serials() {
	local served stapled
	# The first certificate of the chain (the response's signer, before it, is printed too).
	served=$(awk '/^Certificate chain/ { c = 1 } c && /-----BEGIN CERTIFICATE-----/ { p = 1 }
	    p { print } p && /-----END CERTIFICATE-----/ { exit }' <<<"$1" |
	    openssl x509 -noout -serial | cut -d= -f2)
	stapled=$(sed -n 's/^ *Serial Number: //p' <<<"$1" | head -1)
	echo "$served ${stapled:--}"
}

@test "a rotated certificate gets a staple of its own; the old one's is never stapled to it" {
	ocsp_responder_start "$PKI" "$OPORT"
	local live=$T/live s1 s2 i got c
	mkdir -p "$live"
	cp "$PKI/srv.crt" "$PKI/srv.key" "$live/"
	s1=$(openssl x509 -in "$PKI/srv.crt" -noout -serial | cut -d= -f2)
	s2=$(openssl x509 -in "$PKI/srv2.crt" -noout -serial | cut -d= -f2)
	PORT=$(free_port)
	c=$(conf st <<-EOF
	cert_file = "$live/srv.crt"
	key_file = "$live/srv.key"
	server "st" {
	    port = $PORT
	    ocsp_stapling = true
	}
	EOF
	)
	SRVLOG=$T/st.log
	shim_bg "$T/st.out" "$c" "$PROGS/echo_server" -m epoll "$PORT"
	wait_port "$PORT"
	wait_for "$SRVLOG" "$FETCHED" 10
	wire_start "$PORT"
	run status_client -status -showcerts
	[ "$(serials "$output")" = "$s1 $s1" ]
	# Key then certificate, each renamed into place (a mismatch in between is refused and retried).
	cp "$PKI/srv2.key" "$live/.k" && mv -f "$live/.k" "$live/srv.key"
	cp "$PKI/srv2.crt" "$live/.c" && mv -f "$live/.c" "$live/srv.crt"
	# Every connection: the staple, if any, is about the certificate presented; bounded.
	for i in $(seq 1 30); do
		run status_client -status -showcerts
		got=$(serials "$output")
		echo "connection $i: served, stapled: $got"
		case $got in
		"$s1 $s1"|"$s1 -"|"$s2 -") ;;
		"$s2 $s2") break ;;
		*) echo "a staple for another certificate: $got" >&2; false ;;
		esac
		sleep 0.3
	done
	[ "$got" = "$s2 $s2" ]
	assert_contains "$output" "Cert Status: good"
	wire_check --min-conns 2
	wait_for "$SRVLOG" 'reloaded rule=st' 5
	[ "$(count "$SRVLOG" 'OCSP staple fetched')" -eq 2 ]
	[ "$(ocsp_query_count "$OCSP_LOG")" -eq 2 ]
}

@test "refreshed halfway to nextUpdate; a failed refresh keeps stapling the previous response" {
	export MTLSSHIM_TEST_STAPLE_RETRY=1
	# Responses good for a minute: the next fetch is due 30 s after the first.
	ocsp_responder_start "$PKI" "$OPORT" -nmin 1
	start_stapler
	wait_for "$SRVLOG" "${FETCHED}.*; next fetch in (29|30)s" 10
	local first
	first=$(grep -c 'OCSP staple fetched' "$SRVLOG")
	ocsp_responder_stop
	# The refresh fails: one warning, and the response fetched first is still stapled.
	wait_for "$SRVLOG" "rule=st: OCSP staple not fetched from http://127\\.0\\.0\\.1:$OPORT: .*; stapling the previous response until its nextUpdate 20.*; next try in 1s" 40
	wire_start "$PORT"
	run status_client -status
	show
	assert_stapled_good "$output"
	wire_check --min-conns 1
	# Back up: the retry (1 s, then 2 s ...) fetches a new one.
	ocsp_responder_start "$PKI" "$OPORT" -nmin 1
	local i
	for i in $(seq 1 100); do
		[ "$(count "$SRVLOG" 'OCSP staple fetched')" -gt "$first" ] && break
		sleep 0.1
	done
	[ "$(count "$SRVLOG" 'OCSP staple fetched')" -eq $((first + 1)) ]
}

@test "ocsp_responder overrides the AIA; a responder that never answers delays no handshake" {
	local sport c t0 t1
	sport=$(free_port)
	# Accepts and never answers.
	bg "$T/silent.out" python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
held = []
for _ in range(200):
    held.append(s.accept())' "$sport"
	wait_port "$sport"
	PORT=$(free_port)
	c=$(sconf st "$PORT" srv "ocsp_responder = \"http://127.0.0.1:$sport/\"
	    ocsp_timeout = 6")
	SRVLOG=$T/st.log
	shim_bg "$T/st.out" "$c" "$PROGS/echo_server" -m epoll "$PORT"
	wait_port "$PORT"
	# The exchange is in flight (6 s): a handshake meanwhile is not held up by it.
	wire_start "$PORT"
	t0=$(date +%s%N)
	run status_client -status
	t1=$(date +%s%N)
	show
	assert_contains "$output" "OCSP response: no response sent"
	assert_contains "$output" hello
	# status_client stays 1 s for the echo.
	echo "took $(( (t1 - t0) / 1000000 )) ms"
	[ $(( (t1 - t0) / 1000000 )) -lt 3000 ]
	wire_check --min-conns 1
	refute_file_has "$SRVLOG" 'OCSP staple (fetched|not fetched)'
	wait_for "$SRVLOG" "rule=st: OCSP staple not fetched from http://127\\.0\\.0\\.1:$sport/: OCSP responder did not answer within 6s; stapling nothing; next try in 10s" 10
	# The AIA's responder (OPORT) was never asked: nothing listens there, and nothing said so.
	refute_file_has "$SRVLOG" "127\\.0\\.0\\.1:$OPORT"
}
