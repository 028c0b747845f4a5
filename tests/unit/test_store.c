/* Conformance suite for persistd's storage backends: one set of tests run against every backend
 * through its ops table (sqlite, json, memory, redis), each in a fresh temporary directory (redis:
 * a fresh key prefix on a private redis-server this process starts): exact round
 * trips of entities and messages (every field, every value type, binary bodies, extreme numbers),
 * deletes, missing keys, transactions (rollback, commit across reopen, close without commit),
 * load order and early stop, prefix listing, stats, purge and compact. Then the backend-specific
 * cases: json crash leftovers, an interrupted json commit, json files that do not parse, the
 * json layout, json write errors before and after the commit point; sqlite schema versions and
 * undecodable rows; redis durability settings, connection and password errors, format versions,
 * paged loads, purge scope, a server killed after a commit and a client killed before one, and
 * the fold of a randomized workload agreeing with the core; store_ops_find.
 *
 * The redis backend needs redis-server (deploy/install-deps.sh installs it): main() starts one on
 * a free loopback port with the durability settings the backend demands, and kills it at exit;
 * without redis-server every redis test fails. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/duration.h"
#include "common/err.h"
#include "common/log.h"
#include "common/timefmt.h"
#include "common/value.h"
#include "persistd/store.h"
#include "proto/journal.h"
#include "proto/model.h"
#include "foldcheck.h"
#include "workload.h"

#define ck_assert_err(expr, want)                                                                   \
	do {                                                                                        \
		lz_err got_ = (expr);                                                               \
		ck_assert_msg(got_ == (want), "%s: got %s, want %s (%s)", #expr, err_name(got_),    \
			      err_name(want), fx->detail.text);                                     \
	} while (0)

static const char *const backends[] = { "sqlite", "json", "memory", "redis" };

#define NBACKENDS ((int)(sizeof(backends) / sizeof(backends[0])))

/* Every test's directory lives under this one, which main() removes even after failures. */
static char suite_dir[1024];

struct fixture {
	const struct store_ops *ops;
	bool persistent;
	char dir[1100];
	char location[1200];
	char prefix[64]; /* redis: this test's key prefix */
	struct store_config cfg;
	store *s;
	struct store_detail detail;
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *dir)
{
	ck_assert_msg(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0 || errno == ENOENT, "cannot remove %s", dir);
}

static void fx_open(struct fixture *fx)
{
	memset(&fx->detail, 0, sizeof(fx->detail));
	ck_assert_err(fx->ops->open(&fx->cfg, &fx->s, &fx->detail), LZ_OK);
	ck_assert_ptr_nonnull(fx->s);
}

static void fx_close(struct fixture *fx)
{
	fx->ops->close(fx->s);
	fx->s = NULL;
}

static void fx_reopen(struct fixture *fx)
{
	fx_close(fx);
	fx_open(fx);
}

/* ------------------------------------------------------------------------------------------ */
/* A private redis-server                                                                     */
/* ------------------------------------------------------------------------------------------ */

struct redis_server {
	pid_t pid;
	int port;
	char dir[PATH_MAX];
};

/* The suite's server, started by main(); pid 0 if it could not start (why in redis_why). */
static struct redis_server suite_redis;
static char redis_why[PATH_MAX + 256];
static pid_t main_pid;

/* A TCP port on 127.0.0.1 that was free a moment ago. */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		close(fd);
		return -1;
	}
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* A connection to the server (authenticated with `password` if not NULL), or NULL. */
static redisContext *redis_connect(int port, const char *password)
{
	struct timeval tv = { 2, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
	redisReply *r;

	if (c == NULL || c->err != 0) {
		if (c != NULL)
			redisFree(c);
		return NULL;
	}
	if (password != NULL) {
		r = redisCommand(c, "AUTH %s", password);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			if (r != NULL)
				freeReplyObject(r);
			redisFree(c);
			return NULL;
		}
		freeReplyObject(r);
	}
	return c;
}

/* Starts redis-server in `dir` on `port` (0: a free one) with the settings the backend wants,
 * and waits (at most 10 s) until it answers PING. false, with redis_why set, on failure. */
