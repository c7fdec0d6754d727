/* epcookie.c: one thread dup()s a socket, registers the dup in epoll and closes it, over and over, while another waits. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * usage: epcookie HOST PORT ITERATIONS
 *   Connects (blocking). Thread 1, ITERATIONS times: d = dup(sock); epoll_ctl(ADD, d,
 *   EPOLLIN|EPOLLOUT, data.u64 = 7777); close(d). Thread 2 meanwhile epoll_waits on the
 *   set (10 ms timeouts) and checks every event's data. Every event must carry 7777: that
 *   is the only data the program ever registered.
 * Prints "closer: N iterations", the first foreign event if any ("foreign event data=0x..."),
 *   then "events: program=G foreign=B".
 * Exit: 0 no foreign data, 1 foreign data seen, 2 connect failed.
 */
#define COOKIE 7777

static int sock, ep;
static long iterations;
static atomic_int stop;

static void *closer(void *arg)
{
	long i;

	(void)arg;
	for (i = 0; i < iterations; i++) {
		int d = dup(sock);
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.u64 = COOKIE };
		epoll_ctl(ep, EPOLL_CTL_ADD, d, &ev);
		close(d);
	}
	printf("closer: %ld iterations\n", i);
	atomic_store(&stop, 1);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: epcookie HOST PORT ITERATIONS\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	iterations = atol(argv[3]);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
	if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1)
		return 1;
	sock = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(sock, (struct sockaddr *)&a, sizeof a)) {
		printf("connect: %s\n", strerror(errno));
		return 2;
	}
	ep = epoll_create1(0);
	pthread_t t;
	pthread_create(&t, NULL, closer, NULL);
	long good = 0, bad = 0;
	for (;;) {
		int done = atomic_load(&stop);
		struct epoll_event ev[8];
		int n = epoll_wait(ep, ev, 8, 10);
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u64 == COOKIE) {
				good++;
				continue;
			}
			if (bad++ == 0)
				printf("foreign event data=0x%llx events=0x%x\n",
				    (unsigned long long)ev[i].data.u64, ev[i].events);
		}
		if (done)
			break;
	}
	pthread_join(t, NULL);
	printf("events: program=%ld foreign=%ld\n", good, bad);
	return bad ? 1 : 0;
}
