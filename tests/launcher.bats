#!/usr/bin/env bats
# launcher.bats: the launcher refuses, before exec, a program LD_PRELOAD would not reach (a library that
# cannot load, static, secure mode, scripts of those, Go); `mtlsshim check PROGRAM...` says the same.

load helpers

setup_file() { common_setup_file; }
setup() {
	require_build
	[ -x "$PROGS/static_hello" ] || skip "static_hello not built (make)"
	C=$(server_conf launch "$(free_port)")
	M=$BATS_TEST_TMPDIR/ran.marker
	TOUCH=$(type -P touch)
}
teardown() {
	common_teardown
	if [ -f "$BATS_TEST_TMPDIR/nbdirs" ]; then xargs rm -rf < "$BATS_TEST_TMPDIR/nbdirs"; fi
}

# as_launcher LAUNCHER ARGS...: runs another launcher binary the way launcher() runs ours.
as_launcher() {
	local l=$1; shift
	if asan_build; then
		LD_PRELOAD="$(gcc -print-file-name=libasan.so)${LD_PRELOAD:+:$LD_PRELOAD}" "$l" "$@"
	else
		"$l" "$@"
	fi
}

# assert_refused STDERR CMD...: exit 78, exactly the line STDERR on stderr, nothing on stdout and
# no marker $M: the program never ran.
assert_refused() {
	local want=$1; shift
	run --separate-stderr "$@"
	show
	[ "$status" -eq 78 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[ "$stderr" = "$want" ] || { echo "wanted stderr: $want"; return 1; }
	[ -z "$output" ]
	[ ! -e "$M" ]
}

# assert_ran CMD...: exit 0 and the marker $M exists.
assert_ran() {
	run --separate-stderr "$@"
	show
	[ "$status" -eq 0 ]
	[ -e "$M" ]
	rm -f "$M"
}

# interp_of ELF: its PT_INTERP.
interp_of() { readelf -lW "$1" | sed -n 's/.*Requesting program interpreter: \(.*\)\]$/\1/p'; }

# require_suid_fs DIR: set-id bits count on DIR's file system (the kernel ignores them on nosuid).
require_suid_fs() {
	python3 -c 'import os, sys; sys.exit(1 if os.statvfs(sys.argv[1]).f_flag & os.ST_NOSUID else 0)' "$1" ||
		skip "$1 is on a nosuid file system"
}

# nobody_dir: a fresh directory user nobody owns, with an empty (rule-less) config; sets NB.
nobody_dir() {
	command -v setpriv >/dev/null || skip "setpriv missing"
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$LAUNCHER" 2>/dev/null ||
		skip "nobody cannot run the build directory's launcher"
	NB=$(mktemp -d /tmp/mtlsshim-launch.XXXXXX)
	echo "$NB" >> "$BATS_TEST_TMPDIR/nbdirs"
	: > "$NB/empty.conf"
	chmod 644 "$NB/empty.conf"
	chown nobody "$NB"
	chmod 755 "$NB"
}

# as_nobody CMD...: CMD as user nobody (group nogroup), with the ASan runtime where needed.
as_nobody() {
	local pre=""
	asan_build && pre="$(gcc -print-file-name=libasan.so)"
	env ${pre:+LD_PRELOAD=$pre} setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}

@test "a dynamic program runs under the launcher; its exit status passes through" {
	assert_ran launcher -c "$C" "$TOUCH" "$M"
	run launcher -c "$C" sh -c 'exit 7'
	[ "$status" -eq 7 ]
	# execvp's search: a name without a slash through PATH, arguments untouched.
	run launcher -c "$C" sh -c 'printf "<%s>" "$0" "$@"' zero 'a b' ''
	show
	[ "$status" -eq 0 ]
	[ "$output" = "<zero><a b><>" ]
}

@test "a statically linked program: refused, exit 78, one line, not run" {
	assert_refused "mtlsshim: $PROGS/static_hello: statically linked: LD_PRELOAD cannot reach it" \
		launcher -c "$C" "$PROGS/static_hello" "$M"
	# Found through PATH, the line names the file found.
	PATH=$PROGS:$PATH assert_refused "mtlsshim: $PROGS/static_hello: statically linked: LD_PRELOAD cannot reach it" \
		launcher -c "$C" static_hello "$M"
}

@test "a program that is not found or not executable: 127 / 126 with one line, as a shell" {
	run -127 --separate-stderr launcher -c "$C" mtlsshim-no-such-program
	show
	[ "$status" -eq 127 ]
	[ "$stderr" = "mtlsshim: mtlsshim-no-such-program: No such file or directory" ]
	local f=$BATS_TEST_TMPDIR/noexec
	printf '#!/bin/sh\ntouch "%s"\n' "$M" > "$f"
	chmod 644 "$f"
	run --separate-stderr launcher -c "$C" "$f"
	show
	[ "$status" -eq 126 ]
	[ "$stderr" = "mtlsshim: $f: Permission denied" ]
	[ ! -e "$M" ]
	# As execvp: a PATH entry whose file is not executable is passed over for a later one.
	mkdir -p "$BATS_TEST_TMPDIR/p1" "$BATS_TEST_TMPDIR/p2"
	cp "$f" "$BATS_TEST_TMPDIR/p1/lprog"
	cp "$f" "$BATS_TEST_TMPDIR/p2/lprog"
	chmod 755 "$BATS_TEST_TMPDIR/p2/lprog"
	PATH=$BATS_TEST_TMPDIR/p1:$BATS_TEST_TMPDIR/p2:$PATH assert_ran launcher -c "$C" lprog
	chmod 644 "$BATS_TEST_TMPDIR/p2/lprog"
	PATH=$BATS_TEST_TMPDIR/p1:$BATS_TEST_TMPDIR/p2:$PATH run --separate-stderr launcher -c "$C" lprog
	show
	[ "$status" -eq 126 ]
	[ "$stderr" = "mtlsshim: lprog: Permission denied" ]
}

@test "setuid to another user (launched by root): refused; without the bit, or setuid root, it runs" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	require_suid_fs "$BATS_TEST_TMPDIR"
	local f=$BATS_TEST_TMPDIR/suid-touch
	cp "$TOUCH" "$f"
	chown nobody "$f"
	chmod 4755 "$f"
	assert_refused "mtlsshim: $f: setuid nobody: ld.so ignores LD_PRELOAD in secure-execution mode" \
		launcher -c "$C" "$f" "$M"
	chmod u-s "$f"
	assert_ran launcher -c "$C" "$f" "$M"
	# Root running a setuid-root program stays root: no secure mode.
	chown root "$f"
	chmod 4755 "$f"
	assert_ran launcher -c "$C" "$f" "$M"
}

