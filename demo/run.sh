#!/bin/sh
# demo/run.sh: narrated end-to-end demo of mtlsshim with a throwaway PKI (run by `make demo`).
#
# A plaintext HTTP server gets mutual TLS on its listening port, a plaintext
# client gets mutual TLS on its outgoing connection, and peers without a
# certificate from the demo CA never reach the program. Exits non-zero if any
# step does not behave as described.
set -u

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
B=${MTLSSHIM_BUILD:-build}
SHIM="$ROOT/$B/mtlsshim"
D="$ROOT/build/demo"
PKI="$D/pki"

for f in "$SHIM" "$ROOT/$B/libmtlsshim.so" "$ROOT/$B/libmtlsshim-tls.so"; do
	if [ ! -x "$f" ] && [ ! -f "$f" ]; then
		echo "demo: $f is missing; run 'make' (or 'make demo') first" >&2
		exit 1
	fi
done
for t in openssl curl python3 timeout; do
	command -v "$t" >/dev/null 2>&1 || { echo "demo: $t is not installed" >&2; exit 1; }
done
# The real interpreter, so that the PID we keep is the server itself.
PY=$(python3 -c 'import sys; print(sys.executable)')

pids=""
cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	for p in $pids; do
		wait "$p" 2>/dev/null
	done
	pids=""
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

nstep=0
failed=0
passed=0

step() {
	nstep=$((nstep + 1))
	printf '\n[%d] %s\n' "$nstep" "$1"
}
expect() { printf '    expect: %s\n' "$1"; }
ok()     { printf '    \342\234\224 %s\n' "$1"; passed=$((passed + 1)); }
bad()    { printf '    \342\234\230 %s\n' "$1"; failed=$((failed + 1)); }
# show FILE [MAX]: print a file indented, at most MAX lines (default 12).
show() {
	[ -s "$1" ] || { echo "      | (empty)"; return; }
	sed -n "1,${2:-12}p" "$1" | cut -c1-150 | sed 's/^/      | /'
}
# say TEXT: print a command line as typed, without interpreting backslashes.
say() { printf '      $ %s\n' "$1"; }
# count FILE PATTERN: number of lines of FILE matching the extended regex.
count() {
	if [ -f "$1" ]; then grep -Ec -- "$2" "$1"; else echo 0; fi
}
# wait_count FILE PATTERN N: wait up to 5 s for at least N matching lines.
wait_count() {
	i=0
	while [ "$(count "$1" "$2")" -lt "$3" ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ "$(count "$1" "$2")" -ge "$3" ]
}
# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
	"$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
