/* Unit tests for broker/entity: defaults, ranges (each boundary from both sides), create-only
 * properties, names and rules; and the copy/release/name functions of proto/model. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "broker/entity.h"
#include "common/duration.h"

#define SEC 1000LL
#define MIN (60 * SEC)
#define DAY (24 * 60 * MIN)

static struct lz_detail detail;

static struct entity_desc desc_of(enum entity_kind kind)
{
	struct entity_desc d;

	entity_desc_defaults(&d, kind);
	return d;
}

/* Validates `d` and checks the result; on an error also that the detail names `param`. */
static void expect_validate(const struct entity_desc *d, lz_err want, const char *param)
{
	lz_err err;

	memset(&detail, 0, sizeof(detail));
	err = entity_desc_validate(d, &detail);
	ck_assert_msg(err == want, "want %s got %s (%s)", err_name(want), err_name(err),
		      detail.text);
	if (want != LZ_OK && param != NULL)
		ck_assert_msg(strstr(detail.text, param) != NULL, "detail '%s' lacks '%s'",
			      detail.text, param);
}

START_TEST(defaults_queue)
{
	struct entity_desc d = desc_of(ENTITY_QUEUE);

	ck_assert_int_eq(d.kind, ENTITY_QUEUE);
	ck_assert_int_eq(d.lock_duration_ms, MIN);
	ck_assert_int_eq(d.max_size_mb, 1024);
	ck_assert(!d.requires_duplicate_detection);
	ck_assert(!d.requires_session);
	ck_assert_int_eq(d.default_ttl_ms, DURATION_INFINITE);
	ck_assert(!d.dead_lettering_on_expiration);
	ck_assert_int_eq(d.dup_window_ms, 10 * MIN);
	ck_assert_int_eq(d.max_delivery_count, 10);
	ck_assert(d.enable_batched_operations);
	ck_assert(!d.is_anonymous_accessible);
	ck_assert(d.support_ordering);
	ck_assert_int_eq(d.status, STATUS_ACTIVE);
	ck_assert_int_eq(d.auto_delete_on_idle_ms, DURATION_INFINITE);
	ck_assert(!d.enable_partitioning);
	ck_assert(!d.enable_express);
	ck_assert_int_eq(d.max_message_size_kb, 256);
	ck_assert_ptr_null(d.forward_to);
	ck_assert_ptr_null(d.forward_dlq_to);
	ck_assert_ptr_null(d.user_metadata);
	expect_validate(&d, LZ_OK, NULL);
}
END_TEST

START_TEST(defaults_topic_and_subscription)
{
	struct entity_desc t = desc_of(ENTITY_TOPIC);
	struct entity_desc s = desc_of(ENTITY_SUBSCRIPTION);

	ck_assert_int_eq(t.kind, ENTITY_TOPIC);
	ck_assert(!t.filtering_before_publishing);
	ck_assert(!t.enable_subscription_partitioning);
	ck_assert_int_eq(t.default_ttl_ms, DURATION_INFINITE);
	expect_validate(&t, LZ_OK, NULL);

	ck_assert_int_eq(s.kind, ENTITY_SUBSCRIPTION);
	ck_assert(s.dead_lettering_on_filter_exceptions);
	ck_assert_int_eq(s.lock_duration_ms, MIN);
	ck_assert_int_eq(s.max_delivery_count, 10);
	ck_assert_int_eq(s.auto_delete_on_idle_ms, DURATION_INFINITE);
	expect_validate(&s, LZ_OK, NULL);
}
END_TEST

