/* signals.h: what the program's signal handlers ask of our own waits. */
#ifndef MTLSSHIM_SIGNALS_H
#define MTLSSHIM_SIGNALS_H

/* 1 if every caught signal has SA_RESTART: an interrupted wait of ours goes on. */
int	signals_restart(void);

#endif
