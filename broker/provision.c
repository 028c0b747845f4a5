/*
 * provision — declared entities: Config.json and YAML parsers into one list, and its application
 * to the core. See provision.h for the formats, the order of creation and the errors.
 *
 * Both parsers turn each value into a `struct scalar` and hand it to the same property setter,
 * which writes the entity_desc field and then runs entity_desc_validate() — the Atom path's
 * checks. Defaults are valid and every check looks at one property, so a failure right after a
 * property was set is that property's, and the error can name it and its place in the file.
 */
#include "broker/provision.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "broker/entity.h"
#include "common/duration.h"
#include "common/log.h"

/* Config files are hand-written and small; this bounds what a wrong path can cost. */
#define FILE_MAX_BYTES (16u << 20)
#define WHERE_LEN 4200  /* a path (< 4096 bytes) and ":line:column" */
#define WHY_LEN 1024    /* the reason part of a message */
#define SUB_INFIX "/subscriptions/"

#define KIND_BIT(k) (1u << (k))
#define KIND_Q KIND_BIT(ENTITY_QUEUE)
#define KIND_T KIND_BIT(ENTITY_TOPIC)
#define KIND_S KIND_BIT(ENTITY_SUBSCRIPTION)

/* ---- messages ----------------------------------------------------------------------------- */

__attribute__((format(printf, 4, 5)))
static lz_err fail(char *detail, size_t cap, lz_err err, const char *fmt, ...)
{
	va_list ap;

	if (detail == NULL || cap == 0)
		return err;
	va_start(ap, fmt);
	vsnprintf(detail, cap, fmt, ap);
	va_end(ap);
	return err;
}

static const char *kind_word(enum entity_kind k)
{
	switch (k) {
	case ENTITY_QUEUE: return "queue";
	case ENTITY_TOPIC: return "topic";
	case ENTITY_SUBSCRIPTION: return "subscription";
	}
	return "entity";
}

/* "queue 'orders'", "subscription 's1' of topic 't1'" into `buf`. */
static const char *entity_label(const struct provision_entity *e, char *buf, size_t cap)
{
	if (e->topic != NULL)
		snprintf(buf, cap, "subscription '%s' of topic '%s'", e->name, e->topic);
	else
		snprintf(buf, cap, "%s '%s'", kind_word(e->desc.kind), e->name);
	return buf;
}

/* ---- the list ----------------------------------------------------------------------------- */

static void rules_free(struct provision_rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		rule_desc_release(&rules[i].desc);
		free(rules[i].where);
	}
	free(rules);
}

static void entity_release(struct provision_entity *e)
{
	free(e->path);
	free(e->name);
	free(e->topic);
	entity_desc_release(&e->desc);
	rules_free(e->rules, e->n_rules);
	free(e->where);
	memset(e, 0, sizeof(*e));
}

void provision_list_init(struct provision_list *l)
{
	memset(l, 0, sizeof(*l));
}

/* Drops the items from index `n` on: a failed parse leaves the list as it found it. */
static void list_truncate(struct provision_list *l, size_t n)
{
	while (l->n > n)
		entity_release(&l->items[--l->n]);
}

void provision_list_release(struct provision_list *l)
{
	if (l == NULL)
		return;
	list_truncate(l, 0);
	free(l->items);
	memset(l, 0, sizeof(*l));
}

static const struct provision_entity *list_find(const struct provision_list *l, const char *path)
{
	for (size_t i = 0; i < l->n; i++) {
		if (strcasecmp(l->items[i].path, path) == 0)
			return &l->items[i];
	}
	return NULL;
}

/* Moves `e` into `l`. LZ_EINVAL when its path was declared already (names compare without case,
 * as the broker looks them up); `e` is then left to the caller. */
static lz_err list_add(struct provision_list *l, struct provision_entity *e, char *detail, size_t cap)
{
	const struct provision_entity *prev = list_find(l, e->path);
	char label[600], prev_label[600];

	if (prev != NULL)
		return fail(detail, cap, LZ_EINVAL, "%s: %s is declared twice: %s is declared at %s already", e->where,
			    entity_label(e, label, sizeof(label)), entity_label(prev, prev_label, sizeof(prev_label)),
			    prev->where);
	if (l->n == l->cap) {
		size_t ncap = l->cap != 0 ? 2 * l->cap : 16;
		struct provision_entity *items = realloc(l->items, ncap * sizeof(*items));

		if (items == NULL)
			return LZ_ENOMEM;
		l->items = items;
		l->cap = ncap;
	}
	l->items[l->n++] = *e;
	memset(e, 0, sizeof(*e));
	return LZ_OK;
}

/*
 * Starts OUT `e`: Azure's defaults for `kind`, the name checked by the Atom path's rules, the
 * core path. `topic` is the topic of a subscription (NULL otherwise). `where` is copied.
 */
static lz_err entity_begin(struct provision_entity *e, enum entity_kind kind, const char *name, const char *topic,
			   const char *where, enum provision_format format, char *detail, size_t cap)
{
	struct lz_detail why;
	char label[600];
	size_t len;
	lz_err err;

	memset(e, 0, sizeof(*e));
	entity_desc_defaults(&e->desc, kind);
	e->format = format;
	e->name = strdup(name);
	e->where = strdup(where);
	e->topic = topic != NULL ? strdup(topic) : NULL;
	if (e->name == NULL || e->where == NULL || (topic != NULL && e->topic == NULL)) {
		err = LZ_ENOMEM;
		goto out_release;
	}
	err = kind == ENTITY_SUBSCRIPTION ? entity_subname_validate(name, false, &why)
					  : entity_path_validate(name, &why);
	if (err != LZ_OK) {
		err = fail(detail, cap, LZ_EINVAL, "%s: %s: invalid name: %s", where,
			   entity_label(e, label, sizeof(label)), why.text);
		goto out_release;
	}
	len = (topic != NULL ? strlen(topic) + strlen(SUB_INFIX) : 0) + strlen(name) + 1;
	e->path = malloc(len);
	if (e->path == NULL) {
		err = LZ_ENOMEM;
		goto out_release;
	}
	if (topic != NULL)
		snprintf(e->path, len, "%s" SUB_INFIX "%s", topic, name);
	else
		snprintf(e->path, len, "%s", name);
	return LZ_OK;

out_release:
	entity_release(e);
	return err;
}

/* Appends a copy of `rule` (owned by the caller) to the rules of `e`. */
static lz_err entity_add_rule(struct provision_entity *e, struct rule_desc *rule, const char *where)
{
	struct provision_rule *rules = realloc(e->rules, (e->n_rules + 1) * sizeof(*rules));
	struct provision_rule *r;

	if (rules == NULL)
		return LZ_ENOMEM;
	e->rules = rules;
	r = &rules[e->n_rules];
	r->where = strdup(where);
	if (r->where == NULL)
		return LZ_ENOMEM;
	r->desc = *rule;
	memset(rule, 0, sizeof(*rule));
	e->n_rules++;
	return LZ_OK;
}

/* ---- properties --------------------------------------------------------------------------- */

enum prop_type {
	PROP_BOOL,
	PROP_DURATION, /* ISO 8601 / xs:duration text */
	PROP_INT32,
	PROP_FORWARD,  /* an entity name; "" means none */
};

/* The properties Config.json declares (its schema's list), with their YAML spelling. */
static const struct prop_spec {
	const char *json;
	const char *yaml;
	enum prop_type type;
	unsigned kinds;
	size_t off;
} props[] = {
	{ "DeadLetteringOnMessageExpiration", "dead_lettering_on_message_expiration", PROP_BOOL, KIND_Q | KIND_S,
	  offsetof(struct entity_desc, dead_lettering_on_expiration) },
	{ "DefaultMessageTimeToLive", "default_message_time_to_live", PROP_DURATION, KIND_Q | KIND_T | KIND_S,
	  offsetof(struct entity_desc, default_ttl_ms) },
	{ "DuplicateDetectionHistoryTimeWindow", "duplicate_detection_history_time_window", PROP_DURATION,
	  KIND_Q | KIND_T, offsetof(struct entity_desc, dup_window_ms) },
	{ "ForwardDeadLetteredMessagesTo", "forward_dead_lettered_messages_to", PROP_FORWARD, KIND_Q | KIND_S,
	  offsetof(struct entity_desc, forward_dlq_to) },
	{ "ForwardTo", "forward_to", PROP_FORWARD, KIND_Q | KIND_S, offsetof(struct entity_desc, forward_to) },
	{ "LockDuration", "lock_duration", PROP_DURATION, KIND_Q | KIND_S,
	  offsetof(struct entity_desc, lock_duration_ms) },
	{ "MaxDeliveryCount", "max_delivery_count", PROP_INT32, KIND_Q | KIND_S,
	  offsetof(struct entity_desc, max_delivery_count) },
	{ "RequiresDuplicateDetection", "requires_duplicate_detection", PROP_BOOL, KIND_Q | KIND_T,
	  offsetof(struct entity_desc, requires_duplicate_detection) },
	{ "RequiresSession", "requires_session", PROP_BOOL, KIND_Q | KIND_S,
	  offsetof(struct entity_desc, requires_session) },
};

