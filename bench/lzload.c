/*
 * lzload — HTTP/1.1 load generator for the broker's data plane.
 *
 * One process, T worker threads. Each worker owns an epoll instance and a share of the
 * connections; every connection is a non-blocking keep-alive socket with exactly one request
 * in flight. Responses are parsed by a minimal HTTP/1.1 parser (status line, a few headers,
 * Content-Length, chunked and read-until-close bodies, 1xx interim responses).
 *
 * Modes:
 *   send      POST /{entity}/messages, octet-stream body of --body-size bytes, expects 201
 *   batch     POST /{entity}/messages, JSON array of --batch messages, expects 201
 *   peeklock  POST /{entity}/messages/head?timeout=0 (201 + Location, or 204 = empty), then
 *             DELETE <Location path>, expects 200; one pair = one message
 *   get       GET <url path>, expects 200
 *
 * Every run is bounded in time (--duration) and optionally in count (--max-requests). The
 * result is one machine-readable line on stdout; see bench/README.md for the fields.
 * Only loopback targets are accepted: this tool is for benchmarking a local emulator.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- limits ---------------------------------------------------------------------------- */

#define MAX_CONNECTIONS 20000
#define MAX_THREADS 64
#define MAX_BODY_SIZE (64u * 1024u * 1024u)
#define MAX_BATCH 10000
#define MAX_REQUEST_BYTES (512u * 1024u * 1024u)
#define MAX_DURATION_SECS 86400.0
#define MAX_EXTRA_HEADERS 16
#define MAX_HEADER_BLOCK (64u * 1024u)     /* a response header block larger than this is an error */
#define READ_BUF_INITIAL (16u * 1024u)
#define MAX_EVENTS 256
#define MAX_CONSECUTIVE_ERRORS 8           /* a connection failing this often in a row is retired */
#define MAX_ERROR_REPORTS 5                /* only the first few errors are printed to stderr */
#define ERRBODY_MAX 200                    /* bytes of an unexpected response body kept for the report */
#define LOCATION_MAX 1024
#define EPOLL_TICK_MS 100                  /* upper bound on one epoll_wait, so the deadline is checked */

/* ---- options ----------------------------------------------------------------------------- */

enum bench_mode { MODE_SEND, MODE_BATCH, MODE_PEEKLOCK, MODE_GET };

static const char *const mode_names[] = { "send", "batch", "peeklock", "get" };

struct options {
	enum bench_mode mode;
	uint16_t port;
	char url_path[1024];       /* path of --url; used by get mode only */
	char entity[256];
	unsigned connections;
	unsigned threads;
	double duration_secs;
	uint64_t max_requests;     /* 0 = no cap */
	size_t body_size;
	unsigned batch;
	const char *extra_headers[MAX_EXTRA_HEADERS];
	unsigned n_extra_headers;
};

static struct options g_opt;

/* ---- shared run state (read-only after start, except the atomics) ---------------------------- */

static char *g_main_request;          /* the prebuilt request of the mode (the lock request in peeklock) */
static size_t g_main_request_len;
static char g_host_header[64];        /* "127.0.0.1:PORT" */
static char g_extra_header_block[4096];
static uint64_t g_start_ns;
static uint64_t g_deadline_ns;
static atomic_uint_fast64_t g_tickets;    /* operations started, for --max-requests */
static atomic_uint g_error_reports;
static volatile sig_atomic_t g_stop;      /* set by SIGINT/SIGTERM: stop early, still print results */

/* ---- small helpers ---------------------------------------------------------------------------- */

static void die(const char *what)
{
	fprintf(stderr, "lzload: %s: %s\n", what, strerror(errno));
	exit(2);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		die("clock_gettime");
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fprintf(stderr, "lzload: out of memory (%zu bytes)\n", n);
		exit(2);
	}
	return p;
}

