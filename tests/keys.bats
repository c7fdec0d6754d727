#!/usr/bin/env bats
# keys.bats: private keys that are not plain files: a key in a PKCS#11 token (SoftHSM through
# libp11's engine; pkcs11_module, pin_file, key_file/cert_file pkcs11: URIs) and encrypted PEM
# key files (key_password_file). Serving as server and client rules, fork servers and nginx's
# workers, rotation of the certificate for a token key, fail-closed starts (exit 78), the retry
# guard for a wrong PIN, secrets kept out of logs and environments, `mtlsshim check`, and the
# core dump measurement (tests/keys_scan.py over gcore's dump).

load helpers

P11=/usr/lib/softhsm/libsofthsm2.so
# Distinctive secrets: a grep for them finds them, not a coincidence.
PIN=31415926
SOPIN=27182818
WRONGPIN=86420864
PASS=tr0ub4dor-and-3-staples-8211
WRONGPASS=correct-horse-battery-5309
# The retry guard's refusal: it will not offer (try) that PIN again.
NOT_AGAIN='(will )?not (try|offer)(ing)? (it|that PIN|the PIN) again'

# mktoken DIR: a fresh SoftHSM token "mtls" (user PIN $PIN) in DIR/tokens, its conf
# DIR/softhsm2.conf exported as SOFTHSM2_CONF (the shimmed programs inherit it), holding for
# each pair of $PKI server (ID 01), client (ID 02) and rsa (ID 03) the private key and the
# certificate, both labelled with the pair's name.
mktoken() {
	local d=$1 b id=0
	mkdir -p "$d/tokens"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
		"$d/tokens" > "$d/softhsm2.conf"
	export SOFTHSM2_CONF=$d/softhsm2.conf
	(
	set -e
	softhsm2-util --init-token --free --label mtls --pin "$PIN" --so-pin "$SOPIN"
	for b in server client rsa; do
		id=$((id + 1))
		openssl pkcs8 -topk8 -nocrypt -in "$PKI/$b.key" -out "$d/$b.p8"
		softhsm2-util --import "$d/$b.p8" --token mtls --label "$b" --id "0$id" --pin "$PIN"
		rm -f "$d/$b.p8"
		openssl x509 -in "$PKI/$b.crt" -outform der -out "$d/$b.der"
		pkcs11-tool --module "$P11" --login --pin "$PIN" --write-object "$d/$b.der" --type cert \
			--label "$b" --id "0$id"
	done
	pkcs11-tool --module "$P11" --login --pin "$PIN" --list-objects
	) > "$d/mktoken.log" 2>&1 || { cat "$d/mktoken.log" >&2; return 1; }
}

# token_flags: the token's flags as pkcs11-tool shows them ("user PIN count low" after a refused PIN).
token_flags() { pkcs11-tool --module "$P11" --list-token-slots 2>/dev/null | sed -n 's/^ *token flags *: //p'; }

