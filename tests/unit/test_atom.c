/* Unit tests for broker/atom: parsing the bodies the Azure SDKs send (prefixes, reordering,
 * unknown elements, defaults), every error path, the emitted element order, feeds and errors,
 * and round trips parse(write(x)) == x for entities and rules. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/atom.h"
#include "broker/entity.h"
#include "common/duration.h"

#define ck_assert_err(expr, want)                                                                \
	do {                                                                                     \
		lz_err got_ = (expr);                                                            \
		ck_assert_msg(got_ == (want), "%s: got %s, want %s (%s)", #expr, err_name(got_), \
			      err_name(want), detail.text);                                      \
	} while (0)

#define NS_ATOM "http://www.w3.org/2005/Atom"
#define NS_SB "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"
#define NS_XSI "http://www.w3.org/2001/XMLSchema-instance"
#define NS_XS "http://www.w3.org/2001/XMLSchema"
#define NS_SER "http://schemas.microsoft.com/2003/10/Serialization/"

#define ENTRY_OPEN "<entry xmlns=\"" NS_ATOM "\"><content type=\"application/xml\">"
#define ENTRY_CLOSE "</content></entry>"

#define SEC 1000LL
#define MIN (60 * SEC)

/* 2021-04-19T17:21:10.687Z and 2020-07-17T02:22:22.663Z */
#define T_QUEUE 1618852870687LL
#define T_SUB 1594952542663LL

static struct lz_detail detail;
static struct entity_desc desc;
static struct rule_desc rule;
static bool has_rule;

static lz_err parse_entity(const char *xml, enum entity_kind expected)
{
	memset(&detail, 0, sizeof(detail));
	return atom_parse_entity(xml, strlen(xml), expected, &desc, &rule, &has_rule, &detail);
}

static lz_err parse_rule(const char *xml, const char *name)
{
	memset(&detail, 0, sizeof(detail));
	return atom_parse_rule(xml, strlen(xml), name, &rule, &detail);
}

static void release_all(void)
{
	entity_desc_release(&desc);
	rule_desc_release(&rule);
}

static void assert_detail_has(const char *needle)
{
	ck_assert_msg(strstr(detail.text, needle) != NULL, "detail '%s' lacks '%s'", detail.text,
		      needle);
}

static void assert_str_eq_null(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		ck_assert_msg(a == b, "'%s' != '%s'", a ? a : "(null)", b ? b : "(null)");
	else
		ck_assert_str_eq(a, b);
}

static void assert_desc_eq(const struct entity_desc *a, const struct entity_desc *b)
{
	ck_assert_int_eq(a->kind, b->kind);
	ck_assert_int_eq(a->lock_duration_ms, b->lock_duration_ms);
	ck_assert_int_eq(a->max_size_mb, b->max_size_mb);
	ck_assert_int_eq(a->requires_duplicate_detection, b->requires_duplicate_detection);
	ck_assert_int_eq(a->requires_session, b->requires_session);
	ck_assert_int_eq(a->default_ttl_ms, b->default_ttl_ms);
	ck_assert_int_eq(a->dead_lettering_on_expiration, b->dead_lettering_on_expiration);
	ck_assert_int_eq(a->dead_lettering_on_filter_exceptions,
			 b->dead_lettering_on_filter_exceptions);
	ck_assert_int_eq(a->dup_window_ms, b->dup_window_ms);
	ck_assert_int_eq(a->max_delivery_count, b->max_delivery_count);
	ck_assert_int_eq(a->enable_batched_operations, b->enable_batched_operations);
	ck_assert_int_eq(a->is_anonymous_accessible, b->is_anonymous_accessible);
	ck_assert_int_eq(a->support_ordering, b->support_ordering);
	ck_assert_int_eq(a->filtering_before_publishing, b->filtering_before_publishing);
	ck_assert_int_eq(a->status, b->status);
	ck_assert_int_eq(a->auto_delete_on_idle_ms, b->auto_delete_on_idle_ms);
	ck_assert_int_eq(a->enable_partitioning, b->enable_partitioning);
	ck_assert_int_eq(a->enable_subscription_partitioning, b->enable_subscription_partitioning);
	ck_assert_int_eq(a->enable_express, b->enable_express);
	ck_assert_int_eq(a->max_message_size_kb, b->max_message_size_kb);
	assert_str_eq_null(a->forward_to, b->forward_to);
	assert_str_eq_null(a->forward_dlq_to, b->forward_dlq_to);
	assert_str_eq_null(a->user_metadata, b->user_metadata);
}

static void assert_props_eq(const struct proplist *a, const struct proplist *b)
{
	size_t i;

	ck_assert_uint_eq(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		ck_assert_str_eq(a->items[i].name, b->items[i].name);
		ck_assert_msg(value_equal(&a->items[i].v, &b->items[i].v), "property '%s' differs",
			      a->items[i].name);
	}
}

/* Equal apart from created_at, which a body never sets. */
static void assert_rule_eq(const struct rule_desc *a, const struct rule_desc *b)
{
	assert_str_eq_null(a->name, b->name);
	ck_assert_int_eq(a->filter_type, b->filter_type);
	assert_str_eq_null(a->sql_expression, b->sql_expression);
	ck_assert_int_eq(a->sql_compat_level, b->sql_compat_level);
	assert_props_eq(&a->sql_params, &b->sql_params);
	assert_str_eq_null(a->corr.correlation_id, b->corr.correlation_id);
	assert_str_eq_null(a->corr.message_id, b->corr.message_id);
	assert_str_eq_null(a->corr.to, b->corr.to);
	assert_str_eq_null(a->corr.reply_to, b->corr.reply_to);
	assert_str_eq_null(a->corr.label, b->corr.label);
	assert_str_eq_null(a->corr.session_id, b->corr.session_id);
	assert_str_eq_null(a->corr.reply_to_session_id, b->corr.reply_to_session_id);
	assert_str_eq_null(a->corr.content_type, b->corr.content_type);
	assert_props_eq(&a->corr.properties, &b->corr.properties);
	ck_assert_int_eq(a->action_type, b->action_type);
	assert_str_eq_null(a->action_sql, b->action_sql);
	ck_assert_int_eq(a->action_compat_level, b->action_compat_level);
	assert_props_eq(&a->action_params, &b->action_params);
}

/* Each of `parts` occurs in `xml`, each after the previous one. */
static void assert_in_order(const char *xml, const char *const *parts, size_t n)
{
	const char *at = xml, *hit;
	size_t i;

	for (i = 0; i < n; i++) {
		hit = strstr(at, parts[i]);
		ck_assert_msg(hit != NULL, "'%s' missing or out of order in %s", parts[i], xml);
		at = hit + strlen(parts[i]);
	}
}

static size_t count_of(const char *xml, const char *needle)
{
	size_t n = 0;

	for (xml = strstr(xml, needle); xml != NULL; xml = strstr(xml + 1, needle))
		n++;
	return n;
}

static struct atom_ctx test_ctx(void)
{
	struct atom_ctx ctx = {
		.base_url = "http://127.0.0.1:5300",
		.namespace_name = "localzure",
		.api_version = "2021-05",
		.now_ms = T_QUEUE + 1000,
	};
	return ctx;
}

/* ---- parsing entities ------------------------------------------------------------------- */

/* The Python SDK's create_queue body (xsi prefix, ForwardTo as a full sb:// URI). */
static const char py_queue[] =
	"<?xml version='1.0' encoding='utf-8'?>\n" ENTRY_OPEN "<QueueDescription xmlns=\"" NS_SB
	"\" xmlns:xsi=\"" NS_XSI "\">"
	"<LockDuration>PT13S</LockDuration><MaxSizeInMegabytes>3072</MaxSizeInMegabytes>"
	"<RequiresDuplicateDetection>true</RequiresDuplicateDetection><RequiresSession>true</RequiresSession>"
	"<DefaultMessageTimeToLive>PT11M</DefaultMessageTimeToLive>"
	"<DeadLetteringOnMessageExpiration>true</DeadLetteringOnMessageExpiration>"
	"<DuplicateDetectionHistoryTimeWindow>PT12M</DuplicateDetectionHistoryTimeWindow>"
	"<MaxDeliveryCount>14</MaxDeliveryCount><EnableBatchedOperations>false</EnableBatchedOperations>"
	"<AuthorizationRules /><Status>Disabled</Status><AutoDeleteOnIdle>PT10M1S</AutoDeleteOnIdle>"
	"<EnablePartitioning>true</EnablePartitioning><EnableExpress>false</EnableExpress>"
	"<ForwardTo>sb://servicebustest.servicebus.windows.net/fwd</ForwardTo>"
	"<ForwardDeadLetteredMessagesTo>https://host:443/dlq/sink?api-version=2021-05</ForwardDeadLetteredMessagesTo>"
	"<UserMetadata>meta &amp; data</UserMetadata>"
	"</QueueDescription>" ENTRY_CLOSE;

START_TEST(parse_python_queue)
{
	ck_assert_err(parse_entity(py_queue, 0), LZ_OK);
	ck_assert_int_eq(desc.kind, ENTITY_QUEUE);
	ck_assert_int_eq(desc.lock_duration_ms, 13 * SEC);
	ck_assert_int_eq(desc.max_size_mb, 3072);
	ck_assert(desc.requires_duplicate_detection);
	ck_assert(desc.requires_session);
	ck_assert_int_eq(desc.default_ttl_ms, 11 * MIN);
	ck_assert(desc.dead_lettering_on_expiration);
	ck_assert_int_eq(desc.dup_window_ms, 12 * MIN);
	ck_assert_int_eq(desc.max_delivery_count, 14);
	ck_assert(!desc.enable_batched_operations);
	ck_assert_int_eq(desc.status, STATUS_DISABLED);
	ck_assert_int_eq(desc.auto_delete_on_idle_ms, 10 * MIN + SEC);
	ck_assert(desc.enable_partitioning);
	ck_assert_str_eq(desc.forward_to, "fwd");
	ck_assert_str_eq(desc.forward_dlq_to, "dlq/sink");
	ck_assert_str_eq(desc.user_metadata, "meta & data");
	ck_assert(!has_rule);
	release_all();
}
END_TEST