/* Print one error to stderr unless MAX_ERROR_REPORTS were printed already (all threads). */
__attribute__((format(printf, 1, 2))) static void report_error(const char *fmt, ...)
{
	unsigned n = atomic_fetch_add(&g_error_reports, 1);
	if (n >= MAX_ERROR_REPORTS) {
		if (n == MAX_ERROR_REPORTS)
			fprintf(stderr, "lzload: further errors are counted but not printed\n");
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	fputs("lzload: error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Claim one operation under --max-requests; false when the cap is reached. */
static bool take_ticket(void)
{
	if (g_opt.max_requests == 0)
		return true;
	return atomic_fetch_add(&g_tickets, 1) < g_opt.max_requests;
}

/* ---- latency histogram -------------------------------------------------------------------
 * Log-linear buckets over microseconds: values below 64 get their own bucket, above that each
 * power of two is split into 32 buckets, so a bucket is at most ~3 % wide. Values beyond
 * 2^45 us are clamped into the last bucket. */

#define HIST_LINEAR 64u
#define HIST_HALF 32u
#define HIST_MAX_SHIFT 40u
#define HIST_BUCKETS (HIST_MAX_SHIFT * HIST_HALF + HIST_LINEAR)

struct histogram {
	uint64_t count;
	uint64_t sum_us;
	uint64_t max_us;
	uint64_t buckets[HIST_BUCKETS];
};

static unsigned hist_index(uint64_t v)
{
	if (v < HIST_LINEAR)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - 5u;             /* leaves a mantissa in [32, 63] */
	if (shift > HIST_MAX_SHIFT)
		return HIST_BUCKETS - 1u;
	unsigned mantissa = (unsigned)(v >> shift);
	return shift * HIST_HALF + mantissa;
}

/* The largest value that falls into bucket `idx`. */
static uint64_t hist_upper(unsigned idx)
{
	if (idx < HIST_LINEAR)
		return idx;
	unsigned shift = idx / HIST_HALF - 1u;
	uint64_t mantissa = idx % HIST_HALF + HIST_HALF;
	return ((mantissa + 1u) << shift) - 1u;
}

static void hist_record(struct histogram *h, uint64_t us)
{
	h->count++;
	h->sum_us += us;
	if (us > h->max_us)
		h->max_us = us;
	h->buckets[hist_index(us)]++;
}

static void hist_merge(struct histogram *into, const struct histogram *from)
{
	into->count += from->count;
	into->sum_us += from->sum_us;
	if (from->max_us > into->max_us)
		into->max_us = from->max_us;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		into->buckets[i] += from->buckets[i];
}

/* Value at percentile `p` (0..100): the upper bound of the bucket holding that rank,
 * never more than the observed maximum. */
static uint64_t hist_percentile(const struct histogram *h, double p)
{
	if (h->count == 0)
		return 0;
	uint64_t rank = (uint64_t)(p / 100.0 * (double)h->count + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			uint64_t v = hist_upper(i);
			return v < h->max_us ? v : h->max_us;
		}
	}
	return h->max_us;
}

/* ---- connections ---------------------------------------------------------------------------- */

enum conn_state {
	CONN_IDLE,        /* no socket; about to connect */
	CONN_CONNECTING,  /* non-blocking connect in progress */
	CONN_OPEN,        /* connected; a request is being written or its response read */
	CONN_RETIRED,     /* done: out of time, out of tickets or too many errors */
};

enum req_kind { REQ_MAIN, REQ_DELETE };

/* Response parser phases; the CHUNK_* ones are the chunked-body state machine. */
enum resp_phase {
	PH_HEADERS,
	PH_BODY_LENGTH,
	PH_BODY_UNTIL_CLOSE,
	PH_CHUNK_SIZE,
	PH_CHUNK_EXT,
	PH_CHUNK_DATA,
	PH_CHUNK_DATA_CR,
	PH_CHUNK_DATA_LF,
	PH_CHUNK_TRAILER,
	PH_DONE,
};

enum parse_result { PARSE_MORE, PARSE_DONE, PARSE_ERROR };

struct stats {
	uint64_t responses;   /* final (non-1xx) responses received */
	uint64_t ok;          /* operations completed as expected (peeklock: lock+delete pairs) */
	uint64_t msgs;        /* messages moved by those operations */
	uint64_t errors;      /* unexpected statuses, protocol errors, socket errors */
	uint64_t non2xx;      /* responses whose status is not 2xx (also counted in errors) */
	uint64_t empty;       /* peeklock: 204 No Content answers (queue empty) */
	uint64_t connects;    /* TCP connections established */
};

struct worker;

struct conn {
	struct worker *w;
	unsigned index;             /* position in the worker's array; part of the epoll token */
	uint32_t generation;        /* bumped on every close, so stale epoll events are ignored */
	int fd;
	enum conn_state state;
	uint32_t registered;        /* epoll events currently registered */
	unsigned consecutive_errors;

	/* request being written */
	enum req_kind kind;
	const char *wbuf;
	size_t wlen;
	size_t woff;
	bool in_flight;
	uint64_t req_start_ns;
	bool delete_pending;        /* peeklock: the lock succeeded, the DELETE is next */
	char delete_request[LOCATION_MAX + 512];
	size_t delete_request_len;

	/* response being read */
	char *rbuf;
	size_t rcap;
	size_t rlen;
	size_t rpos;                /* bytes of rbuf already consumed by the parser */
	size_t header_scan;         /* where the search for the end of the header block resumes */
	bool response_started;      /* any byte of the current response received */
	enum resp_phase phase;
	uint64_t body_left;
	uint64_t chunk_size;
	unsigned chunk_digits;
	size_t trailer_line_len;
	int status;
	int http_minor;
	bool close_after;
	bool have_location;
	char status_line[128];
	char location_path[LOCATION_MAX];
	char errbody[ERRBODY_MAX + 1];
	size_t errbody_len;
};

struct worker {
	unsigned id;
	pthread_t thread;
	int epfd;
	struct conn *conns;
	unsigned n_conns;
	unsigned live;              /* connections not yet retired */
	uint64_t end_ns;
	struct stats stats;
	struct histogram hist;
};

static void conn_start(struct conn *c);
static void conn_next_request(struct conn *c);

static uint64_t epoll_token(const struct conn *c)
{
	return ((uint64_t)c->generation << 32) | c->index;
}

static void conn_set_events(struct conn *c, uint32_t events)
{
	if (c->registered == events)
		return;
	struct epoll_event ev = { .events = events, .data.u64 = epoll_token(c) };
	if (epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0)
		die("epoll_ctl(MOD)");
	c->registered = events;
}

/* Close the socket (if any). The epoll registration goes away with the descriptor. */
static void conn_close(struct conn *c)
{
	if (c->fd >= 0) {
		if (close(c->fd) != 0 && errno != EINTR)
			die("close");
		c->fd = -1;
	}
	c->generation++;
	c->registered = 0;
	c->in_flight = false;
	c->delete_pending = false;
	c->rlen = c->rpos = 0;
	c->state = CONN_IDLE;
}

static void conn_retire(struct conn *c)
{
	if (c->state == CONN_RETIRED)
		return;
	conn_close(c);
	c->state = CONN_RETIRED;
	c->w->live--;
}

/* Count a failure on this connection, drop the socket and reconnect (or retire). */
static void conn_fail(struct conn *c)
{
	c->w->stats.errors++;
	c->consecutive_errors++;
	conn_close(c);
	conn_start(c);
}

static void parser_reset(struct conn *c)
{
	c->phase = PH_HEADERS;
	c->header_scan = c->rpos;
	c->response_started = false;
	c->status = 0;
	c->http_minor = 1;
	c->close_after = false;
	c->have_location = false;
	c->body_left = 0;
	c->status_line[0] = '\0';
	c->errbody_len = 0;
}

/* The status code that means success for the request in flight. */
static int expected_status(const struct conn *c)
{
	if (c->kind == REQ_DELETE)
		return 200;
	switch (g_opt.mode) {
	case MODE_SEND:
	case MODE_BATCH:
	case MODE_PEEKLOCK:
		return 201;
	case MODE_GET:
		return 200;
	}
	return 200;
}

static const char *request_name(const struct conn *c)
{
	if (c->kind == REQ_DELETE)
		return "DELETE (complete)";
	switch (g_opt.mode) {
	case MODE_SEND:
		return "POST messages (send)";
	case MODE_BATCH:
		return "POST messages (batch)";
	case MODE_PEEKLOCK:
		return "POST messages/head (peek-lock)";
	case MODE_GET:
		return "GET";
	}
	return "request";
}

/* Keep the first bytes of an unexpected response body for the error report. */
static void keep_errbody(struct conn *c, const char *p, size_t n)
{
	if (c->status == expected_status(c) || (c->kind == REQ_MAIN && g_opt.mode == MODE_PEEKLOCK && c->status == 204))
		return;
	size_t room = ERRBODY_MAX - c->errbody_len;
	if (n > room)
		n = room;
	memcpy(c->errbody + c->errbody_len, p, n);
	c->errbody_len += n;
	c->errbody[c->errbody_len] = '\0';
}

/* ---- response header parsing ------------------------------------------------------------- */

static bool header_name_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

/* Case-insensitive search for token `want` inside the header value [v, v+len). */
static bool value_contains(const char *v, size_t len, const char *want)
{
	size_t wl = strlen(want);
	for (size_t i = 0; i + wl <= len; i++)
		if (strncasecmp(v + i, want, wl) == 0)
			return true;
	return false;
}

/* Store the path of a Location header value: an absolute URL loses its scheme and authority. */
static bool store_location(struct conn *c, const char *v, size_t len)
{
	const char *end = v + len;
	const char *p = v;
	const char *scheme = memmem(v, len, "://", 3);
	if (scheme) {
		p = memchr(scheme + 3, '/', (size_t)(end - (scheme + 3)));
		if (!p)
			return false;
	}
	if (p >= end || *p != '/')
		return false;
	size_t n = (size_t)(end - p);
	if (n >= sizeof c->location_path)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] <= ' ' || (unsigned char)p[i] >= 0x7f)
			return false;
	memcpy(c->location_path, p, n);
	c->location_path[n] = '\0';
	c->have_location = true;
	return true;
}

