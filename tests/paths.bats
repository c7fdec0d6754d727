#!/usr/bin/env bats
# paths.bats: every libc path to a wrapped socket carries TLS: stdio streams, dprintf, sockets on
# standard input/output, descriptors passed with SCM_RIGHTS, listeners received or polled by a
# master that never accepts. Each test asserts the wire: only TLS records, both ways.

load helpers

setup_file() { common_setup_file; }
setup() { require_build; T=$BATS_TEST_TMPDIR; }
teardown() { common_teardown; }

# stdio_server MODE: the stdiosock server ($STDIOSOCK, default stdiosock) under a server rule;
# sets PORT, SRVOUT, SRVLOG.
stdio_server() {
	PORT=$(free_port)
	local c; c=$(server_conf stdsrv "$PORT")
	SRVLOG=$T/stdsrv.log SRVOUT=$T/stdsrv.out
	shim_bg "$SRVOUT" "$c" "$PROGS/${STDIOSOCK:-stdiosock}" server "$PORT" "$1"
	wait_for "$SRVOUT" '^ready' 10
}

# stdio_talk: an unshimmed openssl s_client says the client's lines; output in $output.
stdio_talk() {
	run tls_say "$PORT" 'hello 1\nhello 2\nbye\n'
	show
}

# stdio_exchange MODE: stdio_server MODE, then stdio_talk under the wire check; the server must
# answer both lines and the bye.
stdio_exchange() {
	stdio_server "$1"
	wire_start "$PORT"
	stdio_talk
	wire_check
	[ "$status" -eq 0 ]
	assert_contains "$output" "got: hello 1"
	assert_contains "$output" "got: hello 2"
	assert_contains "$output" "bye from server"
}

@test "stdio server: fdopen + fprintf/fgets on an accepted socket speaks TLS to s_client" {
	stdio_exchange fdopen
	wait_for "$SRVOUT" '^done' 10
	assert_file_has "$SRVLOG" 'accepted rule=stdsrv'
	refute_file_has "$SRVLOG" 'closed rule=stdsrv .*reason="wrong version number"'
}

@test "stdio server: fdopen of a dup, then close of the original" {
	stdio_exchange dup
	wait_for "$SRVOUT" '^done' 10
}

@test "stdio server: dprintf out, fgets in; and __dprintf_chk (built with _FORTIFY_SOURCE)" {
	local prog
	for prog in stdiosock stdiosock_chk; do
		STDIOSOCK=$prog stdio_exchange dprintf
		wait_for "$SRVOUT" '^done' 10
	done
	nm -D "$PROGS/stdiosock_chk" | grep -q ' U __dprintf_chk'
}

@test "stdio server: a socket dup2'd onto 0 and 1 and used through stdin/stdout goes to a relay" {
	stdio_exchange stdio
	wait_for "$SRVLOG" 'relayed rule=stdsrv peer=127\.0\.0\.1:[0-9]+ to pid [0-9]+ on standard input/output' 5
}

# tls_line_server: a python ssl server (not shimmed) requiring our CA's client certificate, for
# one connection: answers each line with "got: LINE" and "bye" with "bye from server"; sets SPORT.
tls_line_server() {
	SPORT=$(free_port)
	cat > "$T/lines.py" <<-PY
	import socket, ssl, sys
	ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
	ctx.load_cert_chain("$PKI/server.crt", "$PKI/server.key")
	ctx.load_verify_locations("$PKI/ca.crt")
	ctx.verify_mode = ssl.CERT_REQUIRED
	l = socket.socket()
	l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	l.bind(("127.0.0.1", $SPORT))
	l.listen(4)
	print("ready", flush=True)
	c, _ = l.accept()
	c.settimeout(15)
	s = ctx.wrap_socket(c, server_side=True)
	print("peer", s.getpeercert()["subject"], flush=True)
	f = s.makefile("rwb")
	for line in f:
	    line = line.decode().rstrip("\n")
	    if line == "bye":
	        f.write(b"bye from server\n"); f.flush(); break
	    f.write(("got: %s\n" % line).encode()); f.flush()
	s.close()
	PY
	bg "$T/lines.out" python3 "$T/lines.py"
	wait_for "$T/lines.out" '^ready' 10
}

@test "stdio client: fdopen, dprintf, stdin/stdout and a socket that is fd 0 speak TLS to a python ssl server" {
	local mode
	for mode in fdopen dup dprintf stdio low; do
		tls_line_server
		local c; c=$(client_conf stdcli "$SPORT")
		wire_start "$SPORT"
		run --separate-stderr shim "$c" timeout 15 "$PROGS/stdiosock" client "$SPORT" "$mode"
		show
		wire_check
		[ "$status" -eq 0 ]
		assert_contains "$stderr" "reply: got: hello 3"
		assert_contains "$stderr" "reply: bye from server"
		assert_file_has "$T/lines.out" "commonName', 'client'"
	done
	assert_file_has "$T/stdcli.log" "connected rule=stdcli"
}

