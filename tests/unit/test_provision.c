/*
 * Unit tests for broker/provision: the commented-JSON scanner; the Microsoft emulator's sample
 * Config.json with every property mapped; each refused declaration naming the entity and the
 * property (and the place in the file); the YAML entities section; and applying a list to a core:
 * creation order, forwarding cycles, rules, "exists, kept" and a second apply that changes nothing.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/core.h"
#include "broker/entity.h"
#include "broker/provision.h"
#include "common/duration.h"
#include "common/settings.h"

#define ck_assert_err(expr, want)                                                                  \
	do {                                                                                       \
		lz_err got_ = (expr);                                                              \
		ck_assert_msg(got_ == (want), "%s: got %s, want %s (%s)", #expr, err_name(got_),   \
			      err_name(want), detail);                                             \
	} while (0)

#define SEC 1000LL
#define MIN (60 * SEC)

static char detail[4096];
static char tmpdir[64];
static unsigned file_seq;
static lz_clock *clk;
static core *c;

static void setup(void)
{
	struct core_config cfg = { 0 };

	snprintf(tmpdir, sizeof tmpdir, "/tmp/lz-provision-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	ck_assert_int_eq(clock_new(true, 1700000000000LL, &clk), LZ_OK);
	cfg.clock = clk;
	cfg.max_message_bytes = 4096;
	ck_assert_int_eq(core_new(&cfg, &c), LZ_OK);
	detail[0] = '\0';
}

static void teardown(void)
{
	char cmd[128];

	core_free(c);
	clock_free(clk);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Writes `text` to a new file in tmpdir; returns its path (static buffer, one at a time). */
static const char *file_write(const char *text, const char *ext)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof path, "%s/f%u.%s", tmpdir, file_seq++, ext);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

static void expect_detail(const char *needle)
{
	ck_assert_msg(strstr(detail, needle) != NULL, "'%s' does not contain '%s'", detail, needle);
}

static const struct provision_entity *find(const struct provision_list *l, const char *path)
{
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->items[i].path, path) == 0)
			return &l->items[i];
	}
	ck_abort_msg("%s not declared", path);
	return NULL;
}

/* ---- commented JSON ----------------------------------------------------------------------- */

static void expect_stripped(const char *in, const char *want)
{
	char buf[256];
	size_t len = strlen(in);

	ck_assert_uint_lt(len, sizeof buf);
	memcpy(buf, in, len + 1);
	ck_assert_err(provision_json_strip_comments(buf, len, detail, sizeof detail), LZ_OK);
	ck_assert_msg(strcmp(buf, want) == 0, "'%s' gave '%s', want '%s'", in, buf, want);
}

START_TEST(strip_comments)
{
	char buf[64];

	expect_stripped("{}", "{}");
	expect_stripped("{} // end", "{}       ");
	expect_stripped("// a\n{}", "    \n{}");
	expect_stripped("{/* x */}", "{       }");
	expect_stripped("{/* a\nb */\"k\":1}", "{    \n    \"k\":1}");
	expect_stripped("/**/", "    ");
	expect_stripped("/***/", "     ");
	/* Inside strings nothing is a comment, including after escaped quotes and backslashes. */
	expect_stripped("{\"u\":\"http://x/*y*/\"}", "{\"u\":\"http://x/*y*/\"}");
	expect_stripped("{\"a\\\"//\":1}//c", "{\"a\\\"//\":1}   ");
	expect_stripped("{\"a\\\\\"://c\n1}", "{\"a\\\\\":   \n1}");
	/* A single slash is left for the JSON parser to refuse. */
	expect_stripped("{/}", "{/}");
	expect_stripped("1/", "1/");
	/* A line comment ends at the newline, which stays (a CR before it becomes a space). */
	expect_stripped("1//x\r\n2", "1    \n2");
	/* Only the given length is looked at. */
	memcpy(buf, "1//x", 5);
	ck_assert_err(provision_json_strip_comments(buf, 1, detail, sizeof detail), LZ_OK);
	ck_assert_str_eq(buf, "1//x");

	memcpy(buf, "{\n  /* never\n ends", 19);
	ck_assert_err(provision_json_strip_comments(buf, strlen(buf), detail, sizeof detail), LZ_EPARSE);
	expect_detail("2:3: the comment starting here never ends");
}
END_TEST

/* ---- Config.json -------------------------------------------------------------------------- */

/* The emulator's sample (Config/Config.json) with comments, plus a second queue, a SQL rule
 * with an action and a topic declared after a queue that forwards to it. */
