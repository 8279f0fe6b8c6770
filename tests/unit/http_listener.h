/*
 * http_listener.h - a real HTTP listener on 127.0.0.1 for the unit tests of
 * outbound HTTP: a thread that takes one connection, records the request
 * (head and Content-Length body) and answers what the test set, or nothing
 * at all (silent: it reads until the client gives up, or 20 s).
 */
#ifndef PC_TEST_HTTP_LISTENER_H
#define PC_TEST_HTTP_LISTENER_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct listener {
	int lfd;
	int port;
	bool silent;          /* accept, read, never answer */
	const char *answer;   /* the whole response */
	pthread_t thread;
	char req[1 << 16];    /* the request as it came */
	size_t len;
	bool joined;
};

/* Bytes of the request head + Content-Length body once both are in, or 0. */
static inline size_t request_complete(const char *p, size_t n)
{
	const char *end = memmem(p, n, "\r\n\r\n", 4);
	const char *cl;
	size_t head, body = 0;

	if (end == NULL)
		return 0;
	head = (size_t)(end - p) + 4;
	cl = strcasestr(p, "\r\nContent-Length:");
	if (cl != NULL && cl < end)
		body = strtoul(cl + 17, NULL, 10);
	return n >= head + body ? head + body : 0;
}

static inline void *listener_main(void *arg)
{
	struct listener *l = arg;
	int fd = accept(l->lfd, NULL, NULL);
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (fd < 0)
		return NULL;
	while (request_complete(l->req, l->len) == 0 && l->len < sizeof(l->req) - 1 &&
	       poll(&p, 1, l->silent ? 20000 : 5000) == 1) {
		ssize_t got = read(fd, l->req + l->len, sizeof(l->req) - 1 - l->len);

		if (got <= 0)
			break;
		l->len += (size_t)got;
	}
	l->req[l->len] = '\0';
	if (l->silent) { /* until the client gives up (or 20 s) */
		char sink[256];

		while (poll(&p, 1, 20000) == 1 && read(fd, sink, sizeof(sink)) > 0)
			;
	} else {
		ssize_t n = write(fd, l->answer, strlen(l->answer));

		(void)n;
	}
	close(fd);
	return NULL;
}

static inline struct listener *listener_start(const char *answer, bool silent)
{
	struct listener *l = calloc(1, sizeof(*l));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	cr_assert_not_null(l);
	l->answer = answer;
	l->silent = silent;
	l->lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(bind(l->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(l->lfd, 4), 0);
	cr_assert_eq(getsockname(l->lfd, (struct sockaddr *)&a, &len), 0);
	l->port = ntohs(a.sin_port);
	cr_assert_eq(pthread_create(&l->thread, NULL, listener_main, l), 0);
	return l;
}

/* Waits for the listener's one exchange to end: l->req is complete after. */
static inline void listener_wait(struct listener *l)
{
	if (!l->joined)
		pthread_join(l->thread, NULL);
	l->joined = true;
}

static inline void listener_free(struct listener *l)
{
	shutdown(l->lfd, SHUT_RDWR);
	close(l->lfd);
	listener_wait(l);
	free(l);
}

static inline void url_of(const struct listener *l, const char *path, char *out, size_t outsz)
{
	snprintf(out, outsz, "http://127.0.0.1:%d%s", l->port, path);
}

#endif
