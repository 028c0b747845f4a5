/*
 * `localzure storage ...` end to end: the real persistd, broker and CLI binaries in a fresh data
 * directory per test. Export → purge → import must give back the identical state (compared by
 * the broker's full state dump, /$emulator/state) with messages in every state (active,
 * deferred, dead-lettered, scheduled, with a delivery count), for each persistent backend, live
 * (over the control socket) and offline (persistd stopped); every wrong use gives a clear
 * message, its documented exit code and changes nothing; `storage migrate` moves a loaded,
 * running system to another backend without losing an acknowledged message, and a broker
 * SIGKILL afterwards recovers from the new backend.
 */
#include <check.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "harness_pd.h"

/* Runs the CLI against `p`'s data directory; `extra` (may be NULL) is one more LOCALZURE_ setting,
 * placed first so that it beats the pd's own (getenv takes the first match). */
static void cli(const struct pd *p, const char *extra, const char *stdin_text, struct cli_result *r,
		const char *const *args)
{
	const char *env[5];
	size_t n = 0;

	if (extra != NULL)
		env[n++] = extra;
	env[n++] = p->env_data;
	env[n++] = p->env_storage;
	if (p->env_extra[0] != '\0')
		env[n++] = p->env_extra;
	env[n] = NULL;
	h_cli_run(args, env, stdin_text, 0, r);
}

#define CLI(p, extra, in, r, ...) cli((p), (extra), (in), (r), (const char *const[]){ __VA_ARGS__, NULL })

static void expect_exit(const struct cli_result *r, int code, const char *err_needle)
{
	ck_assert_msg(r->status == code, "exit %d, want %d\nstdout: %s\nstderr: %s", r->status, code, r->out, r->err);
	if (err_needle != NULL)
		ck_assert_msg(strstr(r->err, err_needle) != NULL, "stderr lacks '%s': %s", err_needle, r->err);
}

static json_t *json_out(const struct cli_result *r)
{
	json_error_t e;
	json_t *doc = json_loads(r->out, 0, &e);

	ck_assert_msg(json_is_object(doc), "--json output is not a JSON object (%s): %s", e.text, r->out);
	return doc;
}

/* Entities and messages in every state: active (m0 with delivery count 2), deferred (m1),
 * dead-lettered (m2), scheduled, a subscription copy, duplicate-detection history. No lock is
 * held at the end (locks are not durable, and the dumps are compared across restarts). */
static void fill_states(void)
{
	struct http_resp m0, r;
	char path[512], *lp;

	mk_queue("q", "<MaxDeliveryCount>5</MaxDeliveryCount><RequiresDuplicateDetection>true</RequiresDuplicateDetection>");
	mk_topic("t", "");
	mk_sub("t", "s", "");
	for (int i = 0; i < 6; i++)
		send_ok("q", sfmt("m%d", i), sfmt("{\"MessageId\":\"id%d\",\"Label\":\"l%d\"}", i, i));
	send_ok("t", "to topic", "{\"CorrelationId\":\"c1\"}");
	send_ok("q", "later", sfmt("{\"ScheduledEnqueueTimeUtc\":\"%s\"}", rfc1123((int64_t)time(NULL) * 1000 + 3600000)));
	recv_lock_body("q", "m0", &r);
	ck_assert_int_eq(abandon_msg(&r), 200);
	http_resp_free(&r);
	recv_lock_body("q", "m0", &m0); /* held while m1 and m2 are taken */
	recv_lock_body("q", "m1", &r);
	lp = lock_path(&r);
	snprintf(path, sizeof(path), "/$emulator%s/defer", lp);
	free(lp);
	ck_assert_int_eq(http_post_str(path, "", NULL, NULL, NULL), 200);
	http_resp_free(&r);
	recv_lock_body("q", "m2", &r);
	lp = lock_path(&r);
	snprintf(path, sizeof(path), "/$emulator%s/deadletter", lp);
	free(lp);
	ck_assert_int_eq(http_post_str(path, "{\"DeadLetterReason\":\"bad\"}", "application/json", NULL, NULL), 200);
	http_resp_free(&r);
	ck_assert_int_eq(abandon_msg(&m0), 200);
	http_resp_free(&m0);
}

