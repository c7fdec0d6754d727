#!/usr/bin/env bats
# wirecheck.bats: the wire check itself: tests/wirecheck.py on small pcaps written here (a TLS
# connection, plaintext, TLS then plaintext, an empty probe, capture loss, resets, link types,
# IPv6), then wire_start / wire_check from helpers.bash on real loopback traffic.

load helpers

WIRECHECK=$REPO/tests/wirecheck.py

setup_file() {
	common_setup_file
	# mkpcap.py: a tiny classic-pcap writer; the test's python snippet (stdin) builds the packets.
	#   w = Pcap(path, linktype=1)        linktype 1 EN10MB, 101 RAW, 113 LINUX_SLL, 276 LINUX_SLL2
	#   c = w.conn(cli, cport, srv, sport) an IPv4 or IPv6 (":" in the address) connection
	#   c.open()                           SYN, SYN-ACK, ACK
	#   c.send("c" or "s", data, mss=N, capture=True)
	#                                      segments of data, each acked by the peer; capture=False
	#                                      leaves the data segments out of the file (capture loss)
	#   c.seg(side, off, data)             one raw segment at stream offset off (retransmissions)
	#   c.close() / c.reset(side)          FIN both ways / a RST
	#   rec(type, body, ver=0x0303)        one TLS record
	cat > "$BATS_FILE_TMPDIR/mkpcap.py" <<'PY'
import socket, struct, sys

def rec(t, body, ver=0x0303):
    return struct.pack(">BHH", t, ver, len(body)) + body

def client_hello(n=200):
    return rec(22, b"\x01" + struct.pack(">I", n - 4)[1:] + b"\x03\x03" + b"r" * (n - 6), 0x0301)

def server_flight():
    return rec(22, b"\x02" + b"s" * 120) + rec(20, b"\x01") + rec(23, b"e" * 900)

class Conn:
    def __init__(self, w, cli, cport, srv, sport, isn_c, isn_s):
        self.w = w
        self.v6 = ":" in cli
        fam = socket.AF_INET6 if self.v6 else socket.AF_INET
        self.addr = {"c": (socket.inet_pton(fam, cli), cport), "s": (socket.inet_pton(fam, srv), sport)}
        self.seq = {"c": isn_c, "s": isn_s}   # next sequence number to send
        self.isn = {"c": isn_c, "s": isn_s}

    def other(self, side):
        return "s" if side == "c" else "c"

    def pkt(self, side, seq, flags, data=b"", ack=True):
        (sa, sp), (da, dp) = self.addr[side], self.addr[self.other(side)]
        a = self.seq[self.other(side)] & 0xFFFFFFFF if ack else 0
        fl = flags | (0x10 if ack else 0)
        tcp = struct.pack(">HHIIHHHH", sp, dp, seq & 0xFFFFFFFF, a, (5 << 12) | fl, 65535, 0, 0) + data
        if self.v6:
            ip = struct.pack(">IHBB", 6 << 28, len(tcp), 6, 64) + sa + da
        else:
            ip = struct.pack(">BBHHHBBH", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0) + sa + da
        self.w.packet(ip + tcp, self.v6)

    def open(self):
        self.pkt("c", self.seq["c"], 0x02, ack=False)
        self.seq["c"] += 1
        self.pkt("s", self.seq["s"], 0x02)
        self.seq["s"] += 1
        self.pkt("c", self.seq["c"], 0)

    def send(self, side, data, mss=16000, capture=True):
        for i in range(0, len(data), mss):
            if capture:
                self.pkt(side, self.seq[side], 0x08, data[i:i + mss])
            self.seq[side] += len(data[i:i + mss])
        self.pkt(self.other(side), self.seq[self.other(side)], 0)

    def seg(self, side, off, data):
        self.pkt(side, self.isn[side] + 1 + off, 0x08, data)

    def close(self):
        for side in ("c", "s"):
            self.pkt(side, self.seq[side], 0x01)
            self.seq[side] += 1
        self.pkt("c", self.seq["c"], 0)

    def reset(self, side):
        self.pkt(side, self.seq[side], 0x04)

class Pcap:
    def __init__(self, path, linktype=1):
        self.f = open(path, "wb")
        self.lt = linktype
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        self.t = 0

    def conn(self, cli, cport, srv, sport, isn_c=1000, isn_s=5000):
        return Conn(self, cli, cport, srv, sport, isn_c, isn_s)

    def packet(self, ip, v6):
        et = 0x86DD if v6 else 0x0800
        if self.lt == 1:
            d = b"\0" * 12 + struct.pack(">H", et) + ip
        elif self.lt == 113:
            d = struct.pack(">HHH", 0, 772, 6) + b"\0" * 8 + struct.pack(">H", et) + ip
        elif self.lt == 276:
            d = struct.pack(">HHIHBB", et, 0, 1, 772, 0, 6) + b"\0" * 8 + ip
        else:
            d = ip
        self.t += 1
        self.f.write(struct.pack("<IIII", self.t, 0, len(d), len(d)) + d)

    def close(self):
        self.f.close()

w = Pcap(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1)
exec(sys.stdin.read())
w.close()
PY
}
setup() { T=$BATS_TEST_TMPDIR; }
teardown() { common_teardown; }

