/* Unit tests for broker/brokerprops: the BrokerProperties header both ways, user properties as
 * headers, the batch-send body and the emulator's JSON message form, including every error
 * path of the parsers. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/brokerprops.h"
#include "common/duration.h"
#include "common/err.h"
#include "common/timefmt.h"

#define ck_assert_err(expr, want)                                                          \
	do {                                                                               \
		lz_err got_ = (expr);                                                      \
		ck_assert_msg(got_ == (want), "%s: got %s, want %s", #expr, err_name(got_), \
			      err_name(want));                                             \
	} while (0)

/* Sun, 06 Nov 1994 08:49:37 GMT */
#define RFC_EXAMPLE_MS 784111777000LL

static lz_err parse(const char *json, struct msg_props *p, struct lz_detail *d)
{
	memset(p, 0, sizeof(*p));
	d->text[0] = '\0';
	return brokerprops_parse(json, strlen(json), p, d);
}

/* Parses `json`, expects `want` and a detail naming `key`; the props are left released. */
static void expect_parse_error(const char *json, lz_err want, const char *key)
{
	struct msg_props p;
	struct lz_detail d;

	ck_assert_err(parse(json, &p, &d), want);
	ck_assert_msg(strstr(d.text, key) != NULL, "detail '%s' does not name '%s' (input %s)", d.text, key, json);
	ck_assert_ptr_null(p.message_id);
	ck_assert_ptr_null(p.label);
	ck_assert_ptr_null(p.session_id);
}

START_TEST(test_parse_all_keys)
{
	struct msg_props p;
	struct lz_detail d;

	ck_assert_err(parse("{\"ViaPartitionKey\":\"v\",\"To\":\"dest\",\"TimeToLive\":30,\"SessionId\":\"s1\","
			    "\"ScheduledEnqueueTimeUtc\":\"Sun, 06 Nov 1994 08:49:37 GMT\",\"ReplyToSessionId\":\"rs\","
			    "\"ReplyTo\":\"q2\",\"PartitionKey\":\"s1\",\"MessageId\":\"m-42\",\"Label\":\"created\","
			    "\"ForcePersistence\":true,\"CorrelationId\":\"c\",\"ContentType\":\"text/plain\"}",
			    &p, &d),
		      LZ_OK);
	ck_assert_str_eq(p.message_id, "m-42");
	ck_assert_str_eq(p.correlation_id, "c");
	ck_assert_str_eq(p.session_id, "s1");
	ck_assert_str_eq(p.reply_to, "q2");
	ck_assert_str_eq(p.reply_to_session_id, "rs");
	ck_assert_str_eq(p.to, "dest");
	ck_assert_str_eq(p.label, "created");
	ck_assert_str_eq(p.partition_key, "s1");
	ck_assert_str_eq(p.via_partition_key, "v");
	ck_assert_str_eq(p.content_type, "text/plain");
	ck_assert(p.has_ttl);
	ck_assert_int_eq(p.ttl_ms, 30000);
	ck_assert_int_eq(p.scheduled_enqueue_ms, RFC_EXAMPLE_MS);
	ck_assert(p.force_persistence);
	msg_props_release(&p);
}
END_TEST

START_TEST(test_parse_ignores_unknown_readonly_null)
{
	struct msg_props p;
	struct lz_detail d;

	ck_assert_err(parse(" {\"SequenceNumber\":7,\"LockToken\":\"x\",\"DeliveryCount\":\"bad type is fine\","
			    "\"State\":\"Active\",\"EnqueuedTimeUtc\":[1,{\"a\":[]}],\"Whatever\":{\"x\":null},"
			    "\"Label\":null,\"MessageId\":\"m\",\"TimeToLiveTimeSpan\":\"bad\"} \t",
			    &p, &d),
		      LZ_OK);
	ck_assert_str_eq(p.message_id, "m");
	ck_assert_ptr_null(p.label);
	ck_assert(!p.has_ttl); /* TimeToLiveTimeSpan belongs to the batch body only */
	msg_props_release(&p);

	ck_assert_err(parse("", &p, &d), LZ_OK);
	ck_assert_err(parse("  \t", &p, &d), LZ_OK);
	ck_assert_err(parse("{}", &p, &d), LZ_OK);
	ck_assert_ptr_null(p.message_id);
	ck_assert(!p.has_ttl);
	ck_assert_int_eq(p.scheduled_enqueue_ms, 0);
}
END_TEST

