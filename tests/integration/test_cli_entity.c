/*
 * The `localzure` entity helpers end to end: the real CLI against a real broker (in memory,
 * manual clock, random port). Every subcommand's happy path in text and --json; wrong arguments
 * exit 2 and send nothing (checked over HTTP); a missing entity exits 5, a duplicate create 4,
 * a closed port 3 with the URL in the message; send → peek → receive round trips keep the body,
 * the system properties and typed user properties.
 */
#include <arpa/inet.h>
#include <check.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "harness_pd.h"

/* Runs localzure against the current broker (--url appended); `stdin_text` may be NULL. */
static void ecli(struct cli_result *r, const char *stdin_text, const char *const *args)
{
	const char *argv[40];
	size_t n = 0;

	while (args[n] != NULL) {
		ck_assert_uint_lt(n, 36);
		argv[n] = args[n];
		n++;
	}
	argv[n++] = "--url";
	argv[n++] = lzb_cur->base;
	argv[n] = NULL;
	h_cli_run(argv, NULL, stdin_text, 30000, r);
}

#define ECLI(r, ...) ecli((r), NULL, (const char *const[]){ __VA_ARGS__, NULL })
#define ECLI_IN(r, in, ...) ecli((r), (in), (const char *const[]){ __VA_ARGS__, NULL })

static void expect_exit(const struct cli_result *r, int code, const char *err_needle)
{
	ck_assert_msg(r->status == code, "exit %d, want %d\nstdout: %s\nstderr: %s", r->status, code, r->out,
		      r->err);
	if (err_needle != NULL)
		ck_assert_msg(strstr(r->err, err_needle) != NULL, "stderr lacks '%s': %s", err_needle, r->err);
}

static void expect_out(const struct cli_result *r, const char *needle)
{
	ck_assert_msg(strstr(r->out, needle) != NULL, "stdout lacks '%s': %s", needle, r->out);
}

static json_t *json_out(const struct cli_result *r)
{
	json_error_t e;
	json_t *doc = json_loads(r->out, 0, &e);

	ck_assert_msg(doc != NULL, "--json output does not parse (%s): %s", e.text, r->out);
	return doc;
}

/* Runs and expects exit 0; frees the result. */
#define ECLI_OK(...)                                      \
	do {                                              \
		struct cli_result ok_;                    \
		ECLI(&ok_, __VA_ARGS__);                  \
		expect_exit(&ok_, 0, NULL);               \
		h_cli_free(&ok_);                         \
	} while (0)

static long http_status(const char *path)
{
	struct http_resp r;
	long st = http_get(path, &r);

	http_resp_free(&r);
	return st;
}

