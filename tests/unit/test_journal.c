/* Unit tests for proto/journal: round trips of every record type with every field set, the pinned
 * byte form of a small record, every class of malformed payload (empty, truncated at each byte,
 * wrong version, trailing bytes, wrong types, out-of-range enums, caps, hostile lengths), encoder
 * refusals, and a deterministic mutation loop that must never crash, leak or misreport. */
#include <check.h>
#include <math.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/strbuf.h"
#include "common/value.h"
#include "proto/journal.h"
#include "proto/model.h"

#define ck_assert_err(expr, want)                                                          \
	do {                                                                               \
		lz_err got_ = (expr);                                                      \
		ck_assert_msg(got_ == (want), "%s: got %s, want %s", #expr, err_name(got_), \
			      err_name(want));                                             \
	} while (0)

/* The caps of the format (see proto/journal.c). */
#define MAX_STR (64u * 1024u)
#define MAX_BODY (16u * 1024u * 1024u)
#define MAX_PROPS 4096u
#define MAX_ITEMS 65536u

#define DETAIL_CAP 256
#define VARIANTS 2 /* 0: every field set; 1: NULL strings, empty lists, extreme numbers */
#define END_PATH (-1)

static const enum journal_type all_types[] = {
	JREC_ENTITY_PUT,   JREC_ENTITY_DELETE, JREC_RULE_PUT,     JREC_RULE_DELETE,
	JREC_MSG_ENQUEUE,  JREC_MSG_DELIVER,   JREC_MSG_REMOVE,   JREC_MSG_MOVE,
	JREC_MSG_DEFER,    JREC_ENTITY_TOUCH,  JREC_LOAD_ENTITY,  JREC_LOAD_MESSAGE,
};

#define TYPE_COUNT (sizeof all_types / sizeof all_types[0])

/* A small deterministic generator so failures reproduce. */
static uint64_t lcg_next(uint64_t *x)
{
	*x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
	return *x >> 11;
}

static char *dup(const char *s)
{
	char *p = strdup(s);

	ck_assert_ptr_nonnull(p);
	return p;
}

static void prop_put(struct proplist *l, const char *name, struct value v)
{
	ck_assert_err(proplist_set(l, name, &v), LZ_OK);
}

/* Every value type, including the doubles that == cannot compare and an empty name. */
static void props_fill_all(struct proplist *l)
{
	prop_put(l, "null", (struct value){ .type = VALUE_NULL });
	prop_put(l, "str", (struct value){ .type = VALUE_STRING, .u.s = "va\"lue \xe2\x9c\x93" });
	prop_put(l, "empty_str", (struct value){ .type = VALUE_STRING, .u.s = "" });
	prop_put(l, "int", (struct value){ .type = VALUE_INT, .u.i = -7 });
	prop_put(l, "long", (struct value){ .type = VALUE_LONG, .u.i = INT64_MIN });
	prop_put(l, "long_max", (struct value){ .type = VALUE_LONG, .u.i = INT64_MAX });
	prop_put(l, "bool_t", (struct value){ .type = VALUE_BOOL, .u.b = true });
	prop_put(l, "bool_f", (struct value){ .type = VALUE_BOOL, .u.b = false });
	prop_put(l, "double", (struct value){ .type = VALUE_DOUBLE, .u.d = -0.125 });
	prop_put(l, "nan", (struct value){ .type = VALUE_DOUBLE, .u.d = NAN });
	prop_put(l, "neg_zero", (struct value){ .type = VALUE_DOUBLE, .u.d = -0.0 });
	prop_put(l, "inf", (struct value){ .type = VALUE_DOUBLE, .u.d = INFINITY });
	prop_put(l, "date", (struct value){ .type = VALUE_DATETIME, .u.i = 1709208000123 });
	prop_put(l, "dur", (struct value){ .type = VALUE_DURATION, .u.i = INT64_MAX });
	prop_put(l, "", (struct value){ .type = VALUE_INT, .u.i = 1 });
}

static void desc_fill(struct entity_desc *d, int variant)
{
	if (variant == 1) {
		d->kind = ENTITY_QUEUE;
		d->lock_duration_ms = 0;
		d->max_size_mb = INT64_MIN;
		d->max_delivery_count = INT32_MIN;
		d->status = STATUS_ACTIVE;
		d->default_ttl_ms = -1;
		return;
	}
	d->kind = ENTITY_SUBSCRIPTION;
	d->lock_duration_ms = 45000;
	d->max_size_mb = 5120;
	d->requires_duplicate_detection = true;
	d->requires_session = true;
	d->default_ttl_ms = INT64_MAX;
	d->dead_lettering_on_expiration = true;
	d->dead_lettering_on_filter_exceptions = true;
	d->dup_window_ms = 600000;
	d->max_delivery_count = INT32_MAX;
	d->enable_batched_operations = false;
	d->is_anonymous_accessible = true;
	d->support_ordering = false;
	d->filtering_before_publishing = true;
	d->status = STATUS_RECEIVE_DISABLED;
	d->auto_delete_on_idle_ms = 3600000;
	d->enable_partitioning = true;
	d->enable_subscription_partitioning = true;
	d->enable_express = true;
	d->max_message_size_kb = 102400;
	d->forward_to = dup("queue-b");
	d->forward_dlq_to = dup("queue-dlq");
	d->user_metadata = dup("meta \xe2\x9c\x93 data");
}

static void rule_fill(struct rule_desc *r, int variant)
{
	struct correlation_filter *c = &r->corr;

	if (variant == 1) {
		r->name = dup("r");
		r->filter_type = FILTER_FALSE;
		r->sql_compat_level = INT32_MIN;
		r->action_type = ACTION_EMPTY;
		r->created_at = INT64_MIN;
		return;
	}
	r->name = dup("rule-1");
	r->filter_type = FILTER_CORRELATION;
	r->sql_expression = dup("color = @c AND size > 3");
	r->sql_compat_level = 20;
	props_fill_all(&r->sql_params);
	c->correlation_id = dup("corr");
	c->message_id = dup("mid");
	c->to = dup("to");
	c->reply_to = dup("reply");
	c->label = dup("label");
	c->session_id = dup("sess");
	c->reply_to_session_id = dup("rsess");
	c->content_type = dup("application/json");
	props_fill_all(&c->properties);
	r->action_type = ACTION_SQL;
	r->action_sql = dup("SET x = 1");
	r->action_compat_level = 21;
	prop_put(&r->action_params, "@p", (struct value){ .type = VALUE_LONG, .u.i = 9 });
	r->created_at = 1709208000456;
}

static void counters_fill(struct journal_counter **c, size_t *n, size_t count)
{
	static const struct journal_counter src[] = {
		{ "topic-a", 42 },
		{ "topic-a/Subscriptions/s1", UINT64_MAX },
		{ "queue-b", 0 },
	};

	*n = count;
	*c = calloc(count, sizeof **c);
	ck_assert_ptr_nonnull(*c);
	for (size_t i = 0; i < count; i++) {
		(*c)[i].path = dup(src[i].path);
		(*c)[i].seq = src[i].seq;
	}
}

/* Place `i` of a sample: main (expiring), dead-letter (never expires, dl_* set) or scheduled
 * (never expires, an activation instant), in turn. */
static void place_fill(struct journal_place *p, size_t i)
{
	char path[48];

	snprintf(path, sizeof path, "topic-a/Subscriptions/s%zu", i);
	p->path = dup(path);
	p->where = (enum journal_where)(i % 3);
	p->seq = 1000 + i;
	p->enqueued_seq = i == 2 ? UINT64_MAX : i;
	p->enqueued_ms = 1709208000789 + (int64_t)i;
	p->ttl_ms = i == 0 ? 30000 : INT64_MAX;
	p->expires_ms = i == 0 ? p->enqueued_ms + p->ttl_ms : INT64_MAX;
	p->scheduled_ms = p->where == JWHERE_SCHEDULED ? 1709208100000 : 0;
	p->delivery_count = i == 1 ? UINT32_MAX : (uint32_t)i + 3;
	if (p->where == JWHERE_DLQ) {
		p->dl_reason = dup("MaxDeliveryCountExceeded");
		p->dl_description = dup("");
		p->dl_source = dup("queue-a");
	}
}

static void places_fill(struct journal_place **p, size_t *n, size_t count)
{
	*n = count;
	*p = calloc(count, sizeof **p);
	ck_assert_ptr_nonnull(*p);
	for (size_t i = 0; i < count; i++)
		place_fill(&(*p)[i], i);
}

/* Rule `i` of a subscription: true, false, SQL and correlation filters in turn, each with every
 * element set (the format stores them whatever filter_type says), actions alternating. */
static void rules_fill(struct rule_desc **r, size_t *n, size_t count)
{
	*n = count;
	*r = calloc(count, sizeof **r);
	ck_assert_ptr_nonnull(*r);
	for (size_t i = 0; i < count; i++) {
		char name[32];

		rule_fill(&(*r)[i], 0);
		snprintf(name, sizeof name, "rule-%zu", i);
		free((*r)[i].name);
		(*r)[i].name = dup(name);
		(*r)[i].filter_type = (enum filter_type)(i % 4);
		(*r)[i].action_type = i % 2 ? ACTION_SQL : ACTION_EMPTY;
		(*r)[i].sql_compat_level = (int32_t)i;
		(*r)[i].created_at = 1709208000000 - (int64_t)i;
	}
}

static void dups_fill(struct journal_dup **d, size_t *n, size_t count)
{
	*n = count;
	*d = calloc(count, sizeof **d);
	ck_assert_ptr_nonnull(*d);
	for (size_t i = 0; i < count; i++) {
		char id[32];

		snprintf(id, sizeof id, "msg-\xe2\x9c\x93-%zu", i);
		(*d)[i].id = dup(i == 0 ? "" : id);
		(*d)[i].ts_ms = i == 1 ? INT64_MIN : 1709208000000 + (int64_t)i;
	}
}