@test "setgid to a group the caller is not in: refused; without the bit it runs" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	require_suid_fs "$BATS_TEST_TMPDIR"
	local f=$BATS_TEST_TMPDIR/sgid-touch g
	g=$(id -gn nobody)
	cp "$TOUCH" "$f"
	chgrp "$g" "$f"
	chmod 2755 "$f"
	assert_refused "mtlsshim: $f: setgid $g: ld.so ignores LD_PRELOAD in secure-execution mode" \
		launcher -c "$C" "$f" "$M"
	chmod g-s "$f"
	assert_ran launcher -c "$C" "$f" "$M"
}

@test "file capabilities: refused for a user, not for root (who gains nothing from them)" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	command -v setcap >/dev/null || skip "setcap missing"
	nobody_dir
	require_suid_fs "$NB"
	local f=$NB/cap-touch
	M=$NB/ran.marker
	cp "$TOUCH" "$f"
	setcap cap_net_bind_service+ep "$f" || skip "cannot set file capabilities here"
	assert_refused "mtlsshim: $f: file capabilities: ld.so ignores LD_PRELOAD in secure-execution mode" \
		as_nobody "$LAUNCHER" -c "$NB/empty.conf" "$f" "$M"
	assert_ran launcher -c "$NB/empty.conf" "$f" "$M"
	setcap -r "$f"
	assert_ran as_nobody "$LAUNCHER" -c "$NB/empty.conf" "$f" "$M"
}

