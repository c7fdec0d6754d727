/* tfo.c: a client that connects and sends in one call with TCP Fast Open (sendto or sendmsg + MSG_FASTOPEN). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#ifndef MSG_FASTOPEN
#define MSG_FASTOPEN 0x20000000
#endif

/*
 * usage: tfo [-m sendto|sendmsg] [-e] HOST PORT MSG
 *   Sends MSG on a fresh unconnected socket with sendto() (default) or sendmsg() and
 *   MSG_FASTOPEN; prints "sendto(MSG_FASTOPEN) = N" or "... = -1 (ERR)".
 *   -e: then read the echo of MSG (10 s bound) and print "echo ok" or "echo mismatch: ...".
 * Exit: 0 sent (and echoed), 2 the send failed, 3 the echo did not come, 4 echo mismatch.
 */
int main(int argc, char **argv)
{
	int use_msg = 0, echo = 0, opt;

	while ((opt = getopt(argc, argv, "m:e")) != -1) {
		switch (opt) {
		case 'm': use_msg = strcmp(optarg, "sendmsg") == 0; break;
		case 'e': echo = 1; break;
		default: return 1;
		}
	}
	if (optind + 3 != argc) {
		fprintf(stderr, "usage: tfo [-m sendto|sendmsg] [-e] HOST PORT MSG\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *msg = argv[optind + 2];
	size_t len = strlen(msg);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[optind + 1])) };
	if (inet_pton(AF_INET, argv[optind], &a.sin_addr) != 1)
		return 1;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t n;
	if (use_msg) {
		struct iovec iov = { (void *)msg, len };
		struct msghdr m = { .msg_name = &a, .msg_namelen = sizeof a, .msg_iov = &iov, .msg_iovlen = 1 };
		n = sendmsg(s, &m, MSG_FASTOPEN);
	} else
		n = sendto(s, msg, len, MSG_FASTOPEN, (struct sockaddr *)&a, sizeof a);
	const char *call = use_msg ? "sendmsg" : "sendto";
	if (n < 0) {
		printf("%s(MSG_FASTOPEN) = -1 (%s)\n", call, strerror(errno));
		return 2;
	}
	printf("%s(MSG_FASTOPEN) = %zd\n", call, n);
	if (!echo)
		return (size_t)n == len ? 0 : 2;
	struct timeval tv = { 10, 0 };
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char buf[4096];
	size_t got = 0;
	while (got < (size_t)n && got < sizeof buf) {
		ssize_t r = read(s, buf + got, sizeof buf - got);
		if (r <= 0) {
			printf("echo missing after %zu bytes: %s\n", got, r < 0 ? strerror(errno) : "EOF");
			return 3;
		}
		got += (size_t)r;
	}
	if (got != (size_t)n || memcmp(buf, msg, got) != 0) {
		printf("echo mismatch: %.*s\n", (int)got, buf);
		return 4;
	}
	printf("echo ok\n");
	return (size_t)n == len ? 0 : 2;
}