#define NPROPS (sizeof(props) / sizeof(props[0]))

static const char *prop_name(const struct prop_spec *p, enum provision_format f)
{
	return f == PROVISION_YAML ? p->yaml : p->json;
}

/* The property of `kind` called `name` in format `f`, NULL when there is none. */
static const struct prop_spec *prop_find(enum entity_kind kind, const char *name, enum provision_format f)
{
	for (size_t i = 0; i < NPROPS; i++) {
		if ((props[i].kinds & KIND_BIT(kind)) != 0 && strcmp(prop_name(&props[i], f), name) == 0)
			return &props[i];
	}
	return NULL;
}

/* "A, B, C" — the property names of `kind` in format `f` — after `lead` (e.g. "name, "). */
static const char *prop_list(enum entity_kind kind, enum provision_format f, const char *lead, char *buf, size_t cap)
{
	size_t len = (size_t)snprintf(buf, cap, "%s", lead);
	const char *sep = "";

	for (size_t i = 0; i < NPROPS && len < cap; i++) {
		if ((props[i].kinds & KIND_BIT(kind)) == 0)
			continue;
		len += (size_t)snprintf(buf + len, cap - len, "%s%s", sep, prop_name(&props[i], f));
		sep = ", ";
	}
	return buf;
}

/* A declared value in either format, reduced to what the setters need. */
enum scalar_kind { SCALAR_BOOL, SCALAR_INT, SCALAR_DOUBLE, SCALAR_STRING, SCALAR_OTHER };

struct scalar {
	enum scalar_kind kind;
	bool b;
	int64_t i;
	double d;
	const char *s;    /* SCALAR_STRING: borrowed from the parser */
	const char *what; /* "a string", "a list", ... for messages */
};

/*
 * Sets the field `spec` names in `d` from `v`, then checks `d` as an Atom PUT would. On failure
 * `why` says what is wrong with the value (LZ_EINVAL) — or LZ_ENOMEM.
 */
static lz_err prop_set(const struct prop_spec *spec, const struct scalar *v, struct entity_desc *d, char *why,
		       size_t cap)
{
	void *field = (char *)d + spec->off;
	struct lz_detail check;
	char *copy;
	int64_t ms;
	lz_err err;

	switch (spec->type) {
	case PROP_BOOL:
		if (v->kind != SCALAR_BOOL)
			return fail(why, cap, LZ_EINVAL, "expected true or false, found %s", v->what);
		*(bool *)field = v->b;
		break;
	case PROP_INT32:
		if (v->kind != SCALAR_INT)
			return fail(why, cap, LZ_EINVAL, "expected an integer, found %s", v->what);
		if (v->i < INT32_MIN || v->i > INT32_MAX)
			return fail(why, cap, LZ_EINVAL, "%" PRId64 " is out of range (at most %" PRId32 ")", v->i,
				    INT32_MAX);
		*(int32_t *)field = (int32_t)v->i;
		break;
	case PROP_DURATION:
		if (v->kind != SCALAR_STRING)
			return fail(why, cap, LZ_EINVAL, "expected an ISO 8601 duration such as PT30S in a string, found %s",
				    v->what);
		err = duration_parse_xs(v->s, &ms);
		if (err == LZ_ERANGE)
			return fail(why, cap, LZ_EINVAL, "'%.100s' is negative", v->s);
		if (err != LZ_OK)
			return fail(why, cap, LZ_EINVAL,
				    "'%.100s' is not an ISO 8601 duration (PnDTnHnMnS, e.g. PT30S, PT5M, P1DT12H)", v->s);
		*(int64_t *)field = ms;
		break;
	case PROP_FORWARD:
		if (v->kind != SCALAR_STRING)
			return fail(why, cap, LZ_EINVAL, "expected an entity name in a string, found %s", v->what);
		copy = NULL;
		if (v->s[0] != '\0') {
			copy = strdup(v->s);
			if (copy == NULL)
				return LZ_ENOMEM;
		}
		free(*(char **)field);
		*(char **)field = copy;
		break;
	}
	if (entity_desc_validate(d, &check) != LZ_OK)
		return fail(why, cap, LZ_EINVAL, "%s", check.text);
	return LZ_OK;
}

/* The correlation filter's system properties, in both spellings. */
static const struct corr_spec {
	const char *json;
	const char *yaml;
	size_t off;
} corr_fields[] = {
	{ "ContentType", "content_type", offsetof(struct correlation_filter, content_type) },
	{ "CorrelationId", "correlation_id", offsetof(struct correlation_filter, correlation_id) },
	{ "Label", "label", offsetof(struct correlation_filter, label) },
	{ "MessageId", "message_id", offsetof(struct correlation_filter, message_id) },
	{ "ReplyTo", "reply_to", offsetof(struct correlation_filter, reply_to) },
	{ "ReplyToSessionId", "reply_to_session_id", offsetof(struct correlation_filter, reply_to_session_id) },
	{ "SessionId", "session_id", offsetof(struct correlation_filter, session_id) },
	{ "To", "to", offsetof(struct correlation_filter, to) },
};

#define NCORR (sizeof(corr_fields) / sizeof(corr_fields[0]))

/* Sets correlation field `spec` of `f` from `v` ("" means absent, as in an Atom body). */
static lz_err corr_set(const struct corr_spec *spec, const struct scalar *v, struct correlation_filter *f, char *why,
		       size_t cap)
{
	char **field = (char **)(void *)((char *)f + spec->off);
	char *copy = NULL;

	if (v->kind != SCALAR_STRING)
		return fail(why, cap, LZ_EINVAL, "expected a string, found %s", v->what);
	if (v->s[0] != '\0') {
		copy = strdup(v->s);
		if (copy == NULL)
			return LZ_ENOMEM;
	}
	free(*field);
	*field = copy;
	return LZ_OK;
}

/* Adds user property `name` = `v` to a correlation filter: strings, integers (as long, the type
 * REST user properties get), numbers with a fraction (double) and booleans. */
static lz_err corr_prop_add(struct correlation_filter *f, const char *name, const struct scalar *v, char *why,
			    size_t cap)
{
	struct value val;
	lz_err err;

	memset(&val, 0, sizeof(val));
	switch (v->kind) {
	case SCALAR_STRING:
		val.type = VALUE_STRING;
		val.u.s = (char *)v->s; /* proplist_set copies; never freed here */
		break;
	case SCALAR_INT:
		val.type = VALUE_LONG;
		val.u.i = v->i;
		break;
	case SCALAR_DOUBLE:
		val.type = VALUE_DOUBLE;
		val.u.d = v->d;
		break;
	case SCALAR_BOOL:
		val.type = VALUE_BOOL;
		val.u.b = v->b;
		break;
	case SCALAR_OTHER:
		return fail(why, cap, LZ_EINVAL, "expected a string, number or boolean, found %s", v->what);
	}
	err = proplist_set(&f->properties, name, &val);
	return err == LZ_EINVAL ? fail(why, cap, LZ_EINVAL, "invalid property name") : err;
}

/* Starts OUT `r` as the Atom path does for a rule without Filter and Action (TRUE, empty). */
static lz_err rule_begin(struct rule_desc *r, const char *name)
{
	memset(r, 0, sizeof(*r));
	r->filter_type = FILTER_TRUE;
	r->sql_compat_level = 20;
	r->action_type = ACTION_EMPTY;
	r->action_compat_level = 20;
	return model_strdup(&r->name, name);
}

