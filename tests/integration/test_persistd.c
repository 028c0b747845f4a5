/*
 * localzure-persistd end to end: the real binary, started in a fresh data directory per test,
 * talked to as a broker would over a raw nng pair1 socket with real journal records.
 *
 * The binary is env LZ_PERSISTD_BIN, else derived from LZ_BROKER_BIN
 * (<build>/broker/localzure-broker → <build>/persistd/localzure-persistd). Every persistd gets
 * PR_SET_PDEATHSIG(SIGKILL) and is stopped by PID before its test ends; its log (stdout and
 * stderr, appended across restarts) is persistd.log in the data directory. Every directory lives
 * under one per-run root, removed when every test passed and kept (path printed) otherwise or
 * with LZ_KEEP_TMP set.
 *
 * Records: lsn 1 creates queue "orders" (ENTITY_PUT); lsn k ≥ 2 enqueues sequence number k - 1
 * with body "body-<seq>" padded to BODY_BYTES (MSG_ENQUEUE). A state transfer is checked
 * record by record: the entity and every acknowledged message must be in it, whether it arrives
 * as LOAD records (folded into the backend) or as WAL-tail records.
 *
 * Waits are bounded; nothing sleeps waiting for a timer (the fold timer is set to an hour, and
 * folds are triggered by stop, start or size). nng is touched only inside test bodies (check
 * forks every test).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>

#include "common/strbuf.h"
#include "harness.h"
#include "proto/ipc.h"
#include "proto/journal.h"

extern char **environ;

#define START_TIMEOUT_MS 15000
#define STOP_TIMEOUT_MS 15000
#define IO_TIMEOUT_MS 10000
#define MAX_RECS 5000           /* lsn 1..MAX_RECS - 1 */
#define BODY_BYTES 200
#define QUEUE "orders"
#define TS_BASE 1764200000000LL /* record times: TS_BASE + lsn */

static char run_root[200];
static char persistd_bin[4096];

/* ---- the persistd process ----------------------------------------------------------------- */

struct pd {
	pid_t pid;
	char dir[300];       /* data_dir */
	char log[340];
	char url[340];
	const char *storage; /* LOCALZURE_STORAGE_TYPE */
	off_t log_mark;      /* log size before the current start */
	rlim_t fsize_limit;  /* 0, or RLIMIT_FSIZE for the next start (SIGXFSZ ignored: writes fail) */
	bool repair;         /* start with --repair */
};

static void pd_init(struct pd *p, const char *label, const char *storage)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "%s/%.40s-%.9s-XXXXXX", run_root, label, storage);
	ck_assert_msg(mkdtemp(p->dir) != NULL, "mkdtemp %s: %s", p->dir, strerror(errno));
	snprintf(p->log, sizeof(p->log), "%s/persistd.log", p->dir);
	snprintf(p->url, sizeof(p->url), "ipc://%s/persistd.ipc", p->dir);
	p->storage = storage;
}

/* The log written since the current start (malloc'd, "" when unreadable). */
static char *pd_log(const struct pd *p, off_t from)
{
	FILE *f = fopen(p->log, "r");
	char *text = NULL;
	long size;

	if (f != NULL && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= from && fseek(f, from, SEEK_SET) == 0) {
		text = calloc(1, (size_t)(size - from) + 1);
		if (text != NULL && fread(text, 1, (size_t)(size - from), f) != (size_t)(size - from))
			text[0] = '\0';
	}
	if (f != NULL)
		fclose(f);
	return text != NULL ? text : calloc(1, 1);
}

static bool pd_log_has(const struct pd *p, off_t from, const char *needle)
{
	char *text = pd_log(p, from);
	bool found = strstr(text, needle) != NULL;

	free(text);
	return found;
}

/* An environ copy without LOCALZURE_* plus the test's defaults (`dir_var`, `type_var`: buffers
 * of the caller that must outlive the array) and `extra` ("KEY=VALUE"). */
static char **pd_env(const struct pd *p, const char *const *extra, char *dir_var, size_t dir_cap,
		     char *type_var, size_t type_cap)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
		n++;
	env = calloc(n + 5, sizeof(*env));
	ck_assert_ptr_nonnull(env);
	for (size_t i = 0; environ[i] != NULL; i++) {
		if (strncmp(environ[i], "LOCALZURE_", 10) != 0)
			env[k++] = environ[i];
	}
	snprintf(dir_var, dir_cap, "LOCALZURE_DATA_DIR=%s", p->dir);
	snprintf(type_var, type_cap, "LOCALZURE_STORAGE_TYPE=%s", p->storage);
	env[k++] = dir_var;
	env[k++] = type_var;
	env[k++] = (char *)"LOCALZURE_SNAPSHOT_INTERVAL=3600";
	env[k++] = (char *)"LOCALZURE_LOG_LEVEL=info";
	for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
		env[k++] = (char *)extra[i];
	return env;
}

