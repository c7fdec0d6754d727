/* fd.c: close and the dup family, so sessions follow their fds. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/lockstat.h"
#include "hooks/hooks.h"
#include "preload/listener.h"
#include "preload/readiness.h"
#include "common/real.h"
#include "preload/relay.h"
#include "preload/shim.h"

struct other_name {
	struct fdobj	*obj;
	int		 except, found;
};

static void
find_other_name(int fd, struct fdobj *o, void *arg)
{
	struct other_name *n = arg;

	if (o == n->obj && fd != n->except && n->found < 0)
		n->found = fd;
}

/*
 * The socket calls of a session or listener go through one of its fds;
 * when that one closes (dup2 onto 0 and 1, then close), a copy takes over.
 */
static void
move_to_other_name(struct fdobj *o, int fd)
{
	struct other_name n = { o, fd, -1 };
	struct session *s;
	struct listener *l;

	fdtable_foreach(find_other_name, &n);
	if (n.found < 0)
		return;
	if (o->kind == FD_SESSION) {
		s = (struct session *)o;
		pthread_mutex_lock(&s->lock);
		if (s->fd == fd)
			s->fd = n.found;
		pthread_mutex_unlock(&s->lock);
	} else if (o->kind == FD_LISTENER) {
		l = (struct listener *)o;
		plock(&l->lock);
		if (l->fd == fd)
			l->fd = n.found;
		pthread_mutex_unlock(&l->lock);
	}
}

int
hook_forget_fd(int fd, int reuse)
{
	struct fdobj *o;
	int deferred = 0;

	/* A vfork child shares our memory: its closes are not our sessions' ends. */
	if (!fdtable_known(fd) || shim_in_vfork_child() || (o = fdtable_get(fd)) == NULL)
		return 0;
	epollset_forget_fd(fd);
	if (o->kind == FD_SESSION && atomic_load(&o->slots) == 1)
		/* The last name: close_notify goes out while the fd is still ours. */
		deferred = session_close((struct session *)o);
	else if (atomic_load(&o->slots) > 1)
		move_to_other_name(o, fd);
	if (deferred && reuse) {
		/* The caller's real call takes the number next: closed first. */
		session_await_close((struct session *)o);
		deferred = 0;
	}
	if (!deferred)
		fdtable_clear(fd);
	fdobj_put(o);
	return deferred;
}

int
hook_close(int fd)
{
	int saved = errno;

	if (hook_forget_fd(fd, 0)) {
		errno = saved;
		return 0;	/* a thread blocked on it closes it as it leaves */
	}
	errno = saved;
	return REAL(close)(fd);
}

/* 0, or -1 with EBADF/EINTR/EIO as close(2); a wrapped fd ends its session first. */
HOOK int
close(int fd)
{
	return hook_close(fd);
}

HOOK int
__close(int fd)
{
	return hook_close(fd);
}

int
hook_guard_stdio(int fd)
{
	struct fdobj *o;
	int r = 0;

	if (fd < 0 || fd > 2 || !fdtable_known(fd) || (o = fdtable_get(fd)) == NULL)
		return 0;
	if (o->kind == FD_SESSION)
		r = relay_handover((struct session *)o, "on standard input/output");
	fdobj_put(o);
	return r;
}

/*
 * newfd now names what oldfd names.  -1 (EMFILE) if it landed on 0, 1 or 2
 * and could not be guarded: newfd is closed then, never left a TLS socket
 * that stdio would write plaintext to.
 */
static int
dup_follow(int oldfd, int newfd)
{
	struct fdobj *o;

	if (newfd < 0 || shim_in_vfork_child() || (o = fdtable_get(oldfd)) == NULL)
		return newfd;
	if (o->kind == FD_SESSION)
		((struct session *)o)->claimed = 1;	/* e.g. onto 0 and 1 before exec */
	if (o->kind != FD_EPOLL)
		fdtable_set(newfd, o);
	fdobj_put(o);
	if (hook_guard_stdio(newfd) == -1) {
		hook_forget_fd(newfd, 1);
		REAL(close)(newfd);
		errno = EMFILE;
		return -1;
	}
	return newfd;
}