static void msg_fill(struct journal_msg *m, int variant)
{
	static const uint8_t body[] = { 0, 'b', 'i', 'n', 0, 'a', 'r', 'y', 0xff, 0 };
	struct msg_props *p = &m->props;

	if (variant == 1) {
		p->ttl_ms = -1;
		p->scheduled_enqueue_ms = INT64_MIN;
		return;
	}
	p->message_id = dup("msg-1");
	p->correlation_id = dup("corr-1");
	p->session_id = dup("session-1");
	p->reply_to = dup("reply-q");
	p->reply_to_session_id = dup("reply-s");
	p->to = dup("to-x");
	p->label = dup("label-x");
	p->content_type = dup("text/plain");
	p->partition_key = dup("pk");
	p->via_partition_key = dup("vpk");
	p->has_ttl = true;
	p->ttl_ms = 30000;
	p->scheduled_enqueue_ms = 1709208100000;
	p->force_persistence = true;
	props_fill_all(&m->user);
	m->body = malloc(sizeof body);
	ck_assert_ptr_nonnull(m->body);
	memcpy(m->body, body, sizeof body);
	m->body_len = sizeof body;
}

/* A record of `type` owning every pointer (release with journal_rec_release). */
static void sample_make(enum journal_type type, int variant, struct jrec *r)
{
	bool full = variant == 0;

	memset(r, 0, sizeof *r);
	r->type = type;
	switch (type) {
	case JREC_ENTITY_PUT:
		r->u.entity_put.path = dup(full ? "topic-a/Subscriptions/sub-1" : "q");
		desc_fill(&r->u.entity_put.desc, variant);
		r->u.entity_put.is_update = full;
		r->u.entity_put.created_at = full ? 1709208000123 : INT64_MIN;
		r->u.entity_put.has_rule = full;
		if (full)
			rule_fill(&r->u.entity_put.rule, 0);
		break;
	case JREC_ENTITY_DELETE:
	case JREC_ENTITY_TOUCH:
		r->u.path.path = dup(full ? "queue-\xe2\x98\x83" : "");
		break;
	case JREC_RULE_PUT:
		r->u.rule_put.sub_path = dup("topic-a/Subscriptions/sub-1");
		rule_fill(&r->u.rule_put.rule, variant);
		r->u.rule_put.is_update = full;
		break;
	case JREC_RULE_DELETE:
		r->u.rule_delete.sub_path = dup(full ? "t/Subscriptions/s" : "");
		r->u.rule_delete.name = dup(full ? "rule-1" : "");
		break;
	case JREC_MSG_ENQUEUE:
		r->u.enqueue.target = dup("topic-a");
		msg_fill(&r->u.enqueue.msg, variant);
		if (full) {
			counters_fill(&r->u.enqueue.counters, &r->u.enqueue.ncounters, 3);
			places_fill(&r->u.enqueue.places, &r->u.enqueue.nplaces, 3);
		}
		break;
	case JREC_MSG_DELIVER:
	case JREC_MSG_REMOVE:
	case JREC_MSG_DEFER:
		r->u.msg_ref.path = dup("queue-a");
		r->u.msg_ref.where = full ? JWHERE_DLQ : JWHERE_MAIN;
		r->u.msg_ref.seq = full ? UINT64_MAX : 0;
		if (type == JREC_MSG_REMOVE)
			r->u.msg_ref.reason = full ? JREMOVE_CANCEL : JREMOVE_COMPLETE;
		break;
	case JREC_MSG_MOVE:
		r->u.move.path = dup("queue-a");
		r->u.move.where = full ? JWHERE_SCHEDULED : JWHERE_MAIN;
		r->u.move.seq = full ? 77 : 0;
		if (full) {
			counters_fill(&r->u.move.counters, &r->u.move.ncounters, 2);
			places_fill(&r->u.move.places, &r->u.move.nplaces, 3);
		}
		break;
	case JREC_LOAD_ENTITY: {
		struct jrec_load_entity *l = &r->u.load_entity;

		l->path = dup(full ? "topic-a/Subscriptions/sub-1" : "");
		desc_fill(&l->desc, variant);
		l->created_at = full ? 1709208000123 : INT64_MIN;
		l->updated_at = full ? 1709208000456 : INT64_MAX;
		l->accessed_at = full ? 1709208000789 : 0;
		l->last_seq = full ? UINT64_MAX : 0;
		if (full) {
			rules_fill(&l->rules, &l->nrules, 6);
			dups_fill(&l->dups, &l->ndups, 4);
		}
		break;
	}
	case JREC_LOAD_MESSAGE: {
		struct journal_place *p = &r->u.load_message.place;

		msg_fill(&r->u.load_message.msg, variant);
		r->u.load_message.deferred = full;
		if (full) {
			place_fill(p, 0);
			break;
		}
		/* The dead-letter queue, extreme numbers, dl_* NULL as journal.h says. */
		p->path = dup("");
		p->where = JWHERE_DLQ;
		p->enqueued_ms = INT64_MIN;
		p->ttl_ms = -1;
		p->expires_ms = INT64_MAX;
		p->scheduled_ms = INT64_MIN;
		break;
	}
	}
}

/* The encoding of a sample, in `out` (initialised here). */
static void sample_encode(enum journal_type type, int variant, struct strbuf *out)
{
	struct jrec r;

	strbuf_init(out);
	sample_make(type, variant, &r);
	ck_assert_err(journal_encode(&r, out), LZ_OK);
	journal_rec_release(&r);
}

/* ---- field-by-field comparison ---------------------------------------------------------- */

static void value_assert_eq(const struct value *a, const struct value *b, const char *name)
{
	ck_assert_msg(a->type == b->type, "%s: type %d != %d", name, a->type, b->type);
	switch (a->type) {
	case VALUE_NULL:
		break;
	case VALUE_STRING:
		ck_assert_str_eq(a->u.s, b->u.s);
		break;
	case VALUE_BOOL:
		ck_assert_int_eq(a->u.b, b->u.b);
		break;
	case VALUE_DOUBLE: /* bit for bit: NaN and -0.0 must survive */
		ck_assert_msg(memcmp(&a->u.d, &b->u.d, sizeof a->u.d) == 0, "%s: double bits",
			      name);
		break;
	case VALUE_INT:
	case VALUE_LONG:
	case VALUE_DATETIME:
	case VALUE_DURATION:
		ck_assert_msg(a->u.i == b->u.i, "%s: %lld != %lld", name, (long long)a->u.i,
			      (long long)b->u.i);
		break;
	}
}

static void props_assert_eq(const struct proplist *a, const struct proplist *b)
{
	ck_assert_uint_eq(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		ck_assert_str_eq(a->items[i].name, b->items[i].name);
		value_assert_eq(&a->items[i].v, &b->items[i].v, a->items[i].name);
	}
}

static void desc_assert_eq(const struct entity_desc *a, const struct entity_desc *b)
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
	ck_assert_pstr_eq(a->forward_to, b->forward_to);
	ck_assert_pstr_eq(a->forward_dlq_to, b->forward_dlq_to);
	ck_assert_pstr_eq(a->user_metadata, b->user_metadata);
}

static void rule_assert_eq(const struct rule_desc *a, const struct rule_desc *b)
{
	ck_assert_pstr_eq(a->name, b->name);
	ck_assert_int_eq(a->filter_type, b->filter_type);
	ck_assert_pstr_eq(a->sql_expression, b->sql_expression);
	ck_assert_int_eq(a->sql_compat_level, b->sql_compat_level);
	props_assert_eq(&a->sql_params, &b->sql_params);
	ck_assert_pstr_eq(a->corr.correlation_id, b->corr.correlation_id);
	ck_assert_pstr_eq(a->corr.message_id, b->corr.message_id);
	ck_assert_pstr_eq(a->corr.to, b->corr.to);
	ck_assert_pstr_eq(a->corr.reply_to, b->corr.reply_to);
	ck_assert_pstr_eq(a->corr.label, b->corr.label);
	ck_assert_pstr_eq(a->corr.session_id, b->corr.session_id);
	ck_assert_pstr_eq(a->corr.reply_to_session_id, b->corr.reply_to_session_id);
	ck_assert_pstr_eq(a->corr.content_type, b->corr.content_type);
	props_assert_eq(&a->corr.properties, &b->corr.properties);
	ck_assert_int_eq(a->action_type, b->action_type);
	ck_assert_pstr_eq(a->action_sql, b->action_sql);
	ck_assert_int_eq(a->action_compat_level, b->action_compat_level);
	props_assert_eq(&a->action_params, &b->action_params);
	ck_assert_int_eq(a->created_at, b->created_at);
}

static void msg_assert_eq(const struct journal_msg *a, const struct journal_msg *b)
{
	ck_assert_pstr_eq(a->props.message_id, b->props.message_id);
	ck_assert_pstr_eq(a->props.correlation_id, b->props.correlation_id);
	ck_assert_pstr_eq(a->props.session_id, b->props.session_id);
	ck_assert_pstr_eq(a->props.reply_to, b->props.reply_to);
	ck_assert_pstr_eq(a->props.reply_to_session_id, b->props.reply_to_session_id);
	ck_assert_pstr_eq(a->props.to, b->props.to);
	ck_assert_pstr_eq(a->props.label, b->props.label);
	ck_assert_pstr_eq(a->props.content_type, b->props.content_type);
	ck_assert_pstr_eq(a->props.partition_key, b->props.partition_key);
	ck_assert_pstr_eq(a->props.via_partition_key, b->props.via_partition_key);
	ck_assert_int_eq(a->props.has_ttl, b->props.has_ttl);
	ck_assert_int_eq(a->props.ttl_ms, b->props.ttl_ms);
	ck_assert_int_eq(a->props.scheduled_enqueue_ms, b->props.scheduled_enqueue_ms);
	ck_assert_int_eq(a->props.force_persistence, b->props.force_persistence);
	props_assert_eq(&a->user, &b->user);
	ck_assert_uint_eq(a->body_len, b->body_len);
	if (a->body_len)
		ck_assert_mem_eq(a->body, b->body, a->body_len);
}

static void counters_assert_eq(const struct journal_counter *a, size_t na,
			       const struct journal_counter *b, size_t nb)
{
	ck_assert_uint_eq(na, nb);
	for (size_t i = 0; i < na; i++) {
		ck_assert_str_eq(a[i].path, b[i].path);
		ck_assert_uint_eq(a[i].seq, b[i].seq);
	}
}