/* The .NET SDK's body: i prefix declared first, Python's rounded "infinite", explicit defaults. */
START_TEST(parse_dotnet_queue)
{
	static const char xml[] = ENTRY_OPEN
		"<QueueDescription xmlns:i=\"" NS_XSI "\" xmlns=\"" NS_SB "\">"
		"<LockDuration>PT1M</LockDuration><MaxSizeInMegabytes>1024</MaxSizeInMegabytes>"
		"<RequiresDuplicateDetection>false</RequiresDuplicateDetection>"
		"<RequiresSession>false</RequiresSession>"
		"<DefaultMessageTimeToLive>P10675199DT2H48M5.477539S</DefaultMessageTimeToLive>"
		"<DeadLetteringOnMessageExpiration>false</DeadLetteringOnMessageExpiration>"
		"<DuplicateDetectionHistoryTimeWindow>PT10M</DuplicateDetectionHistoryTimeWindow>"
		"<MaxDeliveryCount>10</MaxDeliveryCount><EnableBatchedOperations>true</EnableBatchedOperations>"
		"<Status>Active</Status><AutoDeleteOnIdle>P10675199DT2H48M5.4775807S</AutoDeleteOnIdle>"
		"<EnablePartitioning>false</EnablePartitioning><EnableExpress>false</EnableExpress>"
		"<MaxMessageSizeInKilobytes>256</MaxMessageSizeInKilobytes><ForwardTo i:nil=\"true\"/>"
		"</QueueDescription>" ENTRY_CLOSE;
	struct entity_desc want;

	ck_assert_err(parse_entity(xml, 0), LZ_OK);
	entity_desc_defaults(&want, ENTITY_QUEUE);
	assert_desc_eq(&desc, &want);
	release_all();
}
END_TEST

/* Prefixed elements, reordering, unknown and read-only elements, an element of another
 * namespace with a known local name, whitespace around values, 1/0 booleans. */
START_TEST(parse_prefixed_reordered_unknown)
{
	static const char xml[] =
		"<a:entry xmlns:a=\"" NS_ATOM
		"\"><a:title>ignored</a:title><a:content type=\"application/xml\">"
		"<sb:QueueDescription xmlns:sb=\"" NS_SB "\" xmlns:o=\"urn:other\">"
		"<sb:MaxDeliveryCount>3</sb:MaxDeliveryCount><sb:Unknown><sb:Deeper>x</sb:Deeper></sb:Unknown>"
		"<o:LockDuration>PT5M</o:LockDuration><sb:CreatedAt>2021-01-01T00:00:00Z</sb:CreatedAt>"
		"<sb:CountDetails><d2p1:ActiveMessageCount xmlns:d2p1=\"urn:x\">4</d2p1:ActiveMessageCount>"
		"</sb:CountDetails><sb:LockDuration>\n  PT30S\n</sb:LockDuration>"
		"<sb:RequiresSession>1</sb:RequiresSession><!-- a comment --><?pi data?>"
		"<sb:EnableBatchedOperations>0</sb:EnableBatchedOperations>"
		"<sb:UserMetadata><![CDATA[<raw>]]></sb:UserMetadata>"
		"</sb:QueueDescription></a:content></a:entry>";

	ck_assert_err(parse_entity(xml, 0), LZ_OK);
	ck_assert_int_eq(desc.kind, ENTITY_QUEUE);
	ck_assert_int_eq(desc.max_delivery_count, 3);
	ck_assert_int_eq(desc.lock_duration_ms, 30 * SEC);
	ck_assert(desc.requires_session);
	ck_assert(!desc.enable_batched_operations);
	ck_assert_str_eq(desc.user_metadata, "<raw>");
	release_all();
}
END_TEST

START_TEST(parse_empty_description_is_defaults)
{
	static const char xml[] = ENTRY_OPEN "<QueueDescription xmlns=\"" NS_SB "\" />" ENTRY_CLOSE;
	static const char sub_xml[] =
		ENTRY_OPEN "<SubscriptionDescription xmlns=\"" NS_SB "\"/>" ENTRY_CLOSE;
	struct entity_desc want;

	ck_assert_err(parse_entity(xml, 0), LZ_OK);
	entity_desc_defaults(&want, ENTITY_QUEUE);
	assert_desc_eq(&desc, &want);
	release_all();

	ck_assert_err(parse_entity(sub_xml, ENTITY_SUBSCRIPTION), LZ_OK);
	entity_desc_defaults(&want, ENTITY_SUBSCRIPTION);
	assert_desc_eq(&desc, &want);
	ck_assert(!has_rule);
	release_all();
}
END_TEST

START_TEST(parse_bare_description)
{
	ck_assert_err(parse_entity("<TopicDescription xmlns=\"" NS_SB "\"><Status>Disabled</Status>"
				   "</TopicDescription>",
				   0),
		      LZ_OK);
	ck_assert_int_eq(desc.kind, ENTITY_TOPIC);
	ck_assert_int_eq(desc.status, STATUS_DISABLED);
	release_all();

	/* Hand-written, without any namespace. */
	ck_assert_err(
		parse_entity(
			"<QueueDescription><LockDuration>PT20S</LockDuration></QueueDescription>",
			0),
		LZ_OK);
	ck_assert_int_eq(desc.lock_duration_ms, 20 * SEC);
	release_all();
}
END_TEST

/* Properties of other kinds are ignored: a topic has no LockDuration or ForwardTo. */
START_TEST(parse_topic)
{
	static const char xml[] = ENTRY_OPEN
		"<TopicDescription xmlns=\"" NS_SB "\" xmlns:xsi=\"" NS_XSI "\">"
		"<DefaultMessageTimeToLive>PT11M</DefaultMessageTimeToLive>"
		"<MaxSizeInMegabytes>3072</MaxSizeInMegabytes>"
		"<RequiresDuplicateDetection>true</RequiresDuplicateDetection>"
		"<DuplicateDetectionHistoryTimeWindow>PT12M</DuplicateDetectionHistoryTimeWindow>"
		"<EnableBatchedOperations>false</EnableBatchedOperations>"
		"<FilteringMessagesBeforePublishing>true</FilteringMessagesBeforePublishing>"
		"<SupportOrdering>false</SupportOrdering><AutoDeleteOnIdle>PT10M1S</AutoDeleteOnIdle>"
		"<EnablePartitioning>false</EnablePartitioning>"
		"<EnableSubscriptionPartitioning>true</EnableSubscriptionPartitioning>"
		"<EnableExpress>true</EnableExpress><LockDuration>PT3S</LockDuration><ForwardTo>q</ForwardTo>"
		"<RequiresSession>true</RequiresSession></TopicDescription>" ENTRY_CLOSE;

	ck_assert_err(parse_entity(xml, 0), LZ_OK);
	ck_assert_int_eq(desc.kind, ENTITY_TOPIC);
	ck_assert_int_eq(desc.default_ttl_ms, 11 * MIN);
	ck_assert_int_eq(desc.max_size_mb, 3072);
	ck_assert(desc.requires_duplicate_detection);
	ck_assert_int_eq(desc.dup_window_ms, 12 * MIN);
	ck_assert(!desc.enable_batched_operations);
	ck_assert(desc.filtering_before_publishing);
	ck_assert(!desc.support_ordering);
	ck_assert(desc.enable_subscription_partitioning);
	ck_assert(desc.enable_express);
	ck_assert_int_eq(desc.lock_duration_ms, MIN);
	ck_assert_ptr_null(desc.forward_to);
	ck_assert(!desc.requires_session);
	release_all();
}
END_TEST

static const char sub_with_rule[] = ENTRY_OPEN
	"<SubscriptionDescription xmlns:i=\"" NS_XSI "\" xmlns=\"" NS_SB "\">"
	"<LockDuration>PT45S</LockDuration><RequiresSession>true</RequiresSession>"
	"<DefaultMessageTimeToLive>PT1H</DefaultMessageTimeToLive>"
	"<DeadLetteringOnMessageExpiration>true</DeadLetteringOnMessageExpiration>"
	"<DeadLetteringOnFilterEvaluationExceptions>false</DeadLetteringOnFilterEvaluationExceptions>"
	"<DefaultRuleDescription><Filter i:type=\"SqlFilter\"><SqlExpression>color = 'red'</SqlExpression>"
	"<CompatibilityLevel>20</CompatibilityLevel></Filter><Action i:type=\"EmptyRuleAction\"/>"
	"<Name>red</Name></DefaultRuleDescription>"
	"<MaxDeliveryCount>5</MaxDeliveryCount><EnableBatchedOperations>true</EnableBatchedOperations>"
	"<Status>Active</Status><ForwardTo>sb://ns.servicebus.windows.net/q1</ForwardTo>"
	"<AutoDeleteOnIdle>PT6M</AutoDeleteOnIdle><MaxSizeInMegabytes>7</MaxSizeInMegabytes>"
	"</SubscriptionDescription>" ENTRY_CLOSE;

