/* echo_server.c: a plaintext TCP server (serial, fork-per-connection or epoll ET) for the shim's e2e tests. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * usage: echo_server [-6] [-b ADDR] [-m serial|fork|epoll] [-p echo|http|count] [-D] PORT
 *   -m serial  blocking accept(), one connection at a time (default)
 *   -m fork    accept(), fork, the child serves, the parent closes its copy
 *   -m epoll   accept4(SOCK_NONBLOCK) + edge-triggered epoll, all connections at once
 *   -p echo    echo everything back until EOF (default)
 *   -p http    read a request head, answer "HTTP/1.0 200" with a small body, close
 *   -p count   read until EOF, then answer "got N bytes sum=S\n" and close
 *   -D         (fork mode) the child dup2s the socket onto 0 and 1 and serves through them
 * Log lines on stdout: "listening port=P", "accept N peer=ADDR", "done N in=B out=B".
 */

static int logfd = 1;
static int proto;	/* 0 echo, 1 http, 2 count */
static unsigned nconn;

static void logf_(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof buf - 1)
		n = sizeof buf - 1;
	if (write(logfd, buf, n) < 0) {
		/* nothing to do */
	}
	errno = saved;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int http_reply(char *out, size_t outlen, const char *req, unsigned conn)
{
	char line[256];
	size_t l = strcspn(req, "\r\n");

	if (l >= sizeof line)
		l = sizeof line - 1;
	memcpy(line, req, l);
	line[l] = 0;
	char body[512];
	int bl = snprintf(body, sizeof body, "hello from echo_server conn=%u pid=%d\nrequest: %s\n",
	    conn, (int)getpid(), line);
	return snprintf(out, outlen, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %d\r\nConnection: close\r\n\r\n%s", bl, body);
}

static void count_reply(char *out, size_t outlen, unsigned long long in, unsigned long sum, int *n)
{
	*n = snprintf(out, outlen, "got %llu bytes sum=%lu\n", in, sum);
}

/* Serves one connection with blocking I/O on rfd/wfd. */
static void serve(int rfd, int wfd, unsigned conn)
{
	char buf[65536];
	unsigned long long in = 0, out = 0;
	unsigned long sum = 0;
	size_t have = 0;

	for (;;) {
		ssize_t r = read(rfd, buf + have, sizeof buf - have - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			logf_("read error conn=%u: %s\n", conn, strerror(errno));
			break;
		}
		if (r == 0) {
			if (proto == 2) {
				char rep[128];
				int n;
				count_reply(rep, sizeof rep, in, sum, &n);
				if (write_all(wfd, rep, n) == 0)
					out += n;
				else
					logf_("write error conn=%u: %s\n", conn, strerror(errno));
			}
			break;
		}
		in += r;
		if (proto == 0) {
			if (write_all(wfd, buf, r) < 0) {
				logf_("write error conn=%u: %s\n", conn, strerror(errno));
				break;
			}
			out += r;
		} else if (proto == 2) {
			for (ssize_t i = 0; i < r; i++)
				sum += (unsigned char)buf[i];
		} else {
			have += r;
			buf[have] = 0;
			if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n") || have >= sizeof buf - 1) {
				char rep[1024];
				int n = http_reply(rep, sizeof rep, buf, conn);
				if (write_all(wfd, rep, n) == 0)
					out += n;
				break;
			}
		}
	}
	logf_("done %u in=%llu out=%llu\n", conn, in, out);
}

struct conn {
	int fd;
	unsigned id;
	unsigned long long in, out;
	unsigned long sum;
	char buf[65536];
	size_t have, off, len;	/* pending output: buf[off..len) */
	int eof, closing;
};

static void conn_end(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	logf_("done %u in=%llu out=%llu\n", c->id, c->in, c->out);
	free(c);
}