static const char sample_json[] =
	"// Microsoft Service Bus emulator configuration\n"
	"{\n"
	"  \"UserConfig\": {\n"
	"    \"Namespaces\": [\n"
	"      {\n"
	"        \"Name\": \"sbemulatorns\", /* fixed by the emulator */\n"
	"        \"Queues\": [\n"
	"          {\n"
	"            \"Name\": \"queue.1\",\n"
	"            \"Properties\": {\n"
	"              \"DeadLetteringOnMessageExpiration\": false,\n"
	"              \"DefaultMessageTimeToLive\": \"PT1H\",\n"
	"              \"DuplicateDetectionHistoryTimeWindow\": \"PT20S\",\n"
	"              \"ForwardDeadLetteredMessagesTo\": \"\",\n"
	"              \"ForwardTo\": \"\",\n"
	"              \"LockDuration\": \"PT1M\",\n"
	"              \"MaxDeliveryCount\": 3,\n"
	"              \"RequiresDuplicateDetection\": false,\n"
	"              \"RequiresSession\": false\n"
	"            }\n"
	"          },\n"
	"          {\n"
	"            \"Name\": \"queue.2\", // every property away from its default\n"
	"            \"Properties\": {\n"
	"              \"DeadLetteringOnMessageExpiration\": true,\n"
	"              \"DefaultMessageTimeToLive\": \"P1DT2H\",\n"
	"              \"DuplicateDetectionHistoryTimeWindow\": \"PT5M\",\n"
	"              \"ForwardDeadLetteredMessagesTo\": \"queue.1\",\n"
	"              \"ForwardTo\": \"topic.1\",\n"
	"              \"LockDuration\": \"PT30S\",\n"
	"              \"MaxDeliveryCount\": 7,\n"
	"              \"RequiresDuplicateDetection\": true,\n"
	"              \"RequiresSession\": true\n"
	"            }\n"
	"          }\n"
	"        ],\n"
	"        \"Topics\": [\n"
	"          {\n"
	"            \"Name\": \"topic.1\",\n"
	"            \"Properties\": {\n"
	"              \"DefaultMessageTimeToLive\": \"PT1H\",\n"
	"              \"DuplicateDetectionHistoryTimeWindow\": \"PT20S\",\n"
	"              \"RequiresDuplicateDetection\": true\n"
	"            },\n"
	"            \"Subscriptions\": [\n"
	"              {\n"
	"                \"Name\": \"subscription.1\",\n"
	"                \"Properties\": {\n"
	"                  \"DeadLetteringOnMessageExpiration\": true,\n"
	"                  \"DefaultMessageTimeToLive\": \"PT1H\",\n"
	"                  \"LockDuration\": \"PT2M\",\n"
	"                  \"MaxDeliveryCount\": 3,\n"
	"                  \"ForwardDeadLetteredMessagesTo\": \"queue.1\",\n"
	"                  \"ForwardTo\": \"\",\n"
	"                  \"RequiresSession\": true\n"
	"                },\n"
	"                \"Rules\": [\n"
	"                  {\n"
	"                    \"Name\": \"app-prop-filter-1\",\n"
	"                    \"Properties\": {\n"
	"                      \"FilterType\": \"Correlation\",\n"
	"                      \"CorrelationFilter\": {\n"
	"                        \"ContentType\": \"application/text\",\n"
	"                        \"CorrelationId\": \"id1\",\n"
	"                        \"Label\": \"subject1\",\n"
	"                        \"MessageId\": \"msgid1\",\n"
	"                        \"ReplyTo\": \"someQueue\",\n"
	"                        \"ReplyToSessionId\": \"sessionId\",\n"
	"                        \"SessionId\": \"session1\",\n"
	"                        \"To\": \"xyz\"\n"
	"                      }\n"
	"                    }\n"
	"                  }\n"
	"                ]\n"
	"              },\n"
	"              {\n"
	"                \"Name\": \"subscription.2\",\n"
	"                \"Properties\": {\n"
	"                  \"ForwardTo\": \"queue.1\"\n"
	"                },\n"
	"                \"Rules\": [\n"
	"                  {\n"
	"                    \"Name\": \"user-prop-filter-1\",\n"
	"                    \"Properties\": {\n"
	"                      \"FilterType\": \"Correlation\",\n"
	"                      \"CorrelationFilter\": {\n"
	"                        \"Properties\": { \"prop3\": \"value3\", \"n\": 42, \"x\": 1.5, \"b\": true }\n"
	"                      }\n"
	"                    }\n"
	"                  },\n"
	"                  {\n"
	"                    \"Name\": \"sql-filter-1\",\n"
	"                    \"Properties\": {\n"
	"                      \"FilterType\": \"Sql\",\n"
	"                      \"SqlFilter\": { \"SqlExpression\": \"sys.Label = 'x' AND n > 1\" },\n"
	"                      \"Action\": { \"SqlExpression\": \"SET sys.Label = 'y'\" }\n"
	"                    }\n"
	"                  }\n"
	"                ]\n"
	"              },\n"
	"              {\n"
	"                \"Name\": \"subscription.3\"\n"
	"              }\n"
	"            ]\n"
	"          }\n"
	"        ]\n"
	"      }\n"
	"    ],\n"
	"    \"Logging\": {\n"
	"      \"Type\": \"File\" // accepted and ignored\n"
	"    }\n"
	"  }\n"
	"}\n";

static void parse_json_ok(const char *text, struct provision_list *l)
{
	provision_list_init(l);
	ck_assert_err(provision_parse_json_text(text, strlen(text), "Config.json", l, detail, sizeof detail), LZ_OK);
}

/* Checks the declarations of sample_json (or its YAML twin). */
static void expect_sample(const struct provision_list *l)
{
	const struct provision_entity *e;
	const struct rule_desc *r;
	const struct value *v;

	ck_assert_uint_eq(l->n, 6);
	/* File order: queues, then the topic and its subscriptions. */
	ck_assert_str_eq(l->items[0].path, "queue.1");
	ck_assert_str_eq(l->items[2].path, "topic.1");
	ck_assert_str_eq(l->items[3].path, "topic.1/subscriptions/subscription.1");

	e = find(l, "queue.1");
	ck_assert_int_eq(e->desc.kind, ENTITY_QUEUE);
	ck_assert(!e->desc.dead_lettering_on_expiration);
	ck_assert_int_eq(e->desc.default_ttl_ms, 60 * MIN);
	ck_assert_int_eq(e->desc.dup_window_ms, 20 * SEC);
	ck_assert_ptr_null(e->desc.forward_to);     /* "" is none */
	ck_assert_ptr_null(e->desc.forward_dlq_to);
	ck_assert_int_eq(e->desc.lock_duration_ms, MIN);
	ck_assert_int_eq(e->desc.max_delivery_count, 3);
	ck_assert(!e->desc.requires_duplicate_detection);
	ck_assert(!e->desc.requires_session);
	ck_assert_int_eq(e->desc.max_size_mb, 1024); /* undeclared: Azure's default */

	e = find(l, "queue.2");
	ck_assert(e->desc.dead_lettering_on_expiration);
	ck_assert_int_eq(e->desc.default_ttl_ms, 26 * 60 * MIN);
	ck_assert_int_eq(e->desc.dup_window_ms, 5 * MIN);
	ck_assert_str_eq(e->desc.forward_dlq_to, "queue.1");
	ck_assert_str_eq(e->desc.forward_to, "topic.1");
	ck_assert_int_eq(e->desc.lock_duration_ms, 30 * SEC);
	ck_assert_int_eq(e->desc.max_delivery_count, 7);
	ck_assert(e->desc.requires_duplicate_detection);
	ck_assert(e->desc.requires_session);

	e = find(l, "topic.1");
	ck_assert_int_eq(e->desc.kind, ENTITY_TOPIC);
	ck_assert_int_eq(e->desc.default_ttl_ms, 60 * MIN);
	ck_assert_int_eq(e->desc.dup_window_ms, 20 * SEC);
	ck_assert(e->desc.requires_duplicate_detection);

	e = find(l, "topic.1/subscriptions/subscription.1");
	ck_assert_int_eq(e->desc.kind, ENTITY_SUBSCRIPTION);
	ck_assert_str_eq(e->name, "subscription.1");
	ck_assert_str_eq(e->topic, "topic.1");
	ck_assert(e->desc.dead_lettering_on_expiration);
	ck_assert_int_eq(e->desc.default_ttl_ms, 60 * MIN);
	ck_assert_int_eq(e->desc.lock_duration_ms, 2 * MIN);
	ck_assert_int_eq(e->desc.max_delivery_count, 3);
	ck_assert_str_eq(e->desc.forward_dlq_to, "queue.1");
	ck_assert_ptr_null(e->desc.forward_to);
	ck_assert(e->desc.requires_session);
	ck_assert_uint_eq(e->n_rules, 1);
	r = &e->rules[0].desc;
	ck_assert_str_eq(r->name, "app-prop-filter-1");
	ck_assert_int_eq(r->filter_type, FILTER_CORRELATION);
	ck_assert_str_eq(r->corr.content_type, "application/text");
	ck_assert_str_eq(r->corr.correlation_id, "id1");
	ck_assert_str_eq(r->corr.label, "subject1");
	ck_assert_str_eq(r->corr.message_id, "msgid1");
	ck_assert_str_eq(r->corr.reply_to, "someQueue");
	ck_assert_str_eq(r->corr.reply_to_session_id, "sessionId");
	ck_assert_str_eq(r->corr.session_id, "session1");
	ck_assert_str_eq(r->corr.to, "xyz");
	ck_assert_uint_eq(r->corr.properties.n, 0);
	ck_assert_int_eq(r->action_type, ACTION_EMPTY);

	e = find(l, "topic.1/subscriptions/subscription.2");
	ck_assert_str_eq(e->desc.forward_to, "queue.1");
	ck_assert_int_eq(e->desc.lock_duration_ms, MIN); /* default */
	ck_assert_uint_eq(e->n_rules, 2);
	r = &e->rules[0].desc;
	ck_assert_int_eq(r->filter_type, FILTER_CORRELATION);
	ck_assert_ptr_null(r->corr.correlation_id);
	ck_assert_uint_eq(r->corr.properties.n, 4);
	v = proplist_get(&r->corr.properties, "prop3");
	ck_assert(v != NULL && v->type == VALUE_STRING && strcmp(v->u.s, "value3") == 0);
	v = proplist_get(&r->corr.properties, "n");
	ck_assert(v != NULL && v->type == VALUE_LONG && v->u.i == 42);
	v = proplist_get(&r->corr.properties, "x");
	ck_assert(v != NULL && v->type == VALUE_DOUBLE && v->u.d == 1.5);
	v = proplist_get(&r->corr.properties, "b");
	ck_assert(v != NULL && v->type == VALUE_BOOL && v->u.b);
	r = &e->rules[1].desc;
	ck_assert_str_eq(r->name, "sql-filter-1");
	ck_assert_int_eq(r->filter_type, FILTER_SQL);
	ck_assert_str_eq(r->sql_expression, "sys.Label = 'x' AND n > 1");
	ck_assert_int_eq(r->action_type, ACTION_SQL);
	ck_assert_str_eq(r->action_sql, "SET sys.Label = 'y'");

	e = find(l, "topic.1/subscriptions/subscription.3");
	ck_assert_uint_eq(e->n_rules, 0);
}