START_TEST(lock_duration_bounds)
{
	struct entity_desc d = desc_of(ENTITY_QUEUE);

	d.lock_duration_ms = 5 * SEC;
	expect_validate(&d, LZ_OK, NULL);
	d.lock_duration_ms = 5 * SEC - 1;
	expect_validate(&d, LZ_ERANGE, "Parameter name: LockDuration");
	ck_assert_str_eq(detail.text,
			 "The supplied lock time is below the allowed minimum of '5' seconds. "
			 "Parameter name: LockDuration. Actual value was 00:00:04.9990000.");
	d.lock_duration_ms = 5 * MIN;
	expect_validate(&d, LZ_OK, NULL);
	d.lock_duration_ms = 5 * MIN + 1;
	expect_validate(&d, LZ_ERANGE, "LockDuration");
	d.lock_duration_ms = 10 * MIN;
	expect_validate(&d, LZ_ERANGE, NULL);
	ck_assert_str_eq(detail.text,
			 "The supplied lock time exceeds the allowed maximum of '5' minutes. "
			 "Parameter name: LockDuration. Actual value was 00:10:00.");
	d.lock_duration_ms = 25 * DAY;
	expect_validate(&d, LZ_ERANGE, "Actual value was 25.00:00:00.");

	/* Subscriptions have it too; topics do not, so a topic ignores the field. */
	d = desc_of(ENTITY_SUBSCRIPTION);
	d.lock_duration_ms = 4 * SEC;
	expect_validate(&d, LZ_ERANGE, "LockDuration");
	d = desc_of(ENTITY_TOPIC);
	d.lock_duration_ms = 0;
	expect_validate(&d, LZ_OK, NULL);
}
END_TEST

START_TEST(ttl_bounds)
{
	enum entity_kind kinds[] = { ENTITY_QUEUE, ENTITY_TOPIC, ENTITY_SUBSCRIPTION };
	struct entity_desc d;
	size_t i;

	for (i = 0; i < 3; i++) {
		d = desc_of(kinds[i]);
		d.default_ttl_ms = SEC;
		expect_validate(&d, LZ_OK, NULL);
		d.default_ttl_ms = SEC - 1;
		expect_validate(&d, LZ_ERANGE, "Parameter name: DefaultMessageTimeToLive");
		d.default_ttl_ms = DURATION_INFINITE;
		expect_validate(&d, LZ_OK, NULL);
	}
}
END_TEST

START_TEST(dup_window_bounds)
{
	struct entity_desc d = desc_of(ENTITY_TOPIC);

	d.dup_window_ms = 20 * SEC;
	expect_validate(&d, LZ_OK, NULL);
	d.dup_window_ms = 20 * SEC - 1;
	expect_validate(&d, LZ_ERANGE, "DuplicateDetectionHistoryTimeWindow");
	d.dup_window_ms = 7 * DAY;
	expect_validate(&d, LZ_OK, NULL);
	d.dup_window_ms = 7 * DAY + 1;
	expect_validate(&d, LZ_ERANGE, "'7' days");
	d = desc_of(ENTITY_QUEUE);
	d.dup_window_ms = DURATION_INFINITE;
	expect_validate(&d, LZ_ERANGE, "DuplicateDetectionHistoryTimeWindow");
	/* Not a subscription property. */
	d = desc_of(ENTITY_SUBSCRIPTION);
	d.dup_window_ms = 0;
	expect_validate(&d, LZ_OK, NULL);
}
END_TEST

START_TEST(max_delivery_count_bounds)
{
	struct entity_desc d = desc_of(ENTITY_QUEUE);

	d.max_delivery_count = 1;
	expect_validate(&d, LZ_OK, NULL);
	d.max_delivery_count = 0;
	expect_validate(&d, LZ_ERANGE, "Parameter name: MaxDeliveryCount");
	d.max_delivery_count = INT32_MAX;
	expect_validate(&d, LZ_OK, NULL);
	d = desc_of(ENTITY_SUBSCRIPTION);
	d.max_delivery_count = -1;
	expect_validate(&d, LZ_ERANGE, "MaxDeliveryCount");
}
END_TEST

