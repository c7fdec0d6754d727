/* stdio.c: stdio streams and dprintf on a wrapped socket read and write through its session. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "hooks/hooks.h"
#include "common/log.h"
#include "common/real.h"

/*
 * glibc's streams and dprintf move their bytes with its internal __read
 * and __write, which no preload can interpose: a stream made by fdopen of a
 * wrapped socket would write plaintext to the wire and hand the program
 * ciphertext.  Such a stream is a cookie stream over our data calls
 * instead, full-buffered like glibc's own on a socket; fileno still names
 * the socket and fclose closes it as close would.
 */
struct sockstream {
	int	fd;
};

extern int	__vasprintf_chk(char **, int, const char *, va_list);

static ssize_t
stream_read(void *cookie, char *buf, size_t len)
{
	return hook_read(((struct sockstream *)cookie)->fd, buf, len);
}

/* All of it, as glibc's own file write loops: to stdio a short count is an error. */
static ssize_t
write_all(int fd, const char *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		if ((n = hook_write(fd, buf + done, len - done)) <= 0)
			return done > 0 ? (ssize_t)done : -1;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static ssize_t
stream_write(void *cookie, const char *buf, size_t len)
{
	return write_all(((struct sockstream *)cookie)->fd, buf, len);
}

/* A socket cannot seek: ESPIPE, as fseek on glibc's own stream would say. */
static int
stream_seek(void *cookie, off64_t *off, int whence)
{
	errno = ESPIPE;
	return -1;
}

static int
stream_close(void *cookie)
{
	int fd = ((struct sockstream *)cookie)->fd;

	free(cookie);
	return hook_close(fd);
}

/* As fdopen: NULL with EINVAL for a bad mode, ENOMEM. */
static FILE *
hook_fdopen(int fd, const char *mode)
{
	static const cookie_io_functions_t io = {
		stream_read, stream_write, stream_seek, stream_close
	};
	struct session *s = hook_session(fd);
	struct sockstream *c;
	FILE *f;

	if (s == NULL)
		return REAL(fdopen)(fd, mode);
	fdobj_put(&s->hdr);
	if ((c = malloc(sizeof(*c))) == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	c->fd = fd;
	if ((f = fopencookie(c, mode, io)) == NULL) {
		free(c);
		return NULL;
	}
	f->_fileno = fd;	/* fileno(); glibc's cookie calls never use it */
	return f;
}

HOOK FILE *
fdopen(int fd, const char *mode)
{
	return hook_fdopen(fd, mode);
}

HOOK FILE *
_IO_fdopen(int fd, const char *mode)
{
	return hook_fdopen(fd, mode);
}

/*
 * glibc's freopen cannot reopen a cookie stream (it has no wide-character
 * part and freopen reaches for it).  Ours are closed as freopen closes the
 * old file first, and the call fails: EINVAL, logged.  The stream is gone,
 * as after any failed freopen.
 */
static int
ours(FILE *f)
{
	struct session *s;

	if (f == NULL || f->_fileno < 0 || (s = hook_session(f->_fileno)) == NULL)
		return 0;
	fdobj_put(&s->hdr);
	return 1;
}

static FILE *
reopen_refused(FILE *f)
{
	log_error("freopen of a stream on a TLS socket (fd %d) is not supported; closed it",
	    f->_fileno);
	fclose(f);
	errno = EINVAL;
	return NULL;
}

HOOK FILE *
freopen(const char *path, const char *mode, FILE *f)
{
	return ours(f) ? reopen_refused(f) : REAL(freopen)(path, mode, f);
}

HOOK FILE *
freopen64(const char *path, const char *mode, FILE *f)
{
	return ours(f) ? reopen_refused(f) : REAL(freopen64)(path, mode, f);
}

/* What dprintf returns: the count, or -1 (errno from the format or the write). */
static int
send_formatted(int fd, char *text, int n)
{
	ssize_t w;

	if (n < 0)
		return -1;
	w = write_all(fd, text, (size_t)n);
	free(text);
	return w == n ? n : -1;
}

static int
hook_vdprintf(int fd, const char *fmt, va_list ap)
{
	struct session *s = hook_session(fd);
	char *text = NULL;

	if (s == NULL)
		return REAL(vdprintf)(fd, fmt, ap);
	fdobj_put(&s->hdr);
	return send_formatted(fd, text, vasprintf(&text, fmt, ap));
}

HOOK int
vdprintf(int fd, const char *fmt, va_list ap)
{
	return hook_vdprintf(fd, fmt, ap);
}

HOOK int
dprintf(int fd, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = hook_vdprintf(fd, fmt, ap);
	va_end(ap);
	return r;
}

/* The fortified names keep their checks (%n in writable formats): glibc's own formatter. */
static int
hook_vdprintf_chk(int fd, int flag, const char *fmt, va_list ap)
{
	struct session *s = hook_session(fd);
	char *text = NULL;

	if (s == NULL)
		return REAL(__vdprintf_chk)(fd, flag, fmt, ap);
	fdobj_put(&s->hdr);
	return send_formatted(fd, text, __vasprintf_chk(&text, flag, fmt, ap));
}

HOOK int
__vdprintf_chk(int fd, int flag, const char *fmt, va_list ap)
{
	return hook_vdprintf_chk(fd, flag, fmt, ap);
}

HOOK int
__dprintf_chk(int fd, int flag, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = hook_vdprintf_chk(fd, flag, fmt, ap);
	va_end(ap);
	return r;
}
