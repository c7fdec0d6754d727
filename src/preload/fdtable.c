/* fdtable.c: per-fd state of the shim, indexed by fd number; lookups share nothing between fds. */
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include "preload/fdtable.h"

/*
 * Every data and readiness call on a wrapped socket looks its fd up here,
 * from any thread, so a lookup must not share anything with other fds'.
 * Each slot is its own cache line, holding the object's address with a
 * lock bit in bit 0: a lookup sets the bit, takes a reference and clears
 * it, so the slot's reference cannot be dropped (and the object freed)
 * between reading the address and taking ours.  Writers take the bit the
 * same way.  Nothing here is shared by two fds but the chunk directory,
 * which is only read once a chunk exists.
 */
#define CHUNK_BITS	10
#define CHUNK_SIZE	(1 << CHUNK_BITS)
#define NCHUNKS		4096		/* 4M fds */
#define LOCKED		((uintptr_t)1)

struct slot {
	_Atomic uintptr_t	 v;	/* struct fdobj *, | LOCKED while someone is in it */
	char			 pad[64 - sizeof(uintptr_t)];
} __attribute__((aligned(64)));

/* Chunks are allocated on first use and never freed, so unlocked peeks are safe. */
static _Atomic(struct slot *) chunks[NCHUNKS];

static struct slot *
fdtable_slot(int fd, int create)
{
	struct slot *c, *expect = NULL;
	unsigned idx;

	if (fd < 0 || (unsigned)fd >= (unsigned)NCHUNKS * CHUNK_SIZE)
		return NULL;
	idx = (unsigned)fd >> CHUNK_BITS;
	c = atomic_load_explicit(&chunks[idx], memory_order_acquire);
	if (c == NULL && create) {
		if ((c = aligned_alloc(64, CHUNK_SIZE * sizeof(*c))) == NULL)
			return NULL;
		for (int i = 0; i < CHUNK_SIZE; i++)
			atomic_init(&c[i].v, 0);
		/* Two threads making the same chunk: one wins, the other's goes. */
		if (!atomic_compare_exchange_strong_explicit(&chunks[idx], &expect, c,
		    memory_order_acq_rel, memory_order_acquire)) {
			free(c);
			c = expect;
		}
	}
	return c ? &c[fd & (CHUNK_SIZE - 1)] : NULL;
}

/* Takes the slot's bit; returns what the slot holds. */
static struct fdobj *
slot_lock(struct slot *s)
{
	uintptr_t v;
	int n = 0;

	for (;;) {
		v = atomic_load_explicit(&s->v, memory_order_relaxed);
		if (!(v & LOCKED) && atomic_compare_exchange_weak_explicit(&s->v, &v, v | LOCKED,
		    memory_order_acquire, memory_order_relaxed))
			return (struct fdobj *)v;
		spin_wait(&n);
	}
}

static void
slot_unlock(struct slot *s, struct fdobj *o)
{
	atomic_store_explicit(&s->v, (uintptr_t)o, memory_order_release);
}

int
fdtable_known(int fd)
{
	struct slot *s = fdtable_slot(fd, 0);

	return s != NULL && atomic_load_explicit(&s->v, memory_order_relaxed) != 0;
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
	struct slot *s = fdtable_slot(fd, 0);
	struct fdobj *o;

	if (s == NULL || atomic_load_explicit(&s->v, memory_order_relaxed) == 0)
		return NULL;
	if ((o = slot_lock(s)) != NULL)
		fdobj_hold(o);
	slot_unlock(s, o);
	return o;
}

int
fdtable_set(int fd, struct fdobj *o)
{
	struct slot *s;
	struct fdobj *old;

	if ((s = fdtable_slot(fd, 1)) == NULL)
		return -1;
	if (o) {
		fdobj_hold(o);
		atomic_fetch_add(&o->slots, 1);
	}
	old = slot_lock(s);
	if (old)
		atomic_fetch_sub(&old->slots, 1);
	slot_unlock(s, o);
	fdobj_put(old);
	return 0;
}

struct fdobj *
fdtable_publish(int fd, struct fdobj *o)
{
	struct slot *s;
	struct fdobj *cur;

	if ((s = fdtable_slot(fd, 1)) == NULL)
		return NULL;
	if ((cur = slot_lock(s)) == NULL) {
		fdobj_hold(o);			/* the slot's */
		atomic_fetch_add(&o->slots, 1);
		cur = o;
	}
	fdobj_hold(cur);			/* the caller's */
	slot_unlock(s, cur);
	return cur;
}

int
fdtable_clear(int fd)
{
	struct slot *s = fdtable_slot(fd, 0);
	struct fdobj *old;

	if (s == NULL || atomic_load_explicit(&s->v, memory_order_relaxed) == 0)
		return 0;
	if ((old = slot_lock(s)) != NULL)
		atomic_fetch_sub(&old->slots, 1);
	slot_unlock(s, NULL);
	fdobj_put(old);
	return old != NULL;
}

int
fdtable_clear_if(int fd, struct fdobj *o)
{
	struct slot *s = fdtable_slot(fd, 0);
	struct fdobj *cur;

	if (s == NULL)
		return 0;
	if ((cur = slot_lock(s)) != o) {
		slot_unlock(s, cur);
		return 0;
	}
	atomic_fetch_sub(&o->slots, 1);
	slot_unlock(s, NULL);
	fdobj_put(o);
	return 1;
}

/*
 * fn sees each object held, with no slot locked: it may look fds up or
 * change the table.  What changes during the walk may or may not be seen.
 */
void
fdtable_foreach(void (*fn)(int, struct fdobj *, void *), void *arg)
{
	struct slot *c;
	struct fdobj *o;
	int i, j;

	for (i = 0; i < NCHUNKS; i++) {
		if ((c = atomic_load_explicit(&chunks[i], memory_order_acquire)) == NULL)
			continue;
		for (j = 0; j < CHUNK_SIZE; j++) {
			if (atomic_load_explicit(&c[j].v, memory_order_relaxed) == 0)
				continue;
			if ((o = slot_lock(&c[j])) != NULL)
				fdobj_hold(o);
			slot_unlock(&c[j], o);
			if (o == NULL)
				continue;
			fn(i * CHUNK_SIZE + j, o, arg);
			fdobj_put(o);
		}
	}
}

/*
 * A thread of the parent may have been inside a slot at the fork.  The
 * child frees every slot's bit and counts each object's names again (a
 * writer may have been between its two steps); a reference taken by a
 * lookup that never finished only keeps that object alive.
 */
void
fdtable_atfork_child(void)
{
	struct slot *c;
	struct fdobj *o;
	int i, j;

	for (int pass = 0; pass < 2; pass++)
		for (i = 0; i < NCHUNKS; i++) {
			if ((c = atomic_load_explicit(&chunks[i], memory_order_relaxed)) == NULL)
				continue;
			for (j = 0; j < CHUNK_SIZE; j++) {
				uintptr_t v = atomic_load_explicit(&c[j].v, memory_order_relaxed);
				if ((o = (struct fdobj *)(v & ~LOCKED)) == NULL)
					continue;
				atomic_store_explicit(&c[j].v, (uintptr_t)o, memory_order_relaxed);
				if (pass == 0) {
					atomic_store(&o->slots, 0);
					atomic_flag_clear(&o->regs_lock);	/* epollset.c */
				} else
					atomic_fetch_add(&o->slots, 1);
			}
		}
}
