/* priv.c: chroot and the calls that give up ids; the shim reads its files first. */
#include <grp.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hooks/hooks.h"
#include "preload/offload.h"
#include "common/real.h"
#include "preload/shim.h"

/*
 * A root process that started from the start-up cache has not loaded the
 * TLS engine or read its files yet; after these calls they may be out of
 * reach.  Each returns what the real call returns.
 */
#define KEEP_ACCESS(name, params, args)		\
	HOOK int				\
	name params				\
	{					\
		shim_keep_access();		\
		return REAL(name) args;		\
	}

KEEP_ACCESS(chroot, (const char *path), (path))
KEEP_ACCESS(setuid, (uid_t uid), (uid))
KEEP_ACCESS(seteuid, (uid_t euid), (euid))
KEEP_ACCESS(setreuid, (uid_t ruid, uid_t euid), (ruid, euid))
KEEP_ACCESS(setresuid, (uid_t ruid, uid_t euid, uid_t suid), (ruid, euid, suid))
KEEP_ACCESS(setgid, (gid_t gid), (gid))
KEEP_ACCESS(setegid, (gid_t egid), (egid))
KEEP_ACCESS(setregid, (gid_t rgid, gid_t egid), (rgid, egid))
KEEP_ACCESS(setresgid, (gid_t rgid, gid_t egid, gid_t sgid), (rgid, egid, sgid))
KEEP_ACCESS(setgroups, (size_t n, const gid_t *list), (n, list))
KEEP_ACCESS(initgroups, (const char *user, gid_t group), (user, group))

/*
 * A soft RLIMIT_NPROC of 0 or 1 means this process will never fork again
 * (dovecot's login processes): the TLS helper starts first (offload.h).
 * Each makes the system call glibc makes, prlimit64: sanitizer runtimes
 * call setrlimit before any library, ours included, is initialised.
 */
static int
limit(pid_t pid, int res, const struct rlimit64 *rl, struct rlimit64 *old)
{
	if ((pid == 0 || pid == getpid()) && res == RLIMIT_NPROC && rl != NULL &&
	    rl->rlim_cur <= 1)
		offload_before_nproc_limit();
	return (int)syscall(SYS_prlimit64, pid, res, rl, old);
}

/* struct rlimit is struct rlimit64 where rlim_t has 64 bits, as on every target we build. */
_Static_assert(sizeof(struct rlimit) == sizeof(struct rlimit64), "rlimit64 differs");

HOOK int
setrlimit(__rlimit_resource_t res, const struct rlimit *rl)
{
	return limit(0, res, (const struct rlimit64 *)rl, NULL);
}

HOOK int
setrlimit64(__rlimit_resource_t res, const struct rlimit64 *rl)
{
	return limit(0, res, rl, NULL);
}

HOOK int
prlimit(pid_t pid, __rlimit_resource_t res, const struct rlimit *rl, struct rlimit *old)
{
	return limit(pid, res, (const struct rlimit64 *)rl, (struct rlimit64 *)old);
}

HOOK int
prlimit64(pid_t pid, __rlimit_resource_t res, const struct rlimit64 *rl, struct rlimit64 *old)
{
	return limit(pid, res, rl, old);
}
