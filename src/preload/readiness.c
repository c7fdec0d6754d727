/* readiness.c: poll and select as the program must see them over TLS sessions. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/deadline.h"
#include "engine/engine.h"
#include "preload/fdtable.h"
#include "preload/listener.h"
#include "preload/readiness.h"
#include "common/real.h"
#include "engine/session.h"

/*
 * The kernel sees ciphertext; the program must see plaintext.  A session
 * is readable when decrypted data, EOF or an error waits, not when only a
 * ticket arrived; a client still handshaking is not yet writable; a
 * listener is readable when a verified connection waits to be accepted.
 * When translation leaves nothing to report, we wait again for the time left.
 */

/* Readable without asking the kernel: data, EOF or error already in the session. */
static int
session_readable_now(struct session *s)
{
	if (s->rd_eof || s->rd_err || s->state == SS_FAILED)
		return 1;
	/* Buffered bytes may be a partial record: only a pump tells. */
	return session_buffered(s) && session_readable(s);
}

/* What the program sees for a session; kr is what the kernel said. */
static short
session_revents(struct session *s, short events, short kr, int hint)
{
	short rev = 0;
	int r;

	if (s->state == SS_CONNECTING || s->state == SS_HANDSHAKE) {
		if (!kr && !hint && session_deadline_ms(s) > 0)
			return 0;
		if ((r = session_step(s)) != STEP_DONE && r != STEP_FAILED)
			return 0;
		kr = 0;
		hint = 1;
	}
	if (s->state == SS_FAILED)
		return (short)((events & (POLLIN | POLLOUT)) | POLLERR | POLLHUP);
	if ((kr & POLLOUT) && session_has_output(s))
		session_flush_output(s);
	if ((events & POLLIN) && (hint || (kr & (POLLIN | POLLHUP | POLLERR))) &&
	    session_readable(s))
		rev |= POLLIN;
	if (hint && (events & POLLOUT))
		rev |= POLLOUT;
	rev |= kr & (POLLOUT | POLLERR | POLLHUP | POLLNVAL | POLLPRI | POLLRDHUP) & (events | POLLERR | POLLHUP | POLLNVAL);
	return rev;
}

