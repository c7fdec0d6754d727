/* execserve.c: an inetd-style server: accept, fork, socket onto 0, 1 and 2, exec the service. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * usage: execserve PORT N PROGRAM [ARGS...]
 *   Listens on 127.0.0.1:PORT, prints "ready", serves N connections (each by a forked child
 *   that execs PROGRAM with the socket as stdin, stdout and stderr), then waits for the
 *   children and prints "done N".
 */
int
main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int l, c, i, n, one = 1;

	if (argc < 4) {
		fprintf(stderr, "usage: execserve PORT N PROGRAM [ARGS...]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	n = atoi(argv[2]);
	a.sin_port = htons((unsigned short)atoi(argv[1]));
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	l = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 16)) {
		perror("bind/listen");
		return 2;
	}
	printf("ready\n");
	for (i = 0; i < n; i++) {
		if ((c = accept(l, NULL, NULL)) < 0) {
			perror("accept");
			return 1;
		}
		printf("accepted %d\n", i + 1);
		switch (fork()) {
		case -1:
			perror("fork");
			return 1;
		case 0:
			close(l);
			dup2(c, 0);
			dup2(c, 1);
			dup2(c, 2);
			if (c > 2)
				close(c);
			execvp(argv[3], argv + 3);
			perror("exec");
			_exit(127);
		}
		close(c);
	}
	while (wait(NULL) > 0)
		;
	printf("done %d\n", n);
	return 0;
}
