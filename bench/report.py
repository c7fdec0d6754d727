#!/usr/bin/env python3
"""bench/report.py WORKDIR OUTDIR: the table of a bench/run.sh run.

Reads WORKDIR/raw.txt ("KEY VALUE [REP]" per measurement, several per KEY: the
median is kept; a ratio between two keys is the median of the ratios of their runs
with the same REP, which ran back to back, where they have such pairs), meta.txt ("KEY<TAB>TEXT") and failed.txt (keys that failed), prints the
table, and writes OUTDIR/bench.csv, OUTDIR/README-table.md and WORKDIR/chart.dat
(the data of bench/chart.gp).
"""
import collections
import csv
import math
import os
import re
import statistics
import sys

W, OUT = sys.argv[1], sys.argv[2]

raw = collections.defaultdict(list)
byrep = collections.defaultdict(dict)
with open(os.path.join(W, "raw.txt")) as f:
    for line in f:
        parts = line.split()
        if len(parts) in (2, 3):
            try:
                raw[parts[0]].append(float(parts[1]))
            except ValueError:
                continue
            if len(parts) == 3:
                byrep[parts[0]][parts[2]] = float(parts[1])
meta = {}
with open(os.path.join(W, "meta.txt")) as f:
    for line in f:
        k, _, v = line.rstrip("\n").partition("\t")
        meta[k] = v
failed = set()
if os.path.exists(os.path.join(W, "failed.txt")):
    with open(os.path.join(W, "failed.txt")) as f:
        failed = {l.strip() for l in f if l.strip()}


# Thread scaling, memcached -t 2 over -t 1, per repetition (the two ran in the same one).
for mode in ("plain", "shim"):
    t1, t2 = byrep.get(f"mc.t1.{mode}", {}), byrep.get(f"mc.t2.{mode}", {})
    for rep in sorted(set(t1) & set(t2)):
        if t1[rep]:
            raw[f"mc.scale.{mode}"].append(t2[rep] / t1[rep])
            byrep[f"mc.scale.{mode}"][rep] = t2[rep] / t1[rep]


def med(key):
    """Median of KEY's runs, or None when it has none (or one of them failed)."""
    if key is None or not raw.get(key):
        return None
    return statistics.median(raw[key])


def nruns(key):
    return len(raw.get(key, [])) if key else 0


def failed_key(key):
    """The failed.txt key of a raw key (rb and rss record finer keys)."""
    if key is None:
        return False
    parts = key.split(".")
    return any(".".join(parts[:i]) in failed for i in range(1, len(parts) + 1))


# redis's own TLS (redis-server --tls-port, redis-benchmark --tls): OpenSSL inside the
# program itself, the reference of the request/response rows.
NATIVE = "redis TLS"
# BENCH_BASE: the library at that ref, "old", against the build under test.
OLD = f"old {meta['base']}" if "base" in meta else None


def old_ref(key):
    """(label, key) of the old library's figure for KEY, where the run measured one."""
    return (OLD, key) if OLD and (raw.get(key) or failed_key(key)) else None


