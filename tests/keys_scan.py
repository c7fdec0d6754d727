#!/usr/bin/env python3
"""keys_scan.py: looks for a private key's bytes in a process image (keys.bats, the core dump
measurement).

  keys_scan.py core CORE KEY [--pass FILE] [--maps MAPS]
      search the ELF core file CORE (gcore's) for KEY's secret bytes; each hit is located by
      virtual address in the core's PT_LOAD segments and named by MAPS (a copy of
      /proc/PID/maps taken before the dump) or else by the core's NT_FILE note
  keys_scan.py pid PID KEY [--pass FILE]
      the same over the live process: every readable region of /proc/PID/maps read from
      /proc/PID/mem (root, or a ptrace-able process)
  keys_scan.py raw FILE KEY [--pass FILE]
      the same over any file as it is (the needles' own check: a key's PEM or DER file)
  keys_scan.py needles KEY [--pass FILE]
      list the needles (names and lengths), nothing searched

KEY is a PEM private key (EC or RSA; encrypted when --pass names the password file, whose
first line is the password). The needles, each searched as is:
  scalar: EC d (fixed length, big-endian) and its byte reversal (OpenSSL's BIGNUM limbs on a
          little-endian machine); RSA d, p, q the same way
  frag:   the two halves of each scalar (either byte order), a key split or copied in pieces;
          a half lying inside a hit of its whole scalar is not counted again
  der:    the key's traditional DER (SEC1 / PKCS#1) and its unencrypted PKCS#8 DER
  pem:    each full base64 line of the key's unencrypted PKCS#8 and traditional PEM bodies
Every needle is at least 16 random-looking bytes: a hit is the key, not chance.

Output: "image bytes=N regions=R", one "needle NAME kind=K len=L hits=H" per needle, one
"  hit NAME at 0xADDR (offset O) in MAPPING" per hit (the first 20 of each needle), and last
"total hits=T scalar=S frag=F der=D pem=P". Exit 0 whatever was found (2: usage or I/O error).
"""
import os
import re
import struct
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


def die(msg):
    sys.stderr.write("keys_scan.py: %s\n" % msg)
    sys.exit(2)


def load_key(path, passfile):
    data = open(path, "rb").read()
    pw = None
    if passfile:
        pw = open(passfile, "rb").read().split(b"\n")[0]
    return serialization.load_pem_private_key(data, password=pw)


def needles(key):
    out = []  # (name, kind, bytes)

    def num(name, v, length=None):
        n = length or (v.bit_length() + 7) // 8
        be = v.to_bytes(n, "big")
        out.append((name + "-be", "scalar", be))
        out.append((name + "-le", "scalar", be[::-1]))
        h = n // 2
        out.append((name + "-be-hi", "frag", be[:h]))
        out.append((name + "-be-lo", "frag", be[h:]))
        out.append((name + "-le-lo", "frag", be[::-1][:h]))
        out.append((name + "-le-hi", "frag", be[::-1][h:]))

    if isinstance(key, ec.EllipticCurvePrivateKey):
        num("ec-d", key.private_numbers().private_value, (key.curve.key_size + 7) // 8)
    elif isinstance(key, rsa.RSAPrivateKey):
        pn = key.private_numbers()
        num("rsa-d", pn.d)
        num("rsa-p", pn.p)
        num("rsa-q", pn.q)
    else:
        die("unsupported key type %s" % type(key).__name__)
    nc = serialization.NoEncryption()
    E, F = serialization.Encoding, serialization.PrivateFormat
    out.append(("der-traditional", "der", key.private_bytes(E.DER, F.TraditionalOpenSSL, nc)))
    out.append(("der-pkcs8", "der", key.private_bytes(E.DER, F.PKCS8, nc)))
    for fmt, tag in ((F.PKCS8, "pkcs8"), (F.TraditionalOpenSSL, "traditional")):
        pem = key.private_bytes(E.PEM, fmt, nc).decode()
        body = [l for l in pem.splitlines() if l and not l.startswith("-----")]
        for i, line in enumerate(body):
            if len(line) == 64:  # full lines only: the short last one may be mostly padding
                out.append(("pem-%s-line%d" % (tag, i + 1), "pem", line.encode()))
    for name, _, b in out:
        if len(b) < 16:
            die("needle %s is only %d bytes" % (name, len(b)))
    return out


def find_all(buf, pat):
    i = buf.find(pat)
    while i >= 0:
        yield i
        i = buf.find(pat, i + 1)


# ---- maps -------------------------------------------------------------------------------------

MAPS_RE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+)\s+(\S+)\s+\S+\s+\S+\s+\d+\s*(.*)$")


def parse_maps(text):
    m = []
    for line in text.splitlines():
        r = MAPS_RE.match(line)
        if r:
            m.append((int(r.group(1), 16), int(r.group(2), 16), r.group(3), r.group(4) or "[anon]"))
    return m


def name_of(maps, addr):
    for lo, hi, perms, name in maps:
        if lo <= addr < hi:
            return "%s (%s %x-%x)" % (name, perms, lo, hi)
    return "[unknown mapping]"


# ---- ELF core ---------------------------------------------------------------------------------