START_TEST(auto_delete_bounds)
{
	struct entity_desc d = desc_of(ENTITY_SUBSCRIPTION);

	d.auto_delete_on_idle_ms = 5 * MIN;
	expect_validate(&d, LZ_OK, NULL);
	d.auto_delete_on_idle_ms = 5 * MIN - 1;
	expect_validate(&d, LZ_ERANGE, "Parameter name: AutoDeleteOnIdle");
	d = desc_of(ENTITY_QUEUE);
	d.auto_delete_on_idle_ms = 5 * MIN - 1;
	expect_validate(&d, LZ_ERANGE, "AutoDeleteOnIdle");
}
END_TEST

START_TEST(max_size_values)
{
	static const int64_t ok[] = { 1024, 2048, 3072, 4096, 5120 };
	static const int64_t bad[] = { 0, 1023, 1025, 2047, 6144, -1024 };
	struct entity_desc d = desc_of(ENTITY_QUEUE);
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		d.max_size_mb = ok[i];
		expect_validate(&d, LZ_OK, NULL);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		d.max_size_mb = bad[i];
		expect_validate(&d, LZ_ERANGE, "Parameter name: MaxSizeInMegabytes");
	}
	d = desc_of(ENTITY_SUBSCRIPTION);
	d.max_size_mb = 1;
	expect_validate(&d, LZ_OK, NULL);
}
END_TEST

START_TEST(max_message_size_standard_only)
{
	struct entity_desc d = desc_of(ENTITY_TOPIC);

	d.max_message_size_kb = 256;
	expect_validate(&d, LZ_OK, NULL);
	d.max_message_size_kb = 1024;
	expect_validate(&d, LZ_EINVAL, "Parameter name: MaxMessageSizeInKilobytes");
	ck_assert_ptr_nonnull(strstr(detail.text, "not supported on Standard"));
	d.max_message_size_kb = 255;
	expect_validate(&d, LZ_EINVAL, "MaxMessageSizeInKilobytes");
}
END_TEST

START_TEST(user_metadata_length)
{
	struct entity_desc d = desc_of(ENTITY_QUEUE);
	char *s = malloc(2 * 1025 + 1);
	size_t i;

	memset(s, 'm', 1024);
	s[1024] = '\0';
	d.user_metadata = s;
	expect_validate(&d, LZ_OK, NULL);
	s[1024] = 'm';
	s[1025] = '\0';
	expect_validate(&d, LZ_ERANGE, "Parameter name: UserMetadata");
	/* Characters, not bytes: 1024 two-byte characters fit. */
	for (i = 0; i < 1024; i++)
		memcpy(s + 2 * i, "\xc3\xa9", 2);
	s[2048] = '\0';
	expect_validate(&d, LZ_OK, NULL);
	free(s);
}
END_TEST

START_TEST(status_per_kind)
{
	struct entity_desc d = desc_of(ENTITY_QUEUE);

	d.status = STATUS_SEND_DISABLED;
	expect_validate(&d, LZ_OK, NULL);
	d.status = STATUS_RECEIVE_DISABLED;
	expect_validate(&d, LZ_OK, NULL);
	d.status = STATUS_DISABLED;
	expect_validate(&d, LZ_OK, NULL);

	d = desc_of(ENTITY_TOPIC);
	d.status = STATUS_DISABLED;
	expect_validate(&d, LZ_OK, NULL);
	d.status = STATUS_SEND_DISABLED;
	expect_validate(&d, LZ_EINVAL, "Parameter name: Status");

	d = desc_of(ENTITY_SUBSCRIPTION);
	d.status = STATUS_DISABLED;
	expect_validate(&d, LZ_OK, NULL);
	d.status = STATUS_RECEIVE_DISABLED;
	expect_validate(&d, LZ_EINVAL, "Status");
}
END_TEST

