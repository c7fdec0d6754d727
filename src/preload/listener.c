/* listener.c: a listening socket under a server rule; handshakes run before accept returns. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/deadline.h"
#include "common/lockstat.h"
#include "preload/listener.h"
#include "common/log.h"
#include "preload/offload.h"
#include "common/real.h"
#include "common/rules.h"
#include "engine/engine.h"
#include "engine/session.h"
#include "engine/staple_fetch.h"
#include "engine/tlsctx.h"
#include "preload/signals.h"

#define TAKE_MAX	64	/* connections taken from the kernel per call */
#define PENDING_MAX	4096	/* handshakes in flight; more wait in the kernel's backlog */
#define OCSP_LOOK_MS	50	/* how often pending OCSP exchanges are looked at for their deadline */

static void
q_push(struct session **head, struct session **tail, struct session *s)
{
	s->lnext = NULL;
	s->lprev = *tail;
	if (*tail)
		(*tail)->lnext = s;
	else
		*head = s;
	*tail = s;
}

static void
q_remove(struct session **head, struct session **tail, struct session *s)
{
	if (s->lprev)
		s->lprev->lnext = s->lnext;
	else
		*head = s->lnext;
	if (s->lnext)
		s->lnext->lprev = s->lprev;
	else
		*tail = s->lprev;
	s->lnext = s->lprev = NULL;
}

/* Our own fds close with the raw syscall: the program's close() is a hook. */
static void
raw_close(int fd)
{
	if (fd >= 0)
		syscall(SYS_close, fd);
}

static void
listener_destroy(struct fdobj *o)
{
	struct listener *l = (struct listener *)o;
	struct session *s;

	while ((s = l->pend_head) != NULL) {
		q_remove(&l->pend_head, &l->pend_tail, s);
		raw_close(s->fd);
		fdobj_put(&s->hdr);
	}
	while ((s = l->ready_head) != NULL) {
		q_remove(&l->ready_head, &l->ready_tail, s);
		raw_close(s->fd);
		fdobj_put(&s->hdr);
	}
	while (l->nplain > 0)
		raw_close(l->plain[--l->nplain].fd);
	free(l->plain);
	raw_close(l->reply[0]);
	raw_close(l->reply[1]);
	raw_close(l->pfd);
	raw_close(l->tfd);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

struct listener *
listener_new(int fd, const struct rule *r, struct tlsholder *tls)
{
	struct listener *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->hdr.kind = FD_LISTENER;
	l->hdr.destroy = listener_destroy;
	pthread_mutex_init(&l->lock, NULL);
	l->fd = fd;
	l->rule = r;
	l->tls = tls;
	l->pfd = l->tfd = l->sfd = -1;
	l->reply[0] = l->reply[1] = -1;
	return l;
}

/* l->lock held. */
static int
listener_pollfd_locked(struct listener *l)
{
	struct epoll_event ev = { .events = EPOLLIN };

	if (l->pfd >= 0)
		return l->pfd;
	l->pfd = epoll_create1(EPOLL_CLOEXEC);
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (l->pfd < 0 || l->tfd < 0) {
		raw_close(l->pfd);
		raw_close(l->tfd);
		l->pfd = l->tfd = -1;
		return -1;
	}
	ev.data.ptr = NULL;	/* NULL marks the timer */
	REAL(epoll_ctl)(l->pfd, EPOLL_CTL_ADD, l->tfd, &ev);
	return l->pfd;
}

int
listener_pollfd(struct listener *l)
{
	int fd;

	plock(&l->lock);
	fd = listener_pollfd_locked(l);
	pthread_mutex_unlock(&l->lock);
	return fd;
}

/* Arms the timer for the oldest pending handshake (or the staple's fetch), if it is not already. */
static void
listener_arm(struct listener *l)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	if (l->pend_head) {
		its.it_value = l->pend_head->deadline;
		if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
			its.it_value.tv_nsec = 1;
	}
	/* The staple's next fetch, or the deadline of the one in flight. */
	if ((l->sdue.tv_sec != 0 || l->sdue.tv_nsec != 0) &&
	    ((its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) ||
	    deadline_before(&l->sdue, &its.it_value)))
		its.it_value = l->sdue;
	/* OCSP exchanges end at their own deadlines, sooner: looked at every OCSP_LOOK_MS. */
	if (l->nocsp > 0) {
		const struct timespec look = { 0, OCSP_LOOK_MS * 1000000L };
		struct timespec soon = deadline_after(&look);

		if (deadline_before(&soon, &its.it_value))
			its.it_value = soon;
	}
	if (its.it_value.tv_sec == l->armed.tv_sec && its.it_value.tv_nsec == l->armed.tv_nsec)
		return;
	/* Disarming also drops expirations not yet read: the set shows none after. */
	timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL);
	l->armed = its.it_value;
}