# Each row: workload, unit, better ("hi"/"lo"), raw keys of plain/stunnel/shim,
# a reference (label, key) where the target compares against something else,
# and the target: (text, kind, threshold) with kind
#   plain / stunnel / ref: shim/that >= threshold (hi) ;  abs_le: shim <= threshold ;
#   delta_le: shim - plain <= threshold ; both: (plain t1, stunnel t2) ;
#   zero: |shim| <= threshold (shown with 3 decimals) ; None: information.
ROWS = [
    ("bulk: iperf3 1 stream, 5 s", "Gbit/s", "hi", "bulk.plain", "bulk.stunnel", "bulk.shim",
     None, ("≥0.6× plain, ≥2.5× stunnel", "both", (0.6, 2.5))),
    ("redis GET -c 1", "req/s", "hi", "c1.plain.get.rps", "c1.stunnel.get.rps", "c1.shim.get.rps",
     (NATIVE, "c1.native.get.rps"), ("≥0.85× plain", "plain", 0.85)),
    ("redis SET -c 1", "req/s", "hi", "c1.plain.set.rps", "c1.stunnel.set.rps", "c1.shim.set.rps",
     (NATIVE, "c1.native.set.rps"), ("≥0.85× plain", "plain", 0.85)),
    ("redis GET -c 50", "req/s", "hi", "c50.plain.get.rps", "c50.stunnel.get.rps", "c50.shim.get.rps",
     (NATIVE, "c50.native.get.rps"), ("≥0.8× plain", "plain", 0.8)),
    ("redis SET -c 50", "req/s", "hi", "c50.plain.set.rps", "c50.stunnel.set.rps", "c50.shim.set.rps",
     (NATIVE, "c50.native.set.rps"), ("≥0.8× plain", "plain", 0.8)),
    ("p50 latency GET -c 1", "ms", "lo", "c1.plain.get.p50", "c1.stunnel.get.p50", "c1.shim.get.p50",
     (NATIVE, "c1.native.get.p50"), None),
    ("p50 latency SET -c 1", "ms", "lo", "c1.plain.set.p50", "c1.stunnel.set.p50", "c1.shim.set.p50",
     (NATIVE, "c1.native.set.p50"), None),
    ("p50 latency GET -c 50", "ms", "lo", "c50.plain.get.p50", "c50.stunnel.get.p50", "c50.shim.get.p50",
     (NATIVE, "c50.native.get.p50"), None),
    ("p50 latency SET -c 50", "ms", "lo", "c50.plain.set.p50", "c50.stunnel.set.p50", "c50.shim.set.p50",
     (NATIVE, "c50.native.set.p50"), None),
    ("CPU per request -c 50 (redis-server + redis-benchmark)", "µs", "lo", "cpu50.plain", None,
     "cpu50.shim", (NATIVE, "cpu50.native"), None),
    ("conn/request: GET -k 0, full handshake", "req/s", "hi", "k0.plain.get.rps",
     "k0.stunnel_full.get.rps", "k0.shim_full.get.rps", None, ("≥2× stunnel", "stunnel", 2.0)),
    ("conn/request: GET -k 0, resumption", "req/s", "hi", "k0.plain.get.rps",
     "k0.stunnel.get.rps", "k0.shim_resumed.get.rps", ("shim full", "k0.shim_full.get.rps"),
     ("≥3× shim full", "ref", 3.0)),
    ("handshakes/s (s_time -new)", "1/s", "hi", None, "hs.stunnel", "hs.shim",
     ("s_server", "hs.s_server"), ("≥0.95× s_server", "ref", 0.95)),
    # Admitted handshakes (bench/hsclient.py: a PING on each) to a server under a rule with
    # ocsp = "leaf", its OCSP cache warm, against the shimmed server without it.
    ("handshakes/s admitted (hsclient.py PING)", "1/s", "hi", None, None, "hs.shim_ping",
     None, None),
    ('handshakes/s admitted, ocsp = "leaf", warm cache', "1/s", "hi", None, None, "hs.shim_ocsp",
     ("shim", "hs.shim_ping"), ("≥0.9× shim", "ref", 0.9)),
    # The counters (stats = true, every other shim row's default) against stats = false.
    ("stats = true: redis GET -c 50", "req/s", "hi", None, None, "st50.shim.get.rps",
     ("stats = false", "st50.shim_nostats.get.rps"), ("≥0.97× stats = false", "ref", 0.97)),
    ("stats = true: redis SET -c 50", "req/s", "hi", None, None, "st50.shim.set.rps",
     ("stats = false", "st50.shim_nostats.set.rps"), ("≥0.97× stats = false", "ref", 0.97)),
    ("stats = true: handshakes/s admitted (hsclient.py PING)", "1/s", "hi", None, None, "hs.stats_on",
     ("stats = false", "hs.stats_off"), ("≥0.97× stats = false", "ref", 0.97)),
    (f"server RSS per idle conn ({int(meta.get('rss_n', 1000)):,})", "KiB", "lo", "rss.plain", "rss.stunnel", "rss.shim",
     None, ("≤40 KiB", "abs_le", 40.0)),
    ("start-up: /bin/true (preload, root)", "ms", "lo", "start.plain", None, "start.shim",
     None, ("≤+2 ms over plain", "delta_le", 2.0)),
    ("start-up: /bin/true (preload, unprivileged, repeat)", "ms", "lo", "start.user.plain", None,
     "start.user.shim", None, ("≤+2 ms over plain", "delta_le", 2.0)),
    ("start-up: /bin/true (launcher)", "ms", "lo", "start.plain", None, "start.launcher",
     None, None),
    # Counting build (-DMTLSSHIM_LOCKSTAT), server and client together, handshakes excluded.
    ("process-wide lock acquisitions per request, redis -c 50 (steady state)", "locks/req", "lo",
     None, None, "locks.redis", old_ref("locks.redis.old"), ("0 in steady state", "zero", 0.0005)),
    ("process-wide lock acquisitions per request, memcached -t 2, memaslap -c 50 (steady state)",
     "locks/req", "lo", None, None, "locks.mc", old_ref("locks.mc.old"), ("0 in steady state", "zero", 0.0005)),
    ("memcached -t 1, memaslap -T 2 -c 50", "req/s", "hi", "mc.t1.plain", None, "mc.t1.shim", None, None),
    ("memcached -t 2, memaslap -T 2 -c 50", "req/s", "hi", "mc.t2.plain", None, "mc.t2.shim", None, None),
    ("memcached thread scaling: -t 2 over -t 1", "×", "hi", "mc.scale.plain", None, "mc.scale.shim",
     None, None),
]
# BENCH_BASE: the build under test (new) against the library at that ref (old), the
# reference column; only when the run had one.
if OLD:
    ROWS += [
        ("new / old library: redis GET -c 50", "req/s", "hi", None, None, "bc50.new.get.rps",
         (OLD, "bc50.old.get.rps"), None),
        ("new / old library: redis SET -c 50", "req/s", "hi", None, None, "bc50.new.set.rps",
         (OLD, "bc50.old.set.rps"), None),
        ("new / old library: CPU per request -c 50 (redis-server + redis-benchmark)", "µs", "lo",
         None, None, "bcpu50.new", (OLD, "bcpu50.old"), None),
        ("new / old library: memcached -t 1", "req/s", "hi", None, None, "bmc.t1.new",
         (OLD, "bmc.t1.old"), None),
        ("new / old library: memcached -t 2", "req/s", "hi", None, None, "bmc.t2.new",
         (OLD, "bmc.t2.old"), None),
    ]