/* Parse the header block [h, h+len) (ending before the blank line). Sets status, framing and
 * the few headers we care about. Returns false on a malformed block. */
static bool parse_header_block(struct conn *c, const char *h, size_t len)
{
	const char *end = h + len;
	const char *eol = memmem(h, len, "\r\n", 2);
	if (!eol)
		eol = end;
	size_t sl_len = (size_t)(eol - h);
	size_t keep = sl_len < sizeof c->status_line - 1 ? sl_len : sizeof c->status_line - 1;
	memcpy(c->status_line, h, keep);
	c->status_line[keep] = '\0';

	/* "HTTP/1.x SSS reason" */
	if (sl_len < 12 || memcmp(h, "HTTP/1.", 7) != 0 || (h[7] != '0' && h[7] != '1') || h[8] != ' ')
		return false;
	for (int i = 9; i < 12; i++)
		if (h[i] < '0' || h[i] > '9')
			return false;
	if (sl_len > 12 && h[12] != ' ')
		return false;
	c->http_minor = h[7] - '0';
	c->status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
	c->close_after = c->http_minor == 0;   /* HTTP/1.0 closes unless it says keep-alive */

	bool have_length = false;
	bool chunked = false;
	uint64_t length = 0;
	const char *line = eol < end ? eol + 2 : end;
	while (line < end) {
		const char *le = memmem(line, (size_t)(end - line), "\r\n", 2);
		if (!le)
			le = end;
		const char *colon = memchr(line, ':', (size_t)(le - line));
		if (!colon || colon == line)
			return false;
		size_t name_len = (size_t)(colon - line);
		const char *v = colon + 1;
		const char *ve = le;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		size_t vlen = (size_t)(ve - v);

		if (header_name_is(line, name_len, "Content-Length")) {
			if (vlen == 0)
				return false;
			uint64_t n = 0;
			for (size_t i = 0; i < vlen; i++) {
				if (v[i] < '0' || v[i] > '9' || n > (UINT64_MAX - 9) / 10)
					return false;
				n = n * 10 + (uint64_t)(v[i] - '0');
			}
			if (have_length && n != length)
				return false;
			have_length = true;
			length = n;
		} else if (header_name_is(line, name_len, "Transfer-Encoding")) {
			if (value_contains(v, vlen, "chunked"))
				chunked = true;
		} else if (header_name_is(line, name_len, "Connection")) {
			if (value_contains(v, vlen, "close"))
				c->close_after = true;
			else if (value_contains(v, vlen, "keep-alive"))
				c->close_after = false;
		} else if (header_name_is(line, name_len, "Location")) {
			if (!store_location(c, v, vlen)) {
				c->have_location = false;
			}
		}
		line = le < end ? le + 2 : end;
	}

	/* Body framing (RFC 9112 section 6.3, minus the request-method cases we never send). */
	if (c->status < 200 || c->status == 204 || c->status == 304) {
		c->phase = PH_DONE;
	} else if (chunked) {
		c->phase = PH_CHUNK_SIZE;
		c->chunk_size = 0;
		c->chunk_digits = 0;
	} else if (have_length) {
		c->body_left = length;
		c->phase = length ? PH_BODY_LENGTH : PH_DONE;
	} else {
		c->phase = PH_BODY_UNTIL_CLOSE;
		c->close_after = true;
	}
	return true;
}

