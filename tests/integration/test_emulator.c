/*
 * Emulator-only endpoints (/$emulator/...): peek, dead-letter, defer + receive deferred,
 * schedule + cancel, and the manual clock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timefmt.h"
#include "harness.h"

static json_t *msg_bp(json_t *arr, size_t i)
{
	json_t *m = json_array_get(arr, i);
	ck_assert_msg(json_is_object(m), "message %zu is an object", i);
	json_t *bp = json_object_get(m, "BrokerProperties");
	ck_assert_msg(json_is_object(bp), "message %zu has BrokerProperties", i);
	return bp;
}

static void check_body(json_t *arr, size_t i, const char *want)
{
	char *b = emu_body(json_array_get(arr, i));
	ck_assert_msg(strcmp(b, want) == 0, "message %zu: body '%s', want '%s'", i, b, want);
	free(b);
}

static const char *lock_of(const struct http_resp *r)
{
	static char tok[128];
	json_t *bp = resp_bp(r);
	const char *t = jstr(bp, "LockToken");
	ck_assert_msg(t != NULL && strlen(t) < sizeof tok, "LockToken: %s", http_desc(r));
	strcpy(tok, t);
	json_decref(bp);
	return tok;
}

START_TEST(peek_from_sequence)
{
	BROKER_START();
	mk_queue("q", NULL);
	const char *const up[] = { "n: 7", "s: \"str\"", NULL };
	for (int i = 1; i <= 5; i++)
		ck_assert_int_eq(send_msg("q", sfmt("m%d", i), "text/plain", sfmt("{\"MessageId\":\"id%d\"}", i), up, NULL),
				 201);

	json_t *arr = emu_peek("q", 2, 2);
	ck_assert_int_eq(json_array_size(arr), 2);
	CK_J_INT(msg_bp(arr, 0), "SequenceNumber", 2);
	CK_J_INT(msg_bp(arr, 1), "SequenceNumber", 3);
	CK_J_STR(msg_bp(arr, 0), "MessageId", "id2");
	check_body(arr, 0, "m2");
	check_body(arr, 1, "m3");
	json_t *ups = json_object_get(json_array_get(arr, 0), "UserProperties");
	CK_J_INT(ups, "n", 7);
	CK_J_STR(ups, "s", "str");
	json_decref(arr);

	/* peek does not lock and does not count as a delivery */
	struct http_resp l;
	ck_assert_int_eq(recv_lock_body("q", "m1", &l), 1);
	CK_BP_INT(&l, "DeliveryCount", 1);

	/* from 0 = from the start; locked messages are still shown */
	arr = emu_peek("q", 0, 10);
	ck_assert_int_eq(json_array_size(arr), 5);
	for (size_t i = 0; i < 5; i++) {
		CK_J_INT(msg_bp(arr, i), "SequenceNumber", (int64_t)i + 1);
		check_body(arr, i, sfmt("m%zu", i + 1));
		ck_assert_msg(jstr(msg_bp(arr, i), "LockToken") == NULL, "peek shows no lock tokens");
	}
	json_decref(arr);

	ck_assert_int_eq(complete_msg(&l), 200);
	http_resp_free(&l);
	arr = emu_peek("q", 0, 10);
	ck_assert_int_eq(json_array_size(arr), 4);
	CK_J_INT(msg_bp(arr, 0), "SequenceNumber", 2);
	CK_J_INT(msg_bp(arr, 0), "DeliveryCount", 0);
	json_decref(arr);

	/* past the end */
	arr = emu_peek("q", 100, 10);
	ck_assert_int_eq(json_array_size(arr), 0);
	json_decref(arr);

	/* binary bodies come back intact through base64 */
	mk_queue("bin", NULL);
	const unsigned char bin[] = { 0, 1, 2, 0xfe, 0xff, 0 };
	ck_assert_int_eq(http_post("/bin/messages", bin, sizeof bin, "application/octet-stream", NULL, NULL), 201);
	arr = emu_peek("bin", 0, 1);
	ck_assert_int_eq(json_array_size(arr), 1);
	size_t n = 0;
	unsigned char *dec = b64_decode(jstr(json_array_get(arr, 0), "Body"), &n);
	ck_assert_int_eq(n, sizeof bin);
	ck_assert(memcmp(dec, bin, n) == 0);
	free(dec);
	json_decref(arr);

	/* subscriptions can be peeked */
	mk_topic("t", NULL);
	mk_sub("t", "s", NULL);
	send_ok("t", "tm", NULL);
	arr = emu_peek("t/subscriptions/s", 0, 10);
	ck_assert_int_eq(json_array_size(arr), 1);
	check_body(arr, 0, "tm");
	json_decref(arr);

	/* unknown entity */
	struct http_resp r;
	http_get("/$emulator/nosuch/messages?from=0&max=1", &r);
	ck_assert_msg(r.status == 404 || r.status == 410, "peek of an unknown entity: %s", http_desc(&r));
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

