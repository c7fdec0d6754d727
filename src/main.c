/* main.c: the mtlsshim launcher: run a program under the preload, or check a config. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "identity.h"
#include "tlsctx.h"

#define EX_USAGE	64
#define EX_CONFIG	78
#define LIBNAME		"libmtlsshim.so"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: mtlsshim [-c FILE] [--] PROGRAM [ARGS...]\n"
	    "       mtlsshim check [-c FILE]\n"
	    "Runs PROGRAM with its matching TCP connections wrapped in mutual TLS.\n"
	    "FILE defaults to $MTLSSHIM_CONFIG, else " CONFIG_DEFAULT_PATH ".\n");
	exit(EX_USAGE);
}

/* The library beside this binary (build tree) or in LIBDIR (installed). */
static const char *
find_library(void)
{
	static char path[PATH_MAX];
	char *slash;
	ssize_t n;

	n = readlink("/proc/self/exe", path, sizeof(path) - sizeof(LIBNAME) - 1);
	if (n > 0) {
		path[n] = '\0';
		if ((slash = strrchr(path, '/')) != NULL) {
			strcpy(slash + 1, LIBNAME);
			if (access(path, R_OK) == 0)
				return path;
		}
	}
	snprintf(path, sizeof(path), "%s/%s", MTLSSHIM_LIBDIR, LIBNAME);
	return path;
}

static void
print_cert(const char *what, const char *file)
{
	char subj[512], sans[1024], issuer[512];
	const ASN1_TIME *na;
	BIO *b = BIO_new_file(file, "r");
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	int days = 0, secs = 0;

	BIO_free(b);
	if (x == NULL)
		return;
	identity_subject(x, subj, sizeof(subj));
	identity_sans(x, sans, sizeof(sans));
	X509_NAME_oneline(X509_get_issuer_name(x), issuer, sizeof(issuer));
	na = X509_get0_notAfter(x);
	ASN1_TIME_diff(&days, &secs, NULL, na);
	printf("    %s: subject=\"%s\" san=\"%s\" issuer=\"%s\" expires in %d days%s\n",
	    what, subj, sans, issuer, days, days < 0 ? " (EXPIRED)" : "");
	X509_free(x);
}

static int
check(const char *path)
{
	char err[1024];
	struct config *c;
	SSL_CTX *ctx;
	size_t i;
	int rv = 0;

	if ((c = config_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "mtlsshim: %s\n", err);
		return EX_CONFIG;
	}
	printf("%s: %zu rule%s, log_level=%s log_file=%s\n", c->path, c->nrules,
	    c->nrules == 1 ? "" : "s", config_level_name(c->log_level), c->log_file);
	for (i = 0; i < c->nrules; i++) {
		const struct rule *r = &c->rules[i];
		char host[64] = "any";

		if (r->has_host)
			snprintf(host, sizeof(host), "a configured network");
		printf("  %s \"%s\": port %d%s%s, handshake_timeout %ds\n",
		    r->kind == RULE_SERVER ? "server" : "client", r->name, r->port,
		    r->kind == RULE_CLIENT ? ", host " : "",
		    r->kind == RULE_CLIENT ? host : "", r->handshake_timeout);
		if ((ctx = tlsctx_new(c, r, err, sizeof(err))) == NULL) {
			fprintf(stderr, "mtlsshim: %s\n", err);
			rv = EX_CONFIG;
			break;
		}
		print_cert("cert", r->cert_file);
		printf("    key: %s matches the certificate\n", r->key_file);
		printf("    ca: %s\n", r->ca_file);
		SSL_CTX_free(ctx);
	}
	if (rv == 0)
		printf("ok\n");
	config_free(c);
	return rv;
}

int
main(int argc, char *argv[])
{
	const char *conf = NULL, *lib, *old;
	char abs[PATH_MAX], *preload;
	int i = 1, do_check = 0;

	if (argc > 1 && strcmp(argv[1], "check") == 0) {
		do_check = 1;
		i = 2;
	}
	for (; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			conf = argv[++i];
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			usage();
		else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (argv[i][0] == '-')
			usage();
		else
			break;
	}
	if (conf == NULL)
		conf = config_path();
	if (do_check) {
		if (i != argc)
			usage();
		return check(conf);
	}
	if (i >= argc)
		usage();
	if (realpath(conf, abs) == NULL) {
		fprintf(stderr, "mtlsshim: %s: %s\n", conf, strerror(errno));
		return EX_CONFIG;
	}
	lib = find_library();
	old = getenv("LD_PRELOAD");
	if (asprintf(&preload, "%s%s%s", lib, old && *old ? " " : "", old ? old : "") < 0)
		return 1;
	setenv("LD_PRELOAD", preload, 1);
	setenv("MTLSSHIM_CONFIG", abs, 1);
	execvp(argv[i], &argv[i]);
	fprintf(stderr, "mtlsshim: %s: %s\n", argv[i], strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