START_TEST(forward_to_names)
{
	struct entity_desc d = desc_of(ENTITY_QUEUE);

	d.forward_to = "app/q2";
	expect_validate(&d, LZ_OK, NULL);
	d.forward_to = "a//b";
	expect_validate(&d, LZ_EINVAL, "Parameter name: ForwardTo");
	d.forward_to = NULL;
	d.forward_dlq_to = "$x";
	expect_validate(&d, LZ_EINVAL, "Parameter name: ForwardDeadLetteredMessagesTo");
}
END_TEST

START_TEST(unknown_kind)
{
	struct entity_desc d = desc_of(ENTITY_QUEUE);

	d.kind = (enum entity_kind)9;
	expect_validate(&d, LZ_EINVAL, NULL);
}
END_TEST

START_TEST(check_update_create_only)
{
	struct entity_desc prev = desc_of(ENTITY_QUEUE);
	struct entity_desc next = prev;

	next.lock_duration_ms = 2 * MIN;
	next.max_delivery_count = 3;
	next.status = STATUS_DISABLED;
	ck_assert_int_eq(entity_desc_check_update(&prev, &next, &detail), LZ_OK);

	next.requires_session = true;
	ck_assert_int_eq(entity_desc_check_update(&prev, &next, &detail), LZ_EIMMUTABLE);
	ck_assert_str_eq(
		detail.text,
		"The value for the RequiresSession property of an existing Queue cannot be changed.");
	next = prev;
	next.requires_duplicate_detection = true;
	ck_assert_int_eq(entity_desc_check_update(&prev, &next, &detail), LZ_EIMMUTABLE);
	ck_assert_ptr_nonnull(strstr(detail.text, "RequiresDuplicateDetection"));
	next = prev;
	next.enable_partitioning = true;
	ck_assert_int_eq(entity_desc_check_update(&prev, &next, NULL), LZ_EIMMUTABLE);

	/* A topic has no RequiresSession; a subscription none of the other two. */
	prev = desc_of(ENTITY_TOPIC);
	next = prev;
	next.requires_session = true;
	ck_assert_int_eq(entity_desc_check_update(&prev, &next, &detail), LZ_OK);
	next.requires_duplicate_detection = true;
	ck_assert_int_eq(entity_desc_check_update(&prev, &next, &detail), LZ_EIMMUTABLE);
	ck_assert_ptr_nonnull(strstr(detail.text, "existing Topic"));
	prev = desc_of(ENTITY_SUBSCRIPTION);
	next = prev;
	next.enable_partitioning = true;
	ck_assert_int_eq(entity_desc_check_update(&prev, &next, &detail), LZ_OK);
	next.requires_session = true;
	ck_assert_int_eq(entity_desc_check_update(&prev, &next, &detail), LZ_EIMMUTABLE);

	/* A queue cannot become a topic. */
	prev = desc_of(ENTITY_QUEUE);
	next = desc_of(ENTITY_TOPIC);
	ck_assert_int_eq(entity_desc_check_update(&prev, &next, &detail), LZ_EIMMUTABLE);
}
END_TEST

static void expect_path(const char *path, lz_err want)
{
	lz_err err = entity_path_validate(path, &detail);

	ck_assert_msg(err == want, "path '%s': want %s got %s (%s)", path ? path : "(null)",
		      err_name(want), err_name(err), detail.text);
}

START_TEST(path_names)
{
	static const char *const ok[] = { "a",	   "orders", "app/orders.v1", "a_b-c", "A9",
					  "x/y/z", "1" };
	static const char *const bad[] = { "",	  "-a",	 "a-",	"a//b", "/a",  "a/",   "$x",
					   "a?b", "a b", "a@b", "a#b",	"a*b", "a/.b", "\xc3\xa9" };
	char name[262];
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		expect_path(ok[i], LZ_OK);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_path(bad[i], LZ_EINVAL);
	expect_path(NULL, LZ_EINVAL);

	memset(name, 'a', 260);
	name[260] = '\0';
	expect_path(name, LZ_OK);
	name[260] = 'a';
	name[261] = '\0';
	expect_path(name, LZ_EINVAL);

	entity_path_validate("a?b", &detail);
	ck_assert_ptr_nonnull(strstr(detail.text,
				     "Entity segments can contain only letters, numbers, "
				     "periods (.), hyphens (-), and underscores (_)"));
	ck_assert_int_eq(entity_path_validate("a?b", NULL), LZ_EINVAL);
}
END_TEST

