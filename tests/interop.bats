#!/usr/bin/env bats
# interop.bats: shimmed plaintext programs against TLS stacks we did not write (openssl, curl, python, socat), both directions.

load helpers

setup_file() { common_setup_file; }
setup() { require_build; }
teardown() { common_teardown; }

# A shimmed python3 http.server; sets PORT, PYOUT (its request log), SRVLOG.
start_python_server() {
	PORT=$(free_port)
	mkdir -p "$BATS_TEST_TMPDIR/www"
	echo "hello from python http.server" > "$BATS_TEST_TMPDIR/www/index.txt"
	local c; c=$(server_conf pysrv "$PORT")
	SRVLOG=$BATS_TEST_TMPDIR/pysrv.log
	PYOUT=$BATS_TEST_TMPDIR/py.out
	shim_bg "$PYOUT" "$c" python3 -u -m http.server --bind 127.0.0.1 --directory "$BATS_TEST_TMPDIR/www" "$PORT"
	wait_port "$PORT"
}

@test "shimmed python http.server serves curl with a client cert over mTLS" {
	start_python_server
	run mcurl "https://127.0.0.1:$PORT/index.txt"
	show
	[ "$status" -eq 0 ]
	[ "$output" = "hello from python http.server" ]
	assert_file_has "$PYOUT" '"GET /index.txt HTTP/1.1" 200'
	assert_file_has "$SRVLOG" '^mtlsshim\[[0-9]+\]: accepted rule=pysrv peer=127\.0\.0\.1:[0-9]+ '
	assert_file_has "$SRVLOG" 'accepted rule=pysrv .*subject="[^"]*CN=client'
	assert_file_has "$SRVLOG" 'accepted rule=pysrv .*san="[^"]*DNS:client\.test'
	assert_file_has "$SRVLOG" 'accepted rule=pysrv .*version=TLSv1\.[23] cipher='
}

@test "shimmed python http.server serves openssl s_client with a client cert" {
	start_python_server
	run sclient -connect "127.0.0.1:$PORT" < <(printf 'GET /index.txt HTTP/1.0\r\nHost: x\r\n\r\n')
	show
	assert_contains "$output" "HTTP/1.0 200"
	assert_contains "$output" "hello from python http.server"
	assert_file_has "$PYOUT" '"GET /index.txt HTTP/1.0" 200'
}

@test "the shim's log never contains key material" {
	start_python_server
	run mcurl "https://127.0.0.1:$PORT/index.txt"
	show
	[ "$status" -eq 0 ]
	refute_file_has "$SRVLOG" 'PRIVATE KEY|BEGIN|CLIENT_RANDOM|_SECRET'
	local keyline; keyline=$(sed -n 2p "$PKI/server.key")
	refute_file_has "$SRVLOG" "${keyline:0:40}"
}

@test "shimmed C server (blocking accept) serves curl and s_client" {
	start_echo_server csrv -p http
	run mcurl "https://127.0.0.1:$PORT/some/path"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "hello from echo_server conn=1"
	assert_contains "$output" "request: GET /some/path HTTP/1.1"
	run sclient -connect "127.0.0.1:$PORT" < <(printf 'GET /second HTTP/1.0\r\n\r\n')
	show
	assert_contains "$output" "hello from echo_server conn=2"
	assert_contains "$output" "request: GET /second HTTP/1.0"
	[ "$(count "$SRVLOG" 'accepted rule=csrv')" -eq 2 ]
}

@test "shimmed C echo server echoes through s_client" {
	start_echo_server echo
	# s_client -quiet keeps the connection after stdin ends; read one line back and stop.
	run bash -c "(printf 'echo this line\n'; sleep 5) | timeout 10 openssl s_client -quiet -CAfile '$PKI/ca.crt' \
		-cert '$PKI/client.crt' -key '$PKI/client.key' -connect 127.0.0.1:$PORT 2>/dev/null | head -n 1"
	show
	[ "$output" = "echo this line" ]
}

@test "shimmed curl (plaintext URL) reaches openssl s_server -Verify and presents its cert" {
	require_shimmable_curl
	local port; port=$(free_port)
	bg "$BATS_TEST_TMPDIR/s_server.out" openssl s_server -accept "127.0.0.1:$port" -Verify 1 -verify_return_error \
		-cert "$PKI/server.crt" -key "$PKI/server.key" -CAfile "$PKI/ca.crt" -www
	wait_port "$port"
	local c; c=$(client_conf cli "$port")
	run shim "$c" timeout 20 curl -sS --max-time 15 "http://127.0.0.1:$port/"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "Ciphers supported in s_server binary"
	# s_server -www lists the client's certificate: ours.
	assert_contains "$output" "DNS:client.test"
	assert_file_has "$BATS_TEST_TMPDIR/cli.log" 'connected rule=cli peer=127\.0\.0\.1:'"$port"
}

