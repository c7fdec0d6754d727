/* epfork.c: an epoll server that sets up its listener and epoll set, then forks into the background. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * usage: epfork PORT N [et]
 *   Listens on 127.0.0.1:PORT, creates an epoll set holding the listener, forks; the parent
 *   prints "parent done" and exits, the child prints "child ready" and serves N connections
 *   through that same epoll set (edge-triggered with "et"): each line it reads comes back
 *   prefixed with "echo:". The child prints "child served N" and exits once all N closed.
 */
int
main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct epoll_event ev, out[16];
	int l, ep, one = 1, n, i, served = 0, open_conns = 0, et;
	char buf[4096], reply[4200];

	if (argc < 3)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	n = atoi(argv[2]);
	et = argc > 3 && strcmp(argv[3], "et") == 0 ? EPOLLET : 0;
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 16))
		return 2;
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.fd = l;
	epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
	if (fork() != 0) {
		printf("parent done\n");
		return 0;
	}
	printf("child ready\n");
	while (served < n || open_conns > 0) {
		int k = epoll_wait(ep, out, 16, 20000);
		if (k <= 0)
			return 1;
		for (i = 0; i < k; i++) {
			int fd = out[i].data.fd;
			if (fd == l) {
				int c;
				while ((c = accept4(l, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					ev.events = EPOLLIN | et;
					ev.data.fd = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
					served++;
					open_conns++;
				}
				continue;
			}
			for (;;) {
				ssize_t r = read(fd, buf, sizeof buf);
				if (r > 0) {
					int m = snprintf(reply, sizeof reply, "echo:%.*s", (int)r, buf);
					if (write(fd, reply, (size_t)m) != m)
						return 1;
					if (!et)
						break;
					continue;
				}
				if (r == 0) {
					epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
					close(fd);
					open_conns--;
				}
				break;
			}
		}
	}
	printf("child served %d\n", served);
	return 0;
}
