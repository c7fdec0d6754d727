/* atfork.c: the fork handlers: the one place that reaches every module's atfork functions. */
#include <pthread.h>

#include "engine/engine.h"
#include "engine/session.h"
#include "preload/fdtable.h"
#include "preload/forkstate.h"
#include "preload/listener.h"
#include "preload/offload.h"
#include "preload/readiness.h"
#include "preload/relay.h"
#include "preload/relayed.h"
#include "preload/shim.h"
#include "preload/spawnfa.h"
#include "preload/statslink.h"

static int	atfork_swept;	/* the handlers hold the sweep's lock */

static void
atfork_child_one(int fd, struct fdobj *o, void *arg)
{
	if (o->kind == FD_SESSION)
		session_mark_forked((struct session *)o, 1);
	else if (o->kind == FD_LISTENER)
		listener_atfork_child((struct listener *)o);
}

static void
atfork_parent_one(int fd, struct fdobj *o, void *arg)
{
	if (o->kind == FD_SESSION)
		session_mark_forked((struct session *)o, 0);
}

/* Lock order as everywhere: the epoll sets, then the engine's sweep (the fd table has no lock). */
static void
atfork_prepare(void)
{
	epollset_atfork_prepare();
	if ((atfork_swept = engine_loaded()))
		session_sweep_atfork(SWEEP_PREPARE);
}

static void
atfork_parent(void)
{
	if (atfork_swept)
		session_sweep_atfork(SWEEP_PARENT);
	epollset_atfork_parent();
	/* A relay's fork copies no session to a process that will use it as the program. */
	if (!forkstate_relay_forking())
		fdtable_foreach(atfork_parent_one, NULL);
}

/* Threads do not survive fork: locks held by them are reset in the child. */
static void
atfork_child(void)
{
	shim_atfork_child();
	statslink_atfork_child();
	if (atfork_swept)
		session_sweep_atfork(SWEEP_CHILD);
	relayed_atfork_child();
	relay_atfork_child();
	spawnfa_atfork_child();
	offload_atfork_child();
	engine_atfork_child();
	fdtable_atfork_child();
	epollset_atfork_child();
	fdtable_foreach(atfork_child_one, NULL);
}

/*
 * Registered just after the config is loaded (and with it the engine), as
 * shim.c's start-up did before: shim.c sits below every module these
 * handlers reach, so it cannot register them itself.  Only a fork made by
 * another library's constructor, after one of its calls loaded our config
 * and before this constructor, runs without them; forkstate's own handler
 * keeps even that child's pid right.
 */
__attribute__((constructor)) static void
atfork_install(void)
{
	shim_config();
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}
