#!/usr/bin/env bats
# compat.bats: the compatibility matrix: real daemons and clients under the shim, data checked end to end.
#
# Test names read "compat: PROGRAM | MODE"; tests/compat-table.sh turns the TAP output into the README
# table (make compat). Every case checks that the data arrived intact, not only the exit status.

load helpers

setup_file() {
	common_setup_file
	# Shared payloads: 50 MB of random bytes (nginx) and 1 MiB of text (redis, python, socat).
	head -c 52428800 /dev/urandom > "$BATS_FILE_TMPDIR/big.bin"
	head -c 786432 /dev/urandom | base64 -w0 > "$BATS_FILE_TMPDIR/mib.txt"
	export BIG=$BATS_FILE_TMPDIR/big.bin MIB=$BATS_FILE_TMPDIR/mib.txt
	export BIGSUM MIBSUM
	BIGSUM=$(sha256sum < "$BIG" | cut -d' ' -f1)
	MIBSUM=$(sha256sum < "$MIB" | cut -d' ' -f1)
}
setup() { require_build; T=$BATS_TEST_TMPDIR; }
teardown() { common_teardown; }

sum() { sha256sum < "$1" | cut -d' ' -f1; }

# same_file GOT WANT-SUM: GOT exists and its sha256 is WANT-SUM (prints sizes when not).
same_file() {
	local got; got=$(sum "$1" 2>/dev/null || true)
	[ "$got" = "$2" ] && return 0
	echo "checksum mismatch: $1 ($(stat -c %s "$1" 2>/dev/null || echo missing) bytes) sha256=$got, want $2" >&2
	return 1
}

# ---------------------------------------------------------------------------------------------
# redis
# ---------------------------------------------------------------------------------------------

# start_redis PORT [CONF]: redis-server on 127.0.0.1:PORT, under the shim when CONF is given.
start_redis() {
	local args=(redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no --dir "$T")
	if [ -n "${2:-}" ]; then shim_bg "$T/redis.out" "$2" "${args[@]}"; else bg "$T/redis.out" "${args[@]}"; fi
	wait_port "$1"
}

# redis_roundtrip CLI...: SET/GET a short value and the 1 MiB value through the redis-cli command CLI.
redis_roundtrip() {
	local out
	out=$("$@" SET greeting "hello over mtls" 2>&1) || true
	[ "$out" = OK ] || { echo "SET greeting: $out" >&2; return 1; }
	out=$("$@" GET greeting 2>&1) || true
	[ "$out" = "hello over mtls" ] || { echo "GET greeting: $out" >&2; return 1; }
	out=$("$@" -x SET mib < "$MIB" 2>&1) || true
	[ "$out" = OK ] || { echo "SET mib: ${out:0:300}" >&2; return 1; }
	out=$("$@" STRLEN mib 2>&1) || true
	[ "$out" = 1048576 ] || { echo "STRLEN mib: $out" >&2; return 1; }
	"$@" GET mib > "$T/mib.got" 2>&1 || true
	# redis-cli ends the reply with a newline.
	truncate -s -1 "$T/mib.got"
	same_file "$T/mib.got" "$MIBSUM"
}

@test "compat: redis-server + redis-cli | both shimmed; SET/GET incl. a 1 MiB value" {
	PORT=$(free_port)
	start_redis "$PORT" "$(server_conf redis "$PORT")"
	local c; c=$(client_conf rcli "$PORT")
	wire_start "$PORT"
	redis_roundtrip shim "$c" timeout 20 redis-cli -h 127.0.0.1 -p "$PORT"
	# One redis-cli connection per command: five, each TLS only both ways.
	wire_check --min-conns 5
	assert_file_has "$T/redis.log" 'accepted rule=redis .*subject="[^"]*CN=client'
	assert_file_has "$T/rcli.log" "connected rule=rcli peer=127\\.0\\.0\\.1:$PORT"
}

@test "compat: redis-server + redis-benchmark | both shimmed; -c 50 -n 50000 -t get,set" {
	PORT=$(free_port)
	start_redis "$PORT" "$(server_conf redis "$PORT")"
	local c; c=$(client_conf rbench "$PORT")
	wire_start "$PORT"
	run shim "$c" timeout 100 redis-benchmark -h 127.0.0.1 -p "$PORT" -c 50 -n 50000 -t get,set
	# 50 connections per test, each TLS only both ways.
	wire_check --min-conns 100
	# Progress lines end in \r; keep the final report lines only.
	output=$(printf '%s\n' "$output" | tr '\r' '\n' | grep -v '^\(SET\|GET\): rps=' || true)
	show
	[ "$status" -eq 0 ]
	[ "$(grep -c '50000 requests completed in' <<< "$output")" -eq 2 ]
	assert_contains "$output" "====== SET ======"
	assert_contains "$output" "====== GET ======"
	refute_contains "$output" "rror"
	refute_file_has "$T/redis.log" 'refused rule='
	[ "$(count "$T/rbench.log" 'connected rule=rbench')" -ge 100 ]
}

# stunnel_conf NAME BODY: a foreground stunnel config in the test dir; prints its path.
stunnel_conf() {
	local f=$T/$1.conf
	{
		echo "foreground = yes"
		echo "pid = $T/$1.pid"
		echo "debug = 5"
		echo "[$1]"
		echo "$2"
	} > "$f"
	echo "$f"
}