START_TEST(test_parse_values)
{
	static const struct {
		const char *json;
		int64_t ttl_ms;
	} ttls[] = {
		{ "{\"TimeToLive\":0}", 0 },
		{ "{\"TimeToLive\":0.5}", 500 },
		{ "{\"TimeToLive\":1e2}", 100000 },
		{ "{\"TimeToLive\":-0}", 0 },
		{ "{\"TimeToLive\":922337203685.47754}", DURATION_INFINITE },
		{ "{\"TimeToLive\":99999999999999999999999}", DURATION_INFINITE },
	};
	struct msg_props p;
	struct lz_detail d;

	for (size_t i = 0; i < sizeof(ttls) / sizeof(ttls[0]); i++) {
		ck_assert_err(parse(ttls[i].json, &p, &d), LZ_OK);
		ck_assert(p.has_ttl);
		ck_assert_msg(p.ttl_ms == ttls[i].ttl_ms, "%s: %lld", ttls[i].json, (long long)p.ttl_ms);
	}
	ck_assert_err(parse("{\"ScheduledEnqueueTimeUtc\":\"1994-11-06T08:49:37.250Z\"}", &p, &d), LZ_OK);
	ck_assert_int_eq(p.scheduled_enqueue_ms, RFC_EXAMPLE_MS + 250);
	ck_assert_err(parse("{\"ForcePersistence\":false}", &p, &d), LZ_OK);
	ck_assert(!p.force_persistence);

	/* escapes, and the last of duplicate keys wins */
	ck_assert_err(parse("{\"Label\":\"first\",\"Label\":\"a\\\"b\\\\c\\/d\\n\\t\\u00e9\\ud83d\\ude00\"}", &p, &d),
		      LZ_OK);
	ck_assert_str_eq(p.label, "a\"b\\c/d\n\t\xc3\xa9\xf0\x9f\x98\x80");
	msg_props_release(&p);
	ck_assert_err(parse("{\"Label\":\"\\u20AC\\u20ac\\b\\f\\r\",\"TimeToLive\":1E+1}", &p, &d), LZ_OK);
	ck_assert_str_eq(p.label, "\xe2\x82\xac\xe2\x82\xac\b\f\r");
	ck_assert_int_eq(p.ttl_ms, 10000);
	msg_props_release(&p);

	/* lengths count characters, not bytes */
	char id[2 * BROKERPROPS_ID_MAX + 32];
	strcpy(id, "{\"MessageId\":\"");
	for (int i = 0; i < BROKERPROPS_ID_MAX; i++)
		strcat(id, "\xc3\xa9");
	strcat(id, "\"}");
	ck_assert_err(parse(id, &p, &d), LZ_OK);
	ck_assert_uint_eq(strlen(p.message_id), 2 * BROKERPROPS_ID_MAX);
	msg_props_release(&p);
}
END_TEST