START_TEST(json_sample)
{
	struct provision_list l;
	const char *path = file_write(sample_json, "json");

	parse_json_ok(sample_json, &l);
	expect_sample(&l);
	ck_assert_int_eq(l.items[0].format, PROVISION_JSON);
	provision_list_release(&l);
	provision_list_release(&l); /* twice is harmless */

	/* From a file, the declarations name it. */
	ck_assert_err(provision_parse_json(path, &l, detail, sizeof detail), LZ_OK);
	expect_sample(&l);
	ck_assert_str_eq(l.items[0].where, path);
	provision_list_release(&l);

	ck_assert_err(provision_parse_json("/nonexistent/Config.json", &l, detail, sizeof detail), LZ_ESYS);
	expect_detail("/nonexistent/Config.json: cannot open");
}
END_TEST

/* A Config.json with one queue whose Properties are `props`. */
static const char *queue_json(const char *props)
{
	static char text[2048];

	snprintf(text, sizeof text,
		 "{\"UserConfig\":{\"Namespaces\":[{\"Name\":\"ns\",\"Queues\":[{\"Name\":\"q1\",\"Properties\":{%s}}],"
		 "\"Topics\":[]}]}}",
		 props);
	return text;
}

/* A Config.json with topic t1 / subscription s1 whose Rules are `rules`. */
static const char *rule_json(const char *rules)
{
	static char text[2048];

	snprintf(text, sizeof text,
		 "{\"UserConfig\":{\"Namespaces\":[{\"Name\":\"ns\",\"Queues\":[],\"Topics\":[{\"Name\":\"t1\","
		 "\"Subscriptions\":[{\"Name\":\"s1\",\"Rules\":[%s]}]}]}]}}",
		 rules);
	return text;
}

/* Parsing `text` fails with `want` and a detail holding each of the NULL-terminated needles;
 * the list keeps what it held. */
static void expect_json_error(const char *text, lz_err want, ...)
{
	struct provision_list l;
	const char *needle;
	va_list ap;

	provision_list_init(&l);
	ck_assert_err(provision_parse_json_text(sample_json, strlen(sample_json), "Config.json", &l, detail,
						sizeof detail), LZ_OK);
	ck_assert_msg(provision_parse_json_text(text, strlen(text), "Config.json", &l, detail, sizeof detail) == want,
		      "%s: %s", text, detail);
	va_start(ap, want);
	while ((needle = va_arg(ap, const char *)) != NULL)
		expect_detail(needle);
	va_end(ap);
	ck_assert_uint_eq(l.n, 6);
	provision_list_release(&l);
}

