/* eintr.c: a blocking connect() interrupted by a signal without SA_RESTART, then the program carries on. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/*
 * usage: eintr [-m poll|again] [-e] HOST PORT MSG
 *   Installs a SIGALRM handler without SA_RESTART, arms alarm(1) and calls a blocking
 *   connect(); prints "connect = R (ERR)". If it was interrupted:
 *     -m poll   (default) waits (<= 15 s) for POLLOUT and reads SO_ERROR, as POSIX says
 *               ("poll = N revents=0xR SO_ERROR=E (TEXT)");
 *     -m again  calls connect() again until it stops saying EALREADY/EINPROGRESS/EINTR
 *               (<= 75 tries 200 ms apart), printing "connect again = R (ERR)".
 *   Then writes MSG however the connect went (as a careless program would) and prints
 *   "write = N (ERR)"; -e: reads the echo of MSG (10 s bound), "echo ok" / "echo mismatch".
 * Exit: 0 connected and written (and echoed), 2 connect failed, 3 SO_ERROR set, 4 write
 *       failed, 5 echo missing or wrong.
 */
static void on_alarm(int sig) { (void)sig; }

int main(int argc, char **argv)
{
	int again = 0, echo = 0, opt, rc = 0;

	while ((opt = getopt(argc, argv, "m:e")) != -1) {
		switch (opt) {
		case 'm': again = strcmp(optarg, "again") == 0; break;
		case 'e': echo = 1; break;
		default: return 1;
		}
	}
	if (optind + 3 != argc) {
		fprintf(stderr, "usage: eintr [-m poll|again] [-e] HOST PORT MSG\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;	/* no SA_RESTART */
	sigaction(SIGALRM, &sa, NULL);
	const char *msg = argv[optind + 2];
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[optind + 1])) };
	if (inet_pton(AF_INET, argv[optind], &a.sin_addr) != 1)
		return 1;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	alarm(1);
	int r = connect(s, (struct sockaddr *)&a, sizeof a);
	int e = errno;
	alarm(0);
	printf("connect = %d (%s)\n", r, r ? strerror(e) : "ok");
	if (r == -1 && e == EINTR && !again) {
		struct pollfd p = { .fd = s, .events = POLLOUT };
		int pr = poll(&p, 1, 15000), err = 0;
		socklen_t l = sizeof err;
		getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &l);
		printf("poll = %d revents=0x%x SO_ERROR=%d (%s)\n", pr, p.revents, err, err ? strerror(err) : "none");
		if (pr != 1 || err)
			rc = 3;
	} else if (r == -1 && e == EINTR) {
		for (int i = 0; i < 75; i++) {
			r = connect(s, (struct sockaddr *)&a, sizeof a);
			e = errno;
			printf("connect again = %d (%s)\n", r, r ? strerror(e) : "ok");
			if (r == 0 || (e != EALREADY && e != EINPROGRESS && e != EINTR))
				break;
			usleep(200000);
		}
		if (r == -1 && e != EISCONN)
			rc = 2;
	} else if (r == -1)
		rc = 2;
	ssize_t w = write(s, msg, strlen(msg));
	printf("write = %zd (%s)\n", w, w < 0 ? strerror(errno) : "ok");
	if (rc == 0 && w != (ssize_t)strlen(msg))
		rc = 4;
	if (rc == 0 && echo) {
		struct timeval tv = { 10, 0 };
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		char buf[4096];
		size_t got = 0, len = strlen(msg);
		while (got < len && got < sizeof buf) {
			ssize_t n = read(s, buf + got, sizeof buf - got);
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		if (got == len && memcmp(buf, msg, len) == 0)
			printf("echo ok\n");
		else {
			printf("echo mismatch: %zu bytes: %.*s\n", got, (int)got, buf);
			rc = 5;
		}
	}
	close(s);
	return rc;
}