static int hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Consume as much of rbuf[rpos, rlen) as the current response needs. */
static enum parse_result parse_response(struct conn *c)
{
	for (;;) {
		const char *p = c->rbuf + c->rpos;
		size_t avail = c->rlen - c->rpos;

		switch (c->phase) {
		case PH_HEADERS: {
			/* Resume the search a few bytes back so a terminator split across reads is found. */
			size_t from = c->header_scan > c->rpos + 3 ? c->header_scan - 3 : c->rpos;
			const char *hit = memmem(c->rbuf + from, c->rlen - from, "\r\n\r\n", 4);
			if (!hit) {
				c->header_scan = c->rlen;
				if (avail > MAX_HEADER_BLOCK) {
					report_error("response header block larger than %u bytes", MAX_HEADER_BLOCK);
					return PARSE_ERROR;
				}
				return PARSE_MORE;
			}
			size_t block = (size_t)(hit - p);
			if (!parse_header_block(c, p, block)) {
				report_error("malformed response header block after %s (status line \"%s\")",
					request_name(c), c->status_line);
				return PARSE_ERROR;
			}
			c->rpos += block + 4;
			if (c->status >= 100 && c->status < 200) {
				/* Interim response (100 Continue, 103 Early Hints): skip it and read on.
				 * 101 would switch protocols, which we never ask for. */
				if (c->status == 101) {
					report_error("unexpected 101 Switching Protocols");
					return PARSE_ERROR;
				}
				c->phase = PH_HEADERS;
				c->header_scan = c->rpos;
				continue;
			}
			if (c->phase == PH_DONE)
				return PARSE_DONE;
			continue;
		}
		case PH_BODY_LENGTH: {
			size_t take = avail < c->body_left ? avail : (size_t)c->body_left;
			keep_errbody(c, p, take);
			c->rpos += take;
			c->body_left -= take;
			if (c->body_left == 0) {
				c->phase = PH_DONE;
				return PARSE_DONE;
			}
			return PARSE_MORE;
		}
		case PH_BODY_UNTIL_CLOSE:
			keep_errbody(c, p, avail);
			c->rpos += avail;
			return PARSE_MORE;   /* completed by EOF in conn_on_readable */
		case PH_CHUNK_DATA: {
			size_t take = avail < c->body_left ? avail : (size_t)c->body_left;
			keep_errbody(c, p, take);
			c->rpos += take;
			c->body_left -= take;
			if (c->body_left > 0)
				return PARSE_MORE;
			c->phase = PH_CHUNK_DATA_CR;
			continue;
		}
		case PH_CHUNK_SIZE:
		case PH_CHUNK_EXT:
		case PH_CHUNK_DATA_CR:
		case PH_CHUNK_DATA_LF:
		case PH_CHUNK_TRAILER: {
			/* Byte-at-a-time states: the framing lines are short. */
			if (avail == 0)
				return PARSE_MORE;
			char ch = *p;
			c->rpos++;
			if (c->phase == PH_CHUNK_SIZE) {
				int hv = hex_value(ch);
				if (hv >= 0) {
					if (c->chunk_digits >= 15) {
						report_error("chunk size too large");
						return PARSE_ERROR;
					}
					c->chunk_size = c->chunk_size * 16u + (uint64_t)hv;
					c->chunk_digits++;
				} else if (ch == ';' || ch == ' ' || ch == '\t') {
					c->phase = PH_CHUNK_EXT;
				} else if (ch == '\r') {
					/* wait for the LF */
				} else if (ch == '\n') {
					goto chunk_size_line_done;
				} else {
					report_error("malformed chunk size line");
					return PARSE_ERROR;
				}
			} else if (c->phase == PH_CHUNK_EXT) {
				if (ch == '\n')
					goto chunk_size_line_done;
			} else if (c->phase == PH_CHUNK_DATA_CR) {
				if (ch == '\r')
					c->phase = PH_CHUNK_DATA_LF;
				else if (ch == '\n')
					goto next_chunk;
				else {
					report_error("chunk data not followed by CRLF");
					return PARSE_ERROR;
				}
			} else if (c->phase == PH_CHUNK_DATA_LF) {
				if (ch != '\n') {
					report_error("chunk data not followed by CRLF");
					return PARSE_ERROR;
				}
				goto next_chunk;
			} else { /* PH_CHUNK_TRAILER: lines until an empty one */
				if (ch == '\n') {
					if (c->trailer_line_len == 0) {
						c->phase = PH_DONE;
						return PARSE_DONE;
					}
					c->trailer_line_len = 0;
				} else if (ch != '\r') {
					c->trailer_line_len++;
				}
			}
			continue;
		chunk_size_line_done:
			if (c->chunk_digits == 0) {
				report_error("chunk size line without a size");
				return PARSE_ERROR;
			}
			if (c->chunk_size == 0) {
				c->phase = PH_CHUNK_TRAILER;
				c->trailer_line_len = 0;
			} else {
				c->phase = PH_CHUNK_DATA;
				c->body_left = c->chunk_size;
			}
			continue;
		next_chunk:
			c->phase = PH_CHUNK_SIZE;
			c->chunk_size = 0;
			c->chunk_digits = 0;
			continue;
		}
		case PH_DONE:
			return PARSE_DONE;
		}
	}
}

/* ---- request / response cycle --------------------------------------------------------------- */

/* Write as much of the current request as the socket takes. */
static void conn_write(struct conn *c)
{
	while (c->woff < c->wlen) {
		ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
		if (n > 0) {
			c->woff += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* Also keep EPOLLIN: the server may answer (e.g. 413) before taking the whole body. */
			conn_set_events(c, EPOLLIN | EPOLLOUT);
			return;
		}
		report_error("send: %s", n < 0 ? strerror(errno) : "wrote nothing");
		conn_fail(c);
		return;
	}
	conn_set_events(c, EPOLLIN);
}