@test "compat: redis-server + redis-cli + stunnel | redis-server shimmed; unshimmed redis-cli via a stunnel client (verify = 2)" {
	PORT=$(free_port)
	start_redis "$PORT" "$(server_conf redis "$PORT")"
	local lport st; lport=$(free_port)
	st=$(stunnel_conf stunnel-cli "client = yes
accept = 127.0.0.1:$lport
connect = 127.0.0.1:$PORT
cert = $PKI/client.crt
key = $PKI/client.key
CAfile = $PKI/ca.crt
verify = 2")
	bg "$T/stunnel.out" stunnel4 "$st"
	wait_port "$lport"
	# The wire between stunnel and the shimmed redis-server; redis-cli to stunnel ($lport) is
	# plaintext by design and not checked.
	wire_start "$PORT"
	redis_roundtrip timeout 20 redis-cli -h 127.0.0.1 -p "$lport"
	wire_check --min-conns 5
	assert_file_has "$T/redis.log" 'accepted rule=redis .*subject="[^"]*CN=client'
}

@test "compat: redis-server + redis-cli + stunnel | redis-cli shimmed; plain redis-server behind a stunnel server (verify = 2)" {
	local rport st; rport=$(free_port)
	start_redis "$rport"
	PORT=$(free_port)
	st=$(stunnel_conf stunnel-srv "accept = 127.0.0.1:$PORT
connect = 127.0.0.1:$rport
cert = $PKI/server.crt
key = $PKI/server.key
CAfile = $PKI/ca.crt
verify = 2")
	bg "$T/stunnel.out" stunnel4 "$st"
	wait_port "$PORT"
	local c; c=$(client_conf rcli "$PORT")
	# The wire between the shimmed redis-cli and stunnel; stunnel to redis-server ($rport) is
	# plaintext by design and not checked.
	wire_start "$PORT"
	redis_roundtrip shim "$c" timeout 20 redis-cli -h 127.0.0.1 -p "$PORT"
	wire_check --min-conns 5
	assert_file_has "$T/rcli.log" "connected rule=rcli peer=127\\.0\\.0\\.1:$PORT .*subject=\"[^\"]*CN=localhost"
	# stunnel saw and verified our client certificate.
	assert_file_has "$T/stunnel.out" 'CN=client'
}

# ---------------------------------------------------------------------------------------------
# nginx, curl, wget, wrk
# ---------------------------------------------------------------------------------------------

# nginx_conf DIR LISTEN-LINE [EXTRA-SERVER-LINES]: a test-local nginx (master + 2 workers, epoll,
# sendfile) serving DIR/html, which holds big.bin (the 50 MB payload) and index.html.
# Workers run as root: the test directory is private to root, and so is the shim's log file.
nginx_conf() {
	local d=$1
	mkdir -p "$d/html" "$d/tmp"
	ln -sf "$BIG" "$d/html/big.bin"
	echo "hello from nginx" > "$d/html/index.html"
	head -c 262144 "$BIG" > "$d/html/256k.bin"
	cat > "$d/nginx.conf" <<-EOF
	daemon off;
	master_process on;
	worker_processes 2;
	user root root;
	pid $d/nginx.pid;
	error_log $d/error.log info;
	events { worker_connections 512; use epoll; }
	http {
	    access_log $d/access.log;
	    sendfile on;
	    tcp_nopush on;
	    keepalive_requests 100000;
	    client_body_temp_path $d/tmp;
	    proxy_temp_path $d/tmp;
	    fastcgi_temp_path $d/tmp;
	    uwsgi_temp_path $d/tmp;
	    scgi_temp_path $d/tmp;
	    server {
	        $2
	        $3
	        root $d/html;
	    }
	}
	EOF
}

# start_nginx DIR [CONF]: nginx from DIR/nginx.conf, under the shim when CONF is given.
start_nginx() {
	if [ -n "${2:-}" ]; then
		shim_bg "$1/out" "$2" nginx -c "$1/nginx.conf" -p "$1"
	else
		bg "$1/out" nginx -c "$1/nginx.conf" -p "$1"
	fi
	wait_port "$PORT"
}

# A shimmed nginx with a server rule; sets PORT and NGX (its directory).
start_shimmed_nginx() {
	PORT=$(free_port)
	NGX=$T/nginx
	nginx_conf "$NGX" "listen 127.0.0.1:$PORT;"
	start_nginx "$NGX" "$(server_conf nginx "$PORT")"
}

# A plain nginx terminating TLS itself and requiring a client certificate from the test CA.
start_tls_nginx() {
	PORT=$(free_port)
	NGX=$T/nginx
	nginx_conf "$NGX" "listen 127.0.0.1:$PORT ssl;" "ssl_certificate $PKI/server.crt;
	        ssl_certificate_key $PKI/server.key;
	        ssl_client_certificate $PKI/ca.crt;
	        ssl_verify_client on;"
	start_nginx "$NGX"
}

@test "compat: nginx + curl | nginx shimmed (master + 2 workers, epoll, sendfile); shimmed curl http://, 50 MB" {
	require_shimmable_curl
	start_shimmed_nginx
	local c; c=$(client_conf curl "$PORT")
	# 50 MB: a 64 MiB capture buffer holds all of it, should tcpdump fall behind.
	WIRE_BUFFER=65536 wire_start "$PORT"
	run shim "$c" timeout 60 curl -sS --max-time 50 -o "$T/big.got" -w '%{http_code} %{size_download}' \
		"http://127.0.0.1:$PORT/big.bin"
	show
	# The whole 50 MB connection is captured and checked.
	wire_check
	[ "$status" -eq 0 ]
	[ "$output" = "200 52428800" ]
	same_file "$T/big.got" "$BIGSUM"
	assert_file_has "$T/nginx.log" 'accepted rule=nginx .*subject="[^"]*CN=client'
	assert_file_has "$T/curl.log" "connected rule=curl peer=127\\.0\\.0\\.1:$PORT"
}

@test "compat: nginx + curl | nginx shimmed (master + 2 workers, epoll, sendfile); unshimmed curl --cert https://, 50 MB" {
	start_shimmed_nginx
	# 50 MB: a 64 MiB capture buffer holds all of it, should tcpdump fall behind.
	WIRE_BUFFER=65536 wire_start "$PORT"
	run mcurl --max-time 50 -o "$T/big.got" -w '%{http_code} %{size_download}' "https://127.0.0.1:$PORT/big.bin"
	show
	[ "$status" -eq 0 ]
	[ "$output" = "200 52428800" ]
	same_file "$T/big.got" "$BIGSUM"
	# Without a client certificate nginx never sees the request.
	run curl -sS --max-time 10 --cacert "$PKI/ca.crt" "https://127.0.0.1:$PORT/index.html"
	show
	[ "$status" -ne 0 ]
	refute_contains "$output" "hello from nginx"
	wait_for "$T/nginx.log" 'refused rule=nginx' 5
	# Both connections, the 50 MB one and the refused one (a handshake and an alert), TLS only.
	wire_check --min-conns 2
	[ "$(count "$NGX/access.log" 'GET ')" -eq 1 ]
}

@test "compat: nginx + wrk | both shimmed; wrk -c 50 -t 2 -d 3s, 256 KiB responses" {
	start_shimmed_nginx
	local c; c=$(client_conf wrk "$PORT")
	# 256 KiB responses: nginx's sendfile runs into full socket buffers on many connections at once.
	# wrk's own 2 s per-request timeout is a speed limit, not a stall check: on 2 shared cores
	# (and under ASan) a response may take longer. A stalled connection still shows at 15 s.
	# Every byte is captured and checked, so the volume is bounded whatever the machine's speed
	# (a fast one moved 3 GB in 3 s and tcpdump dropped packets): each of wrk's two threads stops
	# after 400 responses, some 200 MB in all, and a 2 GB capture buffer (tcpdump's largest is
	# just under 2 GiB) holds it when tcpdump gets little CPU a while. A slow machine stops at 3 s.
	cat > "$T/limit.lua" <<-'EOF'
		local n = 0
		function response(status, headers, body)
			n = n + 1
			if n >= 400 then wrk.thread:stop() end
		end
	EOF
	WIRE_BUFFER=2000000 wire_start "$PORT"
	run shim "$c" timeout 60 wrk -c 50 -t 2 -d 3s --timeout 15s -s "$T/limit.lua" "http://127.0.0.1:$PORT/256k.bin"
	show
	# All 50 connections, every byte. wrk stops by closing its connections with responses
	# still arriving: the kernel answers with a reset, and nginx's last record may be cut
	# short on the wire by it (the only partial record allowed).
	wire_check --min-conns 50 --allow-reset-partial
	[ "$status" -eq 0 ]
	assert_contains "$output" "50 connections"
	# wrk prints these two lines only when there were errors or non-2xx/3xx responses.
	refute_contains "$output" "Socket errors"
	refute_contains "$output" "Non-2xx"
	local n; n=$(sed -n 's/^ *\([0-9]\+\) requests in .*/\1/p' <<< "$output")
	[ "${n:-0}" -gt 0 ] && [ "$n" -le 850 ]
	# nginx answered every request 200 and sent the whole file, but for the responses in flight
	# (at most one per connection) when wrk stopped and closed its connections.
	local all full; all=$(wc -l < "$NGX/access.log"); full=$(count "$NGX/access.log" '"GET /256k.bin HTTP/1.1" 200 262144 ')
	[ "$(count "$NGX/access.log" '"GET /256k.bin HTTP/1.1" 200 ')" -eq "$all" ]
	[ $((all - full)) -le 50 ] || { echo "$((all - full)) of $all responses cut short" >&2; false; }
	[ "$full" -ge "$n" ]
	[ "$(count "$T/wrk.log" 'connected rule=wrk')" -ge 50 ]
}

@test "compat: curl + nginx | curl shimmed; plain nginx with ssl_verify_client on, 50 MB" {
	require_shimmable_curl
	start_tls_nginx
	local c; c=$(client_conf curl "$PORT")
	# 50 MB: a 64 MiB capture buffer holds all of it, should tcpdump fall behind.
	WIRE_BUFFER=65536 wire_start "$PORT"
	run shim "$c" timeout 60 curl -sS --max-time 50 -o "$T/big.got" -w '%{http_code} %{size_download}' \
		"http://127.0.0.1:$PORT/big.bin"
	show
	wire_check
	[ "$status" -eq 0 ]
	[ "$output" = "200 52428800" ]
	same_file "$T/big.got" "$BIGSUM"
	assert_file_has "$T/curl.log" "connected rule=curl peer=127\\.0\\.0\\.1:$PORT .*subject=\"[^\"]*CN=localhost"
}

@test "compat: wget + nginx | wget shimmed; plain nginx with ssl_verify_client on, 50 MB" {
	asan_build && skip "wget hangs under a preloaded ASan runtime, without the shim too"
	start_tls_nginx
	local c; c=$(client_conf wget "$PORT")
	# 50 MB: a 64 MiB capture buffer holds all of it, should tcpdump fall behind.
	WIRE_BUFFER=65536 wire_start "$PORT"
	run shim "$c" timeout 60 wget -nv --tries=1 --timeout=50 -O "$T/big.got" "http://127.0.0.1:$PORT/big.bin"
	show
	[ "$status" -eq 0 ]
	wire_check
	same_file "$T/big.got" "$BIGSUM"
	assert_file_has "$T/wget.log" "connected rule=wget peer=127\\.0\\.0\\.1:$PORT"
}

@test "compat: curl + nginx | curl shimmed with a foreign-CA cert; nginx (ssl_verify_client on) refuses it" {
	require_shimmable_curl
	start_tls_nginx
	local c; c=$(client_conf curl "$PORT" foreign)
	wire_start "$PORT"
	run shim "$c" timeout 30 curl -sS --max-time 20 -w '\n%{http_code}\n' "http://127.0.0.1:$PORT/index.html"
	show
	# Refused by nginx, and still nothing but TLS records on the wire: the request and the 400.
	wire_check
	# nginx finishes the handshake and answers 400 "The SSL certificate error" instead of the page.
	refute_contains "$output" "hello from nginx"
	assert_contains "$output" "The SSL certificate error"
	[ "${lines[${#lines[@]} - 1]}" = 400 ]
	assert_file_has "$NGX/error.log" 'client SSL certificate verify error'
	refute_file_has "$NGX/access.log" '" 200 '
}

# ---------------------------------------------------------------------------------------------
# python3
# ---------------------------------------------------------------------------------------------

# A shimmed, threaded python3 http.server speaking HTTP/1.1 (keep-alive); sets PORT.
start_python_server() {
	PORT=$(free_port)
	mkdir -p "$T/www"
	cp "$MIB" "$T/www/mib.txt"
	echo "hello from python" > "$T/www/index.txt"
	shim_bg "$T/py.out" "$(server_conf pysrv "$PORT")" \
		python3 -u -m http.server --bind 127.0.0.1 --protocol HTTP/1.1 --directory "$T/www" "$PORT"
	wait_port "$PORT"
}

@test "compat: python3 http.server + urllib | both shimmed; 1 MiB file" {
	start_python_server
	local c; c=$(client_conf pycli "$PORT")
	wire_start "$PORT"
	run shim "$c" timeout 30 python3 -c "
import hashlib, urllib.request
for path in ('/index.txt', '/mib.txt', '/mib.txt'):
    body = urllib.request.urlopen('http://127.0.0.1:$PORT' + path, timeout=20).read()
    print(path, len(body), hashlib.sha256(body).hexdigest())
"
	show
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "/index.txt 18 $(printf 'hello from python\n' | sha256sum | cut -d' ' -f1)" ]
	[ "${lines[1]}" = "/mib.txt 1048576 $MIBSUM" ]
	[ "${lines[2]}" = "/mib.txt 1048576 $MIBSUM" ]
	wire_check --min-conns 3
	[ "$(count "$T/py.out" '"GET /mib.txt HTTP/1.1" 200')" -eq 2 ]
	[ "$(count "$T/pycli.log" 'connected rule=pycli')" -eq 3 ]
}

@test "compat: python3 http.server + asyncio | both shimmed; 4 concurrent connections x 3 keep-alive requests" {
	start_python_server
	cat > "$T/aclient.py" <<-'PY'
	import asyncio, hashlib, sys
	port = int(sys.argv[1])
	async def one(n):
	    r, w = await asyncio.open_connection("127.0.0.1", port)
	    out = []
	    for i in range(3):
	        w.write(b"GET /mib.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	        await w.drain()
	        head = await r.readuntil(b"\r\n\r\n")
	        status = head.split(b"\r\n")[0].decode()
	        length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0])
	        body = await r.readexactly(length)
	        out.append("%d %s %d %s" % (n, status, len(body), hashlib.sha256(body).hexdigest()))
	    w.close()
	    await w.wait_closed()
	    return out
	async def main():
	    for res in await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(4))), 40):
	        print("\n".join(res))
	asyncio.run(main())
	PY
	local c; c=$(client_conf pycli "$PORT")
	wire_start "$PORT"
	run shim "$c" timeout 60 python3 "$T/aclient.py" "$PORT"
	show
	wire_check --min-conns 4
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 12 ]
	local l
	for l in "${lines[@]}"; do
		[[ "$l" == [0-3]" HTTP/1.1 200 OK 1048576 $MIBSUM" ]]
	done
	# Four connections, twelve requests: keep-alive held through the shim.
	[ "$(count "$T/pycli.log" 'connected rule=pycli')" -eq 4 ]
	[ "$(count "$T/pysrv.log" 'accepted rule=pysrv')" -eq 4 ]
	[ "$(count "$T/py.out" '"GET /mib.txt HTTP/1.1" 200')" -eq 12 ]
}