START_TEST(json_errors)
{
	/* Unknown property: a typo, or a property the kind does not have; the accepted names. */
	expect_json_error(queue_json("\"LockDurations\":\"PT1M\""), LZ_EINVAL, "Config.json: queue 'q1'",
			  "unknown property 'LockDurations'", "a queue accepts DeadLetteringOnMessageExpiration,", NULL);
	expect_json_error("{\"UserConfig\":{\"Namespaces\":[{\"Topics\":[{\"Name\":\"t\",\"Properties\":"
			  "{\"LockDuration\":\"PT1M\"}}]}]}}",
			  LZ_EINVAL, "topic 't'", "unknown property 'LockDuration'",
			  "a topic accepts DefaultMessageTimeToLive, DuplicateDetectionHistoryTimeWindow, "
			  "RequiresDuplicateDetection", NULL);
	/* Bad values: the Atom path's reasons. */
	expect_json_error(queue_json("\"LockDuration\":\"1 minute\""), LZ_EINVAL, "queue 'q1': property 'LockDuration'",
			  "'1 minute' is not an ISO 8601 duration", NULL);
	expect_json_error(queue_json("\"DefaultMessageTimeToLive\":\"-PT1M\""), LZ_EINVAL,
			  "property 'DefaultMessageTimeToLive': '-PT1M' is negative", NULL);
	expect_json_error(queue_json("\"LockDuration\":\"PT10M\""), LZ_EINVAL, "property 'LockDuration'",
			  "exceeds the allowed maximum of '5' minutes", NULL);
	expect_json_error(queue_json("\"DuplicateDetectionHistoryTimeWindow\":\"PT5S\""), LZ_EINVAL,
			  "property 'DuplicateDetectionHistoryTimeWindow'", "below the allowed minimum of '20' seconds", NULL);
	expect_json_error(queue_json("\"MaxDeliveryCount\":0"), LZ_EINVAL, "queue 'q1': property 'MaxDeliveryCount'",
			  "greater than or equal to 1", NULL);
	expect_json_error(queue_json("\"MaxDeliveryCount\":4294967296"), LZ_EINVAL, "property 'MaxDeliveryCount'",
			  "out of range", NULL);
	expect_json_error(queue_json("\"ForwardTo\":\"a b\""), LZ_EINVAL, "property 'ForwardTo'",
			  "contains character(s) that is not allowed", NULL);
	/* Wrong JSON types. */
	expect_json_error(queue_json("\"MaxDeliveryCount\":\"3\""), LZ_EINVAL, "property 'MaxDeliveryCount'",
			  "expected an integer, found a string", NULL);
	expect_json_error(queue_json("\"RequiresSession\":\"false\""), LZ_EINVAL, "property 'RequiresSession'",
			  "expected true or false, found a string", NULL);
	expect_json_error(queue_json("\"LockDuration\":60"), LZ_EINVAL, "property 'LockDuration'",
			  "found an integer", NULL);
	expect_json_error(queue_json("\"ForwardTo\":null"), LZ_EINVAL, "property 'ForwardTo'", "found null", NULL);
	expect_json_error("{\"UserConfig\":{\"Namespaces\":[{\"Queues\":{}}]}}", LZ_EINVAL,
			  "the namespace: 'Queues' must be an array, found an object", NULL);
	expect_json_error("{\"UserConfig\":{\"Namespaces\":[{\"Queues\":[{\"Name\":\"q\",\"Properties\":[]}]}]}}",
			  LZ_EINVAL, "queue 'q': 'Properties' must be an object, found an array", NULL);
	expect_json_error("{\"UserConfig\":{\"Namespaces\":[{\"Queues\":[\"q\"]}]}}", LZ_EINVAL,
			  "each item of Queues must be an object, found a string", NULL);
	/* Missing or bad names. */
	expect_json_error("{\"UserConfig\":{\"Namespaces\":[{\"Queues\":[{\"Properties\":{}}]}]}}", LZ_EINVAL,
			  "Queues: an item has no \"Name\"", NULL);
	expect_json_error("{\"UserConfig\":{\"Namespaces\":[{\"Queues\":[{\"Name\":7}]}]}}", LZ_EINVAL,
			  "'Name' must be a string, found an integer", NULL);
	expect_json_error("{\"UserConfig\":{\"Namespaces\":[{\"Queues\":[{\"Name\":\"$q\"}]}]}}", LZ_EINVAL,
			  "queue '$q': invalid name", "reserved", NULL);
	expect_json_error(rule_json("{\"Properties\":{}}"), LZ_EINVAL,
			  "the Rules of subscription 's1' of topic 't1': an item has no \"Name\"", NULL);
	/* Unknown keys at every level. */
	expect_json_error("{\"UserConfig\":{},\"Extra\":1}", LZ_EINVAL, "the top level: unknown key 'Extra'", NULL);
	expect_json_error("{\"UserConfig\":{\"Namespace\":[]}}", LZ_EINVAL, "UserConfig: unknown key 'Namespace'",
			  "accepted keys are Namespaces, Logging", NULL);
	expect_json_error("{\"UserConfig\":{\"Namespaces\":[{\"Queue\":[]}]}}", LZ_EINVAL,
			  "the namespace: unknown key 'Queue'", NULL);
	expect_json_error("{\"UserConfig\":{\"Namespaces\":[{\"Queues\":[{\"Name\":\"q\",\"Rules\":[]}]}]}}",
			  LZ_EINVAL, "queue 'q': unknown key 'Rules': accepted keys are Name, Properties", NULL);
	expect_json_error("{}", LZ_EINVAL, "no \"UserConfig\" object", NULL);
	expect_json_error("[]", LZ_EINVAL, "the file must hold a JSON object, found an array", NULL);
	expect_json_error("{\"UserConfig\":{\"Namespaces\":[{},{}]}}", LZ_EINVAL, "holds 2 namespaces", NULL);
	/* Declared twice: in one file, or (case-insensitively) as queue and topic. */
	expect_json_error("{\"UserConfig\":{\"Namespaces\":[{\"Queues\":[{\"Name\":\"q\"},{\"Name\":\"Q\"}]}]}}",
			  LZ_EINVAL, "queue 'Q' is declared twice: queue 'q' is declared at Config.json already", NULL);
	expect_json_error("{\"UserConfig\":{\"Namespaces\":[{\"Queues\":[{\"Name\":\"topic.1\"}]}]}}", LZ_EINVAL,
			  "queue 'topic.1' is declared twice: topic 'topic.1'", NULL);
	/* Rules. */
	expect_json_error(rule_json("{\"Name\":\"r\",\"Properties\":{\"FilterType\":\"True\"}}"), LZ_EINVAL,
			  "rule 'r' of subscription 's1' of topic 't1': property 'FilterType'",
			  "expected \"Correlation\" or \"Sql\", found 'True'", NULL);
	expect_json_error(rule_json("{\"Name\":\"r\",\"Properties\":{\"SqlFilter\":{\"SqlExpression\":\"1=1\"}}}"),
			  LZ_EINVAL, "property 'FilterType'", "found nothing", NULL);
	expect_json_error(rule_json("{\"Name\":\"r\"}"), LZ_EINVAL, "rule 'r'", "'Properties' with a FilterType is missing",
			  NULL);
	expect_json_error(rule_json("{\"Name\":\"r\",\"Properties\":{\"FilterType\":\"Sql\"}}"), LZ_EINVAL,
			  "FilterType \"Sql\" takes a 'SqlFilter' object", NULL);
	expect_json_error(rule_json("{\"Name\":\"r\",\"Properties\":{\"FilterType\":\"Correlation\","
				    "\"CorrelationFilter\":{}}}"),
			  LZ_EINVAL, "rule 'r'", "at least one property to match", NULL);
	expect_json_error(rule_json("{\"Name\":\"r\",\"Properties\":{\"FilterType\":\"Correlation\","
				    "\"CorrelationFilter\":{\"Subject\":\"x\"}}}"),
			  LZ_EINVAL, "rule 'r' of subscription 's1' of topic 't1': CorrelationFilter: unknown key 'Subject'",
			  NULL);
	expect_json_error(rule_json("{\"Name\":\"r\",\"Properties\":{\"FilterType\":\"Correlation\","
				    "\"CorrelationFilter\":{\"Label\":1}}}"),
			  LZ_EINVAL, "CorrelationFilter: property 'Label': expected a string, found an integer", NULL);
	expect_json_error(rule_json("{\"Name\":\"r\",\"Properties\":{\"FilterType\":\"Correlation\","
				    "\"CorrelationFilter\":{\"Properties\":{\"k\":[1]}}}}"),
			  LZ_EINVAL, "user property 'k': expected a string, number or boolean, found an array", NULL);
	expect_json_error(rule_json("{\"Name\":\"r\",\"Properties\":{\"FilterType\":\"Sql\",\"SqlFilter\":"
				    "{\"SqlExpression\":\"  \"}}}"),
			  LZ_EINVAL, "rule 'r'", "expression cannot be null or empty", NULL);
	expect_json_error(rule_json("{\"Name\":\"r\",\"Properties\":{\"FilterType\":\"Sql\",\"SqlFilter\":"
				    "{\"SqlExpression\":\"1=1\"},\"Action\":{\"Sql\":\"x\"}}}"),
			  LZ_EINVAL, "rule 'r' of subscription 's1' of topic 't1': Action: unknown key 'Sql'", NULL);
	expect_json_error(rule_json("{\"Name\":\"r\",\"Properties\":{\"FilterType\":\"Sql\",\"SqlFilter\":"
				    "{\"SqlExpression\":\"1=1\"}}},{\"Name\":\"R\",\"Properties\":{\"FilterType\":\"Sql\","
				    "\"SqlFilter\":{\"SqlExpression\":\"1=1\"}}}"),
			  LZ_EINVAL, "rule 'R' of subscription 's1' of topic 't1' is declared twice", NULL);
	/* Malformed JSON: line and column, after comments (which keep line numbers). */
	expect_json_error("// c\n/* a\n b */ {\n  \"UserConfig\": {,}\n}", LZ_EPARSE, "Config.json:4:18: invalid JSON",
			  NULL);
	expect_json_error("{\"UserConfig\":{}, \"UserConfig\":{}}", LZ_EPARSE, "invalid JSON", "duplicate", NULL);
	expect_json_error("{/* open", LZ_EPARSE, "Config.json:1:2: the comment starting here never ends", NULL);
	expect_json_error("{\"UserConfig\":{\"Namespaces\":[{\"Name\":\"a\\u0000b\"}]}}", LZ_EPARSE, "invalid JSON",
			  NULL);
}
END_TEST

