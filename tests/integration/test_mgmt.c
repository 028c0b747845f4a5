/*
 * Management plane (Atom XML) against a real broker: entity CRUD, update semantics, property
 * round-trips, listings with paging, rules, runtime counts and errors.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness.h"

static void expect_error_body(const struct http_resp *r, long code)
{
	ck_assert_msg(xml_count(r->body, "Error") == 1, "no <Error> body: %s", http_desc(r));
	char *c = xml_text(r->body, "Code");
	ck_assert_msg(c != NULL && strtol(c, NULL, 10) == code, "<Code> should be %ld: %s", code, http_desc(r));
	free(c);
	ck_assert_msg(xml_count(r->body, "Detail") == 1, "no <Detail>: %s", http_desc(r));
}

static void expect_content_type(const struct http_resp *r, const char *prefix)
{
	const char *ct = http_header(r, "Content-Type");
	ck_assert_msg(ct != NULL && strncmp(ct, prefix, strlen(prefix)) == 0, "Content-Type should start with %s: %s",
		      prefix, http_desc(r));
}

START_TEST(queue_create_get_delete)
{
	BROKER_START();
	struct http_resp r;

	put_queue("q1", NULL, false, &r);
	CK_STATUS(&r, 201);
	expect_content_type(&r, "application/atom+xml");
	ck_assert_int_eq(xml_count(r.body, "entry"), 1);
	ck_assert_int_eq(xml_count(r.body, "QueueDescription"), 1);
	CK_XML_EQ(r.body, "title", "q1");
	/* Azure's defaults (spec §2.5) */
	CK_XML_EQ(r.body, "LockDuration", "PT1M");
	CK_XML_EQ(r.body, "MaxSizeInMegabytes", "1024");
	CK_XML_EQ(r.body, "RequiresDuplicateDetection", "false");
	CK_XML_EQ(r.body, "RequiresSession", "false");
	CK_XML_EQ(r.body, "DefaultMessageTimeToLive", "P10675199DT2H48M5.4775807S");
	CK_XML_EQ(r.body, "DeadLetteringOnMessageExpiration", "false");
	CK_XML_EQ(r.body, "DuplicateDetectionHistoryTimeWindow", "PT10M");
	CK_XML_EQ(r.body, "MaxDeliveryCount", "10");
	CK_XML_EQ(r.body, "EnableBatchedOperations", "true");
	CK_XML_EQ(r.body, "Status", "Active");
	CK_XML_EQ(r.body, "AutoDeleteOnIdle", "P10675199DT2H48M5.4775807S");
	CK_XML_EQ(r.body, "EnablePartitioning", "false");
	http_resp_free(&r);

	http_get("/q1", &r);
	CK_STATUS(&r, 200);
	expect_content_type(&r, "application/atom+xml");
	CK_XML_EQ(r.body, "title", "q1");
	CK_XML_EQ(r.body, "LockDuration", "PT1M");
	CK_XML_EQ(r.body, "MaxDeliveryCount", "10");
	CK_XML_EQ(r.body, "MessageCount", "0");
	ck_assert_msg(xml_count(r.body, "CountDetails") == 1, "GET should carry CountDetails: %s", http_desc(&r));
	CK_XML_EQ(r.body, "ActiveMessageCount", "0");
	CK_XML_EQ(r.body, "DeadLetterMessageCount", "0");
	CK_XML_EQ(r.body, "ScheduledMessageCount", "0");
	CK_XML_EQ(r.body, "TransferMessageCount", "0");
	CK_XML_EQ(r.body, "TransferDeadLetterMessageCount", "0");
	http_resp_free(&r);

	http_delete("/q1", &r);
	CK_STATUS(&r, 200);
	http_resp_free(&r);

	http_get("/q1", &r);
	CK_STATUS(&r, 404);
	expect_error_body(&r, 404);
	http_resp_free(&r);

	http_delete("/q1", &r);
	CK_STATUS(&r, 404);
	expect_error_body(&r, 404);
	http_resp_free(&r);

	/* the name is free again */
	ck_assert_int_eq(put_queue("q1", NULL, false, NULL), 201);
	BROKER_STOP();
}
END_TEST

