#!/usr/bin/env python3
# tlspeer.py PORT PKI MODE: a plain python TLS server (no shim) requiring a client cert from
# PKI/ca, for one connection. MODE "mute": handshake, then never read (sleep); "source": send
# without end. Prints "listening", then "handshaken" once the client is in.
import socket, ssl, sys, time

port, pki, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(pki + "/server.crt", pki + "/server.key")
ctx.load_verify_locations(pki + "/ca.crt")
ctx.verify_mode = ssl.CERT_REQUIRED
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", port))
l.listen(4)
print("listening", flush=True)
c, _ = l.accept()
s = ctx.wrap_socket(c, server_side=True)
print("handshaken", flush=True)
end = time.time() + 60
if mode == "mute":
    while time.time() < end:
        time.sleep(1)
else:
    buf = b"y" * 65536
    while time.time() < end:
        s.sendall(buf)