/* Handle one complete response: statistics, then the next request on this connection. */
static void conn_on_response(struct conn *c)
{
	struct worker *w = c->w;
	uint64_t now = now_ns();
	hist_record(&w->hist, (now - c->req_start_ns) / 1000u);
	w->stats.responses++;
	c->in_flight = false;
	if (c->status < 200 || c->status > 299)
		w->stats.non2xx++;

	bool ok = false;
	bool empty = false;
	const char *problem = NULL;
	if (c->kind == REQ_DELETE) {
		ok = c->status == 200;
		if (ok) {
			w->stats.ok++;
			w->stats.msgs++;
		}
	} else if (g_opt.mode == MODE_PEEKLOCK) {
		if (c->status == 201) {
			if (!c->have_location) {
				problem = "201 without a usable Location header";
			} else {
				int n = snprintf(c->delete_request, sizeof c->delete_request,
					"DELETE %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\n%s\r\n",
					c->location_path, g_host_header, g_extra_header_block);
				if (n < 0 || (size_t)n >= sizeof c->delete_request) {
					problem = "Location too long";
				} else {
					c->delete_request_len = (size_t)n;
					c->delete_pending = true;
					ok = true;
				}
			}
		} else if (c->status == 204) {
			empty = true;
			w->stats.empty++;
		}
	} else {
		ok = c->status == expected_status(c);
		if (ok) {
			w->stats.ok++;
			w->stats.msgs += g_opt.mode == MODE_BATCH ? g_opt.batch : 1u;
		}
	}

	if (ok || empty) {
		c->consecutive_errors = 0;
	} else {
		w->stats.errors++;
		c->consecutive_errors++;
		if (problem)
			report_error("%s: %s (status line \"%s\")", request_name(c), problem, c->status_line);
		else
			report_error("%s: expected %d, got \"%s\"%s%s", request_name(c), expected_status(c),
				c->status_line, c->errbody_len ? " body: " : "", c->errbody);
	}

	if (c->rpos != c->rlen) {
		report_error("server sent %zu bytes beyond the response", c->rlen - c->rpos);
		conn_fail(c);
		return;
	}
	c->rlen = c->rpos = 0;

	if (c->close_after || c->woff < c->wlen) {
		/* The server closes (or answered before reading our whole request): new socket. */
		bool keep_delete = c->delete_pending;
		conn_close(c);
		c->delete_pending = keep_delete;
		conn_start(c);
		return;
	}
	if (c->consecutive_errors >= MAX_CONSECUTIVE_ERRORS) {
		conn_retire(c);
		return;
	}
	conn_next_request(c);
}

/* Start the next request on an open connection, or retire it when time or tickets ran out. */
static void conn_next_request(struct conn *c)
{
	uint64_t now = now_ns();
	if (g_stop || now >= g_deadline_ns) {
		conn_retire(c);
		return;
	}
	if (c->delete_pending) {
		/* peeklock: the DELETE completes the operation whose lock took the ticket */
		c->delete_pending = false;
		c->kind = REQ_DELETE;
		c->wbuf = c->delete_request;
		c->wlen = c->delete_request_len;
	} else {
		if (!take_ticket()) {
			conn_retire(c);
			return;
		}
		c->kind = REQ_MAIN;
		c->wbuf = g_main_request;
		c->wlen = g_main_request_len;
	}
	c->woff = 0;
	c->in_flight = true;
	c->req_start_ns = now;
	parser_reset(c);
	conn_write(c);
}

static void conn_on_readable(struct conn *c)
{
	for (;;) {
		/* Make room: drop consumed bytes, grow only while a header block is incomplete. */
		if (c->rpos == c->rlen) {
			c->rpos = c->rlen = 0;
			c->header_scan = 0;
		} else if (c->rlen == c->rcap && c->rpos > 0) {
			memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
			c->rlen -= c->rpos;
			c->header_scan = c->header_scan > c->rpos ? c->header_scan - c->rpos : 0;
			c->rpos = 0;
		}
		if (c->rlen == c->rcap) {
			if (c->rcap >= 2 * MAX_HEADER_BLOCK) {
				report_error("response header block larger than %u bytes", MAX_HEADER_BLOCK);
				conn_fail(c);
				return;
			}
			char *bigger = realloc(c->rbuf, c->rcap * 2);
			if (!bigger) {
				fprintf(stderr, "lzload: out of memory\n");
				exit(2);
			}
			c->rbuf = bigger;
			c->rcap *= 2;
		}

		size_t room = c->rcap - c->rlen;
		ssize_t n = recv(c->fd, c->rbuf + c->rlen, room, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (c->in_flight)
				report_error("recv during %s: %s", request_name(c), strerror(errno));
			else
				report_error("recv: %s", strerror(errno));
			conn_fail(c);
			return;
		}
		if (n == 0) {
			/* EOF: completes a read-until-close body; anything else in flight is lost. */
			if (c->in_flight && c->phase == PH_BODY_UNTIL_CLOSE) {
				c->close_after = true;
				conn_on_response(c);
				return;
			}
			if (c->in_flight) {
				report_error("connection closed by the server during %s (%s)", request_name(c),
					c->response_started ? "response incomplete" : "no response");
				conn_fail(c);
				return;
			}
			conn_close(c);
			conn_start(c);
			return;
		}
		c->rlen += (size_t)n;
		if (!c->in_flight) {
			report_error("server sent %zd bytes with no request outstanding", n);
			conn_fail(c);
			return;
		}
		c->response_started = true;

		enum parse_result r = parse_response(c);
		if (r == PARSE_ERROR) {
			conn_fail(c);
			return;
		}
		if (r == PARSE_DONE) {
			conn_on_response(c);
			return;
		}
		if ((size_t)n < room)
			return;   /* the socket is most likely drained; level-triggered epoll tells us if not */
	}
}

/* Open a socket and connect; on an immediate failure try again until the connection is
 * retired by MAX_CONSECUTIVE_ERRORS. */