# mkpcap FILE [LINKTYPE] <<'PY' ...snippet... PY: writes FILE with the snippet's packets.
mkpcap() { python3 "$BATS_FILE_TMPDIR/mkpcap.py" "$@"; }

# A complete TLS connection: ClientHello, the server's flight, application data both ways.
TLS_CONN='
c = w.conn("127.0.0.1", 40000, "127.0.0.1", 8443)
c.open()
c.send("c", client_hello())
c.send("s", server_flight())
c.send("c", rec(20, b"\x01") + rec(23, b"f" * 100))
c.send("s", rec(23, b"d" * 3000))
c.close()
'

@test "wirecheck: a TLS connection passes, one summary line" {
	mkpcap "$T/tls.pcap" <<< "$TLS_CONN"
	run "$WIRECHECK" "$T/tls.pcap" 8443
	show
	[ "$status" -eq 0 ]
	[ "$output" = "127.0.0.1:40000 -> 127.0.0.1:8443: c->s 3 records 316 bytes, s->c 4 records 4042 bytes: TLS only" ]
	# Matching either end: the client's port works as well; -v lists the record types.
	run "$WIRECHECK" -v "$T/tls.pcap" 40000
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "c->s: change_cipher_spec 1, handshake 1, application_data 1"
	assert_contains "$output" "s->c: change_cipher_spec 1, handshake 1, application_data 2"
}