START_TEST(parse_subscription_with_default_rule)
{
	ck_assert_err(parse_entity(sub_with_rule, ENTITY_SUBSCRIPTION), LZ_OK);
	ck_assert_int_eq(desc.kind, ENTITY_SUBSCRIPTION);
	ck_assert_int_eq(desc.lock_duration_ms, 45 * SEC);
	ck_assert(desc.requires_session);
	ck_assert_int_eq(desc.default_ttl_ms, 60 * MIN);
	ck_assert(desc.dead_lettering_on_expiration);
	ck_assert(!desc.dead_lettering_on_filter_exceptions);
	ck_assert_int_eq(desc.max_delivery_count, 5);
	ck_assert_str_eq(desc.forward_to, "q1");
	ck_assert_int_eq(desc.auto_delete_on_idle_ms, 6 * MIN);
	ck_assert_int_eq(desc.max_size_mb, 1024); /* not a subscription property */
	ck_assert(has_rule);
	ck_assert_str_eq(rule.name, "red");
	ck_assert_int_eq(rule.filter_type, FILTER_SQL);
	ck_assert_str_eq(rule.sql_expression, "color = 'red'");
	ck_assert_int_eq(rule.action_type, ACTION_EMPTY);
	release_all();

	/* A DefaultRuleDescription without a name becomes $Default; an invalid one fails. */
	ck_assert_err(
		parse_entity(ENTRY_OPEN
			     "<SubscriptionDescription xmlns=\"" NS_SB "\" xmlns:i=\"" NS_XSI
			     "\"><DefaultRuleDescription><Filter i:type=\"FalseFilter\"/>"
			     "</DefaultRuleDescription></SubscriptionDescription>" ENTRY_CLOSE,
			     ENTITY_SUBSCRIPTION),
		LZ_OK);
	ck_assert(has_rule);
	ck_assert_str_eq(rule.name, "$Default");
	ck_assert_int_eq(rule.filter_type, FILTER_FALSE);
	release_all();
	ck_assert_err(
		parse_entity(ENTRY_OPEN
			     "<SubscriptionDescription xmlns=\"" NS_SB "\" xmlns:i=\"" NS_XSI
			     "\"><DefaultRuleDescription><Filter i:type=\"SqlFilter\"/>"
			     "</DefaultRuleDescription></SubscriptionDescription>" ENTRY_CLOSE,
			     ENTITY_SUBSCRIPTION),
		LZ_EINVAL);
	ck_assert(!has_rule);
	ck_assert_ptr_null(rule.name);
	ck_assert_err(
		parse_entity(ENTRY_OPEN
			     "<SubscriptionDescription xmlns=\"" NS_SB "\">"
			     "<DefaultRuleDescription><Name>a/b</Name></DefaultRuleDescription>"
			     "</SubscriptionDescription>" ENTRY_CLOSE,
			     ENTITY_SUBSCRIPTION),
		LZ_EINVAL);

	/* A queue or topic call may pass no rule at all. */
	memset(&detail, 0, sizeof(detail));
	ck_assert_err(atom_parse_entity(py_queue, strlen(py_queue), 0, &desc, NULL, NULL, &detail),
		      LZ_OK);
	entity_desc_release(&desc);
}
END_TEST

START_TEST(parse_wrong_kind)
{
	ck_assert_err(parse_entity(py_queue, ENTITY_SUBSCRIPTION), LZ_EPARSE);
	assert_detail_has("SubscriptionDescription");
	ck_assert_err(parse_entity(sub_with_rule, 0), LZ_EPARSE);
	ck_assert(!has_rule);
	ck_assert_ptr_null(rule.name);
	ck_assert_err(parse_entity(py_queue, ENTITY_TOPIC), LZ_EPARSE);
	ck_assert_err(parse_entity(py_queue, ENTITY_QUEUE), LZ_OK);
	release_all();
	ck_assert_err(
		parse_entity(ENTRY_OPEN "<RuleDescription xmlns=\"" NS_SB "\"/>" ENTRY_CLOSE, 0),
		LZ_EPARSE);
	ck_assert_err(
		parse_entity(ENTRY_OPEN "<QueueDescription xmlns=\"urn:other\"/>" ENTRY_CLOSE, 0),
		LZ_EPARSE);
}
END_TEST

START_TEST(parse_not_an_entry)
{
	ck_assert_err(parse_entity("not xml at all", 0), LZ_EPARSE);
	assert_detail_has("not valid XML");
	ck_assert_err(parse_entity("", 0), LZ_EPARSE);
	ck_assert_err(parse_entity("<entry xmlns=\"" NS_ATOM "\"><content>", 0), LZ_EPARSE);
	ck_assert_err(parse_entity("<QueueDescription/><QueueDescription/>", 0), LZ_EPARSE);
	ck_assert_err(parse_entity("<foo xmlns=\"urn:x\"/>", 0), LZ_EPARSE);
	assert_detail_has("<foo>");
	ck_assert_err(parse_entity("<entry xmlns=\"" NS_ATOM "\"><title>x</title></entry>", 0),
		      LZ_EPARSE);
	assert_detail_has("without a description");
	ck_assert_err(parse_entity("<entry xmlns=\"" NS_ATOM
				   "\"><content type=\"application/xml\"/></entry>",
				   0),
		      LZ_EPARSE);
	ck_assert_err(parse_entity("<entry xmlns=\"" NS_ATOM
				   "\"><content>text only</content></entry>",
				   0),
		      LZ_EPARSE);
	ck_assert_err(parse_entity("<a:QueueDescription/>", 0), LZ_EPARSE); /* undeclared prefix */
	ck_assert_err(parse_rule("not xml", "r"), LZ_EPARSE);
	ck_assert_err(parse_rule(py_queue, "r"), LZ_EPARSE);
	assert_detail_has("RuleDescription");
}
END_TEST

/* A queue body with one element replaced. */
static lz_err parse_queue_with(const char *elements)
{
	char xml[4096];

	snprintf(
		xml, sizeof(xml),
		ENTRY_OPEN
		"<QueueDescription xmlns=\"" NS_SB "\" xmlns:i=\"" NS_XSI
		"\"><ForwardTo>q9</ForwardTo><UserMetadata>m</UserMetadata>%s</QueueDescription>" ENTRY_CLOSE,
		elements);
	return parse_entity(xml, 0);
}

START_TEST(parse_bad_values)
{
	ck_assert_err(parse_queue_with("<LockDuration>PT1X</LockDuration>"), LZ_EINVAL);
	assert_detail_has("Parameter name: LockDuration");
	/* On failure the description is released (the strings read before are freed). */
	ck_assert_ptr_null(desc.forward_to);
	ck_assert_ptr_null(desc.user_metadata);
	ck_assert_err(parse_queue_with("<LockDuration></LockDuration>"), LZ_EINVAL);
	ck_assert_err(parse_queue_with("<LockDuration>-PT1M</LockDuration>"), LZ_ERANGE);
	ck_assert_err(
		parse_queue_with("<DefaultMessageTimeToLive>PT1M1M</DefaultMessageTimeToLive>"),
		LZ_EINVAL);
	assert_detail_has("DefaultMessageTimeToLive");
	ck_assert_err(parse_queue_with("<MaxDeliveryCount>abc</MaxDeliveryCount>"), LZ_EINVAL);
	assert_detail_has("Parameter name: MaxDeliveryCount");
	ck_assert_err(parse_queue_with("<MaxDeliveryCount>99999999999</MaxDeliveryCount>"),
		      LZ_EINVAL);
	ck_assert_err(parse_queue_with("<MaxSizeInMegabytes>1e3</MaxSizeInMegabytes>"), LZ_EINVAL);
	ck_assert_err(parse_queue_with("<Status>Sleeping</Status>"), LZ_EINVAL);
	assert_detail_has("Status");
	ck_assert_err(parse_queue_with("<RequiresSession>yes</RequiresSession>"), LZ_EINVAL);
	assert_detail_has("RequiresSession");
	ck_assert_err(parse_queue_with("<EnableExpress>TRUE</EnableExpress>"), LZ_EINVAL);
	ck_assert_err(parse_queue_with("<ForwardTo>ftp://h/x</ForwardTo>"), LZ_EINVAL);
	assert_detail_has("ForwardTo");
	ck_assert_err(parse_queue_with("<ForwardTo>sb://host.only</ForwardTo>"), LZ_EINVAL);
	ck_assert_err(parse_queue_with("<ForwardTo>sb://host/</ForwardTo>"), LZ_EINVAL);
	ck_assert_err(parse_queue_with("<ForwardTo>a//b</ForwardTo>"), LZ_EINVAL);
	ck_assert_err(parse_queue_with(
			      "<ForwardDeadLetteredMessagesTo>$x</ForwardDeadLetteredMessagesTo>"),
		      LZ_EINVAL);
	assert_detail_has("ForwardDeadLetteredMessagesTo");
}
END_TEST

START_TEST(parse_out_of_range)
{
	ck_assert_err(parse_queue_with("<LockDuration>PT10M</LockDuration>"), LZ_ERANGE);
	ck_assert_str_eq(detail.text,
			 "The supplied lock time exceeds the allowed maximum of '5' minutes. "
			 "Parameter name: LockDuration. Actual value was 00:10:00.");
	ck_assert_err(parse_queue_with("<LockDuration>PT4S</LockDuration>"), LZ_ERANGE);
	ck_assert_err(parse_queue_with("<LockDuration>PT5S</LockDuration>"), LZ_OK);
	release_all();
	ck_assert_err(parse_queue_with("<LockDuration>P25D</LockDuration>"), LZ_ERANGE);
	assert_detail_has("Actual value was 25.00:00:00.");
	ck_assert_err(
		parse_queue_with("<DefaultMessageTimeToLive>PT0.999S</DefaultMessageTimeToLive>"),
		LZ_ERANGE);
	ck_assert_err(
		parse_queue_with(
			"<DuplicateDetectionHistoryTimeWindow>PT19S</DuplicateDetectionHistoryTimeWindow>"),
		LZ_ERANGE);
	ck_assert_err(
		parse_queue_with(
			"<DuplicateDetectionHistoryTimeWindow>P8D</DuplicateDetectionHistoryTimeWindow>"),
		LZ_ERANGE);
	ck_assert_err(parse_queue_with("<MaxDeliveryCount>0</MaxDeliveryCount>"), LZ_ERANGE);
	ck_assert_err(parse_queue_with("<AutoDeleteOnIdle>PT4M59S</AutoDeleteOnIdle>"), LZ_ERANGE);
	ck_assert_err(parse_queue_with("<MaxSizeInMegabytes>1000</MaxSizeInMegabytes>"), LZ_ERANGE);
	assert_detail_has("MaxSizeInMegabytes");
	ck_assert_err(
		parse_queue_with("<MaxMessageSizeInKilobytes>1024</MaxMessageSizeInKilobytes>"),
		LZ_EINVAL);
	assert_detail_has("not supported on Standard");
	ck_assert_err(parse_queue_with("<Status>SendDisabled</Status>"), LZ_OK);
	release_all();
	ck_assert_err(parse_entity("<TopicDescription xmlns=\"" NS_SB
				   "\"><Status>SendDisabled</Status>"
				   "</TopicDescription>",
				   0),
		      LZ_EINVAL);
}
END_TEST