setup_file() {
	common_setup_file
	local srv=$'extendedKeyUsage = serverAuth, clientAuth\nsubjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1'
	issue_cert "$PKI" rsa /CN=localhost-rsa "$srv" 30 ca rsa:2048
	# server-rot.crt: another certificate (new serial, subject CN=rotated-token) for server.key,
	# the key the token holds.
	(
	set -e
	cd "$PKI"
	printf '[x]\nbasicConstraints = CA:FALSE\n%s\n' "$srv" > rot.ext
	openssl req -new -key server.key -subj /CN=rotated-token -out server-rot.csr
	openssl x509 -req -in server-rot.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
		-extfile rot.ext -extensions x -out server-rot.crt
	) > "$PKI/rot.log" 2>&1 || { cat "$PKI/rot.log" >&2; return 1; }
	# Encrypted copies of server.key: PKCS#8 (BEGIN ENCRYPTED PRIVATE KEY) and traditional
	# (Proc-Type: 4,ENCRYPTED), under $PASS; the password files.
	export KEYS=$BATS_FILE_TMPDIR/keys
	mkdir -p "$KEYS"
	echo "$PASS" > "$KEYS/key.pass"
	echo "$WRONGPASS" > "$KEYS/wrong.pass"
	chmod 600 "$KEYS"/*.pass
	openssl pkey -in "$PKI/server.key" -aes256 -passout "file:$KEYS/key.pass" -out "$KEYS/enc8.pem"
	openssl ec -in "$PKI/server.key" -aes256 -passout "file:$KEYS/key.pass" -out "$KEYS/trad.pem" 2>/dev/null
	openssl rsa -in "$PKI/rsa.key" -traditional -aes256 -passout "file:$KEYS/key.pass" -out "$KEYS/rsatrad.pem" 2>/dev/null
	grep -q 'BEGIN ENCRYPTED PRIVATE KEY' "$KEYS/enc8.pem"
	grep -q 'Proc-Type: 4,ENCRYPTED' "$KEYS/trad.pem"
	grep -q 'Proc-Type: 4,ENCRYPTED' "$KEYS/rsatrad.pem"
	chmod 600 "$KEYS"/*.pem
	# The file's token and PIN file (tests that spend wrong PINs make their own).
	mktoken "$BATS_FILE_TMPDIR/hsm"
	export PINF=$BATS_FILE_TMPDIR/token.pin
	echo "$PIN" > "$PINF"
	chmod 600 "$PINF"
}
setup() {
	require_build
	export MTLS_PKI=$PKI
	T=$BATS_TEST_TMPDIR
	# Each test its own run directory (the wrong-PIN record lives there).
	export MTLSSHIM_RUNDIR=$T/run
}
teardown() {
	common_teardown
	if [ -n "${PUB:-}" ] && [ -d "$PUB" ]; then rm -rf "$PUB"; fi
}

# uri OBJ [TYPE] [TOKEN]: the RFC 7512 URI of a token object.
uri() { echo "pkcs11:token=${3:-mtls};object=$1;type=${2:-private}"; }

# tconf NAME KIND PORT OBJ [LINE...]: config NAME (conf: log NAME.log, ca_file) with the token
# settings at the top level (pkcs11_module, pin_file $TPIN or $PINF, key_file OBJ's URI,
# cert_file $PKI/OBJ.crt) and a KIND rule NAME on PORT with the LINEs (which may override
# them). Prints its path.
tconf() {
	local n=$1 kind=$2 port=$3 obj=$4 l; shift 4
	{
		echo "pkcs11_module = \"$P11\""
		echo "pin_file = \"${TPIN:-$PINF}\""
		echo "key_file = \"$(uri "$obj")\""
		echo "cert_file = \"$PKI/$obj.crt\""
		echo "$kind \"$n\" {"
		echo "    port = $port"
		for l in "$@"; do echo "    $l"; done
		echo "}"
	} | conf "$n"
}

# fconf NAME PORT CERT KEY [LINE...]: config NAME with a server rule on PORT, cert CERT and
# key_file KEY (a file), more LINEs in the rule. Prints its path.
fconf() {
	local n=$1 port=$2 cert=$3 key=$4 l; shift 4
	{
		echo "cert_file = \"$cert\""
		echo "key_file = \"$key\""
		echo "server \"$n\" {"
		echo "    port = $port"
		for l in "$@"; do echo "    $l"; done
		echo "}"
	} | conf "$n"
}

# start_echo CONF NAME: a shimmed (LD_PRELOAD) epoll echo_server on CONF's port ($PORT);
# SRVPID, SRVOUT (its stdout and stderr), MTLS_LOG (the shim log NAME.log, for the assertions).
start_echo() {
	SRVOUT=$T/$2.out
	export MTLS_LOG=$T/$2.log
	shim_bg "$SRVOUT" "$1" "$PROGS/echo_server" -m epoll "$PORT"
	SRVPID=$BGPID
	if ! mtls_wait_port "$PORT"; then
		echo "--- $SRVOUT:" >&2; cat "$SRVOUT" >&2
		return 1
	fi
}

# tls_echo PORT TEXT: a TLS client (python's ssl, presenting the trusted client certificate,
# verifying the server as localhost) sends TEXT and a newline to 127.0.0.1:PORT, prints the
# line that comes back, and closes. For `run`.
tls_echo() {
	timeout 20 python3 -c '
import socket, ssl, sys
pki, port, text = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=pki + "/ca.crt")
ctx.load_cert_chain(pki + "/client.crt", pki + "/client.key")
with socket.create_connection(("127.0.0.1", port), timeout=15) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(text.encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            b = s.recv(4096)
            if not b:
                break
            buf += b
        print(buf.decode().rstrip("\n"))
' "$PKI" "$1" "$2"
}

# peer_cert PORT: "subject=...;serial=..." of the certificate a new connection to PORT is shown.
peer_cert() {
	timeout 10 openssl s_client -connect "127.0.0.1:$1" -verify_return_error -CAfile "$PKI/ca.crt" \
		-cert "$PKI/client.crt" -key "$PKI/client.key" </dev/null 2>/dev/null |
		openssl x509 -noout -subject -serial 2>/dev/null | tr '\n' ';'
}
# cert_id FILE: the same for a certificate file.
cert_id() { openssl x509 -in "$1" -noout -subject -serial | tr '\n' ';'; }

# refute_secret WHAT SECRET FILE...: SECRET occurs in none of the FILEs (those that exist).
refute_secret() {
	local what=$1 s=$2 f; shift 2
	for f in "$@"; do
		[ -e "$f" ] || continue
		if grep -rqaF -- "$s" "$f"; then
			echo "the $what appears in $f:" >&2
			grep -raF -- "$s" "$f" | head -5 | cat -v >&2
			return 1
		fi
	done
}

# refute_environ PID SECRET...: /proc/PID/environ holds none of the SECRETs.
refute_environ() {
	local pid=$1 s env; shift
	env=$(tr '\0' '\n' < "/proc/$pid/environ")
	[ -n "$env" ] || { echo "no environment read for PID $pid" >&2; return 1; }
	for s in "$@"; do
		if [[ "$env" == *"$s"* ]]; then
			echo "a secret is in the environment of PID $pid ($(cat /proc/$pid/comm)):" >&2
			grep -F -- "$s" <<< "$env" >&2
			return 1
		fi
	done
}

# ---------------------------------------------------------------------------------------------
# Serving with a token key

@test "token key, server rule: openssl s_client and a python ssl client complete mTLS against a shimmed echo_server; the wire is TLS only" {
	PORT=$(free_port)
	local c; c=$(tconf tok server "$PORT" server)
	start_echo "$c" tok
	wire_start "$PORT"
	assert_mtls_accepts "$PORT"
	run tls_echo "$PORT" 'hello token'
	show
	[ "$output" = "hello token" ]
	# The server's certificate is the one of cert_file; the token signed the handshake.
	[ "$(peer_cert "$PORT")" = "$(cert_id "$PKI/server.crt")" ]
	wire_check
	assert_shim_log 'accepted rule=tok .*subject="[^"]*CN=client'
	refute_shim_log 'error|refused'
	# The program ran unaware: its own output shows one plain listener.
	[ "$(count "$SRVOUT" '^listening')" -eq 1 ]
}

@test "token key, server rule: a python http.server (threaded) serves curl --cert; a client without a certificate is refused" {
	PORT=$(free_port)
	local c i; c=$(tconf web server "$PORT" server)
	export MTLS_LOG=$T/web.log
	mkdir -p "$T/www" && printf 'served by a token key\n' > "$T/www/f"
	shim_bg "$T/py.out" "$c" python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$PORT"
	wait_port "$PORT"
	wire_start "$PORT"
	local i
	for i in 1 2 3; do
		run mcurl "https://localhost:$PORT/f"
		show
		[ "$status" -eq 0 ]
		[ "$output" = "served by a token key" ]
	done
	wire_check
	# 20 clients at once: concurrent handshakes on the server's threads, each signed in the token.
	local -a pids=()
	for i in $(seq 1 20); do
		mcurl -o "$T/par.$i" "https://localhost:$PORT/f" 2> "$T/par.$i.err" &
		pids+=($!)
	done
	local bad=0
	for i in "${!pids[@]}"; do wait "${pids[$i]}" || bad=$((bad + 1)); done
	cat "$T"/par.*.err
	[ "$bad" -eq 0 ]
	for i in $(seq 1 20); do [ "$(cat "$T/par.$i")" = "served by a token key" ]; done
	[ "$(count "$MTLS_LOG" 'accepted rule=web')" -eq 23 ]
	run curl -sS --max-time 10 --cacert "$PKI/ca.crt" "https://localhost:$PORT/f"
	show
	[ "$status" -ne 0 ]
	refute_contains "$output" "served by a token key"
	assert_mtls_refuses "$PORT" none
}

@test "token key and certificate both in the token (cert_file is a pkcs11: URI): the client is shown the token's certificate" {
	PORT=$(free_port)
	local c; c=$(tconf tokcert server "$PORT" server "cert_file = \"$(uri server cert)\"")
	start_echo "$c" tokcert
	wire_start "$PORT"
	assert_mtls_accepts "$PORT"
	run tls_echo "$PORT" 'cert from the token'
	show
	[ "$output" = "cert from the token" ]
	wire_check
	[ "$(peer_cert "$PORT")" = "$(cert_id "$PKI/server.crt")" ]
	run --separate-stderr launcher check -c "$c"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "key: $(uri server) (token \"mtls\", object \"server\") matches the certificate"
}

@test "token key, client rule (options inside the rule): a shimmed socat reaches openssl s_server -Verify 1, which verifies the token-signed client certificate" {
	s_server_rev server
	local c l
	c=$({
		echo "client \"tcli\" {"
		echo "    port = $SPORT"
		echo "    pkcs11_module = \"$P11\""
		echo "    pin_file = \"$PINF\""
		echo "    key_file = \"$(uri client)\""
		echo "    cert_file = \"$PKI/client.crt\""
		echo "}"
	} | conf tcli)
	export MTLS_LOG=$T/tcli.log
	wire_start "$SPORT"
	run shim "$c" timeout 15 socat -t 3 - "TCP:127.0.0.1:$SPORT" <<< "hello from a token"
	show
	[ "$status" -eq 0 ]
	[ "$output" = "nekot a morf olleh" ]
	wire_check
	# s_server verified the client's certificate (its CertificateVerify was signed by the token's key).
	assert_file_has "$T/s_server.out" '^depth=0 CN = client'
	refute_file_has "$T/s_server.out" 'verify error|error:'
	assert_shim_log "connected rule=tcli peer=127\\.0\\.0\\.1:$SPORT"
}

@test "token key, client rule: shimmed curl http:// reaches openssl s_server -www -Verify 1 as the token's client" {
	require_shimmable_curl
	SPORT=$(free_port)
	bg "$T/s_server.out" openssl s_server -accept "127.0.0.1:$SPORT" -www -Verify 1 -verify_return_error \
		-cert "$PKI/server.crt" -key "$PKI/server.key" -CAfile "$PKI/ca.crt"
	wait_port "$SPORT"
	local c; c=$(tconf curl client "$SPORT" client)
	export MTLS_LOG=$T/curl.log
	wire_start "$SPORT"
	run shim "$c" curl -sS --max-time 15 "http://127.0.0.1:$SPORT/"
	show
	[ "$status" -eq 0 ]
	# s_server's page describes this connection: TLS, the client's ECDSA signature, verified.
	assert_contains "$output" "Peer signature type: ECDSA"
	assert_contains "$output" "Verify return code: 0 (ok)"
	wire_check
	assert_file_has "$T/s_server.out" '^depth=0 CN = client'
}

@test "token key, inetd -E whose service runs as nobody: the service image, shimmed but exec'd with its session relayed, does not log in to the token and serves" {
	# Everything the service needs is in a directory nobody can reach; the token's and the
	# pin_file stay root's alone, so a login from the service would fail.
	PUB=$(mktemp -d /tmp/keys-inetd.XXXXXX)
	chmod 711 "$PUB"
	PORT=$(free_port)
	local c; c=$(tconf inetdtok server "$PORT" server)
	sed "s|^log_file = .*|log_file = \"$PUB/shim.log\"|" "$c" > "$PUB/shim.conf"
	chmod 644 "$PUB/shim.conf"
	: > "$PUB/shim.log"
	chmod 666 "$PUB/shim.log"
	export MTLS_LOG=$PUB/shim.log
	printf 'IFS= read -r line\necho "hello $line from $(id -un)"\n' > "$PUB/svc.sh"
	chmod 644 "$PUB/svc.sh"
	echo "127.0.0.1:$PORT stream tcp nowait nobody /bin/sh sh $PUB/svc.sh" > "$PUB/inetd.conf"
	shim_bg "$T/inetd.out" "$PUB/shim.conf" /usr/sbin/inetd -d -E "$PUB/inetd.conf"
	wait_port "$PORT"
	wire_start "$PORT"
	run bash -c "(printf 'alice\n'; sleep 2) | timeout 15 openssl s_client -quiet -verify_return_error \
		-CAfile '$PKI/ca.crt' -cert '$PKI/client.crt' -key '$PKI/client.key' -connect 127.0.0.1:$PORT 2>/dev/null"
	show
	[ "$output" = "hello alice from nobody" ]
	wire_check
	assert_shim_log 'accepted rule=inetdtok .*subject="[^"]*CN=client'
	refute_shim_log 'pin_file|token refused'
}

# ---------------------------------------------------------------------------------------------
# Forked workers

# nginx_tok PORT CONF [USER] [DIR]: a shimmed nginx (master + 2 workers as USER, default root,
# epoll) on PORT serving index.html from DIR (default $T/nginx, in $NGX), its access log
# "$pid $status" per request in $NGX/access.log.
nginx_tok() {
	NGX=${4:-$T/nginx}
	mkdir -p "$NGX/html" "$NGX/tmp"
	echo "hello from nginx" > "$NGX/html/index.html"
	cat > "$NGX/nginx.conf" <<-NGX
	daemon off;
	master_process on;
	worker_processes 2;
	user ${3:-root};
	pid $NGX/nginx.pid;
	error_log $NGX/error.log info;
	events { worker_connections 64; use epoll; }
	http {
	    log_format w '\$pid \$status';
	    access_log $NGX/access.log w;
	    client_body_temp_path $NGX/tmp;
	    proxy_temp_path $NGX/tmp;
	    fastcgi_temp_path $NGX/tmp;
	    uwsgi_temp_path $NGX/tmp;
	    scgi_temp_path $NGX/tmp;
	    server { listen 127.0.0.1:$1; root $NGX/html; }
	}
	NGX
	shim_bg "$NGX/out" "$2" nginx -c "$NGX/nginx.conf" -p "$NGX"
	NGXPID=$BGPID
	wait_port "$1" || { cat "$NGX/out" "$NGX/error.log" >&2; return 1; }
}

@test "token key, nginx with 2 workers: requests served by both workers complete mTLS with curl --cert" {
	local port c i n
	port=$(free_port)
	c=$(tconf nginx server "$port" server)
	export MTLS_LOG=$T/nginx.log
	nginx_tok "$port" "$c"
	wire_start "$port"
	# New connections until both workers have answered (the kernel picks the worker), bounded.
	for i in $(seq 1 80); do
		run mcurl "https://localhost:$port/"
		[ "$status" -eq 0 ] && [ "$output" = "hello from nginx" ] || { show; cat "$NGX/error.log" >&2; false; }
		n=$(awk '{print $1}' "$NGX/access.log" | sort -u | wc -l)
		[ "$i" -lt 6 ] || [ "$n" -lt 2 ] || break
	done
	echo "requests=$i workers seen=$n"; sort "$NGX/access.log" | uniq -c
	[ "$n" -eq 2 ]
	# Each answered 200, and the master is not one of them.
	[ "$(awk '$2 != 200' "$NGX/access.log" | wc -l)" -eq 0 ]
	[ "$(grep -c "^$NGXPID " "$NGX/access.log")" -eq 0 ]
	wire_check
	[ "$(count "$MTLS_LOG" 'accepted rule=nginx')" -eq "$i" ]
	refute_shim_log 'refused|error'
}

@test "token key, socat fork server: each forked child completes mTLS and echoes" {
	local port c i
	port=$(free_port)
	c=$(tconf fork server "$port" server)
	export MTLS_LOG=$T/fork.log
	shim_bg "$T/socat.out" "$c" socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" EXEC:cat
	wait_port "$port"
	wire_start "$port"
	for i in 1 2 3 4; do
		run tls_echo "$port" "child $i"
		show
		[ "$output" = "child $i" ]
	done
	assert_mtls_accepts "$port"
	wire_check
	[ "$(count "$MTLS_LOG" 'accepted rule=fork')" -ge 5 ]
	refute_shim_log 'refused|error'
}

@test "token key, nginx workers running as nobody cannot reach the token: their handshakes are refused, nothing is served; with the key in a file they serve" {
	# A directory nobody can reach (the test's own is not): the log and nginx's files. The
	# token's directory stays root's (mode 700).
	PUB=$(mktemp -d /tmp/keys-nobody.XXXXXX)
	chmod 711 "$PUB"
	local port c i
	port=$(free_port)
	c=$(tconf ngnobody server "$port" server)
	sed -i "s|^log_file = .*|log_file = \"$PUB/shim.log\"|" "$c"
	: > "$PUB/shim.log"
	chmod 666 "$PUB/shim.log"
	export MTLS_LOG=$PUB/shim.log
	nginx_tok "$port" "$c" "nobody nogroup" "$PUB/nginx"
	chmod -R a+rX "$PUB/nginx/html"
	# Its two workers run as nobody (bounded wait: they start a moment after the port listens).
	for i in $(seq 1 50); do
		[ "$(ps -o user= --ppid "$NGXPID" | grep -c nobody)" -eq 2 ] && break
		sleep 0.1
	done
	ps -o pid=,user=,args= --ppid "$NGXPID"
	[ "$(ps -o user= --ppid "$NGXPID" | grep -c nobody)" -eq 2 ]
	for i in 1 2 3; do
		run mcurl "https://localhost:$port/"
		show
		[ "$status" -ne 0 ]
		refute_contains "$output" "hello from nginx"
	done
	wait_for "$MTLS_LOG" 'refused rule=ngnobody' 5
	# The reason names the token, not OpenSSL's "EVP lib".
	assert_shim_log 'refused rule=ngnobody .*reason="the token did not sign: .*pkcs11_module /usr/lib/softhsm/libsofthsm2.so, uid 65534\)"'
	refute_shim_log 'accepted rule=ngnobody'
	[ "$(wc -l < "$NGX/access.log")" -eq 0 ]
	mtls_teardown
	# The control: the same nginx with the same certificate's key in a file serves.
	port=$(free_port)
	c=$(fconf ngfile "$port" "$PKI/server.crt" "$PKI/server.key")
	sed -i "s|^log_file = .*|log_file = \"$PUB/shim-file.log\"|" "$c"
	nginx_tok "$port" "$c" "nobody nogroup" "$PUB/nginx"
	run mcurl "https://localhost:$port/"
	show
	[ "$status" -eq 0 ]
	[ "$output" = "hello from nginx" ]
}

@test "a token key is loaded at every start, not trusted to the start-up cache: a PIN changed in the token stops the next start" {
	mktoken "$T/hsm"
	TPIN=$T/token.pin
	echo "$PIN" > "$TPIN"
	chmod 600 "$TPIN"
	local c; c=$(tconf cache server "$(free_port)" server)
	local i
	for i in 1 2; do
		run --separate-stderr launcher -c "$c" sh -c 'echo RAN'
		show
		[ "$status" -eq 0 ]
		[ "$output" = RAN ]
	done
	# An administrator changes the token's PIN; the pin_file (and every file) is unchanged.
	pkcs11-tool --module "$P11" --login --pin "$PIN" --change-pin --new-pin "$WRONGPIN" > "$T/chpin.log" 2>&1 ||
		{ cat "$T/chpin.log" >&2; false; }
	run --separate-stderr launcher -c "$c" sh -c 'echo RAN'
	show
	[ "$status" -eq 78 ]
	refute_contains "$output" RAN
	assert_contains "$stderr" "$TPIN"
	[[ "$stderr" =~ refused ]]
	refute_contains "$stderr" "$PIN"
	refute_contains "$stderr" "$WRONGPIN"
}

# ---------------------------------------------------------------------------------------------
# Rotation


@test "token key, rotation: cert_file replaced by another certificate for the same token key serves new connections (the pin_file already gone); an open one keeps its own" {
	local live=$T/live i s want
	mkdir -p "$live"
	cp "$PKI/server.crt" "$live/tls.crt"
	TPIN=$T/rot.pin
	echo "$PIN" > "$TPIN"
	chmod 600 "$TPIN"
	PORT=$(free_port)
	local c; c=$(tconf rot server "$PORT" server "cert_file = \"$live/tls.crt\"")
	start_echo "$c" rot
	[ "$(peer_cert "$PORT")" = "$(cert_id "$PKI/server.crt")" ]
	# The PIN was given at start: a reload keeps the token key, without the pin_file.
	rm -f "$TPIN"
	local a=$T/conn_a.out
	bg "$a" python3 "$(conn_a_script)" "$PORT" "$T" "$PKI"
	wait_for "$a" '^echo before$'
	assert_file_has "$a" '^server CN=localhost$'
	put "$PKI/server-rot.crt" "$live/tls.crt"
	want=$(cert_id "$PKI/server-rot.crt")
	# New connections, bounded (15 s), until one is shown the new certificate.
	for i in $(seq 1 50); do
		s=$(peer_cert "$PORT")
		[ "$s" = "$want" ] && break
		sleep 0.3
	done
	echo "seen: $s, want: $want"
	[ "$s" = "$want" ]
	wait_for "$MTLS_LOG" 'reloaded rule=rot' 5
	# Connection A, opened before, still carries data; it was shown the old certificate.
	touch "$T/go"
	wait_for "$a" '^echo after$'
	[ "$(count "$SRVOUT" '^listening')" -eq 1 ]
	# And new connections still complete mTLS with the token key behind the new certificate.
	wire_start "$PORT"
	assert_mtls_accepts "$PORT"
	run tls_echo "$PORT" 'after rotation'
	[ "$output" = "after rotation" ]
	wire_check
}

@test "token key, rotation: a certificate for another key is refused and the previous one kept; a matching one is then picked up" {
	local live=$T/live i s want
	mkdir -p "$live"
	cp "$PKI/server.crt" "$live/tls.crt"
	PORT=$(free_port)
	local c; c=$(tconf rotmm server "$PORT" server "cert_file = \"$live/tls.crt\"")
	start_echo "$c" rotmm
	want=$(cert_id "$PKI/server.crt")
	[ "$(peer_cert "$PORT")" = "$want" ]
	# The client's certificate: not the token key's.
	put "$PKI/client.crt" "$live/tls.crt"
	# The shim polls on connection activity: new connections, bounded (15 s), until it tried.
	for i in $(seq 1 50); do
		peer_cert "$PORT" > /dev/null
		grep -q 'reload failed rule=rotmm.*does not match' "$MTLS_LOG" && break
		sleep 0.3
	done
	assert_file_has "$MTLS_LOG" 'reload failed rule=rotmm.*does not match'
	[ "$(peer_cert "$PORT")" = "$want" ]
	assert_mtls_accepts "$PORT"
	put "$PKI/server-rot.crt" "$live/tls.crt"
	want=$(cert_id "$PKI/server-rot.crt")
	for i in $(seq 1 50); do
		s=$(peer_cert "$PORT")
		[ "$s" = "$want" ] && break
		sleep 0.3
	done
	[ "$s" = "$want" ]
}

# ---------------------------------------------------------------------------------------------
# Fail closed before main()

@test "fail closed: a token key object that does not match the certificate: exit 78, 'does not match'" {
	# The token's client key with the server's certificate.
	local c; c=$(tconf mm server "$(free_port)" client "cert_file = \"$PKI/server.crt\"")
	assert_start_refused "$c" 'does not match'
}

@test "fail closed: an unknown token, and an unknown object in the token: exit 78 naming the key_file URI" {
	local c u
	u=$(uri server private nosuchtoken)
	c=$(tconf notok server "$(free_port)" server "key_file = \"$u\"")
	assert_start_refused "$c" "$u"
	u=$(uri nosuchobject)
	c=$(tconf noobj server "$(free_port)" server "key_file = \"$u\"")
	assert_start_refused "$c" "$u"
}

@test "fail closed: an encrypted key_file with a wrong password: exit 78 naming key_file and key_password_file; neither password is shown" {
	local c
	c=$(fconf wp "$(free_port)" "$PKI/server.crt" "$KEYS/enc8.pem" "key_password_file = \"$KEYS/wrong.pass\"")
	assert_start_refused "$c" "$KEYS/enc8.pem" "$KEYS/wrong.pass"
	refute_contains "$stderr" "$WRONGPASS"
	refute_contains "$stderr" "$PASS"
	c=$(fconf wpt "$(free_port)" "$PKI/server.crt" "$KEYS/trad.pem" "key_password_file = \"$KEYS/wrong.pass\"")
	assert_start_refused "$c" "$KEYS/trad.pem" "$KEYS/wrong.pass"
	refute_contains "$stderr" "$WRONGPASS"
	refute_secret "password" "$WRONGPASS" "$T/wp.log" "$T/wpt.log"
}

@test "fail closed: an encrypted key_file without key_password_file: exit 78 naming key_file and saying it is encrypted" {
	local c
	c=$(fconf np "$(free_port)" "$PKI/server.crt" "$KEYS/enc8.pem")
	assert_start_refused "$c" "$KEYS/enc8.pem" 'encrypted'
	c=$(fconf npt "$(free_port)" "$PKI/server.crt" "$KEYS/trad.pem")
	assert_start_refused "$c" "$KEYS/trad.pem" 'encrypted'
}

# pin_start launcher|shim CONF: a start under CONF that the PIN stops: exit 78 before the
# program runs, one stderr line "mtlsshim: ..." naming the pin_file $TPIN, never the wrong PIN.
pin_start() {
	if [ "$1" = launcher ]; then
		run --separate-stderr launcher -c "$2" sh -c 'echo RAN'
	else
		run --separate-stderr shim "$2" sh -c 'echo RAN'
	fi
	show
	[ "$status" -eq 78 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "mtlsshim: "* ]]
	refute_contains "$output" RAN
	assert_contains "$stderr" "$TPIN"
	refute_contains "$stderr" "$WRONGPIN"
}

@test "wrong PIN: refused twice across restarts, the third run does not ask the token; a rewritten pin_file starts" {
	# Its own token (the refused PINs mark it) and its own run directory (setup).
	mktoken "$T/hsm"
	TPIN=$T/token.pin
	echo "$WRONGPIN" > "$TPIN"
	chmod 600 "$TPIN"
	PORT=$(free_port)
	local c; c=$(tconf pin server "$PORT" server)
	[[ "$(token_flags)" != *"PIN count low"* ]]
	# Runs 1 and 2 (the launcher, then LD_PRELOAD): the token refused the PIN.
	pin_start launcher "$c"
	[[ "$stderr" =~ refused ]]
	[[ "$stderr" =~ PIN ]]
	[[ "$(token_flags)" == *"PIN count low"* ]]
	pin_start shim "$c"
	[[ "$stderr" =~ refused ]]
	# A correct login (pkcs11-tool) clears the token's "PIN count low" flag: a third try of the
	# wrong PIN would set it again.
	pkcs11-tool --module "$P11" --login --pin "$PIN" --list-objects >/dev/null 2>&1
	[[ "$(token_flags)" != *"PIN count low"* ]]
	pin_start launcher "$c"
	[[ "$stderr" =~ $NOT_AGAIN ]]
	[[ "$stderr" =~ until\ the\ (pin_)?file\ changes ]]
	# The token was not asked.
	echo "token flags: $(token_flags)"
	[[ "$(token_flags)" != *"PIN count low"* ]]
	# Under LD_PRELOAD as well.
	pin_start shim "$c"
	[[ "$stderr" =~ $NOT_AGAIN ]]
	[[ "$(token_flags)" != *"PIN count low"* ]]
	# The record in the run directory does not hold the PIN; neither does the shim log.
	[ -d "$MTLSSHIM_RUNDIR" ]
	refute_secret "wrong PIN" "$WRONGPIN" "$MTLSSHIM_RUNDIR" "$T/pin.log"
	# The pin_file rewritten in place (same size, the right PIN): the server starts and serves.
	echo "$PIN" > "$TPIN"
	start_echo "$c" pin
	assert_mtls_accepts "$PORT"
	run tls_echo "$PORT" 'right pin'
	[ "$output" = "right pin" ]
	refute_secret "PIN" "$PIN" "$T/pin.log" "$SRVOUT" "$MTLSSHIM_RUNDIR"
	refute_secret "wrong PIN" "$WRONGPIN" "$T/pin.log" "$SRVOUT" "$MTLSSHIM_RUNDIR"
}

# guarded_runs CMD...: two runs of CMD the token refuses (78, the refusal on stderr), then one
# that does not ask it.
guarded_runs() {
	local i
	for i in 1 2; do
		run --separate-stderr "$@"
		show
		[ "$status" -eq 78 ]
		assert_contains "$stderr$output" "the token refused the PIN in pin_file $TPIN ("
		refute_contains "$output" RAN
	done
	pkcs11-tool --module "$P11" --login --pin "$PIN" --list-objects >/dev/null 2>&1
	run --separate-stderr "$@"
	show
	[ "$status" -eq 78 ]
	[[ "$stderr$output" =~ $NOT_AGAIN ]]
	refute_contains "$stderr$output" "the token refused the PIN in pin_file $TPIN ("
	[[ "$(token_flags)" != *"PIN count low"* ]]
}

@test "wrong PIN with the certificate in the token too: still offered twice in all (the certificate's load, made without a login, does not reset the count)" {
	mktoken "$T/hsm"
	TPIN=$T/token.pin
	echo "$WRONGPIN" > "$TPIN"
	PORT=$(free_port)
	local c; c=$(tconf pincert server "$PORT" server "cert_file = \"$(uri server cert)\"")
	guarded_runs shim "$c" sh -c 'echo RAN'

}

@test "wrong PIN, two rules with two keys in one token, mtlsshim check (which loads every rule): the PIN is offered twice in all, not twice per rule" {
	mktoken "$T/hsm"
	TPIN=$T/token.pin
	echo "$WRONGPIN" > "$TPIN"
	local c; c=$({
		echo "pkcs11_module = \"$P11\""
		echo "pin_file = \"$TPIN\""
		echo "server \"srv\" {"
		echo "    port = $(free_port)"
		echo "    key_file = \"$(uri server)\""
		echo "    cert_file = \"$PKI/server.crt\""
		echo "}"
		echo "client \"cli\" {"
		echo "    port = $(free_port)"
		echo "    key_file = \"$(uri client)\""
		echo "    cert_file = \"$PKI/client.crt\""
		echo "}"
	} | conf tworules)
	# Each refusal as "RULE: refusal N", over three runs: the token is asked twice in all.
	local i offers=""
	for i in 1 2 3; do
		run --separate-stderr launcher check -c "$c"
		show
		[ "$status" -eq 78 ]
		offers+=$(printf '%s\n' "$output" "$stderr" | grep -oE '(server|client) "[a-z]+": .*refused the PIN in pin_file [^ ]+ \(PIN incorrect; refusal [0-9]' |
			sed -E 's/^[a-z]+ "([a-z]+)".*refusal ([0-9])$/\1: refusal \2/')$'\n'
	done
	echo "offers: $offers"
	[ "$(printf '%s' "$offers" | sort -u | grep -c refusal)" -eq 2 ]
	assert_contains "$output" "not offering it again"
}

@test "a pin_file without a trailing newline works too" {
	TPIN=$T/nonl.pin
	printf '%s' "$PIN" > "$TPIN"
	chmod 600 "$TPIN"
	PORT=$(free_port)
	local c; c=$(tconf nonl server "$PORT" server)
	start_echo "$c" nonl
	assert_mtls_accepts "$PORT"
}

# ---------------------------------------------------------------------------------------------
# Secrets stay out of logs and environments

@test "the PIN is in neither the shim log (debug), stderr, nor the environment of the shimmed program (launcher and LD_PRELOAD)" {
	local c how
	for how in preload launcher; do
		PORT=$(free_port)
		c=$(tconf "sec$how" server "$PORT" server)
		sed -i 's/^log_level = .*/log_level = "debug"/' "$c"
		export MTLS_LOG=$T/sec$how.log
		if [ $how = preload ]; then
			start_echo "$c" "sec$how"
		else
			mtls_start "$c" "$PROGS/echo_server" -m epoll "$PORT"
			SRVPID=$MTLS_PID SRVOUT=$MTLS_OUT
		fi
		assert_mtls_accepts "$PORT"
		run tls_echo "$PORT" 'secret-free'
		[ "$output" = "secret-free" ]
		# The PID is echo_server itself (setsid and env, the launcher exec it).
		[ "$(cat "/proc/$SRVPID/comm")" = echo_server ]
		refute_environ "$SRVPID" "$PIN"
		refute_secret "PIN" "$PIN" "$MTLS_LOG" "$SRVOUT" "$MTLSSHIM_RUNDIR"
		# The debug log did say something about the token.
		[ -s "$MTLS_LOG" ]
		mtls_teardown
	done
}

