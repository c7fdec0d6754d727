/* relay.h: carrying sessions across exec. */
#ifndef MTLSSHIM_RELAY_H
#define MTLSSHIM_RELAY_H

/*
 * Called just before the program replaces its image.  Every session whose
 * fd survives exec is handed to a relay process forked here; the fd numbers
 * then name one end of a socket pair whose other end the relay joins to the
 * session, so the new image reads and writes plaintext while the peer still
 * speaks mTLS.  Returns 0, or -1 with errno (ENOMEM, EAGAIN, EMFILE or
 * ENFILE) when a session could not be relayed: the exec must not go ahead,
 * since the new image would speak plaintext on the socket.
 */
int	relay_before_exec(void);

/*
 * posix_spawn, system and popen start the new image from glibc's own child,
 * out of reach: for the call, sessions' fds are marked close-on-exec so the
 * child does not inherit a TLS socket it cannot speak.  relay_spawn_begin
 * returns a token for relay_spawn_end, which restores the flags.
 */
struct relay_spawn;
struct relay_spawn	*relay_spawn_begin(void);
void			 relay_spawn_end(struct relay_spawn *);

#endif
