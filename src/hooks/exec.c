/*
 * exec.c: the exec family, and the spawn calls whose child we cannot
 * reach.  A wrapped socket must never reach a program image without our TLS
 * state: exec hands sessions to a relay first (relay.c); spawned children do
 * not inherit them at all.
 */
#include <errno.h>
#include <stdarg.h>
#include <unistd.h>

#include "hooks/hooks.h"
#include "common/real.h"
#include "preload/relay.h"
#include "preload/spawnfa.h"

extern char **environ;

/* Missing from this libc: the call reports ENOSYS, as the kernel would. */
#define CALL_REAL(name, ...) \
	(REAL(name) == NULL ? (errno = ENOSYS, -1) : REAL(name)(__VA_ARGS__))

/*
 * Runs the real exec with the environment relay_before_exec gives; fails
 * closed without it (errno as it says).  The room is for a vfork child's
 * copy (no malloc), RELAY_ROOM_MAX slots at most.
 */
#define EXEC_WITH(envp, call) do { \
	size_t nroom_ = relay_exec_room(envp); \
	char *room_[nroom_]; \
	char **env_ = relay_before_exec(envp, room_, nroom_); \
	int r_, e_; \
	if (env_ == NULL) \
		return -1; \
	r_ = (call); \
	e_ = errno; \
	relay_env_free(env_, envp); \
	errno = e_; \
	return r_; \
} while (0)

/* The bodies of execve and execvpe, which the other names come down to. */
static int
hook_execve(const char *path, char *const argv[], char *const envp[])
{
	EXEC_WITH(envp, CALL_REAL(execve, path, argv, env_));
}

static int
hook_execvpe(const char *file, char *const argv[], char *const envp[])
{
	EXEC_WITH(envp, CALL_REAL(execvpe, file, argv, env_));
}

HOOK int
execve(const char *path, char *const argv[], char *const envp[])
{
	return hook_execve(path, argv, envp);
}

/* execv and execvp are execve and execvpe on environ. */
HOOK int
execv(const char *path, char *const argv[])
{
	return hook_execve(path, argv, environ);
}

HOOK int
execvp(const char *file, char *const argv[])
{
	return hook_execvpe(file, argv, environ);
}

HOOK int
execvpe(const char *file, char *const argv[], char *const envp[])
{
	return hook_execvpe(file, argv, envp);
}

HOOK int
fexecve(int fd, char *const argv[], char *const envp[])
{
	EXEC_WITH(envp, CALL_REAL(fexecve, fd, argv, env_));
}

HOOK int
execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
	EXEC_WITH(envp, CALL_REAL(execveat, dirfd, path, argv, env_, flags));
}

/*
 * execl, execlp, execle: glibc turns them into execve/execvpe internally,
 * out of our reach, so they gather their arguments here, on the stack as
 * glibc does (no malloc: they may run in a vfork child).
 */
#define GATHER(arg, last, argv, envp, want_env) \
	size_t n_ = 1; \
	va_list ap_; \
	va_start(ap_, last); \
	while (va_arg(ap_, char *) != NULL) \
		n_++; \
	va_end(ap_); \
	char *argv[n_ + 1]; \
	va_start(ap_, last); \
	argv[0] = (char *)(arg); \
	for (size_t i_ = 1; i_ <= n_; i_++) \
		argv[i_] = va_arg(ap_, char *); \
	if (want_env) \
		envp = va_arg(ap_, char **); \
	va_end(ap_)

HOOK int
execl(const char *path, const char *arg, ...)
{
	char **envp = environ;

	GATHER(arg, arg, argv, envp, 0);
	return hook_execve(path, argv, envp);
}

HOOK int
execlp(const char *file, const char *arg, ...)
{
	char **envp = NULL;

	GATHER(arg, arg, argv, envp, 0);
	(void)envp;
	return hook_execvpe(file, argv, environ);
}

