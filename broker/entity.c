#include "broker/entity.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/duration.h"

#define SECOND_MS ((int64_t)1000)
#define MINUTE_MS (60 * SECOND_MS)
#define DAY_MS (24 * 60 * MINUTE_MS)

#define PATH_MAX_CHARS 260
#define SUBNAME_MAX_CHARS 50
#define USER_METADATA_MAX_CHARS 1024
#define SQL_EXPRESSION_MAX_CHARS 1024
/* Standard tier: the only message size a queue or topic may have (Premium allows more). */
#define STANDARD_MAX_MESSAGE_KB 256
/* Standard tier sizes are 1, 2, 3, 4 or 5 GB. */
#define MAX_SIZE_STEP_MB 1024
#define MAX_SIZE_LIMIT_MB 5120

/* Bit for each entity kind, to say which kinds a property belongs to. */
#define KIND_BIT(k) (1u << (k))
#define KIND_Q KIND_BIT(ENTITY_QUEUE)
#define KIND_T KIND_BIT(ENTITY_TOPIC)
#define KIND_S KIND_BIT(ENTITY_SUBSCRIPTION)
#define KIND_ALL (KIND_Q | KIND_T | KIND_S)

static lz_err detail_fail(struct lz_detail *detail, lz_err err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes the formatted reason to `detail` (when not NULL) and returns `err`. */
static lz_err detail_fail(struct lz_detail *detail, lz_err err, const char *fmt, ...)
{
	va_list ap;

	if (detail != NULL) {
		va_start(ap, fmt);
		vsnprintf(detail->text, sizeof(detail->text), fmt, ap);
		va_end(ap);
	}
	return err;
}

/* Writes `ms` the way .NET TimeSpan.ToString() does, "[d.]hh:mm:ss[.fffffff]", as Azure's
 * detail texts quote it ("Actual value was 25.00:00:00"). */
#define TIMESPAN_LEN 64
static void timespan_format(int64_t ms, char out[TIMESPAN_LEN])
{
	char days[24] = "";
	char fraction[16] = "";
	int64_t rem;

	if (ms == DURATION_INFINITE) {
		snprintf(out, TIMESPAN_LEN, "10675199.02:48:05.4775807");
		return;
	}
	if (ms >= DAY_MS)
		snprintf(days, sizeof(days), "%" PRId64 ".", ms / DAY_MS);
	rem = ms % DAY_MS;
	if (rem % SECOND_MS != 0)
		snprintf(fraction, sizeof(fraction), ".%03d0000", (int)(rem % SECOND_MS));
	snprintf(out, TIMESPAN_LEN, "%s%02d:%02d:%02d%s", days, (int)(rem / (60 * MINUTE_MS)),
		 (int)(rem / MINUTE_MS % 60), (int)(rem / SECOND_MS % 60), fraction);
}

/* Characters of UTF-8 text: bytes that do not continue a multi-byte sequence. */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	}
	return n;
}

void entity_desc_defaults(struct entity_desc *d, enum entity_kind kind)
{
	memset(d, 0, sizeof(*d));
	d->kind = kind;
	d->lock_duration_ms = MINUTE_MS;
	d->max_size_mb = 1024;
	d->default_ttl_ms = DURATION_INFINITE;
	d->dead_lettering_on_filter_exceptions = kind == ENTITY_SUBSCRIPTION;
	d->dup_window_ms = 10 * MINUTE_MS;
	d->max_delivery_count = 10;
	d->enable_batched_operations = true;
	d->support_ordering = true;
	d->status = STATUS_ACTIVE;
	d->auto_delete_on_idle_ms = DURATION_INFINITE;
	d->max_message_size_kb = STANDARD_MAX_MESSAGE_KB;
}

/* A duration property with its bounds and the words Azure's messages use for it. */
struct duration_range {
	const char *param;
	const char *what;
	unsigned kinds;
	size_t off;
	int64_t min_ms;
	const char *min_text;
	int64_t max_ms; /* DURATION_INFINITE: no maximum */
	const char *max_text;
};

