/*
 * Durability end to end: the real broker (durability sync) and the real persistd (sqlite) share
 * a data directory. Under concurrent send / receive / complete load, the broker is killed with
 * SIGKILL at random moments (LZ_CRASH_BROKER_KILLS, default 50) and persistd too
 * (LZ_CRASH_PERSISTD_KILLS, default 20); after each restart every acknowledged send is present,
 * no acknowledged complete comes back, and nothing appears that was never sent. In-flight
 * operations (killed before their answer) may go either way; redeliveries are counted. The crash
 * runs use a small wal_max_bytes, so persistd folds on its fold thread throughout and some kills
 * land in the middle of a fold.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "harness_pd.h"

extern char **environ;

/* ---- the model of acknowledged operations ------------------------------------------------ */

#define MAX_BODIES 200000

enum body_state { B_NONE, B_SEND_INFLIGHT, B_SENT, B_COMPLETE_INFLIGHT, B_COMPLETED };

struct model {
	pthread_mutex_t mu;
	char base[64];       /* the current broker's http://127.0.0.1:PORT (threads never use lzb_cur) */
	unsigned char st[MAX_BODIES];
	int next;            /* next body number to send */
	int redeliveries;    /* a completed-in-flight or sent message received again */
	bool stop;
};

static struct model M;

static void body_text(char *out, size_t cap, int id)
{
	snprintf(out, cap, "m-%06d", id);
}

static void *sender_main(void *arg)
{
	(void)arg;
	for (;;) {
		char body[32];
		int id;
		long st;

		pthread_mutex_lock(&M.mu);
		if (M.stop || M.next >= MAX_BODIES) {
			pthread_mutex_unlock(&M.mu);
			break;
		}
		id = M.next++;
		M.st[id] = B_SEND_INFLIGHT;
		pthread_mutex_unlock(&M.mu);
		body_text(body, sizeof(body), id);
		st = http_post(sfmt("%s/q/messages", M.base), body, strlen(body), "text/plain", NULL, NULL);
		pthread_mutex_lock(&M.mu);
		/* The receiver may have taken (even completed) the message before this answer arrived. */
		if (st == 201 && M.st[id] == B_SEND_INFLIGHT)
			M.st[id] = B_SENT;
		pthread_mutex_unlock(&M.mu);
		if (st != 201)
			break; /* the broker is gone: stop until the next round */
	}
	return NULL;
}

static void *receiver_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct http_resp r;
		int id;
		long st;

		pthread_mutex_lock(&M.mu);
		if (M.stop) {
			pthread_mutex_unlock(&M.mu);
			break;
		}
		pthread_mutex_unlock(&M.mu);
		st = http_request("POST", sfmt("%s/q/messages/head?timeout=0", M.base), "", 0, NULL, NULL, 0, &r);
		if (st == 204) {
			http_resp_free(&r);
			continue;
		}
		if (st != 201) {
			http_resp_free(&r);
			break;
		}
		ck_assert_int_eq(sscanf(r.body, "m-%d", &id), 1);
		ck_assert(id >= 0 && id < MAX_BODIES);
		pthread_mutex_lock(&M.mu);
		ck_assert_msg(M.st[id] != B_COMPLETED, "m-%06d was delivered after its complete was acknowledged", id);
		if (M.st[id] == B_COMPLETE_INFLIGHT)
			M.redeliveries++;
		M.st[id] = B_COMPLETE_INFLIGHT;
		pthread_mutex_unlock(&M.mu);
		{
			char *path = lock_path(&r);

			ck_assert_ptr_nonnull(path);
			st = http_request("DELETE", sfmt("%s%s", M.base, path), NULL, 0, NULL, NULL, 0, NULL);
			free(path);
		}
		http_resp_free(&r);
		pthread_mutex_lock(&M.mu);
		if (st == 200)
			M.st[id] = B_COMPLETED;
		pthread_mutex_unlock(&M.mu);
		if (st != 200 && st != 404)
			break;
	}
	return NULL;
}