static void roundtrip(const char *storage, const char *extra)
{
	struct pd p;
	struct lzb b;
	struct cli_result r;
	char file[400], *before, *after;
	json_t *doc;
	int st;

	pd_init(&p, storage);
	if (extra != NULL)
		snprintf(p.env_extra, sizeof(p.env_extra), "%s", extra);
	pd_start(&p);
	broker_start_durable(&b, &p);
	fill_states();
	before = h_state_dump();
	snprintf(file, sizeof(file), "%s/export.jsonl", p.data_dir);

	CLI(&p, NULL, NULL, &r, "--json", "storage", "export", file);
	expect_exit(&r, 0, NULL);
	doc = json_out(&r);
	ck_assert_int_eq(json_integer_value(json_object_get(doc, "Entities")), 3);
	ck_assert_int_ge(json_integer_value(json_object_get(doc, "Messages")), 8);
	json_decref(doc);
	h_cli_free(&r);
	/* an existing file is not overwritten without --force */
	CLI(&p, NULL, NULL, &r, "storage", "export", file);
	expect_exit(&r, 4, "exists");
	h_cli_free(&r);

	/* purge and import are refused while a broker holds the state */
	CLI(&p, NULL, NULL, &r, "storage", "purge", "--yes", "--force");
	expect_exit(&r, 4, "broker is connected");
	h_cli_free(&r);
	lzb_stop_clean(&b);

	/* no confirmation (no terminal) → nothing deleted */
	CLI(&p, NULL, "DELETE ALL\n", &r, "storage", "purge");
	expect_exit(&r, 4, "not confirmed");
	h_cli_free(&r);
	CLI(&p, NULL, NULL, &r, "storage", "purge", "--yes");
	expect_exit(&r, 2, "--force");
	h_cli_free(&r);
	CLI(&p, NULL, NULL, &r, "--json", "storage", "stats");
	expect_exit(&r, 0, NULL);
	doc = json_out(&r);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(doc, "Store"), "Entities")), 3);
	json_decref(doc);
	h_cli_free(&r);

	CLI(&p, NULL, NULL, &r, "storage", "purge", "--yes", "--force");
	expect_exit(&r, 0, NULL);
	h_cli_free(&r);
	CLI(&p, NULL, NULL, &r, "--json", "storage", "stats");
	doc = json_out(&r);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(doc, "Store"), "Entities")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(doc, "Store"), "Messages")), 0);
	json_decref(doc);
	h_cli_free(&r);

	CLI(&p, NULL, "y\n", &r, "storage", "import-data", file);
	expect_exit(&r, 4, "not confirmed");
	h_cli_free(&r);
	CLI(&p, NULL, NULL, &r, "storage", "import-data", file, "--yes");
	expect_exit(&r, 0, NULL);
	h_cli_free(&r);
	/* not empty any more: refused without --replace, accepted with it */
	CLI(&p, NULL, NULL, &r, "storage", "import-data", file, "--yes");
	expect_exit(&r, 4, "--replace");
	h_cli_free(&r);
	CLI(&p, NULL, NULL, &r, "storage", "import-data", file, "--yes", "--replace");
	expect_exit(&r, 0, NULL);
	h_cli_free(&r);

	broker_start_durable(&b, &p);
	after = h_state_dump();
	ck_assert_str_eq(after, before);
	free(after);
	lzb_stop_clean(&b);

	/* offline: persistd stopped, the CLI works on the store itself */
	pd_signal(&p, SIGTERM, &st);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "persistd stop 0x%x", st);
	CLI(&p, NULL, NULL, &r, "storage", "stats", "--online");
	expect_exit(&r, 3, "not reachable");
	h_cli_free(&r);
	CLI(&p, NULL, NULL, &r, "storage", "stats");
	expect_exit(&r, 0, NULL);
	ck_assert_msg(strstr(r.out, "entities:         3") != NULL, "%s", r.out);
	h_cli_free(&r);
	CLI(&p, NULL, NULL, &r, "storage", "export", file, "--force");
	expect_exit(&r, 0, NULL);
	h_cli_free(&r);
	CLI(&p, NULL, NULL, &r, "storage", "purge", "--yes", "--force");
	expect_exit(&r, 0, NULL);
	h_cli_free(&r);
	CLI(&p, NULL, NULL, &r, "storage", "import-data", file, "--yes");
	expect_exit(&r, 0, NULL);
	h_cli_free(&r);
	CLI(&p, NULL, NULL, &r, "storage", "compact");
	expect_exit(&r, 0, NULL);
	h_cli_free(&r);
	pd_start(&p);
	broker_start_durable(&b, &p);
	after = h_state_dump();
	ck_assert_str_eq(after, before);
	free(after);
	free(before);
	lzb_stop_clean(&b);
	pd_cleanup(&p);
}

