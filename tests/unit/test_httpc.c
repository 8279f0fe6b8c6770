/* The outbound HTTP client against a real listener on 127.0.0.1
 * (http_listener.h). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "helpers.h"
#include "http_listener.h"

Test(httpc, a_post_sends_method_headers_and_body_and_reads_status_and_body)
{
	struct listener *l = listener_start("HTTP/1.1 201 Created\r\nContent-Length: 11\r\n"
					    "Connection: close\r\n\r\n{\"ok\":true}", false);
	const char *headers[] = { "Content-Type: application/json", "X-Sig: abc", NULL };
	struct httpc_request req = { .method = "POST", .headers = headers, .body = "{\"a\":1}",
				     .body_len = 7, .timeout_s = 5, .response_max = 100 };
	struct httpc_response resp;
	char url[64];

	url_of(l, "/hooks/x?y=1", url, sizeof(url));
	req.url = url;
	cr_assert_eq(httpc_do(&req, &resp), PC_OK, "%s", resp.error);
	cr_assert_eq(resp.status, 201);
	cr_assert_eq(resp.body.len, 11);
	cr_assert_str_eq(resp.body.data, "{\"ok\":true}");
	httpc_response_release(&resp);
	listener_wait(l);
	cr_assert_eq(strncmp(l->req, "POST /hooks/x?y=1 HTTP/1.1\r\n", 28), 0, "%s", l->req);
	listener_free(l);
}

Test(httpc, the_request_carries_its_headers_and_body)
{
	struct listener *l = listener_start("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
					    false);
	const char *headers[] = { "Content-Type: application/json", "X-Sig: abc", NULL };
	struct httpc_request req = { .method = "PUT", .headers = headers, .body = "{\"a\":1}",
				     .body_len = 7, .timeout_s = 5, .response_max = 0 };
	struct httpc_response resp;
	const char *seen;
	char url[64];

	url_of(l, "/r", url, sizeof(url));
	req.url = url;
	cr_assert_eq(httpc_do(&req, &resp), PC_OK, "%s", resp.error);
	cr_assert_eq(resp.status, 204);
	httpc_response_release(&resp);
	listener_wait(l);
	seen = l->req;
	cr_assert_eq(strncmp(seen, "PUT /r HTTP/1.1\r\n", 17), 0, "%s", seen);
	cr_assert_not_null(strstr(seen, "\r\nContent-Type: application/json\r\n"), "%s", seen);
	cr_assert_not_null(strstr(seen, "\r\nX-Sig: abc\r\n"));
	cr_assert_not_null(strstr(seen, "\r\nUser-Agent: portcullis\r\n"));
	cr_assert_not_null(strstr(seen, "\r\nContent-Length: 7\r\n"));
	cr_assert(strlen(seen) > 11 && strcmp(seen + strlen(seen) - 11, "\r\n\r\n{\"a\":1}") == 0,
		  "%s", seen);
	listener_free(l);
}

Test(httpc, a_response_body_over_the_limit_is_refused)
{
	struct listener *l = listener_start("HTTP/1.1 200 OK\r\nContent-Length: 26\r\n"
					    "Connection: close\r\n\r\nabcdefghijklmnopqrstuvwxyz", false);
	struct httpc_request req = { .method = "GET", .timeout_s = 5, .response_max = 10 };
	struct httpc_response resp;
	char url[64];

	url_of(l, "/", url, sizeof(url));
	req.url = url;
	cr_assert_eq(httpc_do(&req, &resp), PC_ETOOBIG);
	cr_assert_leq(resp.body.len, 10);
	cr_assert_not_null(strstr(resp.error, "over 10 bytes"), "%s", resp.error);
	httpc_response_release(&resp);
	listener_free(l);
}

Test(httpc, a_header_with_cr_or_lf_is_refused_before_anything_is_sent)
{
	static const char *const bad[] = { "X-A: 1\r\nX-Evil: 2", "X-A: 1\nX-Evil: 2", "X-A: 1\r",
					   "no colon" };
	struct httpc_request req = { .method = "POST", .url = "http://127.0.0.1:9/", .body = "x",
				     .body_len = 1, .timeout_s = 5 };
	struct httpc_response resp;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *headers[] = { "Content-Type: text/plain", bad[i], NULL };

		req.headers = headers;
		cr_assert_eq(httpc_do(&req, &resp), PC_EINVAL, "%s", bad[i]);
		httpc_response_release(&resp);
	}
	req.headers = NULL;
	req.method = "GET\r\nX: y";
	cr_assert_eq(httpc_do(&req, &resp), PC_EINVAL);
	httpc_response_release(&resp);
}

Test(httpc, a_refused_connection_or_another_scheme_fails_with_the_reason)
{
	struct httpc_request req = { .method = "GET", .timeout_s = 5 };
	struct httpc_response resp;
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", test_closed_port());
	req.url = url;
	cr_assert_eq(httpc_do(&req, &resp), PC_EINTERNAL);
	cr_assert_eq(resp.status, 0);
	cr_assert_not_null(strstr(resp.error, "onnect"), "%s", resp.error);
	httpc_response_release(&resp);
	req.url = "file:///etc/passwd";
	cr_assert_eq(httpc_do(&req, &resp), PC_EINTERNAL);
	cr_assert_eq(resp.body.len, 0);
	httpc_response_release(&resp);
}

Test(httpc, a_silent_server_times_out)
{
	struct listener *l = listener_start(NULL, true);
	struct httpc_request req = { .method = "GET", .timeout_s = 1 };
	struct httpc_response resp;
	struct timespec t0, t1;
	char url[64];

	url_of(l, "/", url, sizeof(url));
	req.url = url;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(httpc_do(&req, &resp), PC_EINTERNAL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert_lt(t1.tv_sec - t0.tv_sec, 4);
	cr_assert_not_null(strstr(resp.error, "imeout"), "%s", resp.error);
	httpc_response_release(&resp);
	listener_free(l);
}

static atomic_bool stop_now;

static bool stopping(void *arg)
{
	(void)arg;
	return atomic_load(&stop_now);
}

static void *stop_later(void *arg)
{
	(void)arg;
	usleep(300000);
	atomic_store(&stop_now, true);
	return NULL;
}

Test(httpc, the_cancel_hook_aborts_a_transfer_in_flight, .timeout = 30)
{
	struct listener *l = listener_start(NULL, true);
	struct httpc_request req = { .method = "GET", .timeout_s = 60,
				     .cancel = { .fn = stopping, .arg = NULL } };
	struct httpc_response resp;
	struct timespec t0, t1;
	pthread_t t;
	char url[64];

	url_of(l, "/", url, sizeof(url));
	req.url = url;
	atomic_store(&stop_now, false);
	cr_assert_eq(pthread_create(&t, NULL, stop_later, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(httpc_do(&req, &resp), PC_EBUSY);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_join(t, NULL);
	cr_assert_lt(t1.tv_sec - t0.tv_sec, 5, "stopped without waiting for the timeout");
	httpc_response_release(&resp);
	listener_free(l);
}
