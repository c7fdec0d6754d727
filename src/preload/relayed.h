/* relayed.h: sockets that are ends of relays' pairs, and the TCP addresses they stand for. */
#ifndef MTLSSHIM_RELAYED_H
#define MTLSSHIM_RELAYED_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * RELAYED_ENV=ENTRY[,ENTRY...], ENTRY = INODE/PEER/LOCAL[/P]: the inode of a
 * socket a new image holds and the TCP addresses in hex.  It passes
 * through later execs untouched (sh -c 'exec prog'); an entry whose socket
 * is gone matches nothing.  /P marks the socket whose peer the
 * MTLSSHIM_PEER_* variables describe (engine/peerenv.h); the last mark wins.
 */
#define RELAYED_ENV	"MTLSSHIM_RELAYED"
#define RELAYED_MAX	16	/* relayed sockets a new image learns the addresses of */
#define RELAYED_NOTE	300	/* one entry of RELAYED_ENV at most */

/*
 * In the new image, and in the process that made the relays: a relayed
 * socket's addresses are the TCP connection's, as the program would have
 * seen them without us.  0 if fd is one (the name is filled in as
 * getpeername/getsockname would), -1 if not.
 */
int	relayed_sockname(int fd, int peer, struct sockaddr *sa, socklen_t *len);
/* 1 if fd is a relayed socket (TCP-level options are accepted and ignored). */
int	relayed_known(int fd);

/*
 * 1 if fd is the socket the MTLSSHIM_PEER_* variables this image came with
 * describe (its RELAYED_ENV entry is marked /P), else 0.
 */
int	relayed_is_peer(int fd);
/* Marks the entry relayed_note appended last to a RELAYED_ENV value being built. */
void	relayed_mark_peer(char *env, size_t size);
/* Takes every mark out of a RELAYED_ENV value, in place. */
void	relayed_unmark(char *env);

/* Appends the entry of the pair end fd, relaying peer and local, to a RELAYED_ENV value. */
void	relayed_note(char *env, size_t size, int fd, const struct sockaddr *peer, socklen_t,
	    const struct sockaddr *local, socklen_t);
/*
 * A relay this process made while it runs on (relay_handover, the offload
 * helper): the last RELAYED_MAX entries are kept, for its own getpeername
 * and for the images it execs, with the nvars malloc'd MTLSSHIM_PEER_*
 * strings of its session (engine/peerenv.h), which relayed_add owns now.
 */
void	relayed_add(const char *note, char **vars, int nvars);
/*
 * Copies (malloc'd) the peer variables kept with the relay whose pair end
 * is fd into vars, at most max, and sets *ino to fd's inode; returns how
 * many (0: none kept, or fd is no such socket), or -1 with ENOMEM.
 */
int	relayed_peer_vars(int fd, char **vars, int max, unsigned long *ino);
/* fd, one end of a pair relayed elsewhere, shows these addresses to getpeername/getsockname. */
void	relayed_note_handed(int fd, const struct sockaddr *peer, socklen_t,
	    const struct sockaddr *local, socklen_t);
/* How many relayed_add ever kept. */
unsigned	relayed_handed(void);
/* Appends the kept entries to a RELAYED_ENV value being built, the one of inode mark marked /P. */
void	relayed_handed_notes(char *buf, size_t size, unsigned long mark);
/* In a fork child: a thread holding the lock is gone. */
void	relayed_atfork_child(void);

#endif