START_TEST(parse_rejects_doctype)
{
	static const char laughs[] =
		"<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
		"<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
		"<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>"
		"<QueueDescription xmlns=\"" NS_SB
		"\"><UserMetadata>&lol3;</UserMetadata></QueueDescription>";

	ck_assert_err(parse_entity(laughs, 0), LZ_EPARSE);
	assert_detail_has("DOCTYPE");
	ck_assert_err(parse_entity("<!DOCTYPE QueueDescription><QueueDescription/>", 0), LZ_EPARSE);
	ck_assert_err(parse_entity("<!DOCTYPE q SYSTEM \"file:///etc/passwd\"><q>&x;</q>", 0),
		      LZ_EPARSE);
	ck_assert_err(parse_rule("<!DOCTYPE r [<!ENTITY e \"x\">]><RuleDescription/>", "r"),
		      LZ_EPARSE);
	/* An undeclared entity reference is just an XML error. */
	ck_assert_err(
		parse_entity(
			"<QueueDescription><UserMetadata>&lol;</UserMetadata></QueueDescription>",
			0),
		LZ_EPARSE);
}
END_TEST

START_TEST(parse_limits)
{
	struct strbuf b = STRBUF_INIT;
	size_t i;

	/* Nesting deeper than 32. */
	ck_assert_int_eq(strbuf_adds(&b, "<QueueDescription xmlns=\"" NS_SB "\">"), LZ_OK);
	for (i = 0; i < 40; i++)
		ck_assert_int_eq(strbuf_adds(&b, "<x>"), LZ_OK);
	for (i = 0; i < 40; i++)
		ck_assert_int_eq(strbuf_adds(&b, "</x>"), LZ_OK);
	ck_assert_int_eq(strbuf_adds(&b, "</QueueDescription>"), LZ_OK);
	ck_assert_err(parse_entity(strbuf_cstr(&b), 0), LZ_EPARSE);
	assert_detail_has("nested too deeply");

	/* Too many elements, each one empty (the end handler still runs after the stop). */
	strbuf_reset(&b);
	ck_assert_int_eq(strbuf_adds(&b, "<QueueDescription xmlns=\"" NS_SB "\">"), LZ_OK);
	for (i = 0; i < 20000; i++)
		ck_assert_int_eq(strbuf_adds(&b, "<x/>"), LZ_OK);
	ck_assert_int_eq(strbuf_adds(&b, "</QueueDescription>"), LZ_OK);
	ck_assert_err(parse_entity(strbuf_cstr(&b), 0), LZ_EPARSE);
	assert_detail_has("too many elements");

	/* Over 1 MiB. */
	strbuf_reset(&b);
	ck_assert_int_eq(strbuf_adds(&b, "<QueueDescription xmlns=\"" NS_SB "\"><UserMetadata>"),
			 LZ_OK);
	for (i = 0; i < (1u << 20) / 8; i++)
		ck_assert_int_eq(strbuf_adds(&b, "12345678"), LZ_OK);
	ck_assert_int_eq(strbuf_adds(&b, "</UserMetadata></QueueDescription>"), LZ_OK);
	ck_assert_err(parse_entity(strbuf_cstr(&b), 0), LZ_EPARSE);
	assert_detail_has("larger than");
	strbuf_release(&b);
}
END_TEST

/* ---- parsing rules ---------------------------------------------------------------------- */

#define PY_VALUE(key, type, text)                                                 \
	"<KeyValueOfstringanyType><Key>" key "</Key><Value xsi:type=\"d6p1:" type \
	"\" xmlns:d6p1=\"" NS_XS "\">" text "</Value></KeyValueOfstringanyType>"

/* The Python SDK's create_rule body with a correlation filter and every property type. */
static const char py_corr_rule[] =
	"<?xml version='1.0' encoding='utf-8'?>\n" ENTRY_OPEN "<RuleDescription xmlns=\"" NS_SB
	"\" xmlns:xsi=\"" NS_XSI "\">"
	"<Filter xsi:type=\"CorrelationFilter\"><CorrelationId>testcid</CorrelationId>"
	"<MessageId>mid</MessageId><To>to</To><ReplyTo>rt</ReplyTo><Label>lbl</Label><SessionId>sid</SessionId>"
	"<ReplyToSessionId>rsid</ReplyToSessionId><ContentType>application/json</ContentType><Properties>" PY_VALUE(
		"key_string", "string", " str 1 ") PY_VALUE("key_int", "int", "2")
		PY_VALUE("key_long", "long", "1099511627776") PY_VALUE(
			"key_bool", "boolean", "true") PY_VALUE("key_double", "double", "1.5")
			PY_VALUE("key_date", "dateTime", "2020-07-17T02:22:22.663Z") PY_VALUE(
				"key_duration", "duration",
				"PT1M") "</Properties></Filter><Action xsi:type=\"EmptyRuleAction\" /><Name>testrule</Name>"
					"</RuleDescription>" ENTRY_CLOSE;

START_TEST(parse_python_correlation_rule)
{
	const struct value *v;

	ck_assert_err(parse_rule(py_corr_rule, NULL), LZ_OK);
	ck_assert_str_eq(rule.name, "testrule");
	ck_assert_int_eq(rule.filter_type, FILTER_CORRELATION);
	ck_assert_str_eq(rule.corr.correlation_id, "testcid");
	ck_assert_str_eq(rule.corr.message_id, "mid");
	ck_assert_str_eq(rule.corr.to, "to");
	ck_assert_str_eq(rule.corr.reply_to, "rt");
	ck_assert_str_eq(rule.corr.label, "lbl");
	ck_assert_str_eq(rule.corr.session_id, "sid");
	ck_assert_str_eq(rule.corr.reply_to_session_id, "rsid");
	ck_assert_str_eq(rule.corr.content_type, "application/json");
	ck_assert_uint_eq(rule.corr.properties.n, 7);
	v = proplist_get(&rule.corr.properties, "key_string");
	ck_assert_int_eq(v->type, VALUE_STRING);
	ck_assert_str_eq(v->u.s, " str 1 ");
	v = proplist_get(&rule.corr.properties, "key_int");
	ck_assert_int_eq(v->type, VALUE_INT);
	ck_assert_int_eq(v->u.i, 2);
	v = proplist_get(&rule.corr.properties, "key_long");
	ck_assert_int_eq(v->type, VALUE_LONG);
	ck_assert_int_eq(v->u.i, 1099511627776LL);
	v = proplist_get(&rule.corr.properties, "key_bool");
	ck_assert_int_eq(v->type, VALUE_BOOL);
	ck_assert(v->u.b);
	v = proplist_get(&rule.corr.properties, "key_double");
	ck_assert_int_eq(v->type, VALUE_DOUBLE);
	ck_assert(v->u.d == 1.5);
	v = proplist_get(&rule.corr.properties, "key_date");
	ck_assert_int_eq(v->type, VALUE_DATETIME);
	ck_assert_int_eq(v->u.i, T_SUB);
	v = proplist_get(&rule.corr.properties, "key_duration");
	ck_assert_int_eq(v->type, VALUE_DURATION);
	ck_assert_int_eq(v->u.i, MIN);
	ck_assert_int_eq(rule.action_type, ACTION_EMPTY);
	release_all();

	/* The name in the URL wins over the body's. */
	ck_assert_err(parse_rule(py_corr_rule, "from-url"), LZ_OK);
	ck_assert_str_eq(rule.name, "from-url");
	release_all();
}
END_TEST

/* The .NET SDK's SqlFilter + SqlRuleAction with parameters (i prefix, l28 type prefix, the
 * duration in the Serialization namespace as the service echoes it). */
static const char dotnet_sql_rule[] = ENTRY_OPEN
	"<RuleDescription xmlns:i=\"" NS_XSI "\" xmlns=\"" NS_SB "\">"
	"<Filter i:type=\"SqlFilter\"><SqlExpression>prop1 = @p1 AND prop2 &gt; @p2</SqlExpression>"
	"<CompatibilityLevel>20</CompatibilityLevel><Parameters>"
	"<KeyValueOfstringanyType><Key>@p1</Key><Value i:type=\"l28:string\" xmlns:l28=\"" NS_XS
	"\">v1</Value></KeyValueOfstringanyType>"
	"<KeyValueOfstringanyType><Key>@p2</Key><Value i:type=\"l28:int\" xmlns:l28=\"" NS_XS
	"\">7</Value></KeyValueOfstringanyType></Parameters>"
	"<RequiresPreprocessing>false</RequiresPreprocessing></Filter>"
	"<Action i:type=\"SqlRuleAction\"><SqlExpression>SET a = @x</SqlExpression>"
	"<CompatibilityLevel>20</CompatibilityLevel><Parameters><KeyValueOfstringanyType><Key>@x</Key>"
	"<Value i:type=\"d3p1:duration\" xmlns:d3p1=\"" NS_SER "\">PT30S</Value>"
	"</KeyValueOfstringanyType></Parameters></Action>"
	"<CreatedAt>2020-07-17T02:22:22.6633698Z</CreatedAt><Name>body-name</Name>"
	"</RuleDescription>" ENTRY_CLOSE;

START_TEST(parse_dotnet_sql_rule)
{
	const struct value *v;

	ck_assert_err(parse_rule(dotnet_sql_rule, "url-name"), LZ_OK);
	ck_assert_str_eq(rule.name, "url-name");
	ck_assert_int_eq(rule.filter_type, FILTER_SQL);
	ck_assert_str_eq(rule.sql_expression, "prop1 = @p1 AND prop2 > @p2");
	ck_assert_int_eq(rule.sql_compat_level, 20);
	ck_assert_uint_eq(rule.sql_params.n, 2);
	v = proplist_get(&rule.sql_params, "@p1");
	ck_assert_str_eq(v->u.s, "v1");
	v = proplist_get(&rule.sql_params, "@p2");
	ck_assert_int_eq(v->type, VALUE_INT);
	ck_assert_int_eq(v->u.i, 7);
	ck_assert_int_eq(rule.action_type, ACTION_SQL);
	ck_assert_str_eq(rule.action_sql, "SET a = @x");
	v = proplist_get(&rule.action_params, "@x");
	ck_assert_int_eq(v->type, VALUE_DURATION);
	ck_assert_int_eq(v->u.i, 30 * SEC);
	ck_assert_int_eq(rule.created_at, 0);
	release_all();
}
END_TEST

static lz_err parse_filter(const char *filter)
{
	char xml[2048];

	snprintf(xml, sizeof(xml),
		 ENTRY_OPEN "<RuleDescription xmlns=\"" NS_SB "\" xmlns:i=\"" NS_XSI
			    "\">%s<Name>n</Name></RuleDescription>" ENTRY_CLOSE,
		 filter);
	return parse_rule(xml, NULL);
}