static void place_assert_eq(const struct journal_place *a, const struct journal_place *b)
{
	ck_assert_str_eq(a->path, b->path);
	ck_assert_int_eq(a->where, b->where);
	ck_assert_uint_eq(a->seq, b->seq);
	ck_assert_uint_eq(a->enqueued_seq, b->enqueued_seq);
	ck_assert_int_eq(a->enqueued_ms, b->enqueued_ms);
	ck_assert_int_eq(a->ttl_ms, b->ttl_ms);
	ck_assert_int_eq(a->expires_ms, b->expires_ms);
	ck_assert_int_eq(a->scheduled_ms, b->scheduled_ms);
	ck_assert_uint_eq(a->delivery_count, b->delivery_count);
	ck_assert_pstr_eq(a->dl_reason, b->dl_reason);
	ck_assert_pstr_eq(a->dl_description, b->dl_description);
	ck_assert_pstr_eq(a->dl_source, b->dl_source);
}

static void places_assert_eq(const struct journal_place *a, size_t na,
			     const struct journal_place *b, size_t nb)
{
	ck_assert_uint_eq(na, nb);
	for (size_t i = 0; i < na; i++)
		place_assert_eq(&a[i], &b[i]);
}

static void load_entity_assert_eq(const struct jrec_load_entity *a,
				  const struct jrec_load_entity *b)
{
	ck_assert_str_eq(a->path, b->path);
	desc_assert_eq(&a->desc, &b->desc);
	ck_assert_int_eq(a->created_at, b->created_at);
	ck_assert_int_eq(a->updated_at, b->updated_at);
	ck_assert_int_eq(a->accessed_at, b->accessed_at);
	ck_assert_uint_eq(a->last_seq, b->last_seq);
	ck_assert_uint_eq(a->nrules, b->nrules);
	for (size_t i = 0; i < a->nrules; i++)
		rule_assert_eq(&a->rules[i], &b->rules[i]);
	ck_assert_uint_eq(a->ndups, b->ndups);
	for (size_t i = 0; i < a->ndups; i++) {
		ck_assert_str_eq(a->dups[i].id, b->dups[i].id);
		ck_assert_int_eq(a->dups[i].ts_ms, b->dups[i].ts_ms);
	}
}

static void rec_assert_eq(const struct jrec *a, const struct jrec *b)
{
	ck_assert_int_eq(a->type, b->type);
	switch (a->type) {
	case JREC_ENTITY_PUT:
		ck_assert_str_eq(a->u.entity_put.path, b->u.entity_put.path);
		desc_assert_eq(&a->u.entity_put.desc, &b->u.entity_put.desc);
		ck_assert_int_eq(a->u.entity_put.is_update, b->u.entity_put.is_update);
		ck_assert_int_eq(a->u.entity_put.created_at, b->u.entity_put.created_at);
		ck_assert_int_eq(a->u.entity_put.has_rule, b->u.entity_put.has_rule);
		if (a->u.entity_put.has_rule)
			rule_assert_eq(&a->u.entity_put.rule, &b->u.entity_put.rule);
		break;
	case JREC_ENTITY_DELETE:
	case JREC_ENTITY_TOUCH:
		ck_assert_str_eq(a->u.path.path, b->u.path.path);
		break;
	case JREC_RULE_PUT:
		ck_assert_str_eq(a->u.rule_put.sub_path, b->u.rule_put.sub_path);
		rule_assert_eq(&a->u.rule_put.rule, &b->u.rule_put.rule);
		ck_assert_int_eq(a->u.rule_put.is_update, b->u.rule_put.is_update);
		break;
	case JREC_RULE_DELETE:
		ck_assert_str_eq(a->u.rule_delete.sub_path, b->u.rule_delete.sub_path);
		ck_assert_str_eq(a->u.rule_delete.name, b->u.rule_delete.name);
		break;
	case JREC_MSG_ENQUEUE:
		ck_assert_str_eq(a->u.enqueue.target, b->u.enqueue.target);
		msg_assert_eq(&a->u.enqueue.msg, &b->u.enqueue.msg);
		counters_assert_eq(a->u.enqueue.counters, a->u.enqueue.ncounters,
				   b->u.enqueue.counters, b->u.enqueue.ncounters);
		places_assert_eq(a->u.enqueue.places, a->u.enqueue.nplaces, b->u.enqueue.places,
				 b->u.enqueue.nplaces);
		break;
	case JREC_MSG_DELIVER:
	case JREC_MSG_REMOVE:
	case JREC_MSG_DEFER:
		ck_assert_str_eq(a->u.msg_ref.path, b->u.msg_ref.path);
		ck_assert_int_eq(a->u.msg_ref.where, b->u.msg_ref.where);
		ck_assert_uint_eq(a->u.msg_ref.seq, b->u.msg_ref.seq);
		ck_assert_int_eq(a->u.msg_ref.reason, b->u.msg_ref.reason);
		break;
	case JREC_MSG_MOVE:
		ck_assert_str_eq(a->u.move.path, b->u.move.path);
		ck_assert_int_eq(a->u.move.where, b->u.move.where);
		ck_assert_uint_eq(a->u.move.seq, b->u.move.seq);
		counters_assert_eq(a->u.move.counters, a->u.move.ncounters, b->u.move.counters,
				   b->u.move.ncounters);
		places_assert_eq(a->u.move.places, a->u.move.nplaces, b->u.move.places,
				 b->u.move.nplaces);
		break;
	case JREC_LOAD_ENTITY:
		load_entity_assert_eq(&a->u.load_entity, &b->u.load_entity);
		break;
	case JREC_LOAD_MESSAGE:
		place_assert_eq(&a->u.load_message.place, &b->u.load_message.place);
		ck_assert_int_eq(a->u.load_message.deferred, b->u.load_message.deferred);
		msg_assert_eq(&a->u.load_message.msg, &b->u.load_message.msg);
		break;
	}
}

/* ---- tampering with a valid encoding ----------------------------------------------------- */

static msgpack_object mp_int(int64_t v)
{
	msgpack_object o = { .type = v < 0 ? MSGPACK_OBJECT_NEGATIVE_INTEGER
					   : MSGPACK_OBJECT_POSITIVE_INTEGER };

	if (v < 0)
		o.via.i64 = v;
	else
		o.via.u64 = (uint64_t)v;
	return o;
}

static msgpack_object mp_uint(uint64_t v)
{
	return (msgpack_object){ .type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = v };
}

static msgpack_object mp_str(const char *s, uint32_t len)
{
	return (msgpack_object){ .type = MSGPACK_OBJECT_STR, .via.str = { len, s } };
}

static msgpack_object mp_bin(const void *p, uint32_t len)
{
	return (msgpack_object){ .type = MSGPACK_OBJECT_BIN, .via.bin = { len, p } };
}

static msgpack_object mp_nil(void)
{
	return (msgpack_object){ .type = MSGPACK_OBJECT_NIL };
}

static msgpack_object mp_array(msgpack_object *items, uint32_t n)
{
	return (msgpack_object){ .type = MSGPACK_OBJECT_ARRAY, .via.array = { n, items } };
}

static int sbuffer_to_strbuf(void *data, const char *buf, size_t len)
{
	return strbuf_add(data, buf, len) == LZ_OK ? 0 : -1;
}

/* Re-encodes `valid` into `out` (initialised here) with the element at the index path (ended
 * by END_PATH) replaced by `repl`. */
static void tamper_va(const struct strbuf *valid, const msgpack_object *repl, struct strbuf *out,
		      va_list ap)
{
	msgpack_unpacked root;
	msgpack_packer pk;
	msgpack_object *o;
	size_t off = 0;
	int i;

	msgpack_unpacked_init(&root);
	ck_assert_int_eq(msgpack_unpack_next(&root, valid->data, valid->len, &off),
			 MSGPACK_UNPACK_SUCCESS);
	o = &root.data;
	while ((i = va_arg(ap, int)) != END_PATH) {
		ck_assert_int_eq(o->type, MSGPACK_OBJECT_ARRAY);
		ck_assert_uint_lt((unsigned)i, o->via.array.size);
		o = &o->via.array.ptr[i];
	}
	*o = *repl;
	strbuf_init(out);
	msgpack_packer_init(&pk, out, sbuffer_to_strbuf);
	ck_assert_int_eq(msgpack_pack_object(&pk, root.data), 0);
	msgpack_unpacked_destroy(&root);
}

/* Decodes `payload` as `type`, expecting `want` and the exact detail `want_detail` (NULL: any). */
static void decode_expect(enum journal_type type, const void *payload, size_t len, lz_err want,
			  const char *want_detail)
{
	char detail[DETAIL_CAP];
	struct jrec r;

	ck_assert_err(journal_decode(type, payload, len, &r, detail, sizeof detail), want);
	if (want != LZ_OK)
		ck_assert_msg(detail[0] != '\0', "no detail for %s", err_name(want));
	if (want_detail)
		ck_assert_str_eq(detail, want_detail);
	journal_rec_release(&r);
}

/* Encodes sample (`type`, `variant`), replaces the element at the index path (ended by END_PATH)
 * by `repl`, and expects decoding to fail with LZ_EPARSE and `want_detail` (NULL: any). */
static void tamper_expect(enum journal_type type, int variant, msgpack_object repl,
			  const char *want_detail, ...)
{
	struct strbuf valid, bad;
	va_list ap;

	sample_encode(type, variant, &valid);
	va_start(ap, want_detail);
	tamper_va(&valid, &repl, &bad, ap);
	va_end(ap);
	decode_expect(type, bad.data, bad.len, LZ_EPARSE, want_detail);
	strbuf_release(&bad);
	strbuf_release(&valid);
}

/* As tamper_expect, expecting success (a boundary value that must still be accepted). */
static void tamper_accept(enum journal_type type, int variant, msgpack_object repl, ...)
{
	struct strbuf valid, good;
	va_list ap;

	sample_encode(type, variant, &valid);
	va_start(ap, repl);
	tamper_va(&valid, &repl, &good, ap);
	va_end(ap);
	decode_expect(type, good.data, good.len, LZ_OK, NULL);
	strbuf_release(&good);
	strbuf_release(&valid);
}

/* ---- tests ------------------------------------------------------------------------------- */

START_TEST(test_type_names)
{
	ck_assert_str_eq(journal_type_name(JREC_ENTITY_PUT), "ENTITY_PUT");
	ck_assert_str_eq(journal_type_name(JREC_MSG_ENQUEUE), "MSG_ENQUEUE");
	ck_assert_str_eq(journal_type_name(JREC_ENTITY_TOUCH), "ENTITY_TOUCH");
	ck_assert_str_eq(journal_type_name(JREC_LOAD_ENTITY), "LOAD_ENTITY");
	ck_assert_str_eq(journal_type_name(JREC_LOAD_MESSAGE), "LOAD_MESSAGE");
	ck_assert_str_eq(journal_type_name((enum journal_type)0), "?");
	ck_assert_str_eq(journal_type_name((enum journal_type)13), "?");
	ck_assert_str_eq(journal_type_name((enum journal_type)-1), "?");
}
END_TEST

