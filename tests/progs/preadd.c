/* preadd.c: a server that puts its listening socket in an epoll set before calling listen(). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/*
 * usage: preadd [-a] PORT
 *   Non-blocking socket, bind 127.0.0.1:PORT, epoll_ctl(ADD, EPOLLIN) and then listen()
 *   (-a: listen() first, then ADD). Waits on epoll (up to 10 waits of 2 s); only after a
 *   wait reported the listener does it accept(). The accepted peer's request is answered
 *   "pong:" + request.
 * Prints "listening port=P", "wait n=N" per wait, "accept = FD (ERR)" per attempt and
 *   "served: TEXT".
 * Exit: 0 a wake was followed by an accepted connection, 3 epoll never reported the
 *       listener (or accept never succeeded after a wake), 1 setup failed.
 */
int main(int argc, char **argv)
{
	int after = argc > 2 && strcmp(argv[1], "-a") == 0;
	if (argc != 2 + after) {
		fprintf(stderr, "usage: preadd [-a] PORT\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	int one = 1, ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), ep = epoll_create1(0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1 + after])) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(ls, (struct sockaddr *)&a, sizeof a)) {
		perror("bind");
		return 1;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 1 }, out[4];
	if (!after && epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev)) {
		perror("epoll_ctl");
		return 1;
	}
	if (listen(ls, 16)) {
		perror("listen");
		return 1;
	}
	if (after && epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev)) {
		perror("epoll_ctl");
		return 1;
	}
	printf("listening port=%s\n", argv[1 + after]);
	for (int i = 0; i < 10; i++) {
		int n = epoll_wait(ep, out, 4, 2000);
		printf("wait n=%d\n", n);
		if (n <= 0)
			continue;
		int f = accept(ls, NULL, NULL);
		printf("accept = %d (%s)\n", f, f < 0 ? strerror(errno) : "ok");
		if (f < 0)
			continue;
		struct timeval tv = { 10, 0 };
		setsockopt(f, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		char buf[512] = "pong:";
		ssize_t k = read(f, buf + 5, sizeof buf - 6);
		if (k > 0) {
			buf[5 + k] = 0;
			printf("served: %s\n", buf + 5);
			if (write(f, buf, (size_t)k + 5) < 0)
				perror("write");
		}
		close(f);
		return 0;
	}
	printf("no connection after a wake\n");
	return 3;
}
