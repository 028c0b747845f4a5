/*
 * bare_mhd — the upper bound for the broker's HTTP data plane.
 *
 * A libmicrohttpd responder that does no work: it reads the whole request body and answers
 * POST with 201 and an empty body, anything else with 200 "ok". It runs MHD in the threading
 * mode the broker uses (internal polling threads, epoll, a thread pool), so lzload against it
 * measures what the HTTP layer alone can do on this machine.
 *
 * usage: bare_mhd PORT [THREADS]
 *   PORT     TCP port on 127.0.0.1; 0 picks a free one. The bound port is printed as
 *            "port=N" on stdout once the daemon listens.
 *   THREADS  MHD_OPTION_THREAD_POOL_SIZE (default 2)
 * SIGTERM or SIGINT stop the daemon and exit 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_POOL_THREADS 256

/* Per-request marker: the first handler call only sees the headers and must not answer yet. */
static int g_request_started;

static struct MHD_Response *g_created;    /* 201, empty body */
static struct MHD_Response *g_ok;         /* 200, "ok" */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	(void)cls;
	(void)url;
	(void)version;
	(void)upload_data;
	if (*req_cls == NULL) {
		*req_cls = &g_request_started;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		/* Discard the body chunk; MHD calls again with more or with size 0 at the end. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	bool is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
	return MHD_queue_response(connection, is_post ? MHD_HTTP_CREATED : MHD_HTTP_OK,
				  is_post ? g_created : g_ok);
}

static unsigned long parse_arg(const char *s, unsigned long min, unsigned long max, const char *what)
{
	errno = 0;
	char *end = NULL;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "bare_mhd: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: bare_mhd PORT [THREADS]\n");
		return 2;
	}
	unsigned port = (unsigned)parse_arg(argv[1], 0, 65535, "port");
	unsigned threads = argc == 3 ? (unsigned)parse_arg(argv[2], 1, MAX_POOL_THREADS, "thread count") : 2u;

	/* Block the stop signals before MHD starts its threads so they inherit the mask and only
	 * sigwait() below receives them. */
	sigset_t stop_signals;
	if (sigemptyset(&stop_signals) != 0 || sigaddset(&stop_signals, SIGTERM) != 0 ||
	    sigaddset(&stop_signals, SIGINT) != 0) {
		perror("bare_mhd: sigset");
		return 1;
	}
	int rc = pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	if (rc != 0) {
		fprintf(stderr, "bare_mhd: pthread_sigmask: %s\n", strerror(rc));
		return 1;
	}
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		perror("bare_mhd: signal(SIGPIPE)");
		return 1;
	}

	g_created = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	g_ok = MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
	if (!g_created || !g_ok) {
		fprintf(stderr, "bare_mhd: cannot create responses\n");
		return 1;
	}

	struct sockaddr_in addr;
	memset(&addr, 0, sizeof addr);
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	/* MHD warns about (and ignores) a pool of one: then its single internal thread serves all. */
	struct MHD_OptionItem options[] = {
		{ MHD_OPTION_SOCK_ADDR, 0, &addr },
		{ MHD_OPTION_CONNECTION_LIMIT, 10000, NULL },
		{ threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (intptr_t)threads, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	struct MHD_Daemon *daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL,
		on_request, NULL, MHD_OPTION_ARRAY, options, MHD_OPTION_END);
	if (!daemon) {
		fprintf(stderr, "bare_mhd: cannot start the daemon on 127.0.0.1:%u\n", port);
		return 1;
	}

	const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (!info || info->port == 0) {
		fprintf(stderr, "bare_mhd: cannot read the bound port\n");
		MHD_stop_daemon(daemon);
		return 1;
	}
	if (printf("port=%u\n", (unsigned)info->port) < 0 || fflush(stdout) != 0) {
		perror("bare_mhd: stdout");
		MHD_stop_daemon(daemon);
		return 1;
	}

	int sig = 0;
	rc = sigwait(&stop_signals, &sig);
	if (rc != 0)
		fprintf(stderr, "bare_mhd: sigwait: %s\n", strerror(rc));

	MHD_stop_daemon(daemon);
	MHD_destroy_response(g_created);
	MHD_destroy_response(g_ok);
	return rc == 0 ? 0 : 1;
}