# A partial run (BENCH_ONLY) shows only the rows it measured.
if "only" in meta:
    ROWS = [r for r in ROWS
            if any(k and (raw.get(k) or failed_key(k)) for k in (r[3], r[4], r[5], r[6] and r[6][1]))]


def fmt(v, unit):
    if v is None:
        return "—"
    if isinstance(v, str):
        return v
    if unit in ("req/s", "1/s"):
        return f"{v:,.0f}"
    if unit == "Gbit/s":
        return f"{v:.2f}"
    if unit == "locks/req":
        return f"{abs(v):.3f}" if abs(v) < 0.0005 else f"{v:.3f}"    # no "-0.000" from noise
    if unit == "ms":
        return f"{v:.3f}"
    if unit == "×":
        return f"{v:.2f}×"
    return f"{v:.1f}"


def ratio(a, b, ka=None, kb=None):
    """a/b for the medians a of key ka and b of kb: the median of the per-repetition
    ratios where the two keys have runs of the same repetitions, else a / b."""
    if a is None or b is None or b == 0:
        return None
    pa, pb = byrep.get(ka, {}), byrep.get(kb, {})
    pairs = [pa[r] / pb[r] for r in pa if r in pb and pb[r] != 0]
    if pairs:
        return statistics.median(pairs)
    return a / b


def fr(r):
    return "—" if r is None else f"{r:.2f}×"


