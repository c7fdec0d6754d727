#!/usr/bin/env python3
"""bench/hsclient.py HOST PORT SECONDS PKI: new mTLS connections for SECONDS, one after another.

Each makes a full handshake (PKI/client.crt, no session reuse), sends a redis PING and waits for
+PONG before it closes, so it counts only once the server has let the program have it; openssl
s_time closes as soon as its own side is done, before a TLS 1.3 server's checks (and the reset
that its close sends ends most of those connections before the program sees them). Prints
"N connections in T.TTTs", like s_time's first line; exits 1 on a connection without +PONG.
"""
import socket
import ssl
import sys
import time

host, port, secs, pki = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(pki + "/ca.crt")
ctx.load_cert_chain(pki + "/client.crt", pki + "/client.key")
n = 0
t0 = time.monotonic()
end = t0 + secs
while time.monotonic() < end:
    with socket.create_connection((host, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            s.sendall(b"PING\r\n")
            buf = b""
            while not buf.endswith(b"\r\n"):
                d = s.recv(64)
                if not d:
                    sys.exit(f"ERROR: connection {n + 1} closed before +PONG")
                buf += d
            if buf != b"+PONG\r\n":
                sys.exit(f"ERROR: connection {n + 1} got {buf!r}, not +PONG")
    n += 1
print(f"{n} connections in {time.monotonic() - t0:.3f}s")