static const struct duration_range duration_ranges[] = {
	{ "LockDuration", "lock time", KIND_Q | KIND_S,
	  offsetof(struct entity_desc, lock_duration_ms), 5 * SECOND_MS, "'5' seconds",
	  5 * MINUTE_MS, "'5' minutes" },
	{ "DefaultMessageTimeToLive", "time to live", KIND_ALL,
	  offsetof(struct entity_desc, default_ttl_ms), SECOND_MS, "'1' seconds", DURATION_INFINITE,
	  NULL },
	{ "DuplicateDetectionHistoryTimeWindow", "duplicate detection history time window",
	  KIND_Q | KIND_T, offsetof(struct entity_desc, dup_window_ms), 20 * SECOND_MS,
	  "'20' seconds", 7 * DAY_MS, "'7' days" },
	{ "AutoDeleteOnIdle", "auto delete on idle time", KIND_ALL,
	  offsetof(struct entity_desc, auto_delete_on_idle_ms), 5 * MINUTE_MS, "'5' minutes",
	  DURATION_INFINITE, NULL },
};

static lz_err duration_range_check(const struct duration_range *r, const struct entity_desc *d,
				   struct lz_detail *detail)
{
	int64_t v;
	char text[TIMESPAN_LEN];

	v = *(const int64_t *)(const void *)((const char *)d + r->off);
	timespan_format(v, text);
	if (v < r->min_ms)
		return detail_fail(
			detail, LZ_ERANGE,
			"The supplied %s is below the allowed minimum of %s. Parameter name: %s. "
			"Actual value was %s.",
			r->what, r->min_text, r->param, text);
	if (r->max_ms != DURATION_INFINITE && v > r->max_ms)
		return detail_fail(
			detail, LZ_ERANGE,
			"The supplied %s exceeds the allowed maximum of %s. Parameter name: %s. "
			"Actual value was %s.",
			r->what, r->max_text, r->param, text);
	return LZ_OK;
}

static lz_err status_check(const struct entity_desc *d, struct lz_detail *detail)
{
	/* Queues take every status; topics and subscriptions only Active and Disabled (§2.6, §2.7). */
	if ((unsigned)d->status > STATUS_RECEIVE_DISABLED ||
	    (d->kind != ENTITY_QUEUE && d->status != STATUS_ACTIVE && d->status != STATUS_DISABLED))
		return detail_fail(
			detail, LZ_EINVAL,
			"The status '%s' is not supported for a %s. Parameter name: Status.",
			entity_status_name(d->status), entity_kind_name(d->kind));
	return LZ_OK;
}

static lz_err forward_check(const char *param, const char *target, struct lz_detail *detail)
{
	struct lz_detail why;

	if (target == NULL)
		return LZ_OK;
	if (entity_path_validate(target, &why) != LZ_OK)
		return detail_fail(detail, LZ_EINVAL, "%s Parameter name: %s.", why.text, param);
	return LZ_OK;
}

lz_err entity_desc_validate(const struct entity_desc *d, struct lz_detail *detail)
{
	unsigned kind;
	size_t i;
	lz_err err;

	if (d->kind != ENTITY_QUEUE && d->kind != ENTITY_TOPIC && d->kind != ENTITY_SUBSCRIPTION)
		return detail_fail(detail, LZ_EINVAL, "Unknown entity kind %d.", (int)d->kind);
	kind = KIND_BIT(d->kind);
	for (i = 0; i < sizeof(duration_ranges) / sizeof(duration_ranges[0]); i++) {
		if ((duration_ranges[i].kinds & kind) == 0)
			continue;
		err = duration_range_check(&duration_ranges[i], d, detail);
		if (err != LZ_OK)
			return err;
	}
	if ((kind & (KIND_Q | KIND_T)) != 0) {
		if (d->max_size_mb < MAX_SIZE_STEP_MB || d->max_size_mb > MAX_SIZE_LIMIT_MB ||
		    d->max_size_mb % MAX_SIZE_STEP_MB != 0)
			return detail_fail(
				detail, LZ_ERANGE,
				"The specified value %" PRId64
				" is invalid. The value must be one of "
				"1024, 2048, 3072, 4096, 5120. Parameter name: MaxSizeInMegabytes. "
				"Actual value was %" PRId64 ".",
				d->max_size_mb, d->max_size_mb);
		if (d->max_message_size_kb != STANDARD_MAX_MESSAGE_KB)
			return detail_fail(
				detail, LZ_EINVAL,
				"Setting MaxMessageSizeInKilobytes to a value other than %d is not "
				"supported on Standard tier namespaces. Parameter name: "
				"MaxMessageSizeInKilobytes. Actual value was %" PRId64 ".",
				STANDARD_MAX_MESSAGE_KB, d->max_message_size_kb);
	}
	if ((kind & (KIND_Q | KIND_S)) != 0) {
		if (d->max_delivery_count < 1)
			return detail_fail(
				detail, LZ_ERANGE,
				"The value supplied must be greater than or equal to 1. Parameter "
				"name: MaxDeliveryCount. Actual value was %" PRId32 ".",
				d->max_delivery_count);
		err = forward_check("ForwardTo", d->forward_to, detail);
		if (err != LZ_OK)
			return err;
		err = forward_check("ForwardDeadLetteredMessagesTo", d->forward_dlq_to, detail);
		if (err != LZ_OK)
			return err;
	}
	err = status_check(d, detail);
	if (err != LZ_OK)
		return err;
	if (d->user_metadata != NULL && utf8_chars(d->user_metadata) > USER_METADATA_MAX_CHARS)
		return detail_fail(
			detail, LZ_ERANGE,
			"The user metadata cannot be longer than %d characters. Parameter name: "
			"UserMetadata. Actual value was %zu characters.",
			USER_METADATA_MAX_CHARS, utf8_chars(d->user_metadata));
	return LZ_OK;
}