# ---------------------------------------------------------------------------------------------
# socat
# ---------------------------------------------------------------------------------------------

@test "compat: socat | both shimmed; TCP-LISTEN fork + EXEC:cat, 4 parallel clients x 1 MiB" {
	PORT=$(free_port)
	shim_bg "$T/socat-srv.out" "$(server_conf socatsrv "$PORT")" \
		socat TCP-LISTEN:"$PORT",bind=127.0.0.1,fork,reuseaddr EXEC:cat
	wait_port "$PORT"
	local c i pids=(); c=$(client_conf socatcli "$PORT")
	wire_start "$PORT"
	for i in 1 2 3 4; do
		head -c 1048576 /dev/urandom > "$T/in.$i"
		# -t 20: after sending everything, wait up to 20 s for the echo to finish.
		shim "$c" timeout 40 socat -t 20 - TCP:127.0.0.1:"$PORT" < "$T/in.$i" > "$T/out.$i" 2> "$T/err.$i" &
		pids+=($!)
	done
	local rc=0
	for i in 0 1 2 3; do wait "${pids[$i]}" || { rc=$?; echo "client $((i + 1)) exit $rc" >&2; cat "$T/err.$((i + 1))" >&2; }; done
	for i in 1 2 3 4; do same_file "$T/out.$i" "$(sum "$T/in.$i")"; done
	[ "$rc" -eq 0 ]
	wire_check --min-conns 4
	[ "$(count "$T/socatsrv.log" 'accepted rule=socatsrv')" -eq 4 ]
}

