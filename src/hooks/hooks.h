/* hooks.h: what the exported libc symbols share: visibility and the fd lookup. */
#ifndef MTLSSHIM_HOOKS_H
#define MTLSSHIM_HOOKS_H

#include <sys/socket.h>
#include <sys/types.h>

#include "preload/fdtable.h"
#include "engine/session.h"

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
 * The bodies of read, write, close and connect, for hooks that reach them
 * by other names (stdio, __read_chk, a Fast Open sendto).  A hook never
 * calls another exported hook: a call by name would go through the PLT to
 * whichever definition wins the lookup, not necessarily ours.  Bodies used
 * in one file only are static there, named hook_<call> as well.
 */
ssize_t	hook_read(int fd, void *buf, size_t len);
ssize_t	hook_write(int fd, const void *buf, size_t len);
int	hook_close(int fd);
int	hook_connect(int fd, const struct sockaddr *sa, socklen_t len);

/*
 * A session just got the number fd.  On 0, 1 or 2 glibc's stdin, stdout and
 * stderr reach it with their internal calls, out of our sight: it goes to a
 * relay (relay_handover).  0, or -1 with errno when that failed (logged):
 * the caller then gives fd up.
 */
int	hook_guard_stdio(int fd);

#endif
