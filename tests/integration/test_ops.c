/*
 * Operations: /health, /metrics, signals and start-up configuration errors.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>

#include "harness.h"

static char *get_metrics(void)
{
	struct http_resp r;
	http_get("/metrics", &r);
	ck_assert_msg(r.status == 200, "GET /metrics: %s", http_desc(&r));
	const char *ct = http_header(&r, "Content-Type");
	ck_assert_msg(ct != NULL && strncmp(ct, "text/plain", 10) == 0, "metrics Content-Type: %s", http_desc(&r));
	char *body = strdup(r.body);
	http_resp_free(&r);
	return body;
}

static double gauge(const char *text, const char *entity, const char *state)
{
	const char *const labels[] = { sfmt("entity=\"%s\"", entity), sfmt("state=\"%s\"", state), NULL };
	bool found;
	double v = metric_value(text, "localzure_messages", labels, &found);
	ck_assert_msg(found, "no localzure_messages{entity=\"%s\",state=\"%s\"} in:\n%.4000s", entity, state, text);
	return v;
}

static double requests_total(void)
{
	char *m = get_metrics();
	bool found;
	double v = metric_sum(m, "localzure_requests_total", &found);
	ck_assert_msg(found, "no localzure_requests_total in:\n%.4000s", m);
	free(m);
	return v;
}

START_TEST(health)
{
	BROKER_START();
	struct http_resp r;
	http_get("/health", &r);
	CK_STATUS(&r, 200);
	json_t *j = http_json(&r);
	ck_assert_msg(json_is_object(j), "/health is a JSON object: %s", http_desc(&r));
	const char *st = jstr(j, "status");
	ck_assert_msg(st != NULL && strcasecmp(st, "healthy") == 0, "status healthy: %s", http_desc(&r));
	json_decref(j);
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

START_TEST(metrics_follow_operations)
{
	BROKER_START();
	mk_queue("q1", "<MaxDeliveryCount>1</MaxDeliveryCount>");
	mk_topic("t", NULL);
	mk_sub("t", "s", NULL);

	char *m = get_metrics();
	ck_assert_msg(strstr(m, "# TYPE localzure_messages gauge") != NULL, "TYPE line for localzure_messages:\n%.4000s",
		      m);
	ck_assert_msg(strstr(m, "# TYPE localzure_requests_total counter") != NULL,
		      "TYPE line for localzure_requests_total:\n%.4000s", m);
	ck_assert(gauge(m, "q1", "active") == 0);
	free(m);

	double before = requests_total();
	m = get_metrics();
	const char *const send201[] = { "op=\"send\"", "code=\"201\"", NULL };
	bool have;
	double sends_before = metric_value(m, "localzure_requests_total", send201, &have);
	if (!have)
		sends_before = 0;
	free(m);
	for (int i = 0; i < 3; i++)
		send_ok("q1", sfmt("m%d", i), NULL);
	send_ok("t", "fan", NULL);
	int64_t now = emu_now_ms();
	send_ok("q1", "sched", sfmt("{\"ScheduledEnqueueTimeUtc\":\"%s\"}", rfc1123(now + 600000)));
	double after = requests_total();
	/* 5 sends + 2 metrics scrapes (the second may or may not count itself) */
	ck_assert_msg(after >= before + 5, "requests_total moved from %g to %g", before, after);

	m = get_metrics();
	double sends_after = metric_value(m, "localzure_requests_total", send201, &have);
	ck_assert_msg(have && sends_after == sends_before + 5, "requests_total{op=\"send\",code=\"201\"} %g -> %g:\n%.4000s",
		      sends_before, sends_after, m);
	ck_assert(gauge(m, "q1", "active") == 3);
	ck_assert(gauge(m, "q1", "scheduled") == 1);
	ck_assert(gauge(m, "t/subscriptions/s", "active") == 1);
	free(m);

	/* receive one, lock one, dead-letter one */
	recv_del_body("q1", "m0");
	struct http_resp l;
	recv_lock_body("q1", "m1", &l);
	m = get_metrics();
	bool found;
	const char *const locked[] = { "entity=\"q1\"", "state=\"locked\"", NULL };
	double lk = metric_value(m, "localzure_messages", locked, &found);
	if (found)
		ck_assert(lk == 1);
	free(m);
	ck_assert_int_eq(abandon_msg(&l), 200); /* MaxDeliveryCount 1: to the DLQ */
	http_resp_free(&l);
	m = get_metrics();
	ck_assert(gauge(m, "q1", "active") == 1);
	const char *const dlq1[] = { "entity=\"q1\"", "state=\"deadletter\"", NULL };
	const char *const dlq2[] = { "entity=\"q1\"", "state=\"deadlettered\"", NULL };
	double d = metric_value(m, "localzure_messages", dlq1, &found);
	if (!found)
		d = metric_value(m, "localzure_messages", dlq2, &found);
	ck_assert_msg(found && d == 1, "dead-letter gauge of q1 is 1:\n%.4000s", m);
	free(m);

	/* deleting the entity removes its series */
	ck_assert_int_eq(http_delete("/q1", NULL), 200);
	m = get_metrics();
	ck_assert_msg(strstr(m, "entity=\"q1\"") == NULL, "q1 series gone:\n%.4000s", m);
	free(m);
	BROKER_STOP();
}
END_TEST