/* Checks the broker's queue against the model: acknowledged sends not completed are there,
 * acknowledged completes are not, nothing unknown is. */
static void verify_queue(int round)
{
	struct http_resp r;
	json_t *arr;
	static unsigned char present[MAX_BODIES];
	size_t i;
	json_t *m;

	memset(present, 0, sizeof(present));
	ck_assert_int_eq(http_get("/$emulator/q/messages?max=10000", &r), 200);
	arr = http_json(&r);
	ck_assert_ptr_nonnull(arr);
	json_array_foreach(arr, i, m) {
		size_t len = 0;
		unsigned char *body = b64_decode(jstr(m, "Body"), &len);
		int id;

		ck_assert_ptr_nonnull(body);
		ck_assert_msg(len > 2 && sscanf((char *)body, "m-%d", &id) == 1, "round %d: unknown message", round);
		free(body);
		ck_assert(id >= 0 && id < MAX_BODIES);
		ck_assert_msg(present[id] == 0, "round %d: m-%06d is in the queue twice", round, id);
		present[id] = 1;
	}
	json_decref(arr);
	http_resp_free(&r);
	/* Sends and completes that got no answer (killed in flight) may have happened or not, now or
	 * after a later crash: they stay in their in-flight state, which allows both. */
	pthread_mutex_lock(&M.mu);
	for (int id = 0; id < M.next; id++) {
		ck_assert_msg(!(M.st[id] == B_SENT && !present[id]), "round %d: acknowledged send m-%06d was lost", round, id);
		ck_assert_msg(!(M.st[id] == B_COMPLETED && present[id]), "round %d: completed m-%06d came back", round, id);
		ck_assert_msg(!(M.st[id] == B_NONE && present[id]), "round %d: m-%06d was never sent", round, id);
	}
	pthread_mutex_unlock(&M.mu);
}

/* Runs the load for a random few milliseconds, then kills the broker and/or persistd. */
static void load_and_kill(struct lzb *b, struct pd *p, bool kill_broker, bool kill_persistd, unsigned seed)
{
	pthread_t s, r;

	pthread_mutex_lock(&M.mu);
	M.stop = false;
	snprintf(M.base, sizeof(M.base), "%s", b->base);
	pthread_mutex_unlock(&M.mu);
	ck_assert_int_eq(pthread_create(&s, NULL, sender_main, NULL), 0);
	ck_assert_int_eq(pthread_create(&r, NULL, receiver_main, NULL), 0);
	/* The kill moment is what varies, so this waits on purpose (not for a timer). */
	h_sleep_ms(5 + (long)(seed % 60));
	if (kill_persistd) {
		pd_signal(p, SIGKILL, NULL);
		h_sleep_ms(5 + (long)(seed % 20));
		pd_start(p);
	}
	if (kill_broker)
		lzb_kill9(b);
	pthread_mutex_lock(&M.mu);
	M.stop = true;
	pthread_mutex_unlock(&M.mu);
	pthread_join(s, NULL);
	pthread_join(r, NULL);
}

