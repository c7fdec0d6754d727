/* log.h: leveled log lines to stderr, syslog or a file; never blocks on our hooks. */
#ifndef MTLSSHIM_LOG_H
#define MTLSSHIM_LOG_H

#include <stdarg.h>

#include "common/config.h"

void	log_setup(enum log_level, const char *sink);
/*
 * The preload's test that fd 2 is still the program's stderr and not a
 * connection of ours (a daemon that closed it got a socket there): when it
 * says no, stderr lines go to syslog instead of onto the wire.
 */
void	log_set_stderr_check(int (*is_connection)(void));
int	log_enabled(enum log_level);
/* One line "mtlsshim[pid]: ..." ; keeps errno. */
void	log_msg(enum log_level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	log_vmsg(enum log_level, const char *fmt, va_list)
	    __attribute__((format(printf, 2, 0)));

#define log_error(...)	log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)	do { if (log_enabled(LOG_LVL_DEBUG)) log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)

#endif
