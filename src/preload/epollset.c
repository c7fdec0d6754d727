/* epollset.c: epoll as the program must see it over TLS sessions and verifying listeners. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/lockstat.h"
#include "common/deadline.h"
#include "engine/engine.h"
#include "preload/fdtable.h"
#include "preload/listener.h"
#include "preload/readiness.h"
#include "common/real.h"
#include "engine/session.h"
#include "preload/claim.h"
#include "preload/shim.h"

/*
 * Our fds are registered in the program's epoll set with a cookie of ours
 * as data, so that epoll_wait can tell their events apart, translate them
 * (ciphertext → plaintext readiness, handshakes, listeners) and give the
 * program back its own data.  A listener's private epoll set of pending
 * handshakes joins the program's set too, so the program wakes when a
 * handshake can progress or times out.  Readiness the kernel cannot show
 * (decrypted bytes left after a read, verified connections queued) sits on
 * the set's check list until reported.
 *
 * Each set has its own lock and its own tables, so threads that each wait
 * on their own set (memcached, haproxy, nginx's workers) share nothing on
 * the way.  An object's list of registrations (one per set it is in) has
 * its own small lock, taken after a set's; code that holds none of them
 * and must change registrations in every set (rearm, close) first notes
 * the sets under the object's lock, then takes each set's.
 */

struct epreg {
	struct epset	*set;
	int		 fd;
	uint32_t	 app_events;
	epoll_data_t	 app_data;
	struct fdobj	*obj;		/* session or listener (held) */
	struct epreg	*pfdreg;	/* a listener's: its pending-handshake set */
	struct epreg	*owner;		/* a pending-handshake set's: the listener's */
	unsigned	 gen;		/* a pending-handshake set's: ep_gen when added */
	uint64_t	 cookie;
	atomic_int	 checking;	/* on the set's check list (CHECK_*); set lock-free */
	int		 disarmed;	/* EPOLLONESHOT fired; waits for MOD */
	int		 hs;		/* its session was handshaking when last looked at */
	unsigned	 stamp;		/* the set's epoll_wait call that reported it */
	struct epreg	*hnext, *snext, *onext, *fnext;
	struct epreg	**sprevp;	/* what points at it in the set's list */
	struct epreg	*lnext, **lprevp;	/* a listener's, in the set's list of them */
};

struct epset {
	struct fdobj	 hdr;
	pthread_mutex_t	 lock;		/* everything below, and its registrations */
	int		 epfd;
	struct epreg	*regs;
	struct epreg	*lregs;		/* the listeners among regs, in the same order */
	int		 nhs;		/* regs with hs set */
	unsigned	 gen;		/* ep_gen its listener companions were made in */
	unsigned	 rot;		/* where the next check-list scan starts */
	unsigned	 stamp;		/* counts its epoll_wait calls */
	struct epreg	**cbuckets;	/* its registrations by cookie... */
	struct epreg	**fbuckets;	/* ...and the program's by fd */
	unsigned	 nbuckets, nreg;
	struct epreg	*cache;		/* freed registrations for reuse */
	int		 ncache;
	int		 dead;		/* its fd is being closed: no new registrations */
};

#define NBUCKETS	4096		/* the registry of plain fds */
#define SET_BUCKETS	64		/* a new set's tables; they double as it grows */
#define EP_BATCH	256	/* events returned by one wait at most (stack, no malloc) */
/* Why a registration is on the check list: what the session holds, or the socket too. */
#define CHECK_HELD	1
#define CHECK_FULL	2
#define STALE_MS	50	/* a forked child's wait while its parent may share the set */
/*
 * Freed registrations kept for reuse: a program may DEL and ADD on every
 * request.  Not under AddressSanitizer, which must see a use after free.
 */
#ifdef __SANITIZE_ADDRESS__
#define REG_CACHE	0
#else
#define REG_CACHE	64
#endif
/* The sets a fork handler locked (epollset_atfork_prepare), held. */
static struct epset	**fork_sets;
static int		 nfork_sets;
static unsigned		 ep_gen;	/* forks survived: listeners' private sets are new */
static pid_t		 ep_parent;	/* the process we forked from */
static pid_t		 ep_forker;	/* set by the forking process itself */
static pthread_once_t	 cookie_once = PTHREAD_ONCE_INIT;
static uint64_t		 cookie_key;
static uint64_t		 cookie_seq;	/* cookies are key ^ seq, never reused */

static void
cookie_init(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	/* is_cookie reads it from any thread, without the once. */
	__atomic_store_n(&cookie_key, ((uint64_t)getpid() << 40 ^ (uint64_t)(uintptr_t)&cookie_key ^
	    ((uint64_t)t.tv_nsec << 20) ^ (uint64_t)t.tv_sec * 0x9e3779b97f4a7c15ULL) |
	    (1ULL << 63), __ATOMIC_RELAXED);
}

static struct epreg **
bucket(struct epset *set, uint64_t cookie)
{
	return &set->cbuckets[(cookie ^ (cookie >> 29)) & (set->nbuckets - 1)];
}

/* An object's list of registrations: a few instructions at a time, never a system call. */
static void
regs_lock(struct fdobj *o)
{
	int n = 0;

	while (atomic_flag_test_and_set_explicit(&o->regs_lock, memory_order_acquire))
		spin_wait(&n);
}

static void
regs_unlock(struct fdobj *o)
{
	atomic_flag_clear_explicit(&o->regs_lock, memory_order_release);
}

/*
 * One of ours, even if its registration is gone (a stale event from a
 * kernel queue): such events are dropped, never shown as program data.
 * Program data that happens to fall in our range has odds of about
 * cookie_seq / 2^63.
 */