/* Lines of the file `path` that contain `needle`. */
static int count_lines(const char *path, const char *needle)
{
	char line[4096];
	int n = 0;
	FILE *f = fopen(path, "r");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

static unsigned env_unsigned(const char *name, unsigned def)
{
	const char *s = getenv(name);

	return s != NULL && *s != '\0' ? (unsigned)strtoul(s, NULL, 10) : def;
}

/* `wal_max` (LOCALZURE_WAL_MAX_BYTES) small enough makes persistd fold on its fold thread all
 * the time, so kills land during folds too. */
static void crash_rounds(const char *storage, const char *wal_max)
{
	struct pd p;
	struct lzb b;
	unsigned broker_kills = env_unsigned("LZ_CRASH_BROKER_KILLS", 50);
	unsigned persistd_kills = env_unsigned("LZ_CRASH_PERSISTD_KILLS", 20);
	unsigned both_kills = env_unsigned("LZ_CRASH_BOTH_KILLS", 5);
	unsigned seed = 12345;
	int round = 0;

	memset(&M, 0, sizeof(M));
	pthread_mutex_init(&M.mu, NULL);
	pd_init(&p, storage);
	snprintf(p.env_extra, sizeof(p.env_extra), "LOCALZURE_WAL_MAX_BYTES=%s", wal_max);
	pd_start(&p);
	broker_start_durable(&b, &p);
	mk_queue("q", "<MaxDeliveryCount>1000</MaxDeliveryCount><LockDuration>PT5S</LockDuration>");
	for (unsigned i = 0; i < broker_kills + persistd_kills + both_kills; i++, round++) {
		bool kb = i < broker_kills || i >= broker_kills + persistd_kills;
		bool kp = i >= broker_kills;

		seed = seed * 1103515245u + 12345u;
		load_and_kill(&b, &p, kb, kp, seed >> 8);
		if (kb)
			broker_start_durable(&b, &p);
		verify_queue(round);
	}
	/* A clean stop of both folds the WAL; the state survives that too. */
	lzb_stop_clean(&b);
	{
		int st = 0;

		pd_signal(&p, SIGTERM, &st);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "persistd did not stop cleanly (0x%x)", st);
	}
	pd_start(&p);
	broker_start_durable(&b, &p);
	verify_queue(round);
	fprintf(stderr, "crash rounds (%s, wal_max_bytes %s): %d rounds, %d messages sent, %d redeliveries after a "
		"crash, %d folds\n", storage, wal_max, round, M.next, M.redeliveries,
		count_lines(p.log_path, "msg=\"folded the wal"));
	lzb_stop_clean(&b);
	pd_cleanup(&p);
	pthread_mutex_destroy(&M.mu);
}

START_TEST(crash_sqlite)
{
	crash_rounds("sqlite", "256KiB");
}
END_TEST

START_TEST(crash_json)
{
	setenv("LZ_CRASH_BROKER_KILLS", getenv("LZ_CRASH_BROKER_KILLS") ? getenv("LZ_CRASH_BROKER_KILLS") : "10", 1);
	setenv("LZ_CRASH_PERSISTD_KILLS", getenv("LZ_CRASH_PERSISTD_KILLS") ? getenv("LZ_CRASH_PERSISTD_KILLS") : "5", 1);
	crash_rounds("json", "64KiB");
}
END_TEST

/* A restart without a crash restores entities and messages in every state. */
START_TEST(restart_restores_state)
{
	struct pd p;
	struct lzb b;
	struct http_resp r;

	pd_init(&p, "sqlite");
	pd_start(&p);
	broker_start_durable(&b, &p);
	mk_queue("keep", "<LockDuration>PT30S</LockDuration>");
	mk_topic("t", "");
	mk_sub("t", "s", "");
	send_ok("keep", "one", "{\"MessageId\":\"id-1\",\"Label\":\"l1\"}");
	send_ok("keep", "two", NULL);
	send_ok("t", "fan", NULL);
	ck_assert_int_eq(recv_lock("keep", &r), 201);
	http_resp_free(&r);
	/* A peek-lock is answered before its delivery-count bump is durable (losing it only
	 * under-counts); a later change is answered after, and acks come in LSN order. */
	send_ok("t", "marker", NULL);
	lzb_kill9(&b);
	broker_start_durable(&b, &p);
	/* The lock is gone with the broker: the message is available again, delivery count kept. */
	ck_assert_int_eq(recv_lock("keep", &r), 201);
	ck_assert_str_eq(r.body, "one");
	{
		json_t *bp = resp_bp(&r);
		bool ok = false;

		ck_assert_ptr_nonnull(bp);
		ck_assert_int_eq(jint(bp, "DeliveryCount", &ok), 2);
		ck_assert_str_eq(jstr(bp, "Label"), "l1");
		json_decref(bp);
	}
	ck_assert_int_eq(complete_msg(&r), 200);
	http_resp_free(&r);
	ck_assert_int_eq(recv_del_body("t/subscriptions/s", "fan"), 1);
	ck_assert_int_eq(recv_del_body("t/subscriptions/s", "marker"), 2);
	/* Receive-and-delete is answered before its removal is durable (a crash may redeliver:
	 * at-least-once); a later change, answered only once durable, pins the removals too. */
	mk_queue("pin", "");
	lzb_kill9(&b);
	broker_start_durable(&b, &p);
	ck_assert_int_eq(recv_del_body("keep", "two"), 2);
	recv_empty("keep");
	recv_empty("t/subscriptions/s");
	lzb_stop_clean(&b);
	pd_cleanup(&p);
}
END_TEST