/* Moves s on after a step; l->lock held. */
static void
listener_after_step(struct listener *l, struct session *s, int r)
{
	struct epoll_event ev;
	int fd;

	if (r == STEP_DONE || r == STEP_FAILED) {
		REAL(epoll_ctl)(l->pfd, EPOLL_CTL_DEL, s->lfd, NULL);
		if (s->lfd != s->fd)
			l->nocsp--;
		q_remove(&l->pend_head, &l->pend_tail, s);
		l->npending--;
		if (r == STEP_DONE) {
			q_push(&l->ready_head, &l->ready_tail, s);
			l->nready++;
		} else {
			raw_close(s->fd);
			fdobj_put(&s->hdr);
		}
		return;
	}
	ev.events = (uint32_t)(r == POLLIN ? EPOLLIN : EPOLLOUT);
	ev.data.ptr = s;
	/*
	 * An OCSP check waits on the responder's socket instead (session_wait_fd).
	 * Its number may be that of the exchange before, closed and so gone
	 * from the set: an OCSP socket is always registered again.
	 */
	if ((fd = session_wait_fd(s)) != s->lfd) {
		REAL(epoll_ctl)(l->pfd, EPOLL_CTL_DEL, s->lfd, NULL);
		l->nocsp += (fd != s->fd) - (s->lfd != s->fd);
		s->lfd = fd;
	} else if (ev.events == s->levents && fd == s->fd)
		return;
	if (REAL(epoll_ctl)(l->pfd, EPOLL_CTL_MOD, fd, &ev) == -1 && errno == ENOENT)
		REAL(epoll_ctl)(l->pfd, EPOLL_CTL_ADD, fd, &ev);
	s->levents = ev.events;
}

/*
 * ocsp_stapling: steps the fetch of the rule's staple and watches its
 * socket in our set (data: &l->sfd).  A closed socket left the set by
 * itself, and its number may be another's since: a socket is registered
 * again at every step, never removed by number.  l->lock held.
 */
static void
listener_staple(struct listener *l)
{
	struct epoll_event ev;
	int fd, events;

	if (!l->rule->ocsp_stapling || !engine_loaded() || listener_pollfd_locked(l) < 0)
		return;
	l->sgen = __atomic_load_n(&l->tls->gen, __ATOMIC_ACQUIRE);
	fd = tlsholder_staple_step(l->tls, l, &events, &l->sdue);
	l->sfd = fd;
	if (fd < 0)
		return;
	ev.events = (uint32_t)(events == POLLIN ? EPOLLIN : EPOLLOUT);
	ev.data.ptr = &l->sfd;
	if (REAL(epoll_ctl)(l->pfd, EPOLL_CTL_MOD, fd, &ev) == -1 && errno == ENOENT)
		REAL(epoll_ctl)(l->pfd, EPOLL_CTL_ADD, fd, &ev);
}

void
listener_start(struct listener *l)
{
	if (!l->rule->ocsp_stapling)
		return;
	plock(&l->lock);
	listener_staple(l);
	listener_arm(l);
	pthread_mutex_unlock(&l->lock);
}