HOOK int
execle(const char *path, const char *arg, ...)
{
	char **envp = NULL;

	GATHER(arg, arg, argv, envp, 1);
	return hook_execve(path, argv, envp);
}

/*
 * The file actions are watched as they are added (only the ones the real
 * call took): a dup2 of a wrapped socket refuses the spawn, and what they
 * put on 0 and 1 decides whether the child gets the peer variables.
 */
HOOK int
posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *fa, int fd, int newfd)
{
	int r;

	relay_spawn_mark(fa, fd);
	if ((r = REAL(posix_spawn_file_actions_adddup2)(fa, fd, newfd)) == 0)
		spawnfa_action(fa, SPAWNFA_DUP2, fd, newfd);
	return r;
}

HOOK int
posix_spawn_file_actions_addclose(posix_spawn_file_actions_t *fa, int fd)
{
	int r;

	if ((r = REAL(posix_spawn_file_actions_addclose)(fa, fd)) == 0)
		spawnfa_action(fa, SPAWNFA_REPLACE, fd, -1);
	return r;
}

HOOK int
posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *fa, int fd, const char *path,
    int oflag, mode_t mode)
{
	int r;

	if ((r = REAL(posix_spawn_file_actions_addopen)(fa, fd, path, oflag, mode)) == 0)
		spawnfa_action(fa, SPAWNFA_REPLACE, fd, -1);
	return r;
}

/* Missing from this libc (before glibc 2.34): ENOSYS, as a stub would say. */
HOOK int
posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *fa, int from)
{
	int r;

	if (REAL(posix_spawn_file_actions_addclosefrom_np) == NULL)
		return ENOSYS;
	if ((r = REAL(posix_spawn_file_actions_addclosefrom_np)(fa, from)) == 0)
		spawnfa_action(fa, SPAWNFA_CLOSEFROM, from, -1);
	return r;
}

/* A fresh object at the address of one never destroyed carries no old mark. */
HOOK int
posix_spawn_file_actions_init(posix_spawn_file_actions_t *fa)
{
	relay_spawn_unmark(fa);
	spawnfa_forget(fa);
	return REAL(posix_spawn_file_actions_init)(fa);
}

HOOK int
posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *fa)
{
	relay_spawn_unmark(fa);
	spawnfa_forget(fa);
	return REAL(posix_spawn_file_actions_destroy)(fa);
}

typedef int (*spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
    const posix_spawnattr_t *, char *const [], char *const []);

/*
 * posix_spawn and posix_spawnp: no TLS socket for glibc's child, and the
 * peer variables only for one that holds their socket.  EINVAL for a
 * refused spawn, ENOMEM without the copy of envp.
 */
static int
spawn_guarded(spawn_fn real, pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
    const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	struct relay_spawn *sp;
	char **env;
	int r;

	if (relay_spawn_refused(fa))
		return EINVAL;
	if ((env = relay_spawn_env(fa, envp)) == NULL)
		return ENOMEM;
	sp = relay_spawn_begin();
	r = real(pid, path, fa, attr, argv, env);
	relay_spawn_end(sp);
	relay_env_free(env, envp);
	return r;
}

HOOK int
posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
    const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	return spawn_guarded(REAL(posix_spawn), pid, path, fa, attr, argv, envp);
}

HOOK int
posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
    const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	return spawn_guarded(REAL(posix_spawnp), pid, file, fa, attr, argv, envp);
}

HOOK int
system(const char *command)
{
	struct relay_spawn *sp = relay_spawn_begin();
	int r = REAL(system)(command), e = errno;

	relay_spawn_end(sp);
	errno = e;
	return r;
}

HOOK FILE *
popen(const char *command, const char *type)
{
	struct relay_spawn *sp = relay_spawn_begin();
	FILE *f = REAL(popen)(command, type);
	int e = errno;

	relay_spawn_end(sp);
	errno = e;
	return f;
}
