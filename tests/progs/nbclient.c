/* nbclient.c: a non-blocking client (poll, select, epoll LT or ET) that streams data to an echo peer and verifies it. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * usage: nbclient [-m poll|select|epoll|epollet] [-s] [-E] HOST PORT TOTAL CHUNK
 * -E: (epoll modes) add the socket to the epoll set before connect() rather than after.
 * Non-blocking connect (EINPROGRESS -> writable -> SO_ERROR), then writes TOTAL bytes in
 * CHUNK-sized writes while reading the echo, all from one event loop. With -s it then
 * half-closes and expects EOF from the peer. Every wait is bounded (10 s without progress).
 * Exit: 0 "ok sent=N rcvd=N", 2 connect failed ("connect: ERR"), 3 stalled,
 *       4 data mismatch, 5 I/O error.
 */

enum { M_POLL, M_SELECT, M_EPOLL, M_EPOLLET };
static int mode = M_POLL;
static int ep = -1;

static unsigned char stream_byte(uint64_t i)
{
	uint64_t x = (i + 11) * 0x9E3779B97F4A7C15ull;
	x ^= x >> 31;
	return (unsigned char)(x ^ (x >> 13));
}

/* Waits for readiness; returns a mask of 1 (readable) | 2 (writable), 0 on timeout. */
static int wait_fd(int fd, int want_r, int want_w, int ms)
{
	int got = 0;

	switch (mode) {
	case M_POLL: {
		struct pollfd p = { .fd = fd, .events = (want_r ? POLLIN : 0) | (want_w ? POLLOUT : 0) };
		int n = poll(&p, 1, ms);
		if (n < 0 && errno != EINTR) {
			perror("poll");
			exit(5);
		}
		if (n > 0) {
			if (p.revents & (POLLIN | POLLHUP | POLLERR))
				got |= 1;
			if (p.revents & (POLLOUT | POLLERR))
				got |= 2;
		}
		break;
	}
	case M_SELECT: {
		fd_set r, w;
		FD_ZERO(&r);
		FD_ZERO(&w);
		if (want_r)
			FD_SET(fd, &r);
		if (want_w)
			FD_SET(fd, &w);
		struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
		int n = select(fd + 1, &r, &w, NULL, &tv);
		if (n < 0 && errno != EINTR) {
			perror("select");
			exit(5);
		}
		if (n > 0) {
			if (FD_ISSET(fd, &r))
				got |= 1;
			if (FD_ISSET(fd, &w))
				got |= 2;
		}
		break;
	}
	case M_EPOLL: {
		struct epoll_event ev = { .events = (want_r ? EPOLLIN : 0) | (want_w ? EPOLLOUT : 0), .data.fd = fd };
		if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0) {
			perror("epoll_ctl");
			exit(5);
		}
		struct epoll_event out;
		int n = epoll_wait(ep, &out, 1, ms);
		if (n < 0 && errno != EINTR) {
			perror("epoll_wait");
			exit(5);
		}
		if (n > 0) {
			if (out.events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				got |= 1;
			if (out.events & (EPOLLOUT | EPOLLERR))
				got |= 2;
		}
		break;
	}
	case M_EPOLLET: {
		/* Registered once for IN|OUT|ET; the caller treats any edge as "try both". */
		struct epoll_event out;
		int n = epoll_wait(ep, &out, 1, ms);
		if (n < 0 && errno != EINTR) {
			perror("epoll_wait");
			exit(5);
		}
		if (n > 0) {
			if (out.events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
				got |= 1;
			if (out.events & (EPOLLOUT | EPOLLERR))
				got |= 2;
			if (!got)
				got = 1;
		}
		break;
	}
	}
	return got;
}

int main(int argc, char **argv)
{
	int shut = 0, early = 0, opt;

	while ((opt = getopt(argc, argv, "m:sE")) != -1) {
		switch (opt) {
		case 'm':
			mode = !strcmp(optarg, "poll") ? M_POLL : !strcmp(optarg, "select") ? M_SELECT :
			    !strcmp(optarg, "epoll") ? M_EPOLL : !strcmp(optarg, "epollet") ? M_EPOLLET : -1;
			if (mode < 0)
				goto usage;
			break;
		case 's': shut = 1; break;
		case 'E': early = 1; break;
		default: goto usage;
		}
	}
	if (argc - optind != 4)
		goto usage;
	const char *host = argv[optind];
	int port = atoi(argv[optind + 1]);
	size_t total = strtoull(argv[optind + 2], NULL, 10);
	size_t chunk = strtoull(argv[optind + 3], NULL, 10);
	if (chunk == 0 || chunk > (1 << 20))
		goto usage;

	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		sl = sizeof *s4;
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		sl = sizeof *s6;
	} else {
		goto usage;
	}
	signal(SIGPIPE, SIG_IGN);

	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		perror("socket");
		return 5;
	}
	struct epoll_event ev = { .events = EPOLLOUT | (mode == M_EPOLLET ? EPOLLIN | EPOLLET : 0), .data.fd = fd };
	if (mode == M_EPOLL || mode == M_EPOLLET) {
		ep = epoll_create1(0);
		if (ep < 0 || (early && epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)) {
			perror("epoll");
			return 5;
		}
	}
	int inprogress = 0;
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		if (errno != EINPROGRESS) {
			fprintf(stderr, "connect: %s\n", strerror(errno));
			return 2;
		}
		inprogress = 1;
	}
	if (ep >= 0 && !early && epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		perror("epoll_ctl");
		return 5;
	}
	fprintf(stderr, "connect returned %s\n", inprogress ? "EINPROGRESS" : "0");
	if (inprogress) {
		int got = 0;
		for (int i = 0; i < 100 && !(got & 2); i++)
			got = wait_fd(fd, 0, 1, 100);
		if (!(got & 2)) {
			fprintf(stderr, "connect: never became writable\n");
			return 3;
		}
		int err = 0;
		socklen_t el = sizeof err;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) {
			perror("getsockopt");
			return 5;
		}
		if (err) {
			fprintf(stderr, "connect: %s\n", strerror(err));
			return 2;
		}
	}

	unsigned char *wbuf = malloc(chunk), *rbuf = malloc(65536);
	size_t sent = 0, rcvd = 0;
	int shut_done = 0, eof = 0, idle = 0;
	unsigned long writes = 0, reads = 0, waits = 0;

	while (rcvd < total || (shut && !eof)) {
		int progress = 0;

		/* Write as much as the socket takes. */
		while (sent < total) {
			size_t n = total - sent < chunk ? total - sent : chunk;
			for (size_t i = 0; i < n; i++)
				wbuf[i] = stream_byte(sent + i);
			ssize_t w = write(fd, wbuf, n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			if (w <= 0) {
				fprintf(stderr, "write at %zu: %s\n", sent, w < 0 ? strerror(errno) : "0");
				return 5;
			}
			sent += w;
			writes++;
			progress = 1;
			if (mode != M_EPOLLET)
				break;	/* level-triggered modes go back to the loop each time */
		}
		if (sent == total && shut && !shut_done) {
			if (shutdown(fd, SHUT_WR) < 0) {
				perror("shutdown");
				return 5;
			}
			shut_done = 1;
		}
		/* Read everything available. */
		for (;;) {
			ssize_t r = read(fd, rbuf, 65536);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			if (r < 0) {
				fprintf(stderr, "read at %zu: %s\n", rcvd, strerror(errno));
				return 5;
			}
			if (r == 0) {
				eof = 1;
				break;
			}
			for (ssize_t i = 0; i < r; i++) {
				if (rcvd + i >= total || rbuf[i] != stream_byte(rcvd + i)) {
					fprintf(stderr, "mismatch at %zu\n", rcvd + i);
					return 4;
				}
			}
			rcvd += r;
			reads++;
			progress = 1;
			if (mode != M_EPOLLET)
				break;
		}
		if (eof && rcvd < total) {
			fprintf(stderr, "early EOF at rcvd=%zu sent=%zu\n", rcvd, sent);
			return 5;
		}
		if (eof && shut)
			break;
		if (progress && mode != M_EPOLLET) {
			idle = 0;
			continue;
		}
		/* Nothing more to do without waiting. */
		int got = wait_fd(fd, 1, sent < total, 1000);
		waits++;
		if (got == 0) {
			if (++idle >= 10) {
				fprintf(stderr, "stalled: sent=%zu rcvd=%zu total=%zu\n", sent, rcvd, total);
				return 3;
			}
		} else {
			idle = 0;
		}
	}
	printf("ok sent=%zu rcvd=%zu%s\n", sent, rcvd, shut ? " eof" : "");
	fprintf(stderr, "writes=%lu reads=%lu waits=%lu\n", writes, reads, waits);
	close(fd);
	return 0;
usage:
	fprintf(stderr, "usage: nbclient [-m poll|select|epoll|epollet] [-s] [-E] HOST PORT TOTAL CHUNK\n");
	return 64;
}
