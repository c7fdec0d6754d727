#!/usr/bin/env python3
"""wirecheck.py: asserts that every byte of the matched TCP connections in a pcap is a TLS record.

Usage: wirecheck.py [OPTIONS] PCAP PORT [PORT...]

PCAP is a classic pcap file ("-" reads standard input, e.g. from `tcpdump -w -`), link types
EN10MB (1), RAW (101, also 12/14), LINUX_SLL (113), LINUX_SLL2 (276), IPV4 (228), IPV6 (229);
IPv4 and IPv6, TCP. A connection matches when either end has one of the PORTs.

Each direction of a matched connection is reassembled by sequence number (retransmitted and
overlapping segments are trimmed, SYN and FIN take one sequence number each) and must be a
sequence of TLS records:
  content type 20, 21, 22 or 23; legacy version 0x0301..0x0304; length 1..16384+2048;
  the first record of each direction a handshake (22).
Capture loss fails loudly: a hole in the reassembled data, data the peer acknowledged that was
never captured, a segment the capture truncated (snaplen), a connection whose SYN was not captured.
A stream may end mid-record only when the connection was reset (RST); that is reported and fails
too unless --allow-reset-partial.

Output: one summary line per connection, e.g.
  127.0.0.1:40000 -> 127.0.0.1:8443: c->s 5 records 1234 bytes, s->c 7 records 4567 bytes: TLS only
and for a failure the direction, the stream offset and the first 32 bytes there in hex and ASCII.

Exit status: 0 when every matched connection is TLS only both ways and at least --min-conns
(default 1) of them carried data both ways; 1 otherwise; 2 on bad usage or an unreadable file.

Options:
  --min-conns N          at least N matched connections with data both ways (default 1; 0 allowed)
  --allow-empty          connections without a payload byte either way (port probes) are listed
                         as "no data" and ignored; without it they fail
  --allow-reset-partial  a direction may end mid-record when the connection was reset
  -v, --verbose          also print the record types seen per direction
"""

import argparse
import struct
import sys

TLS_TYPES = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data"}
MAX_RECORD = 16384 + 2048
DUMP = 32

LINKTYPES = {1: "EN10MB", 12: "RAW", 14: "RAW", 101: "RAW", 113: "LINUX_SLL", 276: "LINUX_SLL2",
             228: "IPV4", 229: "IPV6"}


class Usage(Exception):
    pass


def hexdump(b):
    """The bytes in hex, then as printable ASCII ('.' for the rest)."""
    hx = " ".join("%02x" % c for c in b)
    asc = "".join(chr(c) if 32 <= c < 127 else "." for c in b)
    return "%s  |%s|" % (hx, asc)


# ------------------------------------------------------------------------------------------------
# pcap reading
# ------------------------------------------------------------------------------------------------

def read_exact(f, n):
    b = f.read(n)
    while b is not None and len(b) < n:
        more = f.read(n - len(b))
        if not more:
            break
        b += more
    return b


