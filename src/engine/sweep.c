/* sweep.c: OpenSSL's buffers stay with busy sessions and leave idle ones. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "common/deadline.h"
#include "common/lockstat.h"
#include "common/log.h"
#include "engine/session.h"
#include "engine/ocsp_cache.h"
#include "engine/revwatch.h"
#include "engine/sweep.h"
#include "engine/token.h"

/*
 * SSL_MODE_RELEASE_BUFFERS frees the read and write buffers (about 34 KiB)
 * whenever a record has been handled, so a busy connection pays an
 * allocation and a free for each: a tenth of a redis server's instructions
 * per GET.  Instead a session that does I/O joins the warm list, and a
 * sweep every SWEEP_MS frees the buffers of the sessions that did none since
 * the sweep before: an idle connection holds none after 2 * SWEEP_MS.
 * Sweeps run from data calls and from the program's waits in our hooks; one
 * waiting thread at a time (the sweeper) wakes that often while warm
 * sessions remain (session_sweep_idle), the others sleep as asked.
 *
 * The list's lock is the process's, so no I/O takes it: a session joins
 * when it goes from idle to busy and leaves when a sweep or its end takes
 * it off, and a busy session stays on.  Steady-state I/O reads the sweep's
 * number, and once per period notes it in the session and counts itself
 * used; a sweep that finds every warm session used takes no lock.
 */
#define SWEEP_MS	100

unsigned		 sweep_gen;	/* counts sweeps; sessions note it when used */
unsigned		 sweep_used;	/* warm sessions that noted this one */
static pthread_mutex_t	 sweep_lock = PTHREAD_MUTEX_INITIALIZER;
static struct session	*warm;		/* sessions that may hold buffers */
static int		 nwarm;
static long long	 next_ms;	/* when the next sweep is due */
static pthread_t	 sweeper;	/* the thread whose waits keep sweeping... */
static long long	 sweeper_until;	/* ...until then, unless it comes back */

/* sweep_lock held, and s->lock unless s is being freed. */
static void
unlink_locked(struct session *s)
{
	if (s->idle_next)
		s->idle_next->idle_prevp = s->idle_prevp;
	*s->idle_prevp = s->idle_next;
	s->idle_prevp = NULL;
	s->idle_next = NULL;
	s->warm = 0;
	__atomic_store_n(&nwarm, nwarm - 1, __ATOMIC_RELAXED);
}

/* s->lock held. */
void
sweep_add(struct session *s)
{
	plock(&sweep_lock);
	if ((s->idle_next = warm) != NULL)
		warm->idle_prevp = &s->idle_next;
	warm = s;
	s->idle_prevp = &warm;
	s->warm = 1;
	__atomic_store_n(&nwarm, nwarm + 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&sweep_lock);
}

/*
 * Frees what OpenSSL holds unless part of a record, a record or decrypted
 * bytes wait in it (the first is CVE-2024-4741 on libssl before 3.0.14,
 * which SSL_free_buffers does not check there); s->lock held.
 */
static int
release_locked(struct session *s)
{
	if (SSL_pending(s->ssl) > 0 || SSL_has_pending(s->ssl) ||
	    strcmp(SSL_rstate_string(s->ssl), "RB") == 0)
		return 0;
	return SSL_free_buffers(s->ssl);
}

void
sweep_forget(struct session *s)
{
	plock(&sweep_lock);
	if (s->warm)
		unlink_locked(s);
	pthread_mutex_unlock(&sweep_lock);
}

/*
 * Sessions used since the last sweep stay.  The others leave the list,
 * their buffers freed if nothing waits in them.  One that holds part of a
 * record or unread bytes keeps them, as it must, and stays off the list
 * until the program's next read or write on it (s->held): a peer that
 * stops in the middle of a record must not keep the sweeper awake.  A
 * session busy in another thread is left for the next sweep: trylock, since
 * the lock order elsewhere is session, then this list.
 */
