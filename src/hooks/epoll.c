/* epoll.c: the epoll calls, with readiness translated for sessions and listeners. */
#include "hooks/hooks.h"
#include "preload/readiness.h"
#include "common/real.h"

HOOK int
epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	return epollset_ctl(epfd, op, fd, ev);
}

HOOK int
epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	struct timespec t = { timeout / 1000, (long)(timeout % 1000) * 1000000L };

	return epollset_wait(epfd, ev, max, timeout < 0 ? NULL : &t, NULL, 0);
}

HOOK int
epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout, const sigset_t *mask)
{
	struct timespec t = { timeout / 1000, (long)(timeout % 1000) * 1000000L };

	return epollset_wait(epfd, ev, max, timeout < 0 ? NULL : &t, mask, 0);
}

HOOK int
epoll_pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *t,
    const sigset_t *mask)
{
	return epollset_wait(epfd, ev, max, t, mask, 1);
}