@test "the key password is in neither the shim log (debug), stderr, nor the environment of the shimmed program" {
	PORT=$(free_port)
	local c; c=$(fconf psec "$PORT" "$PKI/server.crt" "$KEYS/enc8.pem" "key_password_file = \"$KEYS/key.pass\"")
	sed -i 's/^log_level = .*/log_level = "debug"/' "$c"
	start_echo "$c" psec
	assert_mtls_accepts "$PORT"
	[ "$(cat "/proc/$SRVPID/comm")" = echo_server ]
	refute_environ "$SRVPID" "$PASS"
	refute_secret "password" "$PASS" "$MTLS_LOG" "$SRVOUT" "$MTLSSHIM_RUNDIR"
}

# ---------------------------------------------------------------------------------------------
# Encrypted key files

@test "encrypted PKCS#8 key_file with key_password_file: serves mTLS; check says (encrypted file)" {
	PORT=$(free_port)
	local c; c=$(fconf enc8 "$PORT" "$PKI/server.crt" "$KEYS/enc8.pem" "key_password_file = \"$KEYS/key.pass\"")
	start_echo "$c" enc8
	wire_start "$PORT"
	assert_mtls_accepts "$PORT"
	run tls_echo "$PORT" 'pkcs8 encrypted'
	show
	[ "$output" = "pkcs8 encrypted" ]
	wire_check
	run --separate-stderr launcher check -c "$c"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "key: $KEYS/enc8.pem (encrypted file) matches the certificate"
	refute_contains "$output$stderr" "$PASS"
}