def pcap_packets(f, notes):
    """Yields (linktype, captured bytes, original length) for each packet record."""
    hdr = read_exact(f, 24)
    if len(hdr) < 24:
        raise Usage("not a pcap file: %d bytes of header" % len(hdr))
    magic = hdr[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    elif magic == b"\x0a\x0d\x0d\x0a":
        raise Usage("pcapng is not supported: write classic pcap (tcpdump -w does)")
    else:
        raise Usage("not a pcap file (magic %s)" % magic.hex())
    _vmaj, _vmin, _tz, _sig, _snap, linktype = struct.unpack(e + "HHiIII", hdr[4:])
    linktype &= 0x0FFFFFFF  # the upper bits may carry FCS information
    if linktype not in LINKTYPES:
        raise Usage("unsupported link type %d" % linktype)
    rec = struct.Struct(e + "IIII")
    n = 0
    while True:
        h = read_exact(f, 16)
        if not h:
            return
        if len(h) < 16:
            notes.append("pcap ends inside a packet record header (packet %d)" % (n + 1))
            return
        _ts, _us, incl, orig = rec.unpack(h)
        if incl > 262144 * 4:
            raise Usage("corrupt pcap: packet %d claims %d captured bytes" % (n + 1, incl))
        data = read_exact(f, incl)
        n += 1
        if len(data) < incl:
            notes.append("pcap ends inside packet %d (%d of %d bytes): the capture was cut off"
                         % (n, len(data), incl))
            # What there is goes on, marked truncated, so missing data shows as loss.
            yield n, linktype, memoryview(data), orig
            return
        yield n, linktype, memoryview(data), orig


def link_payload(linktype, d):
    """(ethertype or IP version marker, network-layer bytes) or (None, None)."""
    if linktype == 1:
        if len(d) < 14:
            return None, None
        et = struct.unpack_from(">H", d, 12)[0]
        off = 14
        while et in (0x8100, 0x88A8) and len(d) >= off + 4:
            et = struct.unpack_from(">H", d, off + 2)[0]
            off += 4
        return et, d[off:]
    if linktype == 113:
        if len(d) < 16:
            return None, None
        return struct.unpack_from(">H", d, 14)[0], d[16:]
    if linktype == 276:
        if len(d) < 20:
            return None, None
        return struct.unpack_from(">H", d, 0)[0], d[20:]
    if linktype in (12, 14, 101, 228, 229):
        if not d:
            return None, None
        v = d[0] >> 4
        return {4: 0x0800, 6: 0x86DD}.get(v), d
    return None, None


def parse_ip_tcp(et, d, orig_short):
    """Parses IPv4/IPv6 + TCP. Returns None (not TCP) or a dict, with 'error' for a packet that is
    TCP but cannot be used (fragment, truncated by the capture)."""
    if et == 0x0800:
        if len(d) < 20 or d[0] >> 4 != 4:
            return None
        ihl = (d[0] & 15) * 4
        total = struct.unpack_from(">H", d, 2)[0]
        if d[9] != 6:
            return None
        src, dst = d[12:16], d[16:20]
        frag = struct.unpack_from(">H", d, 6)[0]
        ip = {"fam": 4, "src": src, "dst": dst}
        if frag & 0x3FFF:
            ip["error"] = "IPv4 fragment (not reassembled)"
            return ip
        if total == 0:  # TSO/GSO super-packet captured before segmentation: length unset
            total = len(d)
        if ihl < 20 or total < ihl:
            return None
        if len(d) < total:
            ip["truncated"] = True
            total = len(d)
        seg = d[ihl:total]
    elif et == 0x86DD:
        if len(d) < 40 or d[0] >> 4 != 6:
            return None
        plen = struct.unpack_from(">H", d, 4)[0]
        nh = d[6]
        src, dst = d[8:24], d[24:40]
        ip = {"fam": 6, "src": src, "dst": dst}
        end = 40 + plen if plen else len(d)
        if len(d) < end:
            ip["truncated"] = True
            end = len(d)
        off = 40
        while nh in (0, 43, 60, 44):
            if nh == 44:
                ip["error"] = "IPv6 fragment (not reassembled)"
                if len(d) >= off + 8 and d[off] == 6:
                    seg = d[off + 8:end]
                    if len(seg) >= 4:
                        ip["sport"], ip["dport"] = struct.unpack_from(">HH", seg, 0)
                        return ip
                return None
            if len(d) < off + 2:
                return None
            nh, hl = d[off], (d[off + 1] + 1) * 8
            off += hl
        if nh != 6:
            return None
        seg = d[off:end]
    else:
        return None
    if len(seg) < 20:
        if len(seg) >= 4:
            ip["sport"], ip["dport"] = struct.unpack_from(">HH", seg, 0)
            ip["error"] = "TCP header truncated by the capture"
            return ip
        return None
    sport, dport, seq, ack, offflags, _win = struct.unpack_from(">HHIIHH", seg, 0)
    doff = (offflags >> 12) * 4
    flags = offflags & 0x1FF
    ip.update(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags)
    if doff < 20 or doff > len(seg):
        ip["error"] = "bad or truncated TCP header"
        return ip
    ip["payload"] = seg[doff:]
    if orig_short:
        ip["truncated"] = True
    return ip


FIN, SYN, RST, ACK = 1, 2, 4, 16


def fmt_addr(fam, a, port):
    if fam == 4:
        return "%d.%d.%d.%d:%d" % (a[0], a[1], a[2], a[3], port)
    import ipaddress
    return "[%s]:%d" % (ipaddress.IPv6Address(bytes(a)), port)


# ------------------------------------------------------------------------------------------------
# TLS record stream
# ------------------------------------------------------------------------------------------------

class RecordStream:
    """Incremental TLS record checker for one direction's contiguous byte stream."""

    def __init__(self):
        self.offset = 0        # bytes fed so far
        self.records = 0       # complete records
        self.need = 0          # body bytes still to skip in the current record
        self.hdr = bytearray()  # header bytes of the next record, when incomplete
        self.error = None      # (offset, message)
        self.dump = bytearray()  # bytes from the failure offset on (up to DUMP)
        self.types = {}
        self.rec_start = 0     # offset of the record being read

    def feed(self, b):
        mv = memoryview(b)
        i, n = 0, len(mv)
        while i < n:
            if self.error is not None:
                if len(self.dump) < DUMP:
                    self.dump += mv[i:i + DUMP - len(self.dump)]
                self.offset += n - i
                return
            if self.need:
                k = min(self.need, n - i)
                self.need -= k
                i += k
                self.offset += k
                if not self.need:
                    self.records += 1
                continue
            if not self.hdr:
                self.rec_start = self.offset
            k = min(5 - len(self.hdr), n - i)
            self.hdr += mv[i:i + k]
            i += k
            self.offset += k
            if len(self.hdr) < 5:
                continue
            h = bytes(self.hdr)
            start = self.rec_start
            self.hdr.clear()
            ctype, ver, length = h[0], (h[1] << 8) | h[2], (h[3] << 8) | h[4]
            why = None
            if ctype not in TLS_TYPES:
                why = "content type %d is not a TLS record type" % ctype
            elif not 0x0301 <= ver <= 0x0304:
                why = "record version 0x%04x is not 0x0301..0x0304" % ver
            elif not 1 <= length <= MAX_RECORD:
                why = "record length %d is not 1..%d" % (length, MAX_RECORD)
            elif self.records == 0 and ctype != 22:
                why = "the first record is %s (%d), not a handshake (22)" % (TLS_TYPES[ctype], ctype)
            if why:
                self.error = (start, why)
                self.dump = bytearray(h)
                continue
            self.types[ctype] = self.types.get(ctype, 0) + 1
            self.need = length

    def partial(self):
        """None at a record boundary, else a description of the incomplete record."""
        if self.hdr:
            return "only %d of its 5 header bytes" % len(self.hdr)
        if self.need:
            return "%d bytes of its body missing" % self.need
        return None


class Direction:
    """One direction of a connection: reassembly by sequence number into a RecordStream."""

    def __init__(self):
        self.isn = None        # unwrapped sequence number of the SYN
        self.next = None       # unwrapped sequence number of the next byte to deliver
        self.hi = None         # highest unwrapped sequence number seen (for unwrapping)
        self.pending = {}      # start -> bytes, beyond self.next
        self.fin = None        # unwrapped sequence number of the FIN
        self.maxack = None     # highest unwrapped ack the peer sent for this direction
        self.truncated = 0     # segments the capture truncated
        self.stream = RecordStream()
        self.retrans = 0

    def unwrap(self, s):
        if self.hi is None:
            return s
        d = (s - self.hi) & 0xFFFFFFFF
        if d >= 0x80000000:
            d -= 0x100000000
        return self.hi + d

    def syn(self, seq):
        s = self.unwrap(seq) if self.isn is not None else seq
        if self.isn is None:
            self.isn = s
            self.next = s + 1
            self.hi = s + 1

    def data(self, seq, payload):
        s = self.unwrap(seq)
        e = s + len(payload)
        if self.hi is None or e > self.hi:
            self.hi = e
        if not payload:
            return
        if s < self.next:
            if e <= self.next:
                self.retrans += 1
                return
            payload = payload[self.next - s:]
            s = self.next
        if s > self.next:
            old = self.pending.get(s)
            if old is None or len(old) < len(payload):
                self.pending[s] = payload
            return
        self.deliver(payload)
        self.drain()

    def deliver(self, payload):
        self.stream.feed(payload)
        self.next += len(payload)

    def drain(self):
        while self.pending:
            s = min(self.pending)
            if s > self.next:
                return
            p = self.pending.pop(s)
            if s + len(p) <= self.next:
                continue
            self.deliver(p[self.next - s:])

    def ack(self, ack):
        a = self.unwrap(ack)
        if self.maxack is None or a > self.maxack:
            self.maxack = a

    def bytes(self):
        return 0 if self.next is None else self.next - self.isn - 1

    def loss(self):
        """Descriptions of missing data (capture loss)."""
        out = []
        if self.pending:
            s = min(self.pending)
            out.append("hole in the captured data at offset %d (%d bytes never captured, "
                       "%d bytes captured beyond it): capture loss"
                       % (self.next - self.isn - 1, s - self.next,
                          sum(len(p) for p in self.pending.values())))
        if self.fin is not None and not self.pending and self.next < self.fin:
            out.append("FIN at offset %d but data captured up to %d only: capture loss"
                       % (self.fin - self.isn - 1, self.next - self.isn - 1))
        if self.maxack is not None and self.next is not None:
            end = self.next + (1 if self.fin is not None and self.fin == self.next else 0)
            if self.maxack > end and not self.pending:
                out.append("the peer acknowledged %d bytes more than were captured (up to offset "
                           "%d): capture loss" % (self.maxack - end, self.maxack - self.isn - 1))
        if self.truncated:
            out.append("%d segments truncated by the capture (snaplen): capture loss" % self.truncated)
        return out


class Conn:
    def __init__(self, key, fam, client, server):
        self.key = key
        self.fam = fam
        self.client = client  # (addr, port)
        self.server = server
        self.c2s = Direction()
        self.s2c = Direction()
        self.rst = False
        self.errors = []
        self.first = None

    def direction(self, src):
        return self.c2s if src == self.client else self.s2c

    def finished(self):
        return self.rst or (self.c2s.fin is not None and self.s2c.fin is not None)


# ------------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------------

def analyse(f, ports, notes):
    conns = []       # in order of first packet
    live = {}        # canonical 4-tuple -> Conn
    for n, lt, d, orig in pcap_packets(f, notes):
        et, net = link_payload(lt, d)
        if net is None:
            continue
        p = parse_ip_tcp(et, net, orig > len(d))
        if p is None or "sport" not in p:
            continue
        if p["sport"] not in ports and p["dport"] not in ports:
            continue
        src, dst = (bytes(p["src"]), p["sport"]), (bytes(p["dst"]), p["dport"])
        key = (min(src, dst), max(src, dst))
        c = live.get(key)
        flags = p.get("flags", 0)
        if flags & SYN and not flags & ACK and c is not None and (
                c.finished() or (c.c2s.isn is not None and src == c.client
                                 and c.c2s.unwrap(p["seq"]) != c.c2s.isn)):
            c = None  # the 4-tuple reused by a new connection
        if c is None:
            if flags & SYN and not flags & ACK:
                client, server = src, dst
            elif flags & SYN:
                client, server = dst, src
            elif p["dport"] in ports and p["sport"] not in ports:
                client, server = src, dst
            elif p["sport"] in ports and p["dport"] not in ports:
                client, server = dst, src
            else:
                client, server = (src, dst) if src[1] > dst[1] else (dst, src)
            c = Conn(key, p["fam"], client, server)
            c.first = n
            live[key] = c
            conns.append(c)
        if "error" in p:
            c.errors.append("packet %d: %s" % (n, p["error"]))
            continue
        dr = c.direction(src)
        other = c.s2c if dr is c.c2s else c.c2s
        if flags & SYN:
            dr.syn(p["seq"])
        if flags & RST:
            # A reset carries no stream data; one answering a SYN has no SYN of its own.
            c.rst = True
            if flags & ACK and other.isn is not None:
                other.ack(p["ack"])
            continue
        if dr.isn is None:
            c.errors.append("packet %d: no SYN captured for %s: the connection began before "
                            "the capture" % (n, "c->s" if dr is c.c2s else "s->c"))
            # Check from here on anyway: the first byte seen is taken as the start.
            dr.isn = dr.unwrap(p["seq"]) - 1
            dr.next = dr.isn + 1
            dr.hi = dr.next
        if flags & ACK and other.isn is not None:
            other.ack(p["ack"])
        payload = p["payload"]
        seq = p["seq"] + (1 if flags & SYN else 0)
        if p.get("truncated"):
            dr.truncated += 1
        dr.data(seq & 0xFFFFFFFF, payload)
        if flags & FIN:
            fs = dr.unwrap((seq + len(payload)) & 0xFFFFFFFF)
            if dr.fin is None:
                dr.fin = fs
    return conns


def main(argv):
    ap = argparse.ArgumentParser(prog="wirecheck.py", add_help=True,
                                 description="Every byte on the matched TCP connections is a TLS record.")
    ap.add_argument("pcap")
    ap.add_argument("ports", nargs="+")
    ap.add_argument("--min-conns", type=int, default=1)
    ap.add_argument("--allow-empty", action="store_true")
    ap.add_argument("--allow-reset-partial", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    try:
        a = ap.parse_args(argv)
    except SystemExit as e:
        return 0 if e.code == 0 else 2
    try:
        ports = {int(x) for arg in a.ports for x in arg.split(",") if x}
        if any(not 0 < x < 65536 for x in ports):
            raise ValueError
    except ValueError:
        print("wirecheck: bad port in %s" % " ".join(a.ports), file=sys.stderr)
        return 2
    if a.min_conns < 0:
        print("wirecheck: --min-conns must be >= 0", file=sys.stderr)
        return 2
    notes = []
    try:
        f = sys.stdin.buffer if a.pcap == "-" else open(a.pcap, "rb")
    except OSError as e:
        print("wirecheck: %s: %s" % (a.pcap, e.strerror), file=sys.stderr)
        return 2
    try:
        with f:
            conns = analyse(f, ports, notes)
    except Usage as e:
        print("wirecheck: %s: %s" % (a.pcap, e), file=sys.stderr)
        return 2
    except OSError as e:
        print("wirecheck: %s: %s" % (a.pcap, e), file=sys.stderr)
        return 2

    ok = True
    both = 0
    for n in notes:
        print("wirecheck: %s" % n)
    for c in conns:
        name = "%s -> %s" % (fmt_addr(c.fam, *c.client), fmt_addr(c.fam, *c.server))
        problems = list(c.errors)
        resets = []
        parts = []
        for label, dr in (("c->s", c.c2s), ("s->c", c.s2c)):
            st = dr.stream
            parts.append("%s %d records %d bytes" % (label, st.records, dr.bytes()))
            if st.error is not None:
                off, why = st.error
                problems.append("%s at byte %d: %s: %s" % (label, off, why, hexdump(bytes(st.dump[:DUMP]))))
            elif st.partial():
                where = "%s ends mid-record: the record at byte %d has %s" % (label, st.rec_start, st.partial())
                if c.rst:
                    resets.append(where + ", after a reset")
                elif dr.fin is None:
                    problems.append(where + ", no reset and no FIN (still open when the capture stopped?)")
                else:
                    problems.append(where + ", without a reset")
            if dr.isn is not None:
                problems.extend("%s: %s" % (label, x) for x in dr.loss())
        empty = c.c2s.bytes() == 0 and c.s2c.bytes() == 0
        if empty and not problems:
            if a.allow_empty:
                print("%s: no data (ignored)" % name)
            else:
                print("%s: no data: FAIL (use --allow-empty to ignore connections without data)" % name)
                ok = False
            continue
        if resets and not a.allow_reset_partial:
            problems.extend(resets)
            resets = []
        verdict = "TLS only" if not problems else "FAIL"
        extra = []
        if c.rst:
            extra.append("reset")
        extra.extend(resets)
        print("%s: %s: %s%s" % (name, ", ".join(parts), verdict,
                                " (%s)" % "; ".join(extra) if extra else ""))
        if a.verbose:
            for label, dr in (("c->s", c.c2s), ("s->c", c.s2c)):
                t = dr.stream.types
                print("  %s: %s%s" % (label, ", ".join("%s %d" % (TLS_TYPES[k], t[k]) for k in sorted(t)) or "none",
                                      ", %d retransmitted segments" % dr.retrans if dr.retrans else ""))
        for pr in problems:
            print("  FAIL %s" % pr)
        if problems:
            ok = False
        elif c.c2s.bytes() and c.s2c.bytes():
            both += 1
    if both < a.min_conns:
        print("wirecheck: %d connection(s) on port(s) %s carried TLS both ways, want at least %d"
              % (both, ",".join(str(p) for p in sorted(ports)), a.min_conns))
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