START_TEST(subscription_and_rule_names)
{
	char name[52];

	ck_assert_int_eq(entity_subname_validate("s1", false, &detail), LZ_OK);
	ck_assert_int_eq(entity_subname_validate("a_b-c.d", true, &detail), LZ_OK);
	ck_assert_int_eq(entity_subname_validate("", false, &detail), LZ_EINVAL);
	ck_assert_int_eq(entity_subname_validate(NULL, true, &detail), LZ_EINVAL);
	ck_assert_int_eq(entity_subname_validate("a/b", false, &detail), LZ_EINVAL);
	ck_assert_ptr_nonnull(strstr(detail.text, "subscription name"));
	ck_assert_int_eq(entity_subname_validate("a/b", true, &detail), LZ_EINVAL);
	ck_assert_ptr_nonnull(strstr(detail.text, "rule name"));
	ck_assert_int_eq(entity_subname_validate("-a", false, &detail), LZ_EINVAL);
	ck_assert_int_eq(entity_subname_validate("a?b", true, &detail), LZ_EINVAL);
	ck_assert_int_eq(entity_subname_validate("$Default", true, &detail), LZ_OK);
	ck_assert_int_eq(entity_subname_validate("$default", true, &detail), LZ_OK);
	ck_assert_int_eq(entity_subname_validate("$Default", false, &detail), LZ_EINVAL);
	ck_assert_int_eq(entity_subname_validate("$other", true, &detail), LZ_EINVAL);

	memset(name, 's', 50);
	name[50] = '\0';
	ck_assert_int_eq(entity_subname_validate(name, false, &detail), LZ_OK);
	name[50] = 's';
	name[51] = '\0';
	ck_assert_int_eq(entity_subname_validate(name, false, &detail), LZ_EINVAL);
	ck_assert_int_eq(entity_subname_validate(name, true, &detail), LZ_EINVAL);
}
END_TEST

START_TEST(rule_validation)
{
	struct rule_desc r;
	char *long_expr = malloc(1026);
	struct value v = { .type = VALUE_INT, .u.i = 5 };

	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(rule_desc_validate(&r, &detail), LZ_OK); /* TRUE + EMPTY */
	r.filter_type = FILTER_FALSE;
	ck_assert_int_eq(rule_desc_validate(&r, &detail), LZ_OK);

	r.filter_type = FILTER_SQL;
	ck_assert_int_eq(rule_desc_validate(&r, &detail), LZ_EINVAL);
	ck_assert_ptr_nonnull(strstr(detail.text, "SqlExpression"));
	r.sql_expression = " \t\n";
	ck_assert_int_eq(rule_desc_validate(&r, &detail), LZ_EINVAL);
	memset(long_expr, '1', 1024);
	long_expr[1024] = '\0';
	r.sql_expression = long_expr;
	ck_assert_int_eq(rule_desc_validate(&r, &detail), LZ_OK);
	long_expr[1024] = '1';
	long_expr[1025] = '\0';
	ck_assert_int_eq(rule_desc_validate(&r, &detail), LZ_ERANGE);
	r.sql_expression = "a = 1";
	ck_assert_int_eq(rule_desc_validate(&r, &detail), LZ_OK);

	r.action_type = ACTION_SQL;
	ck_assert_int_eq(rule_desc_validate(&r, &detail), LZ_EINVAL);
	r.action_sql = long_expr;
	ck_assert_int_eq(rule_desc_validate(&r, &detail), LZ_ERANGE);
	r.action_sql = "SET a = 2";
	ck_assert_int_eq(rule_desc_validate(&r, &detail), LZ_OK);
	r.action_type = (enum action_type)7;
	ck_assert_int_eq(rule_desc_validate(&r, &detail), LZ_EINVAL);
	r.action_type = ACTION_EMPTY;

	r.filter_type = FILTER_CORRELATION;
	ck_assert_int_eq(rule_desc_validate(&r, &detail), LZ_EINVAL);
	ck_assert_ptr_nonnull(strstr(detail.text, "at least one"));
	r.corr.label = "red";
	ck_assert_int_eq(rule_desc_validate(&r, &detail), LZ_OK);
	r.corr.label = NULL;
	ck_assert_int_eq(proplist_set(&r.corr.properties, "n", &v), LZ_OK);
	ck_assert_int_eq(rule_desc_validate(&r, &detail), LZ_OK);
	proplist_release(&r.corr.properties);

	r.filter_type = (enum filter_type)9;
	ck_assert_int_eq(rule_desc_validate(&r, &detail), LZ_EINVAL);
	free(long_expr);
}
END_TEST

