/* io.c: the data calls; on a wrapped socket they read and write through its session. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "common/real.h"
#include "hooks/hooks.h"
#include "preload/claim.h"
#include "preload/readiness.h"
#include "preload/relay.h"

#define SENDFILE_CHUNK	65536

/* Flags a TLS stream cannot honour. */
#define RECV_UNSUPPORTED (MSG_OOB | MSG_ERRQUEUE)

static ssize_t
do_recv(struct session *s, const struct iovec *iov, int iovcnt, int flags)
{
	ssize_t r;
	int e;

	if (flags & RECV_UNSUPPORTED) {
		fdobj_put(&s->hdr);
		errno = EINVAL;
		return -1;
	}
	r = session_recv(s, iov, iovcnt, flags);
	e = errno;
	if (r > 0 && fdobj_watched(&s->hdr) && session_buffered(s))
		epollset_note_buffered(s);
	fdobj_put(&s->hdr);
	errno = e;
	return r;
}

static ssize_t
do_send(struct session *s, const struct iovec *iov, int iovcnt, int flags)
{
	ssize_t r;
	int e;

	if (flags & MSG_OOB) {
		fdobj_put(&s->hdr);
		errno = EOPNOTSUPP;
		return -1;
	}
	r = session_send(s, iov, iovcnt, flags);
	e = errno;
	if (fdobj_watched(&s->hdr) && session_has_output(s))
		epollset_rearm(&s->hdr);
	fdobj_put(&s->hdr);
	errno = e;
	return r;
}

ssize_t
hook_read(int fd, void *buf, size_t len)
{
	struct session *s = hook_session(fd);
	struct iovec iov = { buf, len };

	return s ? do_recv(s, &iov, 1, 0) : REAL(read)(fd, buf, len);
}

ssize_t
hook_write(int fd, const void *buf, size_t len)
{
	struct session *s = hook_session(fd);
	struct iovec iov = { (void *)buf, len };

	return s ? do_send(s, &iov, 1, 0) : REAL(write)(fd, buf, len);
}

HOOK ssize_t
read(int fd, void *buf, size_t len)
{
	return hook_read(fd, buf, len);
}

/* glibc exports its internal names too; a program may call them. */
HOOK ssize_t
__read(int fd, void *buf, size_t len)
{
	return hook_read(fd, buf, len);
}

HOOK ssize_t
__read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	if (len > buflen)
		abort();	/* what glibc's __chk_fail does, without its message */
	return hook_read(fd, buf, len);
}

HOOK ssize_t
write(int fd, const void *buf, size_t len)
{
	return hook_write(fd, buf, len);
}

HOOK ssize_t
__write(int fd, const void *buf, size_t len)
{
	return hook_write(fd, buf, len);
}

static ssize_t
hook_recv(int fd, void *buf, size_t len, int flags)
{
	struct session *s = hook_session(fd);
	struct iovec iov = { buf, len };

	return s ? do_recv(s, &iov, 1, flags) : REAL(recv)(fd, buf, len, flags);
}

HOOK ssize_t
recv(int fd, void *buf, size_t len, int flags)
{
	return hook_recv(fd, buf, len, flags);
}

HOOK ssize_t
__recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
	if (len > buflen)
		abort();
	return hook_recv(fd, buf, len, flags);
}

/* A TCP stream has no source address per datagram: *alen becomes 0, as Linux does. */
static ssize_t
hook_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr, socklen_t *alen)
{
	struct session *s = hook_session(fd);
	struct iovec iov = { buf, len };

	if (s == NULL)
		return REAL(recvfrom)(fd, buf, len, flags, addr, alen);
	if (addr && alen)
		*alen = 0;
	return do_recv(s, &iov, 1, flags);
}

HOOK ssize_t
recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr, socklen_t *alen)
{
	return hook_recvfrom(fd, buf, len, flags, addr, alen);
}

HOOK ssize_t
__recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
    struct sockaddr *addr, socklen_t *alen)
{
	if (len > buflen)
		abort();
	return hook_recvfrom(fd, buf, len, flags, addr, alen);
}

static ssize_t
hook_send(int fd, const void *buf, size_t len, int flags)
{
	struct session *s = hook_session(fd);
	struct iovec iov = { (void *)buf, len };

	return s ? do_send(s, &iov, 1, flags) : REAL(send)(fd, buf, len, flags);
}