@test "shimmed python urllib reaches openssl s_server -www" {
	local port; port=$(free_port)
	bg "$BATS_TEST_TMPDIR/s_server.out" openssl s_server -accept "127.0.0.1:$port" -Verify 1 -verify_return_error \
		-cert "$PKI/server.crt" -key "$PKI/server.key" -CAfile "$PKI/ca.crt" -www
	wait_port "$port"
	local c; c=$(client_conf cli "$port" client2)
	run shim "$c" timeout 20 python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$port/', timeout=15).read().decode())"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "Ciphers supported in s_server binary"
	assert_contains "$output" "Subject: CN=client2"
}

@test "shimmed C client talks to openssl s_server -rev" {
	local port; port=$(free_port)
	bg "$BATS_TEST_TMPDIR/s_server.out" openssl s_server -accept "127.0.0.1:$port" -Verify 1 -verify_return_error \
		-cert "$PKI/server.crt" -key "$PKI/server.key" -CAfile "$PKI/ca.crt" -rev
	wait_port "$port"
	local c; c=$(client_conf cli "$port")
	run shim "$c" timeout 15 "$PROGS/client" -l 1 127.0.0.1 "$port" $'hello world\n'
	show
	[ "$status" -eq 0 ]
	[ "$output" = "dlrow olleh" ]
	assert_file_has "$BATS_TEST_TMPDIR/s_server.out" 'CN ?= ?client'
}

@test "shimmed C client through the launcher talks to a socat TLS echo peer" {
	start_tls_echo
	local c; c=$(client_conf cli "$EPORT")
	run launcher -c "$c" timeout 15 "$PROGS/client" -l 2 127.0.0.1 "$EPORT" $'line one\nline two\n'
	show
	[ "$status" -eq 0 ]
	[ "$output" = $'line one\nline two' ]
}

@test "both ends shimmed: C server and curl with different configs" {
	require_shimmable_curl
	start_echo_server both -p http
	local c; c=$(client_conf bothcli "$PORT" client2)
	run shim "$c" timeout 20 curl -sS --max-time 15 "http://127.0.0.1:$PORT/both"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "request: GET /both HTTP/1.1"
	assert_file_has "$SRVLOG" 'accepted rule=both .*subject="[^"]*CN=client2'
	assert_file_has "$BATS_TEST_TMPDIR/bothcli.log" "connected rule=bothcli peer=127\\.0\\.0\\.1:$PORT"
}

@test "both ends shimmed: C echo client and server exchange lines" {
	start_echo_server both
	local c; c=$(client_conf bothcli "$PORT")
	run shim "$c" timeout 15 "$PROGS/client" -l 3 127.0.0.1 "$PORT" $'a\nbb\nccc\n'
	show
	[ "$status" -eq 0 ]
	[ "$output" = $'a\nbb\nccc' ]
}

@test "IPv6: shimmed server on ::1 serves curl https://[::1]" {
	PORT=$(free_port)
	local c; c=$(server_conf v6 "$PORT")
	shim_bg "$BATS_TEST_TMPDIR/v6.out" "$c" "$PROGS/echo_server" -6 -p http "$PORT"
	wait_port "$PORT"
	run mcurl "https://[::1]:$PORT/six"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "request: GET /six HTTP/1.1"
	assert_file_has "$BATS_TEST_TMPDIR/v6.out" 'accept 1 peer=::1'
	assert_file_has "$BATS_TEST_TMPDIR/v6.log" 'accepted rule=v6 peer=\[?::1\]?:'
}

@test "IPv6: shimmed client with a host = \"::1\" rule reaches a shimmed v6 server" {
	PORT=$(free_port)
	local c; c=$(server_conf v6 "$PORT")
	shim_bg "$BATS_TEST_TMPDIR/v6.out" "$c" "$PROGS/echo_server" -6 "$PORT"
	wait_port "$PORT"
	local cc; cc=$(conf v6cli <<-EOF
	cert_file = "$PKI/client.crt"
	key_file = "$PKI/client.key"
	client "v6cli" {
	    port = $PORT
	    host = "::1/128"
	}
	EOF
	)
	run shim "$cc" timeout 15 "$PROGS/client" -l 1 ::1 "$PORT" $'over six\n'
	show
	[ "$status" -eq 0 ]
	[ "$output" = "over six" ]
	assert_file_has "$BATS_TEST_TMPDIR/v6cli.log" 'connected rule=v6cli'
}