@test "wirecheck: plaintext HTTP fails and shows the offending bytes" {
	mkpcap "$T/http.pcap" <<-'PY'
	c = w.conn("127.0.0.1", 40001, "127.0.0.1", 8080)
	c.open()
	c.send("c", b"GET /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n")
	c.send("s", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
	c.close()
	PY
	run "$WIRECHECK" "$T/http.pcap" 8080
	show
	[ "$status" -eq 1 ]
	assert_contains "$output" "127.0.0.1:40001 -> 127.0.0.1:8080: c->s 0 records 45 bytes, s->c 0 records 43 bytes: FAIL"
	assert_contains "$output" "FAIL c->s at byte 0: content type 71 is not a TLS record type: 47 45 54 20 2f 69 6e 64"
	assert_contains "$output" "|GET /index.html HTTP/1.1..Host: |"
	assert_contains "$output" "FAIL s->c at byte 0: content type 72 is not a TLS record type: 48 54 54 50"
	assert_contains "$output" "|HTTP/1.1 200 OK..Content-Length:|"
}

@test "wirecheck: TLS followed by plaintext fails at the first plaintext byte" {
	mkpcap "$T/mixed.pcap" <<-'PY'
	c = w.conn("127.0.0.1", 40002, "127.0.0.1", 8443)
	c.open()
	c.send("c", client_hello())
	c.send("s", server_flight())
	c.send("c", rec(23, b"x" * 50) + b"SECRET-PLAINTEXT after the records")
	c.send("s", rec(23, b"y" * 50))
	c.close()
	PY
	run "$WIRECHECK" "$T/mixed.pcap" 8443
	show
	[ "$status" -eq 1 ]
	# 205 bytes of ClientHello record, 55 of application data: the plaintext starts at 260.
	assert_contains "$output" "c->s 2 records 294 bytes, s->c 4 records 1092 bytes: FAIL"
	assert_contains "$output" "FAIL c->s at byte 260: content type 83 is not a TLS record type: 53 45 43 52 45 54"
	assert_contains "$output" "|SECRET-PLAINTEXT after the recor|"
	refute_contains "$output" "FAIL s->c"
}

@test "wirecheck: an empty probe connection is ignored with --allow-empty, fails without" {
	mkpcap "$T/probe.pcap" <<-PY
	p = w.conn("127.0.0.1", 40003, "127.0.0.1", 8443)
	p.open()
	p.close()
	$TLS_CONN
	# A refused port probe: SYN answered by a RST.
	r = w.conn("127.0.0.1", 40004, "127.0.0.1", 8443, isn_c=77)
	r.pkt("c", 77, 0x02, ack=False)
	r.seq["c"] = 78
	r.pkt("s", 0, 0x04)
	PY
	run "$WIRECHECK" --allow-empty "$T/probe.pcap" 8443
	show
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "127.0.0.1:40003 -> 127.0.0.1:8443: no data (ignored)" ]
	[ "${lines[1]}" = "127.0.0.1:40000 -> 127.0.0.1:8443: c->s 3 records 316 bytes, s->c 4 records 4042 bytes: TLS only" ]
	[ "${lines[2]}" = "127.0.0.1:40004 -> 127.0.0.1:8443: no data (ignored)" ]
	run "$WIRECHECK" "$T/probe.pcap" 8443
	show
	[ "$status" -eq 1 ]
	assert_contains "$output" "127.0.0.1:40003 -> 127.0.0.1:8443: no data: FAIL"
	# Only a probe: no connection with TLS both ways, unless --min-conns 0.
	mkpcap "$T/only-probe.pcap" <<-'PY'
	p = w.conn("127.0.0.1", 40003, "127.0.0.1", 8443)
	p.open()
	p.close()
	PY
	run "$WIRECHECK" --allow-empty "$T/only-probe.pcap" 8443
	show
	[ "$status" -eq 1 ]
	assert_contains "$output" "0 connection(s) on port(s) 8443 carried TLS both ways, want at least 1"
	run "$WIRECHECK" --allow-empty --min-conns 0 "$T/only-probe.pcap" 8443
	[ "$status" -eq 0 ]
}

@test "wirecheck: other ports are not matched; no matched connection fails" {
	mkpcap "$T/tls.pcap" <<< "$TLS_CONN"
	run "$WIRECHECK" "$T/tls.pcap" 9999
	show
	[ "$status" -eq 1 ]
	refute_contains "$output" "40000"
	assert_contains "$output" "want at least 1"
	# Several ports, one argument each or comma separated; --min-conns counts.
	run "$WIRECHECK" "$T/tls.pcap" 9999,8443
	[ "$status" -eq 0 ]
	run "$WIRECHECK" --min-conns 2 "$T/tls.pcap" 9999 8443
	show
	[ "$status" -eq 1 ]
	assert_contains "$output" "1 connection(s) on port(s) 8443,9999 carried TLS both ways, want at least 2"
}