static int
is_cookie(uint64_t v)
{
	uint64_t key = __atomic_load_n(&cookie_key, __ATOMIC_RELAXED);

	return key != 0 && (v ^ key) - 1 < __atomic_load_n(&cookie_seq, __ATOMIC_RELAXED);
}

/* set->lock held. */
static struct epreg *
reg_by_cookie(struct epset *set, uint64_t cookie)
{
	struct epreg *r;

	for (r = *bucket(set, cookie); r; r = r->hnext)
		if (r->cookie == cookie)
			return r;
	return NULL;
}

static void set_empty(struct epset *);

static void
epset_destroy(struct fdobj *o)
{
	struct epset *set = (struct epset *)o;
	struct epreg *r;

	/*
	 * Closing its fd emptied it (epollset_forget_fd); a registration that
	 * raced that close would leave an object pointing here.  obj_sets
	 * takes no set whose references are gone, and this waits on the
	 * object's list lock to unlink it.
	 */
	pthread_mutex_lock(&set->lock);
	set_empty(set);
	pthread_mutex_unlock(&set->lock);
	while ((r = set->cache) != NULL) {
		set->cache = r->hnext;
		free(r);
	}
	free(set->cbuckets);
	free(set->fbuckets);
	pthread_mutex_destroy(&set->lock);
	free(set);
}

static struct epreg **
fdbucket(const struct epset *set, int fd)
{
	return &set->fbuckets[((unsigned)fd * 0x9e3779b1u) & (set->nbuckets - 1)];
}

/* Doubles the set's tables once it holds more registrations than buckets; set->lock held. */
static void
set_grow(struct epset *set)
{
	unsigned nb = set->nbuckets * 2, i;
	struct epreg **cb, **fb, *r, *next;

	if ((cb = calloc(nb, sizeof(*cb))) == NULL || (fb = calloc(nb, sizeof(*fb))) == NULL) {
		free(cb);
		return;			/* longer chains, no harm */
	}
	for (i = 0; i < set->nbuckets; i++) {
		for (r = set->cbuckets[i]; r; r = next) {
			next = r->hnext;
			r->hnext = cb[(r->cookie ^ (r->cookie >> 29)) & (nb - 1)];
			cb[(r->cookie ^ (r->cookie >> 29)) & (nb - 1)] = r;
		}
		for (r = set->fbuckets[i]; r; r = next) {
			next = r->fnext;
			r->fnext = fb[((unsigned)r->fd * 0x9e3779b1u) & (nb - 1)];
			fb[((unsigned)r->fd * 0x9e3779b1u) & (nb - 1)] = r;
		}
	}
	free(set->cbuckets);
	free(set->fbuckets);
	set->cbuckets = cb;
	set->fbuckets = fb;
	set->nbuckets = nb;
}

/* The program's registration of fd in set, if any; set->lock held. */
static struct epreg *
reg_find(struct epset *set, int fd)
{
	struct epreg *r;

	for (r = *fdbucket(set, fd); r; r = r->fnext)
		if (r->fd == fd && r->set == set)
			return r;
	return NULL;
}

static void
unlink_from(struct epreg **head, struct epreg *r, size_t off)
{
	struct epreg **pp;

	for (pp = head; *pp; pp = (struct epreg **)((char *)*pp + off))
		if (*pp == r) {
			*pp = *(struct epreg **)((char *)r + off);
			return;
		}
}

/* Forgets r (and its pending-handshake companion); r->set->lock held. */
static void
reg_free(struct epreg *r)
{
	struct epset *set = r->set;

	if (r->pfdreg)
		reg_free(r->pfdreg);
	unlink_from(bucket(set, r->cookie), r, offsetof(struct epreg, hnext));
	set->nreg--;
	if ((*r->sprevp = r->snext) != NULL)
		r->snext->sprevp = r->sprevp;
	if (r->lprevp != NULL && (*r->lprevp = r->lnext) != NULL)
		r->lnext->lprevp = r->lprevp;
	if (r->hs)
		r->set->nhs--;
	if (r->obj) {
		unlink_from(fdbucket(r->set, r->fd), r, offsetof(struct epreg, fnext));
		regs_lock(r->obj);
		atomic_fetch_sub_explicit(&r->obj->nregs, 1, memory_order_relaxed);
		if (r->obj->regs == r)	/* the head: fdobj_watched reads it unlocked */
			__atomic_store_n(&r->obj->regs, r->onext, __ATOMIC_RELAXED);
		else
			unlink_from(&r->obj->regs, r, offsetof(struct epreg, onext));
		regs_unlock(r->obj);
		fdobj_put(r->obj);
	}
	if (set->ncache < REG_CACHE) {
		r->hnext = set->cache;
		set->cache = r;
		set->ncache++;
	} else
		free(r);
}

