/* fdpass.c: sockets handed to another process with SCM_RIGHTS, as dovecot and haproxy do. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * usage: fdpass conn PORT N      listen on 127.0.0.1:PORT, print "ready"; for each of N
 *                                connections write "parent PID: hello" on it, then pass it
 *                                to a worker process (fork + exec of this program) and close
 *                                it; the worker writes "worker PID: ready" and answers each
 *                                line with "echo: LINE" until EOF
 *        fdpass listener PORT    start the worker first, then listen on 127.0.0.1:PORT and
 *                                pass the listening socket to it; the worker prints "ready",
 *                                accepts one connection and answers one line with "echo: LINE"
 *   The worker is this program run as "fdpass worker conn|listener FD", FD the unix socket.
 *   A failed sendmsg is reported as "sendmsg: ERROR" on stderr and the connection closed.
 */
static int
send_fd(int unix_fd, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))], b = 'x';
	struct iovec iov = { &b, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
	    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	memset(cbuf, 0, sizeof(cbuf));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(unix_fd, &m, 0) == 1 ? 0 : -1;
}

static int
recv_fd(int unix_fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))], b;
	struct iovec iov = { &b, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
	    .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	int fd;

	if (recvmsg(unix_fd, &m, 0) != 1 || (c = CMSG_FIRSTHDR(&m)) == NULL ||
	    c->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

static int
write_str(int fd, const char *s)
{
	size_t len = strlen(s);

	return write(fd, s, len) == (ssize_t)len ? 0 : -1;
}

/* Answers lines on c with "echo: LINE" until EOF (or after one line if once). */
static void
echo_lines(int c, int once)
{
	char buf[1024], out[1100];
	size_t have = 0;
	ssize_t n;
	char *nl;

	while ((n = read(c, buf + have, sizeof(buf) - 1 - have)) > 0) {
		have += (size_t)n;
		buf[have] = '\0';
		while ((nl = strchr(buf, '\n')) != NULL) {
			*nl = '\0';
			snprintf(out, sizeof(out), "echo: %s\n", buf);
			write_str(c, out);
			have -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, have + 1);
			if (once)
				return;
		}
	}
}

static int
worker(const char *what, int u)
{
	char msg[64];
	int c, l;

	if (strcmp(what, "listener") == 0) {
		if ((l = recv_fd(u)) < 0) {
			perror("recv_fd");
			return 1;
		}
		printf("ready\n");
		fflush(stdout);
		if ((c = accept(l, NULL, NULL)) < 0) {
			perror("accept");
			return 1;
		}
		echo_lines(c, 1);
		close(c);
		return 0;
	}
	while ((c = recv_fd(u)) >= 0) {
		snprintf(msg, sizeof(msg), "worker %d: ready\n", (int)getpid());
		write_str(c, msg);
		echo_lines(c, 0);
		close(c);
	}
	return 0;
}

static pid_t
start_worker(const char *self, const char *what, int *u)
{
	char arg[16];
	int sp[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1)
		return -1;
	if ((pid = fork()) == 0) {
		close(sp[0]);
		snprintf(arg, sizeof(arg), "%d", sp[1]);
		execl(self, self, "worker", what, arg, (char *)NULL);
		_exit(127);
	}
	close(sp[1]);
	*u = sp[0];
	return pid;
}

static int
listen_on(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int l, one = 1;

	a.sin_port = htons((unsigned short)port);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 8))
		return -1;
	return l;
}

int
main(int argc, char **argv)
{
	char msg[64];
	int l, c, u, i, n, st;
	pid_t pid;

	if (argc == 4 && strcmp(argv[1], "worker") == 0)
		return worker(argv[2], atoi(argv[3]));
	if (argc < 3) {
		fprintf(stderr, "usage: fdpass conn PORT N | fdpass listener PORT\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((pid = start_worker("/proc/self/exe", argv[1], &u)) < 0) {
		perror("worker");
		return 1;
	}
	if ((l = listen_on(atoi(argv[2]))) < 0) {
		perror("listen");
		return 1;
	}
	if (strcmp(argv[1], "listener") == 0) {
		if (send_fd(u, l) == -1) {
			fprintf(stderr, "sendmsg: %s\n", strerror(errno));
			return 1;
		}
		close(l);
	} else {
		printf("ready\n");
		n = argc > 3 ? atoi(argv[3]) : 1;
		for (i = 0; i < n; i++) {
			if ((c = accept(l, NULL, NULL)) < 0) {
				perror("accept");
				return 1;
			}
			snprintf(msg, sizeof(msg), "parent %d: hello\n", (int)getpid());
			write_str(c, msg);
			if (send_fd(u, c) == -1)
				fprintf(stderr, "sendmsg: %s\n", strerror(errno));
			close(c);
		}
	}
	close(u);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	printf("done\n");
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