@test "compat: socat | socat shimmed (fork + EXEC:cat); unshimmed socat OPENSSL client with cert, 1 MiB" {
	PORT=$(free_port)
	shim_bg "$T/socat-srv.out" "$(server_conf socatsrv "$PORT")" \
		socat TCP-LISTEN:"$PORT",bind=127.0.0.1,fork,reuseaddr EXEC:cat
	wait_port "$PORT"
	wire_start "$PORT"
	run timeout 40 socat -t 20 - "OPENSSL:127.0.0.1:$PORT,cert=$PKI/client.crt,key=$PKI/client.key,cafile=$PKI/ca.crt" \
		< "$MIB"
	[ "$status" -eq 0 ] || show
	[ "$output" = "$(cat "$MIB")" ]
	wire_check
}

# ---------------------------------------------------------------------------------------------
# iperf3
# ---------------------------------------------------------------------------------------------

# iperf3_run ARGS...: a shimmed iperf3 client against a shimmed iperf3 server for 5 s; the
# client's JSON must report bytes sent and received, received never more than sent. They are not
# always equal, in plaintext too: the receiver stops counting when the test ends, and what is
# still queued in socket buffers then (a few MB on loopback) is not counted; allow 32 MiB.
iperf3_run() {
	PORT=$(free_port)
	shim_bg "$T/iperf3-srv.out" "$(server_conf iperfsrv "$PORT")" iperf3 -s -B 127.0.0.1 -p "$PORT"
	wait_port "$PORT"
	local c; c=$(client_conf iperfcli "$PORT")
	# Every byte is captured and checked: at most 1.25 GB in 5 s (-b 2G; unbounded, the shim
	# now moves 3 to 4 GB, more than tcpdump can take from the kernel beside two busy
	# endpoints on 2 cores), in a 2 GB capture buffer (tcpdump's largest is just under 2 GiB).
	# Throughput itself is make bench's.
	WIRE_BUFFER=2000000 wire_start "$PORT"
	shim "$c" timeout 40 iperf3 -c 127.0.0.1 -p "$PORT" -t 5 -b 2G -J "$@" > "$T/iperf3.json" 2> "$T/iperf3.err" || {
		echo "iperf3 client failed: $(cat "$T/iperf3.err")" >&2
		head -c 3000 "$T/iperf3.json" >&2
		return 1
	}
	run python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
if "error" in j:
    sys.exit("iperf3 error: " + j["error"])
s, r = j["end"]["sum_sent"]["bytes"], j["end"]["sum_received"]["bytes"]
print("sent=%d received=%d" % (s, r))
sys.exit(0 if 0 < r <= s and s - r <= 32 << 20 else 1)' "$T/iperf3.json"
	show
	[ "$status" -eq 0 ]
	# The control and the data connection, both TLS only, every byte. At the end of the test
	# the receiver closes the data connection with data still arriving: the kernel answers with
	# a reset, and the sender's last record may be cut short on the wire by it.
	wire_check --min-conns 2 --allow-reset-partial
	# One control and one data connection, both wrapped.
	[ "$(count "$T/iperfcli.log" 'connected rule=iperfcli')" -eq 2 ]
	[ "$(count "$T/iperfsrv.log" 'accepted rule=iperfsrv')" -eq 2 ]
}

