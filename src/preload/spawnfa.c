/* spawnfa.c: what a posix_spawn child's descriptors 0 and 1 will be, from its file actions. */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>

#include "common/lockstat.h"
#include "common/real.h"
#include "preload/relayed.h"
#include "preload/spawnfa.h"

/* What the child's 0 or 1 is, after the actions so far. */
enum std_is {
	STD_INHERIT,	/* the caller's, as the spawn finds it */
	STD_PEER,	/* a dup2 of the peer's socket */
	STD_OTHER,	/* anything else: closed, a file, another descriptor */
};

struct spawnfa {
	const void	*fa;
	unsigned char	 std[2];
	uint64_t	 touched;	/* descriptors < 64 an earlier action replaced */
	int		 touched_high;	/* and, if set, any >= 64 */
};

#define SPAWNFA_SLOTS	64
static struct spawnfa	slots[SPAWNFA_SLOTS];
static pthread_mutex_t	lock = PTHREAD_MUTEX_INITIALIZER;
static int		overflow;	/* an action went unrecorded: fa's we do not know keep nothing */

static struct spawnfa *
find(const void *fa, int make)
{
	struct spawnfa *free_slot = NULL;
	int i;

	for (i = 0; i < SPAWNFA_SLOTS; i++) {
		if (slots[i].fa == fa)
			return &slots[i];
		if (slots[i].fa == NULL && free_slot == NULL)
			free_slot = &slots[i];
	}
	if (!make)
		return NULL;
	if (free_slot == NULL) {
		overflow = 1;
		return NULL;
	}
	free_slot->fa = fa;
	free_slot->std[0] = free_slot->std[1] = STD_INHERIT;
	free_slot->touched = 0;
	free_slot->touched_high = 0;
	return free_slot;
}

static int
touched(const struct spawnfa *r, int fd)
{
	return fd >= 64 ? r->touched_high : (int)((r->touched >> fd) & 1);
}

static void
touch(struct spawnfa *r, int fd)
{
	if (fd >= 64)
		r->touched_high = 1;
	else if (fd >= 0)
		r->touched |= UINT64_C(1) << fd;
}

/* What fd is in the child at this point of its actions, as a source of a dup2 onto 0 or 1. */
static unsigned char
source(const struct spawnfa *r, int fd)
{
	if (fd == 0 || fd == 1)
		if (r->std[fd] != STD_INHERIT)
			return r->std[fd];
	if (touched(r, fd))
		return STD_OTHER;
	return relayed_is_peer(fd) ? STD_PEER : STD_OTHER;
}

void
spawnfa_action(const void *fa, enum spawnfa_op op, int fd, int newfd)
{
	struct spawnfa *r;
	unsigned char v;
	int k;

	if (fa == NULL)
		return;
	plock(&lock);
	if ((r = find(fa, 1)) == NULL)
		goto out;
	switch (op) {
	case SPAWNFA_DUP2:
		/* Onto itself it only clears close-on-exec: glibc's child keeps it open. */
		v = source(r, fd);
		if (newfd == 0 || newfd == 1)
			r->std[newfd] = v;
		if (newfd != fd)
			touch(r, newfd);
		break;
	case SPAWNFA_REPLACE:
		if (fd == 0 || fd == 1)
			r->std[fd] = STD_OTHER;
		touch(r, fd);
		break;
	case SPAWNFA_CLOSEFROM:
		for (k = 0; k <= 1; k++)
			if (k >= fd)
				r->std[k] = STD_OTHER;
		r->touched |= fd <= 0 ? ~UINT64_C(0) : fd < 64 ? ~UINT64_C(0) << fd : 0;
		r->touched_high = 1;
		break;
	}
 out:
	pthread_mutex_unlock(&lock);
}

void
spawnfa_forget(const void *fa)
{
	struct spawnfa *r;

	plock(&lock);
	if ((r = find(fa, 0)) != NULL)
		r->fa = NULL;
	pthread_mutex_unlock(&lock);
}

static int
open_across_exec(int fd)
{
	int f = REAL(fcntl)(fd, F_GETFD);

	return f != -1 && !(f & FD_CLOEXEC);
}

int
spawnfa_keeps_peer(const void *fa)
{
	unsigned char std[2] = { STD_INHERIT, STD_INHERIT };
	struct spawnfa *r;
	int k, keep = 0, known = 1;

	if (fa != NULL) {
		plock(&lock);
		if ((r = find(fa, 0)) != NULL) {
			std[0] = r->std[0];
			std[1] = r->std[1];
		} else
			known = !overflow;	/* no actions, unless they went unrecorded */
		pthread_mutex_unlock(&lock);
	}
	for (k = 0; k <= 1 && known && !keep; k++)
		keep = std[k] == STD_PEER ||
		    (std[k] == STD_INHERIT && relayed_is_peer(k) && open_across_exec(k));
	return keep;
}

void
spawnfa_atfork_child(void)
{
	pthread_mutex_init(&lock, NULL);
}
