/* fuzz_config.c: libFuzzer target for the configuration loader (src/config.c): load, then free. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/config.h"

static char path[] = "/tmp/mtlsshim-fuzz-config.XXXXXX";
static int fd = -1;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[1024];
	struct config *c;

	if (fd == -1 && (fd = mkstemp(path)) == -1)
		abort();
	if (ftruncate(fd, 0) == -1 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	if ((c = config_load(path, err, sizeof(err))) != NULL)
		config_free(c);
	return 0;
}