@test "the library missing: refused, naming it (MTLSSHIM_LIBRARY, and a launcher copy with none beside it)" {
	local d=$BATS_TEST_TMPDIR/nolib
	mkdir -p "$d"
	MTLSSHIM_LIBRARY=$d/libmtlsshim.so assert_refused \
		"mtlsshim: $TOUCH: cannot preload $d/libmtlsshim.so: cannot open shared object file: No such file or directory" \
		launcher -c "$C" "$TOUCH" "$M"
	# A copy alone falls back to LIBDIR, which must hold no library either for the line to be known.
	cp "$LAUNCHER" "$d/mtlsshim"
	local inst=/usr/local/lib/mtlsshim/libmtlsshim.so
	[ ! -e "$inst" ] || skip "$inst is installed"
	assert_refused "mtlsshim: $TOUCH: cannot preload $inst: cannot open shared object file: No such file or directory" \
		as_launcher "$d/mtlsshim" -c "$C" "$TOUCH" "$M"
}

@test "a library that cannot be loaded (garbage, truncated, an executable, a missing dependency): refused" {
	local d=$BATS_TEST_TMPDIR/badlib
	mkdir -p "$d"
	cp "$LAUNCHER" "$d/mtlsshim"
	head -c 4096 /dev/zero > "$d/libmtlsshim.so"
	assert_refused "mtlsshim: $TOUCH: cannot preload $d/libmtlsshim.so: invalid ELF header" \
		as_launcher "$d/mtlsshim" -c "$C" "$TOUCH" "$M"
	# Truncated: dlopen would map pages past the end and die of SIGBUS; the launcher looks first.
	head -c 8192 "$SHIMLIB" > "$d/libmtlsshim.so"
	assert_refused "mtlsshim: $TOUCH: cannot preload $d/libmtlsshim.so: truncated: its segments end past the end of the file" \
		as_launcher "$d/mtlsshim" -c "$C" "$TOUCH" "$M"
	cp "$TOUCH" "$d/libmtlsshim.so"
	assert_refused "mtlsshim: $TOUCH: cannot preload $d/libmtlsshim.so: cannot dynamically load position-independent executable" \
		as_launcher "$d/mtlsshim" -c "$C" "$TOUCH" "$M"
	# A dependency ld.so cannot find.
	echo 'int mtlsdep(void) { return 1; }' > "$d/dep.c"
	echo 'int mtlsdep(void); int f(void) { return mtlsdep(); }' > "$d/lib.c"
	cc -shared -fPIC -o "$d/libmtlsdep.so" "$d/dep.c"
	cc -shared -fPIC -Wl,--no-as-needed -o "$d/needsdep.so" "$d/lib.c" -L"$d" -lmtlsdep
	rm "$d/libmtlsdep.so"
	MTLSSHIM_LIBRARY=$d/needsdep.so assert_refused \
		"mtlsshim: $TOUCH: cannot preload $d/needsdep.so: libmtlsdep.so: cannot open shared object file: No such file or directory" \
		launcher -c "$C" "$TOUCH" "$M"
}

