/*
 * REST data plane against a real broker: send/receive, BrokerProperties and user properties,
 * peek-lock settlement, locks and the manual clock, TTL, scheduling, duplicate detection,
 * forwarding, idle deletion, entity status, topics and filters, long polling and errors.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/timefmt.h"
#include "harness.h"

static const char *lock_token_of(const struct http_resp *r)
{
	static _Thread_local char toks[4][128];
	static _Thread_local unsigned next;
	char *tok = toks[next++ % 4];
	json_t *bp = resp_bp(r);
	const char *t = jstr(bp, "LockToken");
	ck_assert_msg(t != NULL && strlen(t) < sizeof toks[0], "no LockToken: %s", http_desc(r));
	strcpy(tok, t);
	json_decref(bp);
	return tok;
}

static bool bp_has(const struct http_resp *r, const char *key)
{
	json_t *bp = resp_bp(r);
	ck_assert_msg(bp != NULL, "no BrokerProperties: %s", http_desc(r));
	bool has = json_object_get(bp, key) != NULL;
	json_decref(bp);
	return has;
}

/* ---- basic send / receive -------------------------------------------------------------- */

START_TEST(send_receive_and_delete)
{
	BROKER_START();
	mk_queue("q", NULL);
	int64_t now = emu_now_ms();
	struct http_resp r;
	send_msg("q", "hello", "text/plain",
		 "{\"MessageId\":\"m1\",\"Label\":\"lbl\",\"CorrelationId\":\"c1\",\"To\":\"someone\","
		 "\"ReplyTo\":\"back\",\"ReplyToSessionId\":\"rs\",\"TimeToLive\":30,"
		 "\"SequenceNumber\":999,\"UnknownKey\":\"ignored\"}",
		 NULL, &r);
	CK_STATUS(&r, 201);
	ck_assert_msg(r.len == 0, "send reply has an empty body: %s", http_desc(&r));
	http_resp_free(&r);

	recv_del("q", &r);
	CK_STATUS(&r, 200);
	ck_assert_str_eq(r.body, "hello");
	ck_assert_str_eq(http_header(&r, "Content-Type"), "text/plain");
	CK_BP_STR(&r, "MessageId", "m1");
	CK_BP_STR(&r, "Label", "lbl");
	CK_BP_STR(&r, "CorrelationId", "c1");
	CK_BP_STR(&r, "To", "someone");
	CK_BP_STR(&r, "ReplyTo", "back");
	CK_BP_STR(&r, "ReplyToSessionId", "rs");
	CK_BP_INT(&r, "TimeToLive", 30);
	CK_BP_INT(&r, "SequenceNumber", 1); /* read-only keys are ignored on send */
	CK_BP_INT(&r, "DeliveryCount", 1);
	CK_BP_STR(&r, "State", "Active");
	CK_BP_STR(&r, "EnqueuedTimeUtc", rfc1123(now));
	ck_assert_msg(!bp_has(&r, "LockToken") && !bp_has(&r, "LockedUntilUtc"),
		      "receive-and-delete has no lock: %s", http_desc(&r));
	ck_assert_msg(!bp_has(&r, "UnknownKey"), "unknown keys are dropped: %s", http_desc(&r));
	http_resp_free(&r);

	/* empty now: 204 for both receive forms */
	recv_del("q", &r);
	CK_STATUS(&r, 204);
	ck_assert_int_eq(r.len, 0);
	http_resp_free(&r);
	recv_lock("q", &r);
	CK_STATUS(&r, 204);
	http_resp_free(&r);

	/* a message without BrokerProperties gets a MessageId, the infinite TTL and the next seq */
	send_msg("q", "bare", NULL, NULL, NULL, NULL);
	recv_del("q", &r);
	CK_STATUS(&r, 200);
	ck_assert_str_eq(r.body, "bare");
	CK_BP_INT(&r, "SequenceNumber", 2);
	json_t *bp = resp_bp(&r);
	const char *mid = jstr(bp, "MessageId");
	ck_assert_msg(mid != NULL && strlen(mid) > 0, "a MessageId is generated: %s", http_desc(&r));
	json_t *ttl = json_object_get(bp, "TimeToLive");
	ck_assert_msg(json_is_number(ttl) && json_number_value(ttl) > 922337203685.0,
		      "infinite TTL is 922337203685.47754: %s", http_desc(&r));
	json_decref(bp);
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

START_TEST(fifo_and_sequence_numbers)
{
	BROKER_START();
	mk_queue("q", NULL);
	for (int i = 1; i <= 5; i++)
		send_ok("q", sfmt("m%d", i), NULL);
	ck_assert_int_eq(entity_count("/q", "ActiveMessageCount"), 5);
	for (int i = 1; i <= 5; i++)
		ck_assert_int_eq(recv_del_body("q", sfmt("m%d", i)), i);
	recv_empty("q");
	/* sequence numbers keep counting */
	send_ok("q", "m6", NULL);
	ck_assert_int_eq(recv_del_body("q", "m6"), 6);
	/* path segments are case-insensitive */
	send_ok("Q", "upper", NULL);
	struct http_resp r;
	http_request("DELETE", "/Q/Messages/Head?timeout=0", NULL, 0, NULL, NULL, 0, &r);
	CK_STATUS(&r, 200);
	ck_assert_str_eq(r.body, "upper");
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

START_TEST(content_type_roundtrip)
{
	BROKER_START();
	mk_queue("q", NULL);
	struct http_resp r;
	send_msg("q", "{\"id\":42}", "application/json; charset=utf-8", NULL, NULL, NULL);
	const unsigned char bin[] = { 0x00, 0x01, 0xff, 0x7f, 0x00, 'z', 0x80 };
	http_post("/q/messages", bin, sizeof bin, "application/octet-stream", NULL, &r);
	CK_STATUS(&r, 201);
	http_resp_free(&r);
	send_msg("q", "<a/>", "application/atom+xml;type=entry;charset=utf-8", NULL, NULL, NULL);

	recv_del("q", &r);
	CK_STATUS(&r, 200);
	ck_assert_str_eq(r.body, "{\"id\":42}");
	ck_assert_str_eq(http_header(&r, "Content-Type"), "application/json; charset=utf-8");
	http_resp_free(&r);
	recv_lock("q", &r);
	CK_STATUS(&r, 201);
	ck_assert_int_eq(r.len, sizeof bin);
	ck_assert_msg(memcmp(r.body, bin, sizeof bin) == 0, "binary body is byte-exact");
	ck_assert_str_eq(http_header(&r, "Content-Type"), "application/octet-stream");
	ck_assert_int_eq(complete_msg(&r), 200);
	http_resp_free(&r);
	recv_del("q", &r);
	ck_assert_str_eq(r.body, "<a/>");
	ck_assert_str_eq(http_header(&r, "Content-Type"), "application/atom+xml;type=entry;charset=utf-8");
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

START_TEST(user_property_typing)
{
	BROKER_START();
	mk_queue("q", NULL);
	const char *const props[] = {
		"p-str: \"hello world\"",
		"p-date: \"Sun, 06 Nov 1994 08:49:37 GMT\"",
		"p-int: 42",
		"p-neg: -7",
		"p-dbl: 3.5",
		"p-true: true",
		"p-false: false",
		"p-qnum: \"123\"",
		NULL,
	};
	struct http_resp r;
	for (int i = 0; i < 2; i++) {
		send_msg("q", sfmt("typed%d", i), "text/plain", NULL, props, &r);
		CK_STATUS(&r, 201);
		http_resp_free(&r);
	}

	/* over REST: strings and dates quoted, numbers and booleans bare */
	recv_del("q", &r);
	CK_STATUS(&r, 200);
	ck_assert_str_eq(r.body, "typed0");
	CK_UPROP(&r, "p-str", "hello world", true);
	CK_UPROP(&r, "p-date", "Sun, 06 Nov 1994 08:49:37 GMT", true);
	CK_UPROP(&r, "p-int", "42", false);
	CK_UPROP(&r, "p-neg", "-7", false);
	CK_UPROP(&r, "p-dbl", "3.5", false);
	CK_UPROP(&r, "p-true", "true", false);
	CK_UPROP(&r, "p-false", "false", false);
	CK_UPROP(&r, "p-qnum", "123", true);
	/* request headers that are not user properties are not echoed */
	ck_assert_msg(http_header(&r, "User-Agent") == NULL, "User-Agent is not a user property: %s", http_desc(&r));
	http_resp_free(&r);

	/* the emulator's JSON form shows the stored types */
	json_t *arr = emu_peek("q", 0, 10);
	ck_assert_int_eq(json_array_size(arr), 1);
	json_t *up = json_object_get(json_array_get(arr, 0), "UserProperties");
	ck_assert_msg(json_is_object(up), "UserProperties object");
	ck_assert_msg(json_is_string(json_object_get(up, "p-str")), "p-str is a string");
	ck_assert_str_eq(jstr(up, "p-str"), "hello world");
	ck_assert_msg(json_is_integer(json_object_get(up, "p-int")), "p-int is an integer");
	ck_assert_int_eq(json_integer_value(json_object_get(up, "p-int")), 42);
	ck_assert_int_eq(json_integer_value(json_object_get(up, "p-neg")), -7);
	ck_assert_msg(json_is_real(json_object_get(up, "p-dbl")) && json_real_value(json_object_get(up, "p-dbl")) == 3.5,
		      "p-dbl is the double 3.5");
	ck_assert_msg(json_is_true(json_object_get(up, "p-true")), "p-true is true");
	ck_assert_msg(json_is_false(json_object_get(up, "p-false")), "p-false is false");
	ck_assert_msg(json_is_string(json_object_get(up, "p-qnum")), "a quoted number stays a string");
	ck_assert_str_eq(jstr(up, "p-qnum"), "123");
	const char *d = jstr(up, "p-date");
	ck_assert_msg(d != NULL && strstr(d, "1994") != NULL, "p-date is a date text");
	json_decref(arr);

	/* standard and x-ms-* headers are not user properties, whatever their value */
	const char *const std_hdrs[] = {
		"Authorization: SharedAccessSignature sr=http%3a%2f%2f127.0.0.1%2fq&sig=abc%3d&se=1735689600&skn=RootManageSharedAccessKey",
		"x-ms-retrypolicy: NoRetry",
		"Accept-Language: en-US, en",
		"Connection: keep-alive",
		"Cache-Control: no-cache",
		NULL,
	};
	send_msg("q", "std", "text/plain", NULL, std_hdrs, &r);
	CK_STATUS(&r, 201);
	http_resp_free(&r);
	json_t *sp = emu_peek("q", 0, 10);
	ck_assert_int_eq(json_array_size(sp), 2);
	json_t *sup = json_object_get(json_array_get(sp, 1), "UserProperties");
	ck_assert_msg(json_is_object(sup) && json_object_size(sup) == 0, "no user properties from standard headers");
	json_decref(sp);
	recv_del_body("q", "typed1");
	recv_lock("q", &r);
	CK_STATUS(&r, 201);
	ck_assert_str_eq(r.body, "std");
	ck_assert_msg(http_header(&r, "x-ms-retrypolicy") == NULL && http_header(&r, "Authorization") == NULL,
		      "not echoed: %s", http_desc(&r));
	ck_assert_int_eq(complete_msg(&r), 200);
	http_resp_free(&r);

	/* untypable values are refused */
	const char *const bad1[] = { "x-prop: abc def", NULL };
	send_msg("q", "bad", "text/plain", NULL, bad1, &r);
	CK_STATUS(&r, 400);
	http_resp_free(&r);
	const char *const bad2[] = { "x-prop: True", NULL }; /* booleans are case-sensitive */
	send_msg("q", "bad", "text/plain", NULL, bad2, &r);
	CK_STATUS(&r, 400);
	http_resp_free(&r);
	ck_assert_int_eq(entity_count("/q", "ActiveMessageCount"), 0);
	BROKER_STOP();
}
END_TEST

START_TEST(batch_send)
{
	BROKER_START();
	mk_queue("q", NULL);
	const char *batch =
		"[{\"Body\":\"b1\",\"BrokerProperties\":{\"MessageId\":\"x1\",\"Label\":\"L1\",\"CorrelationId\":\"c1\"},"
		"\"UserProperties\":{\"k\":\"v\",\"n\":5,\"f\":1.5,\"b\":true}},"
		"{\"Body\":\"b2\",\"BrokerProperties\":{\"TimeToLiveTimeSpan\":\"0.00:00:40\"}},"
		"{\"Body\":\"b3\"}]";
	struct http_resp r;
	http_post_str("/q/messages", batch, "application/vnd.microsoft.servicebus.json", NULL, &r);
	CK_STATUS(&r, 201);
	http_resp_free(&r);
	ck_assert_int_eq(entity_count("/q", "ActiveMessageCount"), 3);

	recv_del("q", &r);
	CK_STATUS(&r, 200);
	ck_assert_str_eq(r.body, "b1");
	CK_BP_INT(&r, "SequenceNumber", 1);
	CK_BP_STR(&r, "MessageId", "x1");
	CK_BP_STR(&r, "Label", "L1");
	CK_BP_STR(&r, "CorrelationId", "c1");
	CK_UPROP(&r, "k", "v", true);
	CK_UPROP(&r, "n", "5", false);
	CK_UPROP(&r, "f", "1.5", false);
	CK_UPROP(&r, "b", "true", false);
	http_resp_free(&r);
	recv_del("q", &r);
	ck_assert_str_eq(r.body, "b2");
	CK_BP_INT(&r, "SequenceNumber", 2);
	CK_BP_INT(&r, "TimeToLive", 40);
	http_resp_free(&r);
	ck_assert_int_eq(recv_del_body("q", "b3"), 3);
	recv_empty("q");

	/* a malformed batch, or one bad element, enqueues nothing */
	http_post_str("/q/messages", "[{\"Body\":", "application/vnd.microsoft.servicebus.json", NULL, &r);
	CK_STATUS(&r, 400);
	http_resp_free(&r);
	http_post_str("/q/messages",
		      "[{\"Body\":\"ok\"},{\"Body\":\"bad\",\"BrokerProperties\":{\"TimeToLive\":\"soon\"}}]",
		      "application/vnd.microsoft.servicebus.json", NULL, &r);
	CK_STATUS(&r, 400);
	http_resp_free(&r);
	recv_empty("q");
	BROKER_STOP();
}
END_TEST

START_TEST(batch_many_and_unicode)
{
	BROKER_START();
	mk_queue("q", NULL);
	char *batch = malloc(100 * 64 + 16);
	ck_assert(batch != NULL);
	size_t k = 0;
	batch[k++] = '[';
	for (int i = 0; i < 100; i++)
		k += (size_t)sprintf(batch + k, "%s{\"Body\":\"n%d\"}", i ? "," : "", i);
	batch[k++] = ']';
	batch[k] = '\0';
	ck_assert_int_eq(http_post_str("/q/messages", batch, "application/vnd.microsoft.servicebus.json", NULL, NULL), 201);
	free(batch);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(recv_del_body("q", sfmt("n%d", i)), i + 1);
	/* JSON escapes in a batch Body become UTF-8 bytes */
	ck_assert_int_eq(http_post_str("/q/messages", "[{\"Body\":\"h\\u00e9llo \\\"q\\\"\"}]",
				       "application/vnd.microsoft.servicebus.json", NULL, NULL),
			 201);
	recv_del_body("q", "h\xc3\xa9llo \"q\"");
	/* SessionId and PartitionKey must agree */
	struct http_resp r;
	send_msg("q", "x", "text/plain", "{\"SessionId\":\"s1\",\"PartitionKey\":\"p1\"}", NULL, &r);
	CK_STATUS(&r, 400);
	http_resp_free(&r);
	send_ok("q", "sess", "{\"SessionId\":\"s1\",\"PartitionKey\":\"s1\"}");
	recv_del("q", &r);
	CK_STATUS(&r, 200);
	CK_BP_STR(&r, "SessionId", "s1");
	CK_BP_STR(&r, "PartitionKey", "s1");
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

/* ---- peek-lock ------------------------------------------------------------------------- */

START_TEST(peek_lock_complete_abandon)
{
	BROKER_START();
	mk_queue("q", NULL);
	send_ok("q", "one", NULL);
	send_ok("q", "two", NULL);
	int64_t now = emu_now_ms();

	struct http_resp a, b;
	ck_assert_int_eq(recv_lock_body("q", "one", &a), 1);
	const char *tok = lock_token_of(&a);
	ck_assert_int_eq(strlen(tok), 36);
	char *lp = lock_path(&a);
	ck_assert_msg(lp != NULL && strcasecmp(lp, sfmt("/q/messages/1/%s", tok)) == 0, "Location: %s",
		      http_desc(&a));
	free(lp);
	/* an absolute URL a client can follow */
	const char *loc = http_header(&a, "Location");
	ck_assert_msg(strncmp(loc, lzb_cur->base, strlen(lzb_cur->base)) == 0, "Location %s should start with %s", loc,
		      lzb_cur->base);
	CK_BP_INT(&a, "DeliveryCount", 1);
	CK_BP_STR(&a, "LockedUntilUtc", rfc1123(now + 60000));
	ck_assert_str_eq(http_header(&a, "Content-Type"), "text/plain");

	/* the locked message is skipped */
	ck_assert_int_eq(recv_lock_body("q", "two", &b), 2);
	ck_assert_msg(strcmp(lock_token_of(&a), lock_token_of(&b)) != 0, "lock tokens differ");
	struct http_resp none;
	recv_lock("q", &none);
	CK_STATUS(&none, 204);
	http_resp_free(&none);
	ck_assert_int_eq(entity_count("/q", "ActiveMessageCount"), 2);

	/* one's lock on two's sequence number does not fit */
	ck_assert_int_eq(http_delete(sfmt("/q/messages/2/%s", lock_token_of(&a)), NULL), 404);
	/* unknown lock */
	ck_assert_int_eq(http_delete("/q/messages/1/00000000-0000-4000-8000-000000000000", NULL), 404);
	ck_assert_int_eq(http_put("/q/messages/1/00000000-0000-4000-8000-000000000000", "", 0, NULL, NULL, NULL), 404);
	ck_assert_int_eq(http_post("/q/messages/1/00000000-0000-4000-8000-000000000000", "", 0, NULL, NULL, NULL), 404);

	ck_assert_int_eq(complete_msg(&a), 200);
	ck_assert_int_eq(complete_msg(&a), 404);
	ck_assert_int_eq(abandon_msg(&a), 404);
	ck_assert_int_eq(abandon_msg(&b), 200);
	ck_assert_int_eq(abandon_msg(&b), 404);
	http_resp_free(&a);
	http_resp_free(&b);

	/* redelivered with DeliveryCount 2 */
	ck_assert_int_eq(recv_lock_body("q", "two", &b), 2);
	CK_BP_INT(&b, "DeliveryCount", 2);
	/* the MessageId form of the lock URI works too */
	json_t *bp = resp_bp(&b);
	const char *mid = jstr(bp, "MessageId");
	ck_assert_msg(mid != NULL, "MessageId");
	ck_assert_int_eq(http_delete(sfmt("/q/messages/%s/%s", mid, lock_token_of(&b)), NULL), 200);
	json_decref(bp);
	http_resp_free(&b);
	recv_empty("q");
	ck_assert_int_eq(entity_count("/q", "MessageCount"), 0);
	BROKER_STOP();
}
END_TEST

START_TEST(abandon_keeps_position)
{
	BROKER_START();
	mk_queue("q", NULL);
	for (int i = 1; i <= 3; i++)
		send_ok("q", sfmt("m%d", i), NULL);
	struct http_resp l1, l2;
	recv_lock_body("q", "m1", &l1);
	recv_lock_body("q", "m2", &l2);
	ck_assert_int_eq(abandon_msg(&l2), 200);
	/* m2 is back before m3 (sequence order), not at the tail */
	ck_assert_int_eq(recv_del_body("q", "m2"), 2);
	ck_assert_int_eq(abandon_msg(&l1), 200);
	ck_assert_int_eq(recv_del_body("q", "m1"), 1);
	ck_assert_int_eq(recv_del_body("q", "m3"), 3);
	recv_empty("q");
	http_resp_free(&l1);
	http_resp_free(&l2);
	BROKER_STOP();
}
END_TEST

START_TEST(lock_expiry_redelivers_in_order)
{
	BROKER_START();
	mk_queue("q", "<LockDuration>PT30S</LockDuration>");
	for (int i = 1; i <= 3; i++)
		send_ok("q", sfmt("m%d", i), NULL);
	int64_t now = emu_now_ms();
	struct http_resp l1, l2, x;
	recv_lock_body("q", "m1", &l1);
	CK_BP_STR(&l1, "LockedUntilUtc", rfc1123(now + 30000));
	recv_lock_body("q", "m2", &l2);

	/* not yet expired */
	emu_advance_ms(29000);
	ck_assert_int_eq(recv_lock_body("q", "m3", &x), 3);
	http_resp_free(&x);
	emu_advance_ms(2000);
	/* m1 and m2 expired and come back in sequence order, m3 is still locked */
	recv_lock_body("q", "m1", &x);
	CK_BP_INT(&x, "DeliveryCount", 2);
	ck_assert_int_eq(complete_msg(&x), 200);
	http_resp_free(&x);
	recv_lock_body("q", "m2", &x);
	CK_BP_INT(&x, "DeliveryCount", 2);
	http_resp_free(&x);
	/* the old locks are lost */
	ck_assert_int_eq(complete_msg(&l1), 404);
	ck_assert_int_eq(complete_msg(&l2), 404);
	ck_assert_int_eq(renew_msg(&l2), 404);
	recv_lock("q", &x);
	CK_STATUS(&x, 204);
	http_resp_free(&x);
	http_resp_free(&l1);
	http_resp_free(&l2);
	BROKER_STOP();
}
END_TEST

START_TEST(renew_lock)
{
	BROKER_START();
	mk_queue("q", NULL); /* LockDuration 60 s */
	send_ok("q", "a", NULL);
	send_ok("q", "b", NULL);
	struct http_resp la, lb, x;
	recv_lock_body("q", "a", &la);
	recv_lock_body("q", "b", &lb);
	emu_advance_ms(40000);
	ck_assert_int_eq(renew_msg(&la), 200); /* a now locked until +100 s */
	emu_advance_ms(40000);                 /* +80 s: b's lock (until +60 s) expired */
	ck_assert_int_eq(complete_msg(&lb), 404);
	ck_assert_int_eq(renew_msg(&lb), 404);
	ck_assert_int_eq(complete_msg(&la), 200);
	recv_lock_body("q", "b", &x);
	CK_BP_INT(&x, "DeliveryCount", 2);
	ck_assert_int_eq(complete_msg(&x), 200);
	http_resp_free(&x);
	http_resp_free(&la);
	http_resp_free(&lb);
	recv_empty("q");
	BROKER_STOP();
}
END_TEST

START_TEST(max_delivery_count_dead_letters)
{
	BROKER_START();
	mk_queue("q", "<MaxDeliveryCount>2</MaxDeliveryCount>");
	send_ok("q", "poison", "{\"MessageId\":\"p1\"}");
	send_ok("q", "fine", NULL);
	struct http_resp l;
	recv_lock_body("q", "poison", &l);
	CK_BP_INT(&l, "DeliveryCount", 1);
	ck_assert_int_eq(abandon_msg(&l), 200);
	http_resp_free(&l);
	recv_lock_body("q", "poison", &l);
	CK_BP_INT(&l, "DeliveryCount", 2);
	ck_assert_int_eq(abandon_msg(&l), 200); /* the last allowed delivery: dead-lettered */
	http_resp_free(&l);
	ck_assert_int_eq(recv_del_body("q", "fine"), 2);
	recv_empty("q");
	ck_assert_int_eq(entity_count("/q", "DeadLetterMessageCount"), 1);

	/* the DLQ supports peek-lock with its own lock URI */
	recv_lock_body("q/$DeadLetterQueue", "poison", &l);
	CK_BP_STR(&l, "MessageId", "p1");
	CK_BP_INT(&l, "SequenceNumber", 1);
	CK_UPROP(&l, "DeadLetterReason", "MaxDeliveryCountExceeded", true);
	char *lp = lock_path(&l);
	ck_assert_msg(lp != NULL && strncasecmp(lp, "/q/$DeadLetterQueue/messages/", 29) == 0, "DLQ Location: %s",
		      http_desc(&l));
	free(lp);
	ck_assert_int_eq(complete_msg(&l), 200);
	http_resp_free(&l);
	recv_empty("q/$DeadLetterQueue");
	ck_assert_int_eq(entity_count("/q", "DeadLetterMessageCount"), 0);

	/* lock expiry counts as a delivery attempt too */
	mk_queue("q1", "<MaxDeliveryCount>1</MaxDeliveryCount>");
	send_ok("q1", "slow", NULL);
	recv_lock_body("q1", "slow", &l);
	http_resp_free(&l);
	emu_advance_ms(61000);
	recv_empty("q1");
	struct http_resp d;
	recv_del("q1/$DeadLetterQueue", &d);
	CK_STATUS(&d, 200);
	ck_assert_str_eq(d.body, "slow");
	CK_UPROP(&d, "DeadLetterReason", "MaxDeliveryCountExceeded", true);
	http_resp_free(&d);

	/* subscriptions have a DLQ too */
	mk_topic("t", NULL);
	mk_sub("t", "s", "<MaxDeliveryCount>1</MaxDeliveryCount>");
	send_ok("t", "subpoison", NULL);
	recv_lock_body("t/subscriptions/s", "subpoison", &l);
	ck_assert_int_eq(abandon_msg(&l), 200);
	http_resp_free(&l);
	recv_empty("t/subscriptions/s");
	recv_del("t/subscriptions/s/$DeadLetterQueue", &d);
	CK_STATUS(&d, 200);
	ck_assert_str_eq(d.body, "subpoison");
	CK_UPROP(&d, "DeadLetterReason", "MaxDeliveryCountExceeded", true);
	http_resp_free(&d);
	BROKER_STOP();
}
END_TEST

/* ---- time-to-live ---------------------------------------------------------------------- */

START_TEST(ttl_expiry_drops)
{
	BROKER_START();
	mk_queue("q", NULL);
	send_ok("q", "short", "{\"TimeToLive\":10}");
	send_ok("q", "keep", NULL);
	send_ok("q", "locked", "{\"TimeToLive\":10}");
	struct http_resp k, l2, l3;
	recv_lock_body("q", "short", &k);
	CK_BP_INT(&k, "TimeToLive", 10);
	recv_lock_body("q", "keep", &l2);
	recv_lock_body("q", "locked", &l3);
	ck_assert_int_eq(abandon_msg(&l2), 200);
	http_resp_free(&l2);

	emu_advance_ms(11000); /* both TTLs passed, but both messages are locked (lock: 60 s) */
	ck_assert_int_eq(complete_msg(&l3), 200);
	http_resp_free(&l3);
	ck_assert_int_eq(abandon_msg(&k), 200); /* abandoned after its expiry: expires at once */
	http_resp_free(&k);

	ck_assert_int_eq(recv_del_body("q", "keep"), 2);
	recv_empty("q");
	recv_empty("q/$DeadLetterQueue");
	ck_assert_int_eq(entity_count("/q", "MessageCount"), 0);

	/* an unlocked message simply expires */
	send_ok("q", "gone", "{\"TimeToLive\":10}");
	emu_advance_ms(9000);
	ck_assert_int_eq(entity_count("/q", "ActiveMessageCount"), 1);
	emu_advance_ms(1001);
	recv_empty("q");
	ck_assert_int_eq(entity_count("/q", "DeadLetterMessageCount"), 0);
	BROKER_STOP();
}
END_TEST

START_TEST(ttl_expiry_dead_letters)
{
	BROKER_START();
	mk_queue("q", "<DeadLetteringOnMessageExpiration>true</DeadLetteringOnMessageExpiration>");
	send_ok("q", "expiring", "{\"TimeToLive\":10,\"MessageId\":\"e1\"}");
	send_ok("q", "stays", "{\"TimeToLive\":100}");
	emu_advance_ms(11000);
	ck_assert_int_eq(recv_del_body("q", "stays"), 2);
	recv_empty("q");
	ck_assert_int_eq(entity_count("/q", "DeadLetterMessageCount"), 1);
	struct http_resp d;
	recv_del("q/$DeadLetterQueue", &d);
	CK_STATUS(&d, 200);
	ck_assert_str_eq(d.body, "expiring");
	CK_BP_STR(&d, "MessageId", "e1");
	CK_UPROP(&d, "DeadLetterReason", "TTLExpiredException", true);
	http_resp_free(&d);

	/* messages in the DLQ never expire */
	send_ok("q", "again", "{\"TimeToLive\":10}");
	emu_advance_ms(11000);
	recv_empty("q");
	emu_advance_ms(24L * 3600 * 1000);
	ck_assert_int_eq(entity_count("/q", "DeadLetterMessageCount"), 1);
	recv_del("q/$DeadLetterQueue", &d);
	CK_STATUS(&d, 200);
	ck_assert_str_eq(d.body, "again");
	http_resp_free(&d);

	/* subscriptions dead-letter on expiry too */
	mk_topic("t", NULL);
	mk_sub("t", "s", "<DeadLetteringOnMessageExpiration>true</DeadLetteringOnMessageExpiration>");
	send_ok("t", "sub-expiring", "{\"TimeToLive\":10}");
	emu_advance_ms(11000);
	recv_empty("t/subscriptions/s");
	recv_del("t/subscriptions/s/$DeadLetterQueue", &d);
	CK_STATUS(&d, 200);
	ck_assert_str_eq(d.body, "sub-expiring");
	CK_UPROP(&d, "DeadLetterReason", "TTLExpiredException", true);
	http_resp_free(&d);
	BROKER_STOP();
}
END_TEST

START_TEST(ttl_capped_by_entity_default)
{
	BROKER_START();
	mk_queue("q", "<DefaultMessageTimeToLive>PT30S</DefaultMessageTimeToLive>");
	send_ok("q", "long", "{\"TimeToLive\":3600}");
	send_ok("q", "none", NULL);
	send_ok("q", "short", "{\"TimeToLive\":10}");
	struct http_resp l;
	recv_lock_body("q", "long", &l);
	CK_BP_INT(&l, "TimeToLive", 30);
	ck_assert_int_eq(abandon_msg(&l), 200);
	http_resp_free(&l);
	json_t *arr = emu_peek("q", 0, 10);
	ck_assert_int_eq(json_array_size(arr), 3);
	json_t *bp1 = json_object_get(json_array_get(arr, 1), "BrokerProperties");
	CK_J_INT(bp1, "TimeToLive", 30);
	json_t *bp2 = json_object_get(json_array_get(arr, 2), "BrokerProperties");
	CK_J_INT(bp2, "TimeToLive", 10);
	json_decref(arr);

	emu_advance_ms(11000);
	recv_lock_body("q", "long", &l); /* the 10 s one is gone, the others live */
	ck_assert_int_eq(abandon_msg(&l), 200);
	http_resp_free(&l);
	emu_advance_ms(20000); /* +31 s: past the entity's 30 s */
	recv_empty("q");
	BROKER_STOP();
}
END_TEST

/* ---- scheduling ------------------------------------------------------------------------ */

START_TEST(scheduled_messages)
{
	BROKER_START();
	mk_queue("q", NULL);
	int64_t now = emu_now_ms();
	struct http_resp r;
	send_msg("q", "later", "text/plain",
		 sfmt("{\"ScheduledEnqueueTimeUtc\":\"%s\",\"MessageId\":\"s1\"}", rfc1123(now + 60000)), NULL, &r);
	CK_STATUS(&r, 201);
	http_resp_free(&r);
	send_ok("q", "now", NULL);
	/* a past instant means "now" */
	send_ok("q", "past", sfmt("{\"ScheduledEnqueueTimeUtc\":\"%s\"}", rfc1123(now - 10000)));

	recv_del_body("q", "now");
	recv_del_body("q", "past");
	recv_empty("q");
	ck_assert_int_eq(entity_count("/q", "ScheduledMessageCount"), 1);
	ck_assert_int_eq(entity_count("/q", "ActiveMessageCount"), 0);

	emu_advance_ms(30000);
	recv_empty("q");
	emu_advance_ms(31000);
	ck_assert_int_eq(entity_count("/q", "ScheduledMessageCount"), 0);
	ck_assert_int_eq(entity_count("/q", "ActiveMessageCount"), 1);
	recv_lock("q", &r);
	CK_STATUS(&r, 201);
	ck_assert_str_eq(r.body, "later");
	CK_BP_STR(&r, "MessageId", "s1");
	CK_BP_STR(&r, "State", "Active");
	ck_assert_int_eq(complete_msg(&r), 200);
	http_resp_free(&r);
	recv_empty("q");

	/* topics schedule too; subscriptions see it only after activation */
	mk_topic("t", NULL);
	mk_sub("t", "s", NULL);
	now = emu_now_ms();
	send_ok("t", "tlater", sfmt("{\"ScheduledEnqueueTimeUtc\":\"%s\"}", rfc1123(now + 120000)));
	recv_empty("t/subscriptions/s");
	emu_advance_ms(121000);
	recv_del_body("t/subscriptions/s", "tlater");

	/* a bad date is a bad request */
	send_msg("q", "x", "text/plain", "{\"ScheduledEnqueueTimeUtc\":\"next tuesday\"}", NULL, &r);
	CK_STATUS(&r, 400);
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

/* ---- duplicate detection --------------------------------------------------------------- */

START_TEST(duplicate_detection)
{
	BROKER_START();
	mk_queue("q", "<RequiresDuplicateDetection>true</RequiresDuplicateDetection>"
		      "<DuplicateDetectionHistoryTimeWindow>PT1M</DuplicateDetectionHistoryTimeWindow>");
	send_ok("q", "A", "{\"MessageId\":\"d1\"}");
	send_ok("q", "B", "{\"MessageId\":\"d1\"}"); /* 201, but discarded */
	send_ok("q", "C", "{\"MessageId\":\"d2\"}");
	ck_assert_int_eq(entity_count("/q", "ActiveMessageCount"), 2);
	ck_assert_int_eq(recv_del_body("q", "A"), 1);
	ck_assert_int_eq(recv_del_body("q", "C"), 2);
	recv_empty("q");
	/* still remembered after the original was consumed */
	emu_advance_ms(30000);
	send_ok("q", "E", "{\"MessageId\":\"d2\"}");
	recv_empty("q");
	/* after the window the id is accepted again */
	emu_advance_ms(31000);
	send_ok("q", "D", "{\"MessageId\":\"d1\"}");
	recv_del_body("q", "D");
	recv_empty("q");

	/* without duplicate detection the same id is just another message */
	mk_queue("plain", NULL);
	send_ok("plain", "x1", "{\"MessageId\":\"same\"}");
	send_ok("plain", "x2", "{\"MessageId\":\"same\"}");
	recv_del_body("plain", "x1");
	recv_del_body("plain", "x2");

	/* topics detect duplicates before fan-out */
	mk_topic("t", "<RequiresDuplicateDetection>true</RequiresDuplicateDetection>");
	mk_sub("t", "s", NULL);
	send_ok("t", "t1", "{\"MessageId\":\"td\"}");
	send_ok("t", "t2", "{\"MessageId\":\"td\"}");
	recv_del_body("t/subscriptions/s", "t1");
	recv_empty("t/subscriptions/s");
	/* scheduled messages are covered too */
	mk_queue("dq", "<RequiresDuplicateDetection>true</RequiresDuplicateDetection>");
	int64_t now = emu_now_ms();
	send_ok("dq", "sched-first", sfmt("{\"MessageId\":\"sd\",\"ScheduledEnqueueTimeUtc\":\"%s\"}", rfc1123(now + 60000)));
	send_ok("dq", "dup-now", "{\"MessageId\":\"sd\"}");
	recv_empty("dq");
	emu_advance_ms(61000);
	recv_del_body("dq", "sched-first");
	recv_empty("dq");
	BROKER_STOP();
}
END_TEST

/* ---- forwarding ------------------------------------------------------------------------ */

START_TEST(forward_to)
{
	BROKER_START();
	mk_queue("fdst", NULL);
	mk_queue("fsrc", "<ForwardTo>fdst</ForwardTo>");
	send_ok("fdst", "direct", NULL);
	send_ok("fsrc", "f1", "{\"MessageId\":\"fm1\"}");
	send_ok("fsrc", "f2", NULL);

	struct http_resp r;
	ck_assert_int_eq(recv_del_body("fdst", "direct"), 1);
	recv_del("fdst", &r);
	CK_STATUS(&r, 200);
	ck_assert_str_eq(r.body, "f1");
	CK_BP_INT(&r, "SequenceNumber", 2);
	CK_BP_INT(&r, "EnqueuedSequenceNumber", 1);
	CK_BP_STR(&r, "MessageId", "fm1");
	http_resp_free(&r);
	recv_del("fdst", &r);
	CK_STATUS(&r, 200);
	ck_assert_str_eq(r.body, "f2");
	CK_BP_INT(&r, "SequenceNumber", 3);
	CK_BP_INT(&r, "EnqueuedSequenceNumber", 2);
	http_resp_free(&r);
	ck_assert_int_eq(entity_count("/fsrc", "MessageCount"), 0);

	/* a subscription forwarding to a queue */
	mk_topic("t", NULL);
	mk_sub("t", "fw", "<ForwardTo>fdst</ForwardTo>");
	mk_sub("t", "keep", NULL);
	send_ok("t", "via-topic", NULL);
	recv_del_body("fdst", "via-topic");
	recv_del_body("t/subscriptions/keep", "via-topic");
	ck_assert_int_eq(entity_count("/t/subscriptions/fw", "MessageCount"), 0);

	/* a queue forwarding into a topic fans out */
	mk_queue("to-topic", "<ForwardTo>t</ForwardTo>");
	send_ok("to-topic", "q2t", NULL);
	recv_del_body("t/subscriptions/keep", "q2t");
	recv_del_body("fdst", "q2t");
	BROKER_STOP();
}
END_TEST

START_TEST(forward_dead_lettered)
{
	BROKER_START();
	mk_queue("dl", NULL);
	mk_queue("src", "<MaxDeliveryCount>1</MaxDeliveryCount><ForwardDeadLetteredMessagesTo>dl</ForwardDeadLetteredMessagesTo>");
	send_ok("src", "bad", "{\"MessageId\":\"b1\"}");
	struct http_resp l;
	recv_lock_body("src", "bad", &l);
	ck_assert_int_eq(abandon_msg(&l), 200);
	http_resp_free(&l);
	recv_empty("src");
	recv_empty("src/$DeadLetterQueue");
	struct http_resp d;
	recv_del("dl", &d);
	CK_STATUS(&d, 200);
	ck_assert_str_eq(d.body, "bad");
	CK_BP_STR(&d, "MessageId", "b1");
	CK_BP_STR(&d, "DeadLetterSource", "src");
	CK_UPROP(&d, "DeadLetterReason", "MaxDeliveryCountExceeded", true);
	http_resp_free(&d);

	/* expiry dead-lettering is forwarded too */
	mk_queue("src2", "<DeadLetteringOnMessageExpiration>true</DeadLetteringOnMessageExpiration>"
			 "<ForwardDeadLetteredMessagesTo>dl</ForwardDeadLetteredMessagesTo>");
	send_ok("src2", "old", "{\"TimeToLive\":5}");
	emu_advance_ms(6000);
	recv_empty("src2");
	recv_del("dl", &d);
	CK_STATUS(&d, 200);
	ck_assert_str_eq(d.body, "old");
	CK_UPROP(&d, "DeadLetterReason", "TTLExpiredException", true);
	http_resp_free(&d);
	BROKER_STOP();
}
END_TEST

/*
 * A -> B -> A. The broker (broker/core.c, MAX_TRANSFER_HOPS) accepts the cycle at management time
 * (each ForwardTo target exists and is not the entity itself) and stops a message that keeps
 * travelling: past four hops it is dead-lettered with MaxTransferHopCountExceeded (spec §3.9).
 */
START_TEST(forward_loop_protection)
{
	BROKER_START();
	mk_queue("la", NULL);
	mk_queue("lb", "<ForwardTo>la</ForwardTo>");
	struct http_resp r;
	put_queue("la", "<ForwardTo>lb</ForwardTo>", true, &r);
	CK_STATUS(&r, 200);
	http_resp_free(&r);
	send_ok("la", "looping", "{\"MessageId\":\"loop1\"}");
	/* it must land in exactly one dead-letter queue with the hop-count reason */
	struct http_resp da, db;
	recv_del("la/$DeadLetterQueue", &da);
	recv_del("lb/$DeadLetterQueue", &db);
	ck_assert_msg((da.status == 200) != (db.status == 200), "exactly one DLQ holds it: la %s / lb %s",
		      http_desc(&da), http_desc(&db));
	struct http_resp *d = da.status == 200 ? &da : &db;
	ck_assert_str_eq(d->body, "looping");
	CK_BP_STR(d, "MessageId", "loop1");
	CK_UPROP(d, "DeadLetterReason", "MaxTransferHopCountExceeded", true);
	http_resp_free(&da);
	http_resp_free(&db);
	ck_assert_int_eq(entity_count("/la", "ActiveMessageCount"), 0);
	ck_assert_int_eq(entity_count("/lb", "ActiveMessageCount"), 0);
	BROKER_STOP();
}
END_TEST

/* A destination that is disabled or gone: the message stays with the source, in its DLQ
 * (spec §3.9; the reason text is the one broker/core.c documents). */
START_TEST(forward_to_unavailable_destination)
{
	BROKER_START();
	mk_queue("dst", NULL);
	mk_queue("src", "<ForwardTo>dst</ForwardTo>");
	struct http_resp r;
	put_queue("dst", "<Status>Disabled</Status>", true, &r);
	CK_STATUS(&r, 200);
	http_resp_free(&r);
	send_ok("src", "stuck", NULL);
	recv_del("src/$DeadLetterQueue", &r);
	CK_STATUS(&r, 200);
	ck_assert_str_eq(r.body, "stuck");
	CK_UPROP(&r, "DeadLetterReason", "TransferDestinationUnavailable", true);
	http_resp_free(&r);
	ck_assert_int_eq(entity_count("/dst", "MessageCount"), 0);

	ck_assert_int_eq(http_delete("/dst", NULL), 200);
	send_ok("src", "orphan", NULL);
	recv_del("src/$DeadLetterQueue", &r);
	CK_STATUS(&r, 200);
	ck_assert_str_eq(r.body, "orphan");
	CK_UPROP(&r, "DeadLetterReason", "TransferDestinationUnavailable", true);
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

START_TEST(correlation_filter_typed_properties)
{
	BROKER_START();
	mk_topic("t", NULL);
	mk_sub("t", "big", NULL);
	rm_rule("t", "big", "$Default");
	mk_rule("t", "big", "size42",
		"<Filter i:type=\"CorrelationFilter\"><Properties><KeyValueOfstringanyType><Key>size</Key>"
		"<Value i:type=\"d6p1:long\" xmlns:d6p1=\"" NS_XSD "\">42</Value></KeyValueOfstringanyType>"
		"</Properties></Filter><Action i:type=\"EmptyRuleAction\"/>");
	mk_sub("t", "flag", NULL);
	rm_rule("t", "flag", "$Default");
	mk_rule("t", "flag", "on",
		"<Filter i:type=\"CorrelationFilter\"><Properties><KeyValueOfstringanyType><Key>on</Key>"
		"<Value i:type=\"d6p1:boolean\" xmlns:d6p1=\"" NS_XSD "\">true</Value></KeyValueOfstringanyType>"
		"</Properties></Filter><Action i:type=\"EmptyRuleAction\"/>");
	const char *const n42[] = { "size: 42", NULL };
	const char *const s42[] = { "size: \"42\"", NULL };
	const char *const n43[] = { "size: 43", NULL };
	const char *const on[] = { "on: true", NULL };
	const char *const son[] = { "on: \"true\"", NULL };
	ck_assert_int_eq(send_msg("t", "n42", "text/plain", NULL, n42, NULL), 201);
	ck_assert_int_eq(send_msg("t", "s42", "text/plain", NULL, s42, NULL), 201);
	ck_assert_int_eq(send_msg("t", "n43", "text/plain", NULL, n43, NULL), 201);
	ck_assert_int_eq(send_msg("t", "on", "text/plain", NULL, on, NULL), 201);
	ck_assert_int_eq(send_msg("t", "son", "text/plain", NULL, son, NULL), 201);
	recv_del_body("t/subscriptions/big", "n42"); /* the string "42" is not the number 42 */
	recv_empty("t/subscriptions/big");
	recv_del_body("t/subscriptions/flag", "on");
	recv_empty("t/subscriptions/flag");
	BROKER_STOP();
}
END_TEST

/* ---- entity lifecycle ------------------------------------------------------------------ */

START_TEST(auto_delete_on_idle)
{
	BROKER_START();
	mk_queue("idle", "<AutoDeleteOnIdle>PT5M</AutoDeleteOnIdle>");
	mk_queue("busy", NULL);
	emu_advance_ms(240000);
	send_ok("idle", "activity", NULL); /* a send resets the idle timer */
	emu_advance_ms(240000);            /* +8 min total, 4 min idle */
	ck_assert_int_eq(http_get("/idle", NULL), 200);
	emu_advance_ms(61000); /* 5 min 1 s idle */
	ck_assert_int_eq(http_get("/idle", NULL), 404);
	struct http_resp r;
	send_msg("idle", "x", "text/plain", NULL, NULL, &r);
	CK_STATUS(&r, 410);
	http_resp_free(&r);
	ck_assert_int_eq(http_get("/busy", NULL), 200); /* infinite by default */

	/* idle topics go too, with their subscriptions */
	mk_topic("it", "<AutoDeleteOnIdle>PT5M</AutoDeleteOnIdle>");
	mk_sub("it", "s", NULL);
	emu_advance_ms(301000);
	ck_assert_int_eq(http_get("/it", NULL), 404);
	ck_assert_int_eq(http_get("/it/subscriptions/s", NULL), 404);
	BROKER_STOP();
}
END_TEST

START_TEST(auto_delete_on_idle_subscription)
{
	BROKER_START();
	/* receiving and browsing keep a subscription alive (spec §3.12) */
	mk_topic("live", NULL);
	mk_sub("live", "s", "<AutoDeleteOnIdle>PT5M</AutoDeleteOnIdle>");
	send_ok("live", "keepalive1", NULL);
	send_ok("live", "keepalive2", NULL);
	emu_advance_ms(240000);
	recv_del_body("live/subscriptions/s", "keepalive1"); /* receive at 4 min */
	emu_advance_ms(240000);
	json_t *pk = emu_peek("live/subscriptions/s", 0, 10); /* browse (one message) at 8 min */
	ck_assert_int_eq(json_array_size(pk), 1);
	json_decref(pk);
	emu_advance_ms(240000);
	ck_assert_int_eq(http_get("/live/subscriptions/s", NULL), 200); /* 12 min */
	recv_del_body("live/subscriptions/s", "keepalive2");           /* receive at 12 min */
	emu_advance_ms(240000);
	pk = emu_peek("live/subscriptions/s", 0, 10); /* browse of the now empty subscription at 16 min */
	ck_assert_int_eq(json_array_size(pk), 0);
	json_decref(pk);
	emu_advance_ms(240000);
	ck_assert_msg(http_get("/live/subscriptions/s", NULL) == 200,
		      "a browse resets the idle timer even when it finds nothing (20 min)");
	emu_advance_ms(61000);
	ck_assert_int_eq(http_get("/live/subscriptions/s", NULL), 404);
	ck_assert_int_eq(http_get("/live", NULL), 200);
	BROKER_STOP();
}
END_TEST

static void set_status(const char *q, const char *status)
{
	struct http_resp r;
	put_queue(q, sfmt("<Status>%s</Status>", status), true, &r);
	ck_assert_msg(r.status == 200, "set %s to %s: %s", q, status, http_desc(&r));
	http_resp_free(&r);
}

START_TEST(entity_status)
{
	BROKER_START();
	mk_queue("q", NULL);
	send_ok("q", "m1", NULL);
	send_ok("q", "m2", NULL);
	struct http_resp r;

	set_status("q", "SendDisabled");
	send_msg("q", "no", "text/plain", NULL, NULL, &r);
	CK_STATUS(&r, 403);
	http_resp_free(&r);
	recv_del_body("q", "m1");

	set_status("q", "ReceiveDisabled");
	send_ok("q", "m3", NULL);
	recv_del("q", &r);
	CK_STATUS(&r, 403);
	http_resp_free(&r);
	recv_lock("q", &r);
	CK_STATUS(&r, 403);
	http_resp_free(&r);

	set_status("q", "Disabled");
	send_msg("q", "no", "text/plain", NULL, NULL, &r);
	CK_STATUS(&r, 403);
	http_resp_free(&r);
	recv_del("q", &r);
	CK_STATUS(&r, 403);
	http_resp_free(&r);
	/* messages are kept while disabled */
	ck_assert_int_eq(entity_count("/q", "ActiveMessageCount"), 2);

	set_status("q", "Active");
	recv_del_body("q", "m2");
	recv_del_body("q", "m3");
	recv_empty("q");

	/* a disabled topic refuses sends; a disabled subscription refuses receives */
	mk_topic("t", "<Status>Disabled</Status>");
	mk_sub("t", "s", NULL);
	send_msg("t", "no", "text/plain", NULL, NULL, &r);
	CK_STATUS(&r, 403);
	http_resp_free(&r);
	put_topic("t", NULL, true, &r);
	CK_STATUS(&r, 200);
	http_resp_free(&r);
	put_sub("t", "s", "<Status>Disabled</Status>", true, &r);
	CK_STATUS(&r, 200);
	http_resp_free(&r);
	recv_del("t/subscriptions/s", &r);
	CK_STATUS(&r, 403);
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

/* ---- topics and filters ---------------------------------------------------------------- */

START_TEST(topic_fan_out_and_filters)
{
	BROKER_START();
	mk_topic("t", NULL);
	mk_sub("t", "all", NULL);
	mk_sub("t", "all2", NULL);
	mk_sub("t", "red", NULL);
	rm_rule("t", "red", "$Default");
	mk_rule("t", "red", "isred", corr_filter_prop("color", "red"));
	mk_sub("t", "none", NULL);
	rm_rule("t", "none", "$Default");
	mk_rule("t", "none", "never", "<Filter i:type=\"FalseFilter\"><SqlExpression>1=0</SqlExpression></Filter>"
				      "<Action i:type=\"EmptyRuleAction\"/>");
	mk_sub("t", "cid", NULL);
	rm_rule("t", "cid", "$Default");
	mk_rule("t", "cid", "bycid", "<Filter i:type=\"CorrelationFilter\"><CorrelationId>c-7</CorrelationId>"
				     "<Label>invoice</Label></Filter><Action i:type=\"EmptyRuleAction\"/>");

	const char *const red[] = { "color: \"red\"", NULL };
	const char *const blue[] = { "color: \"blue\"", NULL };
	ck_assert_int_eq(send_msg("t", "r1", "text/plain", "{\"MessageId\":\"mr\"}", red, NULL), 201);
	ck_assert_int_eq(send_msg("t", "b1", "text/plain", NULL, blue, NULL), 201);
	send_ok("t", "c1", "{\"CorrelationId\":\"c-7\",\"Label\":\"invoice\"}");
	send_ok("t", "c2", "{\"CorrelationId\":\"c-7\",\"Label\":\"receipt\"}"); /* all fields must match */

	/* $Default gets everything, in order, each subscription its own copy */
	const char *everything[] = { "r1", "b1", "c1", "c2" };
	for (int i = 0; i < 4; i++)
		recv_del_body("t/subscriptions/all", everything[i]);
	recv_empty("t/subscriptions/all");
	struct http_resp l;
	recv_lock_body("t/subscriptions/all2", "r1", &l);
	char *lp = lock_path(&l);
	ck_assert_msg(lp != NULL && strncasecmp(lp, "/t/subscriptions/all2/messages/", 31) == 0,
		      "subscription Location: %s", http_desc(&l));
	free(lp);
	ck_assert_int_eq(complete_msg(&l), 200);
	http_resp_free(&l);
	ck_assert_int_eq(entity_count("/t/subscriptions/all2", "ActiveMessageCount"), 3);

	/* correlation filter on a user property */
	struct http_resp r;
	recv_del("t/subscriptions/red", &r);
	CK_STATUS(&r, 200);
	ck_assert_str_eq(r.body, "r1");
	CK_BP_STR(&r, "MessageId", "mr");
	CK_UPROP(&r, "color", "red", true);
	http_resp_free(&r);
	recv_empty("t/subscriptions/red");

	/* correlation filter on system properties */
	recv_del_body("t/subscriptions/cid", "c1");
	recv_empty("t/subscriptions/cid");

	/* false filter */
	recv_empty("t/subscriptions/none");
	ck_assert_int_eq(entity_count("/t/subscriptions/none", "MessageCount"), 0);

	/* one copy per subscription even when several action-less rules match */
	mk_rule("t", "red", "alsored", corr_filter_prop("color", "red"));
	ck_assert_int_eq(send_msg("t", "r2", "text/plain", NULL, red, NULL), 201);
	recv_del_body("t/subscriptions/red", "r2");
	recv_empty("t/subscriptions/red");
	BROKER_STOP();
}
END_TEST

START_TEST(topic_without_match_drops)
{
	BROKER_START();
	mk_topic("t", NULL);
	/* no subscriptions at all */
	send_ok("t", "void", NULL);
	mk_sub("t", "only", NULL);
	recv_empty("t/subscriptions/only"); /* the topic kept nothing */
	rm_rule("t", "only", "$Default");
	mk_rule("t", "only", "never", "<Filter i:type=\"FalseFilter\"><SqlExpression>1=0</SqlExpression></Filter>");
	send_ok("t", "lost", NULL);
	recv_empty("t/subscriptions/only");
	mk_rule("t", "only", "all", "<Filter i:type=\"TrueFilter\"><SqlExpression>1=1</SqlExpression></Filter>");
	recv_empty("t/subscriptions/only"); /* dropped, not retained for later rules */
	send_ok("t", "found", NULL);
	recv_del_body("t/subscriptions/only", "found");
	BROKER_STOP();
}
END_TEST

START_TEST(topic_sequence_numbers_and_sub_ttl)
{
	BROKER_START();
	mk_topic("t", NULL);
	mk_sub("t", "a", "<DefaultMessageTimeToLive>PT30S</DefaultMessageTimeToLive>");
	send_ok("t", "m1", NULL);
	mk_sub("t", "b", NULL);
	send_ok("t", "m2", "{\"TimeToLive\":3600}");
	/* the topic numbers the messages; every subscription keeps the topic's number */
	ck_assert_int_eq(recv_del_body("t/subscriptions/a", "m1"), 1);
	struct http_resp r;
	recv_del("t/subscriptions/a", &r);
	CK_STATUS(&r, 200);
	ck_assert_str_eq(r.body, "m2");
	CK_BP_INT(&r, "SequenceNumber", 2);
	CK_BP_INT(&r, "TimeToLive", 30); /* capped by the subscription's default */
	http_resp_free(&r);
	recv_del("t/subscriptions/b", &r);
	CK_STATUS(&r, 200);
	ck_assert_str_eq(r.body, "m2");
	CK_BP_INT(&r, "SequenceNumber", 2);
	CK_BP_INT(&r, "TimeToLive", 3600);
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

/* ---- long polling ---------------------------------------------------------------------- */

/* Starts a long poll and checks that it parks (does not return on its own at once). */
static void poll_start(struct http_async *j, const char *method, const char *path)
{
	http_async_start(j, method, path, 45000);
	/* let the request reach the broker and park; it must not return on its own */
	h_sleep_ms(400);
	ck_assert_msg(!http_async_done(j), "a receive with timeout=30 returned at once: %s", http_desc(&j->resp));
}

START_TEST(long_poll_woken_by_send)
{
	BROKER_START();
	mk_queue("q", NULL);
	mk_topic("t", NULL);
	mk_sub("t", "s", NULL);
	struct http_async jq, js;
	poll_start(&jq, "POST", "/q/messages/head?timeout=30");
	poll_start(&js, "DELETE", "/t/subscriptions/s/messages/head?timeout=30");
	send_ok("q", "wake-up", NULL);
	send_ok("t", "wake-sub", NULL);
	http_async_wait(&jq, 10000);
	http_async_wait(&js, 10000);
	CK_STATUS(&jq.resp, 201);
	ck_assert_str_eq(jq.resp.body, "wake-up");
	CK_BP_INT(&jq.resp, "SequenceNumber", 1);
	ck_assert_int_eq(complete_msg(&jq.resp), 200);
	CK_STATUS(&js.resp, 200);
	ck_assert_str_eq(js.resp.body, "wake-sub");
	ck_assert_msg(jq.elapsed_ms < 10000 && js.elapsed_ms < 10000, "woken promptly (%lld / %lld ms)",
		      (long long)jq.elapsed_ms, (long long)js.elapsed_ms);
	http_resp_free(&jq.resp);
	http_resp_free(&js.resp);
	recv_empty("q");
	BROKER_STOP();
}
END_TEST

START_TEST(long_poll_times_out_on_clock)
{
	BROKER_START();
	mk_queue("q", NULL);
	struct http_async j;
	poll_start(&j, "DELETE", "/q/messages/head?timeout=30");
	emu_advance_ms(29000);
	h_sleep_ms(100);
	ck_assert_msg(!http_async_done(&j), "returned before its deadline: %s", http_desc(&j.resp));
	emu_advance_ms(2000);
	/* On a very slow machine the request may have parked only after the first advance; give it
	 * its full 30 s of manual time once more rather than waiting for the real-time fallback. */
	int64_t until = h_mono_ms() + 3000;
	while (!http_async_done(&j) && h_mono_ms() < until)
		h_sleep_ms(5);
	if (!http_async_done(&j)) {
		fprintf(stderr, "long_poll_times_out_on_clock: parked late; advancing another 31 s\n");
		emu_advance_ms(31000);
	}
	http_async_wait(&j, 10000);
	CK_STATUS(&j.resp, 204);
	ck_assert_msg(j.elapsed_ms < 10000, "ended by the manual clock, not real time (%lld ms)", (long long)j.elapsed_ms);
	http_resp_free(&j.resp);
	/* a message sent afterwards is still there (the timed-out receive took nothing) */
	send_ok("q", "after", NULL);
	recv_del_body("q", "after");
	BROKER_STOP();
}
END_TEST

START_TEST(scheduled_activation_semantics)
{
	BROKER_START();
	mk_queue("q", NULL);
	int64_t now = emu_now_ms();
	int64_t at = now + 60000;
	send_ok("q", "sched", sfmt("{\"ScheduledEnqueueTimeUtc\":\"%s\",\"TimeToLive\":30}", rfc1123(at)));
	send_ok("q", "direct", NULL);
	json_t *arr = emu_peek("q", 0, 10);
	ck_assert_int_eq(json_array_size(arr), 2);
	CK_J_INT(json_object_get(json_array_get(arr, 0), "BrokerProperties"), "SequenceNumber", 1);
	json_decref(arr);
	recv_del_body("q", "direct"); /* seq 2 */
	emu_advance_ms(61000);
	/* activated as if newly enqueued: a new sequence number, and the TTL runs from activation */
	emu_advance_ms(25000); /* 86 s after sending, 26 s after activation */
	struct http_resp r;
	recv_del("q", &r);
	CK_STATUS(&r, 200);
	ck_assert_str_eq(r.body, "sched");
	CK_BP_INT(&r, "SequenceNumber", 3);
	json_t *bp = resp_bp(&r);
	const char *enq = jstr(bp, "EnqueuedTimeUtc");
	int64_t enq_ms = 0;
	ck_assert_msg(enq != NULL && timefmt_parse_http_date(enq, &enq_ms) == LZ_OK, "EnqueuedTimeUtc: %s", http_desc(&r));
	ck_assert_msg(enq_ms >= at - 1000 && enq_ms <= now + 61000, "EnqueuedTimeUtc %s is the activation time", enq);
	json_decref(bp);
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

START_TEST(dead_letter_queue_is_final)
{
	BROKER_START();
	mk_queue("q", "<MaxDeliveryCount>1</MaxDeliveryCount><LockDuration>PT10S</LockDuration>");
	send_ok("q", "dead", NULL);
	struct http_resp l;
	recv_lock_body("q", "dead", &l);
	ck_assert_int_eq(abandon_msg(&l), 200);
	http_resp_free(&l);
	/* abandons and lock expiries in the DLQ never move it again */
	for (int i = 0; i < 3; i++) {
		recv_lock_body("q/$DeadLetterQueue", "dead", &l);
		ck_assert_int_eq(abandon_msg(&l), 200);
		http_resp_free(&l);
	}
	recv_lock_body("q/$DeadLetterQueue", "dead", &l);
	http_resp_free(&l);
	emu_advance_ms(11000);
	ck_assert_int_eq(entity_count("/q", "DeadLetterMessageCount"), 1);
	recv_del_body("q/$DeadLetterQueue", "dead");
	recv_empty("q/$DeadLetterQueue");
	recv_empty("q");
	BROKER_STOP();
}
END_TEST

START_TEST(parked_receive_entity_deleted_or_disabled)
{
	BROKER_START();
	mk_queue("q", NULL);
	mk_queue("q2", NULL);
	struct http_async a, b;
	poll_start(&a, "POST", "/q/messages/head?timeout=30");
	poll_start(&b, "DELETE", "/q2/messages/head?timeout=30");
	ck_assert_int_eq(http_delete("/q", NULL), 200);
	http_async_wait(&a, 10000);
	CK_STATUS(&a.resp, 410);
	http_resp_free(&a.resp);
	struct http_resp r;
	put_queue("q2", "<Status>ReceiveDisabled</Status>", true, &r);
	CK_STATUS(&r, 200);
	http_resp_free(&r);
	http_async_wait(&b, 10000);
	CK_STATUS(&b.resp, 403);
	http_resp_free(&b.resp);
	BROKER_STOP();
}
END_TEST

/* ---- concurrency ----------------------------------------------------------------------- */

#define SENDERS 4
#define PER_SENDER 50

struct sender {
	int id;
	int fails;
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	for (int i = 0; i < PER_SENDER; i++)
		if (send_msg("cq", sfmt("t%d-%d", s->id, i), "text/plain", NULL, NULL, NULL) != 201)
			s->fails++;
	return NULL;
}

START_TEST(concurrent_senders)
{
	BROKER_START();
	mk_queue("cq", NULL);
	pthread_t th[SENDERS];
	struct sender s[SENDERS];
	for (int i = 0; i < SENDERS; i++) {
		s[i].id = i;
		s[i].fails = 0;
		ck_assert_int_eq(pthread_create(&th[i], NULL, sender_main, &s[i]), 0);
	}
	for (int i = 0; i < SENDERS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(s[i].fails == 0, "sender %d: %d sends failed", i, s[i].fails);
	}
	ck_assert_int_eq(entity_count("/cq", "ActiveMessageCount"), SENDERS * PER_SENDER);

	/* every sequence number once, gap-free; each sender's messages in its own order */
	bool seen[SENDERS * PER_SENDER + 1] = { false };
	int next[SENDERS] = { 0 };
	int64_t last = 0;
	for (int k = 0; k < SENDERS * PER_SENDER; k++) {
		struct http_resp r;
		recv_del("cq", &r);
		CK_STATUS(&r, 200);
		json_t *bp = resp_bp(&r);
		bool ok;
		int64_t seq = jint(bp, "SequenceNumber", &ok);
		json_decref(bp);
		ck_assert_msg(ok && seq >= 1 && seq <= SENDERS * PER_SENDER && !seen[seq], "seq %lld", (long long)seq);
		ck_assert_msg(seq > last, "receive order follows sequence numbers (%lld after %lld)", (long long)seq,
			      (long long)last);
		seen[seq] = true;
		last = seq;
		int id = -1, idx = -1;
		ck_assert_msg(sscanf(r.body, "t%d-%d", &id, &idx) == 2 && id >= 0 && id < SENDERS, "body %s", r.body);
		ck_assert_msg(idx == next[id], "sender %d: got #%d, want #%d", id, idx, next[id]);
		next[id]++;
		http_resp_free(&r);
	}
	recv_empty("cq");
	BROKER_STOP();
}
END_TEST

START_TEST(concurrent_receivers_no_double_delivery)
{
	BROKER_START();
	mk_queue("q", NULL);
	for (int i = 0; i < 40; i++)
		send_ok("q", sfmt("m%d", i), NULL);
	/* 8 parked peek-lock receives; each must get a different message */
	struct http_async a[8];
	for (int i = 0; i < 8; i++)
		http_async_start(&a[i], "POST", "/q/messages/head?timeout=5", 20000);
	bool got[40] = { false };
	for (int i = 0; i < 8; i++) {
		http_async_wait(&a[i], 10000);
		CK_STATUS(&a[i].resp, 201);
		int idx = -1;
		ck_assert(sscanf(a[i].resp.body, "m%d", &idx) == 1 && idx >= 0 && idx < 40);
		ck_assert_msg(!got[idx], "m%d delivered twice under lock", idx);
		got[idx] = true;
	}
	for (int i = 0; i < 8; i++) {
		ck_assert_int_eq(complete_msg(&a[i].resp), 200);
		http_resp_free(&a[i].resp);
	}
	ck_assert_int_eq(entity_count("/q", "ActiveMessageCount"), 32);
	BROKER_STOP();
}
END_TEST

/* ---- errors ---------------------------------------------------------------------------- */

START_TEST(errors_unknown_entity_410)
{
	BROKER_START();
	struct http_resp r;
	send_msg("nosuch", "x", "text/plain", NULL, NULL, &r);
	CK_STATUS(&r, 410);
	/* Azure's error body */
	char *code = xml_text(r.body, "Code");
	ck_assert_msg(code != NULL && strcmp(code, "410") == 0, "<Error><Code>410</Code>: %s", http_desc(&r));
	free(code);
	ck_assert_msg(xml_count(r.body, "Detail") == 1, "<Detail>: %s", http_desc(&r));
	http_resp_free(&r);
	recv_lock("nosuch", &r);
	CK_STATUS(&r, 410);
	http_resp_free(&r);
	recv_del("nosuch", &r);
	CK_STATUS(&r, 410);
	http_resp_free(&r);
	mk_topic("t", NULL);
	recv_del("t/subscriptions/nosub", &r);
	CK_STATUS(&r, 410);
	http_resp_free(&r);
	ck_assert_int_eq(http_delete("/nosuch/messages/1/00000000-0000-4000-8000-000000000000", NULL), 410);
	/* a deleted queue is gone for the data plane too */
	mk_queue("q", NULL);
	send_ok("q", "x", NULL);
	ck_assert_int_eq(http_delete("/q", NULL), 200);
	recv_del("q", &r);
	CK_STATUS(&r, 410);
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

START_TEST(errors_bad_requests_400)
{
	BROKER_START();
	mk_queue("q", NULL);
	const char *bad_bp[] = {
		"{not json",
		"[1,2]",
		"{\"TimeToLive\":\"abc\"}",
		"{\"TimeToLive\":-5}",
		"{\"MessageId\":42}",
		"{\"ScheduledEnqueueTimeUtc\":\"yesterday\"}",
		NULL,
	};
	struct http_resp r;
	for (const char **b = bad_bp; *b != NULL; b++) {
		send_msg("q", "x", "text/plain", *b, NULL, &r);
		ck_assert_msg(r.status == 400, "BrokerProperties %s: %s", *b, http_desc(&r));
		http_resp_free(&r);
	}
	char longid[160];
	memset(longid, 'i', 129);
	longid[129] = '\0';
	send_msg("q", "x", "text/plain", sfmt("{\"MessageId\":\"%s\"}", longid), NULL, &r);
	CK_STATUS(&r, 400);
	http_resp_free(&r);
	/* nothing of that was enqueued */
	ck_assert_int_eq(entity_count("/q", "MessageCount"), 0);

	/* a bad timeout */
	http_request("DELETE", "/q/messages/head?timeout=abc", NULL, 0, NULL, NULL, 0, &r);
	CK_STATUS(&r, 400);
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

START_TEST(errors_oversize_403)
{
	BROKER_START();
	mk_queue("q", NULL);
	size_t big = 262144 + 1024;
	char *body = malloc(big);
	ck_assert(body != NULL);
	memset(body, 'x', big);
	struct http_resp r;
	http_post("/q/messages", body, big, "application/octet-stream", NULL, &r);
	CK_STATUS(&r, 403);
	http_resp_free(&r);
	/* a big but allowed message goes through intact */
	http_post("/q/messages", body, 200000, "application/octet-stream", NULL, &r);
	CK_STATUS(&r, 201);
	http_resp_free(&r);
	recv_del("q", &r);
	CK_STATUS(&r, 200);
	ck_assert_int_eq(r.len, 200000);
	ck_assert_msg(memcmp(r.body, body, 200000) == 0, "large body intact");
	http_resp_free(&r);
	free(body);
	BROKER_STOP();
}
END_TEST

START_TEST(errors_oversize_configured_limit)
{
	BROKER_START_ENV("LOCALZURE_MAX_MESSAGE_SIZE=1024");
	mk_queue("q", NULL);
	char body[2049];
	memset(body, 'y', 2048);
	body[2048] = '\0';
	struct http_resp r;
	send_msg("q", body, "text/plain", NULL, NULL, &r);
	CK_STATUS(&r, 403);
	http_resp_free(&r);
	body[500] = '\0';
	send_msg("q", body, "text/plain", NULL, NULL, &r);
	CK_STATUS(&r, 201);
	http_resp_free(&r);
	/* a batch that is too big as a whole */
	char *batch = NULL;
	memset(body, 'z', 600);
	body[600] = '\0';
	ck_assert(asprintf(&batch, "[{\"Body\":\"%s\"},{\"Body\":\"%s\"}]", body, body) > 0);
	http_post_str("/q/messages", batch, "application/vnd.microsoft.servicebus.json", NULL, &r);
	CK_STATUS(&r, 403);
	http_resp_free(&r);
	free(batch);
	/* properties count toward the size */
	memset(body, 'w', 900);
	body[900] = '\0';
	char prop[400];
	memset(prop, 'v', 300);
	prop[300] = '\0';
	const char *const big_prop[] = { sfmt("p: \"%s\"", prop), NULL };
	send_msg("q", body, "text/plain", NULL, big_prop, &r);
	CK_STATUS(&r, 403);
	http_resp_free(&r);
	ck_assert_int_eq(entity_count("/q", "ActiveMessageCount"), 1);
	BROKER_STOP();
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("messaging");
	TCase *tc = h_tcase("basic");
	tcase_add_test(tc, send_receive_and_delete);
	tcase_add_test(tc, fifo_and_sequence_numbers);
	tcase_add_test(tc, content_type_roundtrip);
	tcase_add_test(tc, user_property_typing);
	tcase_add_test(tc, batch_send);
	tcase_add_test(tc, batch_many_and_unicode);
	suite_add_tcase(s, tc);

	tc = h_tcase("locks");
	tcase_add_test(tc, peek_lock_complete_abandon);
	tcase_add_test(tc, abandon_keeps_position);
	tcase_add_test(tc, lock_expiry_redelivers_in_order);
	tcase_add_test(tc, renew_lock);
	tcase_add_test(tc, max_delivery_count_dead_letters);
	tcase_add_test(tc, dead_letter_queue_is_final);
	suite_add_tcase(s, tc);

	tc = h_tcase("time");
	tcase_add_test(tc, ttl_expiry_drops);
	tcase_add_test(tc, ttl_expiry_dead_letters);
	tcase_add_test(tc, ttl_capped_by_entity_default);
	tcase_add_test(tc, scheduled_messages);
	tcase_add_test(tc, scheduled_activation_semantics);
	tcase_add_test(tc, duplicate_detection);
	tcase_add_test(tc, auto_delete_on_idle);
	tcase_add_test(tc, auto_delete_on_idle_subscription);
	suite_add_tcase(s, tc);

	tc = h_tcase("routing");
	tcase_add_test(tc, forward_to);
	tcase_add_test(tc, forward_dead_lettered);
	tcase_add_test(tc, forward_loop_protection);
	tcase_add_test(tc, forward_to_unavailable_destination);
	tcase_add_test(tc, correlation_filter_typed_properties);
	tcase_add_test(tc, entity_status);
	tcase_add_test(tc, topic_fan_out_and_filters);
	tcase_add_test(tc, topic_without_match_drops);
	tcase_add_test(tc, topic_sequence_numbers_and_sub_ttl);
	suite_add_tcase(s, tc);

	tc = h_tcase("longpoll");
	tcase_add_test(tc, long_poll_woken_by_send);
	tcase_add_test(tc, long_poll_times_out_on_clock);
	tcase_add_test(tc, parked_receive_entity_deleted_or_disabled);
	tcase_add_test(tc, concurrent_senders);
	tcase_add_test(tc, concurrent_receivers_no_double_delivery);
	suite_add_tcase(s, tc);

	tc = h_tcase("errors");
	tcase_add_test(tc, errors_unknown_entity_410);
	tcase_add_test(tc, errors_bad_requests_400);
	tcase_add_test(tc, errors_oversize_403);
	tcase_add_test(tc, errors_oversize_configured_limit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return h_run_suite(suite());
}
