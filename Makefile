# mtlsshim: LD_PRELOAD mutual TLS for unmodified programs.
PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/bin
LIBDIR	?= $(PREFIX)/lib/mtlsshim
MANDIR	?= $(PREFIX)/share/man
DOCDIR	?= $(PREFIX)/share/doc/mtlsshim
# bats-core's bats_load_library searches $BATS_LIB_PATH, by default /usr/lib/bats.
BATSLIBDIR ?= $(PREFIX)/lib/bats
# /etc for the system prefixes; a private PREFIX keeps everything under it.
SYSCONFDIR ?= $(if $(filter /usr /usr/local,$(PREFIX)),/etc,$(PREFIX)/etc)/mtlsshim
DESTDIR	?=

CC	?= cc
B	?= build
CFLAGS	?= -O2 -g
SAN	?=
WARN	 = -Wall -Wextra -Wshadow -Wno-unused-parameter
DEFS	 = -D_GNU_SOURCE -DMTLSSHIM_LIBDIR='"$(LIBDIR)"'
ALL_CFLAGS = -std=c11 $(WARN) $(DEFS) -Isrc -fPIC -fvisibility=hidden $(SAN) $(CFLAGS)
LIBS	 = -lconfuse -lssl -lcrypto -ldl -pthread

# One group per folder of src/ (README "How it works"); arrows point down:
# hooks -> preload -> engine (through its ops table) -> common.
# src/common: pure modules; with the engine's tlsctx and identity they make the static
# library the launcher and the unit tests link.
COMMON	 = $(patsubst src/%.c,%,$(wildcard src/common/*.c))
CORE	 = $(filter-out common/real,$(COMMON)) engine/tlsctx engine/identity engine/crl \
	   engine/staple engine/ocsp_resp engine/ocsp_cache engine/ocsp_req engine/keystore \
	   engine/token engine/pinguard
# src/hooks and src/preload: libmtlsshim.so, which links no OpenSSL (src/engine/engine.h says why).
HOOKS	 = $(patsubst src/%.c,%,$(wildcard src/hooks/*.c))
PRELOAD	 = $(HOOKS) $(patsubst src/%.c,%,$(wildcard src/preload/*.c)) $(COMMON)
# src/engine: libmtlsshim-tls.so, the TLS engine, loaded by the preload when first needed.
TLSLIB	 = $(patsubst src/%.c,%,$(wildcard src/engine/*.c)) common/filedata common/lockstat \
	   common/stats
# src/cli: the launcher.
CLI	 = cli/main cli/progcheck cli/ownstatus cli/pki cli/pki_x509 cli/pki_file \
	   cli/statsnap cli/metrics cli/status
HDRS	 = $(wildcard src/*/*.h)

CORE_O	 = $(CORE:%=$(B)/%.o)
PRELOAD_O = $(PRELOAD:%=$(B)/%.o)
TLSLIB_O = $(TLSLIB:%=$(B)/%.o)
CLI_O	 = $(CLI:%=$(B)/%.o)
UNIT	 = $(patsubst tests/unit/%.c,$(B)/unit/%,$(wildcard tests/unit/test_*.c))
PROGS	 = $(patsubst tests/progs/%.c,$(B)/progs/%,$(wildcard tests/progs/*.c))
# stdiosock once more with _FORTIFY_SOURCE, as Debian builds programs: __dprintf_chk.
PROGS	+= $(B)/progs/stdiosock_chk

.PHONY: all clean install test unit check deps demo asan tsan bench compat fuzz valgrind
all: $(B)/libmtlsshim.so $(B)/libmtlsshim-tls.so $(B)/mtlsshim $(PROGS)

$(B)/%.o: src/%.c $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/libmtlsshim-core.a: $(CORE_O)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(B)/libmtlsshim.so: $(PRELOAD_O)
	$(CC) -shared $(SAN) -Wl,-z,defs -Wl,-soname,libmtlsshim.so -o $@ $(PRELOAD_O) -lconfuse -ldl -pthread

$(B)/libmtlsshim-tls.so: $(TLSLIB_O)
	$(CC) -shared $(SAN) -Wl,-z,defs -Wl,-soname,libmtlsshim-tls.so -o $@ $(TLSLIB_O) -lssl -lcrypto -pthread

$(B)/mtlsshim: $(CLI_O) $(B)/libmtlsshim-core.a
	$(CC) $(SAN) -o $@ $^ $(LIBS)

$(B)/unit/%: tests/unit/%.c $(B)/libmtlsshim-core.a | $(B)/unit
	$(CC) -std=c11 $(WARN) $(DEFS) $(SAN) $(CFLAGS) -Isrc -o $@ $< $(B)/libmtlsshim-core.a $(LIBS)

$(B)/progs/%: tests/progs/%.c | $(B)/progs
	$(CC) -std=gnu11 $(WARN) -D_GNU_SOURCE -O2 -g -o $@ $< -pthread

# static_*.c: statically linked, what LD_PRELOAD cannot reach (the shorter stem wins over the rule above).
$(B)/progs/static_%: tests/progs/static_%.c | $(B)/progs
	$(CC) -std=gnu11 $(WARN) -D_GNU_SOURCE -O2 -g -static -o $@ $<

$(B)/progs/stdiosock_chk: tests/progs/stdiosock.c | $(B)/progs
	$(CC) -std=gnu11 $(WARN) -D_GNU_SOURCE -D_FORTIFY_SOURCE=2 -O2 -g -o $@ $< -pthread

$(B) $(B)/unit $(B)/progs:
	mkdir -p $@

# Installs what a fresh Debian machine lacks (as root), then builds.
deps:
	@sh tests/deps.sh

unit: $(UNIT)
	@for t in $(UNIT); do echo "# $$t"; $$t || exit 1; done

check: unit
	bats tests

test: deps
	$(MAKE) all unit
	bats tests

demo: deps
	$(MAKE) all
	sh demo/run.sh

# The whole suite against an ASan/UBSan build of the library.
asan: deps
	$(MAKE) B=build-asan SAN='-fsanitize=address,undefined -fno-omit-frame-pointer' CFLAGS='-O1 -g' all unit
	MTLSSHIM_BUILD=build-asan bats tests

# The threads, nonblock, io, fork, regress, stats and keys suites against a ThreadSanitizer build in build-tsan/
# (tests/helpers.bash: the runtime preloaded after the shim; a report from any process fails its
# test and is printed). All of them run; the tests that put curl itself under the shim skip
# (curl hangs under TSan's runtime). TSAN_OPTIONS=... make tsan adds options (e.g.
# detect_deadlocks=0 for races only).
# gcc 12's runtime cannot place its shadow memory when the kernel randomizes mmap with more than
# 28 bits (vm.mmap_rnd_bits): then, or if an instrumented program fails to start, without ASLR.
TSAN_SUITES = threads nonblock io fork regress stats keys
tsan: deps
	$(MAKE) B=build-tsan SAN='-fsanitize=thread' CFLAGS='-O1 -g' all
	@r=; if [ "$$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0)" -gt 28 ] || \
		build-tsan/mtlsshim --help 2>&1 | grep -q ThreadSanitizer; then \
		r='setarch -R'; echo "tsan: vm.mmap_rnd_bits > 28 or TSan failed to start: running with setarch -R"; \
	fi; \
	$$r $(MAKE) B=build-tsan SAN='-fsanitize=thread' CFLAGS='-O1 -g' unit && \
	MTLSSHIM_BUILD=build-tsan $$r bats $(TSAN_SUITES:%=tests/%.bats)

install: $(B)/libmtlsshim.so $(B)/libmtlsshim-tls.so $(B)/mtlsshim
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(SYSCONFDIR) $(DESTDIR)$(DOCDIR)/systemd \
		$(DESTDIR)$(BATSLIBDIR)/bats-mtlsshim
	install -m 755 $(B)/mtlsshim $(DESTDIR)$(BINDIR)/mtlsshim
	install -m 755 $(B)/libmtlsshim.so $(DESTDIR)$(LIBDIR)/libmtlsshim.so
	install -m 755 $(B)/libmtlsshim-tls.so $(DESTDIR)$(LIBDIR)/libmtlsshim-tls.so
	install -m 644 man/mtlsshim.1 $(DESTDIR)$(MANDIR)/man1/mtlsshim.1
	install -m 644 conf/mtlsshim.conf $(DESTDIR)$(SYSCONFDIR)/mtlsshim.conf.example
	install -m 644 tests/bats-mtlsshim/load.bash $(DESTDIR)$(BATSLIBDIR)/bats-mtlsshim/load.bash
	install -m 644 man/mtlsshim.conf.5 $(DESTDIR)$(MANDIR)/man5/mtlsshim.conf.5
	install -m 644 conf/systemd/*.conf $(DESTDIR)$(DOCDIR)/systemd/

clean:
	rm -rf build build-asan build-tsan

# Throughput, latency, handshakes, memory and start-up against plaintext and stunnel, lock
# acquisitions per request (a -DMTLSSHIM_LOCKSTAT build in build-lockstat) and thread scaling
# (bench/results/README-table.md). Measures the build in $(B); knobs (BENCH_ONLY=locks,scaling,
# BENCH_BASE=<git ref> for new vs old): bash bench/run.sh --help.
bench: deps
	$(MAKE) B=$(B) all
	MTLSSHIM_BUILD=$(B) bash bench/run.sh

# The compatibility matrix (tests/compat.bats): TAP in $(B)/compat.tap, table into README's compat block.
# Runs every case, rewrites the table even when some fail, then exits non-zero if any failed.
compat: deps
	$(MAKE) all
	@mkdir -p $(B)
	@rm -f $(B)/compat.rc
	{ bats --tap tests/compat.bats; echo $$? > $(B)/compat.rc; } | tee $(B)/compat.tap
	bash tests/compat-table.sh --readme README.md $(B)/compat.tap
	@rc=$$(cat $(B)/compat.rc 2>/dev/null || echo 1); \
	 if [ "$$rc" != 0 ]; then echo "compat: some cases failed (bats exit $$rc); see $(B)/compat.tap" >&2; exit 1; fi

# libFuzzer (clang): the config loader and the server handshake, FUZZ_TIME seconds each, from
# fuzz/corpus/NAME (seeds and kept crash inputs, replayed every run); new inputs in build-fuzz/.
FUZZ_CC	?= clang
FUZZ_TIME ?= 30
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_TARGETS = config handshake ocsp
fuzz:
	$(MAKE) B=build-fuzz CC=$(FUZZ_CC) CFLAGS='-O1 -g' \
		SAN='$(FUZZ_SAN) -fsanitize=fuzzer-no-link' build-fuzz/libmtlsshim-core.a
	sh fuzz/pki.sh build-fuzz/pki
	for t in $(FUZZ_TARGETS); do \
		$(FUZZ_CC) -std=c11 $(WARN) $(DEFS) -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer -Isrc \
			-o build-fuzz/fuzz_$$t fuzz/fuzz_$$t.c build-fuzz/libmtlsshim-core.a $(LIBS) || exit 1; \
	done
	for t in $(FUZZ_TARGETS); do \
		mkdir -p build-fuzz/corpus/$$t; \
		MTLSSHIM_FUZZ_CONFIG=$(CURDIR)/build-fuzz/pki/fuzz.conf build-fuzz/fuzz_$$t \
			-max_total_time=$(FUZZ_TIME) -keep_seed=1 -artifact_prefix=build-fuzz/$$t- -print_final_stats=1 \
			build-fuzz/corpus/$$t fuzz/corpus/$$t 2>build-fuzz/$$t.log || \
			{ tail -n 40 build-fuzz/$$t.log; echo "fuzz_$$t: crash, see build-fuzz/$$t.log"; exit 1; }; \
		grep -E '^(stat::number_of_executed_units|#[0-9]+[[:space:]]+DONE)' build-fuzz/$$t.log \
			| sed "s/^/fuzz_$$t: /"; \
	done

# valgrind memcheck of a shimmed daemon (the suite's test; skipped under ASan).
valgrind: all
	bats tests/hostile.bats -f valgrind
