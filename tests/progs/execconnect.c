/* execconnect.c: connect, then hand the socket to another program (stdin and stdout) or to system(). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * usage: execconnect HOST PORT exec PROGRAM [ARGS...]
 *          connect, put the socket on stdin and stdout, exec PROGRAM
 *        execconnect HOST PORT system COMMAND
 *          connect, run COMMAND with system() (SOCK in its environment names the socket's fd),
 *          then send "after-system\n" on the socket and print the line that comes back as
 *          "echo: LINE"
 * Exit: 0 ok, 1 I/O error, 2 usage or connect error.
 */
int
main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	char buf[256], num[16];
	size_t got = 0;
	ssize_t n;
	int s;

	if (argc < 5) {
		fprintf(stderr, "usage: execconnect HOST PORT exec|system ...\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	a.sin_port = htons((unsigned short)atoi(argv[2]));
	inet_pton(AF_INET, argv[1], &a.sin_addr);
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(s, (struct sockaddr *)&a, sizeof a)) {
		perror("connect");
		return 2;
	}
	if (strcmp(argv[3], "exec") == 0) {
		dup2(s, 0);
		dup2(s, 1);
		close(s);
		execvp(argv[4], argv + 4);
		perror("exec");
		return 2;
	}
	snprintf(num, sizeof num, "%d", s);
	setenv("SOCK", num, 1);
	printf("system: %d\n", system(argv[4]));
	if (write(s, "after-system\n", 13) != 13)
		return 1;
	while (got < sizeof buf - 1 && (got == 0 || buf[got - 1] != '\n')) {
		if ((n = read(s, buf + got, sizeof buf - 1 - got)) <= 0)
			return 1;
		got += (size_t)n;
	}
	buf[got] = 0;
	printf("echo: %s", buf);
	return 0;
}
