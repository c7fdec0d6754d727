/* stdiosock.c: a line protocol spoken through stdio and dprintf on a socket, as client or server. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * usage: stdiosock client|server PORT MODE
 *   client: connects to 127.0.0.1:PORT; server: listens there, prints "ready", serves one
 *   connection.  MODE is how the socket is used:
 *     fdopen     the client: one stream, fdopen(sock, "r+"): fprintf, fflush, fgets, as
 *                busybox wget does; the server: fdopen(sock, "r") in, fdopen(dup(sock), "w")
 *                out (one r+ stream cannot read ahead and then write on a socket)
 *     dup        the same on dup(sock), then close(sock)
 *     dprintf    dprintf(sock) out, fdopen(sock, "r") in
 *     stdio      dup2(sock, 0) and (sock, 1), then printf/fflush(stdout) and fgets(stdin)
 *     low        close(0) first, so that the socket itself is 0: dprintf out, fgets(stdin) in
 *   The client sends "hello N" lines and prints each reply; the server answers each line
 *   with "got: LINE" and the client's last line "bye" with "bye from server".
 *   Checks fileno() names the socket and reports on stderr what it could not do.
 */
static int
open_sock(int server, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int s, c, one = 1;

	a.sin_port = htons((unsigned short)port);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if ((s = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	if (!server)
		return connect(s, (struct sockaddr *)&a, sizeof(a)) == 0 ? s : -1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 4))
		return -1;
	printf("ready\n");
	fflush(stdout);
	if ((c = accept(s, NULL, NULL)) < 0)
		return -1;
	close(s);
	return c;
}

int
main(int argc, char **argv)
{
	FILE *in, *out;
	char line[512];
	int server, sock, fd, i;
	const char *mode;

	if (argc != 4) {
		fprintf(stderr, "usage: stdiosock client|server PORT MODE\n");
		return 2;
	}
	server = strcmp(argv[1], "server") == 0;
	mode = argv[3];
	if (strcmp(mode, "low") == 0)
		close(0);
	if ((sock = open_sock(server, atoi(argv[2]))) < 0) {
		perror("socket");
		return 1;
	}
	if (strcmp(mode, "fdopen") == 0 || strcmp(mode, "dup") == 0) {
		fd = strcmp(mode, "dup") == 0 ? dup(sock) : sock;
		in = fdopen(fd, server ? "r" : "r+");
		out = server ? fdopen(dup(fd), "w") : in;
		if (in == NULL || out == NULL) {
			perror("fdopen");
			return 1;
		}
		if (fileno(in) != fd) {
			fprintf(stderr, "fileno %d, want %d\n", fileno(in), fd);
			return 1;
		}
		if (fd != sock)
			close(sock);
		sock = fd;
	} else if (strcmp(mode, "dprintf") == 0) {
		out = NULL;
		if ((in = fdopen(sock, "r")) == NULL) {
			perror("fdopen");
			return 1;
		}
	} else if (strcmp(mode, "stdio") == 0) {
		if (dup2(sock, 0) != 0 || dup2(sock, 1) != 1) {
			perror("dup2");
			return 1;
		}
		close(sock);
		sock = 1;
		in = stdin;
		out = stdout;
	} else if (strcmp(mode, "low") == 0) {
		if (sock != 0) {
			fprintf(stderr, "socket is %d, not 0\n", sock);
			return 1;
		}
		in = stdin;
		out = NULL;
	} else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}

#define SEND(...) do {							\
		if (out) {						\
			fprintf(out, __VA_ARGS__);			\
			fflush(out);					\
		} else							\
			dprintf(sock, __VA_ARGS__);			\
	} while (0)

	if (server) {
		while (fgets(line, sizeof(line), in) != NULL) {
			line[strcspn(line, "\n")] = '\0';
			if (strcmp(line, "bye") == 0) {
				SEND("bye from server\n");
				break;
			}
			SEND("got: %s\n", line);
		}
	} else {
		for (i = 1; i <= 3; i++) {
			SEND("hello %d\n", i);
			if (fgets(line, sizeof(line), in) == NULL) {
				fprintf(stderr, "no reply to hello %d\n", i);
				return 1;
			}
			fprintf(stderr, "reply: %s", line);
		}
		SEND("bye\n");
		if (fgets(line, sizeof(line), in) == NULL) {
			fprintf(stderr, "no reply to bye\n");
			return 1;
		}
		fprintf(stderr, "reply: %s", line);
	}
	if (out != NULL && out != in && out != stdout && fclose(out) != 0) {
		perror("fclose");
		return 1;
	}
	if (in != stdin && fclose(in) != 0) {
		perror("fclose");
		return 1;
	}
	fprintf(stderr, "done\n");
	return 0;
}