START_TEST(roundtrip_sqlite)
{
	roundtrip("sqlite", NULL);
}
END_TEST

START_TEST(roundtrip_json)
{
	roundtrip("json", NULL);
}
END_TEST

START_TEST(roundtrip_redis)
{
	struct h_redis rs;

	h_redis_start(&rs);
	roundtrip("redis", sfmt("LOCALZURE_REDIS_URL=%s", rs.url));
	h_redis_stop(&rs);
}
END_TEST

/* Wrong uses: a clear message, the documented exit code, nothing changed. */
START_TEST(wrong_uses)
{
	struct pd p;
	struct lzb b;
	struct cli_result r;
	char file[400], bad[400], *before, *after;
	FILE *f;

	pd_init(&p, "sqlite");
	pd_start(&p);
	broker_start_durable(&b, &p);
	mk_queue("q", "");
	send_ok("q", "kept", NULL);
	before = h_state_dump();
	snprintf(file, sizeof(file), "%s/e.jsonl", p.data_dir);
	snprintf(bad, sizeof(bad), "%s/bad.jsonl", p.data_dir);

	CLI(&p, NULL, NULL, &r, "storage");
	expect_exit(&r, 2, "unknown command");
	h_cli_free(&r);
	CLI(&p, NULL, NULL, &r, "storage", "frobnicate");
	expect_exit(&r, 2, "unknown command");
	h_cli_free(&r);
	CLI(&p, NULL, NULL, &r, "storage", "export");
	expect_exit(&r, 2, "missing FILE");
	h_cli_free(&r);
	CLI(&p, NULL, NULL, &r, "storage", "stats", "--bogus");
	expect_exit(&r, 2, "unknown option --bogus");
	h_cli_free(&r);
	CLI(&p, NULL, NULL, &r, "storage", "migrate");
	expect_exit(&r, 2, "--to");
	h_cli_free(&r);
	CLI(&p, NULL, NULL, &r, "storage", "migrate", "--to", "memory");
	expect_exit(&r, 2, "not a backend to migrate to");
	h_cli_free(&r);
	CLI(&p, NULL, NULL, &r, "storage", "export", "--help");
	expect_exit(&r, 0, NULL);
	ck_assert_msg(strstr(r.out, "usage: localzure storage export FILE") != NULL, "%s", r.out);
	h_cli_free(&r);
	CLI(&p, "LOCALZURE_STORAGE_TYPE=cassandra", NULL, &r, "storage", "stats");
	expect_exit(&r, 2, "storage_type");
	h_cli_free(&r);

	/* import: a missing file, a file cut short, a file that is not an export */
	CLI(&p, NULL, NULL, &r, "storage", "import-data", "/nonexistent/x.jsonl", "--yes");
	expect_exit(&r, 5, "nonexistent");
	h_cli_free(&r);
	CLI(&p, NULL, NULL, &r, "storage", "export", file);
	expect_exit(&r, 0, NULL);
	h_cli_free(&r);
	lzb_stop_clean(&b);
	{
		char cmd[1000];

		snprintf(cmd, sizeof(cmd), "head -n 2 '%s' > '%s'", file, bad);
		ck_assert_int_eq(system(cmd), 0);
	}
	CLI(&p, NULL, NULL, &r, "storage", "import-data", bad, "--yes", "--replace");
	expect_exit(&r, 1, "no End line");
	ck_assert_msg(strstr(r.err, "nothing was changed") != NULL, "%s", r.err);
	h_cli_free(&r);
	f = fopen(bad, "w");
	ck_assert_ptr_nonnull(f);
	fputs("{\"hello\": 1}\n", f);
	fclose(f);
	CLI(&p, NULL, NULL, &r, "storage", "import-data", bad, "--yes", "--replace");
	expect_exit(&r, 1, "not a LocalZure export");
	h_cli_free(&r);

	/* persistd runs but its control socket is elsewhere: unreachable, and no offline fallback */
	CLI(&p, "LOCALZURE_CONTROL_URL=ipc:///tmp/lz-no-such-control.ipc", NULL, &r, "storage", "stats");
	expect_exit(&r, 3, "does not answer");
	h_cli_free(&r);
	/* migrating into a store that is not empty is refused */
	{
		char spec[400];

		snprintf(spec, sizeof(spec), "sqlite:%s/other.db", p.data_dir);
		CLI(&p, NULL, NULL, &r, "storage", "migrate", "--to", spec);
		expect_exit(&r, 0, NULL);
		h_cli_free(&r);
		snprintf(spec, sizeof(spec), "sqlite:%s/localzure.db", p.data_dir);
		CLI(&p, NULL, NULL, &r, "storage", "migrate", "--to", spec);
		expect_exit(&r, 4, "not empty");
		h_cli_free(&r);
	}

	broker_start_durable(&b, &p);
	after = h_state_dump();
	ck_assert_str_eq(after, before);
	free(after);
	free(before);
	lzb_stop_clean(&b);
	pd_cleanup(&p);

	/* no data directory at all */
	{
		struct pd q;

		pd_init(&q, "sqlite");
		snprintf(q.env_data, sizeof(q.env_data), "LOCALZURE_DATA_DIR=%s/missing", q.data_dir);
		CLI(&q, NULL, NULL, &r, "storage", "stats");
		expect_exit(&r, 5, "no data directory");
		h_cli_free(&r);
		CLI(&q, "LOCALZURE_STORAGE_TYPE=in-memory", NULL, &r, "storage", "stats");
		expect_exit(&r, 5, "there is no stored state");
		h_cli_free(&r);
		pd_cleanup(&q);
	}
}
END_TEST

