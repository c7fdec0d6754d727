#!/usr/bin/env python3
"""bench/rssclient.py: open N idle connections to a Redis server and hold them.

Usage: rssclient.py HOST PORT N HOLD_SECONDS

Each connection sends one PING and waits for +PONG, so the server has accepted
it (under mtlsshim: the handshake is done) before the next one is opened. When
all N are up it prints "ready N SECONDS" and sleeps HOLD_SECONDS (the caller
kills it sooner). Run it under the shim to get mTLS connections: it only uses
connect/send/recv, which the preload wraps.
"""
import socket
import sys
import time


def main():
    host, port, n, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    socks = []
    t0 = time.monotonic()
    for i in range(n):
        s = socket.create_connection((host, port), timeout=15)
        s.sendall(b"PING\r\n")
        buf = b""
        while b"\r\n" not in buf:
            chunk = s.recv(64)
            if not chunk:
                sys.exit("rssclient: connection %d closed before +PONG" % i)
            buf += chunk
        if not buf.startswith(b"+PONG"):
            sys.exit("rssclient: connection %d: unexpected reply %r" % (i, buf))
        socks.append(s)
    print("ready %d %.3f" % (n, time.monotonic() - t0), flush=True)
    time.sleep(hold)


if __name__ == "__main__":
    main()
