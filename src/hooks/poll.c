/* poll.c: poll, ppoll and select, with readiness translated for sessions. */
#include <errno.h>
#include <stdlib.h>

#include "hooks/hooks.h"
#include "preload/readiness.h"
#include "common/real.h"

static struct timespec
ms_ts(int ms)
{
	struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000L };

	return t;
}

static int
hook_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	struct timespec t = ms_ts(timeout);

	return readiness_poll(fds, n, timeout < 0 ? NULL : &t, NULL);
}

HOOK int
poll(struct pollfd *fds, nfds_t n, int timeout)
{
	return hook_poll(fds, n, timeout);
}

HOOK int
__poll(struct pollfd *fds, nfds_t n, int timeout)
{
	return hook_poll(fds, n, timeout);
}

HOOK int
__poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		abort();
	return hook_poll(fds, n, timeout);
}

HOOK int
ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *mask)
{
	return readiness_poll(fds, n, t, mask);
}

HOOK int
__ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *t,
    const sigset_t *mask, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		abort();
	return readiness_poll(fds, n, t, mask);
}

/* Sets of fds the shim knows nothing about go straight to the kernel. */
static int
select_known(int nfds, fd_set *rd, fd_set *wr, fd_set *ex)
{
	int fd;

	if (nfds > FD_SETSIZE)
		nfds = FD_SETSIZE;
	for (fd = 0; fd < nfds; fd++)
		if (((rd && FD_ISSET(fd, rd)) || (wr && FD_ISSET(fd, wr)) ||
		    (ex && FD_ISSET(fd, ex))) && fdtable_known(fd))
			return 1;
	return 0;
}

static int
hook_select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
	struct timespec t;
	int r;

	if (!select_known(nfds, rd, wr, ex))
		return REAL(select)(nfds, rd, wr, ex, tv);
	if (tv && (tv->tv_sec < 0 || tv->tv_usec < 0)) {
		errno = EINVAL;
		return -1;
	}
	if (tv) {
		t.tv_sec = tv->tv_sec;
		t.tv_nsec = tv->tv_usec * 1000;
	}
	r = readiness_select(nfds, rd, wr, ex, tv ? &t : NULL, NULL);
	if (tv) {
		tv->tv_sec = t.tv_sec;
		tv->tv_usec = t.tv_nsec / 1000;
	}
	return r;
}

HOOK int
select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
	return hook_select(nfds, rd, wr, ex, tv);
}

HOOK int
__select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv)
{
	return hook_select(nfds, rd, wr, ex, tv);
}

HOOK int
pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *ts,
    const sigset_t *mask)
{
	struct timespec t;

	if (!select_known(nfds, rd, wr, ex))
		return REAL(pselect)(nfds, rd, wr, ex, ts, mask);
	if (ts)
		t = *ts;
	return readiness_select(nfds, rd, wr, ex, ts ? &t : NULL, mask);
}