/* A store replaced while the broker was cut off from persistd: when it reconnects it sees another
 * store id and exits (status 3) instead of serving its stale state; started again, it has the
 * imported state. */
START_TEST(replaced_while_disconnected)
{
	struct pd p;
	struct lzb b;
	struct cli_result r;
	char file[400], *before, *after, *log;
	int64_t deadline;
	int st = 0;

	pd_init(&p, "sqlite");
	pd_start(&p);
	broker_start_durable(&b, &p);
	mk_queue("q", "");
	send_ok("q", "exported", NULL);
	before = h_state_dump();
	snprintf(file, sizeof(file), "%s/e.jsonl", p.data_dir);
	CLI(&p, NULL, NULL, &r, "storage", "export", file);
	expect_exit(&r, 0, NULL);
	h_cli_free(&r);
	send_ok("q", "after the export", NULL);
	pd_signal(&p, SIGTERM, &st);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "persistd stop 0x%x", st);
	CLI(&p, NULL, NULL, &r, "storage", "import-data", file, "--yes", "--replace");
	expect_exit(&r, 0, NULL);
	h_cli_free(&r);
	pd_start(&p);
	deadline = h_mono_ms() + 20000;
	while (waitpid(b.pid, &st, WNOHANG) == 0) {
		ck_assert_msg(h_mono_ms() < deadline, "the broker kept running on a replaced store");
		h_sleep_ms(20);
	}
	b.pid = 0;
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 3, "broker ended with 0x%x, want exit 3", st);
	log = lzb_log(&b);
	ck_assert_msg(strstr(log, "store was replaced") != NULL, "broker log: %s", log);
	free(log);
	broker_start_durable(&b, &p);
	after = h_state_dump();
	/* The same state; the first line (the journal's LSN) moved on with the later send. */
	ck_assert_ptr_nonnull(strchr(after, '\n'));
	ck_assert_str_eq(strchr(after, '\n'), strchr(before, '\n'));
	free(before);
	free(after);
	lzb_stop_clean(&b);
	pd_cleanup(&p);
}
END_TEST

/* ---- live migration under load ------------------------------------------------------------ */

#define MAX_SENT 100000

struct load {
	pthread_mutex_t mu;
	char base[64];
	int acked[MAX_SENT];
	int nacked, next;
	bool stop;
};

static struct load L;

static void *sender_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct http_resp r;
		long st;
		int id;

		pthread_mutex_lock(&L.mu);
		if (L.stop || L.next >= MAX_SENT) {
			pthread_mutex_unlock(&L.mu);
			break;
		}
		id = L.next++;
		pthread_mutex_unlock(&L.mu);
		st = http_post(sfmt("%s/q/messages", L.base), sfmt("b%d", id), strlen(sfmt("b%d", id)), "text/plain", NULL,
			       &r);
		http_resp_free(&r);
		if (st == 201) {
			pthread_mutex_lock(&L.mu);
			L.acked[L.nacked++] = id;
			pthread_mutex_unlock(&L.mu);
		}
	}
	return NULL;
}

static void load_start(pthread_t *t, int n)
{
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, sender_main, NULL), 0);
}

static void load_stop(pthread_t *t, int n)
{
	pthread_mutex_lock(&L.mu);
	L.stop = true;
	pthread_mutex_unlock(&L.mu);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
}