START_TEST(test_parse_errors)
{
	char longid[BROKERPROPS_ID_MAX + 32];

	/* not JSON, not an object */
	expect_parse_error("{", LZ_EINVAL, "BrokerProperties");
	expect_parse_error("{\"Label\"}", LZ_EINVAL, "BrokerProperties");
	expect_parse_error("{\"Label\":\"x\",}", LZ_EINVAL, "BrokerProperties");
	expect_parse_error("{\"Label\":\"x\"} x", LZ_EINVAL, "BrokerProperties");
	expect_parse_error("{\"Label\":\"x\"", LZ_EINVAL, "BrokerProperties");
	expect_parse_error("{\"Label\":\"x}", LZ_EINVAL, "BrokerProperties");
	expect_parse_error("{Label:\"x\"}", LZ_EINVAL, "BrokerProperties");
	expect_parse_error("{\"TimeToLive\":1e}", LZ_EINVAL, "BrokerProperties");
	expect_parse_error("{\"TimeToLive\":tru}", LZ_EINVAL, "BrokerProperties");
	expect_parse_error("{\"Label\":\"\\x\"}", LZ_EINVAL, "BrokerProperties");
	expect_parse_error("{\"Label\":\"\\u12\"}", LZ_EINVAL, "BrokerProperties");
	expect_parse_error("{\"Label\":\"\\ud800\"}", LZ_EINVAL, "BrokerProperties");
	expect_parse_error("{\"Label\":\"\\udc00\"}", LZ_EINVAL, "BrokerProperties");
	expect_parse_error("{\"Label\":\"\\ud800\\n\"}", LZ_EINVAL, "BrokerProperties");
	expect_parse_error("{\"Label\":\"\\ud800\\u0041\"}", LZ_EINVAL, "BrokerProperties");
	expect_parse_error("{\"Label\":\"\\u", LZ_EINVAL, "BrokerProperties");
	expect_parse_error("{\"Label\":\"\\", LZ_EINVAL, "BrokerProperties");
	expect_parse_error("{\"Label\":\"a\\n", LZ_EINVAL, "BrokerProperties");
	expect_parse_error("{\"TimeToLive\":-}", LZ_EINVAL, "BrokerProperties");
	expect_parse_error("{\"TimeToLive\":1e+}", LZ_EINVAL, "BrokerProperties");
	expect_parse_error("{\"X\":{\"a\" 1}}", LZ_EINVAL, "BrokerProperties");
	expect_parse_error("{\"X\":[1 2]}", LZ_EINVAL, "BrokerProperties");
	expect_parse_error("{\"X\":nul}", LZ_EINVAL, "BrokerProperties");
	expect_parse_error("{\"X\":}", LZ_EINVAL, "BrokerProperties");
	expect_parse_error("[1]", LZ_EINVAL, "object");
	expect_parse_error("\"x\"", LZ_EINVAL, "object");
	/* nesting deeper than cJSON allows (1000 levels), in a member that is otherwise ignored */
	static char deep[2100] = "{\"x\":";
	for (int i = 0; i < 1001; i++)
		strcat(deep, "[");
	for (int i = 0; i < 1001; i++)
		strcat(deep, "]");
	strcat(deep, "}");
	expect_parse_error(deep, LZ_EINVAL, "BrokerProperties");

	/* wrong JSON types name the key */
	expect_parse_error("{\"MessageId\":42}", LZ_EINVAL, "MessageId");
	expect_parse_error("{\"Label\":true}", LZ_EINVAL, "Label");
	expect_parse_error("{\"To\":{\"a\":1}}", LZ_EINVAL, "To");
	expect_parse_error("{\"ReplyTo\":[\"a\"]}", LZ_EINVAL, "ReplyTo");
	expect_parse_error("{\"CorrelationId\":\"a\\u0000b\"}", LZ_EINVAL, "u0000");
	expect_parse_error("{\"TimeToLive\":\"30\"}", LZ_EINVAL, "TimeToLive");
	expect_parse_error("{\"TimeToLive\":true}", LZ_EINVAL, "TimeToLive");
	expect_parse_error("{\"ScheduledEnqueueTimeUtc\":784111777}", LZ_EINVAL, "ScheduledEnqueueTimeUtc");
	expect_parse_error("{\"ScheduledEnqueueTimeUtc\":\"tomorrow\"}", LZ_EINVAL, "ScheduledEnqueueTimeUtc");
	expect_parse_error("{\"ScheduledEnqueueTimeUtc\":\"Mon, 06 Nov 1994 08:49:37 GMT\"}", LZ_EINVAL,
			   "ScheduledEnqueueTimeUtc");
	expect_parse_error("{\"ForcePersistence\":\"true\"}", LZ_EINVAL, "ForcePersistence");

	/* ranges */
	expect_parse_error("{\"TimeToLive\":-1}", LZ_ERANGE, "TimeToLive");
	expect_parse_error("{\"Label\":\"x\",\"TimeToLive\":-0.5}", LZ_ERANGE, "TimeToLive");
	memset(longid, 'a', sizeof(longid));
	memcpy(longid, "{\"SessionId\":\"", 14);
	strcpy(longid + 14 + BROKERPROPS_ID_MAX + 1, "\"}");
	expect_parse_error(longid, LZ_ERANGE, "SessionId");
	expect_parse_error("{\"SessionId\":\"a\",\"PartitionKey\":\"b\"}", LZ_EINVAL, "PartitionKey");

	/* a NULL detail is allowed */
	struct msg_props p = { 0 };
	ck_assert_err(brokerprops_parse("{\"TimeToLive\":-1}", 17, &p, NULL), LZ_ERANGE);
	ck_assert_err(brokerprops_parse("{", 1, &p, NULL), LZ_EINVAL);
}
END_TEST

/* A message as the core would hand it out. */
static void make_msg(struct msg_out *m)
{
	memset(m, 0, sizeof(*m));
	m->seq = 7;
	m->enqueued_ms = RFC_EXAMPLE_MS;
	m->ttl_ms = 30000;
	m->expires_ms = RFC_EXAMPLE_MS + 30000;
	m->delivery_count = 1;
	m->state = MSG_ACTIVE;
	m->body = msg_body_new("{\"id\":42}", 9);
	ck_assert_ptr_nonnull(m->body);
}

