/* stats.c: the shared counters' file: where it lives, mapping it, process slots, updates. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/stats.h"

/* Below the hooks and in the launcher alike: the kernel's close and read, not the hooked ones. */
#define sys_close(fd)		((void)syscall(SYS_close, (fd)))
#define sys_read(fd, b, n)	((ssize_t)syscall(SYS_read, (fd), (b), (n)))

static const uint32_t bucket_us[STATS_NBUCKETS] = { STATS_BUCKETS_US };

#define STATS_REASON_NAME(e, s)	s,
static const char *const reason_names[STATS_NREASONS] = { STATS_REASONS(STATS_REASON_NAME) };

const char *
stats_reason_name(enum stats_reason r)
{
	return r < STATS_NREASONS ? reason_names[r] : "other";
}

/*
 * The log's reasons are OpenSSL's words or ours (README, Security); the
 * first pattern found names the label.  Order matters: "certificate
 * revoked" is checked before the generic verify failures.
 */
enum stats_reason
stats_reason_of(const char *reason)
{
	static const struct { const char *pat; enum stats_reason r; } map[] = {
		{ "revoked", STATS_R_REVOKED },
		{ "did not return a certificate", STATS_R_NO_CERTIFICATE },
		{ "peer did not return", STATS_R_NO_CERTIFICATE },
		{ "certificate required", STATS_R_NO_CERTIFICATE },
		{ "has expired", STATS_R_EXPIRED },
		{ "not yet valid", STATS_R_NOT_YET_VALID },
		{ "is a CA certificate", STATS_R_CA_AS_LEAF },
		{ "identity not allowed", STATS_R_IDENTITY },
		{ "does not match", STATS_R_IDENTITY },
		{ "hostname mismatch", STATS_R_IDENTITY },
		{ "IP address mismatch", STATS_R_IDENTITY },
		{ "unsuitable certificate purpose", STATS_R_BAD_PURPOSE },
		{ "unsupported certificate purpose", STATS_R_BAD_PURPOSE },
		{ "unable to get local issuer", STATS_R_UNKNOWN_CA },
		{ "unable to get issuer", STATS_R_UNKNOWN_CA },
		{ "self-signed certificate", STATS_R_UNKNOWN_CA },
		{ "self signed certificate", STATS_R_UNKNOWN_CA },
		{ "unknown ca", STATS_R_UNKNOWN_CA },
		{ "unable to verify the first certificate", STATS_R_UNKNOWN_CA },
		{ "timed out", STATS_R_TIMEOUT },
		{ "did not answer within", STATS_R_TIMEOUT },
		{ "peer closed", STATS_R_PEER_CLOSED },
		{ "Connection reset", STATS_R_PEER_CLOSED },
		{ "wrong version number", STATS_R_PROTOCOL },
		{ "unsupported protocol", STATS_R_PROTOCOL },
		{ "http request", STATS_R_PROTOCOL },
		{ "excessive message size", STATS_R_PROTOCOL },
		{ "alert", STATS_R_PROTOCOL },
		{ "no shared cipher", STATS_R_PROTOCOL },
		{ "unexpected message", STATS_R_PROTOCOL },
		{ "record", STATS_R_PROTOCOL },
		{ "packet length", STATS_R_PROTOCOL },
	};
	size_t i;

	if (reason == NULL)
		return STATS_R_OTHER;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strstr(reason, map[i].pat) != NULL)
			return map[i].r;
	return STATS_R_OTHER;
}

int
stats_rundir(char *buf, size_t len)
{
	const char *x = getenv("MTLSSHIM_RUNDIR");
	int n;

	if (x != NULL && *x == '/')
		n = snprintf(buf, len, "%s", x);
	else if (geteuid() == 0)
		n = snprintf(buf, len, "/run/mtlsshim");
	else if ((x = getenv("XDG_RUNTIME_DIR")) != NULL && *x == '/')
		n = snprintf(buf, len, "%s/mtlsshim", x);
	else
		n = snprintf(buf, len, "/tmp/mtlsshim-%u", (unsigned)geteuid());
	return n > 0 && (size_t)n < len ? 0 : -1;
}

uint64_t
stats_hash(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n--)
		h = (h ^ *b++) * UINT64_C(0x100000001b3);
	return h;
}