/* Every type and variant: encode, decode, compare each field, and re-encode to the same bytes. */
START_TEST(test_round_trip)
{
	for (size_t t = 0; t < TYPE_COUNT; t++) {
		for (int variant = 0; variant < VARIANTS; variant++) {
			struct strbuf enc = STRBUF_INIT, again = STRBUF_INIT;
			char detail[DETAIL_CAP];
			struct jrec src, got;

			sample_make(all_types[t], variant, &src);
			ck_assert_err(journal_encode(&src, &enc), LZ_OK);
			ck_assert_uint_gt(enc.len, 0);
			ck_assert_err(journal_decode(all_types[t], (const uint8_t *)enc.data,
						     enc.len, &got, detail, sizeof detail),
				      LZ_OK);
			ck_assert_str_eq(detail, "");
			rec_assert_eq(&src, &got);
			ck_assert_err(journal_encode(&got, &again), LZ_OK);
			ck_assert_uint_eq(again.len, enc.len);
			ck_assert_mem_eq(again.data, enc.data, enc.len);
			journal_rec_release(&got);
			journal_rec_release(&src);
			strbuf_release(&again);
			strbuf_release(&enc);
		}
	}
}
END_TEST

/* The example in the format comment, byte for byte; also a reused, non-empty output buffer. */
START_TEST(test_example_bytes)
{
	static const uint8_t want[] = { 0x92, 0x02, 0xa2, 'q', '1' };
	struct strbuf out = STRBUF_INIT;
	struct jrec r = { .type = JREC_ENTITY_DELETE, .u.path.path = "q1" };

	ck_assert_err(strbuf_adds(&out, "stale"), LZ_OK);
	ck_assert_err(journal_encode(&r, &out), LZ_OK);
	ck_assert_uint_eq(out.len, sizeof want);
	ck_assert_mem_eq(out.data, want, sizeof want);
	decode_expect(JREC_ENTITY_DELETE, want, sizeof want, LZ_OK, NULL);
	strbuf_release(&out);
}
END_TEST

/* Strings and bodies at exactly the caps are accepted. */
START_TEST(test_caps_accepted)
{
	char *s = malloc(MAX_STR + 1);
	uint8_t *body = calloc(MAX_BODY, 1);
	struct strbuf enc = STRBUF_INIT;
	struct jrec src, got;

	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(body);
	memset(s, 'x', MAX_STR);
	s[MAX_STR] = '\0';
	sample_make(JREC_MSG_ENQUEUE, 1, &src);
	free(src.u.enqueue.target);
	src.u.enqueue.target = s;
	src.u.enqueue.msg.body = body;
	src.u.enqueue.msg.body_len = MAX_BODY;
	body[MAX_BODY - 1] = 0x5a;
	ck_assert_err(journal_encode(&src, &enc), LZ_OK);
	ck_assert_err(journal_decode(JREC_MSG_ENQUEUE, (const uint8_t *)enc.data, enc.len, &got,
				     NULL, 0),
		      LZ_OK);
	rec_assert_eq(&src, &got);
	journal_rec_release(&got);
	journal_rec_release(&src);
	strbuf_release(&enc);
}
END_TEST

/* Lists of exactly MAX_ITEMS rules and dups are written and read back; one more is refused by the
 * decoder for every list of the format (the encoder's refusals are in test_encode_errors). */
START_TEST(test_list_caps)
{
	msgpack_object *nils = malloc((MAX_ITEMS + 1) * sizeof *nils);
	struct strbuf enc = STRBUF_INIT;
	struct jrec src, got;

	ck_assert_ptr_nonnull(nils);
	sample_make(JREC_LOAD_ENTITY, 1, &src);
	src.u.load_entity.nrules = MAX_ITEMS;
	src.u.load_entity.rules = calloc(MAX_ITEMS, sizeof *src.u.load_entity.rules);
	ck_assert_ptr_nonnull(src.u.load_entity.rules);
	dups_fill(&src.u.load_entity.dups, &src.u.load_entity.ndups, MAX_ITEMS);
	for (size_t i = 0; i < MAX_ITEMS; i++)
		src.u.load_entity.rules[i].name = dup(i % 2 ? "odd" : "even");
	ck_assert_err(journal_encode(&src, &enc), LZ_OK);
	ck_assert_err(journal_decode(JREC_LOAD_ENTITY, (const uint8_t *)enc.data, enc.len, &got,
				     NULL, 0),
		      LZ_OK);
	rec_assert_eq(&src, &got);
	journal_rec_release(&got);
	journal_rec_release(&src);
	strbuf_release(&enc);

	for (size_t i = 0; i <= MAX_ITEMS; i++)
		nils[i] = mp_nil();
	tamper_expect(JREC_LOAD_ENTITY, 1, mp_array(nils, MAX_ITEMS + 1),
		      "load_entity.rules: 65537 elements exceed 65536", 7, END_PATH);
	tamper_expect(JREC_LOAD_ENTITY, 1, mp_array(nils, MAX_ITEMS + 1),
		      "load_entity.dups: 65537 elements exceed 65536", 8, END_PATH);
	tamper_expect(JREC_MSG_MOVE, 1, mp_array(nils, MAX_ITEMS + 1),
		      "msg_move.counters: 65537 elements exceed 65536", 4, END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 1, mp_array(nils, MAX_ITEMS + 1),
		      "msg_enqueue.places: 65537 elements exceed 65536", 4, END_PATH);
	/* At the cap the list is walked: the first element is then what fails. */
	tamper_expect(JREC_LOAD_ENTITY, 1, mp_array(nils, MAX_ITEMS),
		      "load_entity.dups[0]: expected array, got nil", 8, END_PATH);
	free(nils);
}
END_TEST

START_TEST(test_decode_empty)
{
	decode_expect(JREC_ENTITY_PUT, NULL, 0, LZ_EPARSE, "entity_put: truncated at byte 0");
	decode_expect(JREC_MSG_ENQUEUE, "", 0, LZ_EPARSE, "msg_enqueue: truncated at byte 0");
}
END_TEST

/* Every strict prefix of every sample is refused, never crashes and never leaks. */
START_TEST(test_decode_truncated)
{
	for (size_t t = 0; t < TYPE_COUNT; t++) {
		for (int variant = 0; variant < VARIANTS; variant++) {
			struct strbuf enc;

			sample_encode(all_types[t], variant, &enc);
			for (size_t len = 0; len < enc.len; len++) {
				/* A copy of exactly `len` bytes, so ASan sees any over-read. */
				uint8_t *cut = malloc(len ? len : 1);

				ck_assert_ptr_nonnull(cut);
				memcpy(cut, enc.data, len);
				decode_expect(all_types[t], cut, len, LZ_EPARSE, NULL);
				free(cut);
			}
			strbuf_release(&enc);
		}
	}
}
END_TEST

START_TEST(test_decode_trailing)
{
	for (size_t t = 0; t < TYPE_COUNT; t++) {
		struct strbuf enc;

		sample_encode(all_types[t], 0, &enc);
		ck_assert_err(strbuf_addch(&enc, (char)0xc0), LZ_OK);
		decode_expect(all_types[t], enc.data, enc.len, LZ_EPARSE, NULL);
		strbuf_release(&enc);
	}
	decode_expect(JREC_ENTITY_DELETE, "\x92\x02\xa2q1\x00\x00", 7, LZ_EPARSE,
		      "entity_delete: 2 trailing bytes at offset 5");
}
END_TEST

/* A version-1 MSG_ENQUEUE, as version 1 laid it out: MSG with enqueued_ms and delivery_count,
 * PLACE of 7 elements. */
static const uint8_t v1_enqueue[] = {
	0x95, 0x01, 0xa1, 't',				/* [1, "t", */
	0x95, 0x9e, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc0, 0xc2, 0x00,
	0x00, 0xc2,					/* MSGPROPS */
	0x90, 0xc4, 0x00, 0x01, 0x00,			/* user, body, enqueued_ms, count] */
	0x91, 0x92, 0xa1, 't', 0x01,			/* [["t", 1]] */
	0x91, 0x97, 0xa1, 't', 0x00, 0x01, 0x00, 0xc0, 0xc0, 0xc0, /* [[place]]] */
};

START_TEST(test_decode_version)
{
	uint8_t raised[sizeof v1_enqueue];

	/* Version 1 is refused as unsupported, whatever else the payload holds. */
	decode_expect(JREC_ENTITY_DELETE, "\x92\x01\xa2q1", 5, LZ_EPARSE,
		      "entity_delete.version: 1 is unsupported (this build reads 2)");
	decode_expect(JREC_MSG_ENQUEUE, v1_enqueue, sizeof v1_enqueue, LZ_EPARSE,
		      "msg_enqueue.version: 1 is unsupported (this build reads 2)");
	tamper_expect(JREC_LOAD_ENTITY, 0, mp_uint(1),
		      "load_entity.version: 1 is unsupported (this build reads 2)", 0, END_PATH);
	tamper_expect(JREC_LOAD_MESSAGE, 1, mp_uint(1),
		      "load_message.version: 1 is unsupported (this build reads 2)", 0, END_PATH);
	/* The same payload with only its version byte raised does not pass either. */
	memcpy(raised, v1_enqueue, sizeof raised);
	raised[1] = 0x02;
	decode_expect(JREC_MSG_ENQUEUE, raised, sizeof raised, LZ_EPARSE,
		      "msg_enqueue.msg: expected 3 elements, got 5");
	decode_expect(JREC_ENTITY_DELETE, "\x92\x03\xa2q1", 5, LZ_EPARSE,
		      "entity_delete.version: 3 is unsupported (this build reads 2)");
	decode_expect(JREC_ENTITY_DELETE, "\x92\x00\xa2q1", 5, LZ_EPARSE,
		      "entity_delete.version: 0 is unsupported (this build reads 2)");
	decode_expect(JREC_ENTITY_DELETE, "\x92\xff\xa2q1", 5, LZ_EPARSE,
		      "entity_delete.version: expected uint, got negative int");
	decode_expect(JREC_ENTITY_DELETE, "\x92\xa1" "2\xa2q1", 6, LZ_EPARSE,
		      "entity_delete.version: expected uint, got str");
	/* The version is checked before the length, so a future layout is named as such. */
	decode_expect(JREC_ENTITY_DELETE, "\x93\x03\xa2q1\xc0", 6, LZ_EPARSE,
		      "entity_delete.version: 3 is unsupported (this build reads 2)");
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_uint(3),
		      "msg_enqueue.version: 3 is unsupported (this build reads 2)", 0, END_PATH);
	decode_expect(JREC_ENTITY_DELETE, "\x90", 1, LZ_EPARSE,
		      "entity_delete: expected an array starting with the format version");
	decode_expect(JREC_ENTITY_DELETE, "\x01", 1, LZ_EPARSE,
		      "entity_delete: expected an array starting with the format version");
}
END_TEST