/* ---- commented JSON ----------------------------------------------------------------------- */

lz_err provision_json_strip_comments(char *text, size_t len, char *detail, size_t detail_cap)
{
	enum { CODE, STRING, STRING_ESCAPE, LINE_COMMENT, BLOCK_COMMENT } state = CODE;
	unsigned long line = 1, column = 1, open_line = 0, open_column = 0;

	for (size_t i = 0; i < len; i++) {
		char ch = text[i];
		char next = i + 1 < len ? text[i + 1] : '\0';

		switch (state) {
		case CODE:
			if (ch == '"') {
				state = STRING;
			} else if (ch == '/' && (next == '/' || next == '*')) {
				state = next == '/' ? LINE_COMMENT : BLOCK_COMMENT;
				open_line = line;
				open_column = column;
				text[i] = ' ';
				text[i + 1] = ' ';
				i++;
				column++;
			}
			break;
		case STRING:
			if (ch == '\\')
				state = STRING_ESCAPE;
			else if (ch == '"' || ch == '\n')
				state = CODE; /* a newline ends a broken string: the JSON parser reports it */
			break;
		case STRING_ESCAPE:
			state = STRING;
			break;
		case LINE_COMMENT:
			if (ch == '\n')
				state = CODE;
			else
				text[i] = ' ';
			break;
		case BLOCK_COMMENT:
			if (ch == '*' && next == '/') {
				text[i] = ' ';
				text[i + 1] = ' ';
				i++;
				column++;
				state = CODE;
			} else if (ch != '\n' && ch != '\r') {
				text[i] = ' ';
			}
			break;
		}
		if (ch == '\n') {
			line++;
			column = 1;
		} else {
			column++;
		}
	}
	if (state == BLOCK_COMMENT)
		return fail(detail, detail_cap, LZ_EPARSE, "%lu:%lu: the comment starting here never ends (no */)",
			    open_line, open_column);
	return LZ_OK;
}

/* ---- Config.json -------------------------------------------------------------------------- */

struct jparse {
	const char *source;
	struct provision_list *l;
	char *detail;
	size_t cap;
};

static void json_scalar(const json_t *j, struct scalar *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = SCALAR_OTHER;
	switch (json_typeof(j)) {
	case JSON_TRUE:
	case JSON_FALSE:
		out->kind = SCALAR_BOOL;
		out->b = json_is_true(j);
		out->what = "a boolean";
		break;
	case JSON_INTEGER:
		out->kind = SCALAR_INT;
		out->i = (int64_t)json_integer_value(j);
		out->what = "an integer";
		break;
	case JSON_REAL:
		out->kind = SCALAR_DOUBLE;
		out->d = json_real_value(j);
		out->what = "a number with a fraction";
		break;
	case JSON_STRING:
		out->kind = SCALAR_STRING;
		out->s = json_string_value(j);
		out->what = "a string";
		break;
	case JSON_OBJECT:
		out->what = "an object";
		break;
	case JSON_ARRAY:
		out->what = "an array";
		break;
	case JSON_NULL:
		out->what = "null";
		break;
	}
}

static const char *json_what(const json_t *j)
{
	struct scalar s;

	json_scalar(j, &s);
	return s.what;
}

/* "A, B, C" from a NULL-terminated list. */
static const char *name_list(const char *const *names, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; names[i] != NULL && len < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s%s", i != 0 ? ", " : "", names[i]);
	return buf;
}

/* LZ_EINVAL naming `what` unless every key of object `o` is one of `keys`. */
static lz_err json_keys_check(struct jparse *jp, const json_t *o, const char *const *keys, const char *what)
{
	const char *key;
	const json_t *v;
	char accepted[600];

	json_object_foreach((json_t *)o, key, v) {
		size_t i;

		for (i = 0; keys[i] != NULL; i++) {
			if (strcmp(keys[i], key) == 0)
				break;
		}
		if (keys[i] == NULL)
			return fail(jp->detail, jp->cap, LZ_EINVAL, "%s: %s: unknown key '%.100s': accepted keys are %s",
				    jp->source, what, key, name_list(keys, accepted, sizeof(accepted)));
	}
	return LZ_OK;
}

/* Member `key` of `o` that must be of `type` when present (*out NULL when absent). */
static lz_err json_member(struct jparse *jp, const json_t *o, const char *key, json_type type, const char *what,
			  const json_t **out)
{
	static const char *const names[] = {
		[JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array", [JSON_STRING] = "a string",
		[JSON_INTEGER] = "an integer", [JSON_REAL] = "a number", [JSON_TRUE] = "a boolean",
		[JSON_FALSE] = "a boolean", [JSON_NULL] = "null",
	};
	const json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL)
		return LZ_OK;
	if (json_typeof(v) != type)
		return fail(jp->detail, jp->cap, LZ_EINVAL, "%s: %s: '%s' must be %s, found %s", jp->source, what, key,
			    names[type], json_what(v));
	*out = v;
	return LZ_OK;
}

/* The "Name" of an entity or rule object: required, a string. */
static lz_err json_name(struct jparse *jp, const json_t *o, const char *what, const char **out)
{
	const json_t *name;
	lz_err err;

	if (!json_is_object(o))
		return fail(jp->detail, jp->cap, LZ_EINVAL, "%s: each item of %s must be an object, found %s",
			    jp->source, what, json_what(o));
	err = json_member(jp, o, "Name", JSON_STRING, what, &name);
	if (err != LZ_OK)
		return err;
	if (name == NULL)
		return fail(jp->detail, jp->cap, LZ_EINVAL, "%s: %s: an item has no \"Name\"", jp->source, what);
	*out = json_string_value(name);
	return LZ_OK;
}

/* Reads the "Properties" object of `o` into e->desc. */
static lz_err json_entity_props(struct jparse *jp, const json_t *o, struct provision_entity *e)
{
	const json_t *properties, *v;
	const char *key;
	char label[600], why[WHY_LEN], accepted[600];
	lz_err err;

	err = json_member(jp, o, "Properties", JSON_OBJECT, entity_label(e, label, sizeof(label)), &properties);
	if (err != LZ_OK || properties == NULL)
		return err;
	json_object_foreach((json_t *)properties, key, v) {
		const struct prop_spec *spec = prop_find(e->desc.kind, key, PROVISION_JSON);
		struct scalar s;

		if (spec == NULL)
			return fail(jp->detail, jp->cap, LZ_EINVAL,
				    "%s: %s: unknown property '%.100s': a %s accepts %s", jp->source, label, key,
				    kind_word(e->desc.kind),
				    prop_list(e->desc.kind, PROVISION_JSON, "", accepted, sizeof(accepted)));
		json_scalar(v, &s);
		err = prop_set(spec, &s, &e->desc, why, sizeof(why));
		if (err == LZ_EINVAL)
			return fail(jp->detail, jp->cap, LZ_EINVAL, "%s: %s: property '%s': %s", jp->source, label, key,
				    why);
		if (err != LZ_OK)
			return err;
	}
	return LZ_OK;
}

/* Reads a SqlFilter or Action object: {"SqlExpression": "..."} into *expr. */
static lz_err json_sql(struct jparse *jp, const json_t *o, const char *member, const char *what, char **expr)
{
	static const char *const keys[] = { "SqlExpression", NULL };
	const json_t *sql;
	char where[1024];
	lz_err err;

	snprintf(where, sizeof(where), "%s: %s", what, member);
	err = json_keys_check(jp, o, keys, where);
	if (err == LZ_OK)
		err = json_member(jp, o, "SqlExpression", JSON_STRING, where, &sql);
	if (err != LZ_OK)
		return err;
	if (sql == NULL)
		return fail(jp->detail, jp->cap, LZ_EINVAL, "%s: %s: 'SqlExpression' is missing", jp->source, where);
	return model_strdup(expr, json_string_value(sql));
}