START_TEST(parse_true_false_and_default_filters)
{
	ck_assert_err(
		parse_filter("<Filter i:type=\"TrueFilter\"><SqlExpression>1=1</SqlExpression>"
			     "<CompatibilityLevel>20</CompatibilityLevel></Filter>"),
		LZ_OK);
	ck_assert_int_eq(rule.filter_type, FILTER_TRUE);
	ck_assert_ptr_null(rule.sql_expression);
	release_all();
	ck_assert_err(
		parse_filter(
			"<Filter i:type=\"FalseFilter\"/><Action i:type=\"EmptyRuleAction\"/>"),
		LZ_OK);
	ck_assert_int_eq(rule.filter_type, FILTER_FALSE);
	release_all();
	/* No Filter and no Action: TrueFilter + EmptyRuleAction. */
	ck_assert_err(parse_filter(""), LZ_OK);
	ck_assert_int_eq(rule.filter_type, FILTER_TRUE);
	ck_assert_int_eq(rule.action_type, ACTION_EMPTY);
	ck_assert_int_eq(rule.sql_compat_level, 20);
	ck_assert_str_eq(rule.name, "n");
	release_all();
	/* A default-namespace-prefixed type ("sb:SqlFilter") resolves too. */
	ck_assert_err(parse_filter("<Filter xmlns:sb=\"" NS_SB "\" i:type=\"sb:SqlFilter\">"
				   "<SqlExpression>a=1</SqlExpression></Filter>"),
		      LZ_OK);
	ck_assert_int_eq(rule.filter_type, FILTER_SQL);
	release_all();
}
END_TEST

START_TEST(parse_rule_errors)
{
	ck_assert_err(parse_filter("<Filter><SqlExpression>a=1</SqlExpression></Filter>"),
		      LZ_EINVAL);
	assert_detail_has("i:type");
	ck_assert_ptr_null(rule.name);
	ck_assert_err(parse_filter("<Filter i:type=\"FooFilter\"/>"), LZ_EINVAL);
	assert_detail_has("FooFilter");
	ck_assert_err(parse_filter("<Filter i:type=\"SqlFilter\"><SqlExpression/></Filter>"),
		      LZ_EINVAL);
	ck_assert_err(parse_filter("<Filter i:type=\"SqlFilter\"><SqlExpression>a=1</SqlExpression>"
				   "<CompatibilityLevel>x</CompatibilityLevel></Filter>"),
		      LZ_EINVAL);
	ck_assert_err(parse_filter("<Filter i:type=\"CorrelationFilter\"><Properties/></Filter>"),
		      LZ_EINVAL);
	assert_detail_has("at least one");
	ck_assert_err(parse_filter("<Action i:type=\"SqlRuleAction\"/>"), LZ_EINVAL);
	ck_assert_err(parse_filter("<Action/>"), LZ_EINVAL);
	ck_assert_err(parse_filter("<Action i:type=\"BadAction\"/>"), LZ_EINVAL);
	/* Typed values: unsupported type, bad text, missing Key, prefix of another namespace. */
	ck_assert_err(
		parse_filter(
			"<Filter i:type=\"CorrelationFilter\"><Properties><KeyValueOfstringanyType>"
			"<Key>k</Key><Value i:type=\"x:decimal\" xmlns:x=\"" NS_XS "\">1</Value>"
			"</KeyValueOfstringanyType></Properties></Filter>"),
		LZ_EINVAL);
	assert_detail_has("decimal");
	ck_assert_err(
		parse_filter(
			"<Filter i:type=\"CorrelationFilter\"><Properties><KeyValueOfstringanyType>"
			"<Key>k</Key><Value i:type=\"x:int\" xmlns:x=\"" NS_XS
			"\">4000000000</Value>"
			"</KeyValueOfstringanyType></Properties></Filter>"),
		LZ_EINVAL);
	ck_assert_err(
		parse_filter(
			"<Filter i:type=\"CorrelationFilter\"><Properties><KeyValueOfstringanyType>"
			"<Key>k</Key><Value i:type=\"x:boolean\" xmlns:x=\"" NS_XS
			"\">maybe</Value>"
			"</KeyValueOfstringanyType></Properties></Filter>"),
		LZ_EINVAL);
	ck_assert_err(
		parse_filter(
			"<Filter i:type=\"CorrelationFilter\"><Properties><KeyValueOfstringanyType>"
			"<Key>k</Key><Value i:type=\"x:double\" xmlns:x=\"" NS_XS "\">0x10</Value>"
			"</KeyValueOfstringanyType></Properties></Filter>"),
		LZ_EINVAL);
	ck_assert_err(
		parse_filter(
			"<Filter i:type=\"CorrelationFilter\"><Properties><KeyValueOfstringanyType>"
			"<Key>k</Key><Value i:type=\"x:dateTime\" xmlns:x=\"" NS_XS
			"\">yesterday</Value>"
			"</KeyValueOfstringanyType></Properties></Filter>"),
		LZ_EINVAL);
	ck_assert_err(
		parse_filter(
			"<Filter i:type=\"CorrelationFilter\"><Properties><KeyValueOfstringanyType>"
			"<Value>1</Value></KeyValueOfstringanyType></Properties></Filter>"),
		LZ_EINVAL);
	ck_assert_err(
		parse_filter(
			"<Filter i:type=\"CorrelationFilter\"><Properties><KeyValueOfstringanyType>"
			"<Key>k</Key><Value i:type=\"x:int\" xmlns:x=\"urn:not-schema\">1</Value>"
			"</KeyValueOfstringanyType></Properties></Filter>"),
		LZ_EINVAL);
	/* An undeclared prefix in i:type. */
	ck_assert_err(
		parse_filter(
			"<Filter i:type=\"CorrelationFilter\"><Properties><KeyValueOfstringanyType>"
			"<Key>k</Key><Value i:type=\"nope:int\">1</Value>"
			"</KeyValueOfstringanyType></Properties></Filter>"),
		LZ_EPARSE);
	assert_detail_has("undeclared");
}
END_TEST

/* i:type prefixes are resolved through the declarations in scope, not by their spelling. */
START_TEST(parse_type_prefix_scoping)
{
	static const char inner_wins[] =
		"<RuleDescription xmlns=\"" NS_SB "\" xmlns:i=\"" NS_XSI
		"\" xmlns:xs=\"urn:not-schema\">"
		"<Filter i:type=\"CorrelationFilter\"><Properties><KeyValueOfstringanyType><Key>k</Key>"
		"<Value i:type=\"xs:int\" xmlns:xs=\"" NS_XS
		"\">5</Value></KeyValueOfstringanyType>"
		"</Properties></Filter></RuleDescription>";
	static const char outer_wrong[] =
		"<RuleDescription xmlns=\"" NS_SB "\" xmlns:i=\"" NS_XSI
		"\" xmlns:xs=\"urn:not-schema\">"
		"<Filter i:type=\"CorrelationFilter\"><Properties><KeyValueOfstringanyType><Key>k</Key>"
		"<Value i:type=\"xs:int\">5</Value></KeyValueOfstringanyType>"
		"</Properties></Filter></RuleDescription>";
	static const char ancestor[] =
		"<r:RuleDescription xmlns:r=\"" NS_SB "\" xmlns:q=\"" NS_XSI "\" xmlns:zz=\"" NS_XS
		"\">"
		"<r:Filter q:type=\"CorrelationFilter\"><r:Properties><r:KeyValueOfstringanyType><r:Key>k</r:Key>"
		"<r:Value q:type=\"zz:long\">5</r:Value></r:KeyValueOfstringanyType>"
		"<r:KeyValueOfstringanyType><r:Key>n</r:Key><r:Value q:nil=\"true\"/></r:KeyValueOfstringanyType>"
		"<r:KeyValueOfstringanyType><r:Key>s</r:Key><r:Value>plain</r:Value></r:KeyValueOfstringanyType>"
		"</r:Properties></r:Filter></r:RuleDescription>";
	static const char out_of_scope[] =
		"<RuleDescription xmlns=\"" NS_SB "\" xmlns:i=\"" NS_XSI "\">"
		"<Filter i:type=\"CorrelationFilter\"><Properties><KeyValueOfstringanyType><Key>a</Key>"
		"<Value i:type=\"p:int\" xmlns:p=\"" NS_XS "\">1</Value></KeyValueOfstringanyType>"
		"<KeyValueOfstringanyType><Key>b</Key><Value i:type=\"p:int\">2</Value></KeyValueOfstringanyType>"
		"</Properties></Filter></RuleDescription>";
	const struct value *v;

	ck_assert_err(parse_rule(inner_wins, "r"), LZ_OK);
	v = proplist_get(&rule.corr.properties, "k");
	ck_assert_int_eq(v->type, VALUE_INT);
	ck_assert_int_eq(v->u.i, 5);
	release_all();
	ck_assert_err(parse_rule(outer_wrong, "r"), LZ_EINVAL);
	ck_assert_err(parse_rule(ancestor, "r"), LZ_OK);
	ck_assert_int_eq(proplist_get(&rule.corr.properties, "k")->type, VALUE_LONG);
	ck_assert_int_eq(proplist_get(&rule.corr.properties, "n")->type, VALUE_NULL);
	ck_assert_str_eq(proplist_get(&rule.corr.properties, "s")->u.s, "plain");
	release_all();
	ck_assert_err(parse_rule(out_of_scope, "r"), LZ_EPARSE);
}
END_TEST

/* ---- writing ---------------------------------------------------------------------------- */

static void info_init(struct entity_info *e, enum entity_kind kind, const char *path,
		      const char *name)
{
	memset(e, 0, sizeof(*e));
	e->path = (char *)path;
	e->name = (char *)name;
	entity_desc_defaults(&e->desc, kind);
	e->created_at = kind == ENTITY_SUBSCRIPTION ? T_SUB : T_QUEUE;
	e->updated_at = e->created_at + 1;
	e->active_count = 1;
	e->deadletter_count = 2;
	e->scheduled_count = 3;
	e->transfer_count = 4;
	e->transfer_deadletter_count = 5;
	e->message_count = 15;
	e->size_bytes = 4096;
	e->subscription_count = 6;
}

