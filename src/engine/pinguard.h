/* pinguard.h: a PIN the token refused is not offered again and again by a restart loop. */
#ifndef MTLSSHIM_PINGUARD_H
#define MTLSSHIM_PINGUARD_H

#include <stddef.h>

struct rule;

/*
 * Tokens lock their PIN after a few wrong tries (often 3).  A daemon that
 * fails at start and is restarted by systemd would spend them all within
 * seconds, so each offer is counted in the run directory against the token
 * (module and token named in the URI) and the pin_file as it is on disk
 * (device, inode, size, times: never its contents).  The same file is
 * offered to the same token at most PINGUARD_TRIES times; a new or
 * rewritten pin_file starts afresh, and the token keeps a try for the human
 * who fixes it.
 */
#define PINGUARD_TRIES	2

enum pinguard_outcome { PINGUARD_TAKEN, PINGUARD_REFUSED, PINGUARD_OTHER };

/*
 * Before the PIN is offered: locks the record (processes starting together
 * take turns) and counts the offer before it is made, so that one killed
 * during the login counts too.  Returns a token for pinguard_end, or -1 with
 * why in err when the file was refused PINGUARD_TRIES times already.  A run
 * directory that cannot be used is logged and the PIN offered uncounted.
 */
int	pinguard_begin(const struct rule *, char *err, size_t errlen);
/* After: the record goes (taken), stays (refused), or is put back (any other failure). */
int	pinguard_end(const struct rule *, int token, enum pinguard_outcome);

#endif