/* Forks and execs persistd with its output appended to p->log. */
static void pd_spawn(struct pd *p, const char *const *extra)
{
	char dir_var[340], type_var[64];
	char **env = pd_env(p, extra, dir_var, sizeof(dir_var), type_var, sizeof(type_var));
	char *const argv[] = { persistd_bin, p->repair ? (char *)"--repair" : NULL, NULL };
	struct stat st;
	pid_t pid;

	p->log_mark = stat(p->log, &st) == 0 ? st.st_size : 0;
	pid = fork();
	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		struct rlimit lim = { p->fsize_limit, p->fsize_limit };
		int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		if (fd < 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || dup2(fd, STDOUT_FILENO) < 0 ||
		    dup2(fd, STDERR_FILENO) < 0)
			_exit(126);
		if (p->fsize_limit != 0 && (signal(SIGXFSZ, SIG_IGN) == SIG_ERR || setrlimit(RLIMIT_FSIZE, &lim) != 0))
			_exit(125);
		execve(persistd_bin, argv, env);
		_exit(127);
	}
	p->pid = pid;
	free(env);
}

/* Waits at most timeout_ms for the process to exit; its wait status, or -1 while it runs. */
static int pd_wait(struct pd *p, int64_t timeout_ms)
{
	int64_t deadline = h_mono_ms() + timeout_ms;
	int status;

	for (;;) {
		pid_t r = waitpid(p->pid, &status, WNOHANG);

		ck_assert_msg(r >= 0, "waitpid %d: %s", (int)p->pid, strerror(errno));
		if (r == p->pid) {
			p->pid = 0;
			return status;
		}
		if (h_mono_ms() >= deadline)
			return -1;
		h_sleep_ms(5);
	}
}

static void pd_kill9(struct pd *p)
{
	if (p->pid <= 0)
		return;
	ck_assert_int_eq(kill(p->pid, SIGKILL), 0);
	ck_assert_int_ne(pd_wait(p, STOP_TIMEOUT_MS), -1);
}

/* Starts persistd and waits for its `msg="ready"` line. */
static void pd_start(struct pd *p, const char *const *extra)
{
	int64_t deadline;

	pd_spawn(p, extra);
	deadline = h_mono_ms() + START_TIMEOUT_MS;
	while (!pd_log_has(p, p->log_mark, "msg=\"ready\"")) {
		int status = pd_wait(p, 0);

		if (status != -1) {
			char *log = pd_log(p, p->log_mark);

			ck_abort_msg("persistd exited (status 0x%x) before ready:\n%s", (unsigned)status, log);
		}
		if (h_mono_ms() >= deadline) {
			pd_kill9(p);
			ck_abort_msg("persistd not ready within %d ms", START_TIMEOUT_MS);
		}
		h_sleep_ms(5);
	}
}

/* SIGTERM, expecting exit status 0 within STOP_TIMEOUT_MS. */
static void pd_stop_clean(struct pd *p)
{
	int status;

	ck_assert_int_eq(kill(p->pid, SIGTERM), 0);
	status = pd_wait(p, STOP_TIMEOUT_MS);
	if (status == -1)
		pd_kill9(p);
	ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "persistd did not exit 0 on SIGTERM (status 0x%x):\n%s", (unsigned)status,
		      pd_log(p, p->log_mark));
}

/* ---- journal records ---------------------------------------------------------------------- */

struct journal {
	struct strbuf pay[MAX_RECS];
	struct journal_rec rec[MAX_RECS]; /* rec[lsn] */
};

static void body_of(uint64_t seq, char *out, size_t cap)
{
	int n = snprintf(out, cap, "body-%" PRIu64 "-", seq);

	memset(out + n, 'x', BODY_BYTES - (size_t)n);
	out[BODY_BYTES] = '\0';
}

static struct journal *journal_new(void)
{
	struct journal *j = calloc(1, sizeof(*j));
	char path[] = QUEUE;

	ck_assert_ptr_nonnull(j);
	for (uint64_t lsn = 1; lsn < MAX_RECS; lsn++) {
		struct jrec r;
		struct journal_counter counter = { path, lsn - 1 };
		struct journal_place place = { .path = path, .where = JWHERE_MAIN, .seq = lsn - 1 };
		char msg_id[32], body[BODY_BYTES + 1];

		memset(&r, 0, sizeof(r));
		strbuf_init(&j->pay[lsn]);
		if (lsn == 1) {
			r.type = JREC_ENTITY_PUT;
			r.u.entity_put.path = path;
			r.u.entity_put.desc.kind = ENTITY_QUEUE;
			r.u.entity_put.desc.lock_duration_ms = 60000;
			r.u.entity_put.desc.max_size_mb = 1024;
			r.u.entity_put.desc.default_ttl_ms = INT64_MAX;
			r.u.entity_put.desc.dup_window_ms = 600000;
			r.u.entity_put.desc.max_delivery_count = 10;
			r.u.entity_put.desc.max_message_size_kb = 256;
			r.u.entity_put.created_at = TS_BASE + 1;
		} else {
			snprintf(msg_id, sizeof(msg_id), "m-%" PRIu64, lsn - 1);
			body_of(lsn - 1, body, sizeof(body));
			r.type = JREC_MSG_ENQUEUE;
			r.u.enqueue.target = path;
			r.u.enqueue.msg.props.message_id = msg_id;
			r.u.enqueue.msg.body = (uint8_t *)body;
			r.u.enqueue.msg.body_len = BODY_BYTES;
			r.u.enqueue.counters = &counter;
			r.u.enqueue.ncounters = 1;
			place.enqueued_ms = TS_BASE + (int64_t)lsn;
			place.ttl_ms = INT64_MAX;
			place.expires_ms = INT64_MAX;
			r.u.enqueue.places = &place;
			r.u.enqueue.nplaces = 1;
		}
		ck_assert_int_eq(journal_encode(&r, &j->pay[lsn]), LZ_OK);
		j->rec[lsn] = (struct journal_rec){ lsn, r.type, TS_BASE + (int64_t)lsn,
						    (const uint8_t *)j->pay[lsn].data, j->pay[lsn].len };
	}
	return j;
}