HOOK ssize_t
send(int fd, const void *buf, size_t len, int flags)
{
	return hook_send(fd, buf, len, flags);
}

HOOK ssize_t
__send(int fd, const void *buf, size_t len, int flags)
{
	return hook_send(fd, buf, len, flags);
}

/*
 * TCP Fast Open connects and sends in one call: to a matched destination the
 * data would leave in the SYN, in plaintext.  Connect through our hook
 * instead; the data follows through the session (or EINPROGRESS, as a
 * non-blocking Fast Open without a cookie would say).
 */
static struct session *
fastopen_connect(int fd, const struct sockaddr *addr, socklen_t alen, int *err)
{
	*err = 0;
	if (addr == NULL || claim_client_rule(fd, addr, alen) == NULL)
		return NULL;
	if (hook_connect(fd, addr, alen) == -1) {
		*err = errno;
		return NULL;
	}
	return hook_session(fd);
}

/* A connected TCP socket ignores the destination address. */
HOOK ssize_t
sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr,
    socklen_t alen)
{
	struct session *s = hook_session(fd);
	struct iovec iov = { (void *)buf, len };
	int err;

	if (s == NULL && (flags & MSG_FASTOPEN)) {
		s = fastopen_connect(fd, addr, alen, &err);
		if (err) {
			errno = err;
			return -1;
		}
		flags &= ~MSG_FASTOPEN;
	}
	return s ? do_send(s, &iov, 1, flags) : REAL(sendto)(fd, buf, len, flags, addr, alen);
}

/*
 * A listening socket passed to us (haproxy's seamless reload, a supervisor)
 * is wrapped by the same rules as one we made.
 */
static int
adopt_listener(int fd, void *arg)
{
	struct fdobj *o;

	if ((o = claim_listener(fd)) != NULL)
		fdobj_put(o);
	return 0;
}

static void
adopt_passed_listeners(const struct msghdr *msg)
{
	relay_foreach_passed(msg, adopt_listener, NULL);
}

static ssize_t
hook_recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct session *s = hook_session(fd);
	ssize_t r;
	int e;

	if (s == NULL) {
		r = REAL(recvmsg)(fd, msg, flags);
		if (r >= 0 && msg->msg_controllen > 0) {
			e = errno;
			adopt_passed_listeners(msg);
			errno = e;
		}
		return r;
	}
	msg->msg_namelen = 0;
	msg->msg_controllen = 0;
	msg->msg_flags = 0;
	return do_recv(s, msg->msg_iov, (int)msg->msg_iovlen, flags);
}

HOOK ssize_t
recvmsg(int fd, struct msghdr *msg, int flags)
{
	return hook_recvmsg(fd, msg, flags);
}

/*
 * A session passed to another process (dovecot's login -> imap) goes to a
 * relay first: the receiver has no TLS state for it.  ENOMEM or ENOBUFS
 * when no relay could be made (logged); nothing is sent then.
 */
static int
pass_refused(const struct msghdr *msg)
{
	if (msg == NULL || msg->msg_controllen == 0 || relay_before_pass(msg) == 0)
		return 0;
	errno = errno == ENOMEM ? ENOMEM : ENOBUFS;
	return 1;
}

static ssize_t
hook_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct session *s = hook_session(fd);
	int err;

	if (s == NULL && pass_refused(msg))
		return -1;
	if (s == NULL && (flags & MSG_FASTOPEN)) {
		s = fastopen_connect(fd, msg->msg_name, msg->msg_namelen, &err);
		if (err) {
			errno = err;
			return -1;
		}
		flags &= ~MSG_FASTOPEN;
	}
	return s ? do_send(s, msg->msg_iov, (int)msg->msg_iovlen, flags) :
	    REAL(sendmsg)(fd, msg, flags);
}

HOOK ssize_t
sendmsg(int fd, const struct msghdr *msg, int flags)
{
	return hook_sendmsg(fd, msg, flags);
}

/* With offset -1 these are readv and writev with flags: on a socket, the session's. */
HOOK ssize_t
preadv2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
	struct session *s = off == -1 ? hook_session(fd) : NULL;

	if (s == NULL)
		return REAL(preadv2)(fd, iov, iovcnt, off, flags);
	return do_recv(s, iov, iovcnt, (flags & RWF_NOWAIT) ? MSG_DONTWAIT : 0);
}

