/*
 * Provisioning against the real broker: entities declared in an emulator Config.json
 * (LOCALZURE_EMULATOR_CONFIG) or in the YAML file's `entities` section (LOCALZURE_CONFIG) exist
 * with their declared properties when the broker starts serving; rules route messages; an
 * invalid declaration makes the broker exit with status 2, naming the entity and the property;
 * with persistd (durability sync) declared entities are durable, and at the next start an existing
 * entity is kept as it is, even when its declaration differs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "harness_pd.h"

static char cfgdir[64];

static void cfgdir_create(void)
{
	snprintf(cfgdir, sizeof cfgdir, "/tmp/lz-it-provision-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(cfgdir));
}

static void cfgdir_remove(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", cfgdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Writes `text` to `name` in the config directory; returns "VAR=path" (sfmt buffer). */
static const char *config_file(const char *var, const char *name, const char *text)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", cfgdir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
	ck_assert_int_eq(fclose(f), 0);
	return sfmt("%s=%s", var, path);
}

static const char config_json[] =
	"// the Microsoft emulator's Config.json, comments and all\n"
	"{\n"
	"  \"UserConfig\": {\n"
	"    \"Namespaces\": [\n"
	"      {\n"
	"        \"Name\": \"sbemulatorns\",\n"
	"        \"Queues\": [\n"
	"          {\n"
	"            \"Name\": \"queue.1\",\n"
	"            \"Properties\": {\n"
	"              \"DeadLetteringOnMessageExpiration\": true,\n"
	"              \"DefaultMessageTimeToLive\": \"PT1H\",\n"
	"              \"DuplicateDetectionHistoryTimeWindow\": \"PT20S\",\n"
	"              \"ForwardDeadLetteredMessagesTo\": \"\",\n"
	"              \"ForwardTo\": \"queue.2\", /* declared below */\n"
	"              \"LockDuration\": \"PT30S\",\n"
	"              \"MaxDeliveryCount\": 5,\n"
	"              \"RequiresDuplicateDetection\": true,\n"
	"              \"RequiresSession\": false\n"
	"            }\n"
	"          },\n"
	"          { \"Name\": \"queue.2\", \"Properties\": { \"MaxDeliveryCount\": 3 } }\n"
	"        ],\n"
	"        \"Topics\": [\n"
	"          {\n"
	"            \"Name\": \"topic.1\",\n"
	"            \"Properties\": { \"DefaultMessageTimeToLive\": \"PT1H\", \"RequiresDuplicateDetection\": false },\n"
	"            \"Subscriptions\": [\n"
	"              {\n"
	"                \"Name\": \"subscription.1\",\n"
	"                \"Properties\": { \"LockDuration\": \"PT45S\", \"MaxDeliveryCount\": 4 },\n"
	"                \"Rules\": [\n"
	"                  {\n"
	"                    \"Name\": \"app-prop-filter-1\",\n"
	"                    \"Properties\": {\n"
	"                      \"FilterType\": \"Correlation\",\n"
	"                      \"CorrelationFilter\": { \"CorrelationId\": \"id1\", \"Label\": \"subject1\" }\n"
	"                    }\n"
	"                  }\n"
	"                ]\n"
	"              },\n"
	"              {\n"
	"                \"Name\": \"subscription.2\",\n"
	"                \"Rules\": [\n"
	"                  {\n"
	"                    \"Name\": \"user-prop-filter-1\",\n"
	"                    \"Properties\": {\n"
	"                      \"FilterType\": \"Correlation\",\n"
	"                      \"CorrelationFilter\": { \"Properties\": { \"prop3\": \"value3\" } }\n"
	"                    }\n"
	"                  }\n"
	"                ]\n"
	"              },\n"
	"              { \"Name\": \"subscription.3\" }\n"
	"            ]\n"
	"          }\n"
	"        ]\n"
	"      }\n"
	"    ],\n"
	"    \"Logging\": { \"Type\": \"File\" }\n"
	"  }\n"
	"}\n";