/* A description with every settable property away from its default. */
static void desc_unusual(struct entity_desc *d)
{
	d->lock_duration_ms = 45 * SEC + 500;
	d->max_size_mb = 5120;
	d->requires_duplicate_detection = true;
	d->requires_session = true;
	d->default_ttl_ms = 3 * MIN;
	d->dead_lettering_on_expiration = true;
	d->dead_lettering_on_filter_exceptions = !d->dead_lettering_on_filter_exceptions;
	d->dup_window_ms = 2 * MIN;
	d->max_delivery_count = 3;
	d->enable_batched_operations = false;
	d->is_anonymous_accessible = true;
	d->support_ordering = false;
	d->filtering_before_publishing = true;
	d->status = STATUS_DISABLED;
	d->auto_delete_on_idle_ms = 7 * MIN;
	d->enable_partitioning = true;
	d->enable_subscription_partitioning = true;
	d->enable_express = true;
	d->user_metadata = "<meta> & \"quotes\" 'apos' \xc3\xa9";
}

/* Keeps only the fields of `kind`, as a parse would. */
static void desc_keep_kind(struct entity_desc *want, const struct entity_desc *src)
{
	entity_desc_defaults(want, src->kind);
	want->default_ttl_ms = src->default_ttl_ms;
	want->enable_batched_operations = src->enable_batched_operations;
	want->status = src->status;
	want->auto_delete_on_idle_ms = src->auto_delete_on_idle_ms;
	want->user_metadata = src->user_metadata;
	if (src->kind != ENTITY_SUBSCRIPTION) {
		want->max_size_mb = src->max_size_mb;
		want->requires_duplicate_detection = src->requires_duplicate_detection;
		want->dup_window_ms = src->dup_window_ms;
		want->is_anonymous_accessible = src->is_anonymous_accessible;
		want->support_ordering = src->support_ordering;
		want->enable_partitioning = src->enable_partitioning;
		want->enable_express = src->enable_express;
		want->max_message_size_kb = src->max_message_size_kb;
	}
	if (src->kind != ENTITY_TOPIC) {
		want->lock_duration_ms = src->lock_duration_ms;
		want->requires_session = src->requires_session;
		want->dead_lettering_on_expiration = src->dead_lettering_on_expiration;
		want->max_delivery_count = src->max_delivery_count;
		want->forward_to = src->forward_to;
		want->forward_dlq_to = src->forward_dlq_to;
	}
	if (src->kind == ENTITY_TOPIC) {
		want->filtering_before_publishing = src->filtering_before_publishing;
		want->enable_subscription_partitioning = src->enable_subscription_partitioning;
	}
	if (src->kind == ENTITY_SUBSCRIPTION)
		want->dead_lettering_on_filter_exceptions =
			src->dead_lettering_on_filter_exceptions;
}

static void round_trip_entity(const struct entity_info *e, bool runtime)
{
	struct strbuf b = STRBUF_INIT;
	struct atom_ctx ctx = test_ctx();
	struct entity_desc want;

	ctx.runtime = runtime;
	ck_assert_err(atom_write_entity(&b, e, &ctx), LZ_OK);
	ck_assert_err(parse_entity(strbuf_cstr(&b),
				   e->desc.kind == ENTITY_SUBSCRIPTION ? ENTITY_SUBSCRIPTION : 0),
		      LZ_OK);
	desc_keep_kind(&want, &e->desc);
	assert_desc_eq(&desc, &want);
	release_all();
	strbuf_release(&b);
}

START_TEST(round_trip_entities)
{
	struct entity_info e;

	info_init(&e, ENTITY_QUEUE, "app/q1", "app/q1");
	round_trip_entity(&e, false);
	desc_unusual(&e.desc);
	e.desc.forward_to = "app/fwd";
	e.desc.forward_dlq_to = "dlq";
	round_trip_entity(&e, false);
	round_trip_entity(&e, true);

	info_init(&e, ENTITY_TOPIC, "t1", "t1");
	round_trip_entity(&e, true);
	desc_unusual(&e.desc);
	round_trip_entity(&e, true);

	info_init(&e, ENTITY_SUBSCRIPTION, "t1/subscriptions/s1", "s1");
	round_trip_entity(&e, false);
	desc_unusual(&e.desc);
	e.desc.forward_to = "t2";
	e.desc.forward_dlq_to = "q3";
	round_trip_entity(&e, true);
}
END_TEST

static void rule_init(struct rule_desc *r, const char *name)
{
	memset(r, 0, sizeof(*r));
	r->name = strdup(name);
	r->sql_compat_level = 20;
	r->action_compat_level = 20;
	r->created_at = T_SUB;
}

static void props_add_all_types(struct proplist *l)
{
	struct value v;

	v = (struct value){ .type = VALUE_STRING, .u.s = "  s <&> \"q\"  " };
	ck_assert_int_eq(proplist_set(l, "str", &v), LZ_OK);
	v = (struct value){ .type = VALUE_INT, .u.i = -2147483648LL };
	ck_assert_int_eq(proplist_set(l, "int", &v), LZ_OK);
	v = (struct value){ .type = VALUE_LONG, .u.i = INT64_MAX };
	ck_assert_int_eq(proplist_set(l, "long", &v), LZ_OK);
	v = (struct value){ .type = VALUE_BOOL, .u.b = false };
	ck_assert_int_eq(proplist_set(l, "bool", &v), LZ_OK);
	v = (struct value){ .type = VALUE_DOUBLE, .u.d = 0.1 };
	ck_assert_int_eq(proplist_set(l, "double", &v), LZ_OK);
	v = (struct value){ .type = VALUE_DOUBLE, .u.d = -INFINITY };
	ck_assert_int_eq(proplist_set(l, "ninf", &v), LZ_OK);
	v = (struct value){ .type = VALUE_DOUBLE, .u.d = 1e300 };
	ck_assert_int_eq(proplist_set(l, "big", &v), LZ_OK);
	v = (struct value){ .type = VALUE_DATETIME, .u.i = T_SUB };
	ck_assert_int_eq(proplist_set(l, "date", &v), LZ_OK);
	v = (struct value){ .type = VALUE_DURATION, .u.i = 90 * MIN + 250 };
	ck_assert_int_eq(proplist_set(l, "dur", &v), LZ_OK);
	v = (struct value){ .type = VALUE_DURATION, .u.i = DURATION_INFINITE };
	ck_assert_int_eq(proplist_set(l, "forever", &v), LZ_OK);
	v = (struct value){ .type = VALUE_NULL };
	ck_assert_int_eq(proplist_set(l, "null", &v), LZ_OK);
}

static void round_trip_rule(const struct rule_desc *r)
{
	struct strbuf b = STRBUF_INIT;
	struct atom_ctx ctx = test_ctx();

	ck_assert_err(atom_write_rule(&b, r, "t1/subscriptions/s1", &ctx), LZ_OK);
	ck_assert_err(parse_rule(strbuf_cstr(&b), NULL), LZ_OK);
	assert_rule_eq(&rule, r);
	release_all();
	strbuf_release(&b);
}

START_TEST(round_trip_rules)
{
	struct rule_desc r;

	ck_assert_int_eq(rule_desc_default(&r, T_SUB), LZ_OK);
	round_trip_rule(&r);
	r.filter_type = FILTER_FALSE;
	round_trip_rule(&r);
	rule_desc_release(&r);

	rule_init(&r, "sql");
	r.filter_type = FILTER_SQL;
	r.sql_expression = strdup("a = @p AND b <> 'x&y'");
	props_add_all_types(&r.sql_params);
	r.action_type = ACTION_SQL;
	r.action_sql = strdup("SET sys.Label = @l; REMOVE c");
	r.action_compat_level = 21;
	props_add_all_types(&r.action_params);
	round_trip_rule(&r);
	rule_desc_release(&r);

	rule_init(&r, "corr");
	r.filter_type = FILTER_CORRELATION;
	r.corr.label = strdup("red");
	round_trip_rule(&r);
	r.corr.correlation_id = strdup("c");
	r.corr.message_id = strdup("m");
	r.corr.to = strdup("t");
	r.corr.reply_to = strdup("rt");
	r.corr.session_id = strdup("s");
	r.corr.reply_to_session_id = strdup("rs");
	r.corr.content_type = strdup("ct");
	props_add_all_types(&r.corr.properties);
	round_trip_rule(&r);
	rule_desc_release(&r);
}
END_TEST

static const char *const queue_order[] = {
	"<?xml version=\"1.0\" encoding=\"utf-8\"?>",
	"<entry xmlns=\"" NS_ATOM "\">",
	"<id>http://127.0.0.1:5300/q1?api-version=2021-05</id>",
	"<title type=\"text\">q1</title>",
	"<published>2021-04-19T17:21:10Z</published>",
	"<updated>2021-04-19T17:21:11Z</updated>",
	"<author><name>localzure</name></author>",
	"<link rel=\"self\" href=\"http://127.0.0.1:5300/q1?api-version=2021-05\"/>",
	"<content type=\"application/xml\">",
	"<QueueDescription xmlns=\"" NS_SB "\" xmlns:i=\"" NS_XSI "\">",
	"<LockDuration>PT1M</LockDuration>",
	"<MaxSizeInMegabytes>1024</MaxSizeInMegabytes>",
	"<RequiresDuplicateDetection>false</RequiresDuplicateDetection>",
	"<RequiresSession>false</RequiresSession>",
	"<DefaultMessageTimeToLive>P10675199DT2H48M5.4775807S</DefaultMessageTimeToLive>",
	"<DeadLetteringOnMessageExpiration>false</DeadLetteringOnMessageExpiration>",
	"<DuplicateDetectionHistoryTimeWindow>PT10M</DuplicateDetectionHistoryTimeWindow>",
	"<MaxDeliveryCount>10</MaxDeliveryCount>",
	"<EnableBatchedOperations>true</EnableBatchedOperations>",
	"<SizeInBytes>4096</SizeInBytes>",
	"<MessageCount>15</MessageCount>",
	"<IsAnonymousAccessible>false</IsAnonymousAccessible>",
	"<AuthorizationRules/>",
	"<Status>Active</Status>",
	"<CreatedAt>2021-04-19T17:21:10.687Z</CreatedAt>",
	"<UpdatedAt>2021-04-19T17:21:10.688Z</UpdatedAt>",
	"<AccessedAt>0001-01-01T00:00:00Z</AccessedAt>",
	"<SupportOrdering>true</SupportOrdering>",
	"<CountDetails xmlns:d2p1=\"http://schemas.microsoft.com/netservices/2011/06/servicebus\">",
	"<d2p1:ActiveMessageCount>1</d2p1:ActiveMessageCount>",
	"<d2p1:DeadLetterMessageCount>2</d2p1:DeadLetterMessageCount>",
	"<d2p1:ScheduledMessageCount>3</d2p1:ScheduledMessageCount>",
	"<d2p1:TransferMessageCount>4</d2p1:TransferMessageCount>",
	"<d2p1:TransferDeadLetterMessageCount>5</d2p1:TransferDeadLetterMessageCount>",
	"</CountDetails>",
	"<AutoDeleteOnIdle>P10675199DT2H48M5.4775807S</AutoDeleteOnIdle>",
	"<EnablePartitioning>false</EnablePartitioning>",
	"<EntityAvailabilityStatus>Available</EntityAvailabilityStatus>",
	"<EnableExpress>false</EnableExpress>",
	"<MaxMessageSizeInKilobytes>256</MaxMessageSizeInKilobytes>",
	"<ForwardTo>http://127.0.0.1:5300/fwd</ForwardTo>",
	"<ForwardDeadLetteredMessagesTo>http://127.0.0.1:5300/app/dlq</ForwardDeadLetteredMessagesTo>",
	"<UserMetadata>a&lt;b</UserMetadata>",
	"</QueueDescription></content></entry>",
};

