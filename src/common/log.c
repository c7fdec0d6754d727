/* log.c: leveled log lines to stderr, syslog or a file. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <unistd.h>

#include "common/log.h"

static enum log_level	 log_level = LOG_LVL_INFO;
static const char	*log_sink = "stderr";
static int		(*log_stderr_taken)(void);

void
log_setup(enum log_level level, const char *sink)
{
	log_level = level;
	log_sink = sink;
}

void
log_set_stderr_check(int (*is_connection)(void))
{
	log_stderr_taken = is_connection;
}

int
log_enabled(enum log_level level)
{
	return level <= log_level;
}

/*
 * Raw syscalls: the program's write() and close() are our hooks, and the
 * program may have closed fd 2 or any fd we would keep, so a file sink is
 * opened per line.
 */
static void
log_write(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = syscall(SYS_write, fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= n;
	}
}

void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[2048];
	int saved = errno, n, fd;

	if (!log_enabled(level))
		return;
	n = snprintf(line, sizeof(line), "mtlsshim[%ld]: ", (long)getpid());
	vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	n = strlen(line);
	if (strcmp(log_sink, "syslog") == 0 ||
	    (strcmp(log_sink, "stderr") == 0 && log_stderr_taken && log_stderr_taken())) {
		syslog(LOG_DAEMON | prio[level], "%s", line);
	} else if (strcmp(log_sink, "stderr") == 0) {
		line[n++] = '\n';
		log_write(2, line, n);
	} else {
		line[n++] = '\n';
		fd = syscall(SYS_openat, AT_FDCWD, log_sink,
		    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd >= 0) {
			log_write(fd, line, n);
			syscall(SYS_close, fd);
		}
	}
	errno = saved;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
