/* test_config.c: table-driven tests of config_load: defaults, inheritance, paths and every rejection. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"

#include "check.h"

static char dir[PATH_MAX];	/* realpath of the fixture directory */

/* Writes body into dir/name and returns the path (static buffer). */
static const char *fixture(const char *name, const char *body)
{
	static char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(2);
	}
	fputs(body, f);
	fclose(f);
	return path;
}

#define FILES "ca_file = \"ca.crt\"\ncert_file = \"host.crt\"\nkey_file = \"host.key\"\n"

/* Configs that must be rejected, and words the one-line error must contain (besides the path). */
static const struct bad {
	const char *what, *body, *want1, *want2;
} bads[] = {
	{ "syntax error", FILES "server \"a\" {\n port = 1\n", "line", NULL },
	{ "stray closing brace", FILES "server \"a\" { port = 1 }}\n", "line", NULL },
	{ "unterminated string", FILES "log_level = \"info\n", "line", NULL },
	{ "missing brace value", FILES "server \"a\" { port = }\n", "line", NULL },
	{ "unknown top option", FILES "certfile = \"x\"\n", "certfile", NULL },
	{ "unknown rule option", FILES "server \"a\" {\n port = 1\n bogus_opt = 3\n}\n", "bogus_opt", NULL },
	{ "server rule with host", FILES "server \"a\" {\n port = 443\n host = \"127.0.0.1\"\n}\n", "host", NULL },
	{ "port 0", FILES "server \"a\" {\n port = 0\n}\n", "port", NULL },
	{ "port 70000", FILES "client \"a\" {\n port = 70000\n}\n", "port", "70000" },
	{ "port negative", FILES "client \"a\" {\n port = -1\n}\n", "port", NULL },
	{ "port 65536", FILES "server \"a\" {\n port = 65536\n}\n", "port", NULL },
	{ "port not a number", FILES "server \"a\" {\n port = \"https\"\n}\n", "port", NULL },
	{ "port missing", FILES "server \"a\" {\n}\n", "port", NULL },
	{ "bad host", FILES "client \"a\" {\n port = 5432\n host = \"db.example\"\n}\n", "host", "db.example" },
	{ "bad cidr prefix v4", FILES "client \"a\" {\n port = 5432\n host = \"10.0.0.0/33\"\n}\n", "host", "10.0.0.0/33" },
	{ "bad cidr prefix v6", FILES "client \"a\" {\n port = 5432\n host = \"fd00::/129\"\n}\n", "host", NULL },
	{ "empty cidr prefix", FILES "client \"a\" {\n port = 5432\n host = \"10.0.0.0/\"\n}\n", "host", NULL },
	{ "bad log_level", FILES "log_level = \"chatty\"\n", "log_level", "chatty" },
	{ "duplicate server names", FILES "server \"a\" {\n port = 1\n}\nserver \"a\" {\n port = 2\n}\n", "a", NULL },
	{ "duplicate across kinds", FILES "server \"a\" {\n port = 1\n}\nclient \"a\" {\n port = 2\n}\n", "\"a\"", NULL },
	{ "handshake_timeout 0", FILES "handshake_timeout = 0\nserver \"a\" {\n port = 1\n}\n", "handshake_timeout", NULL },
	{ "rule handshake_timeout negative", FILES "server \"a\" {\n port = 1\n handshake_timeout = -5\n}\n", "handshake_timeout", NULL },
	{ "no cert_file anywhere", "ca_file = \"ca.crt\"\nkey_file = \"k\"\nserver \"a\" {\n port = 1\n}\n", "cert_file", NULL },
	{ "no key_file anywhere", "ca_file = \"ca.crt\"\ncert_file = \"c\"\nclient \"a\" {\n port = 1\n}\n", "key_file", NULL },
#define TOKEN "ca_file = \"ca.crt\"\ncert_file = \"c\"\nkey_file = \"pkcs11:token=t;object=k\"\n"
	{ "token key without pkcs11_module", TOKEN "pin_file = \"p\"\nserver \"a\" {\n port = 1\n}\n", "pkcs11_module", NULL },
	{ "token key without pin_file", TOKEN "pkcs11_module = \"/m.so\"\nserver \"a\" {\n port = 1\n}\n", "pin_file", NULL },
	{ "PIN in the URI", "ca_file = \"ca.crt\"\ncert_file = \"c\"\nkey_file = \"pkcs11:token=t;object=k?pin-value=1234\"\n"
	    "pkcs11_module = \"/m.so\"\npin_file = \"p\"\nserver \"a\" {\n port = 1\n}\n", "pin_file", "URI" },
	{ "token key with key_password_file", TOKEN "pkcs11_module = \"/m.so\"\npin_file = \"p\"\nkey_password_file = \"w\"\n"
	    "server \"a\" {\n port = 1\n}\n", "key_password_file", "pin_file" },
	{ "token cert with a file key", "ca_file = \"ca.crt\"\ncert_file = \"pkcs11:token=t;object=k;type=cert\"\n"
	    "key_file = \"k.pem\"\nserver \"a\" {\n port = 1\n}\n", "cert_file", "key_file" },
	{ "two pkcs11_modules", TOKEN "pin_file = \"p\"\nserver \"a\" {\n port = 1\n pkcs11_module = \"/m.so\"\n}\n"
	    "server \"b\" {\n port = 2\n pkcs11_module = \"/n.so\"\n}\n", "pkcs11_module", "\"b\"" },
	{ "no ca_file anywhere", "cert_file = \"c\"\nkey_file = \"k\"\nclient \"a\" {\n port = 1\n}\n", "ca_file", NULL },
	{ "rule without title", FILES "server {\n port = 1\n}\n", NULL, NULL },
};