@test "a script whose interpreter LD_PRELOAD cannot reach: refused, through env and nested too" {
	local s=$BATS_TEST_TMPDIR/static.sh
	printf '#!%s\n' "$PROGS/static_hello" > "$s"
	chmod 755 "$s"
	assert_refused "mtlsshim: $s: interpreter $PROGS/static_hello: statically linked: LD_PRELOAD cannot reach it" \
		launcher -c "$C" "$s" "$M"
	local e=$BATS_TEST_TMPDIR/env.sh
	printf '#!/usr/bin/env static_hello\n' > "$e"
	chmod 755 "$e"
	PATH=$PROGS:$PATH assert_refused \
		"mtlsshim: $e: interpreter $PROGS/static_hello (through env): statically linked: LD_PRELOAD cannot reach it" \
		launcher -c "$C" "$e" "$M"
	local n=$BATS_TEST_TMPDIR/nested.sh
	printf '#!%s\n' "$s" > "$n"
	chmod 755 "$n"
	assert_refused "mtlsshim: $n: interpreter $s: interpreter $PROGS/static_hello: statically linked: LD_PRELOAD cannot reach it" \
		launcher -c "$C" "$n" "$M"
	# env -i would drop LD_PRELOAD on the way.
	local i=$BATS_TEST_TMPDIR/envi.sh
	printf '#!/usr/bin/env -i sh\ntouch "%s"\n' "$M" > "$i"
	chmod 755 "$i"
	assert_refused "mtlsshim: $i: its #! line runs env -i, which clears LD_PRELOAD" launcher -c "$C" "$i"
}

@test "scripts with a dynamic interpreter run, with or without a #! line (execvp's /bin/sh)" {
	local s=$BATS_TEST_TMPDIR/ok.sh
	printf '#!/bin/sh\ntouch "$1"\nexit 3\n' > "$s"
	chmod 755 "$s"
	run launcher -c "$C" "$s" "$M"
	show
	[ "$status" -eq 3 ]
	[ -e "$M" ] && rm -f "$M"
	printf 'touch "$1"\n' > "$s"
	assert_ran launcher -c "$C" "$s" "$M"
	printf '#!/usr/bin/env sh\ntouch "$1"\n' > "$s"
	assert_ran launcher -c "$C" "$s" "$M"
}

@test "a Go program (fzf): refused; --allow-go runs it" {
	command -v fzf >/dev/null || skip "fzf missing (tests/deps.sh installs it)"
	local fzf; fzf=$(type -P fzf)
	assert_refused "mtlsshim: $fzf: a Go program: its network I/O bypasses libc (--allow-go runs it anyway)" \
		launcher -c "$C" fzf --version
	run --separate-stderr launcher -c "$C" --allow-go fzf --version
	show
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^[0-9]+\.[0-9]+ ]]
}