static void journal_free(struct journal *j)
{
	for (size_t i = 1; i < MAX_RECS; i++)
		strbuf_release(&j->pay[i]);
	free(j);
}

/* ---- the broker side of the link ---------------------------------------------------------- */

struct link {
	nng_socket sock;
	bool open;
};

static void link_dial(struct link *l, const char *url)
{
	int rv = nng_pair1_open(&l->sock);

	ck_assert_msg(rv == 0, "nng_pair1_open: %s", nng_strerror(rv));
	l->open = true;
	ck_assert_int_eq(nng_socket_set_size(l->sock, NNG_OPT_RECVMAXSZ, IPC_MAX_MESSAGE), 0);
	ck_assert_int_eq(nng_socket_set_ms(l->sock, NNG_OPT_RECVTIMEO, IO_TIMEOUT_MS), 0);
	ck_assert_int_eq(nng_socket_set_ms(l->sock, NNG_OPT_SENDTIMEO, IO_TIMEOUT_MS), 0);
	rv = nng_dial(l->sock, url, NULL, 0);
	ck_assert_msg(rv == 0, "nng_dial %s: %s", url, nng_strerror(rv));
}

static void link_close(struct link *l)
{
	if (l->open)
		nng_close(l->sock);
	l->open = false;
}

static void link_send(struct link *l, struct strbuf *m)
{
	int rv = nng_send(l->sock, m->data, m->len, 0);

	ck_assert_msg(rv == 0, "nng_send: %s", nng_strerror(rv));
	strbuf_release(m);
}

/* Receives and decodes one message; the caller releases *m and frees the returned nng_msg. */
static nng_msg *link_recv(struct link *l, struct ipc_msg *m)
{
	char why[256];
	nng_msg *msg;
	int rv = nng_recvmsg(l->sock, &msg, 0);

	ck_assert_msg(rv == 0, "nng_recvmsg: %s", nng_strerror(rv));
	ck_assert_msg(ipc_decode(nng_msg_body(msg), nng_msg_len(msg), m, why, sizeof(why)) == LZ_OK, "ipc_decode: %s",
		      why);
	return msg;
}

static void send_hello(struct link *l, uint64_t acked)
{
	struct strbuf m = STRBUF_INIT;

	ck_assert_int_eq(ipc_encode_hello(&m, acked, "test-broker"), LZ_OK);
	link_send(l, &m);
}

/* APPEND of records first..last (inclusive) of `j`. */
static void send_append(struct link *l, const struct journal *j, uint64_t first, uint64_t last)
{
	struct strbuf m = STRBUF_INIT;

	ck_assert(first >= 1 && last < MAX_RECS && first <= last);
	ck_assert_int_eq(ipc_encode_records(&m, IPC_APPEND, &j->rec[first], (size_t)(last - first + 1)), LZ_OK);
	link_send(l, &m);
}

static void expect_ack(struct link *l, uint64_t durable)
{
	struct ipc_msg m;
	nng_msg *msg = link_recv(l, &m);

	ck_assert_msg(m.type == IPC_ACK, "expected ACK, got %s (%.*s)", ipc_type_name(m.type),
		      m.type == IPC_ERROR ? (int)m.u.error.text_len : 0, m.type == IPC_ERROR ? m.u.error.text : "");
	ck_assert_uint_eq(m.u.ack.durable_lsn, durable);
	ipc_msg_release(&m);
	nng_msg_free(msg);
}

static void append_acked(struct link *l, const struct journal *j, uint64_t first, uint64_t last, uint64_t durable)
{
	send_append(l, j, first, last);
	expect_ack(l, durable);
}

/* Expects ERROR with `code` and a text containing `needle`. */
static void expect_error(struct link *l, lz_err code, const char *needle)
{
	struct ipc_msg m;
	nng_msg *msg = link_recv(l, &m);
	char text[1024];

	ck_assert_msg(m.type == IPC_ERROR, "expected ERROR, got %s", ipc_type_name(m.type));
	snprintf(text, sizeof(text), "%.*s", (int)m.u.error.text_len, m.u.error.text);
	ck_assert_msg(m.u.error.code == code, "ERROR code %s, expected %s (%s)", err_name(m.u.error.code),
		      err_name(code), text);
	ck_assert_msg(strstr(text, needle) != NULL, "ERROR text '%s' lacks '%s'", text, needle);
	ipc_msg_release(&m);
	nng_msg_free(msg);
}

/* ---- state transfer ----------------------------------------------------------------------- */