START_TEST(test_render_minimal_and_locked)
{
	struct strbuf b = STRBUF_INIT;
	struct msg_out m;

	make_msg(&m);
	m.ttl_ms = DURATION_INFINITE;
	m.props.message_id = strdup("m-42");
	ck_assert_err(brokerprops_render(&m, &b), LZ_OK);
	ck_assert_str_eq(strbuf_cstr(&b),
			 "{\"DeliveryCount\":1,\"EnqueuedSequenceNumber\":0,\"EnqueuedTimeUtc\":\"Sun, 06 Nov 1994 "
			 "08:49:37 GMT\",\"MessageId\":\"m-42\",\"SequenceNumber\":7,\"State\":\"Active\","
			 "\"TimeToLive\":922337203685.47754}");

	strbuf_reset(&b);
	strcpy(m.lock_token, "5b0e2a8c-0000-4000-8000-000000000001");
	m.locked_until_ms = RFC_EXAMPLE_MS + 60000;
	m.ttl_ms = 30000;
	m.props.label = strdup("created");
	ck_assert_err(brokerprops_render(&m, &b), LZ_OK);
	ck_assert_str_eq(strbuf_cstr(&b),
			 "{\"DeliveryCount\":1,\"EnqueuedSequenceNumber\":0,\"EnqueuedTimeUtc\":\"Sun, 06 Nov 1994 "
			 "08:49:37 GMT\",\"Label\":\"created\",\"LockToken\":\"5b0e2a8c-0000-4000-8000-000000000001\","
			 "\"LockedUntilUtc\":\"Sun, 06 Nov 1994 08:50:37 GMT\",\"MessageId\":\"m-42\","
			 "\"SequenceNumber\":7,\"State\":\"Active\",\"TimeToLive\":30}");
	msg_out_release(&m);
	strbuf_release(&b);
}
END_TEST

START_TEST(test_render_all_fields)
{
	struct strbuf b = STRBUF_INIT;
	struct msg_out m;

	make_msg(&m);
	m.enqueued_seq = 3;
	m.delivery_count = 2;
	m.state = MSG_SCHEDULED;
	m.ttl_ms = 2250;
	m.dead_letter_source = strdup("q1");
	m.props.message_id = strdup("id");
	m.props.correlation_id = strdup("c\"x");
	m.props.session_id = strdup("s");
	m.props.reply_to = strdup("r");
	m.props.reply_to_session_id = strdup("rs");
	m.props.to = strdup("t");
	m.props.label = strdup("\xc3\xa9t\xc3\xa9");
	m.props.partition_key = strdup("s");
	m.props.via_partition_key = strdup("v");
	m.props.content_type = strdup("application/json");
	m.props.scheduled_enqueue_ms = RFC_EXAMPLE_MS + 1000;
	ck_assert_err(brokerprops_render(&m, &b), LZ_OK);
	ck_assert_str_eq(strbuf_cstr(&b),
			 "{\"CorrelationId\":\"c\\\"x\",\"DeadLetterSource\":\"q1\",\"DeliveryCount\":2,"
			 "\"EnqueuedSequenceNumber\":3,\"EnqueuedTimeUtc\":\"Sun, 06 Nov 1994 08:49:37 GMT\","
			 "\"Label\":\"\\u00e9t\\u00e9\",\"MessageId\":\"id\",\"PartitionKey\":\"s\",\"ReplyTo\":\"r\","
			 "\"ReplyToSessionId\":\"rs\",\"ScheduledEnqueueTimeUtc\":\"Sun, 06 Nov 1994 08:49:38 GMT\","
			 "\"SequenceNumber\":7,\"SessionId\":\"s\",\"State\":\"Scheduled\",\"TimeToLive\":2.25,"
			 "\"To\":\"t\",\"ViaPartitionKey\":\"v\"}");
	msg_out_release(&m);
	strbuf_release(&b);
}
END_TEST

