/* progcheck.h: can LD_PRELOAD reach this program? ELF interpreter, secure mode, scripts, Go. */
#ifndef MTLSSHIM_PROGCHECK_H
#define MTLSSHIM_PROGCHECK_H

#include <limits.h>
#include <stdint.h>

/* Verdicts, as exit statuses: EX_CONFIG for a refusal, a shell's 126/127 otherwise. */
#define PROGCHECK_OK		0
#define PROGCHECK_REFUSED	78
#define PROGCHECK_NOEXEC	126
#define PROGCHECK_NOTFOUND	127

/* #! interpreters followed, as the kernel's own recursion limit. */
#define PROGCHECK_DEPTH		4

/* glibc's execvp runs what the kernel cannot (ENOEXEC) with this; the launcher does too. */
#define PROGCHECK_SHELL		"/bin/sh"

/* progcheck_program flags. */
#define PROGCHECK_ALLOW_GO	0x1	/* a Go program passes (its own sockets stay plaintext) */

#define PROGCHECK_MSGLEN	(2 * PATH_MAX + 256)

/* The preload library, as the dynamic linker would load it. */
struct progcheck_lib {
	char		path[PATH_MAX];
	int		ok;
	unsigned char	elfclass, elfdata;	/* 0 when unknown: no comparison */
	uint16_t	machine;
	char		err[PROGCHECK_MSGLEN];	/* why it cannot be loaded */
};

/* One program's verdict. */
struct progcheck {
	char	path[PATH_MAX];			/* the file execve runs (the name when not found) */
	int	status;				/* PROGCHECK_* */
	int	go;				/* the image finally loaded is a Go program */
	char	detail[PROGCHECK_MSGLEN];	/* what was found, when ok */
	char	reason[PROGCHECK_MSGLEN];	/* why not, otherwise */
};

/*
 * dlopen()s path in this process, as ld.so will in the program: missing,
 * unreadable, not a shared object, another class or machine, unresolvable
 * dependencies.  0, or -1 with l->err.  The library stays loaded.
 */
int	progcheck_library(struct progcheck_lib *l, const char *path);

/*
 * Resolves name through PATH as execvp(3) does and inspects what would run:
 * the file, the #! interpreters it names (PROGCHECK_DEPTH deep, env NAME
 * looked up in PATH), and the ELF image finally loaded.  l's class and
 * machine are compared when known.  Returns p->status; p->path is what to
 * pass to execv.
 */
int	progcheck_program(struct progcheck *p, const struct progcheck_lib *l, const char *name,
	    int flags);

#endif