/* A registration of fd in set; obj NULL for a listener's companion.  set->lock held. */
static struct epreg *
reg_new(struct epset *set, int fd, struct fdobj *obj)
{
	struct epreg *r;

	if (set->dead) {
		errno = EBADF;
		return NULL;
	}
	if ((r = set->cache) != NULL) {
		set->cache = r->hnext;
		set->ncache--;
		memset(r, 0, sizeof(*r));
	} else if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	pthread_once(&cookie_once, cookie_init);
	if (set->nreg >= set->nbuckets)
		set_grow(set);
	set->nreg++;
	r->set = set;
	r->fd = fd;
	r->cookie = __atomic_add_fetch(&cookie_seq, 1, __ATOMIC_RELAXED) ^ cookie_key;
	r->hnext = *bucket(set, r->cookie);
	*bucket(set, r->cookie) = r;
	if ((r->snext = set->regs) != NULL)
		r->snext->sprevp = &r->snext;
	r->sprevp = &set->regs;
	set->regs = r;
	if (obj) {
		fdobj_hold(obj);
		r->obj = obj;
		regs_lock(obj);
		atomic_fetch_add_explicit(&obj->nregs, 1, memory_order_relaxed);
		r->onext = obj->regs;
		__atomic_store_n(&obj->regs, r, __ATOMIC_RELAXED);	/* fdobj_watched peeks */
		regs_unlock(obj);
		r->fnext = *fdbucket(set, fd);
		*fdbucket(set, fd) = r;
		if (obj->kind == FD_LISTENER) {
			if ((r->lnext = set->lregs) != NULL)
				r->lnext->lprevp = &r->lnext;
			r->lprevp = &set->lregs;
			set->lregs = r;
		} else if (obj->kind == FD_SESSION) {
			/* Sessions only ever leave the handshake: epollset_wait drops the mark. */
			r->hs = 1;
			set->nhs++;
		}
	}
	return r;
}

/* What the kernel must watch for r now. */
static uint32_t
reg_real_events(struct epreg *r)
{
	uint32_t keep = r->app_events & (EPOLLET | EPOLLONESHOT);
	struct session *s;

	if (r->owner)
		return EPOLLIN;
	if (r->obj->kind == FD_SESSION) {
		s = (struct session *)r->obj;
		if (s->state == SS_CONNECTING)
			return keep | EPOLLOUT;
		/* While an OCSP responder is asked, the socket has nothing to say but HUP. */
		if (s->state == SS_HANDSHAKE && s->elsewhere)
			return keep;
		if (s->state == SS_HANDSHAKE)
			return keep | (s->want == POLLOUT ? EPOLLOUT : EPOLLIN);
		if (session_has_output(s))	/* our records wait for the kernel */
			return (r->app_events & ~(uint32_t)EPOLLEXCLUSIVE) | EPOLLOUT;
	}
	return r->app_events & ~(uint32_t)EPOLLEXCLUSIVE;
}

static int
reg_arm(struct epreg *r, int op)
{
	struct epoll_event ev;

	/*
	 * Bytes the kernel no longer holds (read ahead with the handshake, or
	 * left by an earlier read) would never wake this registration.
	 */
	if (r->obj && r->obj->kind == FD_SESSION && session_buffered((struct session *)r->obj))
		r->checking = 1;
	else if (r->obj && r->obj->kind == FD_LISTENER && listener_nready((struct listener *)r->obj) > 0)
		r->checking = 1;

	ev.events = reg_real_events(r);
	if (op == EPOLL_CTL_ADD)
		ev.events |= r->app_events & EPOLLEXCLUSIVE;
	ev.data.u64 = r->cookie;
	return REAL(epoll_ctl)(r->set->epfd, op, r->owner ? r->owner->obj ?
	    listener_pollfd((struct listener *)r->owner->obj) : -1 : r->fd, &ev);
}

/* A listener's pending handshakes join the program's set beside it; r->set->lock held. */
static void
reg_add_companion(struct epreg *r)
{
	struct epreg *p;

	if (r->obj->kind != FD_LISTENER || listener_pollfd((struct listener *)r->obj) < 0 ||
	    (p = reg_new(r->set, r->fd, NULL)) == NULL)
		return;
	p->owner = r;
	p->gen = ep_gen;
	r->pfdreg = p;
	if (reg_arm(p, EPOLL_CTL_ADD) == -1) {
		r->pfdreg = NULL;
		reg_free(p);
	}
}

/*
 * After fork a listener's pending-handshake set is a new one (the old one
 * is the parent's), so a set the child inherited must watch the new one:
 * an epoll set made before fork and used by the child (a daemon that forks
 * into the background).  The kernel's set is shared with the parent, which
 * would see the new registration's cookie as program data, so this waits
 * until the parent is gone (see epollset_wait).  Returns 1 if there was
 * something to redo.  set->lock held.
 */
static int
set_stale_companions(struct epset *set)
{
	struct epreg *r;

	for (r = set->regs; r != NULL; r = r->snext)
		if (r->pfdreg != NULL && r->pfdreg->gen != ep_gen)
			return 1;
	set->gen = ep_gen;
	return 0;
}

static void
set_refresh_companions(struct epset *set)
{
	struct epreg *r, *p;

	set->gen = ep_gen;
	r = set->regs;
	while (r != NULL) {
		if ((p = r->pfdreg) == NULL || p->gen == ep_gen) {
			r = r->snext;
			continue;
		}
		r->pfdreg = NULL;
		reg_free(p);		/* its fd is closed in this process */
		reg_add_companion(r);
		r = set->regs;		/* the list changed: start over (each is redone once) */
	}
}

/* The set behind epfd, held; with create, one is made if the fd has none. */
static struct epset *
set_get(int epfd, int create)
{
	struct fdobj *o = fdtable_get(epfd);
	struct epset *set;

	if (o && o->kind == FD_EPOLL)
		return (struct epset *)o;
	fdobj_put(o);
	if (!create || o != NULL)
		return NULL;
	if ((set = calloc(1, sizeof(*set))) == NULL)
		return NULL;
	set->nbuckets = SET_BUCKETS;
	if ((set->cbuckets = calloc(SET_BUCKETS, sizeof(*set->cbuckets))) == NULL ||
	    (set->fbuckets = calloc(SET_BUCKETS, sizeof(*set->fbuckets))) == NULL) {
		free(set->cbuckets);
		free(set);
		return NULL;
	}
	pthread_mutex_init(&set->lock, NULL);
	set->hdr.kind = FD_EPOLL;
	set->hdr.destroy = epset_destroy;
	set->epfd = epfd;
	set->gen = ep_gen;
	/* Two threads adding to a new set at once: the first one's set is the set. */
	o = fdtable_publish(epfd, &set->hdr);
	if (o != &set->hdr) {
		epset_destroy(&set->hdr);
		if (o != NULL && o->kind == FD_EPOLL)
			return (struct epset *)o;
		fdobj_put(o);
		return NULL;
	}
	return set;
}

