/*
 * ceiling.c - the benchmark's ceiling: a bare libmicrohttpd server.
 *
 * It answers every request with one fixed 80-byte JSON body (200,
 * Content-Type: application/json) and does nothing else: no routing, no
 * parsing, no logging. It runs as portcullis' own server does
 * (src/http/server.c): one daemon per thread (--threads), each with its own
 * listening socket on the same address (SO_REUSEADDR, SO_REUSEPORT, backlog
 * 4 096) so that the kernel spreads the connections over the threads, and
 * its own epoll set, run by its own thread that polls the set and then calls
 * MHD_run() (not MHD's internal polling thread: see server.c for the
 * connections it leaves waiting); suspend/resume allowed, the same connection
 * limit (4 096 in all, each daemon its share: enough for 1 000 open
 * connections), idle timeout (30 s) and per-connection memory pool
 * (16 KiB); keep them in step with server_daemon_start. What wrk measures
 * against it is the most this machine gives for one HTTP request;
 * bench/run divides the server's figures by it.
 *
 * Invariants: the response is made once and shared by every thread (MHD
 * reference-counts it); the body is exactly CEILING_BODY_LEN bytes.
 *
 *   pc-ceiling [--host 127.0.0.1] [--port 8099] [--threads N] [--connections N]
 *
 * Runs until SIGINT or SIGTERM.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <microhttpd.h>

#define CEILING_BODY_LEN 80
#define CEILING_BACKLOG 4096
#define CEILING_THREADS_MAX 1024

/* 80 bytes: the size of a small /users/me-like answer. */
static const char ceiling_body[] =
	"{\"id\":\"01928c1e-7b6a-7c3d-9e2f-0a1b2c3d4e5f\",\"email\":\"user@example.org\",\"ok\":10}";

_Static_assert(sizeof(ceiling_body) - 1 == CEILING_BODY_LEN, "the ceiling body is 80 bytes");

/* One thread's daemon; stop_fd, shared, becomes readable at the stop. */
struct ceiling_lane {
	struct MHD_Daemon *d;
	int epoll_fd;
	int stop_fd;
	pthread_t thread;
};

struct ceiling_opts {
	const char *host;
	unsigned port;
	unsigned threads;
	unsigned connections;
};

/* Marks a request seen once: MHD's first call brings the headers only; the
 * answer is queued on a later call, once any body has been drained, as the
 * server does (queueing on the first call makes MHD close the connection). */
static int ceiling_seen;

static enum MHD_Result ceiling_answer(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version,
				      const char *upload_data, size_t *upload_data_size,
				      void **con_cls)
{
	struct MHD_Response *resp = cls;

	if (*con_cls == NULL) {          /* headers only: MHD calls again */
		*con_cls = &ceiling_seen;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0;   /* discard the body */
		return MHD_YES;
	}
	return MHD_queue_response(conn, MHD_HTTP_OK, resp);
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static void usage(FILE *out)
{
	fputs("usage: pc-ceiling [--host ADDR] [--port N] [--threads N] [--connections N]\n"
	      "  answers every request with a fixed 80-byte JSON body; SIGINT/SIGTERM stops it\n"
	      "  --threads 0 (default) = number of CPUs\n", out);
}

static int parse_args(int argc, char **argv, struct ceiling_opts *o)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (v == NULL)
			return -1;
		if (strcmp(a, "--host") == 0)
			o->host = v;
		else if (strcmp(a, "--port") == 0) {
			if (parse_uint(v, 65535, &o->port) != 0)
				return -1;
		} else if (strcmp(a, "--threads") == 0) {
			if (parse_uint(v, 1024, &o->threads) != 0)
				return -1;
		} else if (strcmp(a, "--connections") == 0) {
			if (parse_uint(v, 1000000, &o->connections) != 0 || o->connections == 0)
				return -1;
		} else
			return -1;
		i++;
	}
	return 0;
}

/* A listening socket on addr, non-blocking, in the port's SO_REUSEPORT
 * group; -1 on failure (errno set). */