START_TEST(json_accepts)
{
	struct provision_list l;

	/* Namespace name, Logging and empty arrays are accepted; so is a namespace with nothing. */
	parse_json_ok("{\"UserConfig\":{\"Namespaces\":[{\"Name\":\"anything at all\"}],\"Logging\":{\"Type\":\"x\"}}}",
		      &l);
	ck_assert_uint_eq(l.n, 0);
	parse_json_ok("{\"UserConfig\":{\"Namespaces\":[]}}", &l);
	ck_assert_uint_eq(l.n, 0);
	/* Wider than the emulator's quotas where Azure is: 20 deliveries, a 5 s lock on a subscription,
	 * a TTL of 14 days. */
	parse_json_ok(queue_json("\"MaxDeliveryCount\":20,\"DefaultMessageTimeToLive\":\"P14D\""), &l);
	ck_assert_int_eq(l.items[0].desc.max_delivery_count, 20);
	ck_assert_int_eq(l.items[0].desc.default_ttl_ms, 14 * 24 * 60 * MIN);
	provision_list_release(&l);
	parse_json_ok("{\"UserConfig\":{\"Namespaces\":[{\"Topics\":[{\"Name\":\"t\",\"Subscriptions\":[{\"Name\":\"s\","
		      "\"Properties\":{\"LockDuration\":\"PT5S\"}}]}]}]}}",
		      &l);
	ck_assert_int_eq(l.items[1].desc.lock_duration_ms, 5 * SEC);
	provision_list_release(&l);
}
END_TEST

/* ---- YAML --------------------------------------------------------------------------------- */

/* sample_json's twin in the YAML settings file, with settings around it. */
static const char sample_yaml[] =
	"http_port: 0\n"
	"entities:\n"
	"  queues:\n"
	"    - name: queue.1\n"
	"      dead_lettering_on_message_expiration: false\n"
	"      default_message_time_to_live: PT1H\n"
	"      duplicate_detection_history_time_window: PT20S\n"
	"      forward_dead_lettered_messages_to: \"\"\n"
	"      forward_to: ''\n"
	"      lock_duration: PT1M\n"
	"      max_delivery_count: 3\n"
	"      requires_duplicate_detection: false\n"
	"      requires_session: false\n"
	"    - name: queue.2\n"
	"      dead_lettering_on_message_expiration: true\n"
	"      default_message_time_to_live: P1DT2H\n"
	"      duplicate_detection_history_time_window: PT5M\n"
	"      forward_dead_lettered_messages_to: queue.1\n"
	"      forward_to: topic.1\n"
	"      lock_duration: PT30S\n"
	"      max_delivery_count: 7\n"
	"      requires_duplicate_detection: true\n"
	"      requires_session: true\n"
	"  topics:\n"
	"    - name: topic.1\n"
	"      default_message_time_to_live: PT1H\n"
	"      duplicate_detection_history_time_window: PT20S\n"
	"      requires_duplicate_detection: true\n"
	"      subscriptions:\n"
	"        - name: subscription.1\n"
	"          dead_lettering_on_message_expiration: true\n"
	"          default_message_time_to_live: PT1H\n"
	"          lock_duration: PT2M\n"
	"          max_delivery_count: 3\n"
	"          forward_dead_lettered_messages_to: queue.1\n"
	"          forward_to: \"\"\n"
	"          requires_session: true\n"
	"          rules:\n"
	"            - name: app-prop-filter-1\n"
	"              correlation_filter:\n"
	"                content_type: application/text\n"
	"                correlation_id: id1\n"
	"                label: subject1\n"
	"                message_id: msgid1\n"
	"                reply_to: someQueue\n"
	"                reply_to_session_id: sessionId\n"
	"                session_id: session1\n"
	"                to: xyz\n"
	"        - name: subscription.2\n"
	"          forward_to: queue.1\n"
	"          rules:\n"
	"            - name: user-prop-filter-1\n"
	"              correlation_filter:\n"
	"                properties: {prop3: value3, n: 42, x: 1.5, b: true}\n"
	"            - {name: sql-filter-1, sql_filter: \"sys.Label = 'x' AND n > 1\", action: \"SET sys.Label = 'y'\"}\n"
	"        - name: subscription.3\n"
	"log_level: warn\n";