/* What an object's list gave: held sets, or one set's registrations; on the stack unless many. */
struct picked {
	void		**v;
	int		  n, cap;
	void		 *buf[8];
};

static void
picked_init(struct picked *p)
{
	p->v = p->buf;
	p->n = 0;
	p->cap = (int)(sizeof(p->buf) / sizeof(p->buf[0]));
}

static void
picked_free(struct picked *p, int put_sets)
{
	while (put_sets && p->n > 0)
		fdobj_put(&((struct epset *)p->v[--p->n])->hdr);
	if (p->v != p->buf)
		free(p->v);
}

/*
 * Empty again, with room for want entries (what p held is let go, put if
 * put_sets); 0, p untouched, when there is no memory: the caller keeps what fit.
 */
static int
picked_grow(struct picked *p, int want, int put_sets)
{
	void **nv;

	if ((nv = malloc((size_t)want * sizeof(*nv))) == NULL)
		return 0;
	picked_free(p, put_sets);
	p->v = nv;
	p->cap = want;
	p->n = 0;
	return 1;
}

static int
fdobj_tryhold(struct fdobj *o)
{
	int r = atomic_load(&o->refs);

	while (r > 0)
		if (atomic_compare_exchange_weak(&o->refs, &r, r + 1))
			return 1;
	return 0;
}

/*
 * Into p, the sets o is in, each held; none of their locks may be held by
 * the caller.  A set whose last reference went is being freed and unlinks
 * its registrations itself (epset_destroy).  picked_free(p, 1) puts them.
 */
static void
obj_sets(struct fdobj *o, struct picked *p)
{
	struct epreg *r;
	int i, more;

	picked_init(p);
	for (;;) {
		more = 0;
		regs_lock(o);
		for (r = o->regs; r; r = r->onext) {
			for (i = 0; i < p->n && p->v[i] != r->set; i++)
				;
			if (i < p->n)
				continue;
			if (p->n == p->cap)
				more++;
			else if (fdobj_tryhold(&r->set->hdr))
				p->v[p->n++] = r->set;
		}
		regs_unlock(o);
		/* In more sets than fit (one per thread of a large machine): again, with room. */
		if (more == 0 || !picked_grow(p, p->cap + more, 1))
			return;
	}
}

/* Into p, o's registrations in set; set->lock held, so they stay.  picked_free(p, 0). */
static void
obj_regs_in(struct fdobj *o, struct epset *set, struct picked *p)
{
	struct epreg *r;
	int more;

	picked_init(p);
	for (;;) {
		more = 0;
		regs_lock(o);
		for (r = o->regs; r; r = r->onext)
			if (r->set != set)
				continue;
			else if (p->n < p->cap)
				p->v[p->n++] = r;
			else
				more++;
		regs_unlock(o);
		if (more == 0 || !picked_grow(p, p->cap + more, 0))
			return;
	}
}

/* fn for each of o's registrations, its set locked; the caller holds no set's lock. */
static void
obj_foreach_reg(struct fdobj *o, void (*fn)(struct epreg *, void *), void *arg)
{
	struct picked sets, regs;
	struct epset *set;
	int i, j;

	obj_sets(o, &sets);
	for (i = 0; i < sets.n; i++) {
		set = sets.v[i];
		pthread_mutex_lock(&set->lock);
		obj_regs_in(o, set, &regs);
		for (j = 0; j < regs.n; j++)
			fn(regs.v[j], arg);
		picked_free(&regs, 0);
		pthread_mutex_unlock(&set->lock);
	}
	picked_free(&sets, 1);
}

/*
 * Registrations of fds that are not ours yet: a program may add a socket
 * to epoll before it connects or listens.  When the fd becomes a session
 * or listener, epollset_adopt turns them into ours.
 */
struct plainreg {
	int		 epfd, fd;
	uint32_t	 events;
	epoll_data_t	 data;
	struct plainreg	*next;
};
/* Only epoll_ctl on fds that are not ours takes it, and only while rules could adopt them. */
static pthread_mutex_t	 plain_lock = PTHREAD_MUTEX_INITIALIZER;
static struct plainreg	*plain[NBUCKETS];
static atomic_int	 nplain;

static struct plainreg **
plain_find(int epfd, int fd)
{
	struct plainreg **pp;

	for (pp = &plain[(unsigned)fd % NBUCKETS]; *pp; pp = &(*pp)->next)
		if ((*pp)->fd == fd && (*pp)->epfd == epfd)
			return pp;
	return NULL;
}

/* Remembers op on a plain fd; plain_lock held. */
static void
plain_track(int epfd, int op, int fd, const struct epoll_event *ev)
{
	struct plainreg **pp = plain_find(epfd, fd), *p;

	if (op == EPOLL_CTL_DEL || (op == EPOLL_CTL_MOD && pp == NULL)) {
		if (pp) {
			p = *pp;
			*pp = p->next;
			free(p);
			nplain--;
		}
		return;
	}
	if (ev == NULL)
		return;
	if (pp == NULL) {
		if ((p = calloc(1, sizeof(*p))) == NULL)
			return;
		p->epfd = epfd;
		p->fd = fd;
		p->next = plain[(unsigned)fd % NBUCKETS];
		plain[(unsigned)fd % NBUCKETS] = p;
		nplain++;
	} else
		p = *pp;
	p->events = ev->events;
	p->data = ev->data;
}

