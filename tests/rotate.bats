#!/usr/bin/env bats
# rotate.bats: certificates, keys, CAs and CRLs replaced on disk are picked up by new connections
# without a restart; open connections are untouched; broken material is refused and the old kept.

load helpers

setup_file() {
	common_setup_file
	local srv=$'extendedKeyUsage = serverAuth, clientAuth\nsubjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1'
	issue_cert "$PKI" rot1 /CN=rotated-1 "$srv"
	issue_cert "$PKI" rot2 /CN=rotated-2 "$srv"
	issue_cert "$PKI" short /CN=short-lived "$srv" 3
	issue_cert "$PKI" victim /CN=victim $'extendedKeyUsage = clientAuth\nsubjectAltName = DNS:victim.test'
	mkcrl "$PKI" "$PKI/crl-empty.pem"
	mkcrl "$PKI" "$PKI/crl-victim.pem" "$PKI/victim.crt"
}
setup() {
	require_build
	LIVE=$BATS_TEST_TMPDIR/live
	mkdir -p "$LIVE"
}
teardown() { common_teardown; }

# rot_conf NAME PORT [LINE...]: a server rule whose cert/key are $LIVE/tls.{crt,key}.
rot_conf() {
	local n=$1 p=$2; shift 2
	{
		echo "cert_file = \"$LIVE/tls.crt\""
		echo "key_file = \"$LIVE/tls.key\""
		echo "server \"$n\" {"
		echo "    port = $p"
		[ $# -eq 0 ] || printf '    %s\n' "$@"
		echo "}"
	} | conf "$n"
}

# start_rot [LINE...]: a shimmed epoll echo_server (rule "rot") on $LIVE/tls.*; sets PORT, SRVLOG.
start_rot() {
	PORT=$(free_port)
	local c; c=$(rot_conf rot "$PORT" "$@")
	SRVLOG=$BATS_TEST_TMPDIR/rot.log
	shim_bg "$BATS_TEST_TMPDIR/rot.out" "$c" "$PROGS/echo_server" -m epoll "$PORT"
	wait_port "$PORT"
}

# subject: the subject of the certificate a new connection to $PORT is shown ("CN = ...").
subject() {
	timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -verify_return_error -CAfile "$PKI/ca.crt" \
		-cert "$PKI/client.crt" -key "$PKI/client.key" </dev/null 2>/dev/null | sed -n 's/^subject=//p'
}

# wait_subject WANT: new connections, bounded (15 s), until one is shown WANT. Prints what was seen.
wait_subject() {
	local i s
	for i in $(seq 1 50); do
		s=$(subject)
		[ "$s" = "$1" ] && return 0
		sleep 0.3
	done
	echo "new connections still see subject '$s', want '$1'" >&2
	cat "$SRVLOG" >&2
	return 1
}


@test "an atomically replaced cert and key serve new connections; an open connection keeps working" {
	cp "$PKI/server.crt" "$LIVE/tls.crt"
	cp "$PKI/server.key" "$LIVE/tls.key"
	start_rot
	[ "$(subject)" = "CN = localhost" ]
	local a=$BATS_TEST_TMPDIR/conn_a.out
	bg "$a" python3 "$(conn_a_script)" "$PORT" "$BATS_TEST_TMPDIR" "$PKI"
	wait_for "$a" '^echo before$'
	assert_file_has "$a" '^server CN=localhost$'
	put "$PKI/rot1.key" "$LIVE/tls.key"
	put "$PKI/rot1.crt" "$LIVE/tls.crt"
	wait_subject "CN = rotated-1"
	wait_for "$SRVLOG" 'reloaded rule=rot' 5
	# Connection A, opened before the rotation, still carries data both ways.
	touch "$BATS_TEST_TMPDIR/go"
	wait_for "$a" '^echo after$'
	# And the server program itself never restarted.
	[ "$(count "$BATS_TEST_TMPDIR/rot.out" '^listening')" -eq 1 ]
	# A second rotation works as well.
	put "$PKI/rot2.key" "$LIVE/tls.key"
	put "$PKI/rot2.crt" "$LIVE/tls.crt"
	wait_subject "CN = rotated-2"
}

@test "a mismatched cert/key pair is refused, the previous certificate stays; the fixed pair is picked up" {
	cp "$PKI/server.crt" "$LIVE/tls.crt"
	cp "$PKI/server.key" "$LIVE/tls.key"
	start_rot
	[ "$(subject)" = "CN = localhost" ]
	# rot2's certificate with rot1's key.
	put "$PKI/rot1.key" "$LIVE/tls.key"
	put "$PKI/rot2.crt" "$LIVE/tls.crt"
	local i seen=""
	for i in $(seq 1 50); do
		seen=$(subject)
		[ "$seen" = "CN = localhost" ] || { echo "a new connection saw '$seen' during a mismatch" >&2; false; }
		grep -Eq 'reload failed rule=rot: .*; keeping the previous certificate' "$SRVLOG" && break
		sleep 0.3
	done
	assert_file_has "$SRVLOG" '^mtlsshim\[[0-9]+\]: reload failed rule=rot: .+; keeping the previous certificate$'
	refute_file_has "$SRVLOG" 'reloaded rule=rot'
	# Still the old certificate, still serving data.
	sleep 1.2
	[ "$(subject)" = "CN = localhost" ]
	run bash -c "(printf 'still served\n'; sleep 3) | timeout 10 openssl s_client -quiet -CAfile '$PKI/ca.crt' \
		-cert '$PKI/client.crt' -key '$PKI/client.key' -connect 127.0.0.1:$PORT 2>/dev/null | head -n 1"
	show
	[ "$output" = "still served" ]
	# The matching key arrives: picked up.
	put "$PKI/rot2.key" "$LIVE/tls.key"
	wait_subject "CN = rotated-2"
	wait_for "$SRVLOG" 'reloaded rule=rot' 5
}

@test "a half-written certificate is refused; once complete it is picked up" {
	cp "$PKI/server.crt" "$LIVE/tls.crt"
	cp "$PKI/server.key" "$LIVE/tls.key"
	start_rot
	[ "$(subject)" = "CN = localhost" ]
	put "$PKI/rot1.key" "$LIVE/tls.key"
	# Written in place, and only its first half so far.
	local size; size=$(stat -c %s "$PKI/rot1.crt")
	head -c $((size / 2)) "$PKI/rot1.crt" > "$LIVE/tls.crt"
	local i
	for i in $(seq 1 50); do
		[ "$(subject)" = "CN = localhost" ]
		grep -Eq 'reload failed rule=rot: ' "$SRVLOG" && break
		sleep 0.3
	done
	assert_file_has "$SRVLOG" 'reload failed rule=rot: .+; keeping the previous certificate'
	sleep 1.2
	[ "$(subject)" = "CN = localhost" ]
	# The writer finishes.
	cat "$PKI/rot1.crt" > "$LIVE/tls.crt"
	wait_subject "CN = rotated-1"
	wait_for "$SRVLOG" 'reloaded rule=rot' 5
}

@test "a Kubernetes-style swap of a symlinked secret directory is picked up" {
	mkdir -p "$LIVE/v1" "$LIVE/v2"
	cp "$PKI/server.crt" "$LIVE/v1/tls.crt"
	cp "$PKI/server.key" "$LIVE/v1/tls.key"
	cp "$PKI/rot1.crt" "$LIVE/v2/tls.crt"
	cp "$PKI/rot1.key" "$LIVE/v2/tls.key"
	# Same mtimes and sizes as far as possible: only the inode behind the path changes.
	touch -r "$LIVE/v1/tls.crt" "$LIVE/v2/tls.crt"
	ln -s v1 "$LIVE/current"
	PORT=$(free_port)
	local c; c=$(conf k8s <<-EOF
	cert_file = "$LIVE/current/tls.crt"
	key_file = "$LIVE/current/tls.key"
	server "k8s" {
	    port = $PORT
	}
	EOF
	)
	SRVLOG=$BATS_TEST_TMPDIR/k8s.log
	shim_bg "$BATS_TEST_TMPDIR/k8s.out" "$c" "$PROGS/echo_server" -m epoll "$PORT"
	wait_port "$PORT"
	[ "$(subject)" = "CN = localhost" ]
	ln -s v2 "$LIVE/current.new"
	mv -T "$LIVE/current.new" "$LIVE/current"
	wait_subject "CN = rotated-1"
	wait_for "$SRVLOG" 'reloaded rule=k8s' 5
}

# curl_as CERT-BASE: GET / from the shimmed python server on $PORT presenting PKI/CERT-BASE.
curl_as() {
	run curl -sS --max-time 10 --cacert "$PKI/ca.crt" --cert "$PKI/$1.crt" --key "$PKI/$1.key" \
		"https://127.0.0.1:$PORT/index.txt"
}

# start_py_rot [LINE...]: a shimmed python http.server with rule "rot" on $PORT; sets SRVLOG, PYOUT.
start_py_rot() {
	PORT=$(free_port)
	mkdir -p "$BATS_TEST_TMPDIR/www"
	echo "secret page" > "$BATS_TEST_TMPDIR/www/index.txt"
	local c; c=$(rot_conf rot "$PORT" "$@")
	SRVLOG=$BATS_TEST_TMPDIR/rot.log
	PYOUT=$BATS_TEST_TMPDIR/py.out
	shim_bg "$PYOUT" "$c" python3 -u -m http.server --bind 127.0.0.1 --directory "$BATS_TEST_TMPDIR/www" "$PORT"
	wait_port "$PORT"
}

@test "a replaced ca_file admits clients of the newly trusted CA without a restart" {
	cp "$PKI/server.crt" "$LIVE/tls.crt"
	cp "$PKI/server.key" "$LIVE/tls.key"
	cp "$PKI/ca.crt" "$LIVE/ca.crt"
	start_py_rot "ca_file = \"$LIVE/ca.crt\""
	curl_as foreign
	show
	[ "$status" -ne 0 ]
	wait_for "$SRVLOG" 'refused rule=rot .*reason="[^"]*(verify|issuer)'
	refute_file_has "$PYOUT" 'GET '
	put "$PKI/ca-bundle.crt" "$LIVE/ca.crt"
	local i
	for i in $(seq 1 30); do
		curl_as foreign
		[ "$status" -eq 0 ] && break
		sleep 0.3
	done
	show
	[ "$status" -eq 0 ]
	[ "$output" = "secret page" ]
	assert_file_has "$SRVLOG" 'accepted rule=rot .*subject="CN=intruder"'
	curl_as client
	show
	[ "$output" = "secret page" ]
	# Back to the old CA: the foreign client is refused again.
	put "$PKI/ca.crt" "$LIVE/ca.crt"
	for i in $(seq 1 30); do
		curl_as foreign
		[ "$status" -ne 0 ] && break
		sleep 0.3
	done
	show
	[ "$status" -ne 0 ]
	refute_contains "$output" "secret page"
}

@test "a replaced crl_file revokes a client without a restart" {
	cp "$PKI/server.crt" "$LIVE/tls.crt"
	cp "$PKI/server.key" "$LIVE/tls.key"
	cp "$PKI/crl-empty.pem" "$LIVE/crl.pem"
	start_py_rot "crl_file = \"$LIVE/crl.pem\""
	curl_as victim
	show
	[ "$status" -eq 0 ]
	[ "$output" = "secret page" ]
	put "$PKI/crl-victim.pem" "$LIVE/crl.pem"
	local i
	for i in $(seq 1 30); do
		curl_as victim
		[ "$status" -ne 0 ] && break
		sleep 0.3
	done
	show
	[ "$status" -ne 0 ]
	refute_contains "$output" "secret page"
	wait_for "$SRVLOG" 'refused rule=rot .*reason="[^"]*certificate revoked'
	# From now on the victim never reaches the program again.
	local n; n=$(count "$PYOUT" 'GET /index.txt')
	curl_as victim
	show
	[ "$status" -ne 0 ]
	sleep 0.3
	[ "$(count "$PYOUT" 'GET /index.txt')" -eq "$n" ]
	curl_as client
	show
	[ "$output" = "secret page" ]
}

# client_rotation [LINE...]: a long-lived shimmed python client (rule "rotc", LINEs in the rule) fetches
# the s_server -www page over and over; its cert/key are rotated to client2's; the server must see CN=client2.
client_rotation() {
	local sport; sport=$(free_port)
	bg "$BATS_TEST_TMPDIR/s_server.out" openssl s_server -accept "127.0.0.1:$sport" -Verify 1 -verify_return_error \
		-cert "$PKI/server.crt" -key "$PKI/server.key" -CAfile "$PKI/ca.crt" -www
	wait_port "$sport"
	cp "$PKI/client.crt" "$LIVE/tls.crt"
	cp "$PKI/client.key" "$LIVE/tls.key"
	local c; c=$(conf rotc <<-EOF
	cert_file = "$LIVE/tls.crt"
	key_file = "$LIVE/tls.key"
	client "rotc" {
	    port = $sport
	$(printf '    %s\n' "$@")
	}
	EOF
	)
	# One long-lived python process fetching the s_server -www page until told to stop.
	local py=$BATS_TEST_TMPDIR/fetch.py out=$BATS_TEST_TMPDIR/fetch.out
	cat > "$py" <<-'PY'
	import os, re, sys, time, urllib.request
	port, d = sys.argv[1], sys.argv[2]
	deadline = time.time() + 60
	while not os.path.exists(os.path.join(d, "stop")) and time.time() < deadline:
	    page = urllib.request.urlopen("http://127.0.0.1:%s/" % port, timeout=10).read().decode()
	    m = re.search(r"Subject: *(CN *= *[^\n,/]+)", page)
	    print("pid=%d %s" % (os.getpid(), m.group(1) if m else "no client cert"), flush=True)
	    time.sleep(0.3)
	PY
	shim_bg "$out" "$c" python3 "$py" "$sport" "$BATS_TEST_TMPDIR"
	wait_for "$out" 'CN ?= ?client$'
	put "$PKI/client2.key" "$LIVE/tls.key"
	put "$PKI/client2.crt" "$LIVE/tls.crt"
	wait_for "$out" 'CN ?= ?client2$' 15
	touch "$BATS_TEST_TMPDIR/stop"
	# One process throughout.
	[ "$(sed -n 's/^pid=\([0-9]*\) .*/\1/p' "$out" | sort -u | wc -l)" -eq 1 ]
	wait_for "$BATS_TEST_TMPDIR/rotc.log" 'reloaded rule=rotc' 5
}

@test "a shimmed client process presents its rotated certificate on new connections" {
	client_rotation
}

@test "a shimmed client process presents its rotated certificate (session_resumption = false)" {
	client_rotation 'session_resumption = false'
}

@test "a certificate expiring within 7 days logs a warning at start, once" {
	PORT=$(free_port)
	local c; c=$(conf exp <<-EOF
	cert_file = "$PKI/short.crt"
	key_file = "$PKI/short.key"
	server "exp" {
	    port = $PORT
	}
	EOF
	)
	sed -i 's/^log_level = .*/log_level = "warn"/' "$c"
	SRVLOG=$BATS_TEST_TMPDIR/exp.log
	shim_bg "$BATS_TEST_TMPDIR/exp.out" "$c" "$PROGS/echo_server" -m epoll "$PORT"
	wait_port "$PORT"
	# Logged at start, before any connection, at warn level.
	wait_for "$SRVLOG" "^mtlsshim\\[[0-9]+\\]: .*rule=exp: cert_file $PKI/short\\.crt expires in [23] days" 5
	local i
	for i in 1 2 3; do
		[ "$(subject)" = "CN = short-lived" ]
	done
	sleep 1.2
	[ "$(subject)" = "CN = short-lived" ]
	[ "$(count "$SRVLOG" 'expires in')" -eq 1 ]
	# Not an info line: the accepted connections are not in a warn-level log.
	refute_file_has "$SRVLOG" 'accepted rule='
}

@test "a certificate valid for 30 days logs no expiry warning" {
	cp "$PKI/server.crt" "$LIVE/tls.crt"
	cp "$PKI/server.key" "$LIVE/tls.key"
	start_rot
	[ "$(subject)" = "CN = localhost" ]
	wait_for "$SRVLOG" 'accepted rule=rot' 5
	refute_file_has "$SRVLOG" 'expires in'
}

@test "a client revoked by a rotated CRL cannot get back in by resuming an earlier session" {
	cp "$PKI/server.crt" "$LIVE/tls.crt"
	cp "$PKI/server.key" "$LIVE/tls.key"
	cp "$PKI/crl-empty.pem" "$LIVE/crl.pem"
	start_rot "crl_file = \"$LIVE/crl.pem\""
	victim() { # LINE S_CLIENT-OPTIONS: s_client as the victim, LINE sent, everything printed
		run bash -c "(printf '$1\n'; sleep 1) | timeout 10 openssl s_client $2 -CAfile '$PKI/ca.crt' \
			-cert '$PKI/victim.crt' -key '$PKI/victim.key' -connect 127.0.0.1:$PORT 2>&1"
	}
	local v
	for v in tls1_3 tls1_2; do
		victim "before revocation $v" "-$v -sess_out $BATS_TEST_TMPDIR/$v.sess"
		show
		assert_contains "$output" "before revocation $v"
		[ -s "$BATS_TEST_TMPDIR/$v.sess" ]
	done
	put "$PKI/crl-victim.pem" "$LIVE/crl.pem"
	local i
	for i in $(seq 1 30); do
		victim 'probe' ""
		grep -q 'certificate revoked' "$SRVLOG" && break
		sleep 0.3
	done
	assert_file_has "$SRVLOG" 'refused rule=rot .*certificate revoked'
	local n; n=$(count "$SRVLOG" 'accepted rule=rot ')
	for v in tls1_3 tls1_2; do
		victim "resumed after revocation $v" "-$v -sess_in $BATS_TEST_TMPDIR/$v.sess"
		show
		refute_contains "$output" "Reused,"
		refute_contains "$output" "resumed after revocation"
	done
	sleep 0.3
	[ "$(count "$SRVLOG" 'accepted rule=rot ')" -eq "$n" ]
}