# listening PORT: true if a socket listens on 127.0.0.1:PORT or *:PORT.
# Reads /proc so that no probe connection reaches the shim.
listening() {
	hex=$(printf '%04X' "$1")
	awk -v p=":$hex" 'substr($2, length($2) - 4) == p && $4 == "0A" { f = 1 } END { exit !f }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}
# wait_listen PORT PID: wait up to 10 s for PORT while PID is alive.
wait_listen() {
	i=0
	while ! listening "$1"; do
		kill -0 "$2" 2>/dev/null || return 1
		[ $i -ge 100 ] && return 1
		sleep 0.1
		i=$((i + 1))
	done
}

echo "mtlsshim demo: mutual TLS for programs that only speak plaintext TCP"
echo "Working directory: build/demo (a throwaway PKI, configs, logs)"

# ---------------------------------------------------------------------------
step "Create a throwaway PKI with openssl in build/demo/pki"
expect "a demo CA, a server certificate (SAN DNS:localhost, IP:127.0.0.1), a client
            certificate signed by the demo CA, and a 'foreign' CA with its own certificates"
rm -rf "$D"
mkdir -p "$PKI" "$D/www"
cat >"$PKI/openssl.cnf" <<'EOF'
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectAltName = DNS:client.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ foreign_client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectAltName = DNS:intruder.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
pki_log="$PKI/openssl.log"
: >"$pki_log"
# make_ca NAME SUBJECT
make_ca() {
	openssl req -x509 -config "$PKI/openssl.cnf" -extensions ca_ext \
		-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$PKI/$1.key" -out "$PKI/$1.crt" -days 2 -subj "$2" >>"$pki_log" 2>&1
}
# make_leaf NAME SUBJECT CA EXTENSIONS
make_leaf() {
	openssl req -new -config "$PKI/openssl.cnf" \
		-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$PKI/$1.key" -out "$PKI/$1.csr" -subj "$2" >>"$pki_log" 2>&1 &&
	openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$3.crt" -CAkey "$PKI/$3.key" \
		-set_serial "0x$(openssl rand -hex 8)" -days 2 \
		-extfile "$PKI/openssl.cnf" -extensions "$4" -out "$PKI/$1.crt" >>"$pki_log" 2>&1
}
if make_ca ca "/CN=mtlsshim demo CA" &&
   make_leaf server "/CN=localhost" ca server_ext &&
   make_leaf client "/CN=client" ca client_ext &&
   make_ca foreign-ca "/CN=foreign CA" &&
   make_leaf foreign-client "/CN=intruder" foreign-ca foreign_client_ext &&
   make_leaf foreign-server "/CN=localhost" foreign-ca server_ext &&
   openssl verify -CAfile "$PKI/ca.crt" "$PKI/server.crt" "$PKI/client.crt" >>"$pki_log" 2>&1 &&
   ! openssl verify -CAfile "$PKI/ca.crt" "$PKI/foreign-client.crt" >>"$pki_log" 2>&1 &&
   ! openssl verify -CAfile "$PKI/ca.crt" "$PKI/foreign-server.crt" >>"$pki_log" 2>&1; then
	rm -f "$PKI"/*.csr
	ok "pki/ca.crt, server.crt+key, client.crt+key; pki/foreign-ca.crt, foreign-client.crt+key,
       foreign-server.crt+key (a look-alike CN=localhost from the foreign CA)"
	for c in server client foreign-client foreign-server; do
		subj=$(openssl x509 -in "$PKI/$c.crt" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
		iss=$(openssl x509 -in "$PKI/$c.crt" -noout -issuer -nameopt RFC2253 | sed 's/^issuer=//')
		san=$(openssl x509 -in "$PKI/$c.crt" -noout -ext subjectAltName | sed -n '2s/^ *//p')
		printf '      | %-19s %s, issued by %s, SAN %s\n' "$c.crt" "$subj" "$iss" "$san"
	done
else
	bad "openssl failed to make the PKI:"
	show "$pki_log" 20
	exit 1
fi

# ---------------------------------------------------------------------------
PORT=$(free_port)
PORT2=$(free_port)
while [ "$PORT2" = "$PORT" ]; do PORT2=$(free_port); done

step "Write the configurations (paths are relative to each config file)"
expect "'mtlsshim check' accepts both and names what it loaded"
cat >"$D/server.conf" <<EOF
# Demo server side: wrap connections accepted on port $PORT.
log_level = "info"
log_file  = "server-shim.log"
ca_file   = "pki/ca.crt"
cert_file = "pki/server.crt"
key_file  = "pki/server.key"
handshake_timeout = 5
server "web" {
    port = $PORT
}
EOF
cat >"$D/client.conf" <<EOF
# Demo client side: wrap connections this program opens to 127.0.0.1:$PORT2.
log_level = "info"
log_file  = "client-shim.log"
ca_file   = "pki/ca.crt"
cert_file = "pki/client.crt"
key_file  = "pki/client.key"
handshake_timeout = 5
client "status" {
    port = $PORT2
    host = "127.0.0.1"
}
EOF
show "$D/server.conf" 20
for c in server client; do
	if "$SHIM" check -c "$D/$c.conf" >"$D/check-$c.out" 2>&1; then
		ok "mtlsshim check -c build/demo/$c.conf: exit 0"
		show "$D/check-$c.out" 6
	else
		bad "mtlsshim check -c build/demo/$c.conf failed:"
		show "$D/check-$c.out" 6
	fi
done

# ---------------------------------------------------------------------------
step "Start a plaintext HTTP server under the shim"
expect "python3 -m http.server $PORT, which knows nothing about TLS, listens on 127.0.0.1:$PORT"
echo "Hello from a plaintext program, delivered over mutual TLS." >"$D/www/hello.txt"
say "$B/mtlsshim -c build/demo/server.conf python3 -m http.server $PORT --bind 127.0.0.1"
"$SHIM" -c "$D/server.conf" "$PY" -u -m http.server "$PORT" --bind 127.0.0.1 \
	--directory "$D/www" >"$D/http-server.out" 2>"$D/http-server.err" </dev/null &
srv=$!
pids="$pids $srv"
if wait_listen "$PORT" "$srv"; then
	ok "server (pid $srv) is listening on 127.0.0.1:$PORT"
else
	bad "server did not start listening; its stderr and the shim log:"
	show "$D/http-server.err"
	show "$D/server-shim.log"
	exit 1
fi

SLOG="$D/server-shim.log"
ACC='accepted rule=web '
REF='refused rule=web '

# ---------------------------------------------------------------------------
step "A TLS client with a certificate from the demo CA (openssl s_client)"
expect "the handshake succeeds and 'GET /hello.txt HTTP/1.0' returns the file"
say "printf 'GET /hello.txt HTTP/1.0\\r\\n\\r\\n' | openssl s_client -connect 127.0.0.1:$PORT \\"
printf '%s\n' "          -cert pki/client.crt -key pki/client.key -CAfile pki/ca.crt -quiet"
printf 'GET /hello.txt HTTP/1.0\r\n\r\n' |
	timeout 15 openssl s_client -connect "127.0.0.1:$PORT" -cert "$PKI/client.crt" \
		-key "$PKI/client.key" -CAfile "$PKI/ca.crt" -verify_return_error -quiet \
		>"$D/good-s_client.out" 2>"$D/good-s_client.err"
if grep -q "Hello from a plaintext program" "$D/good-s_client.out"; then
	ok "got the file over TLS:"
	show "$D/good-s_client.out"
else
	bad "did not get the file; s_client printed:"
	show "$D/good-s_client.out"
	show "$D/good-s_client.err"
fi
if wait_count "$SLOG" "$ACC" 1; then
	ok "the shim logged the accepted peer:"
	grep -E "$ACC" "$SLOG" | tail -n 1 | sed 's/^/      | /'
else
	bad "no 'accepted' line in the shim log:"
	show "$SLOG"
fi

# ---------------------------------------------------------------------------
step "The same with curl"
expect "curl verifies the server (SAN IP:127.0.0.1), presents its certificate, gets the file"
say "curl --cert pki/client.crt --key pki/client.key --cacert pki/ca.crt https://127.0.0.1:$PORT/hello.txt"
if curl -sS --max-time 15 --cert "$PKI/client.crt" --key "$PKI/client.key" \
	--cacert "$PKI/ca.crt" "https://127.0.0.1:$PORT/hello.txt" >"$D/good-curl.out" 2>"$D/good-curl.err" &&
   grep -q "Hello from a plaintext program" "$D/good-curl.out"; then
	ok "got the file:"
	show "$D/good-curl.out"
else
	bad "curl failed:"
	show "$D/good-curl.out"
	show "$D/good-curl.err"
fi
if wait_count "$SLOG" "$ACC" 2; then
	ok "the shim logged a second accepted peer"
else
	bad "no second 'accepted' line in the shim log"
fi

# refused_attempt NAME N [s_client options...]: a client the shim must refuse;
# N is how many 'refused' lines the shim log must then hold.
refused_attempt() {
	name=$1 n=$2
	shift 2
	printf 'GET /hello.txt HTTP/1.0\r\n\r\n' |
		timeout 15 openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$PKI/ca.crt" \
			-verify_return_error -quiet "$@" >"$D/$name.out" 2>"$D/$name.err"
	if grep -q "Hello from a plaintext program" "$D/$name.out" || grep -q "HTTP/1" "$D/$name.out"; then
		bad "the client got an HTTP answer; it should have been refused:"
		show "$D/$name.out"
	else
		ok "no HTTP answer; s_client reports:"
		if grep -qi 'alert\|error' "$D/$name.err"; then
			grep -i 'alert\|error' "$D/$name.err" | head -n 2 | sed 's/^/      | /'
		else
			show "$D/$name.err" 3
		fi
	fi
	if wait_count "$SLOG" "$REF" "$n"; then
		ok "the shim logged the refusal:"
		grep -E "$REF" "$SLOG" | tail -n 1 | sed 's/^/      | /'
	else
		bad "no new 'refused' line in the shim log:"
		show "$SLOG"
	fi
}

# ---------------------------------------------------------------------------
step "A TLS client without a certificate"
expect "refused at the handshake; the program never sees the connection"
say "openssl s_client -connect 127.0.0.1:$PORT -CAfile pki/ca.crt -quiet"
refused_attempt nocert-s_client 1

# ---------------------------------------------------------------------------
step "A TLS client whose certificate comes from a foreign CA"
expect "refused at the handshake: its certificate does not verify against pki/ca.crt"
say "openssl s_client -connect 127.0.0.1:$PORT -cert pki/foreign-client.crt \\"
echo "          -key pki/foreign-client.key -CAfile pki/ca.crt -quiet"
refused_attempt foreign-s_client 2 \
	-cert "$PKI/foreign-client.crt" -key "$PKI/foreign-client.key"

# ---------------------------------------------------------------------------
step "What each side saw"
expect "the shim log has 2 accepted and 2 refused peers; python's access log (its
            stderr) has only the 2 good requests: the program never saw the refused ones"
