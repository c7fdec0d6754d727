/* real.c: finds the real libc functions behind our hooks with dlsym(RTLD_NEXT). */
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/real.h"

#define REAL_DEFINE(ret, name, args) ret (*real_##name) args;
REAL_FUNCS(REAL_DEFINE)
#undef REAL_DEFINE

/*
 * Called lazily from any hook, possibly before our constructor or from
 * another library's constructor.  A function missing from this libc
 * (closefrom, epoll_pwait2 on an old glibc) stays NULL and its hook reports
 * ENOSYS.  dlsym must not hand back our own hook (it cannot with RTLD_NEXT,
 * but a libc lacking the symbol would make a naive fallback recurse).
 */
void
real_init(void)
{
	int saved = errno;

#define REAL_RESOLVE(ret, name, args) \
	if (real_##name == NULL) \
		real_##name = (ret (*) args)(uintptr_t)dlsym(RTLD_NEXT, #name);
	REAL_FUNCS(REAL_RESOLVE)
#undef REAL_RESOLVE
	errno = saved;
}
