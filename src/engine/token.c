/* token.c: keys in a PKCS#11 token, through libp11's engine or a "pkcs11" provider; the PIN from pin_file. */
#define OPENSSL_SUPPRESS_DEPRECATED	/* ENGINE: Debian 12's libp11 is an engine, not a provider */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <openssl/ui.h>

#include "common/config.h"
#include "common/filedata.h"
#include "engine/pinguard.h"
#include "engine/token.h"

#define PIN_MAX		256
#define TOKEN_KEYS	64	/* token keys one process keeps; more are loaded per use */

/* A failure is kept too: one process offers a pin_file once, however often it asks. */
static struct {
	const struct rule	*rule;
	EVP_PKEY		*key;
	char			*err;
}			 kept[TOKEN_KEYS];
static size_t		 nkept;
static ENGINE		*eng;		/* initialised, with eng_module loaded */
static char		*eng_module;
static pthread_mutex_t	 token_lock = PTHREAD_MUTEX_INITIALIZER;

/* The first line of pin_file, in pin (PIN_MAX); 0, or -1 with why in err.  Never logged. */
static int
read_pin(const struct rule *r, char *pin, char *err, size_t errlen)
{
	if (filedata_secret(r->pin_file, pin, PIN_MAX) == 0)
		return 0;
	snprintf(err, errlen, "pin_file %s: %s", r->pin_file, errno == ENODATA ?
	    "empty (the PIN is its first line)" : errno == E2BIG ? "not a PIN (too long, "
	    "or binary)" : strerror(errno));
	return -1;
}