static void test_bad(void)
{
	char err[1024];

	for (size_t i = 0; i < sizeof bads / sizeof *bads; i++) {
		const struct bad *b = &bads[i];
		char name[64];
		snprintf(name, sizeof name, "bad%zu.conf", i);
		const char *path = fixture(name, b->body);
		memset(err, 'x', sizeof err);
		err[sizeof err - 1] = 0;
		struct config *c = config_load(path, err, sizeof err);
		CHECK(c == NULL, "%s: accepted", b->what);
		config_free(c);
		if (c)
			continue;
		CHECK(strstr(err, name) != NULL, "%s: error does not name the file: %s", b->what, err);
		CHECK(strchr(err, '\n') == NULL, "%s: error is not one line: %s", b->what, err);
		CHECK(strncmp(err, "mtlsshim: ", 10) != 0, "%s: error carries the prefix: %s", b->what, err);
		if (b->want1)
			CHECK(strstr(err, b->want1) != NULL, "%s: error lacks \"%s\": %s", b->what, b->want1, err);
		if (b->want2)
			CHECK(strstr(err, b->want2) != NULL, "%s: error lacks \"%s\": %s", b->what, b->want2, err);
	}
}

static void test_missing_file(void)
{
	char err[512], path[PATH_MAX + 32];

	snprintf(path, sizeof path, "%s/does-not-exist.conf", dir);
	struct config *c = config_load(path, err, sizeof err);
	CHECK(c == NULL, "nonexistent config accepted");
	config_free(c);
	CHECK(strstr(err, "does-not-exist.conf") != NULL, "error does not name the file: %s", err);
	CHECK(strstr(err, "No such file") != NULL, "error does not say why: %s", err);
}

static void test_defaults(void)
{
	char err[512];
	const char *path = fixture("defaults.conf", FILES "server \"api\" {\n port = 8443\n}\n");
	struct config *c = config_load(path, err, sizeof err);

	CHECK(c != NULL, "minimal config rejected: %s", err);
	if (!c)
		return;
	CHECK(c->log_level == LOG_LVL_INFO, "default log_level %d", c->log_level);
	CHECK(c->log_file && strcmp(c->log_file, "stderr") == 0, "default log_file %s", c->log_file);
	CHECK(c->handshake_timeout == 10, "default handshake_timeout %d", c->handshake_timeout);
	CHECK(c->nrules == 1, "nrules %zu", c->nrules);
	CHECK(c->path && strstr(c->path, "defaults.conf"), "path %s", c->path);
	if (c->nrules == 1) {
		const struct rule *r = &c->rules[0];
		CHECK(r->kind == RULE_SERVER, "kind");
		CHECK(strcmp(r->name, "api") == 0, "name %s", r->name);
		CHECK(r->port == 8443, "port %d", r->port);
		CHECK(r->has_host == 0, "has_host");
		CHECK(r->handshake_timeout == 10, "rule timeout %d", r->handshake_timeout);
	}
	config_free(c);

	/* No rules at all is a valid (inert) config. */
	path = fixture("norules.conf", "log_level = \"debug\"\n");
	c = config_load(path, err, sizeof err);
	CHECK(c != NULL, "config without rules rejected: %s", err);
	if (c) {
		CHECK(c->nrules == 0, "nrules %zu", c->nrules);
		CHECK(c->log_level == LOG_LVL_DEBUG, "log_level %d", c->log_level);
	}
	config_free(c);

	/* Every log level by name. */
	static const struct { const char *name; enum log_level l; } levels[] = {
		{ "error", LOG_LVL_ERROR }, { "warn", LOG_LVL_WARN }, { "info", LOG_LVL_INFO }, { "debug", LOG_LVL_DEBUG },
	};
	for (size_t i = 0; i < 4; i++) {
		char body[128];
		snprintf(body, sizeof body, "log_level = \"%s\"\n", levels[i].name);
		c = config_load(fixture("level.conf", body), err, sizeof err);
		CHECK(c && c->log_level == levels[i].l, "log_level %s: %s", levels[i].name, c ? "wrong value" : err);
		CHECK(strcmp(config_level_name(levels[i].l), levels[i].name) == 0, "config_level_name %s", levels[i].name);
		config_free(c);
	}
}