/* Same file for the same configuration path and rules; another when either changes. */
int
stats_path(const struct config *c, char *buf, size_t len, char *name, size_t namelen)
{
	char dir[PATH_MAX], abs[PATH_MAX];
	const char *base, *p;
	uint64_t h = STATS_HASH_INIT;
	size_t i, n;
	int k;

	if (stats_rundir(dir, sizeof(dir)) == -1)
		return -1;
	if (realpath(c->path, abs) == NULL)
		snprintf(abs, sizeof(abs), "%s", c->path);
	h = stats_hash(h, abs, strlen(abs) + 1);
	for (i = 0; i < c->nrules; i++) {
		h = stats_hash(h, c->rules[i].name, strlen(c->rules[i].name) + 1);
		h = stats_hash(h, &c->rules[i].kind, sizeof(c->rules[i].kind));
		h = stats_hash(h, &c->rules[i].port, sizeof(c->rules[i].port));
	}
	base = (p = strrchr(abs, '/')) != NULL ? p + 1 : abs;
	n = strlen(base);
	if (n > 5 && strcmp(base + n - 5, ".conf") == 0)
		n -= 5;
	if (n >= namelen)
		n = namelen - 1;
	/* The name goes into file names and label values: keep it plain. */
	for (i = 0; i < n; i++)
		name[i] = (base[i] == '-' || base[i] == '_' || base[i] == '.' ||
		    (base[i] >= '0' && base[i] <= '9') || (base[i] >= 'a' && base[i] <= 'z') ||
		    (base[i] >= 'A' && base[i] <= 'Z')) ? base[i] : '_';
	name[n] = '\0';
	k = snprintf(buf, len, "%s/%s-%016llx.stats", dir, name, (unsigned long long)h);
	return k > 0 && (size_t)k < len ? 0 : -1;
}

static size_t
proc_size(uint32_t nrules)
{
	size_t n = sizeof(struct stats_proc) + nrules * sizeof(uint32_t);

	return (n + 63) & ~(size_t)63;
}

static size_t
file_size(uint32_t nrules)
{
	size_t head = (sizeof(struct stats_head) + 63) & ~(size_t)63;

	return head + nrules * sizeof(struct stats_rule) + STATS_PROCS * proc_size(nrules);
}

static void
area_set(struct stats_area *a, void *base, uint32_t nrules, size_t size)
{
	size_t head = (sizeof(struct stats_head) + 63) & ~(size_t)63;

	a->head = base;
	a->rules = (struct stats_rule *)(void *)((unsigned char *)base + head);
	a->procs = (unsigned char *)(a->rules + nrules);
	a->proc_size = proc_size(nrules);
	a->size = size;
}

/* The run directory ours alone: made 0700, or there already, ours and not writable by others. */
int
stats_rundir_ready(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	if (lstat(dir, &st) == -1) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022)) {
		snprintf(err, errlen, "%s is not a directory owned by uid %u and writable by it alone",
		    dir, (unsigned)geteuid());
		return -1;
	}
	return 0;
}

static void
head_init(struct stats_area *a, const struct config *c, const char *name)
{
	size_t i;

	a->head->version = STATS_VERSION;
	a->head->nrules = (uint32_t)c->nrules;
	a->head->size = a->size;
	a->head->created = (int64_t)time(NULL);
	snprintf(a->head->config, sizeof(a->head->config), "%s", c->path);
	snprintf(a->head->name, sizeof(a->head->name), "%s", name);
	for (i = 0; i < c->nrules; i++) {
		snprintf(a->rules[i].name, sizeof(a->rules[i].name), "%s", c->rules[i].name);
		a->rules[i].is_server = c->rules[i].kind == RULE_SERVER;
		a->rules[i].port = c->rules[i].port;
	}
	/* Last: a reader that sees the magic sees the rest. */
	__atomic_store_n(&a->head->magic, STATS_MAGIC, __ATOMIC_RELEASE);
}