static bool redis_server_start(struct redis_server *rs, int port)
{
	char port_s[16], log_path[PATH_MAX + 16];
	struct timespec pause = { 0, 20 * 1000 * 1000 };
	pid_t parent = getpid();

	rs->port = port != 0 ? port : free_port();
	if (rs->port <= 0) {
		snprintf(redis_why, sizeof(redis_why), "no free loopback port: %s", strerror(errno));
		return false;
	}
	snprintf(port_s, sizeof(port_s), "%d", rs->port);
	snprintf(log_path, sizeof(log_path), "%s/redis.log", rs->dir);
	rs->pid = fork();
	if (rs->pid < 0) {
		snprintf(redis_why, sizeof(redis_why), "fork: %s", strerror(errno));
		return false;
	}
	if (rs->pid == 0) {
		int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);

		/* Dies with the process that started it, even if that one is killed. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
			_exit(127);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		execlp("redis-server", "redis-server", "--port", port_s, "--bind", "127.0.0.1", "--appendonly", "yes",
		       "--appendfsync", "always", "--dir", rs->dir, "--save", "", "--daemonize", "no", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		redisContext *c = redis_connect(rs->port, NULL);
		int status;

		if (c != NULL) {
			redisReply *r = redisCommand(c, "PING");
			bool up = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;

			if (r != NULL)
				freeReplyObject(r);
			redisFree(c);
			if (up)
				return true;
		}
		if (waitpid(rs->pid, &status, WNOHANG) == rs->pid) {
			snprintf(redis_why, sizeof(redis_why),
				 "redis-server exited with status %d (log: %s; exit 127: not installed)",
				 WIFEXITED(status) ? WEXITSTATUS(status) : -1, log_path);
			rs->pid = 0;
			return false;
		}
		nanosleep(&pause, NULL);
	}
	snprintf(redis_why, sizeof(redis_why), "redis-server did not answer PING on port %d within 10 s", rs->port);
	kill(rs->pid, SIGKILL);
	waitpid(rs->pid, NULL, 0);
	rs->pid = 0;
	return false;
}

static void redis_server_kill(struct redis_server *rs)
{
	if (rs->pid <= 0)
		return;
	kill(rs->pid, SIGKILL);
	waitpid(rs->pid, NULL, 0);
	rs->pid = 0;
}

/* atexit: only the process that started the suite's server stops it (check forks a child per
 * test, and those run atexit handlers too). */
static void suite_redis_stop(void)
{
	if (getpid() == main_pid)
		redis_server_kill(&suite_redis);
}

/* Runs one command on the suite's server (AUTH with `password` first if not NULL); the reply
 * must not be an error. */
static redisReply *redis_run(const char *password, const char *fmt, ...)
{
	redisContext *c = redis_connect(suite_redis.port, password);
	redisReply *r;
	va_list ap;

	ck_assert_msg(c != NULL, "cannot connect to the test redis-server on port %d", suite_redis.port);
	va_start(ap, fmt);
	r = redisvCommand(c, fmt, ap);
	va_end(ap);
	ck_assert_msg(r != NULL, "%s: %s", fmt, c->errstr);
	ck_assert_msg(r->type != REDIS_REPLY_ERROR, "%s: %s", fmt, r->str);
	redisFree(c);
	return r;
}

static void redis_do(const char *fmt, const char *a, const char *b)
{
	freeReplyObject(redis_run(NULL, fmt, a, b));
}

/* The settings the backend demands, whatever an earlier (failed) test left. */
static void redis_restore_config(void)
{
	redisContext *c = redis_connect(suite_redis.port, NULL);
	redisReply *r;

	ck_assert_ptr_nonnull(c);
	r = redisCommand(c, "PING");
	ck_assert_ptr_nonnull(r);
	if (r->type == REDIS_REPLY_ERROR) { /* a password test died half-way */
		freeReplyObject(r);
		r = redisCommand(c, "AUTH s3cret");
		ck_assert_ptr_nonnull(r);
		freeReplyObject(r);
		r = redisCommand(c, "CONFIG SET requirepass %s", "");
		ck_assert_ptr_nonnull(r);
	}
	freeReplyObject(r);
	redisFree(c);
	redis_do("CONFIG SET appendfsync %s", "always", NULL);
	redis_do("CONFIG SET no-appendfsync-on-rewrite %s", "no", NULL);
	redis_do("CONFIG SET maxmemory-policy %s", "noeviction", NULL);
}

static void fx_setup_named(struct fixture *fx, const char *backend)
{
	static unsigned nprefix;

	memset(fx, 0, sizeof(*fx));
	fx->ops = store_ops_find(backend);
	ck_assert_ptr_nonnull(fx->ops);
	fx->persistent = strcmp(backend, "memory") != 0;
	snprintf(fx->dir, sizeof(fx->dir), "%s/%s-XXXXXX", suite_dir, backend);
	ck_assert_ptr_nonnull(mkdtemp(fx->dir));
	if (strcmp(backend, "sqlite") == 0)
		snprintf(fx->location, sizeof(fx->location), "%s/store.db", fx->dir);
	else if (strcmp(backend, "json") == 0)
		snprintf(fx->location, sizeof(fx->location), "%s/store", fx->dir);
	if (strcmp(backend, "redis") == 0) {
		ck_assert_msg(suite_redis.pid > 0,
			      "the redis backend tests need redis-server: run deploy/install-deps.sh (%s)", redis_why);
		redis_restore_config();
		snprintf(fx->location, sizeof(fx->location), "redis://127.0.0.1:%d/0", suite_redis.port);
		snprintf(fx->prefix, sizeof(fx->prefix), "lzt%ld-%u:", (long)getpid(), nprefix++);
		fx->cfg.key_prefix = fx->prefix;
	}
	fx->cfg.location = fx->location[0] != '\0' ? fx->location : NULL;
	fx_open(fx);
}

static void fx_setup(struct fixture *fx, int i)
{
	fx_setup_named(fx, backends[i]);
}

static void fx_teardown(struct fixture *fx)
{
	fx_close(fx);
	rm_tree(fx->dir);
}

static void fx_begin(struct fixture *fx)
{
	ck_assert_err(fx->ops->begin(fx->s, &fx->detail), LZ_OK);
}

static void fx_commit(struct fixture *fx, uint64_t lsn)
{
	ck_assert_err(fx->ops->commit(fx->s, lsn, &fx->detail), LZ_OK);
}

static uint64_t fx_lsn(struct fixture *fx)
{
	uint64_t lsn = UINT64_MAX;

	ck_assert_err(fx->ops->last_applied_lsn(fx->s, &lsn, &fx->detail), LZ_OK);
	return lsn;
}

/* ------------------------------------------------------------------------------------------ */
/* Sample data                                                                                */
/* ------------------------------------------------------------------------------------------ */

static char *xstrdup(const char *s)
{
	char *p;

	if (s == NULL)
		return NULL;
	p = strdup(s);
	ck_assert_ptr_nonnull(p);
	return p;
}

static void prop_put(struct proplist *l, const char *name, value_type t, int64_t i, double d, const char *s)
{
	struct value v = { .type = t };

	if (t == VALUE_STRING)
		v.u.s = (char *)s;
	else if (t == VALUE_DOUBLE)
		v.u.d = d;
	else if (t == VALUE_BOOL)
		v.u.b = i != 0;
	else
		v.u.i = i;
	ck_assert_int_eq(proplist_set(l, name, &v), LZ_OK);
}

/* One property of every type, with the values that stress each text form. */
static void props_every_type(struct proplist *l)
{
	volatile double tenth = 0.1;

	proplist_init(l);
	prop_put(l, "str", VALUE_STRING, 0, 0, "h\xc3\xa9llo \"quoted\" \\ / \t tab");
	prop_put(l, "empty", VALUE_STRING, 0, 0, "");
	prop_put(l, "i32min", VALUE_INT, INT32_MIN, 0, NULL);
	prop_put(l, "i32max", VALUE_INT, INT32_MAX, 0, NULL);
	prop_put(l, "lmax", VALUE_LONG, INT64_MAX, 0, NULL);
	prop_put(l, "lmin", VALUE_LONG, INT64_MIN, 0, NULL);
	prop_put(l, "l53", VALUE_LONG, 9007199254740993LL, 0, NULL);
	prop_put(l, "lsmall", VALUE_LONG, -5, 0, NULL);
	prop_put(l, "yes", VALUE_BOOL, 1, 0, NULL);
	prop_put(l, "no", VALUE_BOOL, 0, 0, NULL);
	prop_put(l, "pi", VALUE_DOUBLE, 0, 3.141592653589793, NULL);
	prop_put(l, "sum", VALUE_DOUBLE, 0, tenth + 0.2, NULL);
	prop_put(l, "negzero", VALUE_DOUBLE, 0, -0.0, NULL);
	prop_put(l, "big", VALUE_DOUBLE, 0, 1e300, NULL);
	prop_put(l, "tiny", VALUE_DOUBLE, 0, 5e-324, NULL);
	prop_put(l, "whole", VALUE_DOUBLE, 0, 3.0, NULL);
	prop_put(l, "nan", VALUE_DOUBLE, 0, NAN, NULL);
	prop_put(l, "inf", VALUE_DOUBLE, 0, INFINITY, NULL);
	prop_put(l, "ninf", VALUE_DOUBLE, 0, -INFINITY, NULL);
	prop_put(l, "when", VALUE_DATETIME, 1700000000123LL, 0, NULL);
	prop_put(l, "epoch", VALUE_DATETIME, 0, 0, NULL);
	prop_put(l, "year1", VALUE_DATETIME, TIMEFMT_MS_MIN, 0, NULL);
	prop_put(l, "never", VALUE_DATETIME, INT64_MAX, 0, NULL);
	prop_put(l, "dur", VALUE_DURATION, 90061001, 0, NULL);
	prop_put(l, "dzero", VALUE_DURATION, 0, 0, NULL);
	prop_put(l, "dinf", VALUE_DURATION, DURATION_INFINITE, 0, NULL);
	prop_put(l, "dband", VALUE_DURATION, DURATION_INFINITE_MIN_MS + 7, 0, NULL);
	prop_put(l, "dneg", VALUE_DURATION, -5, 0, NULL);
	prop_put(l, "nothing", VALUE_NULL, 0, 0, NULL);
}

static void rule_fill(struct rule_desc *r, const char *name, enum filter_type ft, enum action_type at)
{
	memset(r, 0, sizeof(*r));
	r->name = xstrdup(name);
	r->filter_type = ft;
	r->sql_compat_level = 20;
	r->action_type = at;
	r->action_compat_level = 20;
	r->created_at = 1700000000999LL;
	if (ft == FILTER_SQL) {
		r->sql_expression = xstrdup("color = @c AND size > 10 AND sys.Label LIKE 'a%'");
		props_every_type(&r->sql_params);
	}
	if (ft == FILTER_CORRELATION) {
		r->corr.correlation_id = xstrdup("corr-1");
		r->corr.message_id = xstrdup("msg-1");
		r->corr.to = xstrdup("to-1");
		r->corr.reply_to = xstrdup("reply-1");
		r->corr.label = xstrdup("label-1");
		r->corr.session_id = xstrdup("session-1");
		r->corr.reply_to_session_id = xstrdup("rsession-1");
		r->corr.content_type = xstrdup("application/json");
		props_every_type(&r->corr.properties);
	}
	if (at == ACTION_SQL) {
		r->action_sql = xstrdup("SET sys.Label = @l; SET priority = 'high'");
		r->action_compat_level = 21;
		props_every_type(&r->action_params);
	}
}

/* An entity with every field set; `variant` changes every value (0: extreme forms). */
static void entity_fill(struct jrec_load_entity *e, const char *path, enum entity_kind kind, int variant)
{
	struct entity_desc *d = &e->desc;

	memset(e, 0, sizeof(*e));
	e->path = xstrdup(path);
	d->kind = kind;
	d->lock_duration_ms = 45000 + variant;
	d->max_size_mb = 2048 + variant;
	d->requires_duplicate_detection = variant == 0;
	d->requires_session = variant != 0;
	d->default_ttl_ms = variant == 0 ? DURATION_INFINITE : 3600000;
	d->dead_lettering_on_expiration = variant == 0;
	d->dead_lettering_on_filter_exceptions = variant != 0;
	d->dup_window_ms = variant == 0 ? DURATION_INFINITE_MIN_MS + 1 : 600000;
	d->max_delivery_count = variant == 0 ? INT32_MAX : 7;
	d->enable_batched_operations = variant == 0;
	d->is_anonymous_accessible = variant != 0;
	d->support_ordering = variant == 0;
	d->filtering_before_publishing = variant != 0;
	d->status = variant == 0 ? STATUS_RECEIVE_DISABLED : STATUS_SEND_DISABLED;
	d->auto_delete_on_idle_ms = variant == 0 ? 300001 : DURATION_INFINITE;
	d->enable_partitioning = variant == 0;
	d->enable_subscription_partitioning = variant != 0;
	d->enable_express = variant == 0;
	d->max_message_size_kb = variant == 0 ? INT64_MAX : 256;
	d->forward_to = variant == 0 ? xstrdup("fwd-target") : NULL;
	d->forward_dlq_to = variant == 0 ? NULL : xstrdup("dlq-target");
	d->user_metadata = xstrdup(variant == 0 ? "meta \xc3\xbc \"x\"\n" : "");
	e->created_at = 1700000000000LL;
	e->updated_at = variant == 0 ? TIMEFMT_MS_MAX + 1 : 1700000000001LL;
	e->accessed_at = variant == 0 ? 0 : INT64_MIN;
	e->last_seq = variant == 0 ? (1ULL << 60) + 3 : 42;
	if (variant == 0) {
		e->nrules = 4;
		e->rules = calloc(e->nrules, sizeof(*e->rules));
		ck_assert_ptr_nonnull(e->rules);
		rule_fill(&e->rules[0], "$Default", FILTER_TRUE, ACTION_EMPTY);
		rule_fill(&e->rules[1], "never", FILTER_FALSE, ACTION_SQL);
		rule_fill(&e->rules[2], "sql", FILTER_SQL, ACTION_SQL);
		rule_fill(&e->rules[3], "corr", FILTER_CORRELATION, ACTION_EMPTY);
		e->ndups = 3;
		e->dups = calloc(e->ndups, sizeof(*e->dups));
		ck_assert_ptr_nonnull(e->dups);
		e->dups[0].id = xstrdup("m1");
		e->dups[0].ts_ms = 1700000000100LL;
		e->dups[1].id = xstrdup("m\xc3\xbc-2");
		e->dups[1].ts_ms = 1700000000200LL;
		e->dups[2].id = xstrdup("");
		e->dups[2].ts_ms = -1;
	}
}

static const uint8_t binary_body[] = { 0x00, 0xff, 'a', 0x00, 0x80, 0xc3, 0x28, '\n', 0x00 };
static const char text_body[] = "hello w\xc3\xb6rld {\"json\": true}\n\ttab";

/* A message with every field set; variant 0: binary body, all properties; 1: text body,
 * deferred, nothing optional; 2: empty body, place dead-letter fields; 3: a large body. */
static void message_fill(struct jrec_load_message *m, const char *path, enum journal_where where, uint64_t seq,
			 int variant)
{
	struct journal_place *pl = &m->place;
	struct msg_props *p = &m->msg.props;

	memset(m, 0, sizeof(*m));
	pl->path = xstrdup(path);
	pl->where = where;
	pl->seq = seq;
	pl->enqueued_seq = variant == 1 ? 77 : 0;
	pl->enqueued_ms = 1700000000500LL + variant;
	pl->ttl_ms = variant == 0 ? DURATION_INFINITE : 60000;
	pl->expires_ms = variant == 0 ? INT64_MAX : pl->enqueued_ms + 60000;
	pl->scheduled_ms = where == JWHERE_SCHEDULED ? 1700000100000LL : 0;
	pl->delivery_count = variant == 0 ? UINT32_MAX : (uint32_t)variant;
	if (variant == 2) {
		pl->dl_reason = xstrdup("MaxDeliveryCountExceeded");
		pl->dl_description = xstrdup("too many \"tries\"");
		pl->dl_source = xstrdup("orders");
	}
	m->deferred = variant == 1;
	if (variant == 0) {
		p->message_id = xstrdup("id-\xc3\xa9");
		p->correlation_id = xstrdup("corr");
		p->session_id = xstrdup("session");
		p->reply_to = xstrdup("reply");
		p->reply_to_session_id = xstrdup("rsession");
		p->to = xstrdup("to");
		p->label = xstrdup("label");
		p->content_type = xstrdup("application/octet-stream");
		p->partition_key = xstrdup("pk");
		p->via_partition_key = xstrdup("vpk");
		p->has_ttl = true;
		p->ttl_ms = 30000;
		p->scheduled_enqueue_ms = 1700000100000LL;
		p->force_persistence = true;
		props_every_type(&m->msg.user);
	} else if (variant == 2) {
		p->has_ttl = true;
		p->ttl_ms = 0;
	}
	switch (variant) {
	case 0:
		m->msg.body_len = sizeof(binary_body);
		m->msg.body = malloc(m->msg.body_len);
		ck_assert_ptr_nonnull(m->msg.body);
		memcpy(m->msg.body, binary_body, sizeof(binary_body));
		break;
	case 1:
		m->msg.body_len = strlen(text_body);
		m->msg.body = (uint8_t *)xstrdup(text_body);
		break;
	case 3:
		m->msg.body_len = 300001;
		m->msg.body = malloc(m->msg.body_len);
		ck_assert_ptr_nonnull(m->msg.body);
		for (size_t i = 0; i < m->msg.body_len; i++)
			m->msg.body[i] = (uint8_t)(i * 131 + 7);
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------------------------------------ */
/* Field-by-field comparison                                                                  */
/* ------------------------------------------------------------------------------------------ */

static void eq_str(const char *what, const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		ck_assert_msg(a == b, "%s: '%s' != '%s'", what, a ? a : "(null)", b ? b : "(null)");
	else
		ck_assert_msg(strcmp(a, b) == 0, "%s: '%s' != '%s'", what, a, b);
}

static void eq_i64(const char *what, int64_t a, int64_t b)
{
	ck_assert_msg(a == b, "%s: %" PRId64 " != %" PRId64, what, a, b);
}

static void eq_u64(const char *what, uint64_t a, uint64_t b)
{
	ck_assert_msg(a == b, "%s: %" PRIu64 " != %" PRIu64, what, a, b);
}

static void eq_bool(const char *what, bool a, bool b)
{
	ck_assert_msg(a == b, "%s: %d != %d", what, a, b);
}

static void eq_props(const char *what, const struct proplist *a, const struct proplist *b)
{
	ck_assert_msg(a->n == b->n, "%s: %zu properties != %zu", what, a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		const struct value *x = &a->items[i].v, *y = &b->items[i].v;

		eq_str(what, a->items[i].name, b->items[i].name);
		ck_assert_msg(x->type == y->type, "%s.%s: type %d != %d", what, a->items[i].name, x->type, y->type);
		if (x->type == VALUE_DOUBLE)
			ck_assert_msg((isnan(x->u.d) && isnan(y->u.d)) || memcmp(&x->u.d, &y->u.d, sizeof(double)) == 0,
				      "%s.%s: %.17g != %.17g", what, a->items[i].name, x->u.d, y->u.d);
		else
			ck_assert_msg(value_equal(x, y), "%s.%s differs", what, a->items[i].name);
	}
}

static void eq_desc(const struct entity_desc *a, const struct entity_desc *b)
{
	eq_i64("kind", a->kind, b->kind);
	eq_i64("lock_duration_ms", a->lock_duration_ms, b->lock_duration_ms);
	eq_i64("max_size_mb", a->max_size_mb, b->max_size_mb);
	eq_bool("requires_duplicate_detection", a->requires_duplicate_detection, b->requires_duplicate_detection);
	eq_bool("requires_session", a->requires_session, b->requires_session);
	eq_i64("default_ttl_ms", a->default_ttl_ms, b->default_ttl_ms);
	eq_bool("dead_lettering_on_expiration", a->dead_lettering_on_expiration, b->dead_lettering_on_expiration);
	eq_bool("dead_lettering_on_filter_exceptions", a->dead_lettering_on_filter_exceptions,
		b->dead_lettering_on_filter_exceptions);
	eq_i64("dup_window_ms", a->dup_window_ms, b->dup_window_ms);
	eq_i64("max_delivery_count", a->max_delivery_count, b->max_delivery_count);
	eq_bool("enable_batched_operations", a->enable_batched_operations, b->enable_batched_operations);
	eq_bool("is_anonymous_accessible", a->is_anonymous_accessible, b->is_anonymous_accessible);
	eq_bool("support_ordering", a->support_ordering, b->support_ordering);
	eq_bool("filtering_before_publishing", a->filtering_before_publishing, b->filtering_before_publishing);
	eq_i64("status", a->status, b->status);
	eq_i64("auto_delete_on_idle_ms", a->auto_delete_on_idle_ms, b->auto_delete_on_idle_ms);
	eq_bool("enable_partitioning", a->enable_partitioning, b->enable_partitioning);
	eq_bool("enable_subscription_partitioning", a->enable_subscription_partitioning,
		b->enable_subscription_partitioning);
	eq_bool("enable_express", a->enable_express, b->enable_express);
	eq_i64("max_message_size_kb", a->max_message_size_kb, b->max_message_size_kb);
	eq_str("forward_to", a->forward_to, b->forward_to);
	eq_str("forward_dlq_to", a->forward_dlq_to, b->forward_dlq_to);
	eq_str("user_metadata", a->user_metadata, b->user_metadata);
}

static void eq_rule(const struct rule_desc *a, const struct rule_desc *b)
{
	eq_str("rule.name", a->name, b->name);
	eq_i64("rule.filter_type", a->filter_type, b->filter_type);
	eq_str("rule.sql_expression", a->sql_expression, b->sql_expression);
	eq_i64("rule.sql_compat_level", a->sql_compat_level, b->sql_compat_level);
	eq_props("rule.sql_params", &a->sql_params, &b->sql_params);
	eq_str("corr.correlation_id", a->corr.correlation_id, b->corr.correlation_id);
	eq_str("corr.message_id", a->corr.message_id, b->corr.message_id);
	eq_str("corr.to", a->corr.to, b->corr.to);
	eq_str("corr.reply_to", a->corr.reply_to, b->corr.reply_to);
	eq_str("corr.label", a->corr.label, b->corr.label);
	eq_str("corr.session_id", a->corr.session_id, b->corr.session_id);
	eq_str("corr.reply_to_session_id", a->corr.reply_to_session_id, b->corr.reply_to_session_id);
	eq_str("corr.content_type", a->corr.content_type, b->corr.content_type);
	eq_props("corr.properties", &a->corr.properties, &b->corr.properties);
	eq_i64("rule.action_type", a->action_type, b->action_type);
	eq_str("rule.action_sql", a->action_sql, b->action_sql);
	eq_i64("rule.action_compat_level", a->action_compat_level, b->action_compat_level);
	eq_props("rule.action_params", &a->action_params, &b->action_params);
	eq_i64("rule.created_at", a->created_at, b->created_at);
}

static void eq_entity(const struct jrec_load_entity *a, const struct jrec_load_entity *b)
{
	eq_str("path", a->path, b->path);
	eq_desc(&a->desc, &b->desc);
	eq_i64("created_at", a->created_at, b->created_at);
	eq_i64("updated_at", a->updated_at, b->updated_at);
	eq_i64("accessed_at", a->accessed_at, b->accessed_at);
	eq_u64("last_seq", a->last_seq, b->last_seq);
	ck_assert_msg(a->nrules == b->nrules, "nrules %zu != %zu", a->nrules, b->nrules);
	for (size_t i = 0; i < a->nrules; i++)
		eq_rule(&a->rules[i], &b->rules[i]);
	ck_assert_msg(a->ndups == b->ndups, "ndups %zu != %zu", a->ndups, b->ndups);
	for (size_t i = 0; i < a->ndups; i++) {
		eq_str("dup.id", a->dups[i].id, b->dups[i].id);
		eq_i64("dup.ts_ms", a->dups[i].ts_ms, b->dups[i].ts_ms);
	}
}

static void eq_message(const struct jrec_load_message *a, const struct jrec_load_message *b)
{
	const struct msg_props *p = &a->msg.props, *q = &b->msg.props;

	eq_str("place.path", a->place.path, b->place.path);
	eq_i64("place.where", a->place.where, b->place.where);
	eq_u64("place.seq", a->place.seq, b->place.seq);
	eq_u64("place.enqueued_seq", a->place.enqueued_seq, b->place.enqueued_seq);
	eq_i64("place.enqueued_ms", a->place.enqueued_ms, b->place.enqueued_ms);
	eq_i64("place.ttl_ms", a->place.ttl_ms, b->place.ttl_ms);
	eq_i64("place.expires_ms", a->place.expires_ms, b->place.expires_ms);
	eq_i64("place.scheduled_ms", a->place.scheduled_ms, b->place.scheduled_ms);
	eq_u64("place.delivery_count", a->place.delivery_count, b->place.delivery_count);
	eq_str("place.dl_reason", a->place.dl_reason, b->place.dl_reason);
	eq_str("place.dl_description", a->place.dl_description, b->place.dl_description);
	eq_str("place.dl_source", a->place.dl_source, b->place.dl_source);
	eq_bool("deferred", a->deferred, b->deferred);
	eq_str("message_id", p->message_id, q->message_id);
	eq_str("correlation_id", p->correlation_id, q->correlation_id);
	eq_str("session_id", p->session_id, q->session_id);
	eq_str("reply_to", p->reply_to, q->reply_to);
	eq_str("reply_to_session_id", p->reply_to_session_id, q->reply_to_session_id);
	eq_str("to", p->to, q->to);
	eq_str("label", p->label, q->label);
	eq_str("content_type", p->content_type, q->content_type);
	eq_str("partition_key", p->partition_key, q->partition_key);
	eq_str("via_partition_key", p->via_partition_key, q->via_partition_key);
	eq_bool("has_ttl", p->has_ttl, q->has_ttl);
	eq_i64("ttl_ms", p->ttl_ms, q->ttl_ms);
	eq_i64("scheduled_enqueue_ms", p->scheduled_enqueue_ms, q->scheduled_enqueue_ms);
	eq_bool("force_persistence", p->force_persistence, q->force_persistence);
	eq_props("user", &a->msg.user, &b->msg.user);
	ck_assert_msg(a->msg.body_len == b->msg.body_len, "body_len %zu != %zu", a->msg.body_len, b->msg.body_len);
	ck_assert(a->msg.body_len == 0 || memcmp(a->msg.body, b->msg.body, a->msg.body_len) == 0);
}

/* get_entity(path) equals `want`. */
static void check_entity(struct fixture *fx, const char *path, const struct jrec_load_entity *want)
{
	struct jrec_load_entity got;

	ck_assert_err(fx->ops->get_entity(fx->s, path, &got, &fx->detail), LZ_OK);
	eq_entity(want, &got);
	journal_load_entity_release(&got);
}

static void check_message(struct fixture *fx, const struct jrec_load_message *want)
{
	struct jrec_load_message got;

	ck_assert_err(fx->ops->get_message(fx->s, want->place.path, want->place.where, want->place.seq, &got,
					   &fx->detail),
		      LZ_OK);
	eq_message(want, &got);
	journal_load_message_release(&got);
}

static void check_no_entity(struct fixture *fx, const char *path)
{
	struct jrec_load_entity got;

	ck_assert_err(fx->ops->get_entity(fx->s, path, &got, &fx->detail), LZ_ENOTFOUND);
}

static void check_no_message(struct fixture *fx, const char *path, enum journal_where where, uint64_t seq)
{
	struct jrec_load_message got;

	ck_assert_err(fx->ops->get_message(fx->s, path, where, seq, &got, &fx->detail), LZ_ENOTFOUND);
}

static void put_entity(struct fixture *fx, const char *path, enum entity_kind kind, int variant)
{
	struct jrec_load_entity e;

	entity_fill(&e, path, kind, variant);
	ck_assert_err(fx->ops->put_entity(fx->s, &e, &fx->detail), LZ_OK);
	journal_load_entity_release(&e);
}

static void put_message(struct fixture *fx, const char *path, enum journal_where where, uint64_t seq, int variant)
{
	struct jrec_load_message m;

	message_fill(&m, path, where, seq, variant);
	ck_assert_err(fx->ops->put_message(fx->s, &m, &fx->detail), LZ_OK);
	journal_load_message_release(&m);
}

/* ------------------------------------------------------------------------------------------ */
/* Load collector                                                                             */
/* ------------------------------------------------------------------------------------------ */

#define SEEN_MAX 64

struct seen {
	char *entities[SEEN_MAX];
	size_t nentities;
	struct {
		char *path;
		enum journal_where where;
		uint64_t seq;
	} msgs[SEEN_MAX];
	size_t nmsgs;
	size_t stop_entity; /* fail on the n-th entity (1-based); 0: never */
	size_t stop_message;
	const struct jrec_load_entity *want_entity;   /* compared when its path comes by */
	const struct jrec_load_message *want_message; /* compared when its place comes by */
};

static lz_err seen_entity(void *arg, const struct jrec_load_entity *e)
{
	struct seen *s = arg;

	ck_assert(s->nentities < SEEN_MAX);
	s->entities[s->nentities++] = xstrdup(e->path);
	if (s->want_entity != NULL && strcmp(s->want_entity->path, e->path) == 0)
		eq_entity(s->want_entity, e);
	return s->nentities == s->stop_entity ? LZ_EINVAL : LZ_OK;
}

static lz_err seen_message(void *arg, const struct jrec_load_message *m)
{
	struct seen *s = arg;

	ck_assert(s->nmsgs < SEEN_MAX);
	s->msgs[s->nmsgs].path = xstrdup(m->place.path);
	s->msgs[s->nmsgs].where = m->place.where;
	s->msgs[s->nmsgs].seq = m->place.seq;
	s->nmsgs++;
	if (s->want_message != NULL && strcmp(s->want_message->place.path, m->place.path) == 0 &&
	    s->want_message->place.where == m->place.where && s->want_message->place.seq == m->place.seq)
		eq_message(s->want_message, m);
	return s->nmsgs == s->stop_message ? LZ_ECRC : LZ_OK;
}

static void seen_release(struct seen *s)
{
	for (size_t i = 0; i < s->nentities; i++)
		free(s->entities[i]);
	for (size_t i = 0; i < s->nmsgs; i++)
		free(s->msgs[i].path);
	memset(s, 0, sizeof(*s));
}

static lz_err fx_load(struct fixture *fx, struct seen *s)
{
	struct store_visitor v = { seen_entity, seen_message, s };

	return fx->ops->load(fx->s, &v, &fx->detail);
}

/* load lists exactly these entity paths, in this order, and `nmsgs` messages. */
static void check_load(struct fixture *fx, const char *const *paths, size_t n, size_t nmsgs)
{
	struct seen s = { 0 };

	ck_assert_err(fx_load(fx, &s), LZ_OK);
	ck_assert_msg(s.nentities == n, "%zu entities loaded, want %zu", s.nentities, n);
	for (size_t i = 0; i < n; i++)
		eq_str("loaded entity", s.entities[i], paths[i]);
	ck_assert_msg(s.nmsgs == nmsgs, "%zu messages loaded, want %zu", s.nmsgs, nmsgs);
	seen_release(&s);
}

/* ------------------------------------------------------------------------------------------ */
/* Conformance tests (every backend)                                                          */
/* ------------------------------------------------------------------------------------------ */

START_TEST(test_entity_round_trip)
{
	struct fixture f, *fx = &f;
	struct jrec_load_entity q, t, sub, q2;

	fx_setup(fx, _i);
	entity_fill(&q, "Orders", ENTITY_QUEUE, 0);
	entity_fill(&t, "Events", ENTITY_TOPIC, 1);
	entity_fill(&sub, "Events/Subscriptions/Audit", ENTITY_SUBSCRIPTION, 0);
	entity_fill(&q2, "Orders", ENTITY_QUEUE, 1);
	fx_begin(fx);
	ck_assert_err(fx->ops->put_entity(fx->s, &q, &fx->detail), LZ_OK);
	ck_assert_err(fx->ops->put_entity(fx->s, &t, &fx->detail), LZ_OK);
	ck_assert_err(fx->ops->put_entity(fx->s, &sub, &fx->detail), LZ_OK);
	/* Inside the transaction, by any case. */
	check_entity(fx, "ORDERS", &q);
	check_entity(fx, "events/subscriptions/audit", &sub);
	fx_commit(fx, 7);
	ck_assert_uint_eq(fx_lsn(fx), 7);
	check_entity(fx, "Orders", &q);
	check_entity(fx, "Events", &t);
	check_entity(fx, "Events/Subscriptions/Audit", &sub);
	if (fx->persistent) {
		fx_reopen(fx);
		ck_assert_uint_eq(fx_lsn(fx), 7);
		check_entity(fx, "orders", &q);
		check_entity(fx, "Events", &t);
		check_entity(fx, "Events/Subscriptions/Audit", &sub);
	}
	/* put replaces, whatever the case of the path. */
	fx_begin(fx);
	free(q2.path);
	q2.path = xstrdup("ORDERS");
	ck_assert_err(fx->ops->put_entity(fx->s, &q2, &fx->detail), LZ_OK);
	fx_commit(fx, 8);
	check_entity(fx, "orders", &q2);
	if (fx->persistent) {
		fx_reopen(fx);
		check_entity(fx, "Orders", &q2);
	}
	{
		const char *const order[] = { "Events", "Events/Subscriptions/Audit", "ORDERS" };
		struct seen s = { 0 };

		check_load(fx, order, 3, 0);
		s.want_entity = &sub;
		ck_assert_err(fx_load(fx, &s), LZ_OK);
		seen_release(&s);
	}
	journal_load_entity_release(&q);
	journal_load_entity_release(&t);
	journal_load_entity_release(&sub);
	journal_load_entity_release(&q2);
	fx_teardown(fx);
}
END_TEST

START_TEST(test_entity_delete)
{
	struct fixture f, *fx = &f;

	fx_setup(fx, _i);
	check_no_entity(fx, "nothing");
	fx_begin(fx);
	put_entity(fx, "q", ENTITY_QUEUE, 1);
	put_entity(fx, "t", ENTITY_TOPIC, 1);
	put_entity(fx, "t/Subscriptions/s", ENTITY_SUBSCRIPTION, 0);
	fx_commit(fx, 1);
	fx_begin(fx);
	ck_assert_err(fx->ops->delete_entity(fx->s, "T", &fx->detail), LZ_OK);
	check_no_entity(fx, "t");
	ck_assert_err(fx->ops->delete_entity(fx->s, "t", &fx->detail), LZ_ENOTFOUND);
	ck_assert_err(fx->ops->delete_entity(fx->s, "never-was", &fx->detail), LZ_ENOTFOUND);
	fx_commit(fx, 2);
	if (fx->persistent)
		fx_reopen(fx);
	check_no_entity(fx, "t");
	{
		const char *const order[] = { "q", "t/Subscriptions/s" }; /* subscriptions are the fold's business */

		check_load(fx, order, 2, 0);
	}
	fx_teardown(fx);
}
END_TEST

START_TEST(test_message_round_trip)
{
	struct fixture f, *fx = &f;
	struct jrec_load_message m[5], changed;

	fx_setup(fx, _i);
	message_fill(&m[0], "Orders", JWHERE_MAIN, 1, 0);
	message_fill(&m[1], "Orders", JWHERE_MAIN, 2, 1);
	message_fill(&m[2], "Orders", JWHERE_DLQ, 1, 2);
	message_fill(&m[3], "Orders", JWHERE_SCHEDULED, 9007199254740999ULL, 3);
	message_fill(&m[4], "Events/Subscriptions/Audit", JWHERE_MAIN, 1, 0);
	fx_begin(fx);
	put_entity(fx, "Orders", ENTITY_QUEUE, 1);
	for (int i = 0; i < 5; i++)
		ck_assert_err(fx->ops->put_message(fx->s, &m[i], &fx->detail), LZ_OK);
	for (int i = 0; i < 5; i++)
		check_message(fx, &m[i]);
	fx_commit(fx, 3);
	for (int i = 0; i < 5; i++)
		check_message(fx, &m[i]);
	if (fx->persistent) {
		fx_reopen(fx);
		for (int i = 0; i < 5; i++)
			check_message(fx, &m[i]);
	}
	/* Case-insensitive keys; missing places. */
	{
		struct jrec_load_message got;

		ck_assert_err(fx->ops->get_message(fx->s, "ORDERS", JWHERE_MAIN, 1, &got, &fx->detail), LZ_OK);
		eq_message(&m[0], &got);
		journal_load_message_release(&got);
	}
	check_no_message(fx, "Orders", JWHERE_MAIN, 3);
	check_no_message(fx, "Orders", JWHERE_SCHEDULED, 1);
	check_no_message(fx, "Nowhere", JWHERE_MAIN, 1);
	/* Replace (a delivery and a deferral, as the fold does), delete. */
	message_fill(&changed, "Orders", JWHERE_MAIN, 1, 0);
	changed.place.delivery_count = 4;
	changed.deferred = true;
	fx_begin(fx);
	ck_assert_err(fx->ops->put_message(fx->s, &changed, &fx->detail), LZ_OK);
	ck_assert_err(fx->ops->delete_message(fx->s, "orders", JWHERE_MAIN, 2, &fx->detail), LZ_OK);
	ck_assert_err(fx->ops->delete_message(fx->s, "Orders", JWHERE_MAIN, 2, &fx->detail), LZ_ENOTFOUND);
	ck_assert_err(fx->ops->delete_message(fx->s, "Orders", JWHERE_DLQ, 99, &fx->detail), LZ_ENOTFOUND);
	fx_commit(fx, 4);
	if (fx->persistent)
		fx_reopen(fx);
	check_message(fx, &changed);
	check_no_message(fx, "Orders", JWHERE_MAIN, 2);
	check_message(fx, &m[2]);
	{
		struct seen s = { 0 };

		s.want_message = &m[3];
		ck_assert_err(fx_load(fx, &s), LZ_OK);
		ck_assert_uint_eq(s.nmsgs, 4);
		seen_release(&s);
	}
	for (int i = 0; i < 5; i++)
		journal_load_message_release(&m[i]);
	journal_load_message_release(&changed);
	fx_teardown(fx);
}
END_TEST

START_TEST(test_delete_entity_messages)
{
	struct fixture f, *fx = &f;
	struct jrec_load_message keep;

	fx_setup(fx, _i);
	fx_begin(fx);
	put_entity(fx, "q1", ENTITY_QUEUE, 1);
	put_entity(fx, "q2", ENTITY_QUEUE, 1);
	put_entity(fx, "q1x", ENTITY_QUEUE, 1);
	for (uint64_t seq = 1; seq <= 3; seq++) {
		put_message(fx, "q1", JWHERE_MAIN, seq, 1);
		put_message(fx, "q1", JWHERE_DLQ, seq, 2);
		put_message(fx, "q2", JWHERE_MAIN, seq, 1);
		put_message(fx, "q1x", JWHERE_SCHEDULED, seq, 1);
	}
	fx_commit(fx, 10);
	fx_begin(fx);
	ck_assert_err(fx->ops->delete_entity(fx->s, "Q1", &fx->detail), LZ_OK);
	for (uint64_t seq = 1; seq <= 3; seq++) {
		check_no_message(fx, "q1", JWHERE_MAIN, seq);
		check_no_message(fx, "q1", JWHERE_DLQ, seq);
	}
	fx_commit(fx, 11);
	if (fx->persistent)
		fx_reopen(fx);
	message_fill(&keep, "q2", JWHERE_MAIN, 2, 1);
	check_message(fx, &keep);
	journal_load_message_release(&keep);
	message_fill(&keep, "q1x", JWHERE_SCHEDULED, 3, 1);
	check_message(fx, &keep);
	journal_load_message_release(&keep);
	check_no_message(fx, "q1", JWHERE_DLQ, 2);
	{
		const char *const order[] = { "q1x", "q2" };

		check_load(fx, order, 2, 6);
	}
	/* An entity that was never stored still loses its messages; its delete says ENOTFOUND. */
	fx_begin(fx);
	put_message(fx, "ghost", JWHERE_MAIN, 1, 1);
	ck_assert_err(fx->ops->delete_entity(fx->s, "ghost", &fx->detail), LZ_ENOTFOUND);
	check_no_message(fx, "ghost", JWHERE_MAIN, 1);
	fx_commit(fx, 12);
	fx_teardown(fx);
}
END_TEST

START_TEST(test_rollback)
{
	struct fixture f, *fx = &f;
	struct jrec_load_entity q;
	struct jrec_load_message m1, m2;
	const char *const base[] = { "a", "q" };

	fx_setup(fx, _i);
	entity_fill(&q, "q", ENTITY_QUEUE, 0);
	message_fill(&m1, "q", JWHERE_MAIN, 1, 0);
	message_fill(&m2, "q", JWHERE_MAIN, 2, 1);
	fx_begin(fx);
	ck_assert_err(fx->ops->put_entity(fx->s, &q, &fx->detail), LZ_OK);
	put_entity(fx, "a", ENTITY_QUEUE, 1);
	ck_assert_err(fx->ops->put_message(fx->s, &m1, &fx->detail), LZ_OK);
	ck_assert_err(fx->ops->put_message(fx->s, &m2, &fx->detail), LZ_OK);
	fx_commit(fx, 5);
	/* Every kind of write, then rollback. */
	fx_begin(fx);
	put_entity(fx, "new", ENTITY_TOPIC, 0);
	put_message(fx, "new", JWHERE_MAIN, 1, 0);
	put_entity(fx, "q", ENTITY_QUEUE, 1);
	put_message(fx, "q", JWHERE_MAIN, 1, 3);
	ck_assert_err(fx->ops->delete_message(fx->s, "q", JWHERE_MAIN, 2, &fx->detail), LZ_OK);
	ck_assert_err(fx->ops->delete_entity(fx->s, "a", &fx->detail), LZ_OK);
	put_message(fx, "q", JWHERE_DLQ, 7, 2);
	ck_assert_err(fx->ops->delete_entity(fx->s, "q", &fx->detail), LZ_OK);
	put_entity(fx, "q", ENTITY_QUEUE, 1);
	{
		const char *const during[] = { "new", "q" };

		check_load(fx, during, 2, 1); /* reads see the transaction's writes */
	}
	check_no_message(fx, "q", JWHERE_MAIN, 2);
	fx->ops->rollback(fx->s);
	ck_assert_uint_eq(fx_lsn(fx), 5);
	check_entity(fx, "q", &q);
	check_message(fx, &m1);
	check_message(fx, &m2);
	check_no_entity(fx, "new");
	check_no_message(fx, "new", JWHERE_MAIN, 1);
	check_no_message(fx, "q", JWHERE_DLQ, 7);
	check_load(fx, base, 2, 2);
	/* A rollback with nothing open does nothing; the store stays usable. */
	fx->ops->rollback(fx->s);
	fx_begin(fx);
	put_entity(fx, "b", ENTITY_QUEUE, 1);
	fx_commit(fx, 6);
	if (fx->persistent) {
		const char *const after[] = { "a", "b", "q" };

		fx_reopen(fx);
		ck_assert_uint_eq(fx_lsn(fx), 6);
		check_entity(fx, "q", &q);
		check_message(fx, &m1);
		check_message(fx, &m2);
		check_load(fx, after, 3, 2);
	}
	journal_load_entity_release(&q);
	journal_load_message_release(&m1);
	journal_load_message_release(&m2);
	fx_teardown(fx);
}
END_TEST

START_TEST(test_close_uncommitted)
{
	struct fixture f, *fx = &f;
	const char *const base[] = { "kept" };

	fx_setup(fx, _i);
	fx_begin(fx);
	put_entity(fx, "kept", ENTITY_QUEUE, 1);
	fx_commit(fx, 3);
	fx_begin(fx);
	put_entity(fx, "lost", ENTITY_QUEUE, 1);
	put_message(fx, "kept", JWHERE_MAIN, 1, 1);
	if (fx->persistent) {
		fx_reopen(fx); /* close rolls the open transaction back */
		ck_assert_uint_eq(fx_lsn(fx), 3);
		check_no_entity(fx, "lost");
		check_no_message(fx, "kept", JWHERE_MAIN, 1);
		check_load(fx, base, 1, 0);
	}
	fx_teardown(fx);
}
END_TEST

START_TEST(test_load_order)
{
	struct fixture f, *fx = &f;
	const char *const order[] = {
		"a-b", "t1", "t1/Subscriptions/A", "T1/Subscriptions/b", "t10", "t10/Subscriptions/x", "zq",
	};
	const struct {
		const char *path;
		enum journal_where where;
		uint64_t seq;
	} msgs[] = {
		{ "a-b", JWHERE_MAIN, 9 },   { "a-b", JWHERE_MAIN, 10 },     { "a-b", JWHERE_MAIN, 100 },
		{ "a-b", JWHERE_DLQ, 1 },    { "a-b", JWHERE_SCHEDULED, 2 }, { "t1/Subscriptions/A", JWHERE_MAIN, 5 },
		{ "T1/Subscriptions/b", JWHERE_DLQ, 5 }, { "zq", JWHERE_MAIN, 1 },
	};
	const size_t nmsgs = sizeof(msgs) / sizeof(msgs[0]);
	const size_t shuffle[] = { 7, 2, 5, 0, 4, 6, 1, 3 };
	const size_t eshuffle[] = { 6, 3, 0, 5, 2, 4, 1 };
	struct seen s = { 0 };

	fx_setup(fx, _i);
	fx_begin(fx);
	for (size_t i = 0; i < sizeof(eshuffle) / sizeof(eshuffle[0]); i++)
		put_entity(fx, order[eshuffle[i]], i % 2 ? ENTITY_TOPIC : ENTITY_SUBSCRIPTION, 1);
	for (size_t i = 0; i < nmsgs; i++)
		put_message(fx, msgs[shuffle[i]].path, msgs[shuffle[i]].where, msgs[shuffle[i]].seq, 1);
	for (int pass = 0; pass < (fx->persistent ? 3 : 2); pass++) {
		if (pass == 1)
			fx_commit(fx, 1);
		if (pass == 2)
			fx_reopen(fx);
		memset(&s, 0, sizeof(s));
		ck_assert_err(fx_load(fx, &s), LZ_OK);
		ck_assert_uint_eq(s.nentities, sizeof(order) / sizeof(order[0]));
		for (size_t i = 0; i < s.nentities; i++)
			eq_str("entity order", s.entities[i], order[i]);
		ck_assert_uint_eq(s.nmsgs, nmsgs);
		for (size_t i = 0; i < nmsgs; i++) {
			eq_str("message path", s.msgs[i].path, msgs[i].path);
			eq_i64("message where", s.msgs[i].where, msgs[i].where);
			eq_u64("message seq", s.msgs[i].seq, msgs[i].seq);
		}
		seen_release(&s);
	}
	/* A visitor's error stops the load with that error. */
	s.stop_entity = 2;
	ck_assert_err(fx_load(fx, &s), LZ_EINVAL);
	ck_assert_uint_eq(s.nentities, 2);
	ck_assert_uint_eq(s.nmsgs, 0);
	seen_release(&s);
	s.stop_message = 3;
	ck_assert_err(fx_load(fx, &s), LZ_ECRC);
	ck_assert_uint_eq(s.nentities, sizeof(order) / sizeof(order[0]));
	ck_assert_uint_eq(s.nmsgs, 3);
	seen_release(&s);
	fx_teardown(fx);
}
END_TEST

struct listed {
	char *paths[16];
	size_t n;
	size_t stop; /* fail on the n-th path (1-based); 0: never */
};

static lz_err list_one(void *arg, const char *path)
{
	struct listed *l = arg;

	ck_assert(l->n < 16);
	l->paths[l->n++] = xstrdup(path);
	return l->n == l->stop ? LZ_EBUSY : LZ_OK;
}

static void listed_release(struct listed *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->paths[i]);
	memset(l, 0, sizeof(*l));
}

START_TEST(test_list_entities)
{
	struct fixture f, *fx = &f;
	struct listed l = { 0 };

	fx_setup(fx, _i);
	fx_begin(fx);
	put_entity(fx, "t1", ENTITY_TOPIC, 1);
	put_entity(fx, "T1/Subscriptions/B", ENTITY_SUBSCRIPTION, 1);
	put_entity(fx, "t1/subscriptions/a", ENTITY_SUBSCRIPTION, 1);
	put_entity(fx, "t10/Subscriptions/c", ENTITY_SUBSCRIPTION, 1);
	put_entity(fx, "t2", ENTITY_TOPIC, 1);
	ck_assert_err(fx->ops->list_entities(fx->s, "t1/SUBSCRIPTIONS/", list_one, &l, &fx->detail), LZ_OK);
	ck_assert_uint_eq(l.n, 2);
	eq_str("first", l.paths[0], "t1/subscriptions/a");
	eq_str("second", l.paths[1], "T1/Subscriptions/B");
	listed_release(&l);
	fx_commit(fx, 1);
	if (fx->persistent)
		fx_reopen(fx);
	ck_assert_err(fx->ops->list_entities(fx->s, "", list_one, &l, &fx->detail), LZ_OK);
	ck_assert_uint_eq(l.n, 5);
	eq_str("last", l.paths[4], "t2");
	listed_release(&l);
	ck_assert_err(fx->ops->list_entities(fx->s, "nothing/", list_one, &l, &fx->detail), LZ_OK);
	ck_assert_uint_eq(l.n, 0);
	l.stop = 1;
	ck_assert_err(fx->ops->list_entities(fx->s, "t", list_one, &l, &fx->detail), LZ_EBUSY);
	ck_assert_uint_eq(l.n, 1);
	listed_release(&l);
	fx_teardown(fx);
}
END_TEST

START_TEST(test_stats)
{
	struct fixture f, *fx = &f;
	struct store_stats st;

	fx_setup(fx, _i);
	ck_assert_err(fx->ops->stats(fx->s, &st, &fx->detail), LZ_OK);
	ck_assert_uint_eq(st.entities, 0);
	ck_assert_uint_eq(st.messages, 0);
	fx_begin(fx);
	put_entity(fx, "q", ENTITY_QUEUE, 1);
	put_entity(fx, "t", ENTITY_TOPIC, 1);
	put_message(fx, "q", JWHERE_MAIN, 1, 0); /* active */
	put_message(fx, "q", JWHERE_MAIN, 2, 2); /* active */
	put_message(fx, "q", JWHERE_MAIN, 3, 1); /* deferred */
	put_message(fx, "q", JWHERE_DLQ, 1, 2);
	put_message(fx, "q", JWHERE_DLQ, 2, 1); /* dead-lettered, even with the deferred flag */
	put_message(fx, "t", JWHERE_SCHEDULED, 1, 0);
	fx_commit(fx, 77);
	if (fx->persistent)
		fx_reopen(fx);
	ck_assert_err(fx->ops->stats(fx->s, &st, &fx->detail), LZ_OK);
	ck_assert_uint_eq(st.entities, 2);
	ck_assert_uint_eq(st.messages, 6);
	ck_assert_uint_eq(st.messages_active, 2);
	ck_assert_uint_eq(st.messages_deferred, 1);
	ck_assert_uint_eq(st.messages_deadletter, 2);
	ck_assert_uint_eq(st.messages_scheduled, 1);
	ck_assert_uint_eq(st.last_applied_lsn, 77);
	if (fx->persistent)
		ck_assert_uint_gt(st.size_bytes, 0);
	else
		ck_assert_uint_eq(st.size_bytes, 0);
	fx_teardown(fx);
}
END_TEST

START_TEST(test_purge)
{
	struct fixture f, *fx = &f;
	struct store_stats st;

	fx_setup(fx, _i);
	fx_begin(fx);
	put_entity(fx, "q", ENTITY_QUEUE, 0);
	put_entity(fx, "t/Subscriptions/s", ENTITY_SUBSCRIPTION, 0);
	put_message(fx, "q", JWHERE_MAIN, 1, 0);
	put_message(fx, "t/Subscriptions/s", JWHERE_DLQ, 1, 2);
	fx_commit(fx, 9);
	fx_begin(fx);
	ck_assert_err(fx->ops->purge(fx->s, &fx->detail), LZ_ESTATE);
	fx->ops->rollback(fx->s);
	ck_assert_err(fx->ops->purge(fx->s, &fx->detail), LZ_OK);
	for (int pass = 0; pass < (fx->persistent ? 2 : 1); pass++) {
		if (pass == 1)
			fx_reopen(fx);
		ck_assert_uint_eq(fx_lsn(fx), 0);
		ck_assert_err(fx->ops->stats(fx->s, &st, &fx->detail), LZ_OK);
		ck_assert_uint_eq(st.entities, 0);
		ck_assert_uint_eq(st.messages, 0);
		check_no_entity(fx, "q");
		check_no_message(fx, "q", JWHERE_MAIN, 1);
		check_load(fx, NULL, 0, 0);
	}
	fx_begin(fx);
	put_entity(fx, "q", ENTITY_QUEUE, 1);
	fx_commit(fx, 1);
	check_load(fx, (const char *const[]){ "q" }, 1, 0);
	fx_teardown(fx);
}
END_TEST

START_TEST(test_compact)
{
	struct fixture f, *fx = &f;
	struct jrec_load_message keep;

	fx_setup(fx, _i);
	fx_begin(fx);
	put_entity(fx, "q", ENTITY_QUEUE, 1);
	put_entity(fx, "gone", ENTITY_QUEUE, 1);
	for (uint64_t seq = 1; seq <= 20; seq++) {
		put_message(fx, "q", JWHERE_MAIN, seq, 3);
		put_message(fx, "gone", JWHERE_MAIN, seq, 1);
	}
	fx_commit(fx, 1);
	fx_begin(fx);
	ck_assert_err(fx->ops->compact(fx->s, &fx->detail), LZ_ESTATE);
	ck_assert_err(fx->ops->delete_entity(fx->s, "gone", &fx->detail), LZ_OK);
	for (uint64_t seq = 2; seq <= 20; seq++)
		ck_assert_err(fx->ops->delete_message(fx->s, "q", JWHERE_MAIN, seq, &fx->detail), LZ_OK);
	fx_commit(fx, 2);
	ck_assert_err(fx->ops->compact(fx->s, &fx->detail), LZ_OK);
	if (fx->persistent)
		fx_reopen(fx);
	message_fill(&keep, "q", JWHERE_MAIN, 1, 3);
	check_message(fx, &keep);
	journal_load_message_release(&keep);
	check_load(fx, (const char *const[]){ "q" }, 1, 1);
	ck_assert_uint_eq(fx_lsn(fx), 2);
	fx_teardown(fx);
}
END_TEST

START_TEST(test_state_errors)
{
	struct fixture f, *fx = &f;
	struct jrec_load_entity e;

	fx_setup(fx, _i);
	entity_fill(&e, "q", ENTITY_QUEUE, 1);
	ck_assert_err(fx->ops->put_entity(fx->s, &e, &fx->detail), LZ_ESTATE);
	ck_assert_err(fx->ops->delete_entity(fx->s, "q", &fx->detail), LZ_ESTATE);
	ck_assert_err(fx->ops->delete_message(fx->s, "q", JWHERE_MAIN, 1, &fx->detail), LZ_ESTATE);
	ck_assert_err(fx->ops->commit(fx->s, 1, &fx->detail), LZ_ESTATE);
	fx->ops->rollback(fx->s);
	fx_begin(fx);
	ck_assert_err(fx->ops->begin(fx->s, &fx->detail), LZ_ESTATE);
	free(e.path);
	e.path = xstrdup("");
	ck_assert_err(fx->ops->put_entity(fx->s, &e, &fx->detail), LZ_EINVAL);
	fx_commit(fx, 1);
	check_load(fx, NULL, 0, 0);
	ck_assert_uint_eq(fx_lsn(fx), 1);
	journal_load_entity_release(&e);
	fx_teardown(fx);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* Backend-specific tests                                                                     */
/* ------------------------------------------------------------------------------------------ */

static void file_write(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "cannot create %s: %s", path, strerror(errno));
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static void file_write_str(const char *path, const char *text)
{
	file_write(path, text, strlen(text));
}

static char *file_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "cannot open %s: %s", path, strerror(errno));
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	ck_assert_int_eq(fclose(f), 0);
	if (len != NULL)
		*len = (size_t)n;
	return buf;
}

static bool file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

START_TEST(test_json_leftover_temps)
{
	struct fixture f, *fx = &f;
	struct jrec_load_message m;
	char path[PATH_MAX * 2];
	const char *const temps[] = {
		"meta.json.tmp", "commit.json.tmp", "entities/q.json.tmp", "entities/zz.json.tmp",
		"messages/q/0-00000000000000000001.json.tmp", "messages/q/0-00000000000000000002.json.tmp",
	};

	fx_setup_named(fx, "json");
	message_fill(&m, "q", JWHERE_MAIN, 1, 0);
	fx_begin(fx);
	put_entity(fx, "q", ENTITY_QUEUE, 0);
	ck_assert_err(fx->ops->put_message(fx->s, &m, &fx->detail), LZ_OK);
	fx_commit(fx, 4);
	fx_close(fx);
	/* A crash in the middle of writing a later commit: half-written temp files everywhere. */
	for (size_t i = 0; i < sizeof(temps) / sizeof(temps[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", fx->location, temps[i]);
		file_write_str(path, "{\"Path\": \"tru");
	}
	fx_open(fx);
	for (size_t i = 0; i < sizeof(temps) / sizeof(temps[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", fx->location, temps[i]);
		ck_assert_msg(!file_exists(path), "%s was not removed", path);
	}
	ck_assert_uint_eq(fx_lsn(fx), 4);
	check_message(fx, &m);
	check_load(fx, (const char *const[]){ "q" }, 1, 1);
	journal_load_message_release(&m);
	fx_teardown(fx);
}
END_TEST

START_TEST(test_json_redo)
{
	struct fixture f, *fx = &f, g, *other = &g;
	char from[PATH_MAX * 2], to[PATH_MAX * 2], manifest[PATH_MAX * 2];
	struct jrec_load_entity z;
	const char *log = "{\"format\": 1, \"last_applied_lsn\": 99, \"put\": [\"entities/z.json\"],"
			  " \"delete\": [\"entities/y.json\", \"messages/y/0-00000000000000000001.json\"]}";
	size_t len;
	char *text;

	fx_setup_named(fx, "json");
	fx_begin(fx);
	put_entity(fx, "x", ENTITY_QUEUE, 1);
	put_entity(fx, "y", ENTITY_QUEUE, 1);
	put_message(fx, "y", JWHERE_MAIN, 1, 1);
	fx_commit(fx, 98);
	fx_close(fx);
	/* The state of a crash just after the commit point: temp written, redo log in place, nothing
	 * renamed yet. The temp comes from another store that holds entity z. */
	fx_setup_named(other, "json");
	fx_begin(other);
	put_entity(other, "z", ENTITY_TOPIC, 0);
	fx_commit(other, 1);
	snprintf(from, sizeof(from), "%s/entities/z.json", other->location);
	snprintf(to, sizeof(to), "%s/entities/z.json.tmp", fx->location);
	text = file_read(from, &len);
	file_write(to, text, len);
	free(text);
	fx_teardown(other);
	snprintf(manifest, sizeof(manifest), "%s/commit.json", fx->location);
	file_write_str(manifest, log);
	fx_open(fx);
	ck_assert_uint_eq(fx_lsn(fx), 99);
	entity_fill(&z, "z", ENTITY_TOPIC, 0);
	check_entity(fx, "z", &z);
	journal_load_entity_release(&z);
	check_no_entity(fx, "y");
	check_no_message(fx, "y", JWHERE_MAIN, 1);
	check_load(fx, (const char *const[]){ "x", "z" }, 2, 0);
	ck_assert(!file_exists(manifest));
	ck_assert(!file_exists(to));
	/* Redo is idempotent: the same log again (renames done, files gone) changes nothing more. */
	fx_close(fx);
	file_write_str(manifest, log);
	fx_open(fx);
	ck_assert_uint_eq(fx_lsn(fx), 99);
	check_load(fx, (const char *const[]){ "x", "z" }, 2, 0);
	fx_teardown(fx);
}
END_TEST

START_TEST(test_json_bad_files)
{
	struct fixture f, *fx = &f;
	char path[PATH_MAX * 2], other[PATH_MAX * 2];
	size_t len;
	char *text;

	fx_setup_named(fx, "json");
	fx_begin(fx);
	put_entity(fx, "q", ENTITY_QUEUE, 1);
	put_entity(fx, "r", ENTITY_QUEUE, 1);
	fx_commit(fx, 1);
	fx_close(fx);
	/* Not JSON. */
	snprintf(path, sizeof(path), "%s/entities/q.json", fx->location);
	text = file_read(path, &len);
	file_write_str(path, "{\"Path\": ");
	ck_assert_err(fx->ops->open(&fx->cfg, &fx->s, &fx->detail), LZ_EPARSE);
	ck_assert_msg(strstr(fx->detail.text, "entities/q.json") != NULL, "detail: %s", fx->detail.text);
	/* A field of the wrong type. */
	file_write_str(path, "{\"Path\": 5}");
	ck_assert_err(fx->ops->open(&fx->cfg, &fx->s, &fx->detail), LZ_EPARSE);
	ck_assert_msg(strstr(fx->detail.text, "Path") != NULL, "detail: %s", fx->detail.text);
	/* A valid entity in the wrong file. */
	file_write(path, text, len);
	snprintf(other, sizeof(other), "%s/entities/r.json", fx->location);
	file_write(other, text, len);
	ck_assert_err(fx->ops->open(&fx->cfg, &fx->s, &fx->detail), LZ_EPARSE);
	ck_assert_msg(strstr(fx->detail.text, "another file") != NULL, "detail: %s", fx->detail.text);
	file_write(path, text, len);
	ck_assert(remove(other) == 0);
	free(text);
	/* A newer directory format. */
	snprintf(path, sizeof(path), "%s/meta.json", fx->location);
	text = file_read(path, &len);
	file_write_str(path, "{\"format\": 2, \"store_id\": \"x\", \"last_applied_lsn\": 1}");
	ck_assert_err(fx->ops->open(&fx->cfg, &fx->s, &fx->detail), LZ_EUNSUPPORTED);
	/* Data without meta.json. */
	ck_assert(remove(path) == 0);
	ck_assert_err(fx->ops->open(&fx->cfg, &fx->s, &fx->detail), LZ_EPARSE);
	file_write(path, text, len);
	free(text);
	fx_open(fx);
	check_load(fx, (const char *const[]){ "q" }, 1, 0);
	fx_teardown(fx);
}
END_TEST

START_TEST(test_json_layout)
{
	struct fixture f, *fx = &f;
	char path[PATH_MAX * 2];
	char *text;

	fx_setup_named(fx, "json");
	fx_close(fx);
	fx->cfg.pretty_json = true;
	fx_open(fx);
	fx_begin(fx);
	put_entity(fx, "Orders/Subscriptions/S.1", ENTITY_SUBSCRIPTION, 0);
	put_entity(fx, ".hidden%", ENTITY_QUEUE, 1);
	put_message(fx, "Orders/Subscriptions/S.1", JWHERE_DLQ, 42, 1);
	put_message(fx, "Orders/Subscriptions/S.1", JWHERE_MAIN, 7, 0);
	fx_commit(fx, 12345678901234567ULL);
	snprintf(path, sizeof(path), "%s/meta.json", fx->location);
	text = file_read(path, NULL);
	ck_assert_msg(strstr(text, "\"last_applied_lsn\":\t\"12345678901234567\"") != NULL, "meta: %s", text);
	ck_assert_msg(strstr(text, "\"format\":\t1") != NULL, "meta: %s", text);
	free(text);
	snprintf(path, sizeof(path), "%s/entities/orders%%2Fsubscriptions%%2Fs.1.json", fx->location);
	text = file_read(path, NULL);
	ck_assert_msg(strstr(text, "\n\t\"LockDuration\":\t\"PT45S\"") != NULL, "entity: %s", text);
	ck_assert_msg(strstr(text, "\"CorrelationFilter\"") != NULL, "entity: %s", text);
	free(text);
	snprintf(path, sizeof(path), "%s/entities/%%2Ehidden%%25.json", fx->location);
	ck_assert_msg(file_exists(path), "%s missing", path);
	snprintf(path, sizeof(path), "%s/messages/orders%%2Fsubscriptions%%2Fs.1/1-00000000000000000042.json",
		 fx->location);
	text = file_read(path, NULL);
	ck_assert_msg(strstr(text, "\"BodyText\"") != NULL, "text body: %s", text);
	ck_assert_msg(strstr(text, "\"State\":\t\"DeadLettered\"") != NULL, "state: %s", text);
	free(text);
	snprintf(path, sizeof(path), "%s/messages/orders%%2Fsubscriptions%%2Fs.1/0-00000000000000000007.json",
		 fx->location);
	text = file_read(path, NULL);
	ck_assert_msg(strstr(text, "\"BodyText\"") == NULL, "binary body: %s", text);
	ck_assert_msg(strstr(text, "\"Body\":\t\"AP9hAIDDKAoA\"") != NULL, "binary body: %s", text);
	ck_assert_msg(strstr(text, "\"ExpiresAtUtc\":\t\"9223372036854775807\"") != NULL, "expiry: %s", text);
	free(text);
	fx_teardown(fx);
}
END_TEST

START_TEST(test_json_write_errors)
{
	struct fixture f, *fx = &f;
	char dir[PATH_MAX * 2];
	struct jrec_load_entity e;

	fx_setup_named(fx, "json");
	fx_begin(fx);
	put_entity(fx, "q", ENTITY_QUEUE, 1);
	fx_commit(fx, 1);
	/* Before the commit point: a directory where the temp file should go. */
	snprintf(dir, sizeof(dir), "%s/entities/r.json.tmp", fx->location);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	fx_begin(fx);
	put_entity(fx, "r", ENTITY_QUEUE, 1);
	ck_assert_err(fx->ops->commit(fx->s, 2, &fx->detail), LZ_ESYS);
	ck_assert_msg(strstr(fx->detail.text, dir) != NULL, "detail: %s", fx->detail.text);
	ck_assert_err(fx->ops->begin(fx->s, &fx->detail), LZ_ESTATE);
	fx_close(fx);
	ck_assert_int_eq(rmdir(dir), 0);
	fx_open(fx);
	ck_assert_uint_eq(fx_lsn(fx), 1);
	check_no_entity(fx, "r");
	/* After the commit point: the rename fails; opening again finishes the commit. */
	snprintf(dir, sizeof(dir), "%s/entities/s.json", fx->location);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	fx_begin(fx);
	put_entity(fx, "s", ENTITY_TOPIC, 0);
	ck_assert_err(fx->ops->commit(fx->s, 3, &fx->detail), LZ_ESYS);
	ck_assert_msg(strstr(fx->detail.text, dir) != NULL, "detail: %s", fx->detail.text);
	fx_close(fx);
	ck_assert_int_eq(rmdir(dir), 0);
	fx_open(fx);
	ck_assert_uint_eq(fx_lsn(fx), 3);
	entity_fill(&e, "s", ENTITY_TOPIC, 0);
	check_entity(fx, "s", &e);
	journal_load_entity_release(&e);
	check_load(fx, (const char *const[]){ "q", "s" }, 2, 0);
	fx_teardown(fx);
}
END_TEST

static void sqlite_exec(const char *file, const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;

	ck_assert_int_eq(sqlite3_open(file, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql, msg ? msg : "?");
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}

START_TEST(test_sqlite_schema_version)
{
	struct fixture f, *fx = &f;
	char file[PATH_MAX * 2];

	fx_setup_named(fx, "sqlite");
	fx_close(fx);
	sqlite_exec(fx->location, "UPDATE schema_version SET version = 999");
	ck_assert_err(fx->ops->open(&fx->cfg, &fx->s, &fx->detail), LZ_EUNSUPPORTED);
	ck_assert_ptr_null(fx->s);
	ck_assert_msg(strstr(fx->detail.text, "999") != NULL && strstr(fx->detail.text, fx->location) != NULL,
		      "detail: %s", fx->detail.text);
	sqlite_exec(fx->location, "UPDATE schema_version SET version = 1");
	fx_open(fx);
	fx_close(fx);
	/* Someone else's database. */
	snprintf(file, sizeof(file), "%s/foreign.db", fx->dir);
	sqlite_exec(file, "CREATE TABLE t(x)");
	fx->cfg.location = file;
	ck_assert_err(fx->ops->open(&fx->cfg, &fx->s, &fx->detail), LZ_EUNSUPPORTED);
	/* Not a database at all. */
	file_write_str(file, "this is not a database, just text that is long enough to fill a header");
	ck_assert_err(fx->ops->open(&fx->cfg, &fx->s, &fx->detail), LZ_ESYS);
	ck_assert_msg(strncmp(fx->detail.text, "sqlite: ", 8) == 0 && strstr(fx->detail.text, file) != NULL,
		      "detail: %s", fx->detail.text);
	fx->cfg.location = fx->location;
	fx_open(fx);
	fx_teardown(fx);
}
END_TEST

/* The one integer `sql` returns from `file`. */
static int64_t sqlite_int(const char *file, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v;

	ck_assert_int_eq(sqlite3_open(file, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
	return v;
}

/* New files get 8 KiB pages; a file made with SQLite's default 4 KiB pages (as by older
 * builds) keeps them, and is read and written alike. */
START_TEST(test_sqlite_page_size)
{
	struct fixture f, *fx = &f;
	struct jrec_load_entity e;
	struct jrec_load_message m;

	fx_setup_named(fx, "sqlite");
	fx_close(fx);
	ck_assert_int_eq(sqlite_int(fx->location, "PRAGMA page_size"), 8192);
	rm_tree(fx->dir);
	ck_assert_int_eq(mkdir(fx->dir, 0700), 0);
	/* An older build's file: 4 KiB pages, WAL, schema version 0 (open migrates it to 1). */
	sqlite_exec(fx->location, "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL;"
				  "CREATE TABLE schema_version(version INTEGER NOT NULL);"
				  "INSERT INTO schema_version(version) VALUES(0);");
	fx_open(fx);
	fx_begin(fx);
	put_entity(fx, "Orders", ENTITY_QUEUE, 1);
	for (uint64_t seq = 1; seq <= 20; seq++)
		put_message(fx, "Orders", JWHERE_MAIN, seq, (int)(seq % 4));
	fx_commit(fx, 7);
	fx_reopen(fx);
	ck_assert_uint_eq(fx_lsn(fx), 7);
	entity_fill(&e, "Orders", ENTITY_QUEUE, 1);
	check_entity(fx, "Orders", &e);
	journal_load_entity_release(&e);
	message_fill(&m, "Orders", JWHERE_MAIN, 13, 1);
	check_message(fx, &m);
	journal_load_message_release(&m);
	check_load(fx, (const char *const[]){ "Orders" }, 1, 20);
	fx_close(fx);
	ck_assert_int_eq(sqlite_int(fx->location, "PRAGMA page_size"), 4096);
	ck_assert_int_eq(sqlite_int(fx->location, "SELECT version FROM schema_version"), 1);
	fx_open(fx);
	fx_teardown(fx);
}
END_TEST

START_TEST(test_sqlite_bad_blob)
{
	struct fixture f, *fx = &f;
	struct jrec_load_entity e;
	struct seen s = { 0 };

	fx_setup_named(fx, "sqlite");
	fx_begin(fx);
	put_entity(fx, "Broken", ENTITY_QUEUE, 1);
	fx_commit(fx, 1);
	fx_close(fx);
	sqlite_exec(fx->location, "UPDATE entities SET data = x'c1' WHERE key = 'broken'");
	fx_open(fx);
	ck_assert_err(fx->ops->get_entity(fx->s, "broken", &e, &fx->detail), LZ_EPARSE);
	ck_assert_msg(strstr(fx->detail.text, "'broken'") != NULL, "detail: %s", fx->detail.text);
	ck_assert_err(fx_load(fx, &s), LZ_EPARSE);
	seen_release(&s);
	fx_teardown(fx);
}
END_TEST

/* The detail names the URL and never the password. */
static void check_redis_detail(struct fixture *fx, const char *url, const char *password)
{
	ck_assert_msg(strstr(fx->detail.text, url) != NULL, "detail does not name %s: %s", url, fx->detail.text);
	if (password != NULL)
		ck_assert_msg(strstr(fx->detail.text, password) == NULL, "detail shows the password: %s",
			      fx->detail.text);
}

/* Open refuses a server that would answer EXEC before the fold is on disk, or could evict. */
START_TEST(test_redis_durability_settings)
{
	struct fixture f, *fx = &f;
	const struct {
		const char *name, *bad, *good, *hint;
	} cases[] = {
		{ "appendfsync", "everysec", "always", "appendfsync always" },
		{ "appendfsync", "no", "always", "appendonly yes" },
		{ "no-appendfsync-on-rewrite", "yes", "no", "no-appendfsync-on-rewrite no" },
		{ "maxmemory-policy", "allkeys-lru", "noeviction", "maxmemory-policy noeviction" },
	};

	fx_setup_named(fx, "redis");
	fx_close(fx);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		redis_do("CONFIG SET %s %s", cases[i].name, cases[i].bad);
		ck_assert_err(fx->ops->open(&fx->cfg, &fx->s, &fx->detail), LZ_EINVAL);
		ck_assert_ptr_null(fx->s);
		ck_assert_msg(strstr(fx->detail.text, cases[i].hint) != NULL && strstr(fx->detail.text, cases[i].bad),
			      "%s %s: %s", cases[i].name, cases[i].bad, fx->detail.text);
		check_redis_detail(fx, fx->location, NULL);
		redis_do("CONFIG SET %s %s", cases[i].name, cases[i].good);
		fx_open(fx);
		fx_close(fx);
	}
	/* volatile-* policies never evict keys without a TTL. */
	redis_do("CONFIG SET %s %s", "maxmemory-policy", "volatile-lru");
	fx_open(fx);
	redis_do("CONFIG SET %s %s", "maxmemory-policy", "noeviction");
	fx_teardown(fx);
}
END_TEST

START_TEST(test_redis_unreachable)
{
	struct fixture f, *fx = &f;
	int port = free_port();
	char url[128];

	fx_setup_named(fx, "redis");
	fx_close(fx);
	ck_assert_int_gt(port, 0);
	snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);
	fx->cfg.location = url;
	ck_assert_err(fx->ops->open(&fx->cfg, &fx->s, &fx->detail), LZ_ESYS);
	ck_assert_ptr_null(fx->s);
	check_redis_detail(fx, url, NULL);
	ck_assert_msg(strstr(fx->detail.text, "redis-server") != NULL, "detail: %s", fx->detail.text);
	/* Not a redis URL at all. */
	fx->cfg.location = "http://127.0.0.1:6379";
	ck_assert_err(fx->ops->open(&fx->cfg, &fx->s, &fx->detail), LZ_EINVAL);
	fx->cfg.location = fx->location;
	fx_open(fx);
	fx_teardown(fx);
}
END_TEST

START_TEST(test_redis_password)
{
	struct fixture f, *fx = &f;
	char url[160], shown[160];

	fx_setup_named(fx, "redis");
	fx_close(fx);
	redis_do("CONFIG SET requirepass %s", "s3cret", NULL);
	/* No password given. */
	ck_assert_err(fx->ops->open(&fx->cfg, &fx->s, &fx->detail), LZ_ESYS);
	ck_assert_msg(strstr(fx->detail.text, "password") != NULL, "detail: %s", fx->detail.text);
	check_redis_detail(fx, fx->location, NULL);
	/* A wrong one: the detail shows the URL with *** instead. */
	snprintf(url, sizeof(url), "redis://:wr0ngpass@127.0.0.1:%d/0", suite_redis.port);
	snprintf(shown, sizeof(shown), "redis://:***@127.0.0.1:%d/0", suite_redis.port);
	fx->cfg.location = url;
	ck_assert_err(fx->ops->open(&fx->cfg, &fx->s, &fx->detail), LZ_ESYS);
	check_redis_detail(fx, shown, "wr0ngpass");
	ck_assert_msg(strstr(fx->detail.text, "password") != NULL, "detail: %s", fx->detail.text);
	/* The right one, %-escaped. */
	snprintf(url, sizeof(url), "redis://:s3cr%%65t@127.0.0.1:%d/0", suite_redis.port);
	fx_open(fx);
	fx_begin(fx);
	put_entity(fx, "q", ENTITY_QUEUE, 1);
	fx_commit(fx, 1);
	fx_close(fx);
	freeReplyObject(redis_run("s3cret", "CONFIG SET requirepass %s", ""));
	fx->cfg.location = fx->location;
	fx_open(fx);
	check_load(fx, (const char *const[]){ "q" }, 1, 0);
	fx_teardown(fx);
}
END_TEST

START_TEST(test_redis_format)
{
	struct fixture f, *fx = &f;
	char key[1024];
	redisReply *r;

	fx_setup_named(fx, "redis");
	fx_begin(fx);
	put_entity(fx, "q", ENTITY_QUEUE, 1);
	fx_commit(fx, 5);
	fx_close(fx);
	snprintf(key, sizeof(key), "%smeta", fx->prefix);
	r = redis_run(NULL, "HGET %s format", key);
	ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
	ck_assert_str_eq(r->str, "1");
	freeReplyObject(r);
	r = redis_run(NULL, "HGET %s store_id", key);
	ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
	ck_assert_uint_eq(r->len, 32);
	freeReplyObject(r);
	/* A newer format is refused, and names the version. */
	redis_do("HSET %s format 2", key, NULL);
	ck_assert_err(fx->ops->open(&fx->cfg, &fx->s, &fx->detail), LZ_EUNSUPPORTED);
	ck_assert_msg(strstr(fx->detail.text, "format 2") != NULL, "detail: %s", fx->detail.text);
	redis_do("HSET %s format x", key, NULL);
	ck_assert_err(fx->ops->open(&fx->cfg, &fx->s, &fx->detail), LZ_EPARSE);
	redis_do("HSET %s format 1", key, NULL);
	fx_open(fx);
	ck_assert_uint_eq(fx_lsn(fx), 5);
	fx_close(fx);
	/* Keys under the prefix without meta: not ours. */
	redis_do("DEL %s", key, NULL);
	ck_assert_err(fx->ops->open(&fx->cfg, &fx->s, &fx->detail), LZ_EPARSE);
	ck_assert_msg(strstr(fx->detail.text, fx->prefix) != NULL, "detail: %s", fx->detail.text);
	/* An undecodable value names its key. */
	snprintf(fx->prefix + strlen(fx->prefix) - 1, 8, "b:");
	fx_open(fx);
	fx_begin(fx);
	put_entity(fx, "Broken", ENTITY_QUEUE, 1);
	put_message(fx, "Broken", JWHERE_MAIN, 1, 1);
	fx_commit(fx, 1);
	snprintf(key, sizeof(key), "%se:broken", fx->prefix);
	redis_do("SET %s %s", key, "\xc1");
	{
		struct jrec_load_entity e;
		struct seen s = { 0 };

		ck_assert_err(fx->ops->get_entity(fx->s, "broken", &e, &fx->detail), LZ_EPARSE);
		ck_assert_msg(strstr(fx->detail.text, key) != NULL, "detail: %s", fx->detail.text);
		ck_assert_err(fx_load(fx, &s), LZ_EPARSE);
		seen_release(&s);
	}
	fx_teardown(fx);
}
END_TEST

/* A visitor that counts and checks the order, keeping only the last item. */
struct big_load {
	size_t nentities, nmsgs;
	char last_entity[64];
	char last_msg[128];
};

static lz_err big_entity(void *arg, const struct jrec_load_entity *e)
{
	struct big_load *b = arg;

	ck_assert_msg(b->nmsgs == 0, "entity %s after a message", e->path);
	ck_assert_msg(strcmp(b->last_entity, e->path) < 0, "entity %s after %s", e->path, b->last_entity);
	snprintf(b->last_entity, sizeof(b->last_entity), "%s", e->path);
	b->nentities++;
	return LZ_OK;
}

static lz_err big_message(void *arg, const struct jrec_load_message *m)
{
	struct big_load *b = arg;
	char key[128];

	snprintf(key, sizeof(key), "%s|%d|%020" PRIu64, m->place.path, (int)m->place.where, m->place.seq);
	ck_assert_msg(strcmp(b->last_msg, key) < 0, "message %s after %s", key, b->last_msg);
	snprintf(b->last_msg, sizeof(b->last_msg), "%s", key);
	b->nmsgs++;
	return LZ_OK;
}

/* More entities and messages than one page of every walk, across a reopen; stats agree; inside
 * a transaction, loads merge the buffered writes into the pages. */
START_TEST(test_redis_reopen_paged)
{
	struct fixture f, *fx = &f;
	struct big_load b;
	struct store_visitor v = { big_entity, big_message, &b };
	struct store_stats st;
	struct jrec_load_message m;
	char path[64];

	fx_setup_named(fx, "redis");
	fx_begin(fx);
	for (int i = 0; i < 300; i++) {
		snprintf(path, sizeof(path), "q%04d", i);
		put_entity(fx, path, ENTITY_QUEUE, 1);
	}
	for (uint64_t seq = 1; seq <= 150; seq++) {
		put_message(fx, "q0007", JWHERE_MAIN, seq, (int)(seq % 3));
		put_message(fx, "q0007", JWHERE_DLQ, seq, 2);
	}
	put_message(fx, "q0299", JWHERE_SCHEDULED, 1ULL << 62, 3);
	fx_commit(fx, 42);
	fx_reopen(fx);
	ck_assert_uint_eq(fx_lsn(fx), 42);
	ck_assert_err(fx->ops->stats(fx->s, &st, &fx->detail), LZ_OK);
	ck_assert_uint_eq(st.entities, 300);
	ck_assert_uint_eq(st.messages, 301);
	ck_assert_uint_eq(st.messages_active, 100);
	ck_assert_uint_eq(st.messages_deferred, 50);
	ck_assert_uint_eq(st.messages_deadletter, 150);
	ck_assert_uint_eq(st.messages_scheduled, 1);
	ck_assert_uint_eq(st.last_applied_lsn, 42);
	message_fill(&m, "q0299", JWHERE_SCHEDULED, 1ULL << 62, 3);
	check_message(fx, &m);
	journal_load_message_release(&m);
	memset(&b, 0, sizeof(b));
	ck_assert_err(fx->ops->load(fx->s, &v, &fx->detail), LZ_OK);
	ck_assert_uint_eq(b.nentities, 300);
	ck_assert_uint_eq(b.nmsgs, 301);
	/* In a transaction: deletes and puts on both sides of page boundaries. */
	fx_begin(fx);
	ck_assert_err(fx->ops->delete_entity(fx->s, "q0007", &fx->detail), LZ_OK);
	put_message(fx, "q0007", JWHERE_MAIN, 200, 1);
	ck_assert_err(fx->ops->delete_entity(fx->s, "q0100", &fx->detail), LZ_OK);
	put_entity(fx, "q0100a", ENTITY_QUEUE, 1);
	put_entity(fx, "a-first", ENTITY_QUEUE, 1);
	put_message(fx, "q0000", JWHERE_DLQ, 3, 2);
	ck_assert_err(fx->ops->delete_message(fx->s, "q0299", JWHERE_SCHEDULED, 1ULL << 62, &fx->detail), LZ_OK);
	ck_assert_err(fx->ops->stats(fx->s, &st, &fx->detail), LZ_OK);
	ck_assert_uint_eq(st.entities, 300);
	ck_assert_uint_eq(st.messages, 2);
	ck_assert_uint_eq(st.messages_deadletter, 1);
	ck_assert_uint_eq(st.messages_scheduled, 0);
	memset(&b, 0, sizeof(b));
	ck_assert_err(fx->ops->load(fx->s, &v, &fx->detail), LZ_OK);
	ck_assert_uint_eq(b.nentities, 300);
	ck_assert_uint_eq(b.nmsgs, 2);
	fx_commit(fx, 43);
	fx_reopen(fx);
	memset(&b, 0, sizeof(b));
	ck_assert_err(fx->ops->load(fx->s, &v, &fx->detail), LZ_OK);
	ck_assert_uint_eq(b.nentities, 300);
	ck_assert_uint_eq(b.nmsgs, 2);
	ck_assert_err(fx->ops->stats(fx->s, &st, &fx->detail), LZ_OK);
	ck_assert_uint_eq(st.messages, 2);
	ck_assert_uint_eq(st.messages_active + st.messages_deferred, 1);
	fx_teardown(fx);
}
END_TEST

/* purge deletes every key under the prefix and nothing else; an interrupted purge is finished
 * by the next open. */
START_TEST(test_redis_purge_scope)
{
	struct fixture f, *fx = &f;
	char other[1024], meta[1024], stray[1024];
	redisReply *r;

	fx_setup_named(fx, "redis");
	snprintf(other, sizeof(other), "%sx", fx->prefix);
	other[strlen(fx->prefix) - 1] = '_'; /* "lzt…-N_x": same start, another prefix */
	snprintf(meta, sizeof(meta), "%smeta", fx->prefix);
	snprintf(stray, sizeof(stray), "%sstray", fx->prefix);
	redis_do("SET %s %s", other, "keep me");
	fx_begin(fx);
	put_entity(fx, "q", ENTITY_QUEUE, 1);
	put_message(fx, "q", JWHERE_MAIN, 1, 1);
	fx_commit(fx, 3);
	ck_assert_err(fx->ops->purge(fx->s, &fx->detail), LZ_OK);
	ck_assert_uint_eq(fx_lsn(fx), 0);
	r = redis_run(NULL, "GET %s", other);
	ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
	freeReplyObject(r);
	fx_begin(fx);
	put_entity(fx, "q", ENTITY_QUEUE, 1);
	fx_commit(fx, 4);
	fx_close(fx);
	/* A purge that died after marking meta: open finishes it. */
	redis_do("HSET %s purging 1", meta, NULL);
	redis_do("SET %s %s", stray, "x");
	fx_open(fx);
	ck_assert_uint_eq(fx_lsn(fx), 0);
	check_load(fx, NULL, 0, 0);
	r = redis_run(NULL, "EXISTS %s", stray);
	ck_assert_int_eq(r->integer, 0);
	freeReplyObject(r);
	r = redis_run(NULL, "HEXISTS %s purging", meta);
	ck_assert_int_eq(r->integer, 0);
	freeReplyObject(r);
	r = redis_run(NULL, "GET %s", other);
	ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
	freeReplyObject(r);
	redis_do("DEL %s", other, NULL);
	fx_teardown(fx);
}
END_TEST

/* A commit that returned survives redis-server being killed (SIGKILL) and restarted on its
 * AOF: the durability the WAL deletion relies on. A client killed in a transaction leaves the
 * previous commit exactly. Runs its own redis-server. */
START_TEST(test_redis_crash)
{
	struct fixture f, *fx = &f;
	struct redis_server rs = { 0 };
	struct jrec_load_message m;
	pid_t child;
	int status;

	fx_setup_named(fx, "redis");
	fx_close(fx);
	snprintf(rs.dir, sizeof(rs.dir), "%s/own-redis", fx->dir);
	ck_assert_int_eq(mkdir(rs.dir, 0700), 0);
	ck_assert_msg(redis_server_start(&rs, 0), "%s", redis_why);
	snprintf(fx->location, sizeof(fx->location), "redis://127.0.0.1:%d/0", rs.port);
	fx_open(fx);
	fx_begin(fx);
	put_entity(fx, "q", ENTITY_QUEUE, 1);
	for (uint64_t seq = 1; seq <= 10; seq++)
		put_message(fx, "q", JWHERE_MAIN, seq, 1);
	fx_commit(fx, 10);
	/* A client that dies in the middle of a transaction, after buffering writes. */
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		store *s;
		struct store_detail d;
		struct jrec_load_entity e;

		if (fx->ops->open(&fx->cfg, &s, &d) != LZ_OK || fx->ops->begin(s, &d) != LZ_OK)
			_exit(1);
		entity_fill(&e, "lost", ENTITY_QUEUE, 1);
		if (fx->ops->put_entity(s, &e, &d) != LZ_OK ||
		    fx->ops->delete_message(s, "q", JWHERE_MAIN, 3, &d) != LZ_OK)
			_exit(2);
		kill(getpid(), SIGKILL);
		_exit(3);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "client status %d", status);
	/* Then the server dies, without a chance to save anything more. */
	fx_close(fx);
	redis_server_kill(&rs);
	ck_assert_msg(redis_server_start(&rs, rs.port), "%s", redis_why);
	fx_open(fx);
	ck_assert_uint_eq(fx_lsn(fx), 10);
	check_no_entity(fx, "lost");
	message_fill(&m, "q", JWHERE_MAIN, 3, 1);
	check_message(fx, &m);
	journal_load_message_release(&m);
	check_load(fx, (const char *const[]){ "q" }, 1, 10);
	fx_close(fx);
	redis_server_kill(&rs);
	rm_tree(fx->dir);
}
END_TEST

/* The fold of a randomized workload into redis, loaded back into a fresh core, gives the live
 * core's state (tests/unit/test_fold.c does the same for the other backends). */
static void fx_reopen_in_place(void *arg, store **s)
{
	struct fixture *fx = arg;

	fx_reopen(fx);
	*s = fx->s;
}

START_TEST(test_redis_fold_matches_core)
{
	for (uint64_t seed = 300; seed < 303; seed++) {
		struct fixture f, *fx = &f;
		struct workload w;

		workload_run(&w, seed, 1500);
		fx_setup_named(fx, "redis");
		foldcheck_run(fx->ops, &fx->s, &w, seed, fx_reopen_in_place, fx);
		fx_teardown(fx);
		workload_free(&w);
	}
}
END_TEST

START_TEST(test_find)
{
	for (int i = 0; i < NBACKENDS; i++) {
		const struct store_ops *ops = store_ops_find(backends[i]);

		ck_assert_ptr_nonnull(ops);
		ck_assert_str_eq(ops->name, backends[i]);
	}
	ck_assert_ptr_eq(store_ops_find("sqlite"), &store_sqlite_ops);
	ck_assert_ptr_eq(store_ops_find("redis"), &store_redis_ops);
	ck_assert_ptr_null(store_ops_find("Redis"));
	ck_assert_ptr_null(store_ops_find("SQLite"));
	ck_assert_ptr_null(store_ops_find(""));
	ck_assert_ptr_null(store_ops_find(NULL));
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *all = tcase_create("conformance");
	TCase *one = tcase_create("backend");

	tcase_set_timeout(all, 120);
	tcase_add_loop_test(all, test_entity_round_trip, 0, NBACKENDS);
	tcase_add_loop_test(all, test_entity_delete, 0, NBACKENDS);
	tcase_add_loop_test(all, test_message_round_trip, 0, NBACKENDS);
	tcase_add_loop_test(all, test_delete_entity_messages, 0, NBACKENDS);
	tcase_add_loop_test(all, test_rollback, 0, NBACKENDS);
	tcase_add_loop_test(all, test_close_uncommitted, 0, NBACKENDS);
	tcase_add_loop_test(all, test_load_order, 0, NBACKENDS);
	tcase_add_loop_test(all, test_list_entities, 0, NBACKENDS);
	tcase_add_loop_test(all, test_stats, 0, NBACKENDS);
	tcase_add_loop_test(all, test_purge, 0, NBACKENDS);
	tcase_add_loop_test(all, test_compact, 0, NBACKENDS);
	tcase_add_loop_test(all, test_state_errors, 0, NBACKENDS);
	suite_add_tcase(s, all);
	tcase_set_timeout(one, 120);
	tcase_add_test(one, test_json_leftover_temps);
	tcase_add_test(one, test_json_redo);
	tcase_add_test(one, test_json_bad_files);
	tcase_add_test(one, test_json_layout);
	tcase_add_test(one, test_json_write_errors);
	tcase_add_test(one, test_sqlite_schema_version);
	tcase_add_test(one, test_sqlite_page_size);
	tcase_add_test(one, test_sqlite_bad_blob);
	tcase_add_test(one, test_redis_durability_settings);
	tcase_add_test(one, test_redis_unreachable);
	tcase_add_test(one, test_redis_password);
	tcase_add_test(one, test_redis_format);
	tcase_add_test(one, test_redis_reopen_paged);
	tcase_add_test(one, test_redis_purge_scope);
	tcase_add_test(one, test_redis_crash);
	tcase_add_test(one, test_redis_fold_matches_core);
	tcase_add_test(one, test_find);
	suite_add_tcase(s, one);
	return s;
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	SRunner *sr;
	int failed;

	snprintf(suite_dir, sizeof(suite_dir), "%s/lz-test-store-XXXXXX", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(suite_dir) == NULL) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	log_threshold = LOG_ERROR; /* the migration and redo notices are expected here */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		perror("signal");
		return EXIT_FAILURE;
	}
	main_pid = getpid();
	snprintf(suite_redis.dir, sizeof(suite_redis.dir), "%s/redis", suite_dir);
	if (mkdir(suite_redis.dir, 0700) != 0 || atexit(suite_redis_stop) != 0) {
		perror(suite_redis.dir);
		return EXIT_FAILURE;
	}
	if (!redis_server_start(&suite_redis, 0))
		fprintf(stderr, "test_store: cannot start redis-server: %s; run deploy/install-deps.sh\n", redis_why);
	sr = srunner_create(store_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	suite_redis_stop(); /* before its directory goes */
	if (nftw(suite_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		perror(suite_dir);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