@test "encrypted traditional key_files (EC and RSA, Proc-Type: 4,ENCRYPTED) with key_password_file: serve mTLS" {
	PORT=$(free_port)
	local c; c=$(fconf trad "$PORT" "$PKI/server.crt" "$KEYS/trad.pem" "key_password_file = \"$KEYS/key.pass\"")
	start_echo "$c" trad
	wire_start "$PORT"
	assert_mtls_accepts "$PORT"
	run tls_echo "$PORT" 'traditional encrypted'
	[ "$output" = "traditional encrypted" ]
	wire_check
	mtls_teardown
	PORT=$(free_port)
	c=$(fconf rsatrad "$PORT" "$PKI/rsa.crt" "$KEYS/rsatrad.pem" "key_password_file = \"$KEYS/key.pass\"")
	start_echo "$c" rsatrad
	assert_mtls_accepts "$PORT"
	[ "$(peer_cert "$PORT")" = "$(cert_id "$PKI/rsa.crt")" ]
	run --separate-stderr launcher check -c "$c"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "key: $KEYS/rsatrad.pem (encrypted file) matches the certificate"
}

# ---------------------------------------------------------------------------------------------
# mtlsshim check

# check_json CONF: `mtlsshim check -c CONF --json` into $T/check.json; status in $status.
check_json() {
	run --separate-stderr launcher check -c "$1" --json
	show
	printf '%s\n' "$output" > "$T/check.json"
}
# jq_true EXPR: a Python expression over the parsed check JSON `d` is true.
jq_true() {
	local v
	v=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(json.dumps(eval(sys.argv[2], {"d": d})))' "$T/check.json" "$1") || { cat "$T/check.json" >&2; return 1; }
	[ "$v" = true ] || { echo "expected true: $1 (got $v) in:" >&2; cat "$T/check.json" >&2; return 1; }
}

