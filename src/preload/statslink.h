/* statslink.h: this process's place in the shared counters (common/stats.h). */
#ifndef MTLSSHIM_STATSLINK_H
#define MTLSSHIM_STATSLINK_H

#include "common/config.h"

/* Before main(): maps the config's counters when stats are on (one warning line when it cannot). */
void	 statslink_start(const struct config *);
/* In a fork child: a slot of its own, starting from the parent's open connections. */
void	 statslink_atfork_child(void);

#endif