/* Drives one connection as far as it goes without blocking; returns 1 when it ended. */
static int conn_step(int ep, struct conn *c)
{
	for (;;) {
		/* Flush pending output first. */
		while (c->off < c->len) {
			ssize_t w = write(c->fd, c->buf + c->off, c->len - c->off);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return 0;
			if (w < 0) {
				logf_("write error conn=%u: %s\n", c->id, strerror(errno));
				conn_end(ep, c);
				return 1;
			}
			c->off += w;
			c->out += w;
		}
		if (c->closing) {
			conn_end(ep, c);
			return 1;
		}
		c->off = c->len = 0;
		if (proto == 1) {
			ssize_t r = read(c->fd, c->buf + c->have, 4096 - c->have - 1);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return 0;
			if (r <= 0) {
				conn_end(ep, c);
				return 1;
			}
			c->in += r;
			c->have += r;
			c->buf[c->have] = 0;
			if (strstr(c->buf, "\r\n\r\n") || strstr(c->buf, "\n\n") || c->have >= 4095) {
				char rep[1024];
				int n = http_reply(rep, sizeof rep, c->buf, c->id);
				memcpy(c->buf, rep, n);
				c->len = n;
				c->closing = 1;
			}
			continue;
		}
		ssize_t r = read(c->fd, c->buf, sizeof c->buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (r < 0) {
			logf_("read error conn=%u: %s\n", c->id, strerror(errno));
			conn_end(ep, c);
			return 1;
		}
		if (r == 0) {
			if (proto == 2) {
				int n;
				count_reply(c->buf, sizeof c->buf, c->in, c->sum, &n);
				c->len = n;
				c->closing = 1;
				continue;
			}
			conn_end(ep, c);
			return 1;
		}
		c->in += r;
		if (proto == 2) {
			for (ssize_t i = 0; i < r; i++)
				c->sum += (unsigned char)c->buf[i];
		} else {
			c->len = r;
		}
	}
}

static void run_epoll(int lfd)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.ptr = NULL };

	if (ep < 0 || fcntl(lfd, F_SETFL, O_NONBLOCK) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
		perror("epoll setup");
		exit(1);
	}
	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("epoll_wait");
			exit(1);
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c) {
				conn_step(ep, c);
				continue;
			}
			for (;;) {
				struct sockaddr_storage ss;
				socklen_t sl = sizeof ss;
				int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (fd < 0) {
					if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
						logf_("accept error: %s\n", strerror(errno));
					if (errno == EINTR)
						continue;
					break;
				}
				c = calloc(1, sizeof *c);
				c->fd = fd;
				c->id = ++nconn;
				char a[INET6_ADDRSTRLEN] = "?";
				if (ss.ss_family == AF_INET)
					inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof a);
				else
					inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, a, sizeof a);
				logf_("accept %u peer=%s\n", c->id, a);
				struct epoll_event cev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c };
				if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev) < 0) {
					perror("epoll_ctl");
					exit(1);
				}
				conn_step(ep, c);
			}
		}
	}
}

int main(int argc, char **argv)
{
	int v6 = 0, dupmode = 0, opt;
	const char *mode = "serial", *addr = NULL;

	while ((opt = getopt(argc, argv, "6b:m:p:D")) != -1) {
		switch (opt) {
		case '6': v6 = 1; break;
		case 'b': addr = optarg; break;
		case 'm': mode = optarg; break;
		case 'p':
			proto = !strcmp(optarg, "http") ? 1 : !strcmp(optarg, "count") ? 2 : 0;
			break;
		case 'D': dupmode = 1; break;
		default: goto usage;
		}
	}
	if (optind != argc - 1)
		goto usage;
	int port = atoi(argv[optind]);
	if (!addr)
		addr = v6 ? "::1" : "127.0.0.1";
	signal(SIGPIPE, SIG_IGN);

	int lfd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	socklen_t sl;
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			goto usage;
		sl = sizeof *s6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			goto usage;
		sl = sizeof *s4;
	}
	if (bind(lfd, (struct sockaddr *)&ss, sl) < 0 || listen(lfd, SOMAXCONN) < 0) {
		perror("bind/listen");
		return 1;
	}
	logfd = dup(1);
	logf_("listening port=%d\n", port);

	if (!strcmp(mode, "epoll")) {
		run_epoll(lfd);
		return 0;
	}
	if (!strcmp(mode, "fork"))
		signal(SIGCHLD, SIG_IGN);	/* children are reaped by the kernel */
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t pl = sizeof peer;
		int fd = accept(lfd, (struct sockaddr *)&peer, &pl);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			logf_("accept error: %s\n", strerror(errno));
			sleep(1);
			continue;
		}
		unsigned id = ++nconn;
		char a[INET6_ADDRSTRLEN] = "?";
		if (peer.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&peer)->sin_addr, a, sizeof a);
		else
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&peer)->sin6_addr, a, sizeof a);
		logf_("accept %u peer=%s\n", id, a);
		if (!strcmp(mode, "fork")) {
			pid_t pid = fork();
			if (pid < 0) {
				logf_("fork: %s\n", strerror(errno));
				close(fd);
				continue;
			}
			if (pid == 0) {
				prctl(PR_SET_PDEATHSIG, SIGTERM);
				close(lfd);
				if (dupmode) {
					if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0) {
						logf_("dup2: %s\n", strerror(errno));
						_exit(1);
					}
					close(fd);
					serve(0, 1, id);
					close(0);
					close(1);
				} else {
					serve(fd, fd, id);
					close(fd);
				}
				_exit(0);
			}
			close(fd);
			continue;
		}
		serve(fd, fd, id);
		close(fd);
	}
usage:
	fprintf(stderr, "usage: echo_server [-6] [-b ADDR] [-m serial|fork|epoll] [-p echo|http|count] [-D] PORT\n");
	return 64;
}