START_TEST(default_rule)
{
	struct rule_desc r;

	ck_assert_int_eq(rule_desc_default(&r, 1234), LZ_OK);
	ck_assert_str_eq(r.name, "$Default");
	ck_assert_int_eq(r.filter_type, FILTER_TRUE);
	ck_assert_int_eq(r.action_type, ACTION_EMPTY);
	ck_assert_int_eq(r.sql_compat_level, 20);
	ck_assert_int_eq(r.created_at, 1234);
	ck_assert_ptr_null(r.sql_expression);
	ck_assert_uint_eq(r.sql_params.n, 0);
	ck_assert_int_eq(rule_desc_validate(&r, &detail), LZ_OK);
	rule_desc_release(&r);
}
END_TEST

/* proto/model: deep copies own their strings and lists; releases leave NULL/empty. */
START_TEST(model_copy_release)
{
	struct entity_desc d = desc_of(ENTITY_QUEUE), dc;
	struct rule_desc r, rc;
	struct msg_props p, pc;
	struct value v = { .type = VALUE_STRING, .u.s = "x" };
	char *s = NULL;

	d.forward_to = "fwd";
	d.user_metadata = "meta";
	ck_assert_int_eq(entity_desc_copy(&dc, &d), LZ_OK);
	ck_assert_ptr_ne(dc.forward_to, d.forward_to);
	ck_assert_str_eq(dc.forward_to, "fwd");
	ck_assert_ptr_null(dc.forward_dlq_to);
	ck_assert_str_eq(dc.user_metadata, "meta");
	ck_assert_int_eq(dc.max_delivery_count, 10);
	entity_desc_release(&dc);
	ck_assert_ptr_null(dc.forward_to);
	ck_assert_ptr_null(dc.user_metadata);
	entity_desc_release(NULL);

	ck_assert_int_eq(rule_desc_default(&r, 7), LZ_OK);
	r.filter_type = FILTER_CORRELATION;
	r.corr.label = strdup("red");
	r.action_type = ACTION_SQL;
	r.action_sql = strdup("SET a = 1");
	ck_assert_int_eq(proplist_set(&r.corr.properties, "k", &v), LZ_OK);
	ck_assert_int_eq(proplist_set(&r.sql_params, "@p", &v), LZ_OK);
	ck_assert_int_eq(proplist_set(&r.action_params, "@q", &v), LZ_OK);
	ck_assert_int_eq(rule_desc_copy(&rc, &r), LZ_OK);
	rule_desc_release(&r);
	ck_assert_str_eq(rc.name, "$Default");
	ck_assert_str_eq(rc.corr.label, "red");
	ck_assert_str_eq(rc.action_sql, "SET a = 1");
	ck_assert_str_eq(proplist_get(&rc.corr.properties, "k")->u.s, "x");
	ck_assert_ptr_nonnull(proplist_get(&rc.sql_params, "@p"));
	ck_assert_ptr_nonnull(proplist_get(&rc.action_params, "@q"));
	ck_assert_int_eq(rc.created_at, 7);
	rule_desc_release(&rc);
	ck_assert_ptr_null(rc.name);
	ck_assert_uint_eq(rc.corr.properties.n, 0);

	memset(&p, 0, sizeof(p));
	p.message_id = "m";
	p.via_partition_key = "v";
	p.ttl_ms = 5;
	ck_assert_int_eq(msg_props_copy(&pc, &p), LZ_OK);
	ck_assert_str_eq(pc.message_id, "m");
	ck_assert_ptr_ne(pc.message_id, p.message_id);
	ck_assert_str_eq(pc.via_partition_key, "v");
	ck_assert_ptr_null(pc.label);
	ck_assert_int_eq(pc.ttl_ms, 5);
	msg_props_release(&pc);
	ck_assert_ptr_null(pc.message_id);

	ck_assert_int_eq(model_strdup(&s, NULL), LZ_OK);
	ck_assert_ptr_null(s);
	ck_assert_int_eq(model_strdup(&s, "abc"), LZ_OK);
	ck_assert_str_eq(s, "abc");
	free(s);
}
END_TEST

