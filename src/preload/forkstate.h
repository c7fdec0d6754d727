/* forkstate.h: which process this is since fork: a vfork child runs no fork handlers, and a relay's fork is not the program's. */
#ifndef MTLSSHIM_FORKSTATE_H
#define MTLSSHIM_FORKSTATE_H

#include <sys/types.h>

/*
 * Once, with the config (shim.c): notes our pid, and keeps it right in
 * every fork child from then on.
 */
void	forkstate_start(void);
/* 1 in a child that shares our memory (vfork, clone without fork handlers). */
int	forkstate_in_vfork_child(void);
/*
 * fork() for a relay (relay.c, offload.c): the sessions stay the parent's
 * own, as if it had not forked, since the child leaves them to it.
 */
pid_t	forkstate_fork_relay(void);
/* 1 while this thread is inside forkstate_fork_relay (the fork handlers ask). */
int	forkstate_relay_forking(void);

#endif