/* The create-only properties and the kinds that have them. */
static const struct {
	const char *param;
	unsigned kinds;
	size_t off;
} create_only[] = {
	{ "RequiresSession", KIND_Q | KIND_S, offsetof(struct entity_desc, requires_session) },
	{ "RequiresDuplicateDetection", KIND_Q | KIND_T,
	  offsetof(struct entity_desc, requires_duplicate_detection) },
	{ "EnablePartitioning", KIND_Q | KIND_T,
	  offsetof(struct entity_desc, enable_partitioning) },
};

lz_err entity_desc_check_update(const struct entity_desc *prev, const struct entity_desc *next,
				struct lz_detail *detail)
{
	const char *p = (const char *)prev;
	const char *n = (const char *)next;
	size_t i;

	if (prev->kind != next->kind)
		return detail_fail(detail, LZ_EIMMUTABLE,
				   "An existing %s cannot be changed into a %s.",
				   entity_kind_name(prev->kind), entity_kind_name(next->kind));
	for (i = 0; i < sizeof(create_only) / sizeof(create_only[0]); i++) {
		if ((create_only[i].kinds & KIND_BIT(prev->kind)) == 0)
			continue;
		if (*(const bool *)(const void *)(p + create_only[i].off) !=
		    *(const bool *)(const void *)(n + create_only[i].off))
			return detail_fail(detail, LZ_EIMMUTABLE,
					   "The value for the %s property of an existing %s cannot "
					   "be changed.",
					   create_only[i].param, entity_kind_name(prev->kind));
	}
	return LZ_OK;
}

/* ASCII only: names are matched byte-wise and the locale is never consulted. */
static bool name_char_is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool name_char_is_valid(char c)
{
	return name_char_is_alnum(c) || c == '.' || c == '-' || c == '_';
}

/* Checks one segment [s, s + len): allowed characters, starts and ends with a letter or digit.
 * `what` names the whole ("entity path", "subscription name") and `whole` is quoted. */
static lz_err segment_validate(const char *s, size_t len, const char *what, const char *whole,
			       struct lz_detail *detail)
{
	size_t i;

	if (len == 0)
		return detail_fail(
			detail, LZ_EINVAL,
			"The %s '%s' is invalid: it has an empty segment (a leading, trailing "
			"or doubled '/').",
			what, whole);
	for (i = 0; i < len; i++) {
		if (!name_char_is_valid(s[i]))
			return detail_fail(
				detail, LZ_EINVAL,
				"The %s '%s' contains character(s) that is not allowed by Service "
				"Bus. Entity segments can contain only letters, numbers, periods "
				"(.), "
				"hyphens (-), and underscores (_).",
				what, whole);
	}
	if (!name_char_is_alnum(s[0]) || !name_char_is_alnum(s[len - 1]))
		return detail_fail(
			detail, LZ_EINVAL,
			"The %s '%s' is invalid: each segment must start and end with a letter "
			"or number.",
			what, whole);
	return LZ_OK;
}

