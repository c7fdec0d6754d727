/* pki_file.c: whole files or none in a PKI directory (temp file, fsync, rename). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/pki_file.h"

/* A fresh temp name per try; O_EXCL makes a collision (another writer, a leftover) a retry. */
#define STAGE_TRIES	100

static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
pkif_stage(int dirfd, struct pkif_staged *s, const char *name, mode_t mode,
    const void *data, size_t len)
{
	static unsigned counter;
	int fd = -1, i, rv = -1, saved;

	memset(s, 0, sizeof(*s));
	if (snprintf(s->name, sizeof(s->name), "%s", name) >= (int)sizeof(s->name)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	s->fresh = !pkif_exists(dirfd, name);
	for (i = 0; i < STAGE_TRIES && fd == -1; i++) {
		if (snprintf(s->tmp, sizeof(s->tmp), ".%s.%ld-%u.tmp", name, (long)getpid(),
		    counter++) >= (int)sizeof(s->tmp)) {
			errno = ENAMETOOLONG;
			break;
		}
		fd = openat(dirfd, s->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd == -1 && errno != EEXIST)
			break;
	}
	if (fd == -1) {
		/* s->tmp is not ours (EEXIST) or was never made. */
		s->tmp[0] = '\0';
		return -1;
	}
	if (write_all(fd, data, len) == -1 || fsync(fd) == -1)
		goto out;
	rv = close(fd);
	fd = -1;
 out:
	saved = errno;
	if (fd != -1)
		close(fd);
	if (rv == -1) {
		unlinkat(dirfd, s->tmp, 0);
		s->tmp[0] = '\0';
	}
	errno = saved;
	return rv;
}

int
pkif_commit(int dirfd, struct pkif_staged *v, size_t n)
{
	size_t i, j;
	int saved;

	for (i = 0; i < n; i++) {
		if (renameat(dirfd, v[i].tmp, dirfd, v[i].name) == -1)
			goto fail;
		v[i].tmp[0] = '\0';
	}
	/* The renames themselves on disk: a crash after we said "wrote" keeps the files. */
	return fsync(dirfd);
 fail:
	saved = errno;
	for (j = 0; j < i; j++)
		if (v[j].fresh)
			unlinkat(dirfd, v[j].name, 0);
	pkif_abort(dirfd, v, n);
	errno = saved;
	return -1;
}

void
pkif_abort(int dirfd, struct pkif_staged *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].tmp[0] != '\0') {
			unlinkat(dirfd, v[i].tmp, 0);
			v[i].tmp[0] = '\0';
		}
}

int
pkif_exists(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

int
pkif_empty(int dirfd)
{
	struct dirent *e;
	DIR *d;
	int fd, rv = 1;

	/* fdopendir takes the descriptor; the caller keeps its own. */
	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			rv = 0;
			break;
		}
	closedir(d);
	return rv;
}

FILE *
pkif_open(int dirfd, const char *name)
{
	FILE *f;
	int fd;

	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	if ((f = fdopen(fd, "r")) == NULL)
		close(fd);
	return f;
}
