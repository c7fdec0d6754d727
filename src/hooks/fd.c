/* fd.c: close and the dup family, so sessions follow their fds. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/real.h"
#include "hooks/hooks.h"
#include "preload/fdforget.h"
#include "preload/forkstate.h"
#include "preload/relay.h"

int
hook_close(int fd)
{
	int saved = errno;

	if (fdforget_one(fd, 0)) {
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

	if (newfd < 0 || forkstate_in_vfork_child() || (o = fdtable_get(oldfd)) == NULL)
		return newfd;
	if (o->kind == FD_SESSION)
		/* e.g. onto 0 and 1 before exec; no lock: a flag the exec reads */
		__atomic_store_n(&((struct session *)o)->claimed, 1, __ATOMIC_RELAXED);
	if (o->kind != FD_EPOLL)
		fdtable_set(newfd, o);
	fdobj_put(o);
	if (hook_guard_stdio(newfd) == -1) {
		fdforget_one(newfd, 1);
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
		fdforget_one(newfd, 1);	/* dup3 closes newfd silently */
		errno = saved;
	}
	r = REAL(dup3)(oldfd, newfd, flags);
	if (r >= 0 && (fdtable_known(r) || fdtable_known(oldfd)) && !forkstate_in_vfork_child()) {
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
		fdforget_one(newfd, 1);
		errno = saved;
	}
	r = REAL(dup2)(oldfd, newfd);
	if (r >= 0 && oldfd != newfd && (fdtable_known(r) || fdtable_known(oldfd)) &&
	    !forkstate_in_vfork_child()) {
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

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

HOOK int
close_range(unsigned int first, unsigned int last, int flags)
{
	int saved = errno;

	if (!(flags & CLOSE_RANGE_CLOEXEC))
		fdforget_range(first, last);
	errno = saved;
	if (REAL(close_range))
		return REAL(close_range)(first, last, flags);
	return (int)syscall(SYS_close_range, first, last, flags);
}

HOOK void
closefrom(int lowfd)
{
	int saved = errno;

	fdforget_range(lowfd < 0 ? 0 : (unsigned)lowfd, ~0U);
	errno = saved;
	if (REAL(closefrom))
		REAL(closefrom)(lowfd);
	else
		syscall(SYS_close_range, lowfd < 0 ? 0 : lowfd, ~0U, 0);
}
