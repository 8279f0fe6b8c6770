/*
 * httpc.c - the outbound HTTP client: one request, one response, over
 * libcurl's easy interface. Webhooks use it; OAuth will.
 *
 * Owns: libcurl itself (libcurl.h): httpc_global_init loads it and runs its
 * process-wide set-up, once per process, for every user of libcurl (the SMTP
 * sender and the mail links too); nothing is loaded before the first call
 * that needs it. And nothing between calls: each httpc_do makes its own
 * handle and frees it.
 *
 * Invariants: only http:// and https:// are spoken (redirects are not
 * followed); a header line holding CR or LF is refused before anything is
 * sent; the response body kept is bounded by the caller (PC_ETOOBIG past
 * it); no signal is used for timeouts (the server's threads share one
 * process); a caller's cancel hook aborts a transfer in flight.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "core/libcurl.h"

struct libcurl_fns libcurl;

static pthread_once_t httpc_once = PTHREAD_ONCE_INIT;
static enum pc_err httpc_init_err = PC_EINTERNAL;

static const char *const httpc_names[] = {
#define HTTPC_NAME(name) "curl_" #name,
	LIBCURL_FUNCS(HTTPC_NAME)
#undef HTTPC_NAME
};

/* Loads libcurl into the table and sets it up; logs why once when it cannot. */
static void httpc_init_once(void)
{
	void *syms[sizeof(httpc_names) / sizeof(httpc_names[0])];
	struct libcurl_fns t;
	char why[256];
	size_t i = 0;
	CURLcode rc;

	if (pc_dl_load(LIBCURL_SONAME, httpc_names, syms, sizeof(syms) / sizeof(syms[0]), why,
		       sizeof(why)) != PC_OK) {
		log_error("httpc", "libcurl unavailable (no outbound HTTP, no SMTP): %s", why);
		return;
	}
#define HTTPC_SET(name) t.name = (__typeof__(t.name))syms[i++];
	LIBCURL_FUNCS(HTTPC_SET)
#undef HTTPC_SET
	rc = t.global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK) {
		log_error("httpc", "curl_global_init failed: %s", t.easy_strerror(rc));
		return;
	}
	libcurl = t;
	httpc_init_err = PC_OK;
}

enum pc_err httpc_global_init(void)
{
	pthread_once(&httpc_once, httpc_init_once);
	return httpc_init_err;
}

/* What the callbacks of one transfer share. */
struct httpc_transfer {
	const struct httpc_request *req;
	struct httpc_response *resp;
	bool toobig;
};

static size_t httpc_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct httpc_transfer *t = arg;
	size_t n = size * nmemb;

	if (t->req->response_max == 0)
		return n; /* the caller wants the status alone */
	if (buf_add(&t->resp->body, p, n) != PC_OK) {
		t->toobig = true;
		return 0; /* CURLE_WRITE_ERROR */
	}
	return n;
}

/* Aborts the transfer once the caller's hook says so. */
static int httpc_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			  curl_off_t ulnow)
{
	const struct httpc_cancel *cancel = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return cancel->fn(cancel->arg) ? 1 : 0;
}

void httpc_curl_setup(void *handle, long timeout_s, char *errbuf, const char *protocols,
		      const struct httpc_cancel *cancel)
{
	CURL *c = handle;

	libcurl.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	libcurl.easy_setopt(c, CURLOPT_PROTOCOLS_STR, protocols);
	libcurl.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, timeout_s);
	libcurl.easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
	libcurl.easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	if (cancel != NULL && cancel->fn != NULL) {
		libcurl.easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
		libcurl.easy_setopt(c, CURLOPT_XFERINFOFUNCTION, httpc_progress);
		libcurl.easy_setopt(c, CURLOPT_XFERINFODATA, (void *)cancel);
	}
}

enum pc_err httpc_curl_error(int rc, const char *errbuf, char *err, size_t errsz)
{
	snprintf(err, errsz, "%s%s%s", libcurl.easy_strerror((CURLcode)rc), errbuf[0] ? ": " : "",
		 errbuf);
	return rc == CURLE_ABORTED_BY_CALLBACK ? PC_EBUSY : PC_EINTERNAL;
}

/* The header lines as curl wants them, refusing CR and LF. */
static enum pc_err httpc_headers(const char *const *lines, struct curl_slist **out)
{
	struct curl_slist *list = NULL, *l;

	*out = NULL;
	for (size_t i = 0; lines != NULL && lines[i] != NULL; i++) {
		if (strpbrk(lines[i], "\r\n") != NULL || strchr(lines[i], ':') == NULL) {
			libcurl.slist_free_all(list);
			return PC_EINVAL;
		}
		l = libcurl.slist_append(list, lines[i]);
		if (l == NULL) {
			libcurl.slist_free_all(list);
			return PC_ENOMEM;
		}
		list = l;
	}
	*out = list;
	return PC_OK;
}

enum pc_err httpc_do(const struct httpc_request *req, struct httpc_response *resp)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct httpc_transfer t = { .req = req, .resp = resp };
	struct curl_slist *headers = NULL;
	CURLcode rc;
	CURL *c = NULL;
	enum pc_err err;

	resp->status = 0;
	resp->error[0] = '\0';
	buf_init(&resp->body, req->response_max);
	if (req->method == NULL || req->method[0] == '\0' || strpbrk(req->method, " \r\n") != NULL) {
		snprintf(resp->error, sizeof(resp->error), "bad method");
		return PC_EINVAL;
	}
	err = httpc_global_init();
	if (err != PC_OK) {
		snprintf(resp->error, sizeof(resp->error), "libcurl unavailable (see the log)");
		return err;
	}
	err = httpc_headers(req->headers, &headers);
	if (err != PC_OK) {
		snprintf(resp->error, sizeof(resp->error), "%s",
			 err == PC_EINVAL ? "a header line holds CR or LF, or no colon"
					  : pc_strerror(err));
		return err;
	}
	c = libcurl.easy_init();
	if (c == NULL) {
		snprintf(resp->error, sizeof(resp->error), "out of memory");
		err = PC_ENOMEM;
		goto out_free;
	}
	httpc_curl_setup(c, req->timeout_s, errbuf, "http,https", &req->cancel);
	libcurl.easy_setopt(c, CURLOPT_URL, req->url);
	libcurl.easy_setopt(c, CURLOPT_USERAGENT, "portcullis");
	libcurl.easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	libcurl.easy_setopt(c, CURLOPT_WRITEFUNCTION, httpc_write);
	libcurl.easy_setopt(c, CURLOPT_WRITEDATA, &t);
	if (req->body != NULL) {
		libcurl.easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
		libcurl.easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	}
	if (strcmp(req->method, "HEAD") == 0)
		libcurl.easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(req->method, "GET") != 0 || req->body != NULL)
		libcurl.easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	rc = libcurl.easy_perform(c);
	if (rc != CURLE_OK && t.toobig) {
		snprintf(resp->error, sizeof(resp->error), "response body over %zu bytes",
			 req->response_max);
		err = PC_ETOOBIG;
	} else if (rc != CURLE_OK) {
		err = httpc_curl_error(rc, errbuf, resp->error, sizeof(resp->error));
	} else {
		libcurl.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	}
out_free:
	libcurl.slist_free_all(headers);
	libcurl.easy_cleanup(c);
	return err;
}

void httpc_response_release(struct httpc_response *resp)
{
	buf_release(&resp->body);
}