static lz_err json_correlation(struct jparse *jp, const json_t *o, struct correlation_filter *f, const char *what)
{
	static const char *const keys[] = { "ContentType", "CorrelationId", "Label", "MessageId", "ReplyTo",
					    "ReplyToSessionId", "SessionId", "To", "Properties", NULL };
	const json_t *v, *user;
	const char *key;
	char where[1024], why[WHY_LEN];
	struct scalar s;
	lz_err err;

	snprintf(where, sizeof(where), "%s: CorrelationFilter", what);
	err = json_keys_check(jp, o, keys, where);
	if (err != LZ_OK)
		return err;
	for (size_t i = 0; i < NCORR; i++) {
		v = json_object_get(o, corr_fields[i].json);
		if (v == NULL)
			continue;
		json_scalar(v, &s);
		err = corr_set(&corr_fields[i], &s, f, why, sizeof(why));
		if (err == LZ_EINVAL)
			return fail(jp->detail, jp->cap, err, "%s: %s: property '%s': %s", jp->source, where,
				    corr_fields[i].json, why);
		if (err != LZ_OK)
			return err;
	}
	err = json_member(jp, o, "Properties", JSON_OBJECT, where, &user);
	if (err != LZ_OK || user == NULL)
		return err;
	json_object_foreach((json_t *)user, key, v) {
		json_scalar(v, &s);
		err = corr_prop_add(f, key, &s, why, sizeof(why));
		if (err == LZ_EINVAL)
			return fail(jp->detail, jp->cap, err, "%s: %s: user property '%.100s': %s", jp->source, where,
				    key, why);
		if (err != LZ_OK)
			return err;
	}
	return LZ_OK;
}

/* Reads rule object `o` of subscription `sub` into a new rule of `sub`. */
static lz_err json_rule(struct jparse *jp, const json_t *o, struct provision_entity *sub)
{
	static const char *const keys[] = { "Name", "Properties", NULL };
	static const char *const prop_keys[] = { "FilterType", "CorrelationFilter", "SqlFilter", "Action", NULL };
	const json_t *properties, *type, *corr, *sql, *action;
	const char *name;
	struct rule_desc r;
	struct lz_detail why;
	char label[600], what[800];
	lz_err err;

	snprintf(what, sizeof(what), "the Rules of %s", entity_label(sub, label, sizeof(label)));
	err = json_name(jp, o, what, &name);
	if (err != LZ_OK)
		return err;
	err = rule_begin(&r, name);
	if (err != LZ_OK)
		return err;
	snprintf(what, sizeof(what), "rule '%s' of %s", name, label);
	err = json_keys_check(jp, o, keys, what);
	if (err == LZ_OK)
		err = json_member(jp, o, "Properties", JSON_OBJECT, what, &properties);
	if (err != LZ_OK)
		goto out_release;
	if (properties == NULL) {
		err = fail(jp->detail, jp->cap, LZ_EINVAL, "%s: %s: 'Properties' with a FilterType is missing",
			   jp->source, what);
		goto out_release;
	}
	err = json_keys_check(jp, properties, prop_keys, what);
	if (err == LZ_OK)
		err = json_member(jp, properties, "FilterType", JSON_STRING, what, &type);
	if (err == LZ_OK)
		err = json_member(jp, properties, "CorrelationFilter", JSON_OBJECT, what, &corr);
	if (err == LZ_OK)
		err = json_member(jp, properties, "SqlFilter", JSON_OBJECT, what, &sql);
	if (err == LZ_OK)
		err = json_member(jp, properties, "Action", JSON_OBJECT, what, &action);
	if (err != LZ_OK)
		goto out_release;
	if (type == NULL || (strcmp(json_string_value(type), "Correlation") != 0 &&
			     strcmp(json_string_value(type), "Sql") != 0)) {
		err = fail(jp->detail, jp->cap, LZ_EINVAL,
			   "%s: %s: property 'FilterType': expected \"Correlation\" or \"Sql\", found %s%.100s%s",
			   jp->source, what, type != NULL ? "'" : "", type != NULL ? json_string_value(type) : "nothing",
			   type != NULL ? "'" : "");
		goto out_release;
	}
	if (strcmp(json_string_value(type), "Correlation") == 0) {
		if (corr == NULL || sql != NULL) {
			err = fail(jp->detail, jp->cap, LZ_EINVAL,
				   "%s: %s: FilterType \"Correlation\" takes a 'CorrelationFilter' object and no "
				   "'SqlFilter'", jp->source, what);
			goto out_release;
		}
		r.filter_type = FILTER_CORRELATION;
		err = json_correlation(jp, corr, &r.corr, what);
	} else {
		if (sql == NULL || corr != NULL) {
			err = fail(jp->detail, jp->cap, LZ_EINVAL,
				   "%s: %s: FilterType \"Sql\" takes a 'SqlFilter' object and no 'CorrelationFilter'",
				   jp->source, what);
			goto out_release;
		}
		r.filter_type = FILTER_SQL;
		err = json_sql(jp, sql, "SqlFilter", what, &r.sql_expression);
	}
	if (err == LZ_OK && action != NULL) {
		r.action_type = ACTION_SQL;
		err = json_sql(jp, action, "Action", what, &r.action_sql);
	}
	if (err != LZ_OK)
		goto out_release;
	if (entity_subname_validate(name, true, &why) != LZ_OK || rule_desc_validate(&r, &why) != LZ_OK) {
		err = fail(jp->detail, jp->cap, LZ_EINVAL, "%s: %s: %s", jp->source, what, why.text);
		goto out_release;
	}
	for (size_t i = 0; i < sub->n_rules; i++) {
		if (strcasecmp(sub->rules[i].desc.name, name) == 0) {
			err = fail(jp->detail, jp->cap, LZ_EINVAL, "%s: %s is declared twice", jp->source, what);
			goto out_release;
		}
	}
	err = entity_add_rule(sub, &r, jp->source);
out_release:
	rule_desc_release(&r);
	return err;
}

/* Reads a queue, topic or subscription object and appends it (and a topic's subscriptions). */
static lz_err json_entity(struct jparse *jp, const json_t *o, enum entity_kind kind, const char *topic,
			  const char *what)
{
	static const char *const queue_keys[] = { "Name", "Properties", NULL };
	static const char *const topic_keys[] = { "Name", "Properties", "Subscriptions", NULL };
	static const char *const sub_keys[] = { "Name", "Properties", "Rules", NULL };
	struct provision_entity e;
	const json_t *list, *item;
	const char *name;
	char label[600];
	size_t i;
	lz_err err;

	err = json_name(jp, o, what, &name);
	if (err != LZ_OK)
		return err;
	err = entity_begin(&e, kind, name, topic, jp->source, PROVISION_JSON, jp->detail, jp->cap);
	if (err != LZ_OK)
		return err;
	entity_label(&e, label, sizeof(label));
	err = json_keys_check(jp, o,
			      kind == ENTITY_QUEUE ? queue_keys : kind == ENTITY_TOPIC ? topic_keys : sub_keys, label);
	if (err == LZ_OK)
		err = json_entity_props(jp, o, &e);
	if (err == LZ_OK && kind == ENTITY_SUBSCRIPTION) {
		err = json_member(jp, o, "Rules", JSON_ARRAY, label, &list);
		if (err == LZ_OK && list != NULL) {
			json_array_foreach(list, i, item) {
				err = json_rule(jp, item, &e);
				if (err != LZ_OK)
					break;
			}
		}
	}
	if (err == LZ_OK)
		err = list_add(jp->l, &e, jp->detail, jp->cap);
	if (err != LZ_OK) {
		entity_release(&e);
		return err;
	}
	if (kind != ENTITY_TOPIC)
		return LZ_OK;
	err = json_member(jp, o, "Subscriptions", JSON_ARRAY, label, &list);
	if (err != LZ_OK || list == NULL)
		return err;
	snprintf(label, sizeof(label), "the Subscriptions of topic '%s'", name);
	json_array_foreach(list, i, item) {
		err = json_entity(jp, item, ENTITY_SUBSCRIPTION, name, label);
		if (err != LZ_OK)
			return err;
	}
	return LZ_OK;
}

/* Queues or Topics of a namespace. */
static lz_err json_entities(struct jparse *jp, const json_t *ns, const char *member, enum entity_kind kind)
{
	const json_t *list, *item;
	size_t i;
	lz_err err;

	err = json_member(jp, ns, member, JSON_ARRAY, "the namespace", &list);
	if (err != LZ_OK || list == NULL)
		return err;
	json_array_foreach(list, i, item) {
		err = json_entity(jp, item, kind, NULL, member);
		if (err != LZ_OK)
			return err;
	}
	return LZ_OK;
}

