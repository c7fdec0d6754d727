/* fdchurn.c: echo traffic on several connections while other threads dup, dup2, close, re-register and fork. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * usage: fdchurn HOST PORT CONNS ROUNDS
 * Each connection has a thread of its own that sends ROUNDS numbered lines
 * and waits in its own epoll set for each echo, comparing it.  Meanwhile a
 * churn thread dups each connection's fd, registers the copy in a shared
 * epoll set, moves it with dup2 and closes it, and a fork thread forks
 * children that exit at once (the sessions are inherited and dropped).
 * The fd table, the epoll sets and the sweep all change under the traffic.
 * Prints "ok conns=N rounds=R dups=D forks=F"; exit 0 only if every echo
 * came back intact and the connections still work afterwards.
 */

static int nconn, rounds;
static int *fds;
static atomic_int running = 1, failed;
static atomic_long ndups, nforks;

static void
fail(const char *what, int i)
{
	fprintf(stderr, "conn %d: %s: %s\n", i, what, strerror(errno));
	atomic_store(&failed, 1);
}

static int
read_line(int fd, int ep, char *buf, size_t cap)
{
	struct epoll_event ev;
	size_t got = 0;
	ssize_t n;

	while (got < cap - 1) {
		if (epoll_wait(ep, &ev, 1, 10000) != 1)
			return -1;
		n = read(fd, buf + got, 1);	/* one byte at a time: bytes stay buffered in the session */
		if (n <= 0) {
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			return -1;
		}
		if (buf[got++] == '\n') {
			buf[got] = '\0';
			return 0;
		}
	}
	return -1;
}

static void *
traffic(void *arg)
{
	int i = (int)(long)arg, fd = fds[i], ep, r;
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (unsigned)i };
	char line[128], back[128];

	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		fail("epoll", i);
		return NULL;
	}
	for (r = 0; r < rounds && !atomic_load(&failed); r++) {
		int n = snprintf(line, sizeof(line), "conn %d round %d %0*d\n", i, r, r % 40, 0);
		if (write(fd, line, (size_t)n) != n) {
			fail("write", i);
			break;
		}
		if (read_line(fd, ep, back, sizeof(back)) != 0) {
			fail("read", i);
			break;
		}
		if (strcmp(line, back) != 0) {
			fprintf(stderr, "conn %d: sent %s got %s", i, line, back);
			atomic_store(&failed, 1);
			break;
		}
	}
	close(ep);
	return NULL;
}

static void *
churn(void *arg)
{
	int ep = epoll_create1(EPOLL_CLOEXEC), i = 0;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };

	while (atomic_load(&running)) {
		int d = dup(fds[i % nconn]), e;

		if (d < 0)
			continue;
		epoll_ctl(ep, EPOLL_CTL_ADD, d, &ev);
		if ((e = fcntl(d, F_DUPFD_CLOEXEC, 100)) >= 0) {
			dup2(e, d);		/* d names the same session again */
			close(e);
		}
		epoll_ctl(ep, EPOLL_CTL_DEL, d, NULL);
		close(d);
		atomic_fetch_add(&ndups, 1);
		i++;
	}
	close(ep);
	return NULL;
}

static void *
forker(void *arg)
{
	while (atomic_load(&running)) {
		pid_t p = fork();

		if (p == 0)
			_exit(0);
		if (p > 0) {
			waitpid(p, NULL, 0);
			atomic_fetch_add(&nforks, 1);
		}
		usleep(2000);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	pthread_t *tt, ct, ft;
	int i;

	if (argc != 5)
		return 2;
	nconn = atoi(argv[3]);
	rounds = atoi(argv[4]);
	sa.sin_port = htons((unsigned short)atoi(argv[2]));
	inet_pton(AF_INET, argv[1], &sa.sin_addr);
	signal(SIGPIPE, SIG_IGN);
	fds = calloc((size_t)nconn, sizeof(*fds));
	tt = calloc((size_t)nconn, sizeof(*tt));
	for (i = 0; i < nconn; i++) {
		if ((fds[i] = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
		    connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			fail("connect", i);
			return 1;
		}
	}
	pthread_create(&ct, NULL, churn, NULL);
	pthread_create(&ft, NULL, forker, NULL);
	for (i = 0; i < nconn; i++)
		pthread_create(&tt[i], NULL, traffic, (void *)(long)i);
	for (i = 0; i < nconn; i++)
		pthread_join(tt[i], NULL);
	atomic_store(&running, 0);
	pthread_join(ct, NULL);
	pthread_join(ft, NULL);
	/* Afterwards each connection still carries a round trip. */
	rounds = 1;
	for (i = 0; i < nconn && !atomic_load(&failed); i++)
		traffic((void *)(long)i);
	if (atomic_load(&failed))
		return 1;
	printf("ok conns=%d rounds=%d dups=%ld forks=%ld\n", nconn, atoi(argv[4]),
	    atomic_load(&ndups), atomic_load(&nforks));
	return 0;
}
