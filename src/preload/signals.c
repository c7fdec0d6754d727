/* signals.c: what the program's signal handlers ask of our own waits. */
#include <signal.h>

#include "preload/signals.h"

/*
 * A signal that interrupts our wait would have been restarted inside the
 * real call if its handler has SA_RESTART.  We cannot tell which signal it
 * was, so we restart only when every caught signal asks for it.
 */
int
signals_restart(void)
{
	struct sigaction sa;
	int sig;

	for (sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (sigaction(sig, NULL, &sa) == -1)
			continue;
		if (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN)
			continue;
		if (!(sa.sa_flags & SA_RESTART))
			return 0;
	}
	return 1;
}