START_TEST(queue_commands)
{
	struct cli_result r;
	json_t *doc, *ent;
	struct http_resp h;

	BROKER_START();
	ECLI(&r, "queue", "create", "orders", "--lock-duration", "PT45S", "--max-delivery-count", "3",
	     "--default-ttl", "P1D", "--requires-duplicate-detection", "--dead-lettering-on-expiration",
	     "--user-metadata", "a<b>&c");
	expect_exit(&r, 0, NULL);
	expect_out(&r, "created queue orders");
	expect_out(&r, "PT45S");
	h_cli_free(&r);
	ck_assert_int_eq(http_get("/orders", &h), 200);
	CK_XML_EQ(h.body, "LockDuration", "PT45S");
	CK_XML_EQ(h.body, "MaxDeliveryCount", "3");
	CK_XML_EQ(h.body, "DefaultMessageTimeToLive", "P1D");
	CK_XML_EQ(h.body, "RequiresDuplicateDetection", "true");
	CK_XML_EQ(h.body, "DeadLetteringOnMessageExpiration", "true");
	CK_XML_EQ(h.body, "UserMetadata", "a<b>&c");
	http_resp_free(&h);

	ECLI(&r, "queue", "create", "--json", "fwd", "--forward-to", "orders");
	expect_exit(&r, 0, NULL);
	doc = json_out(&r);
	CK_J_STR(doc, "name", "fwd");
	CK_J_STR(doc, "kind", "QueueDescription");
	ck_assert_ptr_nonnull(strstr(jstr(json_object_get(doc, "properties"), "ForwardTo"), "orders"));
	json_decref(doc);
	h_cli_free(&r);

	send_ok("orders", "one", NULL);
	ECLI(&r, "queue", "list");
	expect_exit(&r, 0, NULL);
	expect_out(&r, "orders");
	expect_out(&r, "fwd");
	expect_out(&r, "ACTIVE");
	h_cli_free(&r);
	ECLI(&r, "--json", "queue", "list");
	expect_exit(&r, 0, NULL);
	doc = json_out(&r);
	ck_assert_int_eq(json_array_size(doc), 2);
	ent = json_array_get(doc, 0);
	if (strcmp(jstr(ent, "name"), "orders") != 0)
		ent = json_array_get(doc, 1);
	CK_J_STR(ent, "name", "orders");
	CK_J_INT(json_object_get(ent, "counts"), "ActiveMessageCount", 1);
	CK_J_INT(json_object_get(ent, "properties"), "MaxDeliveryCount", 3);
	json_decref(doc);
	h_cli_free(&r);

	ECLI(&r, "queue", "show", "orders");
	expect_exit(&r, 0, NULL);
	expect_out(&r, "queue orders");
	expect_out(&r, "ActiveMessageCount");
	expect_out(&r, "LockDuration");
	h_cli_free(&r);
	ECLI(&r, "queue", "show", "orders", "--json");
	expect_exit(&r, 0, NULL);
	doc = json_out(&r);
	CK_J_INT(json_object_get(doc, "counts"), "ActiveMessageCount", 1);
	CK_J_INT(json_object_get(doc, "counts"), "DeadLetterMessageCount", 0);
	ck_assert(json_is_true(json_object_get(json_object_get(doc, "properties"), "RequiresDuplicateDetection")));
	json_decref(doc);
	h_cli_free(&r);

	ECLI(&r, "queue", "delete", "fwd");
	expect_exit(&r, 0, NULL);
	expect_out(&r, "deleted queue fwd");
	h_cli_free(&r);
	ck_assert_int_eq(http_status("/fwd"), 404);
	ECLI(&r, "--json", "queue", "delete", "orders");
	expect_exit(&r, 0, NULL);
	doc = json_out(&r);
	ck_assert(json_is_true(json_object_get(doc, "deleted")));
	json_decref(doc);
	h_cli_free(&r);
	ECLI(&r, "queue", "list");
	expect_exit(&r, 0, NULL);
	expect_out(&r, "(no queues)");
	h_cli_free(&r);
	BROKER_STOP();
}
END_TEST

START_TEST(topic_and_subscription_commands)
{
	struct cli_result r;
	json_t *doc;
	struct http_resp h;

	BROKER_START();
	ECLI_OK("topic", "create", "events", "--default-ttl", "PT1H", "--requires-duplicate-detection");
	ck_assert_int_eq(http_get("/events", &h), 200);
	CK_XML_EQ(h.body, "DefaultMessageTimeToLive", "PT1H");
	CK_XML_EQ(h.body, "RequiresDuplicateDetection", "true");
	http_resp_free(&h);
	ECLI_OK("subscription", "create", "events", "audit", "--lock-duration", "PT20S", "--max-delivery-count", "4");
	ck_assert_int_eq(http_get("/events/subscriptions/audit", &h), 200);
	CK_XML_EQ(h.body, "LockDuration", "PT20S");
	CK_XML_EQ(h.body, "MaxDeliveryCount", "4");
	http_resp_free(&h);
	ECLI_OK("subscription", "create", "events", "billing");
	send_ok("events", "fan-out", NULL);

	ECLI(&r, "topic", "list");
	expect_exit(&r, 0, NULL);
	expect_out(&r, "events");
	expect_out(&r, "SUBSCRIPTIONS");
	h_cli_free(&r);
	ECLI(&r, "topic", "list", "--json");
	expect_exit(&r, 0, NULL);
	doc = json_out(&r);
	ck_assert_int_eq(json_array_size(doc), 1);
	CK_J_INT(json_object_get(json_array_get(doc, 0), "properties"), "SubscriptionCount", 2);
	json_decref(doc);
	h_cli_free(&r);
	ECLI(&r, "topic", "show", "events");
	expect_exit(&r, 0, NULL);
	expect_out(&r, "topic events");
	expect_out(&r, "SubscriptionCount");
	h_cli_free(&r);
	/* a queue name given to `topic show` is not a topic */
	mk_queue("plain", NULL);
	ECLI(&r, "topic", "show", "plain");
	expect_exit(&r, 5, "not a topic");
	h_cli_free(&r);

	ECLI(&r, "subscription", "list", "events");
	expect_exit(&r, 0, NULL);
	expect_out(&r, "audit");
	expect_out(&r, "billing");
	h_cli_free(&r);
	ECLI(&r, "--json", "subscription", "list", "events");
	expect_exit(&r, 0, NULL);
	doc = json_out(&r);
	ck_assert_int_eq(json_array_size(doc), 2);
	CK_J_INT(json_object_get(json_array_get(doc, 0), "counts"), "ActiveMessageCount", 1);
	json_decref(doc);
	h_cli_free(&r);
	ECLI(&r, "subscription", "show", "events", "audit", "--json");
	expect_exit(&r, 0, NULL);
	doc = json_out(&r);
	CK_J_STR(doc, "kind", "SubscriptionDescription");
	CK_J_INT(json_object_get(doc, "properties"), "MaxDeliveryCount", 4);
	json_decref(doc);
	h_cli_free(&r);
	ECLI(&r, "subscription", "show", "events", "audit");
	expect_exit(&r, 0, NULL);
	expect_out(&r, "subscription events/subscriptions/audit");
	h_cli_free(&r);

	ECLI_OK("subscription", "delete", "events", "billing");
	ck_assert_int_eq(http_status("/events/subscriptions/billing"), 404);
	ECLI_OK("topic", "delete", "events");
	ck_assert_int_eq(http_status("/events"), 404);
	BROKER_STOP();
}
END_TEST