static int
map_fd(struct stats_area *a, int fd, int prot, const char *path, uint32_t nrules, char *err,
    size_t errlen)
{
	size_t size = file_size(nrules);
	struct stat st;
	void *p;

	if (fstat(fd, &st) == -1 || (size_t)st.st_size != size) {
		snprintf(err, errlen, "%s: not a stats file of this version (size %lld, want %zu)",
		    path, (long long)st.st_size, size);
		return -1;
	}
	if ((p = mmap(NULL, size, prot, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
		return -1;
	}
	area_set(a, p, nrules, size);
	if (__atomic_load_n(&a->head->magic, __ATOMIC_ACQUIRE) != STATS_MAGIC ||
	    a->head->version != STATS_VERSION || a->head->nrules != nrules) {
		snprintf(err, errlen, "%s: not a stats file of this version", path);
		munmap(p, size);
		memset(a, 0, sizeof(*a));
		return -1;
	}
	return 0;
}

/* Makes the file under a temporary name, complete, then links it in: nobody maps half a file. */
static int
create(const char *path, const struct config *c, const char *name, char *err, size_t errlen)
{
	struct stats_area a;
	char tmp[PATH_MAX];
	size_t size = file_size((uint32_t)c->nrules);
	void *p;
	int fd, rv = -1;

	if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof(tmp))
		return -1;
	(void)unlink(tmp);
	if ((fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) == -1) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		return -1;
	}
	if (ftruncate(fd, (off_t)size) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if ((p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		snprintf(err, errlen, "%s: mmap: %s", tmp, strerror(errno));
		goto out;
	}
	area_set(&a, p, (uint32_t)c->nrules, size);
	head_init(&a, c, name);
	munmap(p, size);
	/* Another process may have won the race: then its file is the one. */
	if (link(tmp, path) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		goto out;
	}
	rv = 0;
 out:
	(void)unlink(tmp);
	sys_close(fd);
	return rv;
}

static int
open_area(struct stats_area *a, const struct config *c, int rw, char *err, size_t errlen)
{
	char path[PATH_MAX], name[STATS_NAME_MAX], dir[PATH_MAX];
	int fd, rv, tries;

	memset(a, 0, sizeof(*a));
	if (stats_path(c, path, sizeof(path), name, sizeof(name)) == -1) {
		snprintf(err, errlen, "no run directory for the stats file");
		return -1;
	}
	for (tries = 0; tries < 2; tries++) {
		fd = open(path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW);
		if (fd != -1)
			break;
		if (errno != ENOENT || !rw) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return -1;
		}
		if (stats_rundir(dir, sizeof(dir)) == -1 || stats_rundir_ready(dir, err, errlen) == -1)
			return -1;
		if (create(path, c, name, err, errlen) == -1)
			return -1;
	}
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	rv = map_fd(a, fd, rw ? PROT_READ | PROT_WRITE : PROT_READ, path, (uint32_t)c->nrules,
	    err, errlen);
	sys_close(fd);
	return rv;
}

int
stats_open(struct stats_area *a, const struct config *c, char *err, size_t errlen)
{
	return open_area(a, c, 1, err, errlen);
}

int
stats_open_ro(struct stats_area *a, const struct config *c, char *err, size_t errlen)
{
	return open_area(a, c, 0, err, errlen);
}

void
stats_close(struct stats_area *a)
{
	if (a->head != NULL)
		munmap(a->head, a->size);
	memset(a, 0, sizeof(*a));
}

/* Field 22 of /proc/PID/stat, after the command's closing parenthesis. */
static uint64_t
proc_start(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long v = 0;
	ssize_t n;
	int fd, i;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = sys_read(fd, buf, sizeof(buf) - 1);
	sys_close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return 0;
	/* ") S ppid ..." : state is field 3, starttime field 22. */
	for (i = 2; i < 22 && p != NULL; i++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p + 1, "%llu", &v) != 1)
		return 0;
	return v;
}

uint64_t
stats_self_start(void)
{
	return proc_start(getpid());
}

int
stats_proc_alive(const struct stats_proc *p)
{
	pid_t pid = __atomic_load_n(&p->pid, __ATOMIC_ACQUIRE);
	uint64_t st;

	if (pid <= 0 || (kill(pid, 0) == -1 && errno == ESRCH))
		return 0;
	/* Unreadable (hidepid): trust the pid. */
	st = proc_start(pid);
	return st == 0 || st == p->start;
}

