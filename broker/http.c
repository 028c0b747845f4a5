#include "broker/http.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "broker/atom.h"
#include "broker/brokerprops.h"
#include "broker/entity.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "common/timefmt.h"
#include "common/uuid.h"

#define CT_XML "application/xml; charset=utf-8"
#define CT_ENTRY "application/atom+xml;type=entry;charset=utf-8"
#define CT_FEED "application/atom+xml;type=feed;charset=utf-8"
#define CT_JSON "application/json; charset=utf-8"
#define CT_PROMETHEUS "text/plain; version=0.0.4; charset=utf-8"
#define CT_BATCH "application/vnd.microsoft.servicebus.json"

#define URL_MAX 2048           /* longer request paths are answered 400 */
#define SEG_MAX 64             /* path segments */
#define PATH_LEN 1024          /* an entity path handed to the core */
#define BASE_URL_LEN 320
#define MAX_WAIT_S 86400       /* longest ?timeout= */
#define PEEK_DEFAULT 100
#define PEEK_MAX 10000
#define DEFERRED_MAX 10000
#define EXPIRE_BATCH 32
#define POLL_CHECK_US 250000   /* parked long polls are checked for a client hang-up this often */
#define HEADER_VALUE_STACK 4096
#define BODY_KEEP_BYTES 65536  /* a connection keeps a body buffer up to this size between requests */

/* ---- operations and metrics -------------------------------------------------------------- */

#define HTTP_OPS(X)                                                                           \
	X(OP_UNKNOWN, "unknown")                                                              \
	X(OP_SEND, "send")                                                                    \
	X(OP_SEND_BATCH, "send_batch")                                                        \
	X(OP_PEEK_LOCK, "peek_lock")                                                          \
	X(OP_RECEIVE_DELETE, "receive_delete")                                                \
	X(OP_COMPLETE, "complete")                                                            \
	X(OP_ABANDON, "abandon")                                                              \
	X(OP_RENEW, "renew")                                                                  \
	X(OP_ENTITY_GET, "entity_get")                                                        \
	X(OP_ENTITY_PUT, "entity_put")                                                        \
	X(OP_ENTITY_DELETE, "entity_delete")                                                  \
	X(OP_ENTITY_LIST, "entity_list")                                                      \
	X(OP_RULE_GET, "rule_get")                                                            \
	X(OP_RULE_PUT, "rule_put")                                                            \
	X(OP_RULE_DELETE, "rule_delete")                                                      \
	X(OP_RULE_LIST, "rule_list")                                                          \
	X(OP_NAMESPACE_INFO, "namespace_info")                                                \
	X(OP_DLQ_GET, "dlq_get")                                                              \
	X(OP_EMU_PEEK, "emulator_peek")                                                       \
	X(OP_EMU_DEADLETTER, "emulator_deadletter")                                           \
	X(OP_EMU_DEFER, "emulator_defer")                                                     \
	X(OP_EMU_DEFERRED, "emulator_receive_deferred")                                       \
	X(OP_EMU_SCHEDULE, "emulator_schedule")                                               \
	X(OP_EMU_CANCEL, "emulator_cancel_scheduled")                                         \
	X(OP_EMU_CLOCK_GET, "emulator_clock")                                                 \
	X(OP_EMU_CLOCK_ADVANCE, "emulator_clock_advance")                                     \
	X(OP_EMU_STATE, "emulator_state")                                                     \
	X(OP_HEALTH, "health")                                                                \
	X(OP_METRICS, "metrics")                                                              \
	X(OP_BAD_METHOD, "bad_method")

enum http_op {
#define OP_ENUM(name, text) name,
	HTTP_OPS(OP_ENUM)
#undef OP_ENUM
	OP__COUNT
};

static const char *const op_names[] = {
#define OP_NAME(name, text) text,
	HTTP_OPS(OP_NAME)
#undef OP_NAME
};

/* The statuses the server answers with; anything else is counted as the last slot. */
static const unsigned status_slots[] = { 200, 201, 204, 400, 403, 404, 405, 409, 410, 500, 503 };
#define STATUS_SLOTS (sizeof(status_slots) / sizeof(status_slots[0]) + 1)

/* Latency histogram upper bounds in microseconds; one more bucket is +Inf. */
static const int64_t bucket_us[] = { 100,    250,    500,     1000,    2500,    5000,    10000,  25000,
				      50000,  100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000 };
#define BUCKETS (sizeof(bucket_us) / sizeof(bucket_us[0]) + 1)

struct op_metrics {
	_Atomic uint64_t by_status[STATUS_SLOTS];
	_Atomic uint64_t buckets[BUCKETS]; /* not cumulative; summed when rendered */
	_Atomic uint64_t sum_us;
};

/* ---- server and per-connection state ------------------------------------------------------- */

enum method { M_OTHER, M_GET, M_PUT, M_POST, M_DELETE };

struct http_server;

/*
 * One per connection (MHD's socket context), reused by each request on it. The poll_* fields
 * are shared with the core's waiter callback and the expiry thread: they are read and written
 * under srv->poll_mu. Everything else belongs to the connection's polling thread.
 */
struct http_req {
	struct http_server *srv;
	struct MHD_Connection *conn;

	/* the current request */
	const char *url;           /* MHD's copy, valid for the request */
	int64_t start_us;
	enum http_op op;
	enum method method;
	enum subqueue sq;
	enum entity_kind kind;     /* ENTITY_SUBSCRIPTION for subscription routes, list kind for lists */
	bool update;               /* If-Match present */
	bool wants_body, too_big;
	bool has_topic;            /* OP_ENTITY_LIST of subscriptions: path is the topic */
	char segbuf[URL_MAX];
	const char *id, *lock, *name; /* settle id, lock token, rule name: point into segbuf */
	char path[PATH_LEN];       /* entity path as the core takes it */
	size_t body_len;           /* bytes received, also beyond the cap */
	struct strbuf body;
	struct strbuf scratch;     /* response headers */
	char base_url[BASE_URL_LEN];

	/* a peek-locked message in this request's response: abandoned unless the response got out */
	bool lock_out;
	char lock_token[37];

	/* long poll */
	bool poll_resumed;         /* owner thread: the next handler call finishes the poll */
	enum recv_mode poll_mode;
	struct http_req *poll_prev, *poll_next; /* srv->polls, under poll_mu */
	bool poll_listed, poll_suspended, poll_fired, poll_has_msg;
	uint64_t poll_waiter;
	int64_t poll_deadline_us;
	int poll_fd;               /* the client socket, watched for a hang-up while suspended */
	lz_err poll_err;
	struct msg_out poll_msg;

	/* a response held until persistd confirms its change durable (under poll_mu) */
	bool dur_suspended, dur_fired, dur_durable, dur_resumed;
	struct MHD_Response *dur_resp;
	bool dur_shared;
	unsigned dur_status;
};

struct http_server {
	core *core;
	struct http_config cfg;
	char *host, *namespace_name;
	struct MHD_Daemon *daemon;
	uint16_t port;
	int64_t started_us;
	int64_t started_ms;
	struct MHD_Response *resp_empty[3]; /* 200, 201, 204 with Content-Type and no body */
	struct MHD_Response *resp_health;
	_Atomic unsigned active;     /* requests between their first handler call and completion */

	pthread_mutex_t poll_mu;     /* lock order: core mutex → poll_mu → MHD's own locks */
	struct http_req *polls;      /* parked long polls */
	bool stopping;

	struct op_metrics metrics[OP__COUNT];
};

static bool op_is_data(enum http_op op)
{
	return (op >= OP_SEND && op <= OP_RENEW) || (op >= OP_EMU_PEEK && op <= OP_EMU_CANCEL);
}

static void metrics_record(struct http_server *s, enum http_op op, unsigned status, int64_t us)
{
	struct op_metrics *m = &s->metrics[op];
	size_t slot = STATUS_SLOTS - 1, b = BUCKETS - 1;

	for (size_t i = 0; i < STATUS_SLOTS - 1; i++) {
		if (status_slots[i] == status) {
			slot = i;
			break;
		}
	}
	for (size_t i = 0; i < BUCKETS - 1; i++) {
		if (us <= bucket_us[i]) {
			b = i;
			break;
		}
	}
	atomic_fetch_add_explicit(&m->by_status[slot], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->sum_us, (uint64_t)(us > 0 ? us : 0), memory_order_relaxed);
}

/* ---- status mapping ------------------------------------------------------------------------ */

/*
 * The one table from core errors to HTTP statuses. A missing entity is 410 on the data plane
 * (the REST reference) and 404 on management; on settlement-like calls a missing message is
 * told apart from a missing entity by reply_fail_msg().
 */
static unsigned status_for(lz_err e, bool data_plane)
{
	switch (e) {
	case LZ_OK:
		return 200;
	case LZ_ENOTFOUND:
		return data_plane ? 410 : 404;
	case LZ_ELOCKLOST:
		return 404;
	case LZ_EEXIST:
		return 409;
	case LZ_EINVAL:
	case LZ_ERANGE:
	case LZ_EPARSE:
	case LZ_EIMMUTABLE:
	case LZ_ESTATE:
	case LZ_EUNSUPPORTED:
		return 400;
	case LZ_ETOOBIG:
	case LZ_EQUOTA:
	case LZ_EDISABLED:
		return 403;
	case LZ_EBUSY:
		return 503;
	default:
		return 500;
	}
}

/* ---- replies ------------------------------------------------------------------------------- */

static const char *method_name(enum method m)
{
	static const char *const names[] = { "OTHER", "GET", "PUT", "POST", "DELETE" };

	return names[m];
}

static enum MHD_Result reply_now(struct http_req *q, unsigned status, struct MHD_Response *resp, bool shared,
				 const char *detail);
static enum MHD_Result reply_error(struct http_req *q, unsigned status, const char *detail);