START_TEST(write_queue_order)
{
	struct strbuf b = STRBUF_INIT;
	struct atom_ctx ctx = test_ctx();
	struct entity_info e;
	const char *xml;

	info_init(&e, ENTITY_QUEUE, "q1", "q1");
	e.desc.forward_to = "fwd";
	e.desc.forward_dlq_to = "app/dlq";
	e.desc.user_metadata = "a<b";
	ctx.runtime = true;
	ck_assert_int_eq(strbuf_adds(&b, "KEEP"), LZ_OK);
	ck_assert_err(atom_write_entity(&b, &e, &ctx), LZ_OK);
	xml = strbuf_cstr(&b);
	ck_assert_int_eq(strncmp(xml, "KEEP<?xml", 9), 0);
	assert_in_order(xml, queue_order, sizeof(queue_order) / sizeof(queue_order[0]));
	ck_assert_int_eq(strcmp(xml + b.len - strlen("</entry>"), "</entry>"), 0);

	/* A PUT response: no runtime elements; an update response has no <published>. */
	strbuf_reset(&b);
	ctx.runtime = false;
	ctx.update = true;
	e.accessed_at = T_QUEUE + 5;
	e.desc.forward_to = NULL;
	ctx.api_version = NULL;
	ck_assert_err(atom_write_entity(&b, &e, &ctx), LZ_OK);
	xml = strbuf_cstr(&b);
	ck_assert_ptr_null(strstr(xml, "<published>"));
	ck_assert_ptr_null(strstr(xml, "AccessedAt"));
	ck_assert_ptr_null(strstr(xml, "CountDetails"));
	ck_assert_ptr_null(strstr(xml, "MessageCount>"));
	ck_assert_ptr_null(strstr(xml, "<ForwardTo>"));
	ck_assert_ptr_null(strstr(xml, "api-version"));
	ck_assert_ptr_nonnull(strstr(xml, "<SizeInBytes>4096</SizeInBytes>"));
	ck_assert_ptr_nonnull(strstr(xml, "<id>http://127.0.0.1:5300/q1</id>"));

	/* Accessed: the millisecond form. */
	strbuf_reset(&b);
	ctx.runtime = true;
	ck_assert_err(atom_write_entity(&b, &e, &ctx), LZ_OK);
	ck_assert_ptr_nonnull(
		strstr(strbuf_cstr(&b), "<AccessedAt>2021-04-19T17:21:10.692Z</AccessedAt>"));
	strbuf_release(&b);
}
END_TEST

START_TEST(write_topic_order)
{
	static const char *const order[] = {
		"<author><name>localzure</name></author>",
		"<TopicDescription xmlns=\"" NS_SB "\" xmlns:i=\"" NS_XSI "\">",
		"<DefaultMessageTimeToLive>",
		"<MaxSizeInMegabytes>",
		"<RequiresDuplicateDetection>",
		"<DuplicateDetectionHistoryTimeWindow>",
		"<EnableBatchedOperations>",
		"<SizeInBytes>",
		"<FilteringMessagesBeforePublishing>",
		"<IsAnonymousAccessible>",
		"<AuthorizationRules/>",
		"<Status>",
		"<UserMetadata>m</UserMetadata>",
		"<CreatedAt>2021-04-19T17:21:10.687Z</CreatedAt>",
		"<UpdatedAt>",
		"<AccessedAt>",
		"<SupportOrdering>",
		"<CountDetails",
		"<SubscriptionCount>6</SubscriptionCount>",
		"<AutoDeleteOnIdle>",
		"<EnablePartitioning>",
		"<EntityAvailabilityStatus>",
		"<EnableSubscriptionPartitioning>",
		"<EnableExpress>",
		"<MaxMessageSizeInKilobytes>",
		"</TopicDescription>",
	};
	struct strbuf b = STRBUF_INIT;
	struct atom_ctx ctx = test_ctx();
	struct entity_info e;

	info_init(&e, ENTITY_TOPIC, "t1", "t1");
	e.desc.user_metadata = "m";
	ctx.runtime = true;
	ck_assert_err(atom_write_entity(&b, &e, &ctx), LZ_OK);
	assert_in_order(strbuf_cstr(&b), order, sizeof(order) / sizeof(order[0]));
	ck_assert_ptr_null(strstr(strbuf_cstr(&b), "LockDuration"));
	ck_assert_ptr_null(strstr(strbuf_cstr(&b), "<MessageCount>"));
	strbuf_reset(&b);
	ctx.runtime = false;
	ck_assert_err(atom_write_entity(&b, &e, &ctx), LZ_OK);
	ck_assert_ptr_null(strstr(strbuf_cstr(&b), "SubscriptionCount"));
	strbuf_release(&b);
}
END_TEST

START_TEST(write_subscription_order)
{
	static const char *const order[] = {
		"<id>http://127.0.0.1:5300/t1/subscriptions/s1?api-version=2021-05</id>",
		"<title type=\"text\">s1</title>",
		"<published>2020-07-17T02:22:22Z</published>",
		"<updated>",
		"<link rel=\"self\" href=\"http://127.0.0.1:5300/t1/subscriptions/s1?api-version=2021-05\"/>",
		"<SubscriptionDescription xmlns=\"" NS_SB "\" xmlns:i=\"" NS_XSI "\">",
		"<LockDuration>PT1M</LockDuration>",
		"<RequiresSession>",
		"<DefaultMessageTimeToLive>",
		"<DeadLetteringOnMessageExpiration>",
		"<DeadLetteringOnFilterEvaluationExceptions>true</DeadLetteringOnFilterEvaluationExceptions>",
		"<MessageCount>15</MessageCount>",
		"<MaxDeliveryCount>10</MaxDeliveryCount>",
		"<EnableBatchedOperations>",
		"<Status>Active</Status>",
		"<ForwardTo>http://127.0.0.1:5300/q2</ForwardTo>",
		"<UserMetadata>u</UserMetadata>",
		"<CreatedAt>2020-07-17T02:22:22.6630000Z</CreatedAt>",
		"<UpdatedAt>2020-07-17T02:22:22.6640000Z</UpdatedAt>",
		"<AccessedAt>0001-01-01T00:00:00</AccessedAt>",
		"<CountDetails",
		"<ForwardDeadLetteredMessagesTo>http://127.0.0.1:5300/q3</ForwardDeadLetteredMessagesTo>",
		"<AutoDeleteOnIdle>",
		"<EntityAvailabilityStatus>Available</EntityAvailabilityStatus>",
		"</SubscriptionDescription></content></entry>",
	};
	struct strbuf b = STRBUF_INIT;
	struct atom_ctx ctx = test_ctx();
	struct entity_info e;
	const char *xml;

	info_init(&e, ENTITY_SUBSCRIPTION, "t1/subscriptions/s1", "s1");
	e.desc.forward_to = "q2";
	e.desc.forward_dlq_to = "q3";
	e.desc.user_metadata = "u";
	ctx.runtime = true;
	ck_assert_err(atom_write_entity(&b, &e, &ctx), LZ_OK);
	xml = strbuf_cstr(&b);
	assert_in_order(xml, order, sizeof(order) / sizeof(order[0]));
	ck_assert_ptr_null(strstr(xml, "<author>"));
	ck_assert_ptr_null(strstr(xml, "MaxSizeInMegabytes"));
	strbuf_release(&b);
}
END_TEST

