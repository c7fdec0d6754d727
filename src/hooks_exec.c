/*
 * hooks_exec.c: the exec family, and the spawn calls whose child we cannot
 * reach.  A wrapped socket must never reach a program image without our TLS
 * state: exec hands sessions to a relay first (relay.c); spawned children do
 * not inherit them at all.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "hooks.h"
#include "real.h"
#include "relay.h"

extern char **environ;

/* Missing from this libc: the call reports ENOSYS, as the kernel would. */
#define CALL_REAL(name, ...) \
	(REAL(name) == NULL ? (errno = ENOSYS, -1) : REAL(name)(__VA_ARGS__))

/* Runs the real exec with the environment relay_before_exec gives; fails closed without it. */
#define EXEC_WITH(envp, call) do { \
	char **env_ = relay_before_exec(envp); \
	int r_, e_; \
	if (env_ == NULL) \
		return -1; \
	r_ = (call); \
	e_ = errno; \
	relay_env_free(env_, envp); \
	errno = e_; \
	return r_; \
} while (0)

HOOK int
execve(const char *path, char *const argv[], char *const envp[])
{
	EXEC_WITH(envp, CALL_REAL(execve, path, argv, env_));
}

/* execv and execvp are execve and execvpe on environ. */
HOOK int
execv(const char *path, char *const argv[])
{
	EXEC_WITH(environ, CALL_REAL(execve, path, argv, env_));
}

HOOK int
execvp(const char *file, char *const argv[])
{
	EXEC_WITH(environ, CALL_REAL(execvpe, file, argv, env_));
}

HOOK int
execvpe(const char *file, char *const argv[], char *const envp[])
{
	EXEC_WITH(envp, CALL_REAL(execvpe, file, argv, env_));
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
 * out of our reach, so they gather their arguments here.  Returns argv
 * (NULL with errno E2BIG past the kernel's own limit); *envp gets execle's
 * environment.
 */
static char **
gather(const char *arg0, va_list ap, char ***envp)
{
	size_t n = 1, cap = 16;
	char **argv, **p;

	if ((argv = malloc(cap * sizeof(*argv))) == NULL)
		return NULL;
	argv[0] = (char *)arg0;
	while (arg0 != NULL) {
		if (n == cap) {
			if (cap >= 1 << 20 || (p = realloc(argv, 2 * cap * sizeof(*argv))) == NULL) {
				free(argv);
				errno = E2BIG;
				return NULL;
			}
			argv = p;
			cap *= 2;
		}
		if ((argv[n++] = va_arg(ap, char *)) == NULL)
			break;
	}
	if (envp != NULL)
		*envp = va_arg(ap, char **);
	return argv;
}

HOOK int
execl(const char *path, const char *arg, ...)
{
	char **argv;
	va_list ap;
	int r, e;

	va_start(ap, arg);
	argv = gather(arg, ap, NULL);
	va_end(ap);
	if (argv == NULL)
		return -1;
	r = execve(path, argv, environ);
	e = errno;
	free(argv);
	errno = e;
	return r;
}

HOOK int
execlp(const char *file, const char *arg, ...)
{
	char **argv;
	va_list ap;
	int r, e;

	va_start(ap, arg);
	argv = gather(arg, ap, NULL);
	va_end(ap);
	if (argv == NULL)
		return -1;
	r = execvp(file, argv);
	e = errno;
	free(argv);
	errno = e;
	return r;
}

HOOK int
execle(const char *path, const char *arg, ...)
{
	char **argv, **envp;
	va_list ap;
	int r, e;

	va_start(ap, arg);
	argv = gather(arg, ap, &envp);
	va_end(ap);
	if (argv == NULL)
		return -1;
	r = execve(path, argv, envp);
	e = errno;
	free(argv);
	errno = e;
	return r;
}

HOOK int
posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
    const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	struct relay_spawn *sp = relay_spawn_begin();
	int r = REAL(posix_spawn)(pid, path, fa, attr, argv, envp);

	relay_spawn_end(sp);
	return r;
}

HOOK int
posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
    const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	struct relay_spawn *sp = relay_spawn_begin();
	int r = REAL(posix_spawnp)(pid, file, fa, attr, argv, envp);

	relay_spawn_end(sp);
	return r;
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