/* journal_client waiter: the change of a held response is durable (or the wait timed out). */
static void durable_on_result(void *arg, bool durable)
{
	struct http_req *q = arg;
	struct http_server *s = q->srv;

	pthread_mutex_lock(&s->poll_mu);
	q->dur_fired = true;
	q->dur_durable = durable;
	if (q->dur_suspended) {
		q->dur_suspended = false;
		MHD_resume_connection(q->conn);
	}
	pthread_mutex_unlock(&s->poll_mu);
}

/* Operations whose answer promises a durable change. Peek-lock (a delivery-count bump whose
 * loss only under-counts) and receive-and-delete (whose loss redelivers: at-least-once) do not
 * wait; neither do reads. */
static bool op_needs_durable(enum http_op op)
{
	switch (op) {
	case OP_PEEK_LOCK:
	case OP_RECEIVE_DELETE:
	case OP_ENTITY_GET:
	case OP_ENTITY_LIST:
	case OP_RULE_GET:
	case OP_RULE_LIST:
	case OP_EMU_PEEK:
	case OP_EMU_STATE:
	case OP_EMU_CLOCK_GET:
	case OP_HEALTH:
	case OP_METRICS:
		return false;
	default:
		return true;
	}
}

/* The held response of `q`, now that its durability wait ended: the response, or 503. */
static enum MHD_Result durable_finish(struct http_req *q)
{
	struct http_server *s = q->srv;
	struct MHD_Response *resp;
	bool durable, shared;
	unsigned status;
	char text[200];

	pthread_mutex_lock(&s->poll_mu);
	resp = q->dur_resp;
	shared = q->dur_shared;
	status = q->dur_status;
	durable = q->dur_durable;
	q->dur_resp = NULL;
	q->dur_fired = false;
	pthread_mutex_unlock(&s->poll_mu);
	if (durable)
		return reply_now(q, status, resp, shared, NULL);
	if (!shared && resp != NULL)
		MHD_destroy_response(resp);
	snprintf(text, sizeof(text), "SubCode=50301. The change was applied but persistd has not confirmed it durable "
		 "within the timeout; it will be stored when persistd is reachable again.");
	return reply_error(q, 503, text);
}

/* Answers `q`: at once, or, when its request committed a change that is not durable yet and the
 * broker runs with durability sync, once persistd has acknowledged it (the connection is
 * suspended meanwhile, no thread waits). */
static enum MHD_Result reply(struct http_req *q, unsigned status, struct MHD_Response *resp, bool shared,
			     const char *detail)
{
	struct http_server *s = q->srv;
	uint64_t lsn = core_thread_lsn();

	if (s->cfg.journal == NULL || status >= 400 || resp == NULL || lsn == 0 || !op_needs_durable(q->op))
		return reply_now(q, status, resp, shared, detail);
	pthread_mutex_lock(&s->poll_mu);
	if (journal_client_wait(s->cfg.journal, lsn, durable_on_result, q)) {
		pthread_mutex_unlock(&s->poll_mu);
		return reply_now(q, status, resp, shared, detail);
	}
	q->dur_resp = resp;
	q->dur_shared = shared;
	q->dur_status = status;
	q->dur_durable = false;
	q->dur_suspended = true;
	q->dur_resumed = true;
	MHD_suspend_connection(q->conn);
	pthread_mutex_unlock(&s->poll_mu);
	return MHD_YES;
}

/* Queues `resp` (NULL: out of memory, the connection is dropped), records metrics and logs. */
static enum MHD_Result reply_now(struct http_req *q, unsigned status, struct MHD_Response *resp, bool shared,
				 const char *detail)
{
	enum MHD_Result r = MHD_NO;
	int64_t us = clock_monotonic_us() - q->start_us;

	if (resp != NULL) {
		r = MHD_queue_response(q->conn, status, resp);
		if (!shared)
			MHD_destroy_response(resp);
	} else {
		status = 500;
		detail = "out of memory";
	}
	metrics_record(q->srv, q->op, status, us);
	if (status >= 400)
		LZ_LOG(status >= 500 ? LOG_WARN : LOG_INFO, "request failed",
		       "method=%s url=\"%s\" op=%s status=%u us=%" PRId64 " detail=\"%s\"", method_name(q->method),
		       q->url, op_names[q->op], status, us, detail != NULL ? detail : "");
	else
		LZ_LOG(LOG_DEBUG, "request", "method=%s url=\"%s\" op=%s status=%u us=%" PRId64,
		       method_name(q->method), q->url, op_names[q->op], status, us);
	return r;
}

static enum MHD_Result reply_empty(struct http_req *q, unsigned status)
{
	struct http_server *s = q->srv;
	struct MHD_Response *resp = status == 201 ? s->resp_empty[1] : status == 204 ? s->resp_empty[2] : s->resp_empty[0];

	return reply(q, status, resp, true, NULL);
}

/* Replies with the contents of `b` (taken over; `b` is left empty). */
static enum MHD_Result reply_buf(struct http_req *q, unsigned status, const char *content_type, struct strbuf *b,
				 const char *detail)
{
	struct MHD_Response *resp;
	size_t len;
	char *data;

	data = strbuf_detach(b, &len);
	if (data == NULL)
		return reply(q, status, NULL, false, detail);
	resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(data);
		return reply(q, status, NULL, false, detail);
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES) {
		MHD_destroy_response(resp);
		resp = NULL;
	}
	return reply(q, status, resp, false, detail);
}

static enum MHD_Result reply_error(struct http_req *q, unsigned status, const char *detail)
{
	struct strbuf b = STRBUF_INIT;
	char tracking[37];

	uuid_generate_str(tracking);
	if (atom_write_error(&b, (int)status, detail, tracking, clock_now(core_clock(q->srv->core))) != LZ_OK) {
		strbuf_release(&b);
		return reply(q, status, NULL, false, detail);
	}
	return reply_buf(q, status, CT_XML, &b, detail);
}

/* The error reply for `e`; the detail text is the core's, or a default naming the entity. */
static enum MHD_Result reply_fail(struct http_req *q, lz_err e, const struct lz_detail *d)
{
	unsigned status = status_for(e, op_is_data(q->op));
	char text[sizeof(d->text) + PATH_LEN];

	if (d != NULL && d->text[0] != '\0')
		return reply_error(q, status, d->text);
	if (e == LZ_ENOTFOUND)
		snprintf(text, sizeof(text), "The messaging entity '%s:%s' could not be found.", q->srv->namespace_name,
			 q->path);
	else
		snprintf(text, sizeof(text), "%s.", err_str(e));
	return reply_error(q, status, text);
}

/*
 * As reply_fail() for calls that address a message (settle, cancel, deferred receive): the core
 * says LZ_ENOTFOUND both for a missing entity (410) and for a missing message (404).
 */
static enum MHD_Result reply_fail_msg(struct http_req *q, lz_err e, const struct lz_detail *d)
{
	struct entity_info info;

	if (e == LZ_ENOTFOUND && core_entity_get(q->srv->core, q->path, &info, NULL) == LZ_OK) {
		entity_info_release(&info);
		return reply_error(q, 404, d != NULL && d->text[0] != '\0' ? d->text : "The message could not be found.");
	}
	return reply_fail(q, e, d);
}

static enum MHD_Result reply_bad(struct http_req *q, const char *detail)
{
	return reply_error(q, 400, detail);
}

/* ---- request helpers ----------------------------------------------------------------------- */

static const char *header(struct http_req *q, const char *name)
{
	return MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, name);
}

static const char *query(struct http_req *q, const char *name)
{
	return MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* Reads query argument `name` as a decimal integer in [0, max]; absent gives `def`. */
static bool query_u64(struct http_req *q, const char *name, uint64_t def, uint64_t max, uint64_t *out)
{
	const char *v = query(q, name);
	char *end;
	unsigned long long n;

	if (v == NULL || v[0] == '\0') {
		*out = def;
		return true;
	}
	if (v[0] < '0' || v[0] > '9')
		return false;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno != 0 || *end != '\0' || n > max)
		return false;
	*out = n;
	return true;
}