def core_segments(data):
    """[(vaddr, offset, filesz)] of PT_LOAD and the NT_FILE mappings [(lo, hi, 'perms?', name)]."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        die("not a 64-bit little-endian ELF core")
    e_phoff, = struct.unpack_from("<Q", data, 0x20)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 0x36)
    loads, files = [], []
    for i in range(e_phnum):
        p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align = \
            struct.unpack_from("<IIQQQQQQ", data, e_phoff + i * e_phentsize)
        if p_type == 1:
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == 4:
            off, end = p_offset, p_offset + p_filesz
            while off + 12 <= end:
                namesz, descsz, ntype = struct.unpack_from("<III", data, off)
                desc = off + 12 + ((namesz + 3) & ~3)
                if ntype == 0x46494C45:  # NT_FILE
                    count, pagesz = struct.unpack_from("<QQ", data, desc)
                    ents = [struct.unpack_from("<QQQ", data, desc + 16 + 24 * k) for k in range(count)]
                    names = data[desc + 16 + 24 * count: desc + descsz].split(b"\0")
                    for k, (lo, hi, _) in enumerate(ents):
                        files.append((lo, hi, "file", names[k].decode(errors="replace") if k < len(names) else "?"))
                off = desc + ((descsz + 3) & ~3)
    return loads, files


def drop_frags_inside_scalars(hits_by, ndl):
    """A half of a scalar found where the whole scalar is counts once, as the scalar."""
    spans = []
    for name, kind, b in ndl:
        if kind == "scalar":
            spans += [(addr, addr + len(b)) for addr, _, _ in hits_by.get(name, [])]
    for name, kind, b in ndl:
        if kind == "frag" and name in hits_by:
            hits_by[name] = [h for h in hits_by[name]
                             if not any(lo <= h[0] and h[0] + len(b) <= hi for lo, hi in spans)]


def report(hits_by, ndl, total_bytes, nregions):
    drop_frags_inside_scalars(hits_by, ndl)
    print("image bytes=%d regions=%d" % (total_bytes, nregions))
    kinds = {"scalar": 0, "frag": 0, "der": 0, "pem": 0}
    for name, kind, b in ndl:
        hs = hits_by.get(name, [])
        kinds[kind] += len(hs)
        print("needle %s kind=%s len=%d hits=%d" % (name, kind, len(b), len(hs)))
        for addr, off, where in hs[:20]:
            print("  hit %s at 0x%x (offset %d) in %s" % (name, addr, off, where))
    print("total hits=%d scalar=%d frag=%d der=%d pem=%d" % (
        sum(kinds.values()), kinds["scalar"], kinds["frag"], kinds["der"], kinds["pem"]))


def scan_core(core, ndl, mapsfile):
    data = open(core, "rb").read()
    loads, files = core_segments(data)
    maps = parse_maps(open(mapsfile).read()) if mapsfile else []
    hits_by = {}
    for name, kind, pat in ndl:
        for off in find_all(data, pat):
            addr, where = None, "[outside PT_LOAD: ELF notes/headers]"
            for vaddr, poff, fsz in loads:
                if poff <= off < poff + fsz:
                    addr = vaddr + off - poff
                    break
            if addr is not None:
                where = name_of(maps, addr) if maps else None
                if not maps or where == "[unknown mapping]":
                    fn = name_of(files, addr)
                    where = fn if fn != "[unknown mapping]" else "[anon or heap, no NT_FILE entry]"
            hits_by.setdefault(name, []).append((addr or 0, off, where))
    report(hits_by, ndl, len(data), len(loads))


def scan_pid(pid, ndl):
    maps = parse_maps(open("/proc/%d/maps" % pid).read())
    hits_by, total, n = {}, 0, 0
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        for lo, hi, perms, name in maps:
            if perms[0] != "r" or name == "[vvar]" or name == "[vsyscall]":
                continue
            try:
                mem.seek(lo)
                buf = mem.read(hi - lo)
            except (OSError, ValueError, OverflowError):
                continue
            if not buf:
                continue
            n += 1
            total += len(buf)
            for nm, kind, pat in ndl:
                for off in find_all(buf, pat):
                    hits_by.setdefault(nm, []).append(
                        (lo + off, off, "%s (%s %x-%x)" % (name, perms, lo, hi)))
    report(hits_by, ndl, total, n)


def scan_raw(path, ndl):
    data = open(path, "rb").read()
    hits_by = {}
    for name, kind, pat in ndl:
        for off in find_all(data, pat):
            hits_by.setdefault(name, []).append((off, off, path))
    report(hits_by, ndl, len(data), 1)


def main(argv):
    if len(argv) < 3:
        die("usage: keys_scan.py core CORE KEY [--pass F] [--maps M] | pid PID KEY [--pass F] | raw FILE KEY [--pass F] | needles KEY [--pass F]")
    mode = argv[1]
    args, opts, i = [], {}, 2
    while i < len(argv):
        if argv[i] in ("--pass", "--maps") and i + 1 < len(argv):
            opts[argv[i]] = argv[i + 1]
            i += 2
        else:
            args.append(argv[i])
            i += 1
    try:
        if mode == "needles":
            ndl = needles(load_key(args[0], opts.get("--pass")))
            for name, kind, b in ndl:
                print("needle %s kind=%s len=%d" % (name, kind, len(b)))
        elif mode == "core":
            ndl = needles(load_key(args[1], opts.get("--pass")))
            scan_core(args[0], ndl, opts.get("--maps"))
        elif mode == "raw":
            ndl = needles(load_key(args[1], opts.get("--pass")))
            scan_raw(args[0], ndl)
        elif mode == "pid":
            ndl = needles(load_key(args[1], opts.get("--pass")))
            scan_pid(int(args[0]), ndl)
        else:
            die("unknown mode %s" % mode)
    except (OSError, IndexError) as e:
        die(str(e))


if __name__ == "__main__":
    main(sys.argv)
