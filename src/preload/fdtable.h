/* fdtable.h: per-fd state of the shim, indexed by fd number; lookups share nothing between fds. */
#ifndef MTLSSHIM_FDTABLE_H
#define MTLSSHIM_FDTABLE_H

#include <stdatomic.h>
#include <sched.h>
#include <stddef.h>
#include <time.h>

struct epreg;

enum fdkind { FD_SESSION = 1, FD_LISTENER, FD_EPOLL };

/* The header every object in the table starts with. */
struct fdobj {
	enum fdkind	 kind;
	atomic_int	 refs;		/* fd slots + callers holding it */
	atomic_int	 slots;		/* fd numbers naming it (dup) */
	void		(*destroy)(struct fdobj *);
	struct epreg	*regs;		/* epoll registrations, under regs_lock */
	atomic_flag	 regs_lock;	/* the list only; taken after an epoll set's lock */
	atomic_int	 nregs;		/* its length */
};

struct epreg;

/* Unlocked peek: does the shim know this fd at all?  For fast paths. */
int		 fdtable_known(int fd);
/* The object behind fd with a reference taken, or NULL.  Release with fdobj_put. */
struct fdobj	*fdtable_get(int fd);
/* Puts obj at fd (taking a reference); drops what was there. */
int		 fdtable_set(int fd, struct fdobj *);
/* Puts o at fd unless the slot is taken; returns what is there, held. */
struct fdobj	*fdtable_publish(int fd, struct fdobj *);
/* Empties the slot, dropping its reference; returns 1 if it held something. */
int		 fdtable_clear(int fd);
/* Empties the slot only if it still holds o. */
int		 fdtable_clear_if(int fd, struct fdobj *);
/* Calls fn for every occupied slot, the object held, no lock taken: fn may use the table. */
void		 fdtable_foreach(void (*fn)(int fd, struct fdobj *, void *), void *arg);
/* In a child after fork: a thread that was inside a slot is gone. */
void		 fdtable_atfork_child(void);

/*
 * One turn of waiting for a lock held a few instructions at a time: pause,
 * then yield, then sleep, so that a real-time spinner cannot starve a
 * holder that lost its CPU.
 */
static inline void
spin_wait(int *n)
{
	struct timespec t = { 0, 50000 };

	if (++*n < 64) {
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#elif defined(__aarch64__)
		__asm__ __volatile__("yield");
#endif
	} else if (*n < 80)
		sched_yield();
	else
		nanosleep(&t, NULL);
}

/* Unlocked: is o registered in an epoll set?  (A hint: the set's own lock decides.) */
static inline int
fdobj_watched(struct fdobj *o)
{
	return __atomic_load_n(&o->regs, __ATOMIC_RELAXED) != NULL;
}

void		 fdobj_hold(struct fdobj *);
void		 fdobj_put(struct fdobj *);

#endif