@test "wirecheck: records split over segments, retransmitted, overlapping and reordered segments" {
	mkpcap "$T/reasm.pcap" <<-'PY'
	c = w.conn("127.0.0.1", 40005, "127.0.0.1", 8443, isn_c=0xFFFFFF00)  # the sequence wraps
	c.open()
	ch = client_hello(300)
	c.send("c", ch, mss=7)                 # 5-byte headers split over segments
	c.seg("c", 0, ch[:50])                 # retransmission
	c.seg("c", 40, ch[40:120])             # overlapping
	c.send("s", server_flight())
	data = rec(23, b"a" * 10000) + rec(23, b"b" * 18432)
	n = len(ch)
	c.seg("c", n + 6000, data[6000:])      # out of order: the later part first
	c.seg("c", n, data[:6000])
	c.seq["c"] += len(data)
	c.send("s", rec(23, b"z"))
	c.close()
	c.seg("c", n + 100, data[100:200])     # a late duplicate after the FIN
	PY
	run "$WIRECHECK" -v "$T/reasm.pcap" 8443
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "c->s 3 records 28747 bytes, s->c 4 records 1043 bytes: TLS only"
}

@test "wirecheck: every link type and IPv6" {
	local lt
	for lt in 1 101 113 276; do
		mkpcap "$T/lt$lt.pcap" "$lt" <<< "$TLS_CONN"
		run "$WIRECHECK" "$T/lt$lt.pcap" 8443
		show
		[ "$status" -eq 0 ]
		[ "$output" = "127.0.0.1:40000 -> 127.0.0.1:8443: c->s 3 records 316 bytes, s->c 4 records 4042 bytes: TLS only" ]
		mkpcap "$T/v6-$lt.pcap" "$lt" <<< "${TLS_CONN//127.0.0.1/::1}"
		run "$WIRECHECK" "$T/v6-$lt.pcap" 8443
		show
		[ "$status" -eq 0 ]
		[ "$output" = "[::1]:40000 -> [::1]:8443: c->s 3 records 316 bytes, s->c 4 records 4042 bytes: TLS only" ]
	done
}

@test "wirecheck: header rules: first record a handshake, version, length" {
	local body
	for body in 'rec(23, b"x" * 10)|the first record is application_data (23), not a handshake' \
		'rec(22, b"x" * 10, 0x0300)|record version 0x0300 is not 0x0301..0x0304' \
		'rec(22, b"x" * 10, 0x0305)|record version 0x0305 is not 0x0301..0x0304' \
		'rec(22, b"")|record length 0 is not 1..18432' \
		'client_hello() + rec(23, b"x" * 18433)|record length 18433 is not 1..18432' \
		'client_hello() + rec(24, b"x" * 10)|content type 24 is not a TLS record type' \
		'b"\x80\x2e\x01\x03\x01" + b"x" * 43|content type 128 is not a TLS record type'; do
		mkpcap "$T/hdr.pcap" <<-PY
		c = w.conn("127.0.0.1", 40006, "127.0.0.1", 8443)
		c.open()
		c.send("c", ${body%%|*})
		c.send("s", server_flight())
		c.close()
		PY
		run "$WIRECHECK" "$T/hdr.pcap" 8443
		show
		[ "$status" -eq 1 ]
		assert_contains "$output" "FAIL c->s at byte "
		assert_contains "$output" "${body#*|}"
	done
}