/* Drops what is remembered for fd as a member; plain_lock held.  (Records of a
 * closed epoll set stay until their fds close: adopting one fails harmlessly.) */
static void
plain_forget(int fd)
{
	struct plainreg **pp, *p;

	for (pp = &plain[(unsigned)fd % NBUCKETS]; (p = *pp) != NULL;) {
		if (p->fd == fd) {
			*pp = p->next;
			free(p);
			nplain--;
		} else
			pp = &p->next;
	}
}

void
epollset_adopt(int fd, struct fdobj *o)
{
	struct plainreg **pp, *p, *mine = NULL;
	struct epset *set;
	struct epreg *r;

	if (nplain == 0)
		return;
	plock(&plain_lock);
	for (pp = &plain[(unsigned)fd % NBUCKETS]; (p = *pp) != NULL;) {
		if (p->fd != fd) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		nplain--;
		p->next = mine;
		mine = p;
	}
	pthread_mutex_unlock(&plain_lock);
	while ((p = mine) != NULL) {
		mine = p->next;
		if ((set = set_get(p->epfd, 1)) != NULL) {
			pthread_mutex_lock(&set->lock);
			if ((r = reg_new(set, fd, o)) != NULL) {
				r->app_events = p->events;
				r->app_data = p->data;
				if (reg_arm(r, EPOLL_CTL_MOD) == -1)
					reg_free(r);
				else
					reg_add_companion(r);
			}
			pthread_mutex_unlock(&set->lock);
			fdobj_put(&set->hdr);
		}
		free(p);
	}
}

int
epollset_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct fdobj *o = fdtable_get(fd);
	struct epset *set = NULL;
	struct epreg *r = NULL;
	int rv = -1;

	if (o == NULL && op == EPOLL_CTL_ADD)
		o = claim_listener(fd);
	if (o != NULL && o->kind == FD_EPOLL) {
		fdobj_put(o);
		o = NULL;
	}
	set = set_get(epfd, o != NULL && op == EPOLL_CTL_ADD);
	if (set) {
		pthread_mutex_lock(&set->lock);
		r = reg_find(set, fd);
	}
	if (r == NULL && (o == NULL || op != EPOLL_CTL_ADD || set == NULL)) {
		if (set)
			pthread_mutex_unlock(&set->lock);
		/* Only worth remembering where a rule could make fd ours later. */
		if (o == NULL && shim_config()->nrules > 0) {
			plock(&plain_lock);
			rv = REAL(epoll_ctl)(epfd, op, fd, ev);
			if (rv == 0 || op == EPOLL_CTL_DEL)
				plain_track(epfd, op, fd, ev);
			pthread_mutex_unlock(&plain_lock);
		} else
			rv = REAL(epoll_ctl)(epfd, op, fd, ev);
		fdobj_put(o);
		if (set)
			fdobj_put(&set->hdr);
		return rv;
	}
	switch (op) {
	case EPOLL_CTL_ADD:
		if (r != NULL) {
			errno = EEXIST;
			break;
		}
		if (ev == NULL) {
			errno = EFAULT;
			break;
		}
		if ((r = reg_new(set, fd, o)) == NULL) {
			if (!set->dead)
				errno = ENOMEM;
			break;
		}
		r->app_events = ev->events;
		r->app_data = ev->data;
		if (reg_arm(r, EPOLL_CTL_ADD) == -1) {
			int e = errno;
			reg_free(r);
			errno = e;
			break;
		}
		reg_add_companion(r);
		rv = 0;
		break;
	case EPOLL_CTL_MOD:
		if (ev == NULL) {
			errno = EFAULT;
			break;
		}
		r->app_events = ev->events;
		r->app_data = ev->data;
		r->disarmed = 0;
		rv = reg_arm(r, EPOLL_CTL_MOD);
		break;
	case EPOLL_CTL_DEL:
		rv = REAL(epoll_ctl)(epfd, EPOLL_CTL_DEL, fd, ev);
		if (r->pfdreg)
			REAL(epoll_ctl)(epfd, EPOLL_CTL_DEL,
			    listener_pollfd((struct listener *)r->obj), NULL);
		reg_free(r);
		break;
	default:
		errno = EINVAL;
	}
	pthread_mutex_unlock(&set->lock);
	fdobj_put(o);
	fdobj_put(&set->hdr);
	return rv;
}

static void
check_add(struct epreg *r)
{
	r->checking |= CHECK_HELD;
}

/* No set lock: a flag on each of o's registrations but except, which its set's next wait reads. */
static void
check_add_all(struct fdobj *o, struct epreg *except)
{
	struct epreg *r;

	regs_lock(o);
	for (r = o->regs; r; r = r->onext)
		if (r != except)
			check_add(r);
	regs_unlock(o);
}

void
epollset_note_ready(struct fdobj *o)
{
	if (fdobj_watched(o))
		check_add_all(o, NULL);
}

void
epollset_note_buffered(struct session *s)
{
	epollset_note_ready(&s->hdr);
}

static void
rearm_one(struct epreg *r, void *arg)
{
	if (!r->disarmed)
		reg_arm(r, EPOLL_CTL_MOD);
}