/* libp11's engine, once per process; token_lock held.  One module per process: it is global there. */
static ENGINE *
engine_for(const struct rule *r, char *err, size_t errlen)
{
	ENGINE *e;

	if (eng != NULL) {
		if (strcmp(eng_module, r->pkcs11_module) == 0)
			return eng;
		snprintf(err, errlen, "pkcs11_module %s: this process has %s loaded already (one "
		    "module per process)", r->pkcs11_module, eng_module);
		return NULL;
	}
	if ((e = ENGINE_by_id("pkcs11")) == NULL) {
		snprintf(err, errlen, "a pkcs11: key needs libp11's OpenSSL engine, which is not "
		    "installed (Debian: apt install libengine-pkcs11-openssl)");
		ERR_clear_error();
		return NULL;
	}
	/* Quiet: libp11 prints to fd 2, which in a per-connection service is the peer. */
	if (!ENGINE_ctrl_cmd_string(e, "QUIET", NULL, 0) ||
	    !ENGINE_ctrl_cmd_string(e, "MODULE_PATH", r->pkcs11_module, 0) ||
	    !ENGINE_init(e)) {
		snprintf(err, errlen, "pkcs11_module %s: cannot load it: %s", r->pkcs11_module,
		    ERR_reason_error_string(ERR_peek_last_error()) ?
		    ERR_reason_error_string(ERR_peek_last_error()) : "unknown error");
		ERR_clear_error();
		ENGINE_free(e);
		return NULL;
	}
	if ((eng_module = strdup(r->pkcs11_module)) == NULL) {
		ENGINE_finish(e);
		ENGINE_free(e);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	eng = e;
	return eng;
}

/* What the token said, in words; 1 in *pin_refused when it was the PIN it refused. */
static void
load_error(char *buf, size_t len, int *pin_refused)
{
	const char *reason, *last = NULL;
	unsigned long e;

	*pin_refused = 0;
	while ((e = ERR_get_error()) != 0) {
		if ((reason = ERR_reason_error_string(e)) == NULL)
			continue;
		if (strstr(reason, "PIN incorrect") != NULL || strstr(reason, "PIN len") != NULL)
			*pin_refused = 1;
		/* The token's own reason beats the engine's "failed loading private key". */
		if (last == NULL || strstr(reason, "PIN") != NULL || strstr(last, "failed") != NULL)
			last = reason;
	}
	snprintf(buf, len, "%s", last != NULL ? last : "not found");
}

static int
pin_cb(char *buf, int size, int rwflag, void *u)
{
	int n = (int)strlen(u);

	if (n >= size)
		return -1;
	memcpy(buf, u, (size_t)n);
	return n;
}

/* Through an OSSL_STORE provider for pkcs11: (pkcs11-provider); NULL if it has no such key. */
static void *
store_load(const char *uri, int type, char *pin)
{
	UI_METHOD *ui = UI_UTIL_wrap_read_pem_callback(pin_cb, 0);
	OSSL_STORE_CTX *s;
	OSSL_STORE_INFO *info;
	void *obj = NULL;

	if (ui == NULL || (s = OSSL_STORE_open(uri, ui, pin, NULL, NULL)) == NULL) {
		UI_destroy_method(ui);
		return NULL;
	}
	OSSL_STORE_expect(s, type);
	while (obj == NULL && !OSSL_STORE_eof(s)) {
		if ((info = OSSL_STORE_load(s)) == NULL)
			continue;
		if (type == OSSL_STORE_INFO_PKEY && OSSL_STORE_INFO_get_type(info) == type)
			obj = OSSL_STORE_INFO_get1_PKEY(info);
		else if (type == OSSL_STORE_INFO_CERT && OSSL_STORE_INFO_get_type(info) == type)
			obj = OSSL_STORE_INFO_get1_CERT(info);
		OSSL_STORE_INFO_free(info);
	}
	OSSL_STORE_close(s);
	UI_destroy_method(ui);
	return obj;
}

/* Logs in and loads; token_lock held.  The PIN lives on the stack for the call only. */
static void *
load(const struct rule *r, int cert, char *err, size_t errlen)
{
	struct { const char *id; X509 *cert; } params = { NULL, NULL };
	char pin[PIN_MAX], why[256];
	const char *uri = cert ? r->cert_file : r->key_file;
	void *obj = NULL;
	ENGINE *e;
	int refused, n;

	if (pinguard_may_try(r, err, errlen) == -1 || read_pin(r, pin, err, errlen) == -1)
		return NULL;
	if (OSSL_PROVIDER_available(NULL, "pkcs11")) {
		obj = store_load(uri, cert ? OSSL_STORE_INFO_CERT : OSSL_STORE_INFO_PKEY, pin);
		load_error(why, sizeof(why), &refused);
	} else if ((e = engine_for(r, err, errlen)) == NULL) {
		explicit_bzero(pin, sizeof(pin));
		return NULL;
	} else if (!ENGINE_ctrl_cmd_string(e, "PIN", pin, 0)) {
		load_error(why, sizeof(why), &refused);
	} else {
		if (cert) {
			params.id = uri;
			if (ENGINE_ctrl_cmd(e, "LOAD_CERT_CTRL", 0, &params, NULL, 1))
				obj = params.cert;
		} else
			obj = ENGINE_load_private_key(e, uri, NULL, NULL);
		load_error(why, sizeof(why), &refused);
	}
	explicit_bzero(pin, sizeof(pin));
	if (obj != NULL) {
		pinguard_accepted(r);
		return obj;
	}
	if (refused) {
		n = pinguard_refused(r);
		snprintf(err, errlen, "the token refused the PIN in pin_file %s (%s; refusal %d "
		    "of at most %d before it is not offered again)", r->pin_file, why, n,
		    PINGUARD_TRIES);
	} else
		snprintf(err, errlen, "cannot load it through pkcs11_module %s: %s",
		    r->pkcs11_module, why);
	return NULL;
}

EVP_PKEY *
token_key(const struct rule *r, char *err, size_t errlen)
{
	EVP_PKEY *k = NULL;
	size_t i;

	pthread_mutex_lock(&token_lock);
	for (i = 0; i < nkept && kept[i].rule != r; i++)
		;
	if (i < nkept) {
		if (kept[i].key != NULL && EVP_PKEY_up_ref(kept[i].key))
			k = kept[i].key;
		else
			snprintf(err, errlen, "%s", kept[i].err ? kept[i].err : "out of memory");
	} else if ((k = load(r, 0, err, errlen), nkept < TOKEN_KEYS) &&
	    (k == NULL || EVP_PKEY_up_ref(k))) {
		kept[nkept].rule = r;
		kept[nkept].key = k;
		kept[nkept++].err = k == NULL ? strdup(err) : NULL;
	}
	pthread_mutex_unlock(&token_lock);
	return k;
}

X509 *
token_cert(const struct rule *r, char *err, size_t errlen)
{
	X509 *x;

	pthread_mutex_lock(&token_lock);
	x = load(r, 1, err, errlen);
	pthread_mutex_unlock(&token_lock);
	return x;
}

int
token_uri_attr(const char *uri, const char *name, char *buf, size_t len)
{
	const char *p = uri + sizeof(PKCS11_SCHEME) - 1, *end;
	size_t n = strlen(name), vlen;

	while (*p != '\0' && *p != '?') {
		end = p + strcspn(p, ";?");
		if ((size_t)(end - p) > n && strncmp(p, name, n) == 0 && p[n] == '=') {
			vlen = (size_t)(end - p) - n - 1;
			snprintf(buf, len, "%.*s", (int)vlen, p + n + 1);
			return 1;
		}
		p = *end == ';' ? end + 1 : end;
	}
	return 0;
}

void
token_describe(const char *uri, char *buf, size_t len)
{
	char tok[128] = "", obj[128] = "", id[128] = "";
	int t = token_uri_attr(uri, "token", tok, sizeof(tok));
	int o = token_uri_attr(uri, "object", obj, sizeof(obj));

	if (o)
		snprintf(buf, len, "token \"%s\", object \"%s\"", t ? tok : "any", obj);
	else if (token_uri_attr(uri, "id", id, sizeof(id)))
		snprintf(buf, len, "token \"%s\", id %s", t ? tok : "any", id);
	else
		snprintf(buf, len, "token \"%s\"", t ? tok : "any");
}

int
token_failure(const struct rule *r, char *buf, size_t len)
{
	const char *lib, *why = NULL;
	unsigned long e;

	/* The handshake's own error comes last ("EVP lib"); the token's is below it. */
	while ((e = ERR_get_error()) != 0)
		if (why == NULL && (lib = ERR_lib_error_string(e)) != NULL &&
		    strcasestr(lib, "pkcs") != NULL)
			why = ERR_reason_error_string(e);
	if (why == NULL)
		return 0;
	snprintf(buf, len, "the token did not sign: %s (pkcs11_module %s, uid %u)", why,
	    r->pkcs11_module, (unsigned)geteuid());
	return 1;
}