START_TEST(emulator_config_json)
{
	struct http_resp r;
	char *log;

	BROKER_START_ENV(config_file("LOCALZURE_EMULATOR_CONFIG", "Config.json", config_json));

	http_get("/queue.1", &r);
	CK_STATUS(&r, 200);
	CK_XML_EQ(r.body, "LockDuration", "PT30S");
	CK_XML_EQ(r.body, "MaxDeliveryCount", "5");
	CK_XML_EQ(r.body, "DefaultMessageTimeToLive", "PT1H");
	CK_XML_EQ(r.body, "DeadLetteringOnMessageExpiration", "true");
	CK_XML_EQ(r.body, "RequiresDuplicateDetection", "true");
	CK_XML_EQ(r.body, "DuplicateDetectionHistoryTimeWindow", "PT20S");
	CK_XML_EQ(r.body, "ForwardTo", sfmt("%s/queue.2", broker_.base));
	ck_assert_msg(xml_count(r.body, "ForwardDeadLetteredMessagesTo") == 0, "\"\" means none: %s", http_desc(&r));
	http_resp_free(&r);

	http_get("/topic.1/subscriptions/subscription.1", &r);
	CK_STATUS(&r, 200);
	CK_XML_EQ(r.body, "LockDuration", "PT45S");
	CK_XML_EQ(r.body, "MaxDeliveryCount", "4");
	http_resp_free(&r);

	/* The declared rule replaced $Default. */
	http_get("/topic.1/subscriptions/subscription.1/rules/app-prop-filter-1", &r);
	CK_STATUS(&r, 200);
	CK_XML_EQ(r.body, "CorrelationId", "id1");
	CK_XML_EQ(r.body, "Label", "subject1");
	http_resp_free(&r);
	http_get("/topic.1/subscriptions/subscription.1/rules/$Default", &r);
	CK_STATUS(&r, 404);
	http_resp_free(&r);
	http_get("/topic.1/subscriptions/subscription.3/rules/$Default", &r);
	CK_STATUS(&r, 200);
	http_resp_free(&r);

	/* The filters route: prop3 = "value3" reaches subscription.2 (and subscription.3), not .1. */
	{
		const char *const user[] = { "prop3: \"value3\"", NULL };

		ck_assert_int_eq(send_msg("topic.1", "m1", "text/plain", NULL, user, NULL), 201);
	}
	recv_del_body("topic.1/subscriptions/subscription.2", "m1");
	recv_del_body("topic.1/subscriptions/subscription.3", "m1");
	recv_empty("topic.1/subscriptions/subscription.1");
	send_ok("topic.1", "m2", "{\"CorrelationId\":\"id1\",\"Label\":\"subject1\"}");
	recv_del_body("topic.1/subscriptions/subscription.1", "m2");
	recv_empty("topic.1/subscriptions/subscription.2");
	/* queue.1 forwards to queue.2. */
	send_ok("queue.1", "m3", NULL);
	recv_del_body("queue.2", "m3");

	log = lzb_log(&broker_);
	ck_assert_msg(strstr(log, "msg=\"created\" kind=queue path=\"queue.1\"") != NULL, "no 'created' line:\n%.3000s",
		      log);
	ck_assert_msg(strstr(log, "msg=\"created\" kind=rule path=\"topic.1/subscriptions/subscription.2\" "
				  "rule=\"user-prop-filter-1\"") != NULL,
		      "no 'created' line for the rule:\n%.3000s", log);
	free(log);
	BROKER_STOP();
}
END_TEST

START_TEST(yaml_entities)
{
	struct http_resp r;

	BROKER_START_ENV(config_file("LOCALZURE_CONFIG", "localzure.yaml",
				     "log_level: info\n"
				     "entities:\n"
				     "  queues:\n"
				     "    - name: orders\n"
				     "      lock_duration: PT15S\n"
				     "      max_delivery_count: 2\n"
				     "      forward_dead_lettered_messages_to: dead\n"
				     "    - name: dead\n"
				     "  topics:\n"
				     "    - name: events\n"
				     "      subscriptions:\n"
				     "        - name: audit\n"
				     "          forward_to: orders\n"
				     "          rules:\n"
				     "            - {name: all, sql_filter: '1=1', action: \"SET x = 1\"}\n"
				     "            - name: red\n"
				     "              correlation_filter: {label: red, properties: {n: 7}}\n"));

	http_get("/orders", &r);
	CK_STATUS(&r, 200);
	CK_XML_EQ(r.body, "LockDuration", "PT15S");
	CK_XML_EQ(r.body, "MaxDeliveryCount", "2");
	CK_XML_EQ(r.body, "ForwardDeadLetteredMessagesTo", sfmt("%s/dead", broker_.base));
	http_resp_free(&r);
	http_get("/events/subscriptions/audit", &r);
	CK_STATUS(&r, 200);
	CK_XML_EQ(r.body, "ForwardTo", sfmt("%s/orders", broker_.base));
	http_resp_free(&r);
	http_get("/events/subscriptions/audit/rules/all", &r);
	CK_STATUS(&r, 200);
	CK_XML_EQ(r.body, "SqlExpression", "1=1");
	ck_assert_msg(strstr(r.body, "SET x = 1") != NULL, "action missing: %s", http_desc(&r));
	http_resp_free(&r);
	http_get("/events/subscriptions/audit/rules/red", &r);
	CK_STATUS(&r, 200);
	CK_XML_EQ(r.body, "Label", "red");
	CK_XML_EQ(r.body, "Key", "n");
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

START_TEST(durable_and_kept_across_restarts)
{
	struct pd p;
	struct lzb b = { 0 };
	struct http_resp r;
	const char *json_var = config_file("LOCALZURE_EMULATOR_CONFIG", "Config.json", config_json);
	const char *env[] = { "LOCALZURE_DURABILITY=sync", NULL, "LOCALZURE_PERSISTD_TIMEOUT_MS=20000",
			      "LOCALZURE_CLOCK=real", json_var, NULL };
	char *log;

	pd_init(&p, "sqlite");
	env[1] = p.env_data;
	pd_start(&p);
	lzb_label = __func__;
	lzb_start(&b, env);
	http_get("/queue.1", &r);
	CK_STATUS(&r, 200);
	CK_XML_EQ(r.body, "MaxDeliveryCount", "5");
	http_resp_free(&r);
	/* Changed over the management API: the declaration says 5, the entity now says 8. */
	ck_assert_int_eq(put_queue("queue.1", "<LockDuration>PT30S</LockDuration><MaxDeliveryCount>8</MaxDeliveryCount>"
					      "<RequiresDuplicateDetection>true</RequiresDuplicateDetection>"
					      "<ForwardTo>queue.2</ForwardTo>",
				   true, NULL),
			 200);
	send_ok("queue.2", "kept", NULL);
	lzb_kill9(&b);

	/* The next start (after a crash) finds everything in persistd and keeps it. */
	lzb_start(&b, env);
	http_get("/queue.1", &r);
	CK_STATUS(&r, 200);
	CK_XML_EQ(r.body, "MaxDeliveryCount", "8");
	http_resp_free(&r);
	recv_del_body("queue.2", "kept");
	http_get("/topic.1/subscriptions/subscription.1/rules/app-prop-filter-1", &r);
	CK_STATUS(&r, 200);
	http_resp_free(&r);
	log = lzb_log(&b);
	ck_assert_msg(strstr(log, "msg=\"exists, kept\" kind=queue path=\"queue.1\"") != NULL,
		      "no 'exists, kept' line:\n%.3000s", log);
	ck_assert_msg(strstr(log, "msg=\"created\"") == NULL, "nothing should be created again:\n%.3000s", log);
	free(log);
	lzb_stop_clean(&b);
	pd_cleanup(&p);
}
END_TEST

/* Runs the broker with `env` (one variable) expecting exit status 2 and a log holding `needles`. */
static void expect_refused(const char *env, const char *const *needles)
{
	const char *const extra[] = { env, NULL };
	int st = 0;
	char *log = NULL;

	ck_assert_msg(lzb_run_to_exit(extra, 10000, &st, &log) == 0, "the broker did not exit; log:\n%.3000s", log);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "exit status should be 2 (status 0x%x); log:\n%.3000s", st,
		      log);
	for (const char *const *n = needles; *n != NULL; n++)
		ck_assert_msg(strstr(log, *n) != NULL, "the log should hold '%s':\n%.3000s", *n, log);
	ck_assert_msg(strstr(log, "msg=\"listening\"") == NULL, "must not listen; log:\n%.3000s", log);
	free(log);
}