@test "wirecheck: capture loss fails loudly: a hole, data acknowledged but never captured" {
	mkpcap "$T/hole.pcap" <<-'PY'
	c = w.conn("127.0.0.1", 40007, "127.0.0.1", 8443)
	c.open()
	c.send("c", client_hello())
	c.send("s", server_flight())
	c.send("c", rec(23, b"a" * 3000), mss=1000, capture=False)
	c.send("c", rec(23, b"b" * 100))
	c.close()
	PY
	run "$WIRECHECK" "$T/hole.pcap" 8443
	show
	[ "$status" -eq 1 ]
	assert_contains "$output" "FAIL c->s: hole in the captured data at offset 205 (3005 bytes never captured"
	assert_contains "$output" "capture loss"
	# The tail lost: the peer's ACK and FIN show data the file does not have.
	mkpcap "$T/tail.pcap" <<-'PY'
	c = w.conn("127.0.0.1", 40008, "127.0.0.1", 8443)
	c.open()
	c.send("c", client_hello())
	c.send("s", server_flight())
	c.send("s", rec(23, b"a" * 3000), capture=False)
	PY
	run "$WIRECHECK" "$T/tail.pcap" 8443
	show
	[ "$status" -eq 1 ]
	assert_contains "$output" "FAIL s->c: the peer acknowledged 3005 bytes more than were captured"
	# A connection already open when the capture began cannot be checked.
	mkpcap "$T/late.pcap" <<-'PY'
	c = w.conn("127.0.0.1", 40009, "127.0.0.1", 8443)
	c.seq["c"] += 1; c.seq["s"] += 1
	c.send("c", rec(23, b"a" * 30))
	c.send("s", rec(23, b"b" * 30))
	PY
	run "$WIRECHECK" "$T/late.pcap" 8443
	show
	[ "$status" -eq 1 ]
	assert_contains "$output" "no SYN captured for c->s: the connection began before the capture"
}

@test "wirecheck: a stream ending mid-record: after a reset only with --allow-reset-partial" {
	mkpcap "$T/rst.pcap" <<-'PY'
	c = w.conn("127.0.0.1", 40010, "127.0.0.1", 8443)
	c.open()
	c.send("c", client_hello())
	c.send("s", server_flight() + rec(23, b"q" * 5000)[:2000])
	c.reset("c")
	PY
	run "$WIRECHECK" "$T/rst.pcap" 8443
	show
	[ "$status" -eq 1 ]
	assert_contains "$output" "FAIL s->c ends mid-record: the record at byte 1037 has 3005 bytes of its body missing, after a reset"
	run "$WIRECHECK" --allow-reset-partial "$T/rst.pcap" 8443
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "c->s 1 records 205 bytes, s->c 3 records 3037 bytes: TLS only (reset; s->c ends mid-record"
	# A clean close after a partial record is not allowed at all.
	mkpcap "$T/fin.pcap" <<-'PY'
	c = w.conn("127.0.0.1", 40011, "127.0.0.1", 8443)
	c.open()
	c.send("c", client_hello())
	c.send("s", server_flight() + b"\x17\x03")
	c.close()
	PY
	run "$WIRECHECK" --allow-reset-partial "$T/fin.pcap" 8443
	show
	[ "$status" -eq 1 ]
	assert_contains "$output" "FAIL s->c ends mid-record: the record at byte 1037 has only 2 of its 5 header bytes, without a reset"
	# A refused handshake: ClientHello, then the server's alert and FIN, is TLS only.
	mkpcap "$T/alert.pcap" <<-'PY'
	c = w.conn("127.0.0.1", 40012, "127.0.0.1", 8443)
	c.open()
	c.send("c", client_hello())
	c.send("s", rec(22, b"\x02" + b"s" * 80) + rec(21, b"\x02\x30"))
	c.close()
	c.reset("c")
	PY
	run "$WIRECHECK" "$T/alert.pcap" 8443
	show
	[ "$status" -eq 0 ]
	assert_contains "$output" "c->s 1 records 205 bytes, s->c 2 records 93 bytes: TLS only (reset)"
}

@test "wirecheck: the same 4-tuple used twice is two connections" {
	mkpcap "$T/reuse.pcap" <<-'PY'
	for isn in (1000, 900000):
	    c = w.conn("127.0.0.1", 40013, "127.0.0.1", 8443, isn_c=isn, isn_s=isn * 3)
	    c.open()
	    c.send("c", client_hello())
	    c.send("s", server_flight())
	    c.close()
	PY
	run "$WIRECHECK" --min-conns 2 "$T/reuse.pcap" 8443
	show
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
}

