/* oneshot.c: a non-blocking client driven by EPOLLONESHOT registrations re-armed with EPOLL_CTL_MOD. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * usage: oneshot HOST PORT REQUEST
 *   Non-blocking connect; ADD EPOLLOUT|EPOLLONESHOT and wait (<= 10 s) for it ("wait1 ...");
 *   writes REQUEST; MOD EPOLLIN|EPOLLONESHOT and waits (<= 10 s) for readability
 *   ("wait2 n=N events=0xE"), then reads what arrived ("reply: TEXT").
 *   A peer that answers a while after the handshake (so TLS 1.3 session tickets come
 *   first, on their own) must still wake the one-shot EPOLLIN.
 * Exit: 0 EPOLLIN came and the reply was read, 2 connect failed, 3 no EPOLLOUT, 4 no
 *       EPOLLIN within 10 s, 5 the read failed after EPOLLIN.
 */
int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: oneshot HOST PORT REQUEST\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
	if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1)
		return 1;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), ep = epoll_create1(0);
	int r = connect(s, (struct sockaddr *)&a, sizeof a);
	printf("connect = %d (%s)\n", r, r ? strerror(errno) : "ok");
	if (r && errno != EINPROGRESS)
		return 2;
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLONESHOT, .data.u64 = 42 }, out[4];
	epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
	int n = epoll_wait(ep, out, 4, 10000);
	printf("wait1 n=%d events=0x%x\n", n, n > 0 ? out[0].events : 0);
	if (n != 1 || !(out[0].events & EPOLLOUT))
		return 3;
	int err = 0;
	socklen_t l = sizeof err;
	getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &l);
	if (err) {
		printf("SO_ERROR = %s\n", strerror(err));
		return 2;
	}
	const char *req = argv[3];
	ssize_t w = write(s, req, strlen(req));
	printf("write = %zd\n", w);
	ev.events = EPOLLIN | EPOLLONESHOT;
	epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev);
	n = epoll_wait(ep, out, 4, 10000);
	printf("wait2 n=%d events=0x%x data=%llu\n", n, n > 0 ? out[0].events : 0,
	    n > 0 ? (unsigned long long)out[0].data.u64 : 0ull);
	if (n != 1 || !(out[0].events & EPOLLIN))
		return 4;
	char buf[256];
	ssize_t k = read(s, buf, sizeof buf - 1);
	if (k <= 0) {
		printf("read = %zd (%s)\n", k, k < 0 ? strerror(errno) : "EOF");
		return 5;
	}
	buf[k] = 0;
	printf("reply: %s\n", buf);
	return 0;
}