static void conn_start(struct conn *c)
{
	for (;;) {
		if (c->state == CONN_RETIRED)
			return;
		if (g_stop || c->consecutive_errors >= MAX_CONSECUTIVE_ERRORS || now_ns() >= g_deadline_ns) {
			conn_retire(c);
			return;
		}
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die("socket");
		int one = 1;
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
			die("setsockopt(TCP_NODELAY)");
		c->fd = fd;
		c->rlen = c->rpos = 0;

		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(g_opt.port) };
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		int rc = connect(fd, (const struct sockaddr *)&sa, sizeof sa);
		if (rc != 0 && errno != EINPROGRESS) {
			report_error("connect to 127.0.0.1:%u: %s", (unsigned)g_opt.port, strerror(errno));
			c->w->stats.errors++;
			c->consecutive_errors++;
			conn_close(c);
			continue;
		}
		c->state = rc == 0 ? CONN_OPEN : CONN_CONNECTING;
		c->registered = rc == 0 ? EPOLLIN : EPOLLOUT;
		struct epoll_event ev = { .events = c->registered, .data.u64 = epoll_token(c) };
		if (epoll_ctl(c->w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
			die("epoll_ctl(ADD)");
		if (rc == 0) {
			c->w->stats.connects++;
			conn_next_request(c);
		}
		return;
	}
}

/* The non-blocking connect finished, successfully or not. */
static void conn_on_connected(struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		die("getsockopt(SO_ERROR)");
	if (err != 0) {
		report_error("connect to 127.0.0.1:%u: %s", (unsigned)g_opt.port, strerror(err));
		conn_fail(c);
		return;
	}
	c->state = CONN_OPEN;
	c->w->stats.connects++;
	conn_set_events(c, EPOLLIN);
	conn_next_request(c);
}

static void conn_on_event(struct conn *c, uint32_t events)
{
	uint32_t gen = c->generation;
	if (c->state == CONN_CONNECTING) {
		conn_on_connected(c);
		return;
	}
	if (c->state != CONN_OPEN)
		return;
	if ((events & EPOLLOUT) && c->woff < c->wlen)
		conn_write(c);
	if (c->generation != gen || c->state != CONN_OPEN)
		return;   /* the write failed and the socket was replaced */
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		conn_on_readable(c);
}

/* ---- workers --------------------------------------------------------------------------------- */

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		die("epoll_create1");
	w->live = w->n_conns;
	for (unsigned i = 0; i < w->n_conns; i++)
		conn_start(&w->conns[i]);

	struct epoll_event events[MAX_EVENTS];
	while (w->live > 0 && !g_stop) {
		uint64_t now = now_ns();
		if (now >= g_deadline_ns)
			break;
		uint64_t left_ms = (g_deadline_ns - now) / 1000000u + 1u;
		int timeout = left_ms < EPOLL_TICK_MS ? (int)left_ms : EPOLL_TICK_MS;
		int n = epoll_wait(w->epfd, events, MAX_EVENTS, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			uint64_t token = events[i].data.u64;
			unsigned idx = (unsigned)(token & 0xffffffffu);
			uint32_t gen = (uint32_t)(token >> 32);
			if (idx >= w->n_conns)
				continue;
			struct conn *c = &w->conns[idx];
			if (c->generation != gen)
				continue;   /* event for a socket this connection has since replaced */
			conn_on_event(c, events[i].events);
		}
	}
	/* Out of time (or all connections retired): in-flight requests are abandoned. */
	uint64_t end = now_ns();
	w->end_ns = end < g_deadline_ns ? end : g_deadline_ns;
	for (unsigned i = 0; i < w->n_conns; i++) {
		if (w->conns[i].fd >= 0)
			conn_close(&w->conns[i]);
	}
	if (close(w->epfd) != 0)
		die("close(epoll)");
	return NULL;
}

/* ---- request building ---------------------------------------------------------------------- */

/* One element of a batch body is BATCH_HEAD <body-size payload bytes> BATCH_TAIL. */
static const char BATCH_HEAD[] = "{\"Body\":\"";
static const char BATCH_TAIL[] = "\",\"BrokerProperties\":{\"Label\":\"b\"}}";

/* Fill `dst` with `n` printable bytes that are safe inside a JSON string. */
static void fill_payload(char *dst, size_t n)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	for (size_t i = 0; i < n; i++)
		dst[i] = alphabet[(i * 7u + i / 61u) % (sizeof alphabet - 1)];
}

static void build_main_request(void)
{
	const struct options *o = &g_opt;
	const char *method = "POST";
	char path[1400];
	const char *content_type = NULL;
	size_t body_len = 0;
	int n;

	switch (o->mode) {
	case MODE_SEND:
		n = snprintf(path, sizeof path, "/%s/messages", o->entity);
		content_type = "application/octet-stream";
		body_len = o->body_size;
		break;
	case MODE_BATCH: {
		/* [{"Body":"<body>","BrokerProperties":{"Label":"b"}}, ...] */
		size_t element = sizeof BATCH_HEAD - 1 + o->body_size + sizeof BATCH_TAIL - 1;
		body_len = 2 + (size_t)o->batch * element + (size_t)(o->batch - 1);
		n = snprintf(path, sizeof path, "/%s/messages", o->entity);
		content_type = "application/vnd.microsoft.servicebus.json";
		break;
	}
	case MODE_PEEKLOCK:
		n = snprintf(path, sizeof path, "/%s/messages/head?timeout=0", o->entity);
		break;
	case MODE_GET:
	default:
		method = "GET";
		n = snprintf(path, sizeof path, "%s", o->url_path);
		break;
	}
	if (n < 0 || (size_t)n >= sizeof path) {
		fprintf(stderr, "lzload: request path too long\n");
		exit(2);
	}
	if (body_len > MAX_REQUEST_BYTES) {
		fprintf(stderr, "lzload: request body of %zu bytes is too large\n", body_len);
		exit(2);
	}

	char head[8192];
	int hn;
	if (o->mode == MODE_GET) {
		hn = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", method, path,
			g_host_header, g_extra_header_block);
	} else if (content_type) {
		hn = snprintf(head, sizeof head,
			"%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n",
			method, path, g_host_header, content_type, body_len, g_extra_header_block);
	} else {
		hn = snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\n%s\r\n",
			method, path, g_host_header, g_extra_header_block);
	}
	if (hn < 0 || (size_t)hn >= sizeof head) {
		fprintf(stderr, "lzload: request head too long\n");
		exit(2);
	}

	g_main_request_len = (size_t)hn + body_len;
	g_main_request = xmalloc(g_main_request_len);
	memcpy(g_main_request, head, (size_t)hn);
	char *b = g_main_request + hn;
	if (o->mode == MODE_SEND) {
		fill_payload(b, body_len);
	} else if (o->mode == MODE_BATCH) {
		*b++ = '[';
		for (unsigned i = 0; i < o->batch; i++) {
			if (i > 0)
				*b++ = ',';
			memcpy(b, BATCH_HEAD, sizeof BATCH_HEAD - 1);
			b += sizeof BATCH_HEAD - 1;
			fill_payload(b, o->body_size);
			b += o->body_size;
			memcpy(b, BATCH_TAIL, sizeof BATCH_TAIL - 1);
			b += sizeof BATCH_TAIL - 1;
		}
		*b++ = ']';
		if ((size_t)(b - g_main_request) != g_main_request_len) {
			fprintf(stderr, "lzload: internal error: batch body length mismatch\n");
			exit(2);
		}
	}
}

