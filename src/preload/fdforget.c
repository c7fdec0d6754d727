/* fdforget.c: a descriptor number stops naming a session or listener (close, dup onto it, a relay's pair). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common/lockstat.h"
#include "engine/session.h"
#include "preload/fdforget.h"
#include "preload/fdtable.h"
#include "preload/forkstate.h"
#include "preload/listener.h"
#include "preload/readiness.h"

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
fdforget_one(int fd, int reuse)
{
	struct fdobj *o;
	int deferred = 0;

	/* A vfork child shares our memory: its closes are not our sessions' ends. */
	if (!fdtable_known(fd) || forkstate_in_vfork_child() || (o = fdtable_get(fd)) == NULL)
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
void
fdforget_range(unsigned int first, unsigned int last)
{
	struct range r = { first, last, NULL, 0, 0 };
	size_t i;

	if (forkstate_in_vfork_child())
		return;
	fdtable_foreach(range_collect, &r);
	/* The real call closes every number, deferred or not. */
	for (i = 0; i < r.n; i++) {
		fdforget_one(r.fds[i], 1);
		fdtable_clear(r.fds[i]);
	}
	free(r.fds);
}