struct state {
	uint8_t store_id[IPC_STORE_ID_LEN];
	uint64_t base_lsn, durable_lsn, last_lsn;
	size_t state_msgs;
	size_t load_entities, load_messages, tail_records;
	bool entity;              /* queue QUEUE is there (loaded or created by the tail) */
	uint64_t entity_last_seq; /* its last_seq when loaded */
	bool seen[MAX_RECS];      /* seen[seq]: message seq is there with the right body */
	uint64_t tail_last;       /* LSN of the last tail record */
};

static void state_check_message(struct state *st, uint64_t seq, const struct journal_msg *msg, const char *path)
{
	char body[BODY_BYTES + 1];

	ck_assert_msg(seq >= 1 && seq < MAX_RECS, "message seq %" PRIu64 " out of range", seq);
	ck_assert_str_eq(path, QUEUE);
	body_of(seq, body, sizeof(body));
	ck_assert_msg(msg->body_len == BODY_BYTES && memcmp(msg->body, body, BODY_BYTES) == 0, "body of seq %" PRIu64,
		      seq);
	ck_assert_msg(!st->seen[seq], "message seq %" PRIu64 " twice", seq);
	st->seen[seq] = true;
}

static void state_record(struct state *st, const struct journal_rec *rec)
{
	char why[256];
	struct jrec r;

	ck_assert_msg(journal_decode(rec->type, rec->payload, rec->len, &r, why, sizeof(why)) == LZ_OK,
		      "STATE record lsn %" PRIu64 " (%s): %s", rec->lsn, journal_type_name(rec->type), why);
	if (rec->lsn == 0) {
		ck_assert_msg(st->tail_records == 0, "LOAD record after the WAL tail");
		if (r.type == JREC_LOAD_ENTITY) {
			ck_assert_str_eq(r.u.load_entity.path, QUEUE);
			st->entity_last_seq = r.u.load_entity.last_seq;
			st->entity = true;
			st->load_entities++;
		} else {
			ck_assert_int_eq(r.type, JREC_LOAD_MESSAGE);
			state_check_message(st, r.u.load_message.place.seq, &r.u.load_message.msg,
					    r.u.load_message.place.path);
			st->load_messages++;
		}
	} else {
		ck_assert_msg(rec->lsn == (st->tail_records == 0 ? st->base_lsn + 1 : st->tail_last + 1),
			      "tail lsn %" PRIu64 " after %" PRIu64 " (base %" PRIu64 ")", rec->lsn, st->tail_last,
			      st->base_lsn);
		st->tail_last = rec->lsn;
		st->tail_records++;
		if (r.type == JREC_ENTITY_PUT) {
			st->entity = true;
		} else {
			ck_assert_int_eq(r.type, JREC_MSG_ENQUEUE);
			ck_assert_uint_eq(r.u.enqueue.nplaces, 1);
			state_check_message(st, r.u.enqueue.places[0].seq, &r.u.enqueue.msg, r.u.enqueue.places[0].path);
		}
	}
	journal_rec_release(&r);
}

/* HELLO(acked) and everything up to STATE_END. */
static void state_fetch(struct link *l, uint64_t acked, struct state *st)
{
	struct ipc_msg m;
	nng_msg *msg;

	memset(st, 0, sizeof(*st));
	send_hello(l, acked);
	msg = link_recv(l, &m);
	ck_assert_msg(m.type == IPC_WELCOME, "expected WELCOME, got %s", ipc_type_name(m.type));
	memcpy(st->store_id, m.u.welcome.store_id, IPC_STORE_ID_LEN);
	st->base_lsn = m.u.welcome.base_lsn;
	st->durable_lsn = m.u.welcome.durable_lsn;
	ipc_msg_release(&m);
	nng_msg_free(msg);
	for (;;) {
		msg = link_recv(l, &m);
		if (m.type == IPC_STATE_END)
			break;
		ck_assert_msg(m.type == IPC_STATE, "expected STATE or STATE_END, got %s", ipc_type_name(m.type));
		ck_assert_msg(acked == 0, "STATE sent to a broker that kept its state");
		ck_assert_uint_gt(m.u.records.n, 0);
		for (size_t i = 0; i < m.u.records.n; i++)
			state_record(st, &m.u.records.recs[i]);
		st->state_msgs++;
		ipc_msg_release(&m);
		nng_msg_free(msg);
	}
	st->last_lsn = m.u.state_end.last_lsn;
	ipc_msg_release(&m);
	nng_msg_free(msg);
	if (st->tail_records > 0)
		ck_assert_uint_eq(st->tail_last, st->last_lsn);
}

/* The state holds the queue and exactly the messages of records 2..last. */
static void state_expect_all(const struct state *st, uint64_t last)
{
	ck_assert_uint_eq(st->last_lsn, last);
	ck_assert_uint_eq(st->durable_lsn, last);
	ck_assert(st->entity);
	if (st->load_entities > 0 && st->tail_records == 0)
		ck_assert_uint_eq(st->entity_last_seq, last - 1);
	for (uint64_t seq = 1; seq < MAX_RECS; seq++)
		ck_assert_msg(st->seen[seq] == (seq + 1 <= last), "message seq %" PRIu64 ": %s", seq,
			      st->seen[seq] ? "present but never acked" : "acked but missing");
}