echo "    shim log (build/demo/server-shim.log):"
show "$SLOG" 20
echo "    python's access log (build/demo/http-server.err):"
show "$D/http-server.err" 20
na=$(count "$SLOG" "$ACC")
nr=$(count "$SLOG" "$REF")
lines=$(count "$D/http-server.err" .)
good=$(count "$D/http-server.err" '"GET /hello.txt HTTP/1\.[01]" 200')
if [ "$na" -eq 2 ] && [ "$nr" -eq 2 ]; then
	ok "shim: $na accepted, $nr refused"
else
	bad "shim: $na accepted, $nr refused (expected 2 and 2)"
fi
if [ "$lines" -eq 2 ] && [ "$good" -eq 2 ]; then
	ok "python logged exactly the 2 good requests and nothing else"
else
	bad "python's stderr has $lines lines, $good of them good requests (expected 2 and 2)"
fi
if [ -f "$SLOG" ] && grep -q 'PRIVATE KEY' "$SLOG"; then
	bad "the shim log mentions a private key"
fi

# ---------------------------------------------------------------------------
step "A plaintext client under the shim talks to a mutual-TLS server"
expect "openssl s_server -Verify 1 (client certificate required) on 127.0.0.1:$PORT2;
            'curl http://…' under the shim gets s_server's status page over TLS"