int
readiness_poll(struct pollfd *fds, nfds_t n, const struct timespec *timeout,
    const sigset_t *sigmask)
{
	static const struct timespec zero = { 0, 0 };
	struct timespec deadline = { 0, 0 }, left = { 0, 0 };
	struct pollfd *work = NULL;
	struct fdobj **objs = NULL;
	nfds_t i, cnt, *comp = NULL;
	int *hint = NULL, r, out = -1, step;

	for (i = 0; i < n; i++)
		if (fdtable_known(fds[i].fd))
			break;
	if (i == n)
		return REAL(ppoll)(fds, n, timeout, sigmask);

	objs = calloc(n, sizeof(*objs));
	hint = calloc(n, sizeof(*hint));
	comp = calloc(n, sizeof(*comp));
	work = calloc(2 * n, sizeof(*work));
	if (objs == NULL || hint == NULL || comp == NULL || work == NULL) {
		errno = ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++)
		objs[i] = fdtable_get(fds[i].fd);
	if (timeout)
		deadline = deadline_after(timeout);
	for (;;) {
		/* Idle sessions give their buffers back; the wait ends in time for that. */
		int immediate = 0, hs_ms = engine_loaded() ? session_sweep_idle() : -1, ms;

		cnt = n;
		for (i = 0; i < n; i++) {
			struct fdobj *o = objs[i];

			work[i] = fds[i];
			work[i].revents = 0;
			hint[i] = 0;
			comp[i] = 0;
			if (o == NULL)
				continue;
			if (o->kind == FD_SESSION) {
				struct session *s = (struct session *)o;
				if (s->state == SS_CONNECTING || s->state == SS_HANDSHAKE) {
					step = session_step(s);
					if (step == STEP_DONE || step == STEP_FAILED)
						hint[i] = immediate = 1;
					else {
						work[i].events = (short)step;
						work[i].fd = session_wait_fd(s);
						/* Wake for the handshake's deadline too. */
						ms = session_deadline_ms(s);
						if (hs_ms < 0 || ms < hs_ms)
							hs_ms = ms + 1;
					}
				} else {
					if ((fds[i].events & POLLIN) && session_readable_now(s))
						hint[i] = immediate = 1;
					/* Records the kernel has not taken yet go out when it can. */
					if (session_has_output(s))
						work[i].events |= POLLOUT;
				}
			} else if (o->kind == FD_LISTENER) {
				struct listener *l = (struct listener *)o;
				if (listener_nready(l) > 0)
					hint[i] = immediate = 1;
				if ((work[cnt].fd = listener_pollfd(l)) >= 0) {
					work[cnt].events = POLLIN;
					work[cnt].revents = 0;
					comp[i] = cnt++;	/* where its companion sits */
				}
			}
		}
		if (immediate)
			left = zero;
		else if (timeout)
			left = deadline_left(&deadline);
		if (!immediate && hs_ms >= 0 && (!timeout ||
		    left.tv_sec * 1000 + left.tv_nsec / 1000000 > hs_ms)) {
			left.tv_sec = hs_ms / 1000;
			left.tv_nsec = (long)(hs_ms % 1000) * 1000000L;
		}
		r = REAL(ppoll)(work, cnt, (immediate || timeout || hs_ms >= 0) ? &left : NULL,
		    sigmask);
		if (r < 0)
			goto out;
		out = 0;
		for (i = 0; i < n; i++) {
			struct fdobj *o = objs[i];
			short kr = work[i].revents;

			if (o == NULL)
				fds[i].revents = kr;
			else if (o->kind == FD_SESSION)
				fds[i].revents = session_revents((struct session *)o,
				    fds[i].events, kr, hint[i]);
			else if (o->kind == FD_LISTENER) {
				struct listener *l = (struct listener *)o;
				int queued = 0;
				if (kr & POLLIN) {
					if (listener_accepting(l))
						listener_take(l);
					else
						queued = 1;	/* for whoever accepts */
				}
				if (comp[i] && work[comp[i]].revents)
					listener_service(l);
				fds[i].revents = (short)((listener_nready(l) > 0 || queued ?
				    (fds[i].events & POLLIN) : 0) | (kr & (POLLERR | POLLHUP | POLLNVAL)));
			} else
				fds[i].revents = kr;
			if (fds[i].revents)
				out++;
		}
		if (out > 0 || (timeout && deadline_passed(&deadline)))
			break;
	}
 out:
	if (objs)
		for (i = 0; i < n; i++)
			fdobj_put(objs[i]);
	free(objs);
	free(hint);
	free(comp);
	free(work);
	return out;
}

int
readiness_select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timespec *tv,
    const sigset_t *sigmask)
{
	struct pollfd *p;
	int fd, n = 0, r, out = 0;

	if (nfds < 0 || nfds > FD_SETSIZE) {
		errno = EINVAL;
		return -1;
	}
	if ((p = calloc((size_t)nfds + 1, sizeof(*p))) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	for (fd = 0; fd < nfds; fd++) {
		short ev = 0;
		if (rd && FD_ISSET(fd, rd))
			ev |= POLLIN;
		if (wr && FD_ISSET(fd, wr))
			ev |= POLLOUT;
		if (ex && FD_ISSET(fd, ex))
			ev |= POLLPRI;
		if (ev) {
			p[n].fd = fd;
			p[n].events = ev;
			n++;
		}
	}
	struct timespec deadline = { 0, 0 };

	if (tv)
		deadline = deadline_after(tv);
	r = readiness_poll(p, (nfds_t)n, tv, sigmask);
	if (tv)
		*tv = deadline_left(&deadline);
	if (r < 0) {
		free(p);
		return -1;
	}
	for (fd = 0; fd < n; fd++)
		if (p[fd].revents & POLLNVAL) {
			free(p);
			errno = EBADF;
			return -1;
		}
	if (rd)
		FD_ZERO(rd);
	if (wr)
		FD_ZERO(wr);
	if (ex)
		FD_ZERO(ex);
	for (fd = 0; fd < n; fd++) {
		short rev = p[fd].revents;
		if (rd && (p[fd].events & POLLIN) && (rev & (POLLIN | POLLHUP | POLLERR))) {
			FD_SET(p[fd].fd, rd);
			out++;
		}
		if (wr && (p[fd].events & POLLOUT) && (rev & (POLLOUT | POLLERR))) {
			FD_SET(p[fd].fd, wr);
			out++;
		}
		if (ex && (p[fd].events & POLLPRI) && (rev & POLLPRI)) {
			FD_SET(p[fd].fd, ex);
			out++;
		}
	}
	free(p);
	return out;
}
