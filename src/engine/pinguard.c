/* pinguard.c: offers of a pin_file to a token, counted in the run directory against the file's identity. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/config.h"
#include "common/filedata.h"
#include "common/log.h"
#include "common/stats.h"
#include "engine/pinguard.h"
#include "engine/token.h"

/* Below the hooks: the kernel's calls, not the hooked ones. */
#define sys_close(fd)		((void)syscall(SYS_close, (fd)))
#define sys_read(fd, b, n)	((ssize_t)syscall(SYS_read, (fd), (b), (n)))
#define sys_write(fd, b, n)	((ssize_t)syscall(SYS_write, (fd), (b), (n)))

#define NO_RECORD	(-2)	/* pinguard_begin's token when the run directory is unusable */

/*
 * RUNDIR/pin-HASH: one record per module, token and pin_file.  Two rules
 * with two keys in one token share it: the token counts tries per PIN, not
 * per key.
 */
static int
record_path(const struct rule *r, char *buf, size_t len, char *err, size_t errlen)
{
	char dir[PATH_MAX], tok[256] = "", serial[256] = "";
	uint64_t h = STATS_HASH_INIT;
	int n;

	if (stats_rundir(dir, sizeof(dir)) == -1) {
		snprintf(err, errlen, "no run directory");
		return -1;
	}
	if (stats_rundir_ready(dir, err, errlen) == -1)
		return -1;
	token_uri_attr(r->key_file, "token", tok, sizeof(tok));
	token_uri_attr(r->key_file, "serial", serial, sizeof(serial));
	h = stats_hash(h, r->pin_file, strlen(r->pin_file) + 1);
	h = stats_hash(h, r->pkcs11_module, strlen(r->pkcs11_module) + 1);
	h = stats_hash(h, tok, strlen(tok) + 1);
	h = stats_hash(h, serial, strlen(serial) + 1);
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

/* Offers counted in the record open at fd for the pin_file as it is now: 0 when it changed since. */
static int
count_in(int fd, const char *now)
{
	char line[256], *sp;
	ssize_t n;

	if (lseek(fd, 0, SEEK_SET) != 0 || (n = sys_read(fd, line, sizeof(line) - 1)) <= 0)
		return 0;
	line[n] = '\0';
	if ((sp = strrchr(line, ' ')) == NULL)
		return 0;
	*sp = '\0';
	return strcmp(line, now) == 0 ? atoi(sp + 1) : 0;
}

/* Rewrites the record in place (it is locked; a reader sees it whole or empty). */
static int
write_count(int fd, const char *now, int n)
{
	char line[256];
	int len = snprintf(line, sizeof(line), "%s %d\n", now, n);

	return ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0 &&
	    sys_write(fd, line, (size_t)len) == len ? 0 : -1;
}

/* The count before the offer pinguard_begin counted (token.c's lock serialises the offers). */
static int	begun_count;

int
pinguard_begin(const struct rule *r, char *err, size_t errlen)
{
	char path[PATH_MAX], why[512], now[200];
	int fd, n;

	why[0] = '\0';
	if (record_path(r, path, sizeof(path), why, sizeof(why)) == -1 ||
	    (fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600)) == -1) {
		if (why[0] == '\0')
			snprintf(why, sizeof(why), "%s", strerror(errno));
		log_warn("rule=%s: cannot count the PIN's tries in the run directory (%s): it is "
		    "offered, and a restart will offer it again", r->name, why);
		return NO_RECORD;
	}
	if (flock(fd, LOCK_EX) == -1) {
		sys_close(fd);
		return NO_RECORD;
	}
	stamp_text(r, now, sizeof(now));
	if ((n = count_in(fd, now)) >= PINGUARD_TRIES) {
		snprintf(err, errlen, "the token refused the PIN in pin_file %s %d times: not "
		    "offering it again until the file changes, so that the token does not lock",
		    r->pin_file, n);
		sys_close(fd);
		return -1;
	}
	/* Counted first: a process killed during the login has spent a try too. */
	write_count(fd, now, n + 1);
	begun_count = n;
	return fd;
}

int
pinguard_end(const struct rule *r, int fd, enum pinguard_outcome o)
{
	char now[200];
	int n = begun_count + 1;

	if (fd < 0)
		return o == PINGUARD_REFUSED ? 1 : 0;
	stamp_text(r, now, sizeof(now));
	if (o == PINGUARD_TAKEN)
		write_count(fd, now, 0);
	else if (o == PINGUARD_OTHER)
		write_count(fd, now, n = begun_count);
	sys_close(fd);		/* and with it the lock */
	return n;
}
