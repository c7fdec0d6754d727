/* filedata.c: a certificate, key or CRL file's bytes and identity, read in one go; no OpenSSL. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/filedata.h"

#define FILEDATA_MAX	(64 << 20)

static void
stamp_from(const struct stat *st, struct filestamp *f)
{
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->size = st->st_size;
	f->mtim = st->st_mtim;
	f->ctim = st->st_ctim;
}

void
filestamp_get(const char *path, struct filestamp *f)
{
	struct stat st;

	memset(f, 0, sizeof(*f));
	if (path == NULL)
		return;
	if (stat(path, &st) == -1)
		f->missing = 1;
	else
		stamp_from(&st, f);
}

/*
 * The stamp comes from the descriptor the bytes were read from, so the two
 * always describe the same file, however it is renamed meanwhile.  Read and
 * closed with raw syscalls: the preload's hooks have nothing to do here, and
 * this runs in its constructor.
 */
int
filedata_read(const char *path, struct filedata *d)
{
	size_t cap = 4096;
	struct stat st;
	ssize_t n;
	char *p;
	int fd, e;

	memset(d, 0, sizeof(*d));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1)
		goto fail;
	stamp_from(&st, &d->st);
	if (S_ISREG(st.st_mode) && st.st_size > 0)
		cap = (size_t)st.st_size + 1;
	for (;;) {
		if (d->len == cap || d->buf == NULL) {
			if (d->buf != NULL)
				cap *= 2;
			if (cap > FILEDATA_MAX + 1) {
				errno = EFBIG;
				goto fail;
			}
			if ((p = malloc(cap)) == NULL)
				goto fail;
			if (d->buf != NULL) {
				memcpy(p, d->buf, d->len);
				explicit_bzero(d->buf, d->len);
				free(d->buf);
			}
			d->buf = p;
		}
		if ((n = syscall(SYS_read, fd, d->buf + d->len, cap - d->len)) == 0)
			break;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		d->len += (size_t)n;
	}
	syscall(SYS_close, fd);
	return 0;
 fail:
	e = errno;
	syscall(SYS_close, fd);
	filedata_free(d);
	errno = e;
	return -1;
}

void
filedata_free(struct filedata *d)
{
	if (d->buf != NULL) {
		explicit_bzero(d->buf, d->len);
		free(d->buf);
	}
	d->buf = NULL;
	d->len = 0;
}

int
filedata_secret(const char *path, char *buf, size_t len)
{
	struct filedata d;
	struct stat st;
	size_t n;

	/* Not a FIFO to hang on before main(), nor a device. */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	if (filedata_read(path, &d) == -1)
		return -1;
	for (n = 0; n < d.len && d.buf[n] != '\n' && d.buf[n] != '\r'; n++)
		;
	if (n == 0 || n >= len || memchr(d.buf, '\0', n) != NULL) {
		filedata_free(&d);
		errno = n == 0 ? ENODATA : E2BIG;
		return -1;
	}
	memcpy(buf, d.buf, n);
	buf[n] = '\0';
	filedata_free(&d);
	return 0;
}
