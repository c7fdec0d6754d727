/* fdtable.c: per-fd state of the shim, indexed by fd number; safe under threads. */
#include <pthread.h>
#include <stdlib.h>

#include "common/lockstat.h"
#include "preload/fdtable.h"

#define CHUNK_BITS	12
#define CHUNK_SIZE	(1 << CHUNK_BITS)
#define NCHUNKS		1024		/* 4M fds */

/* Chunks are allocated on first use and never freed, so unlocked peeks are safe. */
static _Atomic(struct fdobj *) *_Atomic chunks[NCHUNKS];
static pthread_mutex_t fdtable_lock = PTHREAD_MUTEX_INITIALIZER;

static _Atomic(struct fdobj *) *
fdtable_slot(int fd, int create)
{
	_Atomic(struct fdobj *) *c;
	unsigned idx;

	if (fd < 0 || (unsigned)fd >= (unsigned)NCHUNKS * CHUNK_SIZE)
		return NULL;
	idx = (unsigned)fd >> CHUNK_BITS;
	c = atomic_load_explicit(&chunks[idx], memory_order_acquire);
	if (c == NULL && create) {
		c = calloc(CHUNK_SIZE, sizeof(*c));
		if (c == NULL)
			return NULL;
		atomic_store_explicit(&chunks[idx], c, memory_order_release);
	}
	return c ? &c[fd & (CHUNK_SIZE - 1)] : NULL;
}

int
fdtable_known(int fd)
{
	_Atomic(struct fdobj *) *s = fdtable_slot(fd, 0);

	return s != NULL && atomic_load_explicit(s, memory_order_relaxed) != NULL;
}

void
fdobj_hold(struct fdobj *o)
{
	atomic_fetch_add(&o->refs, 1);
}

void
fdobj_put(struct fdobj *o)
{
	if (o != NULL && atomic_fetch_sub(&o->refs, 1) == 1)
		o->destroy(o);
}

struct fdobj *
fdtable_get(int fd)
{
	_Atomic(struct fdobj *) *s = fdtable_slot(fd, 0);
	struct fdobj *o;

	if (s == NULL || atomic_load_explicit(s, memory_order_relaxed) == NULL)
		return NULL;
	plock(&fdtable_lock);
	o = atomic_load(s);
	if (o)
		fdobj_hold(o);
	pthread_mutex_unlock(&fdtable_lock);
	return o;
}

int
fdtable_set(int fd, struct fdobj *o)
{
	_Atomic(struct fdobj *) *s;
	struct fdobj *old;

	plock(&fdtable_lock);
	if ((s = fdtable_slot(fd, 1)) == NULL) {
		pthread_mutex_unlock(&fdtable_lock);
		return -1;
	}
	if (o) {
		fdobj_hold(o);
		atomic_fetch_add(&o->slots, 1);
	}
	old = atomic_exchange(s, o);
	if (old)
		atomic_fetch_sub(&old->slots, 1);
	pthread_mutex_unlock(&fdtable_lock);
	fdobj_put(old);
	return 0;
}

struct fdobj *
fdtable_publish(int fd, struct fdobj *o)
{
	_Atomic(struct fdobj *) *s;
	struct fdobj *cur;

	plock(&fdtable_lock);
	if ((s = fdtable_slot(fd, 1)) == NULL) {
		pthread_mutex_unlock(&fdtable_lock);
		return NULL;
	}
	if ((cur = atomic_load(s)) == NULL) {
		fdobj_hold(o);			/* the slot's */
		atomic_fetch_add(&o->slots, 1);
		atomic_store(s, o);
		cur = o;
	}
	fdobj_hold(cur);			/* the caller's */
	pthread_mutex_unlock(&fdtable_lock);
	return cur;
}

int
fdtable_clear(int fd)
{
	_Atomic(struct fdobj *) *s = fdtable_slot(fd, 0);
	struct fdobj *old;

	if (s == NULL || atomic_load_explicit(s, memory_order_relaxed) == NULL)
		return 0;
	plock(&fdtable_lock);
	old = atomic_exchange(s, NULL);
	if (old)
		atomic_fetch_sub(&old->slots, 1);
	pthread_mutex_unlock(&fdtable_lock);
	fdobj_put(old);
	return old != NULL;
}

int
fdtable_clear_if(int fd, struct fdobj *o)
{
	_Atomic(struct fdobj *) *s = fdtable_slot(fd, 0);
	struct fdobj *expect = o;

	if (s == NULL)
		return 0;
	plock(&fdtable_lock);
	if (!atomic_compare_exchange_strong(s, &expect, NULL)) {
		pthread_mutex_unlock(&fdtable_lock);
		return 0;
	}
	atomic_fetch_sub(&o->slots, 1);
	pthread_mutex_unlock(&fdtable_lock);
	fdobj_put(o);
	return 1;
}

void
fdtable_foreach(void (*fn)(int, struct fdobj *, void *), void *arg)
{
	struct fdobj *o;
	int i, j;

	plock(&fdtable_lock);
	for (i = 0; i < NCHUNKS; i++) {
		_Atomic(struct fdobj *) *c = atomic_load(&chunks[i]);
		if (c == NULL)
			continue;
		for (j = 0; j < CHUNK_SIZE; j++)
			if ((o = atomic_load(&c[j])) != NULL)
				fn(i * CHUNK_SIZE + j, o, arg);
	}
	pthread_mutex_unlock(&fdtable_lock);
}

void
fdtable_atfork_prepare(void)
{
	plock(&fdtable_lock);
}

void
fdtable_atfork_parent(void)
{
	pthread_mutex_unlock(&fdtable_lock);
}

void
fdtable_atfork_child(void)
{
	pthread_mutex_init(&fdtable_lock, NULL);
}