/* ---- option parsing -------------------------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: lzload --url http://127.0.0.1:PORT[/path] [options]\n"
		"  --mode send|batch|peeklock|get   workload (default send)\n"
		"  --entity NAME            queue or topic path (default bench)\n"
		"  --connections N          keep-alive connections (default 64)\n"
		"  --threads T              worker threads, each with its own epoll (default 1)\n"
		"  --duration SECONDS       run time (default 5)\n"
		"  --max-requests N         stop after N operations (default 0 = no cap)\n"
		"  --body-size BYTES        message body size (default 1024)\n"
		"  --batch N                messages per batch request (default 100)\n"
		"  --header 'Name: value'   extra request header (repeatable, up to %d)\n"
		"Only 127.0.0.1 / localhost targets are accepted. The URL path is used by --mode get only.\n",
		MAX_EXTRA_HEADERS);
}

static void bad_option(const char *msg, const char *value)
{
	fprintf(stderr, "lzload: %s: '%s'\n", msg, value);
	usage(stderr);
	exit(2);
}

static uint64_t parse_uint(const char *s, uint64_t min, uint64_t max, const char *what)
{
	if (!s || *s < '0' || *s > '9')
		bad_option(what, s ? s : "");
	errno = 0;
	char *end = NULL;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		bad_option(what, s);
	return (uint64_t)v;
}

/* Accept only http://127.0.0.1[:port][/path] or http://localhost[:port][/path]. */
static void parse_url(const char *url)
{
	static const char scheme[] = "http://";
	if (strncasecmp(url, scheme, sizeof scheme - 1) != 0)
		bad_option("--url must start with http://", url);
	const char *host = url + sizeof scheme - 1;
	size_t host_len = strcspn(host, ":/");
	if (!((host_len == 9 && strncmp(host, "127.0.0.1", 9) == 0) ||
	      (host_len == 9 && strncasecmp(host, "localhost", 9) == 0)))
		bad_option("--url host must be 127.0.0.1 or localhost", url);
	const char *p = host + host_len;
	unsigned port = 80;
	if (*p == ':') {
		p++;
		size_t digits = strspn(p, "0123456789");
		if (digits == 0 || digits > 5)
			bad_option("--url has a bad port", url);
		char buf[8];
		memcpy(buf, p, digits);
		buf[digits] = '\0';
		port = (unsigned)parse_uint(buf, 1, 65535, "--url has a bad port");
		p += digits;
	}
	if (*p != '\0' && *p != '/')
		bad_option("--url is malformed", url);
	const char *path = *p ? p : "/";
	if (strlen(path) >= sizeof g_opt.url_path)
		bad_option("--url path too long", url);
	for (const char *q = path; *q; q++)
		if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f)
			bad_option("--url path has a space or control character", url);
	g_opt.port = (uint16_t)port;
	strcpy(g_opt.url_path, path);
}

static void parse_options(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "mode", required_argument, NULL, 'm' },
		{ "entity", required_argument, NULL, 'e' },
		{ "connections", required_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, 't' },
		{ "duration", required_argument, NULL, 'd' },
		{ "max-requests", required_argument, NULL, 'n' },
		{ "body-size", required_argument, NULL, 's' },
		{ "batch", required_argument, NULL, 'b' },
		{ "header", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	g_opt.mode = MODE_SEND;
	strcpy(g_opt.entity, "bench");
	g_opt.connections = 64;
	g_opt.threads = 1;
	g_opt.duration_secs = 5.0;
	g_opt.max_requests = 0;
	g_opt.body_size = 1024;
	g_opt.batch = 100;
	bool have_url = false;

	int ch;
	while ((ch = getopt_long(argc, argv, "u:m:e:c:t:d:n:s:b:H:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			parse_url(optarg);
			have_url = true;
			break;
		case 'm': {
			bool found = false;
			for (unsigned i = 0; i < sizeof mode_names / sizeof mode_names[0]; i++) {
				if (strcmp(optarg, mode_names[i]) == 0) {
					g_opt.mode = (enum bench_mode)i;
					found = true;
				}
			}
			if (!found)
				bad_option("unknown --mode", optarg);
			break;
		}
		case 'e':
			if (optarg[0] == '\0' || strlen(optarg) >= sizeof g_opt.entity ||
			    strspn(optarg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~-/$") !=
				    strlen(optarg))
				bad_option("--entity must be a non-empty path of [A-Za-z0-9._~-/$]", optarg);
			strcpy(g_opt.entity, optarg);
			break;
		case 'c':
			g_opt.connections = (unsigned)parse_uint(optarg, 1, MAX_CONNECTIONS, "bad --connections");
			break;
		case 't':
			g_opt.threads = (unsigned)parse_uint(optarg, 1, MAX_THREADS, "bad --threads");
			break;
		case 'd': {
			errno = 0;
			char *end = NULL;
			double d = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' || !(d > 0.0) || d > MAX_DURATION_SECS)
				bad_option("bad --duration (seconds, > 0)", optarg);
			g_opt.duration_secs = d;
			break;
		}
		case 'n':
			g_opt.max_requests = parse_uint(optarg, 0, UINT64_MAX / 2, "bad --max-requests");
			break;
		case 's':
			g_opt.body_size = (size_t)parse_uint(optarg, 0, MAX_BODY_SIZE, "bad --body-size");
			break;
		case 'b':
			g_opt.batch = (unsigned)parse_uint(optarg, 1, MAX_BATCH, "bad --batch");
			break;
		case 'H':
			if (g_opt.n_extra_headers >= MAX_EXTRA_HEADERS)
				bad_option("too many --header options", optarg);
			if (!strchr(optarg, ':') || optarg[0] == ':' || strpbrk(optarg, "\r\n"))
				bad_option("--header must be 'Name: value' on one line", optarg);
			g_opt.extra_headers[g_opt.n_extra_headers++] = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc)
		bad_option("unexpected argument", argv[optind]);
	if (!have_url)
		bad_option("--url is required", "");
	if (g_opt.mode != MODE_GET && strcmp(g_opt.url_path, "/") != 0)
		bad_option("the --url path is only used by --mode get; use --entity", g_opt.url_path);
	if (g_opt.threads > g_opt.connections)
		g_opt.threads = g_opt.connections;
}

/* Make sure every connection gets a descriptor; raise the soft limit if that suffices. */
static void ensure_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		die("getrlimit(RLIMIT_NOFILE)");
	rlim_t need = (rlim_t)g_opt.connections + (rlim_t)g_opt.threads + 32u;
	if (rl.rlim_cur >= need)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		fprintf(stderr, "lzload: %u connections need %llu descriptors, hard limit is %llu\n",
			g_opt.connections, (unsigned long long)need, (unsigned long long)rl.rlim_max);
		exit(2);
	}
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		die("setrlimit(RLIMIT_NOFILE)");
}

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0)
		die("sigaction(SIGPIPE)");
	sa.sa_handler = on_signal;
	if (sigemptyset(&sa.sa_mask) != 0)
		die("sigemptyset");
	if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
		die("sigaction");
}