static void test_inherit(void)
{
	char err[512], want[PATH_MAX + 64];
	const char *path = fixture("inherit.conf",
	    "log_file = \"logs/shim.log\"\n"
	    "ca_file = \"pki/ca.crt\"\n"
	    "cert_file = \"/etc/abs/host.crt\"\n"
	    "key_file = \"../up/host.key\"\n"
	    "handshake_timeout = 7\n"
	    "server \"plain\" {\n port = 443\n}\n"
	    "server \"own\" {\n port = 8443\n cert_file = \"other.crt\"\n key_file = \"/k/other.key\"\n"
	    "  ca_file = \"/ca/x.crt\"\n handshake_timeout = 3\n}\n"
	    "client \"db\" {\n port = 5432\n host = \"10.0.0.0/8\"\n}\n"
	    "client \"db2\" {\n port = 5432\n key_file = \"db2.key\"\n}\n");
	struct config *c = config_load(path, err, sizeof err);

	CHECK(c != NULL, "inherit config rejected: %s", err);
	if (!c)
		return;
	CHECK(c->nrules == 4, "nrules %zu", c->nrules);
	snprintf(want, sizeof want, "%s/logs/shim.log", dir);
	CHECK(strcmp(c->log_file, want) == 0, "log_file %s, want %s", c->log_file, want);
	CHECK(c->handshake_timeout == 7, "timeout %d", c->handshake_timeout);
	for (size_t i = 0; i < c->nrules; i++) {
		const struct rule *r = &c->rules[i];
		if (strcmp(r->name, "plain") == 0) {
			CHECK(r->kind == RULE_SERVER && r->port == 443, "plain kind/port");
			snprintf(want, sizeof want, "%s/pki/ca.crt", dir);
			CHECK(strcmp(r->ca_file, want) == 0, "plain ca_file %s, want %s", r->ca_file, want);
			CHECK(strcmp(r->cert_file, "/etc/abs/host.crt") == 0, "absolute path kept: %s", r->cert_file);
			snprintf(want, sizeof want, "%s/../up/host.key", dir);
			char a[PATH_MAX], b[PATH_MAX];
			/* Either form is fine as long as it is absolute and points to the same place. */
			CHECK(r->key_file[0] == '/', "key_file not absolute: %s", r->key_file);
			CHECK(strcmp(r->key_file, want) == 0 ||
			    (realpath(dir, a) && snprintf(b, sizeof b, "%s", r->key_file) > 0 && strstr(b, "/up/host.key")),
			    "plain key_file %s", r->key_file);
			CHECK(r->handshake_timeout == 7, "inherited timeout %d", r->handshake_timeout);
		} else if (strcmp(r->name, "own") == 0) {
			snprintf(want, sizeof want, "%s/other.crt", dir);
			CHECK(strcmp(r->cert_file, want) == 0, "own cert_file %s, want %s", r->cert_file, want);
			CHECK(strcmp(r->key_file, "/k/other.key") == 0, "own key_file %s", r->key_file);
			CHECK(strcmp(r->ca_file, "/ca/x.crt") == 0, "own ca_file %s", r->ca_file);
			CHECK(r->handshake_timeout == 3, "own timeout %d", r->handshake_timeout);
		} else if (strcmp(r->name, "db") == 0) {
			CHECK(r->kind == RULE_CLIENT && r->port == 5432, "db kind/port");
			CHECK(r->has_host == 1 && r->host.family == AF_INET && r->host.prefix == 8, "db host");
			CHECK(strcmp(r->cert_file, "/etc/abs/host.crt") == 0, "db inherits cert_file: %s", r->cert_file);
		} else if (strcmp(r->name, "db2") == 0) {
			snprintf(want, sizeof want, "%s/db2.key", dir);
			CHECK(strcmp(r->key_file, want) == 0, "db2 key_file %s", r->key_file);
			CHECK(strcmp(r->cert_file, "/etc/abs/host.crt") == 0, "db2 inherits cert: %s", r->cert_file);
			CHECK(r->has_host == 0, "db2 has no host");
		} else {
			CHECK(0, "unexpected rule %s", r->name);
		}
	}
	config_free(c);

	/* Relative config path: still resolved against the config's own directory. */
	char cwd[PATH_MAX];
	if (getcwd(cwd, sizeof cwd) && chdir("/") == 0) {
		char rel[PATH_MAX + 16];
		snprintf(rel, sizeof rel, "%s/inherit.conf", dir + 1);
		c = config_load(rel, err, sizeof err);
		CHECK(c != NULL, "relative config path rejected: %s", err);
		if (c) {
			snprintf(want, sizeof want, "%s/pki/ca.crt", dir);
			CHECK(strcmp(c->rules[0].ca_file, want) == 0, "relative config: ca_file %s", c->rules[0].ca_file);
		}
		config_free(c);
		if (chdir(cwd) != 0)
			perror("chdir");
	}
}

