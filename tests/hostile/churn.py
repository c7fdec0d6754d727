#!/usr/bin/env python3
# churn.py PORT PKI N: N sequential mTLS connections to an echo server (full handshakes, one
# line echoed each, then closed). Prints "done N in S s" or fails on the first error.
import socket, ssl, sys, time

port, pki, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ctx = ssl.create_default_context(cafile=pki + "/ca.crt")
ctx.load_cert_chain(pki + "/client.crt", pki + "/client.key")
t = time.monotonic()
for i in range(n):
    with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"x\n")
            assert s.recv(16) == b"x\n"
print("done %d in %.1f s" % (n, time.monotonic() - t), flush=True)
