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

#include "filedata.h"
#include "startcache.h"

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

/* The configuration, every file it names, who we are and which build checked them. */
static uint64_t
stamp(const struct config *c)
{
	static const char build[] = __DATE__ " " __TIME__;
	uint64_t h = 14695981039346656037ULL;
	uid_t uid = geteuid();
	gid_t gid = getegid();
	size_t i;

	mix(&h, build, sizeof(build));
	mix(&h, &uid, sizeof(uid));
	mix(&h, &gid, sizeof(gid));
	mix_file(&h, c->path);
	for (i = 0; i < c->nrules; i++) {
		mix_file(&h, c->rules[i].ca_file);
		mix_file(&h, c->rules[i].cert_file);
		mix_file(&h, c->rules[i].key_file);
		mix_file(&h, c->rules[i].crl_file);
	}
	return h;
}

/*
 * $XDG_RUNTIME_DIR/mtlsshim, else /tmp/mtlsshim-UID: ours alone (owner, mode
 * 0700, not a symlink), or no cache.  The file is named for the config path.
 */
static int
cache_path(const struct config *c, char *buf, size_t len)
{
	const char *base = secure_getenv("XDG_RUNTIME_DIR");
	uint64_t h = 14695981039346656037ULL;
	struct stat st;
	int n, m;

	if (base != NULL && base[0] == '/')
		n = snprintf(buf, len, "%s/mtlsshim", base);
	else
		n = snprintf(buf, len, "/tmp/mtlsshim-%u", (unsigned)geteuid());
	if (n < 0 || (size_t)n >= len)
		return -1;
	if (mkdir(buf, 0700) == -1 && errno != EEXIST)
		return -1;
	if (lstat(buf, &st) == -1 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077) != 0)
		return -1;
	mix(&h, c->path, strlen(c->path));
	m = snprintf(buf + n, len - (size_t)n, "/%016llx", (unsigned long long)h);
	return m < 0 || (size_t)m >= len - (size_t)n ? -1 : 0;
}

int
startcache_hit(const struct config *c)
{
	char path[4096], line[128], want[64];
	unsigned long long recheck;
	struct stat st;
	int fd, saved = errno, hit = 0;
	ssize_t n;

	/* Not a FIFO to hang on, nor anything but a plain file. */
	if (cache_path(c, path, sizeof(path)) == -1 ||
	    (fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) == -1) {
		errno = saved;
		return 0;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_uid != geteuid())
		n = -1;
	else
		n = read(fd, line, sizeof(line) - 1);
	syscall(SYS_close, fd);
	if (n > 0) {
		line[n] = '\0';
		snprintf(want, sizeof(want), "%016llx", (unsigned long long)stamp(c));
		hit = sscanf(line, CACHE_MAGIC " %63s %llu ", path, &recheck) == 2 &&
		    strcmp(path, want) == 0 && (time_t)recheck > time(NULL);
	}
	errno = saved;
	return hit;
}

/*
 * Entries whose configuration file is gone (a test suite leaves hundreds)
 * are removed whenever an entry is stored, which is only after full checks.
 */
static void
startcache_prune(char *path)
{
	char line[4200], *cfg, *slash = strrchr(path, '/');
	struct dirent *e;
	ssize_t n;
	DIR *d;
	int fd, seen = 0;

	*slash = '\0';
	d = opendir(path);
	*slash = '/';
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL && seen++ < 4096) {
		if (strlen(e->d_name) != 16 || strspn(e->d_name, "0123456789abcdef") != 16)
			continue;
		snprintf(slash + 1, 17, "%s", e->d_name);
		if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) == -1)
			continue;
		n = syscall(SYS_read, fd, line, sizeof(line) - 1);
		syscall(SYS_close, fd);
		if (n <= 0)
			continue;
		line[n] = '\0';
		line[strcspn(line, "\n")] = '\0';
		/* MAGIC STAMP RECHECK PATH; an older format is gone too. */
		if (strncmp(line, CACHE_MAGIC " ", sizeof(CACHE_MAGIC)) != 0 ||
		    ((cfg = strchr(line, ' ')) && (cfg = strchr(cfg + 1, ' ')) &&
		    (cfg = strchr(cfg + 1, ' ')) && cfg[1] == '/' &&
		    access(cfg + 1, F_OK) == -1 && errno == ENOENT))
			unlink(path);
	}
	closedir(d);
}

void
startcache_store(const struct config *c, time_t recheck_after)
{
	char path[4096], tmp[4200], line[4200];
	int fd, n, saved = errno;

	if (recheck_after <= time(NULL) || cache_path(c, path, sizeof(path)) == -1)
		return;
	n = snprintf(line, sizeof(line), CACHE_MAGIC " %016llx %llu %s\n",
	    (unsigned long long)stamp(c), (unsigned long long)recheck_after, c->path);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
		errno = saved;
		return;
	}
	if (write(fd, line, (size_t)n) != n || rename(tmp, path) == -1)
		unlink(tmp);
	syscall(SYS_close, fd);
	startcache_prune(path);
	errno = saved;
}
