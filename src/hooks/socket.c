/* socket.c: connect, listen, accept, shutdown and getsockopt on matched sockets. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>

#include "common/real.h"
#include "hooks/hooks.h"
#include "preload/claim.h"
#include "preload/fdforget.h"
#include "preload/listener.h"
#include "preload/readiness.h"
#include "preload/relayed.h"
#include "preload/shim.h"

/*
 * A second connect() on a wrapped socket reports progress the way the
 * kernel does: EALREADY while the handshake runs, EISCONN once done, the
 * handshake's error (ECONNREFUSED, ETIMEDOUT) if it failed.
 */
static int
connect_again(struct session *s)
{
	int r = session_step(s);

	/* A blocking retry (after EINTR) waits for the outcome, as the kernel's does. */
	if (r != STEP_DONE && r != STEP_FAILED && !(REAL(fcntl)(s->fd, F_GETFL) & O_NONBLOCK))
		return session_handshake_blocking(s);
	if (r == STEP_DONE)
		errno = EISCONN;
	else if (r == STEP_FAILED) {
		session_take_error(s);
		errno = s->err;
	} else
		errno = EALREADY;
	return -1;
}

/* Returns 0; -1/EINPROGRESS (non-blocking); -1/ECONNREFUSED, ETIMEDOUT, or the TCP error. */
int
hook_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	const struct rule *rule;
	struct session *s;
	int r, e;

	if ((s = hook_session(fd)) != NULL) {
		r = connect_again(s);
		e = errno;
		fdobj_put(&s->hdr);
		errno = e;
		return r;
	}
	if ((rule = claim_client_rule(fd, sa, len)) == NULL)
		return REAL(connect)(fd, sa, len);
	r = REAL(connect)(fd, sa, len);
	/*
	 * Interrupted or already under way, the kernel goes on connecting: the
	 * socket is ours from here, or the program's next write is plaintext.
	 */
	e = errno;
	if (r == -1 && e != EINPROGRESS && e != EINTR && e != EALREADY && e != EISCONN)
		return -1;
	if ((s = session_new(fd, rule, shim_holder(rule), 0, sa, len, r == -1)) == NULL) {
		REAL(shutdown)(fd, SHUT_RDWR);	/* never plaintext */
		errno = errno == ECONNREFUSED ? ECONNREFUSED : ENOBUFS;
		return -1;
	}
	fdobj_hold(&s->hdr);
	if (fdtable_set(fd, &s->hdr) == -1) {
		REAL(shutdown)(fd, SHUT_RDWR);
		fdobj_put(&s->hdr);
		errno = ENOBUFS;
		return -1;
	}
	epollset_adopt(fd, &s->hdr);
	if (r == -1 && e != EINPROGRESS) {
		fdobj_put(&s->hdr);
		errno = e;
		return -1;
	}
	if (r == -1 || (REAL(fcntl)(fd, F_GETFL) & O_NONBLOCK)) {
		r = session_step(s);
		if (r == STEP_DONE)
			r = 0;
		else {
			errno = r == STEP_FAILED ? s->err : EINPROGRESS;
			if (r == STEP_FAILED)
				session_take_error(s);
			r = -1;
		}
	} else
		r = session_handshake_blocking(s);
	e = errno;
	fdobj_put(&s->hdr);
	/* A program that closed its standard descriptors may connect on one: see hook_guard_stdio. */
	if ((r == 0 || e == EINPROGRESS) && hook_guard_stdio(fd) == -1) {
		REAL(shutdown)(fd, SHUT_RDWR);
		e = ENOBUFS;
		r = -1;
	}
	errno = e;
	return r;
}

HOOK int
connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	return hook_connect(fd, sa, len);
}

HOOK int
__connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	return hook_connect(fd, sa, len);
}

HOOK int
listen(int fd, int backlog)
{
	struct fdobj *o;
	int r = REAL(listen)(fd, backlog);

	if (r == 0 && !fdtable_known(fd) && (o = claim_listener(fd)) != NULL) {
		epollset_adopt(fd, o);
		fdobj_put(o);
	}
	return r;
}

/* As the kernel's accept4, but only verified peers come out; errors as accept4 documents. */
static int
hook_accept4(int fd, struct sockaddr *addr, socklen_t *alen, int flags)
{
	struct fdobj *o = fdtable_get(fd);
	struct listener *l;
	int r, e;

	if (o == NULL)
		o = claim_listener(fd);
	if (o == NULL || o->kind != FD_LISTENER) {
		fdobj_put(o);
		return REAL(accept4)(fd, addr, alen, flags);
	}
	l = (struct listener *)o;
	r = listener_accept(l, addr, alen, flags);
	/* A daemon that closed its standard descriptors may get a connection on one. */
	if (r >= 0 && hook_guard_stdio(r) == -1) {
		fdforget_one(r, 1);
		REAL(close)(r);
		errno = ENOBUFS;
		r = -1;
	}
	e = errno;
	/* Level-triggered epoll waiters must still see what is queued. */
	if (listener_nready(l) > 0)
		epollset_note_ready(o);
	fdobj_put(o);
	errno = e;
	return r;
}

HOOK int
accept4(int fd, struct sockaddr *addr, socklen_t *alen, int flags)
{
	return hook_accept4(fd, addr, alen, flags);
}

HOOK int
accept(int fd, struct sockaddr *addr, socklen_t *alen)
{
	return hook_accept4(fd, addr, alen, 0);
}

/* close_notify first; a non-blocking caller's FIN may follow the records still queued. */
HOOK int
shutdown(int fd, int how)
{
	struct session *s = hook_session(fd);
	int now = 1;

	if (s != NULL) {
		if (how == SHUT_WR || how == SHUT_RDWR)
			now = session_shutdown_write(s);
		fdobj_put(&s->hdr);
	}
	if (now)
		return REAL(shutdown)(fd, how);
	return how == SHUT_RDWR ? REAL(shutdown)(fd, SHUT_RD) : 0;
}

/* SO_ERROR reports a failed handshake of a non-blocking connect, once. */
HOOK int
getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	struct session *s;
	int e;

	if (level != SOL_SOCKET || name != SO_ERROR || (s = hook_session(fd)) == NULL)
		return REAL(getsockopt)(fd, level, name, val, len);
	e = session_take_error(s);
	fdobj_put(&s->hdr);
	if (e == 0)
		return REAL(getsockopt)(fd, level, name, val, len);
	if (val == NULL || len == NULL || *len < sizeof(int)) {
		errno = EINVAL;
		return -1;
	}
	*(int *)val = e;
	*len = sizeof(int);
	return 0;
}

/* A socket relayed into this image (relayed.c) shows the TCP connection's addresses. */
HOOK int
getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
	if (relayed_sockname(fd, 1, sa, len) == 0)
		return 0;
	return REAL(getpeername)(fd, sa, len);
}

HOOK int
getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{
	if (relayed_sockname(fd, 0, sa, len) == 0)
		return 0;
	return REAL(getsockname)(fd, sa, len);
}

/* ...and takes TCP and IP options (TCP_NODELAY, IP_TOS) as the TCP socket would. */
HOOK int
setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	if ((level == IPPROTO_TCP || level == IPPROTO_IP || level == IPPROTO_IPV6) &&
	    relayed_known(fd))
		return 0;
	return REAL(setsockopt)(fd, level, name, val, len);
}