say "openssl s_server -Verify 1 -cert pki/server.crt -key pki/server.key -CAfile pki/ca.crt \\"
echo "          -www -accept 127.0.0.1:$PORT2"
openssl s_server -Verify 1 -cert "$PKI/server.crt" -key "$PKI/server.key" \
	-CAfile "$PKI/ca.crt" -verify_return_error -www -accept "127.0.0.1:$PORT2" \
	>"$D/s_server.out" 2>&1 </dev/null &
ssrv=$!
pids="$pids $ssrv"
if wait_listen "$PORT2" "$ssrv"; then
	ok "s_server (pid $ssrv) is listening on 127.0.0.1:$PORT2"
	say "$B/mtlsshim -c build/demo/client.conf curl -s http://127.0.0.1:$PORT2/"
	if "$SHIM" -c "$D/client.conf" curl -sS --max-time 15 "http://127.0.0.1:$PORT2/" \
		>"$D/client-curl.out" 2>"$D/client-curl.err" </dev/null &&
	   grep -q "Ciphers supported" "$D/client-curl.out"; then
		ok "curl printed s_server's status page (excerpt):"
		grep -E '^(New|Reused), |Protocol *:|Cipher *:|^Client certificate|Subject: ' "$D/client-curl.out" |
			sed 's/^ *//' | head -n 6 | sed 's/^/      | /'
		if grep -q '^Client certificate' "$D/client-curl.out" &&
		   grep -q 'Subject: CN *= *client' "$D/client-curl.out"; then
			ok "s_server saw the client certificate CN=client that the shim presented"
		else
			bad "s_server's page does not show the client certificate"
		fi
	else
		bad "curl did not get the status page:"
		show "$D/client-curl.out"
		show "$D/client-curl.err"
		echo "    s_server said:"
		show "$D/s_server.out"
	fi
	if wait_count "$D/client-shim.log" 'connected rule=status ' 1; then
		ok "the client-side shim logged the connection:"
		grep -E 'connected rule=status ' "$D/client-shim.log" | tail -n 1 | sed 's/^/      | /'
	else
		bad "no 'connected' line in build/demo/client-shim.log:"
		show "$D/client-shim.log"
	fi