START_TEST(yaml_sample)
{
	struct provision_list l;
	char path[128];
	struct settings s;
	char where[200];

	snprintf(path, sizeof path, "%s", file_write(sample_yaml, "yaml"));

	/* The settings loader reads the same file and skips the section. */
	ck_assert_err(settings_load(path, (const char *const[]){ NULL }, &s, detail, sizeof detail), LZ_OK);
	ck_assert_int_eq(s.log_level, LOG_WARN);
	settings_release(&s);

	provision_list_init(&l);
	ck_assert_err(provision_parse_yaml(path, &l, detail, sizeof detail), LZ_OK);
	expect_sample(&l);
	ck_assert_int_eq(l.items[0].format, PROVISION_YAML);
	snprintf(where, sizeof where, "%s:4:7", path);
	ck_assert_str_eq(l.items[0].where, where);
	snprintf(where, sizeof where, "%s:39:15", path);
	ck_assert_str_eq(l.items[3].rules[0].where, where);
	provision_list_release(&l);

	/* A file without the section declares nothing; one with both sources appends (and a name
	 * declared in both is an error). */
	ck_assert_err(provision_parse_yaml(file_write("http_port: 1\n", "yaml"), &l, detail, sizeof detail), LZ_OK);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_err(provision_parse_yaml(file_write("", "yaml"), &l, detail, sizeof detail), LZ_OK);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_err(provision_parse_yaml(file_write("entities: {queues: [{name: yq}]}\n", "yaml"), &l, detail,
					   sizeof detail), LZ_OK);
	ck_assert_err(provision_parse_json_text(sample_json, strlen(sample_json), "Config.json", &l, detail,
						sizeof detail), LZ_OK);
	ck_assert_uint_eq(l.n, 7);
	ck_assert_err(provision_parse_yaml(path, &l, detail, sizeof detail), LZ_EINVAL);
	expect_detail("queue 'queue.1' is declared twice: queue 'queue.1' is declared at Config.json already");
	ck_assert_uint_eq(l.n, 7);
	provision_list_release(&l);
}
END_TEST

/* Parsing the YAML `text` fails with `want`, a detail starting with the file and "line:column: "
 * `pos` and holding `needle`. */
static void expect_yaml_error(const char *text, lz_err want, const char *pos, const char *needle)
{
	struct provision_list l;
	const char *path = file_write(text, "yaml");
	char where[200];

	provision_list_init(&l);
	ck_assert_msg(provision_parse_yaml(path, &l, detail, sizeof detail) == want, "%s: %s", text, detail);
	snprintf(where, sizeof where, "%s:%s", path, pos);
	ck_assert_msg(strncmp(detail, where, strlen(where)) == 0, "'%s' does not start with '%s'", detail, where);
	expect_detail(needle);
	ck_assert_uint_eq(l.n, 0);
	provision_list_release(&l);
}

START_TEST(yaml_errors)
{
	expect_yaml_error("entities:\n  queues:\n    - name: q1\n      lock_durations: PT1M\n", LZ_EINVAL, "4:7: ",
			  "queue 'q1': unknown key 'lock_durations': accepted keys are name, dead_lettering_on_message_"
			  "expiration, default_message_time_to_live");
	expect_yaml_error("entities:\n  queues:\n    - name: q1\n      LockDuration: PT1M\n", LZ_EINVAL, "4:7: ",
			  "unknown key 'LockDuration'");
	expect_yaml_error("entities:\n  topics:\n    - name: t\n      lock_duration: PT1M\n", LZ_EINVAL, "4:7: ",
			  "accepted keys are name, subscriptions, default_message_time_to_live, "
			  "duplicate_detection_history_time_window, requires_duplicate_detection");
	expect_yaml_error("entities:\n  queues:\n    - name: q1\n      lock_duration: 30s\n", LZ_EINVAL, "4:22: ",
			  "queue 'q1': property 'lock_duration': '30s' is not an ISO 8601 duration");
	expect_yaml_error("entities:\n  queues:\n    - name: q1\n      max_delivery_count: 0\n", LZ_EINVAL, "4:27: ",
			  "property 'max_delivery_count': The value supplied must be greater than or equal to 1");
	expect_yaml_error("entities:\n  queues:\n    - name: q1\n      max_delivery_count: '5'\n", LZ_EINVAL, "4:27: ",
			  "expected an integer, found a string");
	expect_yaml_error("entities:\n  queues:\n    - name: q1\n      requires_session: yes\n", LZ_EINVAL, "4:25: ",
			  "expected true or false, found a string");
	expect_yaml_error("entities:\n  queues:\n    - name: q1\n      forward_to:\n", LZ_EINVAL, "4:18: ",
			  "expected an entity name in a string, found no value");
	expect_yaml_error("entities:\n  queues:\n    - lock_duration: PT1M\n", LZ_EINVAL, "3:7: ",
			  "queues: an item has no 'name'");
	expect_yaml_error("entities:\n  queues:\n    - name: [a]\n", LZ_EINVAL, "3:13: ",
			  "the name in queues must be a non-empty string, found a list");
	expect_yaml_error("entities:\n  queues:\n    - name: q1\n      name: q2\n", LZ_EINVAL, "4:7: ",
			  "'name' given twice");
	expect_yaml_error("entities:\n  queues:\n    - name: q1\n    - name: Q1\n", LZ_EINVAL, "4:7: ",
			  "queue 'Q1' is declared twice: queue 'q1' is declared at ");
	expect_yaml_error("entities:\n  queues: {name: q1}\n", LZ_EINVAL, "2:11: ", "queues must be a list, found a mapping");
	expect_yaml_error("entities:\n  queue: []\n", LZ_EINVAL, "2:3: ",
			  "entities: unknown key 'queue': accepted keys are queues, topics");
	expect_yaml_error("entities:\n", LZ_EINVAL, "1:10: ", "entities has no value");
	expect_yaml_error("entities: [q1]\n", LZ_EINVAL, "1:11: ", "entities must be a mapping, found a list");
	expect_yaml_error("entities: {}\nentities: {}\n", LZ_EINVAL, "2:1: ", "'entities' given twice");
	expect_yaml_error("entities:\n  topics:\n    - name: t\n      subscriptions:\n        - name: a/b\n", LZ_EINVAL,
			  "5:11: ", "subscription 'a/b' of topic 't': invalid name");
	expect_yaml_error("entities:\n  topics:\n    - name: t\n      subscriptions:\n        - name: s\n          rules:\n"
			  "            - name: r\n",
			  LZ_EINVAL, "7:15: ",
			  "rule 'r' of subscription 's' of topic 't': give exactly one of sql_filter and correlation_filter");
	expect_yaml_error("entities:\n  topics:\n    - name: t\n      subscriptions:\n        - name: s\n          rules:\n"
			  "            - {name: r, sql_filter: '1=1', filter: x}\n",
			  LZ_EINVAL, "7:44: ", "unknown key 'filter': accepted keys are name, sql_filter, correlation_filter, action");
	expect_yaml_error("entities:\n  topics:\n    - name: t\n      subscriptions:\n        - name: s\n          rules:\n"
			  "            - {name: r, correlation_filter: {subject: x}}\n",
			  LZ_EINVAL, "7:46: ", "rule 'r' of subscription 's' of topic 't': unknown key 'subject'");
	expect_yaml_error("entities:\n  topics:\n    - name: t\n      subscriptions:\n        - name: s\n          rules:\n"
			  "            - {name: r, correlation_filter: {properties: {k: {a: 1}}}}\n",
			  LZ_EINVAL, "7:62: ", "user property 'k': expected a string, number or boolean, found a mapping");
	expect_yaml_error("entities:\n  topics:\n    - name: t\n      subscriptions:\n        - name: s\n          rules:\n"
			  "            - {name: r, correlation_filter: {}}\n",
			  LZ_EINVAL, "7:15: ", "at least one property to match");
	/* YAML syntax errors. */
	expect_yaml_error("entities:\n  queues:\n    - name: q1\n   bad: [\n", LZ_EPARSE, "4:", "YAML syntax error");
}
END_TEST