/* "http://{Host}" (the Host header when it looks like host[:port], else the bound address). */
static const char *base_url(struct http_req *q)
{
	const char *host = header(q, MHD_HTTP_HEADER_HOST);
	bool ok = host != NULL && host[0] != '\0' && strlen(host) < BASE_URL_LEN - 8;

	for (const char *p = host; ok && *p != '\0'; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		     strchr(".-:[]_", *p) != NULL;
	if (ok)
		snprintf(q->base_url, sizeof(q->base_url), "http://%s", host);
	else if (strchr(q->srv->host, ':') != NULL)
		snprintf(q->base_url, sizeof(q->base_url), "http://[%s]:%u", q->srv->host, q->srv->port);
	else
		snprintf(q->base_url, sizeof(q->base_url), "http://%s:%u", q->srv->host, q->srv->port);
	return q->base_url;
}

static struct atom_ctx atom_ctx_make(struct http_req *q, bool runtime)
{
	struct atom_ctx ctx = {
		.base_url = base_url(q),
		.namespace_name = q->srv->namespace_name,
		.api_version = query(q, "api-version"),
		.now_ms = clock_now(core_clock(q->srv->core)),
		.runtime = runtime,
		.update = q->update,
		.in_feed = false,
	};

	return ctx;
}

struct user_ctx {
	struct proplist *user;
	struct lz_detail *detail;
	lz_err err;
};

static enum MHD_Result user_header(void *arg, enum MHD_ValueKind kind, const char *name, const char *value)
{
	struct user_ctx *u = arg;

	(void)kind;
	u->err = brokerprops_user_from_header(u->user, name, value != NULL ? value : "", u->detail);
	return u->err == LZ_OK ? MHD_YES : MHD_NO;
}

/* A single message from the request: BrokerProperties, Content-Type, user-property headers and
 * the body. On failure `m` is released. */
static lz_err read_message(struct http_req *q, struct msg_in *m, struct lz_detail *d)
{
	const char *bp = header(q, "BrokerProperties");
	const char *ct = header(q, MHD_HTTP_HEADER_CONTENT_TYPE);
	struct user_ctx u = { &m->user, d, LZ_OK };
	lz_err e = LZ_OK;

	if (bp != NULL)
		e = brokerprops_parse(bp, strlen(bp), &m->props, d);
	if (e == LZ_OK && ct != NULL) {
		free(m->props.content_type);
		m->props.content_type = strdup(ct);
		if (m->props.content_type == NULL)
			e = LZ_ENOMEM;
	}
	if (e == LZ_OK) {
		MHD_get_connection_values(q->conn, MHD_HEADER_KIND, user_header, &u);
		e = u.err;
	}
	if (e == LZ_OK) {
		m->body = msg_body_new(q->body.data != NULL ? q->body.data : "", q->body.len);
		if (m->body == NULL)
			e = LZ_ENOMEM;
	}
	if (e != LZ_OK) {
		msg_props_release(&m->props);
		proplist_release(&m->user);
	}
	return e;
}

static void msg_in_release(struct msg_in *m)
{
	msg_props_release(&m->props);
	proplist_release(&m->user);
	msg_body_unref(m->body);
	m->body = NULL;
}

static void server_wake(struct http_server *s)
{
	if (s->cfg.wake != NULL)
		s->cfg.wake(s->cfg.wake_arg);
}

/* ---- routing ------------------------------------------------------------------------------- */

static bool seg_is(const char *seg, const char *word)
{
	return strcasecmp(seg, word) == 0;
}

/* Joins seg[0..n) with '/' into q->path; the segment at `kw` (if < n) is written as the lower-case
 * keyword "subscriptions". False if the path does not fit or is empty. */
static bool path_join(struct http_req *q, char **seg, size_t n, size_t kw)
{
	size_t len = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		const char *s = i == kw ? "subscriptions" : seg[i];
		size_t sl = strlen(s);

		if (len + sl + 2 > sizeof(q->path))
			return false;
		if (i > 0)
			q->path[len++] = '/';
		memcpy(q->path + len, s, sl);
		len += sl;
	}
	q->path[len] = '\0';
	return true;
}

/* A receiver path seg[0..n): strips a trailing $DeadLetterQueue into q->sq. */
static bool receiver_path(struct http_req *q, char **seg, size_t n)
{
	q->sq = SUBQ_MAIN;
	if (n >= 2 && seg_is(seg[n - 1], "$DeadLetterQueue")) {
		q->sq = SUBQ_DLQ;
		n--;
	}
	return path_join(q, seg, n, n >= 3 && seg_is(seg[n - 2], "subscriptions") ? n - 2 : SIZE_MAX);
}

static enum http_op route_emulator(struct http_req *q, char **seg, size_t n)
{
	enum method m = q->method;

	if (n == 1 && seg_is(seg[0], "clock"))
		return m == M_GET ? OP_EMU_CLOCK_GET : OP_BAD_METHOD;
	if (n == 2 && seg_is(seg[0], "clock") && seg_is(seg[1], "advance"))
		return m == M_POST ? OP_EMU_CLOCK_ADVANCE : OP_BAD_METHOD;
	if (n == 1 && seg_is(seg[0], "state"))
		return m == M_GET ? OP_EMU_STATE : OP_BAD_METHOD;
	if (n >= 2 && seg_is(seg[n - 1], "messages") && m == M_GET)
		return receiver_path(q, seg, n - 1) ? OP_EMU_PEEK : OP_UNKNOWN;
	if (n >= 3 && seg_is(seg[n - 2], "messages") && seg_is(seg[n - 1], "deferred") && m == M_POST)
		return receiver_path(q, seg, n - 2) ? OP_EMU_DEFERRED : OP_UNKNOWN;
	if (n >= 3 && seg_is(seg[n - 2], "messages") && seg_is(seg[n - 1], "schedule") && m == M_POST)
		return path_join(q, seg, n - 2, SIZE_MAX) ? OP_EMU_SCHEDULE : OP_UNKNOWN;
	if (n >= 4 && seg_is(seg[n - 3], "messages") && seg_is(seg[n - 2], "scheduled") && m == M_DELETE) {
		q->id = seg[n - 1];
		return path_join(q, seg, n - 3, SIZE_MAX) ? OP_EMU_CANCEL : OP_UNKNOWN;
	}
	if (n >= 5 && seg_is(seg[n - 4], "messages") && m == M_POST &&
	    (seg_is(seg[n - 1], "deadletter") || seg_is(seg[n - 1], "defer"))) {
		q->id = seg[n - 3];
		q->lock = seg[n - 2];
		if (!receiver_path(q, seg, n - 4))
			return OP_UNKNOWN;
		return seg_is(seg[n - 1], "defer") ? OP_EMU_DEFER : OP_EMU_DEADLETTER;
	}
	return OP_UNKNOWN;
}

/* Management routes under a "subscriptions" keyword at seg[k]. */
static enum http_op route_subscriptions(struct http_req *q, char **seg, size_t n, size_t k)
{
	enum method m = q->method;

	if (!path_join(q, seg, k + 2 <= n ? k + 2 : k, k))
		return OP_UNKNOWN;
	q->kind = ENTITY_SUBSCRIPTION;
	if (n == k + 1) {
		q->has_topic = true;
		return m == M_GET ? OP_ENTITY_LIST : OP_BAD_METHOD;
	}
	if (n == k + 2)
		return m == M_GET ? OP_ENTITY_GET : m == M_PUT ? OP_ENTITY_PUT : m == M_DELETE ? OP_ENTITY_DELETE : OP_BAD_METHOD;
	if (n == k + 3)
		return m == M_GET ? OP_RULE_LIST : OP_BAD_METHOD;
	q->name = seg[k + 3];
	return m == M_GET ? OP_RULE_GET : m == M_PUT ? OP_RULE_PUT : m == M_DELETE ? OP_RULE_DELETE : OP_BAD_METHOD;
}

static enum http_op route_parse(struct http_req *q, const char *url)
{
	char *seg[SEG_MAX];
	size_t n = 0, len = strlen(url);
	enum method m = q->method;
	char *p;

	while (len > 0 && url[0] == '/') {
		url++;
		len--;
	}
	if (len > 1 && url[len - 1] == '/')
		len--;
	if (len == 0 || len >= sizeof(q->segbuf))
		return OP_UNKNOWN;
	memcpy(q->segbuf, url, len);
	q->segbuf[len] = '\0';
	for (p = q->segbuf;;) {
		char *slash = strchr(p, '/');

		if (n == SEG_MAX || *p == '\0' || *p == '/')
			return OP_UNKNOWN;
		seg[n++] = p;
		if (slash == NULL)
			break;
		*slash = '\0';
		p = slash + 1;
	}
	if (m == M_OTHER)
		return OP_BAD_METHOD;

	if (n == 1 && seg_is(seg[0], "health"))
		return m == M_GET ? OP_HEALTH : OP_BAD_METHOD;
	if (n == 1 && seg_is(seg[0], "metrics"))
		return m == M_GET ? OP_METRICS : OP_BAD_METHOD;
	if (n == 1 && seg_is(seg[0], "$namespaceinfo"))
		return m == M_GET ? OP_NAMESPACE_INFO : OP_BAD_METHOD;
	if (seg_is(seg[0], "$emulator"))
		return route_emulator(q, seg + 1, n - 1);
	if (seg_is(seg[0], "$Resources")) {
		if (n != 2 || !(seg_is(seg[1], "queues") || seg_is(seg[1], "topics")))
			return OP_UNKNOWN;
		q->kind = seg_is(seg[1], "queues") ? ENTITY_QUEUE : ENTITY_TOPIC;
		return m == M_GET ? OP_ENTITY_LIST : OP_BAD_METHOD;
	}

	/* data plane */
	if (n >= 2 && seg_is(seg[n - 1], "messages") && m == M_POST)
		return path_join(q, seg, n - 1, SIZE_MAX) ? OP_SEND : OP_UNKNOWN;
	if (n >= 3 && seg_is(seg[n - 2], "messages") && seg_is(seg[n - 1], "head") && (m == M_POST || m == M_DELETE))
		return receiver_path(q, seg, n - 2) ? (m == M_POST ? OP_PEEK_LOCK : OP_RECEIVE_DELETE) : OP_UNKNOWN;
	if (n >= 4 && seg_is(seg[n - 3], "messages") && m != M_GET) {
		q->id = seg[n - 2];
		q->lock = seg[n - 1];
		if (!receiver_path(q, seg, n - 3))
			return OP_UNKNOWN;
		return m == M_PUT ? OP_ABANDON : m == M_DELETE ? OP_COMPLETE : OP_RENEW;
	}

	/* management */
	if (n >= 5 && seg_is(seg[n - 4], "subscriptions") && seg_is(seg[n - 2], "rules"))
		return route_subscriptions(q, seg, n, n - 4);
	if (n >= 4 && seg_is(seg[n - 3], "subscriptions") && seg_is(seg[n - 1], "rules"))
		return route_subscriptions(q, seg, n, n - 3);
	if (n >= 3 && seg_is(seg[n - 2], "subscriptions"))
		return route_subscriptions(q, seg, n, n - 2);
	if (n >= 2 && seg_is(seg[n - 1], "subscriptions"))
		return route_subscriptions(q, seg, n, n - 1);
	if (n >= 2 && seg_is(seg[n - 1], "$DeadLetterQueue") && m == M_GET)
		return OP_DLQ_GET;
	if (!path_join(q, seg, n, SIZE_MAX) || m == M_POST)
		return m == M_POST ? OP_BAD_METHOD : OP_UNKNOWN;
	q->kind = 0;
	return m == M_GET ? OP_ENTITY_GET : m == M_PUT ? OP_ENTITY_PUT : OP_ENTITY_DELETE;
}

