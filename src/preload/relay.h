/* relay.h: carrying sessions across exec, descriptor passing and stdio. */
#ifndef MTLSSHIM_RELAY_H
#define MTLSSHIM_RELAY_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * Called just before the program replaces its image.  Every session whose
 * fd survives exec is handed to a relay process forked here; the fd numbers
 * then name one end of a socket pair whose other end the relay joins to the
 * session, so the new image reads and writes plaintext while the peer still
 * speaks mTLS.  Returns the environment to exec with: envp itself, or a copy
 * telling the new image the relayed sockets' addresses (free it with
 * relay_env_free if exec returns).  NULL with errno (ENOMEM, EAGAIN, EMFILE
 * or ENFILE; E2BIG, see relay_exec_room) when a session could not be relayed: the exec must not go
 * ahead, since the new image would speak plaintext on the socket.
 */
char	**relay_before_exec(char *const envp[], char **room, size_t nroom);
void	  relay_env_free(char **env, char *const envp[]);
/*
 * How many slots room (nroom) must have, on the caller's stack: a vfork
 * child may not malloc, yet may have to drop variables (MTLSSHIM_PEER_*)
 * from envp.  At least 1, at most RELAY_ROOM_MAX: a vfork child runs on its
 * parent's stack, perhaps a thread's small one.  A vfork child whose envp
 * would need more and holds peer variables to drop gets NULL with E2BIG
 * from relay_before_exec: it can neither copy envp off the stack (what it
 * maps outlives the exec, in the parent) nor pass the variables on.
 */
#define RELAY_ROOM_MAX	4096
size_t	  relay_exec_room(char *const envp[]);

/*
 * While the program runs on: s goes to a relay now and each of its fd
 * numbers names the relay's socket pair instead, so that paths our hooks
 * cannot see (glibc's stdio on 0, 1 and 2; another process the fd is passed
 * to) carry only plaintext to the relay.  why ends the log line ("passed to
 * another process").  0, or -1 with errno (ENOMEM, EAGAIN, EMFILE, ENFILE),
 * logged, when no relay could be made: the socket is untouched then.
 */
struct session;
int	relay_handover(struct session *s, const char *why);
/*
 * Before sendmsg: every session among msg's SCM_RIGHTS descriptors goes to
 * a relay (the receiver has no TLS state for it).  0, or -1 with errno.
 */
struct msghdr;
int	relay_before_pass(const struct msghdr *msg);
/* fn for each SCM_RIGHTS descriptor in msg, within its control buffer, until fn returns -1. */
void	relay_foreach_passed(const struct msghdr *msg, int (*fn)(int fd, void *), void *arg);

/*
 * posix_spawn, system and popen start the new image from glibc's own child,
 * out of reach: for the call, sessions' fds are marked close-on-exec so the
 * child does not inherit a TLS socket it cannot speak.  relay_spawn_begin
 * returns a token for relay_spawn_end, which restores the flags.
 */
struct relay_spawn;
struct relay_spawn	*relay_spawn_begin(void);
void			 relay_spawn_end(struct relay_spawn *);
/*
 * The environment for posix_spawn(fa, envp): envp itself, or a copy without
 * the MTLSSHIM_PEER_* variables (and without MTLSSHIM_RELAYED's peer mark)
 * when the child will not hold the socket they describe on 0 or 1; free it
 * with relay_env_free.  NULL with ENOMEM.
 */
char	**relay_spawn_env(const void *fa, char *const envp[]);
/*
 * File actions that dup2 a wrapped socket (posix_spawn_file_actions_adddup2)
 * are remembered; a spawn with them is refused (EINVAL, logged), since
 * glibc's child would hold a TLS socket without TLS.
 */
void	relay_spawn_mark(const void *fa, int fd);
void	relay_spawn_unmark(const void *fa);
int	relay_spawn_refused(const void *fa);
/* In a fork child: a thread marking file actions at the fork is gone. */
void	relay_atfork_child(void);

#endif