/* persistd unreachable: reads go on, a change waits LOCALZURE_PERSISTD_TIMEOUT_MS and gets 503,
 * later changes are refused at once with 503; when persistd is back the queued change is stored. */
/* SIGTERM while a change waits for an unreachable persistd, with a persistd timeout longer than
 * the broker's 5 s grace: the HTTP server closes the waiting connection and frees its request
 * before the wait ends; the wait must then end without touching it (under ASan a use after
 * free fails this test), and the broker exits 0. */
START_TEST(stop_while_waiting_for_persistd)
{
	struct pd p;
	struct lzb b;
	struct http_async a;
	const char *env[] = { "LOCALZURE_DURABILITY=sync", NULL, "LOCALZURE_PERSISTD_TIMEOUT_MS=7000",
			      "LOCALZURE_CLOCK=real", NULL };
	int64_t deadline;
	json_t *peeked = NULL;

	pd_init(&p, "sqlite");
	env[1] = p.env_data;
	pd_start(&p);
	lzb_start(&b, env);
	mk_queue("q", "");
	pd_signal(&p, SIGKILL, NULL);
	http_async_start(&a, "POST", "/q/messages", 30000);
	/* The send is parked once the message is in the queue (applied, not yet durable). */
	deadline = h_mono_ms() + 10000;
	for (;;) {
		peeked = emu_peek("q", 0, 10);
		if (json_array_size(peeked) == 1)
			break;
		json_decref(peeked);
		ck_assert_msg(h_mono_ms() < deadline, "the send never reached the queue");
		h_sleep_ms(10);
	}
	json_decref(peeked);
	ck_assert(!http_async_done(&a));
	lzb_stop_clean(&b);
	http_async_wait(&a, 30000);
	ck_assert_msg(a.resp.status != 201, "the send was acknowledged without persistd");
	http_resp_free(&a.resp);
	pd_cleanup(&p);
}
END_TEST

START_TEST(persistd_unreachable_gives_503)
{
	struct pd p;
	struct lzb b;
	struct http_resp r;
	const char *env[] = { "LOCALZURE_DURABILITY=sync", NULL, "LOCALZURE_PERSISTD_TIMEOUT_MS=300",
			      "LOCALZURE_CLOCK=real", NULL };
	int64_t t0;

	pd_init(&p, "sqlite");
	env[1] = p.env_data;
	pd_start(&p);
	lzb_start(&b, env);
	mk_queue("q", "");
	send_ok("q", "before", NULL);
	pd_signal(&p, SIGKILL, NULL);

	t0 = h_mono_ms();
	ck_assert_int_eq(send_msg("q", "while down", "text/plain", NULL, NULL, &r), 503);
	ck_assert_ptr_nonnull(strstr(r.body, "persistd"));
	ck_assert_int_ge(h_mono_ms() - t0, 250);
	http_resp_free(&r);
	/* Past the timeout the broker refuses changes at once, and reads still work. */
	ck_assert_int_eq(send_msg("q", "refused", "text/plain", NULL, NULL, &r), 503);
	http_resp_free(&r);
	ck_assert_int_eq(http_get("/q", &r), 200);
	http_resp_free(&r);
	ck_assert_int_eq(http_get("/$emulator/q/messages", &r), 200);
	ck_assert_ptr_nonnull(strstr(r.body, "Body"));
	http_resp_free(&r);

	pd_start(&p);
	/* The queued change reaches persistd after the reconnect; a restart shows both messages. */
	{
		int64_t deadline = h_mono_ms() + 10000;

		while (send_msg("q", "after", "text/plain", NULL, NULL, NULL) != 201) {
			ck_assert_msg(h_mono_ms() < deadline, "the broker did not recover from persistd's restart");
			h_sleep_ms(20);
		}
	}
	lzb_kill9(&b);
	lzb_start(&b, env);
	ck_assert_int_eq(recv_del_body("q", "before"), 1);
	ck_assert_int_eq(recv_del_body("q", "while down"), 2);
	ck_assert_int_eq(recv_del_body("q", "after"), 3);
	recv_empty("q");
	lzb_stop_clean(&b);
	pd_cleanup(&p);
}
END_TEST