START_TEST(yaml_scalars)
{
	struct provision_list l;
	const struct value *v;
	const char *path = file_write("entities:\n  topics:\n    - name: t\n      subscriptions:\n        - name: s\n"
				      "          rules:\n            - name: r\n              correlation_filter:\n"
				      "                label: 42\n                properties:\n"
				      "                  q: '42'\n                  n: -7\n                  d: 2.5\n"
				      "                  f: false\n                  s: yes\n",
				      "yaml");

	provision_list_init(&l);
	ck_assert_err(provision_parse_yaml(path, &l, detail, sizeof detail), LZ_OK);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_str_eq(l.items[1].rules[0].desc.corr.label, "42"); /* correlation fields are strings */
	v = proplist_get(&l.items[1].rules[0].desc.corr.properties, "q");
	ck_assert(v->type == VALUE_STRING && strcmp(v->u.s, "42") == 0);
	v = proplist_get(&l.items[1].rules[0].desc.corr.properties, "n");
	ck_assert(v->type == VALUE_LONG && v->u.i == -7);
	v = proplist_get(&l.items[1].rules[0].desc.corr.properties, "d");
	ck_assert(v->type == VALUE_DOUBLE && v->u.d == 2.5);
	v = proplist_get(&l.items[1].rules[0].desc.corr.properties, "f");
	ck_assert(v->type == VALUE_BOOL && !v->u.b);
	v = proplist_get(&l.items[1].rules[0].desc.corr.properties, "s");
	ck_assert(v->type == VALUE_STRING && strcmp(v->u.s, "yes") == 0);
	provision_list_release(&l);
}
END_TEST

/* ---- applying ----------------------------------------------------------------------------- */

static char *dump(void)
{
	char *text;
	size_t len;

	ck_assert_int_eq(core_dump(c, &text, &len), LZ_OK);
	return text;
}

static void apply_ok(const struct provision_list *l, size_t want_created)
{
	size_t created = 99;

	ck_assert_err(provision_apply(c, l, &created, detail, sizeof detail), LZ_OK);
	ck_assert_uint_eq(created, want_created);
}