/*
 * A process that gave up fork hands the connection to the helper; what it
 * verifies comes back on l->reply[0], which our set watches (data: l).
 * l->lock held.
 */
static void
listener_offload(struct listener *l, int fd, struct sockaddr *sa, socklen_t salen)
{
	struct epoll_event ev = { .events = EPOLLIN };

	if (l->reply[0] < 0) {
		if (listener_pollfd_locked(l) < 0 ||
		    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
		    l->reply) == -1) {
			l->reply[0] = l->reply[1] = -1;
			goto fail;
		}
		ev.data.ptr = l;
		if (REAL(epoll_ctl)(l->pfd, EPOLL_CTL_ADD, l->reply[0], &ev) == -1) {
			raw_close(l->reply[0]);
			raw_close(l->reply[1]);
			l->reply[0] = l->reply[1] = -1;
			goto fail;
		}
	}
	if (offload_submit(fd, l->rule, sa, salen, l->reply[1]) == 0)
		return;
	log_error("rule=%s: dropping a connection: the TLS helper is gone: %s",
	    l->rule->name, strerror(errno));
	return;
 fail:
	log_error("rule=%s: dropping a connection: %s", l->rule->name, strerror(errno));
	raw_close(fd);
}

/* Verified connections the helper sent back; l->lock held. */
static void
listener_take_plain(struct listener *l)
{
	struct listener_plain *p;
	int fd, cap;

	for (;;) {
		if (l->nplain == l->capplain) {
			cap = l->capplain ? 2 * l->capplain : 8;
			if ((p = realloc(l->plain, (size_t)cap * sizeof(*p))) == NULL)
				return;	/* they wait in the socket */
			l->plain = p;
			l->capplain = cap;
		}
		p = &l->plain[l->nplain];
		if ((fd = offload_receive(l->reply[0], &p->peer, &p->len)) < 0)
			return;
		p->fd = fd;
		l->nplain++;
		l->nready++;
	}
}

/* A new connection from the kernel; l->lock held. */
static void
listener_add(struct listener *l, int fd, struct sockaddr *sa, socklen_t salen)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct session *s;
	int r;

	if (offload_active()) {
		listener_offload(l, fd, sa, salen);
		return;
	}
	if (listener_pollfd_locked(l) < 0 ||
	    (s = session_new(fd, l->rule, l->tls, 1, sa, salen, 0)) == NULL) {
		log_error("rule=%s: dropping a connection: %s", l->rule->name, strerror(errno));
		raw_close(fd);
		return;
	}
	fdobj_hold(&s->hdr);
	ev.data.ptr = s;
	if (REAL(epoll_ctl)(l->pfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		raw_close(fd);
		fdobj_put(&s->hdr);
		return;
	}
	s->levents = ev.events;
	s->lfd = fd;
	q_push(&l->pend_head, &l->pend_tail, s);
	l->npending++;
	/* On loopback the ClientHello is often here already. */
	r = session_step(s);
	listener_after_step(l, s, r);
}

/* One raw accept; returns the fd or -1 with the kernel's errno.  l->lock held. */
static int
listener_take_one(struct listener *l)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd;

	if (l->npending >= PENDING_MAX) {
		errno = EAGAIN;
		return -1;
	}
	fd = REAL(accept4)(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd >= 0)
		listener_add(l, fd, (struct sockaddr *)&ss, len);
	return fd;
}