START_TEST(sigterm_exits_zero)
{
	struct lzb b = { 0 };
	lzb_label = __func__;
	lzb_start(&b, NULL);
	mk_queue("q", NULL);
	send_ok("q", "x", NULL);
	pid_t pid = b.pid;
	int st = lzb_stop(&b);
	ck_assert_msg(st != -1, "broker %d did not exit within 10 s of SIGTERM", (int)pid);
	ck_assert_msg(WIFEXITED(st), "broker ended by signal %d, not a clean exit", WIFSIGNALED(st) ? WTERMSIG(st) : -1);
	ck_assert_int_eq(WEXITSTATUS(st), 0);
}
END_TEST

START_TEST(kill9_and_restart_without_durability)
{
	struct lzb a = { 0 };
	lzb_label = __func__;
	lzb_start(&a, NULL);
	mk_queue("q", NULL);
	send_ok("q", "lost", NULL);
	lzb_kill9(&a);
	/* durability none: a new broker starts empty */
	struct lzb b = { 0 };
	lzb_label = __func__;
	lzb_start(&b, NULL);
	ck_assert_int_eq(http_get("/q", NULL), 404);
	lzb_stop(&b);
}
END_TEST

START_TEST(two_brokers_random_ports)
{
	struct lzb a = { 0 }, b = { 0 };
	lzb_label = __func__;
	lzb_start(&a, NULL);
	lzb_label = __func__;
	lzb_start(&b, NULL);
	ck_assert_int_ne(a.port, b.port);
	/* independent state */
	mk_queue("only-in-b", NULL);
	lzb_cur = &a;
	ck_assert_int_eq(http_get("/only-in-b", NULL), 404);
	lzb_cur = &b;
	ck_assert_int_eq(http_get("/only-in-b", NULL), 200);
	lzb_stop(&a);
	lzb_stop(&b);
}
END_TEST

START_TEST(sigterm_ends_parked_long_poll)
{
	struct lzb b = { 0 };
	lzb_label = __func__;
	lzb_start(&b, NULL);
	mk_queue("q", NULL);
	struct http_async a;
	http_async_start(&a, "POST", "/q/messages/head?timeout=60", 30000);
	h_sleep_ms(300);
	ck_assert_msg(!http_async_done(&a), "the long poll returned at once: %s", http_desc(&a.resp));
	int64_t t0 = h_mono_ms();
	int st = lzb_stop(&b);
	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "clean exit with a parked poll (status 0x%x)", st);
	ck_assert_msg(h_mono_ms() - t0 < 5000, "shutdown took %lld ms", (long long)(h_mono_ms() - t0));
	http_async_wait(&a, 5000);
	/* the parked receive is answered "no message" (or its connection closed), never left hanging */
	ck_assert_msg(a.resp.status == 204 || a.resp.status == 0, "parked poll at shutdown: %s", http_desc(&a.resp));
	http_resp_free(&a.resp);
}
END_TEST

static void expect_config_error(const char *env, const char *const *keys)
{
	const char *const extra[] = { env, NULL };
	int st = 0;
	char *log = NULL;
	int rc = lzb_run_to_exit(extra, 10000, &st, &log);
	ck_assert_msg(rc == 0, "%s: the broker did not exit within 10 s; log:\n%.2000s", env, log);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 0, "%s: exit status should be non-zero (status 0x%x); log:\n%.2000s",
		      env, st, log);
	bool named = false;
	for (const char *const *k = keys; *k != NULL; k++)
		if (strcasestr(log, *k) != NULL)
			named = true;
	ck_assert_msg(named, "%s: stderr should name the key (%s); log:\n%.2000s", env, keys[0], log);
	ck_assert_msg(strstr(log, "msg=\"listening\"") == NULL, "%s: must not start listening; log:\n%.2000s", env, log);
	free(log);
}

START_TEST(config_error_durability)
{
	const char *const keys[] = { "LOCALZURE_DURABILITY", "durability", NULL };
	expect_config_error("LOCALZURE_DURABILITY=bogus", keys);
}
END_TEST

START_TEST(config_error_http_port)
{
	const char *const keys[] = { "LOCALZURE_HTTP_PORT", "http_port", "http.port", NULL };
	expect_config_error("LOCALZURE_HTTP_PORT=abc", keys);
	expect_config_error("LOCALZURE_HTTP_PORT=70000", keys);
}
END_TEST

START_TEST(config_error_clock_and_size)
{
	const char *const ck[] = { "LOCALZURE_CLOCK", "clock", NULL };
	expect_config_error("LOCALZURE_CLOCK=sundial", ck);
	const char *const sz[] = { "LOCALZURE_MAX_MESSAGE_SIZE", "max_message_size", NULL };
	expect_config_error("LOCALZURE_MAX_MESSAGE_SIZE=huge", sz);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("ops");
	TCase *tc = h_tcase("ops");
	tcase_add_test(tc, health);
	tcase_add_test(tc, metrics_follow_operations);
	tcase_add_test(tc, sigterm_exits_zero);
	tcase_add_test(tc, sigterm_ends_parked_long_poll);
	tcase_add_test(tc, kill9_and_restart_without_durability);
	tcase_add_test(tc, two_brokers_random_ports);
	tcase_add_test(tc, config_error_durability);
	tcase_add_test(tc, config_error_http_port);
	tcase_add_test(tc, config_error_clock_and_size);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return h_run_suite(suite());
}