@test "compat: iperf3 | both shimmed; -t 5" {
	iperf3_run
}

@test "compat: iperf3 | both shimmed; -t 5 -R (server sends)" {
	iperf3_run -R
}

# ---------------------------------------------------------------------------------------------
# openbsd-inetd: the accepted socket crosses fork, dup2 onto 0/1/2, and execve into a plaintext service.
# ---------------------------------------------------------------------------------------------

# start_inetd [SERVICE ARGV...]: a shimmed inetd running a nowait service on a server-rule port;
# sets PORT. The default service, an sh script, appends its PID to $T/ran, reads one line and
# answers it.
start_inetd() {
	PORT=$(free_port)
	cat > "$T/svc.sh" <<-EOF
	echo \$\$ >> "$T/ran"
	IFS= read -r line
	echo "hello \$line from inetd service"
	EOF
	local svc=("$@")
	[ $# -gt 0 ] || svc=(/bin/sh sh "$T/svc.sh")
	echo "127.0.0.1:$PORT stream tcp nowait root ${svc[*]}" > "$T/inetd-services.conf"
	# -d: debug, stays in the foreground and logs to stderr.
	shim_bg "$T/inetd.out" "$(server_conf inetd "$PORT")" /usr/sbin/inetd -d "$T/inetd-services.conf"
	wait_port "$PORT"
}

@test "compat: openbsd-inetd | inetd shimmed, nowait sh service; openssl s_client with a client cert" {
	start_inetd
	wire_start "$PORT"
	run bash -c "(printf 'alice\n'; sleep 2) | timeout 15 openssl s_client -quiet -verify_return_error \
		-CAfile '$PKI/ca.crt' -cert '$PKI/client.crt' -key '$PKI/client.key' -connect 127.0.0.1:$PORT 2>/dev/null"
	show
	[ "$output" = "hello alice from inetd service" ]
	wire_check
	assert_file_has "$T/inetd.log" 'accepted rule=inetd .*subject="[^"]*CN=client'
	assert_file_has "$T/inetd.out" 'execv /bin/sh'
	[ "$(wc -l < "$T/ran")" -eq 1 ]
}

@test "compat: openbsd-inetd | inetd shimmed, nowait sh service; shimmed client, 3 connections" {
	start_inetd
	local c conn; c=$(client_conf inetdcli "$PORT")
	wire_start "$PORT"
	for conn in 1 2 3; do
		run --separate-stderr shim "$c" timeout 15 "$PROGS/client" 127.0.0.1 "$PORT" "client$conn"$'\n'
		show
		[ "$status" -eq 0 ]
		[ "$output" = "hello client$conn from inetd service" ]
	done
	wire_check --min-conns 3
	[ "$(count "$T/inetd.log" 'accepted rule=inetd')" -eq 3 ]
	[ "$(wc -l < "$T/ran")" -eq 3 ]
}

@test "compat: openbsd-inetd | inetd shimmed; a foreign-CA peer is refused and the service never runs" {
	start_inetd
	wire_start "$PORT"
	run bash -c "(printf 'mallory\n'; sleep 2) | timeout 15 openssl s_client -quiet \
		-CAfile '$PKI/ca.crt' -cert '$PKI/foreign.crt' -key '$PKI/foreign.key' -connect 127.0.0.1:$PORT"
	show
	refute_contains "$output" "from inetd service"
	wait_for "$T/inetd.log" 'refused rule=inetd peer=127\.0\.0\.1:[0-9]+ reason="[^"]*(verify|issuer)' 5
	# Refused, and what went on the wire was TLS only: the handshake and the shim's alert.
	wire_check
	refute_file_has "$T/inetd.log" 'accepted rule='
	[ ! -e "$T/ran" ]
	refute_file_has "$T/inetd.out" 'execv'
}

@test "compat: openbsd-inetd | inetd shimmed, nowait /bin/cat service; shimmed socat client, 1 MiB echoed" {
	start_inetd /bin/cat cat
	head -c 1048576 /dev/urandom > "$T/in"
	# socat half-closes after sending; the service must see EOF, finish echoing and exit.
	local rc=0
	wire_start "$PORT"
	shim "$(client_conf inetdcli "$PORT")" timeout 40 socat -t 20 - TCP:127.0.0.1:"$PORT" \
		< "$T/in" > "$T/out" 2> "$T/err" || rc=$?
	[ "$rc" -eq 0 ] || { echo "socat exit $rc: $(cat "$T/err")" >&2; false; }
	same_file "$T/out" "$(sum "$T/in")"
	wire_check
	assert_file_has "$T/inetd.log" 'accepted rule=inetd .*subject="[^"]*CN=client'
	wait_for "$T/inetd.out" 'reaped' 5
}

@test "compat: openbsd-inetd | inetd shimmed, nowait service that writes 4 MB and exits; openssl s_client" {
	head -c 4000000 /dev/urandom > "$T/payload"
	start_inetd /bin/cat cat "$T/payload"
	# Everything the service wrote before exiting reaches the peer, then a clean end of stream.
	local rc=0
	wire_start "$PORT"
	timeout 15 openssl s_client -quiet -verify_return_error -CAfile "$PKI/ca.crt" -cert "$PKI/client.crt" \
		-key "$PKI/client.key" -connect 127.0.0.1:"$PORT" < /dev/null > "$T/out" 2> "$T/err" || rc=$?
	[ "$rc" -eq 0 ] || { echo "s_client exit $rc: $(cat "$T/err")" >&2; false; }
	same_file "$T/out" "$(sum "$T/payload")"
	wire_check
	assert_file_has "$T/inetd.log" 'accepted rule=inetd .*subject="[^"]*CN=client'
}

# --- issue 13: stdio, descriptor passing, master/child daemons ---
# busybox wget and httpd talk to the socket through stdio (fdopen, fprintf, fgets, fread) and
# httpd moves it onto 0/1 for CGI; postfix's and dovecot's masters poll the listening socket
# that a child accepts on, and dovecot's imap-login hands the accepted connection to imap with
# SCM_RIGHTS. Each case checks what the user sees and the library's log line.

# bb_www DIR: a document root for busybox httpd: index.html, mib.txt (1 MiB) and a CGI script
# answering "hello WHO from busybox cgi" for ?who=WHO.
bb_www() {
	mkdir -p "$1/cgi-bin"
	echo "hello from busybox httpd" > "$1/index.html"
	cp "$MIB" "$1/mib.txt"
	cat > "$1/cgi-bin/hello" <<-'SH'
	#!/bin/sh
	printf 'Content-Type: text/plain\r\n\r\n'
	echo "hello ${QUERY_STRING#who=} from busybox cgi"
	SH
	chmod 755 "$1/cgi-bin/hello"
}

# start_bb_httpd: `busybox httpd -f` (forks a child per connection) serving $T/www under a
# server rule "bbhttpd"; sets PORT.
start_bb_httpd() {
	PORT=$(free_port)
	bb_www "$T/www"
	shim_bg "$T/httpd.out" "$(server_conf bbhttpd "$PORT")" busybox httpd -f -vv -p "127.0.0.1:$PORT" -h "$T/www"
	wait_port "$PORT"
}

# busybox wget runs under timeout(1): its own -T crashes busybox 1.35 (Debian 12), shim or not.
@test "compat: busybox wget + nginx | wget shimmed; plain nginx with ssl_verify_client on" {
	start_tls_nginx
	local c; c=$(client_conf bbwget "$PORT")
	wire_start "$PORT"
	run shim "$c" timeout 30 busybox wget -q -O "$T/256k.got" "http://127.0.0.1:$PORT/256k.bin"
	show
	wire_check
	[ "$status" -eq 0 ]
	same_file "$T/256k.got" "$(sum "$NGX/html/256k.bin")"
	assert_file_has "$T/bbwget.log" "connected rule=bbwget peer=127\\.0\\.0\\.1:$PORT .*subject=\"[^\"]*CN=localhost"
	assert_file_has "$NGX/access.log" '"GET /256k.bin HTTP/1\.[01]" 200 262144 '
}

@test "compat: busybox httpd + curl | httpd shimmed (-f, fork per connection); unshimmed curl --cert https://" {
	start_bb_httpd
	wire_start "$PORT"
	run mcurl -o "$T/mib.got" -w '%{http_code} %{size_download}' "https://127.0.0.1:$PORT/mib.txt"
	show
	local s1=$status o1=$output
	run mcurl "https://127.0.0.1:$PORT/cgi-bin/hello?who=curl"
	show
	wire_check --min-conns 2
	[ "$s1" -eq 0 ]
	[ "$o1" = "200 1048576" ]
	same_file "$T/mib.got" "$MIBSUM"
	[ "$status" -eq 0 ]
	[ "$output" = "hello curl from busybox cgi" ]
	[ "$(count "$T/bbhttpd.log" 'accepted rule=bbhttpd .*subject="[^"]*CN=client')" -eq 2 ]
	refute_file_has "$T/bbhttpd.log" '(refused|closed) rule='
}

@test "compat: busybox wget + busybox httpd | both shimmed" {
	start_bb_httpd
	local c; c=$(client_conf bbwget "$PORT")
	wire_start "$PORT"
	run shim "$c" timeout 30 busybox wget -q -O "$T/mib.got" "http://127.0.0.1:$PORT/mib.txt"
	show
	local s1=$status
	run shim "$c" timeout 30 busybox wget -q -O - "http://127.0.0.1:$PORT/cgi-bin/hello?who=wget"
	show
	wire_check --min-conns 2
	[ "$s1" -eq 0 ]
	same_file "$T/mib.got" "$MIBSUM"
	[ "$status" -eq 0 ]
	[ "$output" = "hello wget from busybox cgi" ]
	[ "$(count "$T/bbwget.log" "connected rule=bbwget peer=127\\.0\\.0\\.1:$PORT ")" -eq 2 ]
	[ "$(count "$T/bbhttpd.log" 'accepted rule=bbhttpd .*subject="[^"]*CN=client')" -eq 2 ]
	refute_file_has "$T/bbhttpd.log" '(refused|closed) rule='
}

# show_logs FILE...: prints each file (bats shows it when the test fails), without the shim's
# warnings about world-readable test keys, which every process of a daemon repeats.
show_logs() {
	local f
	for f in "$@"; do
		echo "--- $f:"
		grep -v 'is readable by every user$' "$f" 2>/dev/null | tail -n 40 || true
	done
}

# wait_count FILE ERE N [SECONDS]: bounded wait (default 10 s) until FILE has N lines matching ERE.
wait_count() {
	local i
	for i in $(seq 1 $(( ${4:-10} * 10 ))); do
		[ "$(count "$1" "$2")" -ge "$3" ] && break
		sleep 0.1
	done
	[ "$(count "$1" "$2")" -eq "$3" ] && return 0
	echo "want $3 lines /$2/ in $1, have $(count "$1" "$2"):" >&2
	cat "$1" >&2 2>/dev/null
	return 1
}

# daemon_access LOG...: the daemons below drop to their own users (postfix, dovecot, dovenull,
# nobody): they must reach the test directory (bats makes its run directory 0700) and append to
# the shim's log files, which are created here writable by all.
daemon_access() {
	chmod o+x "$BATS_RUN_TMPDIR"
	local f
	for f in "$@"; do
		: >> "$f"
		chmod 666 "$f"
	done
	setpriv --reuid=nobody --regid=nogroup --clear-groups test -r "$PKI/ca.crt" -a -w "$1" || {
		echo "the test directory $T is not reachable by unprivileged users" >&2
		return 1
	}
}

# stop_group PID [SECONDS]: SIGTERM to the process group PID leads, then a bounded wait (default
# 10 s) until no process of the group is left; SIGKILL to what remains.
stop_group() {
	local i
	kill -TERM -- "-$1" 2>/dev/null || true
	for i in $(seq 1 $(( ${2:-10} * 10 ))); do
		pgrep -g "$1" > /dev/null || return 0
		sleep 0.1
	done
	echo "process group $1 still there after SIGTERM: $(pgrep -a -g "$1" | tr '\n' ';')" >&2
	kill -KILL -- "-$1" 2>/dev/null || true
	return 1
}

# postfix_instance DIR PORT: main.cf and master.cf of a private postfix in DIR/etc (queue, data,
# mailbox and log under DIR): smtpd on 127.0.0.1:PORT (chroot n), mail for @mtlsshim.test
# delivered by virtual(8) to the mbox DIR/mail/inbox, the maillog in DIR/maillog, and the
# shim's variables passed from master to its children (postfix keeps only import_environment).
postfix_instance() {
	local d=$1
	mkdir -p "$d/etc" "$d/queue" "$d/data" "$d/mail"
	chown postfix:postfix "$d/data" "$d/mail"
	cat > "$d/etc/main.cf" <<-CF
	compatibility_level = 3.6
	queue_directory = $d/queue
	data_directory = $d/data
	mail_owner = postfix
	setgid_group = postdrop
	myhostname = mx.mtlsshim.test
	mydomain = mtlsshim.test
	myorigin = \$mydomain
	inet_interfaces = 127.0.0.1
	inet_protocols = ipv4
	mynetworks = 127.0.0.0/8
	mydestination =
	relayhost =
	alias_maps =
	alias_database =
	virtual_mailbox_domains = mtlsshim.test
	virtual_mailbox_base = $d/mail
	virtual_mailbox_maps = static:inbox
	virtual_uid_maps = static:$(id -u postfix)
	virtual_gid_maps = static:$(id -g postfix)
	smtpd_banner = \$myhostname ESMTP mtlsshim-test
	maillog_file = $d/maillog
	maillog_file_prefixes = $d
	import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LD_PRELOAD MTLSSHIM_CONFIG ASAN_OPTIONS UBSAN_OPTIONS
	biff = no
	CF
	cat > "$d/etc/master.cf" <<-CF
	127.0.0.1:$2 inet n - n - - smtpd
	pickup    unix  n - n 60 1 pickup
	cleanup   unix  n - n - 0 cleanup
	qmgr      unix  n - n 300 1 qmgr
	rewrite   unix  - - n - - trivial-rewrite
	bounce    unix  - - n - 0 bounce
	defer     unix  - - n - 0 bounce
	trace     unix  - - n - 0 bounce
	verify    unix  - - n - 1 verify
	flush     unix  n - n 1000? 0 flush
	proxymap  unix  - - n - - proxymap
	showq     unix  n - n - - showq
	error     unix  - - n - - error
	retry     unix  - - n - - error
	discard   unix  - - n - - discard
	smtp      unix  - - n - - smtp
	relay     unix  - - n - - smtp
	virtual   unix  - n n - - virtual
	anvil     unix  - - n - 1 anvil
	scache    unix  - - n - 1 scache
	postlog   unix-dgram n - n - 1 postlogd
	CF
}

# pswaks N: one message (subject "mtls message N") over TLS on connect with the client cert.
pswaks() {
	timeout 30 swaks --server 127.0.0.1 --port "$PORT" --timeout 15 --tls-on-connect \
		--tls-cert "$PKI/client.crt" --tls-key "$PKI/client.key" --tls-verify --tls-ca-path "$PKI/ca.crt" \
		--from alice@mtlsshim.test --to bob@mtlsshim.test --header "Subject: mtls message $1" \
		--body "body of message $1 over mtls"
}

@test "compat: postfix + swaks | postfix shimmed (master, smtpd on a free port); swaks --tls-on-connect with a client cert" {
	PORT=$(free_port)
	local pf=$T/postfix c n
	postfix_instance "$pf" "$PORT"
	c=$(server_conf smtp "$PORT")
	daemon_access "$T/smtp.log"
	shim_bg "$T/postfix.out" "$c" postfix -c "$pf/etc" start-fg
	wait_port "$PORT"
	# master -s makes itself a session and process group leader: kill_bg stops that group too.
	wait_for "$pf/queue/pid/master.pid" '[0-9]' 5
	local master; master=$(tr -d ' ' < "$pf/queue/pid/master.pid")
	mtls_track "$master"
	wire_start "$PORT"
	pswaks 1 > "$T/swaks.1" 2>&1 || echo "swaks 1: exit $?" >> "$T/swaks.1"
	pswaks 2 > "$T/swaks.2" 2>&1 || echo "swaks 2: exit $?" >> "$T/swaks.2"
	show_logs "$T/smtp.log" "$pf/maillog"
	wire_check --min-conns 2
	for n in 1 2; do
		output=$(cat "$T/swaks.$n")
		# The first connection is the one the master's poll saw: smtpd must get it and greet.
		assert_contains "$output" "<~  220 mx.mtlsshim.test ESMTP mtlsshim-test"
		assert_contains "$output" "<~  250 2.0.0 Ok: queued as "
		assert_contains "$output" "<~  221 2.0.0 Bye"
		refute_contains "$output" "exit "
	done
	# Both delivered to the mailbox.
	wait_count "$pf/maillog" 'postfix/virtual\[[0-9]+\]: .* status=sent \(delivered to mailbox\)' 2 15
	for n in 1 2; do
		assert_file_has "$pf/mail/inbox" "^Subject: mtls message $n\$"
		assert_file_has "$pf/mail/inbox" "^body of message $n over mtls\$"
	done
	[ "$(count "$T/smtp.log" 'accepted rule=smtp .*subject="[^"]*CN=client')" -eq 2 ]
	# smtpd accepted them, not the master.
	refute_file_has "$T/smtp.log" "^mtlsshim\\[$master\\]: accepted"
	refute_file_has "$T/smtp.log" '(refused|closed) rule='
	stop_group "$master"
}

# dovecot_instance DIR PORT: the config DIR/dovecot.conf of a private dovecot, imap only, on
# 127.0.0.1:PORT without its own TLS (the shim does it); user bob, password secret, whose
# maildir DIR/mail/bob (owned by nobody) holds one message.
dovecot_instance() {
	local d=$1
	mkdir -p "$d/run" "$d/state" "$d/mail/bob/new" "$d/mail/bob/cur" "$d/mail/bob/tmp"
	cat > "$d/mail/bob/new/1700000000.M1P1.mtlsshim" <<-'MSG'
	From: alice@mtlsshim.test
	To: bob@mtlsshim.test
	Subject: hello from the maildir
	Message-ID: <1@mtlsshim.test>

	the body of the maildir message
	MSG
	chown -R nobody:nogroup "$d/mail"
	echo 'bob:{PLAIN}secret::::::' > "$d/passwd"
	# "chroot =": in its default chroot (base_dir/login) imap-login, the process that accepts,
	# cannot reach the shim's log file, and its accepted lines would be lost.
	cat > "$d/dovecot.conf" <<-CF
	base_dir = $d/run
	state_dir = $d/state
	instance_name = mtlsshim-test-$2
	listen = 127.0.0.1
	protocols = imap
	ssl = no
	disable_plaintext_auth = no
	auth_mechanisms = plain
	default_internal_user = dovecot
	default_login_user = dovenull
	# No address-space limit: the ASan runtime of make asan maps terabytes of shadow memory.
	default_vsz_limit = 0
	log_path = $d/dovecot.log
	info_log_path = $d/dovecot.log
	import_environment = TZ CORE_OUTOFMEM CORE_ERROR LISTEN_PID LISTEN_FDS LD_PRELOAD MTLSSHIM_CONFIG ASAN_OPTIONS UBSAN_OPTIONS
	mail_location = maildir:$d/mail/%u
	passdb {
	  driver = passwd-file
	  args = $d/passwd
	}
	userdb {
	  driver = static
	  args = uid=nobody gid=nogroup home=$d/mail/%u
	}
	service imap-login {
	  chroot =
	  inet_listener imap {
	    address = 127.0.0.1
	    port = $2
	  }
	  inet_listener imaps {
	    port = 0
	  }
	}
	CF
}

# start_dovecot: a shimmed private dovecot in $T/dovecot; sets PORT, DC (its directory), DCPID.
start_dovecot() {
	PORT=$(free_port)
	DC=$T/dovecot
	dovecot_instance "$DC" "$PORT"
	local c; c=$(server_conf imap "$PORT")
	daemon_access "$T/imap.log"
	shim_bg "$T/dovecot.out" "$c" dovecot -F -c "$DC/dovecot.conf"
	DCPID=$BGPID
	wait_port "$PORT"
}

# dovecot_imap URL CURL...: EXAMINE INBOX and FETCH of the message at URL through the curl command
# CURL (bob's login), both captured on the wire; then what curl, dovecot and the shim said.
dovecot_imap() {
	local url=$1; shift
	wire_start "$PORT"
	run "$@" -u bob:secret -X 'EXAMINE INBOX' "$url/INBOX"
	show
	local s1=$status o1=$output
	run "$@" -u bob:secret "$url/INBOX;UID=1"
	show
	show_logs "$T/imap.log" "$DC/dovecot.log"
	wire_check --min-conns 2
	[ "$s1" -eq 0 ]
	assert_contains "$o1" "* 1 EXISTS"
	assert_contains "$o1" "* OK [PERMANENTFLAGS ()] Read-only mailbox."
	[ "$status" -eq 0 ]
	assert_contains "$output" "Subject: hello from the maildir"
	assert_contains "$output" "the body of the maildir message"
	wait_count "$DC/dovecot.log" 'imap-login: Info: Login: user=<bob>' 2 5
	refute_file_has "$DC/dovecot.log" 'Error|Fatal|Panic'
	[ "$(count "$T/imap.log" 'accepted rule=imap .*subject="[^"]*CN=client')" -eq 2 ]
	# imap-login gives up fork (RLIMIT_NPROC 1): its helper did the handshakes and relays.
	[ "$(count "$T/imap.log" 'relayed rule=imap peer=127\.0\.0\.1:[0-9]+ to pid [0-9]+ for a process that cannot fork')" -eq 2 ]
	refute_file_has "$T/imap.log" '(refused|closed) rule=|: cannot '
}

@test "compat: dovecot + curl | dovecot shimmed (master, imap-login, imap); unshimmed curl --cert imaps://" {
	start_dovecot
	dovecot_imap "imaps://127.0.0.1:$PORT" mcurl
	stop_group "$DCPID"
}

@test "compat: dovecot + curl | both shimmed (master, imap-login, imap); curl imap://" {
	require_shimmable_curl
	start_dovecot
	local c; c=$(client_conf curl "$PORT")
	dovecot_imap "imap://127.0.0.1:$PORT" shim "$c" curl -sS --max-time 15
	[ "$(count "$T/curl.log" "connected rule=curl peer=127\\.0\\.0\\.1:$PORT .*subject=\"[^\"]*CN=localhost")" -eq 2 ]
	stop_group "$DCPID"
}

# The small programs of tests/paths.bats, as rows of the matrix: the libc paths they take are
# the ones old daemons take (stdio on a socket, dprintf, a connection handed to a worker).

@test "compat: stdiosock (fdopen + fprintf/fgets, dprintf) | server shimmed; openssl s_client with a client cert" {
	local mode
	for mode in fdopen dprintf; do
		PORT=$(free_port)
		local c; c=$(server_conf stdio "$PORT")
		shim_bg "$T/stdio.out" "$c" "$PROGS/stdiosock" server "$PORT" "$mode"
		wait_for "$T/stdio.out" '^ready' 10
		wire_start "$PORT"
		run tls_say "$PORT" 'hello 1\nbye\n'
		show
		wire_check
		assert_contains "$output" "got: hello 1"
		assert_contains "$output" "bye from server"
		wait_for "$T/stdio.out" '^done' 10
	done
	[ "$(count "$T/stdio.log" 'accepted rule=stdio')" -eq 2 ]
}

@test "compat: fdpass (SCM_RIGHTS to a worker process) | server shimmed; openssl s_client with a client cert" {
	PORT=$(free_port)
	local c; c=$(server_conf fdpass "$PORT")
	shim_bg "$T/fdpass.out" "$c" "$PROGS/fdpass" conn "$PORT" 1
	wait_for "$T/fdpass.out" '^ready' 10
	wire_start "$PORT"
	run tls_say "$PORT" 'over the worker\n'
	show
	wire_check
	[[ $output =~ worker\ [0-9]+:\ ready ]]
	assert_contains "$output" "echo: over the worker"
	assert_file_has "$T/fdpass.log" 'relayed rule=fdpass .* passed to another process'
}