START_TEST(wrong_arguments_send_nothing)
{
	static const char *const cases[][8] = {
		{ "queue", "create", "bad1", "--lock-duration", "thirty", NULL },
		{ "queue", "create", "bad1", "--max-delivery-count", "0", NULL },
		{ "queue", "create", "bad1", "--max-delivery-count", NULL },
		{ "queue", "create", "bad1", "--status", "Sleeping", NULL },
		{ "queue", "create", "bad1", "--bogus", NULL },
		{ "queue", "create", "bad1", "--requires-session=yes", NULL },
		{ "queue", "create", "bad 1", NULL },
		{ "queue", "create", NULL },
		{ "queue", "create", "bad1", "extra", NULL },
		{ "topic", "create", "bad1", "--lock-duration", "PT1M", NULL },
		{ "subscription", "create", "bad1", NULL },
		{ "subscription", "create", "t", "a/b", NULL },
		{ "queue", "list", "bad1", NULL },
		{ "send", "bad1", "--body", "x", "--file", "/etc/hostname", NULL },
		{ "send", "q", "--property", "no-equals", NULL },
		{ "send", "q", "--property", "bad name=1", NULL },
		{ "send", "q", "--property", "BrokerProperties=1", NULL },
		{ "send", "q", "--ttl", "soon", "--body", "x", NULL },
		{ "send", "q/$DeadLetterQueue", "--body", "x", NULL },
		{ "receive", "q", "--count", "0", NULL },
		{ "receive", "q", "--complete", NULL },
		{ "receive", "q", "--timeout", "-1", NULL },
		{ "peek", "q", "--from-seq", "x", NULL },
		{ "peek", NULL },
		{ "queue", "show", "q", "--timeout", "0", NULL },
	};
	struct cli_result r;

	BROKER_START();
	mk_queue("q", NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ecli(&r, "stdin body", cases[i]);
		ck_assert_msg(r.status == 2, "case %zu (%s %s): exit %d\nstderr: %s", i, cases[i][0], cases[i][1],
			      r.status, r.err);
		ck_assert_msg(strstr(r.err, "--help") != NULL, "case %zu: %s", i, r.err);
		h_cli_free(&r);
	}
	/* a malformed --url is a usage error too */
	h_cli_run((const char *const[]){ "queue", "list", "--url", "localhost:5300", NULL }, NULL, NULL, 30000, &r);
	expect_exit(&r, 2, "--url");
	h_cli_free(&r);
	/* nothing was created or sent */
	ck_assert_int_eq(http_status("/bad1"), 404);
	ck_assert_int_eq(http_status("/t/subscriptions/a"), 404);
	ck_assert_int_eq(entity_count("/q", "ActiveMessageCount"), 0);
	/* a value only the broker refuses: 400 → exit 2 with its Detail, nothing created */
	ECLI(&r, "queue", "create", "bad1", "--lock-duration", "P1000D");
	ck_assert_msg(r.status == 2 || r.status == 0, "exit %d: %s", r.status, r.err);
	if (r.status == 2)
		ck_assert_int_eq(http_status("/bad1"), 404);
	h_cli_free(&r);
	BROKER_STOP();
}
END_TEST