void
epollset_rearm(struct fdobj *o)
{
	if (fdobj_watched(o))
		obj_foreach_reg(o, rearm_one, NULL);
}
/*
 * The events the program sees for r; kr is what the kernel reported (0 for
 * a check-list entry).  r->set->lock held.
 */
static uint32_t
reg_translate(struct epreg *r, uint32_t kr, int from_check)
{
	struct listener *l;
	struct session *s;
	uint32_t want = r->app_events, rev = 0;
	int st, handshaking, readable;

	if (r->owner) {			/* pending handshakes progressed */
		l = (struct listener *)r->owner->obj;
		if (listener_service(l) > 0)
			check_add(r->owner);
		return 0;
	}
	if (r->disarmed)
		return 0;
	if (r->obj->kind == FD_LISTENER) {
		l = (struct listener *)r->obj;
		if ((kr & EPOLLIN) && !listener_accepting(l))
			rev = want & EPOLLIN;	/* the kernel's queue, for whoever accepts */
		else if (kr & EPOLLIN)
			listener_take(l);
		if (kr)
			listener_service(l);
		if (listener_nready(l) > 0) {
			rev = want & EPOLLIN;
			if (!(want & EPOLLET))
				check_add(r);
		}
		return rev | (kr & (EPOLLERR | EPOLLHUP));
	}
	s = (struct session *)r->obj;
	handshaking = s->state == SS_CONNECTING || s->state == SS_HANDSHAKE;
	if (handshaking) {
		st = session_step(s);
		if (st != STEP_DONE && st != STEP_FAILED) {
			reg_arm(r, EPOLL_CTL_MOD);
			return 0;
		}
		reg_arm(r, EPOLL_CTL_MOD);
		kr = 0;
		from_check = 1;
	}
	if (s->state == SS_FAILED)
		return (want & (EPOLLIN | EPOLLOUT)) | EPOLLERR | EPOLLHUP;
	if ((kr & EPOLLOUT) && session_has_output(s) && session_flush_output(s) == 0 &&
	    !(want & EPOLLOUT))
		reg_arm(r, EPOLL_CTL_MOD);	/* all out: stop watching for room */
	/*
	 * The kernel's word is needed only for bytes it holds: a recheck
	 * looks at what the session already has, without a read that would
	 * cost every level-triggered wait a failing recv.
	 */
	if ((kr & (EPOLLIN | EPOLLHUP | EPOLLERR)) || from_check == CHECK_FULL) {
		readable = session_readable(s);
		/*
		 * That read may have taken the kernel's bytes into the session:
		 * the socket's registrations in other sets will not hear of them
		 * from the kernel any more.
		 */
		if (readable && atomic_load_explicit(&r->obj->nregs, memory_order_relaxed) > 1)
			check_add_all(r->obj, r);	/* r itself: as the program asked, below */
	} else
		readable = from_check && session_readable_held(s);
	if ((want & EPOLLIN) && readable) {
		rev |= EPOLLIN;
		if (!(want & EPOLLET))
			check_add(r);
	}
	if (handshaking && (want & EPOLLOUT))
		rev |= EPOLLOUT;
	rev |= kr & (EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLRDHUP | EPOLLPRI) &
	    (want | EPOLLERR | EPOLLHUP);
	/* The kernel disarmed a one-shot registration for bytes the program never saw. */
	if (rev == 0 && kr && (want & EPOLLONESHOT))
		reg_arm(r, EPOLL_CTL_MOD);
	return rev;
}

/* Records an event for the program, once per registration per call. */
static int
emit(struct epreg *r, uint32_t rev, struct epoll_event *out, int n, int max, unsigned stamp)
{
	if (rev == 0 || n >= max || r->stamp == stamp)
		return n;
	r->stamp = stamp;
	out[n].events = rev;
	out[n].data = r->app_data;
	if (r->app_events & EPOLLONESHOT)
		r->disarmed = 1;
	return n + 1;
}

/*
 * Reports the check list, fairly: the scan starts where the last one
 * stopped, and unless the program takes one event at a time a slot is left
 * for the kernel's, so registrations that stay readable cannot crowd out
 * the rest.  What does not fit stays on the list.  set->lock held.
 */
static int
emit_checks(struct epset *set, struct epoll_event *out, int maxevents, unsigned stamp)
{
	int budget = maxevents > 1 ? maxevents - 1 : 1, cnt = 0, idx, pass, full;
	unsigned from = set->rot;
	struct epreg *r;

	for (pass = 0; pass < 2 && cnt < budget; pass++)
		for (r = set->regs, idx = 0; r && cnt < budget; r = r->snext) {
			if (!r->checking || r->stamp == stamp)
				continue;
			/* first the entries from `from` on, then those before it */
			if ((idx++ < (int)from) == (pass == 0))
				continue;
			full = atomic_exchange(&r->checking, 0) & CHECK_FULL;
			cnt = emit(r, reg_translate(r, 0, full ? CHECK_FULL : CHECK_HELD), out,
			    cnt, maxevents, stamp);
		}
	set->rot = cnt < budget ? 0 : from + (unsigned)cnt;
	return cnt;
}

/* Removes events carrying our cookies; their registrations report on the next wait. */
static int
drop_cookies(int epfd, struct epoll_event *ev, int n)
{
	struct epset *set = set_get(epfd, 0);
	struct epreg *r;
	int i, k = 0;

	if (set)
		pthread_mutex_lock(&set->lock);
	for (i = 0; i < n; i++) {
		if (!is_cookie(ev[i].data.u64)) {
			ev[k++] = ev[i];
			continue;
		}
		/* The kernel's event is gone: the recheck must ask the socket. */
		if (set && (r = reg_by_cookie(set, ev[i].data.u64)) != NULL)
			r->checking |= CHECK_FULL;
	}
	if (set) {
		pthread_mutex_unlock(&set->lock);
		fdobj_put(&set->hdr);
	}
	return k;
}