START_TEST(apply_sample)
{
	struct provision_list l;
	struct entity_info info;
	struct rule_desc *rules;
	struct lz_detail why;
	size_t n;
	char *before, *after;

	parse_json_ok(sample_json, &l);
	/* 6 entities and 3 rules (subscription.3 gets $Default, which is not a declaration). */
	apply_ok(&l, 9);
	ck_assert_int_eq(core_entity_get(c, "queue.2", &info, &why), LZ_OK);
	ck_assert_int_eq(info.desc.lock_duration_ms, 30 * SEC);
	ck_assert_int_eq(info.desc.max_delivery_count, 7);
	ck_assert_str_eq(info.desc.forward_to, "topic.1");
	ck_assert_str_eq(info.desc.forward_dlq_to, "queue.1");
	ck_assert(info.desc.requires_session);
	entity_info_release(&info);
	ck_assert_int_eq(core_entity_get(c, "topic.1/subscriptions/subscription.2", &info, &why), LZ_OK);
	ck_assert_str_eq(info.desc.forward_to, "queue.1");
	entity_info_release(&info);

	/* The first declared rule replaced $Default; a subscription without rules has $Default. */
	ck_assert_int_eq(core_rule_list(c, "topic.1/subscriptions/subscription.1", 0, 0, &rules, &n, &why), LZ_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(rules[0].name, "app-prop-filter-1");
	ck_assert_str_eq(rules[0].corr.to, "xyz");
	rule_desc_array_free(rules, n);
	ck_assert_int_eq(core_rule_list(c, "topic.1/subscriptions/subscription.2", 0, 0, &rules, &n, &why), LZ_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(rules[0].name, "sql-filter-1");
	ck_assert_str_eq(rules[0].action_sql, "SET sys.Label = 'y'");
	ck_assert_str_eq(rules[1].name, "user-prop-filter-1");
	rule_desc_array_free(rules, n);
	ck_assert_int_eq(core_rule_list(c, "topic.1/subscriptions/subscription.3", 0, 0, &rules, &n, &why), LZ_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(rules[0].name, "$Default");
	rule_desc_array_free(rules, n);

	/* A second apply (the next start) changes nothing. */
	before = dump();
	ck_assert_int_eq(clock_advance(clk, 5000), LZ_OK);
	apply_ok(&l, 0);
	after = dump();
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	provision_list_release(&l);
}
END_TEST

START_TEST(apply_keeps_existing)
{
	struct provision_list l;
	struct entity_desc d;
	struct entity_info info;
	struct rule_desc *rules;
	struct lz_detail why;
	size_t n;

	/* queue.1 exists with other properties, and subscription.2 with only $Default. */
	entity_desc_defaults(&d, ENTITY_QUEUE);
	d.max_delivery_count = 9;
	ck_assert_int_eq(core_entity_put(c, "queue.1", &d, false, NULL, NULL, &why), LZ_OK);
	entity_desc_release(&d);
	entity_desc_defaults(&d, ENTITY_TOPIC);
	ck_assert_int_eq(core_entity_put(c, "TOPIC.1", &d, false, NULL, NULL, &why), LZ_OK);
	entity_desc_defaults(&d, ENTITY_SUBSCRIPTION);
	ck_assert_int_eq(core_entity_put(c, "topic.1/subscriptions/subscription.2", &d, false, NULL, NULL, &why), LZ_OK);

	parse_json_ok(sample_json, &l);
	/* queue.2, subscription.1 + its rule, subscription.3, and subscription.2's two rules. */
	apply_ok(&l, 6);
	ck_assert_int_eq(core_entity_get(c, "queue.1", &info, &why), LZ_OK);
	ck_assert_int_eq(info.desc.max_delivery_count, 9); /* kept, not the declared 3 */
	entity_info_release(&info);
	ck_assert_int_eq(core_entity_get(c, "topic.1", &info, &why), LZ_OK);
	ck_assert_str_eq(info.path, "TOPIC.1");
	ck_assert(!info.desc.requires_duplicate_detection);
	entity_info_release(&info);
	/* Missing rules of an existing subscription are added; its $Default stays. */
	ck_assert_int_eq(core_rule_list(c, "topic.1/subscriptions/subscription.2", 0, 0, &rules, &n, &why), LZ_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(rules[0].name, "$Default");
	rule_desc_array_free(rules, n);
	provision_list_release(&l);
}
END_TEST

static void parse_yaml_ok(const char *text, struct provision_list *l)
{
	provision_list_init(l);
	ck_assert_err(provision_parse_yaml(file_write(text, "yaml"), l, detail, sizeof detail), LZ_OK);
}

START_TEST(apply_forward_order)
{
	struct provision_list l;
	struct entity_info info;
	struct lz_detail why;

	/* a → b → c declared in reverse order; x ↔ y forward to each other (a cycle); z → x. */
	parse_yaml_ok("entities:\n  queues:\n"
		      "    - {name: a, forward_to: b}\n"
		      "    - {name: b, forward_dead_lettered_messages_to: c}\n"
		      "    - {name: c}\n"
		      "    - {name: z, forward_to: x}\n"
		      "    - {name: x, forward_to: y}\n"
		      "    - {name: y, forward_to: x, forward_dead_lettered_messages_to: c}\n",
		      &l);
	apply_ok(&l, 6);
	ck_assert_int_eq(core_entity_get(c, "a", &info, &why), LZ_OK);
	ck_assert_str_eq(info.desc.forward_to, "b");
	entity_info_release(&info);
	ck_assert_int_eq(core_entity_get(c, "x", &info, &why), LZ_OK);
	ck_assert_str_eq(info.desc.forward_to, "y");
	entity_info_release(&info);
	ck_assert_int_eq(core_entity_get(c, "y", &info, &why), LZ_OK);
	ck_assert_str_eq(info.desc.forward_to, "x");
	ck_assert_str_eq(info.desc.forward_dlq_to, "c");
	entity_info_release(&info);
	ck_assert_int_eq(core_entity_get(c, "z", &info, &why), LZ_OK);
	ck_assert_str_eq(info.desc.forward_to, "x");
	entity_info_release(&info);
	provision_list_release(&l);
}
END_TEST

START_TEST(apply_errors)
{
	struct provision_list l;
	struct entity_desc d;
	struct entity_info info;
	struct lz_detail why;
	char *before, *after;

	/* A forwarding target declared nowhere: refused before anything is created. */
	parse_yaml_ok("entities:\n  queues:\n    - {name: q0}\n  topics:\n    - name: t\n      subscriptions:\n"
		      "        - {name: s, forward_to: nowhere}\n",
		      &l);
	ck_assert_err(provision_apply(c, &l, NULL, detail, sizeof detail), LZ_EINVAL);
	expect_detail(":7:11: subscription 's' of topic 't': property 'forward_to': the destination 'nowhere' is "
		      "neither declared nor an existing queue or topic");
	ck_assert_int_eq(core_entity_get(c, "q0", &info, &why), LZ_ENOTFOUND);
	provision_list_release(&l);

	/* ... which an existing queue satisfies; a subscription is no target. */
	entity_desc_defaults(&d, ENTITY_QUEUE);
	ck_assert_int_eq(core_entity_put(c, "nowhere", &d, false, NULL, NULL, &why), LZ_OK);
	parse_json_ok(queue_json("\"ForwardTo\":\"topic.1/subscriptions/subscription.1\""), &l);
	ck_assert_err(provision_parse_json_text(sample_json, strlen(sample_json), "Config.json", &l, detail,
						sizeof detail), LZ_OK);
	ck_assert_err(provision_apply(c, &l, NULL, detail, sizeof detail), LZ_EINVAL);
	expect_detail("Config.json: queue 'q1': property 'ForwardTo': the destination "
		      "'topic.1/subscriptions/subscription.1' is neither declared nor an existing queue or topic");
	provision_list_release(&l);

	/* Forwarding to itself. */
	parse_json_ok(queue_json("\"ForwardTo\":\"Q1\""), &l);
	ck_assert_err(provision_apply(c, &l, NULL, detail, sizeof detail), LZ_EINVAL);
	expect_detail("queue 'q1': property 'ForwardTo': an entity cannot forward to itself");
	provision_list_release(&l);

	/* Declared as a queue, existing as a topic. */
	entity_desc_defaults(&d, ENTITY_TOPIC);
	ck_assert_int_eq(core_entity_put(c, "q1", &d, false, NULL, NULL, &why), LZ_OK);
	before = dump();
	parse_json_ok(queue_json(""), &l);
	ck_assert_err(provision_apply(c, &l, NULL, detail, sizeof detail), LZ_EINVAL);
	expect_detail("Config.json: queue 'q1': a topic of that name exists already");
	after = dump();
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
	provision_list_release(&l);

	/* An empty list does nothing. */
	provision_list_init(&l);
	apply_ok(&l, 0);
}
END_TEST

static Suite *provision_suite(void)
{
	Suite *s = suite_create("provision");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, strip_comments);
	tcase_add_test(tc, json_sample);
	tcase_add_test(tc, json_errors);
	tcase_add_test(tc, json_accepts);
	tcase_add_test(tc, yaml_sample);
	tcase_add_test(tc, yaml_errors);
	tcase_add_test(tc, yaml_scalars);
	tcase_add_test(tc, apply_sample);
	tcase_add_test(tc, apply_keeps_existing);
	tcase_add_test(tc, apply_forward_order);
	tcase_add_test(tc, apply_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(provision_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