@test "SCM_RIGHTS: an accepted connection passed to a worker process keeps its TLS" {
	PORT=$(free_port)
	local c; c=$(server_conf pass "$PORT")
	shim_bg "$T/pass.out" "$c" "$PROGS/fdpass" conn "$PORT" 2
	wait_for "$T/pass.out" '^ready' 10
	wire_start "$PORT"
	local i
	for i in 1 2; do
		run tls_say "$PORT" "line $i\n"
		show
		[[ $output =~ parent\ [0-9]+:\ hello ]]
		[[ $output =~ worker\ [0-9]+:\ ready ]]
		assert_contains "$output" "echo: line $i"
	done
	wire_check
	assert_file_has "$T/pass.log" 'relayed rule=pass peer=127\.0\.0\.1:[0-9]+ to pid [0-9]+ passed to another process'
	[ "$(count "$T/pass.log" 'accepted rule=pass')" -eq 2 ]
	wait_for "$T/pass.out" '^done' 15
	refute_file_has "$T/pass.out" 'sendmsg:'
}

@test "SCM_RIGHTS: a listening socket passed to another process is wrapped there by the port rules" {
	PORT=$(free_port)
	local c; c=$(server_conf plis "$PORT")
	shim_bg "$T/plis.out" "$c" "$PROGS/fdpass" listener "$PORT"
	wait_for "$T/plis.out" '^ready' 10
	wire_start "$PORT"
	run tls_say "$PORT" 'via passed listener\n'
	show
	wire_check
	assert_contains "$output" "echo: via passed listener"
	wait_for "$T/plis.out" '^done' 10
	assert_file_has "$T/plis.log" 'accepted rule=plis'
}

@test "master polls, child accepts: the master takes no connection off the queue" {
	# A python master polls the listener, then forks a child that accepts (postfix, dovecot).
	PORT=$(free_port)
	cat > "$T/master.py" <<-PY
	import os, select, socket, sys
	l = socket.socket()
	l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	l.bind(("127.0.0.1", $PORT))
	l.listen(8)
	print("ready", flush=True)
	p = select.poll()
	p.register(l, select.POLLIN)
	for n in range(2):
	    while not p.poll(15000):
	        pass
	    pid = os.fork()
	    if pid == 0:
	        c, _ = l.accept()
	        c.sendall(b"220 child %d ready\n" % os.getpid())
	        c.recv(100)
	        c.close()
	        os._exit(0)
	    os.waitpid(pid, 0)
	    print("served", n + 1, flush=True)
	PY
	local c; c=$(server_conf mpoll "$PORT")
	shim_bg "$T/master.out" "$c" python3 "$T/master.py"
	wait_for "$T/master.out" '^ready' 10
	wire_start "$PORT"
	local i
	for i in 1 2; do
		run tls_say "$PORT" 'QUIT\n' 2
		show
		[[ $output =~ 220\ child\ [0-9]+\ ready ]]
	done
	wire_check
	wait_for "$T/master.out" '^served 2' 10
	[ "$(count "$T/mpoll.log" 'accepted rule=mpoll')" -eq 2 ]
}

@test "socket activation: a listening socket inherited at exec (fd 3, LISTEN_FDS) is wrapped by the rules" {
	# An unshimmed activator (as systemd) makes the listener and execs the shimmed service on it.
	PORT=$(free_port)
	cat > "$T/service.py" <<-'PY'
	import os, socket
	assert os.environ["LISTEN_FDS"] == "1"
	l = socket.socket(fileno=3)
	print("ready", flush=True)
	c, _ = l.accept()
	c.sendall(b"hello from the activated service\n")
	c.sendall(b"echo: " + c.recv(100))
	c.close()
	PY
	cat > "$T/activate.py" <<-PY
	import os, socket, sys
	l = socket.socket()
	l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	l.bind(("127.0.0.1", $PORT))
	l.listen(8)
	if l.fileno() != 3:
	    os.dup2(l.fileno(), 3)
	os.set_inheritable(3, True)
	os.environ["LISTEN_FDS"] = "1"
	os.environ["LISTEN_PID"] = str(os.getpid())
	os.environ["LD_PRELOAD"] = sys.argv[1]
	os.environ["MTLSSHIM_CONFIG"] = sys.argv[2]
	os.execvp("python3", ["python3", "$T/service.py"])
	PY
	local c; c=$(server_conf act "$PORT")
	bg "$T/act.out" python3 "$T/activate.py" "$PRELOAD" "$c"
	wait_for "$T/act.out" '^ready' 10
	wire_start "$PORT"
	run tls_say "$PORT" 'activated\n'
	show
	wire_check
	assert_contains "$output" "hello from the activated service"
	assert_contains "$output" "echo: activated"
	assert_file_has "$T/act.log" 'accepted rule=act'
}