@test "wirecheck: bad usage and unreadable files exit 2" {
	run "$WIRECHECK"
	[ "$status" -eq 2 ]
	run "$WIRECHECK" "$T/missing.pcap" 8443
	[ "$status" -eq 2 ]
	assert_contains "$output" "No such file or directory"
	echo "not a pcap at all, no" > "$T/text"
	run "$WIRECHECK" "$T/text" 8443
	[ "$status" -eq 2 ]
	assert_contains "$output" "not a pcap file"
	mkpcap "$T/tls.pcap" <<< "$TLS_CONN"
	run "$WIRECHECK" "$T/tls.pcap" http
	[ "$status" -eq 2 ]
	run "$WIRECHECK" "$T/tls.pcap" 70000
	[ "$status" -eq 2 ]
	run "$WIRECHECK" --bogus "$T/tls.pcap" 8443
	[ "$status" -eq 2 ]
}

# ---------------------------------------------------------------------------------------------
# wire_start / wire_check (helpers.bash) on real loopback traffic.
# ---------------------------------------------------------------------------------------------

@test "wire_check: openssl s_server and s_client on the wire are TLS only; the helper stops tcpdump" {
	s_server_rev
	wire_start "$SPORT"
	local pid=$WIRE_PID
	# -no_ign_eof: s_client ends, sending its close_notify, when its input does (after 1 s).
	run bash -c "$(declare -f sclient); (echo 'hello wire'; sleep 1) | sclient -no_ign_eof -connect 127.0.0.1:$SPORT 2>/dev/null"
	show
	[ "$output" = "eriw olleh" ]
	run wire_check
	show
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^127\.0\.0\.1:[0-9]+\ -\>\ 127\.0\.0\.1:$SPORT:\ c-\>s\ [0-9]+\ records\ [0-9]+\ bytes,\ s-\>c\ [0-9]+\ records\ [0-9]+\ bytes:\ TLS\ only ]]
	! kill -0 "$pid" 2>/dev/null
	# A second capture in the same test, over IPv6 this time.
	local p6; p6=$(free_port)
	bg "$T/s6.out" openssl s_server -accept "[::1]:$p6" -Verify 1 -verify_return_error \
		-cert "$PKI/server.crt" -key "$PKI/server.key" -CAfile "$PKI/ca.crt" -rev
	wait_port "$p6"
	wire_start "$p6"
	run bash -c "$(declare -f sclient); (echo six; sleep 1) | sclient -no_ign_eof -connect [::1]:$p6 2>/dev/null"
	show
	[ "$output" = "xis" ]
	wire_check
	[ "$WIRE_N" -eq 2 ]
}

@test "wire_check: plaintext on the port fails the check, naming the bytes" {
	PORT=$(free_port)
	bg "$T/socat.out" socat TCP-LISTEN:"$PORT",bind=127.0.0.1,reuseaddr EXEC:cat
	wait_port "$PORT"
	wire_start "$PORT"
	run timeout 10 socat -t 2 - TCP:127.0.0.1:"$PORT" <<< "PLAINTEXT over the wire"
	[ "$output" = "PLAINTEXT over the wire" ]
	run wire_check
	show
	[ "$status" -eq 1 ]
	assert_contains "$output" "not TLS only"
	assert_contains "$output" "FAIL c->s at byte 0: content type 80 is not a TLS record type"
	assert_contains "$output" "|PLAINTEXT over the wire.|"
}

@test "wire_start: fails when tcpdump cannot start; teardown stops a capture left running" {
	run wire_start "not-a-port"
	show
	[ "$status" -eq 1 ]
	assert_contains "$output" "tcpdump did not start listening"
	PORT=$(free_port)
	wire_start "$PORT"
	echo "$WIRE_PID" > "$T/wire.pid"
	run wire_start "$PORT"
	[ "$status" -eq 1 ]
	assert_contains "$output" "still running"
	# Left running on purpose: teardown's wire_stop must end it.
	common_teardown
	! kill -0 "$(cat "$T/wire.pid")" 2>/dev/null
	[ -z "$WIRE_PID" ]
}
