/* statslink.c: this process's place in the shared counters: the mapping, its slot, fork and exit. */
#include <pthread.h>
#include <unistd.h>

#include "common/log.h"
#include "common/stats.h"
#include "preload/statslink.h"

static struct stats_area	 area;
static int			 mapped;
static struct stats_proc	*self;
static int			 claimed;	/* tried: a full table is not retried per connection */
static pthread_mutex_t		 claim_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Mapped before main(), while the run directory is reachable: the program
 * may chroot or give up its ids before its first connection.  Metrics never
 * stop a program: any failure is one line, then none.
 */
void
statslink_start(const struct config *c)
{
	char err[1024];
	pid_t pid = getpid();
	size_t i;

	if (!c->stats || c->nrules == 0)
		return;
	if (stats_open(&area, c, err, sizeof(err)) == -1) {
		log_warn("stats: %s; carrying on without metrics", err);
		return;
	}
	mapped = 1;
	/* A slot with our pid is the image before an exec (its connections went to the relay), or a dead one's. */
	for (i = 0; i < STATS_PROCS; i++)
		if (__atomic_load_n(&stats_proc_at(&area, i)->pid, __ATOMIC_RELAXED) == pid)
			stats_release(&area, stats_proc_at(&area, i));
	(void)stats_self();
}

struct stats_area *
stats_shared(void)
{
	return mapped ? &area : NULL;
}

struct stats_proc *
stats_self(void)
{
	struct stats_proc *p = __atomic_load_n(&self, __ATOMIC_ACQUIRE);

	if (p != NULL || !mapped || __atomic_load_n(&claimed, __ATOMIC_ACQUIRE))
		return p;
	pthread_mutex_lock(&claim_lock);
	if (!claimed) {
		if ((p = stats_claim(&area)) == NULL)
			log_warn("stats: all %d process slots of %s are taken; this process goes "
			    "uncounted", STATS_PROCS, area.head->config);
		__atomic_store_n(&self, p, __ATOMIC_RELEASE);
		__atomic_store_n(&claimed, 1, __ATOMIC_RELEASE);
	}
	p = self;
	pthread_mutex_unlock(&claim_lock);
	return p;
}

/*
 * The child attaches with a slot of its own, its counts zero; it then counts
 * the sessions it inherited (session_mark_forked).  The parent's slot is not
 * copied: the parent may already have closed its copies.
 */
void
statslink_atfork_child(void)
{
	pthread_mutex_init(&claim_lock, NULL);
	self = NULL;
	claimed = 0;
	if (mapped)
		(void)stats_self();
}

/* A process that ends by exit() gives its slot back; one killed leaves it to be found dead. */
__attribute__((destructor)) static void
statslink_end(void)
{
	if (self != NULL && mapped)
		stats_release(&area, self);
	self = NULL;
}