@test "check: where each key lives: token, encrypted file, file (human and --json)" {
	local c
	c=$(conf where <<-EOF
	pkcs11_module = "$P11"
	pin_file = "$PINF"
	server "tok" {
	    port = 8443
	    cert_file = "$PKI/server.crt"
	    key_file = "$(uri server)"
	}
	server "enc" {
	    port = 8444
	    cert_file = "$PKI/server.crt"
	    key_file = "$KEYS/enc8.pem"
	    key_password_file = "$KEYS/key.pass"
	}
	server "plain" {
	    port = 8445
	    cert_file = "$PKI/server.crt"
	    key_file = "$PKI/server.key"
	}
	EOF
	)
	run --separate-stderr launcher check -c "$c"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "key: $(uri server) (token \"mtls\", object \"server\") matches the certificate"
	assert_contains "$output" "key: $KEYS/enc8.pem (encrypted file) matches the certificate"
	assert_contains "$output" "key: $PKI/server.key (file) matches the certificate"
	refute_contains "$output$stderr" "$PIN"
	refute_contains "$output$stderr" "$PASS"
	check_json "$c"
	[ "$status" -eq 0 ]
	jq_true 'd["ok"] is True and len(d["rules"]) == 3'
	jq_true 'd["rules"][0]["key"]["file"] == "'"$(uri server)"'" and d["rules"][0]["key"]["where"] == "token" and d["rules"][0]["key"]["matches"] is True'
	jq_true 'd["rules"][0]["key"]["token"] == "mtls" and d["rules"][0]["key"]["object"] == "server" and d["rules"][0]["key"]["module"] == "'"$P11"'"'
	jq_true 'all(r["key"]["loaded"] is True for r in d["rules"])'
	jq_true 'd["rules"][1]["key"]["file"] == "'"$KEYS/enc8.pem"'" and d["rules"][1]["key"]["where"] == "encrypted file" and d["rules"][1]["key"]["matches"] is True'
	jq_true 'd["rules"][2]["key"]["file"] == "'"$PKI/server.key"'" and d["rules"][2]["key"]["where"] == "file" and d["rules"][2]["key"]["matches"] is True'
	refute_contains "$output" "$PIN"
	refute_contains "$output" "$PASS"
}