int main(int argc, char **argv)
{
	parse_options(argc, argv);
	ensure_fd_limit();
	install_signals();

	int hh = snprintf(g_host_header, sizeof g_host_header, "127.0.0.1:%u", (unsigned)g_opt.port);
	if (hh < 0 || (size_t)hh >= sizeof g_host_header)
		die("snprintf");
	size_t used = 0;
	for (unsigned i = 0; i < g_opt.n_extra_headers; i++) {
		int n = snprintf(g_extra_header_block + used, sizeof g_extra_header_block - used, "%s\r\n",
			g_opt.extra_headers[i]);
		if (n < 0 || (size_t)n >= sizeof g_extra_header_block - used) {
			fprintf(stderr, "lzload: --header values too long\n");
			return 2;
		}
		used += (size_t)n;
	}
	build_main_request();

	/* Split the connections over the workers as evenly as possible. */
	struct worker *workers = xmalloc(sizeof *workers * g_opt.threads);
	memset(workers, 0, sizeof *workers * g_opt.threads);
	for (unsigned t = 0; t < g_opt.threads; t++) {
		struct worker *w = &workers[t];
		w->id = t;
		w->n_conns = g_opt.connections / g_opt.threads + (t < g_opt.connections % g_opt.threads ? 1u : 0u);
		w->conns = xmalloc(sizeof *w->conns * w->n_conns);
		memset(w->conns, 0, sizeof *w->conns * w->n_conns);
		for (unsigned i = 0; i < w->n_conns; i++) {
			struct conn *c = &w->conns[i];
			c->w = w;
			c->index = i;
			c->fd = -1;
			c->state = CONN_IDLE;
			c->rcap = READ_BUF_INITIAL;
			c->rbuf = xmalloc(c->rcap);
		}
	}

	g_start_ns = now_ns();
	g_deadline_ns = g_start_ns + (uint64_t)(g_opt.duration_secs * 1e9);
	for (unsigned t = 0; t < g_opt.threads; t++) {
		int rc = pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]);
		if (rc != 0) {
			errno = rc;
			die("pthread_create");
		}
	}

	struct stats total = { 0 };
	struct histogram *hist = xmalloc(sizeof *hist);
	memset(hist, 0, sizeof *hist);
	uint64_t end_ns = g_start_ns;
	for (unsigned t = 0; t < g_opt.threads; t++) {
		int rc = pthread_join(workers[t].thread, NULL);
		if (rc != 0) {
			errno = rc;
			die("pthread_join");
		}
		struct worker *w = &workers[t];
		total.responses += w->stats.responses;
		total.ok += w->stats.ok;
		total.msgs += w->stats.msgs;
		total.errors += w->stats.errors;
		total.non2xx += w->stats.non2xx;
		total.empty += w->stats.empty;
		total.connects += w->stats.connects;
		hist_merge(hist, &w->hist);
		if (w->end_ns > end_ns)
			end_ns = w->end_ns;
	}

	double secs = (double)(end_ns - g_start_ns) / 1e9;
	if (secs <= 0.0)
		secs = 1e-9;
	printf("mode=%s conns=%u threads=%u secs=%.2f reqs=%" PRIu64 " ok=%" PRIu64 " rate=%.1f/s"
	       " msgs=%" PRIu64 " msgs_rate=%.1f/s errors=%" PRIu64 " non2xx=%" PRIu64 " empty=%" PRIu64
	       " connects=%" PRIu64 " p50_us=%" PRIu64 " p90_us=%" PRIu64 " p99_us=%" PRIu64
	       " max_us=%" PRIu64 "\n",
		mode_names[g_opt.mode], g_opt.connections, g_opt.threads, secs, total.responses, total.ok,
		(double)total.ok / secs, total.msgs, (double)total.msgs / secs, total.errors, total.non2xx,
		total.empty, total.connects, hist_percentile(hist, 50.0), hist_percentile(hist, 90.0),
		hist_percentile(hist, 99.0), hist->max_us);
	if (fflush(stdout) != 0)
		die("fflush");

	for (unsigned t = 0; t < g_opt.threads; t++) {
		for (unsigned i = 0; i < workers[t].n_conns; i++)
			free(workers[t].conns[i].rbuf);
		free(workers[t].conns);
	}
	free(workers);
	free(hist);
	free(g_main_request);

	if (total.errors > 0 || total.ok == 0)
		return 1;
	return 0;
}
