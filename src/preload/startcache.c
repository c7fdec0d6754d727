/* startcache.c: remembers that a configuration and its files passed the start-up checks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/filedata.h"
#include "common/real.h"
#include "engine/engine.h"
#include "preload/startcache.h"

#define CACHE_MAGIC	"mtlsshim-startcache-2"

/* FNV-1a: change detection only (see startcache.h). */
static void
mix(uint64_t *h, const void *p, size_t len)
{
	const unsigned char *b = p;

	while (len-- > 0) {
		*h ^= *b++;
		*h *= 1099511628211ULL;
	}
}

static void
mix_file(uint64_t *h, const char *path)
{
	struct filestamp f;

	if (path == NULL)
		return;
	mix(h, path, strlen(path) + 1);
	filestamp_get(path, &f);	/* a chmod changes ctim */
	mix(h, &f, sizeof(f));
}

/*
 * The configuration, every file it names, who we are, which build checked
 * them, the engine that will load them (a missing or replaced one is caught
 * before main() again) and OpenSSL's configuration file by name.
 */
static uint64_t
stamp(const struct config *c)
{
	static const char build[] = __DATE__ " " __TIME__;
	uint64_t h = 14695981039346656037ULL;
	const char *osslconf = getenv("OPENSSL_CONF");
	uid_t uid = geteuid();
	gid_t gid = getegid();
	size_t i;

	mix(&h, build, sizeof(build));
	mix(&h, &uid, sizeof(uid));
	mix(&h, &gid, sizeof(gid));
	mix_file(&h, engine_file());
	mix(&h, osslconf ? osslconf : "", osslconf ? strlen(osslconf) + 1 : 1);
	mix_file(&h, c->path);
	for (i = 0; i < c->nrules; i++) {
		mix_file(&h, c->rules[i].ca_file);
		mix_file(&h, c->rules[i].cert_file);
		mix_file(&h, c->rules[i].key_file);
		mix_file(&h, c->rules[i].crl_file);
		mix_file(&h, c->rules[i].ocsp_staple_file);
	}
	return h;
}

/*
 * $XDG_RUNTIME_DIR/mtlsshim, else /tmp/mtlsshim-UID, opened once: ours alone
 * (owner, mode 0700, not a symlink), or no cache.  Everything after goes
 * through the descriptor, so a parent directory that another user owns
 * cannot swap it for another directory between the check and the use.
 */
static int
cache_dir(void)
{
	const char *base = secure_getenv("XDG_RUNTIME_DIR");
	char dir[4096];
	struct stat st;
	int n, fd;

	if (base != NULL && base[0] == '/')
		n = snprintf(dir, sizeof(dir), "%s/mtlsshim", base);
	else
		n = snprintf(dir, sizeof(dir), "/tmp/mtlsshim-%u", (unsigned)geteuid());
	if (n < 0 || (size_t)n >= sizeof(dir))
		return -1;
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return -1;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		syscall(SYS_close, fd);
		return -1;
	}
	return fd;
}

/* The entry's name: a hash of the config path. */
static void
cache_name(const struct config *c, char name[17])
{
	uint64_t h = 14695981039346656037ULL;

	mix(&h, c->path, strlen(c->path));
	snprintf(name, 17, "%016llx", (unsigned long long)h);
}

/* Reads entry name of dfd: a plain file we own, never a FIFO to hang on. */
static ssize_t
cache_read(int dfd, const char *name, char *line, size_t len)
{
	struct stat st;
	ssize_t n = -1;
	int fd;

	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid())
		n = syscall(SYS_read, fd, line, len - 1);
	syscall(SYS_close, fd);
	if (n >= 0)
		line[n] = '\0';
	return n;
}

int
startcache_hit(const struct config *c)
{
	char name[17], line[128], got[64], want[64];
	unsigned long long recheck;
	int dfd, saved = errno, hit = 0;

	if ((dfd = cache_dir()) == -1) {
		errno = saved;
		return 0;
	}
	cache_name(c, name);
	if (cache_read(dfd, name, line, sizeof(line)) > 0) {
		snprintf(want, sizeof(want), "%016llx", (unsigned long long)stamp(c));
		hit = sscanf(line, CACHE_MAGIC " %63s %llu ", got, &recheck) == 2 &&
		    strcmp(got, want) == 0 && (time_t)recheck > time(NULL);
	}
	syscall(SYS_close, dfd);
	errno = saved;
	return hit;
}

/*
 * Entries whose configuration file is gone (a test suite leaves hundreds),
 * or of an older format, are removed whenever an entry is stored, which is
 * only after full checks.
 */
static void
startcache_prune(int dfd)
{
	char line[4200], *cfg;
	struct dirent *e;
	int seen = 0, d2;
	DIR *d;

	if ((d2 = REAL(fcntl)(dfd, F_DUPFD_CLOEXEC, 0)) == -1)
		return;
	if ((d = fdopendir(d2)) == NULL) {
		syscall(SYS_close, d2);
		return;
	}
	while ((e = readdir(d)) != NULL && seen++ < 4096) {
		if (strlen(e->d_name) != 16 || strspn(e->d_name, "0123456789abcdef") != 16 ||
		    cache_read(dfd, e->d_name, line, sizeof(line)) <= 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		/* MAGIC STAMP RECHECK PATH */
		if (strncmp(line, CACHE_MAGIC " ", sizeof(CACHE_MAGIC)) != 0 ||
		    ((cfg = strchr(line, ' ')) && (cfg = strchr(cfg + 1, ' ')) &&
		    (cfg = strchr(cfg + 1, ' ')) && cfg[1] == '/' &&
		    access(cfg + 1, F_OK) == -1 && errno == ENOENT))
			unlinkat(dfd, e->d_name, 0);
	}
	closedir(d);
}

void
startcache_store(const struct config *c, time_t recheck_after)
{
	char name[17], tmp[64], line[4200];
	int dfd, fd, n, saved = errno;

	if (recheck_after <= time(NULL) || (dfd = cache_dir()) == -1)
		return;
	n = snprintf(line, sizeof(line), CACHE_MAGIC " %016llx %llu %s\n",
	    (unsigned long long)stamp(c), (unsigned long long)recheck_after, c->path);
	cache_name(c, name);
	snprintf(tmp, sizeof(tmp), "%s.%d", name, (int)getpid());
	if (n > 0 && (size_t)n < sizeof(line) && (fd = openat(dfd, tmp,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) != -1) {
		if (REAL(write)(fd, line, (size_t)n) != n || renameat(dfd, tmp, dfd, name) == -1)
			unlinkat(dfd, tmp, 0);
		syscall(SYS_close, fd);
		startcache_prune(dfd);
	}
	syscall(SYS_close, dfd);
	errno = saved;
}