START_TEST(test_decode_lengths)
{
	msgpack_object nils[12];

	for (size_t i = 0; i < 12; i++)
		nils[i] = mp_nil();
	decode_expect(JREC_ENTITY_DELETE, "\x93\x02\xa2q1\xc0", 6, LZ_EPARSE,
		      "entity_delete: expected 2 elements, got 3");
	decode_expect(JREC_ENTITY_DELETE, "\x91\x02", 2, LZ_EPARSE,
		      "entity_delete: expected 2 elements, got 1");
	decode_expect(JREC_MSG_DELIVER, "\x95\x02\xa1q\x00\x01\x00", 7, LZ_EPARSE,
		      "msg_deliver: expected 4 elements, got 5");
	decode_expect(JREC_MSG_REMOVE, "\x94\x02\xa1q\x00\x01", 6, LZ_EPARSE,
		      "msg_remove: expected 5 elements, got 4");
	tamper_expect(JREC_ENTITY_PUT, 0, (msgpack_object){ .type = MSGPACK_OBJECT_ARRAY },
		      "entity_put.desc: expected 23 elements, got 0", 2, END_PATH);
	tamper_expect(JREC_ENTITY_PUT, 0, mp_int(3), "entity_put.rule: expected array, got int", 5,
		      END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_nil(), "msg_enqueue.places: expected array, got nil",
		      4, END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_nil(),
		      "msg_enqueue.counters[1]: expected array, got nil", 3, 1, END_PATH);
	tamper_expect(JREC_MSG_MOVE, 0, mp_nil(), "msg_move.places[0].path: expected str, got nil",
		      5, 0, 0, END_PATH);
	decode_expect(JREC_LOAD_MESSAGE, "\x93\x02\xc0\xc2", 4, LZ_EPARSE,
		      "load_message: expected 4 elements, got 3");
	decode_expect(JREC_LOAD_ENTITY, "\x98\x02\xc0\xc0\xc0\xc0\xc0\xc0\xc0", 9, LZ_EPARSE,
		      "load_entity: expected 9 elements, got 8");
	/* Version 1's 7-element PLACE and 5-element MSG. */
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_array(nils, 7),
		      "msg_enqueue.places[0]: expected 12 elements, got 7", 4, 0, END_PATH);
	tamper_expect(JREC_LOAD_MESSAGE, 0, mp_array(nils, 7),
		      "load_message.place: expected 12 elements, got 7", 1, END_PATH);
	tamper_expect(JREC_LOAD_MESSAGE, 0, mp_array(nils, 5),
		      "load_message.msg: expected 3 elements, got 5", 3, END_PATH);
	tamper_expect(JREC_LOAD_ENTITY, 0, mp_array(nils, 0),
		      "load_entity.rules[2]: expected 11 elements, got 0", 7, 2, END_PATH);
	tamper_expect(JREC_LOAD_ENTITY, 0, mp_array(nils, 3),
		      "load_entity.dups[3]: expected 2 elements, got 3", 8, 3, END_PATH);
	tamper_expect(JREC_LOAD_ENTITY, 0, mp_nil(), "load_entity.rules: expected array, got nil",
		      7, END_PATH);
	tamper_expect(JREC_LOAD_ENTITY, 1, mp_str("d", 1),
		      "load_entity.dups: expected array, got str", 8, END_PATH);
	tamper_expect(JREC_LOAD_MESSAGE, 0, mp_nil(), "load_message.place: expected array, got nil",
		      1, END_PATH);
}
END_TEST

START_TEST(test_decode_types)
{
	tamper_expect(JREC_ENTITY_PUT, 0, mp_str("5", 1),
		      "entity_put.desc.lock_duration_ms: expected int, got str", 2, 1, END_PATH);
	tamper_expect(JREC_ENTITY_PUT, 0, mp_int(1),
		      "entity_put.desc.requires_session: expected bool, got int", 2, 4, END_PATH);
	tamper_expect(JREC_ENTITY_PUT, 0, mp_int(1),
		      "entity_put.desc.forward_to: expected str or nil, got int", 2, 20, END_PATH);
	tamper_expect(JREC_ENTITY_PUT, 0, mp_nil(), "entity_put.path: expected str, got nil", 1,
		      END_PATH);
	tamper_expect(JREC_ENTITY_PUT, 0,
		      (msgpack_object){ .type = MSGPACK_OBJECT_FLOAT64, .via.f64 = 1.0 },
		      "entity_put.created_at: expected int, got float64", 4, END_PATH);
	tamper_expect(JREC_ENTITY_PUT, 0, mp_int(0), "entity_put.is_update: expected bool, got int",
		      3, END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_str("body", 4),
		      "msg_enqueue.msg.body: expected bin, got str", 2, 2, END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_nil(),
		      "msg_enqueue.msg.props.has_ttl: expected bool, got nil", 2, 0, 10, END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_bin("x", 1),
		      "msg_enqueue.target: expected str, got bin", 1, END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_str("1", 1),
		      "msg_enqueue.counters[2].seq: expected uint, got str", 3, 2, 1, END_PATH);
	tamper_expect(JREC_MSG_DELIVER, 0, mp_int(-1),
		      "msg_deliver.seq: expected uint, got negative int", 3, END_PATH);
	tamper_expect(JREC_RULE_PUT, 0, mp_int(1), "rule_put.is_update: expected bool, got int", 3,
		      END_PATH);
	tamper_expect(JREC_RULE_PUT, 0,
		      (msgpack_object){ .type = MSGPACK_OBJECT_BOOLEAN, .via.boolean = true },
		      "rule_put.rule.corr.label: expected str or nil, got bool", 2, 5, 4, END_PATH);
	tamper_expect(JREC_RULE_PUT, 0, mp_nil(), "rule_put.rule.name: expected str, got nil", 2, 0,
		      END_PATH);
	tamper_expect(JREC_MSG_MOVE, 0, mp_nil(),
		      "msg_move.places[2].enqueued_seq: expected uint, got nil", 5, 2, 3, END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_str("0", 1),
		      "msg_enqueue.places[0].enqueued_ms: expected int, got str", 4, 0, 4,
		      END_PATH);
	tamper_expect(JREC_MSG_MOVE, 0,
		      (msgpack_object){ .type = MSGPACK_OBJECT_BOOLEAN, .via.boolean = false },
		      "msg_move.places[0].ttl_ms: expected int, got bool", 5, 0, 5, END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_nil(),
		      "msg_enqueue.places[1].expires_ms: expected int, got nil", 4, 1, 6, END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0,
		      (msgpack_object){ .type = MSGPACK_OBJECT_FLOAT64, .via.f64 = 0.0 },
		      "msg_enqueue.places[2].scheduled_ms: expected int, got float64", 4, 2, 7,
		      END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_int(-1),
		      "msg_enqueue.places[2].delivery_count: expected uint, got negative int", 4, 2,
		      8, END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_int(0),
		      "msg_enqueue.places[1].dl_reason: expected str or nil, got int", 4, 1, 9,
		      END_PATH);
	tamper_expect(JREC_LOAD_ENTITY, 0, mp_nil(), "load_entity.path: expected str, got nil", 1,
		      END_PATH);
	tamper_expect(JREC_LOAD_ENTITY, 0, mp_int(1),
		      "load_entity.desc.requires_session: expected bool, got int", 2, 4, END_PATH);
	tamper_expect(JREC_LOAD_ENTITY, 0, mp_str("1", 1),
		      "load_entity.created_at: expected int, got str", 3, END_PATH);
	tamper_expect(JREC_LOAD_ENTITY, 0,
		      (msgpack_object){ .type = MSGPACK_OBJECT_FLOAT64, .via.f64 = 1.0 },
		      "load_entity.updated_at: expected int, got float64", 4, END_PATH);
	tamper_expect(JREC_LOAD_ENTITY, 1, mp_nil(),
		      "load_entity.accessed_at: expected int, got nil", 5, END_PATH);
	tamper_expect(JREC_LOAD_ENTITY, 0, mp_int(-1),
		      "load_entity.last_seq: expected uint, got negative int", 6, END_PATH);
	tamper_expect(JREC_LOAD_ENTITY, 0,
		      (msgpack_object){ .type = MSGPACK_OBJECT_BOOLEAN, .via.boolean = true },
		      "load_entity.rules[3].corr.label: expected str or nil, got bool", 7, 3, 5, 4,
		      END_PATH);
	tamper_expect(JREC_LOAD_ENTITY, 0, mp_nil(),
		      "load_entity.rules[5].name: expected str, got nil", 7, 5, 0, END_PATH);
	tamper_expect(JREC_LOAD_ENTITY, 0, mp_nil(),
		      "load_entity.dups[1].id: expected str, got nil", 8, 1, 0, END_PATH);
	tamper_expect(JREC_LOAD_ENTITY, 0, mp_str("5", 1),
		      "load_entity.dups[2].ts_ms: expected int, got str", 8, 2, 1, END_PATH);
	tamper_expect(JREC_LOAD_ENTITY, 0, mp_int(1),
		      "load_entity.dups[0]: expected array, got int", 8, 0, END_PATH);
	tamper_expect(JREC_LOAD_MESSAGE, 0, mp_int(1),
		      "load_message.deferred: expected bool, got int", 2, END_PATH);
	tamper_expect(JREC_LOAD_MESSAGE, 1, mp_nil(),
		      "load_message.deferred: expected bool, got nil", 2, END_PATH);
	tamper_expect(JREC_LOAD_MESSAGE, 0, mp_str("x", 1),
		      "load_message.place.expires_ms: expected int, got str", 1, 6, END_PATH);
	tamper_expect(JREC_LOAD_MESSAGE, 1, mp_int(7),
		      "load_message.place.dl_source: expected str or nil, got int", 1, 11,
		      END_PATH);
	tamper_expect(JREC_LOAD_MESSAGE, 0, mp_str("body", 4),
		      "load_message.msg.body: expected bin, got str", 3, 2, END_PATH);
	tamper_expect(JREC_LOAD_MESSAGE, 0, mp_nil(),
		      "load_message.msg.props.force_persistence: expected bool, got nil", 3, 0, 13,
		      END_PATH);
}
END_TEST

