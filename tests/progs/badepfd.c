/* badepfd.c: a program bug, a connected socket passed as the epoll fd; the calls must fail as the kernel's do. */
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
 * usage: badepfd HOST PORT
 *   Connects (blocking) to an echo peer, then calls with the socket as epfd:
 *     epoll_ctl(sock, ADD, sock), epoll_ctl(sock, ADD, pipe end), epoll_ctl(sock, MOD, sock),
 *     epoll_ctl(sock, DEL, sock), epoll_wait(sock)
 *   each must return -1 with EINVAL or EBADF; then "ping" must still echo on the socket.
 * Prints one "NAME = R (ERR)" line per call, then "echo ok" or "echo: ...".
 * Exit: 0 all as expected, 1 a call did not fail with EINVAL/EBADF, 2 connect failed,
 *       3 the socket no longer echoes.
 */
static int rc;

static void expect_fail(const char *name, int r)
{
	int e = errno;

	printf("%s = %d (%s)\n", name, r, r ? strerror(e) : "ok");
	if (!(r == -1 && (e == EINVAL || e == EBADF)))
		rc = 1;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: badepfd HOST PORT\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
	if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1)
		return 1;
	int s = socket(AF_INET, SOCK_STREAM, 0), pp[2];
	if (connect(s, (struct sockaddr *)&a, sizeof a)) {
		printf("connect: %s\n", strerror(errno));
		return 2;
	}
	if (pipe(pp))
		return 1;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 1 }, out[4];
	expect_fail("epoll_ctl(sock, ADD, sock)", epoll_ctl(s, EPOLL_CTL_ADD, s, &ev));
	expect_fail("epoll_ctl(sock, ADD, pipe)", epoll_ctl(s, EPOLL_CTL_ADD, pp[0], &ev));
	expect_fail("epoll_ctl(sock, MOD, sock)", epoll_ctl(s, EPOLL_CTL_MOD, s, &ev));
	expect_fail("epoll_ctl(sock, DEL, sock)", epoll_ctl(s, EPOLL_CTL_DEL, s, &ev));
	expect_fail("epoll_wait(sock)", epoll_wait(s, out, 4, 0));

	struct timeval tv = { 10, 0 };
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char buf[16];
	size_t got = 0;
	if (write(s, "ping", 4) != 4) {
		printf("echo: write: %s\n", strerror(errno));
		return 3;
	}
	while (got < 4) {
		ssize_t n = read(s, buf + got, sizeof buf - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got != 4 || memcmp(buf, "ping", 4) != 0) {
		printf("echo: got %zu bytes\n", got);
		return 3;
	}
	printf("echo ok\n");
	return rc;
}