START_TEST(queue_duplicate_create_409)
{
	BROKER_START();
	struct http_resp r;
	mk_queue("dup", "<MaxDeliveryCount>4</MaxDeliveryCount>");
	put_queue("dup", "<MaxDeliveryCount>7</MaxDeliveryCount>", false, &r);
	CK_STATUS(&r, 409);
	expect_error_body(&r, 409);
	http_resp_free(&r);
	/* a topic of the same name also conflicts: queues and topics share one namespace */
	put_topic("dup", NULL, false, &r);
	CK_STATUS(&r, 409);
	http_resp_free(&r);
	/* names are case-insensitive */
	put_queue("DUP", NULL, false, &r);
	CK_STATUS(&r, 409);
	http_resp_free(&r);
	/* the original is untouched */
	http_get("/dup", &r);
	CK_STATUS(&r, 200);
	CK_XML_EQ(r.body, "MaxDeliveryCount", "4");
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

START_TEST(queue_update_full_replace)
{
	BROKER_START();
	struct http_resp r;
	mk_queue("uq", "<LockDuration>PT30S</LockDuration><MaxDeliveryCount>5</MaxDeliveryCount>"
		       "<UserMetadata>before</UserMetadata>");

	/* If-Match: * replaces everything: omitted properties go back to their defaults */
	put_queue("uq", "<LockDuration>PT2M</LockDuration>", true, &r);
	CK_STATUS(&r, 200);
	CK_XML_EQ(r.body, "LockDuration", "PT2M");
	CK_XML_EQ(r.body, "MaxDeliveryCount", "10");
	ck_assert_msg(xml_text(r.body, "UserMetadata") == NULL, "UserMetadata should be gone: %s", http_desc(&r));
	ck_assert_msg(xml_count(r.body, "published") == 0, "update response has no <published>: %s", http_desc(&r));
	http_resp_free(&r);

	http_get("/uq", &r);
	CK_STATUS(&r, 200);
	CK_XML_EQ(r.body, "LockDuration", "PT2M");
	CK_XML_EQ(r.body, "MaxDeliveryCount", "10");
	http_resp_free(&r);

	/* update of a missing entity */
	put_queue("nosuch", "<LockDuration>PT2M</LockDuration>", true, &r);
	CK_STATUS(&r, 404);
	expect_error_body(&r, 404);
	http_resp_free(&r);
	http_get("/nosuch", &r);
	CK_STATUS(&r, 404);
	http_resp_free(&r);

	/* a create-only property cannot change */
	put_queue("uq", "<RequiresSession>true</RequiresSession>", true, &r);
	CK_STATUS(&r, 400);
	expect_error_body(&r, 400);
	ck_assert_msg(strstr(r.body, "RequiresSession") != NULL, "detail should name RequiresSession: %s",
		      http_desc(&r));
	http_resp_free(&r);
	put_queue("uq", "<RequiresDuplicateDetection>true</RequiresDuplicateDetection>", true, &r);
	CK_STATUS(&r, 400);
	ck_assert_msg(strstr(r.body, "RequiresDuplicateDetection") != NULL,
		      "detail should name RequiresDuplicateDetection: %s", http_desc(&r));
	http_resp_free(&r);

	/* the failed updates changed nothing */
	http_get("/uq", &r);
	CK_XML_EQ(r.body, "RequiresSession", "false");
	CK_XML_EQ(r.body, "LockDuration", "PT2M");
	http_resp_free(&r);

	/* a topic update */
	mk_topic("ut", "<DefaultMessageTimeToLive>PT1H</DefaultMessageTimeToLive>");
	put_topic("ut", "<MaxSizeInMegabytes>2048</MaxSizeInMegabytes>", true, &r);
	CK_STATUS(&r, 200);
	CK_XML_EQ(r.body, "MaxSizeInMegabytes", "2048");
	CK_XML_EQ(r.body, "DefaultMessageTimeToLive", "P10675199DT2H48M5.4775807S");
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

static void check_queue_props(const char *xml)
{
	CK_XML_EQ(xml, "LockDuration", "PT45S");
	CK_XML_EQ(xml, "MaxSizeInMegabytes", "2048");
	CK_XML_EQ(xml, "RequiresDuplicateDetection", "true");
	CK_XML_EQ(xml, "RequiresSession", "true");
	CK_XML_EQ(xml, "DefaultMessageTimeToLive", "P2DT3H");
	CK_XML_EQ(xml, "DeadLetteringOnMessageExpiration", "true");
	CK_XML_EQ(xml, "DuplicateDetectionHistoryTimeWindow", "PT20M");
	CK_XML_EQ(xml, "MaxDeliveryCount", "7");
	CK_XML_EQ(xml, "EnableBatchedOperations", "false");
	CK_XML_EQ(xml, "Status", "SendDisabled");
	CK_XML_EQ(xml, "AutoDeleteOnIdle", "PT1H30M");
	CK_XML_EQ(xml, "EnableExpress", "true");
	CK_XML_EQ(xml, "IsAnonymousAccessible", "true");
	CK_XML_EQ(xml, "SupportOrdering", "false");
	CK_XML_EQ(xml, "MaxMessageSizeInKilobytes", "256");
	CK_XML_EQ(xml, "UserMetadata", "meta <&> data");
}

START_TEST(queue_all_properties_roundtrip)
{
	BROKER_START();
	struct http_resp r;
	/* deliberately not in Azure's order: parsing is order-insensitive */
	const char *props = "<UserMetadata>meta &lt;&amp;&gt; data</UserMetadata>"
			    "<MaxDeliveryCount>7</MaxDeliveryCount>"
			    "<LockDuration>PT45S</LockDuration>"
			    "<MaxSizeInMegabytes>2048</MaxSizeInMegabytes>"
			    "<RequiresDuplicateDetection>true</RequiresDuplicateDetection>"
			    "<RequiresSession>true</RequiresSession>"
			    "<DefaultMessageTimeToLive>P2DT3H</DefaultMessageTimeToLive>"
			    "<DeadLetteringOnMessageExpiration>true</DeadLetteringOnMessageExpiration>"
			    "<DuplicateDetectionHistoryTimeWindow>PT20M</DuplicateDetectionHistoryTimeWindow>"
			    "<EnableBatchedOperations>false</EnableBatchedOperations>"
			    "<Status>SendDisabled</Status>"
			    "<AutoDeleteOnIdle>PT1H30M</AutoDeleteOnIdle>"
			    "<EnableExpress>true</EnableExpress>"
			    "<IsAnonymousAccessible>true</IsAnonymousAccessible>"
			    "<SupportOrdering>false</SupportOrdering>"
			    "<MaxMessageSizeInKilobytes>256</MaxMessageSizeInKilobytes>"
			    "<SomeFutureElement>ignored</SomeFutureElement>";
	put_queue("allprops", props, false, &r);
	CK_STATUS(&r, 201);
	check_queue_props(r.body);
	http_resp_free(&r);

	http_get("/allprops", &r);
	CK_STATUS(&r, 200);
	check_queue_props(r.body);
	http_resp_free(&r);

	/* partitioning is create-only but settable */
	put_queue("parted", "<EnablePartitioning>true</EnablePartitioning>", false, &r);
	CK_STATUS(&r, 201);
	CK_XML_EQ(r.body, "EnablePartitioning", "true");
	http_resp_free(&r);
	put_queue("parted", "<EnablePartitioning>false</EnablePartitioning>", true, &r);
	CK_STATUS(&r, 400);
	http_resp_free(&r);

	/* forwarding targets (stored as names or sb:// URIs; both end with the name) */
	mk_queue("fwd-dest", NULL);
	mk_queue("dlq-dest", NULL);
	put_queue("fwd-src",
		  "<ForwardTo>fwd-dest</ForwardTo><ForwardDeadLetteredMessagesTo>dlq-dest</ForwardDeadLetteredMessagesTo>",
		  false, &r);
	CK_STATUS(&r, 201);
	http_resp_free(&r);
	http_get("/fwd-src", &r);
	CK_STATUS(&r, 200);
	char *ft = xml_text(r.body, "ForwardTo");
	char *fd = xml_text(r.body, "ForwardDeadLetteredMessagesTo");
	ck_assert_msg(ft != NULL && (strcmp(ft, "fwd-dest") == 0 ||
				     (strlen(ft) > 9 && strcmp(ft + strlen(ft) - 9, "/fwd-dest") == 0)),
		      "ForwardTo: %s", http_desc(&r));
	ck_assert_msg(fd != NULL && (strcmp(fd, "dlq-dest") == 0 ||
				     (strlen(fd) > 9 && strcmp(fd + strlen(fd) - 9, "/dlq-dest") == 0)),
		      "ForwardDeadLetteredMessagesTo: %s", http_desc(&r));
	free(ft);
	free(fd);
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

START_TEST(topic_properties_roundtrip)
{
	BROKER_START();
	struct http_resp r;
	const char *props = "<DefaultMessageTimeToLive>PT10M</DefaultMessageTimeToLive>"
			    "<MaxSizeInMegabytes>3072</MaxSizeInMegabytes>"
			    "<RequiresDuplicateDetection>true</RequiresDuplicateDetection>"
			    "<DuplicateDetectionHistoryTimeWindow>PT1M</DuplicateDetectionHistoryTimeWindow>"
			    "<EnableBatchedOperations>false</EnableBatchedOperations>"
			    "<FilteringMessagesBeforePublishing>true</FilteringMessagesBeforePublishing>"
			    "<SupportOrdering>false</SupportOrdering>"
			    "<AutoDeleteOnIdle>PT2H</AutoDeleteOnIdle>"
			    "<IsAnonymousAccessible>true</IsAnonymousAccessible>"
			    "<EnableSubscriptionPartitioning>true</EnableSubscriptionPartitioning>"
			    "<EnableExpress>true</EnableExpress>"
			    "<UserMetadata>topic-meta</UserMetadata>";
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 0)
			put_topic("t1", props, false, &r);
		else
			http_get("/t1", &r);
		CK_STATUS(&r, pass == 0 ? 201 : 200);
		ck_assert_int_eq(xml_count(r.body, "TopicDescription"), 1);
		ck_assert_int_eq(xml_count(r.body, "QueueDescription"), 0);
		CK_XML_EQ(r.body, "title", "t1");
		CK_XML_EQ(r.body, "DefaultMessageTimeToLive", "PT10M");
		CK_XML_EQ(r.body, "MaxSizeInMegabytes", "3072");
		CK_XML_EQ(r.body, "RequiresDuplicateDetection", "true");
		CK_XML_EQ(r.body, "DuplicateDetectionHistoryTimeWindow", "PT1M");
		CK_XML_EQ(r.body, "EnableBatchedOperations", "false");
		CK_XML_EQ(r.body, "FilteringMessagesBeforePublishing", "true");
		CK_XML_EQ(r.body, "SupportOrdering", "false");
		CK_XML_EQ(r.body, "AutoDeleteOnIdle", "PT2H");
		CK_XML_EQ(r.body, "UserMetadata", "topic-meta");
		CK_XML_EQ(r.body, "IsAnonymousAccessible", "true");
		CK_XML_EQ(r.body, "EnableSubscriptionPartitioning", "true");
		CK_XML_EQ(r.body, "EnableExpress", "true");
		CK_XML_EQ(r.body, "Status", "Active");
		/* topics have no queue-only settings */
		ck_assert_msg(xml_count(r.body, "LockDuration") == 0, "topic has no LockDuration: %s", http_desc(&r));
		ck_assert_msg(xml_count(r.body, "MaxDeliveryCount") == 0, "topic has no MaxDeliveryCount: %s",
			      http_desc(&r));
		http_resp_free(&r);
	}
	put_topic("tpart", "<EnablePartitioning>true</EnablePartitioning>", false, &r);
	CK_STATUS(&r, 201);
	CK_XML_EQ(r.body, "EnablePartitioning", "true");
	http_resp_free(&r);
	mk_sub("t1", "s1", NULL);
	mk_sub("t1", "s2", NULL);
	http_get("/t1", &r);
	CK_XML_EQ(r.body, "SubscriptionCount", "2");
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

static void check_sub_props(const char *xml)
{
	CK_XML_EQ(xml, "LockDuration", "PT2M");
	CK_XML_EQ(xml, "RequiresSession", "true");
	CK_XML_EQ(xml, "DefaultMessageTimeToLive", "PT5M");
	CK_XML_EQ(xml, "DeadLetteringOnMessageExpiration", "true");
	CK_XML_EQ(xml, "DeadLetteringOnFilterEvaluationExceptions", "false");
	CK_XML_EQ(xml, "MaxDeliveryCount", "3");
	CK_XML_EQ(xml, "EnableBatchedOperations", "false");
	CK_XML_EQ(xml, "Status", "Active");
	CK_XML_EQ(xml, "AutoDeleteOnIdle", "PT10M");
	CK_XML_EQ(xml, "UserMetadata", "sub-meta");
}

START_TEST(subscription_crud_and_roundtrip)
{
	BROKER_START();
	struct http_resp r;
	mk_topic("t", NULL);

	/* defaults */
	put_sub("t", "plain", NULL, false, &r);
	CK_STATUS(&r, 201);
	ck_assert_int_eq(xml_count(r.body, "SubscriptionDescription"), 1);
	CK_XML_EQ(r.body, "title", "plain");
	CK_XML_EQ(r.body, "LockDuration", "PT1M");
	CK_XML_EQ(r.body, "MaxDeliveryCount", "10");
	CK_XML_EQ(r.body, "DeadLetteringOnFilterEvaluationExceptions", "true");
	CK_XML_EQ(r.body, "DeadLetteringOnMessageExpiration", "false");
	CK_XML_EQ(r.body, "RequiresSession", "false");
	http_resp_free(&r);

	const char *props = "<LockDuration>PT2M</LockDuration><RequiresSession>true</RequiresSession>"
			    "<DefaultMessageTimeToLive>PT5M</DefaultMessageTimeToLive>"
			    "<DeadLetteringOnMessageExpiration>true</DeadLetteringOnMessageExpiration>"
			    "<DeadLetteringOnFilterEvaluationExceptions>false</DeadLetteringOnFilterEvaluationExceptions>"
			    "<MaxDeliveryCount>3</MaxDeliveryCount><EnableBatchedOperations>false</EnableBatchedOperations>"
			    "<AutoDeleteOnIdle>PT10M</AutoDeleteOnIdle><UserMetadata>sub-meta</UserMetadata>";
	put_sub("t", "full", props, false, &r);
	CK_STATUS(&r, 201);
	check_sub_props(r.body);
	http_resp_free(&r);
	http_get("/t/subscriptions/full", &r);
	CK_STATUS(&r, 200);
	CK_XML_EQ(r.body, "title", "full");
	check_sub_props(r.body);
	CK_XML_EQ(r.body, "ActiveMessageCount", "0");
	http_resp_free(&r);

	/* duplicate */
	put_sub("t", "full", NULL, false, &r);
	CK_STATUS(&r, 409);
	expect_error_body(&r, 409);
	http_resp_free(&r);

	/* update: full replace; RequiresSession is create-only */
	put_sub("t", "full", "<RequiresSession>true</RequiresSession><MaxDeliveryCount>9</MaxDeliveryCount>", true, &r);
	CK_STATUS(&r, 200);
	CK_XML_EQ(r.body, "MaxDeliveryCount", "9");
	CK_XML_EQ(r.body, "LockDuration", "PT1M");
	http_resp_free(&r);
	put_sub("t", "full", "<RequiresSession>false</RequiresSession>", true, &r);
	CK_STATUS(&r, 400);
	ck_assert_msg(strstr(r.body, "RequiresSession") != NULL, "detail names RequiresSession: %s", http_desc(&r));
	http_resp_free(&r);
	put_sub("t", "ghost", NULL, true, &r);
	CK_STATUS(&r, 404);
	http_resp_free(&r);

	/* forwarding */
	mk_queue("sink", NULL);
	mk_queue("dsink", NULL);
	put_sub("t", "fw", "<ForwardTo>sink</ForwardTo><ForwardDeadLetteredMessagesTo>dsink</ForwardDeadLetteredMessagesTo>",
		false, &r);
	CK_STATUS(&r, 201);
	http_resp_free(&r);
	http_get("/t/subscriptions/fw", &r);
	char *ft = xml_text(r.body, "ForwardTo");
	ck_assert_msg(ft != NULL && strlen(ft) >= 4 && strcmp(ft + strlen(ft) - 4, "sink") == 0, "ForwardTo: %s",
		      http_desc(&r));
	free(ft);
	char *fd = xml_text(r.body, "ForwardDeadLetteredMessagesTo");
	ck_assert_msg(fd != NULL && strlen(fd) >= 5 && strcmp(fd + strlen(fd) - 5, "dsink") == 0,
		      "ForwardDeadLetteredMessagesTo: %s", http_desc(&r));
	free(fd);
	http_resp_free(&r);

	/* subscription of a missing topic */
	put_sub("notopic", "s", NULL, false, &r);
	CK_STATUS(&r, 404);
	http_resp_free(&r);
	http_get("/notopic/subscriptions/s", &r);
	CK_STATUS(&r, 404);
	http_resp_free(&r);

	/* delete */
	http_delete("/t/subscriptions/plain", &r);
	CK_STATUS(&r, 200);
	http_resp_free(&r);
	http_get("/t/subscriptions/plain", &r);
	CK_STATUS(&r, 404);
	expect_error_body(&r, 404);
	http_resp_free(&r);
	http_delete("/t/subscriptions/plain", &r);
	CK_STATUS(&r, 404);
	http_resp_free(&r);

	/* deleting the topic removes its subscriptions */
	http_delete("/t", &r);
	CK_STATUS(&r, 200);
	http_resp_free(&r);
	http_get("/t/subscriptions/full", &r);
	CK_STATUS(&r, 404);
	http_resp_free(&r);
	mk_topic("t", NULL);
	http_get("/t/subscriptions/full", &r);
	CK_STATUS(&r, 404);
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

START_TEST(subscription_default_rule)
{
	BROKER_START();
	struct http_resp r;
	mk_topic("t", NULL);
	mk_sub("t", "s", NULL);

	http_get("/t/subscriptions/s/rules", &r);
	CK_STATUS(&r, 200);
	expect_content_type(&r, "application/atom+xml");
	ck_assert_msg(xml_count(r.body, "feed") == 1, "not a feed: %s", http_desc(&r));
	ck_assert_msg(xml_count(r.body, "entry") == 1, "one rule expected: %s", http_desc(&r));
	char *t = xml_entry_title(r.body, 0);
	ck_assert_msg(t != NULL && strcmp(t, "$Default") == 0, "rule title: %s", http_desc(&r));
	free(t);
	char *ft = xml_attr(r.body, "Filter", "type");
	ck_assert_msg(ft != NULL && strcmp(ft, "TrueFilter") == 0, "$Default filter type: %s", http_desc(&r));
	free(ft);
	CK_XML_EQ(r.body, "SqlExpression", "1=1");
	http_resp_free(&r);

	http_get("/t/subscriptions/s/rules/$Default", &r);
	CK_STATUS(&r, 200);
	ck_assert_int_eq(xml_count(r.body, "RuleDescription"), 1);
	CK_XML_EQ(r.body, "Name", "$Default");
	http_resp_free(&r);

	/* DefaultRuleDescription replaces $Default at creation */
	put_sub("t", "custom",
		"<DefaultRuleDescription><Filter i:type=\"SqlFilter\"><SqlExpression>color = 'red'</SqlExpression>"
		"</Filter><Action i:type=\"EmptyRuleAction\"/><Name>onlyred</Name></DefaultRuleDescription>",
		false, &r);
	CK_STATUS(&r, 201);
	http_resp_free(&r);
	http_get("/t/subscriptions/custom/rules", &r);
	CK_STATUS(&r, 200);
	ck_assert_msg(xml_count(r.body, "entry") == 1, "one rule expected: %s", http_desc(&r));
	t = xml_entry_title(r.body, 0);
	ck_assert_msg(t != NULL && strcmp(t, "onlyred") == 0, "rule title: %s", http_desc(&r));
	free(t);
	CK_XML_EQ(r.body, "SqlExpression", "color = 'red'");
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

START_TEST(rules_crud)
{
	BROKER_START();
	struct http_resp r;
	mk_topic("t", NULL);
	mk_sub("t", "s", NULL);

	/* correlation filter with system and user properties */
	const char *corr = "<Filter i:type=\"CorrelationFilter\"><CorrelationId>cid-1</CorrelationId>"
			   "<Label>order</Label><ContentType>application/json</ContentType><Properties>"
			   "<KeyValueOfstringanyType><Key>color</Key><Value i:type=\"d6p1:string\" xmlns:d6p1=\"" NS_XSD
			   "\">red</Value></KeyValueOfstringanyType>"
			   "<KeyValueOfstringanyType><Key>size</Key><Value i:type=\"d6p1:int\" xmlns:d6p1=\"" NS_XSD
			   "\">42</Value></KeyValueOfstringanyType>"
			   "</Properties></Filter><Action i:type=\"EmptyRuleAction\"/>";
	put_rule("t", "s", "corr", corr, false, &r);
	CK_STATUS(&r, 201);
	ck_assert_int_eq(xml_count(r.body, "RuleDescription"), 1);
	CK_XML_EQ(r.body, "Name", "corr");
	http_resp_free(&r);

	http_get("/t/subscriptions/s/rules/corr", &r);
	CK_STATUS(&r, 200);
	char *ft = xml_attr(r.body, "Filter", "type");
	ck_assert_msg(ft != NULL && strcmp(ft, "CorrelationFilter") == 0, "filter type: %s", http_desc(&r));
	free(ft);
	CK_XML_EQ(r.body, "CorrelationId", "cid-1");
	CK_XML_EQ(r.body, "Label", "order");
	CK_XML_EQ(r.body, "ContentType", "application/json");
	CK_XML_EQ(r.body, "Key", "color");
	CK_XML_EQ(r.body, "Value", "red");
	char *k2 = xml_text_n(r.body, "Key", 1);
	char *v2 = xml_text_n(r.body, "Value", 1);
	ck_assert_msg(k2 && v2 && strcmp(k2, "size") == 0 && strcmp(v2, "42") == 0, "second property: %s",
		      http_desc(&r));
	free(k2);
	free(v2);
	CK_XML_EQ(r.body, "Name", "corr");
	http_resp_free(&r);

	/* duplicate rule name */
	put_rule("t", "s", "corr", corr, false, &r);
	CK_STATUS(&r, 409);
	expect_error_body(&r, 409);
	http_resp_free(&r);

	/* SQL filter with an action; update via If-Match */
	put_rule("t", "s", "sql",
		 "<Filter i:type=\"SqlFilter\"><SqlExpression>price &gt; 10 AND sys.Label = 'x'</SqlExpression>"
		 "<CompatibilityLevel>20</CompatibilityLevel></Filter>"
		 "<Action i:type=\"SqlRuleAction\"><SqlExpression>SET sys.Label = 'expensive'</SqlExpression>"
		 "<CompatibilityLevel>20</CompatibilityLevel></Action>",
		 false, &r);
	CK_STATUS(&r, 201);
	http_resp_free(&r);
	http_get("/t/subscriptions/s/rules/sql", &r);
	CK_STATUS(&r, 200);
	ft = xml_attr(r.body, "Filter", "type");
	ck_assert_msg(ft != NULL && strcmp(ft, "SqlFilter") == 0, "filter type: %s", http_desc(&r));
	free(ft);
	char *at = xml_attr(r.body, "Action", "type");
	ck_assert_msg(at != NULL && strcmp(at, "SqlRuleAction") == 0, "action type: %s", http_desc(&r));
	free(at);
	CK_XML_EQ(r.body, "SqlExpression", "price > 10 AND sys.Label = 'x'");
	char *as = xml_text_n(r.body, "SqlExpression", 1);
	ck_assert_msg(as != NULL && strcmp(as, "SET sys.Label = 'expensive'") == 0, "action SQL: %s", http_desc(&r));
	free(as);
	http_resp_free(&r);

	put_rule("t", "s", "sql", "<Filter i:type=\"FalseFilter\"><SqlExpression>1=0</SqlExpression></Filter>"
				  "<Action i:type=\"EmptyRuleAction\"/>",
		 true, &r);
	CK_STATUS(&r, 200);
	http_resp_free(&r);
	http_get("/t/subscriptions/s/rules/sql", &r);
	ft = xml_attr(r.body, "Filter", "type");
	ck_assert_msg(ft != NULL && strcmp(ft, "FalseFilter") == 0, "updated filter type: %s", http_desc(&r));
	free(ft);
	CK_XML_EQ(r.body, "SqlExpression", "1=0");
	http_resp_free(&r);
	put_rule("t", "s", "nosuchrule", "<Filter i:type=\"TrueFilter\"><SqlExpression>1=1</SqlExpression></Filter>", true, &r);
	CK_STATUS(&r, 404);
	http_resp_free(&r);

	/* listing in name order, with paging */
	mk_rule("t", "s", "zeta", "<Filter i:type=\"TrueFilter\"><SqlExpression>1=1</SqlExpression></Filter>");
	http_get("/t/subscriptions/s/rules", &r);
	CK_STATUS(&r, 200);
	ck_assert_msg(xml_count(r.body, "entry") == 4, "4 rules: %s", http_desc(&r));
	const char *want[] = { "$Default", "corr", "sql", "zeta" };
	for (size_t i = 0; i < 4; i++) {
		char *t = xml_entry_title(r.body, i);
		ck_assert_msg(t != NULL && strcmp(t, want[i]) == 0, "rule %zu: want %s: %s", i, want[i], http_desc(&r));
		free(t);
	}
	http_resp_free(&r);
	http_get("/t/subscriptions/s/rules?$skip=1&$top=2", &r);
	CK_STATUS(&r, 200);
	ck_assert_msg(xml_count(r.body, "entry") == 2, "page of 2: %s", http_desc(&r));
	char *t0 = xml_entry_title(r.body, 0), *t1 = xml_entry_title(r.body, 1);
	ck_assert_msg(t0 && t1 && strcmp(t0, "corr") == 0 && strcmp(t1, "sql") == 0, "page: %s", http_desc(&r));
	free(t0);
	free(t1);
	http_resp_free(&r);

	/* delete */
	http_delete("/t/subscriptions/s/rules/corr", &r);
	CK_STATUS(&r, 200);
	http_resp_free(&r);
	http_get("/t/subscriptions/s/rules/corr", &r);
	CK_STATUS(&r, 404);
	expect_error_body(&r, 404);
	http_resp_free(&r);
	http_delete("/t/subscriptions/s/rules/corr", &r);
	CK_STATUS(&r, 404);
	http_resp_free(&r);
	http_get("/t/subscriptions/s/rules", &r);
	ck_assert_msg(xml_count(r.body, "entry") == 3, "3 rules left: %s", http_desc(&r));
	http_resp_free(&r);

	/* rule of a missing subscription */
	put_rule("t", "nosub", "r", "<Filter i:type=\"TrueFilter\"><SqlExpression>1=1</SqlExpression></Filter>", false, &r);
	CK_STATUS(&r, 404);
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

START_TEST(listing_and_paging)
{
	BROKER_START();
	struct http_resp r;

	/* empty feeds */
	http_get("/$Resources/Queues", &r);
	CK_STATUS(&r, 200);
	expect_content_type(&r, "application/atom+xml");
	ck_assert_msg(xml_count(r.body, "feed") == 1 && xml_count(r.body, "entry") == 0, "empty feed: %s",
		      http_desc(&r));
	http_resp_free(&r);

	/* created out of order: listings come in path order */
	const char *qs[] = { "q-c", "q-a", "q-e", "q-b", "q-d" };
	for (size_t i = 0; i < 5; i++)
		mk_queue(qs[i], NULL);
	mk_topic("t-b", NULL);
	mk_topic("t-a", NULL);

	http_get("/$Resources/Queues", &r);
	CK_STATUS(&r, 200);
	ck_assert_msg(xml_count(r.body, "entry") == 5, "5 queues: %s", http_desc(&r));
	const char *sorted[] = { "q-a", "q-b", "q-c", "q-d", "q-e" };
	for (size_t i = 0; i < 5; i++) {
		char *t = xml_entry_title(r.body, i);
		ck_assert_msg(t != NULL && strcmp(t, sorted[i]) == 0, "queue %zu should be %s: %s", i, sorted[i],
			      http_desc(&r));
		free(t);
	}
	ck_assert_msg(xml_count(r.body, "TopicDescription") == 0, "no topics in the queue feed: %s", http_desc(&r));
	/* feed entries carry runtime counts */
	ck_assert_msg(xml_count(r.body, "CountDetails") == 5, "CountDetails per entry: %s", http_desc(&r));
	http_resp_free(&r);

	http_get("/$Resources/Queues?$skip=1&$top=2", &r);
	CK_STATUS(&r, 200);
	ck_assert_msg(xml_count(r.body, "entry") == 2, "page of 2: %s", http_desc(&r));
	char *a = xml_entry_title(r.body, 0), *b = xml_entry_title(r.body, 1);
	ck_assert_msg(a && b && strcmp(a, "q-b") == 0 && strcmp(b, "q-c") == 0, "page: %s", http_desc(&r));
	free(a);
	free(b);
	http_resp_free(&r);

	http_get("/$Resources/Queues?$skip=4&$top=100", &r);
	ck_assert_msg(xml_count(r.body, "entry") == 1, "last page: %s", http_desc(&r));
	a = xml_entry_title(r.body, 0);
	ck_assert_msg(a && strcmp(a, "q-e") == 0, "last page: %s", http_desc(&r));
	free(a);
	http_resp_free(&r);

	http_get("/$Resources/Queues?$skip=10", &r);
	CK_STATUS(&r, 200);
	ck_assert_msg(xml_count(r.body, "entry") == 0, "past the end: %s", http_desc(&r));
	http_resp_free(&r);

	/* path is case-insensitive */
	http_get("/$Resources/queues?$top=1", &r);
	CK_STATUS(&r, 200);
	ck_assert_msg(xml_count(r.body, "entry") == 1, "lower-case $Resources/queues: %s", http_desc(&r));
	http_resp_free(&r);

	http_get("/$Resources/Topics", &r);
	CK_STATUS(&r, 200);
	ck_assert_msg(xml_count(r.body, "entry") == 2, "2 topics: %s", http_desc(&r));
	a = xml_entry_title(r.body, 0);
	b = xml_entry_title(r.body, 1);
	ck_assert_msg(a && b && strcmp(a, "t-a") == 0 && strcmp(b, "t-b") == 0, "topics: %s", http_desc(&r));
	free(a);
	free(b);
	ck_assert_msg(xml_count(r.body, "QueueDescription") == 0, "no queues in the topic feed: %s", http_desc(&r));
	http_resp_free(&r);

	const char *subs[] = { "s3", "s1", "s2" };
	for (size_t i = 0; i < 3; i++)
		mk_sub("t-a", subs[i], NULL);
	http_get("/t-a/subscriptions", &r);
	CK_STATUS(&r, 200);
	ck_assert_msg(xml_count(r.body, "entry") == 3, "3 subscriptions: %s", http_desc(&r));
	for (size_t i = 0; i < 3; i++) {
		char *t = xml_entry_title(r.body, i);
		char want[8];
		snprintf(want, sizeof want, "s%zu", i + 1);
		ck_assert_msg(t && strcmp(t, want) == 0, "sub %zu: %s", i, http_desc(&r));
		free(t);
	}
	http_resp_free(&r);
	http_get("/t-a/subscriptions?$skip=2&$top=5", &r);
	ck_assert_msg(xml_count(r.body, "entry") == 1, "sub page: %s", http_desc(&r));
	a = xml_entry_title(r.body, 0);
	ck_assert_msg(a && strcmp(a, "s3") == 0, "sub page: %s", http_desc(&r));
	free(a);
	http_resp_free(&r);
	http_get("/t-b/subscriptions", &r);
	CK_STATUS(&r, 200);
	ck_assert_msg(xml_count(r.body, "entry") == 0, "t-b has none: %s", http_desc(&r));
	http_resp_free(&r);

	/* deleted entities leave the listing */
	http_delete("/q-c", NULL);
	http_get("/$Resources/Queues", &r);
	ck_assert_msg(xml_count(r.body, "entry") == 4, "4 queues: %s", http_desc(&r));
	ck_assert_msg(strstr(r.body, ">q-c<") == NULL, "q-c gone: %s", http_desc(&r));
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

START_TEST(names_case_and_segments)
{
	BROKER_START();
	struct http_resp r;
	mk_queue("MyQueue", NULL);
	http_get("/myqueue", &r);
	CK_STATUS(&r, 200);
	CK_XML_EQ(r.body, "title", "MyQueue"); /* case of the first creation is kept */
	http_resp_free(&r);

	mk_queue("app/orders", NULL);
	http_get("/app/orders", &r);
	CK_STATUS(&r, 200);
	CK_XML_EQ(r.body, "title", "app/orders");
	http_resp_free(&r);
	send_ok("app/orders", "nested", NULL);
	recv_del_body("app/orders", "nested");
	send_ok("app/orders", "nested-lock", NULL);
	struct http_resp l;
	recv_lock_body("app/orders", "nested-lock", &l);
	char *lp = lock_path(&l);
	ck_assert_msg(lp != NULL && strncasecmp(lp, "/app/orders/messages/2/", 23) == 0, "Location: %s", http_desc(&l));
	free(lp);
	ck_assert_int_eq(complete_msg(&l), 200);
	http_resp_free(&l);

	/* names at the limits */
	char name260[261], name261[262];
	memset(name260, 'a', 260);
	name260[260] = '\0';
	memset(name261, 'b', 261);
	name261[261] = '\0';
	ck_assert_int_eq(put_queue(name260, NULL, false, NULL), 201);
	put_queue(name261, NULL, false, &r);
	CK_STATUS(&r, 400);
	expect_error_body(&r, 400);
	http_resp_free(&r);

	mk_topic("t", NULL);
	char sub50[51], sub51[52];
	memset(sub50, 's', 50);
	sub50[50] = '\0';
	memset(sub51, 's', 51);
	sub51[51] = '\0';
	ck_assert_int_eq(put_sub("t", sub50, NULL, false, NULL), 201);
	put_sub("t", sub51, NULL, false, &r);
	CK_STATUS(&r, 400);
	http_resp_free(&r);
	put_rule("t", sub50, sub51, "<Filter i:type=\"TrueFilter\"><SqlExpression>1=1</SqlExpression></Filter>", false, &r);
	CK_STATUS(&r, 400);
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

START_TEST(errors_bad_input)
{
	BROKER_START();
	struct http_resp r;

	/* not XML */
	http_put_xml("/bad1", "<entry><content>this is not closed", false, &r);
	CK_STATUS(&r, 400);
	expect_error_body(&r, 400);
	expect_content_type(&r, "application/xml");
	http_resp_free(&r);
	http_put_xml("/bad1", "{\"json\": true}", false, &r);
	CK_STATUS(&r, 400);
	http_resp_free(&r);
	/* XML, but no description */
	http_put_xml("/bad1", "<?xml version=\"1.0\"?><foo/>", false, &r);
	CK_STATUS(&r, 400);
	expect_error_body(&r, 400);
	http_resp_free(&r);
	http_get("/bad1", &r);
	CK_STATUS(&r, 404);
	http_resp_free(&r);

	/* out-of-range and unparsable values name the property */
	put_queue("bad2", "<LockDuration>PT10M</LockDuration>", false, &r);
	CK_STATUS(&r, 400);
	expect_error_body(&r, 400);
	ck_assert_msg(strstr(r.body, "LockDuration") != NULL, "names LockDuration: %s", http_desc(&r));
	http_resp_free(&r);
	put_queue("bad2", "<LockDuration>PT1S</LockDuration>", false, &r);
	CK_STATUS(&r, 400);
	http_resp_free(&r);
	put_queue("bad2", "<LockDuration>ten minutes</LockDuration>", false, &r);
	CK_STATUS(&r, 400);
	ck_assert_msg(strstr(r.body, "LockDuration") != NULL, "names LockDuration: %s", http_desc(&r));
	http_resp_free(&r);
	put_queue("bad2", "<MaxDeliveryCount>0</MaxDeliveryCount>", false, &r);
	CK_STATUS(&r, 400);
	ck_assert_msg(strstr(r.body, "MaxDeliveryCount") != NULL, "names MaxDeliveryCount: %s", http_desc(&r));
	http_resp_free(&r);
	put_queue("bad2", "<MaxDeliveryCount>many</MaxDeliveryCount>", false, &r);
	CK_STATUS(&r, 400);
	http_resp_free(&r);
	put_queue("bad2", "<RequiresSession>maybe</RequiresSession>", false, &r);
	CK_STATUS(&r, 400);
	http_resp_free(&r);
	put_queue("bad2", "<DuplicateDetectionHistoryTimeWindow>PT5S</DuplicateDetectionHistoryTimeWindow>", false, &r);
	CK_STATUS(&r, 400);
	http_resp_free(&r);
	put_queue("bad2", "<AutoDeleteOnIdle>PT1M</AutoDeleteOnIdle>", false, &r);
	CK_STATUS(&r, 400);
	ck_assert_msg(strstr(r.body, "AutoDeleteOnIdle") != NULL, "names AutoDeleteOnIdle: %s", http_desc(&r));
	http_resp_free(&r);
	/* a Premium-only size on this Standard-like namespace */
	put_queue("bad2", "<MaxMessageSizeInKilobytes>1024</MaxMessageSizeInKilobytes>", false, &r);
	CK_STATUS(&r, 400);
	ck_assert_msg(strstr(r.body, "MaxMessageSizeInKilobytes") != NULL, "names MaxMessageSizeInKilobytes: %s",
		      http_desc(&r));
	http_resp_free(&r);
	put_queue("bad2", "<Status>Sleeping</Status>", false, &r);
	CK_STATUS(&r, 400);
	http_resp_free(&r);
	/* nothing was created by the failures */
	http_get("/bad2", &r);
	CK_STATUS(&r, 404);
	http_resp_free(&r);

	/* forwarding to a missing entity or to itself */
	put_queue("fw", "<ForwardTo>nowhere</ForwardTo>", false, &r);
	ck_assert_msg(r.status == 400 || r.status == 404, "ForwardTo a missing entity: %s", http_desc(&r));
	http_resp_free(&r);
	mk_queue("self", NULL);
	put_queue("self", "<ForwardTo>self</ForwardTo>", true, &r);
	CK_STATUS(&r, 400);
	http_resp_free(&r);

	/* bad names */
	const char *bad_names[] = { "-lead", "trail-", "a%20b", "q*x", "q@x", "q%23x", NULL };
	for (const char *const *n = bad_names; *n != NULL; n++) {
		put_queue(*n, NULL, false, &r);
		ck_assert_msg(r.status == 400, "name '%s' should be refused: %s", *n, http_desc(&r));
		expect_error_body(&r, 400);
		http_resp_free(&r);
	}
	mk_topic("t", NULL);
	put_sub("t", "-s", NULL, false, &r);
	CK_STATUS(&r, 400);
	http_resp_free(&r);
	put_sub("t", "s*x", NULL, false, &r);
	CK_STATUS(&r, 400);
	http_resp_free(&r);

	/* wrong description for the path */
	mk_sub("t", "s", NULL);
	http_put_xml("/t/subscriptions/s3",
		     "<?xml version=\"1.0\"?><entry xmlns=\"http://www.w3.org/2005/Atom\">"
		     "<content type=\"application/xml\"><QueueDescription xmlns=\"" NS_SB "\"/></content></entry>",
		     false, &r);
	CK_STATUS(&r, 400);
	http_resp_free(&r);
	/* a rule with a broken filter */
	put_rule("t", "s", "r1", "<Filter i:type=\"SqlFilter\"></Filter>", false, &r);
	CK_STATUS(&r, 400);
	http_resp_free(&r);
	put_rule("t", "s", "r2", "<Filter i:type=\"CorrelationFilter\"><Properties/></Filter>", false, &r);
	CK_STATUS(&r, 400);
	http_resp_free(&r);

	/* GET of the dead-letter subqueue is not an entity read */
	mk_queue("q", NULL);
	http_get("/q/$DeadLetterQueue", &r);
	CK_STATUS(&r, 400);
	expect_error_body(&r, 400);
	http_resp_free(&r);

	/* missing things */
	http_get("/nothere", &r);
	CK_STATUS(&r, 404);
	expect_error_body(&r, 404);
	http_resp_free(&r);
	http_delete("/nothere", &r);
	CK_STATUS(&r, 404);
	expect_error_body(&r, 404);
	http_resp_free(&r);
	http_get("/t/subscriptions/nosub/rules", &r);
	CK_STATUS(&r, 404);
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

START_TEST(runtime_count_details)
{
	BROKER_START();
	struct http_resp r;
	mk_queue("q", "<MaxDeliveryCount>1</MaxDeliveryCount>");
	for (int i = 0; i < 3; i++)
		send_ok("q", sfmt("m%d", i), NULL);
	int64_t now = emu_now_ms();
	send_ok("q", "later", sfmt("{\"ScheduledEnqueueTimeUtc\":\"%s\"}", rfc1123(now + 3600 * 1000)));

	/* one message to the DLQ: lock, abandon with MaxDeliveryCount 1 */
	struct http_resp m;
	recv_lock_body("q", "m0", &m);
	ck_assert_int_eq(abandon_msg(&m), 200);
	http_resp_free(&m);

	http_get("/q", &r);
	CK_STATUS(&r, 200);
	CK_XML_EQ(r.body, "ActiveMessageCount", "2");
	CK_XML_EQ(r.body, "DeadLetterMessageCount", "1");
	CK_XML_EQ(r.body, "ScheduledMessageCount", "1");
	CK_XML_EQ(r.body, "MessageCount", "4");
	char *sz = xml_text(r.body, "SizeInBytes");
	ck_assert_msg(sz != NULL && strtoll(sz, NULL, 10) > 0, "SizeInBytes > 0: %s", http_desc(&r));
	free(sz);
	http_resp_free(&r);

	/* the queue feed shows the same counts */
	http_get("/$Resources/Queues", &r);
	CK_XML_EQ(r.body, "ActiveMessageCount", "2");
	CK_XML_EQ(r.body, "DeadLetterMessageCount", "1");
	http_resp_free(&r);

	/* subscription counts */
	mk_topic("t", NULL);
	mk_sub("t", "s1", NULL);
	mk_sub("t", "s2", NULL);
	send_ok("t", "fan", NULL);
	send_ok("t", "fan2", NULL);
	recv_del_body("t/subscriptions/s2", "fan");
	ck_assert_int_eq(entity_count("/t/subscriptions/s1", "ActiveMessageCount"), 2);
	ck_assert_int_eq(entity_count("/t/subscriptions/s2", "ActiveMessageCount"), 1);
	ck_assert_int_eq(entity_count("/t/subscriptions/s1", "MessageCount"), 2);
	BROKER_STOP();
}
END_TEST

START_TEST(namespace_info)
{
	BROKER_START();
	struct http_resp r;
	http_get("/$namespaceinfo", &r);
	CK_STATUS(&r, 200);
	ck_assert_int_eq(xml_count(r.body, "NamespaceInfo"), 1);
	CK_XML_EQ(r.body, "Name", "localzure");
	CK_XML_EQ(r.body, "NamespaceType", "Messaging");
	CK_XML_EQ(r.body, "MessagingSKU", "Standard");
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

START_TEST(protocol_variants)
{
	BROKER_START();
	struct http_resp r;
	/* prefixed elements, as the Python SDK writes them, and the api-version query */
	const char *prefixed =
		"<?xml version='1.0' encoding='utf-8'?>"
		"<ns0:entry xmlns:ns0=\"http://www.w3.org/2005/Atom\"><ns0:content type=\"application/xml\">"
		"<ns1:QueueDescription xmlns:ns1=\"" NS_SB "\" xmlns:xsi=\"" NS_XSI "\">"
		"<ns1:LockDuration>PT30S</ns1:LockDuration><ns1:MaxDeliveryCount>4</ns1:MaxDeliveryCount>"
		"<ns1:DefaultMessageTimeToLive>P10675199DT2H48M5.477539S</ns1:DefaultMessageTimeToLive>"
		"</ns1:QueueDescription></ns0:content></ns0:entry>";
	http_put_xml("/pq?api-version=2021-05", prefixed, false, &r);
	CK_STATUS(&r, 201);
	expect_content_type(&r, "application/atom+xml;type=entry");
	CK_XML_EQ(r.body, "LockDuration", "PT30S");
	CK_XML_EQ(r.body, "MaxDeliveryCount", "4");
	/* the Python SDK's rounded "infinite" is infinite */
	char *ttl = xml_text(r.body, "DefaultMessageTimeToLive");
	ck_assert_msg(ttl != NULL && strncmp(ttl, "P10675199DT2H48M5.47", 20) == 0, "infinite TTL: %s", http_desc(&r));
	free(ttl);
	http_resp_free(&r);

	http_get("/pq?api-version=2021-05&enrich=false", &r);
	CK_STATUS(&r, 200);
	char *id = xml_text(r.body, "id");
	ck_assert_msg(id != NULL && strstr(id, "/pq") != NULL && strstr(id, "api-version=2021-05") != NULL,
		      "<id> echoes the path and api-version: %s", http_desc(&r));
	free(id);
	http_resp_free(&r);

	/* "Subscriptions" is accepted, and segments are case-insensitive */
	mk_topic("t", NULL);
	put_sub("t", "s", NULL, false, NULL);
	http_put_xml("/t/Subscriptions/s2", "<entry xmlns=\"http://www.w3.org/2005/Atom\"><content type=\"application/xml\">"
					    "<SubscriptionDescription xmlns=\"" NS_SB "\"/></content></entry>",
		     false, &r);
	CK_STATUS(&r, 201);
	http_resp_free(&r);
	ck_assert_int_eq(http_get("/t/subscriptions/S2", NULL), 200);
	ck_assert_int_eq(http_get("/T/SUBSCRIPTIONS/s", NULL), 200);

	/* xsi prefix for the filter type */
	put_rule("t", "s", "xr",
		 "<Filter xmlns:xsi=\"" NS_XSI "\" xsi:type=\"CorrelationFilter\"><Label>L</Label></Filter>"
		 "<Action xmlns:xsi=\"" NS_XSI "\" xsi:type=\"EmptyRuleAction\"/>",
		 false, &r);
	CK_STATUS(&r, 201);
	http_resp_free(&r);
	http_get("/t/subscriptions/s/rules/xr", &r);
	char *ft = xml_attr(r.body, "Filter", "type");
	ck_assert_msg(ft != NULL && strcmp(ft, "CorrelationFilter") == 0, "filter type: %s", http_desc(&r));
	free(ft);
	CK_XML_EQ(r.body, "Label", "L");
	http_resp_free(&r);

	/* feeds are typed as feeds; DELETE answers with an empty body */
	http_get("/$Resources/Topics", &r);
	expect_content_type(&r, "application/atom+xml;type=feed");
	http_resp_free(&r);
	http_delete("/pq", &r);
	CK_STATUS(&r, 200);
	ck_assert_msg(r.len == 0, "DELETE has an empty body: %s", http_desc(&r));
	http_resp_free(&r);
	BROKER_STOP();
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("mgmt");
	TCase *tc = h_tcase("mgmt");
	tcase_add_test(tc, queue_create_get_delete);
	tcase_add_test(tc, queue_duplicate_create_409);
	tcase_add_test(tc, queue_update_full_replace);
	tcase_add_test(tc, queue_all_properties_roundtrip);
	tcase_add_test(tc, topic_properties_roundtrip);
	tcase_add_test(tc, subscription_crud_and_roundtrip);
	tcase_add_test(tc, subscription_default_rule);
	tcase_add_test(tc, rules_crud);
	tcase_add_test(tc, listing_and_paging);
	tcase_add_test(tc, names_case_and_segments);
	tcase_add_test(tc, errors_bad_input);
	tcase_add_test(tc, runtime_count_details);
	tcase_add_test(tc, namespace_info);
	tcase_add_test(tc, protocol_variants);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return h_run_suite(suite());
}