static enum method method_parse(const char *m)
{
	if (strcmp(m, MHD_HTTP_METHOD_GET) == 0 || strcmp(m, MHD_HTTP_METHOD_HEAD) == 0)
		return M_GET;
	if (strcmp(m, MHD_HTTP_METHOD_POST) == 0)
		return M_POST;
	if (strcmp(m, MHD_HTTP_METHOD_PUT) == 0)
		return M_PUT;
	if (strcmp(m, MHD_HTTP_METHOD_DELETE) == 0)
		return M_DELETE;
	return M_OTHER;
}

/* ---- messages out -------------------------------------------------------------------------- */

static void body_unref_cb(void *cls)
{
	msg_body_unref(cls);
}

/* Adds one user property as a header; properties that cannot be headers are left out. */
static bool add_user_header(struct MHD_Response *resp, const struct prop *p)
{
	char stack[HEADER_VALUE_STACK];
	char *buf = stack;
	size_t cap = sizeof(stack);
	bool ok = true;

	if (!brokerprops_header_name_ok(p->name) || brokerprops_header_reserved(p->name))
		return true;
	if (p->v.type == VALUE_STRING && strlen(p->v.u.s) + 3 > cap) {
		cap = strlen(p->v.u.s) + 3;
		buf = malloc(cap);
		if (buf == NULL)
			return false;
	}
	if (value_format_header(&p->v, buf, cap) == LZ_OK)
		ok = MHD_add_response_header(resp, p->name, buf) == MHD_YES;
	if (buf != stack)
		free(buf);
	return ok;
}

/* Replies with message `m` (released here): 201 + Location for peek-lock, 200 otherwise. */
static enum MHD_Result reply_message(struct http_req *q, struct msg_out *m, enum recv_mode mode)
{
	struct msg_body *body = m->body;
	struct MHD_Response *resp;
	bool ok;

	if (mode == RECV_PEEK_LOCK) {
		/* Until the response is out, a failure to deliver it gives the lock back. */
		q->lock_out = true;
		memcpy(q->lock_token, m->lock_token, sizeof(q->lock_token));
	}
	resp = MHD_create_response_from_buffer_with_free_callback_cls(body->len, body->bytes, body_unref_cb, body);
	if (resp == NULL) {
		msg_out_release(m);
		return reply(q, 500, NULL, false, NULL);
	}
	m->body = NULL;
	strbuf_reset(&q->scratch);
	ok = brokerprops_render(m, &q->scratch) == LZ_OK &&
	     MHD_add_response_header(resp, "BrokerProperties", strbuf_cstr(&q->scratch)) == MHD_YES;
	if (ok && m->props.content_type != NULL)
		ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, m->props.content_type) == MHD_YES;
	for (size_t i = 0; ok && i < m->user.n; i++)
		ok = add_user_header(resp, &m->user.items[i]);
	if (ok && mode == RECV_PEEK_LOCK) {
		strbuf_reset(&q->scratch);
		ok = strbuf_addf(&q->scratch, "%s/%s%s/messages/%" PRIu64 "/%s", base_url(q), q->path,
				 q->sq == SUBQ_DLQ ? "/$deadletterqueue" : "", m->seq, m->lock_token) == LZ_OK;
		for (char *c = q->scratch.data + strlen(q->base_url); ok && *c != '\0'; c++)
			*c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
		ok = ok && MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, strbuf_cstr(&q->scratch)) == MHD_YES;
	}
	msg_out_release(m);
	if (!ok) {
		MHD_destroy_response(resp);
		resp = NULL;
	}
	return reply(q, mode == RECV_PEEK_LOCK ? 201 : 200, resp, false, NULL);
}

/* Replies 200 with a JSON array of `arr` (freed here). */
static enum MHD_Result reply_message_array(struct http_req *q, struct msg_out *arr, size_t n)
{
	struct strbuf b = STRBUF_INIT;
	lz_err e = strbuf_addch(&b, '[');

	for (size_t i = 0; e == LZ_OK && i < n; i++) {
		if (i > 0)
			e = strbuf_addch(&b, ',');
		if (e == LZ_OK)
			e = brokerprops_render_json_message(&arr[i], &b);
	}
	if (e == LZ_OK)
		e = strbuf_addch(&b, ']');
	msg_out_array_free(arr, n);
	if (e != LZ_OK) {
		strbuf_release(&b);
		return reply(q, 500, NULL, false, NULL);
	}
	return reply_buf(q, 200, CT_JSON, &b, NULL);
}

/* ---- long polls ---------------------------------------------------------------------------- */

static void poll_unlink(struct http_server *s, struct http_req *q)
{
	if (!q->poll_listed)
		return;
	if (q->poll_prev != NULL)
		q->poll_prev->poll_next = q->poll_next;
	else
		s->polls = q->poll_next;
	if (q->poll_next != NULL)
		q->poll_next->poll_prev = q->poll_prev;
	q->poll_prev = q->poll_next = NULL;
	q->poll_listed = false;
}

/* Marks the poll of `q` finished and wakes its connection; under poll_mu. */
static void poll_fire(struct http_server *s, struct http_req *q)
{
	poll_unlink(s, q);
	q->poll_fired = true;
	q->poll_waiter = 0;
	if (q->poll_suspended) {
		q->poll_suspended = false;
		MHD_resume_connection(q->conn);
	}
}

/* core_wait_fn: runs under the core mutex, on whichever thread served the message or the tick. */
static void poll_on_result(void *arg, lz_err err, struct msg_out *msg)
{
	struct http_req *q = arg;
	struct http_server *s = q->srv;

	pthread_mutex_lock(&s->poll_mu);
	q->poll_err = err;
	if (msg != NULL) {
		q->poll_msg = *msg;
		q->poll_has_msg = true;
	}
	poll_fire(s, q);
	pthread_mutex_unlock(&s->poll_mu);
}

/* Ends a parked poll with "no message" unless its callback ran first. Not under poll_mu. */
static void poll_cancel(struct http_server *s, struct http_req *q, uint64_t waiter)
{
	if (!core_waiter_cancel(s->core, waiter))
		return; /* the callback ran and resumed the connection */
	pthread_mutex_lock(&s->poll_mu);
	q->poll_err = LZ_OK;
	poll_fire(s, q);
	pthread_mutex_unlock(&s->poll_mu);
}

/*
 * True when the client of a suspended connection has gone: libmicrohttpd does not watch
 * suspended sockets, and a message handed to a vanished receive-and-delete client is lost.
 */
