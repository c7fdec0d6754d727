/* metrics.h: the `status` and `metrics` subcommands. */
#ifndef MTLSSHIM_METRICS_H
#define MTLSSHIM_METRICS_H

#include "common/config.h"

/* Prints (or, with textfile, writes DIR/mtlsshim-NAME.prom) the counters of c; an exit code. */
int	 metrics_main(const struct config *c, const char *textfile);
/* Prints the counters of c per rule and per process, as text or JSON; an exit code. */
int	 status_main(const struct config *c, int json);

#endif