/* off_t is 64 bits here: the same function under glibc's other name. */
HOOK ssize_t	preadv64v2(int, const struct iovec *, int, off_t, int) __attribute__((alias("preadv2")));

HOOK ssize_t
pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
	struct session *s = off == -1 ? hook_session(fd) : NULL;

	if (s == NULL)
		return REAL(pwritev2)(fd, iov, iovcnt, off, flags);
	return do_send(s, iov, iovcnt, (flags & RWF_NOWAIT) ? MSG_DONTWAIT : 0);
}

/* off_t is 64 bits here: the same function under glibc's other name. */
HOOK ssize_t	pwritev64v2(int, const struct iovec *, int, off_t, int) __attribute__((alias("pwritev2")));

/*
 * POSIX AIO runs the transfer in glibc's own threads with its internal
 * calls: on a wrapped socket it would bypass TLS.  EINVAL, logged.
 */
static int
aio_refused(const struct aiocb *cb)
{
	struct session *s;

	if (cb == NULL || (s = hook_session(cb->aio_fildes)) == NULL)
		return 0;
	log_error("rule=%s: POSIX AIO on a TLS socket is not supported (fd %d); refused",
	    s->rule->name, cb->aio_fildes);
	fdobj_put(&s->hdr);
	errno = EINVAL;
	return 1;
}

static int
hook_aio_read(struct aiocb *cb)
{
	return aio_refused(cb) ? -1 : REAL(aio_read)(cb);
}

HOOK int
aio_read(struct aiocb *cb)
{
	return hook_aio_read(cb);
}

/* The 64-bit names: the same struct where off_t has 64 bits, as on every target we build. */
_Static_assert(sizeof(struct aiocb) == sizeof(struct aiocb64), "aiocb64 differs");

HOOK int
aio_read64(struct aiocb64 *cb)
{
	return hook_aio_read((struct aiocb *)cb);
}

static int
hook_aio_write(struct aiocb *cb)
{
	return aio_refused(cb) ? -1 : REAL(aio_write)(cb);
}

HOOK int
aio_write(struct aiocb *cb)
{
	return hook_aio_write(cb);
}

HOOK int
aio_write64(struct aiocb64 *cb)
{
	return hook_aio_write((struct aiocb *)cb);
}

static int
hook_lio_listio(int mode, struct aiocb *const list[], int n, struct sigevent *sev)
{
	int i;

	for (i = 0; i < n; i++)
		if (list[i] != NULL && list[i]->aio_lio_opcode != LIO_NOP && aio_refused(list[i]))
			return -1;
	return REAL(lio_listio)(mode, list, n, sev);
}

HOOK int
lio_listio(int mode, struct aiocb *const list[], int n, struct sigevent *sev)
{
	return hook_lio_listio(mode, list, n, sev);
}

HOOK int
lio_listio64(int mode, struct aiocb64 *const list[], int n, struct sigevent *sev)
{
	return hook_lio_listio(mode, (struct aiocb *const *)list, n, sev);
}

HOOK ssize_t
readv(int fd, const struct iovec *iov, int iovcnt)
{
	struct session *s = hook_session(fd);

	return s ? do_recv(s, iov, iovcnt, 0) : REAL(readv)(fd, iov, iovcnt);
}

HOOK ssize_t
writev(int fd, const struct iovec *iov, int iovcnt)
{
	struct session *s = hook_session(fd);

	return s ? do_send(s, iov, iovcnt, 0) : REAL(writev)(fd, iov, iovcnt);
}

/* One message per call on a stream: the first message gets what one recvmsg gets. */
HOOK int
recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags, struct timespec *t)
{
	struct session *s = hook_session(fd);
	unsigned int i;
	ssize_t r;

	if (s == NULL) {
		r = REAL(recvmmsg)(fd, v, n, flags, t);
		for (i = 0; r > 0 && i < (unsigned int)r; i++)
			if (v[i].msg_hdr.msg_controllen > 0)
				adopt_passed_listeners(&v[i].msg_hdr);
		return (int)r;
	}
	if (n == 0) {
		fdobj_put(&s->hdr);
		return 0;
	}
	fdobj_put(&s->hdr);
	if ((r = hook_recvmsg(fd, &v[0].msg_hdr, flags & ~MSG_WAITFORONE)) < 0)
		return -1;
	v[0].msg_len = (unsigned int)r;
	return 1;
}