/* ---- tests -------------------------------------------------------------------------------- */

static const char *const all_storages[] = { "sqlite", "json", "in-memory" };
static const char *const disk_storages[] = { "sqlite", "json" };

static bool persistent(const char *storage)
{
	return strcmp(storage, "in-memory") != 0;
}

/* An empty store: WELCOME {0, 0}, no STATE, STATE_END 0; SIGTERM → exit 0. */
START_TEST(test_empty_store)
{
	struct pd p;
	struct link l = { .open = false };
	struct state st;

	pd_init(&p, "empty", all_storages[_i]);
	pd_start(&p, NULL);
	link_dial(&l, p.url);
	state_fetch(&l, 0, &st);
	ck_assert_uint_eq(st.base_lsn, 0);
	ck_assert_uint_eq(st.durable_lsn, 0);
	ck_assert_uint_eq(st.state_msgs, 0);
	ck_assert_uint_eq(st.last_lsn, 0);
	link_close(&l);
	pd_stop_clean(&p);
}
END_TEST

/* ACKs carry the durable LSN; resends are dropped (and still acked); a gap and an APPEND
 * before HELLO are refused with ERROR; a reconnecting fresh broker gets everything. */
START_TEST(test_append_ack_resend_gap)
{
	struct pd p;
	struct link l = { .open = false };
	struct journal *j = journal_new();
	struct state st;

	pd_init(&p, "append", all_storages[_i]);
	pd_start(&p, NULL);
	link_dial(&l, p.url);
	state_fetch(&l, 0, &st);
	append_acked(&l, j, 1, 2, 2);
	append_acked(&l, j, 3, 5, 5);
	append_acked(&l, j, 4, 5, 5);   /* pure resend */
	append_acked(&l, j, 5, 6, 6);   /* resend + new */
	send_append(&l, j, 8, 8);       /* gap: 7 missing */
	expect_error(&l, LZ_EINVAL, "does not continue durable lsn 6");
	append_acked(&l, j, 7, 7, 7);   /* the conversation goes on */
	link_close(&l);

	link_dial(&l, p.url);
	send_append(&l, j, 8, 8);
	expect_error(&l, LZ_ESTATE, "HELLO first");
	state_fetch(&l, 0, &st);
	state_expect_all(&st, 7);
	if (persistent(p.storage)) {
		/* nothing folded yet: the state is the WAL tail */
		ck_assert_uint_eq(st.base_lsn, 0);
		ck_assert_uint_eq(st.tail_records, 7);
	} else {
		ck_assert_uint_eq(st.base_lsn, 7);
		ck_assert_uint_eq(st.load_entities, 1);
		ck_assert_uint_eq(st.load_messages, 6);
	}
	append_acked(&l, j, 8, 8, 8);
	link_close(&l);
	pd_stop_clean(&p);
	journal_free(j);
}
END_TEST

/* SIGTERM folds the WAL: after a restart the state is all LOAD records at base_lsn = last. The
 * in-memory store starts empty again, with a new store id. */
START_TEST(test_sigterm_folds)
{
	struct pd p;
	struct link l = { .open = false };
	struct journal *j = journal_new();
	struct state before, after;

	pd_init(&p, "sigterm", all_storages[_i]);
	pd_start(&p, NULL);
	link_dial(&l, p.url);
	state_fetch(&l, 0, &before);
	append_acked(&l, j, 1, 3, 3);
	append_acked(&l, j, 4, 5, 5);
	link_close(&l);
	pd_stop_clean(&p);
	if (persistent(p.storage))
		ck_assert_msg(pd_log_has(&p, p.log_mark, "why=stop from_lsn=0 to_lsn=5"), "no fold at stop:\n%s",
			      pd_log(&p, p.log_mark));

	pd_start(&p, NULL);
	link_dial(&l, p.url);
	state_fetch(&l, 0, &after);
	if (persistent(p.storage)) {
		ck_assert_mem_eq(after.store_id, before.store_id, IPC_STORE_ID_LEN);
		ck_assert_uint_eq(after.base_lsn, 5);
		ck_assert_uint_eq(after.tail_records, 0);
		ck_assert_uint_eq(after.load_entities, 1);
		ck_assert_uint_eq(after.load_messages, 4);
		state_expect_all(&after, 5);
		append_acked(&l, j, 6, 6, 6);
	} else {
		ck_assert_msg(memcmp(after.store_id, before.store_id, IPC_STORE_ID_LEN) != 0,
			      "in-memory store kept its id across a restart");
		ck_assert_uint_eq(after.base_lsn, 0);
		ck_assert_uint_eq(after.state_msgs, 0);
		ck_assert_uint_eq(after.last_lsn, 0);
	}
	link_close(&l);
	pd_stop_clean(&p);
	journal_free(j);
}
END_TEST

/* SIGKILL after acks: the restart verifies the WAL, folds it, and every acked record is in the
 * state; the log continues at the next LSN and resends are still recognised. */