@test "check: a token key that does not match the certificate: nonzero, 'does NOT match'" {
	local c; c=$(tconf ckmm server 8443 client "cert_file = \"$PKI/server.crt\"")
	run --separate-stderr launcher check -c "$c"
	show
	[ "$status" -ne 0 ]
	assert_contains "$output$stderr" "does NOT match"
	check_json "$c"
	[ "$status" -ne 0 ]
	jq_true 'd["ok"] is False and d["rules"][0]["key"]["where"] == "token" and d["rules"][0]["key"]["matches"] is False'
	# It was loaded (the PIN is right): the object is simply not the certificate's.
	jq_true 'd["rules"][0]["key"]["loaded"] is True and d["rules"][0]["key"]["object"] == "client"'
}

@test "check: a wrong PIN is reported as the token refusing the pin_file, not as a key that does not match" {
	mktoken "$T/hsm"
	TPIN=$T/bad.pin
	echo "$WRONGPIN" > "$TPIN"
	chmod 600 "$TPIN"
	local c; c=$(tconf ckpin server 8443 server)
	run --separate-stderr launcher check -c "$c"
	show
	[ "$status" -ne 0 ]
	assert_contains "$output$stderr" "$TPIN"
	[[ "$output$stderr" =~ refused ]]
	refute_contains "$output$stderr" "$WRONGPIN"
	# The key was never compared with the certificate: check must not say it does not match.
	refute_contains "$output" "does NOT match"
	assert_contains "$output" "key: $(uri server) (token \"mtls\", object \"server\") could NOT be loaded"
	check_json "$c"
	[ "$status" -ne 0 ]
	jq_true 'd["rules"][0]["key"]["where"] == "token" and d["rules"][0]["key"]["loaded"] is False'
	refute_contains "$output" "$WRONGPIN"
}