START_TEST(write_rule_order)
{
	static const char *const order[] = {
		"<?xml version=\"1.0\" encoding=\"utf-8\"?><entry xmlns=\"" NS_ATOM "\">",
		"<id>http://127.0.0.1:5300/t1/subscriptions/s1/rules/$Default?api-version=2021-05</id>",
		"<title type=\"text\">$Default</title>",
		"<published>2020-07-17T02:22:22Z</published>",
		"<link rel=\"self\" href=\"http://127.0.0.1:5300/t1/subscriptions/s1/rules/$Default?api-version=2021-05\"/>",
		"<content type=\"application/xml\"><RuleDescription xmlns=\"" NS_SB
		"\" xmlns:i=\"" NS_XSI "\">",
		"<Filter i:type=\"TrueFilter\"><SqlExpression>1=1</SqlExpression>"
		"<CompatibilityLevel>20</CompatibilityLevel></Filter>",
		"<Action i:type=\"EmptyRuleAction\"/>",
		"<CreatedAt>2020-07-17T02:22:22.6630000Z</CreatedAt>",
		"<Name>$Default</Name></RuleDescription></content></entry>",
	};
	static const char *const corr_order[] = {
		"<Filter i:type=\"CorrelationFilter\">",
		"<CorrelationId>c</CorrelationId>",
		"<Label>l</Label>",
		"<ContentType>ct</ContentType>",
		"<Properties><KeyValueOfstringanyType><Key>n</Key>"
		"<Value i:type=\"d6p1:int\" xmlns:d6p1=\"" NS_XS "\">5</Value>"
		"</KeyValueOfstringanyType><KeyValueOfstringanyType><Key>d</Key>"
		"<Value i:type=\"d6p1:duration\" xmlns:d6p1=\"" NS_SER "\">PT1M</Value>"
		"</KeyValueOfstringanyType></Properties></Filter>",
		"<Action i:type=\"SqlRuleAction\"><SqlExpression>SET a = 1</SqlExpression>"
		"<CompatibilityLevel>20</CompatibilityLevel></Action>",
		"<Name>c1</Name>",
	};
	struct strbuf b = STRBUF_INIT;
	struct atom_ctx ctx = test_ctx();
	struct rule_desc r;
	struct value v;

	ck_assert_int_eq(rule_desc_default(&r, T_SUB), LZ_OK);
	ck_assert_err(atom_write_rule(&b, &r, "t1/subscriptions/s1", &ctx), LZ_OK);
	assert_in_order(strbuf_cstr(&b), order, sizeof(order) / sizeof(order[0]));
	ck_assert_ptr_null(strstr(strbuf_cstr(&b), "<author>"));
	rule_desc_release(&r);

	strbuf_reset(&b);
	rule_init(&r, "c1");
	r.filter_type = FILTER_CORRELATION;
	r.corr.correlation_id = strdup("c");
	r.corr.label = strdup("l");
	r.corr.content_type = strdup("ct");
	v = (struct value){ .type = VALUE_INT, .u.i = 5 };
	ck_assert_int_eq(proplist_set(&r.corr.properties, "n", &v), LZ_OK);
	v = (struct value){ .type = VALUE_DURATION, .u.i = MIN };
	ck_assert_int_eq(proplist_set(&r.corr.properties, "d", &v), LZ_OK);
	r.action_type = ACTION_SQL;
	r.action_sql = strdup("SET a = 1");
	ck_assert_err(atom_write_rule(&b, &r, "t1/subscriptions/s1", &ctx), LZ_OK);
	assert_in_order(strbuf_cstr(&b), corr_order, sizeof(corr_order) / sizeof(corr_order[0]));
	ck_assert_ptr_null(strstr(strbuf_cstr(&b), "<MessageId>"));
	rule_desc_release(&r);

	/* An invalid filter type leaves the buffer as it was. */
	strbuf_reset(&b);
	ck_assert_int_eq(strbuf_adds(&b, "KEEP"), LZ_OK);
	rule_init(&r, "bad");
	r.filter_type = (enum filter_type)42;
	ck_assert_int_eq(atom_write_rule(&b, &r, "t1/subscriptions/s1", &ctx), LZ_EINVAL);
	ck_assert_str_eq(strbuf_cstr(&b), "KEEP");
	rule_desc_release(&r);
	strbuf_release(&b);
}
END_TEST

START_TEST(write_feeds)
{
	static const char *const queue_feed[] = {
		"<?xml version=\"1.0\" encoding=\"utf-8\"?><feed xmlns=\"" NS_ATOM "\">",
		"<title type=\"text\">Queues</title>",
		"<id>http://127.0.0.1:5300/$Resources/queues?$skip=0&amp;$top=100</id>",
		"<updated>2021-04-19T17:21:11Z</updated>",
		"<link rel=\"self\" href=\"http://127.0.0.1:5300/$Resources/queues?$skip=0&amp;$top=100\"/>",
		"<entry xml:base=\"http://127.0.0.1:5300/$Resources/queues\">",
		"<id>http://127.0.0.1:5300/q1?api-version=2021-05</id>",
		"<link rel=\"self\" href=\"../q1?api-version=2021-05\"/>",
		"<CountDetails",
		"</entry>",
		"<entry xml:base=\"http://127.0.0.1:5300/$Resources/queues\">",
		"<link rel=\"self\" href=\"../app/q2?api-version=2021-05\"/>",
		"</entry></feed>",
	};
	struct strbuf b = STRBUF_INIT;
	struct atom_ctx ctx = test_ctx();
	struct entity_info e;
	struct rule_desc r;
	const char *url = "http://127.0.0.1:5300/$Resources/queues?$skip=0&$top=100";

	ctx.in_feed = true;
	ctx.runtime = true;
	ck_assert_err(atom_write_feed_begin(&b, "Queues", url, &ctx), LZ_OK);
	info_init(&e, ENTITY_QUEUE, "q1", "q1");
	ck_assert_err(atom_write_entity(&b, &e, &ctx), LZ_OK);
	info_init(&e, ENTITY_QUEUE, "app/q2", "app/q2");
	ck_assert_err(atom_write_entity(&b, &e, &ctx), LZ_OK);
	ck_assert_err(atom_write_feed_end(&b), LZ_OK);
	assert_in_order(strbuf_cstr(&b), queue_feed, sizeof(queue_feed) / sizeof(queue_feed[0]));
	ck_assert_uint_eq(count_of(strbuf_cstr(&b), "<?xml"), 1);
	ck_assert_uint_eq(count_of(strbuf_cstr(&b), "<entry"), 2);

	strbuf_reset(&b);
	info_init(&e, ENTITY_TOPIC, "t1", "t1");
	ck_assert_err(atom_write_entity(&b, &e, &ctx), LZ_OK);
	ck_assert_ptr_nonnull(strstr(
		strbuf_cstr(&b), "<entry xml:base=\"http://127.0.0.1:5300/$Resources/topics\">"));
	ck_assert_ptr_null(strstr(strbuf_cstr(&b), "<?xml"));

	strbuf_reset(&b);
	info_init(&e, ENTITY_SUBSCRIPTION, "t1/subscriptions/s1", "s1");
	ck_assert_err(atom_write_entity(&b, &e, &ctx), LZ_OK);
	ck_assert_ptr_nonnull(strstr(
		strbuf_cstr(&b), "<entry xml:base=\"http://127.0.0.1:5300/t1/subscriptions\">"));
	ck_assert_ptr_nonnull(
		strstr(strbuf_cstr(&b), "href=\"subscriptions/s1?api-version=2021-05\""));

	strbuf_reset(&b);
	ck_assert_int_eq(rule_desc_default(&r, T_SUB), LZ_OK);
	ck_assert_err(atom_write_rule(&b, &r, "t1/subscriptions/s1", &ctx), LZ_OK);
	ck_assert_ptr_nonnull(
		strstr(strbuf_cstr(&b),
		       "<entry xml:base=\"http://127.0.0.1:5300/t1/subscriptions/s1/rules\">"));
	ck_assert_ptr_nonnull(
		strstr(strbuf_cstr(&b), "href=\"rules/$Default?api-version=2021-05\""));
	rule_desc_release(&r);
	strbuf_release(&b);
}
END_TEST

START_TEST(write_unknown_kind)
{
	struct strbuf b = STRBUF_INIT;
	struct atom_ctx ctx = test_ctx();
	struct entity_info e;

	info_init(&e, ENTITY_QUEUE, "q1", "q1");
	e.desc.kind = (enum entity_kind)7;
	ck_assert_int_eq(atom_write_entity(&b, &e, &ctx), LZ_EINVAL);
	ck_assert_uint_eq(b.len, 0);
	strbuf_release(&b);
}
END_TEST

START_TEST(write_error)
{
	struct strbuf b = STRBUF_INIT;

	ck_assert_err(atom_write_error(&b, 404, "No service is hosted at the specified address.",
				       "abc-1", T_QUEUE),
		      LZ_OK);
	ck_assert_str_eq(strbuf_cstr(&b),
			 "<Error><Code>404</Code><Detail>No service is hosted at the "
			 "specified address. TrackingId:abc-1, SystemTracker:localzure, "
			 "Timestamp:2021-04-19T17:21:10Z</Detail></Error>");
	strbuf_reset(&b);
	ck_assert_err(atom_write_error(&b, 400, "a < b & \"c\"", "t", T_QUEUE), LZ_OK);
	ck_assert_ptr_nonnull(strstr(strbuf_cstr(&b),
				     "<Code>400</Code><Detail>a &lt; b &amp; &quot;c&quot;. "
				     "TrackingId:t, "));
	strbuf_reset(&b);
	ck_assert_err(atom_write_error(&b, 500, NULL, NULL, T_QUEUE), LZ_OK);
	ck_assert_ptr_nonnull(
		strstr(strbuf_cstr(&b), "<Detail>TrackingId:, SystemTracker:localzure"));
	strbuf_release(&b);
}
END_TEST

static Suite *atom_suite(void)
{
	Suite *s = suite_create("atom");
	TCase *parse = tcase_create("parse");
	TCase *write = tcase_create("write");

	tcase_add_test(parse, parse_python_queue);
	tcase_add_test(parse, parse_dotnet_queue);
	tcase_add_test(parse, parse_prefixed_reordered_unknown);
	tcase_add_test(parse, parse_empty_description_is_defaults);
	tcase_add_test(parse, parse_bare_description);
	tcase_add_test(parse, parse_topic);
	tcase_add_test(parse, parse_subscription_with_default_rule);
	tcase_add_test(parse, parse_wrong_kind);
	tcase_add_test(parse, parse_not_an_entry);
	tcase_add_test(parse, parse_bad_values);
	tcase_add_test(parse, parse_out_of_range);
	tcase_add_test(parse, parse_rejects_doctype);
	tcase_add_test(parse, parse_limits);
	tcase_add_test(parse, parse_python_correlation_rule);
	tcase_add_test(parse, parse_dotnet_sql_rule);
	tcase_add_test(parse, parse_true_false_and_default_filters);
	tcase_add_test(parse, parse_rule_errors);
	tcase_add_test(parse, parse_type_prefix_scoping);
	suite_add_tcase(s, parse);

	tcase_add_test(write, round_trip_entities);
	tcase_add_test(write, round_trip_rules);
	tcase_add_test(write, write_queue_order);
	tcase_add_test(write, write_topic_order);
	tcase_add_test(write, write_subscription_order);
	tcase_add_test(write, write_rule_order);
	tcase_add_test(write, write_feeds);
	tcase_add_test(write, write_unknown_kind);
	tcase_add_test(write, write_error);
	suite_add_tcase(s, write);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(atom_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
