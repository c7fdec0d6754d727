/* forkstate.c: which process this is since fork: a vfork child runs no fork handlers, and a relay's fork is not the program's. */
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "preload/forkstate.h"

static pid_t		 forkstate_pid;		/* as fork handlers saw it; vfork runs none */
static __thread int	 forkstate_relay;	/* this thread forks a relay */

static void
forkstate_child(void)
{
	forkstate_pid = (pid_t)syscall(SYS_getpid);
}

/*
 * The pid has a fork handler of its own, registered here with the config:
 * the other handlers (atfork.c) reach every module, so this one, which
 * they all ask, must not depend on them.  Raw getpid: glibc's may be cached.
 */
void
forkstate_start(void)
{
	forkstate_pid = (pid_t)syscall(SYS_getpid);
	pthread_atfork(NULL, NULL, forkstate_child);
}

int
forkstate_in_vfork_child(void)
{
	return forkstate_pid != 0 && (pid_t)syscall(SYS_getpid) != forkstate_pid;
}

pid_t
forkstate_fork_relay(void)
{
	pid_t pid;

	forkstate_relay = 1;
	pid = fork();
	forkstate_relay = 0;
	return pid;
}

int
forkstate_relay_forking(void)
{
	return forkstate_relay;
}