/*
 * epoll_pwait2 only where the program asked for it (nanoseconds): older
 * kernels lack it, and every epoll program would break on ENOSYS.
 */
static int
epoll_real_wait(int epfd, struct epoll_event *ev, int max, const struct timespec *t,
    const sigset_t *mask, int precise)
{
	long ms;

	if (precise && REAL(epoll_pwait2))
		return REAL(epoll_pwait2)(epfd, ev, max, t, mask);
	if (t == NULL)
		ms = -1;
	else {
		ms = t->tv_sec * 1000 + (t->tv_nsec + 999999) / 1000000;
		if (ms > INT_MAX)
			ms = INT_MAX;
	}
	return REAL(epoll_pwait)(epfd, ev, max, (int)ms, mask);
}

int
epollset_wait(int epfd, struct epoll_event *events, int maxevents,
    const struct timespec *timeout, const sigset_t *sigmask, int precise)
{
	static const struct timespec zero = { 0, 0 };
	struct epoll_event out[EP_BATCH];
	struct timespec deadline = { 0, 0 }, left = { 0, 0 }, hs_left;
	const struct timespec *wait_ts;
	struct epset *set;
	struct epreg *r;
	int n, i, cnt, hs_ms, idle_ms, saved, stale;
	unsigned stamp;

	if (!fdtable_known(epfd) || (set = set_get(epfd, 0)) == NULL) {
		n = epoll_real_wait(epfd, events, maxevents, timeout, sigmask, precise);
		/* Our first registration may have raced this wait: never show a cookie. */
		if (n > 0 && fdtable_known(epfd) && (n = drop_cookies(epfd, events, n)) == 0)
			return epollset_wait(epfd, events, maxevents, timeout, sigmask, precise);
		return n;
	}
	if (maxevents <= 0) {
		fdobj_put(&set->hdr);
		errno = EINVAL;
		return -1;
	}
	/* Fewer events than asked is always allowed; the rest wait for the next call. */
	if (maxevents > EP_BATCH)
		maxevents = EP_BATCH;
	if (timeout)
		deadline = deadline_after(timeout);
	for (;;) {
		/* Idle sessions give their buffers back; the wait ends in time for that. */
		idle_ms = engine_loaded() ? session_sweep_idle() : -1;
		pthread_mutex_lock(&set->lock);
		stale = set->gen != ep_gen && set_stale_companions(set);
		if (stale && (pid_t)syscall(SYS_getppid) != ep_parent) {
			set_refresh_companions(set);
			stale = 0;
		}
		stamp = ++set->stamp;
		hs_ms = -1;
		for (r = set->nhs > 0 ? set->regs : NULL; r; r = r->snext) {
			if (!r->hs)
				continue;
			if (((struct session *)r->obj)->state != SS_CONNECTING &&
			    ((struct session *)r->obj)->state != SS_HANDSHAKE) {
				r->hs = 0;
				set->nhs--;
			} else if (!r->checking) {
				/* A client handshake's deadline must wake us. */
				int ms = session_due_ms((struct session *)r->obj);
				if (ms == 0)
					r->checking = 1;
				else if (hs_ms < 0 || ms < hs_ms)
					hs_ms = ms + 1;
			}
		}
		if (idle_ms >= 0 && (hs_ms < 0 || idle_ms < hs_ms))
			hs_ms = idle_ms;
		cnt = emit_checks(set, out, maxevents, stamp);
		pthread_mutex_unlock(&set->lock);
		wait_ts = NULL;
		if (timeout) {
			left = deadline_left(&deadline);
			wait_ts = &left;
		}
		if (hs_ms >= 0 && (wait_ts == NULL ||
		    left.tv_sec * 1000 + left.tv_nsec / 1000000 > hs_ms)) {
			hs_left.tv_sec = hs_ms / 1000;
			hs_left.tv_nsec = (long)(hs_ms % 1000) * 1000000L;
			wait_ts = &hs_left;
		}
		if (cnt >= maxevents)
			break;
		/* Until the parent leaves, look again every STALE_MS (see set_stale_companions). */
		if (stale && (wait_ts == NULL ||
		    wait_ts->tv_sec * 1000 + wait_ts->tv_nsec / 1000000 > STALE_MS)) {
			hs_left.tv_sec = 0;
			hs_left.tv_nsec = STALE_MS * 1000000L;
			wait_ts = &hs_left;
		}
		if (cnt > 0)
			wait_ts = &zero;
		n = epoll_real_wait(epfd, events, maxevents - cnt, wait_ts, sigmask, precise);
		if (n < 0) {
			if (cnt > 0)
				break;
			cnt = -1;
			break;
		}
		pthread_mutex_lock(&set->lock);
		for (i = 0; i < n; i++) {
			r = reg_by_cookie(set, events[i].data.u64);
			if (r == NULL || r->set != set) {
				if (!is_cookie(events[i].data.u64) && cnt < maxevents)
					out[cnt++] = events[i];
				continue;
			}
			cnt = emit(r, reg_translate(r, events[i].events, 0), out, cnt, maxevents, stamp);
		}
		/* A listener whose handshakes just finished is reported in this same call. */
		for (r = set->lregs; r && cnt < maxevents; r = r->lnext)
			if (r->checking && r->stamp != stamp) {
				r->checking = 0;
				cnt = emit(r, reg_translate(r, 0, 1), out, cnt, maxevents, stamp);
			}
		pthread_mutex_unlock(&set->lock);
		if (cnt > 0)
			break;
		if (timeout && deadline_passed(&deadline))
			break;
	}
	saved = errno;
	if (cnt > 0)
		memcpy(events, out, (size_t)cnt * sizeof(*out));
	fdobj_put(&set->hdr);
	errno = saved;
	return cnt;
}