static lz_err json_root(struct jparse *jp, const json_t *root)
{
	static const char *const root_keys[] = { "UserConfig", NULL };
	static const char *const user_keys[] = { "Namespaces", "Logging", NULL };
	static const char *const ns_keys[] = { "Name", "Queues", "Topics", NULL };
	const json_t *user, *namespaces, *ns, *name;
	lz_err err;

	if (!json_is_object(root))
		return fail(jp->detail, jp->cap, LZ_EINVAL, "%s: the file must hold a JSON object, found %s",
			    jp->source, json_what(root));
	err = json_keys_check(jp, root, root_keys, "the top level");
	if (err == LZ_OK)
		err = json_member(jp, root, "UserConfig", JSON_OBJECT, "the top level", &user);
	if (err != LZ_OK)
		return err;
	if (user == NULL)
		return fail(jp->detail, jp->cap, LZ_EINVAL, "%s: no \"UserConfig\" object: is this an emulator Config.json?",
			    jp->source);
	/* "Logging" is the emulator's own log target: the broker logs to stderr whatever it says. */
	err = json_keys_check(jp, user, user_keys, "UserConfig");
	if (err == LZ_OK)
		err = json_member(jp, user, "Namespaces", JSON_ARRAY, "UserConfig", &namespaces);
	if (err != LZ_OK || namespaces == NULL)
		return err;
	if (json_array_size(namespaces) > 1)
		return fail(jp->detail, jp->cap, LZ_EINVAL,
			    "%s: UserConfig: 'Namespaces' holds %zu namespaces; the broker serves one, as the emulator does",
			    jp->source, json_array_size(namespaces));
	if (json_array_size(namespaces) == 0)
		return LZ_OK;
	ns = json_array_get(namespaces, 0);
	if (!json_is_object(ns))
		return fail(jp->detail, jp->cap, LZ_EINVAL, "%s: UserConfig: a namespace must be an object, found %s",
			    jp->source, json_what(ns));
	/* The namespace name is the emulator's fixed "sbemulatorns"; the broker's own is the
	 * `namespace` setting, so any string is accepted here. */
	err = json_keys_check(jp, ns, ns_keys, "the namespace");
	if (err == LZ_OK)
		err = json_member(jp, ns, "Name", JSON_STRING, "the namespace", &name);
	if (err == LZ_OK)
		err = json_entities(jp, ns, "Queues", ENTITY_QUEUE);
	if (err == LZ_OK)
		err = json_entities(jp, ns, "Topics", ENTITY_TOPIC);
	return err;
}

lz_err provision_parse_json_text(const char *text, size_t len, const char *source, struct provision_list *l,
				 char *detail, size_t detail_cap)
{
	struct jparse jp = { source, l, detail, detail_cap };
	size_t n0 = l->n;
	json_error_t jerr;
	json_t *root;
	char *copy, why[WHY_LEN];
	lz_err err;

	copy = malloc(len + 1);
	if (copy == NULL)
		return LZ_ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	err = provision_json_strip_comments(copy, len, why, sizeof(why));
	if (err != LZ_OK) {
		err = fail(detail, detail_cap, err, "%s:%s", source, why);
		goto out_free_copy;
	}
	root = json_loadb(copy, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		/* jansson gives column 0 at the very end of the text: then the line alone is shown. */
		if (jerr.column > 0)
			err = fail(detail, detail_cap, LZ_EPARSE, "%s:%d:%d: invalid JSON: %s", source, jerr.line,
				   jerr.column, jerr.text);
		else
			err = fail(detail, detail_cap, LZ_EPARSE, "%s:%d: invalid JSON: %s", source, jerr.line, jerr.text);
		goto out_free_copy;
	}
	err = json_root(&jp, root);
	json_decref(root);
	if (err != LZ_OK)
		list_truncate(l, n0);
out_free_copy:
	free(copy);
	return err;
}

/* Reads the whole file at `path` into a new NUL-terminated buffer. */
static lz_err file_read(const char *path, char **out, size_t *len, char *detail, size_t cap)
{
	struct strbuf buf = STRBUF_INIT;
	char chunk[8192];
	size_t n;
	FILE *f;
	lz_err err = LZ_OK;

	f = fopen(path, "rb");
	if (f == NULL)
		return fail(detail, cap, LZ_ESYS, "%s: cannot open: %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (buf.len + n > FILE_MAX_BYTES) {
			err = fail(detail, cap, LZ_EINVAL, "%s: larger than %u bytes: is this the right file?", path,
				   FILE_MAX_BYTES);
			goto out_close_file;
		}
		err = strbuf_add(&buf, chunk, n);
		if (err != LZ_OK)
			goto out_close_file;
	}
	if (ferror(f)) {
		err = fail(detail, cap, LZ_ESYS, "%s: cannot read: %s", path, strerror(errno));
		goto out_close_file;
	}
	*out = strbuf_detach(&buf, len);
	if (*out == NULL)
		err = LZ_ENOMEM;
out_close_file:
	fclose(f);
	if (err != LZ_OK)
		strbuf_release(&buf);
	return err;
}

lz_err provision_parse_json(const char *path, struct provision_list *l, char *detail, size_t detail_cap)
{
	char *text;
	size_t len;
	lz_err err;

	err = file_read(path, &text, &len, detail, detail_cap);
	if (err != LZ_OK)
		return err;
	err = provision_parse_json_text(text, len, path, l, detail, detail_cap);
	free(text);
	return err;
}

/* ---- YAML entities section ---------------------------------------------------------------- */

struct yparse {
	const char *file;
	yaml_document_t *doc;
	struct provision_list *l;
	char *detail;
	size_t cap;
};

static const char *ywhere(const struct yparse *yp, const yaml_node_t *n, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s:%zu:%zu", yp->file, n->start_mark.line + 1, n->start_mark.column + 1);
	return buf;
}

static yaml_node_t *ynode(const struct yparse *yp, int index)
{
	return yaml_document_get_node(yp->doc, index);
}

static bool yis_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)n->data.scalar.value;
	return v[0] == '\0' || strcmp(v, "~") == 0 || strcasecmp(v, "null") == 0;
}

static const char *ystr(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* A plain decimal integer ("-12", "300"), as YAML's core schema reads one. */
static bool ytext_int(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!((s[0] >= '0' && s[0] <= '9') || ((s[0] == '-' || s[0] == '+') && s[1] >= '0' && s[1] <= '9')))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

/* A plain decimal number with a fraction or exponent ("1.5", "-2e3"). */
static bool ytext_double(const char *s, double *out)
{
	char *end;
	double v;

	if (s[0] == '\0' || s[strspn(s, "0123456789+-.eE")] != '\0')
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

/* A node as a scalar: a quoted scalar is a string; a plain one is true/false, an integer, a
 * number, null or else a string (YAML's core schema). */
static void yaml_scalar(const yaml_node_t *n, struct scalar *out)
{
	const char *s;

	memset(out, 0, sizeof(*out));
	out->kind = SCALAR_OTHER;
	if (n->type == YAML_SEQUENCE_NODE) {
		out->what = "a list";
		return;
	}
	if (n->type != YAML_SCALAR_NODE) {
		out->what = "a mapping";
		return;
	}
	s = ystr(n);
	if (strlen(s) != n->data.scalar.length) {
		out->what = "a string with a NUL character";
		return;
	}
	out->kind = SCALAR_STRING;
	out->s = s;
	out->what = "a string";
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return;
	if (yis_null(n)) {
		out->kind = SCALAR_OTHER;
		out->what = "no value";
	} else if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
		out->kind = SCALAR_BOOL;
		out->b = s[0] == 't';
		out->what = "a boolean";
	} else if (ytext_int(s, &out->i)) {
		out->kind = SCALAR_INT;
		out->what = "an integer";
	} else if (ytext_double(s, &out->d)) {
		out->kind = SCALAR_DOUBLE;
		out->what = "a number with a fraction";
	}
}

static const char *ywhat(const yaml_node_t *n)
{
	struct scalar s;

	yaml_scalar(n, &s);
	return s.what;
}

/* LZ_EINVAL unless `n` is a node of `type`; `what` names it. */
static lz_err ytype(struct yparse *yp, const yaml_node_t *n, yaml_node_type_t type, const char *what)
{
	char where[WHERE_LEN];

	if (n->type == type)
		return LZ_OK;
	return fail(yp->detail, yp->cap, LZ_EINVAL, "%s: %s must be %s, found %s", ywhere(yp, n, where, sizeof(where)),
		    what, type == YAML_MAPPING_NODE ? "a mapping" : type == YAML_SEQUENCE_NODE ? "a list" : "a value",
		    ywhat(n));
}

/* LZ_EINVAL when mapping `m` has a key that is not a plain string or appears twice. */
static lz_err ykeys_check(struct yparse *yp, const yaml_node_t *m, const char *what)
{
	char where[WHERE_LEN];

	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = ynode(yp, p->key);

		if (k->type != YAML_SCALAR_NODE)
			return fail(yp->detail, yp->cap, LZ_EINVAL, "%s: %s: expected a key name, found %s",
				    ywhere(yp, k, where, sizeof(where)), what, ywhat(k));
		for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
			if (strcmp(ystr(ynode(yp, q->key)), ystr(k)) == 0)
				return fail(yp->detail, yp->cap, LZ_EINVAL, "%s: %s: '%.100s' given twice",
					    ywhere(yp, k, where, sizeof(where)), what, ystr(k));
		}
	}
	return LZ_OK;
}