static struct stats_proc *
take(struct stats_area *a, struct stats_proc *p, int32_t old, int32_t pid, uint64_t start)
{
	uint32_t *open = stats_proc_open(a, p);
	uint32_t i;

	if (!__atomic_compare_exchange_n(&p->pid, &old, pid, 0, __ATOMIC_ACQ_REL,
	    __ATOMIC_RELAXED))
		return NULL;
	p->start = start;
	for (i = 0; i < a->head->nrules; i++)
		__atomic_store_n(&open[i], 0, __ATOMIC_RELAXED);
	return p;
}

struct stats_proc *
stats_claim(struct stats_area *a)
{
	int32_t pid = (int32_t)getpid(), old;
	uint64_t start = stats_self_start();
	struct stats_proc *p, *got;
	size_t i;

	if (a == NULL || a->head == NULL)
		return NULL;
	/* Ours already: the image before an exec left it; its connections went with the relay. */
	for (i = 0; i < STATS_PROCS; i++) {
		p = stats_proc_at(a, i);
		if (__atomic_load_n(&p->pid, __ATOMIC_RELAXED) == pid && p->start == start &&
		    (got = take(a, p, pid, pid, start)) != NULL)
			return got;
	}
	for (i = 0; i < STATS_PROCS; i++) {
		p = stats_proc_at(a, i);
		if (__atomic_load_n(&p->pid, __ATOMIC_RELAXED) == 0 &&
		    (got = take(a, p, 0, pid, start)) != NULL)
			return got;
	}
	/* Full: reclaim the slots of processes that ended without giving theirs back. */
	for (i = 0; i < STATS_PROCS; i++) {
		p = stats_proc_at(a, i);
		old = __atomic_load_n(&p->pid, __ATOMIC_RELAXED);
		if (old != pid && !stats_proc_alive(p) && (got = take(a, p, old, pid, start)))
			return got;
	}
	return NULL;
}

void
stats_release(struct stats_area *a, struct stats_proc *p)
{
	if (a != NULL && p != NULL)
		__atomic_store_n(&p->pid, 0, __ATOMIC_RELEASE);
}

void
stats_handshake(struct stats_area *a, size_t rule, const char *refusal, uint64_t us, int resumed)
{
	struct stats_rule *r;
	size_t b;

	if (a == NULL || a->head == NULL || rule >= a->head->nrules)
		return;
	r = &a->rules[rule];
	if (refusal != NULL) {
		STATS_ADD(r->hs_refused, 1);
		STATS_ADD(r->refusals[stats_reason_of(refusal)], 1);
		return;
	}
	STATS_ADD(r->hs_ok, 1);
	if (resumed)
		STATS_ADD(r->resumed, 1);
	for (b = 0; b < STATS_NBUCKETS && us > bucket_us[b]; b++)
		;
	STATS_ADD(r->hist[b], 1);
	STATS_ADD(r->hist_sum_us, us);
}

void
stats_reload(struct stats_area *a, size_t rule, int ok, int64_t when, uint64_t stamp)
{
	if (a == NULL || a->head == NULL || rule >= a->head->nrules)
		return;
	if (__atomic_exchange_n(&a->rules[rule].reload_stamp, stamp, __ATOMIC_RELAXED) == stamp)
		return;
	if (ok)
		STATS_ADD(a->rules[rule].reloads_ok, 1);
	else
		STATS_ADD(a->rules[rule].reloads_failed, 1);
	__atomic_store_n(&a->rules[rule].last_reload, when, __ATOMIC_RELAXED);
}

void
stats_cert(struct stats_area *a, size_t rule, int64_t not_after)
{
	if (a != NULL && a->head != NULL && rule < a->head->nrules)
		__atomic_store_n(&a->rules[rule].cert_not_after, not_after, __ATOMIC_RELAXED);
}

const uint32_t *
stats_bucket_bounds(void)
{
	return bucket_us;
}

/*
 * Where nothing maps the counters (the launcher, the unit tests): none.  The
 * preload (statslink.c) and the engine (entry.c) define their own.
 */
__attribute__((weak)) struct stats_area *
stats_shared(void)
{
	return NULL;
}

__attribute__((weak)) struct stats_proc *
stats_self(void)
{
	return NULL;
}
