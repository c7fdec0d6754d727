#!/usr/bin/env python3
"""bench/resumeprobe.py: does a (shimmed) client resume TLS sessions?

Usage: resumeprobe.py HOST PORT K

Connects K times in a row to an `openssl s_server -www` and asks for its status
page, which says "Reused, ..." or "New, ..." for the connection's session. Run
under the shim with a client rule for PORT; prints "reused R of K".
"""
import socket
import sys


def main():
    host, port, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    reused = 0
    for _ in range(k):
        s = socket.create_connection((host, port), timeout=10)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        page = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            page += chunk
        s.close()
        if b"\nReused," in page:
            reused += 1
        elif b"\nNew," not in page:
            sys.exit("resumeprobe: no session line in the status page: %r" % page[:200])
    print("reused %d of %d" % (reused, k))


if __name__ == "__main__":
    main()