START_TEST(explicit_dead_letter)
{
	BROKER_START();
	mk_queue("q", NULL);
	send_ok("q", "doomed", "{\"MessageId\":\"d1\"}");
	send_ok("q", "ok", NULL);
	struct http_resp l, r;
	int64_t seq = recv_lock_body("q", "doomed", &l);
	ck_assert_int_eq(seq, 1);
	const char *tok = lock_of(&l);

	/* a wrong lock is refused */
	http_post_str(sfmt("/$emulator/q/messages/%lld/00000000-0000-4000-8000-000000000000/deadletter", (long long)seq),
		      "{\"DeadLetterReason\":\"x\"}", "application/json", NULL, &r);
	CK_STATUS(&r, 404);
	http_resp_free(&r);

	http_post_str(sfmt("/$emulator/q/messages/%lld/%s/deadletter", (long long)seq, tok),
		      "{\"DeadLetterReason\":\"BadFormat\",\"DeadLetterErrorDescription\":\"field 'x' is missing\"}",
		      "application/json", NULL, &r);
	CK_STATUS(&r, 200);
	http_resp_free(&r);
	/* the lock is consumed */
	ck_assert_int_eq(complete_msg(&l), 404);
	http_resp_free(&l);

	recv_del_body("q", "ok");
	recv_empty("q");
	ck_assert_int_eq(entity_count("/q", "DeadLetterMessageCount"), 1);

	json_t *arr = emu_peek("q/$DeadLetterQueue", 0, 10);
	ck_assert_int_eq(json_array_size(arr), 1);
	check_body(arr, 0, "doomed");
	CK_J_INT(msg_bp(arr, 0), "SequenceNumber", 1);
	CK_J_STR(msg_bp(arr, 0), "MessageId", "d1");
	json_t *up = json_object_get(json_array_get(arr, 0), "UserProperties");
	CK_J_STR(up, "DeadLetterReason", "BadFormat");
	CK_J_STR(up, "DeadLetterErrorDescription", "field 'x' is missing");
	json_decref(arr);

	recv_del("q/$DeadLetterQueue", &r);
	CK_STATUS(&r, 200);
	ck_assert_str_eq(r.body, "doomed");
	CK_UPROP(&r, "DeadLetterReason", "BadFormat", true);
	CK_UPROP(&r, "DeadLetterErrorDescription", "field 'x' is missing", true);
	http_resp_free(&r);
	ck_assert_int_eq(entity_count("/q", "DeadLetterMessageCount"), 0);

	/* without a body: no reason given */
	send_ok("q", "plain", NULL);
	seq = recv_lock_body("q", "plain", &l);
	http_post_str(sfmt("/$emulator/q/messages/%lld/%s/deadletter", (long long)seq, lock_of(&l)), "{}",
		      "application/json", NULL, &r);
	CK_STATUS(&r, 200);
	http_resp_free(&r);
	http_resp_free(&l);
	recv_del_body("q/$DeadLetterQueue", "plain");

	/* subscriptions */
	mk_topic("t", NULL);
	mk_sub("t", "s", NULL);
	send_ok("t", "subdoomed", NULL);
	seq = recv_lock_body("t/subscriptions/s", "subdoomed", &l);
	http_post_str(sfmt("/$emulator/t/subscriptions/s/messages/%lld/%s/deadletter", (long long)seq, lock_of(&l)),
		      "{\"DeadLetterReason\":\"sub-reason\"}", "application/json", NULL, &r);
	CK_STATUS(&r, 200);
	http_resp_free(&r);
	http_resp_free(&l);
	recv_del("t/subscriptions/s/$DeadLetterQueue", &r);
	CK_STATUS(&r, 200);
	ck_assert_str_eq(r.body, "subdoomed");
	CK_UPROP(&r, "DeadLetterReason", "sub-reason", true);
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

START_TEST(defer_and_receive_deferred)
{
	BROKER_START();
	mk_queue("q", NULL);
	send_ok("q", "d1", NULL);
	send_ok("q", "d2", NULL);
	send_ok("q", "plain", NULL);
	struct http_resp l, r;

	int64_t s1 = recv_lock_body("q", "d1", &l);
	http_post_str(sfmt("/$emulator/q/messages/%lld/%s/defer", (long long)s1, lock_of(&l)), "", NULL, NULL, &r);
	CK_STATUS(&r, 200);
	http_resp_free(&r);
	http_resp_free(&l);
	int64_t s2 = recv_lock_body("q", "d2", &l);
	http_post_str(sfmt("/$emulator/q/messages/%lld/%s/defer", (long long)s2, lock_of(&l)), "", NULL, NULL, &r);
	CK_STATUS(&r, 200);
	http_resp_free(&r);
	/* wrong lock */
	http_post_str(sfmt("/$emulator/q/messages/%lld/%s/defer", (long long)s2, lock_of(&l)), "", NULL, NULL, &r);
	CK_STATUS(&r, 404);
	http_resp_free(&r);
	http_resp_free(&l);

	/* deferred messages are invisible to normal receives but visible to peek */
	recv_del_body("q", "plain");
	recv_empty("q");
	json_t *arr = emu_peek("q", 0, 10);
	ck_assert_int_eq(json_array_size(arr), 2);
	CK_J_INT(msg_bp(arr, 0), "SequenceNumber", s1);
	CK_J_STR(msg_bp(arr, 0), "State", "Deferred");
	CK_J_STR(msg_bp(arr, 1), "State", "Deferred");
	json_decref(arr);

	/* receive by sequence number in peek-lock mode, then complete through the normal lock URI */
	http_post_str("/$emulator/q/messages/deferred?mode=peeklock", sfmt("{\"SequenceNumbers\":[%lld]}", (long long)s1),
		      "application/json", NULL, &r);
	CK_STATUS(&r, 200);
	arr = http_json(&r);
	ck_assert_msg(json_is_array(arr) && json_array_size(arr) == 1, "one message: %s", http_desc(&r));
	check_body(arr, 0, "d1");
	json_t *bp = msg_bp(arr, 0);
	CK_J_INT(bp, "SequenceNumber", s1);
	const char *tok = jstr(bp, "LockToken");
	ck_assert_msg(tok != NULL && strlen(tok) == 36, "peek-lock mode gives a LockToken: %s", http_desc(&r));
	ck_assert_int_eq(http_delete(sfmt("/q/messages/%lld/%s", (long long)s1, tok), NULL), 200);
	json_decref(arr);
	http_resp_free(&r);

	/* gone now: receiving it again fails and nothing happens to the others */
	http_post_str("/$emulator/q/messages/deferred?mode=peeklock",
		      sfmt("{\"SequenceNumbers\":[%lld,%lld]}", (long long)s2, (long long)s1), "application/json", NULL,
		      &r);
	CK_STATUS(&r, 404);
	http_resp_free(&r);
	/* a sequence number that is not deferred */
	send_ok("q", "active", NULL);
	http_post_str("/$emulator/q/messages/deferred?mode=receiveanddelete", "{\"SequenceNumbers\":[4]}",
		      "application/json", NULL, &r);
	CK_STATUS(&r, 404);
	http_resp_free(&r);
	recv_del_body("q", "active");

	/* receive-and-delete mode */
	http_post_str("/$emulator/q/messages/deferred?mode=receiveanddelete",
		      sfmt("{\"SequenceNumbers\":[%lld]}", (long long)s2), "application/json", NULL, &r);
	CK_STATUS(&r, 200);
	arr = http_json(&r);
	ck_assert_msg(json_is_array(arr) && json_array_size(arr) == 1, "one message: %s", http_desc(&r));
	check_body(arr, 0, "d2");
	ck_assert_msg(jstr(msg_bp(arr, 0), "LockToken") == NULL, "no lock in receive-and-delete mode");
	json_decref(arr);
	http_resp_free(&r);
	arr = emu_peek("q", 0, 10);
	ck_assert_int_eq(json_array_size(arr), 0);
	json_decref(arr);
	ck_assert_int_eq(entity_count("/q", "MessageCount"), 0);

	/* bad body */
	http_post_str("/$emulator/q/messages/deferred?mode=peeklock", "{\"SequenceNumbers\":\"x\"}", "application/json",
		      NULL, &r);
	CK_STATUS(&r, 400);
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

START_TEST(schedule_and_cancel)
{
	BROKER_START();
	mk_queue("q", NULL);
	int64_t now = emu_now_ms();
	const char *at = rfc1123(now + 120000);
	struct http_resp r;
	const char *const h1[] = { sfmt("BrokerProperties: {\"ScheduledEnqueueTimeUtc\":\"%s\",\"MessageId\":\"c1\"}", at),
				   NULL };
	http_post_str("/$emulator/q/messages/schedule", "cancel-me", "text/plain", h1, &r);
	CK_STATUS(&r, 201);
	json_t *j = http_json(&r);
	json_t *seqs = json_object_get(j, "SequenceNumbers");
	ck_assert_msg(json_is_array(seqs) && json_array_size(seqs) == 1, "SequenceNumbers: %s", http_desc(&r));
	int64_t c1 = json_integer_value(json_array_get(seqs, 0));
	ck_assert_int_eq(c1, 1);
	json_decref(j);
	http_resp_free(&r);

	const char *const h2[] = { sfmt("BrokerProperties: {\"ScheduledEnqueueTimeUtc\":\"%s\"}", at), NULL };
	http_post_str("/$emulator/q/messages/schedule", "keep-me", "text/plain", h2, &r);
	CK_STATUS(&r, 201);
	j = http_json(&r);
	int64_t c2 = json_integer_value(json_array_get(json_object_get(j, "SequenceNumbers"), 0));
	ck_assert_int_eq(c2, 2);
	json_decref(j);
	http_resp_free(&r);

	/* peek shows scheduled messages (queues) */
	json_t *arr = emu_peek("q", 0, 10);
	ck_assert_int_eq(json_array_size(arr), 2);
	CK_J_INT(msg_bp(arr, 0), "SequenceNumber", c1);
	CK_J_STR(msg_bp(arr, 0), "State", "Scheduled");
	json_decref(arr);
	ck_assert_int_eq(entity_count("/q", "ScheduledMessageCount"), 2);
	recv_empty("q");

	http_delete(sfmt("/$emulator/q/messages/scheduled/%lld", (long long)c1), &r);
	CK_STATUS(&r, 200);
	http_resp_free(&r);
	http_delete(sfmt("/$emulator/q/messages/scheduled/%lld", (long long)c1), &r);
	CK_STATUS(&r, 404);
	http_resp_free(&r);
	http_delete("/$emulator/q/messages/scheduled/999", &r);
	CK_STATUS(&r, 404);
	http_resp_free(&r);
	ck_assert_int_eq(entity_count("/q", "ScheduledMessageCount"), 1);

	emu_advance_ms(121000);
	recv_del_body("q", "keep-me");
	recv_empty("q");

	/* too late to cancel an activated message */
	now = emu_now_ms();
	const char *const h3[] = { sfmt("BrokerProperties: {\"ScheduledEnqueueTimeUtc\":\"%s\"}", rfc1123(now + 60000)),
				   NULL };
	http_post_str("/$emulator/q/messages/schedule", "activated", "text/plain", h3, &r);
	CK_STATUS(&r, 201);
	j = http_json(&r);
	int64_t c3 = json_integer_value(json_array_get(json_object_get(j, "SequenceNumbers"), 0));
	json_decref(j);
	http_resp_free(&r);
	emu_advance_ms(61000);
	http_delete(sfmt("/$emulator/q/messages/scheduled/%lld", (long long)c3), &r);
	ck_assert_msg(r.status == 404, "cancel after activation: %s", http_desc(&r));
	http_resp_free(&r);
	recv_del_body("q", "activated");

	/* topics */
	mk_topic("t", NULL);
	mk_sub("t", "s", NULL);
	now = emu_now_ms();
	const char *const h4[] = { sfmt("BrokerProperties: {\"ScheduledEnqueueTimeUtc\":\"%s\"}", rfc1123(now + 60000)),
				   NULL };
	http_post_str("/$emulator/t/messages/schedule", "t-cancel", "text/plain", h4, &r);
	CK_STATUS(&r, 201);
	j = http_json(&r);
	int64_t t1 = json_integer_value(json_array_get(json_object_get(j, "SequenceNumbers"), 0));
	json_decref(j);
	http_resp_free(&r);
	ck_assert_int_eq(http_delete(sfmt("/$emulator/t/messages/scheduled/%lld", (long long)t1), NULL), 200);
	emu_advance_ms(61000);
	recv_empty("t/subscriptions/s");

	/* unknown entity */
	http_post_str("/$emulator/nosuch/messages/schedule", "x", "text/plain", h4, &r);
	ck_assert_msg(r.status == 404 || r.status == 410, "schedule to an unknown entity: %s", http_desc(&r));
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

START_TEST(clock_endpoints)
{
	BROKER_START();
	struct http_resp r;
	http_get("/$emulator/clock", &r);
	CK_STATUS(&r, 200);
	json_t *j = http_json(&r);
	bool ok;
	int64_t t0 = jint(j, "NowMs", &ok);
	ck_assert_msg(ok, "NowMs: %s", http_desc(&r));
	const char *utc = jstr(j, "NowUtc");
	ck_assert_msg(utc != NULL, "NowUtc: %s", http_desc(&r));
	int64_t parsed;
	ck_assert_msg(timefmt_parse_iso8601(utc, &parsed) == LZ_OK || timefmt_parse_http_date(utc, &parsed) == LZ_OK,
		      "NowUtc is a date: %s", utc);
	ck_assert_msg(parsed <= t0 && t0 - parsed < 1000, "NowUtc %s matches NowMs %lld", utc, (long long)t0);
	json_decref(j);
	http_resp_free(&r);

	/* a manual clock does not move by itself */
	h_sleep_ms(20);
	ck_assert_int_eq(emu_now_ms(), t0);

	http_post_str("/$emulator/clock/advance?ms=1500", "", NULL, NULL, &r);
	CK_STATUS(&r, 200);
	j = http_json(&r);
	CK_J_INT(j, "NowMs", t0 + 1500);
	json_decref(j);
	http_resp_free(&r);
	ck_assert_int_eq(emu_now_ms(), t0 + 1500);
	ck_assert_int_eq(emu_advance_ms(3600000), t0 + 1500 + 3600000);
	ck_assert_int_eq(emu_advance_ms(0), t0 + 1500 + 3600000);

	/* enqueue times follow the clock */
	mk_queue("q", NULL);
	send_ok("q", "m", NULL);
	recv_del("q", &r);
	CK_BP_STR(&r, "EnqueuedTimeUtc", rfc1123(t0 + 1500 + 3600000));
	http_resp_free(&r);

	/* bad input */
	const char *bad[] = { "/$emulator/clock/advance?ms=-5", "/$emulator/clock/advance?ms=abc",
			      "/$emulator/clock/advance", NULL };
	for (const char **b = bad; *b != NULL; b++) {
		http_post_str(*b, "", NULL, NULL, &r);
		ck_assert_msg(r.status == 400, "%s: %s", *b, http_desc(&r));
		http_resp_free(&r);
	}
	ck_assert_int_eq(emu_now_ms(), t0 + 1500 + 3600000);
	BROKER_STOP();
}
END_TEST

START_TEST(clock_endpoints_404_with_real_clock)
{
	BROKER_START_ENV("LOCALZURE_CLOCK");
	struct http_resp r;
	http_get("/$emulator/clock", &r);
	CK_STATUS(&r, 404);
	http_resp_free(&r);
	http_post_str("/$emulator/clock/advance?ms=1000", "", NULL, NULL, &r);
	CK_STATUS(&r, 404);
	http_resp_free(&r);
	/* the rest of the emulator API works with a real clock */
	mk_queue("q", NULL);
	send_ok("q", "real", NULL);
	json_t *arr = emu_peek("q", 0, 10);
	ck_assert_int_eq(json_array_size(arr), 1);
	json_decref(arr);
	BROKER_STOP();
}
END_TEST

START_TEST(peek_defaults_and_subscription_deferral)
{
	BROKER_START();
	mk_queue("q", NULL);
	struct http_resp r;
	/* 120 messages; peek without parameters returns the first 100 */
	char *batch = malloc(120 * 32 + 16);
	ck_assert(batch != NULL);
	size_t k = 0;
	batch[k++] = '[';
	for (int i = 0; i < 120; i++)
		k += (size_t)sprintf(batch + k, "%s{\"Body\":\"p%d\"}", i ? "," : "", i);
	batch[k++] = ']';
	batch[k] = '\0';
	ck_assert_int_eq(http_post_str("/q/messages", batch, "application/vnd.microsoft.servicebus.json", NULL, NULL), 201);
	free(batch);
	http_get("/$emulator/q/messages", &r);
	CK_STATUS(&r, 200);
	json_t *arr = http_json(&r);
	ck_assert_msg(json_is_array(arr) && json_array_size(arr) == 100, "default peek of 100: %zu",
		      json_array_size(arr));
	CK_J_INT(msg_bp(arr, 0), "SequenceNumber", 1);
	CK_J_INT(msg_bp(arr, 99), "SequenceNumber", 100);
	json_decref(arr);
	http_resp_free(&r);

	/* deferral on a subscription; an abandoned deferred message stays deferred */
	mk_topic("t", NULL);
	mk_sub("t", "s", NULL);
	send_ok("t", "sd", NULL);
	struct http_resp l;
	int64_t seq = recv_lock_body("t/subscriptions/s", "sd", &l);
	http_post_str(sfmt("/$emulator/t/subscriptions/s/messages/%lld/%s/defer", (long long)seq, lock_of(&l)), "", NULL,
		      NULL, &r);
	CK_STATUS(&r, 200);
	http_resp_free(&r);
	http_resp_free(&l);
	recv_empty("t/subscriptions/s");
	const char *body = sfmt("{\"SequenceNumbers\":[%lld]}", (long long)seq);
	http_post_str("/$emulator/t/subscriptions/s/messages/deferred?mode=peeklock", body, "application/json", NULL, &r);
	CK_STATUS(&r, 200);
	arr = http_json(&r);
	ck_assert_msg(json_is_array(arr) && json_array_size(arr) == 1, "one message: %s", http_desc(&r));
	const char *tok = jstr(msg_bp(arr, 0), "LockToken");
	ck_assert_msg(tok != NULL, "LockToken: %s", http_desc(&r));
	ck_assert_int_eq(http_put(sfmt("/t/subscriptions/s/messages/%lld/%s", (long long)seq, tok), "", 0, NULL, NULL, NULL),
			 200);
	json_decref(arr);
	http_resp_free(&r);
	recv_empty("t/subscriptions/s");
	arr = emu_peek("t/subscriptions/s", 0, 10);
	ck_assert_int_eq(json_array_size(arr), 1);
	CK_J_STR(msg_bp(arr, 0), "State", "Deferred");
	json_decref(arr);
	http_post_str("/$emulator/t/subscriptions/s/messages/deferred?mode=receiveanddelete", body, "application/json", NULL,
		      &r);
	CK_STATUS(&r, 200);
	arr = http_json(&r);
	ck_assert_msg(json_is_array(arr) && json_array_size(arr) == 1, "one message: %s", http_desc(&r));
	check_body(arr, 0, "sd");
	json_decref(arr);
	http_resp_free(&r);
	ck_assert_int_eq(entity_count("/t/subscriptions/s", "MessageCount"), 0);
	BROKER_STOP();
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("emulator");
	TCase *tc = h_tcase("emulator");
	tcase_add_test(tc, peek_from_sequence);
	tcase_add_test(tc, explicit_dead_letter);
	tcase_add_test(tc, defer_and_receive_deferred);
	tcase_add_test(tc, schedule_and_cancel);
	tcase_add_test(tc, clock_endpoints);
	tcase_add_test(tc, peek_defaults_and_subscription_deferral);
	tcase_add_test(tc, clock_endpoints_404_with_real_clock);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return h_run_suite(suite());
}