START_TEST(test_render_parse_round_trip)
{
	struct strbuf b = STRBUF_INIT;
	struct lz_detail d;
	struct msg_props p;
	struct msg_out m;

	make_msg(&m);
	m.ttl_ms = 1500;
	strcpy(m.lock_token, "5b0e2a8c-0000-4000-8000-000000000001");
	m.locked_until_ms = RFC_EXAMPLE_MS + 60000;
	m.props.message_id = strdup("m\\1");
	m.props.correlation_id = strdup("corr \xf0\x9f\x98\x80");
	m.props.session_id = strdup("s");
	m.props.reply_to = strdup("r");
	m.props.reply_to_session_id = strdup("rs");
	m.props.to = strdup("t\n");
	m.props.label = strdup("l\x01");
	m.props.partition_key = strdup("s");
	m.props.via_partition_key = strdup("v");
	m.props.scheduled_enqueue_ms = RFC_EXAMPLE_MS + 5000;
	ck_assert_err(brokerprops_render(&m, &b), LZ_OK);
	for (const char *c = strbuf_cstr(&b); *c != '\0'; c++)
		ck_assert_msg((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f, "non-ASCII in %s", strbuf_cstr(&b));
	ck_assert_err(parse(strbuf_cstr(&b), &p, &d), LZ_OK);
	ck_assert_str_eq(p.message_id, m.props.message_id);
	ck_assert_str_eq(p.correlation_id, m.props.correlation_id);
	ck_assert_str_eq(p.session_id, m.props.session_id);
	ck_assert_str_eq(p.reply_to, m.props.reply_to);
	ck_assert_str_eq(p.reply_to_session_id, m.props.reply_to_session_id);
	ck_assert_str_eq(p.to, m.props.to);
	ck_assert_str_eq(p.label, m.props.label);
	ck_assert_str_eq(p.partition_key, m.props.partition_key);
	ck_assert_str_eq(p.via_partition_key, m.props.via_partition_key);
	ck_assert(p.has_ttl);
	ck_assert_int_eq(p.ttl_ms, 1500);
	ck_assert_int_eq(p.scheduled_enqueue_ms, RFC_EXAMPLE_MS + 5000);
	msg_props_release(&p);
	msg_out_release(&m);
	strbuf_release(&b);
}
END_TEST

START_TEST(test_json_string)
{
	struct strbuf b = STRBUF_INIT;

	ck_assert_err(brokerprops_json_string(&b, "a\"\\\n\r\t\x01\x7f/"), LZ_OK);
	ck_assert_str_eq(strbuf_cstr(&b), "\"a\\\"\\\\\\n\\r\\t\\u0001\\u007f/\"");
	strbuf_reset(&b);
	/* 2-, 3- and 4-byte UTF-8, then invalid bytes (a lone continuation, a truncated sequence,
	 * an overlong form, an encoded surrogate) */
	ck_assert_err(brokerprops_json_string(&b, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\x80|\xe2\x82|\xc0\xaf|\xed\xa0\x80"),
		      LZ_OK);
	ck_assert_str_eq(strbuf_cstr(&b), "\"\\u00e9\\u20ac\\ud83d\\ude00|\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd|"
					  "\\ufffd\\ufffd\\ufffd\"");
	strbuf_reset(&b);
	ck_assert_err(brokerprops_json_string(&b, ""), LZ_OK);
	ck_assert_str_eq(strbuf_cstr(&b), "\"\"");
	strbuf_release(&b);
}
END_TEST

START_TEST(test_header_names)
{
	static const char *const reserved[] = {
		"Content-Type", "content-length", "HOST", "Authorization", "BrokerProperties", "brokerproperties",
		"Connection", "Expect", "Accept", "Accept-Encoding", "User-Agent", "Transfer-Encoding", "Date",
		"Keep-Alive", "Proxy-Authorization", "x-ms-version", "X-MS-RETRYPOLICY", "If-Match", "traceparent",
		"Request-Id", "ServiceBusSupplementaryAuthorization",
	};
	static const char *const free_names[] = { "Priority", "tenant", "x-custom", "Dates", "Hostname", "retries" };

	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		ck_assert_msg(brokerprops_header_reserved(reserved[i]), "%s", reserved[i]);
	for (size_t i = 0; i < sizeof(free_names) / sizeof(free_names[0]); i++)
		ck_assert_msg(!brokerprops_header_reserved(free_names[i]), "%s", free_names[i]);

	ck_assert(brokerprops_header_name_ok("Priority"));
	ck_assert(brokerprops_header_name_ok("x-a.b_c!#$%&'*+^`|~9"));
	ck_assert(!brokerprops_header_name_ok(""));
	ck_assert(!brokerprops_header_name_ok(NULL));
	ck_assert(!brokerprops_header_name_ok("a b"));
	ck_assert(!brokerprops_header_name_ok("a:b"));
	ck_assert(!brokerprops_header_name_ok("\xc3\xa9"));
}
END_TEST

START_TEST(test_user_from_header)
{
	struct proplist l;
	struct lz_detail d = { "" };
	const struct value *v;

	proplist_init(&l);
	ck_assert_err(brokerprops_user_from_header(&l, "Priority", "\"High\"", &d), LZ_OK);
	ck_assert_err(brokerprops_user_from_header(&l, "retries", " 3 ", &d), LZ_OK);
	ck_assert_err(brokerprops_user_from_header(&l, "ratio", "1.5", &d), LZ_OK);
	ck_assert_err(brokerprops_user_from_header(&l, "flag", "true", &d), LZ_OK);
	ck_assert_err(brokerprops_user_from_header(&l, "when", "\"Sun, 06 Nov 1994 08:49:37 GMT\"", &d), LZ_OK);
	ck_assert_err(brokerprops_user_from_header(&l, "Content-Type", "text/plain", &d), LZ_OK);
	ck_assert_err(brokerprops_user_from_header(&l, "User-Agent", "curl/7.88", &d), LZ_OK);
	ck_assert_uint_eq(l.n, 5);
	v = proplist_get(&l, "Priority");
	ck_assert_int_eq(v->type, VALUE_STRING);
	ck_assert_str_eq(v->u.s, "High");
	v = proplist_get(&l, "retries");
	ck_assert_int_eq(v->type, VALUE_LONG);
	ck_assert_int_eq(v->u.i, 3);
	ck_assert_int_eq(proplist_get(&l, "ratio")->type, VALUE_DOUBLE);
	ck_assert_int_eq(proplist_get(&l, "flag")->type, VALUE_BOOL);
	v = proplist_get(&l, "when");
	ck_assert_int_eq(v->type, VALUE_DATETIME);
	ck_assert_int_eq(v->u.i, RFC_EXAMPLE_MS);

	/* untypable: rejected with the header named, list unchanged */
	ck_assert_err(brokerprops_user_from_header(&l, "tenant", "contoso", &d), LZ_EINVAL);
	ck_assert_msg(strstr(d.text, "tenant") != NULL, "%s", d.text);
	ck_assert_err(brokerprops_user_from_header(&l, "empty", "", &d), LZ_EINVAL);
	ck_assert_err(brokerprops_user_from_header(&l, "caps", "True", NULL), LZ_EINVAL);
	ck_assert_uint_eq(l.n, 5);
	proplist_release(&l);
}
END_TEST

/* ---- batch ----------------------------------------------------------------------------------- */

static lz_err batch(const char *json, struct msg_in **msgs, size_t *n, struct lz_detail *d)
{
	*msgs = NULL;
	*n = 0;
	d->text[0] = '\0';
	return brokerprops_parse_batch(json, strlen(json), msgs, n, d);
}

static void expect_batch_error(const char *json, const char *needle)
{
	struct lz_detail d;
	struct msg_in *msgs;
	size_t n;

	ck_assert_err(batch(json, &msgs, &n, &d), LZ_EINVAL);
	ck_assert_ptr_null(msgs);
	ck_assert_msg(strstr(d.text, needle) != NULL, "detail '%s' lacks '%s' (input %s)", d.text, needle, json);
}

START_TEST(test_batch_parse)
{
	struct lz_detail d;
	struct msg_in *msgs;
	const struct value *v;
	size_t n;

	ck_assert_err(batch(" [ {\"Body\":\"hello \\\"w\\\"\",\"BrokerProperties\":{\"Label\":\"red\","
			    "\"TimeToLiveTimeSpan\":\"0.00:00:40\",\"TimeToLive\":5,\"MessageId\":\"a\"},"
			    "\"UserProperties\":{\"k\":1,\"s\":\"x\\u00e9\",\"b\":false,\"d\":1.5,\"big\":1e400}},"
			    "{\"Body\":\"b\",\"BrokerProperties\":{\"TimeToLive\":5,\"TimeToLiveTimeSpan\":\"00:01:00\"}},"
			    "{\"UserProperties\":null,\"BrokerProperties\":null,\"Extra\":{\"deep\":[1,[2,{\"x\":\"y\"}]]}},"
			    "{\"Body\":null,\"BrokerProperties\":{\"TimeToLive\":2.5,\"Unknown\":[true]}} ] ",
			    &msgs, &n, &d),
		      LZ_OK);
	ck_assert_uint_eq(n, 4);

	ck_assert_uint_eq(msgs[0].body->len, 9);
	ck_assert(memcmp(msgs[0].body->bytes, "hello \"w\"", 9) == 0);
	ck_assert_str_eq(msgs[0].props.label, "red");
	ck_assert_str_eq(msgs[0].props.message_id, "a");
	ck_assert(msgs[0].props.has_ttl);
	ck_assert_int_eq(msgs[0].props.ttl_ms, 40000); /* TimeToLiveTimeSpan wins, whatever the order */
	ck_assert_uint_eq(msgs[0].user.n, 5);
	v = proplist_get(&msgs[0].user, "k");
	ck_assert_int_eq(v->type, VALUE_LONG);
	ck_assert_int_eq(v->u.i, 1);
	v = proplist_get(&msgs[0].user, "s");
	ck_assert_int_eq(v->type, VALUE_STRING);
	ck_assert_str_eq(v->u.s, "x\xc3\xa9");
	ck_assert_int_eq(proplist_get(&msgs[0].user, "b")->type, VALUE_BOOL);
	ck_assert(!proplist_get(&msgs[0].user, "b")->u.b);
	ck_assert_int_eq(proplist_get(&msgs[0].user, "d")->type, VALUE_DOUBLE);
	ck_assert_int_eq(proplist_get(&msgs[0].user, "big")->type, VALUE_DOUBLE);

	ck_assert_int_eq(msgs[1].props.ttl_ms, 60000);
	ck_assert_uint_eq(msgs[2].body->len, 0);
	ck_assert_ptr_null(msgs[2].props.label);
	ck_assert_uint_eq(msgs[2].user.n, 0);
	ck_assert_uint_eq(msgs[3].body->len, 0);
	ck_assert_int_eq(msgs[3].props.ttl_ms, 2500);
	brokerprops_batch_free(msgs, n);

	/* bodies keep their bytes (escapes decoded); a large batch keeps every element */
	struct strbuf big = STRBUF_INIT;
	ck_assert_err(strbuf_addch(&big, '['), LZ_OK);
	for (int i = 0; i < 100; i++)
		ck_assert_err(strbuf_addf(&big, "%s{\"Body\":\"message %d\\u00e9\\n\"}", i > 0 ? "," : "", i), LZ_OK);
	ck_assert_err(strbuf_addch(&big, ']'), LZ_OK);
	ck_assert_err(batch(strbuf_cstr(&big), &msgs, &n, &d), LZ_OK);
	ck_assert_uint_eq(n, 100);
	ck_assert_uint_eq(msgs[99].body->len, 13);
	ck_assert(memcmp(msgs[99].body->bytes, "message 99\xc3\xa9\n", 13) == 0);
	brokerprops_batch_free(msgs, n);
	/* a NUL escape would be cut silently by the JSON library: refused instead */
	ck_assert_err(batch("[{\"Body\":\"a\\u0000b\"}]", &msgs, &n, &d), LZ_EINVAL);
	ck_assert_ptr_nonnull(strstr(d.text, "u0000"));
	strbuf_release(&big);
	brokerprops_batch_free(NULL, 0);
}
END_TEST

START_TEST(test_batch_errors)
{
	/* malformed JSON */
	expect_batch_error("", "batch body");
	expect_batch_error("[", "batch body");
	expect_batch_error("[{\"Body\":\"a\"}", "batch body");
	expect_batch_error("[{\"Body\":\"a\"},]", "batch body");
	expect_batch_error("[{\"Body\":\"a}]", "batch body");
	expect_batch_error("[{\"Body\":\"a\"}] []", "batch body");
	expect_batch_error("[{\"Body\" \"a\"}]", "batch body");
	expect_batch_error("[{\"Body\":\"a\",\"X\":[1,]}]", "batch body");
	expect_batch_error("[{\"Body\":\"\\q\"}]", "batch body");
	/* wrong shapes and types */
	expect_batch_error("{\"Body\":\"a\"}", "array");
	expect_batch_error("[]", "non-empty");
	expect_batch_error("[1]", "object");
	expect_batch_error("[{\"Body\":\"a\"},\"b\"]", "object");
	expect_batch_error("[{\"Body\":42}]", "Batch message 0: 'Body'");
	expect_batch_error("[{\"Body\":\"a\"},{\"Body\":{}}]", "Batch message 1: 'Body'");
	expect_batch_error("[{\"BrokerProperties\":[]}]", "'BrokerProperties'");
	expect_batch_error("[{\"BrokerProperties\":\"x\"}]", "'BrokerProperties'");
	expect_batch_error("[{\"UserProperties\":[1]}]", "'UserProperties'");
	expect_batch_error("[{\"UserProperties\":{\"k\":null}}]", "'k'");
	expect_batch_error("[{\"UserProperties\":{\"k\":{\"a\":1}}}]", "'k'");
	expect_batch_error("[{\"UserProperties\":{\"k\":[1]}}]", "'k'");
	expect_batch_error("[{\"BrokerProperties\":{\"Label\":1}}]", "Batch message 0: The value of 'Label'");
	expect_batch_error("[{\"BrokerProperties\":{\"TimeToLiveTimeSpan\":30}}]", "TimeToLiveTimeSpan");
	expect_batch_error("[{\"BrokerProperties\":{\"TimeToLiveTimeSpan\":\"soon\"}}]", "TimeToLiveTimeSpan");
	expect_batch_error("[{\"BrokerProperties\":{\"SessionId\":\"a\",\"PartitionKey\":\"b\"}}]", "PartitionKey");

	struct lz_detail d;
	struct msg_in *msgs;
	size_t n;
	ck_assert_err(batch("[{\"BrokerProperties\":{\"TimeToLiveTimeSpan\":\"-00:00:01\"}}]", &msgs, &n, &d), LZ_ERANGE);
	ck_assert_err(batch("[{\"BrokerProperties\":{\"TimeToLive\":-3}}]", &msgs, &n, &d), LZ_ERANGE);
	ck_assert_ptr_null(msgs);
}
END_TEST

/* ---- emulator JSON form ---------------------------------------------------------------------- */

START_TEST(test_render_json_message)
{
	static const struct {
		const char *body;
		size_t len;
		const char *b64;
	} bodies[] = {
		{ "", 0, "" }, { "f", 1, "Zg==" }, { "fo", 2, "Zm8=" }, { "foo", 3, "Zm9v" },
		{ "\0\xff\xfe", 3, "AP/+" }, { "hello", 5, "aGVsbG8=" },
	};
	struct strbuf b = STRBUF_INIT, want = STRBUF_INIT;
	struct value v = { 0 };
	struct msg_out m;

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		make_msg(&m);
		msg_body_unref(m.body);
		m.body = msg_body_new(bodies[i].body, bodies[i].len);
		strbuf_reset(&b);
		ck_assert_err(brokerprops_render_json_message(&m, &b), LZ_OK);
		strbuf_reset(&want);
		ck_assert_err(strbuf_addf(&want, "\"Body\":\"%s\"}", bodies[i].b64), LZ_OK);
		ck_assert_msg(strstr(strbuf_cstr(&b), strbuf_cstr(&want)) != NULL, "%s", strbuf_cstr(&b));
		msg_out_release(&m);
	}

	make_msg(&m);
	m.props.content_type = strdup("text/plain");
	v.type = VALUE_STRING;
	v.u.s = "say \"hi\"";
	ck_assert_err(proplist_set(&m.user, "s", &v), LZ_OK);
	v = (struct value){ .type = VALUE_LONG, .u.i = -5 };
	ck_assert_err(proplist_set(&m.user, "l", &v), LZ_OK);
	v = (struct value){ .type = VALUE_INT, .u.i = 7 };
	ck_assert_err(proplist_set(&m.user, "i", &v), LZ_OK);
	v = (struct value){ .type = VALUE_BOOL, .u.b = true };
	ck_assert_err(proplist_set(&m.user, "b", &v), LZ_OK);
	v = (struct value){ .type = VALUE_DOUBLE, .u.d = 0.25 };
	ck_assert_err(proplist_set(&m.user, "d", &v), LZ_OK);
	v = (struct value){ .type = VALUE_DOUBLE, .u.d = -INFINITY };
	ck_assert_err(proplist_set(&m.user, "inf", &v), LZ_OK);
	v = (struct value){ .type = VALUE_DATETIME, .u.i = RFC_EXAMPLE_MS };
	ck_assert_err(proplist_set(&m.user, "dt", &v), LZ_OK);
	v = (struct value){ .type = VALUE_DURATION, .u.i = 1500 };
	ck_assert_err(proplist_set(&m.user, "ts", &v), LZ_OK);
	v = (struct value){ .type = VALUE_NULL };
	ck_assert_err(proplist_set(&m.user, "n", &v), LZ_OK);
	strbuf_reset(&b);
	ck_assert_err(brokerprops_render_json_message(&m, &b), LZ_OK);
	ck_assert_str_eq(strbuf_cstr(&b),
			 "{\"BrokerProperties\":{\"ContentType\":\"text/plain\",\"DeliveryCount\":1,"
			 "\"EnqueuedSequenceNumber\":0,\"EnqueuedTimeUtc\":\"Sun, 06 Nov 1994 08:49:37 GMT\","
			 "\"SequenceNumber\":7,\"State\":\"Active\",\"TimeToLive\":30},\"UserProperties\":{"
			 "\"s\":\"say \\\"hi\\\"\",\"l\":-5,\"i\":7,\"b\":true,\"d\":0.25,\"inf\":\"-Infinity\","
			 "\"dt\":\"Sun, 06 Nov 1994 08:49:37 GMT\",\"ts\":1.5,\"n\":null},\"Body\":\"eyJpZCI6NDJ9\"}");
	msg_out_release(&m);
	strbuf_release(&b);
	strbuf_release(&want);
}
END_TEST

static Suite *brokerprops_suite(void)
{
	Suite *s = suite_create("brokerprops");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_parse_all_keys);
	tcase_add_test(tc, test_parse_ignores_unknown_readonly_null);
	tcase_add_test(tc, test_parse_values);
	tcase_add_test(tc, test_parse_errors);
	tcase_add_test(tc, test_render_minimal_and_locked);
	tcase_add_test(tc, test_render_all_fields);
	tcase_add_test(tc, test_render_parse_round_trip);
	tcase_add_test(tc, test_json_string);
	tcase_add_test(tc, test_header_names);
	tcase_add_test(tc, test_user_from_header);
	tcase_add_test(tc, test_batch_parse);
	tcase_add_test(tc, test_batch_errors);
	tcase_add_test(tc, test_render_json_message);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(brokerprops_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