table = []
for (name, unit, better, kp, ks, kx, ref, target) in ROWS:
    def val(k):
        if k is None:
            return None
        if failed_key(k) and not raw.get(k):
            return "ERR"
        return med(k)
    p, s, x = val(kp), val(ks), val(kx)
    rv = val(ref[1]) if ref else None
    num = lambda v: v if isinstance(v, float) else None
    rp, rs = ratio(num(x), num(p), kx, kp), ratio(num(x), num(s), kx, ks)
    rr = ratio(num(x), num(rv), kx, ref[1] if ref else None)
    if unit == "locks/req":
        rr = None    # against a target of 0, a ratio says nothing
    rrp = ratio(num(rv), num(p), ref[1] if ref else None, kp)
    measured, result = "", "info"
    if target:
        text, kind, thr = target
        if x == "ERR" or num(x) is None:
            result, measured = "ERR", "shim run failed"
        elif kind == "both":
            if rp is None or rs is None:
                result = "ERR"
            else:
                result = "PASS" if rp >= thr[0] and rs >= thr[1] else "MISS"
            measured = f"{fr(rp)} plain, {fr(rs)} stunnel"
        elif kind in ("plain", "stunnel", "ref"):
            r = {"plain": rp, "stunnel": rs, "ref": rr}[kind]
            lbl = {"plain": "plain", "stunnel": "stunnel", "ref": ref[0] if ref else ""}[kind]
            result = "ERR" if r is None else ("PASS" if r >= thr else "MISS")
            measured = f"{fr(r)} {lbl}"
        elif kind == "zero":
            result = "PASS" if abs(x) <= thr else "MISS"
            measured = f"{fmt(x, unit)} per request"
        elif kind == "abs_le":
            result = "PASS" if x <= thr else "MISS"
            measured = f"{x:.1f} {unit}"
        elif kind == "delta_le":
            if num(p) is None:
                result = "ERR"
            else:
                d = x - p
                result = "PASS" if d <= thr else "MISS"
                measured = f"+{d:.2f} ms" if d >= 0 else f"{d:.2f} ms"
    else:
        text = "—"
    # The OCSP row also needs the responder to have been asked once per server process.
    if kx == "hs.shim_ocsp" and "hs.ocsp_queries" in failed:
        result = "MISS" if result == "PASS" else result
        measured = (measured + "; " if measured else "") + "responder asked more than once"
    runs = max(nruns(kp), nruns(ks), nruns(kx))
    table.append(dict(
        workload=name, unit=unit, plain=p, stunnel=s, shim=x,
        ref_label=ref[0] if ref else "", ref=rv,
        ref_cell=f"{ref[0]} {fmt(rv, unit)}" if ref else "—",
        shim_plain=rp, shim_stunnel=rs, shim_ref=rr, ref_plain=rrp,
        runs_plain=raw.get(kp, []) if kp else [], runs_stunnel=raw.get(ks, []) if ks else [],
        runs_shim=raw.get(kx, []) if kx else [], runs_ref=raw.get(ref[1], []) if ref else [],
        target=text, measured=measured, result=result, runs=runs, better=better))

# ---- console table
hdr = ["#", "workload", "unit", "plain", "stunnel", "shim", "ref", "shim/plain",
       "shim/stunnel", "shim/ref", "ref/plain", "target", "measured", "result"]
lines = []
for i, r in enumerate(table, 1):
    lines.append([str(i), r["workload"], r["unit"], fmt(r["plain"], r["unit"]),
                  fmt(r["stunnel"], r["unit"]), fmt(r["shim"], r["unit"]), r["ref_cell"],
                  fr(r["shim_plain"]), fr(r["shim_stunnel"]), fr(r["shim_ref"]), fr(r["ref_plain"]),
                  r["target"], r["measured"] or "—",
                  r["result"]])
widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(hdr)]
right = {0, 3, 4, 5, 7, 8, 9, 10}


def row_text(cells):
    return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                     for i, (c, w) in enumerate(zip(cells, widths))).rstrip()


print()
print(f"mtlsshim benchmark — {meta.get('date', '')} — {meta.get('machine', '')}")
print(row_text(hdr))
print(row_text(["-" * w for w in widths]))
for l in lines:
    print(row_text(l))
print()
for k in ("native", "probe_server", "probe_client", "resumption_conf", "rss_plain", "rss_stunnel", "rss_shim",
          "ocsp", "ocsp_queries", "ocsp_admitted", "startup_tool", "locks.redis", "locks.redis_zero", "locks.mc", "locks.mc_zero", "locks.redis.old",
          "locks.mc.old", "locks_old", "lockstat_build",
          "memcached", "base_desc", "params", "only", "versions", "shim", "elapsed", "shim_log"):
    if k in meta:
        print(f"  {k}: {meta[k]}")
print()

# ---- CSV (numbers unformatted)
def num_or_blank(v):
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    return f"{v:.6g}"


with open(os.path.join(OUT, "bench.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["workload", "unit", "plain", "stunnel", "shim", "reference", "reference_value",
                "shim_over_plain", "shim_over_stunnel", "shim_over_reference", "target",
                "measured", "result", "runs", "plain_runs", "stunnel_runs", "shim_runs",
                "reference_over_plain", "reference_runs"])
    for r in table:
        w.writerow([r["workload"], r["unit"], num_or_blank(r["plain"]), num_or_blank(r["stunnel"]),
                    num_or_blank(r["shim"]), r["ref_label"], num_or_blank(r["ref"]),
                    num_or_blank(r["shim_plain"]), num_or_blank(r["shim_stunnel"]),
                    num_or_blank(r["shim_ref"]), r["target"], r["measured"], r["result"], r["runs"],
                    *(" ".join(f"{v:g}" for v in r[k]) for k in ("runs_plain", "runs_stunnel", "runs_shim")),
                    num_or_blank(r["ref_plain"]), " ".join(f"{v:g}" for v in r["runs_ref"])])