static bool poll_client_gone(const struct http_req *q)
{
	char c;
	ssize_t n;

	if (q->poll_fd < 0)
		return false;
	n = recv(q->poll_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* The reply for a finished poll (on the connection's thread). */
static enum MHD_Result poll_finish(struct http_req *q)
{
	struct http_server *s = q->srv;
	struct msg_out msg;
	bool has;
	lz_err err;

	pthread_mutex_lock(&s->poll_mu);
	has = q->poll_has_msg;
	msg = q->poll_msg;
	err = q->poll_err;
	q->poll_has_msg = false;
	q->poll_fired = false;
	pthread_mutex_unlock(&s->poll_mu);
	if (has && poll_client_gone(q)) {
		/* A write to a closed socket often "succeeds", so check before answering. */
		LZ_LOG(LOG_INFO, "long-poll client hung up before its message was sent", "path=\"%s\" seq=%" PRIu64
		       " mode=%s", q->path, msg.seq, q->poll_mode == RECV_PEEK_LOCK ? "peeklock (abandoned)" :
		       "receiveanddelete (lost)");
		if (q->poll_mode == RECV_PEEK_LOCK)
			core_settle(s->core, q->path, q->sq, NULL, msg.lock_token, SETTLE_ABANDON, NULL, NULL, NULL, NULL);
		msg_out_release(&msg);
		return MHD_NO;
	}
	if (has)
		return reply_message(q, &msg, q->poll_mode);
	if (err != LZ_OK)
		return reply_fail(q, err, NULL);
	return reply_empty(q, 204);
}

/* Suspends the connection until the core's waiter `waiter` fires or the wait ends. */
static enum MHD_Result poll_park(struct http_req *q, uint64_t waiter, int64_t wait_ms)
{
	struct http_server *s = q->srv;
	const union MHD_ConnectionInfo *ci;

	pthread_mutex_lock(&s->poll_mu);
	if (q->poll_fired) {
		pthread_mutex_unlock(&s->poll_mu);
		return poll_finish(q);
	}
	if (s->stopping) {
		pthread_mutex_unlock(&s->poll_mu);
		if (core_waiter_cancel(s->core, waiter))
			return reply_empty(q, 204);
		return poll_finish(q);
	}
	ci = MHD_get_connection_info(q->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	q->poll_waiter = waiter;
	q->poll_deadline_us = q->start_us + wait_ms * 1000;
	q->poll_fd = ci != NULL ? ci->connect_fd : -1;
	q->poll_prev = NULL;
	q->poll_next = s->polls;
	if (s->polls != NULL)
		s->polls->poll_prev = q;
	s->polls = q;
	q->poll_listed = true;
	q->poll_suspended = true;
	q->poll_resumed = true;
	MHD_suspend_connection(q->conn);
	pthread_mutex_unlock(&s->poll_mu);
	server_wake(s);
	return MHD_YES;
}

int64_t http_server_expire(http_server *s)
{
	struct {
		struct http_req *q;
		uint64_t waiter;
	} due[EXPIRE_BATCH];
	int64_t next, now;
	size_t n;

	do {
		now = clock_monotonic_us();
		next = INT64_MAX;
		n = 0;
		pthread_mutex_lock(&s->poll_mu);
		for (struct http_req *q = s->polls; q != NULL; q = q->poll_next) {
			if ((q->poll_deadline_us <= now || poll_client_gone(q)) && n < EXPIRE_BATCH) {
				due[n].q = q;
				due[n++].waiter = q->poll_waiter;
			} else if (q->poll_deadline_us < next) {
				next = q->poll_deadline_us;
			}
		}
		pthread_mutex_unlock(&s->poll_mu);
		for (size_t i = 0; i < n; i++)
			poll_cancel(s, due[i].q, due[i].waiter);
	} while (n == EXPIRE_BATCH);
	if (next != INT64_MAX && next > now + POLL_CHECK_US)
		next = now + POLL_CHECK_US;
	return next;
}

/* ---- data plane ---------------------------------------------------------------------------- */

static enum MHD_Result h_send(struct http_req *q)
{
	struct lz_detail d = { "" };
	struct msg_in m = { 0 };
	bool scheduled;
	lz_err e;

	e = read_message(q, &m, &d);
	if (e != LZ_OK)
		return reply_fail(q, e, &d);
	scheduled = m.props.scheduled_enqueue_ms != 0;
	e = core_send(q->srv->core, q->path, &m, 1, NULL, &d);
	msg_in_release(&m);
	if (e != LZ_OK)
		return reply_fail(q, e, &d);
	if (scheduled)
		server_wake(q->srv);
	return reply_empty(q, 201);
}

static enum MHD_Result h_send_batch(struct http_req *q)
{
	struct lz_detail d = { "" };
	struct msg_in *msgs = NULL;
	bool scheduled = false;
	size_t n = 0;
	lz_err e;

	e = brokerprops_parse_batch(q->body.data != NULL ? q->body.data : "", q->body.len, &msgs, &n, &d);
	if (e != LZ_OK)
		return reply_fail(q, e, &d);
	for (size_t i = 0; i < n; i++)
		scheduled = scheduled || msgs[i].props.scheduled_enqueue_ms != 0;
	e = core_send(q->srv->core, q->path, msgs, n, NULL, &d);
	brokerprops_batch_free(msgs, n);
	if (e != LZ_OK)
		return reply_fail(q, e, &d);
	if (scheduled)
		server_wake(q->srv);
	return reply_empty(q, 201);
}

static enum MHD_Result h_receive(struct http_req *q, enum recv_mode mode)
{
	struct http_server *s = q->srv;
	struct lz_detail d = { "" };
	struct msg_out m;
	uint64_t wait_s, waiter;
	bool got, stopping;
	lz_err e;

	if (!query_u64(q, "timeout", 0, MAX_WAIT_S, &wait_s))
		return reply_bad(q, "Invalid timeout: the timeout query parameter must be a whole number of seconds "
				    "between 0 and 86400.");
	pthread_mutex_lock(&s->poll_mu);
	stopping = s->stopping;
	pthread_mutex_unlock(&s->poll_mu);
	if (stopping)
		wait_s = 0;
	q->poll_mode = mode;
	e = core_receive(s->core, q->path, q->sq, mode, (int64_t)wait_s * 1000, poll_on_result, q, &m, &got, &waiter,
			 &d);
	if (e != LZ_OK)
		return reply_fail(q, e, &d);
	if (got)
		return reply_message(q, &m, mode);
	if (waiter == 0)
		return reply_empty(q, 204);
	return poll_park(q, waiter, (int64_t)wait_s * 1000);
}

static enum MHD_Result h_settle(struct http_req *q, enum settle_op op)
{
	struct lz_detail d = { "" };
	lz_err e;

	e = core_settle(q->srv->core, q->path, q->sq, q->id, q->lock, op, NULL, NULL, NULL, &d);
	if (e != LZ_OK)
		return reply_fail_msg(q, e, &d);
	return reply_empty(q, 200);
}

/* ---- management ---------------------------------------------------------------------------- */

static enum MHD_Result reply_entity(struct http_req *q, unsigned status, struct entity_info *info, bool runtime)
{
	struct atom_ctx ctx = atom_ctx_make(q, runtime);
	struct strbuf b = STRBUF_INIT;
	lz_err e;

	e = atom_write_entity(&b, info, &ctx);
	entity_info_release(info);
	if (e != LZ_OK) {
		strbuf_release(&b);
		return reply_fail(q, e, NULL);
	}
	return reply_buf(q, status, CT_ENTRY, &b, NULL);
}

static enum MHD_Result h_entity_get(struct http_req *q)
{
	struct lz_detail d = { "" };
	struct entity_info info;
	lz_err e;

	e = core_entity_get(q->srv->core, q->path, &info, &d);
	if (e != LZ_OK)
		return reply_fail(q, e, &d);
	return reply_entity(q, 200, &info, true);
}

static enum MHD_Result h_entity_put(struct http_req *q)
{
	struct lz_detail d = { "" };
	struct entity_desc desc = { 0 };
	struct rule_desc rule = { 0 };
	struct entity_info info;
	bool has_rule = false;
	lz_err e;

	/* An empty body creates the entity with Azure's defaults (an emulator convenience). */
	if (q->body.len == 0) {
		entity_desc_defaults(&desc, q->kind == ENTITY_SUBSCRIPTION ? ENTITY_SUBSCRIPTION : ENTITY_QUEUE);
		e = LZ_OK;
	} else {
		e = atom_parse_entity(q->body.data, q->body.len, q->kind, &desc, &rule, &has_rule, &d);
	}
	if (e != LZ_OK)
		return reply_fail(q, e, &d);
	e = core_entity_put(q->srv->core, q->path, &desc, q->update, has_rule ? &rule : NULL, &info, &d);
	entity_desc_release(&desc);
	if (has_rule)
		rule_desc_release(&rule);
	if (e != LZ_OK)
		return reply_fail(q, e, &d);
	return reply_entity(q, q->update ? 200 : 201, &info, false);
}

static enum MHD_Result h_entity_delete(struct http_req *q)
{
	struct lz_detail d = { "" };
	lz_err e;

	e = core_entity_delete(q->srv->core, q->path, &d);
	if (e != LZ_OK)
		return reply_fail(q, e, &d);
	return reply_empty(q, 200);
}

static enum MHD_Result reply_rule(struct http_req *q, unsigned status, struct rule_desc *r)
{
	struct atom_ctx ctx = atom_ctx_make(q, true);
	struct strbuf b = STRBUF_INIT;
	lz_err e;

	e = atom_write_rule(&b, r, q->path, &ctx);
	rule_desc_release(r);
	if (e != LZ_OK) {
		strbuf_release(&b);
		return reply_fail(q, e, NULL);
	}
	return reply_buf(q, status, CT_ENTRY, &b, NULL);
}

static enum MHD_Result h_rule_get(struct http_req *q)
{
	struct lz_detail d = { "" };
	struct rule_desc r;
	lz_err e;

	e = core_rule_get(q->srv->core, q->path, q->name, &r, &d);
	if (e != LZ_OK)
		return reply_fail(q, e, &d);
	return reply_rule(q, 200, &r);
}

static enum MHD_Result h_rule_put(struct http_req *q)
{
	struct lz_detail d = { "" };
	struct rule_desc in = { 0 }, out;
	lz_err e;

	e = atom_parse_rule(q->body.data != NULL ? q->body.data : "", q->body.len, q->name, &in, &d);
	if (e != LZ_OK)
		return reply_fail(q, e, &d);
	e = core_rule_put(q->srv->core, q->path, &in, q->update, &out, &d);
	rule_desc_release(&in);
	if (e != LZ_OK)
		return reply_fail(q, e, &d);
	return reply_rule(q, q->update ? 200 : 201, &out);
}

static enum MHD_Result h_rule_delete(struct http_req *q)
{
	struct lz_detail d = { "" };
	lz_err e;

	e = core_rule_delete(q->srv->core, q->path, q->name, &d);
	if (e != LZ_OK)
		return reply_fail(q, e, &d);
	return reply_empty(q, 200);
}

struct query_ctx {
	struct strbuf *b;
	bool first;
	lz_err err;
};

static enum MHD_Result query_arg_add(void *arg, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct query_ctx *qc = arg;

	(void)kind;
	qc->err = strbuf_addf(qc->b, "%s%s%s%s", qc->first ? "?" : "&", key, value != NULL ? "=" : "",
			      value != NULL ? value : "");
	qc->first = false;
	return qc->err == LZ_OK ? MHD_YES : MHD_NO;
}

/* The request URL, for a feed's id and self link. */
static lz_err self_url(struct http_req *q, struct strbuf *b)
{
	struct query_ctx qc = { b, true, LZ_OK };

	qc.err = strbuf_addf(b, "%s%s", base_url(q), q->url);
	if (qc.err == LZ_OK)
		MHD_get_connection_values(q->conn, MHD_GET_ARGUMENT_KIND, query_arg_add, &qc);
	return qc.err;
}

static bool paging(struct http_req *q, uint64_t *skip, uint64_t *top)
{
	return query_u64(q, "$skip", 0, SIZE_MAX, skip) && query_u64(q, "$top", 0, SIZE_MAX, top);
}

static enum MHD_Result h_entity_list(struct http_req *q)
{
	static const char *const titles[] = { [ENTITY_QUEUE] = "Queues", [ENTITY_TOPIC] = "Topics",
					      [ENTITY_SUBSCRIPTION] = "Subscriptions" };
	struct atom_ctx ctx = atom_ctx_make(q, true);
	struct lz_detail d = { "" };
	struct strbuf url = STRBUF_INIT, b = STRBUF_INIT;
	struct entity_info *arr = NULL;
	uint64_t skip, top;
	size_t n = 0;
	lz_err e;

	if (!paging(q, &skip, &top))
		return reply_bad(q, "$skip and $top must be non-negative integers.");
	e = core_entity_list(q->srv->core, q->kind, q->has_topic ? q->path : NULL, skip, top, &arr, &n, &d);
	if (e != LZ_OK)
		return reply_fail(q, e, &d);
	e = self_url(q, &url);
	if (e == LZ_OK)
		e = atom_write_feed_begin(&b, titles[q->kind], strbuf_cstr(&url), &ctx);
	ctx.in_feed = true;
	for (size_t i = 0; e == LZ_OK && i < n; i++)
		e = atom_write_entity(&b, &arr[i], &ctx);
	if (e == LZ_OK)
		e = atom_write_feed_end(&b);
	entity_info_array_free(arr, n);
	strbuf_release(&url);
	if (e != LZ_OK) {
		strbuf_release(&b);
		return reply_fail(q, e, NULL);
	}
	return reply_buf(q, 200, CT_FEED, &b, NULL);
}

static enum MHD_Result h_rule_list(struct http_req *q)
{
	struct atom_ctx ctx = atom_ctx_make(q, true);
	struct lz_detail d = { "" };
	struct strbuf url = STRBUF_INIT, b = STRBUF_INIT;
	struct rule_desc *arr = NULL;
	uint64_t skip, top;
	size_t n = 0;
	lz_err e;

	if (!paging(q, &skip, &top))
		return reply_bad(q, "$skip and $top must be non-negative integers.");
	e = core_rule_list(q->srv->core, q->path, skip, top, &arr, &n, &d);
	if (e != LZ_OK)
		return reply_fail(q, e, &d);
	e = self_url(q, &url);
	if (e == LZ_OK)
		e = atom_write_feed_begin(&b, "Rules", strbuf_cstr(&url), &ctx);
	ctx.in_feed = true;
	for (size_t i = 0; e == LZ_OK && i < n; i++)
		e = atom_write_rule(&b, &arr[i], q->path, &ctx);
	if (e == LZ_OK)
		e = atom_write_feed_end(&b);
	rule_desc_array_free(arr, n);
	strbuf_release(&url);
	if (e != LZ_OK) {
		strbuf_release(&b);
		return reply_fail(q, e, NULL);
	}
	return reply_buf(q, 200, CT_FEED, &b, NULL);
}

/* GET /$namespaceinfo: spec §2.9. */
static enum MHD_Result h_namespace_info(struct http_req *q)
{
	struct http_server *s = q->srv;
	const char *api = query(q, "api-version");
	char created[TIMEFMT_ISO8601_MS_LEN], now[TIMEFMT_ISO8601_MS_LEN];
	struct strbuf b = STRBUF_INIT, url = STRBUF_INIT;
	lz_err e;

	e = strbuf_addf(&url, "%s/$namespaceinfo%s%s", base_url(q), api != NULL ? "?api-version=" : "",
			api != NULL ? api : "");
	if (e == LZ_OK)
		e = timefmt_iso8601_ms(s->started_ms, created, sizeof(created));
	if (e == LZ_OK)
		e = timefmt_iso8601_ms(clock_now(core_clock(s->core)), now, sizeof(now));
	/* <updated> has whole seconds, as the service writes it: "...:05.123Z" becomes "...:05Z". */
	if (e == LZ_OK)
		memmove(now + 19, now + 23, 2);
	if (e == LZ_OK) {
		e = strbuf_adds(&b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
				    "<entry xmlns=\"http://www.w3.org/2005/Atom\"><id>");
	}
	if (e == LZ_OK)
		e = strbuf_add_xml(&b, strbuf_cstr(&url));
	if (e == LZ_OK)
		e = strbuf_addf(&b, "</id><title type=\"text\">%s</title><updated>%s</updated><author><name>%s</name>"
				    "</author><link rel=\"self\" href=\"", s->namespace_name, now, s->namespace_name);
	if (e == LZ_OK)
		e = strbuf_add_xml(&b, strbuf_cstr(&url));
	if (e == LZ_OK)
		e = strbuf_addf(&b, "\"/><content type=\"application/xml\"><NamespaceInfo "
				    "xmlns=\"http://schemas.microsoft.com/netservices/2010/10/servicebus/connect\" "
				    "xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\"><CreatedTime>%s</CreatedTime>"
				    "<MessagingSKU>Standard</MessagingSKU><ModifiedTime>%s</ModifiedTime><Name>%s</Name>"
				    "<NamespaceType>Messaging</NamespaceType></NamespaceInfo></content></entry>",
				created, created, s->namespace_name);
	strbuf_release(&url);
	if (e != LZ_OK) {
		strbuf_release(&b);
		return reply_fail(q, e, NULL);
	}
	return reply_buf(q, 200, CT_ENTRY, &b, NULL);
}

/* ---- emulator-only endpoints --------------------------------------------------------------- */

static enum MHD_Result h_emu_peek(struct http_req *q)
{
	struct lz_detail d = { "" };
	struct msg_out *arr = NULL;
	uint64_t from, max;
	size_t n = 0;
	lz_err e;

	if (!query_u64(q, "from", 0, UINT64_MAX, &from) || !query_u64(q, "max", PEEK_DEFAULT, PEEK_MAX, &max) || max == 0)
		return reply_bad(q, "from must be a sequence number and max a count between 1 and 10000.");
	e = core_peek(q->srv->core, q->path, q->sq, from, (size_t)max, &arr, &n, &d);
	if (e != LZ_OK)
		return reply_fail(q, e, &d);
	return reply_message_array(q, arr, n);
}

/* Reads the optional JSON object body into *root (NULL when the body is empty). */
static bool json_body(struct http_req *q, json_t **root, struct lz_detail *d)
{
	json_error_t jerr;

	*root = NULL;
	if (q->body.len == 0)
		return true;
	*root = json_loadb(q->body.data, q->body.len, 0, &jerr);
	if (*root == NULL) {
		snprintf(d->text, sizeof(d->text), "The request body is not valid JSON: %s.", jerr.text);
		return false;
	}
	if (!json_is_object(*root)) {
		json_decref(*root);
		*root = NULL;
		snprintf(d->text, sizeof(d->text), "The request body must be a JSON object.");
		return false;
	}
	return true;
}

/* The string member `key` of `root` (NULL when absent or null); false for another type. */
static bool json_opt_string(json_t *root, const char *key, const char **out, struct lz_detail *d)
{
	json_t *v = root != NULL ? json_object_get(root, key) : NULL;

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_string(v)) {
		snprintf(d->text, sizeof(d->text), "'%s' must be a string.", key);
		return false;
	}
	*out = json_string_value(v);
	return true;
}

static enum MHD_Result h_emu_settle(struct http_req *q, enum settle_op op)
{
	struct lz_detail d = { "" };
	const char *reason = NULL, *desc = NULL;
	json_t *root = NULL;
	lz_err e;

	if (op == SETTLE_DEADLETTER &&
	    (!json_body(q, &root, &d) || !json_opt_string(root, "DeadLetterReason", &reason, &d) ||
	     !json_opt_string(root, "DeadLetterErrorDescription", &desc, &d))) {
		json_decref(root);
		return reply_bad(q, d.text);
	}
	e = core_settle(q->srv->core, q->path, q->sq, q->id, q->lock, op, reason, desc, NULL, &d);
	json_decref(root);
	if (e != LZ_OK)
		return reply_fail_msg(q, e, &d);
	return reply_empty(q, 200);
}

static enum MHD_Result h_emu_deferred(struct http_req *q)
{
	struct lz_detail d = { "" };
	const char *mode_arg = query(q, "mode");
	enum recv_mode mode = RECV_PEEK_LOCK;
	struct msg_out *arr = NULL;
	uint64_t *seqs = NULL;
	json_t *root = NULL, *list, *v;
	size_t n = 0, i;
	lz_err e;

	if (mode_arg != NULL && strcasecmp(mode_arg, "receiveanddelete") == 0)
		mode = RECV_RECEIVE_DELETE;
	else if (mode_arg != NULL && strcasecmp(mode_arg, "peeklock") != 0)
		return reply_bad(q, "mode must be peeklock or receiveanddelete.");
	if (!json_body(q, &root, &d))
		return reply_bad(q, d.text);
	list = root != NULL ? json_object_get(root, "SequenceNumbers") : NULL;
	if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > DEFERRED_MAX) {
		e = LZ_EINVAL;
		snprintf(d.text, sizeof(d.text), "The body must be {\"SequenceNumbers\":[...]} with 1 to 10000 numbers.");
		goto out_free_root;
	}
	seqs = calloc(json_array_size(list), sizeof(*seqs));
	if (seqs == NULL) {
		e = LZ_ENOMEM;
		goto out_free_root;
	}
	json_array_foreach(list, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			e = LZ_EINVAL;
			snprintf(d.text, sizeof(d.text), "SequenceNumbers[%zu] must be a non-negative integer.", i);
			goto out_free_seqs;
		}
		seqs[i] = (uint64_t)json_integer_value(v);
	}
	e = core_receive_deferred(q->srv->core, q->path, q->sq, seqs, json_array_size(list), mode, &arr, &n, &d);
out_free_seqs:
	free(seqs);
out_free_root:
	json_decref(root);
	if (e != LZ_OK)
		return reply_fail_msg(q, e, &d);
	return reply_message_array(q, arr, n);
}

static enum MHD_Result h_emu_schedule(struct http_req *q)
{
	struct lz_detail d = { "" };
	struct msg_in m = { 0 };
	struct strbuf b = STRBUF_INIT;
	uint64_t seq = 0;
	lz_err e;

	e = read_message(q, &m, &d);
	if (e != LZ_OK)
		return reply_fail(q, e, &d);
	if (m.props.scheduled_enqueue_ms == 0) {
		msg_in_release(&m);
		return reply_bad(q, "BrokerProperties must carry ScheduledEnqueueTimeUtc.");
	}
	e = core_schedule(q->srv->core, q->path, &m, 1, m.props.scheduled_enqueue_ms, &seq, &d);
	msg_in_release(&m);
	if (e != LZ_OK)
		return reply_fail(q, e, &d);
	server_wake(q->srv);
	if (strbuf_addf(&b, "{\"SequenceNumbers\":[%" PRIu64 "]}", seq) != LZ_OK) {
		strbuf_release(&b);
		return reply(q, 500, NULL, false, NULL);
	}
	return reply_buf(q, 201, CT_JSON, &b, NULL);
}

static enum MHD_Result h_emu_cancel(struct http_req *q)
{
	struct lz_detail d = { "" };
	unsigned long long seq;
	char *end;
	lz_err e;

	errno = 0;
	seq = strtoull(q->id, &end, 10);
	if (q->id[0] < '0' || q->id[0] > '9' || *end != '\0' || errno != 0)
		return reply_bad(q, "The sequence number must be a non-negative integer.");
	e = core_cancel_scheduled(q->srv->core, q->path, seq, &d);
	if (e != LZ_OK)
		return reply_fail_msg(q, e, &d);
	return reply_empty(q, 200);
}

/* The canonical dump of all durable state (core_dump): restart and backend-swap tests compare
 * it before and after. */
static enum MHD_Result h_emu_state(struct http_req *q)
{
	struct strbuf b = STRBUF_INIT;
	char *text = NULL;
	size_t len = 0;

	if (core_dump(q->srv->core, &text, &len) != LZ_OK || strbuf_add(&b, text, len) != LZ_OK) {
		free(text);
		strbuf_release(&b);
		return reply_error(q, 500, "out of memory");
	}
	free(text);
	return reply_buf(q, 200, "text/plain; charset=utf-8", &b, NULL);
}

static enum MHD_Result h_emu_clock(struct http_req *q, bool advance)
{
	struct http_server *s = q->srv;
	lz_clock *clk = core_clock(s->core);
	char text[TIMEFMT_ISO8601_MS_LEN];
	struct strbuf b = STRBUF_INIT;
	uint64_t ms;
	int64_t now;
	lz_err e;

	if (!clock_is_manual(clk))
		return reply_error(q, 404, "The clock endpoints need a manual clock (LOCALZURE_CLOCK=manual).");
	if (advance) {
		if (query(q, "ms") == NULL || !query_u64(q, "ms", 0, INT64_MAX / 2, &ms))
			return reply_bad(q, "ms must be a non-negative whole number of milliseconds.");
		e = clock_advance(clk, (int64_t)ms);
		if (e != LZ_OK)
			return reply_fail(q, e, NULL);
		core_tick(s->core);
		server_wake(s);
	}
	now = clock_now(clk);
	e = timefmt_iso8601_ms(now, text, sizeof(text));
	if (e == LZ_OK)
		e = strbuf_addf(&b, "{\"NowMs\":%" PRId64 ",\"NowUtc\":\"%s\"}", now, text);
	if (e != LZ_OK) {
		strbuf_release(&b);
		return reply_fail(q, e, NULL);
	}
	return reply_buf(q, 200, CT_JSON, &b, NULL);
}

/* ---- /metrics ------------------------------------------------------------------------------ */

struct stats_ctx {
	struct strbuf *b;
	lz_err err;
};

static void stats_one(void *arg, const char *path, enum entity_kind kind, uint64_t active, uint64_t deadletter,
		      uint64_t scheduled, uint64_t deferred, uint64_t locked)
{
	struct stats_ctx *sc = arg;
	const char *states[] = { "active", "deadletter", "scheduled", "deferred", "locked" };
	uint64_t counts[] = { active, deadletter, scheduled, deferred, locked };

	(void)kind;
	for (size_t i = 0; sc->err == LZ_OK && i < 5; i++)
		sc->err = strbuf_addf(sc->b, "localzure_messages{entity=\"%s\",state=\"%s\"} %" PRIu64 "\n", path,
				      states[i], counts[i]);
}

static lz_err metrics_render(struct http_server *s, struct strbuf *b)
{
	struct stats_ctx sc = { b, LZ_OK };
	lz_err e;

	e = strbuf_addf(b, "# HELP localzure_uptime_seconds Seconds since the broker started.\n"
			   "# TYPE localzure_uptime_seconds gauge\nlocalzure_uptime_seconds %.3f\n"
			   "# HELP localzure_messages Messages per queue or subscription and state.\n"
			   "# TYPE localzure_messages gauge\n",
			(double)(clock_monotonic_us() - s->started_us) / 1e6);
	if (e != LZ_OK)
		return e;
	core_stats_foreach(s->core, stats_one, &sc);
	e = sc.err;
	if (e == LZ_OK)
		e = strbuf_adds(b, "# HELP localzure_requests_total HTTP requests by operation and status.\n"
				   "# TYPE localzure_requests_total counter\n");
	for (size_t op = 0; e == LZ_OK && op < OP__COUNT; op++) {
		for (size_t i = 0; e == LZ_OK && i < STATUS_SLOTS; i++) {
			uint64_t v = atomic_load_explicit(&s->metrics[op].by_status[i], memory_order_relaxed);

			if (v == 0)
				continue;
			if (i < STATUS_SLOTS - 1)
				e = strbuf_addf(b, "localzure_requests_total{op=\"%s\",code=\"%u\"} %" PRIu64 "\n",
						op_names[op], status_slots[i], v);
			else
				e = strbuf_addf(b, "localzure_requests_total{op=\"%s\",code=\"other\"} %" PRIu64 "\n",
						op_names[op], v);
		}
	}
	if (e == LZ_OK)
		e = strbuf_adds(b, "# HELP localzure_request_duration_seconds HTTP request latency by operation.\n"
				   "# TYPE localzure_request_duration_seconds histogram\n");
	for (size_t op = 0; e == LZ_OK && op < OP__COUNT; op++) {
		const struct op_metrics *m = &s->metrics[op];
		uint64_t cum = 0;

		for (size_t i = 0; i < BUCKETS; i++)
			cum += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
		if (cum == 0)
			continue;
		cum = 0;
		for (size_t i = 0; e == LZ_OK && i < BUCKETS; i++) {
			cum += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
			if (i < BUCKETS - 1)
				e = strbuf_addf(b, "localzure_request_duration_seconds_bucket{op=\"%s\",le=\"%g\"} %" PRIu64 "\n",
						op_names[op], (double)bucket_us[i] / 1e6, cum);
			else
				e = strbuf_addf(b, "localzure_request_duration_seconds_bucket{op=\"%s\",le=\"+Inf\"} %" PRIu64 "\n",
						op_names[op], cum);
		}
		if (e == LZ_OK)
			e = strbuf_addf(b, "localzure_request_duration_seconds_sum{op=\"%s\"} %.6f\n"
					   "localzure_request_duration_seconds_count{op=\"%s\"} %" PRIu64 "\n",
					op_names[op], (double)atomic_load_explicit(&m->sum_us, memory_order_relaxed) / 1e6,
					op_names[op], cum);
	}
	return e;
}

static enum MHD_Result h_metrics(struct http_req *q)
{
	struct strbuf b = STRBUF_INIT;

	if (metrics_render(q->srv, &b) != LZ_OK) {
		strbuf_release(&b);
		return reply(q, 500, NULL, false, NULL);
	}
	return reply_buf(q, 200, CT_PROMETHEUS, &b, NULL);
}

/* ---- request lifecycle --------------------------------------------------------------------- */

static bool op_wants_body(enum http_op op)
{
	return op == OP_SEND || op == OP_SEND_BATCH || op == OP_ENTITY_PUT || op == OP_RULE_PUT ||
	       op == OP_EMU_DEADLETTER || op == OP_EMU_DEFERRED || op == OP_EMU_SCHEDULE;
}

/* First handler call of a request: headers are in, the body is not. */
static void req_begin(struct http_req *q, const char *url, const char *method)
{
	const char *ct;

	q->start_us = clock_monotonic_us();
	atomic_fetch_add_explicit(&q->srv->active, 1, memory_order_relaxed);
	q->url = url;
	q->method = method_parse(method);
	q->sq = SUBQ_MAIN;
	q->kind = 0;
	q->has_topic = false;
	q->id = q->lock = q->name = NULL;
	q->path[0] = '\0';
	q->too_big = false;
	q->body_len = 0;
	strbuf_reset(&q->body);
	q->op = route_parse(q, url);
	if (q->op == OP_SEND) {
		ct = header(q, MHD_HTTP_HEADER_CONTENT_TYPE);
		if (ct != NULL && strncasecmp(ct, CT_BATCH, strlen(CT_BATCH)) == 0)
			q->op = OP_SEND_BATCH;
	}
	q->update = (q->op == OP_ENTITY_PUT || q->op == OP_RULE_PUT) && header(q, MHD_HTTP_HEADER_IF_MATCH) != NULL;
	q->wants_body = op_wants_body(q->op);
}

static void req_body(struct http_req *q, const char *data, size_t len)
{
	q->body_len += len;
	if (!q->wants_body || q->too_big)
		return;
	if (q->body_len > q->srv->cfg.max_body_bytes || strbuf_add(&q->body, data, len) != LZ_OK) {
		q->too_big = true;
		strbuf_reset(&q->body);
	}
}

static enum MHD_Result req_dispatch(struct http_req *q)
{
	char text[160];

	if (q->too_big) {
		snprintf(text, sizeof(text), "The request body of %zu bytes exceeds the maximum message size of %zu bytes.",
			 q->body_len, q->srv->cfg.max_body_bytes);
		return reply_error(q, 403, text);
	}
	switch (q->op) {
	case OP_SEND:
		return h_send(q);
	case OP_SEND_BATCH:
		return h_send_batch(q);
	case OP_PEEK_LOCK:
		return h_receive(q, RECV_PEEK_LOCK);
	case OP_RECEIVE_DELETE:
		return h_receive(q, RECV_RECEIVE_DELETE);
	case OP_COMPLETE:
		return h_settle(q, SETTLE_COMPLETE);
	case OP_ABANDON:
		return h_settle(q, SETTLE_ABANDON);
	case OP_RENEW:
		return h_settle(q, SETTLE_RENEW);
	case OP_ENTITY_GET:
		return h_entity_get(q);
	case OP_ENTITY_PUT:
		return h_entity_put(q);
	case OP_ENTITY_DELETE:
		return h_entity_delete(q);
	case OP_ENTITY_LIST:
		return h_entity_list(q);
	case OP_RULE_GET:
		return h_rule_get(q);
	case OP_RULE_PUT:
		return h_rule_put(q);
	case OP_RULE_DELETE:
		return h_rule_delete(q);
	case OP_RULE_LIST:
		return h_rule_list(q);
	case OP_NAMESPACE_INFO:
		return h_namespace_info(q);
	case OP_DLQ_GET:
		return reply_bad(q, "The specified HTTP verb (GET) is not valid.");
	case OP_EMU_PEEK:
		return h_emu_peek(q);
	case OP_EMU_DEADLETTER:
		return h_emu_settle(q, SETTLE_DEADLETTER);
	case OP_EMU_DEFER:
		return h_emu_settle(q, SETTLE_DEFER);
	case OP_EMU_DEFERRED:
		return h_emu_deferred(q);
	case OP_EMU_SCHEDULE:
		return h_emu_schedule(q);
	case OP_EMU_CANCEL:
		return h_emu_cancel(q);
	case OP_EMU_CLOCK_GET:
		return h_emu_clock(q, false);
	case OP_EMU_CLOCK_ADVANCE:
		return h_emu_clock(q, true);
	case OP_EMU_STATE:
		return h_emu_state(q);
	case OP_HEALTH:
		return reply(q, 200, q->srv->resp_health, true, NULL);
	case OP_METRICS:
		return h_metrics(q);
	case OP_BAD_METHOD:
		snprintf(text, sizeof(text), "The specified HTTP verb (%s) is not valid for this resource.", method_name(q->method));
		return reply_error(q, 405, text);
	case OP_UNKNOWN:
	case OP__COUNT:
		break;
	}
	return reply_error(q, 404, "No service is hosted at the specified address.");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **req_cls)
{
	struct http_req *q = *req_cls;

	(void)cls;
	(void)version;
	if (q == NULL) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

		q = ci != NULL ? ci->socket_context : NULL;
		if (q == NULL)
			return MHD_NO;
		*req_cls = q;
		req_begin(q, url, method);
		return MHD_YES;
	}
	if (*upload_size != 0) {
		req_body(q, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (q->poll_resumed) {
		q->poll_resumed = false;
		return poll_finish(q);
	}
	if (q->dur_resumed) {
		q->dur_resumed = false;
		return durable_finish(q);
	}
	core_thread_lsn_reset();
	return req_dispatch(q);
}

/* End of a request, whether answered or not. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls, enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct http_req *q = *req_cls;

	(void)conn;
	if (q == NULL)
		return;
	*req_cls = NULL;
	if (q->lock_out && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
		LZ_LOG(LOG_INFO, "abandoning a peek-locked message whose response was not delivered",
		       "path=\"%s\" lock=%s", q->path, q->lock_token);
		core_settle(s->core, q->path, q->sq, NULL, q->lock_token, SETTLE_ABANDON, NULL, NULL, NULL, NULL);
	}
	q->lock_out = false;
	if (q->poll_has_msg) {
		/* Resumed with a message but closed before the handler ran (daemon shutdown). */
		if (q->poll_mode == RECV_PEEK_LOCK)
			core_settle(s->core, q->path, q->sq, NULL, q->poll_msg.lock_token, SETTLE_ABANDON, NULL, NULL,
				    NULL, NULL);
		msg_out_release(&q->poll_msg);
		q->poll_has_msg = false;
	}
	q->poll_fired = false;
	q->poll_resumed = false;
	if (q->dur_resp != NULL && !q->dur_shared)
		MHD_destroy_response(q->dur_resp); /* closed while waiting for persistd */
	q->dur_resp = NULL;
	q->dur_resumed = false;
	q->dur_fired = false;
	if (q->body.cap > BODY_KEEP_BYTES)
		strbuf_release(&q->body);
	if (q->scratch.cap > BODY_KEEP_BYTES)
		strbuf_release(&q->scratch);
	atomic_fetch_sub_explicit(&s->active, 1, memory_order_relaxed);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *s = cls;
	struct http_req *q = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		q = calloc(1, sizeof(*q));
		if (q != NULL) {
			q->srv = s;
			q->conn = conn;
		}
		*socket_context = q;
		return;
	}
	if (q != NULL) {
		strbuf_release(&q->body);
		strbuf_release(&q->scratch);
		free(q);
		*socket_context = NULL;
	}
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char text[512];
	size_t len;

	(void)cls;
	vsnprintf(text, sizeof(text), fmt, ap);
	len = strlen(text);
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	for (char *p = text; *p != '\0'; p++) {
		if (*p == '"' || *p == '\n')
			*p = '\'';
	}
	LZ_LOG(LOG_WARN, "http server reported a problem", "detail=\"%s\"", text);
}