@test "shimmed curl reaches nginx with ssl_verify_client on" {
	require_shimmable_curl
	command -v nginx >/dev/null || skip "nginx not installed"
	local port d=$BATS_TEST_TMPDIR/nginx; port=$(free_port)
	mkdir -p "$d/html" "$d/tmp"
	echo "hello from nginx" > "$d/html/index.html"
	cat > "$d/nginx.conf" <<-EOF
	daemon off;
	master_process off;
	worker_processes 1;
	pid $d/nginx.pid;
	error_log $d/error.log;
	events { worker_connections 64; }
	http {
	    access_log $d/access.log;
	    client_body_temp_path $d/tmp;
	    proxy_temp_path $d/tmp;
	    fastcgi_temp_path $d/tmp;
	    uwsgi_temp_path $d/tmp;
	    scgi_temp_path $d/tmp;
	    server {
	        listen 127.0.0.1:$port ssl;
	        ssl_certificate $PKI/server.crt;
	        ssl_certificate_key $PKI/server.key;
	        ssl_client_certificate $PKI/ca.crt;
	        ssl_verify_client on;
	        root $d/html;
	        location / { add_header X-Client \$ssl_client_s_dn; }
	    }
	}
	EOF
	bg "$d/out" nginx -c "$d/nginx.conf" -p "$d"
	wait_port "$port"
	local c; c=$(client_conf cli "$port")
	run shim "$c" timeout 20 curl -sS -i --max-time 15 "http://127.0.0.1:$port/"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "hello from nginx"
	assert_contains "$output" "CN=client"
}

@test "shimmed redis-server answers redis-cli --tls with a client cert" {
	command -v redis-server >/dev/null || skip "redis not installed"
	redis-cli --help 2>&1 | grep -q -- --tls || skip "redis-cli without TLS"
	PORT=$(free_port)
	local c; c=$(server_conf redis "$PORT")
	shim_bg "$BATS_TEST_TMPDIR/redis.out" "$c" redis-server --port "$PORT" --bind 127.0.0.1 --save '' \
		--appendonly no --dir "$BATS_TEST_TMPDIR"
	wait_port "$PORT"
	local cli=(timeout 15 redis-cli -h 127.0.0.1 -p "$PORT" --tls --cacert "$PKI/ca.crt" --cert "$PKI/client.crt" --key "$PKI/client.key")
	run "${cli[@]}" SET greeting "hello over mtls"
	show
	[ "$output" = "OK" ]
	run "${cli[@]}" GET greeting
	show
	[ "$output" = "hello over mtls" ]
	# A plaintext redis-cli gets nothing out of it.
	run timeout 5 redis-cli -h 127.0.0.1 -p "$PORT" GET greeting
	show
	refute_contains "$output" "hello over mtls"
}

@test "a server certificate from an intermediate CA: the chain goes out whether the intermediate is in ca_file or in cert_file" {
	local d=$BATS_TEST_TMPDIR/int how port c
	mkdir -p "$d"
	cp "$PKI/ca.crt" "$PKI/ca.key" "$d/"
	(
		set -e
		cd "$d"
		printf '[x]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = keyCertSign, cRLSign\n' > inter.ext
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout inter.key \
			-out inter.csr -subj /CN=intermediate
		openssl x509 -req -in inter.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
			-extfile inter.ext -extensions x -out inter.crt
	) > "$d/inter.log" 2>&1 || { cat "$d/inter.log"; false; }
	issue_cert "$d" leaf /CN=localhost $'extendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost, IP:127.0.0.1' 30 inter
	cat "$d/ca.crt" "$d/inter.crt" > "$d/bundle.crt"
	cat "$d/leaf.crt" "$d/inter.crt" > "$d/leafchain.crt"
	for how in ca_file cert_file; do
		port=$(free_port)
		if [ $how = ca_file ]; then
			c=$(conf "int-$how" <<-EOF
			server "int" {
			    port = $port
			    ca_file = "$d/bundle.crt"
			    cert_file = "$d/leaf.crt"
			    key_file = "$d/leaf.key"
			}
			EOF
			)
		else
			c=$(conf "int-$how" <<-EOF
			server "int" {
			    port = $port
			    cert_file = "$d/leafchain.crt"
			    key_file = "$d/leaf.key"
			}
			EOF
			)
		fi
		shim_bg "$BATS_TEST_TMPDIR/int-$how.out" "$c" "$PROGS/echo_server" "$port"
		wait_port "$port"
		# The client trusts the root alone, so it verifies only if the intermediate was sent.
		run bash -c "(echo chain-$how; sleep 1) | timeout 10 openssl s_client -verify_return_error -showcerts \
			-CAfile '$PKI/ca.crt' -cert '$PKI/client.crt' -key '$PKI/client.key' -connect 127.0.0.1:$port 2>&1"
		show
		[ "$status" -eq 0 ]
		assert_contains "$output" "Verify return code: 0 (ok)"
		assert_contains "$output" "chain-$how"
		assert_contains "$output" "CN = intermediate"
	done
}