/* Every acknowledged body is in the queue (peeked), each once. */
static void check_acked(void)
{
	static unsigned char seen[MAX_SENT];
	int64_t from = 0;
	int total = 0;

	memset(seen, 0, sizeof(seen));
	for (;;) {
		json_t *arr = emu_peek("q", from, 500);
		size_t i, n = json_array_size(arr);

		for (i = 0; i < n; i++) {
			json_t *m = json_array_get(arr, i);
			char *body = emu_body(m);
			int id = atoi(body + 1);

			ck_assert_int_lt(id, MAX_SENT);
			ck_assert_msg(seen[id] == 0, "body %s twice", body);
			seen[id] = 1;
			total++;
			from = json_integer_value(json_object_get(json_object_get(m, "BrokerProperties"), "SequenceNumber")) + 1;
			free(body);
		}
		json_decref(arr);
		if (n == 0)
			break;
	}
	for (int i = 0; i < L.nacked; i++)
		ck_assert_msg(seen[L.acked[i]], "acknowledged body b%d is missing (%d acked, %d present)", L.acked[i],
			      L.nacked, total);
}

/* Waits (bounded: 60 s) until `n` more sends than now were acknowledged. */
static void wait_more_acked(int n)
{
	int64_t deadline = h_mono_ms() + 60000;
	int at, now;

	pthread_mutex_lock(&L.mu);
	at = L.nacked;
	pthread_mutex_unlock(&L.mu);
	do {
		ck_assert_msg(h_mono_ms() < deadline, "fewer than %d sends acknowledged within 60 s", n);
		h_sleep_ms(5);
		pthread_mutex_lock(&L.mu);
		now = L.nacked;
		pthread_mutex_unlock(&L.mu);
	} while (now < at + n);
}

START_TEST(migrate_under_load)
{
	struct pd p;
	struct lzb b;
	struct cli_result r;
	pthread_t t[4];
	struct h_redis rs;
	char spec[400];
	json_t *doc;
	int st;

	memset(&L, 0, sizeof(L));
	pthread_mutex_init(&L.mu, NULL);
	pd_init(&p, "sqlite");
	pd_start(&p);
	broker_start_durable(&b, &p);
	mk_queue("q", "");
	snprintf(L.base, sizeof(L.base), "http://127.0.0.1:%d", b.port);
	load_start(t, 4);
	wait_more_acked(300);
	snprintf(spec, sizeof(spec), "json:%s/json-new", p.data_dir);
	CLI(&p, NULL, NULL, &r, "--json", "storage", "migrate", "--to", spec);
	expect_exit(&r, 0, NULL);
	doc = json_out(&r);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "Backend")), "json");
	json_decref(doc);
	h_cli_free(&r);
	/* keep loading on the new backend for a while */
	wait_more_acked(200);
	/* and on to redis, still under load */
	h_redis_start(&rs);
	snprintf(spec, sizeof(spec), "redis:%s", rs.url);
	CLI(&p, NULL, NULL, &r, "--json", "storage", "migrate", "--to", spec);
	expect_exit(&r, 0, NULL);
	doc = json_out(&r);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "Backend")), "redis");
	json_decref(doc);
	h_cli_free(&r);
	wait_more_acked(200);
	load_stop(t, 4);
	check_acked();
	/* the broker dies; it recovers from the new backend */
	lzb_kill9(&b);
	broker_start_durable(&b, &p);
	check_acked();
	CLI(&p, NULL, NULL, &r, "--json", "storage", "stats");
	expect_exit(&r, 0, NULL);
	doc = json_out(&r);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "Backend")), "redis");
	json_decref(doc);
	h_cli_free(&r);
	/* persistd restarts with its old configuration (sqlite): the migration record wins */
	lzb_stop_clean(&b);
	pd_signal(&p, SIGTERM, &st);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "persistd stop 0x%x", st);
	pd_start(&p);
	ck_assert(h_log_has(p.log_path, 0, "the state was migrated"));
	broker_start_durable(&b, &p);
	check_acked();
	lzb_stop_clean(&b);
	pd_cleanup(&p);
	h_redis_stop(&rs);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli_storage");
	TCase *tc = tcase_create("cli_storage");

	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, roundtrip_sqlite);
	tcase_add_test(tc, roundtrip_json);
	tcase_add_test(tc, roundtrip_redis);
	tcase_add_test(tc, wrong_uses);
	tcase_add_test(tc, replaced_while_disconnected);
	tcase_add_test(tc, migrate_under_load);
	suite_add_tcase(s, tc);
	return h_run_suite(s) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