/* ---- start and stop ------------------------------------------------------------------------ */

static void server_free(struct http_server *s)
{
	for (size_t i = 0; i < 3; i++) {
		if (s->resp_empty[i] != NULL)
			MHD_destroy_response(s->resp_empty[i]);
	}
	if (s->resp_health != NULL)
		MHD_destroy_response(s->resp_health);
	pthread_mutex_destroy(&s->poll_mu);
	free(s->host);
	free(s->namespace_name);
	free(s);
}

static lz_err responses_make(struct http_server *s)
{
	static const char health[] = "{\"status\":\"healthy\",\"message\":\"Service is healthy.\"}";

	for (size_t i = 0; i < 3; i++) {
		s->resp_empty[i] = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		if (s->resp_empty[i] == NULL ||
		    MHD_add_response_header(s->resp_empty[i], MHD_HTTP_HEADER_CONTENT_TYPE, CT_XML) != MHD_YES)
			return LZ_ENOMEM;
	}
	s->resp_health = MHD_create_response_from_buffer(sizeof(health) - 1, (void *)health, MHD_RESPMEM_PERSISTENT);
	if (s->resp_health == NULL ||
	    MHD_add_response_header(s->resp_health, MHD_HTTP_HEADER_CONTENT_TYPE, CT_JSON) != MHD_YES)
		return LZ_ENOMEM;
	return LZ_OK;
}