static int
readable_now(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return REAL(poll)(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

void
listener_take(struct listener *l)
{
	int i;

	plock(&l->lock);
	/* Each accept is preceded by a check, so a blocking socket never blocks here. */
	for (i = 0; i < TAKE_MAX && readable_now(l->fd); i++)
		if (listener_take_one(l) < 0)
			break;
	pthread_mutex_unlock(&l->lock);
}

/* l->lock held. */
static int
listener_service_locked(struct listener *l)
{
	struct epoll_event evs[64];
	struct timespec now;
	struct session *s, *next;
	uint64_t ticks;
	int n, i;

	/*
	 * The staple's fetch is due, a fork child's listener has not stepped it
	 * yet, or a rotation replaced the context (a new certificate: a new fetch).
	 */
	if (l->rule->ocsp_stapling && (l->pfd < 0 || deadline_passed(&l->sdue) ||
	    __atomic_load_n(&l->tls->gen, __ATOMIC_ACQUIRE) != l->sgen))
		listener_staple(l);
	/* Nothing pending, the timer disarmed, no helper, no fetch: the set has nothing to say. */
	if (l->pfd < 0 || (l->npending == 0 && l->armed.tv_sec == 0 && l->armed.tv_nsec == 0 &&
	    l->reply[0] < 0 && l->sfd < 0))
		return l->nready;
	do {
		n = REAL(epoll_wait)(l->pfd, evs, 64, 0);
		for (i = 0; i < n; i++) {
			s = evs[i].data.ptr;
			if ((void *)s == (void *)l) {
				listener_take_plain(l);
				continue;
			}
			if ((void *)s == (void *)&l->sfd) {
				listener_staple(l);
				continue;
			}
			if (s == NULL) {
				/* A one-shot timer that fired is disarmed. */
				while (REAL(read)(l->tfd, &ticks, sizeof(ticks)) > 0)
					memset(&l->armed, 0, sizeof(l->armed));
				continue;
			}
			listener_after_step(l, s, session_step(s));
		}
	} while (n == 64);
	/* An OCSP exchange whose time is up gives its verdict (ocsp_timeout). */
	for (s = l->nocsp > 0 ? l->pend_head : NULL; s != NULL; s = next) {
		next = s->lnext;
		if (s->lfd != s->fd && session_deadline_ms(s) == 0)
			listener_after_step(l, s, session_step(s));
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	while ((s = l->pend_head) != NULL &&
	    (s->deadline.tv_sec < now.tv_sec ||
	    (s->deadline.tv_sec == now.tv_sec && s->deadline.tv_nsec <= now.tv_nsec))) {
		session_fail_timeout(s);
		listener_after_step(l, s, STEP_FAILED);
	}
	listener_arm(l);
	return l->nready;
}

int
listener_service(struct listener *l)
{
	int n;

	plock(&l->lock);
	n = listener_service_locked(l);
	pthread_mutex_unlock(&l->lock);
	return n;
}

int
listener_nready(struct listener *l)
{
	return __atomic_load_n(&l->nready, __ATOMIC_RELAXED);
}

int
listener_accepting(struct listener *l)
{
	return __atomic_load_n(&l->accepting, __ATOMIC_RELAXED);
}

/* Hands a verified plaintext end to the program as accept4 would; l->lock held. */
static int
listener_pop_plain(struct listener *l, struct sockaddr *addr, socklen_t *alen, int flags)
{
	struct listener_plain p = l->plain[0];
	socklen_t n;

	memmove(l->plain, l->plain + 1, (size_t)--l->nplain * sizeof(*l->plain));
	l->nready--;
	if (flags & SOCK_NONBLOCK)
		REAL(fcntl)(p.fd, F_SETFL, REAL(fcntl)(p.fd, F_GETFL) | O_NONBLOCK);
	if (!(flags & SOCK_CLOEXEC))
		REAL(fcntl)(p.fd, F_SETFD, 0);
	if (addr && alen) {
		n = *alen < p.len ? *alen : p.len;
		memcpy(addr, &p.peer, n);
		*alen = p.len;
	}
	return p.fd;
}

/* Hands a ready session to the program as accept4 would; l->lock held. */
static int
listener_pop(struct listener *l, struct sockaddr *addr, socklen_t *alen, int flags)
{
	struct session *s = l->ready_head;
	socklen_t n;
	int fd;

	if (s == NULL)
		return listener_pop_plain(l, addr, alen, flags);
	fd = s->fd;

	q_remove(&l->ready_head, &l->ready_tail, s);
	l->nready--;
	if (!(flags & SOCK_NONBLOCK))
		REAL(fcntl)(fd, F_SETFL, REAL(fcntl)(fd, F_GETFL) & ~O_NONBLOCK);
	if (!(flags & SOCK_CLOEXEC))
		REAL(fcntl)(fd, F_SETFD, 0);
	if (addr && alen) {
		n = *alen < s->peerlen ? *alen : s->peerlen;
		memcpy(addr, &s->peer, n);
		*alen = s->peerlen;
	}
	fdtable_set(fd, &s->hdr);
	fdobj_put(&s->hdr);	/* the queue's reference; the fd slot holds one now */
	return fd;
}

int
listener_accept(struct listener *l, struct sockaddr *addr, socklen_t *alen, int flags)
{
	struct pollfd p[2];
	int nonblock, fd, r, i;

	__atomic_store_n(&l->accepting, 1, __ATOMIC_RELAXED);
	plock(&l->lock);
	for (;;) {
		listener_service_locked(l);
		if (l->ready_head || l->nplain > 0) {
			fd = listener_pop(l, addr, alen, flags);
			pthread_mutex_unlock(&l->lock);
			return fd;
		}
		nonblock = REAL(fcntl)(l->fd, F_GETFL) & O_NONBLOCK;
		if (nonblock) {
			for (i = 0; i < TAKE_MAX; i++) {
				if (listener_take_one(l) >= 0)
					continue;
				if (errno != EAGAIN && errno != EWOULDBLOCK)
					goto fail;	/* EMFILE and friends, as the kernel said */
				break;
			}
			listener_service_locked(l);
			if (l->ready_head || l->nplain > 0)
				continue;
			errno = EAGAIN;
			goto fail;
		}
		/* Blocking: wait for a new connection or progress on a pending one. */
		p[0].fd = l->fd;
		p[0].events = POLLIN;
		p[1].fd = listener_pollfd_locked(l);
		p[1].events = POLLIN;
		p[0].revents = p[1].revents = 0;
		pthread_mutex_unlock(&l->lock);
		r = REAL(poll)(p, p[1].fd >= 0 ? 2 : 1, -1);
		plock(&l->lock);
		if (r < 0) {
			if (errno == EINTR && signals_restart())
				continue;
			goto fail;
		}
		if ((p[0].revents & POLLIN) && readable_now(l->fd) &&
		    listener_take_one(l) < 0 && errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			goto fail;
	}
 fail:
	pthread_mutex_unlock(&l->lock);
	return -1;
}

void
listener_atfork_child(struct listener *l)
{
	struct session *s;

	pthread_mutex_init(&l->lock, NULL);
	/* Closing our copies leaves the parent's connections and epoll set alone. */
	while ((s = l->pend_head) != NULL) {
		q_remove(&l->pend_head, &l->pend_tail, s);
		raw_close(s->fd);
		session_mark_forked(s, 1);
		fdobj_put(&s->hdr);
	}
	while ((s = l->ready_head) != NULL) {
		q_remove(&l->ready_head, &l->ready_tail, s);
		raw_close(s->fd);
		session_mark_forked(s, 1);
		fdobj_put(&s->hdr);
	}
	while (l->nplain > 0)
		raw_close(l->plain[--l->nplain].fd);
	raw_close(l->reply[0]);
	raw_close(l->reply[1]);
	l->reply[0] = l->reply[1] = -1;
	l->npending = l->nready = 0;
	l->accepting = 0;	/* a worker accepts, or its master merely polls */
	raw_close(l->pfd);
	raw_close(l->tfd);
	l->pfd = l->tfd = -1;
	memset(&l->armed, 0, sizeof(l->armed));
	/* The parent's fetch is the parent's (tlsholder_staple_atfork_child): ours at the next service. */
	l->sfd = -1;
	memset(&l->sdue, 0, sizeof(l->sdue));
}
