/* pinguard.h: a PIN the token refused is not tried again and again by a restart loop. */
#ifndef MTLSSHIM_PINGUARD_H
#define MTLSSHIM_PINGUARD_H

#include <stddef.h>

struct rule;

/*
 * Tokens lock their PIN after a few wrong tries (often 3).  A daemon that
 * fails at start and is restarted by systemd would spend them all within
 * seconds, so a refusal is recorded in the run directory against the
 * pin_file as it is on disk (device, inode, size, times: never its
 * contents).  The same file is offered at most PINGUARD_TRIES times; a new
 * or rewritten pin_file starts afresh, and the token keeps a try for the
 * human who fixes it.
 */
#define PINGUARD_TRIES	2

/* 0: the pin_file may be offered; -1: it was refused PINGUARD_TRIES times (err says so). */
int	pinguard_may_try(const struct rule *, char *err, size_t errlen);
/* The token refused it: returns how many times it has been now. */
int	pinguard_refused(const struct rule *);
/* The token took it: the record goes. */
void	pinguard_accepted(const struct rule *);

#endif
