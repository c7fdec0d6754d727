/* readiness.h: poll/select and epoll as the program must see them over TLS sessions. */
#ifndef MTLSSHIM_READINESS_H
#define MTLSSHIM_READINESS_H

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>

struct session;

/* poll/ppoll: timeout NULL waits forever. */
int	readiness_poll(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
/* select/pselect; tv is updated with the time left, as Linux does. */
int	readiness_select(int nfds, fd_set *, fd_set *, fd_set *, struct timespec *tv,
	    const sigset_t *);

int	epollset_ctl(int epfd, int op, int fd, struct epoll_event *);
/* precise: the caller used epoll_pwait2 (nanosecond timeout). */
int	epollset_wait(int epfd, struct epoll_event *, int maxevents,
	    const struct timespec *, const sigset_t *, int precise);
struct fdobj;
/* Readiness the kernel cannot show (bytes left after a read, connections
 * queued after an accept): epoll waiters must still hear of it. */
void	epollset_note_ready(struct fdobj *);
void	epollset_note_buffered(struct session *);
/* What o needs from the kernel changed (records queued): registrations follow. */
void	epollset_rearm(struct fdobj *);
void	epollset_atfork_prepare(void);
void	epollset_atfork_parent(void);
void	epollset_atfork_child(void);
/* fd just became a session or listener: its existing epoll registrations become ours. */
void	epollset_adopt(int fd, struct fdobj *);
/* fd is being closed: forget its registrations (and the set, if fd is one). */
void	epollset_forget_fd(int fd);

/*
 * Another file is about to take fd's number (a relay's socket pair): the
 * program's registrations of fd, saved (at most max of them; returns how
 * many there are) and put back on the new file once it is there.
 */
struct epollset_saved {
	int			epfd;
	struct epoll_event	ev;
};
int	epollset_save(int fd, struct epollset_saved *, int max);
void	epollset_restore(int fd, const struct epollset_saved *, int n);

#endif