static void
sweep_run(void)
{
	struct session *s, *next;
	unsigned gen;
	int freed = 0;

	gen = __atomic_load_n(&sweep_gen, __ATOMIC_RELAXED);
	/*
	 * Every warm session was used in this period: nothing to free, and no
	 * lock.  (A count that runs ahead, from a session that left or one
	 * counted just after the reset below, delays a free by one period.)
	 */
	if (__atomic_load_n(&sweep_used, __ATOMIC_RELAXED) >=
	    (unsigned)__atomic_load_n(&nwarm, __ATOMIC_RELAXED)) {
		__atomic_store_n(&sweep_used, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&sweep_gen, gen + 1, __ATOMIC_RELAXED);
		return;
	}
	plock(&sweep_lock);
	for (s = warm; s; s = next) {
		next = s->idle_next;
		if (__atomic_load_n(&s->idle_gen, __ATOMIC_RELAXED) == gen ||
		    pthread_mutex_trylock(&s->lock) != 0)
			continue;
		if (release_locked(s))
			freed++;
		else
			s->held = 1;
		unlink_locked(s);
		pthread_mutex_unlock(&s->lock);
	}
	__atomic_store_n(&sweep_used, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&sweep_gen, gen + 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&sweep_lock);
	if (freed > 0)
		log_debug("freed the TLS buffers of %d idle connection%s", freed,
		    freed == 1 ? "" : "s");
}

void
sweep_maybe(void)
{
	int saved = errno;

	if (__atomic_load_n(&nwarm, __ATOMIC_RELAXED) > 0 && deadline_claim(&next_ms, deadline_coarse_ms(), SWEEP_MS))
		sweep_run();
	errno = saved;
}

/*
 * Called by every wait of every thread: no lock.  Two threads that both
 * take the role at once both wake for a while, and the last to write keeps it.
 */
static int	sweep_idle(void);

/* The sweep's, and the revocation check's (revwatch.c), which rides on the same waits. */
int
session_sweep_idle(void)
{
	int w = revwatch_tick(), ms = sweep_idle();

	return w < 0 ? ms : ms < 0 || w < ms ? w : ms;
}

static int
sweep_idle(void)
{
	long long now, left, until;
	pthread_t self = pthread_self(), cur;
	int saved = errno, mine;

	if (__atomic_load_n(&nwarm, __ATOMIC_RELAXED) == 0)
		return -1;
	now = deadline_coarse_ms();
	if (deadline_claim(&next_ms, now, SWEEP_MS))
		sweep_run();
	/* The role passes on only once its thread has stayed away for a while. */
	until = __atomic_load_n(&sweeper_until, __ATOMIC_RELAXED);
	cur = __atomic_load_n(&sweeper, __ATOMIC_RELAXED);
	mine = __atomic_load_n(&nwarm, __ATOMIC_RELAXED) > 0 &&
	    (until <= now || pthread_equal(cur, self));
	if (mine) {
		if (!pthread_equal(cur, self))
			__atomic_store_n(&sweeper, self, __ATOMIC_RELAXED);
		/* Written once a sweep period at most, not on every wait. */
		if (until < now + 2 * SWEEP_MS)
			__atomic_store_n(&sweeper_until, now + 3 * SWEEP_MS, __ATOMIC_RELAXED);
	}
	errno = saved;
	if (!mine)
		return -1;
	left = __atomic_load_n(&next_ms, __ATOMIC_RELAXED) - now;
	/* The coarse clock ticks every few ms: never a busy loop on a due sweep. */
	return left < 5 ? 5 : left > SWEEP_MS ? SWEEP_MS : (int)left;
}

/*
 * Lock order: the preload's locks, then this one (see shim_atfork_prepare).
 * The child starts with an empty list: a session whose lock another thread
 * held at the fork could never be swept there.  Each joins again when used.
 */
void
session_sweep_atfork(int phase)
{
	struct session *s, *next;

	/* The watched list's lock, then the OCSP cache's, come after the sweep's. */
	if (phase == SWEEP_PREPARE) {
		plock(&sweep_lock);
		revwatch_atfork(phase);
		ocsp_cache_atfork(phase);
		token_atfork(phase);
		return;
	}
	token_atfork(phase);
	ocsp_cache_atfork(phase);
	revwatch_atfork(phase);
	if (phase == SWEEP_PARENT)
		pthread_mutex_unlock(&sweep_lock);
	else {
		for (s = warm; s; s = next) {
			next = s->idle_next;
			s->idle_next = NULL;
			s->idle_prevp = NULL;
			s->warm = 0;
		}
		warm = NULL;
		nwarm = 0;
		sweep_used = 0;
		__atomic_store_n(&sweeper_until, 0, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&sweep_lock);	/* taken by this thread in PREPARE */
	}
}