/* A pkcs11: URI is not a path: it is kept as written; the secrets' files are paths. */
static void test_token_key(void)
{
	char err[512], want[PATH_MAX + 64];
	struct config *c = config_load(fixture("token.conf", TOKEN
	    "pkcs11_module = \"/usr/lib/softhsm/libsofthsm2.so\"\npin_file = \"token.pin\"\n"
	    "server \"a\" {\n port = 1\n cert_file = \"pkcs11:token=t;object=k;type=cert\"\n}\n"
	    "client \"b\" {\n port = 2\n key_file = \"b.key\"\n key_password_file = \"b.pass\"\n}\n"),
	    err, sizeof err);

	CHECK(c != NULL, "token config rejected: %s", err);
	if (!c)
		return;
	CHECK(strcmp(c->rules[0].key_file, "pkcs11:token=t;object=k") == 0, "URI kept: %s",
	    c->rules[0].key_file);
	CHECK(c->rules[0].key_in_token && c->rules[0].cert_in_token, "a: key and cert in the token");
	snprintf(want, sizeof want, "%s/token.pin", dir);
	CHECK(strcmp(c->rules[0].pin_file, want) == 0, "pin_file %s, want %s", c->rules[0].pin_file, want);
	CHECK(!c->rules[1].key_in_token && !c->rules[1].cert_in_token, "b: files");
	snprintf(want, sizeof want, "%s/b.pass", dir);
	CHECK(c->rules[1].key_password_file && strcmp(c->rules[1].key_password_file, want) == 0,
	    "key_password_file %s", c->rules[1].key_password_file);
	config_free(c);
}

static void test_syslog_stderr(void)
{
	char err[512];
	struct config *c = config_load(fixture("syslog.conf", "log_file = \"syslog\"\n"), err, sizeof err);
	CHECK(c && strcmp(c->log_file, "syslog") == 0, "log_file syslog: %s", c ? c->log_file : err);
	config_free(c);
}

static void test_config_path(void)
{
	unsetenv(CONFIG_ENV);
	CHECK(strcmp(config_path(), CONFIG_DEFAULT_PATH) == 0, "default path %s", config_path());
	setenv(CONFIG_ENV, "/x/y.conf", 1);
	CHECK(strcmp(config_path(), "/x/y.conf") == 0, "env path %s", config_path());
	setenv(CONFIG_ENV, "", 1);
	CHECK(strcmp(config_path(), CONFIG_DEFAULT_PATH) == 0, "empty env → default: %s", config_path());
	unsetenv(CONFIG_ENV);
}

static void cleanup(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
	char tmpl[] = "/tmp/mtlsshim-unit.XXXXXX";

	if (!mkdtemp(tmpl) || !realpath(tmpl, dir)) {
		perror("mkdtemp");
		return 2;
	}
	test_bad();
	test_missing_file();
	test_defaults();
	test_inherit();
	test_token_key();
	test_syslog_stderr();
	test_config_path();
	cleanup();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