START_TEST(invalid_declarations_refused)
{
	{
		const char *const needles[] = { "invalid entity declarations", "Bad.json: queue 'q1'",
						"property 'MaxDeliveryCount'", "greater than or equal to 1", NULL };

		expect_refused(config_file("LOCALZURE_EMULATOR_CONFIG", "Bad.json",
					   "{\"UserConfig\":{\"Namespaces\":[{\"Name\":\"x\",\"Queues\":[{\"Name\":\"q1\","
					   "\"Properties\":{\"MaxDeliveryCount\":0}}]}]}}"),
			       needles);
	}
	{
		const char *const needles[] = { "queue 'q1'", "unknown property 'LockDurations'", NULL };

		expect_refused(config_file("LOCALZURE_EMULATOR_CONFIG", "Typo.json",
					   "{\"UserConfig\":{\"Namespaces\":[{\"Name\":\"x\",\"Queues\":[{\"Name\":\"q1\","
					   "\"Properties\":{\"LockDurations\":\"PT1M\"}}]}]}}"),
			       needles);
	}
	{
		const char *const needles[] = { "Syntax.json:3: invalid JSON", NULL };

		expect_refused(config_file("LOCALZURE_EMULATOR_CONFIG", "Syntax.json", "// x\n{\"UserConfig\": {\n"),
			       needles);
	}
	{
		const char *const needles[] = { "Missing.json: cannot open", NULL };

		expect_refused(sfmt("LOCALZURE_EMULATOR_CONFIG=%s/Missing.json", cfgdir), needles);
	}
	{
		const char *const needles[] = { "bad.yaml:4:22: queue 'q1': property 'lock_duration'",
						"exceeds the allowed maximum", NULL };

		expect_refused(config_file("LOCALZURE_CONFIG", "bad.yaml",
					   "entities:\n  queues:\n    - name: q1\n      lock_duration: PT6M\n"),
			       needles);
	}
	{
		/* Found only when applying: a forwarding target that is declared nowhere. */
		const char *const needles[] = { "cannot provision the declared entities",
						"fwd.yaml:3:7: queue 'q1': property 'forward_to'",
						"the destination 'nowhere' is neither declared", NULL };

		expect_refused(config_file("LOCALZURE_CONFIG", "fwd.yaml",
					   "entities:\n  queues:\n    - name: q1\n      forward_to: nowhere\n"),
			       needles);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("provision");
	TCase *tc = h_tcase("provision");

	tcase_add_checked_fixture(tc, cfgdir_create, cfgdir_remove);
	tcase_add_test(tc, emulator_config_json);
	tcase_add_test(tc, yaml_entities);
	tcase_add_test(tc, durable_and_kept_across_restarts);
	tcase_add_test(tc, invalid_declarations_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return h_run_suite(suite());
}
