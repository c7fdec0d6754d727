/* execconnect.c: connect, then hand the socket to another program (stdin and stdout) or to system(). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/*
 * usage: execconnect HOST PORT exec PROGRAM [ARGS...]
 *          connect, put the socket on stdin and stdout, exec PROGRAM
 *        execconnect HOST PORT system COMMAND
 *          connect, run COMMAND with system() (SOCK in its environment names the socket's fd),
 *          then send "after-system\n" on the socket and print the line that comes back as
 *          "echo: LINE"
 *        execconnect HOST PORT forkhelper|spawn|vfork COMMAND
 *          the same after another way of starting COMMAND ("sh -c COMMAND"): a forked child
 *          that execs it without touching the socket; posix_spawn with the socket dup2'd onto
 *          the child's stdout (prints "spawn: ERRNO-NAME"); a vfork child that dup2s the
 *          socket onto its stdout, closes it and execs
 * MTLSSHIM_TEST_RCVTIMEO=SECS sets SO_RCVTIMEO on the socket first.
 * Exit: 0 ok, 1 I/O error, 2 usage or connect error.
 */
int
main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	char buf[256], num[16];
	ssize_t n;
	int s;

	if (argc < 5) {
		fprintf(stderr, "usage: execconnect HOST PORT exec|system|forkhelper|spawn|vfork ...\n");
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
	if (getenv("MTLSSHIM_TEST_RCVTIMEO")) {
		struct timeval tv = { atoi(getenv("MTLSSHIM_TEST_RCVTIMEO")), 0 };
		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
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
	char *cmd[] = { "sh", "-c", argv[4], NULL };
	const char *after = "after-system\n";
	if (strcmp(argv[3], "system") == 0)
		printf("system: %d\n", system(argv[4]));
	else if (strcmp(argv[3], "forkhelper") == 0) {
		pid_t p = fork();
		if (p == 0) {
			execvp("sh", cmd);
			_exit(127);
		}
		waitpid(p, NULL, 0);
		after = "after-forkhelper\n";
	} else if (strcmp(argv[3], "spawn") == 0) {
		posix_spawn_file_actions_t fa;
		pid_t p;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, s, 1);
		int e = posix_spawnp(&p, "sh", &fa, NULL, cmd, environ);
		printf("spawn: %s\n", e == 0 ? "ok" : e == EINVAL ? "EINVAL" : strerror(e));
		if (e == 0)
			waitpid(p, NULL, 0);
		posix_spawn_file_actions_destroy(&fa);
		after = "after-spawn\n";
	} else if (strcmp(argv[3], "vfork") == 0) {
		pid_t p = vfork();
		if (p == 0) {
			dup2(s, 1);
			close(s);
			execvp("sh", cmd);
			_exit(127);
		}
		waitpid(p, NULL, 0);
		after = "after-vfork\n";
	} else
		return 2;
	if (write(s, after, strlen(after)) != (ssize_t)strlen(after))
		return 1;
	size_t got = 0;
	while (got < sizeof buf - 1 && (got == 0 || buf[got - 1] != '\n')) {
		if ((n = read(s, buf + got, sizeof buf - 1 - got)) <= 0)
			return 1;
		got += (size_t)n;
	}
	buf[got] = 0;
	printf("echo: %s", buf);
	return 0;
}