else
	bad "s_server did not start:"
	show "$D/s_server.out"
fi

# ---------------------------------------------------------------------------
step "The same plaintext client against an impostor server"
expect "s_server now presents a certificate from the foreign CA: the shim refuses it,
            curl's connect() fails with ECONNREFUSED, the request never leaves in plaintext"
kill "$ssrv" 2>/dev/null
wait "$ssrv" 2>/dev/null
i=0
while listening "$PORT2" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
say "openssl s_server -cert pki/foreign-server.crt -key pki/foreign-server.key -www -accept 127.0.0.1:$PORT2"
openssl s_server -cert "$PKI/foreign-server.crt" -key "$PKI/foreign-server.key" \
	-www -accept "127.0.0.1:$PORT2" >"$D/s_server-impostor.out" 2>&1 </dev/null &
isrv=$!
pids="$pids $isrv"
if wait_listen "$PORT2" "$isrv"; then
	ok "impostor s_server (pid $isrv) is listening on 127.0.0.1:$PORT2"
	say "$B/mtlsshim -c build/demo/client.conf curl -sv http://127.0.0.1:$PORT2/"
	"$SHIM" -c "$D/client.conf" curl -sS -v --max-time 15 "http://127.0.0.1:$PORT2/" \
		>"$D/impostor-curl.out" 2>"$D/impostor-curl.err" </dev/null
	rc=$?
	if [ "$rc" -ne 0 ] && ! grep -q "Ciphers supported" "$D/impostor-curl.out" &&
	   grep -q "Connection refused" "$D/impostor-curl.err"; then
		ok "curl failed to connect (exit $rc; its -v output):"
		grep -E 'Connection refused|^curl:' "$D/impostor-curl.err" | cut -c1-150 | sed 's/^/      | /'
	else
		bad "curl exit $rc; expected a refused connection:"
		show "$D/impostor-curl.out" 5
		show "$D/impostor-curl.err" 5
	fi
	if wait_count "$D/client-shim.log" 'refused rule=status ' 1; then
		ok "the client-side shim logged why:"
		grep -E 'refused rule=status ' "$D/client-shim.log" | tail -n 1 | sed 's/^/      | /'
	else
		bad "no 'refused' line in build/demo/client-shim.log:"
		show "$D/client-shim.log"
	fi
	if grep -q "GET / HTTP" "$D/s_server-impostor.out"; then
		bad "the impostor server received the request"
	fi
else
	bad "impostor s_server did not start:"
	show "$D/s_server-impostor.out"
fi

# ---------------------------------------------------------------------------
step "Fail closed: a configuration that names a missing file"
expect "the program does not start: exit status 78 and one line 'mtlsshim: FILE: problem'"
sed 's#pki/client.key#pki/missing.key#' "$D/client.conf" >"$D/broken.conf"
say "$B/mtlsshim -c build/demo/broken.conf echo 'main() ran'"
"$SHIM" -c "$D/broken.conf" echo "main() ran" >"$D/broken.out" 2>"$D/broken.err" </dev/null
rc=$?
if [ "$rc" -eq 78 ] && ! grep -q "main() ran" "$D/broken.out" &&
   [ "$(count "$D/broken.err" .)" -eq 1 ] && grep -q '^mtlsshim: ' "$D/broken.err" &&
   grep -q 'missing.key\|broken.conf' "$D/broken.err"; then
	ok "exit status 78, the program did not run:"
	show "$D/broken.err" 2
else
	bad "exit status $rc (expected 78); stdout and stderr:"
	show "$D/broken.out" 3
	show "$D/broken.err" 3
fi

cleanup

# ---------------------------------------------------------------------------
printf '\n%d passed, %d failed\n' "$passed" "$failed"
if [ "$failed" -ne 0 ]; then
	echo "demo: FAILED; logs and outputs are in build/demo/"
	exit 1
fi
echo "demo: all steps behaved as described; logs and outputs are in build/demo/"