START_TEST(not_found_duplicate_unreachable)
{
	struct cli_result r;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	char url[64];
	json_t *doc;
	int fd;

	BROKER_START();
	mk_queue("q", NULL);
	mk_topic("t", NULL);
	ECLI(&r, "queue", "show", "nope");
	expect_exit(&r, 5, "could not be found");
	h_cli_free(&r);
	ECLI(&r, "queue", "delete", "nope");
	expect_exit(&r, 5, NULL);
	h_cli_free(&r);
	ECLI(&r, "subscription", "list", "nope");
	expect_exit(&r, 5, NULL);
	h_cli_free(&r);
	ECLI(&r, "subscription", "create", "nope", "s");
	expect_exit(&r, 5, NULL);
	h_cli_free(&r);
	ECLI(&r, "send", "nope", "--body", "x");
	expect_exit(&r, 5, "could not be found");
	h_cli_free(&r);
	ECLI(&r, "receive", "nope", "--timeout", "0");
	expect_exit(&r, 5, NULL);
	h_cli_free(&r);
	ECLI(&r, "peek", "nope");
	expect_exit(&r, 5, NULL);
	h_cli_free(&r);
	/* --json: the error document on stdout */
	ECLI(&r, "--json", "topic", "show", "nope");
	expect_exit(&r, 5, NULL);
	doc = json_out(&r);
	CK_J_INT(doc, "exit", 5);
	ck_assert_ptr_nonnull(strstr(jstr(doc, "error"), "could not be found"));
	json_decref(doc);
	h_cli_free(&r);

	ECLI(&r, "queue", "create", "q");
	expect_exit(&r, 4, "already exists");
	h_cli_free(&r);
	ECLI(&r, "topic", "create", "t");
	expect_exit(&r, 4, NULL);
	h_cli_free(&r);

	/* a closed port: bind one, read its number, close it */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(sa.sin_port));
	h_cli_run((const char *const[]){ "queue", "list", "--url", url, NULL }, NULL, NULL, 30000, &r);
	expect_exit(&r, 3, url);
	ck_assert_msg(strstr(r.err, "--url") != NULL, "%s", r.err);
	h_cli_free(&r);
	/* the same through the configuration (http_host/http_port) */
	{
		const char *env[] = { "LOCALZURE_HTTP_HOST=127.0.0.1", sfmt("LOCALZURE_HTTP_PORT=%d", ntohs(sa.sin_port)),
				      NULL };

		h_cli_run((const char *const[]){ "send", "q", "--body", "x", NULL }, env, NULL, 30000, &r);
		expect_exit(&r, 3, url);
		h_cli_free(&r);
	}
	BROKER_STOP();
}
END_TEST

