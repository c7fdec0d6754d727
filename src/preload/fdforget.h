/* fdforget.h: a descriptor number stops naming a session or listener (close, dup onto it, a relay's pair). */
#ifndef MTLSSHIM_FDFORGET_H
#define MTLSSHIM_FDFORGET_H

/*
 * Forgets fd before the caller's real close (or dup onto it): close_notify
 * if it was the session's last name; else a copy takes over the socket
 * calls.  Returns 1 if the close is deferred to threads still blocked on
 * it; with reuse (the caller's real call takes the number next) it waits
 * for that close instead and returns 0.  Nothing in a vfork child, which
 * shares our memory.
 */
int	fdforget_one(int fd, int reuse);
/* Every known fd in [first, last], before a real call closes them all (close_range, closefrom). */
void	fdforget_range(unsigned int first, unsigned int last);

#endif