lz_err http_server_start(core *c, const struct http_config *cfg, http_server **out, struct lz_detail *detail)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	const union MHD_DaemonInfo *info;
	struct addrinfo *ai = NULL;
	struct http_server *s;
	char port[8];
	unsigned flags;
	lz_err e;
	int rc;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return LZ_ENOMEM;
	s->core = c;
	s->cfg = *cfg;
	s->cfg.host = NULL;
	s->cfg.namespace_name = NULL;
	if (s->cfg.connection_limit == 0)
		s->cfg.connection_limit = 10000;
	if (s->cfg.connection_timeout_s == 0)
		s->cfg.connection_timeout_s = 300;
	if (s->cfg.threads == 0)
		s->cfg.threads = 1;
	s->started_us = clock_monotonic_us();
	s->started_ms = clock_now(core_clock(c));
	pthread_mutex_init(&s->poll_mu, NULL);
	s->host = strdup(cfg->host);
	s->namespace_name = strdup(cfg->namespace_name);
	if (s->host == NULL || s->namespace_name == NULL) {
		e = LZ_ENOMEM;
		goto out_free_server;
	}
	e = responses_make(s);
	if (e != LZ_OK)
		goto out_free_server;

	snprintf(port, sizeof(port), "%u", cfg->port);
	rc = getaddrinfo(cfg->host, port, &hints, &ai);
	if (rc != 0) {
		if (detail != NULL)
			snprintf(detail->text, sizeof(detail->text), "cannot resolve the listen address '%s': %s", cfg->host,
			 gai_strerror(rc));
		e = LZ_EINVAL;
		goto out_free_server;
	}
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	s->daemon = MHD_start_daemon(flags, cfg->port, NULL, NULL, on_request, s,
				     MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
				     MHD_OPTION_SOCK_ADDR, ai->ai_addr,
				     MHD_OPTION_THREAD_POOL_SIZE, s->cfg.threads,
				     MHD_OPTION_CONNECTION_LIMIT, s->cfg.connection_limit,
				     MHD_OPTION_CONNECTION_TIMEOUT, s->cfg.connection_timeout_s,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				     MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
				     MHD_OPTION_END);
	freeaddrinfo(ai);
	if (s->daemon == NULL) {
		if (detail != NULL)
			snprintf(detail->text, sizeof(detail->text),
			 "cannot listen on %s:%u (address in use or not available?); choose another "
			 "LOCALZURE_HTTP_HOST/LOCALZURE_HTTP_PORT", cfg->host, cfg->port);
		e = LZ_ESYS;
		goto out_free_server;
	}
	info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info != NULL ? info->port : cfg->port;
	*out = s;
	return LZ_OK;

