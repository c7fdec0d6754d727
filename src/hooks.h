/* hooks.h: what the exported libc symbols share: visibility and the fd lookup. */
#ifndef MTLSSHIM_HOOKS_H
#define MTLSSHIM_HOOKS_H

#include "fdtable.h"
#include "session.h"

#define HOOK __attribute__((visibility("default")))

/* The session behind fd, held (release with fdobj_put), or NULL: fall through. */
static inline struct session *
hook_session(int fd)
{
	struct fdobj *o;

	if (!fdtable_known(fd) || (o = fdtable_get(fd)) == NULL)
		return NULL;
	if (o->kind == FD_SESSION)
		return (struct session *)o;
	fdobj_put(o);
	return NULL;
}

/*
 * Forgets fd before the real close: close_notify if it was the session's
 * last name.  Returns 1 if the close is deferred to threads still blocked on
 * it; with reuse (the caller's real call takes the number next) it waits for
 * that close instead and returns 0.
 */
int	hook_forget_fd(int fd, int reuse);

#endif