@test "check PROGRAM...: a verdict per program and for the library, nothing run, 78 if any is refused" {
	local good; good=$(type -P true)
	local suid=$BATS_TEST_TMPDIR/suid-touch s=$BATS_TEST_TMPDIR/static.sh lib
	cp "$TOUCH" "$suid"
	chown nobody "$suid"
	chmod 4755 "$suid"
	printf '#!%s\n' "$PROGS/static_hello" > "$s"
	chmod 755 "$s"
	run --separate-stderr launcher check -c "$C" "$good"
	show
	[ "$status" -eq 0 ]
	lib=$(printf '%s\n' "$output" | sed -n 's/^library \(.*\): ok$/\1/p')
	[ -n "$lib" ]
	[ "${lines[-3]}" = "library $lib: ok" ]
	[ "${lines[-2]}" = "program $good: ok (dynamically linked, interpreter $(interp_of "$good"))" ]
	[ "${lines[-1]}" = ok ]
	local want=("library $lib: ok"
		"program $good: ok (dynamically linked, interpreter $(interp_of "$good"))"
		"program $PROGS/static_hello: refused: statically linked: LD_PRELOAD cannot reach it")
	[ "$(id -u)" = 0 ] && want+=("program $suid: refused: setuid nobody: ld.so ignores LD_PRELOAD in secure-execution mode")
	want+=("program $s: refused: interpreter $PROGS/static_hello: statically linked: LD_PRELOAD cannot reach it")
	local progs=("$good" "$PROGS/static_hello" "$suid" "$s")
	[ "$(id -u)" = 0 ] || progs=("$good" "$PROGS/static_hello" "$s")
	if command -v fzf >/dev/null; then
		want+=("program $(type -P fzf): refused: a Go program: its network I/O bypasses libc (--allow-go runs it anyway)")
		progs+=(fzf)
	fi
	want+=(FAILED)
	run --separate-stderr launcher check -c "$C" "${progs[@]}" "$M"
	show
	[ "$status" -eq 78 ]
	# The last lines, then the marker as a program that is not found.
	local n=${#want[@]} i
	[ "${lines[-1]}" = FAILED ]
	[ "${lines[-2]}" = "program $M: refused: No such file or directory" ]
	for ((i = 0; i < n - 1; i++)); do
		[ "${lines[$((${#lines[@]} - n - 1 + i))]}" = "${want[$i]}" ] ||
			{ echo "line $i: wanted ${want[$i]}"; return 1; }
	done
	[ "${#stderr_lines[@]}" -eq 1 ]
	[ "$stderr" = "mtlsshim: $PROGS/static_hello: statically linked: LD_PRELOAD cannot reach it" ]
	[ ! -e "$M" ]
	# --allow-go: fzf passes, as a Go program.
	if command -v fzf >/dev/null; then
		run --separate-stderr launcher check -c "$C" --allow-go fzf
		show
		[ "$status" -eq 0 ]
		[ "${lines[-2]}" = "program $(type -P fzf): ok (a Go program allowed by --allow-go, dynamically linked, interpreter $(interp_of "$(type -P fzf)"))" ]
	fi
}

@test "check --json PROGRAM...: \"library\" and \"programs\" with path, ok and reason" {
	local good; good=$(type -P true)
	local s=$BATS_TEST_TMPDIR/static.sh
	printf '#!%s\n' "$PROGS/static_hello" > "$s"
	chmod 755 "$s"
	run --separate-stderr launcher check -c "$C" --json "$good" "$PROGS/static_hello" "$s"
	show
	[ "$status" -eq 78 ]
	printf '%s\n' "$output" > "$BATS_TEST_TMPDIR/check.json"
	python3 - "$BATS_TEST_TMPDIR/check.json" "$good" "$PROGS/static_hello" "$s" "$(interp_of "$good")" <<-'PY'
	import json, sys
	d = json.load(open(sys.argv[1]))
	good, static, script, interp = sys.argv[2:6]
	assert d["ok"] is False, d
	assert d["rules"] and d["rules"][0]["errors"] == [], d
	assert d["library"]["ok"] is True and d["library"]["reason"] is None, d["library"]
	p = d["programs"]
	assert [x["path"] for x in p] == [good, static, script], p
	assert p[0]["ok"] is True and p[0]["reason"] is None, p[0]
	assert p[0]["detail"] == "dynamically linked, interpreter " + interp, p[0]
	assert p[1]["ok"] is False and p[1]["status"] == 78, p[1]
	assert p[1]["reason"] == "statically linked: LD_PRELOAD cannot reach it", p[1]
	assert p[2]["reason"] == "interpreter %s: statically linked: LD_PRELOAD cannot reach it" % static, p[2]
	PY
	# Without programs the document is as before: no "library", no "programs".
	run --separate-stderr launcher check -c "$C" --json
	[ "$status" -eq 0 ]
	python3 -c 'import json, sys; d = json.loads(sys.argv[1]); assert "programs" not in d and "library" not in d and d["ok"]' "$output"
}

@test "check PROGRAM: a library that cannot be loaded fails the check" {
	MTLSSHIM_LIBRARY=$BATS_TEST_TMPDIR/none.so run --separate-stderr launcher check -c "$C" "$TOUCH"
	show
	[ "$status" -eq 78 ]
	[ "${lines[-3]}" = "library $BATS_TEST_TMPDIR/none.so: cannot be loaded: cannot open shared object file: No such file or directory" ]
	[ "${lines[-1]}" = FAILED ]
	[ "$stderr" = "mtlsshim: $BATS_TEST_TMPDIR/none.so: cannot be loaded: cannot open shared object file: No such file or directory" ]
}