/* Frees every registration of set; set->lock held. */
static void
set_empty(struct epset *set)
{
	struct epreg *r;

	while ((r = set->regs) != NULL) {
		while (r->owner)	/* free owners; they free their companions */
			r = r->owner;
		reg_free(r);
	}
}

static void
forget_one(struct epreg *r, void *arg)
{
	int fd = *(int *)arg;

	if (r->fd != fd)
		return;
	/* dup'd copies would keep reporting our cookie: take it out now. */
	REAL(epoll_ctl)(r->set->epfd, EPOLL_CTL_DEL, fd, NULL);
	if (r->pfdreg)
		REAL(epoll_ctl)(r->set->epfd, EPOLL_CTL_DEL,
		    listener_pollfd((struct listener *)r->obj), NULL);
	reg_free(r);
}

void
epollset_forget_fd(int fd)
{
	struct epset *set;
	struct fdobj *o;

	if (nplain > 0) {
		plock(&plain_lock);
		plain_forget(fd);
		pthread_mutex_unlock(&plain_lock);
	}
	if (!fdtable_known(fd) || (o = fdtable_get(fd)) == NULL)
		return;
	if (o->kind == FD_EPOLL) {
		set = (struct epset *)o;
		pthread_mutex_lock(&set->lock);
		set->dead = 1;		/* an epoll_ctl racing the close adds nothing now */
		set_empty(set);
		pthread_mutex_unlock(&set->lock);
		fdobj_put(o);
		return;
	}
	if (fdobj_watched(o))
		obj_foreach_reg(o, forget_one, &fd);
	fdobj_put(o);
}

struct saving {
	int			 fd, n, max;
	struct epollset_saved	*v;
};

static void
save_one(struct epreg *r, void *arg)
{
	struct saving *sv = arg;

	if (r->fd != sv->fd || r->owner)
		return;
	if (sv->n < sv->max) {
		sv->v[sv->n].epfd = r->set->epfd;
		sv->v[sv->n].ev.data = r->app_data;
		/* A one-shot that fired stays quiet until the program re-arms it. */
		sv->v[sv->n].ev.events = r->disarmed ?
		    r->app_events & (EPOLLONESHOT | EPOLLET) : r->app_events;
	}
	sv->n++;
}

int
epollset_save(int fd, struct epollset_saved *v, int max)
{
	struct saving sv = { fd, 0, max, v };
	struct fdobj *o;

	if ((o = fdtable_get(fd)) == NULL)
		return 0;
	if (fdobj_watched(o))
		obj_foreach_reg(o, save_one, &sv);
	fdobj_put(o);
	return sv.n;
}

void
epollset_restore(int fd, const struct epollset_saved *v, int n)
{
	struct epoll_event ev;
	int i, saved = errno;

	for (i = 0; i < n; i++) {
		ev = v[i].ev;
		epollset_ctl(v[i].epfd, EPOLL_CTL_ADD, fd, &ev);
	}
	errno = saved;
}

static void
fork_collect(int fd, struct fdobj *o, void *arg)
{
	struct epset **v;

	if (o->kind != FD_EPOLL)
		return;
	if (nfork_sets % 16 == 0) {
		if ((v = realloc(fork_sets, (size_t)(nfork_sets + 16) * sizeof(*v))) == NULL)
			return;		/* that set is not locked: a fork in a malloc failure */
		fork_sets = v;
	}
	fdobj_hold(o);
	fork_sets[nfork_sets++] = (struct epset *)o;
}

/*
 * No thread may be half-way through a set at the fork: every set of the fd
 * table, then the plain fds.  Nowhere else does a thread hold two sets'
 * locks, so the order among them does not matter.  A set whose fd is
 * closed is reachable only by a thread still in its epoll_wait, which the
 * child does not have.
 */
void
epollset_atfork_prepare(void)
{
	int i;

	nfork_sets = 0;
	fdtable_foreach(fork_collect, NULL);
	for (i = 0; i < nfork_sets; i++)
		pthread_mutex_lock(&fork_sets[i]->lock);
	plock(&plain_lock);
	ep_forker = (pid_t)syscall(SYS_getpid);
}

void
epollset_atfork_parent(void)
{
	int i;

	pthread_mutex_unlock(&plain_lock);
	for (i = 0; i < nfork_sets; i++)
		pthread_mutex_unlock(&fork_sets[i]->lock);
	/* Only now: a set closed meanwhile is freed by this put, and takes its own lock. */
	for (i = 0; i < nfork_sets; i++)
		fdobj_put(&fork_sets[i]->hdr);
	nfork_sets = 0;
}

/*
 * An object's list lock is taken without a set's (epollset_note_ready): a
 * thread of the parent may have held one at the fork, so the child frees
 * those of every object in a set (fdtable_atfork_child does the same for
 * every object of the table).
 */
void
epollset_atfork_child(void)
{
	struct epreg *r;
	int i;

	for (i = 0; i < nfork_sets; i++)
		for (r = fork_sets[i]->regs; r; r = r->snext)
			if (r->obj)
				atomic_flag_clear(&r->obj->regs_lock);
	/* The locks were taken by this very thread in epollset_atfork_prepare. */
	epollset_atfork_parent();
	ep_gen++;
	ep_parent = ep_forker;	/* not getppid(): the parent may be gone already */
}