/* The value of key `key` in mapping `m`, NULL when absent (keys checked by ykeys_check). */
static yaml_node_t *yget(const struct yparse *yp, const yaml_node_t *m, const char *key)
{
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		if (strcmp(ystr(ynode(yp, p->key)), key) == 0)
			return ynode(yp, p->value);
	}
	return NULL;
}

static lz_err yunknown(struct yparse *yp, const yaml_node_t *key, const char *what, const char *accepted)
{
	char where[WHERE_LEN];

	return fail(yp->detail, yp->cap, LZ_EINVAL, "%s: %s: unknown key '%.100s': accepted keys are %s",
		    ywhere(yp, key, where, sizeof(where)), what, ystr(key), accepted);
}

/* A string value (not empty, not null). */
static lz_err ystring(struct yparse *yp, const yaml_node_t *n, const char *what, const char **out)
{
	char where[WHERE_LEN];
	struct scalar s;

	yaml_scalar(n, &s);
	if (s.kind == SCALAR_OTHER || s.s[0] == '\0')
		return fail(yp->detail, yp->cap, LZ_EINVAL, "%s: %s must be a non-empty string, found %s",
			    ywhere(yp, n, where, sizeof(where)), what, s.kind == SCALAR_OTHER ? s.what : "an empty one");
	*out = s.s;
	return LZ_OK;
}

/* The `name` of an item of a list of mappings. */
static lz_err yname(struct yparse *yp, const yaml_node_t *item, const char *what, const char **out)
{
	const yaml_node_t *name;
	char where[WHERE_LEN], which[800];
	lz_err err;

	err = ytype(yp, item, YAML_MAPPING_NODE, what);
	if (err == LZ_OK)
		err = ykeys_check(yp, item, what);
	if (err != LZ_OK)
		return err;
	name = yget(yp, item, "name");
	if (name == NULL)
		return fail(yp->detail, yp->cap, LZ_EINVAL, "%s: %s: an item has no 'name'",
			    ywhere(yp, item, where, sizeof(where)), what);
	snprintf(which, sizeof(which), "the name in %s", what);
	return ystring(yp, name, which, out);
}

static lz_err yaml_correlation(struct yparse *yp, const yaml_node_t *m, struct correlation_filter *f, const char *what)
{
	static const char accepted[] = "content_type, correlation_id, label, message_id, reply_to, "
				       "reply_to_session_id, session_id, to, properties";
	char where[WHERE_LEN], why[WHY_LEN];
	struct scalar s;
	lz_err err;

	err = ytype(yp, m, YAML_MAPPING_NODE, "correlation_filter");
	if (err == LZ_OK)
		err = ykeys_check(yp, m, what);
	if (err != LZ_OK)
		return err;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = ynode(yp, p->key), *v = ynode(yp, p->value);
		size_t i;

		if (strcmp(ystr(k), "properties") == 0) {
			err = ytype(yp, v, YAML_MAPPING_NODE, "correlation_filter: properties");
			if (err == LZ_OK)
				err = ykeys_check(yp, v, what);
			for (yaml_node_pair_t *q = v->data.mapping.pairs.start; err == LZ_OK && q < v->data.mapping.pairs.top;
			     q++) {
				const yaml_node_t *uk = ynode(yp, q->key), *uv = ynode(yp, q->value);

				yaml_scalar(uv, &s);
				err = corr_prop_add(f, ystr(uk), &s, why, sizeof(why));
				if (err == LZ_EINVAL)
					err = fail(yp->detail, yp->cap, err,
						   "%s: %s: correlation_filter: user property '%.100s': %s",
						   ywhere(yp, uv, where, sizeof(where)), what, ystr(uk), why);
			}
			if (err != LZ_OK)
				return err;
			continue;
		}
		for (i = 0; i < NCORR; i++) {
			if (strcmp(corr_fields[i].yaml, ystr(k)) == 0)
				break;
		}
		if (i == NCORR)
			return yunknown(yp, k, what, accepted);
		yaml_scalar(v, &s);
		/* A plain `label: 42` means the text "42": correlation fields are strings. */
		if (s.kind == SCALAR_INT || s.kind == SCALAR_DOUBLE || s.kind == SCALAR_BOOL)
			s.kind = SCALAR_STRING;
		err = corr_set(&corr_fields[i], &s, f, why, sizeof(why));
		if (err == LZ_EINVAL)
			return fail(yp->detail, yp->cap, err, "%s: %s: correlation_filter: property '%s': %s",
				    ywhere(yp, v, where, sizeof(where)), what, corr_fields[i].yaml, why);
		if (err != LZ_OK)
			return err;
	}
	return LZ_OK;
}

static lz_err yaml_rule(struct yparse *yp, const yaml_node_t *item, struct provision_entity *sub)
{
	static const char accepted[] = "name, sql_filter, correlation_filter, action";
	const yaml_node_t *sql, *corr, *action;
	const char *name, *text;
	struct rule_desc r;
	struct lz_detail why;
	char label[600], what[800], where[WHERE_LEN];
	lz_err err;

	snprintf(what, sizeof(what), "the rules of %s", entity_label(sub, label, sizeof(label)));
	err = yname(yp, item, what, &name);
	if (err != LZ_OK)
		return err;
	err = rule_begin(&r, name);
	if (err != LZ_OK)
		return err;
	snprintf(what, sizeof(what), "rule '%s' of %s", name, label);
	ywhere(yp, item, where, sizeof(where));
	for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top; p++) {
		const char *k = ystr(ynode(yp, p->key));

		if (strcmp(k, "name") != 0 && strcmp(k, "sql_filter") != 0 && strcmp(k, "correlation_filter") != 0 &&
		    strcmp(k, "action") != 0) {
			err = yunknown(yp, ynode(yp, p->key), what, accepted);
			goto out_release;
		}
	}
	sql = yget(yp, item, "sql_filter");
	corr = yget(yp, item, "correlation_filter");
	action = yget(yp, item, "action");
	if ((sql == NULL) == (corr == NULL)) {
		err = fail(yp->detail, yp->cap, LZ_EINVAL, "%s: %s: give exactly one of sql_filter and correlation_filter",
			   where, what);
		goto out_release;
	}
	if (sql != NULL) {
		r.filter_type = FILTER_SQL;
		err = ystring(yp, sql, "sql_filter", &text);
		if (err == LZ_OK)
			err = model_strdup(&r.sql_expression, text);
	} else {
		r.filter_type = FILTER_CORRELATION;
		err = yaml_correlation(yp, corr, &r.corr, what);
	}
	if (err == LZ_OK && action != NULL) {
		r.action_type = ACTION_SQL;
		err = ystring(yp, action, "action", &text);
		if (err == LZ_OK)
			err = model_strdup(&r.action_sql, text);
	}
	if (err != LZ_OK)
		goto out_release;
	if (entity_subname_validate(name, true, &why) != LZ_OK || rule_desc_validate(&r, &why) != LZ_OK) {
		err = fail(yp->detail, yp->cap, LZ_EINVAL, "%s: %s: %s", where, what, why.text);
		goto out_release;
	}
	for (size_t i = 0; i < sub->n_rules; i++) {
		if (strcasecmp(sub->rules[i].desc.name, name) == 0) {
			err = fail(yp->detail, yp->cap, LZ_EINVAL, "%s: %s is declared twice: first at %s", where, what,
				   sub->rules[i].where);
			goto out_release;
		}
	}
	err = entity_add_rule(sub, &r, where);
