/* delayecho.c: a plaintext server that answers each request only after a pause. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/*
 * usage: delayecho PORT MS
 *   Serves connections on 127.0.0.1:PORT one at a time: reads one request (one read()),
 *   sleeps MS milliseconds, answers "reply:" + the request, then waits for EOF (20 s bound)
 *   and closes. Prints "listening port=P", "request N: TEXT" and "replied N".
 */
int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: delayecho PORT MS\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	int one = 1, ls = socket(AF_INET, SOCK_STREAM, 0), ms = atoi(argv[2]);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 16)) {
		perror("bind/listen");
		return 1;
	}
	printf("listening port=%s\n", argv[1]);
	for (unsigned no = 1;; no++) {
		int f = accept(ls, NULL, NULL);
		if (f < 0)
			continue;
		struct timeval tv = { 20, 0 };
		setsockopt(f, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		char buf[512] = "reply:";
		ssize_t n = read(f, buf + 6, sizeof buf - 7);
		if (n > 0) {
			printf("request %u: %.*s\n", no, (int)n, buf + 6);
			usleep((useconds_t)ms * 1000);
			if (write(f, buf, (size_t)n + 6) == n + 6)
				printf("replied %u\n", no);
			while (read(f, buf, sizeof buf) > 0)
				;
		}
		close(f);
	}
}