# ---- markdown for the README
md = []
md.append("<!-- generated by bench/run.sh; paste into README.md, section Performance -->")
md.append(f"Measured with `make bench` (runs `bash bench/run.sh`) on {meta.get('date', '?')}, "
          f"{meta.get('machine', '?')}; {meta.get('versions', '')}; mtlsshim {meta.get('shim', '?')}. "
          "Loopback only; *plain* is the same programs without TLS, *stunnel* puts a stunnel "
          "client and server (verify = 2, both with certificates) between them, *shim* runs both "
          "programs under mtlsshim. Figures are medians of the runs (iperf3 5 s each); "
          "ratios are shim divided by the baseline, as the median of the ratios of runs made "
          "back to back in the same repetition (so they need not equal the ratio of the "
          "medians shown).")
md.append("")
md.append("| workload | unit | plain | stunnel | mtlsshim | reference | shim / plain | shim / stunnel | shim / reference | reference / plain | target | measured | result |")
md.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |")
for r in table:
    shim_cell = fmt(r["shim"], r["unit"])
    meas = r["measured"] or "—"
    md.append(f"| {r['workload']} | {r['unit']} | {fmt(r['plain'], r['unit'])} | "
              f"{fmt(r['stunnel'], r['unit'])} | {shim_cell} | {r['ref_cell']} | {fr(r['shim_plain'])} | "
              f"{fr(r['shim_stunnel'])} | {fr(r['shim_ref'])} | {fr(r['ref_plain'])} | "
              f"{r['target']} | {meas} | {r['result']} |")
md.append("")
notes = []
if meta.get("native", "").startswith("not measured"):
    notes.append(f"Reference of the request/response rows, redis's own TLS: {meta['native']}.")
elif "native" in meta:
    notes.append(f"Reference of the request/response rows, *redis TLS*: redis's own TLS, {meta['native']}. "
                 "It is OpenSSL called by the program itself, so the shim cannot be expected to beat it "
                 "by much. Shim / reference above 1× means the shim is faster than the program's own "
                 "TLS in the throughput rows, and slower in the latency and CPU rows.")
if "probe_server" in meta or "probe_client" in meta:
    notes.append("Session resumption: " + "; ".join(
        meta[k] for k in ("probe_server", "probe_client") if k in meta) +
        ". " + meta.get("resumption_conf", "") + "; stunnel's client resumes by default, its "
        "full-handshake row sets `sessionResume = no`.")
for k in ("rss_plain", "rss_stunnel", "rss_shim"):
    if k in meta:
        notes.append(f"RSS {k[4:]}: {meta[k]}" + (" (stunnel server + redis)" if k == "rss_stunnel" else ""))
if "startup_tool" in meta:
    notes.append(f"Start-up: {meta['startup_tool']}; both commands run through `env`; repeat "
                 "starts with files that passed the checks before. Such a process loads the TLS "
                 "engine (libssl, libcrypto) at its first matched listen or connect; root does "
                 "it, and reads every file, earlier if it first calls chroot or gives up its ids "
                 + (f"({meta['startup_user']})." if "startup_user" in meta else "."))
if "params" in meta:
    notes.append(f"Parameters: {meta['params']}. Request/response and -k 0 rows are redis-benchmark "
                 "`-t get,set` / `-t get -k 0`; handshakes are `openssl s_time -new` against "
                 "`openssl s_server`, the stunnel server and the shimmed redis-server (and a second one "
                 "whose rule has `ocsp = \"leaf\"`).")
if "ocsp" in meta:
    notes.append(f"OCSP row: {meta['ocsp']}. Both admitted-handshake rows use bench/hsclient.py "
                 "(a full handshake, then PING and +PONG, on every connection): `openssl s_time` "
                 "closes once its own side is done, and against a TLS 1.3 server most of its "
                 "connections are reset before the server's checks and the program are reached. "
                 "The reference is the shimmed redis-server without OCSP in the same repetitions, so "
                 "shim / reference is the rate with `ocsp = \"leaf\"` over the rate without it" +
                 (f"; {meta['ocsp_queries']}" if "ocsp_queries" in meta else "") +
                 (f"; {meta['ocsp_admitted']}." if "ocsp_admitted" in meta else "."))