HOOK int
sendmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags)
{
	struct session *s = hook_session(fd);
	unsigned int i;
	ssize_t r;

	for (i = 0; s == NULL && i < n; i++)
		if (pass_refused(&v[i].msg_hdr))
			return -1;
	if (s == NULL && !(flags & MSG_FASTOPEN))
		return REAL(sendmmsg)(fd, v, n, flags);
	fdobj_put(s ? &s->hdr : NULL);
	for (i = 0; i < n; i++) {
		if ((r = hook_sendmsg(fd, &v[i].msg_hdr, flags)) < 0)
			return i > 0 ? (int)i : -1;
		v[i].msg_len = (unsigned int)r;
	}
	return (int)n;
}

/* The kernel would copy file bytes to the socket as they are: emulated through the session. */
static ssize_t
sendfile_emulated(struct session *s, int out, int in, off_t *off, size_t count)
{
	char *buf;
	size_t done = 0;
	ssize_t n, w;
	struct iovec iov;
	int e = 0;

	if ((buf = malloc(SENDFILE_CHUNK)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	while (done < count) {
		size_t want = count - done < SENDFILE_CHUNK ? count - done : SENDFILE_CHUNK;
		n = off ? REAL(pread)(in, buf, want, *off) : REAL(read)(in, buf, want);
		if (n <= 0) {
			e = n < 0 ? errno : 0;
			break;
		}
		iov.iov_base = buf;
		iov.iov_len = (size_t)n;
		w = session_send(s, &iov, 1, 0);
		if (w < 0) {
			e = errno;
			if (!off)
				lseek(in, -n, SEEK_CUR);
			break;
		}
		if (off)
			*off += w;
		else if (w < n)
			lseek(in, -(n - w), SEEK_CUR);
		done += (size_t)w;
		if (w < n)
			break;
	}
	free(buf);
	if (done == 0 && e != 0) {
		errno = e;
		return -1;
	}
	return (ssize_t)done;
}

static ssize_t
hook_sendfile(int out, int in, off_t *off, size_t count)
{
	struct session *s = hook_session(out);
	ssize_t r;
	int e;

	if (s == NULL)
		return REAL(sendfile)(out, in, off, count);
	r = sendfile_emulated(s, out, in, off, count);
	e = errno;
	if (fdobj_watched(&s->hdr) && session_has_output(s))
		epollset_rearm(&s->hdr);
	fdobj_put(&s->hdr);
	errno = e;
	return r;
}

HOOK ssize_t
sendfile(int out, int in, off_t *off, size_t count)
{
	return hook_sendfile(out, in, off, count);
}

HOOK ssize_t
sendfile64(int out, int in, off_t *off, size_t count)
{
	return hook_sendfile(out, in, off, count);
}

/* Raw bytes must not bypass TLS: EINVAL, as for descriptors splice cannot join. */
static int
raw_copy_refused(int a, int b)
{
	struct session *s;

	if ((s = hook_session(a)) == NULL && (s = hook_session(b)) == NULL)
		return 0;
	fdobj_put(&s->hdr);
	errno = EINVAL;
	return 1;
}

HOOK ssize_t
splice(int in, off_t *inoff, int out, off_t *outoff, size_t len, unsigned int flags)
{
	if (raw_copy_refused(in, out))
		return -1;
	return REAL(splice)(in, inoff, out, outoff, len, flags);
}

HOOK ssize_t
copy_file_range(int in, off_t *inoff, int out, off_t *outoff, size_t len, unsigned int flags)
{
	if (raw_copy_refused(in, out))
		return -1;
	return REAL(copy_file_range)(in, inoff, out, outoff, len, flags);
}

/* FIONREAD counts decrypted bytes ready to read. */
HOOK int
ioctl(int fd, unsigned long req, ...)
{
	struct session *s;
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req == FIONREAD && arg != NULL && (s = hook_session(fd)) != NULL) {
		*(int *)arg = session_nread(s);
		fdobj_put(&s->hdr);
		return 0;
	}
	return REAL(ioctl)(fd, req, arg);
}