/* Runs `localzure-persistd --copy-to SPEC` against `p`'s data dir; returns its exit status. */
static int pd_copy_to(struct pd *p, const char *spec)
{
	char cmd[1400];

	snprintf(cmd, sizeof(cmd), "env -u LOCALZURE_CONFIG %s %s '%s' --copy-to '%s' >>'%s' 2>&1", p->env_data,
		 p->env_storage, persistd_bin(), spec, p->log_path);
	return system(cmd);
}

/* Backend swap: sqlite → (stop, copy) → json; the broker then recovers the identical state, and
 * keeps working on the new backend. */
START_TEST(backend_swap_sqlite_to_json)
{
	struct pd p;
	struct lzb b;
	struct http_resp r;
	char *before, *after, json_dir[300], spec[320];
	int st = 0;

	pd_init(&p, "sqlite");
	pd_start(&p);
	broker_start_durable(&b, &p);
	mk_queue("q", "<MaxDeliveryCount>3</MaxDeliveryCount>");
	mk_topic("t", "");
	mk_sub("t", "s", "");
	for (int i = 0; i < 20; i++)
		send_ok(i % 2 ? "q" : "t", sfmt("m%d", i), sfmt("{\"Label\":\"l%d\"}", i));
	ck_assert_int_eq(recv_lock("q", &r), 201);
	ck_assert_int_eq(abandon_msg(&r), 200);
	http_resp_free(&r);
	recv_del_body("t/subscriptions/s", "m0");
	before = h_state_dump();
	lzb_stop_clean(&b);
	pd_signal(&p, SIGTERM, &st);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "persistd stop 0x%x", st);

	snprintf(json_dir, sizeof(json_dir), "%s/json-copy", p.data_dir);
	snprintf(spec, sizeof(spec), "json:%s", json_dir);
	st = pd_copy_to(&p, "bogus:x");
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 0, "--copy-to bogus:x was accepted");
	st = pd_copy_to(&p, spec);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "--copy-to %s failed (0x%x); see %s", spec, st, p.log_path);
	/* Copying into a store that is not empty is refused. */
	st = pd_copy_to(&p, spec);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 0, "a second copy into %s was accepted", spec);

	snprintf(p.env_storage, sizeof(p.env_storage), "LOCALZURE_STORAGE_TYPE=json");
	snprintf(p.env_extra, sizeof(p.env_extra), "LOCALZURE_JSON_PATH=%s", json_dir);
	pd_start(&p);
	broker_start_durable(&b, &p);
	after = h_state_dump();
	ck_assert_str_eq(after, before);
	free(after);
	/* The json backend keeps what comes next, across another crash. */
	send_ok("q", "after the swap", NULL);
	free(before);
	before = h_state_dump();
	lzb_kill9(&b);
	broker_start_durable(&b, &p);
	after = h_state_dump();
	ck_assert_str_eq(after, before);
	free(before);
	free(after);
	lzb_stop_clean(&b);
	pd_cleanup(&p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("durability");
	TCase *tc = tcase_create("durability");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 280);
	tcase_add_test(tc, restart_restores_state);
	tcase_add_test(tc, backend_swap_sqlite_to_json);
	tcase_add_test(tc, persistd_unreachable_gives_503);
	tcase_add_test(tc, stop_while_waiting_for_persistd);
	tcase_add_test(tc, crash_sqlite);
	tcase_add_test(tc, crash_json);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
