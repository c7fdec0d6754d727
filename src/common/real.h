/* real.h: pointers to the real libc functions, declared once from one list. */
#ifndef MTLSSHIM_REAL_H
#define MTLSSHIM_REAL_H

#include <aio.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

/* X(return type, name, parameter list) */
#define REAL_FUNCS(X) \
	X(int, socket, (int, int, int)) \
	X(int, connect, (int, const struct sockaddr *, socklen_t)) \
	X(int, listen, (int, int)) \
	X(int, accept, (int, struct sockaddr *, socklen_t *)) \
	X(int, accept4, (int, struct sockaddr *, socklen_t *, int)) \
	X(int, close, (int)) \
	X(int, shutdown, (int, int)) \
	X(int, dup, (int)) \
	X(int, dup2, (int, int)) \
	X(int, dup3, (int, int, int)) \
	X(int, fcntl, (int, int, ...)) \
	X(int, fcntl64, (int, int, ...)) \
	X(int, ioctl, (int, unsigned long, ...)) \
	X(int, getsockopt, (int, int, int, void *, socklen_t *)) \
	X(int, setsockopt, (int, int, int, const void *, socklen_t)) \
	X(int, getpeername, (int, struct sockaddr *, socklen_t *)) \
	X(int, getsockname, (int, struct sockaddr *, socklen_t *)) \
	X(int, close_range, (unsigned int, unsigned int, int)) \
	X(void, closefrom, (int)) \
	X(ssize_t, read, (int, void *, size_t)) \
	X(ssize_t, write, (int, const void *, size_t)) \
	X(ssize_t, recv, (int, void *, size_t, int)) \
	X(ssize_t, send, (int, const void *, size_t, int)) \
	X(ssize_t, recvfrom, (int, void *, size_t, int, struct sockaddr *, socklen_t *)) \
	X(ssize_t, sendto, (int, const void *, size_t, int, const struct sockaddr *, socklen_t)) \
	X(ssize_t, recvmsg, (int, struct msghdr *, int)) \
	X(ssize_t, sendmsg, (int, const struct msghdr *, int)) \
	X(int, recvmmsg, (int, struct mmsghdr *, unsigned int, int, struct timespec *)) \
	X(int, sendmmsg, (int, struct mmsghdr *, unsigned int, int)) \
	X(ssize_t, readv, (int, const struct iovec *, int)) \
	X(ssize_t, writev, (int, const struct iovec *, int)) \
	X(ssize_t, sendfile, (int, int, off_t *, size_t)) \
	X(ssize_t, sendfile64, (int, int, off_t *, size_t)) \
	X(ssize_t, splice, (int, off_t *, int, off_t *, size_t, unsigned int)) \
	X(ssize_t, copy_file_range, (int, off_t *, int, off_t *, size_t, unsigned int)) \
	X(ssize_t, pread, (int, void *, size_t, off_t)) \
	X(ssize_t, preadv2, (int, const struct iovec *, int, off_t, int)) \
	X(ssize_t, pwritev2, (int, const struct iovec *, int, off_t, int)) \
	X(int, aio_read, (struct aiocb *)) \
	X(int, aio_write, (struct aiocb *)) \
	X(int, lio_listio, (int, struct aiocb *const [], int, struct sigevent *)) \
	X(FILE *, fdopen, (int, const char *)) \
	X(FILE *, freopen, (const char *, const char *, FILE *)) \
	X(FILE *, freopen64, (const char *, const char *, FILE *)) \
	X(int, vdprintf, (int, const char *, va_list)) \
	X(int, __vdprintf_chk, (int, int, const char *, va_list)) \
	X(int, poll, (struct pollfd *, nfds_t, int)) \
	X(int, ppoll, (struct pollfd *, nfds_t, const struct timespec *, const sigset_t *)) \
	X(int, select, (int, fd_set *, fd_set *, fd_set *, struct timeval *)) \
	X(int, pselect, (int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *)) \
	X(int, epoll_ctl, (int, int, int, struct epoll_event *)) \
	X(int, epoll_wait, (int, struct epoll_event *, int, int)) \
	X(int, epoll_pwait, (int, struct epoll_event *, int, int, const sigset_t *)) \
	X(int, epoll_pwait2, (int, struct epoll_event *, int, const struct timespec *, const sigset_t *)) \
	X(int, execve, (const char *, char *const [], char *const [])) \
	X(int, execv, (const char *, char *const [])) \
	X(int, execvp, (const char *, char *const [])) \
	X(int, execvpe, (const char *, char *const [], char *const [])) \
	X(int, fexecve, (int, char *const [], char *const [])) \
	X(int, execveat, (int, const char *, char *const [], char *const [], int)) \
	X(int, posix_spawn, (pid_t *, const char *, const posix_spawn_file_actions_t *, \
	    const posix_spawnattr_t *, char *const [], char *const [])) \
	X(int, posix_spawnp, (pid_t *, const char *, const posix_spawn_file_actions_t *, \
	    const posix_spawnattr_t *, char *const [], char *const [])) \
	X(int, posix_spawn_file_actions_init, (posix_spawn_file_actions_t *)) \
	X(int, posix_spawn_file_actions_adddup2, (posix_spawn_file_actions_t *, int, int)) \
	X(int, posix_spawn_file_actions_addclose, (posix_spawn_file_actions_t *, int)) \
	X(int, posix_spawn_file_actions_addopen, (posix_spawn_file_actions_t *, int, const char *, \
	    int, mode_t)) \
	X(int, posix_spawn_file_actions_addclosefrom_np, (posix_spawn_file_actions_t *, int)) \
	X(int, posix_spawn_file_actions_destroy, (posix_spawn_file_actions_t *)) \
	X(int, system, (const char *)) \
	X(FILE *, popen, (const char *, const char *)) \
	X(int, chroot, (const char *)) \
	X(int, setuid, (uid_t)) \
	X(int, seteuid, (uid_t)) \
	X(int, setreuid, (uid_t, uid_t)) \
	X(int, setresuid, (uid_t, uid_t, uid_t)) \
	X(int, setgid, (gid_t)) \
	X(int, setegid, (gid_t)) \
	X(int, setregid, (gid_t, gid_t)) \
	X(int, setresgid, (gid_t, gid_t, gid_t)) \
	X(int, setgroups, (size_t, const gid_t *)) \
	X(int, initgroups, (const char *, gid_t))

#define REAL_DECLARE(ret, name, args) extern ret (*real_##name) args;
REAL_FUNCS(REAL_DECLARE)
#undef REAL_DECLARE

/* Resolves every pointer; safe to call more than once and from any hook. */
void	real_init(void);

/* Hooks call this first: resolves the real functions if nobody has yet. */
#define REAL(name) (real_##name ? real_##name : (real_init(), real_##name))

#endif