out_release:
	rule_desc_release(&r);
	return err;
}

static lz_err yaml_entity(struct yparse *yp, const yaml_node_t *item, enum entity_kind kind, const char *topic,
			  const char *what);

/* The items of list `list` (a topic's subscriptions, a subscription's rules, ...). */
static lz_err yaml_list(struct yparse *yp, const yaml_node_t *list, const char *what, struct provision_entity *sub,
			enum entity_kind kind, const char *topic)
{
	lz_err err = ytype(yp, list, YAML_SEQUENCE_NODE, what);

	for (yaml_node_item_t *it = list->data.sequence.items.start; err == LZ_OK && it < list->data.sequence.items.top;
	     it++)
		err = sub != NULL ? yaml_rule(yp, ynode(yp, *it), sub) : yaml_entity(yp, ynode(yp, *it), kind, topic, what);
	return err;
}

static lz_err yaml_entity(struct yparse *yp, const yaml_node_t *item, enum entity_kind kind, const char *topic,
			  const char *what)
{
	const char *extra = kind == ENTITY_TOPIC ? "subscriptions" : kind == ENTITY_SUBSCRIPTION ? "rules" : NULL;
	const yaml_node_t *sublist = NULL;
	struct provision_entity e;
	const char *name;
	char where[WHERE_LEN], label[600], accepted[600], why[WHY_LEN], lead[32];
	lz_err err;

	err = yname(yp, item, what, &name);
	if (err != LZ_OK)
		return err;
	err = entity_begin(&e, kind, name, topic, ywhere(yp, item, where, sizeof(where)), PROVISION_YAML, yp->detail,
			   yp->cap);
	if (err != LZ_OK)
		return err;
	entity_label(&e, label, sizeof(label));
	snprintf(lead, sizeof(lead), "name, %s%s", extra != NULL ? extra : "", extra != NULL ? ", " : "");
	for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = ynode(yp, p->key), *v = ynode(yp, p->value);
		const struct prop_spec *spec;
		struct scalar s;

		if (strcmp(ystr(k), "name") == 0)
			continue;
		if (extra != NULL && strcmp(ystr(k), extra) == 0) {
			sublist = v;
			continue;
		}
		spec = prop_find(kind, ystr(k), PROVISION_YAML);
		if (spec == NULL) {
			err = yunknown(yp, k, label, prop_list(kind, PROVISION_YAML, lead, accepted, sizeof(accepted)));
			goto out_release;
		}
		yaml_scalar(v, &s);
		err = prop_set(spec, &s, &e.desc, why, sizeof(why));
		if (err == LZ_EINVAL)
			err = fail(yp->detail, yp->cap, err, "%s: %s: property '%s': %s", ywhere(yp, v, where, sizeof(where)),
				   label, spec->yaml, why);
		if (err != LZ_OK)
			goto out_release;
	}
	if (kind == ENTITY_SUBSCRIPTION && sublist != NULL) {
		err = yaml_list(yp, sublist, "rules", &e, 0, NULL);
		if (err != LZ_OK)
			goto out_release;
	}
	err = list_add(yp->l, &e, yp->detail, yp->cap);
	if (err != LZ_OK)
		goto out_release;
	if (kind == ENTITY_TOPIC && sublist != NULL) {
		snprintf(label, sizeof(label), "the subscriptions of topic '%s'", name);
		return yaml_list(yp, sublist, label, NULL, ENTITY_SUBSCRIPTION, name);
	}
	return LZ_OK;

out_release:
	entity_release(&e);
	return err;
}

/* The value of `entities` in the root mapping. */
static lz_err yaml_section(struct yparse *yp, const yaml_node_t *section)
{
	char where[WHERE_LEN];
	lz_err err;

	if (yis_null(section))
		return fail(yp->detail, yp->cap, LZ_EINVAL,
			    "%s: entities has no value: give queues and topics, or remove the line",
			    ywhere(yp, section, where, sizeof(where)));
	err = ytype(yp, section, YAML_MAPPING_NODE, "entities");
	if (err == LZ_OK)
		err = ykeys_check(yp, section, "entities");
	for (yaml_node_pair_t *p = section->data.mapping.pairs.start; err == LZ_OK && p < section->data.mapping.pairs.top;
	     p++) {
		const yaml_node_t *k = ynode(yp, p->key), *v = ynode(yp, p->value);

		if (strcmp(ystr(k), "queues") == 0)
			err = yaml_list(yp, v, "queues", NULL, ENTITY_QUEUE, NULL);
		else if (strcmp(ystr(k), "topics") == 0)
			err = yaml_list(yp, v, "topics", NULL, ENTITY_TOPIC, NULL);
		else
			err = yunknown(yp, k, "entities", "queues, topics");
	}
	return err;
}

lz_err provision_parse_yaml(const char *path, struct provision_list *l, char *detail, size_t detail_cap)
{
	struct yparse yp = { path, NULL, l, detail, detail_cap };
	size_t n0 = l->n;
	yaml_parser_t parser;
	yaml_document_t doc;
	const yaml_node_t *root;
	FILE *f;
	lz_err err = LZ_OK;

	f = fopen(path, "rb");
	if (f == NULL)
		return fail(detail, detail_cap, LZ_ESYS, "%s: cannot open: %s", path, strerror(errno));
	if (!yaml_parser_initialize(&parser)) {
		err = LZ_ENOMEM;
		goto out_close_file;
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		err = parser.error == YAML_MEMORY_ERROR
			      ? LZ_ENOMEM
			      : fail(detail, detail_cap, LZ_EPARSE, "%s:%zu:%zu: YAML syntax error: %s", path,
				     parser.problem_mark.line + 1, parser.problem_mark.column + 1,
				     parser.problem != NULL ? parser.problem : "invalid YAML");
		goto out_delete_parser;
	}
	yp.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	/* The settings loader has checked the file's shape; only the entities section is read here. */
	if (root != NULL && root->type == YAML_MAPPING_NODE) {
		err = ykeys_check(&yp, root, "the settings file");
		if (err == LZ_OK && yget(&yp, root, "entities") != NULL)
			err = yaml_section(&yp, yget(&yp, root, "entities"));
	}
	yaml_document_delete(&doc);
	if (err != LZ_OK)
		list_truncate(l, n0);
out_delete_parser:
	yaml_parser_delete(&parser);
out_close_file:
	fclose(f);
	return err;
}

/* ---- applying ----------------------------------------------------------------------------- */

enum apply_state {
	APPLY_NEW,      /* to be created */
	APPLY_EXISTS,   /* in the core already: kept */
	APPLY_CREATED,
	APPLY_DEFERRED, /* created without its forwarding (a cycle); updated with it at the end */
};

struct apply {
	core *c;
	const struct provision_list *l;
	enum apply_state *state;
	size_t created;
	char *detail;
	size_t cap;
};

/* The name of the forwarding property `off` of `e`, in its format's spelling. */
static const char *forward_prop(const struct provision_entity *e, size_t off)
{
	for (size_t i = 0; i < NPROPS; i++) {
		if (props[i].off == off)
			return prop_name(&props[i], e->format);
	}
	return "?";
}

static bool core_has(core *c, const char *path, enum entity_kind *kind)
{
	struct entity_info info;

	if (core_entity_get(c, path, &info, NULL) != LZ_OK)
		return false;
	if (kind != NULL)
		*kind = info.desc.kind;
	entity_info_release(&info);
	return true;
}

/* Checks a forwarding target of new entity `e` before anything is created: a declared or
 * existing queue or topic, not `e` itself. */
