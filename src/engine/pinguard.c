/* pinguard.c: refusals of a pin_file, counted in the run directory against the file's identity. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/config.h"
#include "common/filedata.h"
#include "common/log.h"
#include "common/stats.h"
#include "engine/pinguard.h"

/* Below the hooks: the kernel's calls, not the hooked ones. */
#define sys_close(fd)		((void)syscall(SYS_close, (fd)))
#define sys_read(fd, b, n)	((ssize_t)syscall(SYS_read, (fd), (b), (n)))
#define sys_write(fd, b, n)	((ssize_t)syscall(SYS_write, (fd), (b), (n)))

/* RUNDIR/pin-HASH: one record per pin_file, module and key. */
static int
record_path(const struct rule *r, char *buf, size_t len)
{
	char dir[PATH_MAX], why[256];
	uint64_t h = STATS_HASH_INIT;
	int n;

	if (stats_rundir(dir, sizeof(dir)) == -1 || stats_rundir_ready(dir, why, sizeof(why)) == -1)
		return -1;
	h = stats_hash(h, r->pin_file, strlen(r->pin_file) + 1);
	h = stats_hash(h, r->pkcs11_module, strlen(r->pkcs11_module) + 1);
	h = stats_hash(h, r->key_file, strlen(r->key_file) + 1);
	n = snprintf(buf, len, "%s/pin-%016" PRIx64, dir, h);
	return n > 0 && (size_t)n < len ? 0 : -1;
}

/* The pin_file's identity as text: the record is about this version of the file only. */
static void
stamp_text(const struct rule *r, char *buf, size_t len)
{
	struct filestamp st;

	filestamp_get(r->pin_file, &st);
	snprintf(buf, len, "%ju %ju %jd %jd.%09ld %jd.%09ld", (uintmax_t)st.dev,
	    (uintmax_t)st.ino, (intmax_t)st.size, (intmax_t)st.mtim.tv_sec, st.mtim.tv_nsec,
	    (intmax_t)st.ctim.tv_sec, st.ctim.tv_nsec);
}

/* Refusals recorded for the pin_file as it is now: 0 when none or the file changed since. */
static int
recorded(const struct rule *r)
{
	char path[PATH_MAX], line[256], now[200], *sp;
	ssize_t n;
	int fd, count = 0;

	if (record_path(r, path, sizeof(path)) == -1 ||
	    (fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) == -1)
		return 0;
	n = sys_read(fd, line, sizeof(line) - 1);
	sys_close(fd);
	if (n <= 0)
		return 0;
	line[n] = '\0';
	stamp_text(r, now, sizeof(now));
	if ((sp = strrchr(line, ' ')) == NULL)
		return 0;
	*sp = '\0';
	if (strcmp(line, now) == 0)
		count = atoi(sp + 1);
	return count;
}

int
pinguard_may_try(const struct rule *r, char *err, size_t errlen)
{
	int n = recorded(r);

	if (n < PINGUARD_TRIES)
		return 0;
	snprintf(err, errlen, "the token refused the PIN in pin_file %s %d times: not offering "
	    "it again until the file changes, so that the token does not lock", r->pin_file, n);
	return -1;
}

int
pinguard_refused(const struct rule *r)
{
	char path[PATH_MAX], tmp[PATH_MAX + 24], now[200], line[256];
	int fd, len, ok, n = recorded(r) + 1;

	if (record_path(r, path, sizeof(path)) == -1) {
		log_warn("rule=%s: cannot record the refused PIN in the run directory: a restart "
		    "will offer it again", r->name);
		return n;
	}
	snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
	stamp_text(r, now, sizeof(now));
	len = snprintf(line, sizeof(line), "%s %d\n", now, n);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
		return n;
	ok = sys_write(fd, line, (size_t)len) == len;
	sys_close(fd);
	if (!ok || rename(tmp, path) == -1)
		unlink(tmp);
	return n;
}

void
pinguard_accepted(const struct rule *r)
{
	char path[PATH_MAX];

	if (recorded(r) > 0 && record_path(r, path, sizeof(path)) == 0)
		unlink(path);
}
