/* relayproc.h: the relay process: it joins a session to one end of a socket pair until both ends finish. */
#ifndef MTLSSHIM_RELAYPROC_H
#define MTLSSHIM_RELAYPROC_H

struct session;

/*
 * In a freshly forked relay: relays s to app until both ends finish, then
 * exits.  spare (our copy of the program's end) closes first; one byte on
 * ready (if >= 0) says the relay holds what it needs, so the program may
 * swap its descriptors.  keep_stderr: fd 2 is the program's stderr, not a
 * socket, and stays for the log; else it becomes /dev/null.
 */
void	relayproc_run(struct session *s, int app, int spare, int ready, int keep_stderr,
	    const char *why) __attribute__((noreturn));
/* Relays s to app until both ends finish, then exits (the offload helper's workers). */
void	relayproc_serve(struct session *s, int app, const char *why) __attribute__((noreturn));
/* A child of ours: the program's signal handlers and descriptors but keep[] are gone. */
void	relayproc_prepare_child(const int *keep, int n);

#endif