static lz_err apply_check_forward(struct apply *a, const struct provision_entity *e, size_t off)
{
	const char *target = *(char *const *)(const void *)((const char *)&e->desc + off);
	const struct provision_entity *decl;
	enum entity_kind kind;
	char label[600];

	if (target == NULL)
		return LZ_OK;
	if (strcasecmp(target, e->path) == 0)
		return fail(a->detail, a->cap, LZ_EINVAL, "%s: %s: property '%s': an entity cannot forward to itself",
			    e->where, entity_label(e, label, sizeof(label)), forward_prop(e, off));
	decl = list_find(a->l, target);
	if (decl != NULL ? decl->desc.kind != ENTITY_SUBSCRIPTION
			 : core_has(a->c, target, &kind) && kind != ENTITY_SUBSCRIPTION)
		return LZ_OK;
	return fail(a->detail, a->cap, LZ_EINVAL,
		    "%s: %s: property '%s': the destination '%s' is neither declared nor an existing queue or topic",
		    e->where, entity_label(e, label, sizeof(label)), forward_prop(e, off), target);
}

/* Finds what exists already and checks every forwarding target. Creates nothing. */
static lz_err apply_check(struct apply *a)
{
	char label[600];
	lz_err err;

	for (size_t i = 0; i < a->l->n; i++) {
		const struct provision_entity *e = &a->l->items[i];
		enum entity_kind kind;

		if (!core_has(a->c, e->path, &kind)) {
			a->state[i] = APPLY_NEW;
			continue;
		}
		if (kind != e->desc.kind)
			return fail(a->detail, a->cap, LZ_EINVAL,
				    "%s: %s: a %s of that name exists already; rename one of them", e->where,
				    entity_label(e, label, sizeof(label)), kind_word(kind));
		a->state[i] = APPLY_EXISTS;
	}
	for (size_t i = 0; i < a->l->n; i++) {
		const struct provision_entity *e = &a->l->items[i];

		if (a->state[i] != APPLY_NEW || e->desc.kind == ENTITY_TOPIC)
			continue;
		err = apply_check_forward(a, e, offsetof(struct entity_desc, forward_to));
		if (err == LZ_OK)
			err = apply_check_forward(a, e, offsetof(struct entity_desc, forward_dlq_to));
		if (err != LZ_OK)
			return err;
	}
	return LZ_OK;
}

/* Logs what happened to `e` or, when `rule` is not NULL, to that rule of `e`. */
static void apply_log(const struct provision_entity *e, const struct provision_rule *rule, const char *msg)
{
	if (rule != NULL)
		LZ_LOG(LOG_INFO, msg, "kind=rule path=\"%s\" rule=\"%s\" declared=\"%s\"", e->path, rule->desc.name,
		       rule->where);
	else
		LZ_LOG(LOG_INFO, msg, "kind=%s path=\"%s\" declared=\"%s\"", kind_word(e->desc.kind), e->path, e->where);
}

/* Puts `desc` at e->path (create, or update when `update`) and records the outcome. */
static lz_err apply_put(struct apply *a, const struct provision_entity *e, const struct entity_desc *desc,
			const struct rule_desc *first_rule, bool update)
{
	struct lz_detail why;
	char label[600];
	lz_err err;

	err = core_entity_put(a->c, e->path, desc, update, first_rule, NULL, &why);
	if (err != LZ_OK)
		return fail(a->detail, a->cap, err, "%s: %s: the broker refused to create it: %s", e->where,
			    entity_label(e, label, sizeof(label)), why.text);
	if (!update) {
		a->created++;
		apply_log(e, NULL, "created");
	}
	return LZ_OK;
}

static bool forward_ready(core *c, const char *target)
{
	return target == NULL || core_has(c, target, NULL);
}

/* Creates the new queues, each after the queues it forwards to; breaks forwarding cycles. */
static lz_err apply_queues(struct apply *a)
{
	size_t pending = 0;
	lz_err err;

	for (size_t i = 0; i < a->l->n; i++)
		pending += a->l->items[i].desc.kind == ENTITY_QUEUE && a->state[i] == APPLY_NEW;
	while (pending > 0) {
		bool progress = false;
		size_t first = a->l->n;

		for (size_t i = 0; i < a->l->n; i++) {
			const struct provision_entity *e = &a->l->items[i];

			if (e->desc.kind != ENTITY_QUEUE || a->state[i] != APPLY_NEW)
				continue;
			if (!forward_ready(a->c, e->desc.forward_to) || !forward_ready(a->c, e->desc.forward_dlq_to)) {
				if (first == a->l->n)
					first = i;
				continue;
			}
			err = apply_put(a, e, &e->desc, NULL, false);
			if (err != LZ_OK)
				return err;
			a->state[i] = APPLY_CREATED;
			pending--;
			progress = true;
		}
		if (!progress) {
			/* Every pending queue waits for another: a cycle. The first one is created
			 * without forwarding, which lets the others go; it gets it at the end. */
			struct entity_desc bare = a->l->items[first].desc;

			bare.forward_to = NULL;
			bare.forward_dlq_to = NULL;
			err = apply_put(a, &a->l->items[first], &bare, NULL, false);
			if (err != LZ_OK)
				return err;
			a->state[first] = APPLY_DEFERRED;
			pending--;
		}
	}
	for (size_t i = 0; i < a->l->n; i++) {
		if (a->state[i] != APPLY_DEFERRED)
			continue;
		err = apply_put(a, &a->l->items[i], &a->l->items[i].desc, NULL, true);
		if (err != LZ_OK)
			return err;
	}
	return LZ_OK;
}

/* The declared rules of subscription `e`: a new subscription got rules[0] when it was created. */
static lz_err apply_rules(struct apply *a, const struct provision_entity *e, bool sub_created)
{
	struct lz_detail why;
	struct rule_desc have;
	char label[600];
	lz_err err;

	if (sub_created && e->n_rules > 0) {
		a->created++;
		apply_log(e, &e->rules[0], "created");
	}
	for (size_t j = sub_created ? 1 : 0; j < e->n_rules; j++) {
		const struct provision_rule *r = &e->rules[j];

		err = core_rule_get(a->c, e->path, r->desc.name, &have, NULL);
		if (err == LZ_OK) {
			rule_desc_release(&have);
			apply_log(e, r, "exists, kept");
			continue;
		}
		err = core_rule_put(a->c, e->path, &r->desc, false, NULL, &why);
		if (err != LZ_OK)
			return fail(a->detail, a->cap, err, "%s: rule '%s' of %s: the broker refused to create it: %s",
				    r->where, r->desc.name, entity_label(e, label, sizeof(label)), why.text);
		a->created++;
		apply_log(e, r, "created");
	}
	return LZ_OK;
}

lz_err provision_apply(core *c, const struct provision_list *l, size_t *created, char *detail, size_t detail_cap)
{
	struct apply a = { c, l, NULL, 0, detail, detail_cap };
	lz_err err;

	if (created != NULL)
		*created = 0;
	if (l->n == 0)
		return LZ_OK;
	a.state = calloc(l->n, sizeof(*a.state));
	if (a.state == NULL)
		return LZ_ENOMEM;
	err = apply_check(&a);
	if (err != LZ_OK)
		goto out_free_state;
	for (size_t i = 0; i < l->n; i++) {
		if (l->items[i].desc.kind != ENTITY_TOPIC)
			continue;
		if (a.state[i] == APPLY_EXISTS)
			apply_log(&l->items[i], NULL, "exists, kept");
		else if ((err = apply_put(&a, &l->items[i], &l->items[i].desc, NULL, false)) != LZ_OK)
			goto out_free_state;
	}
	err = apply_queues(&a);
	if (err != LZ_OK)
		goto out_free_state;
	for (size_t i = 0; i < l->n; i++) {
		const struct provision_entity *e = &l->items[i];

		if (e->desc.kind == ENTITY_QUEUE && a.state[i] == APPLY_EXISTS)
			apply_log(e, NULL, "exists, kept");
		if (e->desc.kind != ENTITY_SUBSCRIPTION)
			continue;
		if (a.state[i] == APPLY_EXISTS) {
			apply_log(e, NULL, "exists, kept");
		} else {
			err = apply_put(&a, e, &e->desc, e->n_rules > 0 ? &e->rules[0].desc : NULL, false);
			if (err != LZ_OK)
				goto out_free_state;
		}
		err = apply_rules(&a, e, a.state[i] != APPLY_EXISTS);
		if (err != LZ_OK)
			goto out_free_state;
	}
	if (created != NULL)
		*created = a.created;
out_free_state:
	free(a.state);
	return err;
}