# ---------------------------------------------------------------------------------------------
# Core dump measurement

# dump_scan NAME KEYFILE: gcore of $SRVPID (after its handshakes) into $T/NAME.core.PID, scanned by
# keys_scan.py for KEYFILE's bytes (output in $T/NAME.scan), and the live process too
# ($T/NAME.live: /proc/PID/mem, to locate what a dump may hold). Appends both to $KEYS_REPORT when set.
dump_scan() {
	local n=$1 key=$2
	cat "/proc/$SRVPID/maps" > "$T/$n.maps"
	gcore -o "$T/$n.core" "$SRVPID" > "$T/$n.gcore.out" 2>&1 || { cat "$T/$n.gcore.out" >&2; return 1; }
	[ -s "$T/$n.core.$SRVPID" ] || { echo "no dump $T/$n.core.$SRVPID" >&2; cat "$T/$n.gcore.out" >&2; return 1; }
	python3 "$REPO/tests/keys_scan.py" core "$T/$n.core.$SRVPID" "$key" --maps "$T/$n.maps" > "$T/$n.scan"
	python3 "$REPO/tests/keys_scan.py" pid "$SRVPID" "$key" > "$T/$n.live"
	echo "=== $n: dump $T/$n.core.$SRVPID"; grep -Ev 'hits=0$' "$T/$n.scan"
	echo "=== $n: live process"; grep -Ev 'hits=0$' "$T/$n.live"
	if [ -n "${KEYS_REPORT:-}" ]; then
		{ echo "=== $BATS_TEST_DESCRIPTION: $n (dump)"; cat "$T/$n.scan"
		  echo "=== $n (live /proc/PID/mem)"; cat "$T/$n.live"; } >> "$KEYS_REPORT"
	fi
	rm -f "$T/$n.core.$SRVPID"
}
# total KIND FILE: the hits of KIND (hits, scalar, frag, der, pem) in a scan's last line.
total() { sed -n "s/^total .*\\b$1=\\([0-9]*\\).*/\\1/p" "$2"; }