START_TEST(test_decode_ranges)
{
	tamper_expect(JREC_ENTITY_PUT, 0, mp_int(0), "entity_put.desc.kind: 0 out of range 1..3", 2,
		      0, END_PATH);
	tamper_expect(JREC_ENTITY_PUT, 0, mp_int(4), "entity_put.desc.kind: 4 out of range 1..3", 2,
		      0, END_PATH);
	tamper_expect(JREC_ENTITY_PUT, 0, mp_int(4), "entity_put.desc.status: 4 out of range 0..3",
		      2, 14, END_PATH);
	tamper_expect(JREC_ENTITY_PUT, 0, mp_int(-1),
		      "entity_put.desc.status: -1 out of range 0..3", 2, 14, END_PATH);
	tamper_expect(JREC_ENTITY_PUT, 0, mp_int(4),
		      "entity_put.rule.filter_type: 4 out of range 0..3", 5, 1, END_PATH);
	tamper_expect(JREC_RULE_PUT, 0, mp_int(2), "rule_put.rule.action_type: 2 out of range 0..1",
		      2, 6, END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_int(3),
		      "msg_enqueue.places[1].where: 3 out of range 0..2", 4, 1, 1, END_PATH);
	tamper_expect(JREC_MSG_DEFER, 0, mp_int(3), "msg_defer.where: 3 out of range 0..2", 2,
		      END_PATH);
	tamper_expect(JREC_MSG_REMOVE, 0, mp_int(4), "msg_remove.reason: 4 out of range 0..3", 4,
		      END_PATH);
	tamper_expect(JREC_ENTITY_PUT, 0, mp_int((int64_t)INT32_MAX + 1),
		      "entity_put.desc.max_delivery_count: 2147483648 out of range "
		      "-2147483648..2147483647",
		      2, 9, END_PATH);
	tamper_expect(JREC_RULE_PUT, 0, mp_int((int64_t)INT32_MIN - 1),
		      "rule_put.rule.sql_compat_level: -2147483649 out of range "
		      "-2147483648..2147483647",
		      2, 3, END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_int((int64_t)UINT32_MAX + 1),
		      "msg_enqueue.places[0].delivery_count: 4294967296 out of range 0..4294967295",
		      4, 0, 8, END_PATH);
	tamper_expect(JREC_LOAD_MESSAGE, 1, mp_uint(UINT64_MAX),
		      "load_message.place.delivery_count: 18446744073709551615 out of range "
		      "0..4294967295",
		      1, 8, END_PATH);
	tamper_expect(JREC_LOAD_MESSAGE, 0, mp_int(3),
		      "load_message.place.where: 3 out of range 0..2", 1, 1, END_PATH);
	tamper_expect(JREC_MSG_MOVE, 0, mp_uint((uint64_t)INT64_MAX + 1),
		      "msg_move.places[1].expires_ms: 9223372036854775808 out of range "
		      "-9223372036854775808..9223372036854775807",
		      5, 1, 6, END_PATH);
	tamper_expect(JREC_LOAD_ENTITY, 0, mp_int(0), "load_entity.desc.kind: 0 out of range 1..3",
		      2, 0, END_PATH);
	tamper_expect(JREC_LOAD_ENTITY, 0, mp_int(4),
		      "load_entity.rules[5].filter_type: 4 out of range 0..3", 7, 5, 1, END_PATH);
	tamper_expect(JREC_LOAD_ENTITY, 0, mp_int(-1),
		      "load_entity.rules[1].action_type: -1 out of range 0..1", 7, 1, 6, END_PATH);
	tamper_expect(JREC_LOAD_ENTITY, 0, mp_int((int64_t)INT32_MAX + 1),
		      "load_entity.rules[0].action_compat_level: 2147483648 out of range "
		      "-2147483648..2147483647",
		      7, 0, 8, END_PATH);
	tamper_expect(JREC_ENTITY_PUT, 0, mp_uint(UINT64_MAX),
		      "entity_put.desc.lock_duration_ms: 18446744073709551615 out of range "
		      "-9223372036854775808..9223372036854775807",
		      2, 1, END_PATH);
	/* The boundaries themselves are accepted. */
	tamper_accept(JREC_ENTITY_PUT, 0, mp_int(1), 2, 0, END_PATH);
	tamper_accept(JREC_ENTITY_PUT, 0, mp_int(3), 2, 0, END_PATH);
	tamper_accept(JREC_MSG_ENQUEUE, 0, mp_int(2), 4, 0, 1, END_PATH);
	tamper_accept(JREC_MSG_ENQUEUE, 0, mp_int(UINT32_MAX), 4, 0, 8, END_PATH);
	tamper_accept(JREC_LOAD_MESSAGE, 1, mp_int(2), 1, 1, END_PATH);
	tamper_accept(JREC_LOAD_MESSAGE, 0, mp_uint(INT64_MAX), 1, 6, END_PATH);
	tamper_accept(JREC_LOAD_MESSAGE, 0, mp_int(INT64_MIN), 1, 7, END_PATH);
	tamper_accept(JREC_LOAD_ENTITY, 0, mp_int(3), 7, 0, 1, END_PATH);
	tamper_accept(JREC_LOAD_ENTITY, 0, mp_uint(UINT64_MAX), 6, END_PATH);
	tamper_accept(JREC_LOAD_ENTITY, 0, mp_int(INT64_MIN), 8, 3, 1, END_PATH);
	tamper_accept(JREC_ENTITY_PUT, 0, mp_uint(INT64_MAX), 2, 1, END_PATH);
	tamper_accept(JREC_ENTITY_PUT, 0, mp_int(INT64_MIN), 2, 1, END_PATH);
}
END_TEST

START_TEST(test_decode_strings)
{
	char *long_str = malloc(MAX_STR + 1);
	uint8_t *big_body = calloc(MAX_BODY + 1, 1);

	ck_assert_ptr_nonnull(long_str);
	ck_assert_ptr_nonnull(big_body);
	memset(long_str, 'n', MAX_STR + 1);
	tamper_expect(JREC_ENTITY_DELETE, 0, mp_str("a\0b", 3),
		      "entity_delete.path: string contains a NUL byte", 1, END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_str("\0", 1),
		      "msg_enqueue.msg.user[1].value: string contains a NUL byte", 2, 1, 1, 2,
		      END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_str("x\0", 2),
		      "msg_enqueue.msg.props.label: string contains a NUL byte", 2, 0, 6, END_PATH);
	tamper_expect(JREC_RULE_DELETE, 0, mp_str(long_str, MAX_STR + 1),
		      "rule_delete.name: string of 65537 bytes exceeds 65536", 2, END_PATH);
	tamper_accept(JREC_RULE_DELETE, 0, mp_str(long_str, MAX_STR), 2, END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_bin(big_body, MAX_BODY + 1),
		      "msg_enqueue.msg.body: 16777217 bytes exceed 16777216", 2, 2, END_PATH);
	tamper_expect(JREC_LOAD_MESSAGE, 1, mp_bin(big_body, MAX_BODY + 1),
		      "load_message.msg.body: 16777217 bytes exceed 16777216", 3, 2, END_PATH);
	tamper_expect(JREC_LOAD_ENTITY, 0, mp_str("m\0", 2),
		      "load_entity.dups[0].id: string contains a NUL byte", 8, 0, 0, END_PATH);
	tamper_expect(JREC_LOAD_ENTITY, 0, mp_str(long_str, MAX_STR + 1),
		      "load_entity.rules[4].name: string of 65537 bytes exceeds 65536", 7, 4, 0,
		      END_PATH);
	tamper_accept(JREC_LOAD_ENTITY, 0, mp_str(long_str, MAX_STR), 8, 1, 0, END_PATH);
	tamper_expect(JREC_LOAD_MESSAGE, 0, mp_str(long_str, MAX_STR + 1),
		      "load_message.place.path: string of 65537 bytes exceeds 65536", 1, 0,
		      END_PATH);
	free(big_body);
	free(long_str);
}
END_TEST

START_TEST(test_decode_props)
{
	msgpack_object many[MAX_PROPS + 1];

	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_int(8),
		      "msg_enqueue.msg.user[0].type: 8 out of range 0..7", 2, 1, 0, 1, END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_int(-1),
		      "msg_enqueue.msg.user[0].type: -1 out of range 0..7", 2, 1, 0, 1, END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_int(1),
		      "msg_enqueue.msg.user[8].value: expected float64, got int", 2, 1, 8, 2,
		      END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0,
		      (msgpack_object){ .type = MSGPACK_OBJECT_FLOAT32, .via.f64 = 1.5 },
		      "msg_enqueue.msg.user[8].value: expected float64, got float32", 2, 1, 8, 2,
		      END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_int(1),
		      "msg_enqueue.msg.user[0].value: expected nil, got int", 2, 1, 0, 2, END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_nil(),
		      "msg_enqueue.msg.user[1].value: expected str, got nil", 2, 1, 1, 2, END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_int(0),
		      "msg_enqueue.msg.user[6].value: expected bool, got int", 2, 1, 6, 2,
		      END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_str("2024", 4),
		      "msg_enqueue.msg.user[12].value: expected int, got str", 2, 1, 12, 2,
		      END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_int(1),
		      "msg_enqueue.msg.user[3]: expected array, got int", 2, 1, 3, END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_str("null", 4),
		      "msg_enqueue.msg.user[1].name: duplicate property \"null\"", 2, 1, 1, 0,
		      END_PATH);
	tamper_expect(JREC_MSG_ENQUEUE, 0, mp_nil(),
		      "msg_enqueue.msg.user[2].name: expected str, got nil", 2, 1, 2, 0, END_PATH);
	tamper_expect(JREC_ENTITY_PUT, 0, mp_int(9),
		      "entity_put.rule.corr.properties[4].type: 9 out of range 0..7", 5, 5, 8, 4, 1,
		      END_PATH);
	tamper_expect(JREC_RULE_PUT, 0, mp_nil(),
		      "rule_put.rule.sql_params: expected array, got nil", 2, 4, END_PATH);
	tamper_expect(JREC_LOAD_ENTITY, 0, mp_int(8),
		      "load_entity.rules[4].sql_params[0].type: 8 out of range 0..7", 7, 4, 4, 0, 1,
		      END_PATH);
	tamper_expect(JREC_LOAD_ENTITY, 0, mp_str("@p", 2),
		      "load_entity.rules[3].action_params[0].value: expected int, got str", 7, 3, 9,
		      0, 2, END_PATH);
	tamper_expect(JREC_LOAD_MESSAGE, 0, mp_str("null", 4),
		      "load_message.msg.user[1].name: duplicate property \"null\"", 3, 1, 1, 0,
		      END_PATH);
	for (size_t i = 0; i < MAX_PROPS + 1; i++)
		many[i] = mp_nil();
	tamper_expect(JREC_MSG_ENQUEUE, 0,
		      (msgpack_object){ .type = MSGPACK_OBJECT_ARRAY,
					.via.array = { MAX_PROPS + 1, many } },
		      "msg_enqueue.msg.user: 4097 elements exceed 4096", 2, 1, END_PATH);
}
END_TEST