if med("floor.tls") is not None and med("floor.plain") is not None:
    fp, ft = med("floor.plain"), med("floor.tls")
    notes.append(f"OpenSSL alone (bench/recordcost.c: two TLS 1.3 endpoints in one thread over a "
                 f"socketpair, {meta.get('floor_cipher', '?')}, a 34-byte request and a 5-byte reply "
                 f"per round, no mtlsshim): {ft:.2f} µs of CPU per round against {fp:.2f} µs in "
                 f"plaintext, so +{ft - fp:.2f} µs per request is OpenSSL's own floor here; the "
                 "CPU-per-request row is the same measure for the two redis processes.")
if "locks.redis" in meta or "locks.mc" in meta:
    n1, n2 = (f"{int(v):,}" for v in meta.get("lock_n", "0 0").split())
    notes.append("Process-wide lock acquisitions (the tables, the engine loader, a rule's context: "
                 "every `plock`), counted by a build with `-DMTLSSHIM_LOCKSTAT` "
                 f"({meta.get('lockstat_build', '?')}) into one file that the server and the client "
                 "(both under the shim) add to. After a warm-up run, pairs of runs of "
                 f"{n1} and {n2} requests against one server start over the same 50 connections; "
                 "a pair gives (acquisitions₂ − acquisitions₁) / (requests₂ − requests₁), so "
                 "handshakes and set-up cancel out, and the row is the median of the pairs. "
                 "Raw totals, acquisitions in each run of a pair: " + " — ".join(
                     f"{w}: {meta[k]}" for w, k in (("redis", "locks.redis"), ("memcached", "locks.mc"),
                                                   (f"redis, {OLD}", "locks.redis.old"),
                                                   (f"memcached, {OLD}", "locks.mc.old"))
                     if k in meta) + "." + (f" {meta['locks_old'][:1].upper()}{meta['locks_old'][1:]}." if "locks_old" in meta else ""))
    notes[-1] = re.sub(r"\d{4,}", lambda m: f"{int(m.group()):,}", notes[-1])
if "memcached" in meta:
    notes.append(f"memcached rows: {meta['memcached']}; the server listens on loopback, plain or "
                 "under the shim (server rule), memaslap plain or under the shim (client rule); "
                 "client and server share the machine's cores. Thread scaling is each mode's "
                 "-t 2 figure over its -t 1 figure in the same repetition, and its shim/plain "
                 "says how much of plaintext's scaling the shim keeps.")
if "base_desc" in meta:
    notes.append(f"New / old library rows: the build under test (mtlsshim {meta.get('shim', '?')}) "
                 f"against {meta['base_desc']}, built in a git worktree at build-bench/base; both "
                 "libraries in the same run, the same configuration, back to back in each "
                 "repetition in alternating order; the reference column is the old library, "
                 "shim / reference is new / old.")
notes.append("Every run's figures are in bench/results/bench.csv (plain_runs, stunnel_runs, shim_runs): "
             "on a shared 2-core machine they can differ by 2x from run to run.")
for n in notes:
    md.append(f"- {n}")
with open(os.path.join(OUT, "README-table.md"), "w") as f:
    f.write("\n".join(md) + "\n")

# ---- chart data: throughput-like rows (higher is better), ratios
with open(os.path.join(W, "chart.dat"), "w") as f:
    f.write("label\tshim/plain\tshim/stunnel\tshim/reference\n")
    for r in table:
        if r["better"] != "hi":
            continue
        lab = (r["workload"].replace("conn/request: ", "").replace(", full handshake", " full")
               .replace(", resumption", " resumed").replace(": iperf3 1 stream, 5 s", "")
               .replace('handshakes/s admitted, ocsp = "leaf", warm cache', "handshakes/s OCSP")
               .replace("handshakes/s admitted (hsclient.py PING)", "handshakes/s PING")
               .replace("handshakes/s (s_time -new)", "handshakes/s")
               .replace("new / old library: ", "new/old ").replace(", memaslap -T 2 -c 50", "")
               .replace("memcached thread scaling: -t 2 over -t 1", "memcached t2/t1"))
        vals = [r["shim_plain"], r["shim_stunnel"], r["shim_ref"]]
        f.write(lab + "\t" + "\t".join("NaN" if v is None else f"{v:.4f}" for v in vals) + "\n")