lz_err entity_path_validate(const char *path, struct lz_detail *detail)
{
	const char *seg, *slash;
	size_t len;
	lz_err err;

	if (path == NULL || path[0] == '\0')
		return detail_fail(detail, LZ_EINVAL, "The entity path cannot be empty.");
	len = strlen(path);
	if (len > PATH_MAX_CHARS)
		return detail_fail(detail, LZ_EINVAL,
				   "The entity path is %zu characters long; the maximum is %d.",
				   len, PATH_MAX_CHARS);
	if (path[0] == '$')
		return detail_fail(
			detail, LZ_EINVAL,
			"The entity path '%s' is reserved: names starting with '$' are system "
			"paths.",
			path);
	for (seg = path;; seg = slash + 1) {
		slash = strchr(seg, '/');
		len = slash != NULL ? (size_t)(slash - seg) : strlen(seg);
		err = segment_validate(seg, len, "entity path", path, detail);
		if (err != LZ_OK || slash == NULL)
			return err;
	}
}

lz_err entity_subname_validate(const char *name, bool is_rule, struct lz_detail *detail)
{
	const char *what = is_rule ? "rule name" : "subscription name";
	size_t len;

	if (name == NULL || name[0] == '\0')
		return detail_fail(detail, LZ_EINVAL, "The %s cannot be empty.", what);
	if (is_rule && strcasecmp(name, "$Default") == 0)
		return LZ_OK;
	len = strlen(name);
	if (len > SUBNAME_MAX_CHARS)
		return detail_fail(detail, LZ_EINVAL,
				   "The %s is %zu characters long; the maximum is %d.", what, len,
				   SUBNAME_MAX_CHARS);
	if (strchr(name, '/') != NULL)
		return detail_fail(detail, LZ_EINVAL, "The %s '%s' cannot contain '/'.", what,
				   name);
	return segment_validate(name, len, what, name, detail);
}

/* Checks a SQL filter or action expression: present, not blank, at most 1024 characters. */
static lz_err sql_expression_check(const char *expr, const char *what, struct lz_detail *detail)
{
	size_t n;

	if (expr == NULL || expr[strspn(expr, " \t\r\n")] == '\0')
		return detail_fail(
			detail, LZ_EINVAL,
			"The %s expression cannot be null or empty. Parameter name: SqlExpression.",
			what);
	n = utf8_chars(expr);
	if (n > SQL_EXPRESSION_MAX_CHARS)
		return detail_fail(
			detail, LZ_ERANGE,
			"The %s expression is %zu characters long; the maximum is %d. Parameter "
			"name: SqlExpression.",
			what, n, SQL_EXPRESSION_MAX_CHARS);
	return LZ_OK;
}

static bool correlation_filter_is_empty(const struct correlation_filter *c)
{
	return c->correlation_id == NULL && c->message_id == NULL && c->to == NULL &&
	       c->reply_to == NULL && c->label == NULL && c->session_id == NULL &&
	       c->reply_to_session_id == NULL && c->content_type == NULL && c->properties.n == 0;
}

lz_err rule_desc_validate(const struct rule_desc *r, struct lz_detail *detail)
{
	lz_err err;

	switch (r->filter_type) {
	case FILTER_TRUE:
	case FILTER_FALSE:
		break;
	case FILTER_SQL:
		err = sql_expression_check(r->sql_expression, "filter", detail);
		if (err != LZ_OK)
			return err;
		break;
	case FILTER_CORRELATION:
		if (correlation_filter_is_empty(&r->corr))
			return detail_fail(
				detail, LZ_EINVAL,
				"A correlation filter must specify at least one property to match. "
				"Parameter name: Filter.");
		break;
	default:
		return detail_fail(detail, LZ_EINVAL,
				   "Unknown filter type %d. Parameter name: Filter.",
				   (int)r->filter_type);
	}
	switch (r->action_type) {
	case ACTION_EMPTY:
		return LZ_OK;
	case ACTION_SQL:
		return sql_expression_check(r->action_sql, "action", detail);
	}
	return detail_fail(detail, LZ_EINVAL, "Unknown action type %d. Parameter name: Action.",
			   (int)r->action_type);
}

lz_err rule_desc_default(struct rule_desc *r, int64_t now_ms)
{
	memset(r, 0, sizeof(*r));
	r->filter_type = FILTER_TRUE;
	r->sql_compat_level = 20;
	r->action_type = ACTION_EMPTY;
	r->action_compat_level = 20;
	r->created_at = now_ms;
	return model_strdup(&r->name, "$Default");
}