START_TEST(model_names)
{
	enum entity_status st;

	ck_assert_str_eq(entity_kind_name(ENTITY_QUEUE), "Queue");
	ck_assert_str_eq(entity_kind_name(ENTITY_TOPIC), "Topic");
	ck_assert_str_eq(entity_kind_name(ENTITY_SUBSCRIPTION), "Subscription");
	ck_assert_str_eq(entity_status_name(STATUS_ACTIVE), "Active");
	ck_assert_str_eq(entity_status_name(STATUS_DISABLED), "Disabled");
	ck_assert_str_eq(entity_status_name(STATUS_SEND_DISABLED), "SendDisabled");
	ck_assert_str_eq(entity_status_name(STATUS_RECEIVE_DISABLED), "ReceiveDisabled");
	ck_assert_str_eq(entity_status_name((enum entity_status)9), "Unknown");
	ck_assert_int_eq(entity_status_parse("ReceiveDisabled", &st), LZ_OK);
	ck_assert_int_eq(st, STATUS_RECEIVE_DISABLED);
	ck_assert_int_eq(entity_status_parse("disabled", &st), LZ_OK);
	ck_assert_int_eq(st, STATUS_DISABLED);
	ck_assert_int_eq(entity_status_parse("Creating", &st), LZ_EINVAL);
	ck_assert_int_eq(entity_status_parse("", &st), LZ_EINVAL);
}
END_TEST

static Suite *entity_suite(void)
{
	Suite *s = suite_create("entity");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, defaults_queue);
	tcase_add_test(tc, defaults_topic_and_subscription);
	tcase_add_test(tc, lock_duration_bounds);
	tcase_add_test(tc, ttl_bounds);
	tcase_add_test(tc, dup_window_bounds);
	tcase_add_test(tc, max_delivery_count_bounds);
	tcase_add_test(tc, auto_delete_bounds);
	tcase_add_test(tc, max_size_values);
	tcase_add_test(tc, max_message_size_standard_only);
	tcase_add_test(tc, user_metadata_length);
	tcase_add_test(tc, status_per_kind);
	tcase_add_test(tc, forward_to_names);
	tcase_add_test(tc, unknown_kind);
	tcase_add_test(tc, check_update_create_only);
	tcase_add_test(tc, path_names);
	tcase_add_test(tc, subscription_and_rule_names);
	tcase_add_test(tc, rule_validation);
	tcase_add_test(tc, default_rule);
	tcase_add_test(tc, model_copy_release);
	tcase_add_test(tc, model_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(entity_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