@test "SCM_RIGHTS: passing one connection leaves the others whole (close_notify, close-on-exec, errno)" {
	# A python server accepts A and B, answers A, passes B to a child, then closes A:
	# A's peer must see close_notify, not a bare FIN; B keeps FD_CLOEXEC; errno is untouched.
	PORT=$(free_port)
	cat > "$T/two.py" <<-PY
	import ctypes, os, signal, socket
	libc = ctypes.CDLL(None, use_errno=True)
	signal.signal(signal.SIGCHLD, signal.SIG_IGN)
	l = socket.socket()
	l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	l.bind(("127.0.0.1", $PORT))
	l.listen(4)
	print("ready", flush=True)
	a, _ = l.accept()
	b, _ = l.accept()
	p, q = socket.socketpair()
	if os.fork() == 0:
	    p.close()
	    msg, fds, _, _ = socket.recv_fds(q, 10, 1)
	    c = socket.socket(fileno=fds[0])
	    c.sendall(b"B from child\n")
	    c.recv(100)
	    os._exit(0)
	q.close()
	a.sendall(b"A answered\n")
	ctypes.set_errno(0)
	socket.send_fds(p, [b"x"], [b.fileno()])
	print("errno after pass", ctypes.get_errno(), flush=True)
	print("B inheritable", os.get_inheritable(b.fileno()), flush=True)
	b.close()
	a.close()
	print("done", flush=True)
	PY
	cat > "$T/peer.py" <<-PY
	import socket, ssl, sys
	ctx = ssl.create_default_context(cafile="$PKI/ca.crt")
	ctx.load_cert_chain("$PKI/client.crt", "$PKI/client.key")
	a = ctx.wrap_socket(socket.create_connection(("127.0.0.1", $PORT), timeout=10), server_hostname="localhost")
	b = ctx.wrap_socket(socket.create_connection(("127.0.0.1", $PORT), timeout=10), server_hostname="localhost")
	print("A:", a.recv(100).decode().strip())
	try:
	    print("A then:", repr(a.recv(100)))
	except ssl.SSLEOFError as e:
	    print("A then: EOF without close_notify", e)
	print("B:", b.recv(100).decode().strip())
	b.sendall(b"bye\n")
	PY
	local c; c=$(server_conf two "$PORT")
	shim_bg "$T/two.out" "$c" python3 "$T/two.py"
	wait_for "$T/two.out" '^ready' 10
	wire_start "$PORT"
	run timeout 20 python3 "$T/peer.py"
	show
	wire_check
	assert_contains "$output" "A: A answered"
	assert_contains "$output" "A then: b''"
	assert_contains "$output" "B: B from child"
	wait_for "$T/two.out" '^done' 10
	assert_file_has "$T/two.out" '^errno after pass 0$'
	assert_file_has "$T/two.out" '^B inheritable False$'
}

@test "preadv2 and pwritev2 at offset -1 on a wrapped socket go through the session (and their 64-bit names)" {
	s_server_rev
	wire_start "$SPORT"
	cat > "$BATS_TEST_TMPDIR/prw.py" <<-'PY'
	import ctypes, os, select, socket, sys
	libc = ctypes.CDLL(None, use_errno=True)
	class iovec(ctypes.Structure):
	    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
	s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
	fd = s.fileno()
	def call(name, data=None):
	    buf = ctypes.create_string_buffer(data if data else 100)
	    iov = iovec(ctypes.cast(buf, ctypes.c_void_p), len(data) if data else 100)
	    f = getattr(libc, name)
	    f.restype = ctypes.c_ssize_t
	    n = f(fd, ctypes.byref(iov), 1, ctypes.c_long(-1), 0)
	    if n < 0:
	        sys.exit(f"{name}: {os.strerror(ctypes.get_errno())}")
	    return buf.raw[:n]
	for w, r in (("pwritev2", "preadv2"), ("pwritev64v2", "preadv64v2")):
	    call(w, f"via {w}\n".encode())
	    select.select([s], [], [], 10)
	    print(r, call(r).decode().strip())
	PY
	local c; c=$(client_conf prw "$SPORT")
	run shim "$c" timeout 30 python3 "$BATS_TEST_TMPDIR/prw.py" "$SPORT"
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "preadv2 2vetirwp aiv"
	assert_contains "$output" "preadv64v2 2v46vetirwp aiv"
	wire_check
}