/* Lengths and counts that do not fit the payload are refused before msgpack-c allocates. */
START_TEST(test_decode_hostile)
{
	char small[8], want[96];
	struct strbuf enc, bad = STRBUF_INIT;
	struct jrec r;

	decode_expect(JREC_ENTITY_DELETE, "\xdd\xff\xff\xff\xff", 5, LZ_EPARSE,
		      "entity_delete: array at offset 0 needs 4294967295 more bytes, 0 left");
	decode_expect(JREC_MSG_ENQUEUE, "\x95\x02\xa1t\xdd\x0f\xff\xff\xff", 9, LZ_EPARSE,
		      "msg_enqueue: array at offset 4 needs 268435455 more bytes, 0 left");
	decode_expect(JREC_LOAD_MESSAGE, "\x94\x02\xdd\x0f\xff\xff\xff", 7, LZ_EPARSE,
		      "load_message: array at offset 2 needs 268435455 more bytes, 0 left");
	/* An empty LOAD_ENTITY whose last element, the dups list, claims 2^20 entries. */
	sample_encode(JREC_LOAD_ENTITY, 1, &enc);
	ck_assert_uint_eq((uint8_t)enc.data[enc.len - 1], 0x90);
	ck_assert_err(strbuf_add(&bad, enc.data, enc.len - 1), LZ_OK);
	ck_assert_err(strbuf_add(&bad, "\xdd\x00\x10\x00\x00", 5), LZ_OK);
	snprintf(want, sizeof want,
		 "load_entity: array at offset %zu needs 1048576 more bytes, 0 left", enc.len - 1);
	decode_expect(JREC_LOAD_ENTITY, bad.data, bad.len, LZ_EPARSE, want);
	strbuf_release(&bad);
	strbuf_release(&enc);
	decode_expect(JREC_ENTITY_DELETE, "\x92\x02\xdb\xff\xff\xff\xff", 7, LZ_EPARSE,
		      "entity_delete: object at offset 2 needs 4294967295 more bytes, 0 left");
	decode_expect(JREC_MSG_ENQUEUE, "\x92\x02\xc6\x7f\xff\xff\xff\x00", 8, LZ_EPARSE,
		      "msg_enqueue: object at offset 2 needs 2147483647 more bytes, 1 left");
	decode_expect(JREC_ENTITY_DELETE, "\x92\x02\xdb\xff", 4, LZ_EPARSE,
		      "entity_delete: truncated at byte 4");
	decode_expect(JREC_ENTITY_DELETE, "\x92\x02\xcf\x00", 4, LZ_EPARSE,
		      "entity_delete: object at offset 2 needs 8 more bytes, 1 left");
	decode_expect(JREC_ENTITY_DELETE, "\x92\x02\x80", 3, LZ_EPARSE,
		      "entity_delete: byte 0x80 at offset 2: "
		      "map or ext, which the format never uses");
	decode_expect(JREC_ENTITY_DELETE, "\x92\x02\xde\x00\x00", 5, LZ_EPARSE,
		      "entity_delete: byte 0xde at offset 2: "
		      "map or ext, which the format never uses");
	decode_expect(JREC_ENTITY_DELETE, "\x92\x02\xd4\x01\x00", 5, LZ_EPARSE,
		      "entity_delete: byte 0xd4 at offset 2: "
		      "map or ext, which the format never uses");
	decode_expect(JREC_ENTITY_DELETE, "\x92\x02\xc1", 3, LZ_EPARSE,
		      "entity_delete: byte 0xc1 at offset 2: not msgpack");
	/* Nesting: 8 levels pass the scan (and fail the walk), 9 do not. */
	decode_expect(JREC_ENTITY_DELETE, "\x92\x02\x91\x91\x91\x91\x91\x91\x91\x01", 10,
		      LZ_EPARSE, "entity_delete.path: expected str, got array");
	decode_expect(JREC_ENTITY_DELETE, "\x92\x02\x91\x91\x91\x91\x91\x91\x91\x91\x01", 11,
		      LZ_EPARSE, "entity_delete: array at offset 9 nests deeper than 8");
	/* No detail buffer, and one too small for the message. */
	ck_assert_err(journal_decode(JREC_ENTITY_DELETE, (const uint8_t *)"\xc1", 1, &r, NULL, 0),
		      LZ_EPARSE);
	journal_rec_release(&r);
	ck_assert_err(journal_decode(JREC_ENTITY_DELETE, (const uint8_t *)"\xc1", 1, &r, small,
				     sizeof small),
		      LZ_EPARSE);
	ck_assert_str_eq(small, "entity_");
	journal_rec_release(&r);
	ck_assert_err(journal_decode(JREC_ENTITY_DELETE, (const uint8_t *)"\x92\x02\xc0", 3, &r,
				     small, sizeof small),
		      LZ_EPARSE);
	ck_assert_str_eq(small, "entity_");
	journal_rec_release(&r);
}
END_TEST

START_TEST(test_decode_unknown_type)
{
	static const int types[] = { 0, 13, 1000, -1 };
	struct strbuf enc;

	sample_encode(JREC_ENTITY_DELETE, 0, &enc);
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		char want[64];

		snprintf(want, sizeof want, "unknown record type %d", types[i]);
		decode_expect((enum journal_type)types[i], enc.data, enc.len, LZ_EUNSUPPORTED,
			      want);
		decode_expect((enum journal_type)types[i], "", 0, LZ_EUNSUPPORTED, want);
	}
	strbuf_release(&enc);
}
END_TEST

/* Encodes `r` expecting `want`; a failed encoding leaves `out` empty. */
static void encode_expect(const struct jrec *r, lz_err want)
{
	struct strbuf out = STRBUF_INIT;

	ck_assert_err(strbuf_adds(&out, "stale"), LZ_OK);
	ck_assert_err(journal_encode(r, &out), want);
	if (want != LZ_OK)
		ck_assert_uint_eq(out.len, 0);
	strbuf_release(&out);
}