START_TEST(test_kill9_replays_wal)
{
	struct pd p;
	struct link l = { .open = false };
	struct journal *j = journal_new();
	struct state st;

	pd_init(&p, "kill9", disk_storages[_i]);
	pd_start(&p, NULL);
	link_dial(&l, p.url);
	state_fetch(&l, 0, &st);
	append_acked(&l, j, 1, 3, 3);
	append_acked(&l, j, 4, 10, 10);
	append_acked(&l, j, 11, 20, 20);
	link_close(&l);
	pd_kill9(&p);

	pd_start(&p, NULL);
	ck_assert_msg(pd_log_has(&p, p.log_mark, "why=start from_lsn=0 to_lsn=20"), "no fold at start:\n%s",
		      pd_log(&p, p.log_mark));
	link_dial(&l, p.url);
	state_fetch(&l, 0, &st);
	state_expect_all(&st, 20);
	ck_assert_uint_eq(st.base_lsn, 20);
	append_acked(&l, j, 18, 21, 21);
	link_close(&l);
	pd_kill9(&p);

	pd_start(&p, NULL);
	link_dial(&l, p.url);
	state_fetch(&l, 0, &st);
	state_expect_all(&st, 21);
	link_close(&l);
	pd_stop_clean(&p);
	journal_free(j);
}
END_TEST

/* A broker that kept its state (acked > 0) gets STATE_END alone; one acked beyond what the
 * store holds makes persistd raise the data-loss alarm (durability property 14). */
START_TEST(test_broker_kept_state)
{
	struct pd p;
	struct link l = { .open = false };
	struct journal *j = journal_new();
	struct state st;

	pd_init(&p, "kept", "sqlite");
	pd_start(&p, NULL);
	link_dial(&l, p.url);
	state_fetch(&l, 0, &st);
	append_acked(&l, j, 1, 3, 3);
	link_close(&l);
	pd_kill9(&p);

	pd_start(&p, NULL);
	link_dial(&l, p.url);
	state_fetch(&l, 3, &st);
	ck_assert_uint_eq(st.durable_lsn, 3);
	ck_assert_uint_eq(st.last_lsn, 3);
	append_acked(&l, j, 3, 4, 4);
	ck_assert(!pd_log_has(&p, p.log_mark, "acknowledged data was lost"));
	state_fetch(&l, 9, &st);
	ck_assert_uint_eq(st.durable_lsn, 4);
	ck_assert_uint_eq(st.last_lsn, 4);
	ck_assert_msg(pd_log_has(&p, p.log_mark, "level=error proc=persistd msg=\"acknowledged data was lost"),
		      "no data-loss alarm:\n%s", pd_log(&p, p.log_mark));
	link_close(&l);
	pd_stop_clean(&p);
	journal_free(j);
}
END_TEST

/* wal_enabled false: each APPEND is committed to the backend before the ACK; no WAL directory;
 * SIGKILL loses nothing. */
START_TEST(test_wal_disabled)
{
	const char *const env[] = { "LOCALZURE_WAL_ENABLED=false", NULL };
	struct pd p;
	struct link l = { .open = false };
	struct journal *j = journal_new();
	struct state st;
	struct stat sb;

	pd_init(&p, "nowal", disk_storages[_i]);
	pd_start(&p, env);
	link_dial(&l, p.url);
	state_fetch(&l, 0, &st);
	append_acked(&l, j, 1, 2, 2);
	append_acked(&l, j, 2, 6, 6);
	link_close(&l);
	pd_kill9(&p);
	ck_assert_msg(stat(sfmt("%s/wal", p.dir), &sb) != 0 && errno == ENOENT, "a wal directory was created");

	pd_start(&p, env);
	link_dial(&l, p.url);
	state_fetch(&l, 0, &st);
	ck_assert_uint_eq(st.base_lsn, 6);
	ck_assert_uint_eq(st.tail_records, 0);
	state_expect_all(&st, 6);
	link_close(&l);
	pd_stop_clean(&p);
	journal_free(j);
}
END_TEST

/* A WAL past wal_max_bytes is folded without waiting for the timer. */
START_TEST(test_fold_on_size)
{
	const char *const env[] = { "LOCALZURE_WAL_MAX_BYTES=4096", NULL };
	struct pd p;
	struct link l = { .open = false };
	struct journal *j = journal_new();
	struct state st;
	int64_t deadline;

	pd_init(&p, "size", "sqlite");
	pd_start(&p, env);
	link_dial(&l, p.url);
	state_fetch(&l, 0, &st);
	for (uint64_t lsn = 1; lsn <= 40; lsn += 4)
		append_acked(&l, j, lsn, lsn + 3, lsn + 3);
	deadline = h_mono_ms() + IO_TIMEOUT_MS;
	while (!pd_log_has(&p, p.log_mark, "why=size")) {
		ck_assert_msg(h_mono_ms() < deadline, "no fold on size:\n%s", pd_log(&p, p.log_mark));
		h_sleep_ms(5);
	}
	link_close(&l);
	pd_kill9(&p);

	pd_start(&p, env);
	link_dial(&l, p.url);
	state_fetch(&l, 0, &st);
	state_expect_all(&st, 40);
	link_close(&l);
	pd_stop_clean(&p);
	journal_free(j);
}
END_TEST

