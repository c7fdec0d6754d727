#!/usr/bin/env python3
"""ocsp_front.py PORT LOG -- OPENSSL-OCSP-ARGS...: an HTTP/1.0 OCSP responder on 127.0.0.1:PORT
only. OpenSSL 3.0's `openssl ocsp -port` takes no address and listens on every interface; this
front listens on loopback and has `openssl ocsp -reqin -respout` (with the given -index, -rsigner,
-rkey, -CA, -ndays ... arguments) answer each POSTed request, appending its -text report to LOG.
One request per connection, served in order, until the process is ended (by its PID)."""
import os
import socket
import subprocess
import sys
import tempfile


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"POST "):
        return None
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length and len(body) < 65536:
        chunk = conn.recv(length - len(body))
        if not chunk:
            return None
        body += chunk
    return body[:length]


def answer(req, log, args):
    with tempfile.TemporaryDirectory() as d:
        reqf, respf = os.path.join(d, "req.der"), os.path.join(d, "resp.der")
        with open(reqf, "wb") as f:
            f.write(req)
        with open(log, "ab") as out:
            subprocess.run(["openssl", "ocsp", *args, "-reqin", reqf, "-respout", respf, "-text"],
                           stdout=out, stderr=out, timeout=30, check=False)
        if not os.path.exists(respf):
            return None
        with open(respf, "rb") as f:
            return f.read()


def main():
    port, log, args = int(sys.argv[1]), sys.argv[2], sys.argv[4:] if sys.argv[3:4] == ["--"] else sys.argv[3:]
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(64)
    while True:
        conn, _ = srv.accept()
        with conn:
            conn.settimeout(10)
            try:
                req = read_request(conn)
                resp = answer(req, log, args) if req is not None else None
                if resp is None:
                    conn.sendall(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                else:
                    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\n"
                                 b"Content-Length: %d\r\n\r\n" % len(resp) + resp)
            except (OSError, subprocess.SubprocessError, ValueError):
                pass


if __name__ == "__main__":
    main()