/* The encoder refuses every record the decoder would refuse. */
START_TEST(test_encode_errors)
{
	char *long_str = malloc(MAX_STR + 2);
	uint8_t *big_body = calloc(MAX_BODY + 1, 1);
	struct prop bad_prop[1] = { { "n", { .type = VALUE_STRING, .u.s = NULL } } };
	struct journal_counter counter = { "q", 1 };
	struct journal_place place = { .path = "q" };
	struct rule_desc rule = { .name = "r" };
	struct journal_dup dupe = { .id = "id" };
	struct jrec r;

	ck_assert_ptr_nonnull(long_str);
	ck_assert_ptr_nonnull(big_body);
	memset(long_str, 's', MAX_STR + 1);
	long_str[MAX_STR + 1] = '\0';

	memset(&r, 0, sizeof r);
	r.type = (enum journal_type)0;
	encode_expect(&r, LZ_EINVAL);
	r.type = (enum journal_type)13;
	encode_expect(&r, LZ_EINVAL);
	r.type = JREC_ENTITY_DELETE;
	encode_expect(&r, LZ_EINVAL); /* NULL path */
	r.u.path.path = long_str;
	encode_expect(&r, LZ_ETOOBIG);

	sample_make(JREC_ENTITY_PUT, 0, &r);
	r.u.entity_put.desc.kind = (enum entity_kind)0;
	encode_expect(&r, LZ_EINVAL);
	r.u.entity_put.desc.kind = ENTITY_TOPIC;
	r.u.entity_put.desc.status = (enum entity_status)4;
	encode_expect(&r, LZ_EINVAL);
	r.u.entity_put.desc.status = STATUS_DISABLED;
	r.u.entity_put.rule.filter_type = (enum filter_type)4;
	encode_expect(&r, LZ_EINVAL);
	r.u.entity_put.has_rule = false; /* the rule is then neither written nor checked */
	encode_expect(&r, LZ_OK);
	r.u.entity_put.has_rule = true;
	r.u.entity_put.rule.filter_type = FILTER_SQL;
	r.u.entity_put.rule.action_type = (enum action_type)2;
	encode_expect(&r, LZ_EINVAL);
	r.u.entity_put.rule.action_type = ACTION_EMPTY;
	encode_expect(&r, LZ_OK);
	journal_rec_release(&r);

	sample_make(JREC_MSG_REMOVE, 0, &r);
	r.u.msg_ref.reason = (enum journal_remove_reason)4;
	encode_expect(&r, LZ_EINVAL);
	r.type = JREC_MSG_DELIVER; /* reason is not part of MSG_DELIVER */
	encode_expect(&r, LZ_OK);
	r.u.msg_ref.where = (enum journal_where)3;
	encode_expect(&r, LZ_EINVAL);
	journal_rec_release(&r);

	sample_make(JREC_MSG_ENQUEUE, 0, &r);
	r.u.enqueue.places[2].where = (enum journal_where)3;
	encode_expect(&r, LZ_EINVAL);
	r.u.enqueue.places[2].where = JWHERE_DLQ;
	free(r.u.enqueue.counters[1].path);
	r.u.enqueue.counters[1].path = NULL;
	encode_expect(&r, LZ_EINVAL);
	journal_rec_release(&r);

	sample_make(JREC_MSG_MOVE, 1, &r);
	r.u.move.ncounters = 2; /* a count without an array */
	encode_expect(&r, LZ_EINVAL);
	r.u.move.ncounters = 0;
	r.u.move.nplaces = 1;
	encode_expect(&r, LZ_EINVAL);
	r.u.move.places = &place;
	encode_expect(&r, LZ_OK);
	r.u.move.nplaces = 65537;
	encode_expect(&r, LZ_ETOOBIG);
	r.u.move.nplaces = 0;
	r.u.move.counters = &counter;
	r.u.move.ncounters = 65537;
	encode_expect(&r, LZ_ETOOBIG);
	r.u.move.counters = NULL;
	r.u.move.places = NULL;
	r.u.move.ncounters = 0;
	journal_rec_release(&r);

	sample_make(JREC_MSG_ENQUEUE, 1, &r);
	r.u.enqueue.msg.body_len = 3; /* a length without a body */
	encode_expect(&r, LZ_EINVAL);
	r.u.enqueue.msg.body = big_body;
	r.u.enqueue.msg.body_len = MAX_BODY + 1;
	encode_expect(&r, LZ_ETOOBIG);
	r.u.enqueue.msg.body = NULL;
	r.u.enqueue.msg.body_len = 0;
	r.u.enqueue.msg.props.label = long_str;
	encode_expect(&r, LZ_ETOOBIG);
	r.u.enqueue.msg.props.label = NULL;
	r.u.enqueue.msg.user = (struct proplist){ 1, 1, bad_prop }; /* a STRING with no string */
	encode_expect(&r, LZ_EINVAL);
	bad_prop[0].v.type = (value_type)99;
	encode_expect(&r, LZ_EINVAL);
	bad_prop[0].name = NULL;
	bad_prop[0].v.type = VALUE_NULL;
	encode_expect(&r, LZ_EINVAL);
	r.u.enqueue.msg.user = (struct proplist){ 0, 0, NULL };
	for (size_t i = 0; i <= MAX_PROPS; i++) {
		char name[16];

		snprintf(name, sizeof name, "p%zu", i);
		prop_put(&r.u.enqueue.msg.user, name, (struct value){ .type = VALUE_NULL });
	}
	encode_expect(&r, LZ_ETOOBIG);
	proplist_remove(&r.u.enqueue.msg.user, "p0");
	encode_expect(&r, LZ_OK);
	journal_rec_release(&r);

	sample_make(JREC_LOAD_ENTITY, 0, &r);
	r.u.load_entity.rules[3].filter_type = (enum filter_type)4;
	encode_expect(&r, LZ_EINVAL);
	r.u.load_entity.rules[3].filter_type = FILTER_SQL;
	r.u.load_entity.rules[5].action_type = (enum action_type)-1;
	encode_expect(&r, LZ_EINVAL);
	r.u.load_entity.rules[5].action_type = ACTION_SQL;
	free(r.u.load_entity.rules[2].name);
	r.u.load_entity.rules[2].name = NULL;
	encode_expect(&r, LZ_EINVAL);
	r.u.load_entity.rules[2].name = dup("back");
	free(r.u.load_entity.dups[1].id);
	r.u.load_entity.dups[1].id = NULL;
	encode_expect(&r, LZ_EINVAL);
	r.u.load_entity.dups[1].id = long_str;
	encode_expect(&r, LZ_ETOOBIG);
	r.u.load_entity.dups[1].id = NULL;
	r.u.load_entity.desc.status = (enum entity_status)4;
	encode_expect(&r, LZ_EINVAL);
	r.u.load_entity.desc.status = STATUS_ACTIVE;
	encode_expect(&r, LZ_EINVAL); /* dups[1] still has no id */
	r.u.load_entity.dups[1].id = dup("back");
	encode_expect(&r, LZ_OK);
	free(r.u.load_entity.path);
	r.u.load_entity.path = NULL;
	encode_expect(&r, LZ_EINVAL);
	journal_rec_release(&r);

	sample_make(JREC_LOAD_ENTITY, 1, &r);
	r.u.load_entity.nrules = 1; /* counts without arrays */
	encode_expect(&r, LZ_EINVAL);
	r.u.load_entity.nrules = 0;
	r.u.load_entity.ndups = 2;
	encode_expect(&r, LZ_EINVAL);
	r.u.load_entity.ndups = 0;
	r.u.load_entity.rules = &rule;
	r.u.load_entity.nrules = 1;
	r.u.load_entity.dups = &dupe;
	r.u.load_entity.ndups = 1;
	encode_expect(&r, LZ_OK);
	r.u.load_entity.nrules = MAX_ITEMS + 1;
	encode_expect(&r, LZ_ETOOBIG);
	r.u.load_entity.nrules = 1;
	r.u.load_entity.ndups = MAX_ITEMS + 1;
	encode_expect(&r, LZ_ETOOBIG);
	r.u.load_entity.rules = NULL;
	r.u.load_entity.nrules = 0;
	r.u.load_entity.dups = NULL;
	r.u.load_entity.ndups = 0;
	journal_rec_release(&r);

	sample_make(JREC_LOAD_MESSAGE, 0, &r);
	r.u.load_message.place.where = (enum journal_where)3;
	encode_expect(&r, LZ_EINVAL);
	r.u.load_message.place.where = JWHERE_SCHEDULED;
	encode_expect(&r, LZ_OK);
	r.u.load_message.place.dl_source = long_str;
	encode_expect(&r, LZ_ETOOBIG);
	r.u.load_message.place.dl_source = NULL;
	r.u.load_message.msg.body_len = MAX_BODY + 1;
	encode_expect(&r, LZ_ETOOBIG);
	r.u.load_message.msg.body_len = 1;
	free(r.u.load_message.place.path);
	r.u.load_message.place.path = NULL;
	encode_expect(&r, LZ_EINVAL);
	journal_rec_release(&r);

	free(big_body);
	free(long_str);
}
END_TEST

/* Deterministic mutations of valid encodings (byte flips, special bytes, truncation, decoding as
 * another type): decoding must never crash or leak, and must either succeed or say LZ_EPARSE.
 * Whatever it accepts must encode again and decode back to the same bytes. */
START_TEST(test_mutations)
{
	static const uint8_t special[] = { 0x00, 0x01, 0x7f, 0x80, 0x90, 0x9f, 0xa0, 0xc0, 0xc1,
					   0xc2, 0xc3, 0xc4, 0xca, 0xcb, 0xcf, 0xd3, 0xd9, 0xdb,
					   0xdc, 0xdd, 0xff };
	struct strbuf samples[TYPE_COUNT][VARIANTS];
	uint64_t seed = 0x10ca12u;
	size_t accepted = 0;

	for (size_t t = 0; t < TYPE_COUNT; t++)
		for (int v = 0; v < VARIANTS; v++)
			sample_encode(all_types[t], v, &samples[t][v]);
	for (int iter = 0; iter < 20000; iter++) {
		size_t t = lcg_next(&seed) % TYPE_COUNT;
		const struct strbuf *s = &samples[t][lcg_next(&seed) % VARIANTS];
		unsigned kind = (unsigned)(lcg_next(&seed) % 4);
		unsigned flips = 1 + (unsigned)(lcg_next(&seed) % 3);
		enum journal_type type = all_types[t];
		size_t len = s->len;
		char detail[DETAIL_CAP];
		uint8_t *buf;
		struct jrec r;
		lz_err rc;

		buf = malloc(len);
		ck_assert_ptr_nonnull(buf);
		memcpy(buf, s->data, len);
		for (unsigned f = 0; f < flips; f++) {
			size_t pos = lcg_next(&seed) % len;

			if (kind == 1)
				buf[pos] = special[lcg_next(&seed) % sizeof special];
			else
				buf[pos] ^= (uint8_t)(1 + lcg_next(&seed) % 255);
		}
		if (kind == 2)
			len = lcg_next(&seed) % (len + 1);
		if (kind == 3)
			type = all_types[lcg_next(&seed) % TYPE_COUNT];
		rc = journal_decode(type, buf, len, &r, detail, sizeof detail);
		ck_assert_msg(rc == LZ_OK || rc == LZ_EPARSE, "iteration %d: %s", iter,
			      err_name(rc));
		if (rc == LZ_OK) {
			struct strbuf again = STRBUF_INIT, third = STRBUF_INIT;
			struct jrec back;

			accepted++;
			ck_assert_err(journal_encode(&r, &again), LZ_OK);
			ck_assert_err(journal_decode(type, (const uint8_t *)again.data, again.len,
						     &back, NULL, 0),
				      LZ_OK);
			ck_assert_err(journal_encode(&back, &third), LZ_OK);
			ck_assert_uint_eq(again.len, third.len);
			ck_assert_mem_eq(again.data, third.data, again.len);
			journal_rec_release(&back);
			strbuf_release(&third);
			strbuf_release(&again);
		} else {
			ck_assert_msg(detail[0] != '\0', "iteration %d: no detail", iter);
		}
		journal_rec_release(&r);
		free(buf);
	}
	ck_assert_uint_gt(accepted, 0);
	for (size_t t = 0; t < TYPE_COUNT; t++)
		for (int v = 0; v < VARIANTS; v++)
			strbuf_release(&samples[t][v]);
}
END_TEST

static Suite *journal_suite(void)
{
	Suite *s = suite_create("journal");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_type_names);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_example_bytes);
	tcase_add_test(tc, test_caps_accepted);
	tcase_add_test(tc, test_list_caps);
	tcase_add_test(tc, test_decode_empty);
	tcase_add_test(tc, test_decode_truncated);
	tcase_add_test(tc, test_decode_trailing);
	tcase_add_test(tc, test_decode_version);
	tcase_add_test(tc, test_decode_lengths);
	tcase_add_test(tc, test_decode_types);
	tcase_add_test(tc, test_decode_ranges);
	tcase_add_test(tc, test_decode_strings);
	tcase_add_test(tc, test_decode_props);
	tcase_add_test(tc, test_decode_hostile);
	tcase_add_test(tc, test_decode_unknown_type);
	tcase_add_test(tc, test_encode_errors);
	tcase_add_test(tc, test_mutations);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(journal_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