HOOK int
dup(int fd)
{
	int r = REAL(dup)(fd);

	if (r >= 0 && fdtable_known(fd))
		r = dup_follow(fd, r);
	return r;
}

HOOK int
dup3(int oldfd, int newfd, int flags)
{
	int r, saved = errno;

	if (oldfd != newfd && fdtable_known(newfd)) {
		hook_forget_fd(newfd, 1);	/* dup3 closes newfd silently */
		errno = saved;
	}
	r = REAL(dup3)(oldfd, newfd, flags);
	if (r >= 0 && (fdtable_known(r) || fdtable_known(oldfd)) && !shim_in_vfork_child()) {
		fdtable_clear(r);	/* a close deferred to blocked threads ends here */
		if (fdtable_known(oldfd))
			r = dup_follow(oldfd, r);
	}
	return r;
}

/* dup2 onto a wrapped fd forgets it first, as close would; not when dup2 fails with EBADF. */
static int
hook_dup2(int oldfd, int newfd)
{
	int r, saved = errno;

	if (oldfd != newfd && fdtable_known(newfd) && REAL(fcntl)(oldfd, F_GETFD) != -1) {
		hook_forget_fd(newfd, 1);
		errno = saved;
	}
	r = REAL(dup2)(oldfd, newfd);
	if (r >= 0 && oldfd != newfd && (fdtable_known(r) || fdtable_known(oldfd)) &&
	    !shim_in_vfork_child()) {
		fdtable_clear(r);
		if (fdtable_known(oldfd))
			r = dup_follow(oldfd, r);
	}
	return r;
}

HOOK int
dup2(int oldfd, int newfd)
{
	return hook_dup2(oldfd, newfd);
}

HOOK int
__dup2(int oldfd, int newfd)
{
	return hook_dup2(oldfd, newfd);
}

static int
fcntl_common(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
	int r = real(fd, cmd, arg);

	if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && fdtable_known(fd))
		r = dup_follow(fd, r);
	return r;
}

HOOK int
fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(REAL(fcntl), fd, cmd, arg);
}

/* glibc's exported internal name; variadic, so the same code under both names. */
HOOK int	__fcntl(int, int, ...) __attribute__((alias("fcntl")));

HOOK int
fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(REAL(fcntl64) ? REAL(fcntl64) : REAL(fcntl), fd, cmd, arg);
}

struct range {
	unsigned int	 first, last;
	int		*fds;
	size_t		 n, cap;
};

static void
range_collect(int fd, struct fdobj *o, void *arg)
{
	struct range *r = arg;
	int *p;

	if ((unsigned)fd < r->first || (unsigned)fd > r->last)
		return;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		if ((p = realloc(r->fds, r->cap * sizeof(*p))) == NULL)
			return;
		r->fds = p;
	}
	r->fds[r->n++] = fd;
}

/* Sessions in the range end properly before the kernel closes their fds. */
static void
forget_range(unsigned int first, unsigned int last)
{
	struct range r = { first, last, NULL, 0, 0 };
	size_t i;

	if (shim_in_vfork_child())
		return;
	fdtable_foreach(range_collect, &r);
	/* The real call closes every number, deferred or not. */
	for (i = 0; i < r.n; i++) {
		hook_forget_fd(r.fds[i], 1);
		fdtable_clear(r.fds[i]);
	}
	free(r.fds);
}

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

HOOK int
close_range(unsigned int first, unsigned int last, int flags)
{
	int saved = errno;

	if (!(flags & CLOSE_RANGE_CLOEXEC))
		forget_range(first, last);
	errno = saved;
	if (REAL(close_range))
		return REAL(close_range)(first, last, flags);
	return (int)syscall(SYS_close_range, first, last, flags);
}

HOOK void
closefrom(int lowfd)
{
	int saved = errno;

	forget_range(lowfd < 0 ? 0 : (unsigned)lowfd, ~0U);
	errno = saved;
	if (REAL(closefrom))
		REAL(closefrom)(lowfd);
	else
		syscall(SYS_close_range, lowfd < 0 ? 0 : lowfd, ~0U, 0);
}