# needles_check KEYFILE: the scan's needles are right: KEYFILE's own PEM shows its PEM lines,
# its PKCS#8 and traditional DER their DER, each DER the scalars.
needles_check() {
	local k=$1 scan="python3 $REPO/tests/keys_scan.py raw"
	openssl pkcs8 -topk8 -nocrypt -in "$k" -outform der -out "$T/k8.der"
	openssl pkey -in "$k" -traditional -outform der -out "$T/ktrad.der" 2>/dev/null
	$scan "$k" "$k" > "$T/raw.pem.scan"
	$scan "$T/k8.der" "$k" > "$T/raw.k8.scan"
	$scan "$T/ktrad.der" "$k" > "$T/raw.trad.scan"
	cat "$T"/raw.*.scan | grep -v 'hits=0$'
	[ "$(total pem "$T/raw.pem.scan")" -ge 2 ]
	grep -q '^needle der-pkcs8 .*hits=1$' "$T/raw.k8.scan"
	grep -q '^needle der-traditional .*hits=1$' "$T/raw.trad.scan"
	[ "$(total scalar "$T/raw.k8.scan")" -ge 1 ]
	[ "$(total scalar "$T/raw.trad.scan")" -ge 1 ]
}

# coredump_case OBJ KEYFILE CERT: a shimmed echo_server whose key is token object OBJ serves 3
# handshakes and is dumped: no byte of the key. The control: the same server with KEYFILE as
# key_file: its dump holds the key (the search works).
coredump_case() {
	local obj=$1 key=$2 cert=$3 c i
	# A sanitizer's shadow memory would make the dump tens of GB: the measurement is the plain build's.
	if asan_build || tsan_build; then skip "core dumps are measured on the plain build"; fi
	needles_check "$key"
	PORT=$(free_port)
	c=$(tconf "dump$obj" server "$PORT" "$obj" "cert_file = \"$cert\"")
	start_echo "$c" "dump$obj"
	for i in 1 2 3; do
		run tls_echo "$PORT" "handshake $i"
		[ "$output" = "handshake $i" ]
	done
	assert_mtls_accepts "$PORT"
	dump_scan "token-$obj" "$key"
	# The token (SoftHSM, a software token) lives in the process: the measurement covers its memory.
	assert_file_has "$T/token-$obj.maps" 'libsofthsm2\.so'
	mtls_teardown
	PORT=$(free_port)
	c=$(fconf "ctl$obj" "$PORT" "$cert" "$key")
	start_echo "$c" "ctl$obj"
	for i in 1 2 3; do
		run tls_echo "$PORT" "handshake $i"
		[ "$output" = "handshake $i" ]
	done
	dump_scan "file-$obj" "$key"
	# The control: the plain-file key is in the dump, so the search finds a key where there is one.
	[ "$(total scalar "$T/file-$obj.scan")" -ge 1 ]
	# The token key: nothing of it in the dump.
	if [ "$(total hits "$T/token-$obj.scan")" -ne 0 ]; then
		echo "the token-key server's dump holds key bytes:" >&2
		cat "$T/token-$obj.scan" >&2
		return 1
	fi
}

@test "core dump: a token-key (EC P-256) server's gcore dump holds no byte of the key; the same server with the key file does (control)" {
	coredump_case server "$PKI/server.key" "$PKI/server.crt"
}

@test "core dump: a token-key (RSA 2048) server's gcore dump holds none of d, p, q or the key's encodings; the key file's does (control)" {
	coredump_case rsa "$PKI/rsa.key" "$PKI/rsa.crt"
}