static int ceiling_listen(const struct sockaddr_in *addr)
{
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
	    bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0 ||
	    listen(fd, CEILING_BACKLOG) != 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* The thread of one daemon: the loop of src/http/server.c's lanes. */
static void *ceiling_lane_main(void *arg)
{
	struct ceiling_lane *l = arg;
	struct pollfd p[2] = { { .fd = l->epoll_fd, .events = POLLIN },
			       { .fd = l->stop_fd, .events = POLLIN } };
	MHD_UNSIGNED_LONG_LONG t;
	int ms;

	for (;;) {
		ms = -1;
		if (MHD_get_timeout(l->d, &t) == MHD_YES)
			ms = t < INT_MAX ? (int)t : INT_MAX;
		if (poll(p, 2, ms) > 0 && (p[1].revents & POLLIN))
			return NULL;
		MHD_run(l->d);
	}
}

int main(int argc, char **argv)
{
	struct ceiling_opts o = { "127.0.0.1", 8099, 0, 4096 };
	static struct ceiling_lane lanes[CEILING_THREADS_MAX];
	const union MHD_DaemonInfo *di;
	uint64_t one = 1;
	struct sockaddr_in addr;
	struct MHD_Response *resp;
	unsigned i, per;
	sigset_t sigs;
	int sig, fd, stop_fd;

	if (parse_args(argc, argv, &o) != 0) {
		usage(stderr);
		return 2;
	}
	if (o.threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		o.threads = n > 0 ? (unsigned)n : 1;
	}
	if (o.threads > CEILING_THREADS_MAX)
		o.threads = CEILING_THREADS_MAX;
	per = o.connections / o.threads > 0 ? o.connections / o.threads : 1;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((unsigned short)o.port);
	if (inet_pton(AF_INET, o.host, &addr.sin_addr) != 1) {
		fprintf(stderr, "pc-ceiling: --host must be an IPv4 address: %s\n", o.host);
		return 2;
	}

	/* Block the stop signals in every thread; main waits for them below. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	resp = MHD_create_response_from_buffer(CEILING_BODY_LEN, (void *)ceiling_body,
					       MHD_RESPMEM_PERSISTENT);
	if (resp == NULL || MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
						    "application/json") != MHD_YES) {
		fputs("pc-ceiling: cannot make the response\n", stderr);
		return 1;
	}

	stop_fd = eventfd(0, EFD_CLOEXEC);
	if (stop_fd < 0) {
		perror("pc-ceiling: eventfd");
		return 1;
	}
	for (i = 0; i < o.threads; i++) {
		struct ceiling_lane *l = &lanes[i];

		fd = ceiling_listen(&addr);
		if (fd < 0) {
			fprintf(stderr, "pc-ceiling: cannot listen on %s:%u: %s\n", o.host, o.port,
				strerror(errno));
			return 1;
		}
		l->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
					0, NULL, NULL, ceiling_answer, resp,
					MHD_OPTION_LISTEN_SOCKET, fd,
					MHD_OPTION_CONNECTION_LIMIT, per,
					MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
					MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
					MHD_OPTION_END);
		di = l->d != NULL ? MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
		l->epoll_fd = di != NULL ? di->epoll_fd : -1;
		l->stop_fd = stop_fd;
		if (l->epoll_fd < 0 || pthread_create(&l->thread, NULL, ceiling_lane_main, l) != 0) {
			fprintf(stderr, "pc-ceiling: cannot start daemon %u on %s:%u\n", i, o.host,
				o.port);
			return 1;
		}
	}
	printf("pc-ceiling: listening on %s:%u, %u threads\n", o.host, o.port, o.threads);
	fflush(stdout);

	while (sigwait(&sigs, &sig) != 0)
		;
	if (write(stop_fd, &one, sizeof(one)) != sizeof(one))
		return 1;
	for (i = 0; i < o.threads; i++) {
		pthread_join(lanes[i].thread, NULL);
		MHD_stop_daemon(lanes[i].d);
	}
	close(stop_fd);
	MHD_destroy_response(resp);
	return 0;
}
