#!/usr/bin/env python3
# stall.py PORT N DRIP PKI TIMEOUT: N peers hold handshakes open against PORT (DRIP of them send a
# real ClientHello one byte a second, the rest nothing) while a good mTLS client is timed, before
# and during the stall. Prints "baseline_ms=.. stalled_ms=.. open_after_good=K of N" and, once
# every stalled peer was cut or TIMEOUT+15 s passed, "cut=C of N first_cut_s=.. last_cut_s=..".
import selectors, socket, ssl, statistics, sys, time

port, n, drip, pki, hto = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])

ctx = ssl.create_default_context(cafile=pki + "/ca.crt")
ctx.load_cert_chain(pki + "/client.crt", pki + "/client.key")

def good_once():
    t = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"GET /good HTTP/1.0\r\n\r\n")
            data = b""
            while True:
                d = s.recv(4096)
                if not d:
                    break
                data += d
    assert b"request: GET /good" in data, data
    return (time.monotonic() - t) * 1000

def good(k):
    return statistics.median(good_once() for _ in range(k))

# A real ClientHello, as the drip peers' payload.
bio_in, bio_out = ssl.MemoryBIO(), ssl.MemoryBIO()
obj = ctx.wrap_bio(bio_in, bio_out, server_hostname="localhost")
try:
    obj.do_handshake()
except ssl.SSLWantReadError:
    pass
hello = bio_out.read()

base = good(5)
sel = selectors.DefaultSelector()
socks, t0 = [], time.monotonic()
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setblocking(False)
    socks.append(s)
    sel.register(s, selectors.EVENT_READ, i)
print("connected", n, "in %.1f s" % (time.monotonic() - t0), flush=True)
during = good(5)

def closed(s):
    try:
        return s.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True

cut_at, sent = {}, 0
# Which were cut already (they must not be: the handshake timeout has not passed).
r = sel.select(0)
early = sum(1 for k, _ in r if closed(k.fileobj))
print("baseline_ms=%.1f stalled_ms=%.1f open_after_good=%d of %d" % (base, during, n - early, n), flush=True)
deadline = t0 + hto + 15
next_drip = time.monotonic()
while len(cut_at) < n and time.monotonic() < deadline:
    if time.monotonic() >= next_drip and sent < len(hello):
        for s in socks[:drip]:
            if s.fileno() >= 0 and id(s) not in cut_at:
                try:
                    s.send(hello[sent:sent + 1])
                except OSError:
                    pass
        sent += 1
        next_drip += 1
    for k, _ in sel.select(0.2):
        if closed(k.fileobj):
            cut_at[k.data] = time.monotonic() - t0
            sel.unregister(k.fileobj)
ts = sorted(cut_at.values()) or [0]
print("cut=%d of %d first_cut_s=%.1f last_cut_s=%.1f drip_bytes_sent=%d" % (len(cut_at), n, ts[0], ts[-1], sent), flush=True)