/* State transfers come in bounded chunks: 4999 records are 2 STATE messages, as a WAL tail
 * and, after a restart, as LOAD records. */
START_TEST(test_state_in_chunks)
{
	struct pd p;
	struct link l = { .open = false };
	struct journal *j = journal_new();
	struct state st;

	pd_init(&p, "chunks", "sqlite");
	pd_start(&p, NULL);
	link_dial(&l, p.url);
	state_fetch(&l, 0, &st);
	for (uint64_t lsn = 1; lsn < MAX_RECS; lsn += 500)
		append_acked(&l, j, lsn, lsn + 499 < MAX_RECS ? lsn + 499 : MAX_RECS - 1,
			     lsn + 499 < MAX_RECS ? lsn + 499 : MAX_RECS - 1);
	link_close(&l);

	link_dial(&l, p.url);
	state_fetch(&l, 0, &st);
	ck_assert_uint_eq(st.tail_records, MAX_RECS - 1);
	ck_assert_uint_eq(st.state_msgs, 2);
	state_expect_all(&st, MAX_RECS - 1);
	link_close(&l);
	pd_stop_clean(&p);

	pd_start(&p, NULL);
	link_dial(&l, p.url);
	state_fetch(&l, 0, &st);
	ck_assert_uint_eq(st.load_entities + st.load_messages, MAX_RECS - 1);
	ck_assert_uint_eq(st.state_msgs, 2);
	state_expect_all(&st, MAX_RECS - 1);
	link_close(&l);
	pd_stop_clean(&p);
	journal_free(j);
}
END_TEST

/* A failed WAL write (the file size limit: EFBIG) is fatal: no ACK for that batch, exit 1 with
 * an error naming the WAL. The restart cuts the torn tail and still holds every acked record. */
/* Appends batches until persistd exits; it must exit 1, having acked something, with an
 * error-level line naming the WAL, and a restart must hold every acked record. */
static void appends_until_fatal(struct pd *p, const char *const *extra)
{
	struct link l = { .open = false };
	struct journal *j = journal_new();
	struct state st;
	struct ipc_msg m;
	nng_msg *msg;
	uint64_t acked = 0;
	int status = -1;
	char *log;

	pd_start(p, extra);
	link_dial(&l, p->url);
	state_fetch(&l, 0, &st);
	ck_assert_int_eq(nng_socket_set_ms(l.sock, NNG_OPT_RECVTIMEO, 20), 0);
	for (uint64_t lsn = 1; lsn + 15 < MAX_RECS && status == -1; lsn += 16) {
		int64_t deadline = h_mono_ms() + IO_TIMEOUT_MS;

		send_append(&l, j, lsn, lsn + 15);
		while (status == -1 && nng_recvmsg(l.sock, &msg, 0) != 0) {
			ck_assert_msg(h_mono_ms() < deadline, "no ACK and no exit after lsn %" PRIu64, lsn + 15);
			status = pd_wait(p, 0);
		}
		if (status != -1)
			break;
		ck_assert_int_eq(ipc_decode(nng_msg_body(msg), nng_msg_len(msg), &m, NULL, 0), LZ_OK);
		ck_assert_msg(m.type == IPC_ACK, "expected ACK, got %s", ipc_type_name(m.type));
		ck_assert_uint_eq(m.u.ack.durable_lsn, lsn + 15);
		acked = m.u.ack.durable_lsn;
		ipc_msg_release(&m);
		nng_msg_free(msg);
	}
	link_close(&l);
	log = pd_log(p, p->log_mark);
	ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 1,
		      "expected exit 1 after a failed write (acked %" PRIu64 "), status 0x%x:\n%s", acked,
		      (unsigned)status, log);
	ck_assert_msg(acked > 0 && strstr(log, "level=error") != NULL && strstr(log, "/wal") != NULL,
		      "no error naming the wal:\n%s", log);
	free(log);

	p->fsize_limit = 0;
	pd_start(p, NULL);
	link_dial(&l, p->url);
	state_fetch(&l, 0, &st);
	ck_assert_uint_ge(st.last_lsn, acked);
	state_expect_all(&st, st.last_lsn);
	link_close(&l);
	pd_stop_clean(p);
	journal_free(j);
}

START_TEST(test_write_error_is_fatal)
{
	struct pd p;

	pd_init(&p, "efbig", "sqlite");
	p.fsize_limit = 64 * 1024;
	appends_until_fatal(&p, NULL);
}
END_TEST

/* An fdatasync that fails (EIO, injected) ends persistd without acknowledging that batch. */
START_TEST(test_fdatasync_error_is_fatal)
{
	struct pd p;
	const char *const extra[] = { "LZ_TEST_FAIL_FDATASYNC=5", NULL };

	pd_init(&p, "eio", "sqlite");
	appends_until_fatal(&p, extra);
}
END_TEST

/* A WAL damaged in the middle stops start-up with an error naming the file; --repair keeps a
 * copy, cuts at the damage and starts with the intact prefix. */
