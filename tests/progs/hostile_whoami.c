/* hostile_whoami.c: says who it runs as and whether the shim was loaded (for the setuid test). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Prints "whoami uid=R euid=E shim=yes|no preload=set|unset", exit 0. */
int main(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[4096];
	int shim = 0;

	while (f && fgets(line, sizeof line, f))
		if (strstr(line, "libmtlsshim"))
			shim = 1;
	if (f)
		fclose(f);
	printf("whoami uid=%d euid=%d shim=%s preload=%s\n", (int)getuid(), (int)geteuid(),
	    shim ? "yes" : "no", getenv("LD_PRELOAD") ? "set" : "unset");
	return 0;
}
