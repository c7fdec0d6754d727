/* closerace.c: close() a socket while another thread is blocked in recv() on it, then reuse the fd number. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/*
 * usage: closerace HOST PORT PLAINPORT GREETING
 *   Connects to PORT (silent peer), starts a reader thread blocked in recv() on it, closes
 *   the socket from the main thread, connects to PLAINPORT (a peer that sends GREETING)
 *   and makes sure the new socket has the closed one's fd number (dup2 if the kernel picked
 *   another). The blocked reader must come back with an error, never with the new
 *   connection's bytes; those stay for the new socket's owner.
 * Prints "fd reused: OLD -> NEW", "reader: recv = N (ERR)" (with "reader got: TEXT" if bytes
 *   came), "reader still blocked" if it did not return within 10 s, and
 *   "new connection: got TEXT".
 * Exit: 0 reader got an error and the new connection got GREETING intact, 1 the reader got
 *       bytes or EOF, 2 reader still blocked, 3 the new connection lost bytes, 4 setup.
 */
static int s1;
static ssize_t rres;
static int rerr;
static char rbuf[256];

static _Atomic pid_t reader_tid;

static void *reader(void *arg)
{
	(void)arg;
	reader_tid = (pid_t)syscall(SYS_gettid);
	rres = recv(s1, rbuf, sizeof rbuf - 1, 0);
	rerr = errno;
	return NULL;
}

static int conn(const char *host, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, host, &a.sin_addr);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(s, (struct sockaddr *)&a, sizeof a)) {
		printf("connect %d: %s\n", port, strerror(errno));
		return -1;
	}
	return s;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: closerace HOST PORT PLAINPORT GREETING\n");
		return 4;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *greet = argv[4];
	if ((s1 = conn(argv[1], atoi(argv[2]))) < 0)
		return 4;
	pthread_t t;
	pthread_create(&t, NULL, reader, NULL);
	/*
	 * Close only once the reader sleeps inside recv(): a reader that has not
	 * reached recv() yet would race for the reused number with or without
	 * the shim.  Bounded: 5 s.
	 */
	for (int i = 0; i < 500; i++) {
		char path[64], st[256] = "";
		FILE *f;
		usleep(10000);
		if (reader_tid == 0)
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)reader_tid);
		if ((f = fopen(path, "r")) != NULL) {
			if (fgets(st, sizeof st, f) == NULL)
				st[0] = '\0';
			fclose(f);
		}
		char *p = strrchr(st, ')');
		if (p && p[1] == ' ' && p[2] == 'S' && i >= 10)
			break;
	}
	int old = s1;
	close(old);
	int s2 = conn(argv[1], atoi(argv[3]));
	if (s2 < 0)
		return 4;
	if (s2 != old) {
		if (dup2(s2, old) < 0)
			return 4;
		close(s2);
		s2 = old;
	}
	printf("fd reused: %d -> %d\n", old, s2);
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 10;
	if (pthread_timedjoin_np(t, NULL, &dl) != 0) {
		printf("reader still blocked\n");
		return 2;
	}
	int rc = 0;
	printf("reader: recv = %zd (%s)\n", rres, rres < 0 ? strerror(rerr) : rres ? "bytes" : "EOF");
	if (rres > 0) {
		rbuf[rres] = 0;
		printf("reader got: %s\n", rbuf);
	}
	if (rres >= 0)
		rc = 1;
	struct timeval tv = { 5, 0 };
	setsockopt(s2, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char buf[256];
	size_t got = 0, len = strlen(greet);
	ssize_t n = 0;
	while (got < len && got < sizeof buf - 1) {
		n = recv(s2, buf + got, sizeof buf - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = 0;
	printf("new connection: got %s\n", buf);
	if (got < len)
		printf("new connection: recv = %zd (%s)\n", n, n < 0 ? strerror(errno) : "EOF");
	if (rc == 0 && (got != len || memcmp(buf, greet, len) != 0))
		rc = 3;
	return rc;
}