out_free_server:
	server_free(s);
	return e;
}

uint16_t http_server_port(const http_server *s)
{
	return s->port;
}

void http_server_stop(http_server *s, unsigned grace_ms)
{
	struct timespec pause = { 0, 5 * 1000 * 1000 };
	int64_t deadline;
	MHD_socket fd;

	if (s == NULL)
		return;
	fd = MHD_quiesce_daemon(s->daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	pthread_mutex_lock(&s->poll_mu);
	s->stopping = true;
	pthread_mutex_unlock(&s->poll_mu);
	/* Requests waiting for persistd answer now (503: not confirmed durable; their records are
	 * still shipped by the journal client's stop): MHD cannot stop with suspended connections,
	 * and a suspended connection is freed by nothing else, so a wait never outlives its request. */
	if (s->cfg.journal != NULL)
		journal_client_waits_end(s->cfg.journal);
	/* End every parked poll; none can be parked once `stopping` is set. */
	for (;;) {
		struct http_req *q;
		uint64_t waiter = 0;

		pthread_mutex_lock(&s->poll_mu);
		q = s->polls;
		if (q != NULL)
			waiter = q->poll_waiter;
		pthread_mutex_unlock(&s->poll_mu);
		if (q == NULL)
			break;
		poll_cancel(s, q, waiter);
	}
	deadline = clock_monotonic_us() + (int64_t)grace_ms * 1000;
	while (atomic_load(&s->active) > 0 && clock_monotonic_us() < deadline)
		nanosleep(&pause, NULL);
	MHD_stop_daemon(s->daemon);
	server_free(s);
}