START_TEST(test_corrupt_wal_needs_repair)
{
	struct pd p;
	struct link l = { .open = false };
	struct journal *j = journal_new();
	struct state st;
	const char *seg;
	struct stat sb;
	unsigned char byte;
	int fd, status;
	char *log;

	pd_init(&p, "corrupt", "sqlite");
	pd_start(&p, NULL);
	link_dial(&l, p.url);
	state_fetch(&l, 0, &st);
	append_acked(&l, j, 1, 20, 20);
	link_close(&l);
	pd_kill9(&p);

	seg = sfmt("%s/wal/%020d.wal", p.dir, 1);
	fd = open(seg, O_RDWR);
	ck_assert_msg(fd >= 0 && fstat(fd, &sb) == 0, "%s: %s", seg, strerror(errno));
	ck_assert_int_eq(pread(fd, &byte, 1, sb.st_size / 2), 1);
	byte ^= 0x5a;
	ck_assert_int_eq(pwrite(fd, &byte, 1, sb.st_size / 2), 1);
	ck_assert_int_eq(close(fd), 0);

	pd_spawn(&p, NULL);
	status = pd_wait(&p, START_TIMEOUT_MS);
	if (status == -1)
		pd_kill9(&p);
	log = pd_log(&p, p.log_mark);
	ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 1 && strstr(log, seg) != NULL,
		      "expected exit 1 naming %s, status 0x%x:\n%s", seg, (unsigned)status, log);
	free(log);

	p.repair = true;
	pd_start(&p, NULL);
	link_dial(&l, p.url);
	state_fetch(&l, 0, &st);
	ck_assert_uint_gt(st.last_lsn, 1);
	ck_assert_uint_lt(st.last_lsn, 20);
	state_expect_all(&st, st.last_lsn);
	link_close(&l);
	pd_stop_clean(&p);
	journal_free(j);
}
END_TEST

/* An invalid storage type: exit 2, the message names the variable. */
START_TEST(test_bad_storage_type)
{
	struct pd p;
	int status;
	char *log;

	pd_init(&p, "badtype", "postgres");
	pd_spawn(&p, NULL);
	status = pd_wait(&p, START_TIMEOUT_MS);
	if (status == -1)
		pd_kill9(&p);
	log = pd_log(&p, 0);
	ck_assert_msg(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 2,
		      "expected exit 2, status 0x%x:\n%s", (unsigned)status, log);
	ck_assert_msg(strstr(log, "LOCALZURE_STORAGE_TYPE") != NULL, "the key is not named:\n%s", log);
	free(log);
}
END_TEST

/* ---- runner ------------------------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* LZ_PERSISTD_BIN, else <dir of LZ_BROKER_BIN>/../persistd/localzure-persistd. */
static bool persistd_bin_find(void)
{
	const char *bin = getenv("LZ_PERSISTD_BIN");
	const char *broker = getenv("LZ_BROKER_BIN");
	char copy[4096];
	int n;

	if (bin != NULL && bin[0] != '\0') {
		n = snprintf(persistd_bin, sizeof(persistd_bin), "%s", bin);
	} else if (broker != NULL && broker[0] != '\0') {
		snprintf(copy, sizeof(copy), "%s", broker);
		n = snprintf(persistd_bin, sizeof(persistd_bin), "%s/../persistd/localzure-persistd", dirname(copy));
	} else {
		fprintf(stderr, "test_persistd: set LZ_PERSISTD_BIN (or LZ_BROKER_BIN)\n");
		return false;
	}
	if (n < 0 || (size_t)n >= sizeof(persistd_bin) || access(persistd_bin, X_OK) != 0) {
		fprintf(stderr, "test_persistd: %s is not an executable\n", persistd_bin);
		return false;
	}
	return true;
}

static Suite *persistd_suite(void)
{
	Suite *s = suite_create("persistd");
	TCase *tc = h_tcase("persistd");

	tcase_add_loop_test(tc, test_empty_store, 0, 3);
	tcase_add_loop_test(tc, test_append_ack_resend_gap, 0, 3);
	tcase_add_loop_test(tc, test_sigterm_folds, 0, 3);
	tcase_add_loop_test(tc, test_kill9_replays_wal, 0, 2);
	tcase_add_test(tc, test_broker_kept_state);
	tcase_add_loop_test(tc, test_wal_disabled, 0, 2);
	tcase_add_test(tc, test_fold_on_size);
	tcase_add_test(tc, test_state_in_chunks);
	tcase_add_test(tc, test_write_error_is_fatal);
	tcase_add_test(tc, test_fdatasync_error_is_fatal);
	tcase_add_test(tc, test_corrupt_wal_needs_repair);
	tcase_add_test(tc, test_bad_storage_type);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	SRunner *sr;
	int failed;

	if (!persistd_bin_find())
		return EXIT_FAILURE;
	snprintf(run_root, sizeof(run_root), "%.150s/lzpd-XXXXXX", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(run_root) == NULL) {
		fprintf(stderr, "test_persistd: mkdtemp %s: %s\n", run_root, strerror(errno));
		return EXIT_FAILURE;
	}
	sr = srunner_create(persistd_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (failed != 0 || getenv("LZ_KEEP_TMP") != NULL)
		fprintf(stderr, "test_persistd: data directories and logs are kept in %s\n", run_root);
	else if (nftw(run_root, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "test_persistd: cannot remove %s: %s\n", run_root, strerror(errno));
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
