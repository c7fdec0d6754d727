/* spawnfa.h: what a posix_spawn child's descriptors 0 and 1 will be, from its file actions. */
#ifndef MTLSSHIM_SPAWNFA_H
#define MTLSSHIM_SPAWNFA_H

enum spawnfa_op {
	SPAWNFA_DUP2,		/* fd onto newfd */
	SPAWNFA_REPLACE,	/* fd closed or opened anew (addclose, addopen) */
	SPAWNFA_CLOSEFROM,	/* fd and every one above it closed */
};

/*
 * A file action posix_spawn_file_actions_add* added to fa (only one that
 * succeeded).  Whether a dup2's source is the socket the MTLSSHIM_PEER_*
 * variables describe (relayed_is_peer) is asked now, as the action is added.
 */
void	spawnfa_action(const void *fa, enum spawnfa_op op, int fd, int newfd);
/* fa is (re)initialised or destroyed: nothing recorded for its address. */
void	spawnfa_forget(const void *fa);
/*
 * 1 if a child spawned now with fa (NULL: none) holds on its descriptor 0
 * or 1 the socket the peer variables describe: a dup2 of it there, or the
 * caller's own 0 or 1, open across exec, that no action replaced.  0 when
 * it does not, or when fa's actions were not all seen (fail closed).
 */
int	spawnfa_keeps_peer(const void *fa);
/* In a fork child: a thread recording actions at the fork is gone. */
void	spawnfa_atfork_child(void);

#endif