START_TEST(send_peek_receive_round_trip)
{
	struct cli_result r;
	json_t *doc, *m, *bp, *up;
	char path[] = "/tmp/lz-cli-body-XXXXXX";
	struct http_resp h;
	int fd;

	BROKER_START();
	mk_queue("q", NULL);
	ECLI(&r, "send", "q", "--body", "hello world", "--property", "tenant=contoso", "--property", "n=3",
	     "--property", "ratio=2.5", "--property", "flag=true", "--property", "code=\"7\"", "--label", "greeting",
	     "--message-id", "m-1", "--ttl", "PT1M");
	expect_exit(&r, 0, NULL);
	expect_out(&r, "sent 11 bytes to q");
	h_cli_free(&r);
	ECLI_IN(&r, "from stdin\n", "send", "q", "--json");
	expect_exit(&r, 0, NULL);
	doc = json_out(&r);
	ck_assert(json_is_true(json_object_get(doc, "sent")));
	json_decref(doc);
	h_cli_free(&r);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "\x01\x02\x00\xff", 4), 4);
	close(fd);
	ECLI(&r, "send", "q", "--file", path, "--content-type", "application/octet-stream");
	expect_exit(&r, 0, NULL);
	h_cli_free(&r);
	unlink(path);

	/* peek: nothing is removed or locked */
	ECLI(&r, "peek", "q");
	expect_exit(&r, 0, NULL);
	expect_out(&r, "hello world");
	expect_out(&r, "greeting");
	expect_out(&r, "contoso");
	expect_out(&r, "from stdin");
	expect_out(&r, "binary");
	h_cli_free(&r);
	ECLI(&r, "peek", "q", "--json", "--count", "2");
	expect_exit(&r, 0, NULL);
	doc = json_out(&r);
	ck_assert_int_eq(json_array_size(doc), 2);
	m = json_array_get(doc, 0);
	CK_J_STR(m, "Body", "hello world");
	bp = json_object_get(m, "BrokerProperties");
	CK_J_STR(bp, "Label", "greeting");
	CK_J_STR(bp, "MessageId", "m-1");
	CK_J_INT(bp, "TimeToLive", 60);
	CK_J_INT(bp, "SequenceNumber", 1);
	up = json_object_get(m, "UserProperties");
	CK_J_STR(up, "tenant", "contoso");
	CK_J_INT(up, "n", 3);
	CK_J_STR(up, "code", "7");
	ck_assert(json_is_true(json_object_get(up, "flag")));
	ck_assert(json_real_value(json_object_get(up, "ratio")) == 2.5);
	json_decref(doc);
	h_cli_free(&r);
	ECLI(&r, "peek", "q", "--from-seq", "3", "--json");
	expect_exit(&r, 0, NULL);
	doc = json_out(&r);
	ck_assert_int_eq(json_array_size(doc), 1);
	m = json_array_get(doc, 0);
	ck_assert(json_is_null(json_object_get(m, "Body")));
	CK_J_STR(m, "BodyBase64", "AQIA/w==");
	json_decref(doc);
	h_cli_free(&r);
	ck_assert_int_eq(entity_count("/q", "ActiveMessageCount"), 3);

	/* peek-lock: lock info printed, the message stays (locked) */
	ECLI(&r, "receive", "q", "--peek-lock", "--timeout", "0", "--json");
	expect_exit(&r, 0, NULL);
	doc = json_out(&r);
	m = json_array_get(doc, 0);
	ck_assert_ptr_nonnull(jstr(m, "LockLocation"));
	ck_assert_ptr_nonnull(strstr(jstr(m, "LockLocation"), "/q/messages/1/"));
	ck_assert_ptr_nonnull(jstr(json_object_get(m, "BrokerProperties"), "LockToken"));
	CK_J_INT(json_object_get(m, "UserProperties"), "n", 3);
	/* complete it over HTTP with the printed lock path */
	ck_assert_int_eq(http_delete(jstr(m, "LockLocation"), &h), 200);
	http_resp_free(&h);
	json_decref(doc);
	h_cli_free(&r);
	ck_assert_int_eq(entity_count("/q", "ActiveMessageCount"), 2);

	/* peek-lock with --complete, text output */
	ECLI(&r, "receive", "q", "--peek-lock", "--complete", "--timeout", "0");
	expect_exit(&r, 0, NULL);
	expect_out(&r, "from stdin");
	expect_out(&r, "LockToken");
	h_cli_free(&r);
	ck_assert_int_eq(entity_count("/q", "ActiveMessageCount"), 1);

	/* receive-and-delete, more asked than there is */
	ECLI(&r, "receive", "q", "--count", "5", "--timeout", "0", "--json");
	expect_exit(&r, 0, NULL);
	doc = json_out(&r);
	ck_assert_int_eq(json_array_size(doc), 1);
	CK_J_STR(json_array_get(doc, 0), "ContentType", "application/octet-stream");
	json_decref(doc);
	h_cli_free(&r);
	ECLI(&r, "receive", "q", "--timeout", "0");
	expect_exit(&r, 0, NULL);
	expect_out(&r, "no message");
	h_cli_free(&r);

	/* a subscription and its dead-letter queue as receive/peek paths */
	mk_topic("t", NULL);
	mk_sub("t", "s", NULL);
	ECLI_OK("send", "t", "--body", "to-sub", "--property", "k=v");
	ECLI(&r, "peek", "t/subscriptions/s");
	expect_exit(&r, 0, NULL);
	expect_out(&r, "to-sub");
	h_cli_free(&r);
	ECLI(&r, "receive", "t/subscriptions/s", "--timeout", "1");
	expect_exit(&r, 0, NULL);
	expect_out(&r, "to-sub");
	h_cli_free(&r);
	ECLI(&r, "peek", "t/subscriptions/s/$DeadLetterQueue", "--json");
	expect_exit(&r, 0, NULL);
	doc = json_out(&r);
	ck_assert_int_eq(json_array_size(doc), 0);
	json_decref(doc);
	h_cli_free(&r);
	BROKER_STOP();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cli_entity");
	TCase *tc = h_tcase("cli_entity");

	tcase_add_test(tc, queue_commands);
	tcase_add_test(tc, topic_and_subscription_commands);
	tcase_add_test(tc, wrong_arguments_send_nothing);
	tcase_add_test(tc, not_found_duplicate_unreachable);
	tcase_add_test(tc, send_peek_receive_round_trip);
	suite_add_tcase(s, tc);
	return h_run_suite(s);
}
